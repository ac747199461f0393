"""Fixtures for the pass tests (``--update-golden`` itself is declared in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """Whether the run should rewrite golden files instead of comparing with them."""
    return bool(request.config.getoption("--update-golden", default=False))
