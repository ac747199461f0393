"""A spin lock's critical section that updates rows, moved into the row reduction before it.

Triton's layer norm backward (tutorial 05) ends each program with::

    c1 = tl.sum(xhat * wdy, axis=0) / N           # xhat, wdy: row tiles of x, dy, w
    c2 = tl.sum(wdy, axis=0) / N
    tl.store(DX + cols, (wdy - (xhat * c1 + c2)) * rstd, mask=mask)
    while tl.atomic_cas(Lock, 0, 1) == 1:
        pass
    count = tl.load(Count)
    if count == 0:
        tl.atomic_xchg(Count, 1)                  # yields (dy * xhat, dy)
    else:
        partial_dw += tl.load(DW, mask=mask)
        partial_db += tl.load(DB, mask=mask)
    tl.store(DW, partial_dw, mask=mask)
    tl.store(DB, partial_db, mask=mask)
    tl.debug_barrier()
    tl.atomic_xchg(Lock, 0)

Lowered in that order, the partial rows are a pass of their own after the lock: it reads
``dy`` and ``xhat`` back from stack tiles and the DW and DB rows from L2 (a third of the
kernel's time at 4096 columns, issue 13), while the reduction's loop had every value it
needs in registers. The rewrite applies to a spin acquire (an ``scf.while`` of one
``atomic_cas`` on a scalar lock) whose release (``atomic_rmw xchg`` on the same lock)
follows in the same block, with in between scalar loads and pure ops (``pre``), one
``scf.if`` with a branch that only loads and computes (``plain``), then tile stores and pure
ops (``post``; a ``gpu.barrier`` after them stays before the release); and before the
acquire a run of loads, stores and pure ops (``work``) that holds a row reduction of the
stores' shape. At the start of ``work`` the program tries the
lock once (one ``atomic_cas``, the spin loop's first step) and, where it got it, runs
``pre`` to learn whether the ``if`` takes ``plain``. Then::

    if got and plain and apart:   # the fast version
        pre; work with plain and post after its last row reduction, each store right
        after what it needs, the stores marked IN_REDUCTION
    else:                         # the original order
        work; if not got: spin for the lock; pre; if; post
    release

Taking the lock before ``work`` is the acquire moved up: work may move into a critical
section (nothing after an acquire may run before it, but what came before it may run after
it, as long as it stays before the release). A try that fails leaves the program as it was,
so contended locks (one lock for all rows, two threads) do not serialize ``work``. ``apart``
compares byte ranges at run time (as ``if_sink.version_disjoint_stores``): each row or scalar
the section stores against everything ``work`` and the section read or write, and what
``work`` stores against what the section and ``pre`` read; and the try itself, which runs
before ``work`` in both versions, is made only where the lock word lies apart from
everything ``work`` reads or writes (else the program spins for the lock after ``work``, as
written). Those are all the accesses the fast version orders differently, so whichever
version runs gives the original results. The first program of each lock row (``count == 0``)
and aliasing arguments take the original order. A row's load and store are ordered chunk by
chunk in one loop only where the store's value is computed from that load (``_feeds``): a
second load of the row, read by another store only, would be placed after the row's store.

``reduce.py`` then stores the marked rows from the reduction's own chunk loop
(:func:`stores_in_reduction`): one pass loads x, dy and w, reduces, and adds into the DW and
DB rows (``dy`` needs no stack tile any more). Only the function's top block is rewritten.

This is the backend's own rewrite (as ``if_sink``): the module printed before the backend is
unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.grid_order import residue_period
from tritium.backends.cpu.if_sink import disjoint_condition, row_bytes, stores_first
from tritium.backends.cpu.streaming import ADDRESS_COMPARED
from tritium.ir import Block, Operation, Value
from tritium.ir import types as irt
from tritium.ir.ops import is_pure
from tritium.ir.rewrite import clone_op, move_before

if TYPE_CHECKING:
    from tritium.backends.cpu.codegen import Lowering
    from tritium.backends.cpu.tiles import Index

__all__ = ["IN_REDUCTION", "fuse_critical_sections", "host_threads", "stores_in_reduction"]

#: on a ``tt.store`` of the fast version: lowered inside the chunk loop of the row reduction
#: it follows (``reduce.py``), which the version's condition makes exact
IN_REDUCTION = "cpu.in_reduction"

_Range = tuple[Value, int]  # (scalar base pointer, bytes from it)


#: the launcher hands each thread about this many chunks of programs (``launcher.py``)
_CHUNKS_PER_THREAD = 8


def host_threads() -> int:
    """The cores this process may use: the most threads a launch normally has."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def fuse_critical_sections(func: Operation) -> bool:
    """Apply the rewrite of the module docstring to every spin acquire of ``func``'s top
    block; True if anything changed. Only where the launcher runs the programs residue by
    residue of the locks' row (``grid_order.residue_period``) with at least
    :data:`_CHUNKS_PER_THREAD` residues per thread: its chunks then hold whole residues, so
    the programs of one lock run back to back on one thread.

    The fast version holds its lock for the whole row instead of the update only. Where
    programs that share a lock run at the same time, the one that holds it takes it again
    for its next row while the other waits for that whole row: at 2 threads, 4096x4096,
    the dx kernel ran 0.67-0.82x as fast as without the rewrite with one lock for all rows
    and 0.71-0.87x with 2 to 4 locks (their residues span several chunks, which both threads
    run), 1.05-1.09x with 128 (wall time at load 2-4)."""
    if residue_period(func) < _CHUNKS_PER_THREAD * host_threads():
        return False
    body = func.regions[0].blocks[0]
    changed = False
    for op in list(body.ops):
        if op.parent is body and op.name == "scf.while":
            changed |= _fuse(op)
    return changed


