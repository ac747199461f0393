"""Stride-2 accesses that come in pairs: two stores that together fill a contiguous range are
stored as one vector, and two loads of the even and odd elements of one range share two
contiguous vector loads.

Stores.

Inductor writes ``torch.stack((a, b), -1).flatten(-2)`` (rotary embeddings, complex
layouts) as two stores of every other element::

    tl.store(out_ptr0 + (2*x2), tmp6, None)
    tl.store(out_ptr1 + (2*x2), tmp9, None)

where ``out_ptr1`` is ``out_ptr0`` plus one element (two views of one buffer, passed as
separate arguments). Each store's chunk is a scatter on AVX2 (eight scalar stores). When the
two stores are a pair, each chunk of the two value vectors is interleaved with shuffles and
stored as one contiguous vector of twice the width.

A pair is two ``tt.store`` ops in one block, the second after the first with only pure ops
between (arith/math ops, splats, broadcasts, pointer arithmetic), of the same shape and
element type, the same mask (the same value, or none), pointers of stride 2 along the last
dimension, and either

- the same offsets ``off`` over two scalar bases ``A``, ``B``, with ``off`` even (a product by
  an even constant): at run time ``B == A + 1`` element selects the paired stores, anything
  else the two original stores (any aliasing of the bases is then handled as written); or
- one base, offsets ``off`` and ``off + 1`` with ``off`` even: paired without a check.

``off`` even makes the two stores' addresses disjoint (one store writes even element
offsets from ``A``, the other odd ones), so writing them chunk by chunk, together, leaves
memory as the program's order (all of the first store, then all of the second) does. A chunk
with some lanes masked off is stored by the two scatters.

The pure ops between the stores are lowered early, at the first store (they read no memory,
and the second store's pointer and value come from them), and both stores are then lowered
here; the rest of the block skips them (``cx.folded``).

Loads. Inductor reads ``q[..., ::2]`` and ``q[..., 1::2]`` as ``in_ptr0 + (2*x2)`` and
``in_ptr0 + (1 + 2*x2)``. Alone, each such load reads two vectors placed so that nothing
outside its own lanes is touched (``memory._pair_load``): four loads per chunk for the two.
When the block also loads the other half of the range (same base, offsets ``off`` and
``off + 1``, the same mask), the program reads the whole range anyway, so each load takes
the range's two halves ``[2 lane0, +w)``, ``[2 lane0 + w, +w)`` and picks its lanes: the same
two loads for both, which LLVM merges.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.analysis import const_int
from tritium.ir import Operation, Value
from tritium.ir import types as irt

if TYPE_CHECKING:
    from tritium.backends.cpu.codegen import Lowering

#: Ops that may sit between the two stores: no memory effects, no regions.
_PURE_PREFIXES = ("arith.", "math.")
_PURE_OPS = frozenset(
    {"tt.splat", "tt.addptr", "tt.broadcast", "tt.expand_dims", "tt.make_range", "tt.int_to_ptr"}
)
#: How far past the first store the second may be (Inductor emits it two ops later).
_MAX_GAP = 16


def _pure(op: Operation) -> bool:
    return not op.regions and (op.name.startswith(_PURE_PREFIXES) or op.name in _PURE_OPS)


def _even(v: Value) -> bool:
    """Whether every lane of the integer tile ``v`` is even, by construction."""
    op = v.defining_op
    if op is None:
        return False
    if op.name == "arith.muli":
        return any((c := const_int(o)) is not None and c % 2 == 0 for o in op.operands)
    if op.name == "arith.shli":
        c = const_int(op.operands[1])
        return c is not None and c >= 1
    if op.name in ("arith.addi", "arith.subi"):
        return all(_even(o) for o in op.operands)
    if op.name in ("tt.broadcast", "tt.expand_dims"):
        return _even(op.operands[0])
    c = const_int(v)
    return c is not None and c % 2 == 0


def _plus_one(off: Value) -> Value | None:
    """``x`` when ``off`` is ``x + 1`` (either operand order), else None."""
    op = off.defining_op
    if op is None or op.name != "arith.addi":
        return None
    x, y = op.operands
    if const_int(y) == 1:
        return x
    if const_int(x) == 1:
        return y
    return None


def _split(ptr: Value) -> tuple[Value, Value] | None:
    """``(base, off)`` for a pointer tile ``splat(base) + off`` (base a scalar pointer)."""
    op = ptr.defining_op
    if op is None or op.name != "tt.addptr":
        return None
    splat = op.operands[0].defining_op
    if splat is None or splat.name != "tt.splat":
        return None
    return splat.operands[0], op.operands[1]


def _mask(op: Operation) -> Value | None:
    return op.operands[2] if len(op.operands) > 2 else None


def _layout(first: Operation, second: Operation) -> tuple[bool, bool] | None:
    """``(runtime, swapped)`` when the stores are a pair: ``runtime``: the bases differ and are
    compared at run time (``second``'s must be ``first``'s plus one element); ``swapped``:
    ``second`` writes the even lanes of the range. None: not a pair."""
    a, b = _split(first.operands[0]), _split(second.operands[0])
    if a is None or b is None:
        return None
    (base_a, off_a), (base_b, off_b) = a, b
    if off_a is off_b:
        return (True, False) if base_a is not base_b and _even(off_a) else None
    if base_a is not base_b:
        return None
    if _plus_one(off_b) is off_a and _even(off_a):
        return (False, False)
    if _plus_one(off_a) is off_b and _even(off_b):
        return (False, True)
    return None


def _partner(cx: Lowering, op: Operation) -> tuple[Operation, list[Operation]] | None:
    """The store that pairs with ``op`` and the pure ops between them, or None."""
    block = op.parent
    if block is None or not isinstance(op.operands[0].type, irt.TensorType):
        return None
    ops = block.ops
    at = next((i for i, o in enumerate(ops) if o is op), None)
    if at is None:
        return None
    between: list[Operation] = []
    for nxt in ops[at + 1 : at + 1 + _MAX_GAP]:
        if nxt.name == "tt.store":
            return (nxt, between) if _compatible(cx, op, nxt) else None
        if not _pure(nxt) or nxt in cx.folded:
            return None
        between.append(nxt)
    return None


def _compatible(cx: Lowering, first: Operation, second: Operation) -> bool:
    pa, pb = first.operands[0], second.operands[0]
    if not isinstance(pb.type, irt.TensorType) or pa.type != pb.type:
        return False
    if lu.llvm_type(irt.element_type(pa.type).pointee) == lu.I1:  # type: ignore[attr-defined]
        return False
    if _mask(first) is not _mask(second) or len(first.operands) != len(second.operands):
        return False
    if any(o.attrs.get(k) == v for o in (first, second) for k, v in _HINTS):
        return False  # streaming hints keep their non-temporal path
    return cx.stride(pa) == 2 and _layout(first, second) is not None


#: Store hints whose non-temporal path the paired store would lose (memory._STREAMING_HINTS).
_HINTS = (("evict", "evict_first"), ("cache", ".cs"))


def lower_store_pair(
    cx: Lowering, op: Operation, store_tile: Callable[[Lowering, Operation], None]
) -> bool:
    """Lower ``op`` together with the stride-2 store that pairs with it, if there is one
    (see the module docstring); ``store_tile`` lowers one store op the ordinary way.
    Returns whether it did."""
    found = _partner(cx, op)
    if found is None:
        return False
    second, between = found
    layout = _layout(op, second)
    assert layout is not None
    runtime, swapped = layout
    for mid in between:
        cx.lower_op(mid)
        cx.folded.add(mid)
    cx.folded.add(second)
    cx.current_op = op
    b = cx.b
    if not runtime:
        _paired_chunks(cx, op, second, swapped)
        return True
    base_a = b.ptrtoint(cx.scalar(_split(op.operands[0])[0]), lu.I64)  # type: ignore[index]
    base_b = b.ptrtoint(cx.scalar(_split(second.operands[0])[0]), lu.I64)  # type: ignore[index]
    size = lu.elem_size(irt.element_type(op.operands[0].type).pointee)  # type: ignore[attr-defined]
    adjacent = b.icmp_unsigned("==", base_b, b.add(base_a, ll.Constant(lu.I64, size)))
    with b.if_else(adjacent, likely=True) as (then, otherwise):
        with then:
            _paired_chunks(cx, op, second, False)
        with otherwise:
            store_tile(cx, op)
            store_tile(cx, second)
    return True


def _paired_chunks(cx: Lowering, first: Operation, second: Operation, swapped: bool) -> None:
    """The chunk loop of a pair: per chunk, the two value vectors interleaved and stored
    contiguously from the even store's lane 0; a chunk with disabled lanes scatters both."""
    from tritium.backends.cpu import memory  # memory imports this module

    b = cx.b
    even, odd = (second, first) if swapped else (first, second)
    ptr = even.operands[0]
    elem = irt.element_type(ptr.type).pointee  # type: ignore[attr-defined]
    size = lu.elem_size(elem)
    mask = _mask(first)
    shape = ptr.type.shape  # type: ignore[attr-defined]
    for idx in cx.chunks(shape):
        w = idx.width
        lo = _to_store(cx, cx.eval(even.operands[1], idx), elem)
        hi = _to_store(cx, cx.eval(odd.operands[1], idx), elem)
        picks = [i // 2 + (w if i % 2 else 0) for i in range(2 * w)]
        both = b.shuffle_vector(lo, hi, ll.Constant(lu.vec(lu.I32, 2 * w), picks))
        start = b.inttoptr(memory._lane(cx, ptr, idx, 0), lu.PTR)
        if mask is None:
            b.store(both, start, align=size)
            continue
        m = cx.eval(mask, idx)
        # everything the scatters need is computed before the branch (idx caches values)
        scatters = [
            (cx.eval(o.operands[0], idx), cx.eval(o.operands[1], idx)) for o in (first, second)
        ]
        whole = memory._all_enabled(cx, mask, idx)
        if whole is None:
            whole = memory._whole(cx, m, None)
        with b.if_else(whole, likely=True) as (then, otherwise):
            with then:
                b.store(both, start, align=size)
            with otherwise:
                for p, v in scatters:
                    memory.store_vector(cx, p, elem, v, m, False)


def _to_store(cx: Lowering, v: ll.Value, elem: irt.Type) -> ll.Value:
    """``v`` as it goes to memory: 16-bit floats as i16 (see memory.load_vector)."""
    if str(lu.mem_type(elem)) in ("half", "bfloat"):
        return cx.b.bitcast(v, lu.vec(lu.I16, v.type.count))
    return v


def _pair_base(ptr: Value) -> tuple[Value, Value, int] | None:
    """``(base, off, k)`` for a pointer tile ``splat(base [+ k]) + off [+ k]``, ``k`` 0 or 1."""
    split = _split(ptr)
    if split is None:
        return None
    base, off = split
    k = 0
    x = _plus_one(off)
    if x is not None:
        off, k = x, 1
    op = base.defining_op
    if op is not None and op.name == "tt.addptr" and const_int(op.operands[1]) == 1:
        base, k = op.operands[0], k + 1
    return (base, off, k) if k <= 1 else None


def load_partner_shift(op: Operation) -> int | None:
    """For a stride-2 ``tt.load``: 0 when the same block also loads the odd elements after its
    lanes (this load is the even half of a range), -1 when it loads the even ones before them
    (this is the odd half), None when there is no such load (see the module docstring)."""
    me = _pair_base(op.operands[0])
    block = op.parent
    if me is None or block is None:
        return None
    base, off, k = me
    mask = op.operands[1] if len(op.operands) > 1 else None
    for other in block.ops:
        if other is op or other.name != "tt.load" or len(other.operands) < 1:
            continue
        if (other.operands[1] if len(other.operands) > 1 else None) is not mask:
            continue
        if other.operands[0].type != op.operands[0].type:
            continue
        them = _pair_base(other.operands[0])
        if them is not None and them[0] is base and them[1] is off and them[2] == 1 - k:
            return -k
    return None
