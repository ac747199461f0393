"""Every tutorial kernel runs in both modes and on both array libraries, with one test body.

``mode`` is ``"compiled"`` (native code through the CPU backend) or ``"interpreted"`` (the
NumPy interpreter, through ``TRITIUM_INTERPRET=1``); ``lib`` is ``"numpy"`` or ``"torch"``.
Buffers the tutorials allocate are poisoned, so an element a kernel forgets shows up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tutorials import _host


@pytest.fixture(autouse=True)
def _poison(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_host, "POISON", True)


@pytest.fixture(params=["numpy", "torch"])
def lib(request: pytest.FixtureRequest) -> Callable[[np.ndarray], Any]:
    """Converts a NumPy input to the library under test (a torch CPU tensor shares memory)."""
    if request.param == "torch":
        torch = pytest.importorskip("torch")
        return lambda a: torch.from_numpy(np.ascontiguousarray(a))
    return lambda a: a
