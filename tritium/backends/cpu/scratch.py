"""Scratch blocks that each thread keeps across launches (issue 13: page faults).

The panel regions of ``tl.dot`` (:mod:`.dot_panels`, :mod:`.dot_apanels`, :mod:`.dot_kloop`) are
4-8 MiB per worker. Freed at the end of every launch, glibc sometimes gave them back to the
kernel (trimming its heap), and the next launch faulted every page in afresh (``clear_page_erms``
was 6-9 % of tutorial 03's samples at 2048^3, one thread, in one perf run). Now each thread
keeps its blocks for its next launch.

A worker's scratch *area* is ``3 * SLOTS + 1`` words: ``live[SLOTS]`` (the pointers the programs
of this launch use, null until their code takes a block: what codegen's ``scratch`` points at),
``blocks[SLOTS]`` (memory kept on this thread, one block per slot), ``sizes[SLOTS]`` (their
bytes) and the launch's *tables* (word :data:`SHARED_WORD`, or null; set by the worker). A
program's first use of a slot in a launch (:func:`emit_block`) takes the slot's kept block when
it fits (at least the bytes asked for, at most :data:`_SLACK` times them, so that memory goes
back when a launch needs much less) and otherwise frees it and allocates a new one; the
program then initializes it as before: nothing of an earlier launch's contents is read.

Blocks of 1 MiB and more (the dot panels: 4-24 MiB per thread at 2048^3) are 2 MiB-aligned
and, on Linux, asked to be backed by transparent huge pages (``madvise(MADV_HUGEPAGE)``: a
no-op where THP is off). Tutorial 03 at 2048^3 reads 20 MiB of panels per group of programs,
beyond what the L2 TLB maps with 4 KiB pages (2048 entries, 8 MiB on Zen 3), and a page walk
in a VM walks two page tables. Measured at one thread, 2048^3, in alternating processes at
load 3-6 (10 pairs; noisy): 64x64x32 blocks 0.80 -> 0.86 of OpenBLAS (means of the paired
ratios of the last 4 pairs; 3 of 4 faster), 32x64x64 unchanged (0.886 / 0.888).

The area of a thread lives in a pthread key (created on first use; its destructor frees the
blocks when the thread exits: pool workers, threads made for one launch, Python threads). A
worker *takes* the area out of the key for the launch and puts it back at its end, so a launch
nested on the same thread, or any other user, never sees blocks in use: it gets an empty area.
Blocks are never shared between threads (an area belongs to the thread that runs the worker),
and two concurrent launches run their workers on different threads (the pool runs one launch
at a time: another one started meanwhile runs on threads of its own, and a thread runs one
worker at a time). Blocks over
:data:`_KEEP_BYTES` per thread are freed at the worker's end, as before. After ``fork`` the
child's thread keeps its own area (a private copy); the areas of the parent's other threads are
unreachable in the child (copy-on-write pages it never touches), as is the rest of their memory.

Launch-wide tables (``dot_apanels``' shared panels): the launch context holds, per scratch
slot, a descriptor ``{state, block}`` (:func:`tables_type`): ``state`` 0 until a program sets
the table up (``helpers``: 1 while it does, 2 when ready, 3 when it could not), ``block`` a
64-byte-aligned block whose first word is its bytes, or null. The launch takes each slot's block
kept by the process (:func:`emit_tables_take`) and, after every worker has ended, gives it back
(:func:`emit_tables_keep`): a table lives as long as the launch, whichever threads ran it, and
its pages are mapped once per process, not per launch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tritium.backends.cpu.hostinfo import LazyModule

if TYPE_CHECKING:
    import llvmlite.ir as ll

    from tritium.backends.cpu import llvm_utils as lu
else:
    ll = LazyModule("llvmlite.ir")
    lu = LazyModule("tritium.backends.cpu.llvm_utils")

__all__ = [
    "SHARED_WORD",
    "SLOTS",
    "TABLES",
    "FRESH_COUNTER",
    "RELEASE",
    "emit_block",
    "emit_take",
    "emit_keep",
    "emit_tables_keep",
    "emit_tables_take",
    "fresh_blocks",
    "release_thread",
    "shared_word",
    "table_slots_used",
    "tables_type",
]

SLOTS = 8  # launcher.SCRATCH_SLOTS
SHARED_WORD = 3 * SLOTS  # the area's word that points at the launch's table descriptors
_WORDS = 3 * SLOTS + 1
_KEEP_BYTES = 64 << 20  # a thread keeps at most this many bytes of blocks between launches
# Blocks of at least _HUGE_MIN bytes are 2 MiB-aligned, rounded up to whole 2 MiB pages and
# given madvise(MADV_HUGEPAGE) on Linux (see the module docstring); False: 64-byte aligned
_HUGE_PAGES = True
HUGE_PAGE = 2 << 20
_HUGE_MIN = 1 << 20
_MADV_HUGEPAGE = 14  # Linux's value (asm-generic/mman-common.h)
_SLACK = 4  # a kept block more than this many times the bytes asked for is replaced
#: i64 global of the grid launch object: blocks a worker allocated (not taken from its thread)
FRESH_COUNTER = "tritium_scratch_fresh"
#: ``void tritium_scratch_release(void)``: frees the calling thread's kept blocks
RELEASE = "tritium_scratch_release"
_KEY, _STATE = "tritium.scratch.key", "tritium.scratch.state"
#: ``ptr[SLOTS]`` global of the grid launch object: the process's kept table blocks
TABLES = "tritium_scratch_tables"
_DESTROY = "tritium.scratch.destroy"


def _i64(v: int) -> ll.Constant:
    return ll.Constant(lu.I64, v)


def _word(b: ll.IRBuilder, area: ll.Value, i: ll.Value | int) -> ll.Value:
    return b.gep(area, [i if isinstance(i, ll.Value) else _i64(i)], source_etype=lu.PTR)


def emit_block(b: ll.IRBuilder, m: ll.Module, holder: ll.Value, size: ll.Value) -> ll.Value:
    """In a program: ``*holder`` (the slot's ``live`` word, null) set to a 64-byte-aligned block
    of at least ``size`` bytes, the thread's kept one when it fits; returns it (null when the
    allocation failed, which the caller checks)."""
    kept, have = _word(b, holder, SLOTS), _word(b, holder, 2 * SLOTS)
    block = b.load(kept, typ=lu.PTR)
    n = b.load(have, typ=lu.I64)
    fits = b.and_(
        b.icmp_unsigned("!=", b.ptrtoint(block, lu.I64), _i64(0)),
        b.and_(
            b.icmp_unsigned(">=", n, size),
            b.icmp_unsigned("<=", b.udiv(n, _i64(_SLACK)), size),
        ),
    )
    with b.if_then(b.not_(fits), likely=False):
        b.call(lu.intrinsic(m, "free", lu.VOID, [lu.PTR]), [block])
        alloc = lu.intrinsic(m, "aligned_alloc", lu.PTR, [lu.I64, lu.I64])
        if _HUGE_PAGES and _linux(m):
            # large blocks (the dot panels) 2 MiB-aligned, in whole huge pages, and asked to
            # be backed by them (see the module docstring); small ones as before
            big = b.icmp_unsigned(">=", size, _i64(_HUGE_MIN))
            align = b.select(big, _i64(HUGE_PAGE), _i64(64))
            whole = b.and_(b.add(size, b.sub(align, _i64(1))), b.sub(_i64(0), align))
            fresh = b.call(alloc, [align, whole])
            with b.if_then(b.and_(big, b.icmp_unsigned("!=", b.ptrtoint(fresh, lu.I64), _i64(0)))):
                advise_huge_pages(b, m, fresh, whole)
        else:
            fresh = b.call(alloc, [_i64(64), size])
        b.store(fresh, kept)
        got = b.icmp_unsigned("!=", b.ptrtoint(fresh, lu.I64), _i64(0))
        b.store(b.select(got, size, _i64(0)), have)
    block = b.load(kept, typ=lu.PTR)
    b.store(block, holder)
    return block


def advise_huge_pages(b: ll.IRBuilder, m: ll.Module, block: ll.Value, nbytes: ll.Value) -> None:
    """On Linux, ask for ``block``'s ``nbytes`` (whole 2 MiB pages from a 2 MiB boundary) to
    be backed by transparent huge pages (``madvise(MADV_HUGEPAGE)``); elsewhere nothing."""
    if _linux(m):
        madvise = lu.intrinsic(m, "madvise", lu.I32, [lu.PTR, lu.I64, lu.I32])
        b.call(madvise, [block, nbytes, ll.Constant(lu.I32, _MADV_HUGEPAGE)])


def tables_type() -> ll.ArrayType:
    """The launch context's table descriptors: ``{state, block}`` (i64, ptr) per slot."""
    return ll.ArrayType(ll.ArrayType(lu.I64, 2), SLOTS)


