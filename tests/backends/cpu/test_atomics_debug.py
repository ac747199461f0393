"""Atomics, tt.print, tt.assert, integer division guards."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.cpu.irgen import (
    F32,
    I32,
    KernelBuilder,
    compile_kernel,
    launch,
    poison,
    ptr,
)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_atomic_add_histogram(threads: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every program adds its tile into 8 bins: contention across threads must not lose
    updates; masked-off lanes must not add."""
    monkeypatch.setenv("TRITIUM_NUM_THREADS", threads)
    block, bins = 64, 8
    kb = KernelBuilder("hist", [ptr(I32), ptr(I32), ptr(F32), ptr(I32), I32])
    keys_ptr, counts_ptr, fsum_ptr, old_ptr, n = kb.args
    offs = kb.binary(
        "arith.addi",
        kb.splat(kb.binary("arith.muli", kb.pid(0), kb.const(block, I32)), [block]),
        kb.arange(0, block),
    )
    mask = kb.cmp("arith.cmpi", "slt", offs, kb.splat(n, [block]))
    keys = kb.load(kb.addptr(kb.splat(keys_ptr, [block]), offs), mask)
    ones = kb.splat(kb.const(1, I32), [block])
    old = kb.op(
        "tt.atomic_rmw",
        [kb.addptr(kb.splat(counts_ptr, [block]), keys), ones, mask],
        ones.type,
        rmw_op="add",
        sem="acq_rel",
        scope="gpu",
    )
    kb.store(kb.addptr(kb.splat(old_ptr, [block]), offs), old, mask)
    halves = kb.splat(kb.const(0.5, F32), [block])
    kb.op(
        "tt.atomic_rmw",
        [kb.addptr(kb.splat(fsum_ptr, [block]), keys), halves, mask],
        halves.type,
        rmw_op="fadd",
        sem="relaxed",
        scope="gpu",
    )
    kernel, _ = compile_kernel(kb)
    n_elems = 64 * 50 - 7
    rng = np.random.default_rng(0)
    keys = rng.integers(0, bins, n_elems).astype(np.int32)
    counts = np.zeros(bins, np.int32)
    fsum = np.zeros(bins, np.float32)
    old = poison(n_elems, np.int32)
    launch(kernel, (50,), keys, counts, fsum, old, n_elems)
    ref = np.bincount(keys, minlength=bins)
    np.testing.assert_array_equal(counts, ref)
    np.testing.assert_allclose(fsum, ref * 0.5)
    # the old values of one bin are a permutation of 0..count-1
    for b in range(bins):
        assert sorted(old[keys == b]) == list(range(ref[b]))


def test_atomic_cas_scalar_lock_counter() -> None:
    kb = KernelBuilder("cas", [ptr(I32), ptr(I32)])
    flag_ptr, out_ptr = kb.args
    # each program tries to swap 0 -> pid+1; exactly one wins
    pid1 = kb.binary("arith.addi", kb.pid(0), kb.const(1, I32))
    old = kb.op(
        "tt.atomic_cas", [flag_ptr, kb.const(0, I32), pid1], I32, sem="acq_rel", scope="gpu"
    )
    kb.store(kb.addptr(out_ptr, kb.pid(0)), old)
    kernel, _ = compile_kernel(kb)
    flag = np.zeros(1, np.int32)
    out = poison(16, np.int32)
    launch(kernel, (16,), flag, out)
    assert 1 <= flag[0] <= 16
    assert (out == 0).sum() == 1 and out[flag[0] - 1] == 0


def test_print_from_kernel(capfd: pytest.CaptureFixture[str]) -> None:
    kb = KernelBuilder("printer", [ptr(F32)])
    (x_ptr,) = kb.args
    x = kb.load(kb.addptr(kb.splat(x_ptr, [4]), kb.arange(0, 4)))
    kb.op("tt.print", [x], prefix=" x: ", hex=False, is_signed=[True])
    kb.op("tt.print", [kb.pid(0)], prefix=" pid is: ", hex=False, is_signed=[True])
    kernel, _ = compile_kernel(kb)
    launch(kernel, (1,), np.array([1.5, 2.5, -3.0, 4.0], np.float32))
    out = capfd.readouterr().out
    assert "pid (0, 0, 0) idx (2) x: -3.000000" in out
    assert "pid (0, 0, 0) idx () pid is: 0" in out


