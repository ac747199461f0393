"""Shared run-time helper functions that kernels call instead of carrying inlined copies.

Code that is the same in every kernel that uses it, runs rarely (once per program, not per
element) and is large in IR belongs here: each kernel declares the helper
(:func:`declare`) and calls it, and the helpers' one module is built and optimized once per
target, kept in the disk cache and loaded when a kernel's object first asks for one of its
names (``target.helper_address``, called by the loader's symbol lookup, without importing this
module or LLVM when the object is in the disk cache). An inlined copy costs LLVM's
optimizer and code generator time in every compile (issue 13: the ``a`` panels' slot lookup
was about a sixth of the tutorial matmul's cold compile).

The helpers:

``tritium_helper_apanel_region(holder, cap, numel, tile_bytes, slots, table) -> region``
    ``dot_apanels``' per-thread region of ``slots`` slots: ``*holder`` if set, else a fresh
    one (its header and every slot made empty) stored there; null when the allocation fails.
    ``table``: the descriptor of the launch-wide table of the site (``scratch``), or null.
``tritium_helper_apanel_find(region, lead, step) -> slot``
    With a launch-wide table: its slot of that key (the table set up by the first program
    that asks, its slots taken in turn under a lock and never given another key during the
    launch), unless it is full. Else the region's slot whose key (``lead``, ``step`` and the
    pointer tile) equals the one staged in the region, else one given that key and emptied:
    an empty slot, else the least recently used one, unless the key was let go not long ago
    (the programs cycle through more keys than there are slots): then the slot taken last, so
    that the others keep theirs.

``tritium_helper_panel_region(holder, cap, numel, tile_bytes) -> region``
    ``dot_panels``' per-thread block for one site, as ``apanel_region``.
``tritium_helper_panel_match(region, step, numel) -> i1``
    Whether the block's entries are this program's: its key (``step`` and the pointer tile
    staged in the block) is the block's, or the block was made this key's (unless the
    programs before this one missed too: one in 16 tries again).

``tritium_helper_panel_entry(at, i, lead, cap, first_off, tile_bytes, whole) -> i64``
    Step ``i``'s entry of the panel at ``at`` (``valid`` at offset 0, the entries' leads at
    ``first_off``, then the entries): its address plus 1 when it holds this step's tile
    (``lead``: the address of its element [0, 0]), its address when it is the next one to
    fill (then counted as filled), 0 when neither (``i`` past ``cap``, or not ``whole``: a
    mask not all set). In a launch-wide table's slot (several threads): its address plus 1
    when the entry is published (its lead stored, with release, after its packing), plus 2
    when this caller claimed it (it packs, then publishes), 0 when another thread packs it
    and has not published it after a short wait (the caller packs its own copy).

``tritium_helper_npanel_find(region, step, numel, entry, width, first, count) -> i64``
    ``dot_npanels``' lookup: the panel whose key equals the one staged in the region, if
    the last leader keyed it; else this program leads: the ``count`` panels made empty and
    keyed as its own key with each address ``j * width`` bytes further (words from
    ``first`` on), the first one's address returned plus 1, plus 2 when the others are to
    be packed too (unless the last leaders' were never found: one in 8 tries again).

``tritium_helper_copy_lanes(dst, src, bits, size)``
    For each set bit ``i`` of ``bits``, lane ``i`` (``size`` bytes: 1 or 2) of ``src`` to the
    same lane of ``dst`` (one ``memcpy`` when the set bits are one run, as a tail's are):
    ``narrow_masked``'s 8/16-bit masked loads and stores of chunks not wholly enabled.

The regions' layouts are ``dot_apanels``' and ``dot_panels``' docstrings'.
"""

from __future__ import annotations

from collections.abc import Callable

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu import scratch
from tritium.backends.cpu.target import HELPER_PREFIX

__all__ = [
    "APANEL_FIND",
    "APANEL_REGION",
    "COPY_LANES",
    "NAMES",
    "NPANEL_FIND",
    "PANEL_ENTRY",
    "PANEL_MATCH",
    "PANEL_REGION",
    "TABLE_USED",
    "declare",
    "helpers_ir",
]

APANEL_REGION = HELPER_PREFIX + "apanel_region"
APANEL_FIND = HELPER_PREFIX + "apanel_find"
PANEL_REGION = HELPER_PREFIX + "panel_region"
PANEL_MATCH = HELPER_PREFIX + "panel_match"
PANEL_ENTRY = HELPER_PREFIX + "panel_entry"
COPY_LANES = HELPER_PREFIX + "copy_lanes"
NPANEL_FIND = HELPER_PREFIX + "npanel_find"
NAMES = (
    APANEL_REGION,
    APANEL_FIND,
    PANEL_REGION,
    PANEL_MATCH,
    PANEL_ENTRY,
    COPY_LANES,
    NPANEL_FIND,
)

