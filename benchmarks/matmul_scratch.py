"""Tutorial 03's matmul with scratch blocks kept per thread vs freed after each launch.

One thread (``tritium.set_num_threads(1)``: the worker runs on the calling thread), the same
inputs, A/B interleaved pair by pair (the order alternates). Both modes run one untimed launch
first, so that they have the same history; ``freed`` then drops the thread's blocks
(``scratch.release_thread()``) and drops them again after its timed launch: the behaviour
before blocks were kept. Printed per size: the median thread CPU time (``time.thread_time``,
which contention on a shared machine inflates far less than wall time) and minor page faults
(``RUSAGE_THREAD``) per launch. With ``trim`` 1, ``malloc_trim(0)`` runs before every timed
launch, as glibc's own heap trimming does now and then: the freed blocks' pages go back to
the kernel and the next launch faults them in afresh; without it, a plain loop like this one
gets the same memory back from glibc and the modes measure alike.

Run: ``python -m benchmarks.matmul_scratch [trim] [pairs]`` (defaults 1, 16).
"""

from __future__ import annotations

import ctypes
import os
import resource
import statistics
import sys
import time

import numpy as np

import tritium
from benchmarks import kernels
from tritium.backends.cpu import scratch


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt


def run(n: int, pairs: int, trim: bool) -> None:
    """Print one line: the two modes at ``n``^3."""
    libc = ctypes.CDLL(None)
    rng = np.random.default_rng(5)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    c = np.full((n, n), np.nan, np.float32)
    kernels.matmul(a, b, c)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c, ref, rtol=1e-3, atol=1e-4 * n)
    cpu: dict[str, list[float]] = {"kept": [], "freed": []}
    faults: dict[str, list[int]] = {"kept": [], "freed": []}
    for i in range(pairs):
        for mode in ("kept", "freed") if i % 2 else ("freed", "kept"):
            kernels.matmul(a, b, c)  # untimed, in both modes: the same history
            if mode == "freed":
                scratch.release_thread()
            if trim:
                libc.malloc_trim(0)
            f0, t0 = _faults(), time.thread_time()
            kernels.matmul(a, b, c)
            if mode == "freed":
                scratch.release_thread()  # as the worker did at the end of each launch
            t1, f1 = time.thread_time(), _faults()
            cpu[mode].append(t1 - t0)
            faults[mode].append(f1 - f0)
    k, f = (statistics.median(cpu[m]) for m in ("kept", "freed"))
    print(
        f"n={n} trim={int(trim)} pairs={pairs} load {os.getloadavg()[0]:.1f}: thread CPU s "
        f"kept {k:.4f}, freed {f:.4f} (kept/freed {k / f:.3f}); minor faults per launch "
        f"kept {statistics.median(faults['kept']):.0f}, freed "
        f"{statistics.median(faults['freed']):.0f}",
        flush=True,
    )


def main(trim: bool = True, pairs: int = 16) -> None:
    tritium.set_num_threads(1)
    for n in (1024, 2048):
        run(n, pairs * (3 if n <= 1024 else 1), trim)


if __name__ == "__main__":
    main(*(int(x) for x in sys.argv[1:3]))  # type: ignore[arg-type]
