"""Inductor's looped Welford reduction (``var_mean``, layer norm over long rows): reduce each
chunk inside the loop and carry one ``(mean, m2, n)`` per row.

Inductor writes three ``[XBLOCK, R0_BLOCK]`` tiles updated per lane by
``triton_helpers.welford_reduce(t, mean, m2, weight, roffset == 0)``, each kept by
``tl.where(mask, next, old)``, and combines them after the loop with the three-operand
``triton_helpers.welford`` reduction. On the CPU the tiles are stack buffers read and written
every iteration, and every lane pays a division. Here, as ``accumulators`` does for sums, the
loop carries the reduced values instead: per iteration the chunk's enabled lanes give ``n_c``,
``mean_c = sum(t) / n_c`` and ``m2_c = sum((t - mean_c)^2)`` (deviations from the chunk's own
mean, so a large common offset cancels as in Welford's update), which the region's own
combine (Chan's formula, ``welford_combine``) merges into the carried values. The loop's
results replace the final reduction's.

Matched strictly: the loop starts at 0 and its three slots start at a zero tile; the update is
the ``scf.if`` of the inlined ``welford_reduce`` on ``iv == 0`` (then: ``(t, 0, 1)``; else:
``delta = t - mean``, ``w' = w + 1``, ``mean' = mean + delta / w'``, ``m2' = m2 + delta * (t -
mean')``), the three selects share one mask, and the reduction's combine region has the exact
shape of ``welford_combine``. Anything else is left alone.
"""

from __future__ import annotations

from tritium.backends.cpu.accumulators import constant_of
from tritium.ir import Block, Operation, Value
from tritium.ir import types as irt
from tritium.ir.core import Region

__all__ = ["reduce_carried_welford"]

# welford_combine(mean_1, m2_1, weight_1, mean_2, m2_2, weight_2) as tritium's frontend emits it:
# (name, predicate or constant, operands) with ("a", k) a block argument, ("o", j) op j's result
_COMBINE = (
    ("arith.cmpf", "oeq", (("a", 0), ("a", 3))),
    ("arith.subf", None, (("a", 3), ("a", 0))),
    ("arith.constant", 0.0, ()),
    ("arith.select", None, (("o", 0), ("o", 2), ("o", 1))),
    ("arith.addf", None, (("a", 2), ("a", 5))),
    ("arith.cmpf", "oeq", (("o", 4), ("o", 2))),
    ("arith.divf", None, (("a", 5), ("o", 4))),
    ("arith.select", None, (("o", 5), ("o", 2), ("o", 6))),
    ("arith.mulf", None, (("o", 3), ("o", 7))),
    ("arith.addf", None, (("a", 0), ("o", 8))),
    ("arith.addf", None, (("a", 1), ("a", 4))),
    ("arith.mulf", None, (("o", 3), ("o", 3))),
    ("arith.mulf", None, (("o", 11), ("a", 2))),
    ("arith.mulf", None, (("o", 12), ("o", 7))),
    ("arith.addf", None, (("o", 10), ("o", 13))),
    ("tt.reduce.return", None, (("o", 9), ("o", 14), ("o", 4))),
)


def reduce_carried_welford(func: Operation) -> int:
    """Rewrite every matching looped Welford reduction of ``func`` in place; returns how many."""
    done = 0
    for reduce in [op for op in func.walk() if op.name == "tt.reduce"]:
        found = _match(reduce)
        if found is not None:
            _rewrite(reduce, *found)
            done += 1
    return done


def _is_combine(reduce: Operation) -> bool:
    if len(reduce.regions) != 1 or len(reduce.regions[0].blocks) != 1:
        return False
    block = reduce.regions[0].block
    if len(block.args) != 6 or len(block.ops) != len(_COMBINE):
        return False
    if any(not isinstance(a.type, irt.FloatType) for a in block.args):
        return False
    index = {id(op): j for j, op in enumerate(block.ops)}
    args = {id(a): k for k, a in enumerate(block.args)}
    for op, (name, extra, operands) in zip(block.ops, _COMBINE, strict=True):
        if op.name != name or op.regions or len(op.operands) != len(operands):
            return False
        if name == "arith.cmpf" and op.attrs.get("predicate") != extra:
            return False
        if name == "arith.constant" and constant_of(op.results[0]) != extra:
            return False
        for v, (kind, k) in zip(op.operands, operands, strict=True):
            if kind == "a" and args.get(id(v)) != k:
                return False
            if kind == "o" and (v.defining_op is None or index.get(id(v.defining_op)) != k):
                return False
    return True


