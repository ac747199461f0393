"""Lowering of loads, stores and atomics.

A chunk of a tile load or store whose pointers are contiguous along the last dimension
(stride 1, proven by :func:`analysis.last_dim_stride`) becomes one ``llvm.masked.load`` /
``llvm.masked.store`` (or a plain vector access without a mask); anything else becomes a
gather or scatter. Accesses are aligned to the element size only: a user's buffer may start
anywhere. Masked-off lanes of a load read ``other``, or zero.

Atomics are scalarized over the lanes a mask enables, each an LLVM ``atomicrmw`` or
``cmpxchg``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu import narrow_masked, transpose
from tritium.backends.cpu.analysis import uniform
from tritium.backends.cpu.codegen import Lowering, lazy_rule, statement
from tritium.backends.cpu.prefetch import emit_prefetch, emit_prefetch_in_store, plan_prefetch
from tritium.backends.cpu.store_ahead import lower_store_ahead
from tritium.backends.cpu.store_groups import lower_store_group
from tritium.backends.cpu.streaming import auto_streaming, fence_at_worker_end
from tritium.backends.cpu.stride_pairs import load_partner_shift, lower_store_pair
from tritium.backends.cpu.tiles import Index, Scalar
from tritium.ir import Operation, Value
from tritium.ir import types as irt


def _pointee(ptr: Value) -> irt.Type:
    pt = irt.element_type(ptr.type)
    if not isinstance(pt, irt.PointerType):
        raise TypeError(f"expected a pointer, got {ptr.type}")
    return pt.pointee


def _to_mem(cx: Lowering, v: ll.Value, elem: irt.Type) -> ll.Value:
    if lu.llvm_type(elem) == lu.I1:
        w = v.type.count if isinstance(v.type, ll.VectorType) else None
        return cx.b.zext(v, lu.vec(lu.I8, w) if w else lu.I8)
    return v


def _runtime_contiguous(cx: Lowering, ptrs: ll.Value, size: int, mask: ll.Value | None) -> ll.Value:
    """i1: every enabled lane's address is lane 0's plus ``lane * size``."""
    b = cx.b
    w = ptrs.type.count
    first = b.extract_element(ptrs, ll.Constant(lu.I32, 0))
    steps = ll.Constant(lu.vec(lu.I64, w), [ll.Constant(lu.I64, i * size) for i in range(w)])
    same = b.icmp_unsigned("==", ptrs, b.add(lu.splat(b, first, w), steps))
    if mask is not None:
        same = b.or_(same, b.xor(mask, lu.const(lu.I1, 1, w)))
    name = f"llvm.vector.reduce.and.{lu.type_suffix(same.type)}"
    return b.call(lu.intrinsic(cx.module, name, lu.I1, [same.type]), [same])


def _dispatch(
    cx: Lowering,
    contiguous: bool | None,
    ptrs: ll.Value,
    size: int,
    mask: ll.Value | None,
    emit: Callable[[bool], ll.Value | None],
) -> ll.Value | None:
    """``emit(True)`` or ``emit(False)``; when contiguity is only known at run time, both,
    chosen by a check of the addresses."""
    if contiguous is not None:
        return emit(contiguous)
    b = cx.b
    with b.if_else(_runtime_contiguous(cx, ptrs, size, mask), likely=True) as (then, other):
        with then:
            fast = emit(True)
            fast_block = b.block
        with other:
            slow = emit(False)
            slow_block = b.block
    if fast is None:
        return None
    phi = b.phi(fast.type)
    phi.add_incoming(fast, fast_block)
    phi.add_incoming(slow, slow_block)
    return phi


@dataclass
class _ScalarForm:
    """A contiguous chunk's lane-0 address and all-lanes-enabled test, as scalars: the
    vector forms cost a broadcast, an add, a compare and a movmsk per chunk, and LLVM does
    not narrow them back to the scalar they stand for."""

    address: ll.Value | None  # i64
    whole: ll.Value | None  # i1, None: unknown (test the vector mask)


def _base(cx: Lowering, ptrs: ll.Value, scalar: _ScalarForm | None) -> ll.Value:
    if scalar is not None and scalar.address is not None:
        return cx.b.inttoptr(scalar.address, lu.PTR)
    return cx.b.inttoptr(cx.b.extract_element(ptrs, ll.Constant(lu.I32, 0)), lu.PTR)


def _whole(cx: Lowering, mask: ll.Value, scalar: _ScalarForm | None) -> ll.Value:
    if scalar is not None and scalar.whole is not None:
        return scalar.whole
    red = f"llvm.vector.reduce.and.{lu.type_suffix(mask.type)}"
    return cx.b.call(lu.intrinsic(cx.module, red, lu.I1, [mask.type]), [mask])


def _lane(cx: Lowering, v: Value, idx: Index, lane: int) -> ll.Value:
    """Lane ``lane`` of ``v``'s chunk ``idx``, computed as a one-lane chunk (a scalar)."""
    last = idx.dims[-1]
    if lane:
        last = cx.b.add(last, ll.Constant(lu.I32, lane))
    one = Index(idx.dims[:-1] + (last,), 1)
    return cx.b.extract_element(cx.eval(v, one), ll.Constant(lu.I32, 0))


