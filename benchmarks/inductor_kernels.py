"""Where a ``torch.compile``'d graph spends its time, kernel by kernel: Inductor's C++ backend
against its Triton backend through tritium, one thread, thread CPU time.

    python benchmarks/inductor_kernels.py llama_block fp32 [--backends cpp,triton] [--reps 20]

The graph (one of ``bench_inductor.py``'s) is compiled with each backend; one call of the
compiled function records every fused kernel (``cpp_fused_*`` functions, ``triton_*``
kernels) and every ATen extern call (``extern_kernels.mm``, ``convolution``...) of its
generated wrapper, with its arguments; then each recorded call is replayed alone (``--reps``
calls, median of 5 rounds of thread CPU time), and the whole graph is timed the same way.
"rest" is the graph's time less the sum of its calls: the wrapper's Python, allocations,
launches, and cache effects between the calls. Thread CPU time at one thread is what
other processes on a shared machine inflate least; the kernels of the two backends are
replayed on their own recorded buffers, so a kernel that reads its own output (in-place
updates) sees other values on replays than in the graph.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ["TRITIUM_NUM_THREADS"] = "1"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Calls:
    """Records the calls made through the wrapper's globals while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.log: list[tuple[str, Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []

    def wrap(self, name: str, target: Any) -> Any:
        calls = self

        class Recorded:
            def __call__(self, *a: Any, **k: Any) -> Any:
                if calls.on:
                    calls.log.append((name, target, a, k))
                return target(*a, **k)

            def run(self, *a: Any, **k: Any) -> Any:
                if calls.on:
                    calls.log.append((name, target.run, a, k))
                return target.run(*a, **k)

            def __getattr__(self, attr: str) -> Any:
                return getattr(target, attr)

        return Recorded()

    def externs(self, module: Any) -> Any:
        calls = self

        class Externs:
            def __getattr__(self, attr: str) -> Any:
                return calls.wrap("extern." + attr, getattr(module, attr))

        return Externs()


def _cpu_ms(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], reps: int
) -> float:
    rounds = []
    for _ in range(5):
        c0 = time.thread_time()
        for _ in range(reps):
            fn(*args, **kwargs)
        rounds.append((time.thread_time() - c0) / reps * 1e3)
    return statistics.median(rounds)


def main() -> None:
    """Print, per backend, the graph's CPU time and each kernel's and extern call's."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("graph")
    ap.add_argument("dtype", choices=("fp32", "bf16"))
    ap.add_argument("--backends", default="cpp,triton")
    ap.add_argument("--reps", type=int, default=20)
    opts = ap.parse_args()

    from tritium.runtime.torch_integration import use_tritium_in_inductor

    use_tritium_in_inductor(cpu_backend="cpp")
    import bench_inductor
    import torch
    import torch._inductor.config as inductor_config
    from torch._inductor.codecache import PyCodeCache

    torch.set_num_threads(1)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[opts.dtype]
    torch.manual_seed(0)
    spec, args = bench_inductor._graphs()[opts.graph](dtype)
    if isinstance(spec, tuple):
        raise SystemExit("training graphs are not supported here")
    with torch.no_grad():
        for backend in opts.backends.split(","):
            torch._dynamo.reset()
            inductor_config.cpu_backend = backend
            first = len(PyCodeCache.modules)
            fn = torch.compile(spec)
            fn(*args)
            fn(*args)
            calls = _Calls()
            for module in PyCodeCache.modules[first:]:
                if not hasattr(module, "call"):
                    continue
                for name in list(vars(module)):
                    if name.startswith(("cpp_fused", "triton_")):
                        setattr(module, name, calls.wrap(name, getattr(module, name)))
                if hasattr(module, "extern_kernels"):
                    module.extern_kernels = calls.externs(module.extern_kernels)
            calls.on = True
            fn(*args)
            calls.on = False
            whole = _cpu_ms(fn, args, {}, opts.reps)
            per: dict[str, list[float]] = {}
            for name, target, a, k in calls.log:
                per.setdefault(name, []).append(_cpu_ms(target, a, k, opts.reps))
            print(f"== {opts.graph} {opts.dtype} {backend}: graph {whole:.3f} ms CPU, one thread")
            total = 0.0
            for name, times in sorted(per.items(), key=lambda kv: -sum(kv[1])):
                total += sum(times)
                print(f"  {sum(times):8.3f} ms  x{len(times)}  {name}")
            print(f"  {whole - total:8.3f} ms  rest (wrapper, allocations, launches)")


if __name__ == "__main__":
    main()
