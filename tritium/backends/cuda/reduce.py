"""Reductions: in-thread, then a butterfly of warp shuffles, then shared memory across warps.

For a reduction along parent dim ``d`` of a tile in layout ``L`` (``layouts.py``):

1. each thread combines its registers along ``d`` (those holding distinct elements);
2. ``log2(lanes)`` rounds of ``shfl.sync.bfly`` combine across the lanes that differ along
   ``d`` (the lane-id bits :func:`layouts.lane_bits` names; only as many as hold distinct
   elements); after the butterfly every such lane holds the warp's result;
3. where warps also split ``d``, each writes its partial to shared memory
   (slot ``row * W + warp_d``), and after a barrier every thread combines the ``W`` partials
   in warp order, so all threads agree bit for bit.

The result lives in ``L.slice(d)``. The combine region is lowered as scalar code each time it
is applied, so user-defined combine functions and multi-operand reductions (argmin/argmax)
work.
"""

from __future__ import annotations

import math

import llvmlite.ir as ll

from tritium.backends.cpu.llvm_utils import I1, I16, I32, I64, BFloatType, llvm_type, mem_type
from tritium.backends.cuda.layouts import Layout, lane_bits, warp_stride
from tritium.backends.cuda.lowering import Lowering, _flat, _indices, _size, statement
from tritium.ir import Operation
from tritium.ir import types as irt

__all__ = ["combine", "reduction_plan", "shfl", "shfl_xor"]