def shared_word(b: ll.IRBuilder, area: ll.Value) -> ll.Value:
    """The address of ``area``'s word that points at the launch's table descriptors."""
    return _word(b, area, SHARED_WORD)


def _kept_tables(m: ll.Module) -> ll.Value:
    g = m.globals.get(TABLES)
    if g is None:  # exported: table_slots_used reads it
        g = ll.GlobalVariable(m, ll.ArrayType(lu.PTR, SLOTS), name=TABLES)
        g.initializer = ll.Constant(ll.ArrayType(lu.PTR, SLOTS), None)
        g.align = 8
    return lu.opaque(g)


def emit_tables_take(b: ll.IRBuilder, m: ll.Module, tables: ll.Value) -> None:
    """At a launch's start: each slot's descriptor at ``tables`` not set up, with the block
    the process kept for the slot (taken: a concurrent launch gets none and allocates)."""
    kept = _kept_tables(m)
    for s in range(SLOTS):
        at = b.gep(tables, [_i64(2 * s)], source_etype=lu.I64)
        b.store(_i64(0), at)
        block = b.atomic_rmw("xchg", _word(b, kept, s), ll.Constant(lu.PTR, None), "acquire")
        b.store(block, b.gep(at, [_i64(1)], source_etype=lu.I64))


