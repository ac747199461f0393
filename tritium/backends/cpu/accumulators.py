"""Loop-carried accumulators that are only ever reduced: reduce them inside the loop.

GPU kernels written for long rows accumulate a whole tile across a loop and reduce it once
at the end (Triton's layer norm: ``_mean += x`` then ``tl.sum(_mean)``; Inductor's looped
reductions: ``_tmp = tl.where(rmask, _tmp + t, _tmp)`` then ``tl.sum(_tmp, 1)``). On a GPU the
tile lives in registers. On the CPU a 4096-wide tile is a stack buffer that every iteration
reads and writes, zeroed before the loop and read once more by the final reduction. Reducing
each iteration's contribution instead carries one value per reduced line, in registers, and
the contribution's reduction fuses with the loads that produce it.

The rewrite, for a ``scf.for`` slot whose block argument ``acc`` is used only by the update
and whose loop result is used only by a ``tt.reduce`` ``R`` with combine region ``C`` (one
operand), where the update applies the same ops as ``C`` to ``acc`` and a tile ``t``::

    acc' = C(acc, t)                  ->  racc' = C(racc, R(t))
    acc' = select(m, C(acc, t), acc)  ->  racc' = C(racc, R(select(m, t, fill)))

with the loop's initial tile a constant. ``C`` is a sum (one ``addf``/``addi``: the start
must be 0, masked-off lanes get 0) or idempotent (one max/min op, or a region whose result
selects one of its two operands, as Inductor's NaN-propagating ``triton_helpers.maximum``):
any start works, and masked-off lanes get the carried value itself. The result of ``R``
becomes the loop's result. Sums are
reassociated (a lane's partial sums are added per block instead of per lane), as any
reduction tree is; integer sums are exact.

This is the backend's own rewrite, not a pipeline pass: the compiler prints the TTIR before
the backend lowers it, and the backend may rewrite the module as it lowers.
"""

from __future__ import annotations

import math

from tritium.ir import Block, Operation, Value
from tritium.ir import types as irt
from tritium.ir.rewrite import clone_region

__all__ = ["constant_of", "reduce_carried_accumulators"]

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


def _combine_kind(reduce: Operation) -> str | None:
    """ "sum" or "idempotent" for a single-operand reduction whose combine region this rewrite
    understands (see the module docstring), else None."""
    if len(reduce.operands) != 1 or len(reduce.results) != 1 or not reduce.regions:
        return None
    block = reduce.regions[0].block
    if len(block.args) != 2 or not block.ops or block.ops[-1].name != "tt.reduce.return":
        return None
    if len(block.ops[-1].operands) != 1 or any(op.regions for op in block.ops):
        return None
    result = block.ops[-1].operands[0].defining_op
    if result is None:
        return None
    args = {id(a) for a in block.args}
    if len(block.ops) == 2 and {id(o) for o in result.operands} == args:
        if result.name in _SUMS:
            return "sum"
        if result.name in _IDEMPOTENT:
            return "idempotent"
        return None
    if result.name == "arith.select" and {id(o) for o in result.operands[1:]} == args:
        return "idempotent"  # always one of its operands: combine(x, x) == x
    return None


def _sum_identity(name: str) -> int | float:
    return 0.0 if name == "arith.addf" else 0


def constant_of(v: Value) -> int | float | None:
    """The number a scalar constant, or a splat of one, holds; else None (a bool constant is
    not a number here)."""
    op = v.defining_op
    if op is None:
        return None
    if op.name == "tt.splat":
        return constant_of(op.operands[0])
    if op.name == "arith.constant":
        value = op.attrs.get("value")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    return None


def _match_region(
    region: Block, acc: Value, value: Value, body: Block
) -> tuple[Value, set[Operation], bool] | None:
    """Whether ``value`` is the combine ``region`` applied to ``acc`` and some tile ``t`` by
    ops of ``body``: (t, those ops, whether acc stands for the region's second argument)."""
    for acc_is_second in (False, True):
        a_acc, a_t = region.args[1], region.args[0]
        if not acc_is_second:
            a_acc, a_t = region.args[0], region.args[1]
        m = _RegionMatch(acc, a_acc, a_t, body)
        if m.match(region.ops[-1].operands[0], value) and id(a_t) in m.bound:
            return m.bound[id(a_t)], set(m.ops.values()), acc_is_second
    return None