# Predicates true on an interval of lanes when one side is affine in the lane and the other
# uniform (signed: assuming no i32 wrap inside a chunk, as the addresses do). No unsigned
# predicate: an affine value that wraps inside a chunk (``cols.to(uint32) - lo`` with ``lo`` in
# the chunk) is true on both sides of a false lane for ``ult``/``ule`` too, when the bound is
# large (``hi - lo`` negative, as uint32), so the first and last lanes do not decide the chunk.
_MONOTONE = frozenset({"slt", "sle", "sgt", "sge"})


def _convex(cx: Lowering, v: Value) -> bool:
    """Whether the lanes of ``v`` that are true form one interval along the last dimension:
    a uniform mask; a monotone comparison of affine lanes (``cols < n``, ``lo <= cols``: a
    prefix or a suffix); an ``and`` of convex masks (an intersection of intervals); either
    broadcast along other dimensions."""
    if cx.stride(v) == 0:
        return True
    op = v.defining_op
    if op is None or v not in cx.lazy:
        return False
    if op.name in ("tt.broadcast", "tt.expand_dims"):
        return _convex(cx, op.operands[0])
    if op.name == "arith.andi":
        return all(_convex(cx, o) for o in op.operands)
    return (
        op.name == "arith.cmpi"
        and op.attrs.get("predicate") in _MONOTONE
        and all(cx.stride(o) is not None for o in op.operands)
    )


def _all_enabled(cx: Lowering, mask: Value, idx: Index) -> ll.Value | None:
    """i1: every lane of ``mask``'s chunk is true, from its first and last lanes, when the
    mask is convex (see :func:`_convex`); None otherwise."""
    if cx.stride(mask) == 0:
        return _lane(cx, mask, idx, 0)
    if not _convex(cx, mask):
        return None
    return cx.b.and_(_lane(cx, mask, idx, 0), _lane(cx, mask, idx, idx.width - 1))


def _affine(v: Value, widened: bool = False) -> bool:
    """Whether ``v`` is an affine function of its element's indices over the whole tile
    (assuming, as the addresses do, no i32 wrap): ranges and uniform values, their sums,
    differences and uniform multiples, expanded or broadcast; with ``widened``, also through
    sign extensions (tutorial 06's block pointers widen their i32 ranges to i64 offsets)."""
    op = v.defining_op
    if widened and op is not None and op.name == "arith.extsi":
        return _affine(op.operands[0], widened)
    if uniform(v, constants=True) or (op is not None and op.name == "tt.make_range"):
        return True
    if op is None:
        return False
    if op.name in ("tt.expand_dims", "tt.broadcast"):
        return _affine(op.operands[0], widened)
    if op.name in ("arith.addi", "arith.subi"):
        return all(_affine(o, widened) for o in op.operands)
    return (
        op.name == "arith.muli"
        and any(uniform(o, constants=True) for o in op.operands)
        and all(_affine(o, widened) for o in op.operands)
    )


