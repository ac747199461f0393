"""The bf16 and int8 matmul rows against torch, the K loop's lowering A/B'd in one process.

``python -m benchmarks.matmul_packed [--threads 1] [--rounds 8] [--n 512]`` compiles tutorial
03 (bf16 in, fp32 out, ``n``^3) and the W8A8 int8 tutorial (64x2048x2048), each CPU config
pinned, twice: with ``dot_kloop``'s chunked K loop for ``vdpbf16ps``/``vpdpbusd``
(``dot_kloop_packed``) and dot by dot (``dot_kloop._PACKED`` off), and times both beside
torch's ``matmul`` / ``_int_mm`` (with the benchmark row's scaling), interleaved by rounds.
One thread: thread CPU time; more: wall time. Prints the medians (GFLOP/s, GOP/s) and the
load average. Needs torch and a host with AVX512-BF16/VNNI for the instructions.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import ml_dtypes
import numpy as np

import tritium as triton
from tritium.backends.cpu import dot_kloop
from tutorials import matmul_int8
from tutorials.matmul import matmul_kernel

_BF16_CONFIGS = [
    dict(BLOCK_SIZE_M=64, BLOCK_SIZE_N=64, BLOCK_SIZE_K=32, GROUP_SIZE_M=8),
    dict(BLOCK_SIZE_M=32, BLOCK_SIZE_N=64, BLOCK_SIZE_K=64, GROUP_SIZE_M=8),
]
_INT8_CONFIGS = [
    dict(BLOCK_M=64, BLOCK_N=64, BLOCK_K=64, GROUP_M=8),
    dict(BLOCK_M=32, BLOCK_N=64, BLOCK_K=128, GROUP_M=8),
]


def _cases(n: int, torch: object) -> list[tuple[str, Callable[[], object], float]]:
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(ml_dtypes.bfloat16) for _ in range(2))
    c = np.full((n, n), np.nan, np.float32)
    M, N, K = 64, 2048, 2048
    qa, sa = matmul_int8.quantize_rows(rng.standard_normal((M, K), dtype=np.float32))
    qbt, sb = matmul_int8.quantize_rows(rng.standard_normal((N, K), dtype=np.float32))
    qb = np.ascontiguousarray(qbt.T)
    qc = np.full((M, N), np.nan, np.float32)
    bf16_ref = a.astype(np.float64) @ b.astype(np.float64)
    int8_ref = (qa.astype(np.float64) @ qb) * sa[:, None] * sb[None, :]
    out = []
    for packed in (True, False):
        dot_kloop._PACKED = packed
        tag = "chunked" if packed else "dot by dot"
        for i, cf in enumerate(_BF16_CONFIGS):
            # a JITFunction per lowering (its own in-memory cache; the disk cache is off)
            k1 = triton.jit(matmul_kernel.fn.fn)
            grid = (triton.cdiv(n, cf["BLOCK_SIZE_M"]) * triton.cdiv(n, cf["BLOCK_SIZE_N"]),)

            def bf16(k1=k1, grid=grid, cf=cf) -> None:  # type: ignore[no-untyped-def]
                k1[grid](a, b, c, n, n, n, n, 1, n, 1, n, 1, ACTIVATION="", **cf)

            bf16()
            assert np.abs(c - bf16_ref).max() < 1e-3 * n**0.5
            out.append((f"bf16 {n}^3 {tag} config {i}", bf16, 2.0 * n**3))
        for i, cf in enumerate(_INT8_CONFIGS):
            k2 = triton.jit(matmul_int8.matmul_int8_kernel.fn.fn)
            grid = (triton.cdiv(M, cf["BLOCK_M"]) * triton.cdiv(N, cf["BLOCK_N"]),)

            def int8(k2=k2, grid=grid, cf=cf) -> None:  # type: ignore[no-untyped-def]
                k2[grid](qa, qb, qc, sa, sb, M, N, K, K, 1, N, 1, N, 1, **cf)

            int8()
            np.testing.assert_allclose(qc, int8_ref, rtol=1e-5, atol=1e-5)
            out.append((f"int8 64x2048x2048 {tag} config {i}", int8, 2.0 * M * N * K))
    dot_kloop._PACKED = True
    if torch is not None:
        ta, tb = (torch.from_numpy(t.view(np.uint16)).view(torch.bfloat16) for t in (a, b))  # type: ignore[attr-defined]
        tqa, tqb = torch.from_numpy(qa), torch.from_numpy(qb)  # type: ignore[attr-defined]
        tsa, tsb = torch.from_numpy(sa)[:, None], torch.from_numpy(sb)[None, :]  # type: ignore[attr-defined]
        out.append((f"bf16 {n}^3 torch", lambda: torch.matmul(ta, tb), 2.0 * n**3))  # type: ignore[attr-defined]
        int_mm = lambda: torch._int_mm(tqa, tqb) * tsa * tsb  # type: ignore[attr-defined]  # noqa: E731
        out.append(("int8 64x2048x2048 torch", int_mm, 2.0 * M * N * K))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--n", type=int, default=512)
    args = p.parse_args()
    os.environ["TRITIUM_ALWAYS_COMPILE"] = "1"  # both lowerings compiled in this process
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    triton.set_num_threads(args.threads)
    clock = time.thread_time if args.threads == 1 else time.perf_counter
    cases = _cases(args.n, torch)
    rates: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for name, fn, ops in cases:
            times = []
            for _ in range(8):
                t0 = clock()
                fn()
                times.append(clock() - t0)
            rates.setdefault(name, []).append(ops / float(np.median(times)) / 1e9)
    for name, r in rates.items():
        print(f"{name:40s} median {np.median(r):7.1f}  max {np.max(r):7.1f}")
    print(f"threads {args.threads}, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
