"""bf16 arithmetic on CPUs without bf16 instructions: LLVM calls compiler-rt's
``__truncsfbf2``/``__truncdfbf2`` there, which tritium defines for its JIT (backends/cpu/target.py).
Without them a kernel with bf16 arithmetic aborted the process on AVX2 machines."""

from __future__ import annotations

import os
import zlib

import ml_dtypes
import numpy as np
import pytest

import tritium
import tritium.language as tl

BF16 = np.dtype(ml_dtypes.bfloat16)


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """Fresh inputs per run; TRITIUM_TEST_SEED (in the report header) replays them."""
    test_id = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng([int(os.environ.get("TRITIUM_TEST_SEED", "0")), test_id])


@tritium.jit
def _bf16_ops(x_ptr, y_ptr, d_ptr, out_ptr, out64_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    y = tl.load(y_ptr + offs, mask=m)
    tl.store(out_ptr + offs, x * y + x, mask=m)
    tl.store(out64_ptr + offs, tl.load(d_ptr + offs, mask=m).to(tl.bfloat16), mask=m)


@pytest.mark.parametrize("features", ["", "-avx512bf16,-avxneconvert"])
def test_bf16_arithmetic_rounds_like_numpy(features, monkeypatch, rng) -> None:
    if features:
        prev = os.environ.get("TRITIUM_CPU_FEATURES", "")
        monkeypatch.setenv("TRITIUM_CPU_FEATURES", ",".join(f for f in (prev, features) if f))
    _bf16_ops.cache.clear()  # launches key on the arguments, not on the features
    n = 1000
    x = (rng.standard_normal(n) * 3).astype(BF16)
    y = (rng.standard_normal(n) * 3).astype(BF16)
    d = rng.standard_normal(n) * 10.0 ** rng.integers(-40, 40, n)  # subnormal bf16 too
    d[:4] = [np.nan, np.inf, -np.inf, 3.5e38]  # NaN stays NaN; overflow rounds to infinity
    out = np.full(n, np.nan, BF16)
    out64 = np.full(n, np.nan, BF16)
    _bf16_ops[(tritium.cdiv(n, 128),)](x, y, d, out, out64, n, BLOCK=128)
    # Triton's bf16 arithmetic: each op in f32, rounded to bf16 (nearest even) after it.
    xf, yf = x.astype(np.float32), y.astype(np.float32)
    ref = ((xf * yf).astype(BF16).astype(np.float32) + xf).astype(BF16)
    np.testing.assert_array_equal(out.view(np.uint16), ref.view(np.uint16))
    with np.errstate(over="ignore"):
        ref64 = d.astype(BF16)  # ml_dtypes rounds f64 -> bf16 once
    np.testing.assert_array_equal(np.isnan(out64.astype(np.float32)), np.isnan(d))
    ok = ~np.isnan(d)
    np.testing.assert_array_equal(out64.view(np.uint16)[ok], ref64.view(np.uint16)[ok])


@tritium.jit
def _f32_to_bf16(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m).to(tl.bfloat16), mask=m)


def test_f32_subnormals_round_to_bf16_subnormals(rng) -> None:
    """AVX512-BF16's conversion flushes subnormal inputs to zero; tritium must not."""
    n = 1000
    x = (rng.standard_normal(n) * 2.0 ** rng.integers(-149, -110, n)).astype(np.float32)
    out = np.full(n, np.nan, BF16)
    _f32_to_bf16[(tritium.cdiv(n, 256),)](x, out, n, BLOCK=256)
    np.testing.assert_array_equal(out.view(np.uint16), x.astype(BF16).view(np.uint16))
    assert np.count_nonzero(out.astype(np.float32)) > n // 2  # the inputs were subnormal
