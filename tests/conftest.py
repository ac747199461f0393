"""Test-suite setup shared by every package's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--update-golden`` rewrites golden IR files instead of comparing against them."""
    try:
        parser.addoption("--update-golden", action="store_true", default=False,
                         help="regenerate golden files")
    except ValueError:  # already declared by a package's own conftest
        pass


@pytest.fixture(scope="session", autouse=True)
def _tritium_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty compiled-kernel cache per session (per xdist worker), never ~/.cache."""
    path = str(tmp_path_factory.mktemp("tritium-cache"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRITIUM_CACHE_DIR", path)
        yield path


@pytest.fixture(scope="session", autouse=True)
def _verify_ir_between_passes() -> Iterator[None]:
    """In tests the IR verifier runs after every pass (DESIGN.md: Testing)."""
    try:
        from tritium.passes import pipeline
    except ImportError:
        yield
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "VERIFY_BY_DEFAULT", True, raising=False)
        yield