def test_assert_raises_instead_of_crashing() -> None:
    kb = KernelBuilder("checked", [ptr(I32), I32])
    x_ptr, limit = kb.args
    x = kb.load(kb.addptr(kb.splat(x_ptr, [16]), kb.arange(0, 16)))
    ok = kb.cmp("arith.cmpi", "slt", x, kb.splat(limit, [16]))
    kb.op("tt.assert", [ok], message="x < limit")
    kernel, art = compile_kernel(kb)
    x = np.arange(16, dtype=np.int32)
    launch(kernel, (4,), x, 100)  # passes
    with pytest.raises(AssertionError, match="x < limit"):
        launch(kernel, (4,), x, 5)
    launch(kernel, (4,), x, 100)  # the error state does not stick


def test_integer_division_by_zero_does_not_crash() -> None:
    n = 16
    kb = KernelBuilder("divs", [ptr(I32), ptr(I32), ptr(I32), ptr(I32)])
    a_ptr, b_ptr, q_ptr, r_ptr = kb.args
    offs = kb.arange(0, n)
    a = kb.load(kb.addptr(kb.splat(a_ptr, [n]), offs))
    b = kb.load(kb.addptr(kb.splat(b_ptr, [n]), offs))
    kb.store(kb.addptr(kb.splat(q_ptr, [n]), offs), kb.binary("arith.divsi", a, b))
    kb.store(kb.addptr(kb.splat(r_ptr, [n]), offs), kb.binary("arith.remsi", a, b))
    kernel, _ = compile_kernel(kb)
    rng = np.random.default_rng(4)
    a = rng.integers(-1000, 1000, n).astype(np.int32)
    b = rng.integers(-20, 20, n).astype(np.int32)
    b[:3] = 0
    a[3], b[3] = np.iinfo(np.int32).min, -1
    q, r = poison(n, np.int32), poison(n, np.int32)
    launch(kernel, (1,), a, b, q, r)
    ok = b != 0
    ok[3] = False
    ref_q = np.trunc(a[ok].astype(np.float64) / b[ok]).astype(np.int32)
    np.testing.assert_array_equal(q[ok], ref_q)
    np.testing.assert_array_equal(r[ok], a[ok] - ref_q * b[ok])
    assert q[3] == np.iinfo(np.int32).min and r[3] == 0


def test_print_hex_and_small_floats(capfd: pytest.CaptureFixture[str]) -> None:
    from tests.backends.cpu.irgen import BF16

    kb = KernelBuilder("printer2", [ptr(F32)])
    (x_ptr,) = kb.args
    x = kb.load(kb.addptr(kb.splat(x_ptr, [2]), kb.arange(0, 2)))
    kb.op("tt.print", [x], prefix=" bits: ", hex=True, is_signed=[True])
    kb.op(
        "tt.print",
        [kb.op("arith.truncf", [x], x.type.__class__(x.type.shape, BF16))],
        prefix=" bf: ",
        hex=False,
        is_signed=[True],
    )
    kernel, _ = compile_kernel(kb)
    launch(kernel, (1,), np.array([1.0, -2.5], np.float32))
    out = capfd.readouterr().out
    assert "idx (0) bits: 0x3f800000" in out
    assert "idx (1) bf: -2.500000" in out


