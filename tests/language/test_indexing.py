"""gather and histogram built from builtins (tritium.language.indexing), on a NumPy engine."""

from __future__ import annotations

import numpy as np
import pytest

from tritium.language import indexing
from tritium.language.core import engine_scope

from .numpy_engine import NumpyEngine, tensor_of


@pytest.fixture
def engine():
    with engine_scope(NumpyEngine()) as e:
        yield e


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int8, np.uint16, np.float64])
@pytest.mark.parametrize(
    ("src_shape", "index_shape", "axis"),
    [
        ((8,), (16,), 0),
        ((8, 4), (2, 4), 0),
        ((4, 8), (4, 16), 1),
        ((2, 4, 8), (2, 4, 2), 2),
    ],
)
def test_gather_by_select(engine, dtype, src_shape, index_shape, axis) -> None:
    rng = np.random.default_rng(len(src_shape) * 10 + axis)
    src = (rng.standard_normal(src_shape) * 50).astype(dtype)
    index = rng.integers(0, src_shape[axis], size=index_shape).astype(np.int32)
    out = indexing.gather_by_select(tensor_of(src), tensor_of(index), axis)
    ref = np.take_along_axis(src, index, axis=axis)
    assert out.handle.dtype == src.dtype
    np.testing.assert_array_equal(out.handle.view(np.uint8), ref.view(np.uint8))


def test_gather_keeps_negative_zero_and_nan(engine) -> None:
    src = np.array([-0.0, np.nan, 1.0, -2.0], dtype=np.float32)
    index = np.array([0, 1, 0, 3], dtype=np.int32)
    out = indexing.gather_by_select(tensor_of(src), tensor_of(index), 0).handle
    assert np.signbit(out[0]) and np.isnan(out[1]) and out[3] == -2.0


@pytest.mark.parametrize("num_bins", [4, 16])
def test_histogram_by_compare(engine, num_bins: int) -> None:
    rng = np.random.default_rng(num_bins)
    x = rng.integers(-3, num_bins + 3, size=64).astype(np.int32)
    out = indexing.histogram_by_compare(tensor_of(x), num_bins, None)
    inside = x[(x >= 0) & (x < num_bins)]
    np.testing.assert_array_equal(out.handle, np.bincount(inside, minlength=num_bins))
    mask = rng.integers(0, 2, size=64).astype(bool)
    masked = indexing.histogram_by_compare(tensor_of(x), num_bins, tensor_of(mask))
    sel = x[mask & (x >= 0) & (x < num_bins)]
    np.testing.assert_array_equal(masked.handle, np.bincount(sel, minlength=num_bins))
    assert out.handle.dtype == np.int32


def test_selection_sizes_must_be_powers_of_two(engine) -> None:
    with pytest.raises(ValueError, match="power of two"):
        indexing.histogram_by_compare(tensor_of(np.arange(8, dtype=np.int32)), 6, None)
