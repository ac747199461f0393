"""Shared fixtures of the tritium.testing, profiler and DLPack tests."""

from __future__ import annotations

import os
import zlib

import numpy as np
import pytest


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """Fresh random inputs per run and per test, replayable with TRITIUM_TEST_SEED."""
    seed = int(os.environ.get("TRITIUM_TEST_SEED", "0"))
    return np.random.default_rng([seed, zlib.crc32(request.node.nodeid.encode())])