def whole_tile(cx: Lowering, mask: Value, widened: bool = False) -> ll.Value | None:
    """i1: every element of the tile ``mask`` is true, from its corners, when the mask is a
    monotone comparison of affine values (:func:`_affine`: tutorial 03's ``offs_k < K - k *
    BLOCK_K`` as a row or a column), or an ``and`` of such; None otherwise. An affine
    difference is smallest and largest at corners of the index box, so such a comparison
    holds everywhere when it holds at every corner. Tutorial 03's two masks (``a``'s row,
    ``b``'s column) fold to one compare, where the element-by-element reduction of ``b``'s
    column was a 64-trip loop that LoopVectorize widened to ``<64 x i64>``: optimize + emit
    of the tutorial matmul 4-4.5 ms less (EPYC Zen 4, thread CPU time, 21 interleaved
    repetitions at load 4.5). ``widened``: through sign extensions too (see :func:`_affine`)."""
    op = mask.defining_op
    if op is None:
        return None
    if op.name in ("tt.expand_dims", "tt.broadcast"):
        return whole_tile(cx, op.operands[0], widened)
    if op.name == "arith.andi":
        parts = [whole_tile(cx, o, widened) for o in op.operands]
        if any(p is None for p in parts):
            return None
        return cx.b.and_(parts[0], parts[1])
    if op.name != "arith.cmpi" or op.attrs.get("predicate") not in _MONOTONE:
        return None
    if not all(_affine(o, widened) for o in op.operands):
        return None
    dims = [(0, n - 1) if n > 1 else (0,) for n in irt.shape_of(mask.type)]
    out: ll.Value | None = None
    for corner in itertools.product(*dims):
        at = Index(tuple(ll.Constant(lu.I32, i) for i in corner), 1)
        lane = cx.b.extract_element(cx.eval(mask, at), ll.Constant(lu.I32, 0))
        out = lane if out is None else cx.b.and_(out, lane)
    return out


def scalar_form(cx: Lowering, ptr: Value, mask: Value | None, idx: Index) -> _ScalarForm | None:
    """The scalar lane-0 address and whole-chunk test of a contiguous access, or None for a
    one-lane chunk or when AVX-512 makes masked accesses cheap anyway."""
    if idx.width == 1 or cx.stride(ptr) != 1:
        return None
    whole = _all_enabled(cx, mask, idx) if mask is not None else None
    return _ScalarForm(_lane(cx, ptr, idx, 0), whole)


