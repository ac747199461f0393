"""Control flow and functions (issue 4): branches, loops with carried tuples, ``tl.range``
options, ``static_range``, early return, callees (noinline, as arguments, defaults),
``constexpr_function``, static and device asserts and prints, ``debug_barrier``."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

from ._helpers import Buffers, poisoned

N = 16


@triton.jit
def _branches(X, OUT, s, MODE: tl.constexpr, N: tl.constexpr):
    r = tl.arange(0, N)
    x = tl.load(X + r)
    if s > 10:
        y = x * 2
    elif s > 5:
        y = x + 100
    else:
        y = -x
    if MODE == "square":  # compile-time branch
        y = y * y
    elif MODE == "neg":
        y = -y
    z = x if s % 2 == 0 else x + 1  # conditional expression on a scalar
    t = 0
    if s > 3 and s < 12:
        t = 1
    if not s > 3 or s == 7:
        t += 2
    tl.store(OUT + r, y + z * 0 + t)
    tl.store(OUT + N + r, z)


@pytest.mark.covers("if/elif/else")
@pytest.mark.parametrize("s", [3, 7, 12])
def test_if_elif_else(backend: str, s: int, rng: np.random.Generator) -> None:
    """Run-time if/elif/else on scalars, compile-time branches, `and`/`or`/`not`, ternary."""
    x = rng.integers(-50, 50, N).astype(np.int32)
    buf = Buffers(backend)
    for mode in ("square", "neg"):
        out = poisoned(2 * N, "int32")
        _branches[(1,)](buf(x), buf(out), s, MODE=mode, N=N)
        buf.sync()
        y = x * 2 if s > 10 else (x + 100 if s > 5 else -x)
        y = y * y if mode == "square" else -y
        t = (1 if 3 < s < 12 else 0) + (2 if (not s > 3 or s == 7) else 0)
        np.testing.assert_array_equal(out[:N], y + t)
        np.testing.assert_array_equal(out[N:], x if s % 2 == 0 else x + 1)


@triton.jit
def _loops(X, OUT, n, N: tl.constexpr):
    r = tl.arange(0, N)
    x = tl.load(X + r)
    # for with a loop-carried tuple (Fibonacci-like on tiles)
    a, b = x, x * 0 + 1
    for _i in range(n):
        a, b = b, a + b
    tl.store(OUT + r, a)
    # while with a scalar condition and a carried tile
    acc = x * 0
    i = 0
    while i < n:
        acc += x
        i += 1
    tl.store(OUT + N + r, acc)
    # tl.range with start/stop/step and options
    s = x * 0
    for j in tl.range(1, n * 3, 3, num_stages=2, loop_unroll_factor=2):
        s += j
    tl.store(OUT + 2 * N + r, s)
    # static_range unrolls at compile time: the index is a constexpr
    t = x * 0
    for k in tl.static_range(4):
        t += x << k
    tl.store(OUT + 3 * N + r, t)
    # nested loops, break-free early exit by condition, negative step
    u = x * 0
    for p in range(n, 0, -1):
        for _q in range(p):
            u += 1
    tl.store(OUT + 4 * N + r, u)


@pytest.mark.covers("for", "while", "tl.range", "tl.static_range")
def test_loops(backend: str, rng: np.random.Generator) -> None:
    """for/while with carried values and tuples; tl.range options; static_range; nesting."""
    x = rng.integers(-5, 5, N).astype(np.int32)
    n = 6
    out = poisoned(5 * N, "int32")
    buf = Buffers(backend)
    _loops[(1,)](buf(x), buf(out), n, N=N)
    buf.sync()
    a, b = x.astype(np.int64), np.ones(N, np.int64)
    for _ in range(n):
        a, b = b, a + b
    np.testing.assert_array_equal(out[:N], a)
    np.testing.assert_array_equal(out[N : 2 * N], x * n)
    np.testing.assert_array_equal(out[2 * N : 3 * N], np.full(N, sum(range(1, 3 * n, 3))))
    np.testing.assert_array_equal(out[3 * N : 4 * N], sum(x << k for k in range(4)))
    np.testing.assert_array_equal(out[4 * N :], np.full(N, n * (n + 1) // 2))


@triton.jit
def _early_return(X, OUT, N: tl.constexpr):
    pid = tl.program_id(0)
    r = tl.arange(0, N)
    if pid == 1:
        return
    x = tl.load(X + pid * N + r)
    tl.store(OUT + pid * N + r, x + 1)


@triton.jit
def _clamp_helper(x, lo, hi):
    if x < lo:
        return lo
    return tl.minimum(x, hi)


@triton.jit
def _early_return_callee(X, OUT, N: tl.constexpr):
    for i in range(N):
        v = tl.load(X + i)
        tl.store(OUT + i, _clamp_helper(v, -2, 3))


@pytest.mark.covers("return")
def test_early_return(backend: str, rng: np.random.Generator) -> None:
    """``return`` inside an ``if`` of a kernel and of a scalar callee."""
    x = rng.integers(-9, 9, 3 * N).astype(np.int32)
    out = poisoned(3 * N, "int32")
    before = out.copy()
    buf = Buffers(backend)
    _early_return[(3,)](buf(x), buf(out), N=N)
    _clamp = poisoned(N, "int32")
    _early_return_callee[(1,)](buf(x), buf(_clamp), N=N)
    buf.sync()
    np.testing.assert_array_equal(out[:N], x[:N] + 1)
    np.testing.assert_array_equal(out[N : 2 * N], before[N : 2 * N])
    np.testing.assert_array_equal(out[2 * N :], x[2 * N :] + 1)
    np.testing.assert_array_equal(_clamp, np.where(x[:N] < -2, -2, np.minimum(x[:N], 3)))


@triton.jit(noinline=True)
def _noinline_axpy(x, y, a):
    return a * x + y


@triton.jit
def _with_defaults(x, scale=2, shift: tl.constexpr = 1):
    return x * scale + shift


@triton.jit
def _double(x):
    return x * 2


@triton.jit
def _square(x):
    return x * x


@triton.jit
def _two_results(x):
    return x + 1, x - 1


@triton.jit
def _calls(X, OUT, FN: tl.constexpr, N: tl.constexpr):
    r = tl.arange(0, N)
    x = tl.load(X + r)
    tl.store(OUT + r, _noinline_axpy(x, x, 3))
    tl.store(OUT + N + r, _with_defaults(x))
    tl.store(OUT + 2 * N + r, _with_defaults(x, 5, shift=-3))
    tl.store(OUT + 3 * N + r, FN(x))
    p, m = _two_results(x)
    tl.store(OUT + 4 * N + r, p * m)


@pytest.mark.covers("triton.jit", "noinline")
def test_noinline_callees(backend: str, rng: np.random.Generator) -> None:
    """A ``noinline`` callee gives the same results as an inlined one."""
    _run_calls(backend, rng, _double, check=slice(0, 1))


@pytest.mark.covers("triton.jit")
def test_function_arguments_and_defaults(backend: str, rng: np.random.Generator) -> None:
    """Callees with default arguments, tuple results, and @jit functions passed as arguments."""
    for fn in (_double, _square):
        _run_calls(backend, rng, fn, check=slice(1, 5))


def _run_calls(backend: str, rng: np.random.Generator, fn: object, check: slice) -> None:
    x = rng.integers(-9, 9, N).astype(np.int32)
    out = poisoned(5 * N, "int32")
    buf = Buffers(backend)
    _calls[(1,)](buf(x), buf(out), FN=fn, N=N)
    buf.sync()
    f = (lambda v: v * 2) if fn is _double else (lambda v: v * v)
    refs = [3 * x + x, x * 2 + 1, x * 5 - 3, f(x), (x + 1) * (x - 1)]
    got = out.reshape(5, N)
    for i in range(5)[check]:
        np.testing.assert_array_equal(got[i], refs[i], err_msg=str(i))


def _constexpr_function() -> object:
    fn = getattr(tl, "constexpr_function", None) or getattr(triton, "constexpr_function", None)
    if fn is None:
        return lambda f: f
    return fn


@_constexpr_function()
def _next_pow2(n: int) -> int:
    return 1 << (int(n) - 1).bit_length()


@triton.jit
def _use_constexpr_function(OUT, n: tl.constexpr):
    P: tl.constexpr = _next_pow2(n)
    r = tl.arange(0, P)
    tl.store(OUT + r, r, mask=r < n)


@pytest.mark.covers("tl.constexpr_function")
def test_constexpr_function(backend: str) -> None:
    """A ``constexpr_function`` computes a constexpr (a tile size) at compile time."""
    assert getattr(tl, "constexpr_function", None) or getattr(triton, "constexpr_function", None), (
        "not provided"
    )
    out = poisoned(5, "int32")
    buf = Buffers(backend)
    _use_constexpr_function[(1,)](buf(out), n=5)
    buf.sync()
    np.testing.assert_array_equal(out, np.arange(5))


@triton.jit
def _asserts(X, OUT, n, N: tl.constexpr):
    tl.static_assert(N % 8 == 0, "N must be a multiple of 8")
    tl.static_print("static_print: N =", N)
    r = tl.arange(0, N)
    x = tl.load(X + r)
    tl.device_assert(x < n, "value too large")
    tl.device_print("dp", x)
    tl.debug_barrier()
    tl.store(OUT + r, x)


@pytest.mark.covers(
    "tl.static_assert", "tl.static_print", "tl.device_assert", "tl.device_print", "tl.debug_barrier"
)
def test_asserts_and_prints(backend: str, capfd: pytest.CaptureFixture[str]) -> None:
    """static_assert/print at compile time; device_print output; device_assert passing and
    (in debug mode) failing with the user's message."""
    x = np.arange(N, dtype=np.int32) * 3 + 1000
    out = poisoned(N, "int32")
    buf = Buffers(backend)
    _asserts[(1,)](buf(x), buf(out), 10**6, N=N)
    buf.sync()
    np.testing.assert_array_equal(out, x)
    captured = capfd.readouterr()
    text = captured.out + captured.err
    assert "dp" in text and "1045" in text, text[-500:]
    dbg = triton.jit(_asserts.fn, debug=True)
    with pytest.raises(Exception, match="value too large"):
        dbg[(1,)](buf(x), buf(out), 1010, N=N)


