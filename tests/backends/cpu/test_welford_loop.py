"""Inductor's looped Welford reduction (``var_mean``, layer norm over rows longer than its
two-pass threshold), which the CPU backend reduces per chunk inside the loop (``welford``).
The kernels copy what Inductor writes (``triton_red_fused_var_mean_0``, with
``triton_helpers.welford_reduce`` / ``welford_combine`` written out here). Compiled and
interpreted against float64 NumPy on fresh random inputs: masked tails in both dimensions,
constant rows, a large common offset with a small spread, poisoned outputs; the IR keeps no
``[XBLOCK, R0_BLOCK]`` tiles across the loop, and a kernel that differs is left alone."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.modes import both_modes
from tritium.backends.cpu.welford import reduce_carried_welford
from tritium.ir.parser import parse_module
from tritium.language.extra import libdevice


@triton.jit
def _welford_reduce(value, mean, m2, weight, first_iteration):
    if first_iteration:
        new_weight = tl.full(weight.shape, 1, weight.dtype)
        new_mean = value
        new_m2 = tl.zeros_like(m2)
    else:
        delta = value - mean
        new_weight = weight + 1
        new_mean = mean + delta / new_weight
        new_m2 = m2 + delta * (value - new_mean)
    return new_mean, new_m2, new_weight


@triton.jit
def _welford_combine(mean_1, m2_1, weight_1, mean_2, m2_2, weight_2):
    delta = tl.where(mean_1 == mean_2, 0.0, mean_2 - mean_1)
    new_weight = weight_1 + weight_2
    w2_over_w = tl.where(new_weight == 0.0, 0.0, weight_2 / new_weight)
    return (
        mean_1 + delta * w2_over_w,
        m2_1 + m2_2 + delta * delta * weight_1 * w2_over_w,
        new_weight,
    )


@triton.jit
def _var_mean(
    var_ptr,
    x_ptr,
    mean_ptr,
    xnumel,
    r0_numel,
    SPLIT_MASK: tl.constexpr,
    XBLOCK: tl.constexpr,
    R0_BLOCK: tl.constexpr,
):
    # SPLIT_MASK: the weight tile kept under r0_mask alone (not Inductor's form: left alone)
    xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[:, None]
    xmask = xindex < xnumel
    r0_base = tl.arange(0, R0_BLOCK)[None, :]
    x0 = xindex
    tmp2_mean = tl.zeros([XBLOCK, R0_BLOCK], tl.float32)
    tmp2_m2 = tl.zeros([XBLOCK, R0_BLOCK], tl.float32)
    tmp2_weight = tl.zeros([XBLOCK, R0_BLOCK], tl.float32)
    for r0_offset in tl.range(0, r0_numel, R0_BLOCK):
        r0_index = r0_offset + r0_base
        r0_mask = r0_index < r0_numel
        roffset = r0_offset
        r0_1 = r0_index
        tmp0 = tl.load(
            x_ptr + (r0_1 + r0_numel * x0),
            r0_mask & xmask,
            eviction_policy="evict_first",
            other=0.0,
        )
        tmp1 = tl.broadcast_to(tmp0, [XBLOCK, R0_BLOCK])
        tmp2_mean_next, tmp2_m2_next, tmp2_weight_next = _welford_reduce(
            tmp1, tmp2_mean, tmp2_m2, tmp2_weight, roffset == 0
        )
        tmp2_mean = tl.where(r0_mask & xmask, tmp2_mean_next, tmp2_mean)
        tmp2_m2 = tl.where(r0_mask & xmask, tmp2_m2_next, tmp2_m2)
        if SPLIT_MASK:
            tmp2_weight = tl.where(r0_mask, tmp2_weight_next, tmp2_weight)
        else:
            tmp2_weight = tl.where(r0_mask & xmask, tmp2_weight_next, tmp2_weight)
    tmp3, tmp4, tmp5 = tl.reduce((tmp2_mean, tmp2_m2, tmp2_weight), 1, _welford_combine)
    tmp2 = tmp3[:, None]
    tmp6 = tmp4[:, None]
    tl.store(mean_ptr + x0, tmp2, xmask)
    tl.store(var_ptr + x0, tmp6 / (r0_numel - 1.0), xmask)


@triton.jit
def _layer_norm(
    x_ptr, w_ptr, b_ptr, out_ptr, xnumel, r0_numel, XBLOCK: tl.constexpr, R0_BLOCK: tl.constexpr
):
    # Inductor's layer norm over rows past its two-pass threshold: Welford loop, normalize loop
    xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[:, None]
    xmask = xindex < xnumel
    r0_base = tl.arange(0, R0_BLOCK)[None, :]
    x0 = xindex
    tmp2_mean = tl.zeros([XBLOCK, R0_BLOCK], tl.float32)
    tmp2_m2 = tl.zeros([XBLOCK, R0_BLOCK], tl.float32)
    tmp2_weight = tl.zeros([XBLOCK, R0_BLOCK], tl.float32)
    for r0_offset in tl.range(0, r0_numel, R0_BLOCK):
        r0_index = r0_offset + r0_base
        r0_mask = r0_index < r0_numel
        tmp0 = tl.load(x_ptr + (r0_index + r0_numel * x0), r0_mask & xmask, other=0.0)
        tmp1 = tl.broadcast_to(tmp0, [XBLOCK, R0_BLOCK])
        tmp2_mean_next, tmp2_m2_next, tmp2_weight_next = _welford_reduce(
            tmp1, tmp2_mean, tmp2_m2, tmp2_weight, r0_offset == 0
        )
        tmp2_mean = tl.where(r0_mask & xmask, tmp2_mean_next, tmp2_mean)
        tmp2_m2 = tl.where(r0_mask & xmask, tmp2_m2_next, tmp2_m2)
        tmp2_weight = tl.where(r0_mask & xmask, tmp2_weight_next, tmp2_weight)
    tmp3, tmp4, tmp5 = tl.reduce((tmp2_mean, tmp2_m2, tmp2_weight), 1, _welford_combine)
    tmp2 = tmp3[:, None]
    tmp6 = tmp4[:, None]
    for r0_offset in tl.range(0, r0_numel, R0_BLOCK):
        r0_index = r0_offset + r0_base
        r0_mask = r0_index < r0_numel
        tmp7 = tl.load(x_ptr + (r0_index + r0_numel * x0), r0_mask & xmask, other=0.0)
        tmp15 = tl.load(w_ptr + r0_index, r0_mask, other=0.0)
        tmp17 = tl.load(b_ptr + r0_index, r0_mask, other=0.0)
        tmp13 = libdevice.rsqrt(tmp6 / r0_numel + 1e-05)
        tmp18 = (tmp7 - tmp2) * tmp13 * tmp15 + tmp17
        tl.store(out_ptr + (r0_index + r0_numel * x0), tmp18, r0_mask & xmask)


def _rewritten(kernel: Any) -> set[int]:
    """How many Welford loops the rewrite takes, per compiled specialization."""
    counts = set()
    for _, compiled in kernel.cache.values():
        module = parse_module(compiled.asm["ttir"])
        counts.add(sum(reduce_carried_welford(f) for f in module.functions))
    return counts


def _tile_buffers(kernel: Any, tile: int) -> set[int]:
    """Stack buffers of a whole ``[XBLOCK, R0_BLOCK]`` f32 tile in the compiled LLVM IR."""
    return {
        len(re.findall(rf"alloca \[{tile} x float\]", compiled.asm["llir"]))
        for _, compiled in kernel.cache.values()
    }


def _var_mean_run(x: np.ndarray, xb: int, rb: int, split: bool = False) -> tuple:
    rows, cols = x.shape
    var = np.full(rows, np.nan, np.float32)
    mean = np.full(rows, np.nan, np.float32)
    grid = (triton.cdiv(rows, xb),)
    _var_mean[grid](var, x, mean, rows, cols, SPLIT_MASK=split, XBLOCK=xb, R0_BLOCK=rb)
    return var, mean


@pytest.mark.parametrize(
    "rows, cols, xb, rb", [(37, 1000, 4, 256), (16, 2048, 8, 512), (5, 77, 2, 32), (3, 9, 4, 64)]
)
def test_var_mean(rng, monkeypatch, rows, cols, xb, rb) -> None:
    x = rng.standard_normal((rows, cols)).astype(np.float32) * 3 + 1
    _var_mean.cache.clear()
    x64 = x.astype(np.float64)
    for var, mean in both_modes(monkeypatch, lambda: _var_mean_run(x, xb, rb)):
        np.testing.assert_allclose(mean, x64.mean(1), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(var, x64.var(1, ddof=1), rtol=1e-4, atol=1e-5)
    assert _rewritten(_var_mean) == {1}
    # the three tiles no longer live across the loop: at most the chunk's values stay
    # buffered (read again for the deviations from the chunk's mean)
    assert max(_tile_buffers(_var_mean, xb * rb)) <= 1


def test_without_rewrite_the_tiles_are_buffers(rng, monkeypatch, tmp_path) -> None:
    # the IR check above can fail: the same kernel with the rewrite off keeps its tiles
    import tritium.backends.cpu.codegen as codegen

    monkeypatch.setattr(codegen, "reduce_carried_welford", lambda func: 0)
    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(tmp_path))  # compile afresh, not from disk
    x = rng.standard_normal((9, 300)).astype(np.float32)
    _var_mean.cache.clear()
    var, mean = _var_mean_run(x, 4, 128)
    np.testing.assert_allclose(var, x.astype(np.float64).var(1, ddof=1), rtol=1e-4)
    assert min(_tile_buffers(_var_mean, 4 * 128)) >= 3
    _var_mean.cache.clear()


@pytest.mark.parametrize("offset", [1e4, -3e3])
def test_large_offset_small_spread(rng, monkeypatch, offset) -> None:
    # sum/sumsq would lose every digit here; deviations from each chunk's mean keep them
    rows, cols = 11, 3000
    x = (offset + 0.05 * rng.standard_normal((rows, cols))).astype(np.float32)
    x64 = x.astype(np.float64)
    ref = x64.mean(1)
    ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    for var, mean in both_modes(monkeypatch, lambda: _var_mean_run(x, 4, 256)):
        # the fp32 mean after the chunks' merges: at most 2.2 ulp off over 300 seeds per
        # offset (rtol 2e-7, about 2 ulp at 1e4, failed for seed 534344961 with 2.1); the
        # variance is what sum/sumsq would lose
        assert np.all(np.abs(mean - ref) <= 4 * ulp), (mean - ref) / ulp
        np.testing.assert_allclose(var, x64.var(1, ddof=1), rtol=5e-3)


def test_constant_rows(rng, monkeypatch) -> None:
    rows, cols = 6, 1500
    c = rng.uniform(-100, 100, rows).astype(np.float32)
    x = np.repeat(c[:, None], cols, 1)
    x[1] = 0.0
    for var, mean in both_modes(monkeypatch, lambda: _var_mean_run(x, 4, 256)):
        np.testing.assert_allclose(mean, c * (np.arange(rows) != 1), rtol=1e-6)
        assert np.all(np.abs(var) <= 1e-9 * np.maximum(c.astype(np.float64) ** 2, 1))


def test_different_masks_left_alone(rng, monkeypatch) -> None:
    rows, cols = 10, 700
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    _var_mean.cache.clear()
    x64 = x.astype(np.float64)
    for var, mean in both_modes(monkeypatch, lambda: _var_mean_run(x, 4, 256, split=True)):
        np.testing.assert_allclose(mean, x64.mean(1), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(var, x64.var(1, ddof=1), rtol=1e-4)
    assert _rewritten(_var_mean) == {0}
    _var_mean.cache.clear()


@pytest.mark.parametrize("rows, cols, xb, rb", [(13, 2100, 2, 512), (8, 4096, 4, 1024)])
def test_layer_norm(rng, monkeypatch, rows, cols, xb, rb) -> None:
    x = (rng.standard_normal((rows, cols)) * 2 + 5).astype(np.float32)
    w = rng.standard_normal(cols).astype(np.float32)
    b = rng.standard_normal(cols).astype(np.float32)

    def run() -> np.ndarray:
        out = np.full((rows, cols), np.nan, np.float32)
        _layer_norm[(triton.cdiv(rows, xb),)](x, w, b, out, rows, cols, XBLOCK=xb, R0_BLOCK=rb)
        return out

    x64 = x.astype(np.float64)
    mu = x64.mean(1, keepdims=True)
    ref = (x64 - mu) / np.sqrt(x64.var(1, keepdims=True) + 1e-5) * w + b
    for got in both_modes(monkeypatch, run):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    assert _rewritten(_layer_norm) == {1}


def test_nan_row_stays_nan(rng, monkeypatch) -> None:
    rows, cols = 7, 900
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    x[2, 611] = np.nan
    x64 = x.astype(np.float64)
    for var, mean in both_modes(monkeypatch, lambda: _var_mean_run(x, 4, 256)):
        np.testing.assert_allclose(mean, x64.mean(1), rtol=1e-5, atol=1e-5)  # NaN where NaN
        np.testing.assert_allclose(var, x64.var(1, ddof=1), rtol=1e-4, atol=1e-5)
