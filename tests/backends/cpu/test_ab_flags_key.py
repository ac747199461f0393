"""The A/B flags that benchmarks and tests turn off (``dot_kloop._ENABLED`` and the like) are
part of the CPU backend's cache key: a compile made with one off must not be loaded by a
process that runs with the default (they share a disk cache)."""

from __future__ import annotations

import importlib

import pytest

from tritium.backends import cpu
from tritium.backends.cpu import CPUBackend


@pytest.mark.parametrize(("mod", "flag"), cpu._AB_FLAGS)
def test_flag_off_changes_the_key(monkeypatch: pytest.MonkeyPatch, mod: str, flag: str) -> None:
    module = importlib.import_module(f"tritium.backends.cpu.{mod}")
    assert getattr(module, flag) is True  # the flag exists under this name, on by default
    backend = CPUBackend()
    on = backend.target_key()
    monkeypatch.setattr(module, flag, False)
    off = backend.target_key()
    assert off != on and f"{mod}.{flag}" in off
    monkeypatch.setattr(module, flag, True)
    assert backend.target_key() == on
