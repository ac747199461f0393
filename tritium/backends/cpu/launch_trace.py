"""A record of how each launch's programs went over its threads (``TRITIUM_LAUNCH_TRACE=1``).

Issue 13: the packed matmul rows at 2 threads swung by up to 2x between runs with the same code.
To see why, the launcher can note, per launch, when it began and ended, and per thread that
ran a worker of it: when the worker began and ended, the programs it ran, the grabs it took
them in, its thread CPU time meanwhile (less than the wall time: the thread was descheduled),
its kernel thread id and the CPUs it began and ended on. The records go to a ring of
:data:`RING` in the launcher's object (the oldest are overwritten); :func:`records` reads them.

Off by default and free then: the knob is read when the process builds its launcher (the
first launch), it is part of that object's cache key, and without it the launcher's LLVM IR is
the same as before the trace existed. With it, a worker costs four clock reads, two
``getcpu`` and a ``gettid`` more (about 0.3 us), a launch two clock reads. Linux only (thread
ids); elsewhere the knob is ignored. The pool's own workers are then named ``tritium-pool``,
so that a record tells them from the caller and from an OpenMP runtime's threads
(:func:`thread_names`). :func:`records` asks the loaded launcher, not the knob, whether it
traces (the AOT libraries never do).

A record is eight i64 words: the launch's number (from 1), the thread id (0 for the launch's
own record), begin and end (CLOCK_MONOTONIC, ns), then for a thread the programs, its CPU ns,
its grabs and ``cpu_begin | cpu_end << 32``; for a launch the programs, the threads it asked
for, the caller's thread id and 0.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tritium.backends.cpu.hostinfo import LazyModule

if TYPE_CHECKING:
    import llvmlite.ir as ll

    from tritium.backends.cpu import llvm_utils as lu
else:
    ll = LazyModule("llvmlite.ir")
    lu = LazyModule("tritium.backends.cpu.llvm_utils")

__all__ = [
    "RING",
    "Launch",
    "Thread",
    "enabled",
    "records",
    "clear",
    "thread_names",
    "emit_launch_begin",
    "emit_launch_end",
    "emit_thread_begin",
    "emit_thread_count",
    "emit_thread_end",
]

RING = 1 << 16  # records kept (a power of two); 4 MiB of zeroed memory, untouched when off
_WORDS = 8
_RECORDS = "tritium_launch_trace"  # the ring; then the records written, the launches begun
_NEXT, _SEQ = "tritium_launch_trace_next", "tritium_launch_trace_seq"
_SYS_GETTID = {"x86_64": 186, "aarch64": 178}
_MONOTONIC, _THREAD_CPU = 1, 3  # Linux clock ids


def enabled(triple: str | None = None) -> bool:
    """Whether launches are traced: ``TRITIUM_LAUNCH_TRACE`` set and a Linux target."""
    from tritium import knobs

    if not knobs.launch_trace():
        return False
    if triple is None:
        return sys.platform.startswith("linux")
    return "linux" in triple and triple.split("-")[0] in _SYS_GETTID


def _i64(v: int) -> ll.Constant:
    return ll.Constant(lu.I64, v)


def _global(m: ll.Module, name: str, ty: ll.Type) -> ll.Value:
    g = m.globals.get(name)
    if g is None:
        g = ll.GlobalVariable(m, ty, name=name)
        g.initializer = ll.Constant(ty, None)
        g.align = 64
    return lu.opaque(g)


def _clock(b: ll.IRBuilder, m: ll.Module, clock: int) -> ll.Value:
    get = lu.intrinsic(m, "clock_gettime", lu.I32, [lu.I32, lu.PTR])
    ts = lu.entry_alloca(b, b.function.entry_basic_block, ll.ArrayType(lu.I64, 2), align=8)
    b.call(get, [ll.Constant(lu.I32, clock), ts])
    pair = b.load(ts, typ=ll.ArrayType(lu.I64, 2))
    sec, nsec = b.extract_value(pair, 0), b.extract_value(pair, 1)
    return b.add(b.mul(sec, _i64(1_000_000_000)), nsec)


def _tid(b: ll.IRBuilder, m: ll.Module) -> ll.Value:
    fn = m.globals.get("syscall")
    if fn is None:
        fn = ll.Function(m, ll.FunctionType(lu.I64, [lu.I64], var_arg=True), name="syscall")
    return b.call(fn, [_i64(_SYS_GETTID[m.triple.split("-")[0]])])


def _cpu(b: ll.IRBuilder, m: ll.Module) -> ll.Value:
    return b.zext(b.call(lu.intrinsic(m, "sched_getcpu", lu.I32, []), []), lu.I64)


def _write(b: ll.IRBuilder, m: ll.Module, words: list[ll.Value]) -> None:
    """Append one record to the ring."""
    row = ll.ArrayType(lu.I64, _WORDS)
    ring = _global(m, _RECORDS, ll.ArrayType(row, RING))
    at = b.atomic_rmw("add", _global(m, _NEXT, lu.I64), _i64(1), "monotonic")
    slot = b.and_(at, _i64(RING - 1))
    for i, w in enumerate(words):
        ptr = b.gep(ring, [_i64(0), slot, _i64(i)], source_etype=ll.ArrayType(row, RING))
        b.store(w, ptr)


def emit_launch_begin(b: ll.IRBuilder, m: ll.Module) -> tuple[ll.Value, ll.Value]:
    """The launch's number (also what its workers' records carry) and its begin time."""
    seq = b.add(b.atomic_rmw("add", _global(m, _SEQ, lu.I64), _i64(1), "monotonic"), _i64(1))
    return seq, _clock(b, m, _MONOTONIC)


def emit_launch_end(
    b: ll.IRBuilder, m: ll.Module, seq: ll.Value, t0: ll.Value, total: ll.Value, n: ll.Value
) -> None:
    """The launch's own record, once every worker is done."""
    t1 = _clock(b, m, _MONOTONIC)
    _write(b, m, [seq, _i64(0), t0, t1, total, n, _tid(b, m), _i64(0)])


