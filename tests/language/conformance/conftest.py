"""Fixtures and markers of the ``triton.language`` conformance suite.

Every test takes the ``backend`` fixture and runs once per backend:

* ``"interpreter"``: the NumPy interpreter (``TRITIUM_INTERPRET=1``);
* ``"cpu"``: native code through the CPU backend;
* ``"cuda"``: the NVIDIA backend, skipped unless a GPU is present.

Markers:

* ``@pytest.mark.covers("tl.sum", "tl.max")`` names the ``triton.language`` names a test
  checks; ``tools/language_status.py`` builds ``docs/language_status.md`` from them.
* ``@pytest.mark.xfail_backend("cpu", reason="...", owner="CPU", run=True, strict=True,
  **params)`` marks the parametrizations on that backend whose other parameters equal
  ``params`` (compared by ``str``; a list/tuple/set value matches any of its items) as
  ``xfail(strict=True)``: a known bug keeps the suite green and shows in the table, and a fix
  shows up as an XPASS failure so the mark gets removed. ``run=False`` is for a case that
  kills the process (it is not run, so a fix does not show: re-check by hand);
  ``strict=False`` for a bug that only some random inputs hit.

Each test's covered names and backend are recorded in ``item.user_properties`` (they travel
through xdist and land in junit XML).
"""

from __future__ import annotations

import functools
import os
import zlib
from collections.abc import Iterator

import numpy as np
import pytest

BACKENDS = ("interpreter", "cpu", "cuda")


@functools.cache
def _cuda_available() -> bool:
    """True when an NVIDIA GPU and tritium's CUDA backend are both usable."""
    try:
        import torch

        if not torch.cuda.is_available():
            return False
        from tritium.backends import get_backend

        get_backend("cuda")
    except Exception:  # noqa: BLE001 - any failure means "no GPU backend here"
        return False
    return True


def pytest_configure(config: pytest.Config) -> None:
    """Declare this suite's markers."""
    config.addinivalue_line("markers", "covers(*names): triton.language names a test checks")
    config.addinivalue_line(
        "markers", "xfail_backend(backend, reason, owner, **params): known bug on a backend"
    )


def _matches(item: pytest.Item, params: dict[str, object]) -> bool:
    callspec = getattr(item, "callspec", None)
    got = callspec.params if callspec is not None else {}

    def ok(key: str, want: object) -> bool:
        if key not in got:
            return False
        if isinstance(want, (list, tuple, set, frozenset)):
            return str(got[key]) in {str(w) for w in want}
        return str(got[key]) == str(want)

    return all(ok(k, v) for k, v in params.items())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Turn ``xfail_backend`` marks into xfails; record covers/backend properties."""
    del config
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec is not None else None
        names: list[str] = []
        for mark in item.iter_markers("covers"):
            names.extend(mark.args)
        item.user_properties.append(("covers", ",".join(names)))
        item.user_properties.append(("backend", str(backend)))
        for mark in item.iter_markers("xfail_backend"):
            kwargs = dict(mark.kwargs)
            reason = kwargs.pop("reason", "known bug")
            owner = kwargs.pop("owner", "?")
            run = kwargs.pop("run", True)
            strict = kwargs.pop("strict", True)
            if backend in mark.args and _matches(item, kwargs):
                item.add_marker(
                    pytest.mark.xfail(strict=strict, run=run, reason=f"{owner}: {reason}")
                )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Which backend runs the test's launches (through the environment the runtime reads)."""
    name = request.param
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    if name == "interpreter":
        monkeypatch.setenv("TRITIUM_INTERPRET", "1")
    else:
        monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
        if name == "cuda":
            if not _cuda_available():
                pytest.skip("no NVIDIA GPU / CUDA backend")
            monkeypatch.setenv("TRITIUM_BACKEND", "cuda")
        else:
            monkeypatch.setenv("TRITIUM_BACKEND", "cpu")
    yield name


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """Fresh random inputs per test and per run: seeded by the test id and the session's
    ``TRITIUM_TEST_SEED`` (printed in pytest's header), so a failure reproduces."""
    session = int(os.environ.get("TRITIUM_TEST_SEED", "0") or 0)
    return np.random.default_rng([zlib.crc32(request.node.nodeid.encode()), session])
