"""tritium's interpreter against Triton's interpreter, on the same kernels and CPU tensors.

    python benchmarks/bench_interpreter.py [--triton-path DIR] [--repeat N]

Each side runs in its own subprocess (so the real ``triton`` never meets tritium's alias):
tritium with ``install_as_triton()`` and ``TRITIUM_INTERPRET=1``, Triton with
``TRITON_INTERPRET=1``.  The kernels are the same source, written against ``import triton``.
Triton comes from PyPI (``pip install triton``); to keep it out of the environment tritium's
tests use, install it elsewhere (``pip install --no-deps --target DIR triton``) and pass
``--triton-path DIR``.  Prints one table: the best of ``--repeat`` runs after a warm-up, and
the ratio Triton / tritium.  Not part of CI.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------------------
# worker: runs in a subprocess with either implementation imported as `triton`


def _worker(impl: str, repeat: int) -> None:
    if impl == "tritium":
        sys.path.insert(0, str(ROOT))
        os.environ["TRITIUM_INTERPRET"] = "1"
        import tritium

        tritium.install_as_triton()
    else:
        os.environ["TRITON_INTERPRET"] = "1"
    import torch
    import triton
    import triton.language as tl

    @triton.jit
    def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(
            out_ptr + offs, tl.load(x_ptr + offs, mask=m) + tl.load(y_ptr + offs, mask=m), mask=m
        )

    @triton.jit
    def softmax_kernel(out_ptr, in_ptr, stride, n_cols, BLOCK: tl.constexpr):
        row = tl.program_id(0)
        offs = tl.arange(0, BLOCK)
        m = offs < n_cols
        x = tl.load(in_ptr + row * stride + offs, mask=m, other=-float("inf"))
        e = tl.exp(x - tl.max(x, axis=0))
        tl.store(out_ptr + row * stride + offs, e / tl.sum(e, axis=0), mask=m)

    @triton.jit
    def matmul_kernel(
        a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr
    ):
        pid = tl.program_id(0)
        num_n = tl.cdiv(N, BN)
        rm = (pid // num_n) * BM + tl.arange(0, BM)
        rn = (pid % num_n) * BN + tl.arange(0, BN)
        rk = tl.arange(0, BK)
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for k in range(0, K, BK):
            a = tl.load(a_ptr + rm[:, None] * K + (k + rk)[None, :])
            b = tl.load(b_ptr + (k + rk)[:, None] * N + rn[None, :])
            acc += tl.dot(a, b)
        tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc)

    torch.manual_seed(0)
    n = 1 << 20
    x, y = torch.randn(n), torch.randn(n)
    out = torch.empty(n)
    rows, cols = 1024, 512
    s_in = torch.randn(rows, cols)
    s_out = torch.empty(rows, cols)
    mm = 256
    a, b = torch.randn(mm, mm, dtype=torch.float16), torch.randn(mm, mm, dtype=torch.float16)
    c = torch.empty(mm, mm)

    cases: dict[str, tuple[Any, int]] = {
        "vector add 2^20 (1024 programs)": (
            lambda: add_kernel[(n // 1024,)](x, y, out, n, BLOCK=1024),
            n // 1024,
        ),
        f"softmax {rows}x{cols} ({rows} programs)": (
            lambda: softmax_kernel[(rows,)](s_out, s_in, cols, cols, BLOCK=512),
            rows,
        ),
        f"matmul fp16 {mm}^3 ({(mm // 32) ** 2} programs)": (
            lambda: matmul_kernel[((mm // 32) ** 2,)](a, b, c, mm, mm, mm, BM=32, BN=32, BK=32),
            (mm // 32) ** 2,
        ),
    }
    results = {}
    for name, (run, programs) in cases.items():
        run()  # warm-up (and correctness below)
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - t0)
        results[name] = {"seconds": best, "programs": programs}
    ok = (
        torch.allclose(out, x + y)
        and torch.allclose(s_out, torch.softmax(s_in, 1), atol=1e-6)
        and torch.allclose(c, a.float() @ b.float(), atol=1e-2, rtol=1e-2)
    )
    print(json.dumps({"results": results, "correct": bool(ok)}))


# ----------------------------------------------------------------------------------------
# driver


def _run_side(impl: str, repeat: int, triton_path: str | None) -> dict[str, Any] | str:
    env = dict(os.environ)
    env.pop("TRITIUM_INTERPRET", None)
    env.pop("TRITON_INTERPRET", None)
    if impl == "triton" and triton_path:
        env["PYTHONPATH"] = triton_path + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", impl, "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(ROOT),
    )
    if proc.returncode != 0:
        return proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--triton-path",
        default=os.environ.get("TRITON_PATH"),
        help="a directory holding the real triton package (pip install --target)",
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--worker", choices=["tritium", "triton"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args.worker, args.repeat)
        return
    ours = _run_side("tritium", args.repeat, None)
    theirs = _run_side("triton", args.repeat, args.triton_path)
    if isinstance(ours, str):
        raise SystemExit(f"tritium side failed: {ours}")
    print(
        f"{'kernel':<40} {'tritium ms':>11} {'us/program':>11} {'triton ms':>11} "
        f"{'us/program':>11} {'speed-up':>9}"
    )
    for name, r in ours["results"].items():
        t = r["seconds"] * 1e3
        per = r["seconds"] / r["programs"] * 1e6
        if isinstance(theirs, dict):
            tr = theirs["results"][name]["seconds"]
            print(
                f"{name:<40} {t:>11.2f} {per:>11.1f} {tr * 1e3:>11.2f} "
                f"{tr / r['programs'] * 1e6:>11.1f} {tr / r['seconds']:>8.1f}x"
            )
        else:
            print(f"{name:<40} {t:>11.2f} {per:>11.1f} {'-':>11} {'-':>11} {'-':>9}")
    print(f"tritium results correct: {ours['correct']}")
    if isinstance(theirs, dict):
        print(f"triton results correct: {theirs['correct']}")
    else:
        print(
            f"triton interpreter not run ({theirs}); pip install --no-deps --target DIR triton "
            "and pass --triton-path DIR"
        )


if __name__ == "__main__":
    main()