# a constant divisor is lowered to a plain division (no zero / -1 patching): the patched path
# stays for 0 and -1, and an unsigned divisor with the top bit set is not mistaken for -1
@pytest.mark.parametrize("d", [7, -3, 1, 16, -(2**31), 2**31 - 1, 0, -1, 0x80000001 - 2**32])
def test_integer_division_by_constants(d: int) -> None:
    n = 64
    kb = KernelBuilder("divc", [ptr(I32), ptr(I32), ptr(I32), ptr(I32), ptr(I32)])
    a_ptr, q_ptr, r_ptr, uq_ptr, ur_ptr = kb.args
    offs = kb.arange(0, n)
    a = kb.load(kb.addptr(kb.splat(a_ptr, [n]), offs))
    c = kb.splat(kb.const(d, I32), [n])
    for name, out in zip(("divsi", "remsi", "divui", "remui"), kb.args[1:], strict=True):
        kb.store(kb.addptr(kb.splat(out, [n]), offs), kb.binary(f"arith.{name}", a, c))
    kernel, _ = compile_kernel(kb)
    rng = np.random.default_rng(int(d) & 0xFFFF)
    a = rng.integers(-(2**31), 2**31, n, dtype=np.int64).astype(np.int32)
    a[:3] = [np.iinfo(np.int32).min, -1, np.iinfo(np.int32).max]
    outs = [poison(n, np.int32) for _ in range(4)]
    launch(kernel, (1,), a, *outs)
    q, r, uq, ur = outs
    a64 = a.astype(np.int64)
    if d not in (0, -1):
        ref_q = np.sign(a64) * np.sign(d) * (np.abs(a64) // abs(d))  # C's truncation
        np.testing.assert_array_equal(q.astype(np.int64), ref_q)
        np.testing.assert_array_equal(r.astype(np.int64), a64 - ref_q * d)
    elif d == -1:
        np.testing.assert_array_equal(q, -a)  # wraps at INT_MIN
        np.testing.assert_array_equal(r, 0)
    else:
        np.testing.assert_array_equal(q, 0)
        np.testing.assert_array_equal(r, 0)
    ua, ud = a.view(np.uint32).astype(np.uint64), d & 0xFFFFFFFF
    if ud:
        np.testing.assert_array_equal(uq.view(np.uint32), ua // ud)
        np.testing.assert_array_equal(ur.view(np.uint32), ua % ud)
    else:
        np.testing.assert_array_equal(uq, 0)
        np.testing.assert_array_equal(ur, 0)


def test_integer_division_by_run_time_divisors_is_exact() -> None:
    # vectors of i32 divide in doubles (elementwise._divide_in_doubles): full-range operands,
    # quotients just below and at integers, the extremes, and the patched divisors 0 and -1
    n = 256
    kb = KernelBuilder("divr", [ptr(I32)] * 6)
    a_ptr, b_ptr = kb.args[:2]
    offs = kb.arange(0, n)
    a = kb.load(kb.addptr(kb.splat(a_ptr, [n]), offs))
    d = kb.load(kb.addptr(kb.splat(b_ptr, [n]), offs))
    for name, out in zip(("divsi", "remsi", "divui", "remui"), kb.args[2:], strict=True):
        kb.store(kb.addptr(kb.splat(out, [n]), offs), kb.binary(f"arith.{name}", a, d))
    kernel, _ = compile_kernel(kb)
    rng = np.random.default_rng(11)
    lo, hi = np.iinfo(np.int32).min, np.iinfo(np.int32).max
    a = rng.integers(lo, hi + 1, n, dtype=np.int64)
    d = rng.integers(lo, hi + 1, n, dtype=np.int64)
    d[: n // 2] >>= rng.integers(0, 31, n // 2)  # divisors of every size
    q = rng.integers(-(2**20), 2**20, n // 4)
    a[: n // 4] = np.clip(q * d[: n // 4] + rng.integers(-1, 2, n // 4), lo, hi)  # near integers
    a[-8:] = [lo, lo, hi, hi, lo, -1, 0, hi]
    d[-8:] = [-1, 1, -1, hi, lo, lo, 0, 1]
    a, d = a.astype(np.int32), d.astype(np.int32)
    outs = [poison(n, np.int32) for _ in range(4)]
    launch(kernel, (1,), a, d, *outs)
    sq, sr, uq, ur = outs
    a64, d64 = a.astype(np.int64), d.astype(np.int64)
    ok = (d64 != 0) & (d64 != -1)
    ref_q = np.sign(a64[ok]) * np.sign(d64[ok]) * (np.abs(a64[ok]) // np.abs(d64[ok]))
    np.testing.assert_array_equal(sq[ok].astype(np.int64), ref_q)
    np.testing.assert_array_equal(sr[ok].astype(np.int64), a64[ok] - ref_q * d64[ok])
    np.testing.assert_array_equal(sq[d64 == -1], -a[d64 == -1])  # wraps at INT_MIN
    np.testing.assert_array_equal(sr[~ok], 0)
    np.testing.assert_array_equal(sq[d64 == 0], 0)
    ua, ud = a.view(np.uint32).astype(np.uint64), d.view(np.uint32).astype(np.uint64)
    nz = ud != 0
    np.testing.assert_array_equal(uq.view(np.uint32)[nz], ua[nz] // ud[nz])
    np.testing.assert_array_equal(ur.view(np.uint32)[nz], ua[nz] % ud[nz])
    np.testing.assert_array_equal(uq[~nz], 0)
    np.testing.assert_array_equal(ur[~nz], 0)
