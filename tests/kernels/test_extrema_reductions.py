"""``tl.max``/``tl.min`` (``maxnumf``/``minnumf``: NaN only when every element is NaN) on the
CPU backend's one-instruction path: accumulators start at -inf (+inf) and a NaN never enters
them; a result equal to that start value (every element NaN or infinite) is recomputed the
exact way. Each test runs compiled and interpreted (the ``mode`` fixture) against NumPy in
float64 on fresh random inputs, with outputs poisoned.

In both modes a NaN loses (``fmax``, as ``max.f32`` on a GPU; Triton's own interpreter lets a
NaN win with ``np.max``, tritium's follows the compiled kernel). A softmax row with a NaN is
NaN either way.
"""

from __future__ import annotations

import struct

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
    """The reference, the same in both modes (``mode`` kept for the callers)."""
    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
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
    # The row sum adds positive terms: with at least 8 lanes, each lane adds at most n/8 of
    # them in order and a tree joins the lanes, so its relative error is at most
    # (n/8 + 6) * 2^-24; exp (2 ulp) and the division (0.5 ulp) add 3 more.
    rtol = max(2e-6, (n / 8 + 9) * 2.0**-24)
    np.testing.assert_allclose(out[fin], ref[fin], rtol=rtol, atol=1e-30)


@triton.jit
def _atomic_extrema(x_ptr, lo_ptr, hi_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    tl.atomic_min(lo_ptr + offs, x)
    tl.atomic_max(hi_ptr + offs, x)


def _triton_atomic(mem: float, val: float, big: bool) -> float:
    """Triton's float atomic max/min, one element, on the fp32 bit patterns (its semantic.py):
    signed integer max/min where the operand's sign bit is clear, unsigned min/max where set."""
    (u_m,), (u_v,) = (
        struct.unpack("<I", struct.pack("<f", mem)),
        struct.unpack("<I", struct.pack("<f", val)),
    )
    s_m, s_v = u_m - (u_m >> 31 << 32), u_v - (u_v >> 31 << 32)
    if u_v >> 31 == 0:
        take = s_v > s_m if big else s_v < s_m
    else:
        take = u_v < u_m if big else u_v > u_m
    return val if take else mem


def test_atomic_min_max_with_nan_operands(mode: str, rng: np.random.Generator):
    """Float atomic_min/max with NaN operands and NaN in memory give Triton's answer (its
    sign-split integer atomics) in both modes; the interpreter used np.minimum/np.maximum
    (found by tools/fuzz.py, seed 4001752)."""
    n = 32
    x = rng.standard_normal(n).astype(np.float32)
    x[rng.choice(n, 6, replace=False)] = np.nan
    x[rng.choice(n, 3, replace=False)] = -np.float32(np.nan)
    lo = rng.standard_normal(n).astype(np.float32)
    hi = rng.standard_normal(n).astype(np.float32)
    lo[:3] = hi[:3] = np.nan
    lo[3:5] = hi[3:5] = -np.float32(np.nan)
    want_lo = np.array([_triton_atomic(m, v, False) for m, v in zip(lo.tolist(), x.tolist())])
    want_hi = np.array([_triton_atomic(m, v, True) for m, v in zip(hi.tolist(), x.tolist())])
    _atomic_extrema[(1,)](x, lo, hi, BLOCK=n)
    np.testing.assert_array_equal(lo.view(np.uint32), want_lo.astype(np.float32).view(np.uint32))
    np.testing.assert_array_equal(hi.view(np.uint32), want_hi.astype(np.float32).view(np.uint32))
