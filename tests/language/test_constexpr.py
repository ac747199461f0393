"""constexpr: wrapping, arithmetic, comparisons, unwrapping."""

from __future__ import annotations

import operator

import pytest

import tritium.language as tl
from tritium.language.core import engine_scope, is_builtin, unwrap_constexpr

from .recording import RecordingEngine, fake

BINARY = [
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.floordiv,
    operator.mod,
    operator.pow,
    operator.and_,
    operator.or_,
    operator.xor,
    operator.lshift,
    operator.rshift,
    operator.lt,
    operator.le,
    operator.gt,
    operator.ge,
    operator.eq,
    operator.ne,
]


@pytest.mark.parametrize("op", BINARY, ids=lambda op: op.__name__)
def test_binary_ops_match_python(op) -> None:
    a, b = 13, 3
    for lhs, rhs in (
        (tl.constexpr(a), tl.constexpr(b)),
        (tl.constexpr(a), b),
        (a, tl.constexpr(b)),
    ):
        result = op(lhs, rhs)
        assert isinstance(result, tl.constexpr), op
        assert result.value == op(a, b)


def test_unary_ops() -> None:
    c = tl.constexpr(5)
    assert (-c).value == -5 and (+c).value == 5 and (~c).value == ~5
    assert abs(tl.constexpr(-2.5)).value == 2.5


def test_conversions() -> None:
    c = tl.constexpr(7)
    assert int(c) == 7 and float(c) == 7.0 and bool(c) and not tl.constexpr(0)
    assert [10, 11, 12, 13, 14, 15, 16, 17][c] == 17  # __index__
    assert list(range(tl.constexpr(3))) == [0, 1, 2]
    assert hash(c) == hash(7)
    with pytest.raises(TypeError):
        [1, 2][tl.constexpr(1.0)]


def test_nesting_collapses() -> None:
    assert tl.constexpr(tl.constexpr(3)).value == 3


def test_wraps_other_values() -> None:
    assert tl.constexpr(tl.float16).is_floating()  # attribute access reads through
    assert tl.constexpr(tl.float16) == tl.float16
    assert tl.constexpr(lambda x: x + 1)(1) == 2
    assert tl.constexpr((1, 2))[1] == 2 and len(tl.constexpr((1, 2, 3))) == 3
    assert repr(tl.constexpr(4)) == "constexpr[4]"


def test_logical_helpers() -> None:
    t, f = tl.constexpr(True), tl.constexpr(False)
    assert t.logical_and(f).value is False and t.logical_or(f).value is True
    assert f.logical_not().value is True


def test_unwrap_constexpr_recurses() -> None:
    value = (tl.constexpr(1), [tl.constexpr(2), 3], tl.constexpr((tl.constexpr(4),)))
    assert unwrap_constexpr(value) == (1, [2, 3], (4,))


@tl.constexpr_function
def _block_for(n, minimum=16):
    """The next power of two >= n, at least ``minimum``."""
    size = minimum
    while size < n:
        size *= 2
    return size


def test_constexpr_function_on_the_host_is_plain_python() -> None:
    assert _block_for(100) == 128 and _block_for(3) == 16
    assert _block_for(tl.constexpr(40), minimum=tl.constexpr(8)) == 64
    assert _block_for.__doc__.startswith("The next power")
    assert is_builtin(_block_for)


def test_constexpr_function_in_a_kernel_returns_a_constexpr() -> None:
    with engine_scope(RecordingEngine()):
        out = _block_for(tl.constexpr(100))
        assert isinstance(out, tl.constexpr) and out.value == 128
        with pytest.raises(TypeError, match="_block_for\\(\\) is a constexpr_function"):
            _block_for(fake((4,), tl.int32))
