"""Loop-invariant code motion.

Expects: verified IR. Guarantees: a pure op in the body of an ``scf.for`` (or in either
region of an ``scf.while``) whose operands are all defined outside the loop is moved to just
before the loop, in its original order. Inner loops are processed first, so an invariant of
two nested loops moves out of both.

Only ops that are safe to execute when the loop runs zero times move: pure ops without
regions, except integer division and remainder (which trap on a zero divisor on the CPU).
Loads, stores and everything else with effects stay put.
"""

from __future__ import annotations

from dataclasses import dataclass

from tritium.ir.core import Block, Module, Operation
from tritium.ir.ops import is_pure
from tritium.ir.rewrite import defined_outside, move_before
from tritium.passes.registry import Pass, register_pass

__all__ = ["LoopInvariantCodeMotion", "NOT_SPECULATABLE"]

# pure, but executing them where the original program would not may trap
NOT_SPECULATABLE = frozenset({"arith.divsi", "arith.divui", "arith.remsi", "arith.remui"})
_LOOPS = frozenset({"scf.for", "scf.while"})


@register_pass("licm")
@dataclass
class LoopInvariantCodeMotion(Pass):
    """Hoist loop-invariant pure ops out of ``scf.for`` and ``scf.while``."""

    def run(self, module: Module) -> Module:
        _visit_block(module.body)
        return module


def _visit_block(block: Block) -> None:
    for op in list(block.ops):
        for region in op.regions:
            for inner in region.blocks:
                _visit_block(inner)  # innermost loops first
        if op.name in _LOOPS:
            _hoist(op)


def _can_hoist(op: Operation, loop: Operation) -> bool:
    return (
        is_pure(op.name)
        and not op.regions
        and op.name not in NOT_SPECULATABLE
        and all(defined_outside(v, loop) for v in op.operands)
    )


def _hoist(loop: Operation) -> None:
    for region in loop.regions:
        for block in region.blocks:
            # one forward walk suffices: an op hoisted earlier is already outside the loop
            # when the ops that use it are considered
            for op in list(block.ops):
                if _can_hoist(op, loop):
                    move_before(op, loop)