def emit_tables_keep(b: ll.IRBuilder, m: ll.Module, tables: ll.Value) -> None:
    """At a launch's end (every worker done): each slot's block kept for the next launch (one
    kept meanwhile by a concurrent launch freed)."""
    kept = _kept_tables(m)
    free = lu.intrinsic(m, "free", lu.VOID, [lu.PTR])
    for s in range(SLOTS):
        at = b.gep(tables, [_i64(2 * s + 1)], source_etype=lu.I64)
        block = b.load(at, typ=lu.PTR)
        with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(block, lu.I64), _i64(0))):
            old = b.atomic_rmw("xchg", _word(b, kept, s), block, "acq_rel")
            b.call(free, [old])


def _linux(m: ll.Module) -> bool:
    """Whether ``m`` is built for Linux (its triple, else the host's)."""
    triple = m.triple
    if not triple:
        from tritium.backends.cpu.target import host_target

        triple = host_target().triple
    return "linux" in triple


def _globals(m: ll.Module) -> tuple[ll.Value, ll.Value, ll.Value]:
    """(key, state, fresh counter) of the grid launch module, defined once."""
    out = []
    for name, ty, linkage in ((_KEY, lu.I64, "internal"), (_STATE, lu.I32, "internal")) + (
        (FRESH_COUNTER, lu.I64, ""),  # "": defined here, exported
    ):
        g = m.globals.get(name)
        if g is None:
            g = ll.GlobalVariable(m, ty, name=name)
            g.initializer = ll.Constant(ty, 0)
            g.linkage = linkage
            g.align = 8
        out.append(lu.opaque(g))
    return out[0], out[1], out[2]


def _emit_release(b: ll.IRBuilder, m: ll.Module, area: ll.Value) -> None:
    """Free the kept blocks of ``area`` and clear their words."""
    free = lu.intrinsic(m, "free", lu.VOID, [lu.PTR])
    with lu.for_range(b, _i64(0), _i64(SLOTS), name="release") as i:
        kept = _word(b, area, b.add(i, _i64(SLOTS)))
        b.call(free, [b.load(kept, typ=lu.PTR)])
        b.store(ll.Constant(lu.PTR, None), kept)
        b.store(_i64(0), _word(b, area, b.add(i, _i64(2 * SLOTS))))


def _destroy(m: ll.Module) -> ll.Function:
    """``destroy(area)``: the key's destructor (a thread exits), also for an area not kept."""
    fn = m.globals.get(_DESTROY)
    if fn is None:
        fn = ll.Function(m, ll.FunctionType(lu.VOID, [lu.PTR]), name=_DESTROY)
        fn.linkage = "internal"
        b = ll.IRBuilder(fn.append_basic_block("entry"))
        _emit_release(b, m, fn.args[0])
        b.call(lu.intrinsic(m, "free", lu.VOID, [lu.PTR]), [fn.args[0]])
        b.ret_void()
    return fn


