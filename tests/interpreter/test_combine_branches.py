"""Combine functions that branch on their operands, as Triton allows for scalar combines."""

from __future__ import annotations

import numpy as np

import tritium as triton
import tritium.language as tl
from tritium.interpreter import run_kernel


@triton.jit
def _first_max(v1, i1, v2, i2):
    if v1 > v2:
        return v1, i1
    if v1 == v2:
        return v1, tl.minimum(i1, i2)
    return v2, i2


@triton.jit
def _argmax_kernel(p, o, N: tl.constexpr):
    r = tl.arange(0, N)
    v, i = tl.reduce((tl.load(p + r), r), 0, _first_max)
    tl.store(o, v)
    tl.store(o + 1, i.to(tl.float32))


@triton.jit
def _running_max_kernel(p, o, N: tl.constexpr):
    r = tl.arange(0, N)
    v, i = tl.associative_scan((tl.load(p + r), r), 0, _first_max)
    tl.store(o + r, v)


def test_branchy_combine_reduce_breaks_ties_like_argmax() -> None:
    rng = np.random.default_rng()
    x = rng.integers(0, 5, 16).astype(np.float32)  # many ties
    out = np.full(2, np.nan, np.float32)
    run_kernel(_argmax_kernel, (1, 1, 1), {"p": x, "o": out, "N": 16})
    assert out.tolist() == [x.max(), float(np.argmax(x))]


def test_branchy_combine_scan() -> None:
    rng = np.random.default_rng()
    x = rng.standard_normal(8).astype(np.float32)
    out = np.full(8, np.nan, np.float32)
    run_kernel(_running_max_kernel, (1, 1, 1), {"p": x, "o": out, "N": 8})
    np.testing.assert_array_equal(out, np.maximum.accumulate(x))


def test_branchy_combine_over_a_vectorized_grid() -> None:
    rng = np.random.default_rng()
    x = rng.integers(0, 3, 16).astype(np.float32)
    outs = np.full(2, np.nan, np.float32)
    run_kernel(_argmax_kernel, (3, 1, 1), {"p": x, "o": outs, "N": 16})
    assert outs.tolist() == [x.max(), float(np.argmax(x))]