@triton.jit
def _bad_static_assert(OUT, N: tl.constexpr):
    tl.static_assert(N % 8 == 0, "N must be a multiple of 8")
    tl.store(OUT, N)


@pytest.mark.covers("tl.static_assert")
def test_static_assert_fails_at_compile_time(backend: str) -> None:
    """A false static_assert stops compilation with its message (interpreter: at run time)."""
    out = poisoned(1, "int32")
    with pytest.raises(Exception, match="multiple of 8"):
        _bad_static_assert[(1,)](Buffers(backend)(out), N=12)


@triton.jit
def _while_condition(X, OUT, n, N: tl.constexpr):
    r = tl.arange(0, N)
    x = tl.load(X + r)
    i = 0
    a, b = x, x + 1
    while tl.condition(i < n, disable_licm=True):
        a, b = a + b, b * 2
        i += 1
    tl.store(OUT + r, a)
    tl.store(OUT + N + r, b)


@pytest.mark.covers("tl.condition", "while")
def test_while_condition_with_tuples(backend: str, rng: np.random.Generator) -> None:
    """``while tl.condition(...)`` with options, carrying a tuple of tiles."""
    x = rng.integers(-9, 9, N).astype(np.int32)
    out = poisoned(2 * N, "int32")
    buf = Buffers(backend)
    _while_condition[(1,)](buf(x), buf(out), 5, N=N)
    buf.sync()
    a, b = x.astype(np.int64), x.astype(np.int64) + 1
    for _ in range(5):
        a, b = a + b, b * 2
    np.testing.assert_array_equal(out[:N], a)
    np.testing.assert_array_equal(out[N:], b)


