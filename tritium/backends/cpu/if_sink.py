"""Stores of an ``scf.if``'s tile results moved into its branches (tail duplication), and the
pure elementwise ops that only the branches read moved into them too.

Triton's layer norm backward (tutorial 05) ends with a first-write branch::

    if count == 0:
        tl.atomic_xchg(Count, 1)                  # yields (partial_dw, partial_db)
    else:
        partial_dw += tl.load(DW, mask=mask)
        partial_db += tl.load(DB, mask=mask)
    tl.store(DW, partial_dw, mask=mask)
    tl.store(DB, partial_db, mask=mask)

On a GPU the if's results are registers. Lowered as written on the CPU, each tile result gets
a stack buffer (``control._Slots``): the first branch copies its 16 KiB tiles into them, the
second computes into them, and each store reads them back; ``partial_dw = dy * xhat``, read
by both branches, gets a buffer of its own before the if. That was six 16 KiB tiles for a
4096-wide row, more than L1 (issue 13).

The rewrite, where an ``scf.if`` with an else branch is followed at once by a run of
``tt.store`` ops that store its results (each such result read by those stores only)::

    %r = scf.if %c { A; yield %a } else { B; yield %b }   ->  scf.if %c { A; store(p, %a) }
    store(p, %r)                                                  else { B; store(p, %b) }

Each path runs the same memory ops in the same order as before (the stores were the next ops
after the branch), with the same values, so this holds whatever the pointers alias. The
stored values are then fused into the stores' loops (``partial_dw + load(DW)`` is one pass)
and the results, and their buffers, go away.

Then a pure elementwise tile op defined in the if's block before it, whose uses are all inside
the if's branches, is cloned into each branch that uses it (before the first op there that
reads it) and erased: it reads no memory, so where it is computed does not matter, and each
path still computes it at most once; a branch's single use fuses it into that use.

This is the backend's own rewrite, not a pipeline pass (as ``accumulators``): the module
printed before the backend is unchanged.
"""

from __future__ import annotations

from tritium.ir import Block, Operation, Value, is_elementwise
from tritium.ir import types as irt
from tritium.ir.ops import is_pure
from tritium.ir.rewrite import clone_op, move_before, rebuild_op

__all__ = ["sink_into_ifs"]

_MAX_ROUNDS = 16  # each round removes results or ops; real kernels settle in one or two


def sink_into_ifs(func: Operation) -> bool:
    """Apply both rewrites (module docstring) to every ``scf.if`` of ``func`` until none
    applies; True if anything changed."""
    changed_any = False
    for _ in range(_MAX_ROUNDS):
        changed = False
        for op in list(func.walk()):
            if op.name == "scf.if" and op.parent is not None and _two_branches(op):
                rebuilt = _sink_stores(op)
                changed |= rebuilt is not None
                changed |= _sink_pure_ops(rebuilt or op)
        changed_any |= changed
        if not changed:
            break
    return changed_any


def _two_branches(op: Operation) -> bool:
    if len(op.regions) != 2:
        return False
    for region in op.regions:
        if len(region.blocks) != 1:
            return False
        term = region.blocks[0].terminator
        if term is None or term.name != "scf.yield" or len(term.operands) != len(op.results):
            return False
    return True


def _store_run(op: Operation) -> list[Operation]:
    """The stores right after ``op`` that store one of its results through a pointer (and
    mask) not computed from its results, cut so that the results they store are read by them
    alone. Pure ops among them (the pointers' arithmetic) move before ``op``: they read no
    memory and ran after it on every path, so they may run just before it."""
    block = op.parent
    assert block is not None
    results = set(op.results)
    run: list[Operation] = []
    pure: list[Operation] = []  # in order, each before the stores that follow it
    for later in block.ops[block.ops.index(op) + 1 :]:
        if not later.regions and later.results and is_pure(later.name):
            if any(o in results for o in later.operands):
                break
            pure.append(later)
            continue
        if later.name != "tt.store" or later.regions or len(later.operands) < 2:
            break
        value, others = later.operands[1], [*later.operands[:1], *later.operands[2:]]
        if value not in results or any(o in results for o in others):
            break
        run.append(later)
    while run:  # a stored result read by anything else keeps its result: stop before it
        members = set(run)
        cut = next(
            (i for i, s in enumerate(run) if any(u not in members for u in s.operands[1].uses)),
            None,
        )
        if cut is None:
            break
        run = run[:cut]
    if run:
        last = block.ops.index(run[-1])
        for p in pure:
            if block.ops.index(p) < last:
                move_before(p, op)
    return run


def _sink_stores(op: Operation) -> Operation | None:
    """The first rewrite; returns the if that replaces ``op`` (None when nothing moved)."""
    run = _store_run(op)
    if not run:
        return None
    for region in op.regions:
        branch = region.blocks[0]
        term = branch.terminator
        assert term is not None
        mapping: dict[Value, Value] = dict(zip(op.results, term.operands, strict=True))
        for store in run:
            branch.insert_before(term, clone_op(store, mapping))
    for store in run:
        store.erase()
    keep = [i for i, r in enumerate(op.results) if r.uses]
    for region in op.regions:
        term = region.blocks[0].terminator
        assert term is not None
        term.operands = [term.operands[i] for i in keep]
    return rebuild_op(op, list(op.operands), keep)


def _inside(op: Operation, user: Operation) -> bool:
    return user is not op and op.is_ancestor_of(user)


def _sink_pure_ops(op: Operation) -> bool:
    block = op.parent
    assert block is not None
    changed = False
    for cand in reversed(block.ops[: block.ops.index(op)]):
        if not _movable(cand) or not all(_inside(op, u) for u in cand.result.uses):
            continue
        for region in op.regions:
            _clone_into(cand, region.blocks[0])
        assert not cand.result.uses
        cand.erase()
        changed = True
    return changed


def _movable(op: Operation) -> bool:
    return (
        not op.regions
        and len(op.results) == 1
        and isinstance(op.result.type, irt.TensorType)
        and bool(op.result.uses)
        and is_pure(op.name)
        and (is_elementwise(op.name) or op.name.startswith("math."))
    )


def _clone_into(op: Operation, branch: Block) -> None:
    """Give the uses of ``op`` inside ``branch`` (at any depth) a clone of ``op`` of their own,
    placed before the first op of ``branch`` that reads it."""
    v = op.result
    holders = [h for h in branch.ops if any(u is h or h.is_ancestor_of(u) for u in v.uses)]
    if not holders:
        return
    clone = clone_op(op, {})
    branch.insert_before(holders[0], clone)
    for user in [u for u in v.uses if any(u is h or h.is_ancestor_of(u) for h in holders)]:
        user.operands = [clone.result if o is v else o for o in user.operands]
