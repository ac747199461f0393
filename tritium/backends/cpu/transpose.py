"""Loads and stores of 2-D tiles whose memory is contiguous along the first dimension.

Inductor copies between NCHW and NHWC around every convolution with ``[YBLOCK, XBLOCK]``
kernels: ``tl.load(in_ptr + (x + 1024 * y))`` (contiguous along ``x``, the tile's last
dimension) stored to ``out_ptr + (y0 + 32 * x + 32768 * y1)`` (contiguous along ``y``), and
the reverse. The CPU backend walks a tile in chunks along its last dimension, so one side of
such a copy was a scatter (or gather) of single elements: ~3 instructions and a store per
element, 3-4x the time of a plain copy of the same bytes.

Here such an access goes through 8 x 8 blocks instead: the 8 rows of a block are evaluated
as ordinary chunks, transposed in registers (24 two-source shuffles: unpack, shuffle,
permute of 128-bit halves, the classic AVX sequence), and each of the 8 columns is one
contiguous vector access along the first dimension. A transposed load fills a stack tile
that its consumers then read row-wise; a transposed store writes the columns directly.
Masks are transposed with the values (as 32-bit lanes), so a masked-off element is neither
read nor written. 4-byte and 2-byte elements (bf16/fp16 activations: the same lane
permutation on 16-bit lanes, each column one 16-byte access), and tiles whose both
dimensions are multiples of 8.

Contiguity along the first dimension is proven by :func:`first_dim_stride` (the analogue of
``analysis.last_dim_stride`` for dimension 0: ``arange[:, None]``, broadcasts, sums,
products by constants, and Inductor's ``y % 32`` / ``y // 32`` when 8-element runs along
``y`` start at multiples of 8 and the modulus is one too).
"""

from __future__ import annotations

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.analysis import const_int, divisibility
from tritium.backends.cpu.tiles import Buffer, Index
from tritium.ir import Operation, Value, is_elementwise
from tritium.ir import types as irt

__all__ = ["BLOCK", "first_dim_stride", "transposable", "transposed_load", "transposed_store"]

#: rows and columns of a register block (8 x 32-bit lanes = one AVX register)
BLOCK = 8
_MAX_DEPTH = 64


def _shape(v: Value) -> tuple[int, ...] | None:
    return tuple(v.type.shape) if isinstance(v.type, irt.TensorType) else None


def first_dim_stride(
    v: Value, axis: int = 0, depth: int = 0, memo: dict[tuple[Value, int], int | None] | None = None
) -> int | None:
    """Stride of tile ``v`` along dimension ``axis`` within runs of :data:`BLOCK` elements
    that start at multiples of :data:`BLOCK` (in elements; pointers: pointee elements), or
    None when not a compile-time constant. Index expressions are short; past
    ``_MAX_DEPTH`` ops the answer is None, and ``memo`` keeps shared operands linear."""
    memo = {} if memo is None else memo
    key = (v, axis)
    if key not in memo:
        memo[key] = _first_dim_stride(v, axis, depth, memo)
    return memo[key]


def _first_dim_stride(
    v: Value, axis: int, depth: int, memo: dict[tuple[Value, int], int | None]
) -> int | None:
    shape = _shape(v)
    if shape is None:
        return 0  # a scalar is uniform
    op = v.defining_op
    if op is None or depth > _MAX_DEPTH:
        return None
    name, sub = op.name, lambda o, a=axis: first_dim_stride(o, a, depth + 1, memo)
    if name == "tt.make_range":
        return 1
    if name in ("tt.splat", "arith.constant"):
        return 0
    if name == "tt.expand_dims":
        a = op.attrs["axis"]
        return 0 if a == axis else sub(op.operands[0], axis if axis < a else axis - 1)
    if name == "tt.broadcast":
        src = _shape(op.operands[0])
        if src is not None and src[axis] == 1 and shape[axis] != 1:
            return 0
        return sub(op.operands[0])
    if name in ("arith.extsi", "arith.extui", "arith.trunci", "tt.int_to_ptr", "tt.ptr_to_int"):
        return sub(op.operands[0])
    subs = [sub(o) for o in op.operands]
    if None in subs:
        return None
    if name in ("arith.addi", "tt.addptr"):
        return subs[0] + subs[1]  # type: ignore[operator]
    if name == "arith.subi":
        return subs[0] - subs[1]  # type: ignore[operator]
    if name == "arith.muli":
        if subs == [0, 0]:
            return 0  # uniform along the axis (a column index times a run-time stride)
        for i in (0, 1):
            c = const_int(op.operands[1 - i])
            if c is not None:
                return subs[i] * c  # type: ignore[operator]
        return None
    if name in ("arith.remsi", "arith.remui", "arith.divsi", "arith.divui") and subs == [1, 0]:
        n = const_int(op.operands[1])
        aligned = n is not None and n > 0 and n % BLOCK == 0
        if aligned and _run_start_divisibility(op.operands[0], axis, depth + 1) % BLOCK == 0:
            # no multiple of n inside a run: x % n is consecutive, x // n the same
            return 1 if name.startswith("arith.rem") else 0
        return None
    if is_elementwise(name) and all(s == 0 for s in subs):
        return 0
    return None


