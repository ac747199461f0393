"""Canonicalization patterns for structured control flow.

* ``scf.if`` on a constant condition → the taken region's ops;
* an ``scf.if`` result that both branches yield as the same outer value → that value; an
  ``scf.if`` whose branches only yield outer values → ``arith.select`` s;
* ``scf.for`` whose constant bounds give no iteration → its initial values; one that runs
  exactly once → its body;
* an ``scf.for`` carried value that the body yields unchanged is its initial value, inside
  and after the loop (DCE then drops the carried value).
"""

from __future__ import annotations

from tritium.ir.core import Operation
from tritium.ir.rewrite import defined_outside, inline_block_before, replace_op
from tritium.ir.types import IntType
from tritium.passes.constant_eval import normalize
from tritium.passes.patterns import constant_value, pattern

__all__ = [
    "fold_single_trip_for",
    "fold_constant_if",
    "fold_if_same_yields",
    "fold_zero_trip_for",
    "fold_passthrough_iter_args",
    "fold_if_to_select",
]


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


def _trip_count(op: Operation) -> int | None:
    """The number of iterations of an ``scf.for`` with constant bounds and step, else None."""
    t = op.operands[0].type
    values = [constant_value(v) for v in op.operands[:3]]
    if not isinstance(t, IntType) or any(v is None for v in values):
        return None
    lo, hi, step = (normalize(v, t) for v in values if v is not None)
    assert isinstance(lo, int) and isinstance(hi, int) and isinstance(step, int)
    if lo >= hi:
        return 0
    if step <= 0:
        return None  # a loop that never ends (or undefined): leave it alone
    return -((lo - hi) // step)


@pattern("scf.for")
def fold_zero_trip_for(op: Operation) -> bool:
    """An ``scf.for`` whose constant bounds give no iteration is its initial values."""
    if _trip_count(op) != 0:
        return False
    replace_op(op, list(op.operands[3:]))
    return True


@pattern("scf.for")
def fold_single_trip_for(op: Operation) -> bool:
    """An ``scf.for`` that runs exactly once is its body, with ``lb`` for the induction
    variable and the initial values for the carried ones."""
    if _trip_count(op) != 1:
        return False
    body = op.regions[0].blocks[0]
    terminator = inline_block_before(body, op, [op.operands[0], *op.operands[3:]])
    assert terminator is not None and terminator.name == "scf.yield"
    results = list(terminator.operands)
    terminator.erase()
    replace_op(op, results)
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


@pattern("scf.if")
def fold_if_to_select(op: Operation) -> bool:
    """``scf.if %c { yield %a } else { yield %b }`` → ``arith.select %c, %a, %b`` per result,
    when both branches hold nothing but a yield (so nothing runs conditionally)."""
    if not op.results or any(len(r.blocks) != 1 or len(r.blocks[0].ops) != 1 for r in op.regions):
        return False
    then_values = op.regions[0].blocks[0].ops[0].operands
    else_values = op.regions[1].blocks[0].ops[0].operands
    selects = []
    for r, a, b in zip(op.results, then_values, else_values, strict=True):
        sel = Operation("arith.select", [op.operands[0], a, b], [r.type], {}, 0, op.loc)
        assert op.parent is not None
        op.parent.insert_before(op, sel)
        selects.append(sel.results[0])
    replace_op(op, selects)
    return True
