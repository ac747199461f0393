"""Beyond Triton (issue 4): tiles that are not powers of two, and ``inline_asm_elementwise``
giving a clear ``CompilationError`` on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.errors import CompilationError

from ._helpers import Buffers, poisoned


@triton.jit
def _npot(X, OUT, n, B: tl.constexpr, M: tl.constexpr):
    r = tl.arange(0, B)
    x = tl.load(X + r, mask=r < n, other=0.0)
    tl.store(OUT + r, x * 2, mask=r < n)
    tl.store(OUT + B, tl.sum(x, axis=0))
    tl.store(OUT + B + 1, tl.max(tl.where(r < n, x, -1e30), axis=0))
    tl.store(OUT + B + 2 + r, tl.cumsum(x, 0))
    rm = tl.arange(0, M)
    t = x[None, :] + rm[:, None].to(tl.float32)
    tl.store(OUT + 2 * B + 2 + rm, tl.sum(t, axis=1))


@pytest.mark.covers("tl.arange", "non-power-of-two")
@pytest.mark.parametrize("b", [12, 20, 7])
def test_non_power_of_two_tiles(backend: str, b: int, rng: np.random.Generator) -> None:
    """arange/load/store/reductions/scans/broadcasts on tiles of 12, 20 and 7 elements."""
    m = 3
    x = rng.standard_normal(b).astype(np.float32)
    out = poisoned(2 * b + 2 + m, "float32")
    buf = Buffers(backend)
    _npot[(1,)](buf(x), buf(out), b, B=b, M=m)
    buf.sync()
    x64 = x.astype(np.float64)
    np.testing.assert_array_equal(out[:b], x * 2)
    np.testing.assert_allclose(out[b], x64.sum(), rtol=1e-5, atol=1e-5)
    assert out[b + 1] == x.max()
    np.testing.assert_allclose(out[b + 2 : 2 * b + 2], np.cumsum(x64), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[2 * b + 2 :], x64.sum() + b * np.arange(m), rtol=1e-5, atol=1e-5)


@triton.jit
def _asm(X, Y, N: tl.constexpr):
    r = tl.arange(0, N)
    x = tl.load(X + r)
    y = tl.inline_asm_elementwise(
        "shl.b32 $0, $0, 3;", "=r,r", [x], dtype=tl.int32, is_pure=True, pack=1
    )
    tl.store(Y + r, y)


@pytest.mark.covers("tl.inline_asm_elementwise")
def test_inline_asm_is_a_compilation_error(backend: str) -> None:
    """PTX inline asm cannot run on the CPU: a CompilationError naming the construct."""
    if backend == "cuda":
        pytest.skip("inline PTX runs on the GPU")
    x = np.arange(16, dtype=np.int32)
    y = poisoned(16, "int32")
    # The interpreter cannot run PTX either: any clear error naming the construct will do.
    expected = CompilationError if backend == "cpu" else Exception
    with pytest.raises(expected, match="inline_asm"):
        _asm[(1,)](x, y, N=16)


@triton.jit
def _npot_2d(A, B, C, S, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(A + rm[:, None] * K + rk[None, :])
    b = tl.load(B + rk[:, None] * N + rn[None, :])
    c = tl.dot(a, b, input_precision="ieee")
    tl.store(C + rm[:, None] * N + rn[None, :], c)
    MK: tl.constexpr = M * K
    rmk = tl.arange(0, MK)
    tl.store(S + rmk, tl.reshape(tl.trans(a), MK))
    tl.store(S + MK + rm[:, None] * K + rk[None, :], tl.sort(a, dim=1))
    tl.store(S + 2 * MK + rm, tl.argmax(a, axis=1).to(tl.float32))
    tl.store(S + 2 * MK + M + rk, tl.max(a, axis=0))


@pytest.mark.covers("non-power-of-two", "tl.dot", "tl.trans", "tl.sort", "tl.argmax")
def test_non_power_of_two_2d(backend: str, rng: np.random.Generator) -> None:
    """2-D tiles of 12 x 20 (K = 24): dot, trans + reshape, sort, argmax and max."""
    m, n, k = 12, 20, 24
    a = rng.integers(-8, 8, (m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = poisoned((m, n), "float32")
    s = poisoned(2 * m * k + m + k, "float32")
    buf = Buffers(backend)
    _npot_2d[(1,)](buf(a), buf(b), buf(c), buf(s), M=m, N=n, K=k)
    buf.sync()
    ref = a.astype(np.float64) @ b.astype(np.float64)
    bound = k * 2.0**-23 * (np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))) + 1e-30
    assert (np.abs(c - ref) <= bound).all()
    mk = m * k
    np.testing.assert_array_equal(s[:mk], a.T.ravel())
    np.testing.assert_array_equal(s[mk : 2 * mk].reshape(m, k), np.sort(a, 1))
    np.testing.assert_array_equal(s[2 * mk : 2 * mk + m], np.argmax(a, 1))
    np.testing.assert_array_equal(s[2 * mk + m :], a.max(0))
