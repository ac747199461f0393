"""Argument normalization shared by the builtins: compile-time ints, shapes, dtypes, choices.

Each function returns the normalized value or raises a TypeError/ValueError that names the
argument, so a misuse reads ``arange start must be a compile-time integer`` rather than a
failure deep inside an engine.
"""

from __future__ import annotations

from typing import Any

from tritium.language.core import tensor
from tritium.language.dtypes import dtype, str_to_ty

__all__ = ["as_dtype", "as_int", "as_shape", "check_choice"]


def as_int(value: Any, what: str) -> int:
    """``value`` as a Python int, or a TypeError naming the argument."""
    # bool is an int to Python but never a sensible size; tensors are run-time values.
    if isinstance(value, (bool, tensor)) or not hasattr(value, "__index__"):
        raise TypeError(f"{what} must be a compile-time integer (constexpr), got {value!r}")
    return value.__index__()


def as_shape(shape: Any, what: str = "shape") -> tuple[int, ...]:
    """An int or a sequence of ints as a tuple of non-negative ints."""
    if isinstance(shape, (tuple, list)):
        dims = tuple(as_int(d, what) for d in shape)
    else:
        dims = (as_int(shape, what),)
    if any(d < 0 for d in dims):
        raise ValueError(f"{what} must not be negative, got {dims}")
    return dims


def as_dtype(value: Any, what: str = "dtype") -> dtype:
    """A dtype object from a dtype or its name (``"fp32"``, ``"float32"``, ``"*fp16"``)."""
    if isinstance(value, dtype):
        return value
    if isinstance(value, str):
        try:
            return str_to_ty(value)
        except ValueError as e:
            raise ValueError(f"{what}: {e}") from None
    raise TypeError(f"{what} must be a tl.dtype, got {value!r}")


def check_choice(value: Any, choices: tuple[Any, ...], what: str) -> Any:
    """``value`` if it is one of ``choices``, else a ValueError listing them."""
    if value not in choices:
        raise ValueError(f"{what} must be one of {choices}, got {value!r}")
    return value