_HEADER = 64  # dot_apanels' region header and slot header, bytes
# region header fields (i64): the entries per slot, the lookups so far, the key's elements,
# one packed tile's bytes (a multiple of 64), the slots, the slot filled last (its address),
# the keys let go so far
_CAP, _CLOCK, _NUMEL, _TILE, _SLOTS, _LAST, _GONE = 0, 8, 16, 24, 32, 40, 48
# slot header fields (i64): entries [0, valid) filled, the key's lead address, its step, the
# lookup that last found or took it (-1: empty)
_VALID, _LEAD, _STEP, _USED = 0, 8, 16, 24
_GHOSTS = 64  # the (lead, step) of the last keys let go, kept after the staged key
_TABLE = 56  # region header: the site's launch-wide table descriptor (null: none)
_SHARED_SLOT = 32  # slot header: 1 in a launch-wide table (dot_panels' block header: 0)
# a launch-wide table: its header (i64: its bytes, the lock, slots used, slots, cap, key
# words, tile bytes), then its slots as a region's; a descriptor: state (i64), block (ptr)
_T_BYTES, _T_LOCK, _T_USED, _T_SLOTS, _T_CAP, _T_NUMEL, _T_TILE = 0, 8, 16, 24, 32, 40, 48
TABLE_USED = _T_USED  # for scratch.table_slots_used
_UNSET, _SETTING, _READY, _FAILED = 0, 1, 2, 3
_CLAIMED = 1  # an entry's lead while its claimer packs it
_SPINS = 256  # waits for another thread's entry before packing a copy
# dot_panels' block header fields (i64): valid, step, cap, the programs in a row that missed
_P_VALID, _P_STEP, _P_CAP, _P_STREAK = 0, 8, 16, 24
# dot_npanels' block header fields (i64): step, cap, leaders since the next panels were last
# found, the panels the last leader keyed
_N_STEP, _N_CAP, _N_MISSES, _N_LIVE = 0, 8, 16, 24


def _types() -> dict[str, ll.FunctionType]:
    return {
        APANEL_REGION: ll.FunctionType(lu.PTR, [lu.PTR, lu.I64, lu.I64, lu.I64, lu.I64, lu.PTR]),
        APANEL_FIND: ll.FunctionType(lu.PTR, [lu.PTR, lu.I64, lu.I64]),
        PANEL_REGION: ll.FunctionType(lu.PTR, [lu.PTR, lu.I64, lu.I64, lu.I64]),
        PANEL_MATCH: ll.FunctionType(lu.I1, [lu.PTR, lu.I64, lu.I64]),
        PANEL_ENTRY: ll.FunctionType(lu.I64, [lu.PTR] + [lu.I64] * 5 + [lu.I1]),
        COPY_LANES: ll.FunctionType(lu.VOID, [lu.PTR, lu.PTR, lu.I64, lu.I64]),
        NPANEL_FIND: ll.FunctionType(lu.I64, [lu.PTR] + [lu.I64] * 6),
    }


