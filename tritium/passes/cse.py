"""Common subexpression elimination.

Expects: verified IR. Guarantees: of two pure ops with the same name, operands (in either
order for commutative ops), attributes and result types, where the first dominates the
second, the second is erased and its uses read the first. An op dominates the ops after it
in its block and everything nested in those ops' regions; scopes never cross a ``tt.func``.

Touches pure ops without regions (``arith.*``, ``math.*``, shape ops, ``tt.addptr``,
``tt.make_range``, ``tt.get_program_id``, ``tt.dot``...). Loads, stores, atomics and ops
with regions are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from tritium.ir.core import Block, Module, Operation
from tritium.ir.ops import OPS, is_pure
from tritium.ir.printer import format_attr_dict
from tritium.passes.patterns import erase_ops
from tritium.passes.registry import Pass, register_pass

__all__ = ["CommonSubexpressionElimination"]

_Key = tuple[str, tuple[int, ...], str, tuple[str, ...]]
_COMMUTATIVE = frozenset(name for name, d in OPS.items() if "commutative" in d.traits)


@register_pass("cse")
@dataclass
class CommonSubexpressionElimination(Pass):
    """Merge identical pure computations."""

    def run(self, module: Module) -> Module:
        for func in module.body.ops:
            for region in func.regions:
                for block in region.blocks:
                    _cse_block(block, [{}])
        return module


def _key(op: Operation) -> _Key:
    # attributes compare by their printed text: it is exact (floats included) and treats a
    # list and a tuple with the same items as the same attribute
    operands = [id(v) for v in op.operands]
    if op.name in _COMMUTATIVE:  # a + b and b + a are the same value
        operands[:2] = sorted(operands[:2])
    return (
        op.name,
        tuple(operands),
        format_attr_dict(op.attrs),
        tuple(str(r.type) for r in op.results),
    )


def _lookup(scopes: list[dict[_Key, Operation]], key: _Key) -> Operation | None:
    for scope in reversed(scopes):
        found = scope.get(key)
        if found is not None:
            return found
    return None


def _cse_block(block: Block, scopes: list[dict[_Key, Operation]]) -> None:
    scopes.append({})
    merged: list[Operation] = []  # erased together at the end (see erase_ops)
    for op in list(block.ops):
        if op.regions:
            # values of this block dominate the nested regions, which get their own scope
            for region in op.regions:
                for inner in region.blocks:
                    _cse_block(inner, scopes)
            continue
        if not is_pure(op.name) or not op.results:
            continue
        key = _key(op)
        existing = _lookup(scopes, key)
        if existing is None:
            scopes[-1][key] = op
        else:
            for old, new in zip(op.results, existing.results):
                old.replace_all_uses_with(new)
            merged.append(op)
    erase_ops(merged)
    scopes.pop()
