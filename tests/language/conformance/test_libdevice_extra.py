"""libdevice functions Triton's test_libdevice uses: the Bessel functions (j0, j1, y0, y1,
cyl_bessel_i0/i1) against scipy.special in float64 (torch.special's j0/y0 are only good to
about 1e-7), and the bit counts clz/popc."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.language.extra import libdevice

from ._helpers import Buffers, poisoned

special = pytest.importorskip("scipy.special")


@triton.jit
def _unary(X, Y, fn: tl.constexpr, N: tl.constexpr):
    r = tl.arange(0, N)
    tl.store(Y + r, getattr(libdevice, fn)(tl.load(X + r)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("fn", "ref"),
    [
        ("j0", "j0"),
        ("j1", "j1"),
        ("y0", "y0"),
        ("y1", "y1"),
        ("cyl_bessel_i0", "i0"),
        ("cyl_bessel_i1", "i1"),
    ],
)
def test_bessel_functions(backend: str, fn: str, ref: str, dtype: str) -> None:
    rng = np.random.default_rng(21)
    x = np.concatenate([rng.standard_normal(96) * 3, rng.uniform(25, 60, 32)]).astype(dtype)
    if fn.startswith("y"):
        x = np.abs(x) + np.array(0.01, dtype)
    y = poisoned(x.size, dtype)
    buf = Buffers(backend)
    _unary[(1,)](buf(x), buf(y), fn=fn, N=x.size)
    buf.sync()
    want = getattr(special, ref)(x.astype(np.float64))
    rtol = 2e-6 if dtype == "float32" else 1e-9
    np.testing.assert_allclose(y, want.astype(dtype), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_clz_and_popc(backend: str, dtype: str) -> None:
    bits = 32 if dtype == "int32" else 64
    rng = np.random.default_rng(22)
    x = rng.integers(0, 2 ** (bits - 2), 64, dtype=np.int64) >> rng.integers(0, bits - 2, 64)
    x[:4] = [0, 1, -1, -(2 ** (bits - 1))]
    x = x.astype(dtype)
    for fn, want in (
        ("clz", [bits - (int(v) % 2**bits).bit_length() for v in x]),
        ("popc", [bin(int(v) % 2**bits).count("1") for v in x]),
    ):
        y = poisoned(x.size, "int32")
        buf = Buffers(backend)
        _unary[(1,)](buf(x), buf(y), fn=fn, N=x.size)
        buf.sync()
        np.testing.assert_array_equal(y, want, err_msg=fn)
