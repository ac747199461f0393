"""Reductions along a dimension other than the last (``reduce._column_block``): where the
chunk is cheap and the last dimension a multiple of four vectors, the four accumulators lie
side by side along the line instead of interleaved over lines. Compiled vs interpreted vs a
float64 reference, fresh random inputs, odd sizes under masks, poisoned outputs: tutorial
05's ``_layer_norm_bwd_dwdb``, sums and maxima of 2-D tiles over axis 0, a 3-D middle axis."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.modes import both_modes
from tutorials import layer_norm


@pytest.mark.parametrize(
    "m, n, bm, bn", [(128, 4096, 32, 128), (37, 300, 32, 128), (5, 70, 8, 64), (77, 45, 16, 32)]
)
def test_layer_norm_dwdb(rng, monkeypatch, m: int, n: int, bm: int, bn: int) -> None:
    dw = rng.standard_normal((m, n)).astype(np.float32)
    db = rng.standard_normal((m, n)).astype(np.float32)

    def run() -> tuple[np.ndarray, np.ndarray]:
        fw, fb = np.full(n, np.nan, np.float32), np.full(n, np.nan, np.float32)
        layer_norm._layer_norm_bwd_dwdb[(triton.cdiv(n, bn),)](
            dw, db, fw, fb, m, n, BLOCK_SIZE_M=bm, BLOCK_SIZE_N=bn
        )
        return fw, fb

    for fw, fb in both_modes(monkeypatch, run):
        np.testing.assert_allclose(fw, dw.astype(np.float64).sum(0), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(fb, db.astype(np.float64).sum(0), rtol=1e-5, atol=1e-4)


@triton.jit
def _columns(x_ptr, sum_ptr, max_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    cols = tl.program_id(0) * BN + tl.arange(0, BN)
    rows = tl.arange(0, BM)
    mask = (rows[:, None] < M) & (cols[None, :] < N)
    x = tl.load(x_ptr + rows[:, None] * N + cols[None, :], mask=mask, other=0.0)
    tl.store(sum_ptr + cols, tl.sum(x * 2.0, axis=0), mask=cols < N)
    y = tl.where(mask, x, float("-inf"))
    tl.store(max_ptr + cols, tl.max(y, axis=0), mask=cols < N)


@pytest.mark.parametrize("m, n, bm, bn", [(13, 250, 16, 128), (64, 64, 64, 64), (3, 20, 4, 32)])
def test_sum_and_max_over_rows(rng, monkeypatch, m: int, n: int, bm: int, bn: int) -> None:
    x = rng.standard_normal((m, n)).astype(np.float32)
    x[m // 2, : n // 3] = np.nan  # tl.max skips NaN (maxnum) unless a column is all NaN

    def run() -> tuple[np.ndarray, np.ndarray]:
        s, mx = np.full(n, np.nan, np.float32), np.full(n, 7.0, np.float32)
        _columns[(triton.cdiv(n, bn),)](x, s, mx, m, n, BM=bm, BN=bn)
        return s, mx

    x64 = x.astype(np.float64)
    for s, mx in both_modes(monkeypatch, run):
        np.testing.assert_allclose(s, 2 * x64.sum(0), rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(mx, np.fmax.reduce(x, axis=0))


@triton.jit
def _middle(x_ptr, out_ptr, A: tl.constexpr, B, C: tl.constexpr, BB: tl.constexpr):
    a = tl.arange(0, A)[:, None, None]
    b = tl.arange(0, BB)[None, :, None]
    c = tl.arange(0, C)[None, None, :]
    mask = (b < B) & (a < A) & (c < C)
    x = tl.load(x_ptr + (a * B + b) * C + c, mask=mask, other=0.0)
    s = tl.sum(x, axis=1)
    tl.store(out_ptr + tl.arange(0, A)[:, None] * C + tl.arange(0, C)[None, :], s)


@pytest.mark.parametrize("b", [1, 9, 32])
def test_sum_over_middle_axis(rng, monkeypatch, b: int) -> None:
    x = rng.standard_normal((3 * 1 + 1, b, 128)).astype(np.float32)

    def run() -> np.ndarray:
        out = np.full((4, 128), np.nan, np.float32)
        _middle[(1,)](x, out, A=4, B=b, C=128, BB=32)
        return out

    for got in both_modes(monkeypatch, run):
        np.testing.assert_allclose(got, x.astype(np.float64).sum(1), rtol=1e-5, atol=1e-4)
