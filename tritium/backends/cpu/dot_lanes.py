"""``tt.dot`` of a few rows of ``a`` against ``tl.trans(k)`` of a fused tile (``dot``):
reduced along K in vector lanes instead of packing ``k`` transposed.

Decode attention's ``q @ k^T`` has 4 query rows (a GQA group) against BLOCK_N cached keys of
D = 128. Packed transposed (``dot_transpose``), every 16 x 16 block of ``k`` cost ~150
instructions of loads and shuffles for 4 rows x 16 FMAs: the packing was 41 % of the decode
loop, the dot 19 %. Here each (row of ``a``, key) pair accumulates the products of ``k``'s row
as it lies, W lanes at a time along K (K / W FMAs into one vector); then the W vectors of a
row and a group of W keys are summed across their lanes by one transpose-and-add tree into
the row's W results. The shuffles move from the K x W input to the W x W partial sums: K / W
times fewer.

The keys of a group are taken S at a time (S x rows accumulators fit the registers), the S
keys W / S apart, so that the tree's first log2(S) levels run on them as soon as their K loop
ends, and the last levels on the W / S results.

Sum order (not the microkernel's sequential FMA chain over K, so results differ from the
packed lowering's in the last bits): lane ``l`` of a pair's vector holds the FMA chain, from
zero, over ``d = l, l + W, l + 2W, ...``; the lanes are then added pairwise, lane ``l`` and
``l + W/2`` first, then ``l`` and ``l + W/4`` of those sums, and so on down to one.
"""

from __future__ import annotations

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.casts import convert
from tritium.backends.cpu.codegen import Lowering
from tritium.backends.cpu.dot_transpose import Transposed, _strided_rows
from tritium.backends.cpu.elementwise import call_intrinsic
from tritium.backends.cpu.reduce import _Vars
from tritium.backends.cpu.tiles import Buffer, Index
from tritium.ir import Value
from tritium.ir import types as irt

# for A/B timing in one process (benchmarks), not a user setting: False packs k transposed
_LANES = True
# rows of ``a`` up to which this lowering applies (flash attention's 64 or 128 rows share
# each packed block of ``k`` and keep the microkernel)
_MAX_ROWS = 8


def applies(cx: Lowering, a: Value, b: Value, ct: irt.Type) -> bool:
    """``tl.dot(a, tl.trans(k))`` (``b`` lowered as :class:`Transposed`) of at most
    ``_MAX_ROWS`` rows of floats accumulated in fp32, K and the keys in whole vectors. The
    caller checks that the accumulator starts at zero."""
    ref = cx.refs.get(b)
    if not _LANES or not isinstance(ref, Transposed) or ct != irt.f32:
        return False
    a_shape = irt.shape_of(a.type)
    if len(a_shape) != 2 or a_shape[0] > _MAX_ROWS:
        return False
    if not isinstance(irt.element_type(a.type), irt.FloatType):
        return False
    if not isinstance(irt.element_type(ref.src.type), irt.FloatType):
        return False
    keys, depth = irt.shape_of(ref.src.type)
    return keys % cx.vw == 0 and depth % cx.vw == 0


def lanes_dot(cx: Lowering, pa: Buffer, view: Transposed, acc: Buffer, regs: int) -> None:
    """``acc = pa @ view`` (``pa``: ``a`` packed in fp32; ``view``: ``tl.trans(k)``), with at
    most ``regs`` accumulator vectors live in the K loop."""
    b = cx.b
    w = cx.vw
    m = pa.shape[0]
    keys, depth = irt.shape_of(view.src.type)
    src_t = irt.element_type(view.src.type)
    i32 = lambda x: ll.Constant(lu.I32, x)  # noqa: E731
    reader = _strided_rows(cx, view.src, w)
    sub = 1
    while 2 * sub <= w and 2 * sub * m <= regs:
        sub *= 2
    gap = w // sub
    # AVX2's 32-byte chunks of fp32: two a K step, the line's prefetch issued once
    line = w * lu.elem_size(src_t)
    pair = 2 if line == 32 and depth % (2 * w) == 0 else 1

    def keys_at(n0: ll.Value, d0: ll.Value, new_line: bool) -> list[ll.Value]:
        picks = range(0, w, gap)
        if reader is not None:
            vecs = reader(n0, d0, picks, new_line)
        else:
            cx.same_line = not new_line
            vecs = [cx.eval(view.src, Index((b.add(n0, i32(i)), d0), w)) for i in picks]
            cx.same_line = False
        return [convert(cx, v, src_t, irt.f32) if src_t != irt.f32 else v for v in vecs]

    zero = ll.Constant(lu.vec(lu.F32, w), None)
    # each key group's partly folded sums by (first key s, row): a loop over s with its
    # results in memory, not unrolled into registers (LLVM sank the folds of the unrolled
    # groups below the last one's K loop and spilled all their accumulators)
    parts = cx.alloc((gap * m, w), irt.f32, name="lanes")
    with lu.for_range(b, i32(0), i32(keys), w, name="ld.n") as n0:
        with lu.for_range(b, i32(0), i32(gap), name="ld.s") as s:  # keys n0 + s + gap * t
            carried = _Vars(cx, [zero] * (m * sub))
            with lu.for_range(b, i32(0), i32(depth), w * pair, name="ld.k") as d0:
                cur = carried.get()
                for j in range(pair):  # chunks of one line: the first one prefetches
                    dj = b.add(d0, i32(j * w)) if j else d0
                    kvecs = keys_at(b.add(n0, s), dj, j == 0)
                    new = []
                    for r in range(m):
                        qv = cx.read_buffer(pa, Index((i32(r), dj), w))
                        for t, kv in enumerate(kvecs):
                            new.append(call_intrinsic(cx, "fmuladd", [qv, kv, cur[r * sub + t]]))
                    cur = new
                carried.set(cur)
            out = carried.get()
            for r in range(m):
                at = Index((b.add(b.mul(s, i32(m)), i32(r)), i32(0)), w)
                cx.write_chunk(parts, at, _fold(b, out[r * sub : (r + 1) * sub], w))
        for r in range(m):
            xs = [cx.read_buffer(parts, Index((i32(s * m + r), i32(0)), w)) for s in range(gap)]
            cx.write_chunk(acc, Index((i32(r), n0), w), _fold(b, xs, w // sub))


def _fold(b: ll.IRBuilder, vecs: list[ll.Value], span: int) -> ll.Value:
    """The transpose-and-add tree's levels over ``vecs`` (a power of two of them), each holding
    W / ``span`` keys' partial sums in blocks of ``span`` lanes: vector ``i`` and ``i + n/2``
    are combined, block ``p`` of each halved (its two halves added) into blocks ``2p`` and
    ``2p + 1`` of the result. The shuffles stay within blocks: within 128-bit lanes from
    blocks of 4 lanes down (``unpcklps``/``unpcklpd``, ``vshuff32x4`` above)."""
    w = vecs[0].type.count
    while len(vecs) > 1:
        h = span // 2
        lo: list[int] = []
        for p in range(0, w, span):
            lo += [p + i for i in range(h)] + [w + p + i for i in range(h)]
        lo_m = ll.Constant(lu.vec(lu.I32, w), lo)
        hi_m = ll.Constant(lu.vec(lu.I32, w), [x + h for x in lo])
        half = len(vecs) // 2
        vecs = [
            b.fadd(b.shuffle_vector(x, y, lo_m), b.shuffle_vector(x, y, hi_m))
            for x, y in zip(vecs[:half], vecs[half:], strict=True)
        ]
        span = h
    return vecs[0]
