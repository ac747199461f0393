"""Shape ops that move elements between threads: ``trans``, ``reshape``, ``join``, ``split``,
``cat``. Each writes its operands to shared memory at their row-major positions and reads the
result's registers back in its home layout (``Lowering.exchange``)."""

from __future__ import annotations

import math

import llvmlite.ir as ll

from tritium.backends.cpu.llvm_utils import I32
from tritium.backends.cuda.layouts import Layout
from tritium.backends.cuda.lowering import Lowering, statement
from tritium.ir import Operation, Value
from tritium.ir import types as irt


def _src(cx: Lowering, v: Value) -> tuple[list[ll.Value], Layout]:
    lay = cx.assign.home[v] if v not in cx.assign.remat else cx.assign.default(irt.shape_of(v.type))
    return cx.get(v, lay), lay


def _scaled(cx: Lowering, lay: Layout, factor: int, add: int):  # noqa: ANN202
    def index(flat: int) -> ll.Value:
        lin = cx.linear(lay, flat)
        return cx.b.add(cx.b.mul(lin, ll.Constant(I32, factor)), ll.Constant(I32, add))

    return index


@statement("tt.reshape")
def _reshape(cx: Lowering, op: Operation) -> None:
    regs, lay = _src(cx, op.operands[0])
    res = op.results[0]
    cx.vals[res] = cx.exchange([(regs, lay, None)], cx.assign.home[res], None, res.type)


@statement("tt.trans")
def _trans(cx: Lowering, op: Operation) -> None:
    regs, lay = _src(cx, op.operands[0])
    res = op.results[0]
    dst = cx.assign.home[res]
    order = [int(i) for i in op.attrs["order"]]
    src_shape = irt.shape_of(op.operands[0].type)
    strides = [math.prod(src_shape[i + 1 :]) for i in range(len(src_shape))]

    def read(flat: int) -> ll.Value:
        out: ll.Value = ll.Constant(I32, 0)
        for i, o in enumerate(order):  # result dim i is source dim order[i]
            c = cx.coord(dst, i, flat)
            out = cx.b.add(out, cx.b.mul(c, ll.Constant(I32, strides[o])))
        return out

    cx.vals[res] = cx.exchange([(regs, lay, None)], dst, read, res.type)


@statement("tt.join")
def _join(cx: Lowering, op: Operation) -> None:
    (ra, la), (rb, lb) = _src(cx, op.operands[0]), _src(cx, op.operands[1])
    res = op.results[0]
    writes = [(ra, la, _scaled(cx, la, 2, 0)), (rb, lb, _scaled(cx, lb, 2, 1))]
    cx.vals[res] = cx.exchange(writes, cx.assign.home[res], None, res.type)


@statement("tt.split")
def _split(cx: Lowering, op: Operation) -> None:
    regs, lay = _src(cx, op.operands[0])
    for which, res in enumerate(op.results):
        dst = cx.assign.home[res]
        cx.vals[res] = cx.exchange(
            [(regs, lay, None)], dst, _scaled(cx, dst, 2, which), res.type, math.prod(lay.shape)
        )


@statement("tt.cat")
def _cat(cx: Lowering, op: Operation) -> None:
    (ra, la), (rb, lb) = _src(cx, op.operands[0]), _src(cx, op.operands[1])
    res = op.results[0]
    n = math.prod(la.shape)
    writes = [(ra, la, None), (rb, lb, _scaled(cx, lb, 1, n))]
    cx.vals[res] = cx.exchange(writes, cx.assign.home[res], None, res.type)


@statement("tt.print", "tt.call")
def _unsupported(cx: Lowering, op: Operation) -> None:
    raise NotImplementedError(f"{op.name} is not supported by the cuda backend yet")
