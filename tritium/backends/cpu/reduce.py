"""Lowering of ``tt.reduce`` and ``tt.scan``.

Reductions fuse with their producers: the reduce loop evaluates the operand expression one
vector chunk at a time. Along the last dimension the accumulators are vectors (lane ``i``
combines elements ``i, i+W, i+2W, ...``), finished by a log2(W)-step horizontal tree;
along another dimension each chunk of the result accumulates over that dimension with
plain vector ops. The combine region is lowered by applying its scalar ops to vectors, so
any user-defined combine function works (argmax-style multi-operand reductions included).
"""

from __future__ import annotations

from collections.abc import Callable

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.casts import constant
from tritium.backends.cpu.codegen import Lowering, statement
from tritium.backends.cpu.elementwise import ELEMENTWISE
from tritium.backends.cpu.lock_fuse import stores_in_reduction
from tritium.backends.cpu.tiles import Buffer, Index, Offset, Pending, Scalar
from tritium.ir import Block, Operation, Value
from tritium.ir import types as irt


def combine(
    cx: Lowering, region: Block, lhs: list[ll.Value], rhs: list[ll.Value]
) -> list[ll.Value]:
    """Emit the combine region on (vector or scalar) values and return its results."""
    width = lhs[0].type.count if isinstance(lhs[0].type, ll.VectorType) else None
    env: dict[Value, ll.Value] = dict(zip(region.args, lhs + rhs, strict=True))

    def get(v: Value) -> ll.Value:
        if v in env:
            return env[v]
        outer = cx.scalar(v)  # a value captured from outside the region
        return lu.splat(cx.b, outer, width) if width else outer

    for op in region.ops:
        if op.name in ("tt.reduce.return", "tt.scan.return"):
            return [get(v) for v in op.operands]
        if op.name == "arith.constant":
            env[op.result] = constant(op, width)
            continue
        rule = ELEMENTWISE.get(op.name)
        if rule is None:
            raise cx.error(f"{op.name} is not supported in a combine region", op)
        env[op.result] = rule(cx, op, [get(v) for v in op.operands])
    raise cx.error("combine region without a terminator")


class _Vars:
    """Loop-carried values kept in entry-block allocas (mem2reg turns them into phis)."""

    def __init__(self, cx: Lowering, values: list[ll.Value]) -> None:
        self.cx = cx
        self.slots = [lu.entry_alloca(cx.b, cx.alloca_block, v.type, align=64) for v in values]
        self.set(values)

    def get(self) -> list[ll.Value]:
        return [self.cx.b.load(s, typ=s.allocated_type) for s in self.slots]

    def set(self, values: list[ll.Value]) -> None:
        for s, v in zip(self.slots, values, strict=True):
            self.cx.b.store(v, s)


Combine = Callable[[list[ll.Value], list[ll.Value]], list[ll.Value]]


def _horizontal(cx: Lowering, comb: Combine, acc: list[ll.Value]) -> list[ll.Value]:
    b = cx.b
    w = acc[0].type.count
    while w > 1:
        half = w // 2
        lo_mask = ll.Constant(lu.vec(lu.I32, half), list(range(half)))
        hi_mask = ll.Constant(lu.vec(lu.I32, half), list(range(half, w)))
        lo = [b.shuffle_vector(a, ll.Constant(a.type, ll.Undefined), lo_mask) for a in acc]
        hi = [b.shuffle_vector(a, ll.Constant(a.type, ll.Undefined), hi_mask) for a in acc]
        acc = comb(lo, hi)
        w = half
    return acc


_PARALLEL_ACCUMULATORS = 4  # independent chains hide the latency of the combine ops

#: math ops that are one or two instructions per vector; every other ``math.*`` op (and a
#: divide) is a polynomial, a long-latency unit or a call: many instructions per chunk
_CHEAP_MATH = {"math.absf", "math.floor", "math.ceil", "math.round", "math.roundeven"}
_CHEAP_MATH |= {"math.trunc", "math.fma", "math.copysign"}
_EXPENSIVE = 8  # the cost of one such op, in vector instructions (exp: ~14 per vector)