def _run_start_divisibility(v: Value, axis: int, depth: int, seen: set[Value] | None = None) -> int:
    """A power of two dividing ``v`` at every index whose ``axis`` coordinate is a multiple of
    :data:`BLOCK` (the first element of each run), 1 when unknown (also for a value reached
    twice: index expressions are trees in practice, and this keeps the walk linear)."""
    seen = set() if seen is None else seen
    if v in seen:
        return 1
    seen.add(v)
    if _shape(v) is None:
        return divisibility(v)
    op = v.defining_op
    if op is None or depth > _MAX_DEPTH:
        return 1
    name = op.name
    if name == "tt.make_range":
        start = int(op.attrs["start"])
        return BLOCK if start % BLOCK == 0 else 1
    if name in ("tt.splat", "arith.extsi", "arith.extui", "tt.broadcast"):
        return _run_start_divisibility(op.operands[0], axis, depth + 1, seen)
    if name == "tt.expand_dims":
        a = op.attrs["axis"]
        if a == axis:
            return 1
        return _run_start_divisibility(
            op.operands[0], axis if axis < a else axis - 1, depth + 1, seen
        )
    if name == "arith.constant" and isinstance(op.attrs.get("value"), int):
        c = abs(int(op.attrs["value"]))
        return (c & -c) if c else 1 << 16
    divs = [_run_start_divisibility(o, axis, depth + 1, seen) for o in op.operands[:2]]
    if name in ("arith.addi", "arith.subi"):
        return min(divs)
    if name == "arith.muli":
        return min(1 << 16, divs[0] * divs[1])
    return 1


def transposable(ptr: Value, last_stride: int | None) -> bool:
    """Whether an access through the pointer tile ``ptr`` goes through 8 x 8 blocks: 2-D, a
    4-byte or 2-byte pointee, both dimensions multiples of 8, contiguous along dimension 0 and not
    along dimension 1."""
    shape = _shape(ptr)
    if shape is None or len(shape) != 2 or last_stride == 1:
        return False
    if shape[0] % BLOCK or shape[1] % BLOCK:
        return False
    pointee = irt.element_type(ptr.type)
    assert isinstance(pointee, irt.PointerType)
    if lu.elem_size(pointee.pointee) not in (2, 4) or lu.llvm_type(pointee.pointee) == lu.I1:
        return False
    return first_dim_stride(ptr) == 1


def _shuffle(b: ll.IRBuilder, a: ll.Value, c: ll.Value, mask: list[int]) -> ll.Value:
    return b.shuffle_vector(a, c, ll.Constant(ll.VectorType(lu.I32, len(mask)), mask))


_UNPACK_LO = [0, 8, 1, 9, 4, 12, 5, 13]
_UNPACK_HI = [2, 10, 3, 11, 6, 14, 7, 15]
_PAIRS_LO = [0, 1, 8, 9, 4, 5, 12, 13]
_PAIRS_HI = [2, 3, 10, 11, 6, 7, 14, 15]
_HALVES_LO = [0, 1, 2, 3, 8, 9, 10, 11]
_HALVES_HI = [4, 5, 6, 7, 12, 13, 14, 15]


def transpose8(b: ll.IRBuilder, rows: list[ll.Value]) -> list[ll.Value]:
    """The 8 columns of the 8 x 8 block whose rows are ``rows`` (8-lane vectors): within
    each 128-bit half, interleave pairs of rows, then pairs of pairs; then swap halves."""
    t = []
    for i in range(0, 8, 2):
        t += [_shuffle(b, rows[i], rows[i + 1], m) for m in (_UNPACK_LO, _UNPACK_HI)]
    # t[0..3]: rows 0-3 (lo, hi unpacks of 0/1 and 2/3); t[4..7]: rows 4-7
    s = []
    for base in (0, 4):
        lo01, hi01, lo23, hi23 = t[base : base + 4]
        s += [
            _shuffle(b, lo01, lo23, _PAIRS_LO),  # columns 0 and 4
            _shuffle(b, lo01, lo23, _PAIRS_HI),  # columns 1 and 5
            _shuffle(b, hi01, hi23, _PAIRS_LO),  # columns 2 and 6
            _shuffle(b, hi01, hi23, _PAIRS_HI),  # columns 3 and 7
        ]
    low = [_shuffle(b, s[j], s[j + 4], _HALVES_LO) for j in range(4)]
    high = [_shuffle(b, s[j], s[j + 4], _HALVES_HI) for j in range(4)]
    return low + high


