"""Lowering of constants, ranges and shape ops.

``splat``, ``broadcast``, ``expand_dims``, ``make_range``, constants and ``join`` are fused:
they only remap the chunk index. ``trans`` and ``split`` are strided views of a buffer;
``reshape`` and ``cat`` copy into a contiguous buffer.
"""

from __future__ import annotations

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.casts import constant
from tritium.backends.cpu.codegen import Lowering, lazy_rule, statement
from tritium.backends.cpu.tiles import Buffer, Index, Scalar, contiguous_strides
from tritium.ir import Operation
from tritium.ir import types as irt

_ZERO = ll.Constant(lu.I32, 0)


@lazy_rule("arith.constant")
def _constant(cx: Lowering, op: Operation, idx: Index) -> ll.Value:
    return constant(op, idx.width)


@lazy_rule("tt.make_range")
def _make_range(cx: Lowering, op: Operation, idx: Index) -> ll.Value:
    b = cx.b
    base = b.add(idx.dims[-1], ll.Constant(lu.I32, int(op.attrs["start"])))
    return b.add(lu.splat(b, base, idx.width), lu.lane_iota(idx.width))


@lazy_rule("tt.splat")
def _splat(cx: Lowering, op: Operation, idx: Index) -> ll.Value:
    return lu.splat(cx.b, cx.scalar(op.operands[0]), idx.width)


@lazy_rule("tt.broadcast")
def _broadcast(cx: Lowering, op: Operation, idx: Index) -> ll.Value:
    src = op.operands[0]
    src_shape = irt.shape_of(src.type)
    dst_shape = irt.shape_of(op.result.type)
    dims = tuple(
        _ZERO if s == 1 and t != 1 else d
        for s, t, d in zip(src_shape, dst_shape, idx.dims, strict=True)
    )
    if src_shape[-1] == 1 and dst_shape[-1] != 1:
        return lu.splat(cx.b, cx.eval(src, Index(dims, 1)), idx.width)
    return cx.eval(src, Index(dims, idx.width))


@lazy_rule("tt.expand_dims")
def _expand_dims(cx: Lowering, op: Operation, idx: Index) -> ll.Value:
    axis = int(op.attrs["axis"])
    rank = len(irt.shape_of(op.result.type))
    dims = idx.dims[:axis] + idx.dims[axis + 1 :]
    if axis == rank - 1:
        # the new last dimension has size 1: the source's last dimension becomes an outer one
        assert idx.width == 1
    return cx.eval(op.operands[0], Index(dims, idx.width))


@lazy_rule("tt.join")
def _join(cx: Lowering, op: Operation, idx: Index) -> ll.Value:
    b = cx.b
    sub = Index(idx.dims[:-1], 1)
    av = cx.eval(op.operands[0], sub)
    bv = cx.eval(op.operands[1], sub)
    if idx.width == 2:
        return b.shuffle_vector(av, bv, ll.Constant(lu.vec(lu.I32, 2), [0, 1]))
    first = b.icmp_signed("==", idx.dims[-1], _ZERO)
    return b.select(first, av, bv)


@statement("tt.get_program_id")
def _program_id(cx: Lowering, op: Operation) -> None:
    cx.refs[op.result] = Scalar(cx.pids[int(op.attrs["axis"])])


@statement("tt.get_num_programs")
def _num_programs(cx: Lowering, op: Operation) -> None:
    cx.refs[op.result] = Scalar(cx.nprogs[int(op.attrs["axis"])])


def contiguous(cx: Lowering, v: object) -> Buffer:
    """``v`` in a contiguous row-major buffer (copying a strided view)."""
    buf = cx.materialize(v)  # type: ignore[arg-type]
    if buf.is_contiguous:
        return buf
    out = cx.alloc(buf.shape, buf.elem)
    cx.write_tile(v, out)  # type: ignore[arg-type]
    return out


@statement("tt.reshape")
def _reshape(cx: Lowering, op: Operation) -> None:
    buf = contiguous(cx, op.operands[0])
    shape = irt.shape_of(op.result.type)
    cx.refs[op.result] = Buffer(buf.ptr, shape, contiguous_strides(shape), buf.elem)


@statement("tt.trans")
def _trans(cx: Lowering, op: Operation) -> None:
    from tritium.backends.cpu.dot import deferred_transpose  # dot imports this module

    if deferred_transpose(cx, op):  # packed transposed by the dot that reads it
        return
    buf = cx.materialize(op.operands[0])
    order = [int(i) for i in op.attrs["order"]]
    cx.refs[op.result] = Buffer(
        buf.ptr,
        tuple(buf.shape[i] for i in order),
        tuple(buf.strides[i] for i in order),
        buf.elem,
        buf.offset,
    )


@statement("tt.split")
def _split(cx: Lowering, op: Operation) -> None:
    buf = cx.materialize(op.operands[0])
    shape, strides = buf.shape[:-1], buf.strides[:-1]
    for k, r in enumerate(op.results):
        offset = buf.offset + k * buf.strides[-1]
        if not shape:  # a 2-element tile splits into two scalars (Triton's test_split_to_scalar)
            one = Buffer(buf.ptr, (1,), (1,), buf.elem, offset)
            lane = cx.read_buffer(one, Index((ll.Constant(lu.I32, 0),), 1))
            cx.refs[r] = Scalar(cx.b.extract_element(lane, ll.Constant(lu.I32, 0)))
            continue
        cx.refs[r] = Buffer(buf.ptr, shape, strides, buf.elem, offset)


@statement("tt.cat")
def _cat(cx: Lowering, op: Operation) -> None:
    a, b = op.operands
    shape = irt.shape_of(op.result.type)
    elem = irt.element_type(op.result.type)
    out = cx.alloc(shape, elem)
    a_shape = irt.shape_of(a.type)
    cx.write_tile(a, Buffer(out.ptr, a_shape, out.strides, elem, 0))
    cx.write_tile(
        b, Buffer(out.ptr, irt.shape_of(b.type), out.strides, elem, a_shape[0] * out.strides[0])
    )
    cx.refs[op.result] = out
