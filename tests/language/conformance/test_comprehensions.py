"""List comprehensions and generator expressions in kernels, unrolled at compile time as in
Triton: over ``range`` of compile-time ints, tuples and lists, with compile-time filters."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

from ._helpers import Buffers, poisoned


@triton.jit
def _tuple_plus_one(values):
    return tl.tuple([v + 1 for v in values])


@triton.jit
def _rows(X, Y, OUT, N: tl.constexpr):
    j = tl.arange(0, N)
    row = [tl.load(X + i * N + j) for i in range(N)]
    row = [row[i] * (i + 1) for i in range(N) if i % 2 == 0]
    shifted = tuple(r + 1.0 for r in row)
    for i in tl.static_range(0, N // 2):
        tl.store(Y + i * N + j, shifted[i])
    i = 7  # a comprehension's variable is its own
    pairs = [a * 10 + b for a in range(2) for b in range(3)]
    t = _tuple_plus_one((i, pairs[5], len(pairs)))
    tl.store(OUT + tl.arange(0, 4), tl.where(tl.arange(0, 4) == 0, t[0], t[1] + t[2] * 100))


def test_comprehensions_unroll(backend: str) -> None:
    n = 8
    x = np.random.default_rng(5).standard_normal((n, n)).astype(np.float32)
    y = poisoned((n // 2, n), "float32")
    out = poisoned(4, "int32")
    buf = Buffers(backend)
    _rows[(1,)](buf(x), buf(y), buf(out), N=n)
    buf.sync()
    scale = np.arange(1, n + 1, 2, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(y, x[0::2] * scale + np.float32(1.0))
    np.testing.assert_array_equal(out, [8, 713, 713, 713])  # 12 + 1, (6 + 1) * 100


@triton.jit
def _over_a_tile(X, N: tl.constexpr):
    x = tl.load(X + tl.arange(0, N))
    vals = [v for v in x]
    tl.store(X, vals[0])


def test_a_comprehension_over_a_tile_is_a_clear_error() -> None:
    with pytest.raises(triton.CompilationError, match="comprehension in a kernel iterates"):
        _over_a_tile[(1,)](np.zeros(4, np.float32), N=4)


@triton.jit
def _store_all(Out, values):
    for i in tl.static_range(len(values)):
        tl.store(Out + i, values[i])
    tl.store(Out + 3, len(values))


@triton.jit
def _empty_tuple_through_calls(Out, values):
    _store_all(Out, _tuple_plus_one(values))


@pytest.mark.parametrize("values", [(), (4, 5)])
def test_a_jit_function_may_return_an_empty_tuple(backend: str, values: tuple) -> None:
    out = np.full(4, -1, np.int32)
    buf = Buffers(backend)
    _empty_tuple_through_calls[(1,)](buf(out), values)
    buf.sync()
    want = [v + 1 for v in values] + [-1] * (3 - len(values)) + [len(values)]
    np.testing.assert_array_equal(out, want)
