"""How a row kernel's time depends on where its output lies relative to its inputs modulo
4096 bytes (4K aliasing: a load whose address matches an older, still pending store's in bits
0-11 waits for it, and a non-temporal store stays pending long).

Three row kernels, one row of ``N`` fp32 per program: tutorial 05's layer norm forward (loads
x, w and b in its store loop), the one-row-per-program softmax (its store loop reads the row
from a stack tile) and RMSNorm forward (x and w). The inputs lie at fixed places (x at the
start of a page, w and b at the page offsets below); the output is a view of one buffer
allocated once with a page of slack, placed ``offset`` bytes above a page start, so that
``(y - x) mod 4096 = offset`` for every row (the rows are 4096 bytes or a multiple apart).
Every placement is timed once per round, round by round (interleaved), at one thread in
thread CPU time; printed per kernel: the median time of each placement, and the min, median
and max over the placements with the placements that are over 1.05x the median.

Run: ``python -m benchmarks.alias_scan [step | start:stop:step] [rounds] [M] [N] [kernels]``
(defaults 64 (over 0..4095), 7, 1024, 4096, ``layer_norm,softmax,rms_norm``); ``-v`` prints
every placement.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

import tritium
from benchmarks import kernels
from tutorials import layer_norm, rms_norm

#: Page offsets of the weights and biases (as glibc's heap might place 16 KiB blocks).
W_OFFSET, B_OFFSET = 1040, 2832


def placed(nbytes: int, offset: int) -> np.ndarray:
    """A float32 array of ``nbytes`` that starts ``offset`` bytes after a page start."""
    raw = np.empty(nbytes + 2 * 4096, np.uint8)
    start = -raw.ctypes.data % 4096 + offset
    return raw[start : start + nbytes].view(np.float32)


def kernel_runs(
    M: int, N: int, offsets: list[int], which: list[str]
) -> dict[str, list[Callable[[], None]]]:
    """kernel name -> one launch per output placement, in ``offsets`` order."""
    rng = np.random.default_rng(3)
    x = placed(4 * M * N, 0).reshape(M, N)
    x[:] = rng.standard_normal((M, N), dtype=np.float32)
    w, b = placed(4 * N, W_OFFSET), placed(4 * N, B_OFFSET)
    w[:], b[:] = rng.random(N, dtype=np.float32), rng.random(N, dtype=np.float32)
    slab = placed(4 * M * N + 4096, 0)
    ys = [slab[o // 4 : o // 4 + M * N].reshape(M, N) for o in offsets]
    mean, rstd = np.empty(M, np.float32), np.empty(M, np.float32)
    block = tritium.next_power_of_2(N)

    def ln(y: np.ndarray) -> Callable[[], None]:
        return lambda: layer_norm._layer_norm_fwd_fused[(M,)](
            x, y, w, b, mean, rstd, N, N, 1e-5, BLOCK_SIZE=block, num_warps=8
        )

    def sm(y: np.ndarray) -> Callable[[], None]:
        return lambda: kernels.softmax_row[(M,)](y, x, N, N, N, BLOCK=block)

    def rms(y: np.ndarray) -> Callable[[], None]:
        fwd = min(block, rms_norm.MAX_BLOCK_N)
        return lambda: rms_norm.rms_norm_kernel[(M,)](
            x, y, w, rstd, None, N, N, 0, N, 1e-6, BLOCK_N=fwd, HAS_RESIDUAL=False
        )

    makers = {"layer_norm": ln, "softmax": sm, "rms_norm": rms}
    return {name: [makers[name](y) for y in ys] for name in which}


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "-v"]
    span = [int(a) for a in args[0].split(":")] if len(args) > 0 else [64]
    start, stop, step = ([0, 4096] + span) if len(span) == 1 else span
    rounds = int(args[1]) if len(args) > 1 else 7
    M = int(args[2]) if len(args) > 2 else 1024
    N = int(args[3]) if len(args) > 3 else 4096
    which = args[4].split(",") if len(args) > 4 else ["layer_norm", "softmax", "rms_norm"]
    offsets = list(range(start, stop, step))
    tritium.set_num_threads(1)
    runs = kernel_runs(M, N, offsets, which)
    for fns in runs.values():
        for fn in fns:
            fn()
    times: dict[str, list[list[float]]] = {name: [[] for _ in offsets] for name in runs}
    for _ in range(rounds):
        for name, fns in runs.items():
            for i, fn in enumerate(fns):
                t0 = time.thread_time()
                fn()
                times[name][i].append((time.thread_time() - t0) * 1e3)
    print(
        f"{M}x{N} fp32, 1 thread, thread CPU ms, {rounds} rounds, output offsets "
        f"{start}..{stop - 1} step {step} (w at +{W_OFFSET}, b at +{B_OFFSET}), "
        f"load {os.getloadavg()[0]:.1f}"
    )
    for name, per in times.items():
        med = [statistics.median(t) for t in per]
        mid = statistics.median(med)
        slow = [f"{o}:{m / mid:.2f}" for o, m in zip(offsets, med) if m > 1.05 * mid]
        print(
            f"  {name:10s} min {min(med):6.3f}  median {mid:6.3f}  max {max(med):6.3f}  "
            f"at 0: {med[0]:6.3f}  slow ({len(slow)}/{len(med)}): {' '.join(slow)}"
        )
        if "-v" in sys.argv:
            print("   ", " ".join(f"{o}:{m:.3f}" for o, m in zip(offsets, med)))
    print(f"load {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
