"""Loop-carried accumulators that are only ever reduced: reduce them inside the loop.

GPU kernels written for long rows accumulate a whole tile across a loop and reduce it once
at the end (Triton's layer norm: ``_mean += x`` then ``tl.sum(_mean)``; Inductor's looped
reductions: ``_tmp = tl.where(rmask, _tmp + t, _tmp)`` then ``tl.sum(_tmp, 1)``). On a GPU the
tile lives in registers. On the CPU a 4096-wide tile is a stack buffer that every iteration
reads and writes, zeroed before the loop and read once more by the final reduction. Reducing
each iteration's contribution instead carries one value per reduced line, in registers, and
the contribution's reduction fuses with the loads that produce it.

The rewrite, for a ``scf.for`` slot whose block argument ``acc`` is used only by the update
and whose loop result is used only by a ``tt.reduce`` ``R`` (one operand, a combine region of
one op ``C``, the same op as the update's)::

    acc' = C(acc, t)                  ->  racc' = C(racc, R(t))
    acc' = select(m, C(acc, t), acc)  ->  racc' = C(racc, R(select(m, t, identity)))

with the loop's initial tile a constant: the combine's identity for sums, any constant for
max/min (they are idempotent). The result of ``R`` becomes the loop's result. Sums are
reassociated (a lane's partial sums are added per block instead of per lane), as any
reduction tree is; integer sums are exact.

This is the backend's own rewrite, not a pipeline pass: the compiler prints the TTIR before
the backend lowers it, and the backend may rewrite the module as it lowers.
"""

from __future__ import annotations

import math

from tritium.ir import Operation, Value
from tritium.ir import types as irt
from tritium.ir.rewrite import clone_region

__all__ = ["reduce_carried_accumulators"]

_SUMS = frozenset({"arith.addf", "arith.addi"})
_IDEMPOTENT = frozenset(
    {
        "arith.maxnumf",
        "arith.minnumf",
        "arith.maximumf",
        "arith.minimumf",
        "arith.maxsi",
        "arith.minsi",
        "arith.maxui",
        "arith.minui",
    }
)


def reduce_carried_accumulators(func: Operation) -> int:
    """Rewrite every matching accumulator of ``func`` in place; returns how many reductions
    moved into loops."""
    done = 0
    for reduce in [op for op in func.walk() if op.name == "tt.reduce"]:
        if _rewrite_chain(reduce):
            done += 1
    return done


def _single_user(v: Value) -> Operation | None:
    users = {id(u): u for u in v.uses}
    if len(users) != 1 or len(v.uses) != 1:
        return None
    return next(iter(users.values()))


def _combine_op(reduce: Operation) -> str | None:
    """The name of the one binary op of ``reduce``'s combine region, if that is all it does."""
    if len(reduce.operands) != 1 or len(reduce.results) != 1 or not reduce.regions:
        return None
    block = reduce.regions[0].block
    ops = block.ops
    if len(ops) != 2 or ops[1].name != "tt.reduce.return" or len(block.args) != 2:
        return None
    comb = ops[0]
    if {id(o) for o in comb.operands} != {id(a) for a in block.args} or len(comb.operands) != 2:
        return None
    if ops[1].operands != [comb.result]:
        return None
    if comb.name in _SUMS or comb.name in _IDEMPOTENT:
        return comb.name
    return None


def _identity(name: str, elem: irt.Type) -> int | float:
    if name in _SUMS:
        return 0.0 if name == "arith.addf" else 0
    if name in ("arith.maxnumf", "arith.maximumf"):
        return -math.inf
    if name in ("arith.minnumf", "arith.minimumf"):
        return math.inf
    width = elem.width if isinstance(elem, irt.IntType) else 32
    return {
        "arith.maxsi": -(1 << (width - 1)),
        "arith.minsi": (1 << (width - 1)) - 1,
        "arith.maxui": 0,
        "arith.minui": (1 << width) - 1,
    }[name]


def _constant_of(v: Value) -> int | float | None:
    op = v.defining_op
    if op is None:
        return None
    if op.name == "tt.splat":
        return _constant_of(op.operands[0])
    if op.name == "arith.constant":
        value = op.attrs.get("value")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    return None