def _lanes_type(element: ll.Type) -> ll.VectorType:
    """The integer vector a block's rows are shuffled as: <8 x i32> for 4-byte elements and
    masks (sign-extended), <8 x i16> for 2-byte ones (the shuffles only move lanes)."""
    if element == lu.I1:
        return lu.vec(lu.I32, BLOCK)
    bits = element.width if isinstance(element, ll.IntType) else _FLOAT_BITS[str(element)]
    return lu.vec(ll.IntType(bits), BLOCK)


_FLOAT_BITS = {"half": 16, "bfloat": 16, "float": 32}


def _transposed(b: ll.IRBuilder, rows: list[ll.Value]) -> list[ll.Value]:
    """``transpose8`` for 4-byte, 2-byte or i1 vectors, in their own type."""
    ty = rows[0].type
    lanes = _lanes_type(ty.element)
    if ty.element == lu.I1:
        ints = [b.sext(r, lanes) for r in rows]
    else:
        ints = [r if ty == lanes else b.bitcast(r, lanes) for r in rows]
    cols = transpose8(b, ints)
    if ty.element == lu.I1:
        return [b.icmp_signed("!=", c, ll.Constant(c.type, None)) for c in cols]
    return cols if ty == lanes else [b.bitcast(c, ty) for c in cols]


def _blocks(cx: object, shape: tuple[int, ...]):  # noqa: ANN202 - generator of (y, x)
    """Loops over the 8 x 8 blocks of a 2-D tile; yields the block's first (row, column)."""
    b = cx.b  # type: ignore[attr-defined]
    with lu.for_range(
        b, ll.Constant(lu.I32, 0), ll.Constant(lu.I32, shape[0]), BLOCK, name="ty", wide=True
    ) as y:
        with lu.for_range(
            b, ll.Constant(lu.I32, 0), ll.Constant(lu.I32, shape[1]), BLOCK, name="tx", wide=True
        ) as x:
            yield y, x


def _row(b: ll.IRBuilder, y: ll.Value, i: int, x: ll.Value) -> Index:
    return Index((b.add(y, ll.Constant(lu.I32, i)) if i else y, x), BLOCK)


def _column_ptrs(b: ll.IRBuilder, row0: ll.Value, j: int, size: int) -> ll.Value:
    """Addresses of column ``j`` of a block whose first row's addresses are ``row0``: lane
    ``j`` of the first row, then ``size`` bytes apart (contiguous along dimension 0)."""
    base = b.extract_element(row0, ll.Constant(lu.I32, j))
    steps = ll.Constant(lu.vec(lu.I64, BLOCK), [size * i for i in range(BLOCK)])
    return b.add(lu.splat(b, base, BLOCK), steps)


def transposed_store(cx, op: Operation, store_vector) -> None:  # noqa: ANN001
    """Lower ``tt.store`` of a :func:`transposable` pointer tile through 8 x 8 blocks."""
    from tritium.backends.cpu.memory import _pointee

    ptr, value = op.operands[0], op.operands[1]
    mask = op.operands[2] if len(op.operands) > 2 else None
    b = cx.b
    for y, x in _blocks(cx, _shape(ptr)):
        row0 = cx.eval(ptr, Index((y, x), BLOCK))
        rows = [cx.eval(value, _row(b, y, i, x)) for i in range(BLOCK)]
        cols = _transposed(b, rows)
        mcols = None
        if mask is not None:
            mcols = _transposed(b, [cx.eval(mask, _row(b, y, i, x)) for i in range(BLOCK)])
        for j in range(BLOCK):
            m = mcols[j] if mcols is not None else None
            ptrs = _column_ptrs(b, row0, j, lu.elem_size(_pointee(ptr)))
            store_vector(cx, ptrs, _pointee(ptr), cols[j], m, True)


def transposed_load(cx, op: Operation, load_vector) -> Buffer:  # noqa: ANN001
    """Lower ``tt.load`` of a :func:`transposable` pointer tile into a stack tile, through
    8 x 8 blocks: columns loaded along dimension 0, transposed, stored as rows."""
    from tritium.backends.cpu.memory import _operands, _pointee

    ptr = op.operands[0]
    mask, other = _operands(op, 1)
    elem = _pointee(ptr)
    b = cx.b
    buf = cx.alloc(_shape(ptr), elem)
    for y, x in _blocks(cx, _shape(ptr)):
        row0 = cx.eval(ptr, Index((y, x), BLOCK))
        mcols = ocols = None
        if mask is not None:
            mcols = _transposed(b, [cx.eval(mask, _row(b, y, i, x)) for i in range(BLOCK)])
        if other is not None:
            ocols = _transposed(b, [cx.eval(other, _row(b, y, i, x)) for i in range(BLOCK)])
        cols = [
            load_vector(
                cx,
                _column_ptrs(b, row0, j, lu.elem_size(elem)),
                elem,
                mcols[j] if mcols is not None else None,
                ocols[j] if ocols is not None else None,
                True,
            )
            for j in range(BLOCK)
        ]
        for i, r in enumerate(_transposed(b, cols)):
            cx.write_chunk(buf, _row(b, y, i, x), r)
    return buf
