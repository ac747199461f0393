"""``wgmma`` on sm_90a: warpgroup tensor-core dots with both operands in shared memory.

**Status: ptxas-checked for sm_90a and modelled in NumPy (``tests/backends/cuda/
test_wgmma_model.py``: the operand tiles, the matrix descriptors and the accumulator fragment
of every thread); never run on a GPU.**

One ``wgmma.mma_async.sync.aligned.m64nNkK`` is issued by a *warpgroup* (4 consecutive warps)
and computes a 64 x N block (N up to 256) from two shared-memory operands named by 64-bit
*matrix descriptors*. Kinds: fp16/bf16 -> f32 (k16), tf32 -> f32 (k8), fp8 e4m3/e5m2 -> f32
(k32), int8 -> int32 (k32).

**The accumulator.** The PTX ISA gives thread ``t`` of the warpgroup (warp ``w = t / 32``,
lane ``l``) the registers ``d[4i + 2h + e]`` = element (row ``16w + l/4 + 8h``, column ``8i +
2(l%4) + e``). Within a warp this is ``mma.sync``'s m16n8 fragment, so the result keeps the
blocked layout that the ``mma.sync`` dots use (``assign.mma_layout``: ``sizePerThread=[1,2],
threadsPerWarp=[8,4]``), with every warp along M (``warpsPerCTA=[W, 1]``, ``W`` a multiple of
4). That layout gives warp ``w`` the rows ``8w + l/4 + 8W*J`` (register ``J``), while the
instruction hands warp ``w % 4`` of warpgroup ``g = w / 4`` the instruction rows ``16(w%4) + l/4
+ 8h``. Rather than a new layout kind (and new reductions, scans and conversions for it), the
rows of ``a`` are *permuted in shared memory*: the 8-row group ``G = w + W*J`` of ``a`` (``J =
2j + h``) is stored as 8-row group ``8(j*W/4 + g) + 2(w%4) + h``, so instruction ``j`` of
warpgroup ``g`` reads its 64 rows contiguously and each register lands where the blocked
layout expects it. ``b`` and the columns need nothing.

**Operand tiles** (:class:`WgmmaTile`). ``a`` [M, K] is *K-major* (a row per m, K contiguous);
``b`` is K-major too when it is ``tl.trans`` of a load or not 16-bit (tf32 and 8-bit ``wgmma``
read K-major ``b`` only; staged from registers it is transposed while staging), and
*MN-major* (a row per k, N contiguous: ``imm-trans-b = 1``) for a 16-bit ``b`` loaded [K,
N]. Rows are split into *panels* of ``P = min(row bytes, 128)`` bytes (P = 32, 64 or 128:
the swizzle mode); panel ``p`` holds bytes ``[pP, (p+1)P)`` of every row, rows ``P`` bytes
apart, and within a panel the hardware's swizzle of address bits applies::

    addr ^= ((addr >> 7) & (P / 16 - 1)) << 4      # 16-byte chunk ^= row bits above 128 B

(the same permutation as ``smem.SwizzledTile`` for rows of ``P`` bytes: 16-byte vector stores
stay whole and conflict-free). Tiles start 1024-byte aligned (the 128-byte swizzle's atom is 8
rows x 128 bytes), so the pattern in absolute addresses equals the one computed from the
tile's start. This is the layout TMA writes for a box of ``P`` bytes with the same swizzle.

**Descriptors** (``descriptor``): bits 0-13 start address >> 4, 16-29 the leading byte offset
>> 4, 32-45 the stride byte offset >> 4, 62-63 the mode (1: 128B, 2: 64B, 3: 32B). K-major:
SBO = ``8P`` (8-row groups along M/N), LBO unused (1). MN-major: SBO = ``8P`` (8-k-row groups),
LBO = the panel stride ``K * P`` (next ``P`` bytes of N). A k-step advances the start by 32
bytes inside the panel (K-major) or by ``k_step`` rows (MN-major).

**Order.** Operands written by threads (``st.shared`` or ``cp.async``) are made visible to the
async proxy with ``fence.proxy.async.shared::cta`` before the barrier; then ``wgmma.fence``,
the ``wgmma`` s of the dot, ``wgmma.commit_group`` and ``wgmma.wait_group 0``, whose inline asm
takes and returns every accumulator register, so nothing reads them before they are final.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import llvmlite.ir as ll

from tritium import knobs
from tritium.backends.cpu.llvm_utils import F32, I32
from tritium.backends.cuda.layouts import Layout
from tritium.backends.cuda.lowering import Lowering, _flat
from tritium.backends.cuda.mma import MmaKind, mma_kind
from tritium.backends.cuda.smem import Arith, _log2
from tritium.ir import Operation
from tritium.ir import types as irt

__all__ = [
    "WgmmaTile",
    "a_step_offset",
    "acc_index",
    "b_must_be_k_major",
    "b_step_offset",
    "descriptor",
    "fence_proxy_async",
    "wgmma_eligible",
    "wgmma_from_shared",
    "wgmma_kind",
    "wgmma_tiles",
]

I64 = ll.IntType(64)
ALIGN = 1024  # the 128-byte swizzle atom: 8 rows x 128 bytes
MAX_N = 256  # the widest wgmma
_MODE = {128: 1, 64: 2, 32: 3}


@dataclass(frozen=True)
class WgmmaTile:
    """An operand tile in the canonical wgmma layout (see the module docstring): ``rows`` rows
    of ``row_bytes`` bytes split into swizzled panels; ``k_major`` says whether a row runs
    along K; ``warps`` (``a`` only) is the accumulator layout's warps along M, which fixes the
    row permutation (0: rows in order)."""

    rows: int
    row_bytes: int
    k_major: bool
    warps: int = 0

    def __post_init__(self) -> None:
        if self.row_bytes < 32 or self.row_bytes & (self.row_bytes - 1):
            raise ValueError(f"a wgmma tile row must be a power of two >= 32 bytes: {self}")
        if self.warps and self.rows % (16 * self.warps):
            raise ValueError(f"{self.rows} rows do not split over {self.warps} warps")

    @property
    def panel(self) -> int:
        """Bytes of a row per panel: the swizzle width (32, 64 or 128)."""
        return min(self.row_bytes, 128)

    @property
    def mode(self) -> int:
        """The descriptor's swizzle mode."""
        return _MODE[self.panel]

    @property
    def nbytes(self) -> int:
        """Bytes the tile occupies."""
        return self.rows * self.row_bytes

    @property
    def align(self) -> int:
        """Alignment of the tile's start in shared memory."""
        return ALIGN

    @property
    def lbo(self) -> int:
        """The leading byte offset: the panel stride for MN-major, unused (16) for K-major."""
        return 16 if self.k_major else self.rows * self.panel

    @property
    def sbo(self) -> int:
        """The stride byte offset: 8 rows of a panel."""
        return 8 * self.panel

    def phys_row(self, ar: Arith, row: Any) -> Any:
        """Where logical row ``row`` is stored (the ``a`` permutation; identity otherwise)."""
        if not self.warps:
            return row
        lw = _log2(self.warps)
        g = ar.shr(row, 3)
        w = ar.and_(g, self.warps - 1)
        big_j = ar.shr(g, lw)
        block = ar.add(ar.mul(ar.shr(big_j, 1), self.warps // 4), ar.shr(w, 2))
        group = ar.add(ar.mul(block, 8), ar.add(ar.mul(ar.and_(w, 3), 2), ar.and_(big_j, 1)))
        return ar.add(ar.mul(group, 8), ar.and_(row, 7))

    def offset(self, ar: Arith, row: Any, byte: Any) -> Any:
        """Byte offset (from the tile's start) of byte ``byte`` of logical row ``row``."""
        p = self.panel
        panel_start = ar.mul(ar.shr(byte, _log2(p)), self.rows * p)
        row_start = ar.mul(self.phys_row(ar, row), p)
        lin = ar.add(ar.add(panel_start, row_start), ar.and_(byte, p - 1))
        return ar.xor(lin, ar.shl(ar.and_(ar.shr(lin, 7), p // 16 - 1), 4))


def descriptor(start: int, tile: WgmmaTile) -> int:
    """The 64-bit matrix descriptor of ``tile``'s data at shared address ``start``."""
    return (
        ((start & 0x3FFFF) >> 4)
        | ((tile.lbo >> 4) & 0x3FFF) << 16
        | ((tile.sbo >> 4) & 0x3FFF) << 32
        | tile.mode << 62
    )


def wgmma_kind(op: Operation, cc: int) -> MmaKind | None:
    """The wgmma flavour of a ``tt.dot`` (``mma.sync``'s kinds plus tf32), or None."""
    if cc != 90 or not knobs.cuda_wgmma():  # sm_90a only (Blackwell has tcgen05 instead)
        return None
    kind = mma_kind(op, cc)
    if kind is not None:
        return kind
    from tritium.backends.cuda.dot import _tf32

    return MmaKind("tf32", "tf32", "f32") if _tf32(op) else None


def wgmma_eligible(op: Operation, layout: Layout, cc: int) -> bool:
    """Whether ``op`` (a 2-D tt.dot whose result lives in ``layout``) runs as wgmma: sm_90a,
    every warp along M in whole warpgroups, M a multiple of ``16 * warps`` and a 16-bit ``b``
    row at least 32 bytes; otherwise the dot falls back to mma.sync."""
    kind = wgmma_kind(op, cc)
    a, b, _ = op.operands
    if kind is None or len(irt.shape_of(a.type)) != 2:
        return False
    m, k = irt.shape_of(a.type)
    n = irt.shape_of(b.type)[1]
    w = layout.wpc[0]
    return (
        layout.spt == (1, 2)
        and layout.tpw == (8, 4)
        and layout.wpc == (w, 1)
        and w % 4 == 0
        and m % (16 * w) == 0
        and n % 16 == 0
        and k % kind.k_step == 0
    )


def wgmma_tiles(
    kind: MmaKind, m: int, n: int, k: int, warps: int, b_k_major: bool
) -> tuple[WgmmaTile, WgmmaTile]:
    """The tiles of ``a`` [M, K] (rows permuted for ``warps``) and ``b``: [N, K] when
    ``b_k_major``, else [K, N] (16-bit types only)."""
    es = kind.esize
    a = WgmmaTile(m, k * es, True, warps)
    b = WgmmaTile(n, k * es, True) if b_k_major else WgmmaTile(k, n * es, False)
    return a, b


def b_must_be_k_major(kind: MmaKind) -> bool:
    """wgmma transposes only 16-bit operands: tf32 and 8-bit ``b`` are stored [N, K]."""
    return kind.esize != 2


def fence_proxy_async(cx: Lowering) -> None:
    """Make this thread's generic-proxy shared-memory writes visible to wgmma (the async
    proxy); a barrier after it covers every thread's."""
    fty = ll.FunctionType(ll.VoidType(), [])
    asm = ll.InlineAsm(fty, "fence.proxy.async.shared::cta;", "", side_effect=True)
    cx.b.call(asm, [])


def _plain(cx: Lowering, text: str) -> None:
    fty = ll.FunctionType(ll.VoidType(), [])
    cx.b.call(ll.InlineAsm(fty, text, "", side_effect=True), [])


def _at(cx: Lowering, base: Any, off: int) -> ll.Value:
    base = ll.Constant(I32, base) if isinstance(base, int) else base
    return cx.b.add(base, ll.Constant(I32, off)) if off else base


def _base_descriptor(cx: Lowering, byte: ll.Value, tile: WgmmaTile) -> ll.Value:
    """The descriptor of ``tile`` at absolute shared byte ``byte`` (an i32 value)."""
    b = cx.b
    addr = b.ptrtoint(cx.smem_abs(byte), I32)
    lo = b.zext(b.and_(b.lshr(addr, ll.Constant(I32, 4)), ll.Constant(I32, 0x3FFF)), I64)
    return b.or_(lo, ll.Constant(I64, descriptor(0, tile)))


def _instruction(kind: MmaKind, n: int, trans_b: bool) -> tuple[str, str, ll.Type]:
    """(PTX text, constraints, accumulator type) of one wgmma with ``n / 2`` accumulators."""
    nacc = n // 2
    fp = kind.acc == "f32"
    regs = ", ".join(f"${q}" for q in range(nacc))
    da, db, flag = f"${2 * nacc}", f"${2 * nacc + 1}", f"${2 * nacc + 2}"
    head = f"wgmma.mma_async.sync.aligned.m64n{n}k{kind.k_step}.{kind.acc}.{kind.a}.{kind.b}"
    if kind.acc == "s32":
        tail = "p"  # integer wgmma has no scale/transpose immediates
    elif kind.esize == 2:
        tail = f"p, 1, 1, 0, {int(trans_b)}"
    else:
        tail = "p, 1, 1"
    text = f"{{ .reg .pred p; setp.ne.b32 p, {flag}, 0; {head} {{{regs}}}, {da}, {db}, {tail}; }}"
    c = "f" if fp else "r"
    cons = ",".join([f"={c}"] * nacc + [str(q) for q in range(nacc)] + ["l", "l", "r"])
    return text, cons, F32 if fp else I32


def a_step_offset(tile: WgmmaTile, warps: int, j: int, s: int) -> int:
    """Bytes from ``a``'s start to the data of row block ``j`` at k-step ``s`` (32 bytes of k)
    for warpgroup 0; warpgroup ``g`` adds ``g * 64 * tile.panel``."""
    kb = 32 * s
    block = j * (warps // 4) * 64 * tile.panel
    return (kb // tile.panel) * tile.rows * tile.panel + kb % tile.panel + block


def b_step_offset(tile: WgmmaTile, kind: MmaKind, c: int, width: int, s: int) -> int:
    """Bytes from ``b``'s start to the data of n-chunk ``c`` (``width`` columns) at k-step
    ``s``."""
    if tile.k_major:  # rows are n: the chunk's rows within the k panel of this step
        kb = 32 * s
        panel = (kb // tile.panel) * tile.rows * tile.panel
        return panel + c * width * tile.panel + kb % tile.panel
    # rows are k: whole panels of n, then k_step rows per step
    return (c * width * kind.esize // tile.panel) * tile.lbo + s * kind.k_step * tile.panel


def acc_index(j: int, c: int, width: int, q: int, reg_shape: tuple[int, int]) -> int:
    """The accumulator register (flat, in the blocked layout) that receives ``d[q]`` of the
    wgmma of row block ``j`` and n-chunk ``c``: ``d[4i + 2h + e]`` is row ``2j + h``, column
    pair ``(c * width / 8 + i)``, element ``e``."""
    i, h, e = q // 4, (q >> 1) & 1, q & 1
    return _flat((2 * j + h, (c * width // 8 + i) * 2 + e), reg_shape)


def wgmma_from_shared(
    cx: Lowering,
    kind: MmaKind,
    lay: Layout,
    acc: list[Any],
    k: int,
    tiles: tuple[WgmmaTile, WgmmaTile],
    bases: tuple[Any, Any],
) -> list[Any]:
    """Accumulate ``a @ b`` (``tiles`` at absolute byte offsets ``bases``, ints or i32 values,
    written and fenced) into the registers ``acc`` of the accumulator layout ``lay``."""
    b = cx.b
    a_tile, b_tile = tiles
    n_m, n_n = lay.reg_shape
    warps = lay.wpc[0]
    n = 4 * n_n
    width = min(n, MAX_N)
    # the warpgroup's 64-row block of a (see the permutation in the module docstring)
    group = b.lshr(cx.warp, ll.Constant(I32, 2))
    a_group = b.add(
        ll.Constant(I32, bases[0]) if isinstance(bases[0], int) else bases[0],
        b.mul(group, ll.Constant(I32, 64 * a_tile.panel)),
    )
    desc_a = _base_descriptor(cx, a_group, a_tile)
    desc_b = _base_descriptor(cx, _at(cx, bases[1], 0), b_tile)
    text, cons, acc_t = _instruction(kind, width, not b_tile.k_major)
    nacc = width // 2
    fty = ll.FunctionType(ll.LiteralStructType([acc_t] * nacc), [acc_t] * nacc + [I64, I64, I32])
    asm = ll.InlineAsm(fty, text, cons, side_effect=True)
    one = ll.Constant(I32, 1)

    def plus(desc: ll.Value, off: int) -> ll.Value:
        return b.add(desc, ll.Constant(I64, off >> 4)) if off else desc

    _plain(cx, "wgmma.fence.sync.aligned;")
    for s in range(k // kind.k_step):
        for j in range(n_m // 2):
            da = plus(desc_a, a_step_offset(a_tile, warps, j, s))
            for c in range(n // width):
                db = plus(desc_b, b_step_offset(b_tile, kind, c, width, s))
                idx = [acc_index(j, c, width, q, (n_m, n_n)) for q in range(width // 2)]
                out = b.call(asm, [*(acc[x] for x in idx), da, db, one])
                for q, x in enumerate(idx):
                    acc[x] = b.extract_value(out, q)
    _plain(cx, "wgmma.commit_group.sync.aligned;")
    return _wait(cx, acc)


def _wait(cx: Lowering, acc: list[Any]) -> list[Any]:
    """``wgmma.wait_group 0``, taking and returning every accumulator register so that no
    use of them is scheduled before the wait."""
    out: list[Any] = []
    chunk = 128  # inline asm operands per statement stay well within LLVM's limits
    for lo in range(0, len(acc), chunk):
        part = acc[lo : lo + chunk]
        tys = [v.type for v in part]
        outs = [f"={'f' if t == F32 else 'r'}" for t in tys]
        cons = ",".join(outs + [str(q) for q in range(len(part))])
        fty = ll.FunctionType(ll.LiteralStructType(tys), tys)
        text = "wgmma.wait_group.sync.aligned 0;" if lo == 0 else ""
        res = cx.b.call(ll.InlineAsm(fty, text, cons, side_effect=True), part)
        out.extend(cx.b.extract_value(res, q) for q in range(len(part)))
    return out
