"""The wgmma operand tiles, matrix descriptors and accumulator fragments, in NumPy.

``wgmma.WgmmaTile.offset`` (where the lowering stores element bytes), ``a_step_offset`` /
``b_step_offset`` (where each instruction's descriptor starts) and ``acc_index`` (which
accumulator register receives which result) run here on Python ints. Shared memory is filled
the way the lowering stages operands (every logical byte at ``tile.offset``); then a model of
the hardware reads each instruction's operands *through the descriptor bits alone*, following
the PTX ISA's canonical layouts (K-major: 8-row groups ``SBO`` apart, rows ``P`` bytes apart;
MN-major: ``P``-byte panels of N ``LBO`` apart, 8-k-row groups ``SBO`` apart; then the
swizzle of address bits 4-6 by bits 7-9), and hands out the results by the ISA's accumulator
fragment table (thread ``t``: ``d[4i + 2h + e]`` = row ``16(t/32) + (t%32)/4 + 8h``, column
``8i + 2(t%4) + e``). Each thread's registers must be exactly the elements the blocked
accumulator layout (``assign.mma_layout``) assigns it, computed from the right rows of ``a``
and columns of ``b`` over the right k.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tritium.backends.cuda.assign import mma_layout
from tritium.backends.cuda.layouts import thread_coords
from tritium.backends.cuda.mma import MmaKind
from tritium.backends.cuda.smem import PyArith
from tritium.backends.cuda.wgmma import (
    MAX_N,
    WgmmaTile,
    a_step_offset,
    acc_index,
    b_step_offset,
    descriptor,
    wgmma_tiles,
)

AR = PyArith()
KINDS = {
    "f16": MmaKind("f16", "f16", "f32"),
    "tf32": MmaKind("tf32", "tf32", "f32"),
    "s8": MmaKind("s8", "s8", "s32"),
}


def _decode(desc: int) -> tuple[int, int, int, int]:
    """(start, LBO, SBO, swizzle bytes) from a descriptor's bit fields (PTX ISA)."""
    start = (desc & 0x3FFF) << 4
    lbo = ((desc >> 16) & 0x3FFF) << 4
    sbo = ((desc >> 32) & 0x3FFF) << 4
    mode = desc >> 62
    assert (desc >> 46) & 0xFFFF == 0, "reserved bits must be zero"
    return start, lbo, sbo, {1: 128, 2: 64, 3: 32}[mode]


