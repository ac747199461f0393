"""``tl.dot`` of tiles with several batch axes (rank 4 and up), as Triton allows."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

from ._helpers import Buffers, poisoned


@triton.jit
def _dot_nd(X, Y, A, Z, RANK: tl.constexpr, TRANS_B: tl.constexpr):
    n: tl.constexpr = 16 << RANK
    shape: tl.constexpr = [2] * (RANK - 2) + [8, 8]
    x = tl.load(X + tl.arange(0, n)).reshape(shape)
    y = tl.load(Y + tl.arange(0, n)).reshape(shape)
    acc = tl.load(A + tl.arange(0, n)).reshape(shape)
    if TRANS_B:
        y = tl.trans(y)
    z = tl.dot(x, y, acc)
    tl.store(Z + tl.arange(0, n), z.reshape([n]))


@pytest.mark.parametrize("rank", [4, 5])
@pytest.mark.parametrize("trans_b", [False, True])
def test_dot_with_several_batch_axes(backend: str, rank: int, trans_b: bool) -> None:
    rng = np.random.default_rng(41)
    shape = (2,) * (rank - 2) + (8, 8)
    x, y, acc = (rng.standard_normal(shape).astype(np.float32) for _ in range(3))
    z = poisoned(shape, "float32")
    buf = Buffers(backend)
    _dot_nd[(1,)](buf(x), buf(y), buf(acc), buf(z), RANK=rank, TRANS_B=trans_b)
    buf.sync()
    yy = np.swapaxes(y, -1, -2) if trans_b else y
    want = x.astype(np.float64) @ yy.astype(np.float64) + acc
    np.testing.assert_allclose(z, want, rtol=1e-4, atol=1e-4)
