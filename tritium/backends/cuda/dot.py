"""``tt.dot``: tensor cores (``wgmma`` on sm_90a where the shape fits, ``mma.sync``) where the
types allow, FMA on CUDA cores otherwise.

**wgmma** (sm_90a, every warp along M in whole warpgroups): ``wgmma.py``.

**mma.sync with ldmatrix** (fp16/bf16 -> f32, int8 -> int32 on sm_80+, fp8 e4m3/e5m2 -> f32
on sm_89+; ``mma.py``): the accumulator lives in a blocked layout that *is* the instruction's
fragment layout (``assign.mma_layout``): ``sizePerThread = [1, 2]``, ``threadsPerWarp = [8,
4]``, warps ``[Wm, Wn]``. A thread's registers (2j, 2i), (2j, 2i+1), (2j+1, 2i), (2j+1, 2i+1)
are the fragment's c0..c3 of one instruction whose 16 logical rows are the thread's rows 2j
and 2j+1 (8*Wm apart) and whose 8 logical columns start at column pair i. ``a`` and ``b`` are
staged in XOR-swizzled shared memory (``smem.py`` explains the swizzle and why it is free of
bank conflicts), or arrive there by ``cp.async`` in a pipelined K loop (``pipeline.py``), and
the fragments are read with ``ldmatrix.x4``. **ptxas-checked, not yet run on a GPU.**

**tf32** (fp32 operands with ``input_precision="tf32"``, Triton's default): ``mma.sync
m16n8k8`` with the same accumulator layout, operands staged row-major (unswizzled) and read
with 32-bit ``ld.shared``; each element is rounded with ``cvt.rna.tf32.f32``.

**FMA** (every other type: fp32 with ``ieee``/``tf32x3`` — exact —, f64, fp8 on sm_80 or in
the FNUZ formats, fp16 accumulators): operands staged row-major, then an LLVM loop over K;
each step loads one ``a`` value per distinct row and one ``b`` value per distinct column the
thread holds, then does an outer product of FMAs.
"""

from __future__ import annotations

import math
from typing import Any

import llvmlite.ir as ll

from tritium.backends.cpu import casts
from tritium.backends.cpu.llvm_utils import F32, I32, llvm_type, mem_type, type_suffix
from tritium.backends.cuda.layouts import Layout
from tritium.backends.cuda.lowering import Lowering, _flat, _size, statement
from tritium.backends.cuda.mma import mma_from_shared, mma_kind, operand_tiles, stage_swizzled
from tritium.backends.cuda.wgmma import (
    ALIGN,
    b_must_be_k_major,
    fence_proxy_async,
    wgmma_eligible,
    wgmma_from_shared,
    wgmma_kind,
    wgmma_tiles,
)
from tritium.ir import Operation, Value
from tritium.ir import types as irt

__all__ = ["mma_eligible", "plan_wgmma_operands"]


def mma_eligible(op: Operation, layout: Layout | None = None, cc: int = 90) -> bool:
    """Whether ``op`` (a tt.dot) runs on tensor cores with mma.sync on ``cc``."""
    a, b, c = op.operands
    if len(irt.shape_of(a.type)) != 2 or cc < 80:
        return False
    kind = mma_kind(op, cc)
    if kind is not None:
        k_step = kind.k_step
    elif _tf32(op):
        k_step = 8
    else:
        return False
    m, k = irt.shape_of(a.type)
    n = irt.shape_of(b.type)[1]
    if m % 16 or n % 8 or k % k_step:
        return False
    if layout is not None:
        return layout.spt == (1, 2) and layout.tpw == (8, 4) and m % (16 * layout.wpc[0]) == 0
    return True


def _tf32(op: Operation) -> bool:
    """fp32 operands with input_precision="tf32" (Triton's default), f32 accumulator."""
    names = {getattr(irt.element_type(v.type), "name", "") for v in op.operands}
    return names == {"f32"} and op.attrs.get("input_precision") == "tf32"


