"""Helpers for passes that rewrite IR: cloning with a value mapping, replacing and moving ops.

These build on :mod:`tritium.ir.core` only; they keep use lists and parent pointers right so
that a pass never touches ``Operation._operands`` or ``Block.ops`` bookkeeping by hand.
"""

from __future__ import annotations

from collections.abc import Iterator

from tritium.ir.core import Block, Operation, Region, Value

__all__ = [
    "clone_op",
    "clone_region",
    "replace_op",
    "inline_block_before",
    "move_before",
    "defined_outside",
    "walk_blocks",
    "erase_block_arg",
    "rebuild_op",
]


def clone_op(op: Operation, mapping: dict[Value, Value]) -> Operation:
    """A deep copy of ``op`` (regions included) that is not in any block.

    Operands are looked up in ``mapping`` (values not in it are used as they are), and
    ``mapping`` is extended with old -> new for every result and block argument cloned, so a
    sequence of ops can be cloned one after the other with one mapping.
    """
    new = Operation(
        op.name,
        [mapping.get(v, v) for v in op.operands],
        [r.type for r in op.results],
        _copy_attrs(op.attrs),
        0,
        op.loc,
    )
    for old_r, new_r in zip(op.results, new.results):
        mapping[old_r] = new_r
        new_r.name_hint = old_r.name_hint
    for region in op.regions:
        new.add_region(clone_region(region, mapping))
    return new


def clone_region(region: Region, mapping: dict[Value, Value]) -> Region:
    """A deep copy of ``region``; see :func:`clone_op` for ``mapping``."""
    new = Region()
    for block in region.blocks:
        nb = new.add_block(Block([a.type for a in block.args]))
        for old_a, new_a in zip(block.args, nb.args):
            mapping[old_a] = new_a
        for op in block.ops:
            nb.append(clone_op(op, mapping))
    return new


def _copy_attrs(attrs: dict[str, object]) -> dict[str, object]:
    # attribute values are immutable by convention, but lists and dicts are not: copy them so
    # that a pass editing a clone's attribute cannot change the original
    def copy(v: object) -> object:
        if isinstance(v, list):
            return [copy(x) for x in v]
        if isinstance(v, dict):
            return {k: copy(x) for k, x in v.items()}
        return v

    return {k: copy(v) for k, v in attrs.items()}


def replace_op(op: Operation, values: list[Value] | tuple[Value, ...]) -> None:
    """Replace every use of ``op``'s results by ``values`` (one per result), then erase it."""
    if len(values) != len(op.results):
        raise ValueError(f"replacing {op.name}: {len(values)} values for {len(op.results)} results")
    for old, new in zip(op.results, values):
        old.replace_all_uses_with(new)
    op.erase()


def move_before(op: Operation, anchor: Operation) -> None:
    """Move ``op`` (with its regions) from its block to just before ``anchor``."""
    assert op.parent is not None and anchor.parent is not None
    op.parent.ops.remove(op)
    anchor.parent.insert_before(anchor, op)


def inline_block_before(
    block: Block, anchor: Operation, args: list[Value] | tuple[Value, ...]
) -> Operation | None:
    """Move the ops of ``block`` before ``anchor``, with ``args`` standing for the block's
    arguments. Returns the moved terminator (still in place, for the caller to read its
    operands and erase), or None if the block has no ops."""
    for a, v in zip(block.args, args, strict=True):
        a.replace_all_uses_with(v)
    ops = list(block.ops)
    for op in ops:
        move_before(op, anchor)
    return ops[-1] if ops else None


def defined_outside(v: Value, op: Operation) -> bool:
    """Whether ``v`` is defined outside ``op`` (not by it, nor inside its regions)."""
    owner = v.owner
    owner_op = owner if isinstance(owner, Operation) else owner.parent_op()
    if isinstance(owner, Operation) and owner is op:
        return False
    return owner_op is None or not op.is_ancestor_of(owner_op)


def walk_blocks(op: Operation) -> Iterator[Block]:
    """Every block nested in ``op``, outer blocks before inner ones."""
    for region in op.regions:
        for block in region.blocks:
            yield block
            for inner in list(block.ops):
                yield from walk_blocks(inner)


def erase_block_arg(block: Block, index: int) -> None:
    """Remove the unused block argument ``index`` and renumber the ones after it."""
    arg = block.args[index]
    if arg.uses:
        raise ValueError("erasing a block argument that is still used")
    del block.args[index]
    for i, a in enumerate(block.args):
        a.index = i


def rebuild_op(op: Operation, operands: list[Value], keep_results: list[int]) -> Operation:
    """Replace ``op`` by an op of the same kind with new ``operands`` and only the results
    listed in ``keep_results``; its regions move to the new op. The dropped results must be
    unused. Returns the new op, in ``op``'s place."""
    new = Operation(
        op.name, operands, [op.results[i].type for i in keep_results], dict(op.attrs), 0, op.loc
    )
    for region in op.regions:
        new.add_region(region)
    op.regions = []
    assert op.parent is not None
    op.parent.insert_before(op, new)
    for new_i, old_i in enumerate(keep_results):
        op.results[old_i].replace_all_uses_with(new.results[new_i])
    op.erase()
    return new
