"""Canonicalization patterns for ``tt.dot``: fold an addition into the accumulator.

Kernels often write ``acc += tl.dot(a, b)`` instead of ``acc = tl.dot(a, b, acc)``; the first
form gives the dot a zero accumulator and adds afterwards, so a backend materializes the
product tile and makes one more pass over it. ``addf(x, dot(a, b, 0))`` becomes
``dot(a, b, x)`` when the dot has no other use. As in Triton, this changes where the single
extra rounding happens (the sum is accumulated from ``x`` instead of added at the end), which
is within a dot's usual accuracy; integer dots are exact either way.
"""

from __future__ import annotations

from tritium.ir.core import Operation
from tritium.ir.rewrite import replace_op
from tritium.passes.patterns import constant_value, pattern

__all__ = ["fold_add_into_dot_accumulator"]


@pattern("arith.addf", "arith.addi")
def fold_add_into_dot_accumulator(op: Operation) -> bool:
    """``x + dot(a, b, 0)`` (either operand order) → ``dot(a, b, x)``."""
    for i in (0, 1):
        product, addend = op.operands[i], op.operands[1 - i]
        dot = product.defining_op
        if dot is None or dot.name != "tt.dot" or len(product.uses) != 1:
            continue
        if constant_value(dot.operands[2]) != 0 or addend.type != product.type:
            continue
        fused = Operation(
            "tt.dot",
            [dot.operands[0], dot.operands[1], addend],
            [product.type],
            dict(dot.attrs),
            0,
            dot.loc,
        )
        assert op.parent is not None
        op.parent.insert_before(op, fused)
        replace_op(op, [fused.result])
        return True
    return False
