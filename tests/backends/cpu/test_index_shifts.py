"""Index divisions by a constant power of two (Inductor's ``xindex % 64``, ``xindex // 256``
with static shapes) stay fused into the loads and stores that use them, recomputed per chunk
as shifts and masks, instead of being materialized into a stack tile first
(``analysis.classify_lazy``). Compiled and interpreted against NumPy, fresh random inputs,
poisoned outputs, odd sizes with masked tails, negative dividends (C-style truncation)."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.backends.cpu import analysis
from tritium.ir.parser import parse_module


@triton.jit
def _clone_transpose(in_ptr, out_ptr, xnumel, D: tl.constexpr, H: tl.constexpr,
                     XBLOCK: tl.constexpr):  # fmt: skip
    # Inductor's triton_poi_fused_clone_transpose: [H, T, D] -> [T, H, D]
    xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)
    xmask = xindex < xnumel
    x0 = xindex % D
    x1 = (xindex // D) % H
    x2 = xindex // (D * H)
    tmp0 = tl.load(in_ptr + (x0 + D * x2 + (xnumel // H) * x1), xmask)
    tl.store(out_ptr + xindex, tmp0 * 3.0, xmask)


@triton.jit
def _signed_parts(out_q, out_r, n, start, K: tl.constexpr, XBLOCK: tl.constexpr):
    # quotient and remainder of possibly negative indices: truncation toward zero
    idx = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)
    m = idx < n
    v = idx + start
    tl.store(out_q + idx, v // K, m)
    tl.store(out_r + idx, v % K, m)


@triton.jit
def _bias_rows(x_ptr, b_ptr, out_ptr, xnumel, C: tl.constexpr, XBLOCK: tl.constexpr):
    # a bias broadcast along rows through xindex % C, and a row scale through xindex // C
    xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)
    xmask = xindex < xnumel
    x = tl.load(x_ptr + xindex, xmask)
    b = tl.load(b_ptr + xindex % C, xmask)
    r = (xindex // C).to(tl.float32)
    tl.store(out_ptr + xindex, x * r + b, xmask)


@pytest.mark.parametrize(("h", "t", "d"), [(4, 256, 64), (4, 33, 64), (2, 5, 16), (8, 7, 4)])
@pytest.mark.parametrize("xblock", [16, 256, 1024])
def test_clone_transpose(mode: str, rng: np.random.Generator, h, t, d, xblock) -> None:
    x = rng.standard_normal((h, t, d)).astype(np.float32)
    out = np.full(h * t * d, np.nan, np.float32)
    n = x.size
    _clone_transpose[(triton.cdiv(n, xblock),)](x, out, n, D=d, H=h, XBLOCK=xblock)
    want = 3.0 * x.astype(np.float64).transpose(1, 0, 2)
    np.testing.assert_array_equal(out.reshape(t, h, d), want.astype(np.float32))


@pytest.mark.parametrize("k", [1, 2, 8, 64, 1024])
@pytest.mark.parametrize("start", [-1000, -37, 0, 5])
def test_signed_quotient_and_remainder(mode: str, rng: np.random.Generator, k, start) -> None:
    n = int(rng.integers(100, 700))
    q = np.full(n, -(2**31), np.int32)
    r = np.full(n, -(2**31), np.int32)
    _signed_parts[(triton.cdiv(n, 64),)](q, r, n, start, K=k, XBLOCK=64)
    v = np.arange(n, dtype=np.int64) + start
    np.testing.assert_array_equal(q, np.trunc(v / k).astype(np.int64))  # toward zero
    np.testing.assert_array_equal(r, np.fmod(v, k))  # sign of the dividend


@pytest.mark.parametrize(("rows", "c"), [(37, 64), (8, 16), (5, 512)])
def test_bias_rows(mode: str, rng: np.random.Generator, rows, c) -> None:
    x = rng.standard_normal((rows, c)).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32)
    out = np.full(x.size, np.nan, np.float32)
    _bias_rows[(triton.cdiv(x.size, 128),)](x, b, out, x.size, C=c, XBLOCK=128)
    want = x.astype(np.float64) * np.arange(rows)[:, None] + b
    np.testing.assert_allclose(out.reshape(rows, c), want, rtol=1e-6, atol=1e-6)


def test_power_of_two_divisions_stay_fused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The divisions by 64 and 256 of the transposing copy are cheap fused index arithmetic,
    not tiles materialized before the load."""
    monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    x = np.ones((4, 8, 64), np.float32)
    out = np.full(x.size, np.nan, np.float32)
    _clone_transpose.cache.clear()
    _clone_transpose[(2,)](x, out, x.size, D=64, H=4, XBLOCK=1024)
    assert not np.isnan(out).any()
    ((_, compiled),) = _clone_transpose.cache.values()
    (func,) = parse_module(compiled.asm["ttir"]).functions
    lazy, cheap = analysis.classify_lazy(func)
    tiles = [
        op.result
        for op in func.walk()
        if op.name in analysis.INDEX_DIVISIONS and analysis._is_tile(op.result)
    ]
    assert len(tiles) >= 3
    assert all(v in cheap and v in lazy for v in tiles)