def _emit_release_export(m: ll.Module) -> None:
    """The exported :data:`RELEASE`: the calling thread's area out of the key and freed."""
    if m.globals.get(RELEASE) is not None:
        return
    key, state, _ = _globals(m)
    fn = ll.Function(m, ll.FunctionType(lu.VOID, []), name=RELEASE)
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    st = b.load_atomic(state, "acquire", align=4, typ=lu.I32)
    with b.if_then(b.icmp_unsigned("==", st, ll.Constant(lu.I32, lu.KEY_READY))):
        k = b.load(key, typ=lu.I64)
        mine = b.call(lu.intrinsic(m, "pthread_getspecific", lu.PTR, [lu.I64]), [k])
        with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(mine, lu.I64), _i64(0))):
            put = lu.intrinsic(m, "pthread_setspecific", lu.I32, [lu.I64, lu.PTR])
            b.call(put, [k, ll.Constant(lu.PTR, None)])
            b.call(_destroy(m), [mine])
    b.ret_void()


class Taken:
    """The worker's area for this launch (see :func:`emit_take`)."""

    def __init__(self, b: ll.IRBuilder, local: ll.Value) -> None:
        self.local = local  # the worker's own area, on its stack
        self.area = lu.opaque(b.alloca(lu.PTR, name="scratch.area"))  # ``local`` or the thread's
        self.keyed = lu.opaque(b.alloca(lu.I1, name="scratch.keyed"))  # the key exists
        # the kept blocks at the start (counts the fresh ones)
        self.before = lu.opaque(b.alloca(ll.ArrayType(lu.PTR, SLOTS), name="scratch.before"))
        self.total = lu.opaque(b.alloca(lu.I64, name="scratch.total"))
        self.fresh = lu.opaque(b.alloca(lu.I64, name="scratch.fresh"))


def emit_take(b: ll.IRBuilder, m: ll.Module, used: ll.Value) -> Taken:
    """At the worker's start: the thread's area taken out of its key (an empty one on the
    worker's stack when the thread has none), its ``live`` words cleared; nothing when the
    kernel uses no slot (``used`` 0)."""
    key, state, _ = _globals(m)
    _emit_release_export(m)
    local = lu.opaque(b.alloca(ll.ArrayType(lu.PTR, _WORDS), name="scratch"))
    t = Taken(b, local)
    area, keyed, before = t.area, t.keyed, t.before
    b.store(local, area)
    b.store(ll.Constant(lu.I1, 0), keyed)
    with b.if_then(b.icmp_unsigned("!=", used, _i64(0))):
        b.store(ll.Constant(ll.ArrayType(lu.PTR, _WORDS), None), local)
        # threads racing the key's creation run this launch without it
        ready = lu.thread_key_ready(b, m, key, state, _destroy(m))
        b.store(ready, keyed)
        with b.if_then(ready):
            k = b.load(key, typ=lu.I64)
            get = lu.intrinsic(m, "pthread_getspecific", lu.PTR, [lu.I64])
            mine = b.call(get, [k])
            with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(mine, lu.I64), _i64(0))):
                put = lu.intrinsic(m, "pthread_setspecific", lu.I32, [lu.I64, lu.PTR])
                b.call(put, [k, ll.Constant(lu.PTR, None)])  # taken: a nested launch gets none
                b.store(mine, area)
        a = b.load(area, typ=lu.PTR)
        with lu.for_range(b, _i64(0), _i64(SLOTS), name="take") as i:
            b.store(b.load(_word(b, a, b.add(i, _i64(SLOTS))), typ=lu.PTR), _word(b, before, i))
            b.store(ll.Constant(lu.PTR, None), _word(b, a, i))
    return t


