"""Record-and-replay of loop bodies (``tritium.interpreter.loops``): replayed iterations give
the NumPy reference's results in both execution modes, loops whose Python control flow reads
tile values are not replayed, errors raised in a replayed iteration name the user's line,
and the sanitizer, ``print`` and the loop variable behave as without replay."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

import tritium.language as tl
from tritium.errors import SanitizerError
from tritium.interpreter import loops, run_kernel

from ._helpers import BF16, poison

#: Under a tracer (coverage, a debugger) nothing is replayed; the results are still checked.
TRACED = sys.gettrace() is not None


def _replayed(fn, *args, **kwargs) -> int:
    """Iterations replayed while ``fn(*args, **kwargs)`` ran."""
    before = loops.STATS["replayed"]
    fn(*args, **kwargs)
    return loops.STATS["replayed"] - before


def mask_loop(in_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in range(0, n, BLOCK):
        m = i + offs < n
        x = tl.load(in_ptr + i + offs, mask=m, other=0.0)
        tl.store(out_ptr + i + offs, x * 2.0 + 1.0, mask=m)


@pytest.mark.parametrize("dtype", [np.float32, BF16, np.float64])
@pytest.mark.parametrize("n", [3, 97, 300, 1000])
def test_mask_loop_matches_reference(run, rng, dtype, n):
    x = rng.standard_normal(n).astype(dtype)
    out = poison(n, dtype)
    wide = np.float64 if dtype == np.float64 else np.float32
    ref = (x.astype(wide) * 2 + 1).astype(dtype)
    count = _replayed(run, mask_loop, (1,), in_ptr=x, out_ptr=out, n=n, BLOCK=16)
    np.testing.assert_array_equal(out.astype(np.float64), ref.astype(np.float64))
    iterations = -(-n // 16)
    # iterations 0 and 1 are recorded, the rest replayed; short loops run as Python
    expected = iterations - 2 if iterations >= loops.MIN_ITERATIONS else 0
    assert count == expected or TRACED


def row_sums(x_ptr, out_ptr, n_rows, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    acc = tl.zeros((BLOCK,), tl.float32)
    for c in tl.range(0, n_cols, BLOCK, num_stages=2):
        acc += tl.load(x_ptr + row * n_cols + c + offs, mask=c + offs < n_cols, other=0.0)
    tl.store(out_ptr + row, tl.sum(acc, axis=0))


def test_carried_accumulator(run, rng):
    rows, cols = 5, 203
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    out = poison(rows, np.float32)
    count = _replayed(
        run, row_sums, (rows,), x_ptr=x, out_ptr=out, n_rows=rows, n_cols=cols, BLOCK=8
    )
    assert count > 0 or TRACED
    np.testing.assert_allclose(out, x.astype(np.float64).sum(1), rtol=1e-5, atol=1e-5)


def matmul(a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    pid = tl.program_id(0)
    num_n = tl.cdiv(N, BN)
    rm = (pid // num_n) * BM + tl.arange(0, BM)
    rn = (pid % num_n) * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    a_ptrs = a_ptr + rm[:, None] * K + rk[None, :]
    b_ptrs = b_ptr + rk[:, None] * N + rn[None, :]
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BK)):
        a = tl.load(a_ptrs, mask=rk[None, :] < K - k * BK, other=0.0)
        b = tl.load(b_ptrs, mask=rk[:, None] < K - k * BK, other=0.0)
        acc = tl.dot(a, b, acc)
        a_ptrs += BK
        b_ptrs += BK * N
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc)


def test_matmul_carried_pointers(run, rng):
    M = N = 32
    K = 300
    a = rng.standard_normal((M, K)).astype(np.float16)
    b = rng.standard_normal((K, N)).astype(np.float16)
    c = poison((M, N), np.float32)
    count = _replayed(
        run, matmul, ((M // 16) * (N // 16),), a_ptr=a, b_ptr=b, c_ptr=c, M=M, N=N, K=K,
        BM=16, BN=16, BK=16,
    )  # fmt: skip
    assert count > 0 or TRACED
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c, ref, rtol=1e-3, atol=1e-3)


def data_dependent(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    total = tl.zeros((BLOCK,), tl.float32)
    for i in range(0, n, BLOCK):
        x = tl.load(x_ptr + i + offs)
        if tl.sum(x, axis=0) > 0:  # Python control flow on a tile's value
            total += x
        else:
            total -= x
    tl.store(out_ptr + offs, total)


def test_control_flow_on_values_is_not_replayed(run, rng):
    n, B = 16 * 24, 16
    x = rng.standard_normal(n).astype(np.float32)
    out = poison(B, np.float32)
    count = _replayed(run, data_dependent, (1,), x_ptr=x, out_ptr=out, n=n, BLOCK=B)
    assert count == 0
    blocks = x.reshape(-1, B).astype(np.float64)
    signs = np.where(blocks.sum(1) > 0, 1.0, -1.0)
    np.testing.assert_allclose(out, (blocks * signs[:, None]).sum(0), rtol=1e-5, atol=1e-5)


def python_counter(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    j = 0
    for i in range(0, n, BLOCK):
        x = tl.load(x_ptr + i + offs)
        tl.store(out_ptr + j * BLOCK + offs, x + j)  # j: a Python int changing every iteration
        j = j + 1


def test_python_value_carried_between_iterations(run, rng):
    n, B = 8 * 20, 8
    x = rng.standard_normal(n).astype(np.float32)
    out = poison(n, np.float32)
    run(python_counter, (1,), x_ptr=x, out_ptr=out, n=n, BLOCK=B)
    ref = x.reshape(-1, B) + np.arange(n // B, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(out, ref.reshape(-1))


def helper_scale(v, s):
    return v * s


def jit_helper_in_body(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in range(0, n, BLOCK):
        m = i + offs < n
        x = tl.load(x_ptr + i + offs, mask=m)
        y = tl.where(x > 0, helper_scale(x, 3.0), tl.exp(x))
        tl.store(out_ptr + i + offs, y.to(tl.float16), mask=m)


def test_where_math_and_casts(run, rng):
    n = 400
    x = rng.standard_normal(n).astype(np.float32)
    out = poison(n, np.float16)
    count = _replayed(run, jit_helper_in_body, (1,), x_ptr=x, out_ptr=out, n=n, BLOCK=16)
    assert count > 0 or TRACED
    ref = np.where(x > 0, x * np.float32(3.0), np.exp(x.astype(np.float64)))
    # fp16 subnormals (exp(x) < 2**-14 for x < -9.7) are spaced 2**-24 apart
    np.testing.assert_allclose(out.astype(np.float64), ref, rtol=1e-3, atol=2.0**-24)


def nested(x_ptr, out_ptr, R, C, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for r in range(0, R):
        acc = tl.zeros((BLOCK,), tl.float32)
        for c in range(0, C, BLOCK):
            acc += tl.load(x_ptr + r * C + c + offs)
        tl.store(out_ptr + r * BLOCK + offs, acc)


def test_nested_loops(run, rng):
    R, C, B = 6, 8 * 20, 8
    x = rng.standard_normal((R, C)).astype(np.float32)
    out = poison((R, B), np.float32)
    count = _replayed(run, nested, (1,), x_ptr=x, out_ptr=out, R=R, C=C, BLOCK=B)
    assert count > 0 or TRACED
    ref = x.astype(np.float64).reshape(R, -1, B).sum(1)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def out_of_bounds_late(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in range(0, n + BLOCK, BLOCK):
        tl.store(out_ptr + offs, offs)
        x = tl.load(x_ptr + i + offs)  # no mask: the last iteration reads past the end
        tl.store(out_ptr + offs, x)


def test_out_of_bounds_in_a_replayed_iteration_names_the_line(run, rng):
    n, B = 8 * 20, 8
    x = rng.standard_normal(n).astype(np.float32)
    out = poison(B, np.float32)
    with pytest.raises(SanitizerError, match="out-of-bounds") as info:
        run(out_of_bounds_late, (1,), x_ptr=x, out_ptr=out, n=n, BLOCK=B)
    line = out_of_bounds_late.__code__.co_firstlineno + 4
    assert re.search(rf"test_loop_replay\.py:{line}\b", str(info.value)), str(info.value)
    assert "out_of_bounds_late" in str(info.value)


def late_assert(x_ptr, n, limit, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in range(0, n, BLOCK):
        x = tl.load(x_ptr + i + offs)
        tl.device_assert(x < limit, "too large")


def test_device_assert_in_a_replayed_iteration(run, rng):
    n, B = 8 * 20, 8
    x = rng.uniform(0, 1, n).astype(np.float32)
    x[8 * 17 + 3] = 5.0  # iteration 17: replayed
    with pytest.raises(AssertionError, match="too large") as info:
        run(late_assert, (1,), x_ptr=x, n=n, limit=2.0, BLOCK=B)
    line = late_assert.__code__.co_firstlineno + 4
    assert f"test_loop_replay.py:{line}" in str(info.value)


def racy_loop(out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in range(0, n, BLOCK):
        tl.store(out_ptr + i + offs, offs + tl.program_id(0))  # every program writes it all


def test_sanitizer_reports_races_inside_loops(run):
    out = poison(64, np.int32)
    with pytest.raises(SanitizerError, match="race"):
        run(racy_loop, (2,), sanitize=True, out_ptr=out, n=64, BLOCK=8)


def printing_loop(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in range(0, n, BLOCK):
        x = tl.load(x_ptr + i + offs)
        print("iteration", i, "sum", tl.sum(x, axis=0))


def test_print_sees_every_iteration(capsys):
    x = np.arange(40, dtype=np.float32)
    count = _replayed(run_kernel, printing_loop, (1,), {"x_ptr": x, "n": 40, "BLOCK": 8})
    assert count == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("iteration")]
    assert lines == [f"iteration {i} sum {float(x[i : i + 8].sum())}" for i in range(0, 40, 8)]


def loop_variable(out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    last = -1
    for i in range(0, n):
        tl.static_assert(i.dtype == tl.int32)
        w = i.to(tl.int64) * 3
        tl.store(out_ptr + i * BLOCK + offs, w + offs)
        last = i
    for j in range(0, 0):
        never = j
    tl.store(out_ptr + n * BLOCK + offs, last + i + offs)  # i keeps its last value
    tl.static_assert(not _bound("never", locals()))


def _bound(name, loc):
    return name in loc


def test_loop_variable_is_a_scalar_and_keeps_its_last_value(run):
    n, B = 7, 4
    out = poison((n + 1) * B, np.int64)
    run(loop_variable, (1,), out_ptr=out, n=n, BLOCK=B)
    ref = np.concatenate([np.arange(B) + 3 * i for i in range(n)] + [np.arange(B) + 2 * (n - 1)])
    np.testing.assert_array_equal(out, ref)


def test_replay_off_gives_the_same_results(rng, monkeypatch):
    n = 500
    x = rng.standard_normal(n).astype(np.float32)
    outs = []
    for flag in ("1", "0"):
        monkeypatch.setenv("TRITIUM_INTERPRET_REPLAY", flag)
        out = poison(n, np.float32)
        count = _replayed(
            run_kernel, mask_loop, (1,), {"in_ptr": x, "out_ptr": out, "n": n, "BLOCK": 16}
        )
        assert (count > 0) == (flag == "1") or TRACED
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], x * np.float32(2) + np.float32(1))


def test_under_a_tracer_loops_stay_python_loops(rng):
    """A debugger (sys.settrace) must step through every iteration as written."""
    n = 16 * 20
    x = rng.standard_normal(n).astype(np.float32)
    out = poison(n, np.float32)
    lines: list[int] = []
    first = mask_loop.__code__.co_firstlineno

    def tracer(frame, event, arg):
        if frame.f_code.co_filename == __file__:
            if event == "line" and frame.f_code.co_name == "mask_loop":
                lines.append(frame.f_lineno - first)
            return tracer
        return None

    sys.settrace(tracer)
    try:
        count = _replayed(
            run_kernel, mask_loop, (1,), {"in_ptr": x, "out_ptr": out, "n": n, "BLOCK": 16}
        )
    finally:
        sys.settrace(None)
    assert count == 0
    np.testing.assert_array_equal(out, x * np.float32(2) + np.float32(1))
    assert lines.count(4) == 20  # the tl.store line, once per iteration


def _batched(fn, *args, **kwargs) -> int:
    """Iterations run at once (all rows of one batch) while ``fn(*args, **kwargs)`` ran."""
    before = loops.STATS["batched"]
    fn(*args, **kwargs)
    return loops.STATS["batched"] - before


def test_independent_iterations_run_at_once():
    n = 16 * 40 + 5
    x = np.random.default_rng(7).standard_normal(n).astype(np.float32)
    out = poison(n, np.float32)
    count = _batched(
        run_kernel, mask_loop, (1,), {"in_ptr": x, "out_ptr": out, "n": n, "BLOCK": 16}
    )
    assert count == 41 - 3 or TRACED  # all but iterations 0 and 1 (recorded) and the last
    np.testing.assert_array_equal(out, x * np.float32(2) + np.float32(1))


def chain(p, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in range(0, n - BLOCK, BLOCK):
        v = tl.load(p + i + offs)  # reads what the previous iteration stored
        tl.store(p + i + BLOCK + offs, v * 2.0 + 1.0)


def test_iterations_depending_through_memory(run, rng):
    n, B = 8 * 20, 8
    x = rng.standard_normal(n).astype(np.float32)
    ref = x.astype(np.float64)
    for i in range(0, n - B, B):
        ref[i + B : i + 2 * B] = ref[i : i + B] * 2 + 1
    count = _batched(run, chain, (1,), p=x, n=n, BLOCK=B)
    assert count == 0
    np.testing.assert_allclose(x, ref, rtol=1e-6)


def last_store_wins(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in range(0, n, BLOCK):
        x = tl.load(x_ptr + i + offs)
        tl.store(out_ptr + offs, x + i)  # every iteration stores to the same place


def test_iterations_storing_to_one_place(run, rng):
    n, B = 8 * 20, 8
    x = rng.standard_normal(n).astype(np.float32)
    out = poison(B, np.float32)
    count = _batched(run, last_store_wins, (1,), x_ptr=x, out_ptr=out, n=n, BLOCK=B)
    assert count == 0
    np.testing.assert_array_equal(out, x[n - B :] + np.float32(n - B))


def unmasked(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in range(0, n + BLOCK, BLOCK):
        x = tl.load(x_ptr + i + offs)  # no mask: the last two iterations read past the end
        tl.store(out_ptr + i + offs, x)


def test_out_of_bounds_in_a_batch_names_the_line_and_keeps_earlier_stores():
    n, B = 8 * 24, 8
    x = np.random.default_rng(3).standard_normal(n + B).astype(np.float32)[:n]
    out = poison(n + 2 * B, np.float32)
    with pytest.raises(SanitizerError, match="out-of-bounds") as info:
        run_kernel(unmasked, (1,), {"x_ptr": x, "out_ptr": out, "n": n, "BLOCK": B})
    line = unmasked.__code__.co_firstlineno + 3
    assert f"test_loop_replay.py:{line}" in str(info.value)
    np.testing.assert_array_equal(out[:n], x)  # every iteration before the failing one ran
    assert np.isnan(out[n:]).all()


def in_place(p, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in range(0, n, BLOCK):
        m = i + offs < n
        tl.store(p + i + offs, tl.load(p + i + offs, mask=m) * 3.0, mask=m)


def test_in_place_iterations_run_at_once(rng):
    n = 8 * 30 + 3
    x = rng.standard_normal(n).astype(np.float32)
    ref = x * np.float32(3)
    count = _batched(run_kernel, in_place, (1,), {"p": x, "n": n, "BLOCK": 8})
    assert count > 0 or TRACED
    np.testing.assert_array_equal(x, ref)


def repeated_expressions(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    acc = tl.zeros((BLOCK,), tl.float32)
    for i in range(0, n, BLOCK):
        x = tl.load(x_ptr + i + offs, mask=i + offs < n, other=0.0)
        acc += x
        tl.store(out_ptr + i + offs, acc, mask=i + offs < n)  # the same mask, written again


def test_repeated_expressions(run, rng):
    n, B = 8 * 25 + 5, 8
    x = rng.standard_normal(n).astype(np.float32)
    out = poison(n, np.float32)
    count = _replayed(run, repeated_expressions, (1,), x_ptr=x, out_ptr=out, n=n, BLOCK=B)
    assert count > 0 or TRACED
    padded = np.concatenate([x, np.zeros(-n % B, np.float32)]).reshape(-1, B)
    ref = np.cumsum(padded, axis=0, dtype=np.float32).reshape(-1)[:n]  # fp32, in order
    np.testing.assert_array_equal(out, ref)


def online_softmax_stats(x_ptr, m_ptr, l_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = tl.full((BLOCK,), float("-inf"), tl.float32)
    s = tl.zeros((BLOCK,), tl.float32)
    for i in range(0, n, BLOCK):
        x = tl.load(x_ptr + i + offs, mask=i + offs < n, other=float("-inf"))
        new_m = tl.maximum(m, x)
        s = s * tl.exp(m - new_m) + tl.exp(x - new_m)
        m = new_m
    tl.store(m_ptr + offs, m)
    tl.store(l_ptr + offs, s)


def test_carried_values_with_loads_batched_apart(run, rng, monkeypatch):
    """The loads (no carried input) run for all iterations at once, the running max and sum
    iteration by iteration: the same fp32 operations in the same order as without replay."""
    n, B = 8 * 30, 8
    x = rng.standard_normal(n).astype(np.float32)
    outs = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("TRITIUM_INTERPRET_REPLAY", flag)
        m, s = poison(B, np.float32), poison(B, np.float32)
        args = {"x_ptr": x, "m_ptr": m, "l_ptr": s, "n": n, "BLOCK": B}
        outs[flag] = (_batched(run, online_softmax_stats, (1,), **args), m, s)
    assert outs["0"][0] == 0 and (outs["1"][0] > 0 or TRACED)
    np.testing.assert_array_equal(outs["0"][1], outs["1"][1])
    np.testing.assert_array_equal(outs["0"][2], outs["1"][2])
    cols = x.reshape(-1, B).astype(np.float64)
    np.testing.assert_allclose(outs["1"][1], cols.max(0), rtol=0)
    ref = np.exp(cols - cols.max(0)).sum(0)
    np.testing.assert_allclose(outs["1"][2], ref, rtol=1e-5)
