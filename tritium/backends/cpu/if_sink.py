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

Last, a branch that now loads tiles and then stores tiles (the else branch above: load DW,
load DB, store DW, store DB) gets a second version that runs where the tiles are disjoint, in
which each store comes right after what it needs (load DW, store DW, load DB, store DB): see
:func:`version_disjoint_stores`. Where the version's condition also keeps every store apart
from the other stores and their loads, it is marked ``FUSED_STORES`` and its stores share one
chunk loop (``store_groups.py``).

This is the backend's own rewrite, not a pipeline pass (as ``accumulators``): the module
printed before the backend is unchanged.
"""

from __future__ import annotations

from tritium.backends.cpu import llvm_utils as lu
from tritium.ir import Block, Operation, Value, is_elementwise
from tritium.ir import types as irt
from tritium.ir.ops import is_pure
from tritium.ir.rewrite import clone_op, defined_outside, move_before, rebuild_op

__all__ = [
    "FUSED_STORES",
    "VERSIONED",
    "disjoint_condition",
    "sink_into_ifs",
    "stores_first",
    "version_disjoint_stores",
]

_MAX_ROUNDS = 16  # each round removes results or ops; real kernels settle in one or two


def sink_into_ifs(func: Operation) -> bool:
    """Apply the rewrites of the module docstring to every ``scf.if`` of ``func`` until none
    applies (the branches an if's stores moved into are then versioned); True if anything
    changed."""
    changed_any = False
    for _ in range(_MAX_ROUNDS):
        changed = False
        for op in list(func.walk()):
            if op.name == "scf.if" and op.parent is not None and _two_branches(op):
                rebuilt = _sink_stores(op)
                changed |= rebuilt is not None
                changed |= _sink_pure_ops(rebuilt or op)
                if rebuilt is not None:
                    for region in rebuilt.regions:
                        changed |= version_disjoint_stores(region.blocks[0])
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


#: marks the ``scf.if`` made by :func:`version_disjoint_stores` (its branches are not
#: versioned again)
VERSIONED = "cpu.disjoint_version"
#: on such an ``scf.if``: its condition also proves what lowering the fast version's stores
#: in one chunk loop needs (``store_groups.lower_store_group``)
FUSED_STORES = "cpu.fused_stores"


def version_disjoint_stores(block: Block) -> bool:
    """Give ``block`` (a branch of an ``scf.if``, ending in an empty ``scf.yield``) a second
    version in which each tile store moves up to just after the ops it needs, taken when
    every load that then runs after a store reads bytes that store cannot write.

    A load whose value is needed only after a store that may alias it must be read before
    that store, so the lowering copies its tile into a stack buffer first (``analysis.
    _demote_hazardous_loads``): the else branch of tutorial 05 copies its 16 KiB DB row before
    storing DW. When the two 1-D tiles (``splat(p) + arange(0, n)``) do not overlap, which
    a comparison of their byte ranges at run time tells, loading after the store reads the
    same bytes, and the load fuses into its own store's loop. The block then becomes
    ``scf.if disjoint { reordered copy } else { original }``; nothing changes where they may
    overlap. A block whose stores need no reordering gets the version too when its stores
    can share one loop (``FUSED_STORES``, see :func:`_fusion_pairs`): the first-write branch
    of tutorial 05 stores its DW and DB rows. Ops with side effects other than loads and
    stores may only come first (that branch's ``atomic_xchg``): they stay in front of the
    version; blocks with any elsewhere are left alone."""
    parent = block.parent_op() if block.parent is not None else None
    if parent is None or parent.attrs.get(VERSIONED):
        return False
    term = block.terminator
    if term is None or term.name != "scf.yield" or term.operands:
        return False
    body = block.ops[:-1]
    while body and not body[0].regions and not _reorderable(body[0]):
        body = body[1:]  # a leading atomic stays in front of the version
    for o in body:
        if o.regions or not _reorderable(o):
            return False
    order = stores_first(body)
    if order is None:
        return False
    pairs: list[tuple[Operation, Operation]] = []  # (load, store) that swap
    pos = {o: i for i, o in enumerate(body)}
    new_pos = {o: i for i, o in enumerate(order)}
    for load in (o for o in body if o.name == "tt.load"):
        for store in (o for o in body if o.name == "tt.store"):
            if pos[load] < pos[store] and new_pos[load] > new_pos[store]:
                pairs.append((load, store))
    fused = _fusion_pairs(body, order, parent)
    if not pairs and fused is None:
        return False
    ranges = {}
    for load, store in pairs:
        for m in (load, store):
            r = _byte_range(m.operands[0], parent)
            if r is None:
                return False
            ranges[m] = r
    checked = [(ranges[a], ranges[b]) for a, b in pairs]
    for p in fused or ():
        if p not in checked and p[::-1] not in checked:
            checked.append(p)
    if any(a[0] is b[0] for a, b in checked):
        return False  # the same tile: never disjoint, the version would never run
    cond_ops, cond = disjoint_condition(checked, term)
    attrs = {VERSIONED: True} | ({FUSED_STORES: True} if fused is not None else {})
    inner = Operation("scf.if", [cond], [], attrs, 2, term.loc)
    fast, slow = (inner.regions[i].add_block(Block()) for i in (0, 1))
    mapping: dict[Value, Value] = {}
    for o in order:
        fast.append(clone_op(o, mapping))
    fast.append(Operation("scf.yield", [], [], {}, 0, term.loc))
    for o in body:
        block.ops.remove(o)
        slow.append(o)
    slow.append(Operation("scf.yield", [], [], {}, 0, term.loc))
    for c in cond_ops:
        block.insert_before(term, c)
    block.insert_before(term, inner)
    return True


def _reorderable(op: Operation) -> bool:
    """A load, a store or a pure op: what the versions may reorder."""
    return op.name in ("tt.load", "tt.store") or bool(op.results and is_pure(op.name))


def _fusion_pairs(
    body: list[Operation], order: list[Operation], owner: Operation
) -> list[tuple[tuple[Value, int], tuple[Value, int]]] | None:
    """The byte ranges that must not overlap for the stores of ``order`` (the fast version)
    to run as one chunk loop, chunk ``i`` of every store after chunk ``i`` of the one before:
    each store against every other store and against the loads placed with another store
    (the loads a store needs come right before it in ``order``). None when that does not
    apply: stores of different 1-D sizes, a load needed by no store, a range not known."""
    stores = [o for o in order if o.name == "tt.store"]
    groups: list[tuple[Operation, list[Operation]]] = []
    loads: list[Operation] = []
    for o in order:
        if o.name == "tt.load":
            loads.append(o)
        elif o.name == "tt.store":
            groups.append((o, loads))
            loads = []
    if loads or len(stores) < 2:
        return None
    shapes = {tuple(irt.shape_of(s.operands[0].type)) for s in stores}
    if len(shapes) != 1:
        return None
    ranges = {}
    for o in body:
        if o.name in ("tt.load", "tt.store"):
            r = _byte_range(o.operands[0], owner)
            if r is None:
                return None
            ranges[o] = r
    out = []
    for i, (store_a, loads_a) in enumerate(groups):
        for store_b, loads_b in groups[i + 1 :]:
            for a, b in [(store_a, store_b), *((store_a, x) for x in loads_b)]:
                out.append((ranges[a], ranges[b]))
            out += [(ranges[store_b], ranges[x]) for x in loads_a]
    return out


def stores_first(body: list[Operation]) -> list[Operation] | None:
    """``body`` reordered so that each store follows the ops it needs at once (stores keep
    their order, and so do the other ops among themselves), or None with fewer than two
    stores."""
    stores = [o for o in body if o.name == "tt.store"]
    if len(stores) < 2:
        return None
    inside = set(body)
    placed: set[Operation] = set()
    order: list[Operation] = []
    for store in stores:
        need: set[Operation] = set()
        todo = [store]
        while todo:
            cur = todo.pop()
            for v in cur.operands:
                d = v.defining_op
                if d is not None and d in inside and d not in placed and d not in need:
                    need.add(d)
                    todo.append(d)
        for o in body:
            if o in need:
                order.append(o)
                placed.add(o)
        order.append(store)
        placed.add(store)
    order += [o for o in body if o not in placed]
    return order


def row_bytes(ptr: Value) -> tuple[Value, int] | None:
    """(scalar base pointer, bytes) of a 1-D pointer tile ``splat(p) + arange(0, n)``: the
    bytes its lanes may touch are ``[p, p + bytes)``; None for another form."""
    op = ptr.defining_op
    if op is None or op.name != "tt.addptr" or not isinstance(ptr.type, irt.TensorType):
        return None
    if len(ptr.type.shape) != 1:
        return None
    splat, rng = (o.defining_op for o in op.operands[:2])
    if splat is None or rng is None or splat.name != "tt.splat" or rng.name != "tt.make_range":
        return None
    if rng.attrs.get("start") != 0:
        return None
    pointee = irt.element_type(ptr.type)
    assert isinstance(pointee, irt.PointerType)
    return splat.operands[0], int(rng.attrs["end"]) * lu.elem_size(pointee.pointee)


def _byte_range(ptr: Value, owner: Operation) -> tuple[Value, int] | None:
    """:func:`row_bytes` of a pointer tile whose base is defined outside ``owner``."""
    got = row_bytes(ptr)
    return got if got is not None and defined_outside(got[0], owner) else None


def disjoint_condition(
    pairs: list[tuple[tuple[Value, int], tuple[Value, int]]], at: Operation
) -> tuple[list[Operation], Value]:
    """Scalar ops computing ``and`` over ``pairs`` of ``a + na <= b or b + nb <= a`` on the
    pointers' addresses (unsigned i64), and the i1 result."""
    ops: list[Operation] = []
    i64, i1 = irt.i64, irt.i1

    def add(name: str, operands: list[Value], t: irt.Type, **attrs: object) -> Value:
        o = Operation(name, operands, [t], dict(attrs), 0, at.loc)
        ops.append(o)
        return o.result

    addr: dict[Value, Value] = {}
    for (a, _), (b, _) in pairs:
        for p in (a, b):
            if p not in addr:
                addr[p] = add("tt.ptr_to_int", [p], i64)
    result: Value | None = None
    for (a, na), (b, nb) in pairs:
        a_end = add("arith.addi", [addr[a], add("arith.constant", [], i64, value=na)], i64)
        b_end = add("arith.addi", [addr[b], add("arith.constant", [], i64, value=nb)], i64)
        before = add("arith.cmpi", [a_end, addr[b]], i1, predicate="ule")
        after = add("arith.cmpi", [b_end, addr[a]], i1, predicate="ule")
        apart = add("arith.ori", [before, after], i1)
        result = apart if result is None else add("arith.andi", [result, apart], i1)
    assert result is not None
    return ops, result
