"""int8 ``b``'s packed tiles for the next column panels too, from one read of its rows (issue 13).

The W8A8 tutorial at 64 x 2048 x 2048 (``BLOCK_N`` 64) has one row of programs: program ``p``
packs column panel ``p`` of ``b``, 64 bytes of each of ``b``'s 2048 rows, which lie 2 KiB
apart. Each such read waited on L3 or memory (packing ``b`` was 15-30 % of the kernel's
samples): a panel's lines share 1/32 of L2's sets, so lines prefetched ahead are evicted
before they are read, and a page holds two of them. Here a program that finds its tiles in
none of the kept panels (a *leader*) packs, in each step, its own tile and the tiles of the
``NEIGHBOURS - 1`` column panels right of it, reading each row's ``NEIGHBOURS * BLOCK_N``
bytes at once (as BLAS packs ``b``), into panels keyed as those programs key theirs: its own
key with every address ``j * BLOCK_N`` elements further. With owned shares
(``launcher.owned_shares``) the next programs of a thread are the next program ids, so the
next ``NEIGHBOURS - 1`` programs find their tiles packed; in grouped order (more rows of
programs) each panel is found by the programs of its ``pid_n`` as with ``dot_panels``' one.

It applies (else ``dot_panels``' single panel) when the pointer tile's columns are contiguous
and an affine function of a ``tl.arange`` (the tile at the loop's entry is pointers that vary
along rows only plus offsets whose column parts are built by ring ops: the next panels'
addresses continue each row; no ``%``), and the load's mask is an ``&`` of row-only and
column-only factors whose column factors are built from ``tl.arange`` too, one of them
bounding the columns from above (``offs_n < N``). A leader packs the next panels in a step
only where its own mask is all set and its column factors, evaluated ``j * BLOCK_N`` columns
further, are all set: it reads only elements within the bound that its mask states
(``other`` is never used for a kept tile). The keys are ``dot_panels``' (the whole pointer
tile, or its base, first column and first row where it is separable).

The worker's scratch slot points at a block allocated on first use in a launch::

    header  64 bytes: step (i64, bytes by which the loop advances the tile; -1: none kept),
            cap (i64, entries per panel), misses (i64, leaders since the next panels were
            last found), live (i64, the panels the last leader keyed: 1 or NEIGHBOURS)
    staged  i64[numel] (to 64 bytes)  the key of the program looking (``stage_any_key``)
    NEIGHBOURS x panel:
        valid    i64   entries [0, valid) hold the packed tiles of steps 0 .. valid-1
        (to 64 bytes)
        key      i64[numel] (to 64 bytes)
        entries  cap x (the packed tile, int8 words, then its column sums, i32 [BLOCK_N];
                 ``dot_panels.SKEW`` bytes more)

Measured on a 2-core Zen 4 KVM guest (znver4, AVX512-VNNI), the W8A8 tutorial at 64 x 2048
x 2048 with each CPU config pinned, one thread, thread CPU time, 1, 2 and 4 panels compiled
side by side in one process (load 1.2-6): 2 panels 2-6 % faster than one (e.g. 340 -> 348
GOP/s with 64 x 64 x 64 blocks, 309 -> 324 with 32 x 64 x 128); packing ``b`` 25 -> 17 % of
the kernel's samples. 4 panels measured as 2 at one thread, but with a memory-bound process
on the other core 2-4 % slower than one (2: 4-7 % faster), and at two threads on a loaded
machine 11 % slower before leaders stopped packing panels nobody found (a thread stealing
another's last programs runs them backwards: each led). Prefetching the next panels' lines
into L2 while packing (no keys) measured from no change to 10-19 % faster from one minute
to the next. The int8 kernel's cold compile: 125 -> 153 ms (thread CPU, load 6).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import llvmlite.ir as ll

from tritium.backends.cpu import dot_panels as panels  # a module: dot_panels imports codegen
from tritium.backends.cpu import helpers, scratch
from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.analysis import const_int, stride_wraps, uniform
from tritium.backends.cpu.codegen import Lowering
from tritium.backends.cpu.elementwise import ELEMENTWISE
from tritium.backends.cpu.tiles import Buffer, Index
from tritium.ir import Operation, Value
from tritium.ir import types as irt

__all__ = ["NEIGHBOURS", "applies", "reused"]

NEIGHBOURS = 2  # panels packed from one read of the rows (1: dot_panels' one; A/B timing)
_PANEL_BYTES = 2 << 20  # all the panels' entries, per site and thread
_HEADER = 64  # step, cap
_RING = frozenset({"arith.addi", "arith.subi", "arith.muli", "arith.extsi", "arith.extui"})
_TESTS = _RING | {"arith.cmpi", "arith.andi", "arith.ori"}


def _extends(v: Value, names: frozenset[str], depth: int = 0) -> bool:
    """``v`` (a tile that varies along its last axis at most) is built by ``names`` from
    ``tl.arange`` and uniform tiles, a product having a uniform factor: evaluated at columns
    past its shape by the same ops, it continues as the next programs' would."""
    if uniform(v, constants=True):
        return True
    op = v.defining_op
    if op is None or depth > 32:
        return False
    if op.name == "tt.make_range":
        return True
    if op.name in ("tt.expand_dims", "tt.broadcast"):
        return _extends(op.operands[0], names, depth + 1)
    if op.name == "arith.muli" and not any(uniform(x, constants=True) for x in op.operands):
        return False
    return op.name in names and all(_extends(x, names, depth + 1) for x in op.operands)