@dataclass
class _Section:
    """The ops between an acquire and its release (see the module docstring)."""

    pre: list[Operation]
    branch: Operation  # the scf.if
    plain: int  # the branch region that only loads and computes
    post: list[Operation]


def _fuse(acquire: Operation) -> bool:
    block = acquire.parent
    assert block is not None
    lock = _spin_lock(acquire)
    if lock is None:
        return False
    at = block.ops.index(acquire)
    release = next(
        (
            o
            for o in block.ops[at + 1 :]
            if o.name == "tt.atomic_rmw"
            and o.attrs.get("rmw_op") == "xchg"
            and o.operands[0] is lock
        ),
        None,
    )
    if release is None:
        return False
    section = _section(block.ops[at + 1 : block.ops.index(release)])
    work = _work(block.ops[:at])
    if section is None or work is None:
        return False
    plain_block = section.branch.regions[section.plain].blocks[0]
    cs_loads = [o for o in plain_block.ops if o.name == "tt.load"]
    cs_stores = [o for o in section.post if o.name == "tt.store"]
    shapes = {tuple(irt.shape_of(s.operands[0].type)) for s in cs_stores}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        return False
    reduction = _last_row_reduction(work, next(iter(shapes)))
    if reduction is None:
        return False
    pairs = _checked_pairs(work, section, cs_loads, cs_stores)
    if not pairs:
        return False
    # values the acquire, pre and the condition need before work: pure scalar ops of work
    needed = [*_captured(acquire), *(v for p in section.pre for v in p.operands)]
    needed.append(section.branch.operands[0])
    bases = [base for pair in pairs for base, _ in pair]
    if any(b.defining_op in section.pre for b in bases):
        return False  # the condition runs before pre (pre's clones run under the try)
    hoisted = _hoistable([*needed, *bases], work, section)
    if hoisted is None:
        return False
    rest = [o for o in work if o not in hoisted]
    if _used_elsewhere([*rest, *section.pre, section.branch, *section.post]):
        return False
    late = _late_ops(rest, reduction, section)
    if late is None:
        return False

    anchor = rest[0]
    for o in hoisted:
        move_before(o, anchor)
    loc = acquire.loc

    def add(name: str, operands: list[Value], t: irt.Type | None, **attrs: object) -> Value:
        o = Operation(name, operands, [t] if t else [], dict(attrs), 0, loc)
        block.insert_before(anchor, o)
        return o.results[0] if t else operands[0]

    def checks(ops: list[Operation]) -> None:
        """Insert a range check's ops; its addresses are only compared (dx's row may still
        stream: streaming.py)."""
        for o in ops:
            if o.name == "tt.ptr_to_int":
                o.attrs[ADDRESS_COMPARED] = True
            block.insert_before(anchor, o)

    # one try of the spin loop: got the lock, or leave everything as it was; tried only where
    # the lock word lies apart from what work reads and writes (the try comes before work)
    cas = acquire.regions[0].blocks[0].ops[0]
    lock_range = _range(lock)
    work_ranges = [_range(o.operands[0]) for o in work if o.name in ("tt.load", "tt.store")]
    assert lock_range is not None and all(r is not None for r in work_ranges)
    lock_ops, lock_apart = disjoint_condition(
        [(lock_range, r) for r in work_ranges if r is not None], acquire
    )
    checks(lock_ops)
    attempt = Operation("scf.if", [lock_apart], [cas.results[0].type], {}, 2, loc)
    apart_block, near_block = (attempt.regions[i].add_block(Block()) for i in (0, 1))
    tried = clone_op(cas, {})
    apart_block.append(tried)
    apart_block.append(Operation("scf.yield", [tried.result], [], {}, 0, loc))
    near_block.append(Operation("scf.yield", [cas.operands[2]], [], {}, 0, loc))  # not taken
    block.insert_before(anchor, attempt)
    got = add("arith.cmpi", [attempt.results[0], cas.operands[2]], irt.i1, predicate="ne")
    # where the lock was taken, whether the if takes the plain branch (pre loads under it)
    peek = Operation("scf.if", [got], [irt.i1], {}, 2, loc)
    held, free = (peek.regions[i].add_block(Block()) for i in (0, 1))
    mapping: dict[Value, Value] = {}
    for o in section.pre:
        held.append(clone_op(o, mapping))
    taken = section.branch.operands[0]
    plain_if_true = section.plain == 0
    held.append(Operation("scf.yield", [mapping.get(taken, taken)], [], {}, 0, loc))
    other = Operation("arith.constant", [], [irt.i1], {"value": int(not plain_if_true)}, 0, loc)
    free.append(other)
    free.append(Operation("scf.yield", [other.result], [], {}, 0, loc))
    block.insert_before(anchor, peek)
    plain = peek.result
    if not plain_if_true:
        plain = add("arith.xori", [plain, add("arith.constant", [], irt.i1, value=1)], irt.i1)
    cond_ops, apart = disjoint_condition(pairs, acquire)
    checks(cond_ops)
    fast_cond = add("arith.andi", [add("arith.andi", [got, plain], irt.i1), apart], irt.i1)
    version = Operation("scf.if", [fast_cond], [], {}, 2, loc)
    fast, slow = (version.regions[i].add_block(Block()) for i in (0, 1))
    block.insert_before(anchor, version)
    mapping = {}
    for o in [clone_op(p, mapping) for p in section.pre]:
        fast.append(o)
    for o in _fast_order(rest, reduction, section, late, mapping):
        fast.append(o)
    # the original order, the acquire where it was unless the try took the lock
    wait = Operation("scf.if", [got], [], {}, 2, loc)
    skip, spin_block = (wait.regions[i].add_block(Block()) for i in (0, 1))
    for o in rest:
        block.ops.remove(o)
        slow.append(o)
    slow.append(wait)
    block.ops.remove(acquire)
    spin_block.append(acquire)
    for o in [*section.pre, section.branch, *section.post]:
        block.ops.remove(o)
        slow.append(o)
    for b in (skip, spin_block, fast, slow):
        b.append(Operation("scf.yield", [], [], {}, 0, loc))
    return True


