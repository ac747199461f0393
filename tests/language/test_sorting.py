"""Sorting networks built from builtins (tritium.language.sorting), run on a NumPy engine."""

from __future__ import annotations

import numpy as np
import pytest

import tritium.language as tl
from tritium.language import sorting
from tritium.language.core import engine_scope

from .numpy_engine import NumpyEngine, tensor_of


@pytest.fixture
def engine():
    with engine_scope(NumpyEngine()) as e:
        yield e


def _data(rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        return (rng.standard_normal(shape) * 100).astype(dtype)
    info = np.iinfo(dtype)
    # a narrow range, so that there are duplicates
    return rng.integers(max(info.min, -50), min(info.max, 50), size=shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int16, np.uint8, np.int64])
@pytest.mark.parametrize(("shape", "dim"), [((16,), 0), ((4, 16), 1), ((8, 4), 0), ((2, 4, 8), 1)])
@pytest.mark.parametrize("descending", [False, True])
def test_bitonic_sort(engine, dtype, shape, dim, descending) -> None:
    rng = np.random.default_rng(hash((str(np.dtype(dtype)), shape, dim)) % 2**32)
    x = _data(rng, shape, dtype)
    out = sorting.bitonic_sort(tensor_of(x), dim, descending)
    ref = np.sort(x, axis=dim)
    if descending:
        ref = np.flip(ref, axis=dim)
    assert out.shape == shape and out.handle.dtype == x.dtype
    np.testing.assert_array_equal(out.handle, ref)


@pytest.mark.parametrize(("shape", "dim"), [((16,), 0), ((4, 8), 1), ((4, 8), 0)])
def test_flip_by_swaps(engine, shape, dim) -> None:
    x = _data(np.random.default_rng(3), shape, np.float32)
    np.testing.assert_array_equal(
        sorting.flip_by_swaps(tensor_of(x), dim).handle, np.flip(x, axis=dim)
    )


@pytest.mark.parametrize("dtype", [np.float16, np.int32])
@pytest.mark.parametrize("k", [1, 4, 16])
def test_topk_by_sort(engine, dtype, k: int) -> None:
    x = _data(np.random.default_rng(k), (4, 16), dtype)
    out = sorting.topk_by_sort(tensor_of(x), k, 1)
    ref = np.flip(np.sort(x, axis=1), axis=1)[:, :k]
    assert out.handle.dtype == x.dtype
    np.testing.assert_array_equal(out.handle, ref)


def test_sizes_must_be_powers_of_two(engine) -> None:
    with pytest.raises(ValueError, match="power of two"):
        sorting.bitonic_sort(tensor_of(np.zeros((4, 6), np.float32) + 1), 1, False)


def test_builtins_validate_topk_arguments(engine) -> None:
    x = tensor_of(np.arange(16, dtype=np.int32))
    with pytest.raises(ValueError, match="power of two"):
        tl.topk(x, 3)
    with pytest.raises(ValueError, match="power of two"):
        tl.topk(x, 32)
