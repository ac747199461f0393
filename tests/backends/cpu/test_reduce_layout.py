"""Reductions across the strided axis of a tile, transposed by the CPU backend
(``backends/cpu/reduce_layout``): Inductor's ``x.sum(0)`` and ``var_mean(x, dim=1)`` kernels,
an argmax over the strided axis, a persistent reduction along axis 0, two reductions of one
load, and a tree the rewrite must leave alone. Each runs compiled and interpreted on fresh
random inputs into poisoned outputs, against a float64 NumPy reference."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.modes import both_modes
from tritium.backends.cpu.accumulators import reduce_carried_accumulators
from tritium.backends.cpu.reduce_layout import transpose_strided_reductions
from tritium.ir.parser import parse_module
from tritium.ir.verifier import verify


@triton.jit
def _sum_strided(in_ptr0, out_ptr0, xnumel, r0_numel, XBLOCK: tl.constexpr, R0_BLOCK: tl.constexpr):
    # Inductor's x.sum(0) of a [r0_numel, xnumel] tensor: x is the contiguous axis
    xoffset = tl.program_id(0) * XBLOCK
    xindex = xoffset + tl.arange(0, XBLOCK)[:, None]
    xmask = xindex < xnumel
    r0_base = tl.arange(0, R0_BLOCK)[None, :]
    _tmp2 = tl.full([XBLOCK, R0_BLOCK], 0, tl.float32)
    for r0_offset in tl.range(0, r0_numel, R0_BLOCK):
        r0_index = r0_offset + r0_base
        r0_mask = r0_index < r0_numel
        tmp0 = tl.load(in_ptr0 + (xindex + xnumel * r0_index), r0_mask & xmask, other=0.0)
        tmp3 = _tmp2 + tmp0
        _tmp2 = tl.where(r0_mask & xmask, tmp3, _tmp2)
    tmp2 = tl.sum(_tmp2, 1)[:, None]
    tl.store(out_ptr0 + xindex, tmp2, xmask)


@triton.jit
def _var_mean_middle(
    mean_ptr, var_ptr, in_ptr0, xnumel, r0_numel, XBLOCK: tl.constexpr, R0_BLOCK: tl.constexpr
):
    # Inductor's two-pass var_mean(x, dim=1) of a [B, r0_numel, 64] tensor; the mean is stored
    # and also read by the second loop (a shared [XBLOCK, 1] value)
    xoffset = tl.program_id(0) * XBLOCK
    xindex = xoffset + tl.arange(0, XBLOCK)[:, None]
    xmask = xindex < xnumel
    r0_base = tl.arange(0, R0_BLOCK)[None, :]
    x0 = xindex % 64
    x1 = xindex // 64
    _tmp2 = tl.full([XBLOCK, R0_BLOCK], 0, tl.float32)
    for r0_offset in tl.range(0, r0_numel, R0_BLOCK):
        r0_index = r0_offset + r0_base
        r0_mask = r0_index < r0_numel
        tmp0 = tl.load(in_ptr0 + (x0 + 64 * r0_index + 64 * r0_numel * x1), r0_mask & xmask, 0.0)
        _tmp2 = tl.where(r0_mask & xmask, _tmp2 + tmp0, _tmp2)
    tmp5 = tl.sum(_tmp2, 1)[:, None] / r0_numel
    tl.store(mean_ptr + xindex, tmp5, xmask)
    _tmp10 = tl.full([XBLOCK, R0_BLOCK], 0, tl.float32)
    for r0_offset in tl.range(0, r0_numel, R0_BLOCK):
        r0_index = r0_offset + r0_base
        r0_mask = r0_index < r0_numel
        tmp6 = tl.load(in_ptr0 + (x0 + 64 * r0_index + 64 * r0_numel * x1), r0_mask & xmask, 0.0)
        tmp7 = tmp6 - tmp5
        _tmp10 = tl.where(r0_mask & xmask, _tmp10 + tmp7 * tmp7, _tmp10)
    tmp13 = tl.sum(_tmp10, 1)[:, None] / (r0_numel - 1)
    tl.store(var_ptr + xindex, tmp13, xmask)


@triton.jit
def _argmax_strided(x_ptr, out_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    # a persistent argmax over axis 1 of a tile whose pointers run along axis 0
    cols = tl.program_id(0) * BM + tl.arange(0, BM)[:, None]
    rows = tl.arange(0, BN)[None, :]
    mask = (cols < N) & (rows < M)
    x = tl.load(x_ptr + cols + rows * N, mask, other=float("-inf"))
    tl.store(out_ptr + cols, tl.argmax(x, 1)[:, None], cols < N)


@triton.jit
def _max_axis0_strided(x_ptr, out_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    # max over axis 0 of a [BM, BN] tile contiguous along axis 0 (x is [N, M] row-major:
    # the reduced index m runs along memory)
    rows = tl.arange(0, BM)[:, None]
    cols = tl.program_id(0) * BN + tl.arange(0, BN)[None, :]
    mask = (rows < M) & (cols < N)
    x = tl.load(x_ptr + rows + cols * M, mask, other=float("-inf"))
    y = tl.exp(x * 0.5)
    tl.store(out_ptr + cols, tl.max(y, 0)[None, :], cols < N)


@triton.jit
def _shared_load(x_ptr, s_ptr, m_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    # one strided load feeds two reductions: transposed together, x is read once
    cols = tl.program_id(0) * BM + tl.arange(0, BM)[:, None]
    rows = tl.arange(0, BN)[None, :]
    mask = (cols < N) & (rows < M)
    x = tl.load(x_ptr + cols + rows * N, mask, other=0.0)
    tl.store(s_ptr + cols, tl.sum(x, 1)[:, None], cols < N)
    tl.store(m_ptr + cols, tl.max(x * x, 1)[:, None], cols < N)


@triton.jit
def _load_also_stored(x_ptr, s_ptr, y_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    # the strided load is also stored as it is: transposing the sum would read x twice
    cols = tl.program_id(0) * BM + tl.arange(0, BM)[:, None]
    rows = tl.arange(0, BN)[None, :]
    mask = (cols < N) & (rows < M)
    x = tl.load(x_ptr + cols + rows * N, mask, other=0.0)
    tl.store(s_ptr + cols, tl.sum(x, 1)[:, None], cols < N)
    tl.store(y_ptr + cols + rows * N, x * 2, mask)


def _rewrites(kernel: Any) -> list[int]:
    """How many reductions the backend transposes, per compiled specialization; the rewritten
    module must still verify."""
    counts = []
    for _, compiled in kernel.cache.values():
        module = parse_module(compiled.asm["ttir"])
        n = 0
        for f in module.functions:
            reduce_carried_accumulators(f)
            n += transpose_strided_reductions(f)
        verify(module)
        counts.append(n)
    return counts


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize(
    "shape, xb, rb", [((256, 64), 64, 4), ((100, 48), 16, 32), ((37, 72), 8, 16)]
)
def test_sum_over_the_strided_axis(rng, monkeypatch, shape, xb, rb, dtype) -> None:
    # 16-bit inputs: whole chunks load plainly, the tail's chunks through the masked i16 path
    r, x = shape
    a = rng.standard_normal(shape).astype(np.dtype(getattr(ml_dtypes, dtype, dtype)))

    def run() -> np.ndarray:
        out = np.full(x, np.nan, np.float32)
        _sum_strided[(triton.cdiv(x, xb),)](a, out, x, r, XBLOCK=xb, R0_BLOCK=rb)
        return out

    ref = a.astype(np.float64).sum(0)
    for got in both_modes(monkeypatch, run):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)
    assert set(_rewrites(_sum_strided)) == {1}


@pytest.mark.parametrize("xb, rb", [(64, 4), (16, 32), (64, 64)])
def test_var_mean_middle_axis(rng, monkeypatch, xb, rb) -> None:
    b, r = 6, 96
    a = (rng.standard_normal((b, r, 64)) * 3 + 1).astype(np.float32)

    def run() -> tuple[np.ndarray, np.ndarray]:
        mean = np.full((b, 64), np.nan, np.float32)
        var = np.full((b, 64), np.nan, np.float32)
        grid = (triton.cdiv(b * 64, xb),)
        _var_mean_middle[grid](mean, var, a, b * 64, r, XBLOCK=xb, R0_BLOCK=rb)
        return mean, var

    a64 = a.astype(np.float64)
    for mean, var in both_modes(monkeypatch, run):
        np.testing.assert_allclose(mean, a64.mean(1), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(var, a64.var(1, ddof=1), rtol=1e-5, atol=1e-5)
    # both passes; the second reads the mean through a tt.trans view
    assert set(_rewrites(_var_mean_middle)) == {2}


def test_argmax_over_the_strided_axis(rng, monkeypatch) -> None:
    m, n = 29, 45  # x is [m, n]: argmax over m for each of the n columns
    a = rng.standard_normal((m, n)).astype(np.float32)

    def run() -> np.ndarray:
        out = np.full(n, -7, np.int32)
        _argmax_strided[(triton.cdiv(n, 16),)](a, out, m, n, BM=16, BN=32)
        return out

    for got in both_modes(monkeypatch, run):
        np.testing.assert_array_equal(got, a.argmax(0))
    assert set(_rewrites(_argmax_strided)) == {1}


def test_axis0_reduction_contiguous_along_axis0(rng, monkeypatch) -> None:
    n, m = 40, 30  # x is [n, m]; out[j] = max_i exp(x[j, i] / 2)
    a = rng.standard_normal((n, m)).astype(np.float32)

    def run() -> np.ndarray:
        out = np.full(n, np.nan, np.float32)
        _max_axis0_strided[(triton.cdiv(n, 8),)](a, out, m, n, BM=32, BN=8)
        return out

    for got in both_modes(monkeypatch, run):
        np.testing.assert_allclose(got, np.exp(a.astype(np.float64) / 2).max(1), rtol=2e-6)
    assert set(_rewrites(_max_axis0_strided)) == {1}


def test_two_reductions_of_one_load_are_transposed_together(rng, monkeypatch) -> None:
    m, n = 24, 40
    a = rng.standard_normal((m, n)).astype(np.float32)

    def run() -> tuple[np.ndarray, np.ndarray]:
        s, mx = np.full(n, np.nan, np.float32), np.full(n, np.nan, np.float32)
        _shared_load[(triton.cdiv(n, 16),)](a, s, mx, m, n, BM=16, BN=32)
        return s, mx

    for s, mx in both_modes(monkeypatch, run):
        np.testing.assert_allclose(s, a.astype(np.float64).sum(0), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(mx, (a * a).max(0))
    assert set(_rewrites(_shared_load)) == {2}


def test_a_load_read_outside_the_reduction_is_left_alone(rng, monkeypatch) -> None:
    m, n = 24, 40
    a = rng.standard_normal((m, n)).astype(np.float32)

    def run() -> tuple[np.ndarray, np.ndarray]:
        s, y = np.full(n, np.nan, np.float32), np.full((m, n), np.nan, np.float32)
        _load_also_stored[(triton.cdiv(n, 16),)](a, s, y, m, n, BM=16, BN=32)
        return s, y

    for s, y in both_modes(monkeypatch, run):
        np.testing.assert_allclose(s, a.astype(np.float64).sum(0), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(y, a * 2)
    assert set(_rewrites(_load_also_stored)) == {0}