def _only_users(v: Value, allowed: list[Operation]) -> bool:
    return all(any(u is a for a in allowed) for u in v.uses)


def _match(reduce: Operation) -> tuple | None:
    if len(reduce.operands) != 3 or len(reduce.results) != 3 or not _is_combine(reduce):
        return None
    loop = reduce.operands[0].defining_op
    if loop is None or loop.name != "scf.for" or loop.parent is not reduce.parent:
        return None
    if any(v.defining_op is not loop or len(v.uses) != 1 for v in reduce.operands):
        return None
    slots = [v.index for v in reduce.operands]  # mean, m2, weight
    if len(set(slots)) != 3 or constant_of(loop.operands[0]) != 0:
        return None
    if any(constant_of(loop.operands[3 + s]) not in (0, 0.0) for s in slots):
        return None
    body = loop.regions[0].block
    term = body.terminator
    if term is None or term.name != "scf.yield":
        return None
    iv = body.args[0]
    accs = [body.args[1 + s] for s in slots]
    tile = accs[0].type
    if not isinstance(tile, irt.TensorType) or any(a.type != tile for a in accs):
        return None
    if tile.element != irt.f32 or len(reduce.results[0].type.shape) != len(tile.shape) - 1:
        return None
    sels = [term.operands[s].defining_op for s in slots]
    if any(s is None or s.name != "arith.select" or s.parent is not body for s in sels):
        return None
    mask = sels[0].operands[0]
    if any(s.operands[0] is not mask or s.operands[2] is not a for s, a in zip(sels, accs)):
        return None
    if any(len(s.result.uses) != 1 for s in sels):
        return None
    branch = sels[0].operands[1].defining_op
    if branch is None or branch.name != "scf.if" or branch.parent is not body:
        return None
    if any(s.operands[1].defining_op is not branch for s in sels):
        return None
    k = [s.operands[1].index for s in sels]  # the if's result of mean, m2, weight
    if len(set(k)) != 3 or len(branch.results) != 3:
        return None
    if any(len(r.uses) != 1 for r in branch.results):  # read by the selects alone
        return None
    cond = branch.operands[0].defining_op
    if (
        cond is None
        or cond.name != "arith.cmpi"
        or cond.attrs.get("predicate") != "eq"
        or cond.operands[0] is not iv
        or constant_of(cond.operands[1]) != 0
    ):
        return None
    if len(branch.regions) != 2 or any(len(r.blocks) != 1 for r in branch.regions):
        return None
    then, other = (r.blocks[0] for r in branch.regions)
    if any(o.name not in ("arith.constant", "tt.splat", "scf.yield") for o in then.ops):
        return None
    ty = then.terminator.operands
    t = ty[k[0]]
    if constant_of(ty[k[1]]) not in (0, 0.0) or constant_of(ty[k[2]]) != 1.0:
        return None
    if t.type != tile or (t.defining_op is not None and t.defining_op.parent is then):
        return None
    if not _welford_step(other, t, accs, k):
        return None
    if any(not _only_users(a, [*other.ops, s]) for a, s in zip(accs, sels)):
        return None
    return loop, slots, t, mask, sels, branch


def _welford_step(block: Block, t: Value, accs: list[Value], k: list[int]) -> bool:
    """Whether ``block`` is exactly welford_reduce's else branch on ``t`` and ``accs``."""
    mean, m2, w = accs
    ops = block.ops
    if len(ops) != 9 or ops[-1].name != "scf.yield":
        return False
    d, one, w1, q, mean1, dt, prod, m21 = ops[:8]
    shape = [
        (d, "arith.subf", [t, mean]),
        (w1, "arith.addf", [w, one.results[0]]),
        (q, "arith.divf", [d.results[0], w1.results[0]]),
        (mean1, "arith.addf", [mean, q.results[0]]),
        (dt, "arith.subf", [t, mean1.results[0]]),
        (prod, "arith.mulf", [d.results[0], dt.results[0]]),
        (m21, "arith.addf", [m2, prod.results[0]]),
    ]
    if one.name != "arith.constant" or constant_of(one.results[0]) != 1.0:
        return False
    for op, name, operands in shape:
        if op.name != name or len(op.operands) != 2:
            return False
        if any(a is not b for a, b in zip(op.operands, operands, strict=True)):
            return False
    y = ops[-1].operands
    return y[k[0]] is mean1.results[0] and y[k[1]] is m21.results[0] and y[k[2]] is w1.results[0]


