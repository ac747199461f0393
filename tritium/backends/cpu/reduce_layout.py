"""Reductions across a strided axis: transpose the operand so chunks run along memory.

The CPU backend evaluates a fused tile one chunk at a time, a chunk being consecutive lanes
of the last dimension. Inductor's reductions over a non-innermost axis of a tensor (``x.sum(0)``,
``var_mean(x, dim=1)`` of a ``[B, N, C]`` tensor) are ``[XBLOCK, RBLOCK]`` tiles reduced along
axis 1 whose pointers are contiguous along axis 0 (``in_ptr + x0 + 1024 * r``): every chunk
along the reduced axis is a gather, and each row is reduced separately.

Reducing ``t`` along axis 1 is reducing ``trans(t)`` along axis 0. Pushing the transposition
down the operand's expression tree to its leaves (``expand_dims``, ``splat``, constants: they
only change their axis or shape) gives a tree whose loads are contiguous along the new last
axis, and a reduction along axis 0 accumulates whole vectors of the kept axis, row after row
(``reduce``: one chunk of the result per accumulator, plain vector adds). The rewrite is done
when it leaves fewer gathered loads in the tree than before. Each result element combines the
same values; a sum is reassociated (row after row, in up to four interleaved partial sums,
instead of lanes and a horizontal tree), as any reduction order is.

The transposed tree is a clone, each op placed right after the op it copies (so loop-invariant
parts stay hoisted); the original ops the reduction was the only reader of are erased. Ops with
side effects, regions, several results or block arguments stop the rewrite, and so do
readers outside the tree (of loads, arithmetic: they would be computed twice), except for a
value with a unit dimension (a row statistic ``mean[:, None]`` also stored), which stays and
is read through a ``tt.trans`` view. Cheap index arithmetic may have other readers: it is
recomputed per chunk anyway. Reductions of one block that share a load are rewritten
together.
"""

from __future__ import annotations

from tritium.backends.cpu.analysis import CHEAP_OPS, INDEX_DIVISIONS, last_dim_stride
from tritium.ir import Operation, Value, is_elementwise
from tritium.ir import types as irt

__all__ = ["transpose_strided_reductions"]

#: Lanes the kept axis must have for vectors along it to pay: below this, the transposed
#: reduction walks nearly scalar chunks.
MIN_KEPT = 4


def transpose_strided_reductions(func: Operation) -> int:
    """Rewrite every rank-2 ``tt.reduce`` of ``func`` whose operand loads are gathers along
    the reduced axis but contiguous along the other; returns how many were rewritten.

    Reductions of one block over the same tile shape and axis are tried together first (a
    training kernel's ``sum(dy * xhat)`` and ``sum(dy)`` read the same load), then one by one.
    """
    done = 0
    groups: dict[tuple[int, tuple[int, ...], int], list[Operation]] = {}
    for op in func.walk():
        if op.name == "tt.reduce" and op.operands and _rank2(op.operands[0]):
            key = (id(op.parent), irt.shape_of(op.operands[0].type), int(op.attrs["axis"]))
            groups.setdefault(key, []).append(op)
    for group in groups.values():
        if len(group) > 1 and _rewrite(group):
            done += len(group)
            continue
        done += sum(1 for reduce in group if _rewrite([reduce]))
    return done


def _is_tile(v: Value) -> bool:
    return isinstance(v.type, irt.TensorType)


def _rank2(v: Value) -> bool:
    return isinstance(v.type, irt.TensorType) and v.type.rank == 2


def _transposed(t: irt.Type) -> irt.TensorType:
    assert isinstance(t, irt.TensorType) and t.rank == 2
    return irt.TensorType((t.shape[1], t.shape[0]), t.element)


def _elementwise(op: Operation) -> bool:
    return is_elementwise(op.name) or op.name.startswith("math.")


def _collect(group: list[Operation]) -> tuple[list[Operation], set[int]] | None:
    """The ops computing the reduction's operands, operands first, and those of them that
    stay as they are and are read through a ``tt.trans`` view (shared values with a unit
    dimension: a row statistic ``mean[:, None]`` also stored elsewhere); None when some value
    of the tree cannot be transposed (see the module docstring)."""
    shared: set[int] = set()
    while True:
        order = _tree(group, shared)
        if order is None:
            return None
        members = {id(op) for op in order} | {id(r) for r in group}
        grew = False
        for op in order:
            if op.name in CHEAP_OPS or op.name in INDEX_DIVISIONS or id(op) in shared:
                continue
            # read outside the tree, a copy would be computed twice (a load: read twice)
            if any(id(u) not in members for u in op.result.uses):
                if 1 not in irt.shape_of(op.result.type):
                    return None
                shared.add(id(op))
                grew = True
        if not grew:
            return order, shared


