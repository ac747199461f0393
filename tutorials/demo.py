"""Run Triton's tutorial kernels compiled for this CPU, check them, and time them.

    python tutorials/demo.py [--quick]

For each kernel: the largest error against a float64 NumPy reference, and the median time of
tritium, NumPy and (if installed) PyTorch on the same inputs. The first tritium call compiles
(or loads from the disk cache); timings are of warm calls.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# Run as a script from anywhere: the repository root holds the `tutorials` package.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import tritium  # noqa: E402
from tritium import knobs  # noqa: E402
from tritium.testing import format_table  # noqa: E402
from tutorials import fused_softmax, layer_norm, matmul, vector_add  # noqa: E402

try:
    import torch

    # The same number of threads as tritium uses, so that the comparison is like for like.
    torch.set_num_threads(knobs.num_threads())
except ImportError:  # the demo runs without torch; its column says "-"
    torch = None


@dataclass
class Case:
    """One demo row: how to run each implementation and how to check tritium's answer."""

    name: str
    size: str
    run_tritium: Callable[[], Any]
    run_numpy: Callable[[], Any]
    run_torch: Callable[[], Any] | None
    check: Callable[[], float]  # returns the largest relative error against float64
    tolerance: float


def _rel_err(got: Any, ref: np.ndarray) -> float:
    got = np.asarray(got, dtype=np.float64)
    return float(np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-30))


def _softmax_np(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _layer_norm_np(x, w, b, dy, eps):
    """Forward and backward of layer norm in NumPy, in the dtype of its inputs."""
    mean = x.mean(axis=1, keepdims=True)
    xc = x - mean
    rstd = 1 / np.sqrt((xc * xc).mean(axis=1, keepdims=True) + eps)
    xhat = xc * rstd
    y = xhat * w + b
    wdy = w * dy
    c1 = (xhat * wdy).mean(axis=1, keepdims=True)
    c2 = wdy.mean(axis=1, keepdims=True)
    dx = (wdy - (xhat * c1 + c2)) * rstd
    return y, dx, (dy * xhat).sum(axis=0), dy.sum(axis=0)


def make_cases(quick: bool) -> list[Case]:
    """The four tutorials at sizes that are not multiples of their blocks."""
    rng = np.random.default_rng(0)
    cases = []

    n = 1_000_003 if quick else 16_000_057
    x, y = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    tx, ty = (torch.from_numpy(x), torch.from_numpy(y)) if torch else (None, None)
    cases.append(
        Case(
            "01 vector add",
            f"n={n}",
            lambda: vector_add.add(x, y),
            lambda: x + y,
            (lambda: tx + ty) if torch else None,
            lambda: _rel_err(vector_add.add(x, y), x.astype(np.float64) + y),
            1e-6,
        )
    )

    rows, cols = (1823, 781) if quick else (4096, 2047)
    s = rng.standard_normal((rows, cols), dtype=np.float32)
    ts = torch.from_numpy(s) if torch else None
    cases.append(
        Case(
            "02 fused softmax",
            f"{rows}x{cols}",
            lambda: fused_softmax.softmax(s),
            lambda: _softmax_np(s),
            (lambda: torch.softmax(ts, dim=1)) if torch else None,
            lambda: _rel_err(fused_softmax.softmax(s), _softmax_np(s.astype(np.float64))),
            1e-5,
        )
    )

    m = 257 if quick else 1023
    a = rng.standard_normal((m, m)).astype(np.float16)
    b = rng.standard_normal((m, m)).astype(np.float16)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    ta, tb = (torch.from_numpy(a), torch.from_numpy(b)) if torch else (None, None)
    cases.append(
        Case(
            "03 matmul fp16 (autotuned)",
            f"{m}^3",
            lambda: matmul.matmul(a, b),
            lambda: a32 @ b32,  # NumPy has no fast fp16 matmul: its fp32 BLAS is the anchor
            (lambda: ta @ tb) if torch else None,
            lambda: _rel_err(matmul.matmul(a, b), a.astype(np.float64) @ b),
            2e-3,
        )
    )

    M, N = (1151, 1000) if quick else (4096, 4095)
    lx = (-2.3 + 0.5 * rng.standard_normal((M, N))).astype(np.float32)
    lw, lb = rng.random(N, dtype=np.float32), rng.random(N, dtype=np.float32)
    ldy = (0.1 * rng.standard_normal((M, N))).astype(np.float32)

    def ln_tritium():
        yy, mean, rstd = layer_norm.forward(lx, lw, lb, 1e-5)
        return (yy, *layer_norm.backward(ldy, lx, lw, mean, rstd))

    def ln_torch():
        xt = torch.from_numpy(lx).requires_grad_(True)
        wt = torch.from_numpy(lw).requires_grad_(True)
        bt = torch.from_numpy(lb).requires_grad_(True)
        torch.nn.functional.layer_norm(xt, (N,), wt, bt, 1e-5).backward(torch.from_numpy(ldy))

    def ln_check():
        refs = _layer_norm_np(*(t.astype(np.float64) for t in (lx, lw, lb, ldy)), 1e-5)
        return max(_rel_err(g, r) for g, r in zip(ln_tritium(), refs))

    cases.append(
        Case(
            "05 layer norm fwd+bwd",
            f"{M}x{N}",
            ln_tritium,
            lambda: _layer_norm_np(lx, lw, lb, ldy, 1e-5),
            ln_torch if torch else None,
            ln_check,
            1e-3,
        )
    )
    return cases


def _median_ms(fn: Callable[[], Any], rep: float) -> float:
    return float(tritium.testing.do_bench(fn, warmup=rep / 4, rep=rep, return_mode="median"))


def main(argv: list[str] | None = None) -> int:
    """Check and time every tutorial; exit status 1 if any result is wrong."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, short timings")
    args = parser.parse_args(argv)
    rep = 50.0 if args.quick else 300.0
    threads = knobs.num_threads()
    target = tritium.runtime.driver.active.get_current_target()
    torch_version = torch.__version__ if torch else "not installed"
    print(
        f"tritium {tritium.__version__} on {str(target.arch).split(':')[0]} "
        f"({threads} threads); torch {torch_version}; load average {os.getloadavg()[0]:.1f} "
        "(timings are only comparable on an otherwise idle machine)"
    )
    header = [
        "kernel",
        "size",
        "rel err",
        "ok",
        "compile s",
        "tritium ms",
        "numpy ms",
        "torch ms",
        "vs numpy",
        "vs torch",
    ]
    rows, failed = [], False
    for case in make_cases(args.quick):
        t0 = time.perf_counter()
        case.run_tritium()  # compiles, or loads from the disk cache
        compile_s = time.perf_counter() - t0
        err = case.check()
        ok = err <= case.tolerance
        failed |= not ok
        t_tri = _median_ms(case.run_tritium, rep)
        t_np = _median_ms(case.run_numpy, rep)
        t_torch = _median_ms(case.run_torch, rep) if case.run_torch else float("nan")
        rows.append(
            [
                case.name,
                case.size,
                f"{err:.1e}",
                "yes" if ok else "NO",
                f"{compile_s:.2f}",
                f"{t_tri:.3f}",
                f"{t_np:.3f}",
                "-" if case.run_torch is None else f"{t_torch:.3f}",
                f"{t_np / t_tri:.2f}x",
                "-" if case.run_torch is None else f"{t_torch / t_tri:.2f}x",
            ]
        )
    print(format_table(header, rows))
    print("(vs X = X's time / tritium's time: above 1 means tritium is faster)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
