"""Compile and launch costs: a cold compile of the tutorial matmul, stage by stage, a disk-cache
load, and the latency of a warm launch against torch's and NumPy's eager add.

    python benchmarks/bench_compile.py [--compile-only | --launch-only] [--rounds N]
                                       [--llvm-passes N] [--attention DTYPE,MASK,MxN]

The cold compile uses an empty cache directory, after a first compile of another kernel (so
that imports, LLVM's set-up and the grid launcher and run-time helpers that all kernels
share, built once per cache directory, are not counted), and reports each stage: the frontend,
the Tile IR passes, the backend's lowering to llvmlite IR, printing that IR as text, LLVM's
parser, LLVM's optimizer and LLVM's code generation (the rest of the total: hashing, the
launcher, the disk cache, loading the object). Wall and thread CPU times are both printed: on
a shared machine the CPU time is the steadier one.
``--llvm-passes N`` also prints the N LLVM passes (optimizer and code generator) that took the
most time in that compile, from LLVM's own pass timers. ``--attention DTYPE,MASK,MxN`` (for
example ``fp32,causal,64x64``, what ``probes.py compile`` compiles; ``bf16,full,128x64``)
compiles tutorial 06's ``_attn_fwd`` (head dim 64) instead, the slowest tutorial kernel to
compile: on the 2-core Zen 4 EPYC at load ~1, 400-530 ms CPU for ``fp32,causal,64x64`` in a
fresh process (LLVM's optimizer ~190, code generation 110-150, lowering 40-55, IR text 23-38;
the passes InstCombine ~70, instruction selection ~60, IndVarSimplify ~33), 415-540 for bf16.
"""

from __future__ import annotations

import argparse
import atexit
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from typing import Any

# a cache of its own, so that every compile is cold; removed when the process ends
_CACHE = tempfile.mkdtemp(prefix="tritium-bench-")
atexit.register(shutil.rmtree, _CACHE, True)
os.environ["TRITIUM_CACHE_DIR"] = _CACHE
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import tritium as triton  # noqa: E402
from benchmarks import kernels  # noqa: E402
from tritium.backends.cpu import codegen as codegen_mod  # noqa: E402
from tritium.backends.cpu import irtext as irtext_mod  # noqa: E402
from tritium.backends.cpu import target as target_mod  # noqa: E402
from tritium.compiler import stages as stages_mod  # noqa: E402
from tritium.testing import do_bench  # noqa: E402
from tutorials import matmul  # noqa: E402


class _Clock:
    """Wall and thread-CPU seconds accumulated per named stage."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - t0
                self.cpu[name] = self.cpu.get(name, 0.0) + time.thread_time() - c0

        return run


def _matmul_compile() -> tuple[str, Callable[[], Any], Callable[[], None]]:
    """The tutorial matmul's first config: (what, compile it, forget the in-memory copy)."""
    a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float16)
    config = matmul.get_autotune_config()[0]
    jit_fn = matmul.matmul_kernel.fn
    c = np.empty((256, 256), np.float16)
    args = (a, a, c, 256, 256, 256, 256, 1, 256, 1, 256, 1)
    compile_it = lambda: jit_fn.warmup(  # noqa: E731
        *args, ACTIVATION="", **config.all_kwargs(), grid=(1,)
    )
    return f"the tutorial matmul ({config})", compile_it, jit_fn.cache.clear


