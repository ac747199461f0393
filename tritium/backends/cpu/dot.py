"""Lowering of ``tt.dot``: a register-blocked microkernel.

The operands are packed into contiguous buffers in the accumulation type (fp16/bf16/fp8 ->
f32, int8 -> i32, f64 stays f64), converting on the way; the accumulator starts as ``c``
(in registers when ``c`` is zero). Then for each block of ``MR`` rows x ``NR`` vectors of
columns (the loop order: ``_rows_cols``), the ``MR * NR`` accumulator vectors stay in
registers (phis) across the whole K loop, each step doing one broadcast of
an ``a`` element and one FMA per accumulator. A fused ``b`` (a masked load of V used only by
the dot) is read at its source inside the K loop, not packed, when one block of rows covers
``a`` (decode attention); a fused load of ``a`` whose rows are contiguous along K and need
no conversion is copied row by row from its source rows whenever its mask is all set
(tutorial 03). A ``tl.trans`` view, or ``tl.trans`` of a fused tile that only the dot reads
(``deferred_transpose``: attention's ``k``), is packed by in-register W x W transposes, also
in its own 16/8-bit type for the dot-product instructions of ``dot_packed``; a fused load's
rows are read there from one address and the rows' stride, each row's mask from its row test
(``_strided_rows``: tutorial 06's fp32 causal 64x64 cold compile 383 -> 358 ms, bf16 532 ->
425, EPYC Zen 4, thread CPU, alternating processes; the kernel's speed unchanged). Packing a
``b`` that a K loop advances (``b_ptrs += BLOCK_K * stride_bk``) prefetches the next step,
and the packed tiles are kept for the thread's next programs, which read the same tiles in
grouped order (``dot_panels``); the packed tiles of such an ``a`` are kept per row table in a
few slots (``dot_apanels``), for the programs of the same rows that follow. A K loop of
``acc += tl.dot(a, b)`` with nothing else reading ``acc`` is lowered by chunks of K steps
instead (``dot_kloop``): the dot only packs, and a microkernel per chunk keeps the
accumulators in registers across its steps.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import llvmlite.ir as ll

from tritium.backends.cpu import dot_apanels as apanels
from tritium.backends.cpu import dot_kloop as kloop
from tritium.backends.cpu import dot_packed, memory
from tritium.backends.cpu import dot_panels as panels
from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.analysis import advanced_slot, writes_memory
from tritium.backends.cpu.casts import convert
from tritium.backends.cpu.codegen import LAZY_RULES, Lowering, statement
from tritium.backends.cpu.elementwise import call_intrinsic
from tritium.backends.cpu.prefetch import emit_prefetch
from tritium.backends.cpu.reduce import _Vars
from tritium.backends.cpu.tiles import Buffer, Index, Lazy, Pending, Scalar
from tritium.ir import Operation, Value
from tritium.ir import types as irt

# Accumulator vectors kept live in the K loop: 16 of AVX-512's 32 zmm; 8 of AVX2's 16 ymm, so
# that they, NR vectors of b and the broadcasts of a fit (16 there spilled in every K step).
# On Zen 3, 4 x 2 blocks (8 accumulators) ran an L1-resident K loop at 92% of the FMA peak and
# 6 x 2 (12, no spills either) at 70%: each broadcast of ``a`` costs a load-pipe slot.
_ACC_REGISTERS = 16
_ACC_REGISTERS_16 = 8


def _acc_registers(cx: Lowering) -> int:
    """Accumulator vectors the K loop may keep live on this target."""
    return _ACC_REGISTERS if cx.vw >= 16 else _ACC_REGISTERS_16


def _acc_type(result: irt.Type, a: irt.Type) -> irt.Type:
    r = irt.element_type(result)
    if isinstance(r, irt.IntType):
        return irt.i32 if r.width <= 32 else irt.i64
    if r == irt.f64 or irt.element_type(a) == irt.f64:
        return irt.f64
    return irt.f32


def _packed(cx: Lowering, v: Value, ct: irt.Type, dot: Operation | None = None) -> Buffer:
    """``v`` in a contiguous buffer of element type ``ct``. ``dot``: the consumer, when the
    copy may be made once per program for a ``v`` computed once per program, or reused from
    an earlier program of the same thread (``dot_panels``)."""
    ref = cx.refs[v]
    src = irt.element_type(v.type)
    if isinstance(ref, Transposed):
        return _transpose_pack(cx, ref, ct)
    if isinstance(ref, Buffer) and ref.is_contiguous and src == ct:
        return ref
    if isinstance(ref, Buffer) and _is_transposed_view(cx, ref):
        return _transpose_pack(cx, ref, ct)
    assert isinstance(v.type, irt.TensorType)
    if dot is not None and isinstance(ref, Buffer) and _once_per_program(cx, v, dot):
        return _packed_once(cx, v, ref, ct)
    buf = cx.alloc(v.type.shape, ct, name="pack")
    is_load = isinstance(ref, Lazy) and ref.op.name == "tt.load"
    step = _loop_step_bytes(cx, ref.op.operands[0]) if is_load else None  # type: ignore[union-attr]
    if step is None:
        cx.write_tile(v, buf, lambda x: _convert(cx, x, src, ct))
        return buf
    # A K loop's load of b (tutorial 03): each chunk's next-iteration address is fetched
    # while this one is packed. The tile's rows lie a runtime stride apart (4 KiB for
    # 1024 columns of fp32), too many streams for the hardware prefetcher: packing waits on
    # L2/L3 misses (skipping the packing altogether ran tutorial 03 up to 15% faster).
    ptr = ref.op.operands[0]  # type: ignore[union-attr]

    def pack(dest: Buffer) -> None:
        for idx in cx.chunks(v.type.shape):
            val = cx.eval(v, idx)
            first = cx.b.extract_element(cx.eval(ptr, idx), ll.Constant(lu.I32, 0))
            _prefetch(cx, cx.b.gep(cx.b.inttoptr(first, lu.PTR), [step], source_etype=lu.I8))
            cx.write_chunk(dest, idx, _convert(cx, val, src, ct))

    load = ref.op  # type: ignore[union-attr]
    if dot is not None and v is not dot.operands[1] and _PANEL_A:
        # a converted ``a`` (bf16/fp16 tutorial 03): kept per row table (``dot_apanels``)
        site = panels.site(cx, v, load, dot, operand=0)
        if site is not None:
            return apanels.reused(cx, site, v, load, step, buf, pack, _all_true)
    site = panels.site(cx, v, load, dot) if dot is not None else None
    if site is None:
        pack(buf)
        return buf
    return panels.reused(cx, site, v, load, step, buf, pack, _all_true)


def _once_per_program(cx: Lowering, v: Value, dot: Operation) -> bool:
    """``v`` is computed in the function's top-level block (so once per call) and ``dot``
    runs inside a region nested below it (a loop: flash attention's ``q`` under the K/V
    loop)."""
    top = cx.func.regions[0].block
    d = v.defining_op
    return d is not None and d.parent is top and dot.parent is not top


# per kernel being lowered: (id of the value, type) -> (its converted copy, the copy's flag)
_ONCE: weakref.WeakKeyDictionary[Lowering, dict[tuple[int, str], tuple[Buffer, ll.Value]]]
_ONCE = weakref.WeakKeyDictionary()


def _packed_once(cx: Lowering, v: Value, ref: Buffer, ct: irt.Type) -> Buffer:
    """The converted copy of ``v`` (a buffer computed once per program), made by the first
    dot that needs it in this program and reused by every later K step and dot: a bf16 ``q``
    was converted to fp32 again in every iteration of flash attention's loop. A flag, cleared
    where the program starts, says whether the copy is made yet."""
    b = cx.b
    cache = _ONCE.setdefault(cx, {})
    key = (id(v), str(ct))
    if key not in cache:
        buf = cx.alloc(ref.shape, ct, name="pack1")
        flag = lu.entry_alloca(b, cx.alloca_block, lu.I1, 1, align=1, name="packed1")
        blocks = cx.fn.basic_blocks
        here = b.block
        b.position_at_start(blocks[blocks.index(cx.alloca_block) + 1])  # where programs start
        b.store(ll.Constant(lu.I1, 0), flag)
        b.position_at_end(here)
        cache[key] = (buf, flag)
    buf, flag = cache[key]
    src = irt.element_type(v.type)
    with b.if_then(b.not_(b.load(flag, typ=lu.I1)), likely=False):
        cx.write_tile(v, buf, lambda x: _convert(cx, x, src, ct))
        b.store(ll.Constant(lu.I1, 1), flag)
    return buf


def _loop_step_bytes(cx: Lowering, ptr: Value) -> ll.Value | None:
    """Bytes by which the enclosing ``scf.for`` advances the pointer tile ``ptr`` each
    iteration (``ptrs += BLOCK_K * stride``), when ``ptr`` is such a carried tile and the
    step is known here; else None."""
    owner = ptr.owner
    if ptr.defining_op is not None or not hasattr(owner, "parent_op"):
        return None
    loop = owner.parent_op()  # type: ignore[union-attr]
    if loop is None or loop.name != "scf.for" or ptr.index == 0:
        return None
    elem = irt.element_type(ptr.type)
    step = advanced_slot(loop, ptr.index - 1)
    if step is None or not isinstance(elem, irt.PointerType):
        return None
    size = ll.Constant(lu.I64, lu.elem_size(elem.pointee))
    if isinstance(step, int):
        return cx.b.mul(ll.Constant(lu.I64, step), size)
    ref = cx.refs.get(step)
    if not isinstance(ref, Scalar):
        return None  # computed later in the loop body
    value = ref.value
    if value.type != lu.I64:
        value = cx.b.sext(value, lu.I64)
    return cx.b.mul(value, size)


def _prefetch(cx: Lowering, at: ll.Value) -> None:
    """A read prefetch into all cache levels: a hint that never faults."""
    args = [lu.PTR, lu.I32, lu.I32, lu.I32]
    fn = lu.intrinsic(cx.module, "llvm.prefetch.p0", ll.VoidType(), args)
    i32 = lambda x: ll.Constant(lu.I32, x)  # noqa: E731
    cx.b.call(fn, [at, i32(0), i32(3), i32(1)])


def _is_transposed_view(cx: Lowering, buf: Buffer) -> bool:
    """A 2-D view whose first dimension is the contiguous one (``tl.trans(k)``), in whole
    vector-width squares."""
    if len(buf.shape) != 2 or buf.strides[0] != 1 or buf.strides[1] < buf.shape[0]:
        return False
    return buf.shape[0] % cx.vw == 0 and buf.shape[1] % cx.vw == 0


@dataclass(frozen=True)
class Transposed:
    """``tl.trans(x)`` of a fused 2-D tile ``x`` that only a dot reads, as its ``b``: left
    unmaterialized so that the dot packs it transposed straight from ``x``'s chunks
    (``deferred_transpose``)."""

    src: Value


def deferred_transpose(cx: Lowering, op: Operation) -> bool:
    """Lower ``tt.trans`` as a :class:`Transposed` when its result is the ``b`` of a ``tt.dot``
    (its only use) in the same block with no write to memory in between, and its operand is a
    fused tile (attention's ``tl.dot(q, tl.trans(k))`` of a loaded ``k``) in whole W x W
    blocks. Materializing ``k`` first and then transposing the copy cost one more pass over
    the tile. Returns whether it did."""
    src, res = op.operands[0], op.result
    ref = cx.refs.get(src)
    if not _DEFER_TRANSPOSE or [int(i) for i in op.attrs["order"]] != [1, 0]:
        return False
    if len(irt.shape_of(src.type)) != 2:
        return False
    if not isinstance(ref, Lazy) or isinstance(ref, Pending):
        return False
    rows, cols = irt.shape_of(src.type)
    if rows % cx.vw or cols % cx.vw or len({id(u) for u in res.uses}) != 1:
        return False
    dot = res.uses[0]
    if dot.name != "tt.dot" or dot.parent is not op.parent or dot.operands[1] is not res:
        return False
    if any(o is res for o in (dot.operands[0], dot.operands[2])):
        return False
    ops = op.parent.ops
    between = ops[ops.index(op) + 1 : ops.index(dot)]
    # no store, and no other dot (one may accumulate in place into a buffer the tile reads)
    if any(writes_memory(o) or any(x.name == "tt.dot" for x in o.walk()) for o in between):
        return False
    cx.refs[res] = Transposed(src)  # type: ignore[assignment]
    return True


def _transpose_pack(cx: Lowering, view: Buffer | Transposed, ct: irt.Type) -> Buffer:
    """Copy a transposed view (or a :class:`Transposed` fused tile) into a row-major buffer of
    ``ct`` by W x W blocks transposed in registers: W contiguous loads (or chunks of the fused
    source, or :func:`_strided_rows`), log2(W) rounds of shuffles (:func:`_transpose_16`'s
    fixed patterns for 16 lanes of fp32), W contiguous stores (instead of one gather per
    output vector). ``ct`` may be the view's own 16-bit type (the bf16 operand of
    ``vdpbf16ps``): W lanes of bf16 shuffle just as well."""
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
            for j in range(w):
                idx = Index((b.add(r0, i32(j)), c0), w)
                vec = vecs[j] if lane_int is None else b.bitcast(vecs[j], lu.vec(src_ll, w))
                cx.write_chunk(out, idx, _convert(cx, vec, src_t, ct))
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


def _strided_rows(
    cx: Lowering, load: Value, w: int
) -> Callable[[ll.Value, ll.Value], list[ll.Value]] | None:
    """For a fused ``tt.load`` of contiguous rows at an affine address (tutorial 06's ``k``):
    a reader of the W chunks ``(c0 + i, r0)`` that takes row ``c0``'s address once and steps
    by the rows' stride (computed once, outside the packing loops), and shares the mask's
    parts that do not depend on the row (a block pointer's column bounds check) across the
    W rows. None for any other source (each row is then evaluated on its own)."""
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
    if not (memory._uniform(add.operands[0]) and _affine(add.operands[1])):
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

    def rows(c0: ll.Value, r0: ll.Value) -> list[ll.Value]:
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
        for i in range(w):
            row = b.add(c0, i32(i))
            idx = Index((row, r0), w, dict(shared))
            m = None
            if split is not None:
                m = row_mask(row, columns)
            elif mask is not None:
                m = cx.eval(mask, idx)
                if i == 0:
                    shared = {k: v for k, v in idx.cache.items() if k in invariant}
            address = base if i == 0 else b.add(base, b.mul(step, ll.Constant(lu.I64, i)))
            whole = None
            if split is None and mask is not None and not cx.target.has("avx512f"):
                whole = memory._all_enabled(cx, mask, Index((row, r0), w))
            emit_prefetch(cx, op, address)
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


def _affine(v: Value) -> bool:
    """:func:`memory._affine`, also through sign extensions (tutorial 06's block pointers
    widen their i32 ranges to i64 offsets; assuming no i32 wrap, as the addresses do)."""
    op = v.defining_op
    if op is not None and op.name == "arith.extsi":
        return _affine(op.operands[0])
    if memory._affine(v) or op is None:
        return memory._affine(v)
    if op.name in ("tt.expand_dims", "tt.broadcast"):
        return _affine(op.operands[0])
    if op.name in ("arith.addi", "arith.subi"):
        return all(_affine(o) for o in op.operands)
    return (
        op.name == "arith.muli"
        and any(memory._uniform(o) for o in op.operands)
        and all(_affine(o) for o in op.operands)
    )


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


def _convert(cx: Lowering, x: ll.Value, src: irt.Type, dst: irt.Type) -> ll.Value:
    if src == dst:
        return x
    if isinstance(dst, irt.IntType):
        target = lu.vec(lu.llvm_type(dst), x.type.count)
        return cx.b.sext(x, target) if src.bitwidth < dst.width else cx.b.trunc(x, target)  # type: ignore
    return convert(cx, x, src, dst)


def _in_place(cx: Lowering, c: Value, result: Value) -> bool:
    """Whether the dot may accumulate straight into ``c``'s buffer: ``c`` is a loop-carried
    tile used only here, and the result only flows back into the same loop slot."""
    block = c.owner
    if not hasattr(block, "parent_op") or c.defining_op is not None:
        return False
    loop = block.parent_op()  # type: ignore[union-attr]
    if loop is None or loop.name != "scf.for" or c.index == 0:
        return False
    if len({id(u) for u in c.uses}) != 1 or len(result.uses) != 1:
        return False
    yield_op = result.uses[0]
    slot = c.index - 1
    return (
        yield_op.name == "scf.yield"
        and yield_op.parent is block
        and yield_op.operands[slot] is result
    )


def _is_zero(v: Value, positive: bool = False) -> bool:
    """``v`` is a constant zero (``positive``: +0.0, not -0.0, for a float)."""
    op = v.defining_op
    while op is not None and op.name in ("tt.splat", "tt.broadcast"):
        v = op.operands[0]
        op = v.defining_op
    if op is None or op.name != "arith.constant" or op.attrs["value"] != 0:
        return False
    return not positive or math.copysign(1.0, op.attrs["value"]) > 0


def _available_before(v: Value, anchor: Operation) -> bool:
    """Whether ``v`` is computed before ``anchor`` runs (defined earlier in its block, or in an
    enclosing block, or a block argument of an enclosing region)."""
    d = v.defining_op
    if d is None:
        owner = v.owner
        probe: Operation | None = anchor
        while probe is not None:
            if probe.parent is owner:
                return True
            probe = probe.parent_op()
        return False
    probe = anchor
    while probe is not None:
        if d.parent is probe.parent:
            return probe.parent.ops.index(d) < probe.parent.ops.index(probe)
        probe = probe.parent_op()
    return False


def _fold_accumulate(cx: Lowering, op: Operation) -> tuple[Value, Operation] | None:
    """``acc + tl.dot(a, b)`` arrives as ``addf(dot(a, b, 0), acc)``: accumulate into ``acc``
    directly (Triton's combine pass does the same rewrite). Returns (acc, the add)."""
    res = op.result
    if not _is_zero(op.operands[2]) or len({id(u) for u in res.uses}) != 1:
        return None
    add = res.uses[0]
    if add.name not in ("arith.addf", "arith.addi") or add.parent is not op.parent:
        return None
    if add.operands[0] is res and add.operands[1] is not res:
        other = add.operands[1]
    elif add.operands[1] is res and add.operands[0] is not res:
        other = add.operands[0]
    else:
        return None
    if other.type != res.type or not _available_before(other, op):
        return None
    return other, add


@statement("tt.dot")
def _dot(cx: Lowering, op: Operation) -> None:
    a, b, c = op.operands
    res = op.result
    folded = _fold_accumulate(cx, op)
    if folded is not None:
        c, add = folded
        cx.folded.add(add)
        res = add.result
    plan = kloop.plan_of(cx, op)
    if plan is not None:  # a K loop lowered as one dot: this step only packs
        plan.pack_step(a, b)
        cx.refs[res] = cx.refs[c]  # unchanged until the chunk's microkernel runs
        plan.after_step(c)
        return
    ct = _acc_type(res.type, a.type)
    a_shape, b_shape = irt.shape_of(a.type), irt.shape_of(b.type)
    batched = len(a_shape) == 3
    bs = a_shape[0] if batched else 1
    m, k = a_shape[-2:]
    n = b_shape[-1]
    kind = dot_packed.applies(cx, a, b, ct)
    direct = _row_source(cx, a, ct) if kind is None else None
    if kind is None:
        streamed = _streams(cx, b, m, n, bs)
        pb = None if streamed else _packed(cx, b, ct, op)
        pa = None if direct is not None else _packed(cx, a, ct, op)
    c_ref = cx.refs[c]
    zero_start = False
    fused_start: Value | None = None
    if (
        isinstance(c_ref, Buffer)
        and c_ref.is_contiguous
        and c_ref.elem == ct
        and _in_place(cx, c, res)
    ):
        acc = c_ref
    else:
        acc = cx.alloc(irt.shape_of(res.type), ct, name="acc")
        # A zero ``c`` (``tl.dot(q, tl.trans(k))``) starts the microkernel's registers at
        # zero instead of filling and re-reading a buffer: the blocks write all of ``acc``.
        zero_start = kind is None and _is_zero(c, positive=True)
        if kind is None and not zero_start and isinstance(c_ref, Lazy):
            # A fused ``c`` (flash attention's ``acc * alpha[:, None]``) is computed into
            # the registers where each block starts: one pass over the tile fewer.
            fused_start = c
        elif not zero_start:
            cx.write_tile(c, acc, lambda x: _convert(cx, x, irt.element_type(c.type), ct))
    start = _Start(zero_start, fused_start)
    if kind is not None:
        b_ref = cx.refs[b]
        b_buf = None
        if isinstance(b_ref, Transposed) or (
            isinstance(b_ref, Buffer) and _is_transposed_view(cx, b_ref)
        ):
            b_buf = _transpose_pack(cx, b_ref, kind.elem)  # tl.trans(k): W x W in registers
        dot_packed.packed_dot(cx, a, b, acc, kind, b_buf)
    elif direct is not None:
        pb_or_b = pb if pb is not None else b
        _direct_or_packed(cx, direct, a, pb_or_b, acc, m, n, k, ct, start, op)
    else:
        assert pa is not None
        _microkernel(cx, pa, pb if pb is not None else b, acc, bs, m, n, k, ct, start)
    out_t = irt.element_type(res.type)
    if out_t == ct:
        cx.refs[res] = acc
        return
    out = cx.alloc(acc.shape, out_t)
    for idx in cx.chunks(acc.shape):
        cx.write_chunk(out, idx, _convert(cx, cx.read_buffer(acc, idx), ct, out_t))
    cx.refs[res] = out


@dataclass(frozen=True)
class _Start:
    """Where the microkernel's accumulators start instead of ``acc``'s contents: at zero, or
    as the chunks of a fused tile ``c``. Either way the blocks write all of ``acc``."""

    zero: bool = False
    fused: Value | None = None


@dataclass(frozen=True)
class _RowSource:
    """``a`` read where it lies: a fused load whose rows are contiguous along K (stride 1), so
    that the microkernel broadcasts ``a[r, kk]`` from row ``r``'s first address plus ``kk``
    instead of from a packed copy. Packing ``a`` cost a pointer load, a load and a store per
    chunk for every chunk of every K step (a tenth of tutorial 03's time on Zen 3). When the
    mask is not all set (``use_source`` false at run time), the rows are those of ``packed``."""

    ptr: Value  # the load's pointer tile
    mask: Value | None
    packed: Buffer | None = None
    use_source: ll.Value | None = None


def _row_source(cx: Lowering, a: Value, ct: irt.Type) -> _RowSource | None:
    """``a`` as a :class:`_RowSource` when it is a fused 2-D load of ``ct`` elements (no
    conversion to do) with rows contiguous along K."""
    ref = cx.refs[a]
    if not isinstance(ref, Lazy) or ref.op.name != "tt.load" or ref.op.attrs.get("volatile"):
        return None
    if irt.element_type(a.type) != ct or not isinstance(ct, irt.FloatType):
        return None
    if len(irt.shape_of(a.type)) != 2:
        return None
    ptr = ref.op.operands[0]
    if cx.stride(ptr) != 1:
        return None
    return _RowSource(ptr, ref.op.operands[1] if len(ref.op.operands) > 1 else None)


def _all_true(cx: Lowering, mask: Value) -> ll.Value:
    """i1: every element of the tile ``mask`` is set. A ``tt.broadcast`` is looked through
    (tutorial 03's K mask is a 1 x BLOCK_K row broadcast over the rows): its source has the
    same elements."""
    b = cx.b
    src = mask
    while src.defining_op is not None and src.defining_op.name == "tt.broadcast":
        src = src.defining_op.operands[0]
    whole = memory.whole_tile(cx, src)  # from the corners, without a loop over the tile
    if whole is not None:
        return whole
    flag = lu.entry_alloca(b, cx.alloca_block, lu.I1, 1, align=1, name="alltrue")
    b.store(ll.Constant(lu.I1, 1), flag)
    for idx in cx.chunks(irt.shape_of(src.type)):
        v = cx.eval(src, idx)
        red = f"llvm.vector.reduce.and.{lu.type_suffix(v.type)}"
        whole = b.call(lu.intrinsic(cx.module, red, lu.I1, [v.type]), [v])
        b.store(b.and_(b.load(flag, typ=lu.I1), whole), flag)
    return b.load(flag, typ=lu.I1)


def _direct_or_packed(
    cx: Lowering,
    src: _RowSource,
    a: Value,
    pb: Buffer | Value,
    acc: Buffer,
    m: int,
    n: int,
    k: int,
    ct: irt.Type,
    start: _Start,
    dot: Operation,
) -> None:
    """The microkernel on ``a`` copied row by row from its source rows when its mask is all
    set (every K step of tutorial 03 but a ragged last one), else packed chunk by chunk; in a
    K loop, the copies are kept per row table (``dot_apanels``). Reading ``a`` at its source
    rows instead (``_PACK_A`` off, for A/B timing) waited on them: their power-of-two stride
    maps them to a few cache sets (``dot_apanels``' docstring); one microkernel then reads
    row addresses that point at the source or at a packed copy (two copies of it cost
    compile time)."""
    if _PACK_A:
        buf = cx.alloc(irt.shape_of(a.type), ct, name="packa")

        def pack(dest: Buffer) -> None:
            if src.mask is None:
                _copy_rows(cx, src, dest, m, k, ct)
                return
            with cx.b.if_else(_all_true(cx, src.mask), likely=True) as (whole, masked):
                with whole:
                    _copy_rows(cx, src, dest, m, k, ct)
                with masked:
                    cx.write_tile(a, dest)  # masked-off elements read as `other`

        load = cx.refs[a].op  # type: ignore[union-attr]
        step = _loop_step_bytes(cx, src.ptr)
        site = panels.site(cx, a, load, dot, operand=0) if step is not None else None
        if site is None or not _PANEL_A:
            pack(buf)
            packed = buf
        else:
            packed = apanels.reused(cx, site, a, load, step, buf, pack, _all_true)
        _microkernel(cx, packed, pb, acc, 1, m, n, k, ct, start)
        return
    if src.mask is not None:
        ok = _all_true(cx, src.mask)
        packed = cx.alloc(irt.shape_of(a.type), ct, name="pack")
        with cx.b.if_then(cx.b.not_(ok), likely=False):
            cx.write_tile(a, packed)  # masked-off elements read as `other`
        src = _RowSource(src.ptr, src.mask, packed, ok)
    _microkernel(cx, src, pb, acc, 1, m, n, k, ct, start)


# for A/B timing in one process (benchmarks), not user settings: copy a's source rows, keep the
# copies in a panels, pack tl.trans(k) straight from k's load
_PACK_A = True
_PANEL_A = True
_DEFER_TRANSPOSE = True
_SOURCE_ROWS_OUTER = True  # ``_transpose_pack``'s loop order (False: the order before)
_STRIDED_ROWS = True  # ``_transpose_pack`` reads a fused load's rows by stride (False: one by one)
_UNPACK16 = True  # ``_transpose_16``'s fixed-pattern transpose of 16 x 16 (False: butterfly)
_SPLIT_MASK = True  # ... and builds each row's mask from the row's scalar test (False: per row)


def _copy_rows(cx: Lowering, src: _RowSource, dest: Buffer, m: int, k: int, ct: irt.Type) -> None:
    """Copy the ``m`` source rows of ``a`` (each ``k`` contiguous elements) into the row-major
    ``dest``, prefetching what each row holds just past them (the next K step's tile)."""
    b = cx.b
    i32 = lambda x: ll.Constant(lu.I32, x)  # noqa: E731
    w = cx.chunk_width((k,))
    vt = lu.vec(lu.llvm_type(ct), w)
    size = ct.bitwidth // 8
    with lu.for_range(b, i32(0), i32(m), name="pa.r") as row:
        first = cx.eval(src.ptr, Index((row, i32(0)), 1))
        at = b.inttoptr(b.extract_element(first, i32(0)), lu.PTR)
        _prefetch_next_step(cx, [at], k, ct)
        for kk in range(0, k, w):
            x = b.load(b.gep(at, [i32(kk)], source_etype=lu.llvm_type(ct)), typ=vt, align=size)
            cx.write_chunk(dest, Index((row, i32(kk)), w), x)


def _prefetch_next_step(cx: Lowering, rows: list[ll.Value], k: int, ct: irt.Type) -> None:
    """Prefetch what each row of ``a`` holds just past this dot's K range: where tutorial 03's
    next K step reads (``a_ptrs += BLOCK_K``), so that it comes from L1 rather than L2/L3,
    which the hardware prefetcher does not cover for dozens of rows at once. A hint only: a
    wrong guess costs a cache line and never faults."""
    b = cx.b
    size = ct.bitwidth // 8
    span = min(k * size, 4 * 64)
    for row in rows:
        for off in range(0, span, 64):
            _prefetch(cx, b.gep(row, [ll.Constant(lu.I64, k * size + off)], source_etype=lu.I8))


def _blocking(m: int, n: int, w: int, regs: int) -> tuple[int, int]:
    """(MR, NR): rows x vectors of columns of accumulators kept in registers (``regs`` of
    them at most). ``m`` need not be a multiple of MR: the last block of rows is shorter."""
    nr = 2 if (n // w) % 2 == 0 else 1
    mr = max(1, min(m, regs // nr))
    if m % mr and m % mr < mr // 2:
        # a short tail wastes FMA latency slots: prefer an exact divisor when one is close
        d = mr
        while m % d:
            d -= 1
        if 2 * d > mr:
            mr = d
    return mr, nr


def _streams(cx: Lowering, b: Value, m: int, n: int, bs: int) -> bool:
    """Whether the microkernel reads ``b`` at its source instead of from a packed copy: ``b``
    is a fused tile (e.g. a masked load of V used only by this dot, with no store in between:
    see analysis.classify_lazy) and one block of rows covers all of ``a``, so each of its
    chunks is read exactly once. Packing would copy it to the stack first."""
    if bs != 1 or len(irt.shape_of(b.type)) != 2 or not isinstance(cx.refs[b], Lazy):
        return False
    mr, _ = _blocking(m, n, cx.chunk_width((n,)), _acc_registers(cx))
    return mr == m


def _microkernel(
    cx: Lowering,
    pa: Buffer | _RowSource,
    pb: Buffer | Value,
    acc: Buffer,
    bs: int,
    m: int,
    n: int,
    k: int,
    ct: irt.Type,
    start: _Start | None = None,
) -> None:
    """``pb``: the packed ``b``, or ``b`` itself as a fused value (see ``_streams``).
    ``start``: where the accumulators start, when not from ``acc``."""
    b = cx.b
    w = cx.chunk_width((n,))
    mr, nr = _blocking(m, n, w, _acc_registers(cx))
    is_int = isinstance(ct, irt.IntType)
    i32 = lambda x: ll.Constant(lu.I32, x)  # noqa: E731

    def rows_of(batch: ll.Value, row0: ll.Value, mr: int) -> list[ll.Value]:
        """Each row's first address in ``a``'s source, once per block of rows (the column
        blocks that follow reuse them and the rows' lines in L1)."""
        if not isinstance(pa, _RowSource):
            return []
        rows = []
        zero = i32(0)
        for r in range(mr):
            row = b.add(row0, i32(r))
            first = cx.eval(pa.ptr, Index((row, zero), 1))
            at = b.inttoptr(b.extract_element(first, zero), lu.PTR)
            if pa.packed is not None and pa.use_source is not None:
                packed_row, _ = cx.elem_ptr(pa.packed, Index((row, zero), 1))
                at = b.select(pa.use_source, at, packed_row)
            rows.append(at)
        _prefetch_next_step(cx, rows, k, ct)
        return rows

    def block_of(
        batch: ll.Value, row0: ll.Value, col0: ll.Value, mr: int, rows: list[ll.Value]
    ) -> None:
        def acc_idx(r: int, v: int) -> Index:
            row = b.add(row0, i32(r))
            col = b.add(col0, i32(v * w))
            dims = (batch, row, col) if bs > 1 or len(acc.shape) == 3 else (row, col)
            return Index(dims, w)

        if start is not None and start.zero:
            zero = ll.Constant(lu.vec(lu.llvm_type(ct), w), None)
            regs = [zero] * (mr * nr)
        elif start is not None and start.fused is not None:
            c, c_t = start.fused, irt.element_type(start.fused.type)
            regs = [
                _convert(cx, cx.eval(c, acc_idx(r, v)), c_t, ct)
                for r in range(mr)
                for v in range(nr)
            ]
        else:
            regs = [cx.read_buffer(acc, acc_idx(r, v)) for r in range(mr) for v in range(nr)]
        carried = _Vars(cx, regs)
        with lu.for_range(b, i32(0), i32(k), name="k") as kk:
            cur = carried.get()
            bvecs = []
            for v in range(nr):
                col = b.add(col0, i32(v * w))
                if isinstance(pb, Value):
                    x = cx.eval(pb, Index((kk, col), w))
                    bvecs.append(_convert(cx, x, irt.element_type(pb.type), ct))
                    continue
                dims = (batch, kk, col) if len(pb.shape) == 3 else (kk, col)
                bvecs.append(cx.read_buffer(pb, Index(dims, w)))
            new = []
            for r in range(mr):
                if isinstance(pa, _RowSource):
                    at = b.gep(rows[r], [kk], source_etype=lu.llvm_type(ct), inbounds=True)
                    a_s = lu.splat(b, b.load(at, typ=lu.llvm_type(ct), align=ct.bitwidth // 8), w)
                else:
                    row = b.add(row0, i32(r))
                    dims = (batch, row, kk) if len(pa.shape) == 3 else (row, kk)
                    a_s = lu.splat(b, cx.read_buffer(pa, Index(dims, 1)), w)
                for v in range(nr):
                    prev = cur[r * nr + v]
                    if is_int:
                        new.append(b.add(prev, b.mul(a_s, bvecs[v])))
                    else:
                        new.append(call_intrinsic(cx, "fmuladd", [a_s, bvecs[v], prev]))
            carried.set(new)
        out = carried.get()
        for r in range(mr):
            for v in range(nr):
                cx.write_chunk(acc, acc_idx(r, v), out[r * nr + v])

    rows_outer = isinstance(pa, _RowSource)
    if bs == 1:
        _rows_cols(cx, rows_of, block_of, i32(0), m, n, mr, nr * w, rows_outer)
    else:
        with lu.for_range(b, i32(0), i32(bs), name="batch") as bi:
            _rows_cols(cx, rows_of, block_of, bi, m, n, mr, nr * w, rows_outer)


def _rows_cols(
    cx: Lowering,
    rows_of: Callable[[ll.Value, ll.Value, int], list[ll.Value]],
    block_of: Callable[[ll.Value, ll.Value, ll.Value, int, list[ll.Value]], None],
    batch: ll.Value,
    m: int,
    n: int,
    mr: int,
    ncols: int,
    rows_outer: bool,
) -> None:
    """Call ``block_of(batch, row0, col0, rows, setup)`` over the blocks of the ``m x n``
    result: full blocks of ``mr`` rows, then one shorter block for the ``m % mr`` rows left;
    ``setup = rows_of(batch, row0, rows)`` for each block of rows.

    ``rows_outer`` (``a`` read at its source rows, tutorial 03): blocks of rows outside,
    columns inside, ``setup`` once per block of rows. A block's ``MR`` rows of ``a`` stay in
    L1 across the column blocks while the packed ``b`` (one K step, a few KiB) is re-read
    from L1. Columns outside re-read all of ``a``'s K step per column block, and its source
    rows, a power-of-two stride apart, conflict in L1's sets: 0.63-0.74 of OpenBLAS vs
    0.76-0.83 (tutorial 03, 1024^3 fp32, 64x64x32 blocks, one Zen 3 core, process time).
    Otherwise columns outside: a packed ``a`` has no set conflicts, and one column block of
    ``b`` stays in L1 while ``a`` is re-read (flash attention's 64 x 64 x 64 dots, whose
    ``b`` of 16 KiB would be re-read per block of rows, ran slower the other way)."""
    b = cx.b
    i32 = lambda x: ll.Constant(lu.I32, x)  # noqa: E731

    def col_blocks(row0: ll.Value, rows: int) -> None:
        setup = rows_of(batch, row0, rows)
        if n == ncols:
            block_of(batch, row0, i32(0), rows, setup)
            return
        with lu.for_range(b, i32(0), i32(n), ncols, name="nb") as col0:
            block_of(batch, row0, col0, rows, setup)

    full = m - m % mr

    def row_blocks(col0: ll.Value) -> None:
        if full:
            with lu.for_range(b, i32(0), i32(full), mr, name="mb") as row0:
                block_of(batch, row0, col0, mr, rows_of(batch, row0, mr))
        if m % mr:
            block_of(batch, i32(full), col0, m % mr, rows_of(batch, i32(full), m % mr))

    if not rows_outer:
        if n == ncols:
            row_blocks(i32(0))
        else:
            with lu.for_range(b, i32(0), i32(n), ncols, name="nb") as col0:
                row_blocks(col0)
        return
    if full:
        with lu.for_range(b, i32(0), i32(full), mr, name="mb") as row0:
            col_blocks(row0, mr)
    if m % mr:
        col_blocks(i32(full), m % mr)
