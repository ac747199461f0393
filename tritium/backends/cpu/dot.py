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
in its own 16/8-bit type for the dot-product instructions of ``dot_packed``
(``dot_transpose``); against a few rows of ``a`` (decode attention's GQA group) such a fused
``k`` is not packed: the dot is reduced along K in lanes (``dot_lanes``). Packing a
``b`` that a K loop advances (``b_ptrs += BLOCK_K * stride_bk``) prefetches the next step
(operands a loop addresses from its variable afresh prefetch as they are loaded: ``prefetch``),
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
from tritium.backends.cpu import dot_lanes, dot_masked, dot_packed, memory
from tritium.backends.cpu import dot_panels as panels
from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.analysis import advanced_slot, stride_wraps, writes_memory
from tritium.backends.cpu.casts import convert
from tritium.backends.cpu.codegen import Lowering, statement
from tritium.backends.cpu.dot_transpose import Transposed
from tritium.backends.cpu.dot_transpose import transpose_pack as _transpose_pack
from tritium.backends.cpu.elementwise import call_intrinsic
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
        if not (dot is not None and v is dot.operands[1] and _copied_rows(cx, v, buf, ct)):
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


def _copied_rows(cx: Lowering, b: Value, buf: Buffer, ct: irt.Type) -> bool:
    """Copy ``b`` (a fused load of rows contiguous along N, in ``ct``: attention's ``v``) row
    by row with plain loads when its mask is all set (tutorial 06: 0-3 % faster than masked
    chunks), else chunk by chunk; False when its mask cannot be tested from its corners."""
    src = _row_source(cx, b, ct) if _COPY_B else None
    if src is None:
        return False
    rows, cols = irt.shape_of(b.type)
    if src.mask is None:
        _copy_rows(cx, src, buf, rows, cols, ct, prefetch=False)
        return True
    whole = memory.whole_tile(cx, src.mask, widened=True)  # block pointers' i64 offsets
    if whole is None:
        return False
    with cx.b.if_else(whole, likely=True) as (full, masked):
        with full:
            _copy_rows(cx, src, buf, rows, cols, ct, prefetch=False)
        with masked:
            cx.write_tile(b, buf)  # masked-off elements read as `other`
    return True


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
    # a few rows against tl.trans(k), from zero: reduced along K in lanes, k not packed
    lanes = kind is None and _is_zero(c, positive=True) and dot_lanes.applies(cx, a, b, ct)
    direct = _row_source(cx, a, ct) if kind is None and not lanes else None
    if kind is None:
        streamed = _streams(cx, b, m, n, bs)
        pb = None if streamed or lanes else _packed(cx, b, ct, op)
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
    dead = dot_masked.dead_blocks(cx, op) if zero_start and folded is None else None
    keys = dot_masked.live_keys(cx, a, k) if kind is None and not lanes else None
    start = _Start(zero_start, fused_start, dead, keys)
    if kind is not None:
        b_ref = cx.refs[b]
        b_buf = None
        if isinstance(b_ref, Transposed) or (
            isinstance(b_ref, Buffer) and _is_transposed_view(cx, b_ref)
        ):
            b_buf = _transpose_pack(cx, b_ref, kind.elem)  # tl.trans(k): W x W in registers
        dot_packed.packed_dot(cx, a, b, acc, kind, b_buf)
    elif lanes:
        assert pa is not None and zero_start
        dot_lanes.lanes_dot(cx, pa, cx.refs[b], acc, _acc_registers(cx))  # type: ignore[arg-type]
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
    as the chunks of a fused tile ``c``. Either way the blocks write all of ``acc``. ``dead``
    and ``keys``: the register blocks a mask discards, and the keys each block of rows needs
    (``dot_masked``)."""

    zero: bool = False
    fused: Value | None = None
    dead: dot_masked.BlockTest | None = None
    keys: dot_masked.KeyCount | None = None


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
    if cx.stride(ptr) != 1 or stride_wraps(ptr) != []:  # rows read whole, not per 16 lanes
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


# for A/B timing in one process (benchmarks), not user settings: copy a's source rows (and b's),
# keep the copies in a panels, pack tl.trans(k) straight from k's load
_PACK_A = True
_COPY_B = True
_PANEL_A = True
_DEFER_TRANSPOSE = True


def _copy_rows(
    cx: Lowering, src: _RowSource, dest: Buffer, m: int, k: int, ct: irt.Type, prefetch: bool = True
) -> None:
    """Copy the ``m`` source rows of ``a`` (each ``k`` contiguous elements) into the row-major
    ``dest``, prefetching (``prefetch``) what each row holds just past them (the next K step's
    tile)."""
    b = cx.b
    i32 = lambda x: ll.Constant(lu.I32, x)  # noqa: E731
    w = cx.chunk_width((k,))
    vt = lu.vec(lu.llvm_type(ct), w)
    size = ct.bitwidth // 8
    with lu.for_range(b, i32(0), i32(m), name="pa.r") as row:
        first = cx.eval(src.ptr, Index((row, i32(0)), 1))
        at = b.inttoptr(b.extract_element(first, i32(0)), lu.PTR)
        if prefetch:
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
        three = bs > 1 or len(acc.shape) == 3

        def acc_idx(r: int, v: int) -> Index:
            row = b.add(row0, i32(r))
            col = b.add(col0, i32(v * w))
            return Index((batch, row, col) if three else (row, col), w)

        corner = Index((batch, row0, col0) if three else (row0, col0), w)
        acc_at = cx.chunk_at(acc, corner)  # the block's accumulators: one address

        def acc_ptr(r: int, v: int) -> ll.Value:
            return acc_at(0, r, v * w) if three else acc_at(r, v * w)

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
            regs = [
                cx.read_buffer(acc, corner, acc_ptr(r, v)) for r in range(mr) for v in range(nr)
            ]
        guard = merge = None
        if start is not None and start.dead is not None:  # no products where none is kept
            guard = b.block
            live, merge = b.append_basic_block("live"), b.append_basic_block("live.end")
            b.cbranch(start.dead(row0, col0, mr, nr * w), merge, live)
            b.position_at_end(live)
        steps, name = i32(k), "k"
        if start is not None and start.keys is not None:  # the keys the block's rows keep
            steps, name = start.keys(row0, mr), "kept"
        pre = b.block
        with lu.for_range(b, i32(0), steps, name=name, runs=True) as kk:
            # the accumulators as phis of the loop (it has constant bounds: its first block is
            # its header); in allocas that mem2reg promotes, each K step loaded and stored
            # every one (a seventh of tutorial 06's unoptimized IR, issue 13)
            assert all(isinstance(i, ll.PhiInstr) for i in b.block.instructions)
            carried = [b.phi(v.type) for v in regs]
            for phi, v in zip(carried, regs, strict=True):
                phi.add_incoming(v, pre)
            cur: list[ll.Value] = list(carried)
            bvecs = []
            if isinstance(pb, Buffer):  # the K step's row of b's block
                b_row = Index((batch, kk, col0)[3 - len(pb.shape) :], w)
                b_at = cx.chunk_at(pb, b_row) if pb.strides[-1] == 1 else None
            for v in range(nr):
                if isinstance(pb, Value):
                    # an odd chunk of a pair of 32-byte ones shares the even one's line
                    cx.same_line = v % 2 == 1 and nr % 2 == 0 and w * lu.elem_size(pb.type) == 32
                    x = cx.eval(pb, Index((kk, b.add(col0, i32(v * w))), w))
                    cx.same_line = False
                    bvecs.append(_convert(cx, x, irt.element_type(pb.type), ct))
                elif b_at is None:  # a strided view: gathers, each from its own offset
                    col = b.add(col0, i32(v * w))
                    dims = (batch, kk, col) if len(pb.shape) == 3 else (kk, col)
                    bvecs.append(cx.read_buffer(pb, Index(dims, w)))
                else:
                    bvecs.append(cx.read_buffer(pb, b_row, b_at(*(0, 0, v * w)[-len(pb.shape) :])))
            if not isinstance(pa, _RowSource):  # the K step's column of a's block
                a_col = Index((batch, row0, kk)[3 - len(pa.shape) :], 1)
                a_at = cx.chunk_at(pa, a_col)
            new = []
            for r in range(mr):
                if isinstance(pa, _RowSource):
                    at = b.gep(rows[r], [kk], source_etype=lu.llvm_type(ct), inbounds=True)
                    a_s = lu.splat(b, b.load(at, typ=lu.llvm_type(ct), align=ct.bitwidth // 8), w)
                else:
                    at = a_at(*(0, r, 0)[-len(pa.shape) :])
                    a_s = lu.splat(b, cx.read_buffer(pa, a_col, at), w)
                for v in range(nr):
                    prev = cur[r * nr + v]
                    if is_int:
                        new.append(b.add(prev, b.mul(a_s, bvecs[v])))
                    else:
                        new.append(call_intrinsic(cx, "fmuladd", [a_s, bvecs[v], prev]))
            for phi, v in zip(carried, new, strict=True):
                phi.add_incoming(v, b.block)  # the loop's latch
        out = new  # the last step's: the loop's one exit is its latch's
        if guard is not None and merge is not None:
            b.branch(merge)
            end = b.block
            b.position_at_end(merge)
            out = []
            for x, r in zip(new, regs, strict=True):  # a dead block keeps its start (zero)
                phi = b.phi(x.type)
                phi.add_incoming(x, end)
                phi.add_incoming(r, guard)
                out.append(phi)
        for r in range(mr):
            for v in range(nr):
                cx.write_chunk(acc, corner, out[r * nr + v], acc_ptr(r, v))

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
