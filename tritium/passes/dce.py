"""Dead code elimination.

Expects: verified IR. Guarantees: the module computes the same thing, with

* pure ops whose results are unused erased (``is_pure`` ops, regions included, e.g. an
  unused ``tt.reduce``);
* ``scf.if`` results that nobody reads removed (with their yields), and an ``scf.if``
  without results whose regions hold nothing but their yield erased;
* ``scf.for`` loop-carried values that neither the rest of the loop nor anyone after it
  reads removed (their init, block argument, yield operand and result), and an
  ``scf.for`` left without results or side effects erased.

Touches any pure op, ``scf.if`` and ``scf.for``. Ops with effects (loads, stores, atomics,
prints, asserts, calls, ``scf.while``) are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from tritium.ir.core import Block, Module, Operation, Value
from tritium.ir.ops import is_pure
from tritium.ir.rewrite import erase_block_arg, rebuild_op
from tritium.passes.registry import Pass, register_pass

__all__ = ["DeadCodeElimination"]


@register_pass("dce")
@dataclass
class DeadCodeElimination(Pass):
    """Erase unused pure ops and unused loop-carried / branch results."""

    def run(self, module: Module) -> Module:
        changed = True
        while changed:
            changed = _sweep(module.body)
        return module


def _sweep(block: Block) -> bool:
    """One backward sweep over ``block`` and its nested blocks; True if anything changed."""
    changed = False
    for op in reversed(list(block.ops)):
        for region in op.regions:
            for inner in region.blocks:
                changed |= _sweep(inner)
        if op.results and all(not r.uses for r in op.results) and is_pure(op.name):
            op.erase()
            changed = True
        elif op.name == "scf.if":
            changed |= _simplify_if(op)
        elif op.name == "scf.for":
            changed |= _simplify_for(op)
    return changed


def _only_yield(op: Operation, region_index: int) -> bool:
    blocks = op.regions[region_index].blocks
    return not blocks or len(blocks[0].ops) == 1


def _simplify_if(op: Operation) -> bool:
    """Drop unused results (and their yields); erase an if that then does nothing."""
    keep = [i for i, r in enumerate(op.results) if r.uses]
    if not keep and _only_yield(op, 0) and _only_yield(op, 1):
        op.erase()  # its results are unused and its regions do nothing
        return True
    if len(keep) == len(op.results):
        return False
    for region in op.regions:
        if region.blocks:
            yield_op = region.blocks[0].ops[-1]
            yield_op.operands = [yield_op.operands[i] for i in keep]
    rebuild_op(op, list(op.operands), keep)
    return True


def _simplify_for(op: Operation) -> bool:
    """Drop dead carried values (init, argument, yield, result); erase a loop doing nothing."""
    body = op.regions[0].blocks[0]
    yield_op = body.ops[-1]
    n = len(op.results)
    removable = _dead_iter_args(op, body, yield_op)
    if not removable:
        if n == 0 and len(body.ops) == 1:  # an empty loop without results does nothing
            op.erase()
            return True
        return False
    keep = [i for i in range(n) if i not in removable]
    yield_op.operands = [yield_op.operands[i] for i in keep]
    # what computed the dropped yields is now unused; erase it so the block args are free
    _erase_unused_pure(body)
    for i in sorted(removable, reverse=True):
        erase_block_arg(body, i + 1)  # argument 0 is the induction variable
    lb, ub, step = op.operands[:3]
    rebuild_op(op, [lb, ub, step] + [op.operands[3 + i] for i in keep], keep)
    return True


def _dead_iter_args(op: Operation, body: Block, yield_op: Operation) -> set[int]:
    """Indices of loop-carried values whose result is unused and whose block argument only
    feeds pure computations that end in its own yield slot."""
    candidates = {i for i, r in enumerate(op.results) if not r.uses}
    while True:
        live: set[Value] = set()
        for i, v in enumerate(yield_op.operands):
            if i not in candidates:
                live.add(v)
        work: list[Value] = list(live)
        for inner in body.ops[:-1]:
            if not is_pure(inner.name) or inner.regions:
                work.extend(_all_operands(inner))
        while work:
            v = work.pop()
            live.add(v)
            d = v.defining_op
            if d is not None and d.parent is body:
                work.extend(u for u in d.operands if u not in live)
            elif v.owner is body and v.index > 0 and (v.index - 1) in candidates:
                # a carried value used live: its yield slot is live too
                candidates.discard(v.index - 1)
                break
        else:
            return {i for i in candidates if body.args[i + 1] not in live}


def _all_operands(op: Operation) -> list[Value]:
    """Operands of ``op`` and of every op nested in it."""
    return [v for inner in op.walk() for v in inner.operands]


def _erase_unused_pure(block: Block) -> None:
    for op in reversed(list(block.ops)):
        if op.results and all(not r.uses for r in op.results) and is_pure(op.name):
            op.erase()
