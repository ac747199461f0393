"""The machine's own limits, measured in the benchmark's run: STREAM copy/add bandwidth and the
fp32 FMA peak, plus what the table's header states (CPU features, BLAS kernel, threads).

Both probes are independent of tritium's compiler, so that a tritium regression cannot move the
yardstick it is measured against:

* **STREAM** copy (``c = a``) and add (``c = a + b``) over fp32 arrays well beyond the last-level
  cache, split into one slice per thread, each slice a NumPy call in its own Python thread (NumPy
  releases the GIL in these loops). Bytes counted as STREAM does: read + written, no
  write-allocate traffic.
* **FMA peak**: a loop of independent ``llvm.fma`` chains on the widest fp32 vector the CPU has,
  built directly with llvmlite, called through ctypes (GIL released) from each thread at once.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = [
    "cpu_flags",
    "cpu_model",
    "simd_summary",
    "blas_info",
    "Stream",
    "fma_peak_gflops",
    "fma_probe",
]

_CHAINS = 12  # independent FMA chains: covers 2 pipes x 4-5 cycles of latency, fits 16 ymm


def _cpuinfo(key: str) -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_flags() -> set[str]:
    """The kernel's CPU flags (``/proc/cpuinfo``)."""
    return set(_cpuinfo("flags").split() or _cpuinfo("Features").split())


def cpu_model() -> str:
    """The CPU's model name, or the architecture when the kernel does not say."""
    import platform

    return _cpuinfo("model name") or platform.machine()


def simd_summary() -> str:
    """The vector features that matter to the kernels here, in one short string."""
    flags = cpu_flags()
    names = ["avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_tile"]
    names += ["amx_bf16", "amx_int8", "asimd", "sve"]
    return " ".join(n for n in names if n in flags) or "none of avx2/avx512/amx/neon"


