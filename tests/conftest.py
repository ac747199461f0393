"""Test-suite setup shared by every package's tests."""

from __future__ import annotations

import os
import random
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

# Fresh random inputs every run, yet reproducible: the seed is printed in the report header and
# TRITIUM_TEST_SEED=<seed> replays it. Set here, in the controlling process, so that xdist
# workers (which inherit the environment) share it.
os.environ.setdefault("TRITIUM_TEST_SEED", str(random.randrange(2**31)))


def _seed_line() -> str:
    seed = os.environ["TRITIUM_TEST_SEED"]
    return f"tritium test seed: {seed} (rerun with TRITIUM_TEST_SEED={seed})"


def pytest_report_header(config: pytest.Config) -> str:
    return _seed_line()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """After a failure, print the seed again: ``-q`` hides the header, and a failure that
    depends on the random inputs can only be replayed with it."""
    if terminalreporter.stats.get("failed") or terminalreporter.stats.get("error"):
        terminalreporter.write_line(_seed_line())


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--update-golden`` rewrites golden IR files instead of comparing against them."""
    try:
        parser.addoption(
            "--update-golden", action="store_true", default=False, help="regenerate golden files"
        )
    except ValueError:  # already declared by a package's own conftest
        pass


@pytest.fixture(scope="session", autouse=True)
def _tritium_session_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty compiled-kernel cache per session (per xdist worker), never ~/.cache; and
    the IR verifier after every pass (TRITIUM_VERIFY_IR, DESIGN.md: Testing)."""
    path = str(tmp_path_factory.mktemp("tritium-cache"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRITIUM_CACHE_DIR", path)
        # the cache's per-user MAC key: a session's own, not the user's ~/.config one
        key_dir = tmp_path_factory.mktemp("tritium-key")
        mp.setenv("TRITIUM_CACHE_KEY_FILE", str(key_dir / "cache-key"))
        mp.setenv("TRITIUM_VERIFY_IR", "1")
        yield path


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """Fresh inputs per test and per run: seeded by TRITIUM_TEST_SEED and the test's id."""
    test_id = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng([int(os.environ.get("TRITIUM_TEST_SEED", "0")), test_id])


@pytest.fixture(params=["compiled", "interpreted"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test's launches compiled (native code through the CPU backend) or interpreted
    (the NumPy interpreter, through ``TRITIUM_INTERPRET=1``); a module may define its own."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    if request.param == "interpreted":
        monkeypatch.setenv("TRITIUM_INTERPRET", "1")
    else:
        monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    return request.param
