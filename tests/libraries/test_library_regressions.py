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


@tritium.jit
def _chunks_with_int64_offsets(x_ptr, out_ptr, NT, BT: tl.constexpr):
    # fla's chunked delta rule (chunk_delta_h.py) widens the loop variable, `i_t.to(tl.int64)`,
    # its HGRN and Based kernels a value computed from it, `(i_t * BT).to(tl.int64)`. Compiled,
    # both are scalar tensors; the interpreter gave Python ints ("'int' object has no attribute
    # 'to'").
    offs = tl.arange(0, BT)
    for i_t in range(NT):
        base = (i_t * BT).to(tl.int64)
        tl.static_assert(base.dtype == tl.int64)
        x = tl.load(x_ptr + base + offs)
        tl.store(out_ptr + base + offs, x * (i_t + 1))
    for j in tl.range(0, NT, 2):
        base = j.to(tl.int64) * BT
        tl.store(out_ptr + base + offs, tl.load(out_ptr + base + offs) + j.to(tl.float32))


def test_loop_variable_to_dtype(mode: str, rng: np.random.Generator) -> None:
    nt, bt = 5, 16
    x = rng.standard_normal(nt * bt).astype(np.float32)
    out = np.full(nt * bt, np.nan, dtype=np.float32)
    _chunks_with_int64_offsets[(1,)](x, out, nt, bt)
    scale = np.repeat(np.arange(1, nt + 1), bt).astype(np.float64)
    add = np.repeat([i if i % 2 == 0 else 0 for i in range(nt)], bt)
    np.testing.assert_allclose(out, x.astype(np.float64) * scale + add, rtol=1e-6, atol=1e-5)


@tritium.jit
def _cast_to_output_type(x_ptr, y32_ptr, y16_ptr, N: tl.constexpr):
    # fla's kernels cast a result to the output's element type with fp_downcast_rounding="rtne"
    # whatever that type is; Triton returns a same-type cast unchanged before it checks the
    # rounding, and the interpreter raised "applies only to float downcasts" for fp32 -> fp32.
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs)
    tl.store(y32_ptr + offs, x.to(y32_ptr.dtype.element_ty, fp_downcast_rounding="rtne"))
    tl.store(y16_ptr + offs, tl.cast(x, y16_ptr.dtype.element_ty, fp_downcast_rounding="rtz"))


def test_same_type_cast_with_rounding(mode: str, rng: np.random.Generator) -> None:
    n = 64
    x = rng.standard_normal(n).astype(np.float32)
    y32 = np.full(n, np.nan, dtype=np.float32)
    y16 = np.full(n, np.nan, dtype=np.float16)
    _cast_to_output_type[(1,)](x, y32, y16, n)
    np.testing.assert_array_equal(y32, x)
    # Round toward zero: the fp16 value never exceeds |x| and is within one fp16 ulp of it.
    ref = x.astype(np.float64)
    assert np.all(np.abs(y16.astype(np.float64)) <= np.abs(ref))
    np.testing.assert_allclose(y16.astype(np.float64), ref, rtol=2**-10, atol=0)
