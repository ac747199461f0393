"""Analyses the tile lowering needs before emitting code.

* :func:`classify_lazy` decides which tile values are *fused* (evaluated on demand, one
  vector chunk at a time, inside the loop of the op that consumes them) and which are
  *materialized* into a stack buffer where they are defined.
* :func:`last_dim_stride` is a small affine analysis: the stride, in elements, of an integer or
  pointer tile along its last dimension, when it is a compile-time constant. Stride 1 means
  a load or store through it is contiguous and can use ``llvm.masked.load/store``. Stride 1
  is also claimed for ``(x + range) % n`` when ``n`` and the chunk starts of ``x`` are
  multiples of the vector width (see :func:`_rem_contiguous`): consecutive within each chunk,
  which is all a load or store asks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tritium.backends.cpu.accumulators import constant_of
from tritium.ir import Block, Operation, Value, is_elementwise
from tritium.ir import types as irt

__all__ = [
    "LAZY_OPS",
    "classify_lazy",
    "last_dim_stride",
    "CHEAP_OPS",
    "INDEX_DIVISIONS",
    "writes_memory",
    "uniform_step",
    "divisibility",
    "advanced_slot",
    "write_through_reduce",
    "operand_values",
    "operands_first",
    "reads_memory",
]

# ops whose tile results can be computed chunk by chunk on demand
LAZY_OPS = frozenset(
    {
        "arith.constant",
        "tt.make_range",
        "tt.splat",
        "tt.broadcast",
        "tt.expand_dims",
        "tt.load",
        "tt.join",
    }
)

# ops so cheap (index arithmetic on ranges and scalars) that recomputing them at every use
# beats a trip through memory, even when they have several uses or are used inside loops
# (not division: x86 has no vector integer division, LLVM scalarizes it)
CHEAP_OPS = frozenset(
    {
        "arith.constant",
        "tt.make_range",
        "tt.splat",
        "tt.broadcast",
        "tt.expand_dims",
        "arith.addi",
        "arith.subi",
        "arith.muli",
        "arith.andi",
        "arith.ori",
        "arith.xori",
        "arith.shli",
        "arith.shrsi",
        "arith.shrui",
        "arith.maxsi",
        "arith.minsi",
        "arith.maxui",
        "arith.minui",
        "arith.cmpi",
        "arith.select",
        "arith.extsi",
        "arith.extui",
        "arith.trunci",
        "tt.addptr",
        "tt.int_to_ptr",
        "tt.ptr_to_int",
        "tt.bitcast",
    }
)

# Integer division of index arithmetic (``offs % M``, ``offs // W``): LLVM scalarizes it, so it
# is computed once where it is defined, into a small buffer, and the index arithmetic built on
# it stays cheap (one vector load per chunk). Tutorial 03's pointer tiles, built on
# ``(pid * BLOCK + arange) % M``, are then recomputed per chunk from a 256-byte offset tile
# instead of being materialized as 16 KiB of i64 addresses each, read chunk by chunk in every
# K step.
INDEX_DIVISIONS = frozenset({"arith.remsi", "arith.remui", "arith.divsi", "arith.divui"})

#: Ops whose result repeats its operand's elements; one that grows it this many times over
#: is recomputed from its materialized operand at every use.
_SPREADS = frozenset({"tt.broadcast", "tt.expand_dims"})
_SPREAD_FACTOR = 4

_MAX_DIVIDED = 1024  # elements: a bigger index tile stays fused rather than take L1 space


def _numel(v: Value) -> int:
    n = 1
    for d in irt.shape_of(v.type):
        n *= d
    return n


_WRITES = frozenset({"tt.store", "tt.atomic_rmw", "tt.atomic_cas", "tt.call"})


def writes_memory(op: Operation) -> bool:
    """Whether ``op`` (or anything nested in it) may write user memory."""
    return any(o.name in _WRITES for o in op.walk())


def _has_barrier(op: Operation) -> bool:
    return any(o.name == "gpu.barrier" for o in op.walk())


def _is_tile(v: Value) -> bool:
    return isinstance(v.type, irt.TensorType)


def _lazy_capable(op: Operation) -> bool:
    # math.* ops the registry does not list yet are elementwise too
    return op.name in LAZY_OPS or is_elementwise(op.name) or op.name.startswith("math.")


def classify_lazy(func: Operation) -> tuple[set[Value], set[Value]]:
    """(fused, cheap): the tile values of ``func`` that are fused into their consumers, and
    the subset that is cheap enough to recompute anywhere.

    A value is fused when its op can be computed chunk-wise and either it is cheap (index
    arithmetic: recomputed at every use, reading any integer division it builds on from the
    buffer where that was computed once) or it has exactly one consumer op in the same block.
    A fused value that reads memory (directly or through fused operands) is materialized
    after all if a write to memory could happen between it and the point where it is finally
    evaluated.
    """
    lazy: set[Value] = set()
    cheap: set[Value] = set()
    divided: set[Value] = set()  # index divisions, materialized once: cheap to read after
    for op in func.walk():
        if not op.results or not all(_is_tile(r) for r in op.results):
            continue
        if not _lazy_capable(op) or len(op.results) != 1:
            continue
        v = op.result
        tile_operands = [o for o in op.operands if _is_tile(o)]
        shift = op.name in INDEX_DIVISIONS and _pow2_divisor(op)
        if (
            op.name in INDEX_DIVISIONS
            and not shift
            and all(o in cheap for o in tile_operands)
            and _numel(v) <= _MAX_DIVIDED
        ):
            divided.add(v)  # not fused: computed where it is defined
            continue
        if (op.name in CHEAP_OPS or shift) and all(
            o in cheap or o in divided for o in tile_operands
        ):
            cheap.add(v)
            lazy.add(v)
            continue
        if op.name in _SPREADS and _numel(tile_operands[0]) * _SPREAD_FACTOR <= _numel(v):
            # a row statistic spread over a tile (rsqrt(var)[:, None] broadcast to [X, R],
            # hoisted out of the loop that reads it): its source is computed once, where it
            # is defined, and each chunk reads it back, instead of the whole spread tile
            # going through a stack buffer or the source being recomputed per chunk
            lazy.discard(tile_operands[0])
            cheap.add(v)
            lazy.add(v)
            continue
        users = {id(u): u for u in v.uses}
        if len(users) == 1:
            (user,) = users.values()
            if user.parent is op.parent:
                lazy.add(v)
    _demote_hazardous_loads(func, lazy, cheap)
    return lazy, cheap


def _pow2_divisor(op: Operation) -> bool:
    """An index division by a constant power of two: a shift or a mask plus a sign fix-up,
    as cheap as the index arithmetic around it (Inductor's ``xindex % 64``, ``xindex // 256``
    with static shapes). Materializing it cost a pass over the tile and a stack round trip
    per use: a 1024-element transposing copy ran 2x slower than with it recomputed."""
    c = _constant_of(op.operands[1])
    return c is not None and c > 0 and c & (c - 1) == 0


def _fusible_elementwise(op: Operation) -> bool:
    return is_elementwise(op.name) or op.name.startswith("math.")


def write_through_reduce(
    op: Operation, lazy: set[Value], cheap: set[Value], depth: int = 0
) -> Operation | None:
    """The ``tt.reduce`` that can fill ``op``'s materialized tile while it reduces it, or None.

    A tile with several consumers is computed into a stack buffer; when its first consumer
    is a reduction, the reduction's loop can store each chunk it evaluates into that buffer,
    which saves a separate pass over the tile (softmax: load+max, exp+sum). That needs the
    reduction to visit every chunk of the tile at the tile's own index, so its operands must
    reach the tile only through fused same-shape elementwise ops defined in between, and no
    op in between may write memory (the tile's loads move down to the reduction). One of
    those elementwise ops may itself be a materialized tile that the same reduction fills
    (layer norm backward: ``dy`` is read by ``wdy = w * dy``, which ``sum(xhat * wdy)``
    writes through; ``dy`` is then filled by that loop too, not by a loop of its own).
    """
    v = op.result
    block = op.parent
    if block is None or not _is_tile(v):
        return None
    shape = irt.shape_of(v.type)
    frontier = {v}  # values whose chunks are v's chunks, all evaluated inside the reduction
    target: Operation | None = None  # the reduction a materialized frontier value is filled by
    for later in block.ops[block.ops.index(op) + 1 :]:
        touches = any(u is later or later.is_ancestor_of(u) for f in frontier for u in f.uses)
        if not touches:
            if writes_memory(later):
                return None
            continue
        if later.name == "tt.reduce":
            if target is not None and later is not target:
                return None
            return later if not later.regions or _combine_is_plain(later) else None
        if (
            len(later.results) == 1
            and later.result not in cheap
            and _fusible_elementwise(later)
            and _is_tile(later.result)
            and irt.shape_of(later.result.type) == shape
            and all(irt.shape_of(o.type) == shape for o in later.operands if o in frontier)
        ):
            if later.result in lazy:
                frontier.add(later.result)
                continue
            if target is None and depth < _WRITE_THROUGH_DEPTH:
                target = write_through_reduce(later, lazy, cheap, depth + 1)
                if target is not None:
                    frontier.add(later.result)
                    continue
        return None
    return None


_WRITE_THROUGH_DEPTH = 2  # materialized tiles chained through one write-through reduction


def _combine_is_plain(reduce: Operation) -> bool:
    # the combine region must not capture a tile (it only ever sees scalars of the operands)
    return not any(_is_tile(o) for inner in reduce.regions[0].block.ops for o in inner.operands)


def reads_memory(v: Value, lazy: set[Value]) -> bool:
    """Whether the fused tile ``v`` (in ``lazy``) is computed from a fused ``tt.load``: its
    chunks then read memory where they are evaluated, not where the load stands (a tile that
    was materialized read its memory there)."""
    op = v.defining_op
    if op is None or v not in lazy:
        return False
    if op.name == "tt.load":
        return True
    return any(reads_memory(o, lazy) for o in op.operands if _is_tile(o))


def _demote_hazardous_loads(func: Operation, lazy: set[Value], cheap: set[Value]) -> None:
    for op in list(func.walk()):
        if op.name != "tt.load" or not op.results or op.result not in lazy:
            continue
        block: Block | None = op.parent
        assert block is not None
        # follow the single-consumer chain to the op that finally evaluates the value
        v = op.result
        root = next(iter(v.uses))
        while (
            root.results
            and len(root.results) == 1
            and root.result in lazy
            and root.result not in cheap
            and root.result.uses
        ):
            root = next(iter(root.result.uses))
        if root.parent is not block:
            lazy.discard(op.result)
            continue
        start, end = block.ops.index(op), block.ops.index(root)
        if any(writes_memory(o) or _has_barrier(o) for o in block.ops[start + 1 : end]):
            # a store between the load and its use, or a barrier, which on a GPU makes every
            # store after it wait for every load before it (``tl.debug_barrier()``)
            lazy.discard(op.result)
        elif root.name == "tt.store" and _shifted_in_same_buffer(op.operands[0], root.operands[0]):
            # the store evaluates the load chunk by chunk: chunk k of the store would land
            # before chunk k+1 of the load reads, and a store into the same argument at other
            # lanes' addresses (``store(p + offs, load(p + offs - 16))``) would feed the load
            # values written by this very op (fuzz seed 2000025)
            lazy.discard(op.result)


#: Ops through which a pointer keeps the kernel argument it points into (operand 0).
_POINTER_VIEWS = frozenset(
    {"tt.addptr", "tt.splat", "tt.broadcast", "tt.expand_dims", "tt.reshape", "tt.trans"}
)


def _pointer_root(v: Value) -> Value:
    for _ in range(64):
        op = v.defining_op
        if op is None or op.name not in _POINTER_VIEWS:
            return v
        v = op.operands[0]
    return v


def _shifted_in_same_buffer(load_ptr: Value, store_ptr: Value) -> bool:
    """Whether a load and a store go through different pointer tiles into the same argument
    (or block argument): lane i of one may then touch lane j's address of the other.  The
    same pointer tile (``store(p, load(p) + 1)``) touches one address per lane: safe."""
    return load_ptr is not store_ptr and _pointer_root(load_ptr) is _pointer_root(store_ptr)


#: Most lanes in a chunk of a tile (``Lowering.chunk_width`` never exceeds the vector width:
#: 16 with AVX-512). A stride-1 claim that holds only within aligned runs needs runs this long.
MAX_LANES = 16


def last_dim_stride(v: Value, memo: dict[Value, int | None] | None = None) -> int | None:
    """Stride along the last dimension (in elements; pointers: in pointee elements) of an
    integer or pointer tile within each vector chunk (chunks start at multiples of their
    width, at most :data:`MAX_LANES`), or None when not a compile-time constant."""
    memo = {} if memo is None else memo
    if v in memo:
        return memo[v]
    # Operands first, without recursion: a chain of thousands of ops (a 1024-element tl.sort
    # feeding an index) exceeded Python's recursion limit. Each _stride call then finds its
    # operands in the memo.
    for u in operands_first(v, memo, _stride_inputs):
        memo[u] = None  # guards cycles through loop-carried values
        memo[u] = _stride(u, memo)
    return memo[v]


def stride_wraps(
    v: Value, depth: int = 0, memo: dict[Value, list[Operation] | None] | None = None
) -> list[Operation] | None:
    """The ``x % n`` / ``x // n`` ops whose chunk rule (:func:`_rem_contiguous`)
    :func:`last_dim_stride` used for ``v``'s stride, directly or inside an operand of an op it
    took as uniform (stride 0 of ``(ka // 16) % 2`` holds per chunk only): ``v`` is contiguous
    (or uniform) along a whole row of ``W`` elements only where no multiple of each op's ``n``
    falls inside the row's range of ``x`` (e.g. ``x`` at the row's start and ``n`` multiples
    of ``W``), not just inside every chunk; a reader of whole rows must check that. It follows
    :func:`_stride`'s rules one by one (memoized: a shared subexpression is walked once).
    None: too deep to tell."""
    memo = {} if memo is None else memo
    if v in memo:
        return memo[v]
    if depth > 64:
        return None
    memo[v] = out = _stride_wraps(v, depth, memo)
    return out


def _stride_wraps(
    v: Value, depth: int, memo: dict[Value, list[Operation] | None]
) -> list[Operation] | None:
    if not _is_tile(v):
        return []
    op = v.defining_op
    if op is None or op.name == "scf.for":
        loop = op if op is not None else v.owner.parent_op() if isinstance(v.owner, Block) else None
        slot = v.index if op is not None else v.index - 1
        if loop is None or loop.name != "scf.for" or slot < 0 or advanced_slot(loop, slot) is None:
            return []
        return stride_wraps(loop.operands[3 + slot], depth + 1, memo)
    name, ins = op.name, list(op.operands)
    wrap = False
    if name == "tt.broadcast":
        src = ins[0].type
        assert isinstance(src, irt.TensorType) and isinstance(v.type, irt.TensorType)
        if src.shape[-1] == 1 and v.type.shape[-1] != 1:
            return []
    elif name == "tt.expand_dims":
        assert isinstance(v.type, irt.TensorType)
        if op.attrs["axis"] == v.type.rank - 1:
            return []
    elif name in ("tt.make_range", "tt.splat", "arith.constant"):
        return []
    elif name in INDEX_DIVISIONS and _rem_contiguous(op):
        # and n's wraps too: its stride 0 may itself hold only per chunk
        wrap = [last_dim_stride(x) for x in ins[:2]] == [1, 0]
    elif name not in (
        "arith.addi",
        "tt.addptr",
        "arith.subi",
        "arith.muli",
        "arith.extsi",
        "arith.extui",
        "arith.trunci",
        "tt.int_to_ptr",
        "tt.ptr_to_int",
    ) and not (is_elementwise(name) and ins and all(last_dim_stride(x) == 0 for x in ins)):
        return []  # fmt: skip
    out: list[Operation] = [op] if wrap else []
    for x in ins:
        inner = stride_wraps(x, depth + 1, memo)
        if inner is None:
            return None
        out += [o for o in inner if o not in out]
    return out


def _stride_inputs(v: Value) -> list[Value]:
    """The values ``_stride(v)`` may ask for (a superset)."""
    return operand_values(v) if _is_tile(v) else []


def operand_values(v: Value) -> list[Value]:
    """What a value is computed from: its op's operands; for a ``scf.for`` carried value, its
    initial value; for any other block argument, nothing."""
    op = v.defining_op
    if op is not None:
        return list(op.operands)
    loop = v.owner.parent_op() if isinstance(v.owner, Block) else None
    if loop is not None and loop.name == "scf.for" and v.index > 0:
        return [loop.operands[3 + v.index - 1]]
    return []


def operands_first(
    v: Value, memo: Mapping[Value, object], inputs: Callable[[Value], list[Value]]
) -> list[Value]:
    """``v`` and what it depends on (``inputs``, transitively) that is not in ``memo``, each
    after its inputs: recursive analyses evaluate these in order and so never recurse deeper
    than one level, whatever the length of the chain of ops."""
    order: list[Value] = []
    seen = {v}
    stack = [(v, iter(inputs(v)))]
    while stack:
        u, pending = stack[-1]
        for w in pending:
            if w not in memo and w not in seen:
                seen.add(w)
                stack.append((w, iter(inputs(w))))
                break
        else:
            stack.pop()
            order.append(u)
    return order


def _stride(v: Value, memo: dict[Value, int | None]) -> int | None:
    if not _is_tile(v):
        return 0
    op = v.defining_op
    if op is None:
        loop = v.owner.parent_op() if isinstance(v.owner, Block) else None
        if loop is not None and loop.name == "scf.for" and v.index > 0:
            if advanced_slot(loop, v.index - 1) is not None:
                return last_dim_stride(loop.operands[3 + v.index - 1], memo)
        return None
    if op.name == "scf.for" and advanced_slot(op, v.index) is not None:
        return last_dim_stride(op.operands[3 + v.index], memo)
    name = op.name
    if name == "tt.make_range":
        return 1
    if name in ("tt.splat", "arith.constant"):
        return 0
    if name == "tt.broadcast":
        src = op.operands[0].type
        assert isinstance(src, irt.TensorType) and isinstance(v.type, irt.TensorType)
        if src.shape[-1] == 1 and v.type.shape[-1] != 1:
            return 0
        return last_dim_stride(op.operands[0], memo)
    if name == "tt.expand_dims":
        assert isinstance(v.type, irt.TensorType)
        if op.attrs["axis"] == v.type.rank - 1:
            return 0
        return last_dim_stride(op.operands[0], memo)
    subs = [last_dim_stride(o, memo) for o in op.operands]
    if name in ("arith.addi", "tt.addptr"):
        return None if None in subs else subs[0] + subs[1]  # type: ignore[operator]
    if name == "arith.subi":
        return None if None in subs else subs[0] - subs[1]  # type: ignore[operator]
    if name == "arith.muli":
        for i in (0, 1):
            c = _constant_of(op.operands[1 - i])
            if c is not None and subs[i] is not None:
                return subs[i] * c  # type: ignore[operator]
    if name in ("arith.extsi", "arith.extui", "arith.trunci", "tt.int_to_ptr", "tt.ptr_to_int"):
        return subs[0]
    if name in ("arith.remsi", "arith.remui") and subs == [1, 0] and _rem_contiguous(op):
        return 1
    if name in ("arith.divsi", "arith.divui") and subs == [1, 0] and _rem_contiguous(op):
        return 0  # no multiple of n inside a chunk: one quotient per chunk
    if is_elementwise(name) and subs and all(s == 0 for s in subs):
        return 0  # uniform along the last dimension
    return None


def _rem_contiguous(op: Operation) -> bool:
    """``x % n`` with ``x`` of stride 1 and ``n`` uniform: consecutive within every chunk when
    ``n`` and ``x`` at each chunk's first lane are multiples of the chunk width, since no
    multiple of ``n`` then falls inside a chunk (tutorial 03's ``(pid_n * BLOCK_N +
    tl.arange(0, BLOCK_N)) % N`` with N's divisible-by-16 hint). A negative ``x`` that is a
    multiple of ``n`` at a chunk start would break this; Triton's AxisInfo makes the same
    assumption (contiguity gcd(lhs, rhs divisibility) for remsi), so kernels do not rely on it.
    """
    x, n = op.operands[:2]
    return min(_divisibility(x, {}), _divisibility(n, {})) >= MAX_LANES


_DIV_CAP = 1 << 16


def _pow2(c: int) -> int:
    return _DIV_CAP if c == 0 else min(_DIV_CAP, c & -c)


def divisibility(v: Value) -> int:
    """A power of two known to divide the scalar ``v`` (1 when unknown; see
    :func:`_divisibility` for tiles)."""
    return _divisibility(v, {})


def _divisibility(v: Value, memo: dict[Value, int]) -> int:
    """A power of two that divides every element of ``v`` whose last index is a multiple of
    :data:`MAX_LANES` (of a scalar: the value), 1 when unknown."""
    if v in memo:
        return memo[v]
    memo[v] = 1
    op = v.defining_op
    d = 1
    if op is None:
        owner = v.owner.parent_op() if isinstance(v.owner, Block) else None
        if owner is not None and owner.name == "tt.func" and not _is_tile(v):
            arg_attrs = owner.attrs.get("arg_attrs") or []
            attrs = arg_attrs[v.index] if v.index < len(arg_attrs) else {}
            d = int(attrs.get("tt.divisibility", 1)) if isinstance(attrs, dict) else 1
    elif op.name == "arith.constant" and isinstance(op.attrs.get("value"), int):
        d = _pow2(int(op.attrs["value"]))
    elif op.name == "tt.make_range":
        d = min(_pow2(int(op.attrs["start"])), MAX_LANES)
    elif op.name in ("tt.splat", "arith.extsi", "arith.extui", "arith.index_cast"):
        d = _divisibility(op.operands[0], memo)
    elif op.name == "tt.broadcast":
        d = _divisibility(op.operands[0], memo)  # a size-1 last dim is read at index 0
    elif op.name == "tt.expand_dims":
        assert isinstance(v.type, irt.TensorType)
        src = op.operands[0]
        if op.attrs["axis"] != v.type.rank - 1 or not _is_tile(src):
            d = _divisibility(src, memo)
        elif last_dim_stride(src) == 0:
            d = _divisibility(src, memo)  # uniform: every element is the first one
    elif op.name in ("arith.addi", "arith.subi"):
        d = min(_divisibility(o, memo) for o in op.operands[:2])
    elif op.name in ("arith.muli", "arith.shli"):
        a, b = (_divisibility(o, memo) for o in op.operands[:2])
        if op.name == "arith.shli":
            c = _constant_of(op.operands[1])
            b = 1 << c if c is not None and 0 <= c < 16 else 1
        d = min(_DIV_CAP, a * b)
    memo[v] = d
    return d


def _constant_of(v: Value) -> int | None:
    op = v.defining_op
    while op is not None and op.name in ("tt.splat", "tt.broadcast", "tt.expand_dims"):
        v = op.operands[0]
        op = v.defining_op
    if op is not None and op.name == "arith.constant" and isinstance(op.attrs["value"], int):
        return int(op.attrs["value"])
    return None


def const_int(v: Value) -> int | None:
    """The integer a scalar constant, or a splat of one, holds; else None (a bool constant is
    not an integer here)."""
    c = constant_of(v)
    return c if isinstance(c, int) else None


def uniform_step(v: Value) -> Value | int | None:
    """If the tile ``v`` holds one value everywhere, that value: an int for a constant, the
    scalar IR value for a splat; else None."""
    op = v.defining_op
    while op is not None and op.name in ("tt.broadcast", "tt.expand_dims"):
        v = op.operands[0]
        op = v.defining_op
    if op is None:
        return None
    if op.name == "tt.splat":
        return op.operands[0]
    if op.name == "arith.constant" and isinstance(op.attrs["value"], int):
        return int(op.attrs["value"])
    return None


def advanced_slot(loop: Operation, i: int) -> Value | int | None:
    """The uniform step of the ``i``-th carried value of ``loop`` when the loop only ever
    advances it (``yield addptr(arg, splat(s))`` or ``yield arg + splat(s)``), else None."""
    body = loop.regions[0].block
    arg = body.args[1 + i]
    if not isinstance(arg.type, irt.TensorType):
        return None
    elem = arg.type.element
    if not isinstance(elem, (irt.PointerType, irt.IntType)):
        return None
    term = body.terminator
    if term is None or term.name != "scf.yield":
        return None
    y = term.operands[i].defining_op
    if y is None or y.name not in ("tt.addptr", "arith.addi") or y.operands[0] is not arg:
        return None
    if y.parent is not body:
        return None
    return uniform_step(y.operands[1])


def uniform(v: Value, constants: bool = False) -> bool:
    """Whether every element of ``v`` holds one value: a scalar, a splat, or one of those
    expanded or broadcast; with ``constants``, also an integer constant tile."""
    if not irt.shape_of(v.type):
        return True
    op = v.defining_op
    if op is None:
        return False
    if op.name in ("tt.expand_dims", "tt.broadcast"):
        return uniform(op.operands[0], constants)
    return op.name == "tt.splat" or (
        constants and op.name == "arith.constant" and isinstance(op.attrs.get("value"), int)
    )