def declare(module: ll.Module, name: str) -> ll.Function:
    """The declaration of helper ``name`` in a kernel's ``module`` (once)."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    return ll.Function(module, _types()[name], name=name)


def _round64(b: ll.IRBuilder, v: ll.Value) -> ll.Value:
    return b.and_(b.add(v, ll.Constant(lu.I64, 63)), ll.Constant(lu.I64, -64))


def byte_field(b: ll.IRBuilder, base: ll.Value, off: ll.Value | int) -> ll.Value:
    """The address ``off`` bytes into ``base`` (the regions' fields; the panel modules too)."""
    at = ll.Constant(lu.I64, off) if isinstance(off, int) else off
    return b.gep(base, [at], source_etype=lu.I8)


def _slot_layout(b: ll.IRBuilder, cap: ll.Value, numel: ll.Value, tile: ll.Value) -> ll.Value:
    """Bytes of one slot: its header, the key (``numel`` i64), the entries' leads (``cap``
    i64), each part rounded up to 64 bytes, then ``cap`` tiles."""
    i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
    key = _round64(b, b.mul(numel, i64(8)))
    firsts = _round64(b, b.mul(cap, i64(8)))
    return b.add(b.add(i64(_HEADER), b.add(key, firsts)), b.mul(cap, tile))


def _ghosts_offset(b: ll.IRBuilder, numel: ll.Value) -> ll.Value:
    """Where ``dot_apanels``' region keeps its ghosts: after the header and the staged key."""
    return b.add(ll.Constant(lu.I64, _HEADER), _round64(b, b.mul(numel, ll.Constant(lu.I64, 8))))


def _slots_offset(b: ll.IRBuilder, numel: ll.Value) -> ll.Value:
    """Where ``dot_apanels``' region's first slot starts: after its ghosts."""
    return b.add(_ghosts_offset(b, numel), ll.Constant(lu.I64, 16 * _GHOSTS))


def _emit_allocated_once(
    m: ll.Module,
    name: str,
    size: Callable[[ll.IRBuilder, list[ll.Argument]], ll.Value],
    init: Callable[[ll.IRBuilder, ll.Value, list[ll.Argument]], None],
) -> None:
    """The helper ``name(holder, *args)``: ``*holder``, first set, while it is null, to a
    64-byte-aligned block of ``size(args)`` bytes that ``init`` fills (still null if the
    allocation failed, which the caller checks)."""
    fn = ll.Function(m, _types()[name], name=name)
    holder, *args = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    zero = ll.Constant(lu.I64, 0)
    fresh_bb, init_bb, done_bb = (fn.append_basic_block(n) for n in ("fresh", "init", "done"))
    held = b.load(holder, typ=lu.PTR)
    b.cbranch(b.icmp_unsigned("==", b.ptrtoint(held, lu.I64), zero), fresh_bb, done_bb)
    b.position_at_end(fresh_bb)
    fresh = scratch.emit_block(b, m, holder, size(b, args))  # the thread's kept block if it fits
    b.cbranch(b.icmp_unsigned("!=", b.ptrtoint(fresh, lu.I64), zero), init_bb, done_bb)
    b.position_at_end(init_bb)
    init(b, fresh, args)
    b.branch(done_bb)
    b.position_at_end(done_bb)
    b.ret(b.load(holder, typ=lu.PTR))


def _emit_region(m: ll.Module) -> None:
    i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731

    def size(b: ll.IRBuilder, args: list[ll.Argument]) -> ll.Value:
        cap, numel, tile, count, _ = args
        per_slot = _slot_layout(b, cap, numel, tile)
        return b.add(_slots_offset(b, numel), b.mul(count, per_slot))

    def init(b: ll.IRBuilder, fresh: ll.Value, args: list[ll.Argument]) -> None:
        cap, numel, tile, count, table = args
        fields = ((_CAP, cap), (_CLOCK, i64(0)), (_NUMEL, numel), (_TILE, tile), (_SLOTS, count))
        for off, v in fields + ((_LAST, i64(0)), (_GONE, i64(0))):
            b.store(v, byte_field(b, fresh, off))
        b.store(table, byte_field(b, fresh, _TABLE))
        per_slot = _slot_layout(b, cap, numel, tile)
        slots = byte_field(b, fresh, _slots_offset(b, numel))
        with lu.for_range(b, i64(0), count, name="s") as s:
            at = byte_field(b, slots, b.mul(s, per_slot))
            b.store(i64(0), byte_field(b, at, _VALID))
            b.store(i64(0), byte_field(b, at, _SHARED_SLOT))
            b.store(i64(-1), byte_field(b, at, _STEP))  # no step: matches no program
            b.store(i64(-1), byte_field(b, at, _USED))  # empty: taken first

    _emit_allocated_once(m, APANEL_REGION, size, init)


def _emit_find(m: ll.Module) -> None:
    fn = ll.Function(m, _types()[APANEL_FIND], name=APANEL_FIND)
    region, lead, step = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
    table = b.load(byte_field(b, region, _TABLE), typ=lu.PTR)
    with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(table, lu.I64), i64(0)), likely=False):
        shared = b.call(_emit_table_find(m), [region, table, lead, step])
        with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(shared, lu.I64), i64(0))):
            b.ret(shared)
    cap = b.load(byte_field(b, region, _CAP), typ=lu.I64)
    numel = b.load(byte_field(b, region, _NUMEL), typ=lu.I64)
    tile = b.load(byte_field(b, region, _TILE), typ=lu.I64)
    count = b.load(byte_field(b, region, _SLOTS), typ=lu.I64)
    clock_at = byte_field(b, region, _CLOCK)
    clock = b.add(b.load(clock_at, typ=lu.I64), i64(1))
    b.store(clock, clock_at)
    staged = byte_field(b, region, _HEADER)
    ghosts = byte_field(b, region, _ghosts_offset(b, numel))
    slots = byte_field(b, region, _slots_offset(b, numel))
    per_slot = _slot_layout(b, cap, numel, tile)
    memcmp = lu.intrinsic(m, "memcmp", lu.I32, [lu.PTR, lu.PTR, lu.I64])
    slot_loop = fn.append_basic_block("slot")
    compare = fn.append_basic_block("compare")
    found = fn.append_basic_block("found")
    next_slot = fn.append_basic_block("slot.next")
    take = fn.append_basic_block("take")
    entry = b.block
    b.branch(slot_loop)
    # each slot: its lead and step, then (libc's vectorized memcmp) its whole key
    b.position_at_end(slot_loop)
    s = b.phi(lu.I64, name="s")
    s.add_incoming(i64(0), entry)
    at = byte_field(b, slots, b.mul(s, per_slot))
    cand = b.and_(
        b.icmp_signed("==", b.load(byte_field(b, at, _STEP), typ=lu.I64), step),
        b.icmp_unsigned("==", b.load(byte_field(b, at, _LEAD), typ=lu.I64), lead),
    )
    b.cbranch(cand, compare, next_slot)
    b.position_at_end(compare)
    differ = b.call(memcmp, [byte_field(b, at, _HEADER), staged, b.mul(numel, i64(8))])
    b.cbranch(b.icmp_signed("==", differ, ll.Constant(lu.I32, 0)), found, next_slot)
    b.position_at_end(found)
    b.store(clock, byte_field(b, at, _USED))
    b.ret(at)
    b.position_at_end(next_slot)
    s1 = b.add(s, i64(1))
    s.add_incoming(s1, next_slot)
    b.cbranch(b.icmp_unsigned("<", s1, count), slot_loop, take)
    b.position_at_end(take)
    gone_at = byte_field(b, region, _GONE)
    seen = b.load(gone_at, typ=lu.I64)
    seen = b.select(b.icmp_unsigned("<", seen, i64(_GHOSTS)), seen, i64(_GHOSTS))
    victim = _victim(
        b, (slots, per_slot, count), byte_field(b, region, _LAST), (ghosts, seen), lead, step
    )
    # the key let go becomes a ghost: found again soon, it shows the keys cycle
    with b.if_then(b.icmp_signed("!=", b.load(byte_field(b, victim, _STEP), typ=lu.I64), i64(-1))):
        gone = b.load(gone_at, typ=lu.I64)
        ghost = b.gep(ghosts, [b.mul(b.urem(gone, i64(_GHOSTS)), i64(2))], source_etype=lu.I64)
        b.store(b.load(byte_field(b, victim, _LEAD), typ=lu.I64), ghost)
        b.store(b.load(byte_field(b, victim, _STEP), typ=lu.I64), byte_field(b, ghost, 8))
        b.store(b.add(gone, i64(1)), gone_at)
    memcpy = lu.intrinsic(m, "llvm.memcpy.p0.p0.i64", lu.VOID, [lu.PTR, lu.PTR, lu.I64, lu.I1])
    b.call(memcpy, [byte_field(b, victim, _HEADER), staged, b.mul(numel, i64(8)), lu.I1(0)])
    b.store(i64(0), byte_field(b, victim, _VALID))
    b.store(lead, byte_field(b, victim, _LEAD))
    b.store(step, byte_field(b, victim, _STEP))
    b.store(clock, byte_field(b, victim, _USED))
    b.store(b.ptrtoint(victim, lu.I64), byte_field(b, region, _LAST))
    b.ret(victim)


