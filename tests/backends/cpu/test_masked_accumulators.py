"""Inductor's masked looped sums, ``_acc = tl.where(mask, _acc + f(load(mask, other)), _acc)``,
whose accumulator the CPU backend reduces inside the loop (``accumulators``): the
``select(mask, f(x), 0)`` it adds is dropped when ``f`` keeps the load's zero ``other`` at
masked-off lanes, and must stay when it does not. And a row statistic broadcast over the tile
in the loop after it (rmsnorm): computed once, read per chunk (``analysis``). Compiled and
interpreted, fresh random inputs with partial chunks, poisoned outputs, float64 references."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.modes import both_modes
from tritium.backends.cpu.accumulators import reduce_carried_accumulators
from tritium.ir.parser import parse_module
from tritium.language.extra import libdevice


@triton.jit
def _rmsnorm(x_ptr, w_ptr, out_ptr, xnumel, r0_numel, XBLOCK: tl.constexpr, R0_BLOCK: tl.constexpr):
    xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[:, None]
    xmask = xindex < xnumel
    r0_base = tl.arange(0, R0_BLOCK)[None, :]
    _tmp3 = tl.full([XBLOCK, R0_BLOCK], 0, tl.float32)
    for r0_offset in tl.range(0, r0_numel, R0_BLOCK):
        r0_index = r0_offset + r0_base
        r0_mask = r0_index < r0_numel
        tmp0 = tl.load(x_ptr + (r0_index + r0_numel * xindex), r0_mask & xmask, other=0.0)
        tmp4 = _tmp3 + tmp0 * tmp0
        _tmp3 = tl.where(r0_mask & xmask, tmp4, _tmp3)
    tmp3 = tl.sum(_tmp3, 1)[:, None]
    for r0_offset in tl.range(0, r0_numel, R0_BLOCK):
        r0_index = r0_offset + r0_base
        r0_mask = r0_index < r0_numel
        tmp5 = tl.load(x_ptr + (r0_index + r0_numel * xindex), r0_mask & xmask, other=0.0)
        tmp12 = tl.load(w_ptr + r0_index, r0_mask, other=0.0)
        tmp10 = libdevice.rsqrt(tmp3 / r0_numel + 1e-6)
        tl.store(out_ptr + (r0_index + r0_numel * xindex), tmp5 * tmp10 * tmp12, r0_mask & xmask)


@triton.jit
def _masked_sum(
    x_ptr,
    out_ptr,
    xnumel,
    r0_numel,
    OTHER: tl.constexpr,
    MODE: tl.constexpr,
    XBLOCK: tl.constexpr,
    R0_BLOCK: tl.constexpr,
):
    # MODE 0: sum((x * 2) ** 2) of a load with other=OTHER; 1: sum(x - 1); 2: sum(x * (1 / x)),
    # whose masked-off lanes are 0 * inf = NaN without the select
    xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[:, None]
    xmask = xindex < xnumel
    r0_base = tl.arange(0, R0_BLOCK)[None, :]
    _acc = tl.full([XBLOCK, R0_BLOCK], 0, tl.float32)
    for r0_offset in tl.range(0, r0_numel, R0_BLOCK):
        r0_index = r0_offset + r0_base
        r0_mask = r0_index < r0_numel
        x = tl.load(x_ptr + (r0_index + r0_numel * xindex), r0_mask & xmask, other=OTHER)
        if MODE == 1:
            t = x - 1.0
        elif MODE == 2:
            t = x * (1.0 / x)
        else:
            t = (x * 2.0) * (x * 2.0)
        _acc = tl.where(r0_mask & xmask, _acc + t, _acc)
    tl.store(out_ptr + xindex, tl.sum(_acc, 1)[:, None], xmask)


def _selects_left(kernel: Any) -> set[int]:
    """``arith.select`` ops left inside loops after the accumulator rewrite, per
    specialization."""
    counts = set()
    for _, compiled in kernel.cache.values():
        module = parse_module(compiled.asm["ttir"])
        for f in module.functions:
            reduce_carried_accumulators(f)
        loops = [op for op in module.walk() if op.name == "scf.for"]
        counts.add(sum(1 for lp in loops for op in lp.walk() if op.name == "arith.select"))
    return counts


@pytest.mark.parametrize("rows, cols, xb, rb", [(37, 1000, 2, 256), (16, 1024, 8, 1024)])
def test_rmsnorm_inductor_kernel(rng, monkeypatch, rows, cols, xb, rb) -> None:
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    w = rng.standard_normal(cols).astype(np.float32)

    def run() -> np.ndarray:
        out = np.full((rows, cols), np.nan, np.float32)
        _rmsnorm[(triton.cdiv(rows, xb),)](x, w, out, rows, cols, XBLOCK=xb, R0_BLOCK=rb)
        return out

    x64 = x.astype(np.float64)
    ref = x64 / np.sqrt((x64**2).mean(1, keepdims=True) + 1e-6) * w
    for got in both_modes(monkeypatch, run):
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-5)
    assert _selects_left(_rmsnorm) == {0}  # x * x keeps the masked zeros


@pytest.mark.parametrize("mode, other", [(0, 0.0), (0, 5.0), (1, 0.0), (2, 0.0)])
def test_masked_select_kept_only_when_needed(rng, monkeypatch, mode, other) -> None:
    # with other=5, x - 1 or x * (1 / x) the masked-off lanes are not 0: the select must stay
    rows, cols, xb, rb = 13, 300, 4, 128
    x = (rng.random((rows, cols)) + 0.5).astype(np.float32)
    _masked_sum.cache.clear()  # _selects_left looks at this specialization only

    def run() -> np.ndarray:
        out = np.full(rows, np.nan, np.float32)
        grid = (triton.cdiv(rows, xb),)
        _masked_sum[grid](x, out, rows, cols, OTHER=other, MODE=mode, XBLOCK=xb, R0_BLOCK=rb)
        return out

    x64 = x.astype(np.float64)
    ref = [(4 * x64 * x64).sum(1), (x64 - 1).sum(1), np.full(rows, float(cols))][mode]
    for got in both_modes(monkeypatch, run):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)
    assert _selects_left(_masked_sum) == {0 if (mode, other) == (0, 0.0) else 1}
