"""Fixtures for the frontend tests: the --update-golden option."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    # Only seen when pytest starts in or below tests/frontend; another conftest may declare
    # the same option, so tolerate a duplicate.
    try:
        parser.addoption(
            "--update-golden",
            action="store_true",
            default=False,
            help="rewrite the expected golden IR files",
        )
    except ValueError:
        pass


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """Whether the run should rewrite golden files instead of comparing with them."""
    return bool(request.config.getoption("--update-golden", default=False))