def _attention_compile(spec: str) -> tuple[str, Callable[[], Any], Callable[[], None]]:
    """Tutorial 06's ``_attn_fwd`` for ``spec`` = ``DTYPE,causal|full,MxN`` (head dim 64)."""
    import ml_dtypes

    from tutorials import attention

    dtype, mask, blocks = spec.split(",")
    block_m, block_n = (int(b) for b in blocks.split("x"))
    types = {"fp32": np.float32, "fp16": np.float16, "bf16": ml_dtypes.bfloat16}
    q = np.zeros((1, 1, 128, 64), types[dtype])
    out = np.empty_like(q)
    strides = [s // q.itemsize for t in (q, q, q, out) for s in t.strides]
    jit_fn = attention._attn_fwd.fn
    meta = {"HEAD_DIM": 64, "STAGE": 3 if mask == "causal" else 1}
    compile_it = lambda: jit_fn.warmup(  # noqa: E731
        q,
        q,
        q,
        out,
        0.125,
        *strides,
        1,
        1,
        128,
        **meta,
        BLOCK_M=block_m,
        BLOCK_N=block_n,
        grid=(1,),
    )
    return f"tutorial 06's _attn_fwd ({spec}, head dim 64)", compile_it, jit_fn.cache.clear


def cold_compile(llvm_passes: int = 0, attention: str = "") -> None:
    """The tutorial matmul's first config (or ``attention``: tutorial 06's kernel, see
    :func:`_attention_compile`), compiled cold, stage by stage (and its ``llvm_passes``
    slowest LLVM passes)."""
    x = np.ones(16, np.float32)
    kernels.add4[(1,)](x, x, np.empty_like(x), 16, BLOCK=16)  # imports, LLVM set-up
    from tritium.backends.cpu.helpers import NAMES

    target_mod.helper_address(NAMES[0])  # the run-time helpers: built once per cache directory
    clock = _Clock()
    original_stages = dict(stages_mod.STAGES)
    for name in ("frontend", "passes"):  # the compile pipeline's stages, by name
        stages_mod.STAGES[name] = clock.wrap(name, original_stages[name])
    saved = (target_mod.optimize_module, target_mod.llvm.TargetMachine.emit_object)
    lowering = (
        codegen_mod.Lowering.lower_kernel,
        irtext_mod.module_text,
        target_mod.llvm.parse_assembly,
    )
    codegen_mod.Lowering.lower_kernel = clock.wrap("lowering", lowering[0])
    irtext_mod.module_text = clock.wrap("IR text", lowering[1])
    target_mod.llvm.parse_assembly = clock.wrap("llvm parse", lowering[2])
    target_mod.optimize_module = clock.wrap("llvm optimize", saved[0])
    target_mod.llvm.TargetMachine.emit_object = clock.wrap("llvm codegen", saved[1])
    what, compile_it, forget = _attention_compile(attention) if attention else _matmul_compile()
    try:
        if llvm_passes:
            target_mod.llvm.set_time_passes(True)
        t0, c0 = time.perf_counter(), time.thread_time()
        compile_it()
        cold, cold_cpu = time.perf_counter() - t0, time.thread_time() - c0
        report = target_mod.llvm.report_and_reset_timings() if llvm_passes else ""
        target_mod.llvm.set_time_passes(False)
        forget()  # as a new process: only the disk cache remains
        t0 = time.perf_counter()
        compile_it()
        disk = time.perf_counter() - t0
    finally:
        stages_mod.STAGES.update(original_stages)
        target_mod.optimize_module = saved[0]
        target_mod.llvm.TargetMachine.emit_object = saved[1]
        codegen_mod.Lowering.lower_kernel = lowering[0]
        irtext_mod.module_text = lowering[1]
        target_mod.llvm.parse_assembly = lowering[2]
    print(f"cold compile of {what}:")
    print(f"    total            {cold * 1e3:8.1f} ms wall {cold_cpu * 1e3:8.1f} ms CPU")
    for name, wall in clock.wall.items():
        print(f"    {name:16s} {wall * 1e3:8.1f} ms wall {clock.cpu[name] * 1e3:8.1f} ms CPU")
    print(f"load from the disk cache: {disk * 1e3:.2f} ms")
    if report:
        print(f"the {llvm_passes} slowest LLVM passes (user+system ms, LLVM's timers):")
        print("\n".join(_slowest_passes(report, llvm_passes)))


def _slowest_passes(report: str, n: int) -> list[str]:
    """The ``n`` passes of LLVM's pass timing report with the most user+system time, as
    ``ms name`` lines (the report itself is sorted by wall time, which load distorts)."""
    rows = []
    for line in report.splitlines():
        # "   0.0454 ( 23.7%)   0.0000 (  0.1%)   0.0454 ( 22.8%)   0.0875 ( 22.1%)  Name"
        parts = line.split("%)")
        if len(parts) < 4 or "Total" in line:
            continue
        rows.append((float(parts[2].split("(")[0]), parts[-1].strip()))
    rows.sort(reverse=True)
    return [f"    {seconds * 1e3:8.1f} ms  {name}" for seconds, name in rows[:n]]


def warm_launch(rounds: int) -> None:
    """Warm-launch latencies, interleaved with the anchors (see the module docstring)."""
    x = np.ones(4, np.float32)
    out = np.full_like(x, np.nan)
    kernel = kernels.add4
    os.environ["TRITIUM_LAUNCH_GUARDS"] = "0"
    generic = triton.jit(kernel.fn)
    generic._launcher()  # the knob is read when the launcher is made
    del os.environ["TRITIUM_LAUNCH_GUARDS"]
    launch = kernel[(1,)]
    launch_generic = generic[(1,)]
    launch(x, x, out, 4, BLOCK=16)
    launch_generic(x, x, out, 4, BLOCK=16)
    assert out.tolist() == [2.0] * 4
    compiled = kernel.warmup(x, x, out, 4, BLOCK=16, grid=(1,))
    raw_args = [x.ctypes.data, x.ctypes.data, out.ctypes.data, 4]
    impls: dict[str, Callable[[], Any]] = {
        "launch = kernel[(1,)]; launch(...)": lambda: launch(x, x, out, 4, BLOCK=16),
        "kernel[(1,)](...)": lambda: kernel[(1,)](x, x, out, 4, BLOCK=16),
        "generic path (guards off)": lambda: launch_generic(x, x, out, 4, BLOCK=16),
        "raw launch(grid, addresses)": lambda: compiled.launch((1, 1, 1), raw_args),
        "numpy.add(out=)": lambda: np.add(x, x, out=out),
    }
    try:
        import torch

        tx, to = torch.from_numpy(x), torch.from_numpy(out)
        launch(tx, tx, to, 4, BLOCK=16)  # the generic path makes the tensors' guard
        impls["launch(...) with torch tensors"] = lambda: launch(tx, tx, to, 4, BLOCK=16)
        impls["torch.add(out=)"] = lambda: torch.add(tx, tx, out=to)
    except ImportError:
        pass
    loop: dict[str, list[float]] = {name: [] for name in impls}
    bench: dict[str, list[float]] = {name: [] for name in impls}
    cpu: dict[str, list[float]] = {name: [] for name in impls}
    n = 20000
    for _ in range(rounds):
        for name, fn in impls.items():
            loop[name].append(min(timeit.repeat(fn, number=n, repeat=3)) / n * 1e6)
            t = timeit.Timer(fn, timer=time.thread_time)
            cpu[name].append(min(t.repeat(number=n, repeat=3)) / n * 1e6)
            bench[name].append(1e3 * float(do_bench(fn, warmup=5, rep=40, return_mode="median")))
    print(f"warm launch, 4 arguments, 1 program (us, median of {rounds} interleaved rounds):")
    print(f"    {'':36s} {'loop wall':>10s} {'loop CPU':>10s} {'do_bench':>10s}")
    for name in impls:
        row = [statistics.median(v[name]) for v in (loop, cpu, bench)]
        print(f"    {name:36s} " + " ".join(f"{v:10.2f}" for v in row))

    a = np.zeros((64, 64), np.float16)
    c = np.empty_like(a)
    args = (a, a, c, 64, 64, 64, 64, 1, 64, 1, 64, 1)
    tuned = matmul.matmul_kernel[lambda meta: (1,)]
    tuned(*args, ACTIVATION="")  # tunes once
    reps = n // 10
    per = min(timeit.repeat(lambda: tuned(*args, ACTIVATION=""), number=reps, repeat=5)) / reps
    print(f"warm launch of the autotuned tutorial matmul (64^3, 12 arguments): {per * 1e6:.2f} us")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compile-only", action="store_true")
    parser.add_argument("--launch-only", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--llvm-passes", type=int, default=0, metavar="N")
    parser.add_argument("--attention", default="", metavar="DTYPE,MASK,MxN")
    opts = parser.parse_args()
    if not opts.launch_only:
        cold_compile(opts.llvm_passes, opts.attention)
    if not opts.compile_only:
        warm_launch(opts.rounds)