def _row_only(v: Value) -> bool:
    op = v.defining_op
    return (
        op is not None and op.name == "tt.broadcast" and irt.shape_of(op.operands[0].type)[1] == 1
    )


def _column_factors(mask: Value) -> list[Value] | None:
    """The column-only factors of ``mask``, an ``&`` of row-only and column-only tiles whose
    column ones :func:`_extends` (comparisons included); else None."""
    op = mask.defining_op
    if op is not None and op.name == "arith.andi":
        parts = [_column_factors(x) for x in op.operands]
        return None if parts[0] is None or parts[1] is None else parts[0] + parts[1]
    if uniform(mask, constants=True) or _row_only(mask):
        return []
    if op is not None and op.name == "tt.broadcast":
        src = op.operands[0]
        if irt.shape_of(src.type)[0] == 1 and _extends(src, _TESTS):
            return [src]
    return None


def _increasing(v: Value, depth: int = 0) -> bool:
    """``v`` grows with the column: a ``tl.arange`` plus uniform terms, times positive
    constants. (``lo - offs_n``, or a product with a run-time factor that may be 0 or
    negative, does not: a test ``v < bound`` on it bounds nothing from above.)"""
    op = v.defining_op
    if op is None or depth > 32 or uniform(v, constants=True):
        return False
    if op.name == "tt.make_range":
        return True
    if op.name in ("tt.expand_dims", "tt.broadcast", "arith.extsi", "arith.extui"):
        return _increasing(op.operands[0], depth + 1)
    if op.name not in ("arith.addi", "arith.subi", "arith.muli"):
        return False
    x, y = op.operands
    if op.name == "arith.subi":
        return _increasing(x, depth + 1) and uniform(y, constants=True)
    if op.name == "arith.addi":
        grows = [_increasing(t, depth + 1) for t in (x, y)]
        return any(grows) and all(g or uniform(t, constants=True) for g, t in zip(grows, (x, y)))
    for t, factor in ((x, y), (y, x)):  # arith.muli: by a positive constant
        c = const_int(factor)
        if c is not None and c > 0 and _increasing(t, depth + 1):
            return True
    return False


def _bounded(v: Value) -> bool:
    """The column test ``v`` includes (through ``&``) a comparison that bounds the columns from
    above by a uniform value (``offs_n < N``, its column side :func:`_increasing`): past it,
    the next panels' tests fail."""
    op = v.defining_op
    if op is None:
        return False
    if op.name in ("tt.expand_dims", "tt.broadcast"):
        return _bounded(op.operands[0])
    if op.name == "arith.andi":
        return any(_bounded(x) for x in op.operands)
    if op.name != "arith.cmpi":
        return False
    x, y = op.operands
    below = op.attrs["predicate"] in ("slt", "sle", "ult", "ule")
    above = op.attrs["predicate"] in ("sgt", "sge", "ugt", "uge")
    if below:
        return uniform(y, constants=True) and _increasing(x)
    return above and uniform(x, constants=True) and _increasing(y)


def _columns_affine(off: Value, depth: int = 0) -> bool:
    """The 2-D offsets ``off`` (a row plus a column: ``dot_panels._row_plus_column``) have
    column parts that :func:`_extends` by ring ops."""
    if uniform(off, constants=True) or _row_only(off):
        return True
    op = off.defining_op
    if op is None or depth > 32:
        return False
    if op.name == "tt.broadcast":
        return _extends(op.operands[0], _RING)
    if op.name in ("arith.addi", "arith.subi"):
        return all(_columns_affine(x, depth + 1) for x in op.operands)
    if op.name == "arith.muli":
        x, y = op.operands
        return (uniform(x) and _columns_affine(y, depth + 1)) or (
            uniform(y) and _columns_affine(x, depth + 1)
        )
    return False


