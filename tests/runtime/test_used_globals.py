"""The cache key covers the global values a kernel and its helpers read (Triton's
``used_global_vals``), and changing one after compiling raises, as in Triton."""

from __future__ import annotations

import types

import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium.runtime.jit import dependencies_key

cfg = types.ModuleType("cfg")
cfg.SCALE = 2.0
OFFSETS = (1, 2)
NP_SCALE = np.float32(0.5)
PLAIN = 3


def helper(x):
    return x * PLAIN


@tritium.jit
def reads_globals(src, dst):
    offs = tl.arange(0, 16)
    v = tl.load(src + offs) * cfg.SCALE + OFFSETS[1] + NP_SCALE
    tl.store(dst + offs, helper(v))


def _key_text() -> str:
    return "\n".join(dependencies_key(reads_globals))


@pytest.mark.parametrize(
    "name, holder, new",
    [
        ("SCALE", cfg, 3.0),
        ("OFFSETS", None, (1, 5)),
        ("NP_SCALE", None, np.float32(0.25)),
        ("PLAIN", None, 4),  # read by a plain helper function, not by the kernel itself
    ],
)
def test_each_global_value_is_in_the_key(name, holder, new, monkeypatch) -> None:
    before = _key_text()
    monkeypatch.setattr(holder if holder is not None else __import__(__name__), name, new)
    assert _key_text() != before


def test_a_parameter_shadowing_a_global_is_not_a_global() -> None:
    @tritium.jit
    def shadow(PLAIN, dst):  # noqa: N803 - the point is the name
        tl.store(dst, PLAIN)

    assert not any(part.startswith("PLAIN =") for part in dependencies_key(shadow))


def test_changing_a_global_after_compiling_raises(fake_stages, monkeypatch) -> None:
    reads_globals.cache.clear()
    reads_globals._cache_key = None
    x, out = np.ones(16, np.float32), np.zeros(16, np.float32)
    reads_globals[(1,)](x, out)
    reads_globals[(1,)](x, out)  # unchanged: fine
    monkeypatch.setattr(cfg, "SCALE", 4.0)
    with pytest.raises(RuntimeError, match="SCALE changed from 2.0 to 4.0"):
        reads_globals[(1,)](x, out)
    monkeypatch.undo()
    reads_globals[(1,)](x, out)  # back to the compiled value: fine again
