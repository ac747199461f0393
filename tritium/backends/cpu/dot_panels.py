"""Packed panels of a dot's ``b`` reused by the next programs of the same thread.

Tutorial 03 loads a ``BLOCK_K x BLOCK_N`` tile of ``b`` in every step of its K loop and
packs it (its rows lie a whole row of ``b`` apart: one TLB entry and one L1 set each, and
packing waited on L2/L3). With grouped ordering, the ``GROUP_SIZE_M`` programs that run one
after another on a thread share ``pid_n`` and so load the very same tiles: packing them once
and keeping them ran the kernel 0-15% faster (fp32 1024^3 and 2048^3, 64x64x32 and 32x64x64
blocks, one thread, Zen 3 with AVX2, CPU time on a loaded machine). What is left is mostly
``a``: its rows, read at their source a power-of-two stride apart, share a few L1/L2 sets.

Each worker of a launch holds ``SCRATCH_SLOTS`` pointers (``launcher._emit_worker``); a dot
site takes one and keeps there, malloc'ed on first use and freed when the worker ends::

    valid   i64   entries [0, valid) hold the packed tiles of steps 0 .. valid-1
    step    i64   bytes by which the loop advances the pointer tile, for the key
    cap     i64   entries in the block: the loop's steps when first used (at most 2 MiB)
    streak  i64   programs in a row whose step-0 tile was not the key's
    (to 64 bytes)
    staged  i64[numel]  the key of the program asking (``helpers.PANEL_MATCH`` compares)
    key     i64[numel]  the pointer tile of step 0 (the whole tile: its columns may be any
                        function of the program id, e.g. tutorial 03's ``% N``)
    first   i64[cap]  the address of each entry's tile element [0, 0]
    entries cap x the packed tile

The step index is the number of times this dot ran in the program so far. It is the loop's
iteration number because the sites taken are directly in the body of a loop at the top level
of the kernel (so it runs once per program), whose pointer tile is a carried value advanced by
a uniform step: with the same tile at step 0 and the same step, every step's tile is the same.
Loops that may write memory are left alone, and a tile is only kept or reused when its mask
is all set (``other`` not used). Memory is read-only during a launch for the programs' loads:
another program's write would be a race in Triton's model; the cache is per launch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import llvmlite.ir as ll

from tritium.backends.cpu import helpers
from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.analysis import uniform, writes_memory
from tritium.backends.cpu.codegen import Lowering
from tritium.backends.cpu.launcher import SCRATCH_SLOTS
from tritium.backends.cpu.tiles import Buffer, Index
from tritium.ir import Operation, Value
from tritium.ir import types as irt

__all__ = ["site", "reused", "lead", "stage_key", "step_entry"]

_PANEL_BYTES = 2 << 20  # packed tiles kept per site and thread (the L2 of a core, about)
_MIN_ENTRIES = 4  # fewer tiles than this fit: not worth a site
_HEADER = 64  # valid, step, cap, streak; what follows starts 64-byte aligned
# Bytes between entries beyond the tile's own: 8 KiB tiles 8 KiB apart all start in the same
# L1 set; ``dot_kloop``'s microkernel reads several steps' entries at once.
SKEW = 64
_ENABLED = True  # for A/B timing in one process (benchmarks), not a user setting
_SEPARABLE_KEYS = True  # keys of base, first column and row where they apply (A/B timing)


def site(cx: Lowering, v: Value, load: Operation, dot: Operation, operand: int = 1) -> int | None:
    """The scratch slot for keeping the packed tiles of ``v`` (the tile ``load`` reads,
    operand ``operand`` of ``dot``: ``b``, or ``a`` for ``dot_apanels``), or None where reuse
    does not apply (see the module docstring)."""
    if not _ENABLED or not cx.is_kernel or getattr(cx, "scratch_ptr", None) is None:
        return None
    if load.attrs.get("volatile") or load.name != "tt.load" or v is not dot.operands[operand]:
        return None
    ptr = load.operands[0]
    owner = ptr.owner
    if ptr.defining_op is not None or not hasattr(owner, "parent_op"):
        return None
    loop = owner.parent_op()  # type: ignore[union-attr]
    top = cx.func.regions[0].block
    if loop is None or loop.name != "scf.for" or loop.parent is not top:
        return None
    body = loop.regions[0].block
    if dot.parent is not body or load.parent is not body or writes_memory(loop):
        return None
    if _PANEL_BYTES // (math.prod(irt.shape_of(v.type)) * 4) < _MIN_ENTRIES:
        return None
    used = getattr(cx, "scratch_slots", 0)
    if used >= SCRATCH_SLOTS:
        return None
    cx.scratch_slots = used + 1  # type: ignore[attr-defined]  # read by launcher._emit_worker
    return used


def _program_start_alloca(cx: Lowering, ty: ll.Type, init: ll.Constant, name: str) -> ll.Value:
    """A stack slot set to ``init`` where each program starts (as dot._packed_once's flag)."""
    b = cx.b
    slot = lu.entry_alloca(b, cx.alloca_block, ty, 1, align=8, name=name)
    blocks = cx.fn.basic_blocks
    here = b.block
    b.position_at_start(blocks[blocks.index(cx.alloca_block) + 1])
    b.store(init, slot)
    b.position_at_end(here)
    return slot


def _trips(cx: Lowering, loop: Operation, most: int) -> ll.Value:
    """i64: the iterations of ``loop`` (its bounds are set before it), clamped to [1, most]."""
    b = cx.b
    lb, ub, st = (cx.scalar(x) for x in loop.operands[:3])
    lb, ub, st = (x if x.type == lu.I64 else b.sext(x, lu.I64) for x in (lb, ub, st))
    one = ll.Constant(lu.I64, 1)
    up = b.icmp_signed(">", st, ll.Constant(lu.I64, 0))
    safe = b.select(up, st, one)
    n = b.sdiv(b.add(b.sub(ub, lb), b.sub(safe, one)), safe)
    n = b.select(up, n, one)  # a loop that counts down: not worth keeping tiles for
    n = b.select(b.icmp_signed("<", n, one), one, n)
    most_c = ll.Constant(lu.I64, most)
    return b.select(b.icmp_signed(">", n, most_c), most_c, n)


def reused(
    cx: Lowering,
    slot: int,
    v: Value,
    load: Operation,
    step: ll.Value,
    buf: Buffer,
    pack: Callable[[Buffer], None],
    all_true: Callable[[Lowering, Value], ll.Value],
) -> Buffer:
    """The packed ``v``: an entry of the site's scratch block when one holds this step's tile
    (nothing to pack), else ``pack`` fills an entry (kept for the next programs) or, when
    none can be kept, ``buf``. ``all_true(cx, mask)``: i1, every element of ``mask`` set."""
    b = cx.b
    i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
    shape, numel, tile_bytes = entry_layout(v, buf)
    staged_off = _HEADER
    first_off = staged_off + 2 * _round64(8 * numel)  # after the staged key and the key

    ptr = load.operands[0]
    mask = load.operands[1] if len(load.operands) > 1 else None
    loop = ptr.owner.parent_op()  # type: ignore[union-attr]
    counter = _program_start_alloca(cx, lu.I64, i64(0), "panel.step")
    matched = _program_start_alloca(cx, lu.I1, ll.Constant(lu.I1, 0), "panel.match")
    use = lu.entry_alloca(b, cx.alloca_block, lu.I1, 1, align=1, name="panel.use")
    dest = lu.entry_alloca(b, cx.alloca_block, lu.PTR, 1, align=8, name="panel.dest")
    i = b.load(counter, typ=lu.I64)
    b.store(b.add(i, i64(1)), counter)
    holder = b.gep(cx.scratch_ptr, [i64(slot)], source_etype=lu.PTR)

    field = partial(helpers.byte_field, b)

    with b.if_then(b.icmp_signed("==", i, i64(0))):
        # step 0: the block (allocated on first use, for as many tiles as the loop has
        # steps), and whether its key is this program's: shared helpers (``helpers``), which
        # inlined were a sixth of the tutorial matmul's compile time (issue 13)
        cap = _trips(cx, loop, max(1, _PANEL_BYTES // tile_bytes))
        get_region = helpers.declare(cx.module, helpers.PANEL_REGION)
        region = b.call(get_region, [holder, cap, i64(numel), i64(tile_bytes)])
        with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(region, lu.I64), i64(0))):
            stage_key(cx, ptr, shape, field(region, staged_off))  # for the helper
            match = helpers.declare(cx.module, helpers.PANEL_MATCH)
            b.store(b.call(match, [region, step, i64(numel)]), matched)

    all_set = ll.Constant(lu.I1, 1) if mask is None else all_true(cx, mask)
    b.store(ll.Constant(lu.I1, 0), use)
    b.store(buf.ptr, dest)
    with b.if_then(b.load(matched, typ=lu.I1)):
        region = b.load(holder, typ=lu.PTR)
        cap = b.load(field(region, 16), typ=lu.I64)
        sizes = (cap, first_off, tile_bytes)
        step_entry(cx, region, i, lead(cx, ptr, shape), sizes, all_set, use, dest)
    out = Buffer(b.load(dest, typ=lu.PTR), buf.shape, buf.strides, buf.elem)
    with b.if_then(b.not_(b.load(use, typ=lu.I1))):
        pack(out)
    return out


def stage_key(cx: Lowering, ptr: Value, shape: tuple[int, ...], at: ll.Value) -> None:
    """Store this program's pointer tile ``ptr`` (the key) at ``at``, as i64 addresses."""
    b = cx.b
    for idx in cx.chunks(shape):
        addrs = b.ptrtoint(cx.eval(ptr, idx), lu.vec(lu.I64, idx.width))
        flat = b.zext(_flat(cx, idx, shape), lu.I64)
        b.store(addrs, b.gep(at, [flat], source_etype=lu.I64), align=8)


_RING_OPS = frozenset({"arith.addi", "arith.subi"})


def _row_plus_column(v: Value, depth: int = 0) -> bool:
    """The 2-D integer tile ``v`` is ``f(i) + g(j)`` modulo its width: built by adds,
    subtracts and products with a uniform factor (ring operations) from tiles that vary
    along one axis at most (a broadcast or expand_dims of a vector, a splat)."""
    if any(d == 1 for d in irt.shape_of(v.type)) or uniform(v):
        return True
    op = v.defining_op
    if op is None or depth > 32:
        return False
    if op.name == "tt.broadcast":
        return any(d == 1 for d in irt.shape_of(op.operands[0].type))
    if op.name in _RING_OPS:
        return all(_row_plus_column(x, depth + 1) for x in op.operands)
    if op.name == "arith.muli":
        x, y = op.operands
        return (uniform(x) and _row_plus_column(y, depth + 1)) or (
            uniform(y) and _row_plus_column(x, depth + 1)
        )
    return False


def separable_base(ptr: Value) -> Value | None:
    """For a 2-D pointer tile carried by a loop (``ptr``: the body's block argument), the
    scalar base pointer when the tile's value at the loop's entry is ``splat(base) + off``
    (one ``tt.addptr``) with ``off[i, j] = f(i) + g(j)`` (:func:`_row_plus_column`); else None.

    Such a tile is known from ``base``, its first column and its first row, so those are the
    panels' key rather than the whole tile (2048 addresses for a 64 x 32 tile): ``off[i, j]``
    is ``off[i, 0] + off[0, j] - off[0, 0]`` in its integer type (a ring: wrapping included),
    each ``off[i, 0]`` and ``off[0, j]`` follows exactly from the address and ``base``, and
    the address follows from ``off[i, j]`` and ``base``."""
    if not _SEPARABLE_KEYS or len(irt.shape_of(ptr.type)) != 2 or ptr.defining_op is not None:
        return None
    owner = ptr.owner
    if not hasattr(owner, "parent_op") or ptr.index == 0:
        return None
    loop = owner.parent_op()  # type: ignore[union-attr]
    if loop is None or loop.name != "scf.for" or len(loop.operands) <= ptr.index + 2:
        return None
    op = loop.operands[ptr.index + 2].defining_op  # the tile at the loop's entry
    if op is None or op.name != "tt.addptr":
        return None
    base, off = op.operands
    splat = base.defining_op
    if splat is None or splat.name != "tt.splat" or irt.shape_of(splat.operands[0].type):
        return None
    if not isinstance(irt.element_type(off.type), irt.IntType):
        return None
    return splat.operands[0] if _row_plus_column(off) else None


def _varies_along_one_axis(v: Value) -> bool:
    """The 2-D tile ``v`` is uniform, or a broadcast of one row or one column."""
    op = v.defining_op
    if uniform(v):
        return True
    return op is not None and op.name == "tt.broadcast" and 1 in irt.shape_of(op.operands[0].type)


def entry_base(ptr: Value, offset_ok: Callable[[Value], bool]) -> Value | None:
    """For a pointer tile carried by a loop (``ptr``, an argument of the loop's body), its value
    at the loop's entry with the ``tt.addptr`` offsets that built it taken off, each of them
    passing ``offset_ok``; None when ``ptr`` is not carried or an offset does not pass."""
    if ptr.defining_op is not None or ptr.index == 0:
        return None
    owner = ptr.owner
    if not hasattr(owner, "parent_op"):
        return None
    loop = owner.parent_op()  # type: ignore[union-attr]
    if loop is None or loop.name != "scf.for" or len(loop.operands) <= ptr.index + 2:
        return None
    at = loop.operands[ptr.index + 2]
    while at.defining_op is not None and at.defining_op.name == "tt.addptr":
        if not offset_ok(at.defining_op.operands[1]):
            return None
        at = at.defining_op.operands[0]
    return at


def rows_plus_columns(ptr: Value) -> bool:
    """For a 2-D pointer tile carried by a loop (``ptr``), whether its value at the loop's
    entry is pointers that vary along one axis plus offsets that each vary along one axis,
    added by ``tt.addptr`` one at a time (the int8 tutorial's ``A + offs_m[:, None] * s_m +
    offs_k[None, :] * s_k``). Each offset is added to the 64-bit address on its own, so
    ``addr[i, j] = addr[i, 0] + addr[0, j] - addr[0, 0]`` exactly: the tile is known from
    its first column and first row (:func:`stage_any_key`), as a :func:`separable_base` one."""
    if not _SEPARABLE_KEYS or len(irt.shape_of(ptr.type)) != 2:
        return False
    at = entry_base(ptr, _varies_along_one_axis)
    return at is not None and _varies_along_one_axis(at)


def separable_key(ptr: Value) -> bool:
    """Whether the key of ``ptr`` is its base (or 0), first column and first row."""
    return separable_base(ptr) is not None or rows_plus_columns(ptr)


def key_numel(ptr: Value) -> int:
    """The i64 words of the key of the pointer tile ``ptr`` (:func:`stage_key`)."""
    shape = irt.shape_of(ptr.type)
    if separable_key(ptr):
        return 1 + shape[0] + shape[1]
    return math.prod(shape)


def stage_any_key(cx: Lowering, ptr: Value, shape: tuple[int, ...], at: ll.Value) -> None:
    """Store this program's key of the pointer tile ``ptr`` at ``at`` (``key_numel(ptr)``
    i64): the whole tile (:func:`stage_key`), or for a separable one (:func:`separable_base`)
    its base, first column and first row (a :func:`rows_plus_columns` one: 0 for the base)."""
    base = separable_base(ptr)
    if base is None and not rows_plus_columns(ptr):
        stage_key(cx, ptr, shape, at)
        return
    b = cx.b
    i32 = lambda x: ll.Constant(lu.I32, x)  # noqa: E731
    word = ll.Constant(lu.I64, 0) if base is None else b.ptrtoint(cx.scalar(base), lu.I64)
    b.store(word, at, align=8)
    with cx.cold_loops(), lu.for_range(b, i32(0), i32(shape[0]), name="key.col") as r:
        first = b.extract_element(cx.eval(ptr, Index((r, i32(0)), 1)), i32(0))
        slot = b.add(b.zext(r, lu.I64), ll.Constant(lu.I64, 1))
        b.store(b.ptrtoint(first, lu.I64), b.gep(at, [slot], source_etype=lu.I64), align=8)
    row = b.gep(at, [ll.Constant(lu.I64, 1 + shape[0])], source_etype=lu.I64)
    for idx in cx.chunks((1, shape[1])):
        addrs = b.ptrtoint(cx.eval(ptr, idx), lu.vec(lu.I64, idx.width))
        b.store(addrs, b.gep(row, [b.zext(idx.dims[1], lu.I64)], source_etype=lu.I64), align=8)


def lead(cx: Lowering, ptr: Value, shape: tuple[int, ...]) -> ll.Value:
    """i64: the address of the pointer tile's element [0, 0] in this step."""
    zero = ll.Constant(lu.I32, 0)
    first = cx.eval(ptr, Index(tuple(zero for _ in shape), 1))
    return cx.b.ptrtoint(cx.b.extract_element(first, zero), lu.I64)


def step_entry(
    cx: Lowering,
    at: ll.Value,
    i: ll.Value,
    lead: ll.Value,
    sizes: tuple[ll.Value, int, int],
    whole: ll.Value,
    use: ll.Value,
    dest: ll.Value,
    claimed: ll.Value | None = None,
) -> None:
    """Step ``i``'s entry of the panel at ``at`` (``helpers.PANEL_ENTRY``; ``sizes``: its
    ``cap``, ``first_off`` and ``tile_bytes``): ``use`` (an i1 slot) set when it holds this
    step's tile already, ``dest`` (a pointer slot holding the fallback buffer) the entry
    when it can be kept; ``claimed`` (an i1 slot, for a launch-wide table's slots) set when
    the entry is to be published once packed (:func:`publish`)."""
    b = cx.b
    i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
    cap, first_off, tile_bytes = sizes
    fn = helpers.declare(cx.module, helpers.PANEL_ENTRY)
    r = b.call(fn, [at, i, lead, cap, i64(first_off), i64(tile_bytes), whole])
    b.store(b.trunc(r, lu.I1), use)
    if claimed is not None:  # bit 1 (entries are 64-byte aligned)
        b.store(b.trunc(b.lshr(r, i64(1)), lu.I1), claimed)
    entry = b.inttoptr(b.and_(r, i64(-2 if claimed is None else -4)), lu.PTR)
    some = b.icmp_unsigned("!=", r, i64(0))
    b.store(b.select(some, entry, b.load(dest, typ=lu.PTR)), dest)


def publish(cx: Lowering, at: ll.Value, i: ll.Value, lead: ll.Value, first_off: int) -> None:
    """After packing step ``i``'s entry of a launch-wide table's slot at ``at``: its lead
    stored with release (``helpers.PANEL_ENTRY``: the other threads then read the entry)."""
    b = cx.b
    firsts = b.gep(at, [ll.Constant(lu.I64, first_off)], source_etype=lu.I8)
    b.atomic_rmw("xchg", b.gep(firsts, [i], source_etype=lu.I64), lead, "release")


def _round64(n: int) -> int:
    return -(-n // 64) * 64


def entry_layout(v: Value, buf: Buffer) -> tuple[tuple[int, ...], int, int]:
    """The packed tile ``v``'s shape, element count and bytes per panel entry (rounded up to
    64 bytes, then ``SKEW`` more), for the b panels here and the a panels (``dot_apanels``)."""
    shape = irt.shape_of(v.type)
    numel = math.prod(shape)
    return shape, numel, _round64(numel * lu.elem_size(buf.elem)) + SKEW


def _flat(cx: Lowering, idx: Index, shape: tuple[int, ...]) -> ll.Value:
    """The row-major element offset (i32) of the chunk ``idx`` in a tile of ``shape``."""
    b = cx.b
    off: ll.Value = ll.Constant(lu.I32, 0)
    stride = 1
    for d, n in zip(reversed(idx.dims), reversed(shape), strict=True):
        if not (isinstance(d, ll.Constant) and d.constant == 0):
            off = b.add(off, d if stride == 1 else b.mul(d, ll.Constant(lu.I32, stride)))
        stride *= n
    return off