def applies(cx: Lowering, load: Operation) -> bool:
    """Whether ``load``'s tiles (int8 ``b`` of a chunked K loop) may be packed for the next
    column panels too (see the module docstring)."""
    ptr = load.operands[0]
    if NEIGHBOURS < 2 or len(load.operands) < 2 or cx.stride(ptr) != 1:
        return False
    if stride_wraps(ptr) != []:  # rows read whole across panels: no ``%`` / ``//`` to check
        return False
    # the tile at the loop's entry: pointers that vary along rows only plus offsets (one or
    # more ``tt.addptr``)
    at = panels.entry_base(ptr, _columns_affine)
    if at is None:
        return False
    factors = _column_factors(load.operands[1])
    return (uniform(at) or _row_only(at)) and any(_bounded(f) for f in factors or [])


def _at_columns(cx: Lowering, v: Value, col: ll.Value, width: int) -> ll.Value:
    """``width`` lanes of ``v`` (:func:`_extends`) at columns ``col`` (i32) onwards, which
    may lie past its shape."""
    b = cx.b
    if uniform(v, constants=True):
        zero = ll.Constant(lu.I32, 0)
        return cx.eval(v, Index(tuple(zero for _ in irt.shape_of(v.type)), width))
    op = v.defining_op
    assert op is not None
    if op.name == "tt.make_range":
        first = b.add(col, ll.Constant(lu.I32, int(op.attrs["start"])))
        return b.add(lu.splat(b, first, width), lu.lane_iota(width))
    if op.name in ("tt.expand_dims", "tt.broadcast"):
        return _at_columns(cx, op.operands[0], col, width)
    return ELEMENTWISE[op.name](cx, op, [_at_columns(cx, x, col, width) for x in op.operands])


def _beside_set(cx: Lowering, factors: list[Value], n: int) -> ll.Value:
    """i1: every column factor set over the ``NEIGHBOURS - 1`` panels right of the tile
    (``n`` columns each)."""
    b = cx.b
    width = cx.chunk_width((n,))
    ok: ll.Value = ll.Constant(lu.I1, 1)
    for f in factors:
        for col in range(n, n * NEIGHBOURS, width):
            lanes = _at_columns(cx, f, ll.Constant(lu.I32, col), width)
            bits = b.bitcast(lanes, ll.IntType(width))
            ok = b.and_(ok, b.icmp_unsigned("==", bits, ll.Constant(ll.IntType(width), -1)))
    return ok