def _swizzle(addr: int, p: int) -> int:
    """The hardware's swizzle of a shared address (16-byte chunk ^= bits above 128 bytes)."""
    return addr ^ (((addr >> 7) & (p // 16 - 1)) << 4)


def _k_major_addr(desc: int, row: int, kb: int) -> int:
    start, _, sbo, p = _decode(desc)
    return _swizzle(start + (row // 8) * sbo + (row % 8) * p + kb, p)


def _mn_major_addr(desc: int, nb: int, k: int) -> int:
    start, lbo, sbo, p = _decode(desc)
    return _swizzle(start + (nb // p) * lbo + (k // 8) * sbo + (k % 8) * p + nb % p, p)


def _fill(tile: WgmmaTile) -> np.ndarray:
    """Shared memory after staging: at each byte, the logical (row * row_bytes + byte) it holds."""
    mem = np.full(tile.nbytes, -1, dtype=np.int64)
    for r in range(tile.rows):
        for x in range(tile.row_bytes):
            off = tile.offset(AR, r, x)
            assert mem[off] == -1, "two bytes of the tile stored at one address"
            mem[off] = r * tile.row_bytes + x
    assert (mem >= 0).all()
    return mem


CASES = [
    # (kind, warps, M, N, K, b_k_major)
    ("f16", 4, 64, 64, 32, False),
    ("f16", 4, 128, 32, 128, False),  # a rows of 256 bytes: two 128-byte panels
    ("f16", 8, 128, 512, 16, False),  # two n-chunks of 256
    ("f16", 4, 64, 16, 64, True),  # b = tl.trans(load): K-major, 128-byte rows
    ("f16", 8, 256, 128, 16, True),
    ("tf32", 4, 64, 32, 16, True),  # 64-byte rows: the 64-byte swizzle
    ("tf32", 4, 64, 16, 8, True),  # 32-byte rows: the 32-byte swizzle
    ("s8", 4, 64, 64, 64, True),
    ("s8", 8, 128, 32, 256, True),
]


def _tma_fill(tile: WgmmaTile, es: int) -> np.ndarray:
    """Shared memory after the tile's TMA boxes (``test_tma``'s model of the hardware) from a
    block whose byte ``x`` of row ``r`` holds ``r * row_bytes + x``, as ``_fill`` labels it."""
    from .test_tma import tma_fill

    rows = np.arange(tile.rows)[:, None] * tile.row_bytes
    return tma_fill(tile, es, rows + np.arange(tile.row_bytes)[None, :], 0, 0)


@pytest.mark.parametrize("staged_by", ["threads", "tma"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-w{c[1]}-{c[2]}x{c[3]}x{c[4]}" for c in CASES])
def test_every_thread_gets_its_accumulator_elements(case: tuple, staged_by: str) -> None:
    """Each wgmma reads, through its descriptors, the elements its accumulator registers need,
    from tiles staged by the threads (``WgmmaTile.offset``) or copied by TMA boxes."""
    name, warps, m, n, k, b_k_major = case
    kind = KINDS[name]
    es = kind.esize
    lay = mma_layout((m, n), warps)
    assert lay is not None and lay.wpc == (warps, 1)
    a_tile, b_tile = wgmma_tiles(kind, m, n, k, warps, b_k_major)
    if staged_by == "tma":
        mem_a, mem_b = _tma_fill(a_tile, es), _tma_fill(b_tile, es)
    else:
        mem_a, mem_b = _fill(a_tile), _fill(b_tile)
    base_a, base_b = 0x400, 0x400 + (a_tile.nbytes + 1023) // 1024 * 1024  # 1024-aligned
    width = min(n, MAX_N)
    n_m, n_n = lay.reg_shape
    # what the blocked layout assigns: [warp, lane, register] -> row, column
    want = np.array([thread_coords(lay, ln, w) for w in range(warps) for ln in range(32)])
    want = want.reshape(warps, 32, n_m * n_n, 2)
    # how often each (thread, register) accumulated the product at each k
    seen = np.zeros((warps, 32, n_m * n_n, k), dtype=np.int64)
    # the instruction's view, one axis each: thread t, register q, k within the step, byte x
    t = np.arange(128)[:, None, None, None]
    q = np.arange(width // 2)[None, :, None, None]
    kk = np.arange(kind.k_step)[None, None, :, None]
    x = np.arange(es)[None, None, None, :]
    row = 16 * (t // 32) + (t % 32) // 4 + 8 * ((q >> 1) & 1)  # the ISA's fragment table
    col = 8 * (q // 4) + 2 * (t % 4) + (q & 1)
    tt, qq, ks = np.meshgrid(
        np.arange(128), np.arange(width // 2), np.arange(kind.k_step), indexing="ij"
    )
    for g, s, j, c in itertools.product(
        range(warps // 4), range(k // kind.k_step), range(n_m // 2), range(n // width)
    ):
        da = descriptor(base_a + g * 64 * a_tile.panel + a_step_offset(a_tile, warps, j, s), a_tile)
        db = descriptor(base_b + b_step_offset(b_tile, kind, c, width, s), b_tile)
        a_row, a_k = _elements(mem_a[_k_major_addr(da, row, kk * es + x) - base_a], a_tile, es)
        if b_tile.k_major:
            b_col, b_k = _elements(mem_b[_k_major_addr(db, col, kk * es + x) - base_b], b_tile, es)
        else:
            b_k, b_col = _elements(mem_b[_mn_major_addr(db, col * es + x, kk) - base_b], b_tile, es)
        assert (a_k == b_k).all(), "a and b disagree on k"
        flat = np.array([acc_index(j, c, width, i, (n_m, n_n)) for i in range(width // 2)])
        warp = 4 * g + np.arange(128) // 32
        lane = np.arange(128) % 32
        exp = want[warp[:, None], lane[:, None], flat[None, :]]  # [t, q, 2]
        assert (a_row[..., 0] == exp[:, :, None, 0]).all(), "a row in the wrong register"
        assert (b_col[..., 0] == exp[:, :, None, 1]).all(), "b column in the wrong register"
        np.add.at(seen, (warp[tt], lane[tt], flat[qq], a_k[tt, qq, ks, 0]), 1)
    assert (seen == 1).all(), "some product is missing or accumulated twice"


def _elements(vals: np.ndarray, tile: WgmmaTile, es: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, element index along the row) of each element read (its bytes on the last axis,
    kept as a size-1 axis), after checking that they are the consecutive bytes of one
    logical element."""
    lo = vals[..., :1]
    assert (vals == lo + np.arange(es)).all() and (lo % es == 0).all(), "an element is split"
    return lo // tile.row_bytes, (lo % tile.row_bytes) // es


def test_descriptor_bit_fields() -> None:
    # K-major, 128-byte rows (128B swizzle): SBO = 8 rows = 1024 bytes, LBO unused (1)
    tile = WgmmaTile(64, 128, True)
    d = descriptor(0x1400, tile)
    assert d == (0x1400 >> 4) | (1 << 16) | (1024 >> 4) << 32 | 1 << 62
    # MN-major, 64-byte rows of n (64B swizzle) over 32 k: LBO = the panel stride 32 * 64
    tile = WgmmaTile(32, 64, False)
    assert _decode(descriptor(0x800, tile)) == (0x800, 32 * 64, 8 * 64, 64)
    assert descriptor(0, WgmmaTile(8, 32, True)) >> 62 == 3  # 32-byte swizzle


@pytest.mark.parametrize("row_bytes", [32, 64, 128, 256])
def test_core_matrix_rows_hit_distinct_bank_groups(row_bytes: int) -> None:
    """The 8 rows of one 8-row group at one 16-byte chunk fall on 8 distinct 16-byte bank
    groups for every swizzle width: staging stores of one chunk column do not conflict."""
    tile = WgmmaTile(64, row_bytes, True)
    for r0 in range(0, 64, 8):
        for c in range(row_bytes // 16):
            groups = {(tile.offset(AR, r0 + i, 16 * c) // 16) % 8 for i in range(8)}
            assert len(groups) == 8, (r0, c)


def test_a_permutation_is_a_bijection_within_warpgroup_blocks() -> None:
    for warps, m in ((4, 64), (4, 256), (8, 128), (8, 512), (16, 256)):
        tile = WgmmaTile(m, 32, True, warps)
        phys = [tile.phys_row(AR, r) for r in range(m)]
        assert sorted(phys) == list(range(m))
        # rows inside an 8-row group keep their order (a core matrix is 8 consecutive rows)
        assert all(phys[r] % 8 == r % 8 for r in range(m))


def test_bad_tiles_are_refused() -> None:
    with pytest.raises(ValueError, match="power of two >= 32"):
        WgmmaTile(64, 16, True)
    with pytest.raises(ValueError, match="do not split"):
        WgmmaTile(64, 64, True, 8)
