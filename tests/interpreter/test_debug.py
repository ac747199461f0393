"""Debugging inside kernels: print order, device_print/assert, static checks, @jit calls."""

from __future__ import annotations

import numpy as np
import pytest

import tritium.language as tl
from tritium.interpreter import launcher, run_kernel


def device_print_kernel(x_ptr):
    pid = tl.program_id(0)
    x = tl.load(x_ptr + pid * 2 + tl.arange(0, 2))
    tl.device_print("x =", x)
    tl.device_print("pid", pid)


def test_device_print_once_per_program_in_order(capsys):
    x = np.arange(6, dtype=np.int32)
    run_kernel(device_print_kernel, (3,), dict(x_ptr=x))
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "pid (0, 0, 0) x = [0 1]",
        "pid (0, 0, 0) pid 0",
        "pid (1, 0, 0) x = [2 3]",
        "pid (1, 0, 0) pid 1",
        "pid (2, 0, 0) x = [4 5]",
        "pid (2, 0, 0) pid 2",
    ]


def hex_print_kernel(x_ptr):
    tl.device_print("h", tl.load(x_ptr + tl.arange(0, 2)), hex=True)


def test_device_print_hex(capsys):
    run_kernel(hex_print_kernel, (1,), dict(x_ptr=np.array([255, -1], np.int32)))
    assert capsys.readouterr().out.strip() == "pid (0, 0, 0) h [0x000000ff 0xffffffff]"


def python_print_kernel(x_ptr):
    pid = tl.program_id(0)
    v = tl.load(x_ptr + pid)
    print("program", pid, "value", v)


def test_python_print_runs_per_program(capsys):
    run_kernel(python_print_kernel, (3,), dict(x_ptr=np.array([1.5, 2.5, 3.5], np.float32)))
    assert capsys.readouterr().out.splitlines() == [
        "program 0 value 1.5",
        "program 1 value 2.5",
        "program 2 value 3.5",
    ]
    assert launcher.last_mode == "sequential"


def assert_kernel(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=1)
    tl.device_assert(x > 0, "x must be positive")


def test_device_assert_names_line_program_and_lane():
    x = np.ones(40, np.int32)
    run_kernel(assert_kernel, (3,), dict(x_ptr=x, n=40, BLOCK=16))  # passes
    x[21] = -3
    with pytest.raises(AssertionError) as err:
        run_kernel(assert_kernel, (3,), dict(x_ptr=x, n=40, BLOCK=16))
    msg = str(err.value)
    assert "x must be positive" in msg and "program (1, 0, 0)" in msg and "lane 5" in msg
    assert "test_debug.py" in msg


def static_kernel(x_ptr, BLOCK: tl.constexpr):
    tl.static_assert(BLOCK % 2 == 0, "BLOCK must be even")
    tl.static_print("BLOCK is", BLOCK)
    tl.store(x_ptr + tl.arange(0, BLOCK), tl.full((BLOCK,), 3, tl.int32))


def test_static_assert_and_print(capsys):
    x = np.zeros(4, np.int32)
    run_kernel(static_kernel, (1,), dict(x_ptr=x, BLOCK=4))
    assert (x == 3).all()
    assert "BLOCK is 4" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="BLOCK must be even"):
        run_kernel(static_kernel, (1,), dict(x_ptr=x, BLOCK=3))


def scalar_loop_kernel(out_ptr, n, step):
    acc = 0.0
    i = 0
    while i < n:  # a `while` on run-time scalars
        acc += i * step
        i += 1
    for j in tl.range(0, n, 2):
        acc += j
    for k in tl.static_range(3):
        acc += k
    tl.store(out_ptr, acc)


def test_loops_over_scalar_tiles():
    out = np.zeros(1, np.float32)
    run_kernel(scalar_loop_kernel, (2,), dict(out_ptr=out, n=5, step=0.5))
    assert out[0] == sum(i * 0.5 for i in range(5)) + sum(range(0, 5, 2)) + 3


def test_jit_functions_and_interpret_flag(rng):
    import tritium

    @tritium.jit
    def twice(x):
        return x * 2

    @tritium.jit(interpret=True)
    def kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(out_ptr + offs, twice(tl.load(x_ptr + offs, mask=m)), mask=m)

    x = rng.standard_normal(50).astype(np.float32)
    out = np.full(50, np.nan, np.float32)
    kernel[(4,)](x, out, 50, BLOCK=16)
    np.testing.assert_array_equal(out, x * 2)
    out[:] = np.nan
    run_kernel(kernel, (4,), dict(x_ptr=x, out_ptr=out, n=50, BLOCK=16))
    np.testing.assert_array_equal(out, x * 2)


def _helper_that_prints(v):
    print("helper sees", v)
    return v


def helper_print_kernel(x_ptr):
    pid = tl.program_id(0)
    _helper_that_prints(tl.load(x_ptr + pid))


def test_print_in_a_called_function_keeps_program_order(capsys):
    run_kernel(helper_print_kernel, (2,), dict(x_ptr=np.array([7, 8], np.int32)))
    assert capsys.readouterr().out.splitlines() == ["helper sees 7", "helper sees 8"]


def failing_kernel(x_ptr):
    pid = tl.program_id(0)
    x = tl.load(x_ptr + pid)
    if pid == 2:
        x = x // 1.5  # floor division of floats: a TypeError, as in Triton


def test_errors_name_the_program():
    with pytest.raises(TypeError) as err:
        run_kernel(failing_kernel, (4,), dict(x_ptr=np.ones(4, np.float32)))
    assert any("in program (2, 0, 0) of failing_kernel" in n for n in err.value.__notes__)


def branchy_print_kernel(x_ptr):
    pid = tl.program_id(0)
    x = tl.load(x_ptr + pid)
    tl.device_print("x", x)
    if pid % 2 == 1:  # diverges after printing: the batch is undone and regrouped
        tl.device_print("odd", pid)


def test_device_print_stays_vectorized_and_ordered(capsys):
    run_kernel(branchy_print_kernel, (4,), dict(x_ptr=np.arange(10, 14, dtype=np.int32)))
    assert launcher.last_mode == "regrouped"
    assert capsys.readouterr().out.splitlines() == [
        "pid (0, 0, 0) x 10",
        "pid (1, 0, 0) x 11",
        "pid (1, 0, 0) odd 1",
        "pid (2, 0, 0) x 12",
        "pid (3, 0, 0) x 13",
        "pid (3, 0, 0) odd 3",
    ]
