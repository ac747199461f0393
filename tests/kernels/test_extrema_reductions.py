"""``tl.max``/``tl.min`` (``maxnumf``/``minnumf``: NaN only when every element is NaN) on the
CPU backend's one-instruction path: accumulators start at -inf (+inf) and a NaN never enters
them; a result equal to that start value (every element NaN or infinite) is recomputed the
exact way. Each test runs compiled and interpreted (the ``mode`` fixture) against NumPy in
float64 on fresh random inputs, with outputs poisoned.

Compiled, a NaN loses (``fmax``, as ``max.f32`` on a GPU); the interpreter's ``tl.max`` is
``np.max`` (a NaN wins, as in Triton's interpreter), so the reference follows the mode. A
softmax row with a NaN is NaN either way.
"""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl


@triton.jit
def _row_extrema(x_ptr, max_ptr, min_ptr, n, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n
    lo = tl.load(x_ptr + row * n + cols, mask=mask, other=-float("inf"))
    hi = tl.load(x_ptr + row * n + cols, mask=mask, other=float("inf"))
    tl.store(max_ptr + row, tl.max(lo, axis=0))
    tl.store(min_ptr + row, tl.min(hi, axis=0))


@triton.jit
def _column_extrema(x_ptr, max_ptr, min_ptr, M: tl.constexpr, N: tl.constexpr):
    rows = tl.arange(0, M)[:, None]
    cols = tl.arange(0, N)[None, :]
    x = tl.load(x_ptr + rows * N + cols)
    tl.store(max_ptr + tl.arange(0, N), tl.max(x, axis=0))
    tl.store(min_ptr + tl.arange(0, N), tl.min(x, axis=0))


@triton.jit
def _softmax_row(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n
    x = tl.load(x_ptr + row * n + cols, mask=mask, other=-float("inf"))
    x = x - tl.max(x, axis=0)
    num = tl.exp(x)
    tl.store(out_ptr + row * n + cols, num / tl.sum(num, axis=0), mask=mask)


def _special_rows(rng: np.random.Generator, n: int, dtype: type) -> np.ndarray:
    """Random rows, then rows that take the exact path or must not: all NaN, NaN and -inf,
    NaN and +inf, all -inf, one value among NaNs, NaN at either end, all equal."""
    x = rng.standard_normal((12, n)) * 10.0
    x[1] = np.nan
    x[2] = np.where(rng.random(n) < 0.5, np.nan, -np.inf)
    x[3] = np.where(rng.random(n) < 0.5, np.nan, np.inf)
    x[4] = -np.inf
    x[5] = np.nan
    x[5, rng.integers(n)] = rng.standard_normal()
    x[6, 0] = np.nan
    x[7, -1] = np.nan
    x[8] = -3.5
    x[9, rng.integers(n)] = np.inf
    x[10, rng.integers(n)] = -np.inf
    x[11, ::3] = np.nan
    return x.astype(dtype)


def _max_min(x: np.ndarray, axis: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        if mode == "interpreted":
            return x64.max(axis=axis), x64.min(axis=axis)
        return np.fmax.reduce(x64, axis=axis), np.fmin.reduce(x64, axis=axis)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 5, 8, 33, 64, 200, 1024])
def test_row_max_min_nan_semantics(mode: str, rng: np.random.Generator, n: int, dtype: type):
    x = _special_rows(rng, n, dtype)
    mx = np.full(x.shape[0], 7.0, dtype)
    mn = np.full(x.shape[0], 7.0, dtype)
    block = triton.next_power_of_2(n)
    _row_extrema[(x.shape[0],)](x, mx, mn, n, BLOCK=block)
    pad = np.ones((x.shape[0], block - n))  # the masked lanes' `other`
    ref_max = _max_min(np.concatenate([x, -np.inf * pad], axis=1), 1, mode)[0]
    ref_min = _max_min(np.concatenate([x, np.inf * pad], axis=1), 1, mode)[1]
    np.testing.assert_array_equal(mx, ref_max.astype(dtype))
    np.testing.assert_array_equal(mn, ref_min.astype(dtype))


@pytest.mark.parametrize("shape", [(8, 16), (64, 8), (16, 32)])
def test_column_max_min_nan_semantics(mode: str, rng: np.random.Generator, shape):
    M, N = shape
    x = rng.standard_normal((M, N)).astype(np.float32)
    x[:, 0] = np.nan  # all NaN
    x[:, 1] = np.where(rng.random(M) < 0.5, np.nan, -np.inf)
    x[:, 2] = -np.inf
    x[::2, 3] = np.nan
    x[rng.integers(M), 4] = np.inf
    x[:, 5] = np.nan
    x[rng.integers(M), 5] = 2.0
    mx = np.full(N, np.float32(7.0))
    mn = np.full(N, np.float32(7.0))
    _column_extrema[(1,)](x, mx, mn, M=M, N=N)
    ref_max, ref_min = _max_min(x, 0, mode)
    np.testing.assert_array_equal(mx, ref_max.astype(np.float32))
    np.testing.assert_array_equal(mn, ref_min.astype(np.float32))


@pytest.mark.parametrize("n", [1, 100, 1024, 1000])
def test_softmax_rows_with_nan_and_inf(mode: str, rng: np.random.Generator, n: int):
    x = (rng.standard_normal((10, n)) * 4.0).astype(np.float32)
    x[1, rng.integers(n)] = np.nan  # a NaN poisons its row (x - max is NaN there)
    x[2] = -np.inf  # max -inf: -inf - -inf is NaN everywhere
    x[3, rng.integers(n)] = np.inf  # max +inf: inf - inf is NaN, the rest exp(-inf) = 0
    x[4] = np.nan
    x[5, :] = -np.inf
    x[5, rng.integers(n)] = 1.0  # one finite value: 1 there, 0 elsewhere
    x[6] -= 200.0  # large negative values: subnormal and zero exponentials stay exact
    out = np.full_like(x, np.nan)
    out[:, ::2] = 3.0  # poison that differs from every expected value, NaN included
    _softmax_row[(x.shape[0],)](x, out, n, BLOCK=triton.next_power_of_2(n))
    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        mx = np.fmax.reduce(x64, axis=1, keepdims=True)
        e = np.exp(x64 - mx)
        ref = e / e.sum(axis=1, keepdims=True)
    assert np.array_equal(np.isnan(out), np.isnan(ref))
    fin = ~np.isnan(ref)
    np.testing.assert_allclose(out[fin], ref[fin], rtol=2e-6, atol=1e-30)