def _emit_table_find(m: ll.Module) -> ll.Function:
    """``table_find(region, desc, lead, step) -> slot``: the launch-wide table's slot of the
    key staged in ``region`` (``desc``: the table's descriptor, ``scratch``), taken for it if
    the table has a free one, else null (full, or not set up: the caller keeps its own)."""
    fn = ll.Function(m, ll.FunctionType(lu.PTR, [lu.PTR] * 2 + [lu.I64] * 2), name="table_find")
    fn.linkage = "internal"
    region, desc, lead, step = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
    null = ll.Constant(lu.PTR, None)
    cap, numel, tile, count = (
        b.load(byte_field(b, region, off), typ=lu.I64) for off in (_CAP, _NUMEL, _TILE, _SLOTS)
    )
    state = b.load_atomic(desc, "acquire", 8, typ=lu.I64)
    with b.if_then(b.icmp_unsigned("==", state, i64(_UNSET)), likely=False):
        won = b.cmpxchg(desc, i64(_UNSET), i64(_SETTING), "acquire", "monotonic")
        with b.if_then(b.extract_value(won, 1)):
            ready = _set_up_table(b, m, byte_field(b, desc, 8), (cap, numel, tile, count))
            b.atomic_rmw("xchg", desc, ready, "release")
    state = b.load_atomic(desc, "acquire", 8, typ=lu.I64)
    with b.if_then(b.icmp_unsigned("!=", state, i64(_READY))):
        b.ret(null)
    table = b.load(byte_field(b, desc, 8), typ=lu.PTR)
    # a program whose region was sized by another trip count (its entries lie elsewhere)
    same = b.and_(
        b.icmp_unsigned("==", b.load(byte_field(b, table, _T_CAP), typ=lu.I64), cap),
        b.and_(
            b.icmp_unsigned("==", b.load(byte_field(b, table, _T_NUMEL), typ=lu.I64), numel),
            b.icmp_unsigned("==", b.load(byte_field(b, table, _T_TILE), typ=lu.I64), tile),
        ),
    )
    with b.if_then(b.not_(same)):
        b.ret(null)
    staged = byte_field(b, region, _HEADER)
    nbytes = b.mul(numel, i64(8))
    per_slot = _slot_layout(b, cap, numel, tile)
    slots = byte_field(b, table, _HEADER)
    used_at, lock = byte_field(b, table, _T_USED), byte_field(b, table, _T_LOCK)
    memcmp = lu.intrinsic(m, "memcmp", lu.I32, [lu.PTR, lu.PTR, lu.I64])

    def scan(count: ll.Value, locked: bool) -> None:
        """Return the first of ``count`` slots that holds the staged key, if one does."""
        with lu.for_range(b, i64(0), count, name="t") as t:
            at = byte_field(b, slots, b.mul(t, per_slot))
            cand = b.and_(
                b.icmp_signed("==", b.load(byte_field(b, at, _STEP), typ=lu.I64), step),
                b.icmp_unsigned("==", b.load(byte_field(b, at, _LEAD), typ=lu.I64), lead),
            )
            with b.if_then(cand):
                differ = b.call(memcmp, [byte_field(b, at, _HEADER), staged, nbytes])
                with b.if_then(b.icmp_signed("==", differ, ll.Constant(lu.I32, 0))):
                    if locked:
                        b.atomic_rmw("xchg", lock, i64(0), "release")
                    b.ret(at)

    # the slots published so far (released with the count), without the lock: a slot keeps
    # its key all launch (the lock's line went back and forth between the threads for each
    # program's lookup)
    scan(b.load_atomic(used_at, "acquire", 8, typ=lu.I64), False)
    spin, locked = fn.append_basic_block("lock"), fn.append_basic_block("locked")
    b.branch(spin)
    b.position_at_end(spin)
    held = b.atomic_rmw("xchg", lock, i64(1), "acquire")
    with b.if_then(b.icmp_unsigned("!=", held, i64(0))):
        _pause(b, m)
    b.cbranch(b.icmp_unsigned("==", held, i64(0)), locked, spin)
    b.position_at_end(locked)
    used = b.load(used_at, typ=lu.I64)
    scan(used, True)  # one another thread keyed meanwhile
    full = b.icmp_unsigned(">=", used, b.load(byte_field(b, table, _T_SLOTS), typ=lu.I64))
    with b.if_then(full):
        b.atomic_rmw("xchg", lock, i64(0), "release")
        b.ret(null)
    at = byte_field(b, slots, b.mul(used, per_slot))
    memcpy = lu.intrinsic(m, "llvm.memcpy.p0.p0.i64", lu.VOID, [lu.PTR, lu.PTR, lu.I64, lu.I1])
    memset = lu.intrinsic(m, "llvm.memset.p0.i64", lu.VOID, [lu.PTR, lu.I8, lu.I64, lu.I1])
    b.call(memcpy, [byte_field(b, at, _HEADER), staged, nbytes, lu.I1(0)])
    firsts = byte_field(b, at, b.add(i64(_HEADER), _round64(b, nbytes)))
    b.call(memset, [firsts, ll.Constant(lu.I8, 0), b.mul(cap, i64(8)), lu.I1(0)])  # none ready
    for off, v in ((_VALID, i64(0)), (_LEAD, lead), (_STEP, step), (_SHARED_SLOT, i64(1))):
        b.store(v, byte_field(b, at, off))
    b.atomic_rmw("xchg", used_at, b.add(used, i64(1)), "release")  # the slot published
    b.atomic_rmw("xchg", lock, i64(0), "release")
    b.ret(at)
    return fn


