"""The AMX path on a host that has it: features, self-test, bit-exactness, speed (dot_amx).

``python -m benchmarks.amx_check [--threads 1] [--rounds 6] [--n 1024]`` prints the host's
CPU and AMX-related features and what ``dot_amx`` chooses, asks Linux for the tile state and
runs the self-test (bf16 within its bound of float64, int8 exact; and whether bf16 equals the
emulation, the SDM's order, bit for bit), then runs ``tl.dot`` K loops three ways in one
process: AMX (``TRITIUM_CPU_AMX=auto``), the emulation (``emulate``) and without AMX (``0``:
``vdpbf16ps``/``vpdpbusd`` where the host has them). bf16: all three close to float64, the
emulation equal to the tests' NumPy model of TDPBF16PS bit for bit, and whether AMX is too
(reported, not required); int8 all three equal. Then times tutorial 03 bf16 ``n``^3 and the
W8A8 int8 kernel at ``n``^3 (CPU configs pinned), AMX against the packed path and torch
(``matmul`` / ``_int_mm``), interleaved by rounds: one thread thread CPU time, more wall time;
medians.

On a host without AMX it runs what it can (the emulation's checks, the packed path's times)
and says so. Written for the first session with an AMX host: nothing here ran on one yet.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import ml_dtypes
import numpy as np

import tritium as triton
from tritium.backends.cpu import dot_amx, dot_amx_check
from tritium.backends.cpu.target import host_target
from tutorials import matmul_int8
from tutorials.matmul import matmul_kernel

_MODES = {"amx": "auto", "emulated": "emulate", "packed": "0"}
_BF16 = dict(BLOCK_SIZE_M=64, BLOCK_SIZE_N=64, BLOCK_SIZE_K=64, GROUP_SIZE_M=8)
_INT8 = dict(BLOCK_M=64, BLOCK_N=64, BLOCK_K=128, GROUP_M=8)


def features() -> bool:
    """Print the host and the choice; True when AMX runs here."""
    target = host_target()
    feats = [f for f in target.features.split(",") if "amx" in f or "bf16" in f or "vnni" in f]
    print(f"cpu {target.cpu}: {','.join(feats) or 'no AMX/BF16/VNNI features'}")
    print(f"TRITIUM_CPU_AMX={os.environ.get('TRITIUM_CPU_AMX', '') or '(unset: auto)'}")
    mode = dot_amx.mode(target)  # asks Linux and runs the self-test on an AMX host
    print(f"dot_amx.mode: {mode}")
    side = "hardware" if mode == "hw" else "emulated (no AMX here)"
    r = dot_amx_check.self_test(hardware=mode == "hw")
    print(f"self-test, {side}: passed {r.passed} (bf16 worst error {r.bf16_error:.2e} of its")
    print(f"  bound, int8 exact {r.int8_exact}); bf16 == the SDM's order (the emulation) bit for")
    print(f"  bit: {r.bf16_bits} (reported, not required)")
    return mode == "hw"


def _bf16_launch(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> Callable[[], None]:
    n = a.shape[0]
    kernel = triton.jit(matmul_kernel.fn.fn)  # a JITFunction per mode: its own cache
    grid = (triton.cdiv(n, _BF16["BLOCK_SIZE_M"]) * triton.cdiv(n, _BF16["BLOCK_SIZE_N"]),)
    return lambda: kernel[grid](a, b, c, n, n, n, n, 1, n, 1, n, 1, ACTIVATION="", **_BF16)


def _int8_launch(qa, qb, qc, sa, sb) -> Callable[[], None]:  # type: ignore[no-untyped-def]
    (m, k), n = qa.shape, qb.shape[1]
    kernel = triton.jit(matmul_int8.matmul_int8_kernel.fn.fn)
    grid = (triton.cdiv(m, _INT8["BLOCK_M"]) * triton.cdiv(n, _INT8["BLOCK_N"]),)
    return lambda: kernel[grid](qa, qb, qc, sa, sb, m, n, k, k, 1, n, 1, n, 1, **_INT8)


def exactness(n: int, amx: bool) -> list[tuple[str, Callable[[], object], float]]:
    """Run both dots in each mode, check them, and return the timed cases."""
    from tests.backends.cpu.test_dot_amx import amx_model

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(ml_dtypes.bfloat16) for _ in range(2))
    qa, sa = matmul_int8.quantize_rows(rng.standard_normal((n, n), dtype=np.float32))
    qbt, sb = matmul_int8.quantize_rows(rng.standard_normal((n, n), dtype=np.float32))
    qb = np.ascontiguousarray(qbt.T)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    out, bf16, int8 = [], {}, {}
    for name, knob in _MODES.items():
        if name == "amx" and not amx:
            continue
        os.environ["TRITIUM_CPU_AMX"] = knob
        c = np.full((n, n), np.nan, np.float32)
        qc = np.full((n, n), np.nan, np.float32)
        run_bf16, run_int8 = _bf16_launch(a, b, c), _int8_launch(qa, qb, qc, sa, sb)
        run_bf16()
        run_int8()
        err = float(np.abs(c - ref).max())
        print(f"{name:9s} bf16 max |error| vs float64 {err:.2e} (bound {1e-3 * n**0.5:.2e})")
        bf16[name], int8[name] = c.copy(), qc.copy()
        if name != "emulated":  # the emulation only for bits: it is slow
            out.append((f"bf16 {n}^3 {name}", run_bf16, 2.0 * n**3))
            out.append((f"int8 {n}^3 {name}", run_int8, 2.0 * n**3))
    os.environ["TRITIUM_CPU_AMX"] = "auto"
    model = amx_model(a, b, np.zeros((n, n), np.float32), _BF16["BLOCK_SIZE_K"])
    same = lambda x, y: bool(np.array_equal(x.view(np.uint32), y.view(np.uint32)))  # noqa: E731
    print(f"bf16 emulated == NumPy TDPBF16PS model, bit for bit: {same(bf16['emulated'], model)}")
    print(f"int8 emulated == packed path: {same(int8['emulated'], int8['packed'])}")
    if amx:
        bits = same(bf16["amx"], bf16["emulated"])
        print(f"bf16 AMX == emulated (the SDM's order), bit for bit: {bits} (not required)")
        print(f"int8 AMX == packed path: {same(int8['amx'], int8['packed'])}")
    return out


def _torch_cases(n: int, torch: object) -> list[tuple[str, Callable[[], object], float]]:
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((n, n)).astype(ml_dtypes.bfloat16) for _ in range(2))
    ta, tb = (torch.from_numpy(t.view(np.uint16)).view(torch.bfloat16) for t in (a, b))  # type: ignore[attr-defined]
    qa, qb = (rng.integers(-127, 128, (n, n)).astype(np.int8) for _ in range(2))
    tqa, tqb = torch.from_numpy(qa), torch.from_numpy(qb)  # type: ignore[attr-defined]
    return [
        (f"bf16 {n}^3 torch", lambda: torch.matmul(ta, tb), 2.0 * n**3),  # type: ignore[attr-defined]
        (f"int8 {n}^3 torch _int_mm", lambda: torch._int_mm(tqa, tqb), 2.0 * n**3),  # type: ignore[attr-defined]
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--n", type=int, default=1024)
    args = p.parse_args()
    os.environ["TRITIUM_ALWAYS_COMPILE"] = "1"  # every mode compiled in this process
    amx = features()
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    triton.set_num_threads(args.threads)
    cases = exactness(args.n, amx)
    if torch is not None:
        cases += _torch_cases(args.n, torch)
    clock = time.thread_time if args.threads == 1 else time.perf_counter
    rates: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for name, fn, ops in cases:
            times = []
            for _ in range(3):
                t0 = clock()
                fn()
                times.append(clock() - t0)
            rates.setdefault(name, []).append(ops / float(np.median(times)) / 1e9)
    for name, r in rates.items():
        print(f"{name:28s} median {np.median(r):7.1f}  max {np.max(r):7.1f}  G(FL)OP/s")
    print(f"threads {args.threads}, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
