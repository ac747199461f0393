"""Float atomic_min/atomic_max with -0.0 and +0.0, compiled and interpreted.

The compiled lowering does a float min/max as an integer atomic on the bits, chosen by sign;
choosing by ``v >= 0`` sent -0.0 (the bits of INT_MIN) down the signed path, where its min
overwrote any negative value in memory (found by tools/fuzz.py, seed 400044 at BLOCK=32)."""

from __future__ import annotations

import numpy as np
import pytest

import tritium
import tritium.language as tl

N = 64


@tritium.jit
def _minmax(mem_min, mem_max, old_min, old_max, val_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    v = tl.load(val_ptr + offs)
    tl.store(old_min + offs, tl.atomic_min(mem_min + offs, v))
    tl.store(old_max + offs, tl.atomic_max(mem_max + offs, v))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_atomic_min_max_with_signed_zeros(mode: str, dtype, rng: np.random.Generator) -> None:
    mem = rng.standard_normal(N).astype(dtype)
    val = rng.standard_normal(N).astype(dtype)
    val[: N // 2] = np.where(rng.random(N // 2) < 0.5, -0.0, 0.0)  # signed zeros ...
    mem[N // 2 :] = np.where(rng.random(N // 2) < 0.5, -0.0, 0.0)  # ... on either side
    mem_min, mem_max = mem.copy(), mem.copy()
    old_min = np.full(N, np.nan, dtype)
    old_max = np.full(N, np.nan, dtype)
    _minmax[(1,)](mem_min, mem_max, old_min, old_max, val, N=N)
    m64, v64 = mem.astype(np.float64), val.astype(np.float64)
    # -0.0 == 0.0, so the comparison does not care which zero a tie keeps
    np.testing.assert_array_equal(mem_min, np.minimum(m64, v64))
    np.testing.assert_array_equal(mem_max, np.maximum(m64, v64))
    np.testing.assert_array_equal(old_min, mem)
    np.testing.assert_array_equal(old_max, mem)
