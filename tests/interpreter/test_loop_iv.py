"""Carried pointers in replayed loops (``tritium.interpreter.loop_iv``): a pointer advanced by
a loop-invariant step every iteration (``p += BLOCK``, ``a_ptrs += BLOCK_K * stride_ak``,
``tl.advance``) lets the loop's loads and stores run for many iterations at once.  The results
must be those of the NumPy reference (and bit for bit those without replay), steps that are not
fixed must fall back, and errors inside batched iterations must name the user's line and the
iteration."""

from __future__ import annotations

import re
import sys

import ml_dtypes
import numpy as np
import pytest

import tritium.language as tl
from tritium.errors import SanitizerError
from tritium.interpreter import loops, run_kernel

from ._helpers import BF16, poison

#: Under a tracer (coverage, a debugger) nothing is replayed; the results are still checked.
TRACED = sys.gettrace() is not None


def _batched(fn, *args, **kwargs) -> int:
    """Iterations run in batches while ``fn(*args, **kwargs)`` ran."""
    before = loops.STATS["batched"]
    fn(*args, **kwargs)
    return loops.STATS["batched"] - before


def _both(monkeypatch, run, kernel, grid, outs, **args):
    """Run ``kernel`` with replay off, then on: (batched iterations, outputs) of each, the
    outputs poisoned before each run."""
    got = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("TRITIUM_INTERPRET_REPLAY", flag)
        bufs = {name: poison(shape, dt) for name, (shape, dt) in outs.items()}
        got[flag] = (_batched(run, kernel, grid, **args, **bufs), bufs)
    assert got["0"][0] == 0
    for name in outs:
        np.testing.assert_array_equal(got["0"][1][name], got["1"][1][name])
    return got["1"]