def _rewrite(reduce: Operation, loop: Operation, slots, t, mask, sels, branch) -> None:
    body = loop.regions[0].block
    term = body.terminator
    loc = reduce.loc
    axis = int(reduce.attrs["axis"])
    tile = t.type
    red = reduce.results[0].type
    f32 = irt.f32

    def op(name: str, operands: list[Value], typ: irt.Type, attrs: dict | None = None) -> Value:
        new = Operation(name, operands, [typ], attrs or {}, 0, loc)
        body.insert_before(term, new)
        return new.result

    def const(value: float, typ: irt.Type) -> Value:
        return op("arith.constant", [], typ, {"value": value})

    def total(v: Value) -> Value:
        r = Operation("tt.reduce", [v], [red], {"axis": axis}, 0, loc)
        region = Region()
        blk = region.add_block(Block([f32, f32]))
        s = Operation("arith.addf", [blk.args[0], blk.args[1]], [f32], {}, 0, loc)
        blk.append(s)
        blk.append(Operation("tt.reduce.return", [s.result], [], {}, 0, loc))
        r.add_region(region)
        body.insert_before(term, r)
        return r.result

    def cmp(a: Value, b: Value) -> Value:
        return op("arith.cmpf", [a, b], irt.TensorType(red.shape, irt.i1), {"predicate": "oeq"})

    # the carried values: the slots become [XBLOCK] values starting at 0
    start = Operation("arith.constant", [], [red], {"value": 0.0}, 0, loc)
    loop.parent.insert_before(loop, start)
    accs = []
    for s in slots:
        loop.set_operand(3 + s, start.result)
        body.args[1 + s].type = red
        loop.results[s].type = red
        accs.append(body.args[1 + s])
    mean, m2, n = accs
    # old update out first (users first), so that the carried values have no stale users
    for s in sels:
        term.set_operand(term.operands.index(s.result), s.operands[2])
    for s in sels:
        s.erase()
    for blk_op in reversed(branch.regions[1].blocks[0].ops):
        blk_op.erase()
    for blk_op in reversed(branch.regions[0].blocks[0].ops):
        blk_op.erase()
    branch.erase()
    # the chunk: n_c, mean_c, m2_c over the enabled lanes
    zero_t, one_t = const(0.0, tile), const(1.0, tile)
    zero, one = const(0.0, red), const(1.0, red)
    n_c = total(op("arith.select", [mask, one_t, zero_t], tile))
    s_c = total(op("arith.select", [mask, t, zero_t], tile))
    none = cmp(n_c, zero)
    mean_c = op("arith.divf", [s_c, op("arith.select", [none, one, n_c], red)], red)
    grown = irt.TensorType(red.shape[:axis] + (1,) + red.shape[axis:], f32)
    wide = op("tt.broadcast", [op("tt.expand_dims", [mean_c], grown, {"axis": axis})], tile)
    dev = op("arith.subf", [t, wide], tile)
    m2_c = total(op("arith.select", [mask, op("arith.mulf", [dev, dev], tile), zero_t], tile))
    # welford_combine((mean, m2, n), (mean_c, m2_c, n_c))
    delta = op(
        "arith.select", [cmp(mean, mean_c), zero, op("arith.subf", [mean_c, mean], red)], red
    )
    n1 = op("arith.addf", [n, n_c], red)
    frac = op("arith.select", [cmp(n1, zero), zero, op("arith.divf", [n_c, n1], red)], red)
    mean1 = op("arith.addf", [mean, op("arith.mulf", [delta, frac], red)], red)
    spread = op(
        "arith.mulf", [op("arith.mulf", [op("arith.mulf", [delta, delta], red), n], red), frac], red
    )
    m21 = op("arith.addf", [op("arith.addf", [m2, m2_c], red), spread], red)
    for s, v in zip(slots, (mean1, m21, n1), strict=True):
        term.set_operand(s, v)
    for r, s in zip(reduce.results, slots, strict=True):
        r.replace_all_uses_with(loop.results[s])
    reduce.erase()