@triton.jit
def _range_options(X, OUT, n, N: tl.constexpr):
    r = tl.arange(0, N)
    x = tl.load(X + r)
    acc = x * 0
    for i in tl.range(
        0, n, flatten=True, warp_specialize=False, disallow_acc_multi_buffer=True, disable_licm=True
    ):
        acc += x * i
    for j in tl.static_range(2, 11, 3):  # 2, 5, 8
        acc += j
    for k in range(n - 1, -1, -2):  # negative step
        acc -= k
    tl.store(OUT + r, acc)


@pytest.mark.covers("tl.range", "tl.static_range", "for")
def test_range_options_and_steps(backend: str, rng: np.random.Generator) -> None:
    """tl.range scheduling options are accepted; static_range with start/stop/step; negative
    run-time steps."""
    x = rng.integers(-9, 9, N).astype(np.int32)
    out = poisoned(N, "int32")
    n = 7
    buf = Buffers(backend)
    _range_options[(1,)](buf(x), buf(out), n, N=N)
    buf.sync()
    ref = x * sum(range(n)) + (2 + 5 + 8) - sum(range(n - 1, -1, -2))
    np.testing.assert_array_equal(out, ref)


@triton.jit
def _prints(X, Y, N: tl.constexpr):
    r = tl.arange(0, N)
    x = tl.load(X + r)
    y = tl.load(Y + r)
    tl.device_print("pair ", x, y)
    tl.device_print("hex ", x, hex=True)
    print("builtin print", tl.program_id(0))  # Python's print inside a kernel = device_print
    tl.static_print("static", N)