def _spin_lock(op: Operation) -> Value | None:
    """The lock of ``while atomic_cas(lock, a, b) == b: pass`` (a scalar pointer), or None."""
    if op.operands or op.results or len(op.regions) != 2:
        return None
    if any(len(r.blocks) != 1 for r in op.regions):
        return None
    before, after = (r.blocks[0] for r in op.regions)
    if before.args or after.args or [o.name for o in after.ops] != ["scf.yield"]:
        return None
    if [o.name for o in before.ops] != ["tt.atomic_cas", "arith.cmpi", "scf.condition"]:
        return None
    cas, cmp, cond = before.ops
    if cmp.attrs.get("predicate") != "eq" or list(cond.operands) != [cmp.result]:
        return None
    if set(cmp.operands) != {cas.result, cas.operands[2]}:
        return None
    lock = cas.operands[0]
    return None if isinstance(lock.type, irt.TensorType) else lock


def _pure(op: Operation) -> bool:
    return not op.regions and bool(op.results) and is_pure(op.name)


def _is_tile(v: Value) -> bool:
    return isinstance(v.type, irt.TensorType)


def _plain_load(op: Operation) -> bool:
    return op.name == "tt.load" and not op.attrs.get("volatile")


def _section(ops: list[Operation]) -> _Section | None:
    """The critical section's parts, or None when it has another form."""
    ifs = [i for i, o in enumerate(ops) if o.regions]
    if len(ifs) != 1 or ops[ifs[0]].name != "scf.if":
        return None
    k = ifs[0]
    pre, branch, post = ops[:k], ops[k], ops[k + 1 :]
    while post and post[-1].name == "gpu.barrier":
        post = post[:-1]  # a barrier before the release (tutorial 05's) stays where it is
    if not all(_pure(o) or (_plain_load(o) and not _is_tile(o.result)) for o in pre):
        return None
    if not all(_pure(o) or (o.name == "tt.store" and _is_tile(o.operands[0])) for o in post):
        return None
    if len(branch.regions) != 2 or any(len(r.blocks) != 1 for r in branch.regions):
        return None
    for i, region in enumerate(branch.regions):
        body = region.blocks[0].ops
        term = body[-1] if body else None
        if term is None or term.name != "scf.yield":
            return None
        if all(_pure(o) or _plain_load(o) for o in body[:-1]):
            return _Section(pre, branch, i, post)
    return None


