"""Running a test body compiled, then interpreted: the environment switch the CPU backend's
tests share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest


def each_mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    """Yields False with launches compiled, then True with them interpreted."""
    for interpret in (False, True):
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
        if interpret:
            monkeypatch.setenv("TRITIUM_INTERPRET", "1")
        else:
            monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
        yield interpret


def both_modes(monkeypatch: pytest.MonkeyPatch, run: Callable[[], Any]) -> list[Any]:
    """``[run() compiled, run() interpreted]``."""
    return [run() for _ in each_mode(monkeypatch)]


def use_threads(request: pytest.FixtureRequest, n: int) -> None:
    """Compiled launches use ``n`` threads until ``request``'s test ends. The raw setting is
    restored (0: "the default"), not the count it resolves to: restoring that would pin every
    later launch in the process to it, kernels' own ``num_threads`` included."""
    from tritium.threads import THREADS, set_num_threads

    previous = THREADS[0]
    set_num_threads(n)
    request.addfinalizer(lambda: THREADS.__setitem__(0, previous))