@pytest.mark.covers("tl.device_print", "tl.static_print")
def test_device_print_forms(backend: str, capfd: pytest.CaptureFixture[str]) -> None:
    """device_print with several tensors and hex=True, and Python's print in a kernel."""
    x = np.array([10, 255, 4096, 7], np.int32)
    y = np.array([1.5, -2.25, 3.0, 0.5], np.float32)
    buf = Buffers(backend)
    _prints[(1,)](buf(x), buf(y), N=4)
    captured = capfd.readouterr()
    text = (captured.out + captured.err).lower()
    assert "pair" in text and "4096" in text and "-2.25" in text, text[-800:]
    assert "0xff" in text or "0x000000ff" in text or "ff" in text, text[-800:]
    assert "builtin print" in text, text[-800:]


@triton.jit
def _data_dependent(X, NPTR, OUT, N: tl.constexpr):
    r = tl.arange(0, N)
    n = tl.load(NPTR)  # a trip count loaded from memory
    acc = tl.zeros((N,), tl.float32)
    cnt = 0
    for i in range(n):
        x = tl.load(X + i * N + r)
        if tl.sum(x, axis=0) > 0:  # a branch on a reduction
            acc += x
            cnt += 1
        else:
            if tl.max(x, axis=0) > 1.5:  # nested, only one branch updates acc
                acc -= 1.0
    tl.store(OUT + r, acc)
    tl.store(OUT + N, cnt)  # a Python int in the interpreter, an i32 compiled


@pytest.mark.covers("if/elif/else", "for")
def test_data_dependent_control_flow(backend: str, rng: np.random.Generator) -> None:
    """Loop bounds loaded from memory; branches on reductions; nested one-sided updates."""
    rows = 9
    x = rng.standard_normal((rows, N)).astype(np.float32)
    n = np.array([7], np.int32)
    out = poisoned(N + 1, "float32")
    buf = Buffers(backend)
    _data_dependent[(1,)](buf(x), buf(n), buf(out), N=N)
    buf.sync()
    acc = np.zeros(N, np.float32)
    cnt = 0
    for i in range(7):
        if x[i].sum(dtype=np.float32) > 0:
            acc += x[i]
            cnt += 1
        elif x[i].max() > 1.5:
            acc -= np.float32(1.0)
    np.testing.assert_allclose(out[:N], acc, rtol=1e-6, atol=1e-6)
    assert out[N] == cnt