def _work(ops: list[Operation]) -> list[Operation] | None:
    """The loads, stores and pure ops just before the acquire, from the first load, store or
    reduction on (the pure ops before that stay where they are), or None when there are
    none."""
    start = len(ops)
    while start and (
        ops[start - 1].name in ("tt.load", "tt.store")
        and not ops[start - 1].attrs.get("volatile")
        or ops[start - 1].name == "tt.reduce"
        or _pure(ops[start - 1])
    ):
        start -= 1
    while start < len(ops) and _pure(ops[start]):
        start += 1
    return ops[start:] or None


def _last_row_reduction(work: list[Operation], shape: tuple[int, ...]) -> Operation | None:
    """The last reduction of ``work`` of 1-D tiles of ``shape`` to scalars."""
    for op in reversed(work):
        if op.name == "tt.reduce" and all(
            _is_tile(v) and tuple(irt.shape_of(v.type)) == shape for v in op.operands
        ):
            return op
    return None


def _used_elsewhere(ops: list[Operation]) -> bool:
    """Whether a value defined by ``ops`` (or inside them) is read by an op outside them."""
    for op in ops:
        for inner in op.walk():
            for r in inner.results:
                if any(not any(o is u or o.is_ancestor_of(u) for o in ops) for u in r.uses):
                    return True
    return False


def _range(ptr: Value) -> _Range | None:
    """The bytes a load or store through ``ptr`` may touch: a scalar pointer's element, or a
    1-D tile ``splat(p) + arange(0, n)``'s ``[p, p + n * size)``."""
    t = ptr.type
    if not _is_tile(ptr):  # a block pointer's pointee is a tile: not a range known here
        if not isinstance(t, irt.PointerType) or isinstance(t.pointee, irt.TensorType):
            return None
        return ptr, lu.elem_size(t.pointee)
    return row_bytes(ptr)


