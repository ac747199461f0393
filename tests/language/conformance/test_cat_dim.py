"""``tl.cat(x, y, dim=d)`` (Triton's ``dim`` argument): concatenation along any axis."""

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
