"""The language helpers (standard.py, random.py) computed through a small NumPy engine."""

from __future__ import annotations

import numpy as np
import pytest

import tritium.language as tl
from tritium.language.core import engine_scope

from .numpy_engine import NpTensor, NumpyEngine, tensor_of


@pytest.fixture
def engine():
    with engine_scope(NumpyEngine()) as e:
        yield e


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


def test_cdiv_on_python_ints_needs_no_engine() -> None:
    assert tl.cdiv(10, 4) == 3 and tl.cdiv(8, 4) == 2 and tl.cdiv(tl.constexpr(9), 2) == 5


def test_cdiv_on_tensors(engine, rng) -> None:
    x = rng.integers(0, 1000, size=64, dtype=np.int32)
    out = tl.cdiv(tensor_of(x), 7)
    assert out.dtype == tl.int32
    np.testing.assert_array_equal(out.handle, -(-x.astype(np.int64) // 7))
    np.testing.assert_array_equal(tensor_of(x).cdiv(7).handle, out.handle)  # member form


def _swizzle_reference(i: int, j: int, size_i: int, size_j: int, size_g: int) -> tuple:
    ij = i * size_j + j
    group, within = divmod(ij, size_g * size_j)
    first_row = group * size_g
    rows = min(size_i - first_row, size_g)
    return first_row + within % rows, within // rows


def test_swizzle2d_matches_tritons_documented_example(engine) -> None:
    ii, jj = np.meshgrid(np.arange(4, dtype=np.int32), np.arange(4, dtype=np.int32), indexing="ij")
    new_i, new_j = tl.swizzle2d(tensor_of(ii), tensor_of(jj), 4, 4, 2)
    moved = np.empty((4, 4), dtype=np.int32)
    moved[new_i.handle, new_j.handle] = ii * 4 + jj
    np.testing.assert_array_equal(
        moved, [[0, 2, 4, 6], [1, 3, 5, 7], [8, 10, 12, 14], [9, 11, 13, 15]]
    )


@pytest.mark.parametrize(("size_i", "size_j", "size_g"), [(5, 3, 2), (7, 4, 3), (6, 6, 8)])
def test_swizzle2d_with_a_partial_last_group(engine, size_i, size_j, size_g) -> None:
    ii, jj = np.meshgrid(
        np.arange(size_i, dtype=np.int32), np.arange(size_j, dtype=np.int32), indexing="ij"
    )
    new_i, new_j = tl.swizzle2d(tensor_of(ii), tensor_of(jj), size_i, size_j, size_g)
    for i in range(size_i):
        for j in range(size_j):
            assert (new_i.handle[i, j], new_j.handle[i, j]) == _swizzle_reference(
                i, j, size_i, size_j, size_g
            )
    # a permutation of the grid
    assert (
        len({(a, b) for a, b in zip(new_i.handle.ravel(), new_j.handle.ravel())}) == size_i * size_j
    )


def test_sigmoid(engine, rng) -> None:
    x = rng.standard_normal(128).astype(np.float32) * 4
    out = tl.sigmoid(tensor_of(x))
    assert out.dtype == tl.float32
    np.testing.assert_allclose(out.handle, 1 / (1 + np.exp(-x.astype(np.float64))), rtol=1e-6)


@pytest.mark.parametrize("dim", [0, 1])
def test_softmax(engine, rng, dim: int) -> None:
    x = rng.standard_normal((8, 16)).astype(np.float32) * 3
    out = tl.softmax(tensor_of(x), dim, keep_dims=True)
    x64 = x.astype(np.float64)
    ref = np.exp(x64 - x64.max(axis=dim, keepdims=True))
    ref /= ref.sum(axis=dim, keepdims=True)
    np.testing.assert_allclose(out.handle, ref, rtol=1e-5, atol=1e-7)


def test_softmax_default_dim_is_zero(engine, rng) -> None:
    x = rng.standard_normal(32).astype(np.float32)
    out = tl.softmax(tensor_of(x))
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(out.handle, np.exp(x64) / np.exp(x64).sum(), rtol=1e-5)


def test_interleave_ravel_zeros_like(engine, rng) -> None:
    a = rng.standard_normal((4, 8)).astype(np.float32)
    b = rng.standard_normal((4, 8)).astype(np.float32)
    out = tl.interleave(tensor_of(a), tensor_of(b))
    ref = np.empty((4, 16), np.float32)
    ref[:, 0::2], ref[:, 1::2] = a, b
    np.testing.assert_array_equal(out.handle, ref)
    np.testing.assert_array_equal(tl.ravel(tensor_of(a)).handle, a.ravel())
    z = tl.zeros_like(tensor_of(a))
    assert z.shape == (4, 8) and z.dtype == tl.float32 and not z.handle.any()
    assert tl.zeros((2, 3), tl.int8).handle.dtype == np.int8


def test_to_tensor(engine) -> None:
    assert tl.to_tensor(3).dtype == tl.int32 and tl.to_tensor(3).shape == ()
    assert tl.to_tensor(2**40).dtype == tl.int64
    assert tl.to_tensor(True).dtype == tl.int1
    assert tl.to_tensor(tl.constexpr(1.5)).dtype == tl.float32
    t = tensor_of(np.arange(4, dtype=np.int16))
    assert tl.to_tensor(t) is t
    with pytest.raises(TypeError):
        tl.to_tensor("x")


def test_reduce_or_with_a_python_combine_fn(engine, rng) -> None:
    x = rng.integers(0, 2**16, size=(4, 8), dtype=np.int32)
    out = tl.reduce_or(tensor_of(x), 1)
    np.testing.assert_array_equal(out.handle, np.bitwise_or.reduce(x, axis=1))


def test_bitonic_merge_sorts_a_bitonic_sequence(engine) -> None:
    x = np.array([1, 4, 6, 9, 8, 5, 3, 2], dtype=np.int32)
    np.testing.assert_array_equal(tl.bitonic_merge(tensor_of(x)).handle, np.sort(x))


# -- Philox ----------------------------------------------------------------------------------

M32 = 0xFFFFFFFF


def philox_reference(seed: int, c: tuple[int, int, int, int], rounds: int = 10) -> tuple:
    """Philox4x32 (Salmon et al. 2011) on Python ints."""
    c0, c1, c2, c3 = c
    k0, k1 = seed & M32, (seed >> 32) & M32
    for _ in range(rounds):
        p0, p2 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p2 >> 32) ^ c1 ^ k0, p2 & M32, (p0 >> 32) ^ c3 ^ k1, p0 & M32
        k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
    return c0, c1, c2, c3


M64 = 2**64 - 1


def philox64_reference(seed: int, c: tuple[int, int, int, int], rounds: int = 10) -> tuple:
    """Philox4x64 on Python ints, keyed by (seed, 0) as Triton does for 64-bit offsets."""
    c0, c1, c2, c3 = c
    k0, k1 = seed & M64, 0
    for _ in range(rounds):
        p0, p2 = 0xD2E7470EE14C6C93 * c0, 0xCA5A826395121157 * c2
        c0, c1, c2, c3 = (p2 >> 64) ^ c1 ^ k0, p2 & M64, (p0 >> 64) ^ c3 ^ k1, p0 & M64
        k0, k1 = (k0 + 0x9E3779B97F4A7C15) & M64, (k1 + 0xBB67AE8584CAA73B) & M64
    return c0, c1, c2, c3


def test_randint_with_int64_offsets_splits_them_into_two_philox_4x32_words(engine, rng) -> None:
    # Current Triton: the low and high 32 bits of the offset are counter words 0 and 1, the
    # result is uint32 (Triton's test_randint[...-int64-...] checks this against Philox 4x32).
    offsets = rng.integers(-(2**40), 2**40, size=8, dtype=np.int64)
    out = tl.randint(99, tensor_of(offsets))
    assert out.dtype == tl.uint32
    want = [philox_reference(99, (int(o) & M32, (int(o) >> 32) & M32, 0, 0))[0] for o in offsets]
    np.testing.assert_array_equal(out.handle, np.array(want, dtype=np.uint32))
    u = tl.rand(99, tensor_of(offsets)).handle
    assert u.dtype == np.float32 and (u >= 0).all() and (u < 1).all()


def test_philox_on_64_bit_counters_is_philox_4x64(engine, rng) -> None:
    c = rng.integers(0, 2**62, size=8, dtype=np.int64).astype(np.uint64)
    z = np.zeros(8, np.uint64)
    out = tl.philox(99, tensor_of(c), tensor_of(z), tensor_of(z), tensor_of(z))
    assert out[0].dtype == tl.uint64
    want = [philox64_reference(99, (int(o), 0, 0, 0))[0] for o in c]
    np.testing.assert_array_equal(out[0].handle, np.array(want, dtype=np.uint64))


def test_philox_reference_matches_random123_known_answers() -> None:
    assert philox_reference(0, (0, 0, 0, 0)) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)
    assert philox_reference(2**64 - 1, (M32,) * 4) == (
        0x408F276D,
        0x41C83B0E,
        0xA20BC7C6,
        0x6D5451FD,
    )


