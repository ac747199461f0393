"""The grid launcher: a native entry point generated in LLVM IR, and its Python wrapper.

One ctypes call per launch enters
``<kernel>_launch(args, gx, gy, gz, nthreads, err_out, pool, stop)``, which passes its
arguments, the program function and the kernel's constants to ``tritium_grid_launch``
(:func:`grid_launch_ir`, one copy per process for all kernels). That starts
``nthreads - 1`` pthreads (or ``nthreads`` when the kernel's frames need more stack than the
caller is known to have: :mod:`.stack_room`) or borrows the pool's, and runs a worker on each:
workers take program ids in chunks from an atomic counter and call the program function for
each (a kernel whose programs keep packed panels for the next ones, ``dot_kloop``, gives each
worker a contiguous share of the ids instead: :func:`owned_shares`). ctypes releases the GIL for
the call.

``args`` points at one 8-byte slot per kernel parameter: pointers and integers as 64-bit
integers, floats as doubles. ``err_out`` (may be null) receives the error record
``{assert id, pid x, pid y, pid z}``; the return value is the assert id, 0 when all went well.
``stop`` points at a word the workers read between chunks of programs: set (by the SIGINT handler of
:mod:`.interrupt`), they stop, and the launch returns ``INTERRUPTED`` (Python raises
``KeyboardInterrupt``). Program counts are 64-bit throughout (a grid may have 2^62 programs).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tritium import knobs
from tritium.backends.cpu import interrupt, launch_trace, pycall, scratch, stack_room
from tritium.backends.cpu.hostinfo import LazyModule, source_digest
from tritium.backends.cpu.target import load_object
from tritium.backends.cpu.threadpool import POOL_STACK_BYTES, SPREAD, pool_address
from tritium.errors import SanitizerError
from tritium.threads import THREADS

if TYPE_CHECKING:  # a cached kernel loads without the code generator
    import llvmlite.ir as ll

    from tritium.backends.cpu import llvm_utils as lu
    from tritium.backends.cpu.codegen import Lowering
else:
    # only emitting a launcher needs llvmlite's IR classes: loading a cached kernel does not
    # import them (issue 13, first launch in a new process)
    ll = LazyModule("llvmlite.ir")
    lu = LazyModule("tritium.backends.cpu.llvm_utils")

__all__ = [
    "CPUKernel",
    "GRID_LAUNCH",
    "MAX_THREADS",
    "SCRATCH_SLOTS",
    "emit_launcher",
    "grid_launch_address",
    "grid_launch_ir",
    "owned_shares",
]

MAX_THREADS = 256
# Pointers each worker holds for the programs it runs (at most; ``cx.scratch_slots`` of them
# when the kernel uses any), null until code of the kernel puts a block there (dot_panels:
# packed tiles of ``b`` reused by the next programs); the thread keeps the blocks for its next
# launch (scratch.py).
SCRATCH_SLOTS = scratch.SLOTS
NO_THREADS = 0x7FFFFFFF  # error code: no thread with the kernel's stack could be started
INTERRUPTED = 0x7FFFFFFE  # error code: the stop word was set (Ctrl-C)
_MAX_CHUNK = 64  # programs per grab of the shared counter, between two reads of the stop word
# bigger frames run on the caller only when its stack has room for two (stack_room.py)
_CALLER_STACK_LIMIT = 64 * 1024
_PTHREAD_ATTR_BYTES = 64
#: the shared launcher (:func:`grid_launch_ir`)
GRID_LAUNCH = "tritium_grid_launch"
_FAST_AXIS_1, _BIG_STACK, _FLUSH, _FENCE, _HEAVY_FIRST = 1, 2, 4, 8, 16  # its flags
_SLOTS_SHIFT = 8  # the scratch slots the program uses, in the flags from this bit
_PERIOD_SHIFT = 16  # grid_order.residue_period, in the flags from this bit (0: none)
_OWNED = 32  # flag: each worker runs a share of its own first (owned_shares)
_SHARED = 64  # flag: the programs keep panels in launch-wide tables (scratch.SHARED_WORD)
_MAX_SHARES = 64  # more threads than this take chunks from the shared counter
_OWNED_SHARES = True  # for A/B timing in one process (benchmarks), not a user setting


# ctx = { args, gx, gy, gz, chunk, total, next, err[4], stop, bulk, next_tail, program, flags,
#         tail_step, shares (0: none), joined, share[_MAX_SHARES], tables }; a share is two
#         i64 words: its first program and (next to run from the front) | (end, exclusive) << 32;
#         tables: the launch-wide panel tables' descriptors (scratch.SHARED_WORD); a traced
#         launcher (launch_trace) adds the launch's number
def _ctx_type(traced: bool = False) -> ll.LiteralStructType:
    return ll.LiteralStructType(
        [lu.PTR, lu.I32, lu.I32, lu.I32, lu.I64, lu.I64, lu.I64, ll.ArrayType(lu.I32, 4), lu.PTR]
        + [lu.I64, lu.I64, lu.PTR, lu.I32, lu.I64, lu.I64, lu.I64]
        + [ll.ArrayType(ll.ArrayType(lu.I64, 2), _MAX_SHARES), scratch.tables_type()]
        + ([lu.I64] if traced else [])
    )


_SEQ_FIELD = 18  # the launch's number, in a traced launcher's ctx


def _field(b: ll.IRBuilder, ctx: ll.Value, i: int) -> ll.Value:
    ty = _ctx_type(i == _SEQ_FIELD)
    return b.gep(ctx, [ll.Constant(lu.I32, 0), ll.Constant(lu.I32, i)], source_etype=ty)


def _program_type() -> ll.FunctionType:
    """``program(args, x, y, z, gx, gy, gz, err, scratch)``: one program instance (codegen)."""
    i32 = lu.I32
    return ll.FunctionType(lu.VOID, [lu.PTR, i32, i32, i32, i32, i32, i32, lu.PTR, lu.PTR])


def _emit_worker(m: ll.Module, traced: bool) -> ll.Function:
    """``worker(ctx)``: take chunks of program ids until none is left, run each program."""
    fn = ll.Function(m, ll.FunctionType(lu.PTR, [lu.PTR]), name="tritium.worker")
    fn.linkage = "internal"
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    ctx = fn.args[0]
    trace = launch_trace.emit_thread_begin(b, m) if traced else None
    flags = b.load(_field(b, ctx, 12), typ=lu.I32)
    used = b.zext(b.lshr(flags, ll.Constant(lu.I32, _SLOTS_SHIFT)), lu.I64)
    taken = scratch.emit_take(b, m, used)  # the thread's kept blocks (scratch.py)
    area = b.load(taken.area, typ=lu.PTR)
    shares = b.load(_field(b, ctx, 14), typ=lu.I64)
    shared = b.and_(
        b.icmp_unsigned("!=", b.and_(flags, _i32(_SHARED)), _i32(0)),
        b.icmp_unsigned("!=", shares, _i64(0)),
    )
    with b.if_then(b.icmp_unsigned("!=", used, _i64(0))):  # the launch's tables, or none
        tables = b.select(shared, _field(b, ctx, 17), ll.Constant(lu.PTR, None))
        b.store(tables, scratch.shared_word(b, area))
    args = b.load(_field(b, ctx, 0), typ=lu.PTR)
    gx, gy, gz = (b.load(_field(b, ctx, i), typ=lu.I32) for i in (1, 2, 3))
    chunk = b.load(_field(b, ctx, 4), typ=lu.I64)
    stop = b.load(_field(b, ctx, 8), typ=lu.PTR)
    program = _Indirect(b.load(_field(b, ctx, 11), typ=lu.PTR), _program_type())
    total = b.load(_field(b, ctx, 5), typ=lu.I64)
    nxt = _field(b, ctx, 6)
    err = _field(b, ctx, 7)
    # owned shares (owned_shares): the worker's own share first, then the others' ends
    state = tuple(b.alloca(lu.I64, name=x) for x in ("mine", "victim", "tried"))
    with b.if_then(b.icmp_unsigned("!=", shares, _i64(0)), likely=False):
        mine = b.atomic_rmw("add", _field(b, ctx, 15), _i64(1), "monotonic")
        b.store(mine, state[0])
        b.store(b.select(b.icmp_unsigned("<", mine, shares), mine, _i64(0)), state[1])
        b.store(_i64(0), state[2])
    # p = first + n_first * (second + n_second * z): the fast axis first (see grid_order)
    fast_y = b.icmp_unsigned("!=", b.and_(flags, ll.Constant(lu.I32, _FAST_AXIS_1)), _i32(0))
    gx64, gy64 = b.zext(gx, lu.I64), b.zext(gy, lu.I64)
    n_first, n_second = b.select(fast_y, gy64, gx64), b.select(fast_y, gx64, gy64)
    head = fn.append_basic_block("grab")
    work = fn.append_basic_block("work")
    done = fn.append_basic_block("done")
    b.branch(head)
    b.position_at_end(head)
    # the stop word (Ctrl-C) is read between chunks, which are at most _MAX_CHUNK programs
    flag = b.load_atomic(stop, "monotonic", align=4, typ=lu.I32)
    stopped = fn.append_basic_block("stopped")
    go_on = fn.append_basic_block("go_on")
    b.cbranch(b.icmp_unsigned("!=", flag, _i32(0)), stopped, go_on)
    b.position_at_end(stopped)
    b.cmpxchg(err, _i32(0), _i32(INTERRUPTED), "monotonic", "monotonic")  # unless an assert
    b.branch(done)
    b.position_at_end(go_on)
    failed = b.icmp_unsigned("!=", b.load_atomic(err, "monotonic", align=4, typ=lu.I32), _i32(0))
    counted = fn.append_basic_block("counted")
    owned = fn.append_basic_block("owned")
    b.cbranch(b.icmp_unsigned("!=", shares, _i64(0)), owned, counted)
    b.position_at_end(counted)
    # programs [0, bulk) go in chunks; the last ones, [bulk, total), one at a time, so that
    # the threads finish together (see _emit_grid_launch)
    bulk = b.load(_field(b, ctx, 9), typ=lu.I64)
    start_b = b.atomic_rmw("add", nxt, chunk, "monotonic")
    from_bulk, from_tail = fn.append_basic_block("bulk"), fn.append_basic_block("tail")
    grabbed = fn.append_basic_block("grabbed")
    b.cbranch(b.icmp_signed("<", start_b, bulk), from_bulk, from_tail)
    b.position_at_end(from_bulk)
    end_b = b.add(start_b, chunk)
    end_b = b.select(b.icmp_signed("<", end_b, bulk), end_b, bulk)
    b.branch(grabbed)
    b.position_at_end(from_tail)
    step = b.load(_field(b, ctx, 13), typ=lu.I64)
    start_t = b.add(bulk, b.atomic_rmw("add", _field(b, ctx, 10), step, "monotonic"))
    end_t = b.add(start_t, step)
    end_t = b.select(b.icmp_signed("<", end_t, total), end_t, total)
    b.branch(grabbed)
    b.position_at_end(owned)
    start_o, end_o = _grab_owned(b, ctx, chunk, state, done, shared)
    from_owned = b.block
    b.branch(grabbed)
    b.position_at_end(grabbed)
    start, end = b.phi(lu.I64), b.phi(lu.I64)
    start.add_incoming(start_b, from_bulk)
    start.add_incoming(start_t, from_tail)
    start.add_incoming(start_o, from_owned)
    end.add_incoming(end_b, from_bulk)
    end.add_incoming(end_t, from_tail)
    end.add_incoming(end_o, from_owned)
    over = b.or_(failed, b.icmp_signed(">=", start, total))
    b.cbranch(over, done, work)
    b.position_at_end(work)
    if trace is not None:
        launch_trace.emit_thread_count(b, trace, start, end)
    heavy_first = b.icmp_unsigned("!=", b.and_(flags, _i32(_HEAVY_FIRST)), _i32(0))
    last = b.sub(total, ll.Constant(lu.I64, 1))
    period = _period(b, flags, fast_y)
    by_residue = b.icmp_unsigned("!=", period, ll.Constant(lu.I64, 0))
    with b.if_else(by_residue) as (then, otherwise):
        for permuted, branch in ((True, then), (False, otherwise)):
            with branch, lu.for_range(b, start, end, name="p") as p:
                p = b.select(heavy_first, b.sub(last, p), p)  # decreasing ids (heavy_first.py)
                first = b.urem(p, n_first)
                if permuted:
                    first = _residue_order(b, first, n_first, period)
                first = b.trunc(first, lu.I32)
                rest = b.udiv(p, n_first)
                second = b.trunc(b.urem(rest, n_second), lu.I32)
                z = b.trunc(b.udiv(rest, n_second), lu.I32)
                x, y = b.select(fast_y, second, first), b.select(fast_y, first, second)
                b.call(program, [args, x, y, z, gx, gy, gz, err, area])
    b.branch(head)
    b.position_at_end(done)
    if m.triple.startswith(("x86_64", "i686")):  # the programs' non-temporal stores
        fence = b.icmp_unsigned("!=", b.and_(flags, _i32(_FENCE)), _i32(0))
        with b.if_then(fence):  # see streaming.fence_at_worker_end
            b.call(lu.intrinsic(m, "llvm.x86.sse.sfence", ll.VoidType(), []), [])
    scratch.emit_keep(b, m, used, taken)  # kept for the thread's next launch
    if trace is not None:
        seq = b.load(_field(b, ctx, _SEQ_FIELD), typ=lu.I64)
        launch_trace.emit_thread_end(b, m, trace, seq)
    b.ret(ll.Constant(lu.PTR, None))
    return fn


def _grab_owned(
    b: ll.IRBuilder,
    ctx: ll.Value,
    chunk: ll.Value,
    state: tuple[ll.Value, ...],
    done: ll.Block,
    shared: ll.Value,
) -> tuple[ll.Value, ll.Value]:
    """Programs ``[start, end)`` for a worker of a launch in owned shares (:func:`owned_shares`),
    or a branch to ``done`` when every share is empty. The worker takes its own share
    (the order it joined in) from the front, ``chunk`` programs at a time while at least
    twice that many are left, then one at a time; then it takes the other shares' last
    programs one at a time, from their ends (their owners go on from the front).
    ``state``: i64 allocas, the worker's share, the share looked at and the shares found
    empty (which stay so).

    With ``shared`` (i1: the programs keep panels in launch-wide tables) the odd shares run
    the other way: their owners take chunks from the end, the others single programs from
    the front. Tutorial 03's shares walk the same column panels of ``b`` (or, one group at
    512^3, the same row panels of ``a``) in the same order at the same pace: both threads
    would want each panel at once, and one would wait for the other's packing or pack it
    too; run in opposite directions, they meet in the middle only."""
    fn = b.function
    mine_slot, victim, tried = state
    shares = b.load(_field(b, ctx, 14), typ=lu.I64)
    head, look = fn.append_basic_block("owned.head"), fn.append_basic_block("owned.look")
    empty, take = fn.append_basic_block("owned.empty"), fn.append_basic_block("owned.take")
    b.branch(head)
    b.position_at_end(head)
    b.cbranch(b.icmp_unsigned(">=", b.load(tried, typ=lu.I64), shares), done, look)
    b.position_at_end(look)
    v = b.load(victim, typ=lu.I64)
    first_at, word = _share(b, ctx, v)
    first = b.load(first_at, typ=lu.I64)
    w = b.load_atomic(word, "monotonic", align=8, typ=lu.I64)
    front, end = b.and_(w, _i64(0xFFFFFFFF)), b.lshr(w, _i64(32))
    b.cbranch(b.icmp_unsigned(">=", front, end), empty, take)
    b.position_at_end(empty)
    b.store(b.add(b.load(tried, typ=lu.I64), _i64(1)), tried)
    after = b.add(v, _i64(1))
    b.store(b.select(b.icmp_unsigned("<", after, shares), after, _i64(0)), victim)
    b.branch(head)
    b.position_at_end(take)
    own = b.icmp_unsigned("==", v, b.load(mine_slot, typ=lu.I64))
    many = b.icmp_unsigned(">=", b.sub(end, front), b.shl(chunk, _i64(1)))
    step = b.select(b.and_(own, many), chunk, _i64(1))
    odd = b.and_(shared, b.trunc(v, lu.I1))
    from_front = b.xor(own, odd)
    start = b.select(from_front, front, b.sub(end, step))
    stop = b.select(from_front, b.add(front, step), end)
    new = b.select(from_front, b.add(w, step), b.sub(w, b.shl(step, _i64(32))))
    swapped = b.extract_value(b.cmpxchg(word, w, new, "monotonic", "monotonic"), 1)
    got = fn.append_basic_block("owned.got")
    b.cbranch(swapped, got, look)  # another worker took programs of this share meanwhile
    b.position_at_end(got)
    return b.add(first, start), b.add(first, stop)


def _share(b: ll.IRBuilder, ctx: ll.Value, t: ll.Value) -> tuple[ll.Value, ll.Value]:
    """The addresses of share ``t``'s two words in ``ctx``: its first program, and (next to
    run from the front) | (end, exclusive) << 32."""
    share = b.gep(ctx, [_i32(0), _i32(16), t], source_etype=_ctx_type())
    words = ll.ArrayType(lu.I64, 2)
    first = b.gep(share, [_i32(0), _i32(0)], source_etype=words)
    return first, b.gep(share, [_i32(0), _i32(1)], source_etype=words)


def _i32(v: int) -> ll.Constant:
    return ll.Constant(lu.I32, v)


def _i64(v: int) -> ll.Constant:
    return ll.Constant(lu.I64, v)


def _period(b: ll.IRBuilder, flags: ll.Value, fast_y: ll.Value) -> ll.Value:
    """The i64 residue period of the flags (0: none; axis 0 must be the fast axis)."""
    period = b.zext(b.lshr(flags, _i32(_PERIOD_SHIFT)), lu.I64)
    return b.select(fast_y, _i64(0), period)


def _residue_order(b: ll.IRBuilder, i: ll.Value, n: ll.Value, k: ll.Value) -> ll.Value:
    """The ``i``-th of ``[0, n)`` in residue order: ``0, k, 2k, ..., 1, 1 + k, ...``.

    Residue ``r`` has ``q + 1`` members for ``r < n % k`` and ``q = n // k`` for the others;
    those of the ``n % k`` long residues come first, ``q + 1`` each. A bijection on ``[0, n)``
    for any ``k >= 1`` (with ``k > n`` it is the identity). All values are i64, ``i < n``."""
    q = b.udiv(n, k)
    long_ = b.add(q, _i64(1))
    head = b.mul(b.urem(n, k), long_)  # the members of the long residues
    short = b.select(b.icmp_unsigned("<", q, _i64(1)), _i64(1), q)  # never a division by 0
    in_head = b.icmp_unsigned("<", i, head)
    tail_i = b.sub(i, head)
    r = b.select(in_head, b.udiv(i, long_), b.add(b.urem(n, k), b.udiv(tail_i, short)))
    j = b.select(in_head, b.urem(i, long_), b.urem(tail_i, short))
    return b.add(r, b.mul(j, k))


def _emit_grid_launch(m: ll.Module, traced: bool) -> ll.Function:
    """The exported ``tritium_grid_launch`` (see :func:`grid_launch_ir`)."""
    worker = _emit_worker(m, traced)
    decl = lambda name, ret, args: lu.intrinsic(m, name, ret, args)  # noqa: E731
    p_create = decl("pthread_create", lu.I32, [lu.PTR, lu.PTR, lu.PTR, lu.PTR])
    p_join = decl("pthread_join", lu.I32, [lu.I64, lu.PTR])
    a_init = decl("pthread_attr_init", lu.I32, [lu.PTR])
    a_stack = decl("pthread_attr_setstacksize", lu.I32, [lu.PTR, lu.I64])
    a_destroy = decl("pthread_attr_destroy", lu.I32, [lu.PTR])
    fflush = decl("fflush", lu.I32, [lu.PTR])

    fn = ll.Function(m, _grid_launch_type(), name=GRID_LAUNCH)
    args, gx, gy, gz, nthreads, err_out, pool, stop, program, frame, flags = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    ctx = b.alloca(_ctx_type(traced), name="ctx")
    tids = b.alloca(ll.ArrayType(lu.I64, MAX_THREADS), name="tids")
    tids_type = tids.allocated_type
    attr = b.alloca(ll.ArrayType(lu.I8, _PTHREAD_ATTR_BYTES), name="attr")
    attr.align = 16
    created = b.alloca(lu.I64, name="created")
    ctx, tids, attr = lu.opaque(ctx), lu.opaque(tids), lu.opaque(attr)
    total = b.mul(b.mul(b.zext(gx, lu.I64), b.zext(gy, lu.I64)), b.zext(gz, lu.I64))
    n = b.sext(nthreads, lu.I64)
    n = b.select(b.icmp_signed("<", total, n), total, n)
    n = b.select(b.icmp_signed("<", n, ll.Constant(lu.I64, 1)), ll.Constant(lu.I64, 1), n)
    cap = ll.Constant(lu.I64, MAX_THREADS)
    n = b.select(b.icmp_signed(">", n, cap), cap, n)
    # about 8 chunks per thread balances uneven programs without contending on the counter
    chunk = b.udiv(total, b.mul(n, ll.Constant(lu.I64, 8)))
    chunk = b.select(
        b.icmp_unsigned("<", chunk, ll.Constant(lu.I64, 1)), ll.Constant(lu.I64, 1), chunk
    )
    cap = ll.Constant(lu.I64, _MAX_CHUNK)  # bounds how long a Ctrl-C waits
    chunk = b.select(b.icmp_unsigned(">", chunk, cap), cap, chunk)
    # residue order (grid_order.residue_period): chunks and the tail's grabs hold whole
    # residues where they can, so that two threads seldom share one residue's row and lock
    fast_y = b.icmp_unsigned("!=", b.and_(flags, _i32(_FAST_AXIS_1)), _i32(0))
    period = _period(b, flags, fast_y)
    k = b.select(b.icmp_unsigned("<", period, _i64(1)), _i64(1), period)
    members = b.udiv(b.add(b.zext(gx, lu.I64), b.sub(k, _i64(1))), k)  # of the longest
    members = b.select(b.icmp_unsigned(">", members, chunk), chunk, members)
    whole = b.mul(b.udiv(chunk, members), members)
    by_residue = b.icmp_unsigned("!=", period, _i64(0))
    chunk = b.select(by_residue, whole, chunk)
    b.store(b.select(by_residue, members, _i64(1)), _field(b, ctx, 13))
    for i, v in enumerate([args, gx, gy, gz, chunk, total, ll.Constant(lu.I64, 0)]):
        b.store(v, _field(b, ctx, i))
    # the last chunk per thread is handed out one program at a time: with 8 chunks per thread a
    # thread otherwise waits for another's last chunk, on average half a chunk (3% of the run,
    # much more when a program is long: tutorial 03 at 1024^3 has 256 programs in chunks of 16)
    tail = b.select(b.icmp_signed(">", n, ll.Constant(lu.I64, 1)), b.mul(n, chunk), n)
    tail = b.select(b.icmp_signed("<", tail, total), tail, total)
    b.store(b.sub(total, tail), _field(b, ctx, 9))
    b.store(ll.Constant(lu.I64, 0), _field(b, ctx, 10))
    # owned shares (owned_shares): n contiguous shares, the first total % n one longer; a
    # share's front and end are 32-bit halves of one word
    owned = b.and_(
        b.icmp_unsigned("!=", b.and_(flags, _i32(_OWNED)), _i32(0)),
        b.and_(b.icmp_signed(">", n, _i64(1)), b.icmp_signed("<=", n, _i64(_MAX_SHARES))),
    )
    owned = b.and_(owned, b.icmp_unsigned("<", total, _i64(1 << 31)))
    b.store(b.select(owned, n, _i64(0)), _field(b, ctx, 14))
    b.store(_i64(0), _field(b, ctx, 15))
    shared = b.and_(owned, b.icmp_unsigned("!=", b.and_(flags, _i32(_SHARED)), _i32(0)))
    with b.if_then(shared):
        scratch.emit_tables_take(b, m, _field(b, ctx, 17))
    with b.if_then(owned):
        q, r = b.udiv(total, n), b.urem(total, n)
        with lu.for_range(b, _i64(0), n, name="share") as t:
            longer = b.icmp_unsigned("<", t, r)
            first = b.add(b.mul(t, q), b.select(longer, t, r))
            size = b.add(q, b.zext(longer, lu.I64))
            first_at, word = _share(b, ctx, t)
            b.store(first, first_at)
            b.store(b.shl(size, _i64(32)), word)
    b.store(ll.Constant(ll.ArrayType(lu.I32, 4), None), _field(b, ctx, 7))
    b.store(stop, _field(b, ctx, 8))
    b.store(program, _field(b, ctx, 11))
    b.store(flags, _field(b, ctx, 12))
    if traced:
        seq, t0 = launch_trace.emit_launch_begin(b, m)
        b.store(seq, _field(b, ctx, _SEQ_FIELD))

    # the caller runs one worker itself, unless the kernel's frames are big and its stack is
    # not known to hold twice a frame (stack_room.py): then all programs go to threads made
    # with a known stack of 4 frames + 1 MiB (at least 8 MiB)
    big = b.icmp_unsigned("!=", b.and_(flags, _i32(_BIG_STACK)), _i32(0))
    handing = lu.opaque(b.alloca(lu.I1, name="hand_off"))
    b.store(big, handing)
    with b.if_then(big, likely=False):
        room = stack_room.emit_room(b, m, b.ptrtoint(ctx, lu.I64))
        b.store(b.icmp_unsigned("<", room, b.shl(frame, ll.Constant(lu.I64, 1))), handing)
    hand_off = b.load(handing, typ=lu.I1)
    stack = b.add(b.shl(frame, ll.Constant(lu.I64, 2)), ll.Constant(lu.I64, 1 << 20))
    low = b.icmp_unsigned("<", stack, ll.Constant(lu.I64, 8 << 20))
    stack = b.select(low, ll.Constant(lu.I64, 8 << 20), stack)
    # 2: the caller's share needs its stack checked, never an OpenMP runtime's (threadpool.py)
    caller_runs = b.select(hand_off, _i32(0), b.select(big, _i32(2), _i32(1)))
    # workers woken on the caller's CPU leave it for launches in owned shares (pool_affinity)
    caller_runs = b.or_(caller_runs, b.select(owned, _i32(SPREAD), _i32(0)))
    first = b.zext(b.not_(hand_off), lu.I64)
    finish = fn.append_basic_block("finish")
    spawn = fn.append_basic_block("spawn")
    single = fn.append_basic_block("single")
    # one thread: run the programs right here
    alone = b.and_(b.not_(hand_off), b.icmp_signed("==", n, ll.Constant(lu.I64, 1)))
    b.cbranch(alone, single, spawn)
    b.position_at_end(single)
    b.call(worker, [ctx])
    b.branch(finish)
    b.position_at_end(spawn)
    # the process-wide pool, unless it is busy with another launch or its stack is too small
    pooled = fn.append_basic_block("pooled")
    own = fn.append_basic_block("own_threads")
    has_pool = b.icmp_unsigned("!=", b.ptrtoint(pool, lu.I64), ll.Constant(lu.I64, 0))
    fits = b.icmp_unsigned("<=", stack, ll.Constant(lu.I64, POOL_STACK_BYTES))
    b.cbranch(b.and_(has_pool, fits), pooled, own)
    b.position_at_end(pooled)
    run = _Indirect(pool, ll.FunctionType(lu.I32, [lu.PTR, lu.PTR, lu.I32, lu.I32]))
    rc = b.call(run, [worker, ctx, b.trunc(n, lu.I32), caller_runs])
    b.cbranch(b.icmp_signed("==", rc, _i32(0)), finish, own)
    b.position_at_end(own)
    b.call(a_init, [attr])
    b.call(a_stack, [attr, stack])
    b.store(first, created)
    with lu.for_range(b, first, n, name="spawn") as i:
        slot = b.gep(tids, [ll.Constant(lu.I32, 0), i], source_etype=tids_type)
        rc = b.call(p_create, [slot, attr, worker, ctx])
        with b.if_then(b.icmp_signed("==", rc, _i32(0))):
            b.store(b.add(i, ll.Constant(lu.I64, 1)), created)
    with b.if_else(hand_off) as (then, otherwise):
        with then:
            # no thread with a big enough stack: report it (the caller's stack may be too small)
            none = b.icmp_signed("==", b.load(created, typ=lu.I64), ll.Constant(lu.I64, 0))
            with b.if_then(none):
                b.store(_i32(NO_THREADS), _field(b, ctx, 7))
        with otherwise:
            b.call(worker, [ctx])
    with lu.for_range(b, first, b.load(created, typ=lu.I64), name="join") as i:
        slot = b.gep(tids, [ll.Constant(lu.I32, 0), i], source_etype=tids_type)
        b.call(p_join, [b.load(slot, typ=lu.I64), ll.Constant(lu.PTR, None)])
    b.call(a_destroy, [attr])
    b.branch(finish)
    b.position_at_end(finish)
    with b.if_then(shared):
        scratch.emit_tables_keep(b, m, _field(b, ctx, 17))
    if traced:
        launch_trace.emit_launch_end(b, m, seq, t0, total, n)
    with b.if_then(b.icmp_unsigned("!=", b.and_(flags, _i32(_FLUSH)), _i32(0))):
        b.call(fflush, [ll.Constant(lu.PTR, None)])
    err = _field(b, ctx, 7)
    with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(err_out, lu.I64), ll.Constant(lu.I64, 0))):
        b.store(b.load(err, typ=ll.ArrayType(lu.I32, 4)), err_out)
    b.ret(b.load(err, typ=lu.I32))
    return fn


def _entry_type() -> ll.FunctionType:
    """``entry(args, gx, gy, gz, nthreads, err_out, pool, stop) -> i32``: the exported
    per-kernel launch function (the module docstring)."""
    i32 = lu.I32
    return ll.FunctionType(i32, [lu.PTR, i32, i32, i32, i32, lu.PTR, lu.PTR, lu.PTR])


def _grid_launch_type() -> ll.FunctionType:
    """The entry's parameters, then the program function, its frame's bytes and the flags."""
    return ll.FunctionType(lu.I32, [*_entry_type().args, lu.PTR, lu.I64, lu.I32])


def grid_launch_ir(triple: str, traced: bool | None = None) -> str:
    """The LLVM IR of ``tritium_grid_launch`` and its worker, for ``triple``.

    ``tritium_grid_launch(args, gx, gy, gz, nthreads, err_out, pool, stop, program, frame,
    flags)`` runs ``program`` (whose frames take ``frame`` bytes) over the grid: it starts
    ``nthreads - 1`` threads or borrows the pool's, and runs a worker on each and on the caller;
    with ``_BIG_STACK``, unless the caller's stack has room for two frames (:mod:`.stack_room`),
    ``nthreads`` threads with 4 frames + 1 MiB of stack (at least 8 MiB) and none on the caller.
    ``flags``: ``_FAST_AXIS_1`` (program ids walk axis 1 fastest), ``_BIG_STACK`` (frames over
    ``_CALLER_STACK_LIMIT``), ``_FLUSH`` (``fflush`` after the programs: the kernel prints),
    ``_FENCE`` (``sfence`` at the end of each worker: the programs' non-temporal stores),
    ``_HEAVY_FIRST`` (program ids in decreasing order: ``heavy_first``), the number of
    scratch slots the program uses, shifted by ``_SLOTS_SHIFT``, and the residue period shifted
    by ``_PERIOD_SHIFT`` (``grid_order.residue_period``: axis 0 runs as ``0, K, 2K, ..., 1,
    1 + K, ...``; the chunks and the last grabs hold whole residues), ``_OWNED`` (each worker
    runs a contiguous share of the program ids first: :func:`owned_shares`), ``_SHARED``
    (with ``_OWNED``: the programs keep panels in launch-wide tables, which the launch takes
    and gives back, ``scratch.SHARED_WORD``; the odd shares run from their ends).

    It is the same for every kernel, so it is built and optimized once (and cached on disk):
    before, each kernel had its own copy, which was about a fifth of LLVM's time in compiling
    a small kernel (issue 13). Each kernel's exported entry only adds its constants.
    """
    m = ll.Module(name="tritium_grid_launch")
    m.triple = triple
    fn = _emit_grid_launch(m, launch_trace.enabled(triple) if traced is None else traced)
    fn.attributes.add("nounwind")
    return str(m)


def grid_launch_address() -> int:
    """The address of ``tritium_grid_launch`` (built, or read from the disk cache, and loaded
    on first use), also given to the loader so that kernels' entries resolve it."""
    if not _grid_launch:
        from tritium.backends.cpu.target import add_symbol, cached_object, host_target

        triple = host_target().triple
        # every module whose code or constants go into the IR (POOL_STACK_BYTES: threadpool)
        traced = " traced" if launch_trace.enabled(triple) else ""
        key = f"grid launch{traced} {triple} " + source_digest(
            __name__,
            "tritium.backends.cpu.launch_trace",
            "tritium.backends.cpu.llvm_utils",
            "tritium.backends.cpu.scratch",
            "tritium.backends.cpu.stack_room",
            "tritium.backends.cpu.threadpool",
        )
        obj = cached_object(key, lambda: grid_launch_ir(triple))
        address = load_object(obj, GRID_LAUNCH)
        add_symbol(GRID_LAUNCH, address)
        _grid_launch.extend([address, load_object(obj, stack_room.ROOM_EXPORT), int(bool(traced))])
    return _grid_launch[0]


def launcher_traced() -> bool:
    """Whether the loaded launcher records launches (``launch_trace``: the knob as it was when
    the launcher was built; False before the first launch)."""
    return bool(_grid_launch) and bool(_grid_launch[2])


def caller_stack_room() -> int:
    """The bytes of the calling thread's stack that a launch from it may give the programs'
    frames (:mod:`.stack_room`; 0 when unknown): it runs them itself when they hold two."""
    grid_launch_address()
    return ctypes.CFUNCTYPE(ctypes.c_int64)(_grid_launch[1])()


_grid_launch: list[int] = []


def owned_shares(cx: Lowering) -> bool:
    """Whether the workers of a launch of ``cx``'s kernel each run a contiguous share of the
    program ids of their own (the i-th worker to start the i-th of ``nthreads`` shares), and
    only then the other shares' last programs, one at a time, instead of taking chunks from
    one counter in turn: when the programs keep packed tiles for the next ones
    (``dot_kloop``). Tutorial 03's grouped order packs each row panel of ``a`` once per group
    on the thread that runs the group's programs; in chunks of 16 (2 columns of 8 rows) both
    threads ran every group's rows, and a column panel of ``b`` kept by one thread was packed
    again by the other in the next group. Not with a residue period (its own chunking)."""
    return _OWNED_SHARES and bool(getattr(cx, "kloop_plans", None)) and not cx.grid_period


def emit_launcher(cx: Lowering, entry: str) -> None:
    """Add the exported ``entry`` to ``cx.module``: it calls ``tritium_grid_launch`` with the
    program function and the kernel's constants (stack size, grid order, scratch slots,
    whether it prints)."""
    m = cx.module
    fn = ll.Function(m, _entry_type(), name=entry)
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    launch = lu.intrinsic(m, GRID_LAUNCH, lu.I32, list(_grid_launch_type().args))
    flags = (
        (_FAST_AXIS_1 if cx.grid_fast_axis == 1 else 0)
        | (_BIG_STACK if cx.stack_bytes > _CALLER_STACK_LIMIT else 0)
        | (_FLUSH if cx.prints else 0)
        | (_FENCE if cx.fence_worker else 0)
        | (_HEAVY_FIRST if cx.grid_heavy_first else 0)
        | (_OWNED if cx.grid_owned else 0)
        | (_SHARED if cx.grid_owned and getattr(cx, "shared_tables", False) else 0)
        | getattr(cx, "scratch_slots", 0) << _SLOTS_SHIFT  # set by dot_panels
        | cx.grid_period << _PERIOD_SHIFT
    )
    consts = [cx.fn, ll.Constant(lu.I64, cx.stack_bytes), _i32(flags)]
    rc = b.call(launch, [*fn.args, *consts], tail=True)
    b.ret(rc)


class _Indirect:
    """A call through a function pointer (llvmlite's builder wants a callee with a type)."""

    def __init__(self, value: ll.Value, function_type: ll.FunctionType) -> None:
        self.value = value
        self.function_type = function_type
        self.type = lu.PTR

    def get_reference(self) -> str:
        return self.value.get_reference()


def _slot_ctype(type_str: str) -> Any:
    if type_str.startswith("!tt.ptr"):
        return ctypes.c_uint64
    if type_str.startswith(("f", "bf")) and not type_str.startswith("f8"):
        return ctypes.c_double  # the program rounds it to its type (codegen._unpack_arg)
    return ctypes.c_int64


class CPUKernel:
    """A loaded CPU kernel: ``launch(grid, args)`` runs it over the grid.

    ``num_threads`` (default ``TRITIUM_NUM_THREADS`` or the usable cores, read at load time)
    may be changed on the object; ``tritium.set_num_threads`` overrides it for all kernels.
    """

    def __init__(
        self, name: str, address: int, param_types: Sequence[str], asserts: Sequence[str]
    ) -> None:
        self.name = name
        self.param_types = list(param_types)
        self.asserts = list(asserts)
        proto = ctypes.CFUNCTYPE(
            ctypes.c_int32,
            ctypes.c_void_p,
            ctypes.c_int32,
            ctypes.c_int32,
            ctypes.c_int32,
            ctypes.c_int32,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
        )
        self._fn = proto(address)
        self._address = address
        interrupt.install()
        self._stop = interrupt.stop_address()
        fields = [(f"a{i}", _slot_ctype(t)) for i, t in enumerate(self.param_types)]
        fields.append(("_pad", ctypes.c_int64))  # never an empty struct
        self._args_type = type(f"{name}_args", (ctypes.Structure,), {"_fields_": fields})
        self._nparams = len(self.param_types)
        self._pool = pool_address()
        #: how each argument word is passed: pycall.INT (pointers, integers) or pycall.FLOAT
        self.slot_kinds = [
            pycall.FLOAT if _slot_ctype(t) is ctypes.c_double else pycall.INT
            for t in self.param_types
        ]
        # the native launch entry (pycall.py) where it can be used, else ctypes
        self._call = pycall.pycall()
        plain = self.guard_handle([(k, 0, 0) for k in self.slot_kinds], 0)
        self._plain, self._plain_address = (plain[1], plain[0]) if plain else (None, 0)
        # read once: the environment lookup would cost a microsecond per launch
        try:
            self.num_threads = knobs.num_threads()
        except ValueError:
            raise ValueError(
                "TRITIUM_NUM_THREADS must be a positive integer, got "
                f"{os.environ.get('TRITIUM_NUM_THREADS')!r}"
            ) from None

    def guard_handle(
        self, records: Sequence[tuple[int, int, int]], ndarray_type: int
    ) -> tuple[int, Any] | None:
        """(address, object) of a :class:`pycall.Handle` that launches this kernel with one
        ``(kind, flags, datum)`` record per value passed; None without the native entry."""
        if self._call is None or len(records) > pycall.MAX_SLOTS:
            return None
        h = pycall.Handle()
        h.entry, h.pool, h.stop = self._address, self._pool, self._stop
        h.nargs, h.ndarray_type = len(records), ndarray_type
        for rec, (kind, flags, datum) in zip(h.args, records):
            rec.kind, rec.flags, rec.data = kind, flags, datum
        return ctypes.addressof(h), h

    def launch(self, grid: Sequence[int], args: Sequence[int | float]) -> None:
        """Run the kernel on every program id of ``grid`` (1 to 3 integers)."""
        if self._plain_address and type(grid) is tuple:
            try:
                rc = self._call(self._plain_address, grid, THREADS[0] or self.num_threads, *args)
            except TypeError:
                rc = 1  # a value of the wrong type: the ctypes path below says which
            if not rc:
                return
            if rc != 1:
                self._raise(list(rc))
        if len(args) != self._nparams:
            raise TypeError(f"kernel {self.name} takes {self._nparams} arguments, got {len(args)}")
        gx, gy, gz = (tuple(grid) + (1, 1, 1))[:3]
        if min(gx, gy, gz) <= 0:
            if min(gx, gy, gz) < 0:
                raise ValueError(f"grid must not be negative, got {tuple(grid)}")
            return
        if max(gx, gy, gz) >= 1 << 31:  # program ids are int32 in the kernel
            raise ValueError(f"grid dimension too large: {tuple(grid)} (at most 2**31 - 1)")
        interrupt.STOP.value = 0
        try:
            packed = self._args_type(*args)
        except TypeError as e:
            raise TypeError(
                f"bad argument for kernel {self.name} with parameter types {self.param_types}: {e}"
            ) from None
        nthreads = THREADS[0] or self.num_threads  # tritium.set_num_threads wins, per launch
        if self.asserts:
            err = (ctypes.c_int32 * 4)()
            if self._fn(
                ctypes.addressof(packed),
                gx,
                gy,
                gz,
                nthreads,
                ctypes.addressof(err),
                self._pool,
                self._stop,
            ):
                self._raise(list(err))
        else:
            code = self._fn(
                ctypes.addressof(packed), gx, gy, gz, nthreads, None, self._pool, self._stop
            )
            if code:
                self._raise([code, 0, 0, 0])

    def _raise(self, err: list[int]) -> None:
        code, x, y, z = err
        if code == INTERRUPTED:
            raise KeyboardInterrupt(f"kernel {self.name} interrupted")
        if code == NO_THREADS:
            raise RuntimeError(
                f"could not start a thread with a stack big enough for kernel {self.name}"
            )
        msg = self.asserts[code - 1] if 0 < code <= len(self.asserts) else "assertion failed"
        _, oob, detail = msg.partition(": out-of-bounds: ")
        if oob:  # a bounds check added by sanitize=True (tritium/passes/bounds_check.py)
            raise SanitizerError(
                "out-of-bounds",
                f"{detail} in program ({x}, {y}, {z}) of {self.name} (compiled check; "
                "TRITIUM_INTERPRET=1 names the lane and offset)",
            )
        raise AssertionError(
            f"device-side assertion failed in program ({x}, {y}, {z}) of {self.name}: {msg}"
        )
