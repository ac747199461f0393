"""Kernel size does not turn into Python recursion in the CPU backend, and a bad thread count
is a clear error."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tritium
import tritium.language as tl

pytest.importorskip("tritium.backends.cpu")


@tritium.jit
def long_chain(x_ptr, out_ptr, N: tl.constexpr):
    offs = tl.arange(0, 16)
    acc = tl.load(x_ptr + offs)
    for _ in tl.static_range(N):
        acc = acc * 0.5 + 1.0
    tl.store(out_ptr + offs, acc)


def test_static_range_600_fuses_without_recursion_error() -> None:
    rng = np.random.default_rng(int(os.environ.get("TRITIUM_TEST_SEED", "0")))
    x = rng.standard_normal(16).astype(np.float32)
    out = np.full(16, np.nan, np.float32)
    long_chain[(1,)](x, out, N=600)  # 1,200 fused elementwise ops in one chain
    want = x.astype(np.float64)
    for _ in range(600):
        want = want * 0.5 + 1.0
    np.testing.assert_allclose(out, want, rtol=1e-5)


def test_bad_thread_count_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv("TRITIUM_NUM_THREADS", "abc")
    long_chain.cache.clear()
    x = np.ones(16, np.float32)
    with pytest.raises(ValueError, match="TRITIUM_NUM_THREADS must be a positive integer"):
        long_chain[(1,)](x, np.empty(16, np.float32), N=3)
