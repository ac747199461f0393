"""Bounds masks made always true by their loop (``backends/cpu/loop_masks``): Inductor's
``r0_index < r0_numel`` in ``range(0, r0_numel, R0_BLOCK)`` loops is folded when ``R0_BLOCK``
divides the constant ``r0_numel``, and kept when the last iteration runs past it or the bound
is not a constant. Each kernel runs compiled and interpreted on fresh random inputs into
poisoned outputs, against a float64 NumPy reference, in fp32 and bf16."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.modes import each_mode
from tritium.backends.cpu.loop_masks import fold_loop_bound_masks
from tritium.ir.parser import parse_module
from tritium.ir.verifier import verify


@triton.jit
def _row_sums(in_ptr0, out_ptr0, xnumel, R0_NUMEL: tl.constexpr, XBLOCK: tl.constexpr,
              R0_BLOCK: tl.constexpr):  # fmt: skip
    # Inductor's looped x.sum(1) with static shapes: r0_numel is a constant in the kernel
    r0_numel = R0_NUMEL
    xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[:, None]
    xmask = xindex < xnumel
    r0_base = tl.arange(0, R0_BLOCK)[None, :]
    _tmp = tl.full([XBLOCK, R0_BLOCK], 0, tl.float32)
    for r0_offset in tl.range(0, r0_numel, R0_BLOCK):
        r0_index = r0_offset + r0_base
        r0_mask = r0_index < r0_numel
        t = tl.load(in_ptr0 + (r0_index + r0_numel * xindex), r0_mask & xmask, other=0.0)
        _tmp = tl.where(r0_mask & xmask, _tmp + t.to(tl.float32), _tmp)
    tl.store(out_ptr0 + xindex, tl.sum(_tmp, 1)[:, None], xmask)


@triton.jit
def _row_sums_runtime(in_ptr0, out_ptr0, xnumel, r0_numel, XBLOCK: tl.constexpr,
                      R0_BLOCK: tl.constexpr):  # fmt: skip
    # the same with r0_numel an argument: nothing to fold
    xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[:, None]
    xmask = xindex < xnumel
    r0_base = tl.arange(0, R0_BLOCK)[None, :]
    _tmp = tl.full([XBLOCK, R0_BLOCK], 0, tl.float32)
    for r0_offset in tl.range(0, r0_numel, R0_BLOCK):
        r0_index = r0_offset + r0_base
        r0_mask = r0_index < r0_numel
        t = tl.load(in_ptr0 + (r0_index + r0_numel * xindex), r0_mask & xmask, other=0.0)
        _tmp = tl.where(r0_mask & xmask, _tmp + t.to(tl.float32), _tmp)
    tl.store(out_ptr0 + xindex, tl.sum(_tmp, 1)[:, None], xmask)


@triton.jit
def _static_row_sums(in_ptr0, out_ptr0, XNUMEL: tl.constexpr, R0_NUMEL: tl.constexpr,
                     XBLOCK: tl.constexpr, R0_BLOCK: tl.constexpr):  # fmt: skip
    # Inductor's form with every size static: xnumel and r0_numel constants in the kernel
    xnumel = XNUMEL
    r0_numel = R0_NUMEL
    xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[:, None]
    xmask = xindex < xnumel
    r0_base = tl.arange(0, R0_BLOCK)[None, :]
    _tmp = tl.full([XBLOCK, R0_BLOCK], 0, tl.float32)
    for r0_offset in tl.range(0, r0_numel, R0_BLOCK):
        r0_index = r0_offset + r0_base
        r0_mask = r0_index < r0_numel
        t = tl.load(in_ptr0 + (r0_index + r0_numel * xindex), r0_mask & xmask, other=0.0)
        _tmp = tl.where(r0_mask & xmask, _tmp + t.to(tl.float32), _tmp)
    tl.store(out_ptr0 + xindex, tl.sum(_tmp, 1)[:, None], xmask)


def _folds(kernel: Any) -> list[int]:
    """Comparisons folded per compiled specialization; the rewritten module must verify."""
    counts = []
    for _, compiled in kernel.cache.values():
        module = parse_module(compiled.asm["ttir"])
        counts.append(sum(fold_loop_bound_masks(f) for f in module.functions))
        verify(module)
    return counts


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("rows, cols, rb, folded", [(37, 96, 32, 1), (37, 100, 32, 0)])
def test_looped_row_sums(rng, monkeypatch, dtype, rows, cols, rb, folded) -> None:
    # 100 columns in blocks of 32: the last block runs past the row, the mask must stay
    a = rng.standard_normal((rows, cols)).astype(np.dtype(getattr(ml_dtypes, dtype, dtype)))
    ref = a.astype(np.float64).sum(1)
    for kernel, extra in ((_row_sums, {"R0_NUMEL": cols}), (_row_sums_runtime, {})):
        _row_sums.cache.clear()
        _row_sums_runtime.cache.clear()
        for _ in each_mode(monkeypatch):
            out = np.full(rows, np.nan, np.float32)
            args = (a, out, rows) if extra else (a, out, rows, cols)
            kernel[(triton.cdiv(rows, 8),)](*args, XBLOCK=8, R0_BLOCK=rb, **extra)
            np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-4)
        assert _folds(kernel) == [folded if extra else 0]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("rows, folded", [(40, 2), (37, 1)])
def test_static_sizes_row_mask_per_program(rng, monkeypatch, dtype, rows, folded) -> None:
    # 40 rows in blocks of 8: xmask holds for a whole program or for none of it, and becomes
    # one test per program (2 folds: r0_mask and xmask); 37 rows: xmask stays per lane. One
    # program past the end must write nothing (the poisoned tail stays NaN).
    cols = 64
    a = rng.standard_normal((rows, cols)).astype(np.dtype(getattr(ml_dtypes, dtype, dtype)))
    _static_row_sums.cache.clear()
    for _ in each_mode(monkeypatch):
        out = np.full(rows + 16, np.nan, np.float32)
        grid = (triton.cdiv(rows, 8) + 1,)
        _static_row_sums[grid](a, out, XNUMEL=rows, R0_NUMEL=cols, XBLOCK=8, R0_BLOCK=16)
        np.testing.assert_allclose(out[:rows], a.astype(np.float64).sum(1), rtol=1e-5, atol=1e-4)
        assert np.isnan(out[rows:]).all()
    assert _folds(_static_row_sums) == [folded]
