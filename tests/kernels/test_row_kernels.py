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
    # y = x*w + 1 is rounded in fp32 (an FMA or not), so a max near zero needs an absolute bound
    np.testing.assert_allclose(stats[:, 1], m, rtol=1e-6, atol=1e-5)
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


@triton.jit
def _looped_row_stats(
    x_ptr, out_ptr, M, N, XBLOCK: tl.constexpr, RBLOCK: tl.constexpr, KIND: tl.constexpr
):
    # Inductor's looped reduction: a [XBLOCK, RBLOCK] accumulator updated under a mask
    rows = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[:, None]
    rmask_rows = rows < M
    if KIND == 0:
        acc = tl.full([XBLOCK, RBLOCK], 0, tl.float32)
    elif KIND == 1:
        acc = tl.full([XBLOCK, RBLOCK], -float("inf"), tl.float32)
    else:
        acc = tl.full([XBLOCK, RBLOCK], 0, tl.int32)
    for roff in range(0, N, RBLOCK):
        cols = roff + tl.arange(0, RBLOCK)[None, :]
        mask = rmask_rows & (cols < N)
        x = tl.load(x_ptr + rows * N + cols, mask=mask, other=0.0)
        if KIND == 0:
            acc = tl.where(mask, acc + x * x, acc)
        elif KIND == 1:
            acc = tl.where(mask, tl.maximum(acc, x), acc)
        else:
            acc = tl.where(mask, acc + (x * 8.0).to(tl.int32), acc)
    if KIND == 1:
        r = tl.max(acc, 1)
    else:
        r = tl.sum(acc, 1)
    out = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)
    tl.store(out_ptr + out, r.to(tl.float32), mask=out < M)


@pytest.mark.parametrize("kind", [0, 1, 2])
@pytest.mark.parametrize("shape", [(5, 37), (16, 200), (3, 8)])
def test_looped_reduction_accumulators(mode: str, rng: np.random.Generator, kind: int, shape):
    M, N = shape
    x = rng.standard_normal((M, N)).astype(np.float32)
    out = np.full(M, np.nan, np.float32)
    _looped_row_stats[(triton.cdiv(M, 4),)](x, out, M, N, XBLOCK=4, RBLOCK=16, KIND=kind)
    x64 = x.astype(np.float64)
    if kind == 0:
        ref = (x64 * x64).sum(1)
    elif kind == 1:
        ref = x64.max(1)
    else:
        ref = (x * np.float32(8.0)).astype(np.int32).sum(1).astype(np.float64)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


@triton.jit
def _mean_and_sq(x_ptr, out_ptr, N, BLOCK: tl.constexpr):
    # layer norm's shape: a 1-D accumulator over a loop peeled into full blocks and a tail;
    # `acc` is read by a second update in the loop, so that slot must stay a tile
    row = tl.program_id(0)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    both = tl.zeros([BLOCK], dtype=tl.float32)
    for off in range(0, N, BLOCK):
        cols = off + tl.arange(0, BLOCK)
        x = tl.load(x_ptr + row * N + cols, mask=cols < N, other=0.0)
        acc += x
        both += acc * x
    tl.store(out_ptr + row * 2, tl.sum(acc, axis=0))
    tl.store(out_ptr + row * 2 + 1, tl.sum(both, axis=0))


@pytest.mark.parametrize("n", [7, 64, 100])
def test_accumulator_read_elsewhere_stays_a_tile(mode: str, rng: np.random.Generator, n: int):
    rows, block = 3, 16
    x = rng.standard_normal((rows, n)).astype(np.float32)
    out = np.full((rows, 2), np.nan, np.float32)
    _mean_and_sq[(rows,)](x, out, n, BLOCK=block)
    x64 = np.zeros((rows, triton.cdiv(n, block) * block))
    x64[:, :n] = x
    blocks = x64.reshape(rows, -1, block)
    acc = np.cumsum(blocks, axis=1)
    np.testing.assert_allclose(out[:, 0], x64.sum(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[:, 1], (acc * blocks).sum((1, 2)), rtol=1e-5, atol=1e-4)


def _rewrites(kernel: object) -> list[int]:
    from tritium.backends.cpu.accumulators import reduce_carried_accumulators
    from tritium.ir.parser import parse_module

    counts = []
    for _, compiled in kernel.cache.values():  # type: ignore[attr-defined]
        module = parse_module(compiled.asm["ttir"])
        counts.append(sum(reduce_carried_accumulators(f) for f in module.functions))
    return counts


def test_accumulator_rewrite_fires_where_it_may(rng: np.random.Generator):
    """Which reductions move into their loops: Inductor's masked tiles, layer norm's peeled
    pair of loops, and in ``_mean_and_sq`` only the slot nobody else reads."""
    x = rng.standard_normal((5, 37)).astype(np.float32)
    out = np.empty(10, np.float32)
    _looped_row_stats[(2,)](x, out, 5, 37, XBLOCK=4, RBLOCK=16, KIND=0)
    _mean_and_sq[(5,)](x, out, 37, BLOCK=16)
    assert set(_rewrites(_looped_row_stats)) == {1}
    assert set(_rewrites(_mean_and_sq)) == {1}


@triton.jit
def _nan_max(a, b):
    # Inductor's triton_helpers.maximum: NaN wins
    return tl.where((a > b) | (a != a), a, b)


@triton.jit
def _looped_nan_max(x_ptr, out_ptr, M, N, XBLOCK: tl.constexpr, RBLOCK: tl.constexpr):
    rows = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[:, None]
    acc = tl.full([XBLOCK, RBLOCK], -float("inf"), tl.float32)
    for roff in range(0, N, RBLOCK):
        cols = roff + tl.arange(0, RBLOCK)[None, :]
        mask = (rows < M) & (cols < N)
        x = tl.load(x_ptr + rows * N + cols, mask=mask, other=0.0)
        acc = tl.where(mask, _nan_max(acc, x), acc)
    r = tl.reduce(acc, 1, _nan_max)
    out = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)
    tl.store(out_ptr + out, r, mask=out < M)


def test_looped_reduction_with_a_custom_idempotent_combine(mode: str, rng: np.random.Generator):
    M, N = 9, 53
    x = (rng.standard_normal((M, N)) - 3.0).astype(np.float32)  # all negative: 0 fill shows
    x[2, 40] = np.nan
    x[5, :] = -np.inf
    out = np.full(M, 7.0, np.float32)
    _looped_nan_max[(triton.cdiv(M, 4),)](x, out, M, N, XBLOCK=4, RBLOCK=16)
    np.testing.assert_array_equal(out, x.max(1))
    if mode == "compiled":
        assert set(_rewrites(_looped_nan_max)) == {1}
