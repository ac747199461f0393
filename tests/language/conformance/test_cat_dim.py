"""``tl.cat(x, y, dim=d)`` (Triton's ``dim`` argument): concatenation along any axis; and
Triton's ``tl.squeeze``/``tl.unsqueeze``."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

from ._helpers import Buffers, poisoned


@triton.jit
def _cat3(X, Y, Z, A: tl.constexpr, B: tl.constexpr, C: tl.constexpr, DIM: tl.constexpr):
    offs = (
        tl.arange(0, A)[:, None, None] * (B * C)
        + tl.arange(0, B)[None, :, None] * C
        + tl.arange(0, C)[None, None, :]
    )
    z = tl.cat(tl.load(X + offs), tl.load(Y + offs), dim=DIM)
    OA: tl.constexpr = A * 2 if DIM == 0 else A
    OB: tl.constexpr = B * 2 if DIM == 1 else B
    OC: tl.constexpr = C * 2 if DIM == 2 or DIM == -1 else C
    out = (
        tl.arange(0, OA)[:, None, None] * (OB * OC)
        + tl.arange(0, OB)[None, :, None] * OC
        + tl.arange(0, OC)[None, None, :]
    )
    tl.store(Z + out, z)


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_cat_along_any_dim(backend: str, dim: int) -> None:
    rng = np.random.default_rng(31)
    x = rng.standard_normal((2, 4, 8)).astype(np.float32)
    y = rng.standard_normal((2, 4, 8)).astype(np.float32)
    want = np.concatenate([x, y], axis=dim)
    z = poisoned(want.shape, "float32")
    buf = Buffers(backend)
    _cat3[(1,)](buf(x), buf(y), buf(z), A=2, B=4, C=8, DIM=dim)
    buf.sync()
    np.testing.assert_array_equal(z, want)


@triton.jit
def _squeeze(X, Y, DIM: tl.constexpr):
    a = tl.reshape(tl.load(X + tl.arange(0, 8)), (2, 4))
    b = tl.unsqueeze(a, DIM)
    c = b.squeeze(DIM) * 3
    tl.store(Y + tl.arange(0, 8), tl.ravel(tl.unsqueeze(c, 0)))
    tl.static_assert(b.shape[DIM] == 1 and len(b.shape) == 3)


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_squeeze_and_unsqueeze(backend: str, dim: int) -> None:
    x = np.random.default_rng(32).integers(-100, 100, 8).astype(np.int32)
    y = poisoned(8, "int32")
    buf = Buffers(backend)
    _squeeze[(1,)](buf(x), buf(y), DIM=dim)
    buf.sync()
    np.testing.assert_array_equal(y, x * 3)
