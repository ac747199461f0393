"""2-D loads and stores of 2-byte elements (bf16, fp16, int16) contiguous along the first
dimension: Inductor's bf16 NCHW <-> NHWC copies around convolutions, lowered through the
same 8 x 8 register transposes as 4-byte elements (``backends/cpu/transpose.py``).
Compiled and interpreted, fresh random inputs, poisoned outputs, tails masked off in both
dimensions, ``other`` read back through the mask."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.test_transpose_access import _grid, _int_transpose, record_block_paths

BF16 = np.dtype(ml_dtypes.bfloat16)


@triton.jit
def _to_channels_last(in_ptr, out_ptr, ynumel, xnumel, C: tl.constexpr, HW: tl.constexpr,
                      YBLOCK: tl.constexpr, XBLOCK: tl.constexpr):  # fmt: skip
    # Inductor's bf16 triton_poi_fused_convolution_0: rows read along x, written along y
    yindex = tl.program_id(1) * YBLOCK + tl.arange(0, YBLOCK)[:, None]
    ymask = yindex < ynumel
    xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[None, :]
    xmask = xindex < xnumel
    y0 = yindex % C
    y1 = yindex // C
    tmp0 = tl.load(in_ptr + (xindex + HW * yindex), xmask & ymask).to(tl.float32)
    tl.store(out_ptr + (y0 + C * xindex + C * HW * y1), tmp0 * 2.0, xmask & ymask)


@triton.jit
def _bn_add_relu(res_ptr, in_ptr, mean_ptr, out_ptr, ynumel, xnumel, C: tl.constexpr,
                 HW: tl.constexpr, YBLOCK: tl.constexpr, XBLOCK: tl.constexpr):  # fmt: skip
    # Inductor's bf16 batch-norm + add + relu after the second convolution: in_ptr is NHWC
    yindex = tl.program_id(1) * YBLOCK + tl.arange(0, YBLOCK)[:, None]
    ymask = yindex < ynumel
    xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[None, :]
    xmask = xindex < xnumel
    y0 = yindex % C
    y1 = yindex // C
    res = tl.load(res_ptr + (xindex + HW * yindex), xmask & ymask).to(tl.float32)
    t = tl.load(in_ptr + (y0 + C * xindex + C * HW * y1), xmask & ymask, other=-3.0)
    s = tl.load(mean_ptr + y0, ymask).to(tl.float32)
    out = tl.maximum(res + (t.to(tl.float32) - s), -1.5)
    tl.store(out_ptr + (xindex + HW * yindex), out, xmask & ymask)


@pytest.mark.parametrize("dtype", [BF16, np.dtype(np.float16)])
@pytest.mark.parametrize("shape", [(2, 32, 64), (3, 16, 40), (2, 12, 24), (1, 8, 8)])
@pytest.mark.parametrize("blocks", [(32, 32), (16, 64), (64, 16)])
def test_to_channels_last(mode: str, rng: np.random.Generator, dtype, shape, blocks) -> None:
    n, c, hw = shape
    x = rng.standard_normal((n, c, hw)).astype(dtype)
    out = np.full(n * hw * c, np.nan, dtype)
    yb, xb = blocks
    _to_channels_last[_grid(n * c, hw, yb, xb)](x, out, n * c, hw, C=c, HW=hw, YBLOCK=yb, XBLOCK=xb)
    # doubling is exact in both formats: bit-exact against the transposed input
    want = (2 * x.astype(np.float64)).transpose(0, 2, 1).astype(dtype)
    np.testing.assert_array_equal(out.reshape(n, hw, c), want)


@pytest.mark.parametrize("shape", [(2, 32, 64), (3, 16, 40), (2, 12, 24)])
@pytest.mark.parametrize("blocks", [(32, 32), (64, 16), (8, 8)])
def test_bn_add_relu(mode: str, rng: np.random.Generator, shape, blocks) -> None:
    n, c, hw = shape
    res = rng.standard_normal((n, c, hw)).astype(BF16)
    nhwc = rng.standard_normal((n, hw, c)).astype(BF16)
    mean = rng.standard_normal(c).astype(BF16)
    out = np.full(res.size, np.nan, BF16)
    yb, xb = blocks
    _bn_add_relu[_grid(n * c, hw, yb, xb)](
        res, nhwc, mean, out, n * c, hw, C=c, HW=hw, YBLOCK=yb, XBLOCK=xb
    )
    t = nhwc.astype(np.float64).transpose(0, 2, 1)
    want = np.maximum(res.astype(np.float64) + (t - mean.astype(np.float64)[None, :, None]), -1.5)
    got = out.reshape(res.shape).astype(np.float64)
    assert not np.isnan(got).any()
    # one rounding to bf16 of a float32 result (2^-8 relative) plus the fp32 sum's
    np.testing.assert_allclose(got, want, rtol=2**-8, atol=2**-8)


@pytest.mark.parametrize("mn", [(64, 48), (37, 21), (8, 8)])
def test_int16_masked_transpose(mode: str, rng: np.random.Generator, mn) -> None:
    m, n = mn
    a_t = rng.integers(-(2**14), 2**14, (n, m)).astype(np.int16)  # a.T in memory
    out = np.full(m * n, -12345, np.int16)
    _int_transpose[(triton.cdiv(m, 32), triton.cdiv(n, 16))](a_t, out, m, n, BM=32, BN=16)
    np.testing.assert_array_equal(out.reshape(m, n), a_t.T + 1)


def test_the_block_path_is_taken(monkeypatch: pytest.MonkeyPatch, rng) -> None:
    """2-byte accesses along dimension 0 go through the 8 x 8 blocks when compiled (before:
    only 4-byte ones did), and not when the modulus is not a multiple of 8."""
    calls = record_block_paths(monkeypatch)
    for c, want in ((16, ["store"]), (12, [])):
        calls.clear()
        x = rng.standard_normal((2, c, 16)).astype(BF16)
        out = np.full(x.size, np.nan, BF16)
        _to_channels_last[_grid(2 * c, 16, 16, 16)](
            x, out, 2 * c, 16, C=c, HW=16, YBLOCK=16, XBLOCK=16
        )
        assert calls == want
        want_v = (2 * x.astype(np.float64)).transpose(0, 2, 1).astype(BF16)
        np.testing.assert_array_equal(out.reshape(2, 16, c), want_v)
    calls.clear()
    a_t = rng.integers(-100, 100, (16, 32)).astype(np.int16)
    out = np.full(a_t.size, 0, np.int16)
    _int_transpose[(2, 1)](a_t, out, 32, 16, BM=16, BN=16)
    assert calls == ["load"]
    np.testing.assert_array_equal(out.reshape(32, 16), a_t.T + 1)