def _chunk_cost(cx: Lowering, ins: list[Value]) -> int:
    """About how many vector instructions one chunk of ``ins`` costs when it is evaluated
    fused (the ops ``cx.eval`` would emit: loads, elementwise ops, math)."""
    cost, seen, stack = 0, set(), list(ins)
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        ref = cx.refs.get(v)
        if ref is None or isinstance(ref, (Scalar, Buffer)):
            cost += isinstance(ref, Buffer)
            continue
        if isinstance(ref, Offset):
            stack.append(ref.base)
            continue
        name = ref.op.name
        if name.startswith("math.") and name not in _CHEAP_MATH or name == "arith.divf":
            cost += _EXPENSIVE
        else:
            cost += 1
        if name != "tt.load":  # its address arithmetic mostly folds into the load
            stack.extend(ref.op.operands)
    return cost


def _accumulator_sets(cx: Lowering, ins: list[Value]) -> int:
    """How many interleaved accumulator sets a reduction of ``ins`` gets: four hide the
    combine's latency (3-4 cycles) behind a chunk that is one or two instructions (a sum of a
    load), but a chunk that evaluates an exp already takes longer than that latency, and four
    copies of it (each with its constants and temporaries) exceed the 16 vector registers of
    AVX2: the accumulators then live on the stack, reloaded and stored every chunk."""
    cost = _chunk_cost(cx, ins)
    if cost >= _EXPENSIVE:
        return 1
    return 2 if cost >= 4 else _PARALLEL_ACCUMULATORS


def _accumulate(
    cx: Lowering,
    comb: Combine,
    ins: list[Value],
    steps: int,
    at: Callable[[ll.Value], Index],
    stride: int,
    first: Callable[[list[ll.Value]], list[ll.Value]] | None = None,
    sets: int | None = None,
    each: Callable[[Index], None] | None = None,
) -> list[ll.Value]:
    """Combine ``ins`` evaluated at positions ``0, stride, ..., (steps-1)*stride`` (``at``
    maps a position to a chunk index), with up to four interleaved accumulator sets so that
    consecutive combines do not wait on each other (at most ``sets`` when given). Returns one
    value per operand. ``first`` maps the first chunk of each accumulator set to its initial
    value; ``each`` is called once per chunk, after its operands are evaluated."""
    b = cx.b
    k, most = 1, sets or _accumulator_sets(cx, ins)
    while k * 2 <= most and steps % (k * 2) == 0 and steps >= 4 * k:
        k *= 2
    if each is None:
        accs = [[cx.eval(x, at(ll.Constant(lu.I32, i * stride))) for x in ins] for i in range(k)]
    else:  # one index a chunk: ``each`` reuses the values the chunk evaluated
        heads = [at(ll.Constant(lu.I32, i * stride)) for i in range(k)]
        accs = [[cx.eval(x, idx) for x in ins] for idx in heads]
        for idx in heads:
            each(idx)
    if first is not None:
        accs = [first(a) for a in accs]
    if steps > k:
        carried = [_Vars(cx, a) for a in accs]
        start, stop = ll.Constant(lu.I32, k * stride), ll.Constant(lu.I32, steps * stride)
        with lu.for_range(b, start, stop, k * stride, name="red") as j:
            for i, var in enumerate(carried):
                pos = b.add(j, ll.Constant(lu.I32, i * stride)) if i else j
                idx = at(pos)
                var.set(comb(var.get(), [cx.eval(x, idx) for x in ins]))
                if each is not None:
                    each(idx)
        accs = [var.get() for var in carried]
    while len(accs) > 1:  # pairwise, keeping left-to-right order
        accs = [comb(accs[i], accs[i + 1]) for i in range(0, len(accs), 2)]
    return accs[0]


#: Combine regions that are one ``maxnumf``/``minnumf`` of their two arguments: the ordered
#: compare that picks the new value, and the identity the accumulators start from.
_NAN_SKIPPING = {"arith.maxnumf": (">", float("-inf")), "arith.minnumf": ("<", float("inf"))}


