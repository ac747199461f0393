# ruff: noqa: F821, B007 - these kernels are wrong on purpose
"""Kernels with mistakes; tests/frontend/test_errors.py checks where the errors point.

Each kernel's faulty expression is marked with a comment naming the column it starts at.
"""

from __future__ import annotations

import tritium.language as tl
from tests.frontend.helpers import jit


@jit
def bad_keyword(x_ptr, n):
    x = tl.load(x_ptr, maks=n)  # col 8
    tl.store(x_ptr, x)


@jit
def bad_mask_type(x_ptr, n):
    offs = tl.arange(0, 16)
    tl.store(x_ptr + offs, 1.0, mask=offs)  # col 4


@jit
def undefined_name(x_ptr, n):
    y = n + undefined_thing  # col 12
    tl.store(x_ptr, y)


@jit
def shape_mismatch(x_ptr, n):
    a = tl.arange(0, 16)
    b = tl.arange(0, 8)
    tl.store(x_ptr + a, 1.0)
    c = a + b  # col 8
    tl.store(x_ptr + c, 1.0)


@jit
def if_type_mismatch(x_ptr, n):
    if n > 0:
        y = 1.0
    else:
        y = tl.arange(0, 16)
    tl.store(x_ptr, y)


@jit
def loop_type_change(x_ptr, n):
    acc = tl.zeros((16,), dtype=tl.float32)
    for i in range(n):
        acc = acc.to(tl.float16)
    tl.store(x_ptr + tl.arange(0, 16), acc)


@jit
def return_in_loop(x_ptr, n):
    for i in range(n):
        return


@jit
def kernel_returns_value(x_ptr, n):
    return n


@jit
def tile_condition(x_ptr, n):
    x = tl.load(x_ptr + tl.arange(0, 16))
    if x > 0:
        tl.store(x_ptr, 1.0)


@jit
def use_lambda(x_ptr, n):
    f = lambda v: v + 1  # noqa: E731
    tl.store(x_ptr, f(n))


@jit
def use_try(x_ptr, n):
    try:
        tl.store(x_ptr, n)
    except Exception:
        pass


@jit
def use_with(x_ptr, n):
    with open("f"):
        pass


@jit
def use_break(x_ptr, n):
    for i in range(n):
        break


@jit
def use_nested_def(x_ptr, n):
    def helper(v):
        return v

    tl.store(x_ptr, helper(n))


@jit
def use_yield(x_ptr, n):
    yield n


@jit
def use_comprehension(x_ptr, n):
    xs = {i for i in range(4)}  # list comprehensions are supported; set ones are not
    tl.store(x_ptr, len(xs))


@jit
def static_assert_fails(x_ptr, n, BLOCK: tl.constexpr):
    tl.static_assert(BLOCK % 16 == 0, "BLOCK must be a multiple of 16")


@jit
def _callee_with_error(x):
    return x + undefined_in_callee


@jit
def calls_bad_callee(x_ptr, n):
    tl.store(x_ptr, _callee_with_error(n))


@jit
def _callee_asserting(x, BLOCK: tl.constexpr):
    tl.static_assert(BLOCK % 16 == 0, "BLOCK must be a multiple of 16")
    return x


@jit
def calls_asserting_callee(x_ptr, n, BLOCK: tl.constexpr):
    tl.store(x_ptr, _callee_asserting(n, BLOCK))


@jit
def power_on_tensor(x_ptr, n):
    tl.store(x_ptr, n**2)


@jit
def subscript_assign(x_ptr, n):
    x = tl.arange(0, 16)
    x[0] = 1


@jit
def pointer_plus_float(x_ptr, n):
    tl.store(x_ptr + 1.5, 1.0)


@jit
def _returns_by_branch(n):
    if n == 0:
        return tl.arange(0, 4)
    else:
        return tl.arange(0, 8)


@jit
def calls_returns_by_branch(x_ptr, n):
    _returns_by_branch(n)