def blas_info() -> list[dict[str, Any]]:
    """NumPy's BLAS as threadpoolctl reports it (library, version, kernel, threads)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [
        {k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for p in threadpool_info()
        if p.get("user_api") == "blas"
    ]


class Stream:
    """STREAM copy and add over ``n`` fp32 elements per array, split over ``threads`` threads."""

    def __init__(self, n: int, max_threads: int) -> None:
        self.n = n
        self.a = np.full(n, 1.0, np.float32)
        self.b = np.full(n, 2.0, np.float32)
        self.c = np.zeros(n, np.float32)
        self._pool = ThreadPoolExecutor(max_workers=max(1, max_threads))

    def _split(
        self, threads: int, body: Callable[[slice], Any], n: int | None = None
    ) -> Callable[[], None]:
        n = self.n if n is None else n
        bounds = np.linspace(0, n, threads + 1).astype(np.int64) // 16 * 16
        bounds[-1] = n
        slices = [slice(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]
        if threads == 1:
            return lambda: body(slices[0])
        pool = self._pool

        def run() -> None:
            for f in [pool.submit(body, s) for s in slices]:
                f.result()

        return run

    def copy(self, threads: int) -> Callable[[], None]:
        """``c = a`` on ``threads`` threads: moves ``8 n`` bytes."""
        a, c = self.a, self.c
        return self._split(threads, lambda s: np.copyto(c[s], a[s]))

    def copy_fresh(self, threads: int, n: int) -> Callable[[], None]:
        """``c = a[:n]`` into a new array each call (``n`` at most the stream's length): moves
        ``8 n`` bytes into a fresh array, allocated as the tutorials' functions allocate their
        outputs but never from the cache of freed blocks (``host_cache.empty``'s
        ``cached=False``). The limit of a function that returns a new array of ``n`` fp32
        elements in fresh memory, which STREAM copy into one reused array is not: glibc maps a
        block of 32 MiB or more afresh on every call, and the OS maps and zeroes its pages at
        their first store (a smaller block comes back from the heap)."""
        from tritium.runtime import host_cache

        a = self.a[:n]

        def run() -> None:
            c = host_cache.empty(a.shape, a.dtype, cached=False)
            self._split(threads, lambda s: np.copyto(c[s], a[s]), n)()

        return run

    def add(self, threads: int) -> Callable[[], None]:
        """``c = a + b`` on ``threads`` threads: moves ``12 n`` bytes."""
        a, b, c = self.a, self.b, self.c
        return self._split(threads, lambda s: np.add(a[s], b[s], out=c[s]))

    def close(self) -> None:
        """Stop the worker threads."""
        self._pool.shutdown()


_fma_fn: Any = None
_fma_keep: list[Any] = []  # the engine must outlive the function pointer


def _fma_kernel() -> tuple[Any, int]:
    """Build (once) ``float fma_loop(i64 n)`` and return it with its vector width."""
    global _fma_fn
    import llvmlite.binding as llvm
    import llvmlite.ir as ll

    flags = cpu_flags()
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    if _fma_fn is not None:
        return _fma_fn, lanes
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    f32, i64 = ll.FloatType(), ll.IntType(64)
    vec = ll.VectorType(f32, lanes)
    mod = ll.Module("fma_probe")
    fn = ll.Function(mod, ll.FunctionType(f32, [i64]), "fma_loop")
    fma = ll.Function(mod, ll.FunctionType(vec, [vec, vec, vec]), f"llvm.fma.v{lanes}f32")
    entry, loop, done = (fn.append_basic_block(n) for n in ("entry", "loop", "done"))
    b = ll.IRBuilder(entry)
    mul = ll.Constant(vec, [ll.Constant(f32, 0.999999)] * lanes)
    add = ll.Constant(vec, [ll.Constant(f32, 1e-7)] * lanes)
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(i64)
    accs = [b.phi(vec) for _ in range(_CHAINS)]
    nxt = [b.call(fma, [acc, mul, add]) for acc in accs]
    i1 = b.add(i, ll.Constant(i64, 1))
    i.add_incoming(ll.Constant(i64, 0), entry)
    i.add_incoming(i1, loop)
    for k, (acc, new) in enumerate(zip(accs, nxt)):
        acc.add_incoming(ll.Constant(vec, [ll.Constant(f32, 1.0 + k)] * lanes), entry)
        acc.add_incoming(new, loop)
    b.cbranch(b.icmp_signed("<", i1, fn.args[0]), loop, done)
    b.position_at_end(done)
    total = nxt[0]
    for v in nxt[1:]:
        total = b.fadd(total, v)
    b.ret(b.extract_element(total, ll.Constant(ll.IntType(32), 0)))

    target = llvm.Target.from_default_triple()
    tm = target.create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=2
    )
    parsed = llvm.parse_assembly(str(mod))
    engine = llvm.create_mcjit_compiler(parsed, tm)
    engine.finalize_object()
    _fma_keep.append(engine)
    _fma_fn = ctypes.CFUNCTYPE(ctypes.c_float, ctypes.c_int64)(
        engine.get_function_address("fma_loop")
    )
    return _fma_fn, lanes


def fma_peak_gflops(threads: int, seconds: float = 0.05, repeats: int = 5) -> tuple[float, str]:
    """The measured fp32 FMA rate of ``threads`` threads (median of ``repeats``), and how."""
    fn, lanes = _fma_kernel()
    flops_per_iter = _CHAINS * lanes * 2
    t0 = time.perf_counter()
    fn(100_000)
    per_iter = max((time.perf_counter() - t0) / 100_000, 1e-10)
    iters = int(seconds / per_iter)
    rates = []
    for _ in range(repeats):
        workers = [threading.Thread(target=fn, args=(iters,)) for _ in range(threads)]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        rates.append(threads * iters * flops_per_iter / (time.perf_counter() - t0) / 1e9)
    rates.sort()
    how = f"{_CHAINS} chains of {lanes}-lane llvm.fma, {threads} thread(s)"
    return rates[len(rates) // 2], how


def fma_probe(threads: int, seconds: float = 0.02) -> tuple[Callable[[], None], float]:
    """A callable running the FMA loop on ``threads`` threads for about ``seconds``, and the
    flops it does (so a benchmark can time it like any other implementation)."""
    fn, lanes = _fma_kernel()
    t0 = time.perf_counter()
    fn(100_000)
    iters = int(seconds / max((time.perf_counter() - t0) / 100_000, 1e-10))
    flops = float(threads * iters * _CHAINS * lanes * 2)
    if threads == 1:
        return lambda: fn(iters), flops
    pool = ThreadPoolExecutor(max_workers=threads)
    _fma_keep.append(pool)

    def run() -> None:
        for f in [pool.submit(fn, iters) for _ in range(threads)]:
            f.result()

    return run, flops
