"""Shared helpers for the interpreter tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from tritium.interpreter import launcher

BF16 = ml_dtypes.bfloat16


@pytest.fixture
def rng() -> np.random.Generator:
    """Fresh random inputs per test (seeded so that a failure reproduces)."""
    return np.random.default_rng(1234)


def poison(shape: Any, dtype: Any) -> np.ndarray:
    """An output buffer full of NaN (or a loud integer) so that unwritten lanes show."""
    dt = np.dtype(dtype)
    if dt.kind == "f" or dt == BF16:
        return np.full(shape, np.nan, dtype=dt)
    return np.full(shape, 0x5A, dtype=dt)


@pytest.fixture(params=["vectorized", "sequential"])
def run(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``run(fn, grid, **args)``: ``run_kernel`` in both execution modes."""
    vec = request.param == "vectorized"

    def go(fn: Any, grid: Any, sanitize: bool = False, **args: Any) -> None:
        launcher.run_kernel(fn, grid, args, sanitize=sanitize, vectorize=vec)

    return go
