"""The pattern registry shared by the canonicalizer's pattern modules, and their helpers.

A pattern is a function ``(op) -> bool`` that rewrites ``op`` (and returns True) or leaves the
IR untouched (and returns False). It may only change ``op`` and insert new ops just before it;
the canonicalizer erases whatever becomes unused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tritium.ir.core import Operation, Value
from tritium.ir.rewrite import replace_op
from tritium.ir.types import Type
from tritium.passes.constant_eval import Scalar, normalize

__all__ = [
    "Pattern",
    "PATTERNS",
    "pattern",
    "constant_value",
    "make_constant",
    "replace_with_constant",
    "erase_ops",
]

Pattern = Callable[[Operation], bool]


def erase_ops(ops: list[Operation]) -> None:
    """Erase ``ops`` (each unused once the later ones are gone: users before producers), as
    ``op.erase()`` one by one would, but rebuilding each block's op list once: ``erase``
    removes from a Python list, so erasing k ops of an n-op block one by one costs k * n."""
    blocks: dict[int, Any] = {}
    gone: set[int] = set()
    for op in ops:
        for r in op.results:
            if r.uses:
                raise ValueError(f"erasing {op.name} whose result is still used")
        op.drop_references()
        if op.parent is not None:
            blocks[id(op.parent)] = op.parent
            gone.add(id(op))
            op.parent = None
    for block in blocks.values():
        block.ops = [o for o in block.ops if id(o) not in gone]


PATTERNS: dict[str, list[Pattern]] = {}


def pattern(*names: str) -> Callable[[Pattern], Pattern]:
    """Decorator: try this pattern on ops called ``names`` (in registration order)."""

    def register(fn: Pattern) -> Pattern:
        for n in names:
            PATTERNS.setdefault(n, []).append(fn)
        return fn

    return register


def constant_value(v: Value) -> Scalar | None:
    """The value of ``v`` if it is a constant scalar or a tensor filled with one constant."""
    d = v.defining_op
    if d is None:
        return None
    if d.name == "arith.constant":
        value = d.attrs.get("value")
        return value if isinstance(value, (int, float)) else None
    if d.name == "tt.splat":
        return constant_value(d.operands[0])
    return None


def make_constant(anchor: Operation, t: Type, value: Scalar) -> Value:
    """A new ``arith.constant`` of type ``t`` just before ``anchor``, at its location."""
    canonical = normalize(value, t)  # i1 as a bool, ints sign-normalized, floats rounded
    value = value if canonical is None else canonical
    op = Operation("arith.constant", [], [t], {"value": value}, 0, anchor.loc)
    assert anchor.parent is not None
    anchor.parent.insert_before(anchor, op)
    return op.results[0]


def replace_with_constant(op: Operation, value: Scalar) -> bool:
    """Replace the one result of ``op`` by a constant; returns True (the pattern fired)."""
    replace_op(op, [make_constant(op, op.results[0].type, value)])
    return True
