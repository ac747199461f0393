"""Sorts of 256 elements, which the frontend builds from half-size compare-and-swap columns
(``ExtraMixin._compare_and_swap``); compiled and interpreted."""

from __future__ import annotations

import numpy as np
import pytest

import tritium
import tritium.language as tl


@tritium.jit
def _sort_rows(X, ASC, DESC, TOP, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    offs = tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :]
    x = tl.load(X + offs)
    tl.store(ASC + offs, tl.sort(x))
    tl.store(DESC + offs, tl.sort(x, descending=True))
    tk = tl.arange(0, M)[:, None] * K + tl.arange(0, K)[None, :]
    tl.store(TOP + tk, tl.topk(x, K))


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_large_sort(mode, rng, dtype) -> None:
    """Rows of 256 elements, with duplicates (and both zeros for floats), sorted both
    ways bit-exactly; topk takes the same path."""
    m, n, k = 2, 256, 8
    if dtype == "float32":
        x = rng.standard_normal((m, n)).astype(np.float32)
        x[0, :3] = [0.0, -0.0, 0.0]
    else:
        x = rng.integers(-1000, 1000, (m, n)).astype(np.int32)
    x[1, :16] = x[1, 16:32]  # duplicates
    poison = np.nan if dtype == "float32" else -(2**31)
    asc, desc = np.full_like(x, poison), np.full_like(x, poison)
    top = np.full((m, k), poison, x.dtype)
    _sort_rows[(1,)](x, asc, desc, top, M=m, N=n, K=k)
    ref = np.sort(x, axis=1)
    np.testing.assert_array_equal(asc, ref)
    np.testing.assert_array_equal(desc, ref[:, ::-1])
    np.testing.assert_array_equal(top, ref[:, ::-1][:, :k])