def _set_up_table(
    b: ll.IRBuilder, m: ll.Module, block_at: ll.Value, sizes: tuple[ll.Value, ...]
) -> ll.Value:
    """A launch-wide table of ``count`` slots (``sizes``: cap, numel, tile, count) in the block
    at ``block_at`` (the process's kept one, replaced when too small): its state, ready or
    failed (no memory)."""
    i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
    cap, numel, tile, count = sizes
    need = b.add(i64(_HEADER), b.mul(count, _slot_layout(b, cap, numel, tile)))
    block = b.load(block_at, typ=lu.PTR)
    some = b.icmp_unsigned("!=", b.ptrtoint(block, lu.I64), i64(0))
    with b.if_then(b.not_(some)):
        b.store(i64(0), block_at)  # "no block" reads as a block of 0 bytes below
    have_at = b.select(some, block, block_at)
    with b.if_then(b.icmp_unsigned("<", b.load(have_at, typ=lu.I64), need), likely=False):
        b.call(lu.intrinsic(m, "free", lu.VOID, [lu.PTR]), [block])
        page = scratch.HUGE_PAGE
        whole = b.and_(b.add(need, i64(page - 1)), i64(-page))
        alloc = lu.intrinsic(m, "aligned_alloc", lu.PTR, [lu.I64, lu.I64])
        fresh = b.call(alloc, [i64(page), whole])
        b.store(fresh, block_at)
        with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(fresh, lu.I64), i64(0))):
            b.store(whole, fresh)
            scratch.advise_huge_pages(b, m, fresh, whole)  # as the threads' panel blocks
    table = b.load(block_at, typ=lu.PTR)
    ok = b.icmp_unsigned("!=", b.ptrtoint(table, lu.I64), i64(0))
    with b.if_then(ok):
        fields = ((_T_LOCK, i64(0)), (_T_USED, i64(0)), (_T_SLOTS, count), (_T_CAP, cap))
        for off, v in fields + ((_T_NUMEL, numel), (_T_TILE, tile)):
            b.store(v, byte_field(b, table, off))
    return b.select(ok, i64(_READY), i64(_FAILED))


def _pause(b: ll.IRBuilder, m: ll.Module) -> None:
    """A spin-wait hint (x86's ``pause``; nothing elsewhere)."""
    if m.triple.startswith(("x86_64", "i686")):
        b.call(lu.intrinsic(m, "llvm.x86.sse2.pause", lu.VOID, []), [])