class _RegionMatch:
    """One attempt at mapping a combine region's values onto a loop body's."""

    def __init__(self, acc: Value, a_acc: Value, a_t: Value, body: Block) -> None:
        self.acc, self.a_t, self.body = acc, a_t, body
        self.bound: dict[int, Value] = {id(a_acc): acc}
        self.ops: dict[int, Operation] = {}

    def match(self, rv: Value, bv: Value) -> bool:
        if id(rv) in self.bound:
            return self.bound[id(rv)] is bv
        if rv is self.a_t:
            if bv is self.acc:
                return False
            self.bound[id(rv)] = bv
            return True
        rop, bop = rv.defining_op, bv.defining_op
        if rop is None or bop is None or bop.parent is not self.body or id(bop) in self.ops:
            return False
        if rop.name != bop.name or len(rop.operands) != len(bop.operands):
            return False
        if len(rop.results) != 1 or rop.attrs != bop.attrs:
            return False
        self.ops[id(bop)] = bop
        self.bound[id(rv)] = bv
        return all(self.match(r, b) for r, b in zip(rop.operands, bop.operands, strict=True))


_Match = tuple[Operation, int, Value, set[Operation], Operation, Value | None, bool]


def _update(loop: Operation, i: int, reduce: Operation) -> _Match | None:
    """How slot ``i`` of ``loop`` updates its accumulator, when it is ``reduce``'s combine."""
    body = loop.regions[0].block
    acc = body.args[1 + i]
    term = body.terminator
    if not isinstance(acc.type, irt.TensorType) or term is None or term.name != "scf.yield":
        return None
    yielded = term.operands[i]
    top = yielded.defining_op
    if top is None or top.parent is not body or _single_user(yielded) is not term:
        return None
    region = reduce.regions[0].block
    mask: Value | None = None
    found = None
    if top.name == "arith.select" and top.operands[2] is acc and top.operands[0] is not acc:
        # Inductor's masked update: where(mask, C(acc, t), acc)
        found = _match_region(region, acc, top.operands[1], body)
        if found is not None:
            mask = top.operands[0]
            found[1].add(top)
    if found is None:
        found = _match_region(region, acc, yielded, body)
    if found is None:
        return None
    t, ops, acc_is_second = found
    # the update's ops are read only by each other (and the yield), acc only by them
    for op in ops:
        for r in op.results:
            if any(u is not term and u not in ops for u in r.uses):
                return None
    if any(u not in ops for u in acc.uses):
        return None
    return loop, i, t, ops, term, mask, acc_is_second


def _chain(reduce: Operation, kind: str) -> tuple[list[_Match], int | float] | None:
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
        found = _update(loop, v.index, reduce)
        if found is None:
            return None
        matches.append(found)
        init = loop.operands[3 + v.index]
        start = constant_of(init)
        if start is not None:
            if kind == "sum" and start != 0:
                return None
            return matches[::-1], start
        v, user = init, loop


def _rewrite_chain(reduce: Operation) -> bool:
    kind = _combine_kind(reduce)
    if kind is None:
        return False
    chain = _chain(reduce, kind)
    if chain is None:
        return False
    matches, start = chain
    reduced_type = reduce.result.type
    loc = reduce.loc
    first, first_slot = matches[0][0], matches[0][1]
    assert first.parent is not None
    start_op = Operation("arith.constant", [], [reduced_type], {"value": start}, 0, loc)
    first.parent.insert_before(first, start_op)
    first.set_operand(3 + first_slot, start_op.result)
    for match in matches:
        _rewrite_slot(match, reduce, kind)
    last, last_slot = matches[-1][0], matches[-1][1]
    reduce.result.replace_all_uses_with(last.results[last_slot])
    reduce.erase()
    return True


