"""A @jit call whose tuple argument mixes tensors with compile-time values (None, a
constexpr): the tensors are passed, the rest specializes the callee (Triton's test_serialize
does this; it used to be a CompilationError), and ``.dtype`` of a Python number bound in a
compiled kernel (Triton's test_store_constant)."""

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
    np.testing.assert_allclose(out, np.float64(s) * 3 + x.astype(np.float64), rtol=1e-6, atol=1e-6)


@triton.jit
def _literal_dtypes(out_ptr, BLOCK: tl.constexpr):
    i, f, big = 1, 2.5, 2**40
    tl.static_assert(i.dtype == tl.int32 and f.dtype == tl.float32 and big.dtype == tl.int64)
    tl.store(out_ptr + tl.arange(0, BLOCK), tl.full([BLOCK], value=f, dtype=f.dtype) + i)


def test_dtype_of_a_python_number_in_a_compiled_kernel(rng, monkeypatch):
    # Triton's test_store_constant: `value = 1; tl.full(..., dtype=value.dtype)`
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setenv("TRITIUM_INTERPRET", "0")
    out = np.full(8, np.nan, np.float32)
    _literal_dtypes[(1,)](out, BLOCK=8)
    np.testing.assert_array_equal(out, np.full(8, 3.5, np.float32))
