"""``mma.sync`` on tensor cores with operands in swizzled shared memory read by ``ldmatrix``.

**Status: ptxas-checked for sm_80/89/90a/100 and modelled in NumPy (the ldmatrix addresses and
the fragment each thread receives, ``tests/backends/cuda/test_smem.py``); never run on a GPU.**

Kinds (``mma_kind``), all with the m16n8 accumulator layout of ``assign.mma_layout``:

* fp16, bf16 -> f32: ``mma.sync.aligned.m16n8k16`` (sm_80+);
* int8 -> int32: ``m16n8k32 .s32.s8.s8.s32`` (sm_80+; tritium's ``int8`` dot is signed);
* fp8 e4m3/e5m2 (either mix) -> f32: ``m16n8k32 .f32.e4m3.e5m2.f32`` (sm_89+; sm_80 uses the
  FMA loop of ``dot.py``).

``a`` [M, K] is stored a row per m; ``b`` [K, N] a row per k for 16-bit types (``ldmatrix
.trans`` hands each thread its k pairs) and a row per n for 8-bit types (``.trans`` moves
16-bit units, so 8-bit ``b`` is transposed while staging instead). Both are swizzled
(``smem.SwizzledTile``). Staging from registers writes 16-byte vectors where the register
layout holds 16 contiguous bytes of a row (the coalesced load layout does).

Per k-step (32 bytes of k) a warp issues one ``ldmatrix.x4`` per 16-row block of ``a`` and
one per two 8-column blocks of ``b``, then one ``mma`` per (row block, column block).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import llvmlite.ir as ll

from tritium.backends.cpu.llvm_utils import F32, I32, mem_type
from tritium.backends.cuda.layouts import Layout
from tritium.backends.cuda.lowering import Lowering, _flat, _size
from tritium.backends.cuda.smem import SwizzledTile, a_lane_address, b_lane_address
from tritium.ir import Operation, Value
from tritium.ir import types as irt

__all__ = ["MmaKind", "LLArith", "mma_kind", "stage_swizzled", "mma_from_shared"]

_FP8 = {"f8E4M3FN": "e4m3", "f8E5M2": "e5m2"}


@dataclass(frozen=True)
class MmaKind:
    """One ``mma.sync`` flavour: PTX operand/accumulator types, its shape and k per step."""

    a: str
    b: str
    acc: str

    @property
    def esize(self) -> int:
        """Bytes per operand element."""
        return {"f16": 2, "bf16": 2, "tf32": 4}.get(self.a, 1)

    @property
    def k_step(self) -> int:
        """K per instruction: 32 bytes of k."""
        return 32 // self.esize

    @property
    def k_major_b(self) -> bool:
        """Whether ``b`` is staged [N, K] (8-bit types; see the module docstring)."""
        return self.esize == 1

    @property
    def shape(self) -> str:
        """The PTX shape."""
        return f"m16n8k{self.k_step}"


def _name(t: irt.Type) -> str:
    return str(getattr(irt.element_type(t), "name", ""))


def mma_kind(op: Operation, cc: int) -> MmaKind | None:
    """The tensor-core flavour of a ``tt.dot`` on compute capability ``cc``, or None."""
    a, b, c = op.operands
    ta, tb, tc = _name(a.type), _name(b.type), _name(c.type)
    if cc < 80:
        return None
    if ta == tb and ta in ("f16", "bf16") and tc == "f32":
        return MmaKind(ta, ta, "f32")
    if ta == tb == "i8" and tc == "i32":
        return MmaKind("s8", "s8", "s32")
    if ta in _FP8 and tb in _FP8 and tc == "f32" and cc >= 89:
        return MmaKind(_FP8[ta], _FP8[tb], "f32")
    return None


class LLArith:
    """:class:`smem.Arith` emitting LLVM i32 arithmetic (constant operands fold)."""

    def __init__(self, b: ll.IRBuilder) -> None:
        self.b = b

    def const(self, v: int) -> ll.Value:
        return ll.Constant(I32, v)

    def add(self, x: ll.Value, y: ll.Value) -> ll.Value:
        return self.b.add(x, y)

    def mul(self, x: ll.Value, c: int) -> ll.Value:
        return self.b.mul(x, ll.Constant(I32, c))

    def and_(self, x: ll.Value, c: int) -> ll.Value:
        return self.b.and_(x, ll.Constant(I32, c))

    def shr(self, x: ll.Value, c: int) -> ll.Value:
        return self.b.lshr(x, ll.Constant(I32, c)) if c else x

    def shl(self, x: ll.Value, c: int) -> ll.Value:
        return self.b.shl(x, ll.Constant(I32, c)) if c else x

    def xor(self, x: ll.Value, y: ll.Value) -> ll.Value:
        return self.b.xor(x, y)


def operand_tiles(
    kind: MmaKind, m: int, n: int, k: int, b_k_major: bool | None = None
) -> tuple[SwizzledTile, SwizzledTile]:
    """The shared-memory tiles of ``a`` and ``b`` for an [M, K] x [K, N] dot; ``b`` is stored
    [N, K] when ``b_k_major`` (default: for 8-bit types)."""
    es = kind.esize
    a = SwizzledTile(m, k * es)
    b_k_major = kind.k_major_b if b_k_major is None else b_k_major
    b = SwizzledTile(n, k * es) if b_k_major else SwizzledTile(k, n * es)
    return a, b


def _run_length(lay: Layout, dim: int, esize: int, limit: int) -> int:
    """Registers per 16-byte vector along ``dim`` (1 when ``dim`` is not the contiguous one)."""
    if lay.order[0] != dim or dim in lay.sliced:
        return 1
    v = min(lay.spt[dim], 16 // esize, limit)
    while v & (v - 1):
        v &= v - 1
    return max(1, v)


def stage_swizzled(
    cx: Lowering,
    v: Value,
    base: int,
    tile: Any,
    transpose: bool = False,
    round_tf32: bool = False,
) -> None:
    """Write tile ``v`` (2-D) from registers into ``tile`` (a ``SwizzledTile`` or
    ``wgmma.WgmmaTile``) at absolute byte ``base`` of the shared buffer: element (i, j) at row
    i (row j with ``transpose``), 16-byte vector stores where the layout allows; fp32 rounded
    to tf32 (``cvt.rna``) with ``round_tf32``."""
    from tritium.backends.cuda.memory import _groups

    lay = cx.assign.home[v] if v not in cx.assign.remat else cx.assign.default(irt.shape_of(v.type))
    regs = cx.get(v, lay)
    mt = mem_type(v.type)
    es = _size(mt)
    ar = LLArith(cx.b)
    vec = 1 if transpose else _run_length(lay, 1, es, lay.shape[1])
    for group in _groups(lay, vec):
        r, c = cx.coord(lay, 0, group[0]), cx.coord(lay, 1, group[0])
        if transpose:
            r, c = c, r
        off = ar.add(ar.const(base), tile.offset(ar, r, ar.mul(c, es)))
        vals = [regs[g] if regs[g].type == mt else cx.b.bitcast(regs[g], mt) for g in group]
        if round_tf32:
            vals = [_to_tf32(cx, x) for x in vals]
        ptr = cx.smem_abs(off)
        if vec == 1:
            cx.b.store(vals[0], cx.b.bitcast(ptr, ll.PointerType(mt, 3)), align=es)
            continue
        vty = ll.VectorType(mt, vec)
        packed = ll.Constant(vty, None)
        for q, x in enumerate(vals):
            packed = cx.b.insert_element(packed, x, ll.Constant(I32, q))
        cx.b.store(packed, cx.b.bitcast(ptr, ll.PointerType(vty, 3)), align=vec * es)


def _to_tf32(cx: Lowering, x: ll.Value) -> ll.Value:
    """``x`` (f32) rounded to the nearest tf32, as an f32."""
    to_tf32 = ll.InlineAsm(ll.FunctionType(I32, [F32]), "cvt.rna.tf32.f32 $0, $1;", "=r,f")
    return cx.b.bitcast(cx.b.call(to_tf32, [x]), F32)


def ldmatrix(cx: Lowering, byte_offset: ll.Value, count: int, trans: bool) -> list[ll.Value]:
    """``ldmatrix.sync.aligned.m8n8.x{count}[.trans].shared.b16`` at absolute byte
    ``byte_offset``: ``count`` 32-bit registers."""
    addr = cx.b.ptrtoint(cx.smem_abs(byte_offset), I32)
    outs = ", ".join(f"${q}" for q in range(count))
    tr = ".trans" if trans else ""
    text = f"ldmatrix.sync.aligned.m8n8.x{count}{tr}.shared.b16 {{{outs}}}, [${count}];"
    cons = ",".join(["=r"] * count + ["r"])
    ret = ll.LiteralStructType([I32] * count) if count > 1 else I32
    # side effects: it reads shared memory, so it must stay between the barriers around it
    asm = ll.InlineAsm(ll.FunctionType(ret, [I32]), text, cons, side_effect=True)
    res = cx.b.call(asm, [addr])
    return [cx.b.extract_value(res, q) for q in range(count)] if count > 1 else [res]


def mma_from_shared(
    cx: Lowering,
    kind: MmaKind,
    lay: Layout,
    acc: list[Any],
    k: int,
    tiles: tuple[SwizzledTile, SwizzledTile],
    bases: tuple[Any, Any],
    b_k_major: bool | None = None,
) -> list[Any]:
    """Accumulate ``a @ b`` (staged in ``tiles`` at absolute byte offsets ``bases``, ints or
    i32 values; ``b`` stored [N, K] when ``b_k_major``, default for 8-bit types) into the
    registers ``acc`` of the accumulator layout ``lay``."""
    b_k_major = kind.k_major_b if b_k_major is None else b_k_major
    b = cx.b
    ar = LLArith(b)
    n_m, n_n = lay.reg_shape
    wm, wn = lay.wpc
    lane = cx.lane
    # the warp's first row and column: the layout's base minus the lane's part
    warp_row = b.sub(cx.base(lay, 0), b.lshr(lane, ll.Constant(I32, 2)))
    warp_col = b.sub(cx.base(lay, 1), b.shl(b.and_(lane, ll.Constant(I32, 3)), ll.Constant(I32, 1)))
    a_tile, b_tile = tiles

    def at(base: Any, off: ll.Value) -> ll.Value:
        return b.add(ll.Constant(I32, base) if isinstance(base, int) else base, off)

    fp = kind.acc == "f32"
    text = (
        f"mma.sync.aligned.{kind.shape}.row.col.{kind.acc}.{kind.a}.{kind.b}.{kind.acc} "
        "{$0, $1, $2, $3}, {$4, $5, $6, $7}, {$8, $9}, {$10, $11, $12, $13};"
    )
    c = "f" if fp else "r"
    cons = ",".join([f"={c}"] * 4 + ["r"] * 6 + [c] * 4)
    at_ty = F32 if fp else I32
    asm = ll.InlineAsm(
        ll.FunctionType(ll.LiteralStructType([at_ty] * 4), [I32] * 6 + [at_ty] * 4), text, cons
    )
    blocks_n = n_n // 2
    for ks in range(k // kind.k_step):
        a_frags = [
            ldmatrix(cx, at(bases[0], a_lane_address(ar, a_tile, lane, warp_row, j, ks, wm)), 4,
                     False)
            for j in range(n_m // 2)
        ]  # fmt: skip
        b_frags: list[list[ll.Value]] = []
        for i in range(0, blocks_n, 2):
            count = 4 if i + 1 < blocks_n else 2
            addr = b_lane_address(ar, b_tile, lane, warp_col, i, ks, wn, kind.esize, b_k_major)
            regs = ldmatrix(cx, at(bases[1], addr), count, not b_k_major)
            b_frags.append(regs[:2])
            if count == 4:
                b_frags.append(regs[2:])
        for j in range(n_m // 2):
            for i in range(blocks_n):
                idx = [
                    _flat((2 * j + dj, 2 * i + di), (n_m, n_n)) for dj in (0, 1) for di in (0, 1)
                ]
                out = b.call(asm, [*a_frags[j], *b_frags[i], *(acc[x] for x in idx)])
                for q, x in enumerate(idx):
                    acc[x] = b.extract_value(out, q)
    return acc
