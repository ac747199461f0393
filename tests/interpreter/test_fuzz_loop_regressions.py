"""Kernels reduced from the loop fuzz campaigns (``tools/fuzz.py --family loops``), each run
compiled and interpreted (with loop replay on and off, in both execution modes) against a
NumPy reference of tile-at-a-time semantics: a tile load reads all its lanes before the
store that uses it writes any."""

from __future__ import annotations

import numpy as np
import pytest

import tritium.language as tl
from tests.frontend.helpers import jit

pytest.importorskip("tritium.backends.cpu")


@jit
def shifted_update(buf_ptr, n, SHIFT: tl.constexpr, BLOCK: tl.constexpr):
    # fuzz seed 2000025 (block 32), reduced: each tile stores over the upper lanes of the
    # tile it just loaded (and, in the loop, the next iteration loads what this one stored)
    offs = tl.arange(0, BLOCK)
    for i in range(n):
        w = tl.load(buf_ptr + 64 + i * BLOCK + offs - SHIFT)
        tl.store(buf_ptr + 64 + i * BLOCK + offs, w * 0.5 + 1.0)


def _reference(buf: np.ndarray, n: int, shift: int, block: int) -> np.ndarray:
    out = buf.copy()
    for i in range(n):
        at = 64 + i * block
        w = out[at - shift : at - shift + block].copy()  # the whole tile, then the store
        out[at : at + block] = w * np.float32(0.5) + np.float32(1.0)
    return out


def _compiled(buf: np.ndarray, n: int, shift: int, block: int) -> None:
    from tritium.backends import get_backend
    from tritium.frontend import ast_to_ttir
    from tritium.passes import optimize_ttir

    backend = get_backend("cpu")
    const = {"SHIFT": shift, "BLOCK": block}
    ttir = optimize_ttir(ast_to_ttir(shifted_update, {"buf_ptr": "*fp32", "n": "i32"}, const, {}))
    backend.load(backend.compile(ttir, {})).launch((1, 1, 1), [buf.ctypes.data, n])


@pytest.mark.parametrize("block, shift", [(32, 16), (32, 1), (64, 8), (16, 3)])
@pytest.mark.parametrize("n", [1, 17])
def test_store_over_the_lanes_just_loaded_compiled(rng, n, block, shift):
    buf = rng.standard_normal(64 + 17 * 64 + 64).astype(np.float32)
    want = _reference(buf, n, shift, block)
    _compiled(buf, n, shift, block)
    np.testing.assert_array_equal(buf, want)


@pytest.mark.parametrize("replay", ["1", "0"])
@pytest.mark.parametrize("block, shift", [(32, 16), (16, 3)])
def test_store_over_the_lanes_just_loaded_interpreted(run, rng, monkeypatch, replay, block, shift):
    monkeypatch.setenv("TRITIUM_INTERPRET_REPLAY", replay)
    buf = rng.standard_normal(64 + 17 * 64 + 64).astype(np.float32)
    want = _reference(buf, 17, shift, block)
    run(shifted_update, (1,), buf_ptr=buf, n=17, SHIFT=shift, BLOCK=block)
    np.testing.assert_array_equal(buf, want)
