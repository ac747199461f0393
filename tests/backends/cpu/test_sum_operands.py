"""The CPU backend's exact rewrites of a sum's operand (``backends/cpu/sum_operands.py``):
Inductor's ``t + 0.0`` and ``where(xmask, ., 0)`` with ``xmask`` uniform along the reduced
axis. The kernels copy Inductor's ``triton_red_fused_sum_0`` (rows, ``R0_BLOCK == r0_numel``
and looped; columns, transposed by the backend). Compiled and interpreted against float64
NumPy on fresh random inputs, outputs poisoned; masked tails; rows of ``-0.0`` (the sum must
be ``+0.0`` as Inductor's ``+ 0.0`` makes it), NaN and inf; the rewrite is taken where it
should be and not where the select is read elsewhere, the fill is not ``+0.0`` or the mask
varies along the reduced axis."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.modes import both_modes
from tritium.backends.cpu.accumulators import reduce_carried_accumulators
from tritium.backends.cpu.loop_masks import fold_loop_bound_masks
from tritium.backends.cpu.reduce_layout import transpose_strided_reductions
from tritium.backends.cpu.sum_operands import simplify_sum_operands
from tritium.backends.cpu.welford import reduce_carried_welford
from tritium.ir.parser import parse_module


@triton.jit
def _sum_rows(
    in_ptr0, out_ptr0, xnumel, r0_numel: tl.constexpr, XBLOCK: tl.constexpr, R0_BLOCK: tl.constexpr
):
    # Inductor's x.sum(1): rows contiguous; one loop iteration when R0_BLOCK == r0_numel
    xoffset = tl.program_id(0) * XBLOCK
    xindex = xoffset + tl.arange(0, XBLOCK)[:, None]
    xmask = xindex < xnumel
    r0_base = tl.arange(0, R0_BLOCK)[None, :]
    x0 = xindex
    _tmp2 = tl.full([XBLOCK, R0_BLOCK], 0, tl.float32)
    for r0_offset in tl.range(0, r0_numel, R0_BLOCK):
        r0_index = r0_offset + r0_base
        r0_mask = r0_index < r0_numel
        r0_1 = r0_index
        tmp0 = tl.load(
            in_ptr0 + (r0_1 + r0_numel * x0), r0_mask & xmask, eviction_policy="evict_first",
            other=0.0,
        )  # fmt: skip
        tmp1 = tl.broadcast_to(tmp0, [XBLOCK, R0_BLOCK])
        tmp3 = _tmp2 + tmp1
        _tmp2 = tl.where(r0_mask & xmask, tmp3, _tmp2)
    tmp2 = tl.sum(_tmp2, 1)[:, None]
    tl.store(out_ptr0 + (x0), tmp2, xmask)


@triton.jit
def _sum_cols(
    in_ptr0, out_ptr0, xnumel: tl.constexpr, r0_numel: tl.constexpr, XBLOCK: tl.constexpr,
    R0_BLOCK: tl.constexpr,
):  # fmt: skip
    # Inductor's x.sum(0): the reduced axis is strided (the backend transposes the tile)
    xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[:, None]
    xmask = xindex < xnumel
    r0_base = tl.arange(0, R0_BLOCK)[None, :]
    x0 = xindex
    _tmp2 = tl.full([XBLOCK, R0_BLOCK], 0, tl.float32)
    for r0_offset in tl.range(0, r0_numel, R0_BLOCK):
        r0_index = r0_offset + r0_base
        r0_mask = r0_index < r0_numel
        tmp0 = tl.load(in_ptr0 + (x0 + xnumel * r0_index), r0_mask & xmask, other=0.0)
        tmp3 = _tmp2 + tmp0
        _tmp2 = tl.where(r0_mask & xmask, tmp3, _tmp2)
    tmp2 = tl.sum(_tmp2, 1)[:, None]
    tl.store(out_ptr0 + (x0), tmp2, xmask)


@triton.jit
def _variants(
    in_ptr0, out_ptr0, tile_ptr, xnumel, ncols, R0_BLOCK: tl.constexpr, XBLOCK: tl.constexpr,
    MODE: tl.constexpr,
):  # fmt: skip
    # forms the rewrite must leave alone (or take only in part)
    xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[:, None]
    r0 = tl.arange(0, R0_BLOCK)[None, :]
    xmask = xindex < xnumel
    t = tl.load(in_ptr0 + (r0 + R0_BLOCK * xindex), xmask & (r0 < ncols), other=0.0)
    if MODE == 0:  # the select is also stored: its -0.0 lanes must stay +0.0 there
        s = tl.where(xmask, t + 0.0, 0.0)
        tl.store(tile_ptr + (r0 + R0_BLOCK * xindex), s, xmask)
    elif MODE == 1:  # a mask that varies along the reduced axis
        s = tl.where(xmask & (r0 < ncols), t + 0.0, 0.0)
    elif MODE == 2:  # another fill: not a sum's zero
        s = tl.where(xmask, t + 0.0, -0.0)
    else:  # a scalar condition (one per program)
        s = tl.where(tl.program_id(0) * XBLOCK < xnumel, t, 0.0)
    tl.store(out_ptr0 + xindex, tl.sum(s, 1)[:, None], xmask)


def _rewrites(kernel: Any) -> set[int]:
    """Operands the rewrite changes per compiled specialization (the backend's order)."""
    counts = set()
    for _, compiled in kernel.cache.values():
        module = parse_module(compiled.asm["ttir"])
        n = 0
        for f in module.functions:
            fold_loop_bound_masks(f)
            reduce_carried_welford(f)
            reduce_carried_accumulators(f)
            transpose_strided_reductions(f)
            n += simplify_sum_operands(f)
        counts.add(n)
    return counts


def _rows_input(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    x[1] = -0.0  # every term -0.0: Inductor's t + 0.0 makes the sum +0.0
    if rows > 5:
        x[3, 7] = np.nan
        x[5, 2] = np.inf
    return x


def _check_sums(got: np.ndarray, want: np.ndarray, interpreted: np.ndarray, rtol: float) -> None:
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 4)
    # bit for bit where the value is special: NaN, inf and the sign of a zero
    special = ~np.isfinite(interpreted) | (interpreted == 0)
    assert np.array_equal(
        got[special].view(np.int32) & 0x7FC00000 | np.signbit(got[special]),
        interpreted[special].view(np.int32) & 0x7FC00000 | np.signbit(interpreted[special]),
    )


def _launch_sums(
    monkeypatch, kernel, x: np.ndarray, rows: int, cols: int, xblock: int, rblock: int
) -> tuple[np.ndarray, np.ndarray]:
    """``kernel``'s ``rows`` sums of ``x`` into a poisoned output, compiled and interpreted."""

    def run() -> np.ndarray:
        out = np.full(rows, np.nan, np.float32)
        kernel[(triton.cdiv(rows, xblock),)](x, out, rows, cols, XBLOCK=xblock, R0_BLOCK=rblock)
        return out

    return both_modes(monkeypatch, run)


@pytest.mark.parametrize(
    ("rows", "cols", "xblock", "rblock"),
    [(64, 128, 8, 128), (37, 128, 8, 128), (37, 96, 4, 32), (40, 256, 2, 64)],
)
def test_row_sums(rng, monkeypatch, rows: int, cols: int, xblock: int, rblock: int) -> None:
    _sum_rows.cache.clear()
    x = _rows_input(rng, rows, cols)
    want = x.astype(np.float64).sum(1)

    compiled, interpreted = _launch_sums(monkeypatch, _sum_rows, x, rows, cols, xblock, rblock)
    _check_sums(compiled, want, interpreted, 1e-5)
    assert np.signbit(compiled[1]) == np.signbit(interpreted[1]) == False  # noqa: E712
    # R0_BLOCK == r0_numel: both rewrites; looped, accumulators.py already reduces the load
    assert _rewrites(_sum_rows) == ({2} if rblock == cols else {0})


@pytest.mark.parametrize(("rows", "cols", "xblock", "rblock"), [(64, 64, 16, 8), (50, 36, 16, 4)])
def test_column_sums(rng, monkeypatch, rows: int, cols: int, xblock: int, rblock: int) -> None:
    x = _rows_input(rng, rows, cols)
    xt = np.ascontiguousarray(x.T)  # [cols, rows]: sum over axis 0 of xt == x.sum(1)
    want = x.astype(np.float64).sum(1)

    compiled, interpreted = _launch_sums(monkeypatch, _sum_cols, xt, rows, cols, xblock, rblock)
    _check_sums(compiled, want, interpreted, 1e-5)


def test_int_row_sums(rng, monkeypatch) -> None:
    @triton.jit
    def isum(in_ptr, out_ptr, xnumel, XBLOCK: tl.constexpr, R: tl.constexpr):
        xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[:, None]
        xmask = xindex < xnumel
        r = tl.arange(0, R)[None, :]
        t = tl.load(in_ptr + (r + R * xindex), xmask, other=0)
        s = tl.sum(tl.where(xmask, t + 0, 0), 1)
        tl.store(out_ptr + xindex, s[:, None], xmask)

    x = rng.integers(-1000, 1000, (29, 64)).astype(np.int32)

    def run() -> np.ndarray:
        out = np.full(29, -7, np.int32)
        isum[(triton.cdiv(29, 8),)](x, out, 29, XBLOCK=8, R=64)
        return out

    for got in both_modes(monkeypatch, run):
        np.testing.assert_array_equal(got, x.astype(np.int64).sum(1))
    assert _rewrites(isum) == {1}


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_forms_left_alone(rng, monkeypatch, mode: int) -> None:
    _variants.cache.clear()
    rows, r, ncols = 21, 64, 50
    x = _rows_input(rng, rows, r)
    x[2, :] = -0.0
    x64 = x.astype(np.float64)

    def run() -> tuple[np.ndarray, np.ndarray]:
        out = np.full(rows, np.nan, np.float32)
        tile = np.full((rows, r), np.nan, np.float32)
        _variants[(triton.cdiv(rows, 4),)](x, out, tile, rows, ncols, R0_BLOCK=r, XBLOCK=4,
                                           MODE=mode)  # fmt: skip
        return out, tile

    (out, tile), (out_i, tile_i) = both_modes(monkeypatch, run)
    want = x64[:, :ncols].sum(1)  # the load reads ncols columns, 0.0 past them
    _check_sums(out, want, out_i, 1e-5)
    if mode == 0:  # the stored select keeps t + 0.0: no -0.0 in it
        assert not np.signbit(tile[2]).any() and not np.signbit(tile_i[2]).any()
        np.testing.assert_array_equal(tile[~np.isnan(tile_i)], tile_i[~np.isnan(tile_i)])
    if mode == 2:  # fill -0.0 and a row of -0.0: the sum is -0.0 + ... = +0.0 from t + 0.0
        assert np.signbit(out[2]) == np.signbit(out_i[2])
    # the select read elsewhere: only the row-mask hoist (the store still reads t + 0.0);
    # a varying mask: only + 0.0 dropped; another fill: nothing; a scalar condition: the hoist
    expected = {0: {1}, 1: {1}, 2: {0}, 3: {1}}[mode]
    assert _rewrites(_variants) == expected
    _variants.cache.clear()


def test_without_rewrite_the_loop_keeps_the_select(monkeypatch, tmp_path, rng) -> None:
    # the IR check can fail: the Inductor row sum with the rewrite off keeps + 0.0 and the
    # select in its loop, and with it on has neither
    import tritium.backends.cpu.codegen as codegen

    x = rng.standard_normal((16, 128)).astype(np.float32)
    out = np.full(16, np.nan, np.float32)

    def ir() -> str:
        _sum_rows.cache.clear()
        _sum_rows[(2,)](x, out, 16, 128, XBLOCK=8, R0_BLOCK=128)
        np.testing.assert_allclose(out, x.astype(np.float64).sum(1), rtol=1e-5, atol=1e-5)
        (_, compiled), = _sum_rows.cache.values()  # fmt: skip
        return compiled.asm["llir"]

    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(tmp_path / "on"))
    on = ir()
    monkeypatch.setattr(codegen, "simplify_sum_operands", lambda func: 0)
    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(tmp_path / "off"))
    off = ir()
    _sum_rows.cache.clear()
    # a chunk's + 0.0 (the one after each row's sum is a <1 x float>)
    add_zero = r"fadd <(?:4|8|16|32|64) x float> %[^,]*, zeroinitializer"
    assert re.search(add_zero, off)
    assert not re.search(add_zero, on)
