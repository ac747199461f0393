"""Masked loads and stores whose whole-chunk test the CPU backend derives from one or two
lanes (``cols < n``, ``lo <= cols``, row & column masks, uniform masks): every lane a
predicate enables is read and written, no other, compiled and interpreted."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl


@triton.jit
def _masked_copy(
    x_ptr, out_ptr, seen_ptr, M, N, lo, hi, BM: tl.constexpr, BN: tl.constexpr, FORM: tl.constexpr
):
    rows = tl.program_id(0) * BM + tl.arange(0, BM)[:, None]
    cols = tl.program_id(1) * BN + tl.arange(0, BN)[None, :]
    if FORM == 0:
        mask = (rows < M) & (cols < N)
    elif FORM == 1:
        mask = (cols >= lo) & (hi > cols) & (rows < M)
    elif FORM == 2:
        mask = (rows < M) & (rows >= lo) & (cols < N)  # uniform along the row but for N
    else:
        mask = (cols.to(tl.uint32) - lo < hi - lo) & (rows < M)  # unsigned range check
    mask = mask & (cols < N)
    x = tl.load(x_ptr + rows * N + cols, mask=mask, other=-7.0)
    # every lane of the tile, so a lane loaded though masked off shows
    seen_cols = tl.num_programs(1) * BN
    tl.store(seen_ptr + rows * seen_cols + cols, x)
    # rows of the output are padded: a lane stored though masked off shows
    tl.store(out_ptr + rows * (N + 3) + cols, x + 1.0, mask=mask)


@pytest.mark.parametrize("form", [0, 1, 2, 3])
@pytest.mark.parametrize("shape", [(5, 37), (8, 64), (3, 9)])
def test_masks_from_lane_ranges(mode: str, rng: np.random.Generator, form: int, shape):
    M, N = shape
    BM, BN = 4, 16
    gm, gn = triton.cdiv(M, BM), triton.cdiv(N, BN)
    lo, hi = int(rng.integers(0, 6)), int(rng.integers(N // 2, N + 3))
    if form == 2:
        lo = int(rng.integers(0, M))
    x = rng.standard_normal((M, N)).astype(np.float32)
    out = np.full((M + 1, N + 3), np.nan, np.float32)
    seen = np.full((gm * BM, gn * BN), np.nan, np.float32)
    _masked_copy[(gm, gn)](x, out, seen, M, N, lo, hi, BM=BM, BN=BN, FORM=form)
    r = np.arange(gm * BM)[:, None]
    c = np.arange(gn * BN)[None, :]
    if form == 0:
        mask = (r < M) & (c < N)
    elif form == 1:
        mask = (c >= lo) & (c < hi) & (r < M) & (c < N)
    elif form == 3:  # uint32 - int32 is uint32 (Triton): hi < lo wraps to a huge bound
        wrap = np.uint64(2**32)
        below = (c.astype(np.uint64) - np.uint64(lo)) % wrap < np.uint64((hi - lo) % 2**32)
        mask = below & (r < M) & (c < N)
    else:
        mask = (r < M) & (r >= lo) & (c < N)
    padded = np.zeros(seen.shape, np.float32)
    padded[:M, :N] = x
    want_seen = np.where(mask, padded, np.float32(-7.0))
    np.testing.assert_array_equal(seen, want_seen)
    want = np.full(out.shape, np.nan, np.float32)
    want[:M, :N] = np.where(mask[:M, :N], x + np.float32(1.0), np.float32(np.nan))
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("lo, hi", [(5, 4), (9, 2), (3, 3)])
def test_unsigned_range_check_that_wraps(mode: str, rng: np.random.Generator, lo: int, hi: int):
    """``cols.to(uint32) - lo < hi - lo`` with ``hi < lo``: the bound wraps to a huge uint32,
    so every lane but ``cols == lo - 1`` (and the like) is on; the enabled lanes are not one
    interval, and a chunk's first and last lanes must not decide it (a compiled bug, seed 3)."""
    M, N, BM, BN = 3, 14, 4, 16
    x = rng.standard_normal((M, N)).astype(np.float32)
    out = np.full((M + 1, N + 3), np.nan, np.float32)
    seen = np.full((BM, BN), np.nan, np.float32)
    _masked_copy[(1, 1)](x, out, seen, M, N, lo, hi, BM=BM, BN=BN, FORM=3)
    c = np.arange(BN, dtype=np.uint64)[None, :]
    on = (c - np.uint64(lo)) % np.uint64(2**32) < np.uint64((hi - lo) % 2**32)
    mask = on & (np.arange(BM)[:, None] < M) & (c < N)
    padded = np.zeros(seen.shape, np.float32)
    padded[:M, :N] = x
    np.testing.assert_array_equal(seen, np.where(mask, padded, np.float32(-7.0)))