def _nan_skipping(region: Block) -> tuple[str, float] | None:
    """(compare, identity) when ``region`` is ``maxnumf``/``minnumf`` of its arguments on
    f32/f64, else None."""
    if len(region.ops) != 2 or len(region.args) != 2:
        return None
    op, ret = region.ops
    if op.name not in _NAN_SKIPPING or ret.name != "tt.reduce.return":
        return None
    if list(ret.operands) != [op.result] or set(op.operands) != set(region.args):
        return None
    if str(lu.llvm_type(region.args[0].type)) not in ("float", "double"):
        return None
    return _NAN_SKIPPING[op.name]


def _reduce_chunks(
    cx: Lowering,
    region: Block,
    ins: list[Value],
    steps: int,
    at: Callable[[ll.Value], Index],
    stride: int,
    horizontal: bool,
    sets: int | None = None,
    each: Callable[[Index], None] | None = None,
) -> list[ll.Value]:
    """The reduction of ``ins`` over ``steps`` chunks (see ``_accumulate``), finished across
    lanes when ``horizontal``.

    A ``max``/``min`` (``maxnumf``/``minnumf``: NaN only when every element is NaN) costs
    three instructions per chunk on x86 as ``llvm.maxnum`` (max, unordered compare, blend).
    Started from -inf (+inf for min), ``acc = x > acc ? x : acc`` is one ``maxps`` and never
    lets a NaN in, and gives the same result unless no element is above -inf: every element
    NaN or -inf. Only then (a lane equal to the identity) is the reduction done again the
    exact way, in a branch that a softmax row never takes."""

    def exact() -> list[ll.Value]:
        def comb(lhs: list[ll.Value], rhs: list[ll.Value]) -> list[ll.Value]:
            return combine(cx, region, lhs, rhs)

        acc = _accumulate(cx, comb, ins, steps, at, stride, sets=sets, each=each)
        return _horizontal(cx, comb, acc) if horizontal else acc

    kind = _nan_skipping(region)
    if kind is None or len(ins) != 1:
        return exact()
    assert each is None  # exact() may run a second time below
    pred, identity = kind
    b = cx.b

    def pick(lhs: list[ll.Value], rhs: list[ll.Value]) -> list[ll.Value]:
        # rhs > lhs ? rhs : lhs -- a NaN rhs compares false and leaves lhs
        return [b.select(b.fcmp_ordered(pred, r, a), r, a) for a, r in zip(lhs, rhs, strict=True)]

    def start(chunk: list[ll.Value]) -> list[ll.Value]:
        return pick([_splat_constant(v.type, identity) for v in chunk], chunk)

    acc = _accumulate(cx, pick, ins, steps, at, stride, first=start, sets=sets)
    (fast,) = _horizontal(cx, pick, acc) if horizontal else acc
    hit = b.fcmp_ordered("==", fast, _splat_constant(fast.type, identity))
    red = f"llvm.vector.reduce.or.{lu.type_suffix(hit.type)}"
    any_hit = b.call(lu.intrinsic(cx.module, red, lu.I1, [hit.type]), [hit])
    check_block = b.block
    with b.if_then(any_hit, likely=False):
        (slow,) = exact()
        slow_block = b.block
    phi = b.phi(fast.type)
    phi.add_incoming(fast, check_block)
    phi.add_incoming(slow, slow_block)
    return [phi]


def _splat_constant(ty: ll.VectorType, value: float) -> ll.Constant:
    return ll.Constant(ty, [ll.Constant(ty.element, value)] * ty.count)


def _column_block(cx: Lowering, ins: list[Value], out_shape: tuple[int, ...]) -> tuple[int, int]:
    """Chunk width and accumulator sets of a reduction along a dimension other than the last.

    Each chunk of the result walks the reduced dimension, one line of the tile at a time. With
    one vector per line and four sets interleaved over lines, a ``[32, 128]`` column sum of rows
    16 KiB apart (tutorial 05's ``_layer_norm_bwd_dwdb``) reads 64 bytes of each of 32 lines,
    then the next 64 bytes of the same lines, eight times: the loads hop between rows and the
    hardware prefetchers see no stream. Where the chunk is cheap (four sets) and the last
    dimension allows, the four accumulators instead lie side by side along the line, one chunk
    four vectors wide and one set: the same registers, but each line's 256 bytes are read in
    one go."""
    w = cx.chunk_width(out_shape)
    sets = _accumulator_sets(cx, ins)
    wide = w * _PARALLEL_ACCUMULATORS
    if sets == _PARALLEL_ACCUMULATORS and out_shape and out_shape[-1] % wide == 0:
        return wide, 1
    return w, sets


