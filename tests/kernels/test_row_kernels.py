"""Row kernels (softmax, norms) on the code paths the CPU backend takes for speed.

Each test runs compiled and interpreted (the ``mode`` fixture) against a float64 NumPy
reference on fresh random inputs, with outputs poisoned:

* ``exp``/``exp2`` take a short path for vectors whose lanes are all in the normal range and
  the full one otherwise; a lane's result must not depend on which path its neighbours chose;
* a tile whose first consumer is a reduction is stored by the reduction's loop (write-through),
  which must not move its loads past a store;
* loop-carried accumulators reduced after the loop (layer norm's ``_mean``/``_var``).
"""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl


@triton.jit
def _unary_exp(x_ptr, out_ptr, n, BLOCK: tl.constexpr, BASE2: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    if BASE2:
        y = tl.exp2(x)
    else:
        y = tl.exp(x)
    tl.store(out_ptr + offs, y, mask=mask)


def _ulps(got: np.ndarray, ref: np.ndarray) -> float:
    ref32 = ref.astype(np.float32)
    assert np.array_equal(np.isnan(got), np.isnan(ref32))
    assert np.array_equal(np.isinf(got), np.isinf(ref32))
    fin = np.isfinite(ref32) & (got != ref32)
    if not fin.any():
        return 0.0
    # subnormal results: spacing of the smallest normal is the absolute unit
    spacing = np.maximum(np.spacing(np.abs(ref32[fin])), np.float32(1.4e-45)).astype(np.float64)
    return float((np.abs(got[fin].astype(np.float64) - ref[fin]) / spacing).max())


@pytest.mark.parametrize("base2", [False, True])
def test_exp_lanes_do_not_depend_on_their_chunk(mode: str, rng: np.random.Generator, base2: bool):
    limit = 125.0 if base2 else 86.5
    n = 8 * 97 + 5  # odd: a masked tail
    inside = rng.uniform(-limit, limit, n).astype(np.float32)
    # the same values, with every fourth lane replaced by one needing the full path
    special = np.array(
        [np.inf, -np.inf, np.nan, 89.0, -88.0, -100.0, -104.5, 200.0, -149.5, 127.9],
        np.float32,
    )
    mixed = inside.copy()
    mixed[::4] = rng.choice(special, mixed[::4].size)
    ref_fn = np.exp2 if base2 else np.exp
    outs = []
    for x in (inside, mixed):
        out = np.full(n, np.nan, np.float32)
        _unary_exp[(triton.cdiv(n, 64),)](x, out, n, BLOCK=64, BASE2=base2)
        with np.errstate(over="ignore"):
            assert _ulps(out, ref_fn(x.astype(np.float64))) <= 2.5
        outs.append(out)
    keep = np.ones(n, bool)
    keep[::4] = False
    assert np.array_equal(outs[0][keep], outs[1][keep])


@triton.jit
def _two_reductions(x_ptr, w_ptr, out_ptr, stats_ptr, n, BLOCK: tl.constexpr):
    # y has three consumers: the first is a reduction through a fused product (write-through)
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n
    x = tl.load(x_ptr + row * n + cols, mask=mask, other=0.0)
    w = tl.load(w_ptr + cols, mask=mask, other=0.0)
    y = x * w + 1.0
    s = tl.sum(tl.where(mask, y * x, 0.0), axis=0)
    m = tl.max(tl.where(mask, y, -float("inf")), axis=0)
    tl.store(stats_ptr + row * 2, s)
    tl.store(stats_ptr + row * 2 + 1, m)
    tl.store(out_ptr + row * n + cols, y * s - m, mask=mask)


@pytest.mark.parametrize("n", [1, 37, 64, 1000])
def test_reduction_stores_its_operand_while_reducing(mode: str, rng: np.random.Generator, n: int):
    rows = 5
    block = triton.next_power_of_2(n)
    x = rng.standard_normal((rows, n)).astype(np.float32)
    w = rng.standard_normal(n).astype(np.float32)
    out = np.full((rows, n), np.nan, np.float32)
    stats = np.full((rows, 2), np.nan, np.float32)
    _two_reductions[(rows,)](x, w, out, stats, n, BLOCK=block)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    y = x64 * w64 + 1.0
    s = (y * x64).sum(1)
    m = y.max(1)
    np.testing.assert_allclose(stats[:, 0], s, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(stats[:, 1], m, rtol=1e-6)
    np.testing.assert_allclose(out, y * s[:, None] - m[:, None], rtol=1e-5, atol=1e-3)


@triton.jit
def _load_then_overwrite(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    # x must be read before the store that zeroes its memory, though its first consumer (the
    # reduction) comes after that store
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n
    x = tl.load(x_ptr + row * n + cols, mask=mask, other=-float("inf"))
    tl.store(x_ptr + row * n + cols, tl.zeros([BLOCK], tl.float32), mask=mask)
    mx = tl.max(x, axis=0)
    tl.store(out_ptr + row * n + cols, x - mx, mask=mask)


def test_reduction_write_through_keeps_loads_before_stores(mode: str, rng: np.random.Generator):
    rows, n = 3, 45
    x = rng.standard_normal((rows, n)).astype(np.float32)
    ref = x.astype(np.float64) - x.max(1, keepdims=True)
    out = np.full((rows, n), np.nan, np.float32)
    _load_then_overwrite[(rows,)](x, out, n, BLOCK=64)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)
    assert not x.any()
