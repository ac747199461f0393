"""Canonicalization: constant folding and local simplifications, to a fixed point.

Expects: verified IR. Guarantees: the module computes the same values, with the patterns of
:mod:`~tritium.passes.fold_arith` (constant folding with exact integer wrap-around and IEEE
float semantics, algebraic identities, selects), :mod:`~tritium.passes.fold_shapes` (splats,
broadcasts, reshapes, transposes, elementwise ops on splats),
:mod:`~tritium.passes.fold_control` (``scf.if``/``scf.for`` with known conditions and trip
counts) and :mod:`~tritium.passes.fold_memory` (compares of ranges with a known answer,
constant masks) and :mod:`~tritium.passes.fold_dot` (``acc + dot(a, b)`` into the dot's
accumulator) applied until none applies; each removes an op or replaces it by a simpler
one. Pure ops left unused are erased, as MLIR's canonicalizer does. Ops with effects change
only where a constant mask decides them (a store under an all-false mask is erased).
"""

from __future__ import annotations

from dataclasses import dataclass

from tritium.ir.core import Module, Operation
from tritium.ir.ops import is_pure
from tritium.passes import (  # noqa: F401  (importing registers the patterns)
    fold_arith,
    fold_control,
    fold_dot,
    fold_memory,
    fold_shapes,
)
from tritium.passes.patterns import PATTERNS, constant_value, erase_ops
from tritium.passes.registry import Pass, register_pass

__all__ = ["Canonicalize", "PATTERNS", "constant_value"]


@register_pass("canonicalize")
@dataclass
class Canonicalize(Pass):
    """Fold constants and simplify; ``max_iterations`` bounds the sweeps over the module."""

    max_iterations: int = 20

    def run(self, module: Module) -> Module:
        for _ in range(self.max_iterations):
            changed = False
            for op in list(module.walk()):
                if not _attached(op, module.op):  # erased by an earlier rewrite
                    continue
                for pattern in PATTERNS.get(op.name, ()):
                    if pattern(op):
                        changed = True
                        break
            changed |= _erase_dead(module)
            if not changed:
                break
        return module


def _attached(op: Operation, top: Operation) -> bool:
    """Whether ``op`` is still nested in ``top`` (an erased op, or an op in the region of an
    erased op, is not)."""
    cur: Operation | None = op
    while cur is not None and cur is not top:
        if cur.parent is None:
            return False
        cur = cur.parent_op()
    return cur is top


def _erase_dead(module: Module) -> bool:
    """Erase the pure ops whose results are unused, users before producers (so a chain of
    them goes in one sweep), in one rebuild of each block (see :func:`erase_ops`)."""
    dead: list[Operation] = []
    for op in reversed(list(module.walk())):
        if (
            op.parent is not None
            and op.results
            and is_pure(op.name)
            and all(not r.uses for r in op.results)
        ):
            op.drop_references()  # its operands lose this use: their producers may be dead next
            dead.append(op)
    erase_ops(dead)
    return bool(dead)