@statement("tt.reduce")
def _reduce(cx: Lowering, op: Operation) -> None:
    axis = int(op.attrs["axis"])
    ins = list(op.operands)
    shape = irt.shape_of(ins[0].type)
    rank = len(shape)
    region = op.regions[0].block
    out_shape = shape[:axis] + shape[axis + 1 :]
    outs: list[Buffer] = (
        [cx.alloc(out_shape, irt.element_type(r.type)) for r in op.results] if out_shape else []
    )
    zero = ll.Constant(lu.I32, 0)

    if axis == rank - 1:
        n = shape[-1]
        w = cx.chunk_width((n,))
        sibling = None if out_shape else _sibling(cx, op)
        if sibling is not None:
            _reduce_siblings(cx, op, sibling, n, w)
            return
        line_iter = cx.chunks(out_shape, width=1) if out_shape else iter([Index((), 1)])
        each = None if out_shape or _nan_skipping(region) else stores_in_reduction(cx, op, op)
        for line in line_iter:

            def at(j: ll.Value, line: Index = line) -> Index:
                return Index(line.dims + (j,), w)

            acc = _reduce_chunks(cx, region, ins, n // w, at, w, horizontal=True, each=each)
            if not out_shape:
                for r, a in zip(op.results, acc, strict=True):
                    cx.refs[r] = Scalar(cx.b.extract_element(a, zero))
                return
            for buf, a in zip(outs, acc, strict=True):
                cx.write_chunk(buf, line, a)
    else:
        n = shape[axis]
        width, sets = _column_block(cx, ins, out_shape)
        for ridx in cx.chunks(out_shape, width=width):

            def at_k(k: ll.Value, ridx: Index = ridx) -> Index:
                return Index(ridx.dims[:axis] + (k,) + ridx.dims[axis:], ridx.width)

            acc = _reduce_chunks(cx, region, ins, n, at_k, 1, horizontal=False, sets=sets)
            for buf, a in zip(outs, acc, strict=True):
                cx.write_chunk(buf, ridx, a)
    for r, buf in zip(op.results, outs, strict=True):
        cx.refs[r] = buf


#: how many scalar ops may separate two row reductions that share one loop
_SIBLING_WINDOW = 8


def _sibling(cx: Lowering, op: Operation) -> Operation | None:
    """The next ``tt.reduce`` of ``op``'s block when it can run in ``op``'s loop: a reduction
    of a tile of the same shape to scalars along the same (last) axis, after only scalar
    arithmetic (no store, load, atomic, call or tile op between them, so evaluating its
    operands earlier reads the same memory), neither a NaN-skipping max/min (those have their
    own loop), and whose operands and captured values are defined before ``op``.

    Layer norm's backward reduces ``sum(xhat * wdy)`` and then ``sum(wdy)``: one loop reads
    the row's tiles once instead of twice, and evaluates ``wdy`` once per chunk."""
    block = op.parent
    if block is None or _nan_skipping(op.regions[0].block) is not None:
        return None
    pos = block.ops.index(op)
    for nxt in block.ops[pos + 1 : pos + 1 + _SIBLING_WINDOW]:
        if nxt.name == "tt.reduce":
            region = nxt.regions[0].block
            ok = (
                nxt.attrs["axis"] == op.attrs["axis"]
                and irt.shape_of(nxt.operands[0].type) == irt.shape_of(op.operands[0].type)
                and not any(isinstance(r.type, irt.TensorType) for r in nxt.results)
                and nxt not in cx.folded
                and _nan_skipping(region) is None
                and all(v in cx.refs for v in nxt.operands)
                and all(v in cx.refs for v in _captured(region))
            )
            return nxt if ok else None
        if nxt.regions or not nxt.results:
            return None
        if any(isinstance(r.type, irt.TensorType) for r in nxt.results):
            return None
        if nxt.name != "arith.constant" and nxt.name not in ELEMENTWISE:
            return None
    return None


def _captured(region: Block) -> list[Value]:
    """Values a combine region uses from outside itself."""
    inside = set(region.args) | {r for o in region.ops for r in o.results}
    return [v for o in region.ops for v in o.operands if v not in inside]


def _reduce_siblings(cx: Lowering, op: Operation, sibling: Operation, n: int, w: int) -> None:
    """``op`` and ``sibling`` (see ``_sibling``) as one multi-operand row reduction."""
    ins, more = list(op.operands), list(sibling.operands)
    regions = (op.regions[0].block, sibling.regions[0].block)
    k = len(ins)

    def comb(lhs: list[ll.Value], rhs: list[ll.Value]) -> list[ll.Value]:
        first = combine(cx, regions[0], lhs[:k], rhs[:k])
        return first + combine(cx, regions[1], lhs[k:], rhs[k:])

    def at(j: ll.Value) -> Index:
        return Index((j,), w)

    each = stores_in_reduction(cx, op, sibling)
    acc = _horizontal(cx, comb, _accumulate(cx, comb, ins + more, n // w, at, w, each=each))
    zero = ll.Constant(lu.I32, 0)
    for r, a in zip(op.results + sibling.results, acc, strict=True):
        cx.refs[r] = Scalar(cx.b.extract_element(a, zero))
    cx.folded.add(sibling)
    for v in cx.pending.pop(sibling, ()):  # what _lower_op does after a statement's rule
        ref = cx.refs[v]
        assert isinstance(ref, Pending) and ref.buf is not None
        cx.refs[v] = ref.buf


def _lanes(cx: Lowering, values: list[ll.Value], width: int) -> list[ll.Value]:
    """One-lane chunks as plain scalars. A scan along the last dimension walks it one element at
    a time; carried as ``<1 x T>`` vectors, LLVM 22 fully unrolls the (reverse) walk and then
    instcombine leaves a shufflevector of those lanes above its operands' definitions
    (invalid IR that makes the inliner abort the process). Scalars never take that path."""
    if width != 1:
        return values
    zero = ll.Constant(lu.I32, 0)
    return [cx.b.extract_element(v, zero) for v in values]


def _write_lanes(
    cx: Lowering, outs: list[Buffer], idx: Index, values: list[ll.Value], width: int
) -> None:
    for buf, v in zip(outs, values, strict=True):
        if width == 1 and lu.llvm_type(buf.elem) == lu.I1:
            v = cx.b.zext(v, lu.I8)  # the buffer's byte form, as write_chunk makes it
        if width == 1:
            ptr, _ = cx.elem_ptr(buf, idx)
            cx.b.store(v, ptr, align=lu.elem_size(buf.elem))
        else:
            cx.write_chunk(buf, idx, v)


@statement("tt.scan")
def _scan(cx: Lowering, op: Operation) -> None:
    axis = int(op.attrs["axis"])
    reverse = bool(op.attrs.get("reverse", False))
    ins = list(op.operands)
    shape = irt.shape_of(ins[0].type)
    rank = len(shape)
    region = op.regions[0].block
    outs = [cx.alloc(shape, irt.element_type(r.type)) for r in op.results]
    line_shape = shape[:axis] + shape[axis + 1 :]
    n = shape[axis]
    width = 1 if axis == rank - 1 else None
    line_iter = cx.chunks(line_shape, width=width) if line_shape else iter([Index((), 1)])
    b = cx.b
    for line in line_iter:

        def at(k: ll.Value, line: Index = line) -> Index:
            pos = b.sub(ll.Constant(lu.I32, n - 1), k) if reverse else k
            return Index(line.dims[:axis] + (pos,) + line.dims[axis:], line.width)

        first = at(ll.Constant(lu.I32, 0))
        acc = _lanes(cx, [cx.eval(x, first) for x in ins], line.width)
        _write_lanes(cx, outs, first, acc, line.width)
        if n > 1:
            carried = _Vars(cx, acc)
            with lu.for_range(b, ll.Constant(lu.I32, 1), ll.Constant(lu.I32, n), name="scan") as k:
                idx = at(k)
                step = _lanes(cx, [cx.eval(x, idx) for x in ins], line.width)
                new = combine(cx, region, carried.get(), step)
                carried.set(new)
                _write_lanes(cx, outs, idx, new, line.width)
    for r, buf in zip(op.results, outs, strict=True):
        cx.refs[r] = buf
