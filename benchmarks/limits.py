"""The machine's own limits, measured in the benchmark's run: STREAM copy/add bandwidth and the
fp32 FMA peak, plus what the table's header states (CPU features, BLAS kernel, threads).

Both probes are independent of tritium's compiler, so that a tritium regression cannot move the
yardstick it is measured against:

* **STREAM** copy (``c = a``) and add (``c = a + b``) over fp32 arrays well beyond the last-level
  cache, split into one slice per thread, each slice a NumPy call in its own Python thread (NumPy
  releases the GIL in these loops). Bytes counted as STREAM does: read + written, no
  write-allocate traffic.
* **FMA peak**: a loop of independent ``llvm.fma`` chains on the widest fp32 vector the CPU has,
  built directly with llvmlite, called through ctypes (GIL released) from each thread at once;
  and the same for the dot-product instructions the bf16 and int8 matmuls run on
  (``vdpbf16ps``, ``vpdpbusd``) where the CPU has them: the rows' own peaks.
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
    "dot_available",
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


_loops: dict[str, tuple[Any, int]] = {}
_fma_keep: list[Any] = []  # the engines must outlive the function pointers

#: the dot-product instructions the bf16 and int8 rows are bound by (AVX-512): LLVM intrinsic,
#: accumulator lane type, operand type, operations per accumulator lane (products and adds)
_DOT_OPS = {
    "vdpbf16ps": ("llvm.x86.avx512bf16.dpbf16ps.512", "f32", "bf16", 4, "avx512_bf16"),
    "vpdpbusd": ("llvm.x86.avx512.vpdpbusd.512", "i32", "i32", 8, "avx512_vnni"),
}


def dot_available(op: str) -> bool:
    """Whether this CPU has ``op`` (a key of the dot-product probes)."""
    return _DOT_OPS[op][4] in cpu_flags()


def _bfloat() -> Any:
    """LLVM's ``bfloat`` (llvmlite.ir has none; only its name is needed here)."""
    import llvmlite.ir as ll

    class BFloat(ll.Type):  # type: ignore[misc]
        def _to_string(self) -> str:
            return "bfloat"

    return BFloat()


def _loop_kernel(op: str = "fma") -> tuple[Any, int]:
    """Build (once) ``float <op>_loop(i64 n)``: ``n`` iterations of :data:`_CHAINS`
    independent chains of ``op`` (``"fma"``: ``llvm.fma`` on the widest fp32 vector; or a
    dot-product instruction of :data:`_DOT_OPS` on 16 lanes), and return it with the
    operations one iteration of one chain does."""
    if op in _loops:
        return _loops[op]
    import llvmlite.binding as llvm
    import llvmlite.ir as ll

    flags = cpu_flags()
    lanes = 16 if (op != "fma" or "avx512f" in flags) else 8 if "avx2" in flags else 4
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    f32, i32, i64 = ll.FloatType(), ll.IntType(32), ll.IntType(64)
    mod = ll.Module(f"{op}_probe")
    fn = ll.Function(mod, ll.FunctionType(f32, [i64]), f"{op}_loop")
    entry, loop, done = (fn.append_basic_block(n) for n in ("entry", "loop", "done"))
    b = ll.IRBuilder(entry)
    if op == "fma":
        vec = ll.VectorType(f32, lanes)
        intrinsic = ll.Function(mod, ll.FunctionType(vec, [vec] * 3), f"llvm.fma.v{lanes}f32")
        operands = [ll.Constant(vec, [ll.Constant(f32, x)] * lanes) for x in (0.999999, 1e-7)]
        per_lane = 2
        start = [ll.Constant(vec, [ll.Constant(f32, 1.0 + k)] * lanes) for k in range(_CHAINS)]
    else:
        name, acc_ty, src_ty, per_lane, _ = _DOT_OPS[op]
        vec = ll.VectorType(f32 if acc_ty == "f32" else i32, lanes)
        words = ll.VectorType(i32, lanes)
        src = words if src_ty == "i32" else ll.VectorType(_bfloat(), 2 * lanes)
        intrinsic = ll.Function(mod, ll.FunctionType(vec, [vec, src, src]), name)
        # operands made from the argument, not constants, so that nothing folds them
        seed = b.trunc(fn.args[0], i32)
        splat = b.insert_element(ll.Constant(words, None), seed, ll.Constant(i32, 0))
        splat = b.shuffle_vector(splat, splat, ll.Constant(words, None))
        operands = [
            b.bitcast(b.or_(splat, ll.Constant(words, [ll.Constant(i32, k)] * lanes)), src)
            for k in (0x3F803F80, 0x3F813F81)
        ]
        start = [
            b.bitcast(b.add(splat, ll.Constant(words, [ll.Constant(i32, k)] * lanes)), vec)
            for k in range(_CHAINS)
        ]
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(i64)
    accs = [b.phi(vec) for _ in range(_CHAINS)]
    nxt = [b.call(intrinsic, [acc, *operands]) for acc in accs]
    i1 = b.add(i, ll.Constant(i64, 1))
    i.add_incoming(ll.Constant(i64, 0), entry)
    i.add_incoming(i1, loop)
    for acc, first, new in zip(accs, start, nxt):
        acc.add_incoming(first, entry)
        acc.add_incoming(new, loop)
    b.cbranch(b.icmp_signed("<", i1, fn.args[0]), loop, done)
    b.position_at_end(done)
    total = nxt[0]
    for v in nxt[1:]:
        total = b.fadd(total, v) if op != "vpdpbusd" else b.add(total, v)
    out = b.extract_element(total, ll.Constant(i32, 0))
    b.ret(out if op != "vpdpbusd" else b.sitofp(out, f32))

    target = llvm.Target.from_default_triple()
    tm = target.create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=2
    )
    parsed = llvm.parse_assembly(str(mod))
    engine = llvm.create_mcjit_compiler(parsed, tm)
    engine.finalize_object()
    _fma_keep.append(engine)
    loop_fn = ctypes.CFUNCTYPE(ctypes.c_float, ctypes.c_int64)(
        engine.get_function_address(f"{op}_loop")
    )
    _loops[op] = loop_fn, lanes * per_lane
    return _loops[op]


def fma_peak_gflops(threads: int, seconds: float = 0.05, repeats: int = 5) -> tuple[float, str]:
    """The measured fp32 FMA rate of ``threads`` threads (median of ``repeats``), and how."""
    fn, per_chain = _loop_kernel("fma")
    flops_per_iter = _CHAINS * per_chain
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
    how = f"{_CHAINS} chains of {per_chain // 2}-lane llvm.fma, {threads} thread(s)"
    return rates[len(rates) // 2], how


def fma_probe(
    threads: int, seconds: float = 0.02, op: str = "fma"
) -> tuple[Callable[[], None], float]:
    """A callable running the FMA loop (or the dot-product instruction ``op`` of
    :data:`_DOT_OPS`: ``vdpbf16ps``, ``vpdpbusd``) on ``threads`` threads for about
    ``seconds``, and the operations it does (so a benchmark can time it like any other
    implementation)."""
    fn, per_iter = _loop_kernel(op)
    t0 = time.perf_counter()
    fn(100_000)
    iters = int(seconds / max((time.perf_counter() - t0) / 100_000, 1e-10))
    flops = float(threads * iters * _CHAINS * per_iter)
    if threads == 1:
        return lambda: fn(iters), flops
    pool = ThreadPoolExecutor(max_workers=threads)
    _fma_keep.append(pool)

    def run() -> None:
        for f in [pool.submit(fn, iters) for _ in range(threads)]:
            f.result()

    return run, flops
