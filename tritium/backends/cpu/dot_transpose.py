"""Packing of a transposed ``b`` for ``tt.dot`` (``dot``): a ``tl.trans`` view, or a
:class:`Transposed` fused tile (attention's ``k``), copied row-major by W x W blocks
transposed in registers.

A fused load's W rows are read from one address per block plus the rows' stride, each row's
mask from its own scalar row test and-ed as an integer into the column test the W rows share
(``_strided_rows``), and 16 x 16 fp32 blocks are transposed by fixed-pattern shuffles
(``_transpose_16``). Tutorial 06's fp32 causal 64x64 ``_attn_fwd``, cold compile
(``bench_compile.py --attention``, thread CPU, median of 10 alternating process pairs, load
1.0-1.2, 2-core EPYC Zen 4): 383 -> 358 ms (lowering 41 -> 30, IR text 24 -> 16.5, parse
9.6 -> 7.9; optimize and codegen within noise), 2738 -> 2288 machine instructions; bf16 532
-> 425 ms; the kernel's speed unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu import memory
from tritium.backends.cpu.analysis import uniform
from tritium.backends.cpu.codegen import LAZY_RULES, Lowering
from tritium.backends.cpu.prefetch import emit_prefetch
from tritium.backends.cpu.tiles import Buffer, Index, Lazy, Pending, Scalar
from tritium.ir import Value
from tritium.ir import types as irt

# for A/B timing in one process (benchmarks), not user settings
_SOURCE_ROWS_OUTER = True  # ``transpose_pack``'s loop order (False: the order before)
_STRIDED_ROWS = True  # ``transpose_pack`` reads a fused load's rows by stride (False: one by one)
_UNPACK16 = True  # ``_transpose_16``'s fixed-pattern transpose of 16 x 16 (False: butterfly)
_SPLIT_MASK = True  # ... and builds each row's mask from the row's scalar test (False: per row)


@dataclass(frozen=True)
class Transposed:
    """``tl.trans(x)`` of a fused 2-D tile ``x`` that only a dot reads, as its ``b``: left
    unmaterialized so that the dot packs it transposed straight from ``x``'s chunks
    (``deferred_transpose``)."""

    src: Value


def transpose_pack(cx: Lowering, view: Buffer | Transposed, ct: irt.Type) -> Buffer:
    """Copy a transposed view (or a :class:`Transposed` fused tile) into a row-major buffer of
    ``ct`` by W x W blocks transposed in registers: W contiguous loads (or chunks of the fused
    source, or :func:`_strided_rows`), log2(W) rounds of shuffles (:func:`_transpose_16`'s
    fixed patterns for 16 lanes of fp32), W contiguous stores (instead of one gather per
    output vector). ``ct`` may be the view's own 16-bit type (the bf16 operand of
    ``vdpbf16ps``): W lanes of bf16 shuffle just as well."""
    from tritium.backends.cpu import dot as dot_mod

    b = cx.b
    w = cx.vw
    rows_of = None
    if isinstance(view, Transposed):
        src_rows, src_cols = irt.shape_of(view.src.type)
        rows, cols = src_cols, src_rows
        src_t = irt.element_type(view.src.type)
        fused = view.src
        rows_of = _strided_rows(cx, fused, w) if _STRIDED_ROWS else None

        def read(row: ll.Value, col: ll.Value) -> ll.Value:
            return cx.eval(fused, Index((row, col), w))
    else:
        rows, cols = view.shape
        src_t = view.elem
        # the underlying rows: source row c holds view[:, c] contiguously
        source = Buffer(view.ptr, (cols, rows), (view.strides[1], 1), src_t, view.offset)

        def read(row: ll.Value, col: ll.Value) -> ll.Value:
            return cx.read_buffer(source, Index((row, col), w))

    out = cx.alloc(
        (rows, cols), ct, name="packt.fused" if isinstance(view, Transposed) else "packt"
    )
    # 16/8-bit floats shuffle as integers of their width: LLVM scalarized shuffles of
    # <8 x bfloat> on AVX2 (a load, shift and or per element: most of a bf16 attention's
    # first dot).
    src_ll = lu.llvm_type(src_t)
    lane_int = None
    if isinstance(src_t, irt.FloatType) and src_t.bitwidth < 32:
        lane_int = lu.vec(ll.IntType(src_t.bitwidth), w)
    i32 = lambda x: ll.Constant(lu.I32, x)  # noqa: E731
    # Source rows outside: the W source rows a block reads (``c0 + i``) are then invariant in
    # the inner loop, and so are their addresses and masks (a block pointer's bounds check,
    # ~10 instructions a row), which LLVM hoists instead of recomputing them for every block.
    loops = [(cols, "tr.c"), (rows, "tr.r")]
    if not _SOURCE_ROWS_OUTER:
        loops.reverse()
    with lu.for_range(b, i32(0), i32(loops[0][0]), w, name=loops[0][1]) as x0:
        with lu.for_range(b, i32(0), i32(loops[1][0]), w, name=loops[1][1]) as y0:
            c0, r0 = (x0, y0) if _SOURCE_ROWS_OUTER else (y0, x0)
            if rows_of is not None:
                vecs = rows_of(c0, r0)
            else:
                vecs = [read(b.add(c0, i32(i)), r0) for i in range(w)]
            if lane_int is not None:
                vecs = [b.bitcast(v, lane_int) for v in vecs]
            h = 0 if w == 16 and lane_int is None and _UNPACK16 else w // 2
            if h == 0:
                vecs = _transpose_16(b, vecs)
            while h >= 1:  # swap the off-diagonal h x h blocks, largest first
                lo = [lane if (lane // h) % 2 == 0 else w + lane - h for lane in range(w)]
                hi = [lane + h if (lane // h) % 2 == 0 else w + lane for lane in range(w)]
                lo_m = ll.Constant(lu.vec(lu.I32, w), lo)
                hi_m = ll.Constant(lu.vec(lu.I32, w), hi)
                for i in range(w):
                    if (i // h) % 2 == 0:
                        x, y = vecs[i], vecs[i + h]
                        vecs[i] = b.shuffle_vector(x, y, lo_m)
                        vecs[i + h] = b.shuffle_vector(x, y, hi_m)
                h //= 2
            corner = Index((r0, c0), w)
            at = cx.chunk_at(out, corner)  # the block's W rows: one address
            for j in range(w):
                vec = vecs[j] if lane_int is None else b.bitcast(vecs[j], lu.vec(src_ll, w))
                cx.write_chunk(out, corner, dot_mod._convert(cx, vec, src_t, ct), at(j, 0))
    return out


def _transpose_16(b: ll.IRBuilder, rows: list[ll.Value]) -> list[ll.Value]:
    """The 16 x 16 transpose of 16 vectors of 32-bit lanes in the shuffles x86 has single
    instructions for, each a fixed pattern: pairs of rows interleaved by lanes (``unpcklps``
    / ``unpckhps``), then by lane pairs (``unpcklpd`` / ``unpckhpd``), then 128-bit lanes
    gathered in two rounds (``vshuff32x4``)."""
    n = 16

    def mask(lanes: list[int]) -> ll.Constant:
        return ll.Constant(lu.vec(lu.I32, n), lanes)

    def within(pattern: list[int]) -> ll.Constant:  # the same pattern in each 128-bit lane
        return mask([4 * q + (p % 16) + (16 if p >= 16 else 0) for q in range(4) for p in pattern])

    lo_ps, hi_ps = within([0, 16, 1, 17]), within([2, 18, 3, 19])
    lo_pd, hi_pd = within([0, 1, 16, 17]), within([2, 3, 18, 19])
    t: list[ll.Value] = []
    for i in range(0, n, 2):
        t += [b.shuffle_vector(rows[i], rows[i + 1], m) for m in (lo_ps, hi_ps)]
    u: list[ll.Value] = []  # u[4g + j]: column 4L + j of rows 4g..4g+3 in 128-bit lane L
    for g in range(0, n, 4):
        u += [
            b.shuffle_vector(t[g], t[g + 2], lo_pd),
            b.shuffle_vector(t[g], t[g + 2], hi_pd),
            b.shuffle_vector(t[g + 1], t[g + 3], lo_pd),
            b.shuffle_vector(t[g + 1], t[g + 3], hi_pd),
        ]
    halves = [list(range(0, 8)) + list(range(16, 24)), list(range(8, 16)) + list(range(24, 32))]
    s = {  # (j, pair of groups, half): lanes 0-1 or 2-3 of groups 2p and 2p + 1
        (j, p, h): b.shuffle_vector(u[8 * p + j], u[8 * p + 4 + j], mask(halves[h]))
        for j in range(4)
        for p in range(2)
        for h in range(2)
    }
    out = []
    for c in range(n):
        lane, j = divmod(c, 4)
        pick = [lane % 2, lane % 2 + 2]  # groups 0, 1 (x) then 2, 3 (y)
        lanes = [4 * q + e for q in pick for e in range(4)]
        lanes += [16 + x for x in lanes]
        out.append(b.shuffle_vector(s[(j, 0, lane // 2)], s[(j, 1, lane // 2)], mask(lanes)))
    return out


RowReader = Callable[..., list[ll.Value]]


def _strided_rows(cx: Lowering, load: Value, w: int) -> RowReader | None:
    """For a fused ``tt.load`` of contiguous rows at an affine address (tutorial 06's ``k``):
    a reader ``rows(c0, r0, picks=range(W), new_line=True)`` of the chunks ``(c0 + i, r0)``,
    ``i`` in ``picks`` (``new_line``: see ``prefetch.emit_prefetch``), that takes row ``c0``'s
    address once and steps by the rows' stride (computed once, outside the packing loops), and
    shares the mask's parts that do not depend on the row (a block pointer's column bounds
    check) across the W rows. None for any other source (each row is then evaluated on its own)."""
    ref = cx.refs[load]
    op = load.defining_op
    if not isinstance(ref, Lazy) or isinstance(ref, Pending) or op is None:
        return None
    if op.name != "tt.load" or w == 1:
        return None
    ptr = op.operands[0]
    add = ptr.defining_op
    if cx.stride(ptr) != 1 or add is None or add.name != "tt.addptr" or ptr not in cx.lazy:
        return None
    start, offsets = add.operands
    if not (uniform(start, constants=True) and memory._affine(offsets, widened=True)):
        return None
    if irt.shape_of(ptr.type)[0] < 2:
        return None
    mask, other = memory._operands(op, 1)
    if other is not None and id(other) not in _row_invariant(cx, other):
        return None  # (the rows share one evaluation of ``other``)
    b = cx.b
    i32 = lambda x: ll.Constant(lu.I32, x)  # noqa: E731
    zero = Index((i32(0), i32(0)), 1)
    first = b.extract_element(cx.eval(ptr, zero), i32(0))
    second = b.extract_element(cx.eval(ptr, Index((i32(1), i32(0)), 1)), i32(0))
    step = b.sub(second, first)  # bytes between consecutive rows
    invariant = _row_invariant(cx, mask) if mask is not None else set()
    split = _split_mask(cx, mask, invariant) if mask is not None and _SPLIT_MASK else None
    elem = memory._pointee(ptr)
    no_addresses = ll.Constant(lu.vec(lu.I64, w), None)  # unused: the chunks are contiguous
    bits = ll.IntType(w)

    def row_mask(row: ll.Value, columns: ll.Value | None) -> ll.Value:
        """The chunk's mask from the row's own scalar conditions and the shared columns'
        lanes: the lanes' bits cleared unless the row is in (as one integer ``and``; a splat
        of the row's i1 and-ed with the columns' lanes became ~15 mask-register shifts and
        ors a row on AVX-512)."""
        assert split is not None
        ok: ll.Value | None = None
        for part in split[0]:
            src = part.defining_op.operands[0]  # type: ignore[union-attr]
            one = cx.eval(src, Index((row, i32(0)), 1))
            lane = b.extract_element(one, i32(0))
            ok = lane if ok is None else b.and_(ok, lane)
        assert ok is not None
        keep = b.sext(ok, bits)
        if columns is not None:
            keep = b.and_(keep, b.bitcast(columns, bits))
        return b.bitcast(keep, lu.vec(lu.I1, w))

    def rows(
        c0: ll.Value, r0: ll.Value, picks: range | None = None, new_line: bool = True
    ) -> list[ll.Value]:
        top = Index((c0, r0), w)
        base = memory._lane(cx, ptr, top, 0)
        o = cx.eval(other, top) if other is not None else None
        columns = None
        if split is not None and split[1]:
            for part in split[1]:
                lanes = cx.eval(part, top)
                columns = lanes if columns is None else b.and_(columns, lanes)
        shared: dict[int, ll.Value] = {}
        out = []
        for n, i in enumerate(range(w) if picks is None else picks):
            row = b.add(c0, i32(i))
            idx = Index((row, r0), w, dict(shared))
            m = None
            if split is not None:
                m = row_mask(row, columns)
            elif mask is not None:
                m = cx.eval(mask, idx)
                if n == 0:
                    shared = {k: v for k, v in idx.cache.items() if k in invariant}
            address = base if i == 0 else b.add(base, b.mul(step, ll.Constant(lu.I64, i)))
            whole = None
            if split is None and mask is not None and not cx.target.has("avx512f"):
                whole = memory._all_enabled(cx, mask, Index((row, r0), w))
            emit_prefetch(cx, op, address, new_line)
            sf = memory._ScalarForm(address, whole)
            out.append(memory.load_vector(cx, no_addresses, elem, m, o, True, sf))
        return out

    return rows


def _split_mask(
    cx: Lowering, mask: Value, invariant: set[int]
) -> tuple[list[Value], list[Value]] | None:
    """``mask`` as an ``and`` of row-only parts (broadcasts of one column: a block pointer's
    row bounds check) and of row-invariant parts (its column check), at least one row-only;
    None when some part is neither."""
    rows: list[Value] = []
    columns: list[Value] = []
    todo = [mask]
    while todo:
        v = todo.pop()
        op = v.defining_op
        if isinstance(cx.refs[v], Pending):  # its chunks must all be evaluated
            return None
        if op is not None and op.name == "arith.andi" and v in cx.lazy:
            todo.extend(op.operands)
        elif id(v) in invariant:
            columns.append(v)
        elif (
            op is not None
            and op.name == "tt.broadcast"
            and v in cx.lazy
            and irt.shape_of(op.operands[0].type)[-1] == 1
        ):
            rows.append(v)
        else:
            return None
    return (rows, columns) if rows else None


def _row_invariant(cx: Lowering, v: Value) -> set[int]:
    """The ids of the values in ``v``'s fused expression whose chunk does not depend on the
    chunk's row: scalars, splats (uniform constants too), broadcasts of one row, and
    elementwise ops of those."""
    memo: dict[int, bool] = {}

    def invariant(x: Value) -> bool:
        hit = memo.get(id(x))
        if hit is not None:
            return hit
        ref = cx.refs[x]
        if isinstance(ref, Scalar):
            result = True
        elif not isinstance(ref, Lazy) or isinstance(ref, Pending):
            result = False
        elif ref.op.name == "tt.splat":
            result = True
        elif ref.op.name == "arith.constant":
            result = isinstance(ref.op.attrs.get("value"), (int, float))  # one value: a splat
        elif ref.op.name == "tt.broadcast":
            result = irt.shape_of(ref.op.operands[0].type)[0] == 1
        elif ref.op.name in LAZY_RULES:
            result = False
        else:
            result = all([invariant(o) for o in ref.op.operands])  # visit every operand
        memo[id(x)] = result
        return result

    invariant(v)
    return {k for k, ok in memo.items() if ok}