def load_vector(
    cx: Lowering,
    ptrs: ll.Value,
    elem: irt.Type,
    mask: ll.Value | None,
    other: ll.Value | None,
    contiguous: bool | None,
    scalar: _ScalarForm | None = None,
) -> ll.Value:
    """Load ``width`` lanes through i64 addresses ``ptrs`` (a vector); ``contiguous`` None
    means: check at run time. ``scalar`` (contiguous chunks only): lane 0's address and
    whether every lane is enabled, computed as scalars (see :func:`scalar_form`)."""
    b = cx.b
    w = ptrs.type.count
    mt = lu.mem_type(elem)
    size = lu.elem_size(elem)
    other_m = _to_mem(cx, other, elem) if other is not None else None
    # 16-bit floats move as i16: x86 legalizes masked bf16 accesses through conversions
    # that call compiler-rt on CPUs without AVX512-BF16
    as_int = str(mt) in ("half", "bfloat")
    if as_int:
        mt = lu.I16
        if other_m is not None:
            other_m = b.bitcast(other_m, lu.vec(lu.I16, w))
    vty = lu.vec(mt, w)
    if other_m is None:
        other_m = ll.Constant(vty, None)

    def emit(contig: bool) -> ll.Value:
        if not contig:
            return cx.gather(b.inttoptr(ptrs, lu.vec(lu.PTR, w)), vty, size, mask, other_m)
        base = _base(cx, ptrs, scalar)
        if mask is None:
            return b.load(base, typ=vty, align=size)

        def masked() -> ll.Value:
            assert mask is not None and other_m is not None
            if narrow_masked.applies(cx, vty):  # 8/16-bit lanes without AVX512-BW
                return narrow_masked.load(cx, base, vty, mask, other_m)
            name = f"llvm.masked.load.{lu.type_suffix(vty)}.p0"
            fn = lu.intrinsic(cx.module, name, vty, [lu.PTR, lu.I32, mask.type, vty])
            return b.call(fn, [base, ll.Constant(lu.I32, size), mask, other_m])

        if w > 1 and not cx.target.has("avx512f"):
            # as for stores (see store_vector): a whole chunk loads plainly, without vmaskmovps
            # (AVX2 has no 16-bit masked load at all: an fp16/bf16 chunk's masked i16 load is a
            # branch per lane, 2.5x slower on Inductor's bf16 column sums)
            whole = _whole(cx, mask, scalar)
            with b.if_else(whole, likely=True) as (then, other):
                with then:
                    plain = b.load(base, typ=vty, align=size)
                    plain_block = b.block
                with other:
                    some = masked()
                    masked_block = b.block
            phi = b.phi(vty)
            phi.add_incoming(plain, plain_block)
            phi.add_incoming(some, masked_block)
            return phi
        return masked()

    val = _dispatch(cx, contiguous, ptrs, size, mask, emit)
    assert val is not None
    if as_int:
        val = b.bitcast(val, lu.vec(lu.mem_type(elem), w))
    if lu.llvm_type(elem) == lu.I1:
        val = b.icmp_unsigned("!=", val, ll.Constant(vty, None))
    return val


def store_vector(
    cx: Lowering,
    ptrs: ll.Value,
    elem: irt.Type,
    value: ll.Value,
    mask: ll.Value | None,
    contiguous: bool | None,
    streaming: bool | ll.Value | None = False,
    scalar: _ScalarForm | None = None,
) -> None:
    """Store ``width`` lanes through i64 addresses ``ptrs``; masked-off lanes are untouched.

    ``streaming`` (True, or an i1 decided at run time): a contiguous chunk whose address is
    aligned and whose lanes are all enabled is written with a non-temporal store (no
    read-for-ownership of the line, no cache pollution); any other chunk takes the ordinary
    path. The caller fences.
    """
    b = cx.b
    w = ptrs.type.count
    value = _to_mem(cx, value, elem)
    if str(lu.mem_type(elem)) in ("half", "bfloat"):
        value = b.bitcast(value, lu.vec(lu.I16, w))  # see load_vector
    vty = value.type
    size = lu.elem_size(elem)

    def emit(contig: bool) -> None:
        if contig and streaming is not None and streaming is not False and w > 1:
            when = None if streaming is True else streaming
            plain = lambda: emit_plain(True)  # noqa: E731
            _streaming_store(cx, ptrs, value, w * size, mask, plain, when, scalar)
            return
        emit_plain(contig)

    def emit_plain(contig: bool) -> None:
        if contig:
            base = _base(cx, ptrs, scalar)
            if mask is None:
                b.store(value, base, align=size)
                return

            def masked() -> None:
                assert mask is not None
                if narrow_masked.applies(cx, vty):  # 8/16-bit lanes without AVX512-BW
                    narrow_masked.store(cx, value, base, mask)
                    return
                name = f"llvm.masked.store.{lu.type_suffix(vty)}.p0"
                fn = lu.intrinsic(cx.module, name, lu.VOID, [vty, lu.PTR, lu.I32, mask.type])
                b.call(fn, [value, base, ll.Constant(lu.I32, size), mask])

            if w > 1 and not cx.target.has("avx512f"):
                # Without AVX-512 a masked store is vmaskmovps, microcoded and slow on AMD
                # cores: a chunk whose lanes are all enabled (all but a tail) stores plainly.
                whole = _whole(cx, mask, scalar)
                with b.if_else(whole, likely=True) as (then, other):
                    with then:
                        b.store(value, base, align=size)
                    with other:
                        masked()
                return
            masked()
            return
        vptrs = b.inttoptr(ptrs, lu.vec(lu.PTR, w))
        m = mask if mask is not None else lu.const(lu.I1, 1, w)
        name = f"llvm.masked.scatter.{lu.type_suffix(vty)}.v{w}p0"
        fn = lu.intrinsic(cx.module, name, lu.VOID, [vty, vptrs.type, lu.I32, m.type])
        b.call(fn, [value, vptrs, ll.Constant(lu.I32, size), m])

    _dispatch(cx, contiguous, ptrs, size, mask, emit)


