"""``tl.rand``/``randn``/``randint``/``randint4x`` (issue 4: random): Philox4x32-10 streams
equal to a NumPy implementation of Triton's documented algorithm, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

from ._helpers import (
    Buffers,
    pair_uniform_to_normal,
    philox4x32,
    poisoned,
    uint_to_uniform_float,
)

N = 64


@triton.jit
def _random(OUT_I, OUT_F, seed, base, N: tl.constexpr):
    r = tl.arange(0, N)
    offs = base + r
    i0 = tl.randint(seed, offs)
    tl.store(OUT_I + r, i0)
    a, b, c, d = tl.randint4x(seed, offs)
    tl.store(OUT_I + N + r, a)
    tl.store(OUT_I + 2 * N + r, b)
    tl.store(OUT_I + 3 * N + r, c)
    tl.store(OUT_I + 4 * N + r, d)
    tl.store(OUT_F + r, tl.rand(seed, offs))
    tl.store(OUT_F + N + r, tl.randn(seed, offs))
    tl.store(OUT_I + 5 * N + r, tl.randint(seed, offs, n_rounds=7))
    tl.store(OUT_F + 2 * N + tl.arange(0, 1), tl.rand(seed, base + tl.arange(0, 1)))


@pytest.mark.covers(
    "tl.randint",
    "tl.randint4x",
    "tl.rand",
    "tl.randn",
    "tl.philox",
    "tl.uint_to_uniform_float",
    "tl.pair_uniform_to_normal",
)
@pytest.mark.parametrize("seed", [0, 123456789, 2**40 + 17])
def test_philox_streams(backend: str, seed: int) -> None:
    """randint/randint4x match Philox4x32 (10 rounds, or n_rounds); rand/randn are Triton's
    uint→float and Box-Muller maps of them."""
    base = 1000
    oi = poisoned(6 * N, "uint32")
    of = poisoned(2 * N + 1, "float32")
    buf = Buffers(backend)
    _random[(1,)](buf(oi), buf(of), seed, base, N=N)
    buf.sync()
    offs = np.arange(base, base + N, dtype=np.int64)
    c0, c1, c2, c3 = philox4x32(seed, offs)
    np.testing.assert_array_equal(oi[:N], c0)
    for i, c in enumerate((c0, c1, c2, c3)):
        np.testing.assert_array_equal(oi[(i + 1) * N : (i + 2) * N], c, err_msg=f"randint4x[{i}]")
    np.testing.assert_array_equal(oi[5 * N :], philox4x32(seed, offs, n_rounds=7)[0])
    u = uint_to_uniform_float(c0)
    np.testing.assert_array_equal(of[:N], u)
    assert ((of[:N] >= 0) & (of[:N] < 1)).all()
    n1, _ = pair_uniform_to_normal(uint_to_uniform_float(c0), uint_to_uniform_float(c1))
    np.testing.assert_allclose(of[N : 2 * N], n1, rtol=1e-5, atol=1e-5)
    assert of[2 * N] == u[0]


@triton.jit
def _random_grid(OUT, seed, N: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * N + tl.arange(0, N)
    tl.store(OUT + offs, tl.rand(seed, offs))


@pytest.mark.covers("tl.rand")
def test_rand_is_a_function_of_seed_and_offset(backend: str) -> None:
    """The same (seed, offset) gives the same number whatever program computes it."""
    out = poisoned(4 * N, "float32")
    buf = Buffers(backend)
    _random_grid[(4,)](buf(out), 42, N=N)
    buf.sync()
    ref = uint_to_uniform_float(philox4x32(42, np.arange(4 * N))[0])
    np.testing.assert_array_equal(out, ref)
    u = out.astype(np.float64)
    assert 0.35 < u.mean() < 0.65 and len(np.unique(out)) == out.size


@triton.jit
def _randint_i64(OUT_I, OUT_F, seed, base, N: tl.constexpr):
    r = tl.arange(0, N)
    offs = base + r.to(tl.int64)
    tl.store(OUT_I + r, tl.randint(seed, offs))
    tl.store(OUT_F + r, tl.rand(seed, offs))


@pytest.mark.covers("tl.randint", "tl.rand")
def test_randint_with_int64_offsets_is_philox_4x32_of_the_two_words(backend: str) -> None:
    """As current Triton: an int64 offset is split into its low and high words (counter words 0
    and 1) and the result is uint32, so offsets past 2**32 keep distinct streams."""
    seed, base = 0x0000000FCAFEB0BA, 2**33 + 5
    oi = poisoned(N, "int64")
    of = poisoned(N, "float32")
    buf = Buffers(backend)
    _randint_i64[(1,)](buf(oi), buf(of), seed, base, N=N)
    buf.sync()
    offs = np.arange(base, base + N, dtype=np.int64)
    c0 = philox4x32(seed, offs & 0xFFFFFFFF, offs >> 32)[0]
    np.testing.assert_array_equal(oi, c0.astype(np.int64))
    np.testing.assert_array_equal(of, uint_to_uniform_float(c0))