def _checked_pairs(
    work: list[Operation],
    section: _Section,
    cs_loads: list[Operation],
    cs_stores: list[Operation],
) -> list[tuple[_Range, _Range]] | None:
    """The byte ranges that must be apart for the fast version (see the module docstring),
    each pair once, or None when a range is not known or two are the same."""
    ranges: dict[Operation, _Range] = {}
    memory = [o for o in work if o.name in ("tt.load", "tt.store")]
    pre_loads = [o for o in section.pre if o.name == "tt.load"]
    for o in [*memory, *pre_loads, *cs_loads, *cs_stores]:
        r = _range(o.operands[0])
        if r is None:
            return None
        ranges[o] = r
    work_stores = [o for o in memory if o.name == "tt.store"]
    wanted = [(s, o) for s in cs_stores for o in [*memory, *cs_loads, *cs_stores] if o is not s]
    wanted += [(s, o) for s in work_stores for o in [*cs_loads, *pre_loads]]
    out: list[tuple[_Range, _Range]] = []
    seen: set[tuple[int, int, int, int]] = set()
    for a, b in wanted:
        ra, rb = ranges[a], ranges[b]
        if ra[0] is rb[0]:
            if ra[1] == rb[1] and a in cs_stores and b in cs_loads and _feeds(b, a, section):
                continue  # a row read and written back chunk by chunk in one loop
            # (a load of the row that the store does not read would be placed after it)
            return None
        key = (id(ra[0]), ra[1], id(rb[0]), rb[1])
        if key in seen or key[2:] + key[:2] in seen:
            continue
        seen.add(key)
        out.append((ra, rb))
    return out


def _feeds(load: Operation, store: Operation, section: _Section) -> bool:
    """Whether ``store``'s operands are computed from ``load`` (through the ``if``'s plain
    branch): then ``stores_first`` places the load before the store."""
    term = section.branch.regions[section.plain].blocks[0].ops[-1]
    todo, seen = list(store.operands), set()
    while todo:
        v = todo.pop()
        d = v.defining_op
        if v in seen or d is None:
            continue
        seen.add(v)
        if d is load:
            return True
        if d is section.branch:
            todo.append(term.operands[list(d.results).index(v)])
        else:
            todo.extend(d.operands)
    return False


def _captured(op: Operation) -> list[Value]:
    """Values ``op``'s regions read from outside it."""
    inner = [o for o in op.walk() if o is not op]
    made = {r for o in inner for r in o.results}
    return [v for o in inner for v in o.operands if v not in made]


def _hoistable(
    values: list[Value], work: list[Operation], section: _Section
) -> list[Operation] | None:
    """The ops of ``work`` that compute ``values`` (pure scalar ops, in order), or None when
    one of them is another op, or a value comes from the critical section past ``pre``."""
    inside = set(work)
    late = {*section.branch.walk(), *section.post}
    need: set[Operation] = set()
    todo = [v.defining_op for v in values]
    while todo:
        d = todo.pop()
        if d in late:
            return None
        if d is None or d in need or d not in inside:
            continue
        if not _pure(d) or any(_is_tile(r) for r in d.results):
            return None
        need.add(d)
        todo.extend(o.defining_op for o in d.operands)
    return [o for o in work if o in need]


def _late_ops(
    rest: list[Operation], reduction: Operation, section: _Section
) -> set[Operation] | None:
    """The pure ops of ``rest`` after ``reduction`` that the critical section reads (they
    move before it), or None when it reads another op of ``rest`` after the reduction."""
    after = set(rest[rest.index(reduction) + 1 :])
    block = section.branch.regions[section.plain].blocks[0]
    late: set[Operation] = set()
    todo = [v.defining_op for o in [*block.ops, *section.post] for v in o.operands]
    while todo:
        d = todo.pop()
        if d is None or d not in after or d in late:
            continue
        if not _pure(d):
            return None
        late.add(d)
        todo.extend(o.defining_op for o in d.operands)
    return late