def _streaming_store(
    cx: Lowering,
    ptrs: ll.Value,
    value: ll.Value,
    nbytes: int,
    mask: ll.Value | None,
    plain: Callable[[], None],
    when: ll.Value | None = None,
    scalar: _ScalarForm | None = None,
) -> None:
    """A non-temporal store of ``value`` (``nbytes``) when the chunk is whole and aligned to
    16 bytes (or to its size, if smaller), else ``plain()``.

    16, not the vector's size: NumPy's large arrays start 16 bytes into a page (glibc's mmap
    chunks), so a 32-byte check would never pass on them. LLVM splits an under-aligned
    non-temporal ymm/zmm store into 16-byte ``vmovntps``, which write-combine into the same
    full lines."""
    b = cx.b
    base = _base(cx, ptrs, scalar)
    addr = b.ptrtoint(base, lu.I64)
    align = min(nbytes, 16)
    ok = b.icmp_unsigned("==", b.and_(addr, ll.Constant(lu.I64, align - 1)), lu.const(lu.I64, 0))
    if mask is not None:
        ok = b.and_(ok, _whole(cx, mask, scalar))
    if when is not None:
        ok = b.and_(when, ok)
    with b.if_else(ok, likely=True) as (then, other):
        with then:
            st = b.store(value, base, align=align)
            st.set_metadata("nontemporal", cx.module.add_metadata([ll.Constant(lu.I32, 1)]))
        with other:
            plain()


#: Store hints that say the data will not be read again soon (Triton's names).
_STREAMING_HINTS = {("evict", "evict_first"), ("cache", ".cs")}


def _wants_streaming(cx: Lowering, op: Operation) -> bool:
    if not any(op.attrs.get(k) == v for k, v in _STREAMING_HINTS):
        return False
    # non-temporal stores are weakly ordered: x86 needs an sfence after them (see _store)
    return cx.target.triple.startswith(("x86_64", "i686", "i386"))


def contiguity(cx: Lowering, ptr: Value, width: int) -> bool | None:
    """True: the chunk's addresses are consecutive; False: they are not (all equal);
    None: unknown until run time."""
    if width == 1:
        return True
    s = cx.stride(ptr)
    if s == 1:
        return True
    if s is not None:
        return False
    return None


def _operands(op: Operation, n_fixed: int) -> tuple[Value | None, Value | None]:
    extra = op.operands[n_fixed:]
    return (extra[0] if len(extra) > 0 else None, extra[1] if len(extra) > 1 else None)


