"""Compile and launch costs: a cold compile of the tutorial matmul, a disk-cache load, and the
latency of a warm launch.

    python benchmarks/bench_compile.py

The cold compile uses an empty cache directory and reports each stage (frontend, passes,
backend). The warm launch is the tutorial's vector add on 1 element: what is measured is the
runtime's own cost (binding, specialization, cache lookup) plus the native launch.
"""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile
import time
import timeit

os.environ["TRITIUM_CACHE_DIR"] = tempfile.mkdtemp(prefix="tritium-bench-")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from tritium.compiler import stages as stages_mod  # noqa: E402
from tutorials import matmul, vector_add  # noqa: E402


def _timed(name, fn, times: dict[str, float]):
    """``fn``, with the time of each call added to ``times[name]``."""

    def run(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            times[name] = times.get(name, 0.0) + time.perf_counter() - t0

    return run


def cold_compile() -> None:
    t0 = time.perf_counter()
    # imports the frontend, the passes and the backend: once per process
    import tritium.backends.cpu.codegen  # noqa: F401
    import tritium.frontend  # noqa: F401
    import tritium.passes  # noqa: F401

    print(f"importing the compiler stages: {(time.perf_counter() - t0) * 1e3:.1f} ms")
    times: dict[str, float] = {}
    original = dict(stages_mod.STAGES)
    for name, stage in original.items():  # each stage of the compile pipeline, by its name
        stages_mod.STAGES[name] = _timed(name, stage, times)
    backend = stages_mod.get_backend("cpu")
    real_load = backend.load
    backend.load = _timed("backend.load", real_load, times)
    try:
        a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float16)
        config = matmul.get_autotune_config()[0]
        jit_fn = matmul.matmul_kernel.fn
        c = np.empty((256, 256), np.float16)
        args = (a, a, c, 256, 256, 256, 256, 1, 256, 1, 256, 1)
        t0 = time.perf_counter()
        jit_fn.warmup(*args, ACTIVATION="", **config.all_kwargs(), grid=(1,))
        cold = time.perf_counter() - t0
        jit_fn.cache.clear()  # as a new process: only the disk cache remains
        t0 = time.perf_counter()
        jit_fn.warmup(*args, ACTIVATION="", **config.all_kwargs(), grid=(1,))
        disk = time.perf_counter() - t0
    finally:
        stages_mod.STAGES.update(original)
        backend.load = real_load
    print(f"cold compile of the tutorial matmul ({config}): {cold * 1e3:.1f} ms")
    for name, t in times.items():
        print(f"    {name:16s} {t * 1e3:8.1f} ms")
    print(f"load from the disk cache: {disk * 1e3:.2f} ms")


def warm_launch() -> None:
    x = np.ones(1, np.float32)
    out = np.empty_like(x)
    launch = vector_add.add_kernel[(1,)]
    launch(x, x, out, 1, BLOCK_SIZE=1024)
    n = 20000
    per = min(timeit.repeat(lambda: launch(x, x, out, 1, BLOCK_SIZE=1024), number=n, repeat=5)) / n
    compiled = vector_add.add_kernel.warmup(x, x, out, 1, BLOCK_SIZE=1024, grid=(1,))
    raw_args = [x.ctypes.data, x.ctypes.data, out.ctypes.data]
    raw = min(timeit.repeat(lambda: compiled.launch((1, 1, 1), raw_args), number=n, repeat=5)) / n
    lookup = (
        min(
            timeit.repeat(
                lambda: vector_add.add_kernel.run(
                    x, x, out, 1, BLOCK_SIZE=1024, grid=(1,), warmup=True
                ),
                number=n,
                repeat=5,
            )
        )
        / n
    )
    print(f"warm launch, kernel[grid](...) on 1 element: {per * 1e6:.2f} us")
    print(f"    bind + specialize + cache lookup:           {lookup * 1e6:.2f} us")
    print(f"    the backend's launch(grid, args):            {raw * 1e6:.2f} us")

    a = np.zeros((64, 64), np.float16)
    c = np.empty_like(a)
    args = (a, a, c, 64, 64, 64, 64, 1, 64, 1, 64, 1)
    tuned = matmul.matmul_kernel[lambda meta: (1,)]
    tuned(*args, ACTIVATION="")  # tunes once
    reps = n // 10
    per = min(timeit.repeat(lambda: tuned(*args, ACTIVATION=""), number=reps, repeat=5)) / reps
    print(f"warm launch of the autotuned tutorial matmul (64^3, 12 arguments): {per * 1e6:.2f} us")


if __name__ == "__main__":
    cold_compile()
    warm_launch()
