"""The swizzled shared-memory tiles and ``ldmatrix`` addressing of ``mma.sync``, in NumPy.

The lowering emits ``smem.a_lane_address``/``b_lane_address`` and ``SwizzledTile.offset``; here
the same functions run on Python ints (``PyArith``). A simulated CTA stores random operand
tiles the way ``mma.stage_swizzled`` does, every lane of every warp issues its ``ldmatrix``
(simulated from the PTX ISA's description of which thread receives which bytes), and each
thread's fragment registers are compared with the elements the PTX ISA's ``mma.m16n8k16`` /
``m16n8k32`` fragment tables assign it, mapped through the accumulator layout
(``assign.mma_layout``) that the lowering uses. Each ``ldmatrix`` phase (8 lanes) is also
checked to touch 8 distinct 16-byte bank groups: no bank conflicts.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from tritium.backends.cuda.assign import mma_layout
from tritium.backends.cuda.layouts import thread_base, thread_coords
from tritium.backends.cuda.mma import MmaKind, operand_tiles
from tritium.backends.cuda.smem import PyArith, SwizzledTile, a_lane_address, b_lane_address

AR = PyArith()
SEED = int(os.environ.get("TRITIUM_TEST_SEED", "0"))


@pytest.mark.parametrize("row_bytes", [16, 32, 64, 128, 256, 512])
def test_swizzle_is_a_permutation_within_each_row(row_bytes: int) -> None:
    tile = SwizzledTile(64, row_bytes)
    for r in range(tile.rows):
        offs = [tile.offset(AR, r, byte) for byte in range(row_bytes)]
        assert sorted(offs) == list(range(r * row_bytes, (r + 1) * row_bytes))
        # 16-byte chunks stay whole (vector stores of 8 fp16 stay one access)
        for c in range(row_bytes // 16):
            chunk = offs[16 * c : 16 * c + 16]
            assert chunk == list(range(chunk[0], chunk[0] + 16)) and chunk[0] % 16 == 0


@pytest.mark.parametrize("row_bytes", [32, 64, 128, 256])
def test_eight_rows_at_one_chunk_hit_every_bank_once(row_bytes: int) -> None:
    tile = SwizzledTile(64, row_bytes)
    for r0 in range(0, tile.rows, 8):
        for c in range(row_bytes // 16):
            groups = {(tile.offset(AR, r0 + i, 16 * c) // 16) % 8 for i in range(8)}
            assert len(groups) == 8, (row_bytes, r0, c)
    # unswizzled, the same access conflicts (the reason for the swizzle)
    plain = {((r * row_bytes) // 16) % 8 for r in range(8)}
    assert len(plain) < 8


def test_too_narrow_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="power of two >= 16"):
        SwizzledTile(8, 8)


# ---- ldmatrix simulation ---------------------------------------------------------------------
def _ldmatrix(mem: np.ndarray, addrs: list[int], count: int, trans: bool) -> list[list[int]]:
    """regs[t][q]: the 32-bit register q of thread t (as 4 bytes, little-endian) after
    ``ldmatrix.x{count}``: lanes 8q..8q+7 give the row addresses of matrix q (8 rows of 8
    16-bit elements); thread t receives row t/4, elements 2(t%4), 2(t%4)+1 — with ``.trans``,
    column t/4 of rows 2(t%4), 2(t%4)+1."""
    out = [[0] * count for _ in range(32)]
    for q in range(count):
        rows = [addrs[8 * q + i] for i in range(8)]
        assert len({(a // 16) % 8 for a in rows}) == 8, "bank conflict"
        for t in range(32):
            if trans:
                lo = mem[rows[2 * (t % 4)] + 2 * (t // 4) :][:2]
                hi = mem[rows[2 * (t % 4) + 1] + 2 * (t // 4) :][:2]
                word = bytes(lo) + bytes(hi)
            else:
                word = bytes(mem[rows[t // 4] + 4 * (t % 4) :][:4])
            out[t][q] = int.from_bytes(word, "little")
    return out


def _word(values: list[int], esize: int) -> int:
    """Pack elements (raw unsigned ints of ``esize`` bytes) into one 32-bit register."""
    w = 0
    for i, v in enumerate(values):
        w |= int(v) << (8 * esize * i)
    return w


KINDS = {"f16": MmaKind("f16", "f16", "f32"), "s8": MmaKind("s8", "s8", "s32")}


@pytest.mark.parametrize("b_k_major", [False, True])
@pytest.mark.parametrize("kind_name", list(KINDS))
@pytest.mark.parametrize(
    ("m", "n", "k", "num_warps"),
    [(64, 64, 32, 4), (128, 64, 64, 8), (32, 32, 64, 4), (16, 16, 32, 2), (128, 128, 32, 8),
     (16, 8, 32, 1)],
)  # fmt: skip
def test_ldmatrix_fragments_match_mma_operand_layout(
    kind_name: str, b_k_major: bool, m: int, n: int, k: int, num_warps: int
) -> None:
    """``b_k_major``: b stored [N, K] (8-bit b always; 16-bit b when it is ``tl.trans`` of a
    load that ``cp.async`` copies as is), else [K, N] read with ``.trans``."""
    kind = KINDS[kind_name]
    es = kind.esize
    if kind.k_major_b and not b_k_major:
        pytest.skip("8-bit b is always stored [N, K]")
    if k % kind.k_step:
        pytest.skip("k is not a multiple of the instruction's k")
    lay = mma_layout((m, n), num_warps)
    if lay is None:
        pytest.skip("shape does not fit the accumulator layout")
    rng = np.random.default_rng(SEED)
    hi = 1 << (8 * es)
    a = rng.integers(1, hi, size=(m, k))  # raw element bits; never zero
    b = rng.integers(1, hi, size=(k, n))
    a_tile, b_tile = operand_tiles(kind, m, n, k, b_k_major)
    mem = np.zeros(a_tile.nbytes + b_tile.nbytes, np.uint8)
    b_base = a_tile.nbytes

    def put(base: int, tile: SwizzledTile, r: int, c: int, v: int) -> None:
        off = base + tile.offset(AR, r, c * es)
        mem[off : off + es] = list(int(v).to_bytes(es, "little"))

    for i, j in itertools.product(range(m), range(k)):
        put(0, a_tile, i, j, a[i, j])
    for i, j in itertools.product(range(k), range(n)):
        if b_k_major:
            put(b_base, b_tile, j, i, b[i, j])
        else:
            put(b_base, b_tile, i, j, b[i, j])
    wm, wn = lay.wpc
    n_m, n_n = lay.reg_shape
    per = 4 // es  # elements per 32-bit register
    for warp in range(num_warps):
        bases = [thread_base(lay, lane, warp) for lane in range(32)]
        warp_rows = [bases[ln][0] - ln // 4 for ln in range(32)]
        warp_cols = [bases[ln][1] - 2 * (ln & 3) for ln in range(32)]
        assert len(set(warp_rows)) == len(set(warp_cols)) == 1
        held = [thread_coords(lay, t, warp) for t in range(32)]
        rows_held = [{c[0] for c in h} for h in held]
        cols_held = [{c[1] for c in h} for h in held]
        for ks in range(k // kind.k_step):
            for j in range(n_m // 2):
                addrs = [
                    a_lane_address(AR, a_tile, ln, warp_rows[ln], j, ks, wm) for ln in range(32)
                ]
                regs = _ldmatrix(mem, addrs, 4, False)
                for t in range(32):
                    g, tq = t // 4, t % 4
                    for q in range(4):
                        lrow = g + 8 * (q % 2)  # fragment row, then the physical row
                        row = warp_rows[0] + 16 * wm * j + lrow % 8 + (lrow // 8) * 8 * wm
                        k0 = ks * kind.k_step + per * tq + (kind.k_step // 2) * (q // 2)
                        assert regs[t][q] == _word(list(a[row, k0 : k0 + per]), es)
                        # the same row as the accumulator registers of this thread
                        assert row in rows_held[t]
            blocks = n_n // 2
            for i in range(0, blocks, 2):
                count = 4 if i + 1 < blocks else 2
                addrs = [
                    b_lane_address(AR, b_tile, ln, warp_cols[ln], i, ks, wn, es, b_k_major)
                    for ln in range(32)
                ]
                regs = _ldmatrix(mem[b_base:], addrs, count, not b_k_major)
                for t in range(32):
                    g, tq = t // 4, t % 4
                    for q in range(count):
                        blk, half = i + q // 2, q % 2
                        col = warp_cols[0] + 8 * wn * blk + g
                        k0 = ks * kind.k_step + per * tq + (kind.k_step // 2) * half
                        assert regs[t][q] == _word(list(b[k0 : k0 + per, col]), es)
                        assert warp_cols[0] + 8 * wn * blk + 2 * tq in cols_held[t]
