"""A streaming row store whose output lies just above a row it reads, modulo 4096 bytes,
computes its chunks ahead of their stores (``store_ahead``, issue 13): the same results for
every placement of the output, and the second loop only where it belongs."""

from __future__ import annotations

import re

import ml_dtypes
import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.backends.cpu.store_ahead import _BAND_AND_AHEAD
from tritium.backends.cpu.target import host_target
from tutorials import layer_norm, rms_norm

_X86 = host_target().triple.startswith("x86_64")


@triton.jit
def _scale_shift(x_ptr, w_ptr, b_ptr, out_ptr, stride, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * stride + cols, mask=mask, other=0.0)
    w = tl.load(w_ptr + cols, mask=mask)
    b = tl.load(b_ptr + cols, mask=mask)
    tl.store(out_ptr + row * stride + cols, x * w + b, mask=mask, cache_modifier=".cs")


@triton.jit
def _softmax_rows(out_ptr, in_ptr, stride, n_cols, BLOCK: tl.constexpr):
    # the store loop reads the row from a stack tile
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(in_ptr + row * stride + cols, mask=mask, other=-float("inf"))
    num = tl.exp(x - tl.max(x, axis=0))
    y = num / tl.sum(num, axis=0)
    tl.store(out_ptr + row * stride + cols, y, mask=mask, cache_modifier=".cs")


@triton.jit
def _halve_to_bf16(x_ptr, out_ptr, N: tl.constexpr):
    # 2-byte output lanes from 4-byte input lanes: the distance changes along the row, so the
    # loop reads no row it could look ahead of
    cols = tl.program_id(0) * N + tl.arange(0, N)
    y = (tl.load(x_ptr + cols) * 0.5).to(tl.bfloat16)
    tl.store(out_ptr + cols, y, cache_modifier=".cs")


@triton.jit
def _rows_2d(x_ptr, out_ptr, N: tl.constexpr):
    r = tl.program_id(0) * 4 + tl.arange(0, 4)[:, None]
    c = tl.arange(0, N)[None, :]
    tl.store(out_ptr + r * N + c, tl.load(x_ptr + r * N + c) - 3.0, cache_modifier=".cs")


