"""The host target is computed in one place: the driver's target for the CPU is
``backends.cpu.target.host_target()``, with ``TRITIUM_CPU_FEATURES`` applied by the same rule."""

from __future__ import annotations

import pytest

from tritium.backends.cpu.target import host_target
from tritium.backends.driver import driver


@pytest.mark.parametrize("override", ["", "-avx2", "fma,-avx2", "+sse4.2"])
def test_driver_target_is_the_backend_host_target(
    override: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRITIUM_CPU_FEATURES", override)
    target = driver.active.get_current_target()
    host = host_target()
    assert target.backend == "cpu" and target.arch == f"{host.cpu}:{host.features}"
    # an entry without a sign means "+"; the override wins over the host's own entry
    for entry in filter(None, override.split(",")):
        sign, name = (entry[0], entry[1:]) if entry[0] in "+-" else ("+", entry)
        assert f"{sign}{name}" in host.features.split(",")
        assert host.has(name) == (sign == "+")


def test_changing_the_features_changes_the_target_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITIUM_CPU_FEATURES", "")
    plain = driver.active.get_current_target().key()
    monkeypatch.setenv("TRITIUM_CPU_FEATURES", "-avx2")
    assert driver.active.get_current_target().key() != plain
    monkeypatch.setenv("TRITIUM_CPU_FEATURES", "")
    assert driver.active.get_current_target().key() == plain
