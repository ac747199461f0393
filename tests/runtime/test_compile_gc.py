"""The cyclic garbage collector is paused while a kernel compiles (compiler.collector_paused)
and comes back as it was: on after a compile that fails too, still off if it was off, on only
after the last of several concurrent compiles."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium.compiler import compiler
from tritium.compiler import stages as stages_mod


@tritium.jit
def _scale(x_ptr, out_ptr, n, F: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) * F, mask=m)


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[list[bool]]:
    """``gc.isenabled()`` as each compile's passes stage saw it (fresh cache: every launch
    compiles); the collector's state is restored after the test."""
    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    states: list[bool] = []
    passes = stages_mod.STAGES["passes"]

    def spy(c, module):  # noqa: ANN001, ANN202
        states.append(gc.isenabled())
        return passes(c, module)

    monkeypatch.setitem(stages_mod.STAGES, "passes", spy)
    was = gc.isenabled()
    yield states
    gc.enable() if was else gc.disable()


def _launch(rng: np.random.Generator, factor: float) -> None:
    x = rng.standard_normal(37).astype(np.float32)
    out = np.full(37, np.nan, np.float32)
    _scale[(1,)](x, out, 37, F=factor, BLOCK=64)
    np.testing.assert_allclose(out, x.astype(np.float64) * factor, rtol=1e-6)


def test_paused_during_a_compile_and_restored(seen, rng) -> None:
    gc.enable()
    _launch(rng, 2.0)
    assert seen == [False] and gc.isenabled()
    gc.disable()
    _launch(rng, 3.0)
    assert seen == [False, False] and not gc.isenabled()  # left off, as it was


def test_restored_after_a_failing_compile(seen, monkeypatch, rng) -> None:
    gc.enable()

    def broken(c, module):  # noqa: ANN001, ANN202
        raise RuntimeError("stage failed")

    monkeypatch.setitem(stages_mod.STAGES, "passes", broken)
    with pytest.raises(RuntimeError, match="stage failed"):
        _launch(rng, 4.0)
    assert gc.isenabled()


def test_concurrent_compiles_restore_once_all_end(seen) -> None:
    gc.enable()
    inside = threading.Barrier(2)
    states: list[bool] = []

    def compile_while_another_runs() -> None:
        with compiler.collector_paused():
            inside.wait(timeout=30)  # both compiles in progress
            inside.wait(timeout=30)  # the other one has checked the state too
            states.append(gc.isenabled())

    threads = [threading.Thread(target=compile_while_another_runs) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert states == [False, False]
    assert gc.isenabled()