def _placed(n: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """(slab, view): ``n`` float32 starting ``offset`` elements after a page start, in a
    NaN-filled slab with a page of room on either side."""
    raw = np.empty(4 * n + 3 * 4096, np.uint8)
    start = -raw.ctypes.data % 4096 + 4096
    slab = raw[start - 4096 : start - 4096 + 4 * n + 2 * 4096].view(np.float32)
    slab[:] = np.nan
    return slab, slab[1024 + offset : 1024 + offset + n]


def _check_slab(slab: np.ndarray, offset: int, n: int) -> None:
    assert np.isnan(slab[: 1024 + offset]).all() and np.isnan(slab[1024 + offset + n :]).all()


#: Output offsets (elements) from the input's: in the band (16-448 bytes above the input),
#: above it, below it, and not aligned to 16 bytes (the non-temporal stores' plain path).
_OFFSETS = [0, 1, 3, 4, 5, 16, 24, 31, 64, 100, 111, 128, 136, 200, 600, 1020, 1023]


def test_every_placement_of_the_output(rng: np.random.Generator) -> None:
    rows, cols = 6, 1024
    xs, x = _placed(rows * cols, 0)
    x[:] = rng.standard_normal(rows * cols).astype(np.float32)
    x2 = x.reshape(rows, cols)
    w = rng.standard_normal(cols).astype(np.float32)
    b = rng.standard_normal(cols).astype(np.float32)
    e = np.exp(x2.astype(np.float64) - x2.max(axis=1, keepdims=True))
    softmax = e / e.sum(axis=1, keepdims=True)
    for offset in [*_OFFSETS, *range(2, 1024, 52)]:
        slab, out = _placed(rows * cols, offset)
        _scale_shift[(rows,)](x, w, b, out, cols, cols, BLOCK=cols)
        ref = x2.astype(np.float64) * w + b
        np.testing.assert_allclose(out.reshape(rows, cols), ref, rtol=1e-6, atol=1e-6)
        _check_slab(slab, offset, rows * cols)
        slab[:] = np.nan
        _softmax_rows[(rows,)](out, x, cols, cols, BLOCK=cols)
        np.testing.assert_allclose(out.reshape(rows, cols), softmax, rtol=1e-5, atol=1e-9)
        _check_slab(slab, offset, rows * cols)


def test_partial_rows_at_odd_strides(rng: np.random.Generator) -> None:
    # a masked tail inside a chunk; rows 1003 elements apart, so that the output's distance
    # from the weights modulo 4096 differs from row to row (some rows in the band, some not)
    rows, cols, stride = 9, 1000, 1003
    xs, xf = _placed(rows * stride, 0)
    xf[:] = rng.standard_normal(rows * stride).astype(np.float32)
    x = xf.reshape(rows, stride)
    w = rng.standard_normal(cols).astype(np.float32)
    b = rng.standard_normal(cols).astype(np.float32)
    for offset in (0, 4, 40, 97, 1010):
        slab, flat = _placed(rows * stride, offset)
        out = flat.reshape(rows, stride)
        _scale_shift[(rows,)](x, w, b, out, stride, cols, BLOCK=1024)
        ref = x[:, :cols].astype(np.float64) * w + b
        np.testing.assert_allclose(out[:, :cols], ref, rtol=1e-6, atol=1e-6)
        assert np.isnan(out[:, cols:]).all()
        _check_slab(slab, offset, rows * stride)


def test_bf16_output_from_fp32_rows(rng: np.random.Generator) -> None:
    n, programs = 1024, 4
    x = rng.standard_normal(n * programs).astype(np.float32)
    ref = (x * np.float32(0.5)).astype(np.float64)
    for offset in (0, 8, 50, 300):
        raw = np.full(n * programs + 2048, 0xFFFF, np.uint16)  # NaN as bf16
        out = raw[offset : offset + n * programs]
        _halve_to_bf16[(programs,)](x, out.view(ml_dtypes.bfloat16), N=n)
        got = (out.astype(np.uint32) << 16).view(np.float32)
        np.testing.assert_allclose(got, ref, rtol=2**-8)
        assert (raw[:offset] == 0xFFFF).all() and (raw[offset + n * programs :] == 0xFFFF).all()


@pytest.mark.parametrize("offset", [0, 1, 16, 24, 100, 700])
def test_tutorial_row_kernels_streaming(
    offset: int, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # layer norm's forward (x, w and b in its store loop) and RMSNorm's, with every store
    # streaming (a threshold of one byte)
    monkeypatch.setenv("TRITIUM_STREAMING_STORES", "1")
    M, N = 8, 2048
    xs, xf = _placed(M * N, 0)
    xf[:] = rng.standard_normal(M * N).astype(np.float32) * 2 + 1
    x, x64 = xf.reshape(M, N), xf.reshape(M, N).astype(np.float64)
    w = rng.standard_normal(N).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    mean, rstd = np.empty(M, np.float32), np.empty(M, np.float32)
    slab, yf = _placed(M * N, offset)
    y = yf.reshape(M, N)
    layer_norm._layer_norm_fwd_fused[(M,)](x, y, w, b, mean, rstd, N, N, 1e-5, BLOCK_SIZE=N)
    mu = x64.mean(axis=1, keepdims=True)
    ref = (x64 - mu) / np.sqrt(x64.var(axis=1, keepdims=True) + 1e-5) * w + b
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    _check_slab(slab, offset, M * N)
    slab[:] = np.nan
    rms_norm.rms_norm_kernel[(M,)](
        x, y, w, rstd, None, N, N, 0, N, 1e-6, BLOCK_N=N, HAS_RESIDUAL=False
    )
    ref = x64 / np.sqrt((x64 * x64).mean(axis=1, keepdims=True) + 1e-6) * w
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    _check_slab(slab, offset, M * N)


def _waiting_chunks(llir: str) -> int:
    """The vector phis that carry the chunks computed ahead (``store_ahead``'s names)."""
    return len(re.findall(r"%ahead\.\d+ = phi <", llir))


@pytest.mark.skipif(not _X86, reason="non-temporal stores are x86 only")
def test_which_stores_get_the_loop_that_looks_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.ones(4 * 1024, np.float32)
    kernel = _scale_shift.warmup(x, x, x, x, 1024, 1024, BLOCK=1024, grid=(4,))
    band, reach = _BAND_AND_AHEAD[64 if host_target().has("avx512f") else 32]
    assert band < reach
    ahead = reach // (4 * kernel.metadata["vector_width"])
    assert ahead >= 1 and _waiting_chunks(kernel.asm["llir"]) == ahead
    # an unhinted store that streams when the launch is large (decided at run time) too
    args = (x, x, x, x, None, 1024, 1024, 0, 1024, 1e-6)
    auto = rms_norm.rms_norm_kernel.warmup(*args, BLOCK_N=1024, HAS_RESIDUAL=False, grid=(4,))
    assert _waiting_chunks(auto.asm["llir"]) == ahead
    # not: a short row (fewer than four times the chunks ahead), a 2-D tile, a store that
    # never streams
    short = _scale_shift.warmup(x, x, x, x, 32, 32, BLOCK=32, grid=(4,))
    assert _waiting_chunks(short.asm["llir"]) == 0
    tile = _rows_2d.warmup(x, x, N=64, grid=(4,))
    assert "nontemporal" in tile.asm["llir"] and _waiting_chunks(tile.asm["llir"]) == 0
    monkeypatch.setenv("TRITIUM_STREAMING_STORES", "off")
    plain = rms_norm.rms_norm_kernel.warmup(*args, BLOCK_N=512, HAS_RESIDUAL=False, grid=(4,))
    assert "nontemporal" not in plain.asm["llir"] and _waiting_chunks(plain.asm["llir"]) == 0