def _fast_order(
    rest: list[Operation],
    reduction: Operation,
    section: _Section,
    late: set[Operation],
    mapping: dict[Value, Value],
) -> list[Operation]:
    """Clones of ``rest`` (through ``mapping``) with the critical section's ``plain`` branch
    and ``post`` ops after ``reduction``, preceded by the ``late`` ops they read, each store
    right after what it needs; the stores marked :data:`IN_REDUCTION`."""
    plain_block = section.branch.regions[section.plain].blocks[0]
    plain, term = plain_block.ops[:-1], plain_block.ops[-1]
    out: list[Operation] = []
    for op in rest:
        if op in late:
            continue
        out.append(clone_op(op, mapping))
        if op is not reduction:
            continue
        out += [clone_op(o, mapping) for o in rest if o in late]
        section_ops = [clone_op(o, mapping) for o in plain]
        for r, y in zip(section.branch.results, term.operands, strict=True):
            mapping[r] = mapping.get(y, y)
        section_ops += [clone_op(o, mapping) for o in section.post]
        for o in section_ops:
            if o.name == "tt.store":
                o.attrs[IN_REDUCTION] = True
        out += stores_first(section_ops) or section_ops
    return out


def stores_in_reduction(
    cx: Lowering, first: Operation, last: Operation
) -> Callable[[Index], None] | None:
    """For the row reduction ``first`` (``last`` when a sibling shares its loop, else
    ``first``): the stores marked :data:`IN_REDUCTION` right after ``last``, as a function
    that stores one chunk of each, once the loads and pure ops among them are lowered (as
    fused values, evaluated in the reduction's loop) and all of them marked folded. None, with
    nothing lowered, when there are none or they do not qualify; they are then lowered after
    the reduction in their own loops, which the version's condition makes exact too."""
    block = last.parent
    assert block is not None
    start, at = block.ops.index(first), block.ops.index(last) + 1
    tail = block.ops[at:]
    marked = [i for i, o in enumerate(tail) if o.attrs.get(IN_REDUCTION)]
    if not marked:
        return None
    run = tail[: marked[-1] + 1]
    made = {r for o in block.ops[start:at] for r in o.results}  # the reductions' values
    shape = irt.shape_of(first.operands[0].type)
    for o in run:
        if any(v in made for v in o.operands):
            return None
        if o.name == "tt.store":
            if not o.attrs.get(IN_REDUCTION) or not _stores_by_chunk(cx, o, shape):
                return None
        elif o.regions or not (_pure(o) or _plain_load(o)):
            return None
        elif any(_is_tile(r) and r not in cx.lazy for r in o.results):
            return None
        elif o.name == "tt.load" and not _is_tile(o.result):
            return None  # a scalar load would run before the stores above it
    from tritium.backends.cpu import memory  # memory imports the module that imports this

    stores = [o for o in run if o.name == "tt.store"]
    for o in run:
        if o.name != "tt.store":
            cx.lower_op(o)
        cx.folded.add(o)
    cx.current_op = first

    def store(idx: Index) -> None:
        for s in stores:
            ptr, value = s.operands[0], s.operands[1]
            mask = s.operands[2] if len(s.operands) > 2 else None
            p, v = cx.eval(ptr, idx), cx.eval(value, idx)
            m = cx.eval(mask, idx) if mask is not None else None
            sf = memory.scalar_form(cx, ptr, mask, idx)
            memory.store_vector(cx, p, memory._pointee(ptr), v, m, True, False, sf)

    return store


def _stores_by_chunk(cx: Lowering, op: Operation, shape: tuple[int, ...]) -> bool:
    """Whether ``op`` is a contiguous 1-D tile store of ``shape`` with no streaming path (as
    ``store_groups`` asks of the stores it lowers in one loop)."""
    from tritium.backends.cpu import memory, transpose
    from tritium.backends.cpu.streaming import auto_streaming

    ptr = op.operands[0]
    if not _is_tile(ptr) or tuple(irt.shape_of(ptr.type)) != tuple(shape):
        return False
    if cx.stride(ptr) != 1 or transpose.transposable(ptr, 1):
        return False
    return not memory._wants_streaming(cx, op) and auto_streaming(cx, op) is None
