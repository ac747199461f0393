"""Canonicalization patterns for structured control flow.

* ``scf.if`` on a constant condition → the taken region's ops;
* an ``scf.if`` result that both branches yield as the same outer value → that value;
* ``scf.for`` whose constant bounds give no iteration → its initial values;
* an ``scf.for`` carried value that the body yields unchanged is its initial value, inside
  and after the loop (DCE then drops the carried value).
"""

from __future__ import annotations

from tritium.ir.core import Operation
from tritium.ir.rewrite import defined_outside, inline_block_before, replace_op
from tritium.ir.types import IntType
from tritium.passes.constant_eval import normalize
from tritium.passes.patterns import constant_value, pattern

__all__ = ["fold_constant_if", "fold_if_same_yields", "fold_zero_trip_for",
           "fold_passthrough_iter_args"]


# ---- control flow ----------------------------------------------------------------------------
@pattern("scf.if")
def fold_constant_if(op: Operation) -> bool:
    """``scf.if`` on a constant condition: keep the taken region's ops in its place."""
    c = constant_value(op.operands[0])
    if c is None:
        return False
    region = op.regions[0 if c else 1]
    if not region.blocks:  # an if without results and without an else region
        op.erase()
        return True
    terminator = inline_block_before(region.blocks[0], op, [])
    assert terminator is not None and terminator.name == "scf.yield"
    results = list(terminator.operands)
    terminator.erase()
    replace_op(op, results)
    return True


@pattern("scf.if")
def fold_if_same_yields(op: Operation) -> bool:
    """A result that both branches yield as the same outer value is that value."""
    if len(op.regions[1].blocks) != 1 or not op.results:
        return False
    then_yield, else_yield = (r.blocks[0].ops[-1] for r in op.regions)
    changed = False
    for i, r in enumerate(op.results):
        v = then_yield.operands[i]
        if r.uses and v is else_yield.operands[i] and defined_outside(v, op):
            r.replace_all_uses_with(v)
            changed = True
    return changed


@pattern("scf.for")
def fold_zero_trip_for(op: Operation) -> bool:
    """An ``scf.for`` with constant bounds ``lb >= ub`` never runs its body."""
    lb, ub = constant_value(op.operands[0]), constant_value(op.operands[1])
    t = op.operands[0].type
    if lb is None or ub is None or not isinstance(t, IntType):
        return False
    lo, hi = normalize(lb, t), normalize(ub, t)
    assert isinstance(lo, int) and isinstance(hi, int)
    if lo < hi:
        return False
    replace_op(op, list(op.operands[3:]))
    return True


@pattern("scf.for")
def fold_passthrough_iter_args(op: Operation) -> bool:
    """``scf.for ... (%a = %init) { ... yield %a }``: ``%a`` and the result are ``%init``."""
    body = op.regions[0].blocks[0]
    yielded = body.ops[-1].operands
    changed = False
    for i, init in enumerate(op.operands[3:]):
        arg, result = body.args[i + 1], op.results[i]
        if yielded[i] is arg and (result.uses or len(arg.uses) > 1):
            # the yield keeps one use of the argument; every other use reads the init value
            for user in list(arg.uses):
                if user is not body.ops[-1]:
                    user.operands = [init if v is arg else v for v in user.operands]
            result.replace_all_uses_with(init)
            changed = True
    return changed