def walk(in_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    p = in_ptr + offs
    q = out_ptr + offs
    for i in range(0, n, BLOCK):
        m = i + offs < n
        x = tl.load(p, mask=m, other=0.0)
        tl.store(q, x * 2.0 + 1.0, mask=m)
        p += BLOCK
        q += BLOCK


@pytest.mark.parametrize("dtype", [np.float32, BF16, ml_dtypes.float8_e4m3fn, np.float64], ids=str)
def test_pointer_walk_matches_reference(run, rng, dtype):
    n, B = 16 * 37 + 5, 16
    x = rng.uniform(-2, 2, n).astype(dtype)
    out = poison(n, dtype)
    count = _batched(run, walk, (1,), in_ptr=x, out_ptr=out, n=n, BLOCK=B)
    assert count > 0 or TRACED
    wide = np.float64 if dtype == np.float64 else np.float32
    ref = (x.astype(wide) * 2 + 1).astype(dtype)
    np.testing.assert_array_equal(out.astype(np.float64), ref.astype(np.float64))


def pointer_sum(in_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    p = in_ptr + offs
    acc = tl.zeros((BLOCK,), dtype=tl.float32)
    for i in range(0, n, BLOCK):
        acc += tl.load(p, mask=i + offs < n, other=0.0)
        p += BLOCK
    tl.store(out_ptr + offs, acc)


@pytest.mark.parametrize("batch_elements", [1 << 18, 40])  # one batch, or batches of 5
def test_carried_pointer_and_accumulator(run, rng, monkeypatch, batch_elements):
    monkeypatch.setattr(loops, "_BATCH_ELEMENTS", batch_elements)
    n, B = 8 * 40 + 3, 8
    x = rng.standard_normal(n).astype(np.float32)
    count, outs = _both(
        monkeypatch, run, pointer_sum, (1,), {"out_ptr": (B, np.float32)}, in_ptr=x, n=n, BLOCK=B
    )
    assert count > 0 or TRACED
    ref = np.zeros(B, np.float32)  # fp32 sums in the loop's order
    for row in np.concatenate([x, np.zeros(-n % B, np.float32)]).reshape(-1, B):
        ref = ref + row
    np.testing.assert_array_equal(outs["out_ptr"], ref)


def tutorial_matmul(
    a_ptr, b_ptr, c_ptr, M, N, K, stride_am, stride_ak, stride_bk, stride_bn,
    BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    num_n = tl.cdiv(N, BN)
    offs_am = ((pid // num_n) * BM + tl.arange(0, BM)) % M
    offs_bn = ((pid % num_n) * BN + tl.arange(0, BN)) % N
    offs_k = tl.arange(0, BK)
    a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak)
    b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BK)):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BK, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BK, other=0.0)
        acc = tl.dot(a, b, acc)
        a_ptrs += BK * stride_ak
        b_ptrs += BK * stride_bk
    rm = (pid // num_n) * BM + tl.arange(0, BM)
    rn = (pid % num_n) * BN + tl.arange(0, BN)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


@pytest.mark.parametrize("dtype", [np.float16, BF16], ids=str)
@pytest.mark.parametrize("programs", [1, 4])
def test_tutorial_matmul(run, rng, monkeypatch, dtype, programs):
    M = N = 8 * (1 if programs == 1 else 2)
    K = 8 * 21 + 3  # the last K block is partial
    a = rng.standard_normal((M, K)).astype(dtype)
    bt = rng.standard_normal((N, K)).astype(dtype)
    b = bt.T  # strided: stride_bk is 1
    count, outs = _both(
        monkeypatch, run, tutorial_matmul, (programs,), {"c_ptr": ((M, N), np.float32)},
        a_ptr=a, b_ptr=b, M=M, N=N, K=K, stride_am=K, stride_ak=1, stride_bk=1, stride_bn=K,
        BM=8, BN=8, BK=8,
    )  # fmt: skip
    assert count > 0 or TRACED or programs > 1  # several programs run together: no batches
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(outs["c_ptr"], ref, rtol=1e-4, atol=1e-4)


def int8_matmul(a_ptr, b_ptr, c_ptr, K, BK: tl.constexpr):
    offs = tl.arange(0, 8)
    offs_k = tl.arange(0, BK)
    a_ptrs = a_ptr + offs[:, None] * K + offs_k[None, :]
    b_ptrs = b_ptr + offs_k[:, None] * 8 + offs[None, :]
    acc = tl.zeros((8, 8), dtype=tl.int32)
    for _ in range(0, K, BK):
        acc = tl.dot(tl.load(a_ptrs), tl.load(b_ptrs), acc)
        a_ptrs += BK
        b_ptrs += BK * 8
    tl.store(c_ptr + offs[:, None] * 8 + offs[None, :], acc)


def test_int8_dot_accumulated_in_a_loop(run, rng, monkeypatch):
    K = 16 * 24
    a = rng.integers(-128, 128, (8, K)).astype(np.int8)
    b = rng.integers(-128, 128, (K, 8)).astype(np.int8)
    count, outs = _both(
        monkeypatch, run, int8_matmul, (1,), {"c_ptr": ((8, 8), np.int32)}, a_ptr=a, b_ptr=b,
        K=K, BK=16,
    )  # fmt: skip
    assert count > 0 or TRACED
    np.testing.assert_array_equal(outs["c_ptr"], a.astype(np.int64) @ b.astype(np.int64))


def block_walk(in_ptr, out_ptr, R, C, BR: tl.constexpr, BC: tl.constexpr):
    src = tl.make_block_ptr(in_ptr, (R, C), (C, 1), (0, 0), (BR, BC), (1, 0))
    dst = tl.make_block_ptr(out_ptr, (R, C), (C, 1), (0, 0), (BR, BC), (1, 0))
    acc = tl.zeros((BR, BC), dtype=tl.float32)
    for _ in range(0, C, BC):
        x = tl.load(src, boundary_check=(0, 1), padding_option="zero")
        acc += x
        tl.store(dst, x * 3.0, boundary_check=(0, 1))
        src = tl.advance(src, (0, BC))
        dst = tl.advance(dst, (0, BC))
    o = tl.arange(0, BR)[:, None] * BC + tl.arange(0, BC)[None, :]
    tl.store(out_ptr + R * C + o, acc)


def test_block_pointers_advanced(run, rng, monkeypatch):
    R, C, BR, BC = 6, 4 * 30 + 3, 8, 4  # rows and the last column block past the edge
    x = rng.standard_normal((R, C)).astype(np.float32)
    count, outs = _both(
        monkeypatch, run, block_walk, (1,), {"out_ptr": (R * C + BR * BC, np.float32)},
        in_ptr=x, R=R, C=C, BR=BR, BC=BC,
    )  # fmt: skip
    assert count > 0 or TRACED
    out = outs["out_ptr"]
    np.testing.assert_array_equal(out[: R * C].reshape(R, C), x * np.float32(3))
    padded = np.zeros((BR, -(-C // BC) * BC), np.float32)
    padded[:R, :C] = x
    ref = np.zeros((BR, BC), np.float32)
    for j in range(0, C, BC):
        ref = ref + padded[:, j : j + BC]
    np.testing.assert_array_equal(out[R * C :].reshape(BR, BC), ref)


def int_walk(out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    h = offs * 7 + 2147483000  # int32: wraps around within a few iterations
    for i in range(0, n):
        tl.store(out_ptr + i * BLOCK + offs, h)
        h += 300
        h = h - 1


def test_integer_induction_variable_wraps_as_int32(run, monkeypatch):
    n, B = 40, 4
    count, outs = _both(
        monkeypatch, run, int_walk, (1,), {"out_ptr": (n * B, np.int32)}, n=n, BLOCK=B
    )
    assert count > 0 or TRACED
    ref = (np.arange(B, dtype=np.int64) * 7 + 2147483000)[None] + 299 * np.arange(n)[:, None]
    ref = ((ref + 2**31) % 2**32 - 2**31).astype(np.int32)
    np.testing.assert_array_equal(outs["out_ptr"], ref.reshape(-1))


def trailing_copy(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    p = x_ptr + offs
    acc = tl.zeros((BLOCK,), tl.float32)
    last = p
    for _ in range(0, n):
        acc += tl.load(p)
        last = p  # the pointer of this iteration, kept after the loop
        p += BLOCK
    tl.store(out_ptr + offs, acc + tl.load(last) * 1000.0)


@pytest.mark.parametrize("batch_elements", [1 << 18, 12])  # one batch, or batches of 3
def test_name_bound_to_the_carried_pointer_keeps_the_last_iteration(
    run, rng, monkeypatch, batch_elements
):
    monkeypatch.setattr(loops, "_BATCH_ELEMENTS", batch_elements)
    n, B = 30, 4
    x = rng.standard_normal(n * B).astype(np.float32)
    out = poison(B, np.float32)
    count = _batched(run, trailing_copy, (1,), x_ptr=x, out_ptr=out, n=n, BLOCK=B)
    assert count > 0 or TRACED
    ref = np.zeros(B, np.float32)
    for row in x.reshape(n, B):
        ref = ref + row
    np.testing.assert_array_equal(out, ref + x[-B:] * np.float32(1000))


def row_walk(x_ptr, out_ptr, n_rows, stride, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    row_ptr = x_ptr  # a scalar pointer advanced by a run-time stride
    out = out_ptr
    for _ in range(0, n_rows):
        tl.store(out + offs, tl.load(row_ptr + offs) - 1.0)
        row_ptr += stride
        out += BLOCK


def test_scalar_pointer_advanced_by_a_runtime_stride(run, rng):
    rows, B, stride = 24, 8, 13
    x = rng.standard_normal(rows * stride).astype(np.float32)
    out = poison(rows * B, np.float32)
    count = _batched(run, row_walk, (1,), x_ptr=x, out_ptr=out, n_rows=rows, stride=stride, BLOCK=B)
    assert count > 0 or TRACED
    ref = x.reshape(rows, stride)[:, :B] - np.float32(1)
    np.testing.assert_array_equal(out.reshape(rows, B), ref)


def varying_step(in_ptr, out_ptr, step_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    p = in_ptr + offs
    for i in range(0, n):
        tl.store(out_ptr + i * BLOCK + offs, tl.load(p))
        p += tl.where(i % 3 == 0, BLOCK, 2 * BLOCK)  # the step depends on the iteration
        p += tl.load(step_ptr + i)  # and on memory


def branchy_step(in_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    p = in_ptr + offs
    for i in range(0, n):
        tl.store(out_ptr + i * BLOCK + offs, tl.load(p))
        if i < 20:  # Python control flow on the loop variable
            p += BLOCK
        else:
            p += 2 * BLOCK


def test_steps_that_change_fall_back(run, rng):
    n, B = 30, 4
    steps = rng.integers(0, 3, n).astype(np.int32)
    pos, off = [], 0
    for i in range(n):
        pos.append(off)
        off += (B if i % 3 == 0 else 2 * B) + int(steps[i])
    x = rng.standard_normal(off + B).astype(np.float32)
    out = poison(n * B, np.float32)
    count = _batched(run, varying_step, (1,), in_ptr=x, out_ptr=out, step_ptr=steps, n=n, BLOCK=B)
    assert count == 0
    np.testing.assert_array_equal(out.reshape(n, B), np.stack([x[o : o + B] for o in pos]))

    x = rng.standard_normal(B * (20 + 2 * (n - 20))).astype(np.float32)
    out = poison(n * B, np.float32)
    count = _batched(run, branchy_step, (1,), in_ptr=x, out_ptr=out, n=n, BLOCK=B)
    assert count == 0
    pos = [B * i if i <= 20 else B * (20 + 2 * (i - 20)) for i in range(n)]
    np.testing.assert_array_equal(out.reshape(n, B), np.stack([x[o : o + B] for o in pos]))


def shift_chain(p, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    q = p + offs
    for _ in range(0, n - BLOCK, BLOCK):
        tl.store(q + BLOCK, tl.load(q) * 2.0 + 1.0)  # reads the previous iteration's store
        q += BLOCK


def test_carried_pointer_iterations_depending_through_memory(run, rng):
    n, B = 8 * 24, 8
    x = rng.standard_normal(n).astype(np.float32)
    ref = x.copy()
    for i in range(0, n - B, B):
        ref[i + B : i + 2 * B] = ref[i : i + B] * np.float32(2) + np.float32(1)
    count = _batched(run, shift_chain, (1,), p=x, n=n, BLOCK=B)
    assert count == 0
    np.testing.assert_array_equal(x, ref)


def overrun(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    p = x_ptr + offs
    q = out_ptr + offs
    for i in range(0, n + BLOCK, BLOCK):  # noqa: B007 (the report names it)
        tl.store(q, tl.load(p))  # no mask: the last iteration reads past the end
        p += BLOCK
        q += BLOCK


def test_out_of_bounds_in_a_batch_names_the_line_and_the_iteration(run):
    n, B = 8 * 24, 8
    x = np.random.default_rng(5).standard_normal(n + B).astype(np.float32)[:n]
    out = poison(n + 2 * B, np.float32)
    with pytest.raises(SanitizerError, match="out-of-bounds") as info:
        run(overrun, (1,), x_ptr=x, out_ptr=out, n=n, BLOCK=B)
    msg = str(info.value)
    line = overrun.__code__.co_firstlineno + 5
    assert re.search(rf"test_loop_iv\.py:{line}\b", msg), msg
    assert f"loop iteration i={n}:" in msg, msg
    np.testing.assert_array_equal(out[:n], x)  # every iteration before the failing one ran
    assert np.isnan(out[n:]).all()


def checked(x_ptr, n, limit, BLOCK: tl.constexpr):
    p = x_ptr + tl.arange(0, BLOCK)
    for j in range(0, n, BLOCK):  # noqa: B007 (the report names it)
        tl.device_assert(tl.load(p) < limit, "too large")
        p += BLOCK


def test_device_assert_in_a_batch_names_the_iteration(run, rng):
    n, B = 8 * 30, 8
    x = rng.uniform(0, 1, n).astype(np.float32)
    x[8 * 23 + 5] = 5.0
    with pytest.raises(AssertionError, match="too large") as info:
        run(checked, (1,), x_ptr=x, n=n, limit=2.0, BLOCK=B)
    assert f"loop iteration j={8 * 23}:" in str(info.value)
    line = checked.__code__.co_firstlineno + 3
    assert f"test_loop_iv.py:{line}" in str(info.value)


def test_nested_loops_name_both_iterations():
    def nested(x_ptr, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        for r in range(0, 3):
            p = x_ptr + r * 4 * BLOCK + offs
            for c in range(0, 20):  # noqa: B007 (the report names it)
                tl.load(p)
                p += BLOCK

    x = np.zeros(2 * 4 * 8 + 8 * 20 - 4, np.float32)  # r=2, c=19 reads 4 elements past the end
    with pytest.raises(SanitizerError, match="out-of-bounds") as info:
        run_kernel(nested, (1,), {"x_ptr": x, "BLOCK": 8})
    assert "loop iteration r=2, c=19:" in str(info.value)


def walk_sanitized(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    p = x_ptr + offs
    for _ in range(0, n, BLOCK):
        tl.store(out_ptr + offs, tl.load(p))  # every program writes the same place
        p += BLOCK


def test_sanitizer_still_reports_races(run, rng):
    n, B = 8 * 20, 8
    x = rng.standard_normal(n).astype(np.float32)
    out = poison(B, np.float32)
    with pytest.raises(SanitizerError, match="race"):
        run(walk_sanitized, (2,), sanitize=True, x_ptr=x, out_ptr=out, n=n, BLOCK=B)


def printing_walk(x_ptr, n, BLOCK: tl.constexpr):
    p = x_ptr + tl.arange(0, BLOCK)
    for i in range(0, n, BLOCK):
        print("at", i, tl.sum(tl.load(p), axis=0))
        p += BLOCK


def test_print_in_a_carried_pointer_loop(capsys):
    x = np.arange(8 * 20, dtype=np.float32)
    count = _batched(run_kernel, printing_walk, (1,), {"x_ptr": x, "n": x.size, "BLOCK": 8})
    assert count == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("at")]
    assert lines == [f"at {i} {float(x[i : i + 8].sum())}" for i in range(0, x.size, 8)]
