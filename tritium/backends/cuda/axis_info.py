"""Contiguity, divisibility and constancy of integer and pointer tiles (Triton's AxisInfo).

For each dimension ``d`` of a value:

* ``contig[d]``: the elements come in aligned groups of this many consecutive integers (or
  consecutive elements, for pointers);
* ``div[d]``: the largest power of two dividing the first element of every such group (in
  bytes for pointers);
* ``const[d]``: aligned groups of this many elements are equal.

The load/store lowering reads it to pick the vector width: a group of ``v`` registers becomes one
``v``-element access when the pointer tile is contiguous for ``v`` elements, aligned to
``v * element size`` and the mask is constant over the group. The analysis is forward and
conservative: an op it does not model gives 1s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tritium.ir import Operation, Value
from tritium.ir import types as irt

__all__ = ["AxisInfo", "analyze"]

MAX_DIV = 1 << 30


@dataclass(frozen=True)
class AxisInfo:
    """Per-dimension facts (scalars have rank 0 and only ``scalar_div``)."""

    contig: tuple[int, ...]
    div: tuple[int, ...]
    const: tuple[int, ...]
    scalar_div: int = 1


def _pow2_div(v: int) -> int:
    v = int(v)
    return MAX_DIV if v == 0 else min(MAX_DIV, v & -v)


def _unknown(shape: tuple[int, ...]) -> AxisInfo:
    return AxisInfo((1,) * len(shape), (1,) * len(shape), (1,) * len(shape))


def _uniform(shape: tuple[int, ...], div: int) -> AxisInfo:
    return AxisInfo((1,) * len(shape), (div,) * len(shape), tuple(shape), div)


def _elem_bytes(t: irt.Type) -> int:
    e = irt.element_type(t)
    if isinstance(e, irt.PointerType):
        e = e.pointee
    return max(1, getattr(e, "bitwidth", 8) // 8)


def analyze(func: Operation) -> dict[Value, AxisInfo]:
    """AxisInfo of every integer or pointer value of ``func`` (others are absent).

    Loop-carried values of ``scf.for`` start from their init's facts; a value advanced each
    iteration by a uniform step (``p += BLOCK``) keeps the init's contiguity, with the
    divisibility both share. The walk is repeated until the loop facts are stable (at most a
    few times); anything else carried by a loop is unknown. The induction variable is divisible
    by what its lower bound and step share.
    """
    carried: dict[Value, AxisInfo] = {}
    for _ in range(4):
        info = _walk(func, carried)
        changed = False
        for op in func.walk():
            if op.name != "scf.for":
                continue
            body = op.regions[0].block
            yld = body.terminator
            if yld is None:
                continue
            for init, arg, nxt in zip(op.operands[3:], body.args[1:], yld.operands, strict=True):
                new = _carried(info, init, arg, nxt)
                if new is not None and carried.get(arg) != new:
                    carried[arg] = new
                    changed = True
        if not changed:
            return info
    return _walk(func, {k: _unknown(irt.shape_of(k.type)) for k in carried})


def _carried(info: dict[Value, AxisInfo], init: Value, arg: Value, nxt: Value) -> AxisInfo | None:
    start = info.get(init)
    if start is None:
        return None
    op = nxt.defining_op
    shape = irt.shape_of(arg.type)
    if op is None or op.name not in ("tt.addptr", "arith.addi") or op.operands[0] is not arg:
        return _unknown(shape) if shape else AxisInfo((), (), (), 1)
    step = _get(info, op.operands[1])
    scale = _elem_bytes(arg.type) if op.name == "tt.addptr" else 1
    if not shape:
        return AxisInfo((), (), (), math.gcd(start.scalar_div, step.scalar_div * scale))
    if tuple(step.const) != tuple(shape):  # the step must be the same for every element
        return _unknown(shape)
    div = tuple(
        math.gcd(d, min(MAX_DIV, s * scale)) for d, s in zip(start.div, step.div, strict=True)
    )
    return AxisInfo(start.contig, div, start.const)


def _walk(func: Operation, carried: dict[Value, AxisInfo]) -> dict[Value, AxisInfo]:
    info: dict[Value, AxisInfo] = {}
    block = func.regions[0].block
    for i, arg in enumerate(block.args):
        attrs = (func.attrs.get("arg_attrs") or [{}] * len(block.args))[i] or {}
        d = int(attrs.get("tt.divisibility", 1)) if isinstance(attrs, dict) else 1
        info[arg] = AxisInfo((), (), (), d)
    for op in func.walk():
        if op.name == "scf.for":
            body = op.regions[0].block
            lb, step = _get(info, op.operands[0]), _get(info, op.operands[2])
            info[body.args[0]] = AxisInfo((), (), (), math.gcd(lb.scalar_div, step.scalar_div))
            for init, arg in zip(op.operands[3:], body.args[1:], strict=True):
                info[arg] = carried.get(arg) or _get(info, init)
        for r in op.results:
            info[r] = _infer(op, r, info)
    return info


def _get(info: dict[Value, AxisInfo], v: Value) -> AxisInfo:
    got = info.get(v)
    return got if got is not None else _unknown(irt.shape_of(v.type))


def _infer(op: Operation, res: Value, info: dict[Value, AxisInfo]) -> AxisInfo:
    shape = irt.shape_of(res.type)
    name = op.name
    a = [_get(info, v) for v in op.operands]
    if name == "arith.constant":
        v = op.attrs.get("value")
        return _uniform(shape, _pow2_div(v) if isinstance(v, int) else 1)
    if name == "tt.make_range":
        start = int(op.attrs["start"])
        return AxisInfo((shape[0],), (_pow2_div(start),), (1,), 1)
    if name == "tt.splat":
        return _uniform(shape, a[0].scalar_div)
    if name == "tt.get_program_id" or name == "tt.get_num_programs":
        return AxisInfo((), (), (), 1)
    if not shape:  # scalar arithmetic
        if name == "arith.muli":
            return AxisInfo((), (), (), min(MAX_DIV, a[0].scalar_div * a[1].scalar_div))
        if name in ("arith.addi", "arith.subi"):
            return AxisInfo((), (), (), math.gcd(a[0].scalar_div, a[1].scalar_div))
        if name == "tt.addptr":
            size = _elem_bytes(op.results[0].type)
            div = math.gcd(a[0].scalar_div, min(MAX_DIV, a[1].scalar_div * size))
            return AxisInfo((), (), (), div)
        if name in ("arith.extsi", "arith.extui", "arith.trunci", "tt.bitcast", "tt.int_to_ptr"):
            return AxisInfo((), (), (), a[0].scalar_div)
        return AxisInfo((), (), (), 1)
    if name == "tt.expand_dims":
        ax = int(op.attrs["axis"])
        src = a[0]
        d = min(src.div) if src.div else src.scalar_div
        return AxisInfo(
            src.contig[:ax] + (1,) + src.contig[ax:],
            src.div[:ax] + (d,) + src.div[ax:],
            src.const[:ax] + (1,) + src.const[ax:],
        )
    if name == "tt.broadcast":
        src = a[0]
        old = irt.shape_of(op.operands[0].type)
        const = tuple(s if o == 1 else c for s, o, c in zip(shape, old, src.const, strict=True))
        return AxisInfo(src.contig, src.div, const)
    if name in ("arith.extsi", "arith.extui", "arith.trunci", "tt.bitcast", "tt.int_to_ptr"):
        return a[0]
    if len(a) == 2 and all(len(x.contig) == len(shape) for x in a):
        x, y = a
        r = range(len(shape))
        const = tuple(math.gcd(x.const[d], y.const[d]) for d in r)
        if name in ("arith.addi", "tt.addptr"):
            scale = _elem_bytes(op.results[0].type) if name == "tt.addptr" else 1
            ydiv = tuple(min(MAX_DIV, v * scale) for v in y.div)
            contig = tuple(
                max(math.gcd(x.contig[d], y.const[d]), math.gcd(x.const[d], y.contig[d])) for d in r
            )
            return AxisInfo(contig, tuple(math.gcd(x.div[d], ydiv[d]) for d in r), const)
        if name == "arith.subi":
            contig = tuple(math.gcd(x.contig[d], y.const[d]) for d in r)
            return AxisInfo(contig, tuple(math.gcd(x.div[d], y.div[d]) for d in r), const)
        if name == "arith.muli":
            div = tuple(
                min(
                    MAX_DIV,
                    (x.div[d] if x.contig[d] == 1 else 1) * (y.div[d] if y.contig[d] == 1 else 1),
                )
                for d in r
            )
            return AxisInfo((1,) * len(shape), div, const)
        if name == "arith.cmpi":
            c = tuple(
                max(
                    const[d],
                    math.gcd(math.gcd(x.contig[d], y.const[d]), math.gcd(x.div[d], y.div[d])),
                    math.gcd(math.gcd(y.contig[d], x.const[d]), math.gcd(x.div[d], y.div[d])),
                )
                for d in r
            )
            return AxisInfo((1,) * len(shape), (1,) * len(shape), c)
        if name in ("arith.andi", "arith.ori", "arith.xori"):
            return AxisInfo((1,) * len(shape), (1,) * len(shape), const)
        return AxisInfo((1,) * len(shape), (1,) * len(shape), const)
    return _unknown(shape)
