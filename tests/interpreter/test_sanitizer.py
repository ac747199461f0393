"""Sanitizer findings: out-of-bounds, int32 overflow, races; and no false positives."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import tritium.language as tl
from tritium.errors import SanitizerError
from tritium.interpreter import run_kernel

from ._helpers import poison


def line_of(fn, text: str) -> str:
    """``file:line`` of the first line of ``fn`` containing ``text``."""
    lines, start = inspect.getsourcelines(fn)
    for i, line in enumerate(lines):
        if text in line:
            return f"{inspect.getsourcefile(fn)}:{start + i}"
    raise AssertionError(text)


def unmasked_load_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)  # no mask: the last program reads past the end
    tl.store(out_ptr + offs, x, mask=offs < n)


@pytest.mark.parametrize("vectorize", [True, False])
def test_out_of_bounds_load(rng, vectorize):
    x = rng.standard_normal(100).astype(np.float32)
    out = poison(128, np.float32)
    with pytest.raises(SanitizerError) as err:
        run_kernel(
            unmasked_load_kernel,
            (2,),
            dict(x_ptr=x, out_ptr=out, n=100, BLOCK=64),
            vectorize=vectorize,
        )
    e = err.value
    assert e.kind == "out-of-bounds"
    msg = str(e)
    assert line_of(unmasked_load_kernel, "x = tl.load") in msg
    assert "'x_ptr'" in msg and "program (1, 0, 0)" in msg and "lane 36" in msg
    assert "element offset 100" in msg and "[0, 100) elements" in msg


def store_2d_kernel(out_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    rm = tl.arange(0, BM)[:, None]
    rn = tl.arange(0, BN)[None, :]
    tl.store(out_ptr + rm * N + rn, 1.0, mask=rm < M)  # forgot the mask on columns


def test_out_of_bounds_store_2d():
    out = np.zeros((4, 6), np.float32)
    with pytest.raises(SanitizerError) as err:
        run_kernel(store_2d_kernel, (1,), dict(out_ptr=out, M=4, N=6, BM=4, BN=8))
    msg = str(err.value)
    assert err.value.kind == "out-of-bounds"
    assert line_of(store_2d_kernel, "tl.store(") in msg and "'out_ptr'" in msg
    assert "lane 30 (index (3, 6))" in msg and "element offset 24" in msg
    assert (out == 0).all()  # nothing was written: the bad store is refused as a whole


def negative_offset_kernel(x_ptr, out_ptr):
    offs = tl.arange(0, 4) - 1
    tl.store(out_ptr + offs + 1, tl.load(x_ptr + offs))


def test_negative_offset():
    x = np.ones(4, np.float32)
    with pytest.raises(SanitizerError, match=r"element offset -1, valid range \[0, 4\)"):
        run_kernel(negative_offset_kernel, (1,), dict(x_ptr=x, out_ptr=np.zeros(4, np.float32)))


def masked_lanes_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    far = tl.where(offs < n, offs, 10**9)  # masked-off lanes point far away: never touched
    tl.store(out_ptr + far, tl.load(x_ptr + far, mask=offs < n) + 1, mask=offs < n)


def test_masked_lanes_are_not_checked(rng):
    x = rng.standard_normal(50).astype(np.float32)
    out = poison(50, np.float32)
    run_kernel(masked_lanes_kernel, (2,), dict(x_ptr=x, out_ptr=out, n=50, BLOCK=32), sanitize=True)
    np.testing.assert_array_equal(out, x + 1)


def overflow_kernel(x_ptr, out_ptr, row, stride, BLOCK: tl.constexpr):
    cols = tl.arange(0, BLOCK)
    start = row * stride  # 4 * 2**30 wraps to 0 in int32: an in-bounds, wrong address
    tl.store(out_ptr + cols, tl.load(x_ptr + start + cols))


def test_int32_overflow_feeding_a_pointer(rng):
    x = rng.standard_normal(16).astype(np.float32)
    out = poison(16, np.float32)
    args = dict(x_ptr=x, out_ptr=out, row=4, stride=2**30, BLOCK=16)
    with pytest.raises(SanitizerError) as err:
        run_kernel(overflow_kernel, (1,), args, sanitize=True)
    e = err.value
    assert e.kind == "int32 overflow"
    msg = str(e)
    assert line_of(overflow_kernel, "start = row * stride") in msg
    assert line_of(overflow_kernel, "tl.load(") in msg
    assert "4294967296" in msg and "'x_ptr'" in msg and "program (0, 0, 0)" in msg
    run_kernel(overflow_kernel, (1,), args)  # without the sanitizer: silently wraps
    np.testing.assert_array_equal(out, x)


def hash_kernel(out_ptr, seed, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    h = (i + seed) * 1103515245 + 12345  # overflows, but is data, not an address
    big = i * 2**28  # overflows only in lanes the mask turns off
    tl.store(out_ptr + i, h, mask=big >= 0)
    tl.store(out_ptr + big // 2**28, h, mask=i < 8)


def test_overflow_not_reported_for_data_or_masked_lanes():
    out = poison(16, np.int32)
    run_kernel(hash_kernel, (1,), dict(out_ptr=out, seed=12345, BLOCK=16), sanitize=True)
    i = np.arange(16, dtype=np.int64)
    ref = (((i + 12345) * 1103515245 + 12345 + 2**31) % 2**32 - 2**31).astype(np.int32)
    np.testing.assert_array_equal(out[:8], ref[:8])
    assert (out[8:] == 0x5A).all()  # i * 2**28 wrapped negative there: masked off


def write_race_kernel(out_ptr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs + pid * (BLOCK - 1), pid + offs)  # neighbours overlap by one


@pytest.mark.parametrize("vectorize", [True, False])
def test_write_write_race(vectorize):
    out = np.zeros(32, np.int32)
    with pytest.raises(SanitizerError) as err:
        run_kernel(
            write_race_kernel, (3,), dict(out_ptr=out, BLOCK=8), sanitize=True, vectorize=vectorize
        )
    e = err.value
    assert e.kind == "race"
    msg = str(e)
    assert "(0, 0, 0)" in msg and "(1, 0, 0)" in msg and "'out_ptr'" in msg
    assert line_of(write_race_kernel, "tl.store(") in msg


def shift_kernel(x_ptr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    v = tl.load(x_ptr + offs + 1)  # reads the neighbour's first element
    tl.store(x_ptr + offs, v)


def test_read_write_race():
    x = np.arange(33, dtype=np.float32)
    with pytest.raises(SanitizerError) as err:
        run_kernel(shift_kernel, (4,), dict(x_ptr=x, BLOCK=8), sanitize=True)
    e = err.value
    assert e.kind == "race"
    msg = str(e)
    assert "program (0, 0, 0) reads" in msg and "program (1, 0, 0)" in msg
    assert line_of(shift_kernel, "v = tl.load") in msg
    assert line_of(shift_kernel, "tl.store(") in msg


def benign_kernel(x_ptr, flag_ptr, count_ptr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    v = tl.load(x_ptr + offs)
    tl.store(x_ptr + offs, v * 2)  # own region, read then written by the same program
    tl.store(flag_ptr, 1)  # every program writes the same value ...
    tl.device_assert(tl.load(flag_ptr) == 1)  # ... so reading it back is not a race either
    tl.atomic_add(count_ptr, 1)  # atomics never race


def test_no_false_race_positives(rng):
    x = rng.standard_normal(32).astype(np.float32)
    ref = x * 2
    flag = np.zeros(1, np.int32)
    count = np.zeros(1, np.int32)
    run_kernel(
        benign_kernel, (4,), dict(x_ptr=x, flag_ptr=flag, count_ptr=count, BLOCK=8), sanitize=True
    )
    np.testing.assert_array_equal(x, ref)
    assert flag[0] == 1 and count[0] == 4


def test_sanitize_from_environment(monkeypatch):
    monkeypatch.setenv("TRITIUM_SANITIZE", "1")
    with pytest.raises(SanitizerError, match="race"):
        run_kernel(write_race_kernel, (2,), dict(out_ptr=np.zeros(32, np.int32), BLOCK=8))


def test_pointer_outside_every_argument():
    def kernel(x_ptr):
        p = (x_ptr.to(tl.int64) + 2**40).to(tl.pointer_type(tl.float32))
        tl.load(p)

    # an unmapped address is an error in any case; with the sanitizer on, any address outside
    # the arguments is (test_foreign_pointers.py: mapped memory is followed otherwise)
    with pytest.raises(SanitizerError, match="not mapped memory of this process"):
        run_kernel(kernel, (1,), dict(x_ptr=np.zeros(4, np.float32)))
    with pytest.raises(SanitizerError, match="not inside the memory of any argument"):
        run_kernel(kernel, (1,), dict(x_ptr=np.zeros(4, np.float32)), sanitize=True)


def where_overflow_kernel(x_ptr, out_ptr, big, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    wrapped = i * big  # overflows for i >= 2
    safe = tl.where(i < 1, wrapped, i)  # ... but those lanes are not selected
    tl.store(out_ptr + i, tl.load(x_ptr + safe))


def test_where_selects_taint_per_lane(rng):
    x = rng.standard_normal(8).astype(np.float32)
    out = poison(8, np.float32)
    run_kernel(
        where_overflow_kernel, (1,), dict(x_ptr=x, out_ptr=out, big=2**30, BLOCK=8), sanitize=True
    )
    np.testing.assert_array_equal(out, x)


def pid_overflow_kernel(x_ptr, out_ptr, stride, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    start = pid * stride  # overflows in program 2 only
    tl.store(out_ptr + pid * BLOCK + tl.arange(0, BLOCK), tl.load(x_ptr + start % 16))


@pytest.mark.parametrize("vectorize", [True, False])
def test_overflow_names_the_program(vectorize):
    x = np.ones(16, np.float32)
    out = poison(3 * 4, np.float32)
    with pytest.raises(SanitizerError) as err:
        run_kernel(
            pid_overflow_kernel,
            (3,),
            dict(x_ptr=x, out_ptr=out, stride=2**30, BLOCK=4),
            sanitize=True,
            vectorize=vectorize,
        )
    assert err.value.kind == "int32 overflow"
    assert "program (2, 0, 0)" in str(err.value)
    assert line_of(pid_overflow_kernel, "start = pid * stride") in str(err.value)


def neighbour_kernel(x_ptr, y_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    tl.store(y_ptr + offs, tl.load(x_ptr + offs + N))  # x_ptr + N is y's memory, not x's


def test_bounds_follow_the_argument_a_pointer_derives_from():
    base = np.arange(16, dtype=np.float32)
    x, y = base[:8], base[8:]  # adjacent views of one array
    with pytest.raises(SanitizerError) as err:
        run_kernel(neighbour_kernel, (1,), dict(x_ptr=x, y_ptr=y, N=8))
    assert "'x_ptr'" in str(err.value) and "element offset 8" in str(err.value)
    assert "[0, 8) elements" in str(err.value)


def locked_sum_kernel(x_ptr, acc_ptr, lock_ptr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    s = tl.sum(tl.load(x_ptr + pid * BLOCK + tl.arange(0, BLOCK)), axis=0)
    while tl.atomic_cas(lock_ptr, 0, 1) == 1:
        pass
    tl.store(acc_ptr, tl.load(acc_ptr) + s)  # plain accesses inside the critical section
    tl.atomic_xchg(lock_ptr, 0)


def unlocked_sum_kernel(x_ptr, acc_ptr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    s = tl.sum(tl.load(x_ptr + pid * BLOCK + tl.arange(0, BLOCK)), axis=0)
    tl.store(acc_ptr, tl.load(acc_ptr) + s)


def test_lock_protected_accesses_are_not_races(rng):
    x = rng.integers(1, 10, 64).astype(np.int32)
    acc = np.zeros(1, np.int32)
    run_kernel(
        locked_sum_kernel,
        (4,),
        dict(x_ptr=x, acc_ptr=acc, lock_ptr=np.zeros(1, np.int32), BLOCK=16),
        sanitize=True,
    )
    assert acc[0] == x.sum()
    with pytest.raises(SanitizerError, match="race"):
        run_kernel(
            unlocked_sum_kernel,
            (4,),
            dict(x_ptr=x, acc_ptr=np.zeros(1, np.int32), BLOCK=16),
            sanitize=True,
        )


def test_tutorial_layer_norm_backward_is_clean(monkeypatch, rng):
    monkeypatch.setenv("TRITIUM_INTERPRET", "1")
    monkeypatch.setenv("TRITIUM_SANITIZE", "1")
    from tutorials import layer_norm

    M, N = 37, 64
    x = rng.standard_normal((M, N)).astype(np.float32)
    w = rng.standard_normal(N).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    y, mean, rstd = layer_norm.forward(x, w, b)
    dy = rng.standard_normal((M, N)).astype(np.float32)
    dx, dw, db = layer_norm.backward(dy, x, w, mean, rstd)
    np.testing.assert_allclose(db, dy.astype(np.float64).sum(0), rtol=1e-4, atol=1e-4)


def transposed_taint_kernel(x_ptr, out_ptr, big):
    rows = tl.arange(0, 2)[:, None]
    cols = tl.arange(0, 4)[None, :]
    off = rows * big * 2 + cols  # row 1 overflows
    t = tl.trans(off)  # [4, 2]: column 1 overflowed
    c = tl.arange(0, 2)[None, :]
    r = tl.arange(0, 4)[:, None]
    tl.store(out_ptr + r * 2 + c, tl.load(x_ptr + t, mask=c == 0, other=0.0), mask=c == 0)


def test_overflow_taint_follows_transposes():
    x = np.arange(8, dtype=np.float32)
    out = poison(8, np.float32)
    run_kernel(transposed_taint_kernel, (1,), dict(x_ptr=x, out_ptr=out, big=2**30), sanitize=True)
    np.testing.assert_array_equal(out[0::2], x[:4])


def block_ptr_oob_kernel(a_ptr, out_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    src = tl.make_block_ptr(a_ptr, (M, N), (N, 1), (0, 0), (BM, BN), (1, 0))
    x = tl.load(src, boundary_check=(0,))  # columns are not checked: N < BN reads past the end
    tl.store(out_ptr + tl.arange(0, BM)[:, None] * BN + tl.arange(0, BN)[None, :], x)


def test_block_pointer_without_boundary_check():
    a = np.ones((4, 6), np.float32)
    out = np.zeros((4, 8), np.float32)
    with pytest.raises(SanitizerError) as err:
        run_kernel(block_ptr_oob_kernel, (1,), dict(a_ptr=a, out_ptr=out, M=4, N=6, BM=4, BN=8))
    assert err.value.kind == "out-of-bounds" and "'a_ptr'" in str(err.value)
    assert "index (3, 6)" in str(err.value) and "element offset 24" in str(err.value)


def read_behind_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, offs * 10)
    prev = tl.load(x_ptr + tl.maximum(pid * BLOCK - 1, 0))  # the previous program's last element
    tl.store(out_ptr + pid, prev)


@pytest.mark.parametrize("vectorize", [True, False])
def test_race_on_a_value_an_earlier_program_wrote(vectorize):
    # one at a time, program 1 reads what program 0 already wrote: the values agree in this
    # run, but on parallel hardware program 1 may read first
    x = np.zeros(32, np.int32)
    with pytest.raises(SanitizerError) as err:
        run_kernel(
            read_behind_kernel,
            (4,),
            dict(x_ptr=x, out_ptr=np.zeros(4, np.int32), BLOCK=8),
            sanitize=True,
            vectorize=vectorize,
        )
    assert err.value.kind == "race" and "program (1, 0, 0) reads" in str(err.value)
