"""Canonicalization patterns for masks: compares with a known answer, and constant masks.

* ``cmpi(make_range(start, end), c)`` with a constant ``c`` (scalar, or a splat) whose answer
  is the same for every lane → a constant; e.g. ``arange(0, 16) < 16`` is all true;
* ``tt.load`` / ``tt.store`` whose mask is all true → the same access without a mask;
* ``tt.store`` whose mask is all false → erased (it writes nothing);
* ``tt.load`` whose mask is all false and that has an ``other`` (and is not volatile) → that
  ``other`` value.
"""

from __future__ import annotations

from tritium.ir.core import Operation, Value
from tritium.ir.ops import op_def, operand
from tritium.ir.rewrite import replace_op
from tritium.ir.types import IntType, element_type
from tritium.passes.constant_eval import evaluate, normalize
from tritium.passes.patterns import constant_value, pattern, replace_with_constant

__all__ = ["fold_compare_of_range", "fold_constant_mask"]


def _range_bounds(v: Value) -> tuple[int, int] | None:
    """``(start, end)`` if ``v`` is a ``tt.make_range`` (seen through shape ops)."""
    d = v.defining_op
    while d is not None and d.name in ("tt.expand_dims", "tt.broadcast", "tt.reshape"):
        d = d.operands[0].defining_op
    if d is None or d.name != "tt.make_range":
        return None
    start, end = d.attrs.get("start"), d.attrs.get("end")
    if not isinstance(start, int) or not isinstance(end, int) or end <= start:
        return None
    return start, end


@pattern("arith.cmpi")
def fold_compare_of_range(op: Operation) -> bool:
    """A compare of a range with a constant that every lane answers alike is a constant.

    The predicates are monotonic in the lane value, so testing the first and the last lane
    decides all of them."""
    x, y = op.operands
    bounds, c = _range_bounds(x), constant_value(y)
    t = element_type(x.type)
    if bounds is None or c is None or not isinstance(t, IntType):
        return False
    start, end = bounds
    limit = normalize(c, t)
    if start < 0 or normalize(end - 1, t) != end - 1 or not isinstance(limit, int):
        return False  # lanes that are negative or wrap around are not ordered like integers
    if op.attrs.get("predicate") in ("eq", "ne") and start < limit < end - 1:
        return False  # eq/ne are not monotonic: an inner lane answers unlike the end lanes
    answers = {
        evaluate("arith.cmpi", op.attrs, [t, t], op.results[0].type, [lane, limit])
        for lane in (start, end - 1)
    }
    if len(answers) != 1:
        return False
    answer = answers.pop()
    if answer is None:
        return False
    return replace_with_constant(op, answer)


@pattern("tt.load", "tt.store")
def fold_constant_mask(op: Operation) -> bool:
    """Drop an all-true mask; erase a store under an all-false one; a load under an all-false
    mask reads its ``other``."""
    mask_index = op_def(op.name).operand_index("mask", len(op.operands))
    if not isinstance(mask_index, int):
        return False  # no mask
    mask = constant_value(op.operands[mask_index])
    if mask is None:
        return False
    if mask:
        # loads drop ``other`` with the mask: no lane is masked off any more
        op.operands = list(op.operands[:mask_index])
        return True
    if op.name == "tt.store":
        op.erase()
        return True
    other = operand(op, "other")
    if other is not None and not op.attrs.get("volatile"):
        replace_op(op, [other])
        return True
    return False