def emit_keep(b: ll.IRBuilder, m: ll.Module, used: ll.Value, t: Taken) -> None:
    """At the worker's end: blocks a program allocated outside its slot's kept one freed (a
    kernel built before blocks were kept), the area put back in the thread's key (its blocks
    freed when the key holds another's, or they exceed :data:`_KEEP_BYTES`)."""
    _, _, counter = _globals(m)
    free = lu.intrinsic(m, "free", lu.VOID, [lu.PTR])
    with b.if_then(b.icmp_unsigned("!=", used, _i64(0))):
        a = b.load(t.area, typ=lu.PTR)
        total, fresh = t.total, t.fresh
        b.store(_i64(0), total)
        b.store(_i64(0), fresh)
        with lu.for_range(b, _i64(0), _i64(SLOTS), name="keep") as i:
            live = b.load(_word(b, a, i), typ=lu.PTR)
            kept = b.load(_word(b, a, b.add(i, _i64(SLOTS))), typ=lu.PTR)
            with b.if_then(b.icmp_unsigned("!=", live, kept)):
                b.call(free, [live])  # free(NULL): no-op
            was = b.load(_word(b, t.before, i), typ=lu.PTR)
            new = b.and_(
                b.icmp_unsigned("!=", kept, was),
                b.icmp_unsigned("!=", b.ptrtoint(kept, lu.I64), _i64(0)),
            )
            b.store(b.add(b.load(fresh, typ=lu.I64), b.zext(new, lu.I64)), fresh)
            n = b.load(_word(b, a, b.add(i, _i64(2 * SLOTS))), typ=lu.I64)
            b.store(b.add(b.load(total, typ=lu.I64), n), total)
        b.atomic_rmw("add", counter, b.load(fresh, typ=lu.I64), "monotonic")
        nbytes = b.load(total, typ=lu.I64)
        too_big = b.icmp_unsigned(">", nbytes, _i64(_KEEP_BYTES))
        empty = b.icmp_unsigned("==", nbytes, _i64(0))
        keyed = b.load(t.keyed, typ=lu.I1)
        with b.if_then(b.or_(too_big, b.not_(keyed))):
            _emit_release(b, m, a)
        with b.if_then(b.and_(keyed, b.not_(b.or_(too_big, empty)))):
            own = b.icmp_unsigned("==", b.ptrtoint(a, lu.I64), b.ptrtoint(t.local, lu.I64))
            with b.if_then(own):  # the thread's first kept blocks: an area off the stack
                heap = b.call(lu.intrinsic(m, "malloc", lu.PTR, [lu.I64]), [_i64(8 * _WORDS)])
                with b.if_else(b.icmp_unsigned("==", b.ptrtoint(heap, lu.I64), _i64(0))) as (
                    none,
                    some,
                ):
                    with none:
                        _emit_release(b, m, a)
                    with some:
                        with lu.for_range(b, _i64(0), _i64(_WORDS), name="copy") as i:
                            b.store(b.load(_word(b, a, i), typ=lu.PTR), _word(b, heap, i))
                        b.store(heap, t.area)
        a = b.load(t.area, typ=lu.PTR)
        with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(a, lu.I64), b.ptrtoint(t.local, lu.I64))):
            key = _globals(m)[0]
            k = b.load(key, typ=lu.I64)
            get = lu.intrinsic(m, "pthread_getspecific", lu.PTR, [lu.I64])
            put = lu.intrinsic(m, "pthread_setspecific", lu.I32, [lu.I64, lu.PTR])
            held = b.call(get, [k])
            keep = b.icmp_unsigned("==", b.ptrtoint(held, lu.I64), _i64(0))
            with b.if_else(keep) as (then, otherwise):
                with then:
                    failed = b.icmp_unsigned("!=", b.call(put, [k, a]), ll.Constant(lu.I32, 0))
                    with b.if_then(failed):
                        b.call(_destroy(m), [a])
                with otherwise:  # a nested launch kept its own meanwhile
                    b.call(_destroy(m), [a])


def _address(symbol: str) -> int:
    from tritium.backends.cpu.launcher import GRID_LAUNCH, grid_launch_address
    from tritium.backends.cpu.target import load_object, loaded_objects

    grid_launch_address()
    return load_object(loaded_objects()[GRID_LAUNCH], symbol)


def release_thread() -> None:
    """Free the scratch blocks the calling thread keeps (the next launch on it allocates)."""
    import ctypes

    ctypes.CFUNCTYPE(None)(_address(RELEASE))()


def fresh_blocks() -> int:
    """Scratch blocks allocated by workers so far in this process (not taken from the thread's
    kept ones): a test's proof that a second launch reuses its thread's blocks."""
    import ctypes

    return ctypes.c_int64.from_address(_address(FRESH_COUNTER)).value


def table_slots_used(slot: int) -> int:
    """The slots filled in the launch-wide table kept for scratch slot ``slot`` by the last
    launch that set one up (0 when none is kept): a test's proof that workers shared one."""
    import ctypes

    from tritium.backends.cpu.helpers import TABLE_USED

    block = ctypes.c_void_p.from_address(_address(TABLES) + 8 * slot).value
    return 0 if not block else ctypes.c_int64.from_address(block + TABLE_USED).value
