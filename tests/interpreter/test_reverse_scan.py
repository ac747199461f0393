"""A reverse ``associative_scan`` with a non-commutative combine: the scan of the flipped tile,
flipped back, the running value on the left (Triton's semantics), compiled and interpreted."""

from __future__ import annotations

import numpy as np
import pytest

import tritium
import tritium.language as tl


@tritium.jit
def _affine(a1, b1, a2, b2):
    return a1 * a2, b1 * a2 + b2  # x -> x * a + b, composed left to right


@tritium.jit
def _reverse_recurrence(a_ptr, b_ptr, out_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    _, z = tl.associative_scan(
        (tl.load(a_ptr + offs), tl.load(b_ptr + offs)), 0, _affine, reverse=True
    )
    tl.store(out_ptr + offs, z)


@pytest.mark.parametrize("mode", ["compiled", "interpreted"])
def test_reverse_linear_recurrence(mode, rng, monkeypatch) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setenv("TRITIUM_INTERPRET", "1" if mode == "interpreted" else "0")
    a = rng.integers(-1, 2, 32).astype(np.int32)
    b = rng.integers(-1, 2, 32).astype(np.int32)
    out = np.full(32, -99, np.int32)
    _reverse_recurrence[(1,)](a, b, out, N=32)
    want = np.empty(32, np.int64)
    acc_a, acc_b = None, None
    for i in reversed(range(32)):  # fold from the end: acc (+) x[i]
        if acc_a is None:
            acc_a, acc_b = int(a[i]), int(b[i])
        else:
            acc_a, acc_b = acc_a * int(a[i]), acc_b * int(a[i]) + int(b[i])
        want[i] = acc_b
    np.testing.assert_array_equal(out, want)
