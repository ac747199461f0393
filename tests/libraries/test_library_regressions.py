"""Bugs in tritium that real libraries' own test suites found (``tools/run_libraries.py``),
each reduced to the smallest kernel that shows it, compiled and interpreted."""

from __future__ import annotations

import numpy as np

import tritium
import tritium.language as tl


@tritium.jit
def _gather_through_long_chain(x_ptr, out_ptr, N: tl.constexpr, STEPS: tl.constexpr):
    # Liger-Kernel's fused MoE router sorts 1024 expert ids with tl.sort and loads through the
    # result: thousands of ops lie between the pointer and tl.arange. The compiler's stride
    # analysis of a load's pointer recursed once per op and hit Python's recursion limit.
    idx = tl.arange(0, N)
    for _ in tl.static_range(STEPS):
        idx = (idx * 5 + 3) % N  # a permutation of 0..N-1 at every step (5 is odd, N = 2^k)
    tl.store(out_ptr + tl.arange(0, N), tl.load(x_ptr + idx))


def test_load_through_a_long_chain_of_index_ops(mode: str, rng: np.random.Generator) -> None:
    n, steps = 64, 700
    x = rng.standard_normal(n).astype(np.float32)
    out = np.full(n, np.nan, dtype=np.float32)
    idx = np.arange(n, dtype=np.int64)
    for _ in range(steps):
        idx = (idx * 5 + 3) % n
    _gather_through_long_chain[(1,)](x, out, n, steps)
    np.testing.assert_array_equal(out, x[idx])
