"""Exact rewrites of what a float sum reduces: Inductor's ``t + 0.0`` and row-mask selects.

Inductor writes every reduction as an accumulator update, ``_tmp = tl.where(mask, _tmp + t,
_tmp)`` after ``_tmp = tl.full(..., 0)``, then ``tl.sum(_tmp, 1)``. When the reduction loop
has one iteration (``R0_BLOCK == r0_numel``: ``x.sum(1)`` over rows of 1024) the passes
unroll it, leaving per chunk an add of zero and a select before the reduction's own add::

    sum(select(m, t + 0.0, 0.0))

Neither can be dropped by a local fold: ``t + 0.0`` turns ``-0.0`` into ``+0.0``, and ``m``
(``xmask``, a row mask broadcast along the reduced axis) is a tile. Both go as a whole:

* ``sum(select(m, t + 0.0, 0.0)) == sum(select(m, t, 0.0)) + 0.0``: replacing a ``-0.0`` term
  by ``+0.0`` in any tree of additions changes at most the sign of a zero result, and the
  original result is never ``-0.0`` (each term is ``x + 0.0`` or ``+0.0``, and round to nearest
  gives ``-0.0`` only when every term of a sum is ``-0.0``); ``+ 0.0`` after the sum makes
  the new result's zero ``+0.0`` too. Other results are the same values, NaN included.
* ``sum(select(m, t, 0.0), axis=k) == select(m', sum(t, axis=k), 0.0)`` when ``m`` is the same
  along axis ``k`` (a splat, a broadcast of a tile of size 1 along ``k``, or ``&``/``|`` of
  such), ``m'`` being ``m`` without that axis: a line that ``m`` enables sums the same terms in
  the same tree, and a line it disables sums only ``+0.0`` terms, which is ``+0.0``.

The same applies to a sum that :mod:`.accumulators` moved into a loop (``R(select(m, t,
0.0))`` per iteration) and to one :mod:`.reduce_layout` transposed. Integer sums need only
the second rewrite (the passes fold ``t + 0``) and get it. Reductions with other combines,
several operands, another fill value or a mask that varies along the axis are left alone.

This is the backend's own rewrite (the compiler prints the TTIR before the backend lowers it).
"""

from __future__ import annotations

import math

from tritium.ir import Operation, Value
from tritium.ir import types as irt

__all__ = ["simplify_sum_operands"]

_SUMS = frozenset({"arith.addf", "arith.addi"})


def simplify_sum_operands(func: Operation) -> int:
    """Apply both rewrites (module docstring) to every sum of ``func``; returns how many
    operands changed."""
    done = 0
    for reduce in [op for op in func.walk() if op.name == "tt.reduce"]:
        add = _sum_combine(reduce)
        if add is None or reduce.parent is None:
            continue
        if add == "arith.addf" and _drop_zero_add(reduce):
            done += 1
        if _hoist_uniform_select(reduce):
            done += 1
    return done


def _sum_combine(reduce: Operation) -> str | None:
    """``arith.addf``/``arith.addi`` when ``reduce`` is a one-operand sum, else None."""
    if len(reduce.operands) != 1 or len(reduce.results) != 1 or len(reduce.regions) != 1:
        return None
    block = reduce.regions[0].block
    if len(block.args) != 2 or len(block.ops) != 2 or block.ops[-1].name != "tt.reduce.return":
        return None
    add = block.ops[0]
    if add.name not in _SUMS or block.ops[-1].operands != [add.result]:
        return None
    if {id(v) for v in add.operands} != {id(a) for a in block.args}:
        return None
    return add.name


def _is_positive_zero(v: Value) -> bool:
    """Whether ``v`` is the constant ``+0.0`` (or integer 0), as a scalar or a uniform tile."""
    op = v.defining_op
    while op is not None and op.name in ("tt.splat", "tt.broadcast"):
        op = op.operands[0].defining_op
    if op is None or op.name != "arith.constant":
        return False
    c = op.attrs.get("value")
    if isinstance(c, bool) or not isinstance(c, (int, float)):
        return False
    return c == 0 and math.copysign(1.0, c) > 0


def _drop_zero_add(reduce: Operation) -> bool:
    """``sum(select(m, t + 0.0, z))`` or ``sum(t + 0.0)`` -> the same without ``+ 0.0``, and
    ``+ 0.0`` after the sum."""
    operand = reduce.operands[0]
    op = operand.defining_op
    select = None
    if op is not None and op.name == "arith.select" and _is_positive_zero(op.operands[2]):
        if len(operand.uses) != 1:
            return False  # another reader would see the -0.0 that t + 0.0 turned into +0.0
        select, op = op, op.operands[1].defining_op
    if op is None or op.name != "arith.addf":
        return False
    a, b = op.operands
    t = a if _is_positive_zero(b) else b if _is_positive_zero(a) else None
    if t is None or t.type != op.result.type:
        return False
    if select is not None:
        select.set_operand(1, t)
    else:
        reduce.set_operand(0, t)
    if not op.result.uses and op.parent is not None:
        op.erase()
    _after(reduce, "arith.addf", _zero_like(reduce, reduce.result.type))
    return True


