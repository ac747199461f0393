"""``tt.dot`` with the x86 dot-product instructions that fold several ``k`` into one 32-bit
lane: AVX512-VNNI ``vpdpbusd`` for int8 (4 byte products per i32 lane, 64 multiply-adds per
instruction) and AVX512-BF16 ``vdpbf16ps`` for bf16 (2 products per f32 lane).

``vpdpbusd`` takes unsigned bytes on one side and signed on the other; Triton's int8 dot is
signed x signed, so ``a`` is biased to unsigned (``a + 128``, an XOR with 0x80) and the
accumulators start at ``c - 128 * colsum(b)``, which cancels the bias exactly. ``vdpbf16ps``
multiplies exactly and adds with round-to-nearest like an FMA, but flushes subnormal inputs
and results to zero.

Layouts: ``a`` stays a row-major tile, read ``group`` values of ``k`` at a time as one i32
(broadcast); ``b`` is repacked so that the i32 at ``[q, n]`` holds ``b[g*q .. g*q+g-1, n]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.codegen import Lowering
from tritium.backends.cpu.reduce import _Vars
from tritium.backends.cpu.shapes import contiguous
from tritium.backends.cpu.tiles import Buffer, Index
from tritium.ir import Value
from tritium.ir import types as irt

__all__ = ["Kind", "applies", "packed_dot"]

_LANES = 16  # i32 lanes of a zmm register
_ACC_REGISTERS = 16
# vectors of columns per register block where N allows: 4 x 4 blocks ran tutorial 06's bf16
# forward (both dots here) 3 % faster than 8 x 2 (one Zen 4 thread, S=1024 D=64, 64x64
# blocks, thread CPU, interleaved, load 4: full 126.0 -> 129.6-130.3 GFLOP/s, causal 115.5 ->
# 118.7-119.1); dot_kloop_packed measured the same for its K loops
_NR = 4


@dataclass(frozen=True)
class Kind:
    """One dot-product instruction family."""

    elem: irt.Type  # operand element type
    group: int  # values of k per 32-bit word
    acc: irt.Type  # accumulator element type
    feature: str  # the CPU feature that provides it


INT8 = Kind(irt.i8, 4, irt.i32, "avx512vnni")
BF16 = Kind(irt.bf16, 2, irt.f32, "avx512bf16")


def applies(cx: Lowering, a: Value, b: Value, ct: irt.Type) -> Kind | None:
    """The kind that handles this dot, if any: 2-D operands of its element type on a host with
    its feature, K a multiple of the group and N of 16."""
    for kind in (INT8, BF16):
        if ct != kind.acc or not cx.target.has(kind.feature) or cx.vw < _LANES:
            continue
        if irt.element_type(a.type) != kind.elem or irt.element_type(b.type) != kind.elem:
            continue
        a_shape, b_shape = irt.shape_of(a.type), irt.shape_of(b.type)
        if len(a_shape) == 2 and a_shape[1] % kind.group == 0 and b_shape[1] % _LANES == 0:
            return kind
    return None


def _i32(v: int) -> ll.Constant:
    return ll.Constant(lu.I32, v)


def _pack_b(
    cx: Lowering, b: Value, kind: Kind, b_buf: Buffer | None
) -> tuple[ll.Value, ll.Value | None]:
    """(packed b as i32 [K/group, N], and for int8 colsum(b) as i32 [N])."""
    bld = cx.b
    k, n = irt.shape_of(b.type)
    g = kind.group
    src = b_buf if b_buf is not None else contiguous(cx, b)
    packed = cx.alloc((k // g, n), irt.i32, name="packb")
    colsum = cx.alloc((n,), irt.i32, name="colsum") if kind is INT8 else None
    bits = ll.IntType(32 // g)
    row_ty = lu.vec(bits, _LANES)
    # value j of output lane c comes from row j
    if g == 4:  # concat(r0, r1) and concat(r2, r3), then mix
        pair = ll.Constant(lu.vec(lu.I32, 2 * _LANES), list(range(2 * _LANES)))
        mix = [
            (j // 2) * 2 * _LANES + (j % 2) * _LANES + c for c in range(_LANES) for j in range(4)
        ]
    else:
        mix = [j * _LANES + c for c in range(_LANES) for j in range(2)]
    mix_c = ll.Constant(lu.vec(lu.I32, g * _LANES), mix)
    with lu.for_range(bld, _i32(0), _i32(n), _LANES, name="pb.col") as col:
        sums = _Vars(cx, [ll.Constant(lu.vec(lu.I32, _LANES), None)]) if colsum else None
        with lu.for_range(bld, _i32(0), _i32(k // g), name="pb.q") as q:
            rows = []
            for j in range(g):
                kk = bld.add(bld.mul(q, _i32(g)), _i32(j))
                ptr, _ = cx.elem_ptr(src, Index((kk, col), _LANES))
                rows.append(bld.load(ptr, typ=row_ty, align=32 // g // 8))
            if g == 4:
                lo = bld.shuffle_vector(rows[0], rows[1], pair)
                hi = bld.shuffle_vector(rows[2], rows[3], pair)
                mixed = bld.shuffle_vector(lo, hi, mix_c)
            else:
                mixed = bld.shuffle_vector(rows[0], rows[1], mix_c)
            cx.write_chunk(
                packed, Index((q, col), _LANES), bld.bitcast(mixed, lu.vec(lu.I32, _LANES))
            )
            if sums is not None:
                total = sums.get()[0]
                for r in rows:
                    total = bld.add(total, bld.sext(r, lu.vec(lu.I32, _LANES)))
                sums.set([total])
        if colsum is not None and sums is not None:
            cx.write_chunk(colsum, Index((col,), _LANES), sums.get()[0])
    return packed.ptr, colsum.ptr if colsum is not None else None


def packed_dot(
    cx: Lowering, a: Value, b: Value, acc: Buffer, kind: Kind, b_buf: Buffer | None = None
) -> None:
    """``acc += a @ b`` with the instruction of ``kind`` (see the module docstring). ``b_buf``:
    ``b`` already in a contiguous row-major buffer, if the caller has one."""
    bld = cx.b
    m, k = irt.shape_of(a.type)
    n = irt.shape_of(b.type)[1]
    kq = k // kind.group
    pa = contiguous(cx, a)
    pb_ptr, colsum_ptr = _pack_b(cx, b, kind, b_buf)
    pb = Buffer(pb_ptr, (kq, n), (n, 1), irt.i32)
    colsum = Buffer(colsum_ptr, (n,), (1,), irt.i32) if colsum_ptr is not None else None
    a4 = Buffer(pa.ptr, (m, kq), (kq, 1), irt.i32)  # `group` values of a row as one i32
    vty = lu.vec(lu.I32, _LANES)
    acc_ty = lu.vec(lu.llvm_type(kind.acc), _LANES)
    pairs = lu.vec(lu.BF16, 2 * _LANES)
    nr = _NR
    while (n // _LANES) % nr:
        nr //= 2
    mr = max(1, min(m, _ACC_REGISTERS // nr))
    while m % mr:
        mr -= 1
    if kind is INT8:
        dp = lu.intrinsic(cx.module, "llvm.x86.avx512.vpdpbusd.512", vty, [vty, vty, vty])
    else:
        dp = lu.intrinsic(
            cx.module, "llvm.x86.avx512bf16.dpbf16ps.512", acc_ty, [acc_ty, pairs, pairs]
        )
    bias = ll.Constant(vty, [_i32(128)] * _LANES)
    flip = ll.Constant(lu.I32, 0x80808080 - (1 << 32))  # a XOR 0x80 per byte: a + 128

    def block(row0: ll.Value, col0: ll.Value) -> None:
        cols = [bld.add(col0, _i32(v * _LANES)) for v in range(nr)]
        corr = []
        if colsum is not None:
            corr = [bld.mul(cx.read_buffer(colsum, Index((c,), _LANES)), bias) for c in cols]
        regs = []
        for r in range(mr):
            row = bld.add(row0, _i32(r))
            for v in range(nr):
                cur = cx.read_buffer(acc, Index((row, cols[v]), _LANES))
                regs.append(bld.sub(cur, corr[v]) if corr else cur)
        carried = _Vars(cx, regs)
        with lu.for_range(bld, _i32(0), _i32(kq), name="kq") as q:
            cur = carried.get()
            bvecs = [cx.read_buffer(pb, Index((q, c), _LANES)) for c in cols]
            new = []
            for r in range(mr):
                row = bld.add(row0, _i32(r))
                word = cx.read_buffer(a4, Index((row, q), 1))
                if kind is INT8:
                    word = bld.xor(word, lu.splat(bld, flip, 1))
                a_s = lu.splat(bld, word, _LANES)
                for v in range(nr):
                    if kind is INT8:
                        new.append(bld.call(dp, [cur[r * nr + v], a_s, bvecs[v]]))
                    else:
                        args = [bld.bitcast(a_s, pairs), bld.bitcast(bvecs[v], pairs)]
                        new.append(bld.call(dp, [cur[r * nr + v], *args]))
            carried.set(new)
        out = carried.get()
        for r in range(mr):
            row = bld.add(row0, _i32(r))
            for v in range(nr):
                cx.write_chunk(acc, Index((row, cols[v]), _LANES), out[r * nr + v])

    with lu.for_range(bld, _i32(0), _i32(m), mr, name="mb") as row0:
        if n == nr * _LANES:
            block(row0, _i32(0))
        else:
            with lu.for_range(bld, _i32(0), _i32(n), nr * _LANES, name="nb") as col0:
                block(row0, col0)