def _stage(cx: Lowering, v: Value, byte_offset: int) -> int:
    """Write tile ``v`` row-major into shared memory at ``byte_offset``; returns its bytes."""
    lay = cx.assign.home[v] if v not in cx.assign.remat else cx.assign.default(irt.shape_of(v.type))
    regs = cx.get(v, lay)
    mt = mem_type(v.type)
    size = _size(mt)
    base = ll.Constant(I32, byte_offset // size)
    for flat, r in enumerate(regs):
        r = cx.b.zext(r, mt) if r.type != mt else r
        cx.smem_store(mt, cx.b.add(base, cx.linear(lay, flat)), r)
    return math.prod(irt.shape_of(v.type)) * size


@statement("tt.dot")
def _dot(cx: Lowering, op: Operation) -> None:
    a, b, c = op.operands
    res = op.results[0]
    if len(irt.shape_of(a.type)) != 2:
        raise NotImplementedError("batched (3-D) tt.dot is not supported by the cuda backend yet")
    layout = cx.assign.home[res]
    acc = list(cx.get(c, layout))
    m, k = irt.shape_of(a.type)
    n = irt.shape_of(b.type)[1]
    if wgmma_eligible(op, layout, cx.arch.cc):
        _dot_wgmma(cx, op, layout, acc, (m, n, k))
        return
    eligible = mma_eligible(op, layout, cx.arch.cc)
    kind = mma_kind(op, cx.arch.cc) if eligible else None
    if kind is not None:
        # operands a cp.async pipeline already put in shared memory: {index: (tile, base)}
        piped = cx.pipelined_dots.get(op, {})
        b_k_major = piped[1][2] if 1 in piped else kind.k_major_b
        tiles = list(operand_tiles(kind, m, n, k, b_k_major))
        bases: list[Any] = [None, None]
        b_off = (tiles[0].nbytes + 127) // 128 * 128 if 0 not in piped else 0
        floor = cx.smem_floor
        for i in (0, 1):
            if i in piped:
                tiles[i], bases[i] = piped[i][0], piped[i][1]
            else:
                bases[i] = floor + (b_off if i == 1 else 0)
        if len(piped) < 2:  # the rest comes from registers, above the pipeline's stages
            cx.use_smem(b_off + (tiles[1].nbytes if 1 not in piped else 0))
            cx.barrier()  # earlier readers of the buffer are done
            if 0 not in piped:
                stage_swizzled(cx, a, bases[0], tiles[0])
            if 1 not in piped:
                stage_swizzled(cx, b, bases[1], tiles[1], transpose=kind.k_major_b)
            cx.barrier()
        cx.vals[res] = mma_from_shared(
            cx, kind, layout, acc, k, (tiles[0], tiles[1]), (bases[0], bases[1]), b_k_major
        )
        return
    a_bytes = m * k * _size(mem_type(a.type))
    b_off = (a_bytes + 15) // 16 * 16
    b_bytes = k * n * _size(mem_type(b.type))
    cx.use_smem(b_off + b_bytes)
    cx.barrier()
    _stage(cx, a, 0)
    _stage(cx, b, b_off)
    cx.barrier()
    if eligible:
        cx.vals[res] = _mma_tf32(cx, layout, acc, m, n, k, b_off)
    else:
        cx.vals[res] = _fma(cx, op, layout, acc, m, n, k, b_off)


def plan_wgmma_operands(cx: Lowering) -> None:
    """Before lowering: a wgmma dot's ``b`` that is ``tl.trans(x)`` used only there is staged
    from ``x`` directly as a K-major tile (whole 16-byte rows of k), so the transpose through
    shared memory is not lowered at all (a cp.async pipeline may still take ``x``'s load)."""
    for op in cx.func.walk():
        res = op.results[0] if op.name == "tt.dot" else None
        if res is None or res not in cx.assign.home:
            continue
        if not wgmma_eligible(op, cx.assign.home[res], cx.arch.cc):
            continue
        b = op.operands[1]
        t = b.defining_op
        if t is None or t.name != "tt.trans" or len(b.uses) != 1:
            continue
        if [int(i) for i in t.attrs.get("order", [1, 0])] != [1, 0]:
            continue
        cx.trans_b[op] = t.operands[0]
        cx.skip_ops.add(t)


def _dot_wgmma(
    cx: Lowering, op: Operation, layout: Layout, acc: list, mnk: tuple[int, int, int]
) -> None:
    """``tt.dot`` as wgmma (``wgmma.py``): operands from a cp.async pipeline's stages or staged
    from registers into the canonical swizzled tiles, fenced for the async proxy."""
    a, b, _ = op.operands
    m, n, k = mnk
    kind = wgmma_kind(op, cx.arch.cc)
    assert kind is not None
    piped = cx.pipelined_dots.get(op, {})
    b_src = cx.trans_b.get(op)  # b = tl.trans(b_src): b_src [N, K] is the K-major tile
    if 1 in piped:
        b_k_major = piped[1][2]
    else:
        b_k_major = b_src is not None or b_must_be_k_major(kind)
    tiles: list[Any] = list(wgmma_tiles(kind, m, n, k, layout.wpc[0], b_k_major))
    floor = _round_up(cx.smem_floor, ALIGN)
    b_off = _round_up(tiles[0].nbytes, ALIGN) if 0 not in piped else 0
    bases: list[Any] = [floor, floor + b_off]
    for i in (0, 1):
        if i in piped:
            tiles[i], bases[i] = piped[i][0], piped[i][1]
    if len(piped) < 2:  # the rest comes from registers, above the pipeline's stages
        top = bases[1] + tiles[1].nbytes if 1 not in piped else bases[0] + tiles[0].nbytes
        cx.use_smem(top - cx.smem_floor)
        cx.barrier()  # earlier readers of the buffer are done
        tf32 = kind.a == "tf32"
        if 0 not in piped:
            stage_swizzled(cx, a, bases[0], tiles[0], round_tf32=tf32)
        if 1 not in piped and b_src is not None:
            stage_swizzled(cx, b_src, bases[1], tiles[1], round_tf32=tf32)
        elif 1 not in piped:
            stage_swizzled(cx, b, bases[1], tiles[1], transpose=b_k_major, round_tf32=tf32)
        fence_proxy_async(cx)
        cx.barrier()
    cx.require_smem_align(ALIGN)
    cx.vals[op.results[0]] = wgmma_from_shared(
        cx, kind, layout, acc, k, (tiles[0], tiles[1]), (bases[0], bases[1])
    )


def _round_up(x: int, align: int) -> int:
    return (x + align - 1) // align * align


def _ld_shared(cx: Lowering, elt: ll.Type, byte_index: ll.Value) -> ll.Value:
    """Load ``elt`` at a byte offset of the shared buffer."""
    size = _size(elt)
    return cx.smem_load(elt, cx.b.udiv(byte_index, ll.Constant(I32, size)))


def _mma_tf32(cx: Lowering, lay: Layout, acc: list, m: int, n: int, k: int, b_off: int) -> list:
    """``mma.sync m16n8k8 .tf32`` with fragments read by 32-bit ``ld.shared`` (unswizzled):
    a0..a3 = rows (r, r+8) x k (t, t+4), b0/b1 = k (t, t+4), t = lane % 4."""
    b = cx.b
    c32 = lambda v: ll.Constant(I32, v)  # noqa: E731
    n_m, n_n = lay.reg_shape
    wm, wn = lay.wpc
    row0 = cx.base(lay, 0)  # 8 * warp_m + lane / 4
    col0 = cx.base(lay, 1)  # 8 * warp_n + 2 * (lane % 4)
    kq = b.lshr(b.and_(col0, c32(7)), c32(1))  # lane % 4
    col_b = b.add(b.and_(col0, c32(~7)), b.lshr(cx.lane, c32(2)))  # 8 * warp_n + lane / 4
    rows = [b.add(row0, c32(j * 8 * wm)) for j in range(n_m)]
    text = (
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
        "{$0, $1, $2, $3}, {$4, $5, $6, $7}, {$8, $9}, {$10, $11, $12, $13};"
    )
    cons = ",".join(["=f"] * 4 + ["r"] * 6 + ["f"] * 4)
    fty = ll.FunctionType(ll.LiteralStructType([F32] * 4), [I32] * 6 + [F32] * 4)
    asm = ll.InlineAsm(fty, text, cons, side_effect=False)
    to_tf32 = ll.InlineAsm(ll.FunctionType(I32, [F32]), "cvt.rna.tf32.f32 $0, $1;", "=r,f")

    def a_word(r: ll.Value, kk: ll.Value) -> ll.Value:  # rounded to tf32 as Triton does
        byte = b.mul(b.add(b.mul(r, c32(k)), kk), c32(4))
        return b.call(to_tf32, [_ld_shared(cx, F32, byte)])

    def b_word(kk: ll.Value, col: ll.Value) -> ll.Value:
        byte = b.add(c32(b_off), b.mul(b.add(b.mul(kk, c32(n)), col), c32(4)))
        return b.call(to_tf32, [_ld_shared(cx, F32, byte)])

    for ks in range(k // 8):
        kk = b.add(kq, c32(ks * 8))
        kh = b.add(kk, c32(4))
        a_frags = []
        for j in range(n_m // 2):
            r0, r1 = rows[2 * j], rows[2 * j + 1]
            a_frags.append([a_word(r0, kk), a_word(r1, kk), a_word(r0, kh), a_word(r1, kh)])
        b_frags = []
        for i in range(n_n // 2):
            col = b.add(col_b, c32(i * 8 * wn))
            b_frags.append([b_word(kk, col), b_word(kh, col)])
        for j in range(n_m // 2):
            for i in range(n_n // 2):
                idx = [
                    _flat((2 * j + dj, 2 * i + di), (n_m, n_n)) for dj in (0, 1) for di in (0, 1)
                ]
                out = b.call(asm, [*a_frags[j], *b_frags[i], *(acc[x] for x in idx)])
                for q, x in enumerate(idx):
                    acc[x] = b.extract_value(out, q)
    return acc


def _widen(cx: Lowering, v: ll.Value, src: irt.Type, acc_t: ll.Type) -> ll.Value:
    b = cx.b
    kind = casts.fp8_kind(src)
    if kind:
        v = casts.fp8_to_f32(cx, v, kind)
    elif isinstance(acc_t, ll.IntType):
        return b.sext(v, acc_t) if v.type.width < acc_t.width else v
    if v.type != acc_t:
        v = b.fpext(v, acc_t) if _size(v.type) < _size(acc_t) else b.fptrunc(v, acc_t)
    return v


def _fma(
    cx: Lowering, op: Operation, lay: Layout, acc: list, m: int, n: int, k: int, b_off: int
) -> list:
    b = cx.b
    a_t, b_t = op.operands[0].type, op.operands[1].type
    acc_t = llvm_type(op.results[0].type)
    ma, mb = mem_type(a_t), mem_type(b_t)
    n_m, n_n = lay.reg_shape
    rows = [cx.coord(lay, 0, _flat((i, 0), (n_m, n_n))) for i in range(n_m)]
    cols = [cx.coord(lay, 1, _flat((0, j), (n_m, n_n))) for j in range(n_n)]
    pre = b.block
    loop = b.append_basic_block("dot.k")
    done = b.append_basic_block("dot.end")
    b.branch(loop)
    b.position_at_end(loop)
    kv = b.phi(I32)
    kv.add_incoming(ll.Constant(I32, 0), pre)
    phis = []
    for v in acc:
        p = b.phi(acc_t)
        p.add_incoming(v, pre)
        phis.append(p)
    av = []
    for r in rows:
        x = cx.smem_load(ma, b.add(b.mul(r, ll.Constant(I32, k)), kv))
        av.append(_widen(cx, x, a_t, acc_t))
    bv = []
    b_base = ll.Constant(I32, b_off // _size(mb))
    for col in cols:
        x = cx.smem_load(mb, b.add(b_base, b.add(b.mul(kv, ll.Constant(I32, n)), col)))
        bv.append(_widen(cx, x, b_t, acc_t))
    new = []
    for i in range(n_m):
        for j in range(n_n):
            p = phis[_flat((i, j), (n_m, n_n))]
            if isinstance(acc_t, ll.IntType):
                new.append(b.add(p, b.mul(av[i], bv[j])))
            else:
                new.append(cx.intrinsic(f"llvm.fma.{type_suffix(acc_t)}", acc_t, [av[i], bv[j], p]))
    nxt = b.add(kv, ll.Constant(I32, 1))
    latch = b.block
    kv.add_incoming(nxt, latch)
    for p, v in zip(phis, new, strict=True):
        p.add_incoming(v, latch)
    b.cbranch(b.icmp_signed("<", nxt, ll.Constant(I32, k)), loop, done)
    b.position_at_end(done)
    return list(new)