def _rewrite_slot(match: _Match, reduce: Operation, kind: str) -> None:
    loop, i, t, ops, term, mask, acc_is_second = match
    body = loop.regions[0].block
    acc = body.args[1 + i]
    reduced_type = reduce.result.type
    axis = int(reduce.attrs["axis"])
    region = reduce.regions[0].block
    loc = reduce.loc
    old_tile_type = acc.type
    assert isinstance(old_tile_type, irt.TensorType)

    def insert(name: str, operands: list[Value], typ: irt.Type, attrs: dict | None = None) -> Value:
        op = Operation(name, operands, [typ], attrs or {}, 0, loc)
        body.insert_before(term, op)
        return op.result

    # the new carried value first takes the reduced type, so that a fill can be made from it
    acc.type = reduced_type
    loop.results[i].type = reduced_type
    if mask is not None and not (kind == "sum" and _zero_where_masked(t, mask)):
        if kind == "sum":
            fill = insert(
                "arith.constant", [], t.type, {"value": _sum_identity(region.ops[0].name)}
            )
        elif isinstance(reduced_type, irt.TensorType):
            grown = irt.TensorType(
                reduced_type.shape[:axis] + (1,) + reduced_type.shape[axis:], reduced_type.element
            )
            fill = insert("tt.expand_dims", [acc], grown, {"axis": axis})
            fill = insert("tt.broadcast", [fill], old_tile_type)
        else:
            fill = insert("tt.splat", [acc], old_tile_type)
        t = insert("arith.select", [mask, t, fill], t.type)
    part = Operation("tt.reduce", [t], [reduced_type], dict(reduce.attrs), 0, loc)
    part.add_region(clone_region(reduce.regions[0], {}))
    body.insert_before(term, part)
    # racc' = C(racc, part), the region's ops cloned with the accumulator where acc was
    first, second = (part.result, acc) if acc_is_second else (acc, part.result)
    env: dict[Value, Value] = {region.args[0]: first, region.args[1]: second}
    for rop in region.ops[:-1]:
        clone = Operation(
            rop.name,
            [env.get(o, o) for o in rop.operands],
            [_reshaped(r.type, reduced_type) for r in rop.results],
            dict(rop.attrs),
            0,
            loc,
        )
        body.insert_before(term, clone)
        for r, c in zip(rop.results, clone.results, strict=True):
            env[r] = c
    term.set_operand(i, env[region.ops[-1].operands[0]])
    # the old update, users first
    for op in sorted(ops, key=body.ops.index, reverse=True):
        op.erase()


_ZERO_IF_ALL = frozenset({"arith.addf", "arith.subf", "arith.addi", "arith.subi"})
_ZERO_TO_ZERO = frozenset(
    {"arith.negf", "arith.extf", "arith.truncf", "tt.fp_to_fp", "arith.sitofp", "arith.uitofp"}
)


def _zero_where_masked(v: Value, mask: Value, depth: int = 0) -> bool:
    """Whether ``v`` is 0 wherever ``mask`` is false: a load under that mask with ``other``
    0, or arithmetic that keeps those zeros (``x * x``, ``a + b``, casts). Then the sum's
    ``select(mask, t, 0)`` is ``t`` itself, and the loop's chunks need no mask vector unless
    they are partial."""
    op = v.defining_op
    if op is None or depth > 16:
        return False
    if op.name == "tt.load":
        return len(op.operands) == 3 and op.operands[1] is mask and constant_of(op.operands[2]) == 0
    if op.name == "arith.select":
        return op.operands[0] is mask and constant_of(op.operands[2]) == 0
    ins = op.operands
    if op.name == "arith.muli":
        return any(_zero_where_masked(o, mask, depth + 1) for o in ins)
    if op.name == "arith.mulf":
        # 0 * inf is NaN: the other factor must be a zero too, or a finite constant
        zeros = [_zero_where_masked(o, mask, depth + 1) for o in ins]
        return any(zeros) and all(z or _finite_constant(o) for z, o in zip(zeros, ins))
    if op.name in _ZERO_IF_ALL or op.name in _ZERO_TO_ZERO:
        return all(_zero_where_masked(o, mask, depth + 1) for o in ins)
    return False


def _finite_constant(v: Value) -> bool:
    c = constant_of(v)
    return c is not None and math.isfinite(c)


def _reshaped(scalar_type: irt.Type, like: irt.Type) -> irt.Type:
    """``scalar_type`` (a combine region's) at the shape of ``like``."""
    if isinstance(like, irt.TensorType):
        return irt.TensorType(like.shape, scalar_type)
    return scalar_type
