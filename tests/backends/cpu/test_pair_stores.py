"""Two stores of every other element into one buffer through two pointers (Inductor's
rotary kernel: ``out_ptr0 + 2*x`` and ``out_ptr1 + 2*x`` with ``out_ptr1 = out_ptr0 + 1``),
which the CPU backend writes as interleaved contiguous vectors when the addresses are
adjacent at run time (``stride_pairs.lower_store_pair``), and as two scatters otherwise. Compiled
and interpreted, fresh random inputs, poisoned outputs, masked tails, values that read the
buffer being written."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.backends.cpu import memory


@triton.jit
def _rotary(x_ptr, cos_ptr, sin_ptr, out0, out1, n, HALF: tl.constexpr, BLOCK: tl.constexpr):
    x = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = x < n
    c = tl.load(cos_ptr + x % HALF, m).to(tl.float32)
    s = tl.load(sin_ptr + x % HALF, m).to(tl.float32)
    re = tl.load(x_ptr + 2 * x, m).to(tl.float32)
    im = tl.load(x_ptr + 1 + 2 * x, m).to(tl.float32)
    tl.store(out0 + 2 * x, (re * c - im * s).to(out0.dtype.element_ty), m)
    tl.store(out1 + 2 * x, (re * s + im * c).to(out1.dtype.element_ty), m)


@triton.jit
def _swap_in_place(buf0, buf1, BLOCK: tl.constexpr):
    # reads the buffer it writes: every load must see the values from before both stores
    x = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    a = tl.load(buf0 + 2 * x)
    c = tl.load(buf1 + 2 * x)
    tl.store(buf0 + 2 * x, c * 2)
    tl.store(buf1 + 2 * x, a + c)


def _reference(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, n: int) -> np.ndarray:
    re, im = x[0 : 2 * n : 2].astype(np.float64), x[1 : 2 * n : 2].astype(np.float64)
    c = np.resize(cos.astype(np.float64), n)
    s = np.resize(sin.astype(np.float64), n)
    out = np.empty(2 * n)
    out[0::2], out[1::2] = re * c - im * s, re * s + im * c
    return out


@pytest.mark.parametrize("n", [1024, 1000, 37])
@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16])
def test_adjacent_outputs(mode: str, rng: np.random.Generator, n: int, dtype) -> None:
    half = 16
    x = rng.standard_normal(2 * n).astype(dtype)
    cos, sin = (rng.standard_normal(half).astype(dtype) for _ in range(2))
    out = np.full(2 * n + 1, np.nan, dtype)  # one poisoned element past the end
    _rotary[(triton.cdiv(n, 128),)](x, cos, sin, out, out[1:], n, HALF=half, BLOCK=128)
    tol = 1e-6 if dtype == np.float32 else 2e-2
    want = _reference(x, cos, sin, n)
    np.testing.assert_allclose(out[:-1].astype(np.float64), want, rtol=tol, atol=tol)
    assert np.isnan(float(out[-1]))


@pytest.mark.parametrize("n", [512, 300])
def test_separate_outputs(mode: str, rng: np.random.Generator, n: int) -> None:
    x = rng.standard_normal(2 * n).astype(np.float32)
    cos, sin = (rng.standard_normal(16).astype(np.float32) for _ in range(2))
    a = np.full(2 * n, np.nan, np.float32)
    b = np.full(2 * n, np.nan, np.float32)
    _rotary[(triton.cdiv(n, 128),)](x, cos, sin, a, b, n, HALF=16, BLOCK=128)
    want = _reference(x, cos, sin, n)
    np.testing.assert_allclose(a[0::2], want[0::2], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b[0::2], want[1::2], rtol=1e-6, atol=1e-6)
    assert np.isnan(a[1::2]).all() and np.isnan(b[1::2]).all()


def test_in_place(mode: str, rng: np.random.Generator) -> None:
    buf = rng.standard_normal(2 * 256 + 1).astype(np.float32)
    a, c = buf[0:-1:2].copy(), buf[1::2].copy()
    _swap_in_place[(2,)](buf, buf[1:], BLOCK=128)
    np.testing.assert_array_equal(buf[0:-1:2], c * 2)
    np.testing.assert_array_equal(buf[1::2], a + c)


def test_the_paired_path_is_taken(monkeypatch: pytest.MonkeyPatch, rng) -> None:
    monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    monkeypatch.setenv("TRITIUM_ALWAYS_COMPILE", "1")
    calls = []
    real = memory.lower_store_pair
    monkeypatch.setattr(memory, "lower_store_pair", lambda *a: calls.append(real(*a)) or calls[-1])
    x = rng.standard_normal(512).astype(np.float32)
    cos, sin = (rng.standard_normal(8).astype(np.float32) for _ in range(2))
    out = np.full(512, np.nan, np.float32)
    _rotary[(4,)](x, cos, sin, out, out[1:], 256, HALF=8, BLOCK=64)  # its own specialization
    assert calls.count(True) == 1, calls
    np.testing.assert_allclose(out, _reference(x, cos, sin, 256), rtol=1e-6, atol=1e-6)