@dataclass
class _ThreadState:
    t0: ll.Value
    c0: ll.Value
    cpu0: ll.Value
    programs: ll.Value  # i64 allocas
    grabs: ll.Value


def emit_thread_begin(b: ll.IRBuilder, m: ll.Module) -> _ThreadState:
    """At a worker's start: its clocks, its CPU and two zeroed counters."""
    entry = b.function.entry_basic_block
    programs = lu.entry_alloca(b, entry, lu.I64, align=8)
    grabs = lu.entry_alloca(b, entry, lu.I64, align=8)
    b.store(_i64(0), programs)
    b.store(_i64(0), grabs)
    t0, c0 = _clock(b, m, _MONOTONIC), _clock(b, m, _THREAD_CPU)
    return _ThreadState(t0, c0, _cpu(b, m), programs, grabs)


def emit_thread_count(b: ll.IRBuilder, state: _ThreadState, start: ll.Value, end: ll.Value) -> None:
    """A grab of programs ``[start, end)`` that the worker runs."""
    b.store(b.add(b.load(state.programs, typ=lu.I64), b.sub(end, start)), state.programs)
    b.store(b.add(b.load(state.grabs, typ=lu.I64), _i64(1)), state.grabs)


def emit_thread_end(b: ll.IRBuilder, m: ll.Module, state: _ThreadState, seq: ll.Value) -> None:
    """The worker's record, when it found no program left."""
    c1, t1 = _clock(b, m, _THREAD_CPU), _clock(b, m, _MONOTONIC)
    cpus = b.or_(state.cpu0, b.shl(_cpu(b, m), _i64(32)))
    programs, grabs = (b.load(v, typ=lu.I64) for v in (state.programs, state.grabs))
    _write(b, m, [seq, _tid(b, m), state.t0, t1, programs, b.sub(c1, state.c0), grabs, cpus])


@dataclass
class Thread:
    """One worker of a launch: times in ns (CLOCK_MONOTONIC)."""

    tid: int
    begin: int
    end: int
    programs: int
    cpu_ns: int
    grabs: int
    cpu_begin: int
    cpu_end: int


@dataclass
class Launch:
    """One traced launch and the workers that ran its programs."""

    seq: int
    begin: int
    end: int
    programs: int
    nthreads: int
    caller: int
    threads: list[Thread]

    @property
    def wall_ns(self) -> int:
        return self.end - self.begin


def _address(symbol: str) -> int:
    from tritium.backends.cpu.launcher import GRID_LAUNCH, grid_launch_address
    from tritium.backends.cpu.target import load_object, loaded_objects

    grid_launch_address()
    return load_object(loaded_objects()[GRID_LAUNCH], symbol)


def records() -> list[Launch]:
    """The launches in the ring whose own record was written (complete), oldest first; []
    when the loaded launcher does not trace (the knob was off when it was built, or nothing
    has launched yet)."""
    from tritium.backends.cpu.launcher import launcher_traced

    if not launcher_traced():
        return []
    count = ctypes.c_int64.from_address(_address(_NEXT)).value
    ring = (ctypes.c_int64 * (_WORDS * RING)).from_address(_address(_RECORDS))
    words = list(ring)
    rows = [
        words[(i % RING) * _WORDS : (i % RING + 1) * _WORDS]
        for i in range(max(0, count - RING), count)
    ]
    threads: dict[int, list[Thread]] = {}
    launches = []
    for seq, tid, t0, t1, a, c, d, cpus in rows:
        if tid:
            threads.setdefault(seq, []).append(
                Thread(tid, t0, t1, a, c, d, cpus & 0xFFFFFFFF, cpus >> 32)
            )
        else:
            launches.append(Launch(seq, t0, t1, a, c, d, []))
    for launch in launches:
        launch.threads = sorted(threads.get(launch.seq, []), key=lambda t: t.begin)
    return sorted(launches, key=lambda x: x.seq)


def clear() -> None:
    """Forget the records so far (the next :func:`records` lists later launches only)."""
    from tritium.backends.cpu.launcher import launcher_traced

    if launcher_traced():
        ctypes.c_int64.from_address(_address(_NEXT)).value = 0


def thread_names() -> dict[int, str]:
    """The process's thread ids and names (``tritium-pool``: the pool's workers)."""
    names = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm", encoding="utf-8") as f:
                names[int(tid)] = f.read().strip()
        except OSError:  # the thread exited meanwhile
            continue
    return names
