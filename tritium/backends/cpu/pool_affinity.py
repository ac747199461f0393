"""A pool worker woken on its caller's CPU moves off it for the job (Linux, the futex pool).

The OS wakes a sleeping worker on the CPU it last ran on, or on the waker's, when the other
CPUs are busy. Woken on the caller's CPU it preempted the caller and ran the job alone, while
the other CPU ran a thread that was only waiting: NumPy's OpenBLAS workers spin on
``sched_yield`` for ~0.1 s after each BLAS call (measured: 50-100 ms of CPU in the 200 ms after
one). Issue 13's W8A8 int8 row times NumPy's BLAS between tritium and torch: on this 2-core VM,
the int8 kernel run right after a BLAS call took one thread's time (the caller's share started
1.5 ms late, after the worker had run all 64 programs: 359 vs 748 GOP/s after a 150 ms pause,
paired over 10 rounds), while torch's OpenMP team thread, asleep on the other CPU, woke there
beside the yielding thread and kept torch's rate (0.97).

So a worker woken for a job on the CPU its caller published moves, before it joins the job,
to the CPUs its mask allows but that one (``sched_setaffinity``; the yielding or other thread
there gives it a share), and gets its mask back after the job. Moved first, a worker that then
waits for the busy CPU misses the job (the caller closes it when its own share is done) instead
of holding up the launch: joined first, at load 3.6, it once kept the caller waiting 92 ms.
A mask it cannot read, or that holds no other CPU (a thread pinned by the user), leaves it
where it is. Cost when not on the caller's CPU: one ``sched_getcpu`` each side (glibc reads it
from rseq).

The launcher asks for it (``threadpool.SPREAD``) for launches in owned shares only (kernels
whose programs keep packed panels: compute-bound, a second thread doubles their rate). For a
memory-bound kernel a second CPU adds little here, and moving the worker beside another
process made tutorial 01's vector add at 2 threads slower under load (2^24 fp32, alternating
processes at load ~3.7, 8 pairs: 14.4-39.2 GB/s, median 25.9, without the move; 18.0-29.5,
median 23.8, with it, where one thread alone streams 40).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tritium.backends.cpu.hostinfo import LazyModule

if TYPE_CHECKING:
    import llvmlite.ir as ll

    from tritium.backends.cpu import llvm_utils as lu
else:
    ll = LazyModule("llvmlite.ir")
    lu = LazyModule("tritium.backends.cpu.llvm_utils")

__all__ = ["getcpu", "leave_callers_cpu", "restore_cpus"]

_MASK_WORDS = 16  # a mask of 1024 CPUs, glibc's cpu_set_t


def _i32(v: int) -> ll.Constant:
    return ll.Constant(lu.I32, v)


def _i64(v: int) -> ll.Constant:
    return ll.Constant(lu.I64, v)


def getcpu(m: ll.Module) -> ll.Function:
    """``int sched_getcpu(void)``: the CPU the calling thread runs on (-1: unknown)."""
    return lu.intrinsic(m, "sched_getcpu", lu.I32, [])


def _setaffinity(m: ll.Module) -> ll.Function:
    return lu.intrinsic(m, "sched_setaffinity", lu.I32, [lu.I32, lu.I64, lu.PTR])


_Load = Callable[["ll.Value"], "ll.Value"]  # a mask's word, for _or_words


def _or_words(b: ll.IRBuilder, word: Callable[[_Load], ll.Value]) -> ll.Value:
    """The ``or`` over a mask's words of ``word(w)``, where ``w(mask)`` loads the word of
    ``mask`` in turn (``w(mask)``: any CPU set; ``w(a) ^ w(b)``: the masks differ)."""
    out = _i64(0)
    for i in range(_MASK_WORDS):
        load = lambda mask, i=i: b.load(b.gep(mask, [_i64(i)], source_etype=lu.I64), typ=lu.I64)  # noqa: E731
        out = b.or_(out, word(load))
    return out


def _getaffinity(m: ll.Module) -> ll.Function:
    return lu.intrinsic(m, "sched_getaffinity", lu.I32, [lu.I32, lu.I64, lu.PTR])


def leave_callers_cpu(
    b: ll.IRBuilder, g: dict[str, ll.Value]
) -> tuple[ll.Value, ll.Value, ll.Value]:
    """In a worker woken for a job: when it runs on ``g["caller_cpu"]``, narrow its CPU mask to
    the others; returns (an i1 alloca: it did, the saved mask, the narrowed mask) for
    :func:`restore_cpus`."""
    m = b.module
    entry = b.function.entry_basic_block
    words = ll.ArrayType(lu.I64, _MASK_WORDS)
    mask = lu.entry_alloca(b, entry, words, align=8)
    saved = lu.entry_alloca(b, entry, words, align=8)
    moved = lu.entry_alloca(b, entry, lu.I1, align=1)
    b.store(ll.Constant(lu.I1, 0), moved)
    cpu = b.call(getcpu(m), [])
    same = b.icmp_signed("==", cpu, b.load(g["caller_cpu"], typ=lu.I32))
    known = b.icmp_unsigned("<", cpu, _i32(_MASK_WORDS * 64))  # also not -1
    getaff = _getaffinity(m)
    size = _i64(_MASK_WORDS * 8)
    with b.if_then(b.and_(same, known), likely=False):
        with b.if_then(b.icmp_signed("==", b.call(getaff, [_i32(0), size, mask]), _i32(0))):
            b.store(b.load(mask, typ=words), saved)
            cpu64 = b.zext(cpu, lu.I64)
            at = b.gep(mask, [b.lshr(cpu64, _i64(6))], source_etype=lu.I64)
            bit = b.shl(_i64(1), b.and_(cpu64, _i64(63)))
            b.store(b.and_(b.load(at, typ=lu.I64), b.xor(bit, _i64(-1))), at)
            others = _or_words(b, lambda w: w(mask))
            with b.if_then(b.icmp_unsigned("!=", others, _i64(0))):
                rc = b.call(_setaffinity(m), [_i32(0), size, mask])
                b.store(b.icmp_signed("==", rc, _i32(0)), moved)
    return moved, saved, mask


def restore_cpus(b: ll.IRBuilder, moved: ll.Value, saved: ll.Value, narrowed: ll.Value) -> None:
    """Give a worker that :func:`leave_callers_cpu` narrowed its CPU mask back, unless its mask
    changed during the job (a user's ``sched_setaffinity``/``taskset`` of the worker: theirs
    stays; a pin to exactly the narrowed mask cannot be told from it and is undone)."""
    m = b.module
    size = _i64(_MASK_WORDS * 8)
    with b.if_then(b.load(moved, typ=lu.I1)):
        now = lu.entry_alloca(b, b.function.entry_basic_block, ll.ArrayType(lu.I64, _MASK_WORDS))
        with b.if_then(b.icmp_signed("==", b.call(_getaffinity(m), [_i32(0), size, now]), _i32(0))):
            differ = _or_words(b, lambda w: b.xor(w(now), w(narrowed)))
            with b.if_then(b.icmp_unsigned("==", differ, _i64(0))):
                b.call(_setaffinity(m), [_i32(0), size, saved])