def _victim(
    b: ll.IRBuilder,
    slots: tuple[ll.Value, ll.Value, ll.Value],
    last_at: ll.Value,
    ghosts: tuple[ll.Value, ll.Value],
    lead: ll.Value,
    step: ll.Value,
) -> ll.Value:
    """The slot a key found in none takes: an empty one, else the least recently used one,
    unless the key is a ghost (let go not long ago: the programs cycle through more keys
    than there are slots, as tutorial 03's column panels at 2048^3); then the slot filled
    last, so that the other slots keep their keys for the next cycle rather than each key
    evicting the one the cycle needs next."""
    i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
    first, per_slot, count = slots
    top = b.block.parent.entry_basic_block
    best = lu.entry_alloca(b, top, lu.PTR, 1, align=8, name="lru")
    best_used = lu.entry_alloca(b, top, lu.I64, 1, align=8, name="lru.used")
    b.store(first, best)
    b.store(b.load(byte_field(b, first, _USED), typ=lu.I64), best_used)
    with lu.for_range(b, i64(1), count, name="lru") as s:
        at = byte_field(b, first, b.mul(s, per_slot))
        used = b.load(byte_field(b, at, _USED), typ=lu.I64)
        with b.if_then(b.icmp_signed("<", used, b.load(best_used, typ=lu.I64))):
            b.store(at, best)
            b.store(used, best_used)
    ring, known = ghosts
    seen = lu.entry_alloca(b, top, lu.I1, 1, align=1, name="ghost")
    b.store(ll.Constant(lu.I1, 0), seen)
    with lu.for_range(b, i64(0), known, name="ghost") as g:
        ghost = b.gep(ring, [b.mul(g, i64(2))], source_etype=lu.I64)
        same = b.and_(
            b.icmp_unsigned("==", b.load(ghost, typ=lu.I64), lead),
            b.icmp_signed("==", b.load(byte_field(b, ghost, 8), typ=lu.I64), step),
        )
        b.store(b.or_(b.load(seen, typ=lu.I1), same), seen)
    last = b.load(last_at, typ=lu.I64)
    cycling = b.and_(
        b.and_(b.load(seen, typ=lu.I1), b.icmp_unsigned("!=", last, i64(0))),
        b.icmp_signed("!=", b.load(best_used, typ=lu.I64), i64(-1)),
    )
    return b.select(cycling, b.inttoptr(last, lu.PTR), b.load(best, typ=lu.PTR))


def _emit_panel_region(m: ll.Module) -> None:
    i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731

    def size(b: ll.IRBuilder, args: list[ll.Argument]) -> ll.Value:
        cap, numel, tile = args
        # the header, the staged key and the key, the entries' leads, the entries
        key = _round64(b, b.mul(numel, i64(8)))
        firsts = _round64(b, b.mul(cap, i64(8)))
        return b.add(b.add(i64(_HEADER), b.add(b.add(key, key), firsts)), b.mul(cap, tile))

    def init(b: ll.IRBuilder, fresh: ll.Value, args: list[ll.Argument]) -> None:
        cap = args[0]
        for off, v in ((_P_VALID, i64(0)), (_P_STEP, i64(-1)), (_P_CAP, cap), (_P_STREAK, i64(0))):
            b.store(v, byte_field(b, fresh, off))
        b.store(i64(0), byte_field(b, fresh, _SHARED_SLOT))  # PANEL_ENTRY reads it

    _emit_allocated_once(m, PANEL_REGION, size, init)


def _emit_panel_match(m: ll.Module) -> None:
    fn = ll.Function(m, _types()[PANEL_MATCH], name=PANEL_MATCH)
    region, step, numel = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
    true, false = ll.Constant(lu.I1, 1), ll.Constant(lu.I1, 0)
    nbytes = b.mul(numel, i64(8))
    staged = byte_field(b, region, _HEADER)
    key = byte_field(b, staged, _round64(b, nbytes))
    step_at = byte_field(b, region, _P_STEP)
    streak_at = byte_field(b, region, _P_STREAK)
    compare = fn.append_basic_block("compare")
    same = fn.append_basic_block("same")
    other = fn.append_basic_block("other")
    own = fn.append_basic_block("own")
    leave = fn.append_basic_block("leave")
    same_step = b.icmp_signed("==", b.load(step_at, typ=lu.I64), step)
    b.cbranch(same_step, compare, other)
    b.position_at_end(compare)
    memcmp = lu.intrinsic(m, "memcmp", lu.I32, [lu.PTR, lu.PTR, lu.I64])
    differ = b.call(memcmp, [key, staged, nbytes])
    b.cbranch(b.icmp_signed("==", differ, ll.Constant(lu.I32, 0)), same, other)
    b.position_at_end(same)
    b.store(i64(0), streak_at)
    b.ret(true)
    # another key: keep this program's tiles unless the programs before it missed too (an
    # order where consecutive programs share no tiles, e.g. no grouping): those pack as
    # without reuse, and one in 16 tries again
    b.position_at_end(other)
    streak = b.add(b.load(streak_at, typ=lu.I64), i64(1))
    b.store(streak, streak_at)
    retry = b.icmp_unsigned("==", b.and_(streak, i64(15)), i64(0))
    b.cbranch(b.or_(b.icmp_signed("<", streak, i64(2)), retry), own, leave)
    b.position_at_end(own)
    memcpy = lu.intrinsic(m, "llvm.memcpy.p0.p0.i64", lu.VOID, [lu.PTR, lu.PTR, lu.I64, lu.I1])
    b.call(memcpy, [key, staged, nbytes, lu.I1(0)])
    b.store(step, step_at)
    b.store(i64(0), byte_field(b, region, _P_VALID))
    b.ret(true)
    b.position_at_end(leave)
    b.ret(false)