@pytest.mark.parametrize(("seed", "counter"), [(0, 0), (2**64 - 1, M32)])
def test_philox_known_answers(engine, seed: int, counter: int) -> None:
    c = tensor_of(np.full(4, counter, dtype=np.uint32))
    out = tl.philox(seed, c, c, c, c)
    expected = philox_reference(seed, (counter,) * 4)
    for got, want in zip(out, expected):
        assert got.dtype == tl.uint32
        assert (got.handle == want).all()


def test_randint_matches_reference(engine, rng) -> None:
    seed = int(rng.integers(0, 2**62))
    offsets = rng.integers(0, 2**31 - 1, size=32, dtype=np.int32)
    out = tl.randint(seed, tensor_of(offsets))
    want = [philox_reference(seed, (int(o), 0, 0, 0))[0] for o in offsets]
    np.testing.assert_array_equal(out.handle, np.array(want, dtype=np.uint32))
    four = tl.randint4x(seed, tensor_of(offsets))
    assert len(four) == 4
    np.testing.assert_array_equal(four[0].handle, out.handle)


def test_seed_as_a_tensor_and_negative_offsets(engine) -> None:
    offsets = np.array([-5, -1, 0, 7], dtype=np.int32)
    seed = tensor_of(np.array(1234, dtype=np.int64))
    out = tl.randint(seed, tensor_of(offsets))
    want = [philox_reference(1234, (int(o) & M32, 0, 0, 0))[0] for o in offsets]
    np.testing.assert_array_equal(out.handle, np.array(want, dtype=np.uint32))


def test_rand_is_uniform_in_unit_interval(engine) -> None:
    offsets = np.arange(4096, dtype=np.int32)
    out = tl.rand(42, tensor_of(offsets))
    assert isinstance(out, NpTensor) and out.dtype == tl.float32
    u = out.handle.astype(np.float64)
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.02 and abs(u.var() - 1 / 12) < 0.01
    # the documented mapping of the random bits
    bits = (
        np.array(
            [philox_reference(42, (int(o), 0, 0, 0))[0] for o in offsets[:16]], dtype=np.uint32
        )
        .view(np.int32)
        .astype(np.int64)
    )
    ref = np.where(bits < 0, -bits - 1, bits) * 4.6566127342e-10
    np.testing.assert_allclose(u[:16], ref, rtol=1e-6)


def test_randn_is_standard_normal(engine) -> None:
    out = tl.randn(7, tensor_of(np.arange(8192, dtype=np.int32)))
    z = out.handle.astype(np.float64)
    assert out.dtype == tl.float32 and np.isfinite(z).all()
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05
    n = tl.randn4x(7, tensor_of(np.arange(16, dtype=np.int32)))
    assert len(n) == 4
    np.testing.assert_array_equal(n[0].handle, z[:16].astype(np.float32))
