"""Tutorial 03's matmul at one thread against OpenBLAS, A/B of ``dot_kloop`` settings.

On a shared machine wall times of a 2-core VM swing by tens of percent; thread CPU time
(``time.thread_time``) at one thread, interleaved with the anchor, is what stays comparable.
For each size this runs NumPy's ``matmul`` (OpenBLAS sgemm), tutorial 03's kernel with each
of its CPU configs fixed (no autotuning: the tuner's wall-clock choice would differ between
runs) and each variant given on the command line, round after round, the order reversed every
other round; it prints per implementation the median GFLOP/s, the best one, and the median
over rounds of the *paired* ratio to OpenBLAS (the ratio of the two calls of the same round,
which cancels the slow swings of the machine's load), with the load average.

A variant is a comma-separated list of module settings applied while its kernel compiles:
``dot_kloop`` attributes or ``module.attribute`` of ``tritium.backends.cpu``, e.g.
``_B_PANEL_BYTES=8<<20,dot_apanels._PANEL_BYTES=4<<20`` (the panel budgets before the ninth
session; the run-time helpers' slot choice is the new one either way) or ``_ENABLED=False``
(dot by dot); the settings are part of the kernel's ``ACTIVATION`` string, so
each variant compiles apart. Every implementation's result is checked against float64 first.

``--threads 2`` runs both libraries on two threads and compares wall times instead (noisy on
a shared machine: alternate processes and give the load).

Run: ``python -m benchmarks.matmul_ab [--sizes 1024 2048] [--rounds 20] [--threads 1]
[variant ...]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

for _v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(_v, None)

import numpy as np  # noqa: E402

import tritium  # noqa: E402
import tritium as triton  # noqa: E402

_CONFIGS = ((64, 64, 32), (32, 64, 64))  # tutorials/matmul.py's CPU configs


def _settings(variant: str) -> dict[tuple[object, str], object]:
    """``{(module, attribute): value}`` of a variant: ``name=value`` items, ``name`` a
    ``dot_kloop`` attribute or ``module.attribute`` of ``tritium.backends.cpu``."""
    import importlib

    out: dict[tuple[object, str], object] = {}
    for item in filter(None, variant.split(",")):
        name, _, value = item.partition("=")
        where, _, attr = name.strip().rpartition(".")
        module = importlib.import_module(f"tritium.backends.cpu.{where or 'dot_kloop'}")
        out[(module, attr)] = eval(value, {})  # noqa: S307 - a benchmark's own command line
    return out


def _kernel(cfg: tuple[int, int, int], variant: str) -> Callable[..., None]:
    """``c = a @ b`` with tutorial 03's kernel, config ``cfg``, ``variant``'s settings."""
    from tutorials.matmul import matmul_kernel

    bm, bn, bk = cfg
    settings = _settings(variant)

    def run(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
        (m, k), n = a.shape, b.shape[1]
        old = {key: getattr(*key) for key in settings}
        for (module, attr), value in settings.items():
            setattr(module, attr, value)
        try:
            matmul_kernel.fn[(triton.cdiv(m, bm) * triton.cdiv(n, bn),)](
                a, b, c, m, n, k, k, 1, n, 1, n, 1, BLOCK_SIZE_M=bm, BLOCK_SIZE_N=bn,
                BLOCK_SIZE_K=bk, GROUP_SIZE_M=8, ACTIVATION=f"ab:{variant}", num_warps=1,
                num_stages=1,
            )  # fmt: skip
        finally:
            for (module, attr), value in old.items():
                setattr(module, attr, value)

    return run


def run(n: int, rounds: int, variants: list[str], threads: int = 1, cpu: bool = False) -> None:
    """Print the table of one size (see the module docstring); at more than one thread the
    times are wall times (``time.perf_counter``), or with ``cpu`` the process's CPU time
    (all threads: tritium's variants against each other; OpenBLAS's threads spin-wait)."""
    rng = np.random.default_rng(5)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    c = np.full((n, n), np.nan, np.float32)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    impls: dict[str, Callable[[], None]] = {"OpenBLAS": lambda: np.matmul(a, b, out=c)}
    for variant in variants:
        for cfg in _CONFIGS:
            kernel = _kernel(cfg, variant)
            c.fill(np.nan)
            kernel(a, b, c)
            err = float(np.abs(c - ref).max() / np.abs(ref).max())
            name = "x".join(map(str, cfg)) + (f" {variant}" if variant else "")
            assert err < 1e-5, (name, err)
            impls[name] = lambda kernel=kernel: kernel(a, b, c)
    times: dict[str, list[float]] = {name: [] for name in impls}
    names = list(impls)
    clock = time.thread_time if threads == 1 else time.process_time if cpu else time.perf_counter
    for r in range(rounds):
        for name in names if r % 2 else names[::-1]:
            t0 = clock()
            impls[name]()
            times[name].append(clock() - t0)
    flops = 2.0 * n**3
    blas = times["OpenBLAS"]
    what = "1 thread, thread CPU time" if threads == 1 else f"{threads} threads, "
    what += "" if threads == 1 else "process CPU time" if cpu else "wall time"
    print(f"{n}^3 fp32, {what}, {rounds} rounds, load {os.getloadavg()[0]:.1f}")
    for name in names:
        t = times[name]
        paired = statistics.median(blas[i] / t[i] for i in range(rounds))
        print(
            f"  {name:40s} {flops / statistics.median(t) / 1e9:6.1f} GFLOP/s "
            f"(best {flops / min(t) / 1e9:6.1f})  paired ratio to OpenBLAS {paired:.3f}",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="both libraries' (wall time if > 1)")
    p.add_argument("--cpu", action="store_true", help="at > 1 thread: process CPU time")
    p.add_argument("variants", nargs="*", help="settings, e.g. _B_PANEL_BYTES=8<<20")
    args = p.parse_args()
    from threadpoolctl import threadpool_limits

    tritium.set_num_threads(args.threads)
    threadpool_limits(limits=args.threads, user_api="blas")
    for n in args.sizes:
        rounds = args.rounds if n <= 1024 else max(4, args.rounds // 3)
        run(n, rounds, [""] + args.variants, args.threads, args.cpu)


if __name__ == "__main__":
    main()