def _emit_panel_entry(m: ll.Module) -> None:
    fn = ll.Function(m, _types()[PANEL_ENTRY], name=PANEL_ENTRY)
    at, i, lead, cap, first_off, tile, whole = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
    kept = fn.append_basic_block("kept")
    check = fn.append_basic_block("check")
    append = fn.append_basic_block("append")
    hit = fn.append_basic_block("hit")
    none = fn.append_basic_block("none")
    b.cbranch(b.and_(whole, b.icmp_signed("<", i, cap)), kept, none)
    b.position_at_end(kept)
    valid = b.load(byte_field(b, at, 0), typ=lu.I64)
    first_at = b.gep(byte_field(b, at, first_off), [i], source_etype=lu.I64)
    entry = b.add(
        b.ptrtoint(at, lu.I64),
        b.add(b.add(first_off, _round64(b, b.mul(cap, i64(8)))), b.mul(i, tile)),
    )
    shared = b.load(byte_field(b, at, _SHARED_SLOT), typ=lu.I64)
    with b.if_then(b.icmp_unsigned("!=", shared, i64(0)), likely=False):
        _shared_entry(b, m, first_at, lead, entry)
    b.cbranch(b.icmp_signed("<", i, valid), check, append)
    b.position_at_end(check)  # filled: this step's tile if the lead agrees
    same = b.icmp_unsigned("==", b.load(first_at, typ=lu.I64), lead)
    b.cbranch(same, hit, none)
    b.position_at_end(hit)
    b.ret(b.or_(entry, i64(1)))
    b.position_at_end(append)  # the next one to fill, if no step was skipped
    nxt = fn.append_basic_block("next")
    b.cbranch(b.icmp_signed("==", i, valid), nxt, none)
    b.position_at_end(nxt)
    b.store(b.add(i, i64(1)), byte_field(b, at, 0))
    b.store(lead, first_at)
    b.ret(entry)
    b.position_at_end(none)
    b.ret(i64(0))


def _shared_entry(
    b: ll.IRBuilder, m: ll.Module, first_at: ll.Value, lead: ll.Value, entry: ll.Value
) -> None:
    """``PANEL_ENTRY``'s return in a launch-wide table's slot (the module docstring): the
    entry's lead is 0 until a thread claims it (``_CLAIMED``), then the lead, stored by the
    claimer with release once packed."""
    i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
    now = b.load_atomic(first_at, "acquire", 8, typ=lu.I64)
    with b.if_then(b.icmp_unsigned("==", now, lead)):
        b.ret(b.or_(entry, i64(1)))
    with b.if_then(b.icmp_unsigned("==", now, i64(0))):
        won = b.cmpxchg(first_at, i64(0), i64(_CLAIMED), "acquire", "monotonic")
        with b.if_then(b.extract_value(won, 1)):
            b.ret(b.or_(entry, i64(2)))
    # another thread packs it: wait a little (a tile's packing), then pack a copy
    with lu.for_range(b, i64(0), i64(_SPINS), name="wait"):
        _pause(b, m)
        now = b.load_atomic(first_at, "acquire", 8, typ=lu.I64)
        with b.if_then(b.icmp_unsigned("==", now, lead)):
            b.ret(b.or_(entry, i64(1)))
    b.ret(i64(0))


def _emit_copy_lanes(m: ll.Module) -> None:
    fn = ll.Function(m, _types()[COPY_LANES], name=COPY_LANES)
    dst, src, bits, size = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    run_bb, head, lane_bb, done = (
        fn.append_basic_block(n) for n in ("run", "head", "lane", "done")
    )
    half_bb, byte_bb, nxt = (fn.append_basic_block(n) for n in ("half", "byte", "next"))
    zero, one = ll.Constant(lu.I64, 0), ll.Constant(lu.I64, 1)
    cttz = lu.intrinsic(m, "llvm.cttz.i64", lu.I64, [lu.I64, lu.I1])
    memcpy = lu.intrinsic(m, "llvm.memcpy.p0.p0.i64", lu.VOID, [lu.PTR, lu.PTR, lu.I64, lu.I1])
    # one run of consecutive lanes (a tail's mask, the common case): one copy of its bytes
    first = b.call(cttz, [bits, ll.Constant(lu.I1, 0)])
    lanes = b.lshr(bits, first)
    one_run = b.and_(
        b.icmp_unsigned("!=", bits, zero),
        b.icmp_unsigned("==", b.and_(lanes, b.add(lanes, one)), zero),
    )
    b.cbranch(one_run, run_bb, head)
    b.position_at_end(run_bb)
    count = b.call(cttz, [b.xor(lanes, ll.Constant(lu.I64, -1)), ll.Constant(lu.I1, 0)])
    at = b.mul(first, size)
    to, frm = (b.gep(p, [at], source_etype=lu.I8) for p in (dst, src))
    n = b.mul(count, size)
    # up to 16 bytes (a 16-bit chunk of 8 lanes): two moves of the largest power of two that
    # fits, from the run's start and to its end (they may overlap); longer runs: memcpy
    long_bb, small_bb = fn.append_basic_block("long"), fn.append_basic_block("small")
    b.cbranch(b.icmp_unsigned(">", n, ll.Constant(lu.I64, 16)), long_bb, small_bb)
    b.position_at_end(small_bb)
    for width in (8, 4, 2):
        here, other = fn.append_basic_block(f"run{width}"), fn.append_basic_block(f"lt{width}")
        b.cbranch(b.icmp_unsigned(">=", n, ll.Constant(lu.I64, width)), here, other)
        b.position_at_end(here)
        ty = ll.IntType(8 * width)
        tail = b.sub(n, ll.Constant(lu.I64, width))
        head_v = b.load(frm, typ=ty, align=1)
        tail_v = b.load(b.gep(frm, [tail], source_etype=lu.I8), typ=ty, align=1)
        b.store(head_v, to, align=1)
        b.store(tail_v, b.gep(to, [tail], source_etype=lu.I8), align=1)
        b.ret_void()
        b.position_at_end(other)
    b.store(b.load(frm, typ=lu.I8), to)  # one byte
    b.ret_void()
    b.position_at_end(long_bb)
    b.call(memcpy, [to, frm, n, ll.Constant(lu.I1, 0)])
    b.ret_void()
    # any other mask: lane by lane, the lowest set bit first
    b.position_at_end(head)
    rest = b.phi(lu.I64)
    rest.add_incoming(bits, fn.blocks[0])
    b.cbranch(b.icmp_unsigned("!=", rest, zero), lane_bb, done)
    b.position_at_end(lane_bb)
    i = b.call(cttz, [rest, ll.Constant(lu.I1, 1)])
    b.cbranch(b.icmp_unsigned("==", size, ll.Constant(lu.I64, 2)), half_bb, byte_bb)
    for bb, ty in ((half_bb, lu.I16), (byte_bb, lu.I8)):  # one access per lane, never torn
        b.position_at_end(bb)
        value = b.load(b.gep(src, [i], source_etype=ty), typ=ty)
        b.store(value, b.gep(dst, [i], source_etype=ty))
        b.branch(nxt)
    b.position_at_end(nxt)
    rest.add_incoming(b.and_(rest, b.sub(rest, one)), nxt)  # the lowest set bit cleared
    b.branch(head)
    b.position_at_end(done)
    b.ret_void()