def _update(acc: Value, term: Operation, comb: str) -> tuple[Value, Operation, Value | None] | None:
    """(t, the combine op, the select's mask or None) of ``acc``'s update ``term``."""
    mask: Value | None = None
    update = term
    if term.name == "arith.select":
        m, on_true, on_false = term.operands
        if on_false is not acc or on_true.defining_op is None:
            return None
        update = on_true.defining_op
        if _single_user(on_true) is not term:
            return None
        mask = m
    if update.name != comb or update.parent is not term.parent or len(update.operands) != 2:
        return None
    a, b = update.operands
    if a is acc and b is not acc:
        t = b
    elif b is acc and a is not acc:
        t = a
    else:
        return None
    # acc is read by the update (and the select's false branch) and nothing else
    expected = 2 if mask is not None else 1
    if len(acc.uses) != expected or (mask is not None and mask is acc):
        return None
    return t, update, mask


_Match = tuple[Operation, int, Value, Operation, Operation, Value | None]


def _chain(reduce: Operation, comb: str) -> tuple[list[_Match], int | float] | None:
    """The loops whose slot feeds ``reduce`` (a loop peeled in two chains its slot through two
    loops), outermost first, each with its update; and the first loop's constant start."""
    matches: list[_Match] = []
    v = reduce.operands[0]
    user = reduce
    while True:
        loop = v.defining_op
        if loop is None or loop.name != "scf.for" or loop.parent is not reduce.parent:
            return None
        if _single_user(v) is not user:
            return None
        i = v.index
        body = loop.regions[0].block
        acc = body.args[1 + i]
        term = body.terminator
        if not isinstance(acc.type, irt.TensorType) or term is None or term.name != "scf.yield":
            return None
        yielded = term.operands[i].defining_op
        if yielded is None or yielded.parent is not body:
            return None
        if _single_user(yielded.result) is not term:
            return None
        found = _update(acc, yielded, comb)
        if found is None:
            return None
        t, update, mask = found
        matches.append((loop, i, t, update, yielded, mask))
        init = loop.operands[3 + i]
        start = _constant_of(init)
        if start is not None:
            if comb in _SUMS and start != 0:
                return None
            return matches[::-1], start
        v, user = init, loop


def _rewrite_chain(reduce: Operation) -> bool:
    comb = _combine_op(reduce)
    if comb is None:
        return False
    chain = _chain(reduce, comb)
    if chain is None:
        return False
    matches, start = chain
    reduced_type = reduce.result.type
    loc = reduce.loc
    first = matches[0][0]
    assert first.parent is not None
    start_op = Operation("arith.constant", [], [reduced_type], {"value": start}, 0, loc)
    first.parent.insert_before(first, start_op)
    first.set_operand(3 + matches[0][1], start_op.result)
    for loop, i, t, update, yielded, mask in matches:
        _rewrite_slot(loop, i, t, update, yielded, mask, reduce, comb)
    reduce.result.replace_all_uses_with(matches[-1][0].results[matches[-1][1]])
    reduce.erase()
    return True


def _rewrite_slot(
    loop: Operation,
    i: int,
    t: Value,
    update: Operation,
    yielded: Operation,
    mask: Value | None,
    reduce: Operation,
    comb: str,
) -> None:
    body = loop.regions[0].block
    acc = body.args[1 + i]
    term = body.terminator
    assert term is not None
    elem = irt.element_type(acc.type)
    reduced_type = reduce.result.type
    loc = reduce.loc

    def insert(op: Operation) -> Value:
        body.insert_before(term, op)
        return op.result

    if mask is not None:
        ident = insert(
            Operation("arith.constant", [], [t.type], {"value": _identity(comb, elem)}, 0, loc)
        )
        t = insert(Operation("arith.select", [mask, t, ident], [t.type], {}, 0, loc))
    part = Operation("tt.reduce", [t], [reduced_type], dict(reduce.attrs), 0, loc)
    part.add_region(clone_region(reduce.regions[0], {}))
    part_v = insert(part)
    acc.type = reduced_type
    loop.results[i].type = reduced_type
    new = insert(Operation(comb, [acc, part_v], [reduced_type], dict(update.attrs), 0, loc))
    term.set_operand(i, new)
    if yielded is not update:
        yielded.erase()
    update.erase()
