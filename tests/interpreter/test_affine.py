"""The known-affine fast paths (``tritium.interpreter.affine``): loop bodies whose loads and
stores are contiguous under prefix masks run as slices.  Every result must equal the NumPy
reference in both execution modes, with and without the sanitizer (which takes the general
path), and every access the fast path cannot prove in bounds must still be reported."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import tritium.language as tl
from tritium.errors import SanitizerError
from tritium.interpreter import run_kernel
from tritium.interpreter.affine import prefix_compare
from tritium.interpreter.itypes import I32, I64
from tritium.interpreter.tile import Tile

from ._helpers import BF16, poison


def mask_loop_kernel(in_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in range(0, n, BLOCK):
        m = i + offs < n
        x = tl.load(in_ptr + i + offs, mask=m, other=0)
        tl.store(out_ptr + i + offs, x * 2 + 1, mask=m)


def _ref_loop(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind in "iu":
        return (x.astype(np.int64) * 2 + 1).astype(x.dtype)  # wraps like the kernel's int math
    # floats: x * 2 is exact, the + 1 rounds once (in float64 for float64)
    wide = np.float64 if x.dtype == np.float64 else np.float32
    return (x.astype(wide) * 2 + 1).astype(x.dtype)


@pytest.mark.parametrize("sanitize", [False, True])
@pytest.mark.parametrize("n", [1, 31, 32, 33, 100])
def test_mask_loop_fp32(run, rng, n, sanitize):
    x = rng.standard_normal(n).astype(np.float32)
    out = poison(n, np.float32)
    run(mask_loop_kernel, (1,), sanitize=sanitize, in_ptr=x, out_ptr=out, n=n, BLOCK=32)
    np.testing.assert_array_equal(out, x * np.float32(2) + np.float32(1))


@pytest.mark.parametrize(
    "dtype",
    [np.float16, BF16, ml_dtypes.float8_e4m3fn, np.float64, np.int8, np.int32, np.int64, np.uint16],
)
def test_mask_loop_dtypes(run, rng, dtype):
    n = 77
    if np.dtype(dtype).kind in "iu":
        x = rng.integers(-100 if np.dtype(dtype).kind == "i" else 0, 100, n).astype(dtype)
    else:
        x = rng.uniform(-4, 4, n).astype(dtype)
    out = poison(n, dtype)
    run(mask_loop_kernel, (1,), in_ptr=x, out_ptr=out, n=n, BLOCK=16)
    ref = _ref_loop(x)
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(out.view(np.uint8), ref.view(np.uint8))  # bit for bit


def other_kernel(in_ptr, out_ptr, n, other, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(in_ptr + offs, mask=offs < n, other=other)
    tl.store(out_ptr + offs, x)


def test_tail_takes_other(run, rng):
    x = rng.standard_normal(13).astype(np.float32)
    out = poison(16, np.float32)
    run(other_kernel, (1,), in_ptr=x, out_ptr=out, n=13, other=-2.5, BLOCK=16)
    np.testing.assert_array_equal(out, np.concatenate([x, np.full(3, -2.5, np.float32)]))
    out = poison(16, np.float32)
    run(other_kernel, (1,), in_ptr=x, out_ptr=out, n=0, other=7.0, BLOCK=16)
    np.testing.assert_array_equal(out, np.full(16, 7.0, np.float32))


def compare_kernel(out_ptr, k, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK) + 3
    r = (offs < k).to(tl.int32)
    r += (offs <= k).to(tl.int32) * 2
    r += (k > offs).to(tl.int32) * 4
    r += (k >= offs).to(tl.int32) * 8
    r += (offs > k).to(tl.int32) * 16
    r += (offs - 5 < k).to(tl.int32) * 32
    r += (offs < 10).to(tl.int32) * 64
    tl.store(out_ptr + tl.arange(0, BLOCK), r)


@pytest.mark.parametrize("k", [-50, 0, 3, 7, 18, 19, 40])
def test_prefix_compares(run, k):
    out = poison(16, np.int32)
    run(compare_kernel, (1,), out_ptr=out, k=k, BLOCK=16)
    o = np.arange(16) + 3
    ref = (
        (o < k) * 1
        + (o <= k) * 2
        + (k > o) * 4
        + (k >= o) * 8
        + (o > k) * 16
        + (o - 5 < k) * 32
        + (o < 10) * 64
    )
    np.testing.assert_array_equal(out, ref.astype(np.int32))


def wrap_kernel(out_ptr, base, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK) + base  # int32: wraps around past 2**31 - 1
    tl.store(out_ptr + tl.arange(0, BLOCK), offs)
    tl.store(out_ptr + BLOCK + tl.arange(0, BLOCK), (offs < 0).to(tl.int32))


def test_int32_wrap_is_not_affine(run):
    out = poison(32, np.int32)
    base = 2**31 - 10
    run(wrap_kernel, (1,), out_ptr=out, base=base, BLOCK=16)
    ref = (np.arange(16, dtype=np.int64) + base).astype(np.int32)  # wraps
    np.testing.assert_array_equal(out[:16], ref)
    np.testing.assert_array_equal(out[16:], (ref < 0).astype(np.int32))


def test_affine_records_only_exact_tiles():
    offs = Tile(np.arange(4, dtype=np.int32)[None], I32, None, None, 0)
    m = prefix_compare(offs, 2, "lt")
    assert m is not None and m.aff == 2 and m.a.tolist() == [[True, True, False, False]]
    assert prefix_compare(offs, 2, "gt") is None  # a suffix
    big = Tile(np.array([2**40], np.int64), I64)
    m = prefix_compare(offs, big, "lt")  # int32 tile, int64 scalar: exact either way
    assert m is not None and m.aff == 4


def wide_offsets_kernel(in_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK).to(tl.int64)
    for i in range(0, n, BLOCK):
        o = i + offs
        tl.store(out_ptr + o, tl.load(in_ptr + o, mask=o < n) - 0.5, mask=o < n)


def test_widened_offsets(run, rng):
    x = rng.standard_normal(45).astype(np.float64)
    out = poison(45, np.float64)
    run(wide_offsets_kernel, (1,), in_ptr=x, out_ptr=out, n=45, BLOCK=16)
    np.testing.assert_array_equal(out, x - 0.5)


def test_widening_keeps_affine_narrowing_drops_it():
    from tritium.interpreter.engine import InterpreterEngine
    from tritium.interpreter.itypes import I8
    from tritium.interpreter.memory import Memory

    eng = InterpreterEngine(Memory(), (1, 1, 1), False)
    offs = Tile(np.arange(5, 9, dtype=np.int32)[None], I32, None, None, 5)
    assert eng.convert(offs, I64).aff == 5
    assert eng.convert(offs, I8).aff is None


def uniform_store_kernel(src_ptr, out_ptr, flag_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    pid = tl.program_id(0)
    tl.store(out_ptr + offs, tl.load(src_ptr + offs) + 1.0)  # the same block for every program
    if tl.load(flag_ptr + pid) > 0:  # diverges: the vectorized attempt is undone and rerun
        tl.store(out_ptr + BLOCK + pid * BLOCK + offs, tl.load(out_ptr + offs))


def test_uniform_block_and_rollback(run, rng):
    src = rng.standard_normal(8).astype(np.float32)
    out = poison(8 * 5, np.float32)
    flag = np.array([1, 0, 1, 1], np.int32)
    run(uniform_store_kernel, (4,), src_ptr=src, out_ptr=out, flag_ptr=flag, BLOCK=8)
    blocks = out.reshape(5, 8)
    np.testing.assert_array_equal(blocks[0], src + np.float32(1))
    for p in range(4):
        if flag[p]:
            np.testing.assert_array_equal(blocks[1 + p], src + np.float32(1))
        else:
            assert np.isnan(blocks[1 + p]).all()


def loop_oob_kernel(in_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in range(0, n, BLOCK):
        x = tl.load(in_ptr + i + offs)  # no mask: the last block reads past the end
        tl.store(out_ptr + i + offs, x, mask=i + offs < n)


@pytest.mark.parametrize("sanitize", [False, True])
def test_loop_out_of_bounds_is_reported(run, rng, sanitize):
    x = rng.standard_normal(40).astype(np.float32)
    out = poison(40, np.float32)
    with pytest.raises(SanitizerError) as err:
        run(loop_oob_kernel, (1,), sanitize=sanitize, in_ptr=x, out_ptr=out, n=40, BLOCK=16)
    msg = str(err.value)
    assert err.value.kind == "out-of-bounds" and "'in_ptr'" in msg
    assert "lane 8" in msg and "element offset 40" in msg and "[0, 40) elements" in msg
    np.testing.assert_array_equal(out[:32], x[:32])  # the first two blocks were stored


def before_start_kernel(in_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(in_ptr + offs - 2, mask=offs < BLOCK - 1))


def test_before_start_is_reported(run):
    x = np.ones(8, np.float32)
    with pytest.raises(SanitizerError, match=r"element offset -2, valid range \[0, 8\)"):
        run(before_start_kernel, (1,), in_ptr=x, out_ptr=np.zeros(8, np.float32), BLOCK=8)


def copy_loop_kernel(src_ptr, dst_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in range(0, n, BLOCK):
        tl.store(
            dst_ptr + i + offs, tl.load(src_ptr + i + offs, mask=i + offs < n), mask=i + offs < n
        )


def test_read_only_store_is_refused(run, rng):
    x = rng.standard_normal(20).astype(np.float32)
    ro = np.zeros(20, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        run(copy_loop_kernel, (1,), src_ptr=x, dst_ptr=ro, n=20, BLOCK=8)


def test_aliasing_arguments(run, rng):
    # src and dst views of one array, dst one element ahead: each block reads what the
    # previous block wrote (loads must copy, not view, the memory)
    a = rng.standard_normal(33).astype(np.float32)
    ref = a.copy()
    for i in range(0, 32, 8):
        ref[1 + i : 1 + i + 8] = ref[i : i + 8].copy()
    run(copy_loop_kernel, (1,), src_ptr=a[:32], dst_ptr=a[1:], n=32, BLOCK=8)
    np.testing.assert_array_equal(a, ref)


def race_kernel(out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.program_id(0).to(tl.float32) + offs.to(tl.float32))


def test_sanitizer_still_reports_races():
    out = np.zeros(8, np.float32)
    with pytest.raises(SanitizerError, match="race"):
        run_kernel(race_kernel, (2,), dict(out_ptr=out, BLOCK=8), sanitize=True)