def helpers_ir(triple: str) -> str:
    """The LLVM IR of every helper, for ``triple``."""
    m = ll.Module(name="tritium_helpers")
    m.triple = triple
    _emit_region(m)
    _emit_find(m)
    _emit_panel_region(m)
    _emit_panel_match(m)
    _emit_panel_entry(m)
    _emit_copy_lanes(m)
    _emit_npanel_find(m)
    for name in NAMES:
        m.globals[name].attributes.add("nounwind")
    return str(m)


def _emit_npanel_find(m: ll.Module) -> None:
    fn = ll.Function(m, _types()[NPANEL_FIND], name=NPANEL_FIND)
    region, step, numel, entry, width, first, count = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
    top = b.block
    staged = byte_field(b, region, _HEADER)
    key_bytes = _round64(b, b.mul(numel, i64(8)))
    panels = byte_field(b, staged, key_bytes)
    cap = b.load(byte_field(b, region, _N_CAP), typ=lu.I64)
    size = b.add(b.add(i64(_HEADER), key_bytes), b.mul(cap, entry))
    misses_at = byte_field(b, region, _N_MISSES)
    live_at = byte_field(b, region, _N_LIVE)
    step_at = byte_field(b, region, _N_STEP)
    memcmp = lu.intrinsic(m, "memcmp", lu.I32, [lu.PTR, lu.PTR, lu.I64])
    found = lu.entry_alloca(b, top, lu.PTR, 1, align=8, name="found")
    b.store(ll.Constant(lu.PTR, None), found)
    same_step = b.icmp_signed("==", b.load(step_at, typ=lu.I64), step)
    live = b.select(same_step, b.load(live_at, typ=lu.I64), i64(0))
    with lu.for_range(b, i64(0), live, name="panel") as j:
        at = byte_field(b, panels, b.mul(j, size))
        free = b.icmp_unsigned("==", b.ptrtoint(b.load(found, typ=lu.PTR), lu.I64), i64(0))
        with b.if_then(free):
            differ = b.call(memcmp, [byte_field(b, at, _HEADER), staged, b.mul(numel, i64(8))])
            with b.if_then(b.icmp_signed("==", differ, ll.Constant(lu.I32, 0))):
                b.store(at, found)
                with b.if_then(b.icmp_signed("!=", j, i64(0))):
                    b.store(i64(0), misses_at)  # the next panels were found
    hit = b.load(found, typ=lu.PTR)
    with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(hit, lu.I64), i64(0))):
        b.ret(b.ptrtoint(hit, lu.I64))
    # a leader: every panel emptied and keyed as this program's and the next ones' would be
    misses = b.load(misses_at, typ=lu.I64)
    wide = b.icmp_unsigned("==", b.and_(misses, i64(7)), i64(0))
    b.store(b.add(misses, i64(1)), misses_at)
    b.store(b.select(wide, count, i64(1)), live_at)
    b.store(step, step_at)
    with lu.for_range(b, i64(0), count, name="lead") as j:
        at = byte_field(b, panels, b.mul(j, size))
        b.store(i64(0), at)
        key = byte_field(b, at, _HEADER)
        shift = b.mul(j, width)
        with lu.for_range(b, i64(0), numel, name="word") as w:
            word = b.load(b.gep(staged, [w], source_etype=lu.I64), typ=lu.I64)
            moved = b.select(b.icmp_signed("<", w, first), word, b.add(word, shift))
            b.store(moved, b.gep(key, [w], source_etype=lu.I64))
    flags = b.select(wide, i64(3), i64(1))
    b.ret(b.or_(b.ptrtoint(panels, lu.I64), flags))