def reused(
    cx: Lowering,
    slot: int,
    v: Value,
    load: Operation,
    step: ll.Value,
    buf: Buffer,
    pack: Callable[[Buffer], None],
    pack_wide: Callable[[Buffer, Sequence[ll.Value]], None],
    all_true: Callable[[Lowering, Value], ll.Value],
    packed_bytes: ll.Value | None = None,
) -> Buffer:
    """The packed int8 ``v`` (``b``): an entry of a kept panel when one holds this step's
    tile, else packed by ``pack`` into a kept entry or ``buf``, or by a leader with
    ``pack_wide`` into its entry and the next panels' (see the module docstring).
    ``slot``: the worker's scratch slot (``dot_panels.site``); ``all_true(cx, mask)``: i1,
    every element of ``mask`` set; ``packed_bytes``: an i64 alloca given the bytes of each
    of ``b``'s rows this step reads (0, ``BLOCK_N``, ``NEIGHBOURS * BLOCK_N``)."""
    b = cx.b
    i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
    field = partial(helpers.byte_field, b)
    k, n = shape = irt.shape_of(v.type)
    width = n * lu.elem_size(irt.element_type(v.type))  # bytes of a tile's row
    entry_bytes = panels._round64(k * n + 4 * n) + panels.SKEW
    ptr, mask = load.operands[0], load.operands[1]
    numel = panels.key_numel(ptr)
    separable = panels.separable_key(ptr)
    key_bytes = panels._round64(8 * numel)
    first_panel = _HEADER + key_bytes
    loop = ptr.owner.parent_op()  # type: ignore[union-attr]

    counter = panels._program_start_alloca(cx, lu.I64, i64(0), "npanel.step")
    mine = panels._program_start_alloca(cx, lu.PTR, ll.Constant(lu.PTR, None), "npanel.mine")
    leads = panels._program_start_alloca(cx, lu.I1, ll.Constant(lu.I1, 0), "npanel.lead")
    wide = panels._program_start_alloca(cx, lu.I1, ll.Constant(lu.I1, 0), "npanel.wide")
    i = b.load(counter, typ=lu.I64)
    b.store(b.add(i, i64(1)), counter)
    holder = b.gep(cx.scratch_ptr, [i64(slot)], source_etype=lu.PTR)

    def panel_bytes(cap: ll.Value) -> ll.Value:
        return b.add(i64(64 + key_bytes), b.mul(cap, i64(entry_bytes)))

    with b.if_then(b.icmp_signed("==", i, i64(0))):
        cap = panels._trips(cx, loop, max(1, _PANEL_BYTES // (NEIGHBOURS * entry_bytes)))
        null = b.icmp_unsigned("==", b.ptrtoint(b.load(holder, typ=lu.PTR), lu.I64), i64(0))
        with b.if_then(null, likely=False):  # the launch's first use on this worker
            size = b.add(i64(first_panel), b.mul(panel_bytes(cap), i64(NEIGHBOURS)))
            fresh = scratch.emit_block(b, cx.module, holder, size)
            with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(fresh, lu.I64), i64(0))):
                header = (
                    (helpers._N_STEP, i64(-1)),  # no key yet
                    (helpers._N_CAP, cap),
                    (helpers._N_MISSES, i64(0)),
                    (helpers._N_LIVE, i64(1)),
                )
                for off, value in header:
                    b.store(value, field(fresh, off))
        region = b.load(holder, typ=lu.PTR)
        with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(region, lu.I64), i64(0))):
            panels.stage_any_key(cx, ptr, shape, field(region, _HEADER))
            # the lookup, and a leader's keys: a shared helper (``helpers``), not inlined
            find = helpers.declare(cx.module, helpers.NPANEL_FIND)
            sizes = [numel, entry_bytes, width, 1 if separable else 0, NEIGHBOURS]
            r = b.call(find, [region, step] + [i64(x) for x in sizes])
            b.store(b.inttoptr(b.and_(r, i64(-4)), lu.PTR), mine)
            b.store(b.trunc(r, lu.I1), leads)
            b.store(b.trunc(b.lshr(r, i64(1)), lu.I1), wide)

    all_set = all_true(cx, mask)
    dest = lu.entry_alloca(b, cx.alloca_block, lu.PTR, 1, align=8, name="npanel.dest")
    # 0: pack into dest, 1: dest holds this step's tile, 2: pack it and the next panels'
    mode = lu.entry_alloca(b, cx.alloca_block, lu.I8, 1, align=1, name="npanel.mode")
    b.store(buf.ptr, dest)
    b.store(ll.Constant(lu.I8, 0), mode)
    at = b.load(mine, typ=lu.PTR)
    with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(at, lu.I64), i64(0))):
        region = b.load(holder, typ=lu.PTR)
        cap = b.load(field(region, helpers._N_CAP), typ=lu.I64)
        valid = b.load(at, typ=lu.I64)
        entry = field(at, b.add(i64(64 + key_bytes), b.mul(i, i64(entry_bytes))))
        keep = b.and_(all_set, b.icmp_signed("<", i, cap))
        lead = b.load(leads, typ=lu.I1)
        with b.if_then(b.and_(keep, b.and_(b.not_(lead), b.icmp_signed("<", i, valid)))):
            b.store(entry, dest)
            b.store(ll.Constant(lu.I8, 1), mode)
        with b.if_then(b.and_(keep, b.and_(lead, b.icmp_signed("==", i, valid)))):
            b.store(entry, dest)
            b.store(b.add(i, i64(1)), at)
            beside = _beside_set(cx, _column_factors(mask) or [], n)
            with b.if_then(b.and_(b.load(wide, typ=lu.I1), beside)):
                b.store(ll.Constant(lu.I8, 2), mode)
                size = panel_bytes(cap)
                for j in range(1, NEIGHBOURS):
                    other = field(at, b.mul(i64(j), size))
                    now = b.load(other, typ=lu.I64)
                    b.store(b.select(b.icmp_signed("==", now, i), b.add(i, i64(1)), now), other)
    out = Buffer(b.load(dest, typ=lu.PTR), buf.shape, buf.strides, buf.elem)
    how = b.load(mode, typ=lu.I8)
    if packed_bytes is not None:  # the bytes of each row this step reads (``dot_ahead``)
        leads = b.icmp_unsigned("==", how, ll.Constant(lu.I8, 2))
        read = b.select(leads, i64(NEIGHBOURS * width), i64(width))
        found = b.icmp_unsigned("==", how, ll.Constant(lu.I8, 1))
        b.store(b.select(found, i64(0), read), packed_bytes)
    with b.if_then(b.icmp_unsigned("==", how, ll.Constant(lu.I8, 0))):
        pack(out)
    with b.if_then(b.icmp_unsigned("==", how, ll.Constant(lu.I8, 2))):
        region = b.load(holder, typ=lu.PTR)
        size = panel_bytes(b.load(field(region, helpers._N_CAP), typ=lu.I64))
        beside = [field(out.ptr, b.mul(i64(j), size)) for j in range(1, NEIGHBOURS)]
        pack_wide(out, beside)
    return out