def reduction_plan(layout: Layout, d: int) -> tuple[int, list[int], int]:
    """(registers combined in-thread, xor masks of the shuffle rounds, warps combined through
    shared memory) for reducing ``layout`` along parent dim ``d``."""
    size = layout.full_shape[d]
    spt, tpw, wpc = layout.spt[d], layout.tpw[d], layout.wpc[d]
    in_thread = min(layout.regs_along(d), size)
    lanes = max(1, min(tpw, size // spt))
    warps = max(1, min(wpc, size // (spt * tpw)))
    return in_thread, lane_bits(layout, d)[: int(math.log2(lanes))], warps


def shfl_xor(cx: Lowering, v: ll.Value, mask: int) -> ll.Value:
    """``v`` from the lane ``lane ^ mask`` (any scalar type)."""
    return shfl(cx, v, "bfly", mask)


_CLAMP = {"bfly": 31, "idx": 31, "down": 31, "up": 0}


def shfl(cx: Lowering, v: ll.Value, mode: str, arg: int | ll.Value) -> ll.Value:
    """``shfl.sync.{mode}`` of ``v`` (any scalar type; 64-bit values as two halves): ``bfly``
    from lane ``lane ^ arg``, ``up``/``down`` from ``lane -/+ arg`` (its own value past the
    warp's edge), ``idx`` from lane ``arg``."""
    b = cx.b
    t = v.type
    lane_arg = arg if isinstance(arg, ll.Value) else ll.Constant(I32, arg)

    def sh(x: ll.Value) -> ll.Value:
        args = [ll.Constant(I32, -1), x, lane_arg, ll.Constant(I32, _CLAMP[mode])]
        return cx.intrinsic(f"llvm.nvvm.shfl.sync.{mode}.i32", I32, args)

    if t == I32:
        return sh(v)
    if isinstance(t, ll.FloatType):
        return b.bitcast(sh(b.bitcast(v, I32)), t)
    if isinstance(t, ll.IntType) and t.width < 32:
        return b.trunc(sh(b.zext(v, I32)), t)
    if isinstance(t, (ll.HalfType, BFloatType)):
        return b.bitcast(b.trunc(sh(b.zext(b.bitcast(v, I16), I32)), I16), t)
    wide = b.bitcast(v, I64) if t != I64 else v
    lo = sh(b.trunc(wide, I32))
    hi = sh(b.trunc(b.lshr(wide, ll.Constant(I64, 32)), I32))
    out = b.or_(b.zext(lo, I64), b.shl(b.zext(hi, I64), ll.Constant(I64, 32)))
    return out if t == I64 else b.bitcast(out, t)


def combine(cx: Lowering, op: Operation, lhs: list[ll.Value], rhs: list[ll.Value]) -> list:
    """Apply ``op``'s combine region to two tuples of scalars."""
    block = op.regions[0].block
    for arg, v in zip(block.args, [*lhs, *rhs], strict=True):
        cx.vals[arg] = v
    cx.lower_block(block)
    ret = block.terminator
    assert ret is not None
    return [cx.scalar(v) for v in ret.operands]


@statement("tt.reduce")
def _reduce(cx: Lowering, op: Operation) -> None:
    axis = int(op.attrs["axis"])
    src0 = op.operands[0]
    layout = cx.assign.home[src0] if src0 not in cx.assign.remat else None
    layout = layout or cx.assign.default(irt.shape_of(src0.type))
    regs = [cx.get(v, layout) for v in op.operands]
    d = layout.dims[axis]
    out_layout = layout.slice(axis)
    in_thread, masks, warps = reduction_plan(layout, d)
    accs: list[list[ll.Value]] = []
    for ridx in _indices(out_layout.reg_shape):
        acc: list[ll.Value] | None = None
        for k in range(in_thread):
            f = _flat(ridx[:axis] + (k,) + ridx[axis:], layout.reg_shape)
            cur = [r[f] for r in regs]
            acc = cur if acc is None else combine(cx, op, acc, cur)
        assert acc is not None
        for m in masks:
            acc = combine(cx, op, acc, [shfl_xor(cx, v, m) for v in acc])
        accs.append(acc)
    if warps > 1:
        accs = _across_warps(cx, op, layout, out_layout, d, warps, accs)
    for i, res in enumerate(op.results):
        if isinstance(res.type, irt.TensorType):
            cx.vals[res] = [acc[i] for acc in accs]
        else:
            cx.vals[res] = accs[0][i]


def _across_warps(
    cx: Lowering,
    op: Operation,
    layout: Layout,
    out_layout: Layout,
    d: int,
    warps: int,
    accs: list[list[ll.Value]],
) -> list[list[ll.Value]]:
    b = cx.b
    rows = math.prod(out_layout.shape)
    slots = rows * warps
    types = [mem_type(r.type) for r in op.results]
    starts, offset = [], 0
    for t in types:
        size = _size(t)
        offset = (offset + 7) // 8 * 8
        starts.append(offset // size)
        offset += slots * size
    cx.use_smem(offset)
    stride = warp_stride(layout, d)
    w = (
        b.lshr(cx.warp, ll.Constant(I32, 0))
        if stride == 1
        else b.udiv(cx.warp, ll.Constant(I32, stride))
    )
    # warps past the distinct ones hold copies (the tile wraps): they share the slots
    warp_d = b.urem(w, ll.Constant(I32, warps))
    row_idx = [
        cx.linear(out_layout, j) if out_layout.dims else ll.Constant(I32, 0)
        for j in range(len(accs))
    ]
    cx.barrier()
    for j, acc in enumerate(accs):
        base = b.mul(row_idx[j], ll.Constant(I32, warps))
        for i, v in enumerate(acc):
            idx = b.add(ll.Constant(I32, starts[i]), b.add(base, warp_d))
            cx.smem_store(types[i], idx, b.zext(v, types[i]) if v.type == I1 else v)
    cx.barrier()
    out = []
    for j in range(len(accs)):
        base = b.mul(row_idx[j], ll.Constant(I32, warps))
        acc: list[ll.Value] | None = None
        for wi in range(warps):
            cur = []
            for i, t in enumerate(types):
                idx = b.add(ll.Constant(I32, starts[i] + wi), base)
                v = cx.smem_load(t, idx)
                lt = llvm_type(op.results[i].type)
                cur.append(b.trunc(v, I1) if lt == I1 else v)
            acc = cur if acc is None else combine(cx, op, acc, cur)
        assert acc is not None
        out.append(acc)
    return out
