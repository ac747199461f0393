"""Canonicalization patterns for shapes: splats, broadcasts, reshapes, transposes.

* ``tt.splat`` of a constant → a constant tensor;
* ``tt.broadcast``, ``tt.expand_dims``, ``tt.reshape``, ``tt.trans`` of a splat or a
  constant → a splat or a constant of the new shape;
* a broadcast or reshape to its own type, and a transpose by the identity order → its operand;
* a broadcast of a broadcast, a reshape of a reshape → one op; a transpose of a transpose → one
  transpose by the composed order;
* an elementwise op whose tensor operands are all splats → a splat of the scalar op.
"""

from __future__ import annotations

from tritium.ir.core import Operation, Value
from tritium.ir.ops import OPS, is_elementwise, is_pure
from tritium.ir.rewrite import replace_op
from tritium.ir.types import TensorType
from tritium.passes.patterns import constant_value, make_constant, pattern, replace_with_constant

__all__ = [
    "fold_splat_of_constant",
    "fold_reshape_of_uniform",
    "fold_noop_shape",
    "elementwise_of_splats",
    "fold_shape_chain",
]


# ---- shapes ----------------------------------------------------------------------------------
@pattern("tt.splat")
def fold_splat_of_constant(op: Operation) -> bool:
    """``tt.splat(constant c)`` → a constant tensor."""
    c = constant_value(op.operands[0])
    if c is None:
        return False
    return replace_with_constant(op, c)


@pattern("tt.broadcast", "tt.expand_dims", "tt.reshape", "tt.trans")
def fold_reshape_of_uniform(op: Operation) -> bool:
    """A shape op on a tensor filled with one value gives a tensor filled with it."""
    src = op.operands[0]
    d = src.defining_op
    if d is None:
        return False
    if d.name == "arith.constant" and isinstance(d.attrs.get("value"), (int, float)):
        return replace_with_constant(op, d.attrs["value"])
    if d.name == "tt.splat":
        new = Operation("tt.splat", [d.operands[0]], [op.results[0].type], {}, 0, op.loc)
        assert op.parent is not None
        op.parent.insert_before(op, new)
        replace_op(op, [new.results[0]])
        return True
    return False


@pattern("tt.broadcast", "tt.reshape", "tt.trans")
def fold_noop_shape(op: Operation) -> bool:
    """A broadcast or reshape to the operand's own type, or an identity transpose."""
    src = op.operands[0]
    if src.type != op.results[0].type:
        return False
    if op.name == "tt.trans":
        order = op.attrs.get("order")
        if not isinstance(src.type, TensorType) or list(order or []) != list(range(src.type.rank)):
            return False
    replace_op(op, [src])
    return True


def _uniform_kind(v: Value) -> str | None:
    """``"scalar"``, ``"splat"`` or ``"constant"`` (a tensor filled with one constant) for a
    value that is the same in every lane, else None."""
    if not isinstance(v.type, TensorType):
        return "scalar"
    d = v.defining_op
    if d is not None and d.name == "tt.splat":
        return "splat"
    if (
        d is not None
        and d.name == "arith.constant"
        and isinstance(d.attrs.get("value"), int | float)
    ):
        return "constant"
    return None


def _scalar_of(v: Value, anchor: Operation) -> Value:
    """The scalar filling the uniform ``v`` (a constant's is made before ``anchor``)."""
    d = v.defining_op
    if not isinstance(v.type, TensorType) or d is None:
        return v
    if d.name == "tt.splat":
        return d.operands[0]
    return make_constant(anchor, v.type.element, d.attrs["value"])


@pattern(*(name for name in OPS if is_pure(name) and is_elementwise(name)))
def elementwise_of_splats(op: Operation) -> bool:
    """An elementwise op whose tensor operands are all splats computes once on the scalars,
    then splats the result: ``addi(splat a, splat b)`` → ``splat(addi(a, b))``."""
    result_type = op.results[0].type
    if len(op.results) != 1 or not isinstance(result_type, TensorType):
        return False
    kinds = [_uniform_kind(v) for v in op.operands]
    # at least one real splat: all-constant operands are left to constant folding
    if None in kinds or "splat" not in kinds:
        return False
    scalars = [_scalar_of(v, op) for v in op.operands]
    scalar_op = Operation(op.name, scalars, [result_type.element], dict(op.attrs), 0, op.loc)
    splat = Operation("tt.splat", [scalar_op.results[0]], [result_type], {}, 0, op.loc)
    assert op.parent is not None
    op.parent.insert_before(op, scalar_op)
    op.parent.insert_before(op, splat)
    replace_op(op, [splat.results[0]])
    return True


@pattern("tt.broadcast", "tt.reshape", "tt.trans")
def fold_shape_chain(op: Operation) -> bool:
    """``broadcast(broadcast x)`` → ``broadcast x``; ``reshape(reshape x)`` → ``reshape x``;
    ``trans(trans x)`` → one ``trans`` by the composed order."""
    d = op.operands[0].defining_op
    if d is None or d.name != op.name:
        return False
    attrs = dict(op.attrs)
    if op.name == "tt.trans":
        inner, outer = d.attrs.get("order"), op.attrs.get("order")
        if not isinstance(inner, (list, tuple)) or not isinstance(outer, (list, tuple)):
            return False
        # result.shape[i] = mid.shape[outer[i]] = x.shape[inner[outer[i]]]
        attrs["order"] = [inner[i] for i in outer]
    elif op.name == "tt.reshape":
        # reordering is allowed only if both reshapes allowed it
        attrs["allow_reorder"] = bool(op.attrs.get("allow_reorder")) and bool(
            d.attrs.get("allow_reorder")
        )
    new = Operation(op.name, [d.operands[0]], [op.results[0].type], attrs, 0, op.loc)
    assert op.parent is not None
    op.parent.insert_before(op, new)
    replace_op(op, [new.results[0]])
    return True