def _pair_load(
    cx: Lowering,
    ptr: Value,
    mask: Value | None,
    idx: Index,
    ptrs: ll.Value,
    m: ll.Value | None,
    o: ll.Value | None,
    shift: int | None = None,
) -> ll.Value:
    """A chunk whose lanes are every other element (``x[..., ::2]``, ``x[..., 1::2]``: complex
    and rotary layouts) as two contiguous loads and a shuffle: lanes ``0, 2, ..., w-2`` from
    the first, the rest from a second load placed to end at the last lane, so nothing past
    the chunk's last element is read. ``shift`` (0 or -1, see
    ``stride_pairs.load_partner_shift``): the program also loads the other half of the
    range, so the two halves of the range starting ``shift`` elements from lane 0 are read
    (the same two loads as the partner's). A chunk with disabled lanes (whose addresses may
    be anywhere) is gathered."""
    b = cx.b
    elem = _pointee(ptr)
    w = idx.width
    mt = lu.mem_type(elem)
    size = lu.elem_size(elem)
    lt = lu.I16 if str(mt) in ("half", "bfloat") else mt  # see load_vector
    vty = lu.vec(lt, w)

    def pairs() -> ll.Value:
        first = b.inttoptr(_lane(cx, ptr, idx, 0), lu.PTR)
        if shift is not None:
            start = b.gep(first, [ll.Constant(lu.I64, shift)], source_etype=lt)
            lo = b.load(start, typ=vty, align=size)
            hi = b.load(
                b.gep(start, [ll.Constant(lu.I64, w)], source_etype=lt), typ=vty, align=size
            )
            val = b.shuffle_vector(
                lo, hi, ll.Constant(lu.vec(lu.I32, w), [2 * i - shift for i in range(w)])
            )
            return val if lt == mt else b.bitcast(val, lu.vec(mt, w))
        second = b.gep(first, [ll.Constant(lu.I64, w - 1)], source_etype=lt)
        lo = b.load(first, typ=vty, align=size)
        hi = b.load(second, typ=vty, align=size)
        picks = [2 * i if 2 * i < w else 2 * i + 1 for i in range(w)]  # w + (2i - (w - 1))
        val = b.shuffle_vector(lo, hi, ll.Constant(lu.vec(lu.I32, w), picks))
        return val if lt == mt else b.bitcast(val, lu.vec(mt, w))

    if mask is None:
        return pairs()
    assert m is not None
    whole = _all_enabled(cx, mask, idx)
    if whole is None:
        whole = _whole(cx, m, None)
    with b.if_else(whole, likely=True) as (then, otherwise):
        with then:
            fast = pairs()
            fast_block = b.block
        with otherwise:
            slow = load_vector(cx, ptrs, elem, m, o, False)
            slow_block = b.block
    phi = b.phi(fast.type)
    phi.add_incoming(fast, fast_block)
    phi.add_incoming(slow, slow_block)
    return phi


@lazy_rule("tt.load")
def _load_chunk(cx: Lowering, op: Operation, idx: Index) -> ll.Value:
    ptr = op.operands[0]
    mask, other = _operands(op, 1)
    stride = cx.stride(ptr) if idx.width > 1 else None
    if stride == 1:
        # a contiguous chunk loads from lane 0's address (scalar_form): its vector of
        # addresses would only be dead code for LLVM to delete (9-18% of the IR text of the
        # tutorial matmul, softmax and norms)
        ptrs = ll.Constant(lu.vec(lu.I64, idx.width), None)
    else:
        ptrs = cx.eval(ptr, idx)
    m = cx.eval(mask, idx) if mask is not None else None
    o = cx.eval(other, idx) if other is not None else None
    if stride == 2 and lu.llvm_type(_pointee(ptr)) != lu.I1:
        return _pair_load(cx, ptr, mask, idx, ptrs, m, o, load_partner_shift(op))
    # AVX-512 loads every chunk masked: only other targets test for a whole chunk (its
    # first/last-lane tests were dead code there, 5-20% of the tutorial kernels' LLVM IR text)
    sf = scalar_form(cx, ptr, None if cx.target.has("avx512f") else mask, idx)
    if sf is not None and sf.address is not None:
        emit_prefetch(cx, op, sf.address)
    return load_vector(cx, ptrs, _pointee(ptr), m, o, contiguity(cx, ptr, idx.width), sf)