def _hoist_uniform_select(reduce: Operation) -> bool:
    """``sum(select(m, t, 0), axis=k)`` with ``m`` the same along ``k`` ->
    ``select(m', sum(t, axis=k), 0)``."""
    select = reduce.operands[0].defining_op
    if select is None or select.name != "arith.select" or len(select.operands) != 3:
        return False
    mask, t, fill = select.operands
    if not _is_positive_zero(fill) or t.type != select.result.type:
        return False
    axis = int(reduce.attrs.get("axis", -1))
    rtype = reduce.result.type
    if axis < 0:
        return False
    if not isinstance(mask.type, irt.TensorType):
        reduced: Value | None = mask  # one condition for the whole tile
    elif _uniform_along(mask, axis):
        reduced = _drop_axis(mask, axis, irt.with_element(rtype, irt.i1), reduce)
    else:
        return False
    if reduced is None:
        return False
    reduce.set_operand(0, t)
    if not select.result.uses and select.parent is not None:
        select.erase()
    zero = _zero_like(reduce, rtype)
    result = reduce.result
    sel = Operation("arith.select", [reduced, result, zero], [rtype], {}, 0, reduce.loc)
    _insert_after(reduce, sel, result)
    return True


def _uniform_along(mask: Value, axis: int) -> bool:
    """Whether ``mask`` (a tile) has the same value at every index along ``axis``."""
    shape = irt.shape_of(mask.type)
    if axis >= len(shape):
        return False
    if shape[axis] == 1:
        return True
    op = mask.defining_op
    if op is None:
        return False
    if op.name == "tt.splat" or (op.name == "arith.constant" and not op.operands):
        return True
    if op.name == "tt.broadcast":
        return irt.shape_of(op.operands[0].type)[axis] == 1
    if op.name in ("arith.andi", "arith.ori"):
        return all(_uniform_along(v, axis) for v in op.operands)
    return False


def _drop_axis(mask: Value, axis: int, rtype: irt.Type, anchor: Operation) -> Value | None:
    """A value of type ``rtype`` (``mask``'s shape without ``axis``) equal to ``mask`` along
    every line of ``axis``, built before ``anchor``; None where it cannot be built."""
    op = mask.defining_op
    shape = irt.shape_of(mask.type)
    scalar = not isinstance(rtype, irt.TensorType)
    new: Operation | None = None
    if op is not None and op.name == "tt.splat":
        if scalar:
            return op.operands[0]
        new = Operation("tt.splat", [op.operands[0]], [rtype], {}, 0, anchor.loc)
    elif op is not None and op.name == "arith.constant" and not op.operands:
        value = op.attrs.get("value")
        if not isinstance(value, bool):
            return None
        new = Operation("arith.constant", [], [rtype], {"value": value}, 0, anchor.loc)
    elif op is not None and op.name == "tt.broadcast" and shape[axis] != 1:
        return _drop_axis(op.operands[0], axis, rtype, anchor)
    elif op is not None and op.name in ("arith.andi", "arith.ori") and shape[axis] != 1:
        parts = [_drop_axis(v, axis, rtype, anchor) for v in op.operands]
        if any(p is None for p in parts):
            return None
        new = Operation(op.name, parts, [rtype], {}, 0, anchor.loc)  # type: ignore[arg-type]
    elif shape[axis] == 1 and not scalar:
        if shape[:axis] + shape[axis + 1 :] != irt.shape_of(rtype):
            return None  # a unit dimension elsewhere too: its lines are not the result's
        if op is not None and op.name == "tt.expand_dims" and int(op.attrs["axis"]) == axis:
            return op.operands[0]
        new = Operation("tt.reshape", [mask], [rtype], {}, 0, anchor.loc)
    if new is None or anchor.parent is None:
        return None
    anchor.parent.insert_before(anchor, new)
    return new.result


def _zero_like(anchor: Operation, t: irt.Type) -> Value:
    """The constant ``+0.0`` (or 0) of type ``t``, inserted before ``anchor``."""
    element = irt.element_type(t)
    zero: int | float = 0.0 if isinstance(element, irt.FloatType) else 0
    c = Operation("arith.constant", [], [t], {"value": zero}, 0, anchor.loc)
    assert anchor.parent is not None
    anchor.parent.insert_before(anchor, c)
    return c.result


def _after(reduce: Operation, name: str, other: Value) -> None:
    """Replace the uses of ``reduce``'s result by ``name(result, other)``."""
    result = reduce.result
    new = Operation(name, [result, other], [result.type], {}, 0, reduce.loc)
    _insert_after(reduce, new, result)


def _insert_after(anchor: Operation, new: Operation, old: Value) -> None:
    """Put ``new`` right after ``anchor`` and make every reader of ``old`` but ``new`` read
    ``new``'s result."""
    block = anchor.parent
    assert block is not None
    users = [u for u in old.uses if u is not new]
    block.insert(block.ops.index(anchor) + 1, new)
    for user in dict.fromkeys(users):
        user.operands = [new.result if v is old else v for v in user.operands]