def _tree(group: list[Operation], shared: set[int]) -> list[Operation] | None:
    order: list[Operation] = []
    seen: set[int] = set()
    stack: list[tuple[Value, bool]] = [(v, False) for r in group for v in r.operands]
    while stack:
        v, expanded = stack.pop()
        op = v.defining_op
        if op is None or len(op.results) != 1 or op.regions:
            return None
        if expanded:
            if id(op) not in seen:
                seen.add(id(op))
                order.append(op)
            continue
        if id(op) in seen:
            continue
        name = op.name
        inner: list[Value] = []
        if id(op) in shared:
            pass
        elif name == "tt.trans":
            if list(op.attrs.get("order", ())) != [1, 0] or not _rank2(op.operands[0]):
                return None
        elif name in ("tt.expand_dims", "tt.splat", "arith.constant"):
            if name == "arith.constant" and not isinstance(op.attrs.get("value"), (int, float)):
                return None  # a dense non-uniform constant: not a shape change
            if name == "tt.expand_dims" and len(irt.shape_of(op.operands[0].type)) != 1:
                return None
        elif name == "tt.broadcast" or name == "tt.load" or _elementwise(op):
            inner = [o for o in op.operands if _is_tile(o)]
            if not all(_rank2(o) for o in inner):
                return None
            if name == "tt.load" and (len(op.operands) > 3 or not _rank2(op.operands[0])):
                return None
        else:
            return None
        stack.append((v, True))
        stack.extend((o, False) for o in inner)
    return order


def _clone(op: Operation, env: dict[int, Value], shared: set[int]) -> Operation | None:
    """``op``'s transposed copy, placed right after it (None for ``trans``, whose operand is
    its transposition); a shared value gets a ``tt.trans`` of itself instead."""
    if op.name == "tt.trans" and id(op) not in shared:
        env[id(op.result)] = op.operands[0]
        return None
    new_type = _transposed(op.result.type)
    if id(op) in shared:
        new = Operation("tt.trans", [op.result], [new_type], {"order": [1, 0]}, 0, op.loc)
    else:
        attrs = dict(op.attrs)
        if op.name == "tt.expand_dims":
            attrs["axis"] = 1 - int(attrs["axis"])
        operands = [env[id(o)] if _is_tile(o) and id(o) in env else o for o in op.operands]
        new = Operation(op.name, operands, [new_type], attrs, 0, op.loc)
    assert op.parent is not None
    block = op.parent
    block.insert(block.ops.index(op) + 1, new)
    env[id(op.result)] = new.result
    return new


def _gathers(ops: list[Operation], memo: dict[Value, int | None]) -> int:
    return sum(
        1
        for op in ops
        if op.name == "tt.load" and last_dim_stride(op.operands[0], memo) not in (0, 1)
    )


def _rewrite(group: list[Operation]) -> bool:
    first = group[0]
    axis = int(first.attrs["axis"])
    if not all(r.operands and all(_rank2(v) for v in r.operands) for r in group):
        return False
    kept = irt.shape_of(first.operands[0].type)[1 - axis]
    if kept < MIN_KEPT:
        return False
    found = _collect(group)
    if found is None:
        return False
    tree, shared = found
    before = _gathers([op for op in tree if id(op) not in shared], {})
    if before == 0:
        return False
    env: dict[int, Value] = {}
    clones = [c for op in tree if (c := _clone(op, env, shared)) is not None]
    if _gathers(clones, {}) >= before:
        for c in reversed(clones):
            c.erase()
        return False
    for reduce in group:
        for i, v in enumerate(list(reduce.operands)):
            reduce.set_operand(i, env[id(v)])
        reduce.attrs["axis"] = 1 - axis
    # the originals nothing reads any more (the tree minus shared index arithmetic)
    for op in reversed(tree):
        if op.parent is not None and not any(r.uses for r in op.results):
            op.erase()
    return True