@statement("tt.load")
def _load(cx: Lowering, op: Operation) -> None:
    if isinstance(op.result.type, irt.TensorType):
        if transpose.transposable(op.operands[0], cx.stride(op.operands[0])):
            cx.refs[op.result] = transpose.transposed_load(cx, op, load_vector)
            return
        plan_prefetch(cx, op)
        cx.define_tile(op)
        return
    # a scalar load is a one-lane vector load
    ptr = op.operands[0]
    mask, other = _operands(op, 1)
    ptrs = lu.splat(cx.b, cx.scalar(ptr), 1)
    m = lu.splat(cx.b, cx.scalar(mask), 1) if mask is not None else None
    o = lu.splat(cx.b, cx.scalar(other), 1) if other is not None else None
    v = load_vector(cx, ptrs, _pointee(ptr), m, o, True)
    cx.refs[op.result] = Scalar(cx.b.extract_element(v, ll.Constant(lu.I32, 0)))


@statement("tt.store")
def _store(cx: Lowering, op: Operation) -> None:
    ptr, value = op.operands[0], op.operands[1]
    mask = op.operands[2] if len(op.operands) > 2 else None
    elem = _pointee(ptr)
    if not isinstance(ptr.type, irt.TensorType):
        p = lu.splat(cx.b, cx.scalar(ptr), 1)
        v = lu.splat(cx.b, cx.scalar(value), 1)
        m = lu.splat(cx.b, cx.scalar(mask), 1) if mask is not None else None
        store_vector(cx, p, elem, v, m, True)
        return
    if lower_store_pair(cx, op, _store_tile) or lower_store_group(cx, op):
        return
    _store_tile(cx, op)


def _store_tile(cx: Lowering, op: Operation) -> None:
    """The chunk loop of one tile store."""
    ptr = op.operands[0]
    if transpose.transposable(ptr, cx.stride(ptr)):
        # a column store through 8 x 8 blocks (plain stores: no streaming path there)
        transpose.transposed_store(cx, op, store_vector)
        return
    # hinted, or (None: never) an output too large for the cache, decided at run time
    streaming: bool | ll.Value | None = _wants_streaming(cx, op) or auto_streaming(cx, op)
    if streaming is None or streaming is False:
        _store_chunks(cx, op, streaming)
        return
    ordinary = lambda: _store_chunks(cx, op, streaming)  # noqa: E731
    if not lower_store_ahead(cx, op, streaming, ordinary):
        ordinary()
    if fence_at_worker_end(cx):
        return
    # Order the weakly-ordered non-temporal stores before anything the program does next
    # (and before the launcher reports it finished): one fence per store op, not per chunk.
    fence = lu.intrinsic(cx.module, "llvm.x86.sse.sfence", lu.VOID, [])
    if streaming is True:
        cx.b.call(fence, [])
    else:
        with cx.b.if_then(streaming):
            cx.b.call(fence, [])


def _store_chunks(cx: Lowering, op: Operation, streaming: bool | ll.Value | None) -> None:
    """The chunk loop of a tile store, each chunk stored where it is evaluated."""
    ptr, value = op.operands[0], op.operands[1]
    mask = op.operands[2] if len(op.operands) > 2 else None
    elem = _pointee(ptr)
    for idx in cx.chunks(ptr.type.shape):
        p = cx.eval(ptr, idx)
        v = cx.eval(value, idx)
        m = cx.eval(mask, idx) if mask is not None else None
        emit_prefetch_in_store(cx, op, idx)
        sf = scalar_form(cx, ptr, mask, idx)
        store_vector(cx, p, elem, v, m, contiguity(cx, ptr, idx.width), streaming, sf)


