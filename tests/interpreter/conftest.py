"""Fixtures shared by the interpreter tests (plain helpers live in _helpers.py)."""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tritium.interpreter import launcher


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """Fresh random inputs per test: seeded by the test's id and the session's
    TRITIUM_TEST_SEED (printed by the top-level conftest), so that a failure replays."""
    seed = zlib.crc32(request.node.nodeid.encode()) ^ int(os.environ.get("TRITIUM_TEST_SEED", 0))
    return np.random.default_rng(seed)


@pytest.fixture(params=["vectorized", "sequential"])
def run(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``run(fn, grid, **args)``: ``run_kernel`` in both execution modes."""
    vec = request.param == "vectorized"

    def go(fn: Any, grid: Any, sanitize: bool = False, **args: Any) -> None:
        launcher.run_kernel(fn, grid, args, sanitize=sanitize, vectorize=vec)

    return go
