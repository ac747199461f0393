"""A @jit call whose tuple argument mixes tensors with compile-time values (None, a
constexpr): the tensors are passed, the rest specializes the callee (Triton's test_serialize
does this; it used to be a CompilationError)."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl


@triton.jit
def _callee(out_ptr, t):
    tl.static_assert(t[1] is None)
    tl.store(out_ptr + tl.arange(0, 8), t[0] * t[2][1] + tl.load(t[2][0] + tl.arange(0, 8)))


@triton.jit
def _caller(out_ptr, t):
    _callee(out_ptr, t)  # the launch's tuple, its constants kept constant


@pytest.mark.parametrize("interpret", ["0", "1"])
def test_tuple_of_tensors_and_constants_passed_to_a_jit_function(rng, monkeypatch, interpret):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setenv("TRITIUM_INTERPRET", interpret)
    x = rng.standard_normal(8).astype(np.float32)
    out = np.full(8, np.nan, np.float32)
    s = float(rng.standard_normal())
    _caller[(1,)](out, (s, None, (x, tl.constexpr(3))))
    np.testing.assert_allclose(out, np.float64(s) * 3 + x.astype(np.float64), rtol=1e-6)
