"""Why 2-thread matmul scaling measures ~1.1x on a shared 2-vCPU machine: one table.

For tutorial 03's matmul (fp32 n^3), NumPy's OpenBLAS sgemm and the FMA probe, at 1 and 2
threads, in blocks of back-to-back calls (the first call of each block is not timed: it absorbs
the previous implementation's thread pool still spinning), it prints the median of:

* GFLOP/s on the wall clock (what ``run.py`` reports);
* the CPUs the process used while the call ran (process CPU time / wall time): 2.0 for a
  2-thread call that had both vCPUs to itself;
* GFLOP per CPU-second (flops / process CPU time): equal at 1 and 2 threads when the threads
  lose nothing to each other, whatever CPU time the machine gave them.

and the machine's side: the load average, the hypervisor's steal time over the run and the
kernel's CPU pressure (``/proc/pressure/cpu``: the share of time some runnable task waited).
Then, after one call of each implementation, the CPU its threads burn during 30 ms of sleep
(thread pools that spin before sleeping compete with whatever runs next).

Run: ``python -m benchmarks.matmul_scaling [rounds] [n]`` (defaults 4, 1024).
"""

from __future__ import annotations

import gc
import glob
import os
import statistics
import sys
import time
from collections.abc import Callable

for _v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(_v, None)

import numpy as np  # noqa: E402

from benchmarks import kernels, limits  # noqa: E402


def _set_threads(n: int) -> None:
    from threadpoolctl import threadpool_limits

    os.environ["TRITIUM_NUM_THREADS"] = str(n)
    for obj in gc.get_objects():  # kernels already loaded read it once
        if type(obj).__name__ == "CPUKernel":
            obj.num_threads = n
    threadpool_limits(limits=n, user_api="blas")


def _steal_ticks() -> int:
    return int(open("/proc/stat").readline().split()[8])


def _pressure() -> str:
    try:
        line = open("/proc/pressure/cpu").readline().split()
    except OSError:
        return "n/a"
    return " ".join(line[1:3])


def _threads_cpu_ticks() -> int:
    total = 0
    for path in glob.glob(f"/proc/{os.getpid()}/task/*/stat"):
        try:
            fields = open(path).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def main(rounds: int = 4, n: int = 1024) -> None:
    rng = np.random.default_rng(5)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    c = np.empty((n, n), np.float32)
    flops = 2.0 * n**3
    impls: dict[tuple[str, int], tuple[Callable[[], None], float]] = {}
    for t in (1, 2):
        probe, probe_flops = limits.fma_probe(t, 0.025)
        impls[("FMA probe", t)] = (probe, probe_flops)
        impls[("OpenBLAS", t)] = (lambda: np.matmul(a, b, out=c), flops)
        impls[("tritium", t)] = (lambda: kernels.matmul(a, b, c), flops)
    for (_, t), (fn, _) in impls.items():
        _set_threads(t)
        fn()
        fn()
    res: dict[tuple[str, int], list[tuple[float, float, float]]] = {k: [] for k in impls}
    steal0, start = _steal_ticks(), time.perf_counter()
    for _ in range(rounds):
        for key, (fn, work) in impls.items():
            _set_threads(key[1])
            fn()
            for _ in range(5):
                c0, w0 = time.process_time(), time.perf_counter()
                fn()
                w1, c1 = time.perf_counter(), time.process_time()
                rate = work / (w1 - w0) / 1e9
                res[key].append((rate, (c1 - c0) / (w1 - w0), work / max(c1 - c0, 1e-9) / 1e9))
    wall = time.perf_counter() - start
    tick = os.sysconf("SC_CLK_TCK")
    steal = (_steal_ticks() - steal0) / tick / (2 * wall)
    print(f"n={n}, load average {os.getloadavg()[0]:.2f}, steal {100 * steal:.2f}% of 2 vCPUs")
    print(f"CPU pressure (some): {_pressure()}")
    print("| impl | threads | GFLOP/s (wall) | CPUs the process used | GFLOP per CPU-second |")
    print("|---|---|---|---|---|")
    for (name, t), rows in res.items():
        med = [statistics.median(r[i] for r in rows) for i in range(3)]
        print(f"| {name} | {t} | {med[0]:.1f} | {med[1]:.2f} | {med[2]:.1f} |")
    for name in ("FMA probe", "OpenBLAS", "tritium"):
        g = [statistics.median(r[0] for r in res[(name, t)]) for t in (1, 2)]
        e = [statistics.median(r[2] for r in res[(name, t)]) for t in (1, 2)]
        print(f"{name}: wall scaling {g[1] / g[0]:.2f}x, work per CPU-s 2t/1t {e[1] / e[0]:.2f}")
    _set_threads(2)
    for name in ("OpenBLAS", "tritium", "FMA probe"):
        fn = impls[(name, 2)][0]
        ticks = 0
        for _ in range(10):
            fn()
            t0 = _threads_cpu_ticks()
            time.sleep(0.03)
            ticks += _threads_cpu_ticks() - t0
        spent = ticks / 10 / tick * 1e3
        print(f"after a 2-thread {name} call: {spent:.1f} ms CPU per 30 ms asleep")


if __name__ == "__main__":
    main(*(int(x) for x in sys.argv[1:3]))