_ORDERING = {
    "acq_rel": "acq_rel",
    "acquire": "acquire",
    "release": "release",
    "relaxed": "monotonic",
    "": "acq_rel",
    None: "acq_rel",
}
_FAIL_ORDERING = {
    "acq_rel": "acquire",
    "acquire": "acquire",
    "release": "monotonic",
    "monotonic": "monotonic",
}


def _lanewise(cx: Lowering, op: Operation, emit: object) -> None:
    """Run ``emit(ptr, operand_values, enabled)`` per lane of a (possibly tile) atomic op and
    collect the returned old values into the result."""
    ptr = op.operands[0]
    res = op.results[0]
    lt = lu.llvm_type(res.type)
    n_data = 2 if op.name == "tt.atomic_cas" else 1
    data = op.operands[1 : 1 + n_data]
    mask = op.operands[1 + n_data] if len(op.operands) > 1 + n_data else None

    def one(p: ll.Value, vals: list[ll.Value], m: ll.Value | None) -> ll.Value:
        b = cx.b
        addr = b.inttoptr(p, lu.PTR)
        if m is None:
            return emit(addr, vals)  # type: ignore[operator]
        pre = b.block
        with b.if_then(m):
            old = emit(addr, vals)  # type: ignore[operator]
            then_block = b.block
        phi = b.phi(lt)
        phi.add_incoming(old, then_block)
        phi.add_incoming(ll.Constant(lt, None), pre)
        return phi

    if not isinstance(ptr.type, irt.TensorType):
        m = cx.scalar(mask) if mask is not None else None
        cx.refs[res] = Scalar(one(cx.scalar(ptr), [cx.scalar(d) for d in data], m))
        return
    out = cx.alloc(ptr.type.shape, irt.element_type(res.type))
    zero = ll.Constant(lu.I32, 0)
    for idx in cx.chunks(ptr.type.shape, width=1):
        p = cx.b.extract_element(cx.eval(ptr, idx), zero)
        vals = [cx.b.extract_element(cx.eval(d, idx), zero) for d in data]
        m = cx.b.extract_element(cx.eval(mask, idx), zero) if mask is not None else None
        old = one(p, vals, m)
        cx.write_chunk(out, idx, lu.splat(cx.b, old, 1))
    cx.refs[res] = out


@statement("tt.atomic_rmw")
def _atomic_rmw(cx: Lowering, op: Operation) -> None:
    kind = op.attrs["rmw_op"]
    ordering = _ORDERING[op.attrs.get("sem")]
    is_float = lu.is_float(op.results[0].type)
    if is_float:
        kind = {"add": "fadd", "max": "fmax", "min": "fmin", "umax": "fmax", "umin": "fmin"}.get(
            kind, kind
        )
    elif kind == "fadd":
        kind = "add"
    if lu.llvm_type(op.results[0].type) == lu.I1:
        raise cx.error("atomics on booleans are not supported")

    def emit(addr: ll.Value, vals: list[ll.Value]) -> ll.Value:
        return cx.b.atomic_rmw(kind, addr, vals[0], ordering)

    _lanewise(cx, op, emit)


@statement("tt.atomic_cas")
def _atomic_cas(cx: Lowering, op: Operation) -> None:
    ordering = _ORDERING[op.attrs.get("sem")]
    lt = lu.llvm_type(op.results[0].type)
    ity = lt if isinstance(lt, ll.IntType) else ll.IntType(lu.elem_size(op.results[0].type) * 8)

    def emit(addr: ll.Value, vals: list[ll.Value]) -> ll.Value:
        b = cx.b
        cmp, new = vals
        if ity is not lt:
            cmp, new = b.bitcast(cmp, ity), b.bitcast(new, ity)
        pair = b.cmpxchg(addr, cmp, new, ordering, _FAIL_ORDERING[ordering])
        old = b.extract_value(pair, 0)
        return old if ity is lt else b.bitcast(old, lt)

    _lanewise(cx, op, emit)
