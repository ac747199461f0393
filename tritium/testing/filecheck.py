"""``triton._filecheck`` for tritium: Triton's tests that FileCheck its MLIR text are skipped.

Those tests compare the TTIR that Triton's MLIR frontend prints against ``CHECK`` lines in the
test's source. tritium's Tile IR is printed differently, so the comparison has no meaning here;
each such test is reported as skipped with this reason rather than failed or passed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = ["filecheck_test", "run_filecheck", "run_filecheck_test", "run_parser", "SKIP_REASON"]

SKIP_REASON = "FileCheck of Triton's MLIR text: tritium's Tile IR is printed differently"


def _skip() -> None:
    import pytest

    pytest.skip(SKIP_REASON)


def run_filecheck(name: str, module_str: str, check_template: str) -> None:
    """Skipped: there is no Triton MLIR text to check."""
    _skip()


def run_parser(kernel_fn: Any, args: Any = (), kwargs: Any = None, target: Any = None) -> Any:
    """Skipped: Triton's MLIR module is not built by tritium."""
    _skip()


def run_filecheck_test(kernel_fn: Any) -> None:
    """Skipped (see the module's docstring)."""
    _skip()


def filecheck_test(fn: Callable[..., Any]) -> Callable[[], None]:
    """A test function that is skipped (see the module's docstring)."""

    @functools.wraps(fn)
    def test_fn() -> None:
        _skip()

    return test_fn
