"""Loops (``tl.range``, ``tl.static_range``), compiler hints and debugging builtins.

``range`` and ``static_range`` are classes: the frontend recognizes them in a ``for`` loop's
iterator and reads their fields; in plain Python (the interpreter) they iterate like
Python's ``range``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Any

from tritium.language.args import as_int
from tritium.language.core import _engine, builtin, tensor, unwrap_constexpr

__all__ = [
    "assume",
    "condition",
    "debug_barrier",
    "device_assert",
    "device_print",
    "loop_index",
    "max_constancy",
    "max_contiguous",
    "multiple_of",
    "range",
    "static_assert",
    "static_print",
    "static_range",
]


def _loop_bound(value: Any, what: str) -> int:
    """A bound as a Python int, when iterating in plain Python (interpreter scalars too)."""
    try:
        return int(value.__index__()) if hasattr(value, "__index__") else int(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be an integer, got {value!r}") from None


class loop_index(int):  # noqa: N801 - lower case like the loop variables it stands for
    """A ``range``/``tl.range`` loop variable when a kernel runs as Python (the interpreter).

    Compiled, the variable is a scalar tensor, so kernels write ``i.to(tl.int64)`` (fla's
    chunked delta rule, HGRN, Based); Triton's interpreter hands them a plain ``int`` and fails.
    This is an ``int`` that also has the tensor's ``dtype`` and ``to``, and so do the ints
    computed from it (``(i_t * BT).to(tl.int64)``: fla's HGRN and Based).
    """

    __slots__ = ()

    @property
    def dtype(self) -> Any:
        """``int32``, or ``int64`` for a value outside ``int32`` (the compiled loop's type)."""
        from tritium.language import dtypes

        return dtypes.int32 if -(2**31) <= self < 2**31 else dtypes.int64

    def to(self, dtype: Any, fp_downcast_rounding: Any = None, bitcast: Any = False) -> tensor:
        """The scalar tensor cast to ``dtype``, as ``tensor.to``."""
        from tritium.language.ops import full

        return full((), int(self), self.dtype).to(dtype, fp_downcast_rounding, bitcast)


def _keep_loop_index(name: str) -> Any:
    base = getattr(int, name)

    def op(self: loop_index, *other: Any) -> Any:
        result = base(self, *other)
        return loop_index(result) if type(result) is int else result

    op.__name__ = name
    return op


for _name in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__floordiv__",
    "__rfloordiv__", "__mod__", "__rmod__", "__neg__", "__pos__", "__abs__", "__lshift__",
    "__rlshift__", "__rshift__", "__rrshift__", "__and__", "__rand__", "__or__", "__ror__",
    "__xor__", "__rxor__", "__invert__",
):  # fmt: skip
    setattr(loop_index, _name, _keep_loop_index(_name))


class range:  # noqa: N801 - Triton's public name
    """A loop over ``[arg1, arg2)`` (or ``[0, arg1)``) with ``step``, plus compiler options.

    * ``num_stages``: how many iterations the compiler may pipeline (prefetch) ahead.
    * ``loop_unroll_factor``: unroll the loop this many times.
    * ``disallow_acc_multi_buffer``, ``flatten``, ``warp_specialize``, ``disable_licm``:
      scheduling hints for GPU backends; other engines ignore them.

    Bounds may be run-time values in a compiled kernel; iterating in plain Python needs them
    to convert to ``int``.
    """

    def __init__(
        self,
        arg1: Any,
        arg2: Any = None,
        step: Any = None,
        num_stages: Any = None,
        loop_unroll_factor: Any = None,
        disallow_acc_multi_buffer: Any = False,
        flatten: Any = False,
        warp_specialize: Any = False,
        disable_licm: Any = False,
    ) -> None:
        arg1, arg2, step = unwrap_constexpr(arg1), unwrap_constexpr(arg2), unwrap_constexpr(step)
        if arg2 is None:
            self.start, self.end = 0, arg1
        else:
            self.start, self.end = arg1, arg2
        self.step = 1 if step is None else step
        if isinstance(self.step, int) and self.step == 0:
            raise ValueError("range step must not be zero")
        self.num_stages = unwrap_constexpr(num_stages)
        self.loop_unroll_factor = unwrap_constexpr(loop_unroll_factor)
        self.disallow_acc_multi_buffer = bool(unwrap_constexpr(disallow_acc_multi_buffer))
        self.flatten = bool(unwrap_constexpr(flatten))
        self.warp_specialize = bool(unwrap_constexpr(warp_specialize))
        self.disable_licm = bool(unwrap_constexpr(disable_licm))

    def __iter__(self) -> Iterator[int]:
        bounds = builtins.range(
            _loop_bound(self.start, "range start"),
            _loop_bound(self.end, "range end"),
            _loop_bound(self.step, "range step"),
        )
        return map(loop_index, bounds)

    def __repr__(self) -> str:
        return f"tl.range({self.start!r}, {self.end!r}, {self.step!r})"


class static_range:  # noqa: N801 - Triton's public name
    """A loop the compiler unrolls completely; its bounds must be compile-time integers."""

    def __init__(self, arg1: Any, arg2: Any = None, step: Any = None) -> None:
        arg1, arg2, step = unwrap_constexpr(arg1), unwrap_constexpr(arg2), unwrap_constexpr(step)
        if arg2 is None:
            arg1, arg2 = 0, arg1
        self.start = as_int(arg1, "static_range start")
        self.end = as_int(arg2, "static_range end")
        self.step = 1 if step is None else as_int(step, "static_range step")
        if self.step == 0:
            raise ValueError("static_range step must not be zero")

    def __iter__(self) -> Iterator[int]:
        return iter(builtins.range(self.start, self.end, self.step))

    def __repr__(self) -> str:
        return f"tl.static_range({self.start}, {self.end}, {self.step})"


class condition:  # noqa: N801 - Triton's public name
    """A ``while`` loop condition with options: ``while tl.condition(i < n, disable_licm=True)``.

    In plain Python (the interpreter) it is truthy when ``arg1`` is.
    """

    def __init__(self, arg1: Any, disable_licm: Any = False) -> None:
        self.condition = unwrap_constexpr(arg1)
        self.disable_licm = bool(unwrap_constexpr(disable_licm))

    def __bool__(self) -> bool:
        return bool(self.condition)


# --------------------------------------------------------------------------------------------
# compile-time checks (need no engine: they run while the kernel is traced or interpreted)
# --------------------------------------------------------------------------------------------


def static_assert(cond: Any, msg: Any = "") -> None:
    """Fail compilation with ``msg`` if the compile-time condition ``cond`` is false."""
    cond, msg = unwrap_constexpr(cond), unwrap_constexpr(msg)
    if isinstance(cond, tensor):
        raise TypeError(
            "static_assert needs a compile-time condition (constexpr), got a tensor;"
            " use tl.device_assert for run-time checks"
        )
    if not cond:
        raise AssertionError(f"static_assert failed: {msg}" if msg else "static_assert failed")


static_assert.__tritium_builtin__ = True  # type: ignore[attr-defined]


def static_print(
    *values: Any, sep: str = " ", end: str = "\n", file: Any = None, flush: bool = False
) -> None:
    """Print compile-time values while the kernel is compiled (like ``print``)."""
    builtins.print(*(unwrap_constexpr(v) for v in values), sep=sep, end=end, file=file, flush=flush)


static_print.__tritium_builtin__ = True  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------
# run-time debugging
# --------------------------------------------------------------------------------------------


@builtin
def device_assert(cond: Any, msg: Any = "", mask: Any = None) -> None:
    """Abort with ``msg`` if ``cond`` is false in any lane (where ``mask`` is true)."""
    return _engine().device_assert(cond, str(msg), mask)


@builtin
def device_print(prefix: Any, *args: Any, hex: Any = False) -> None:
    """Print ``prefix`` and the values of ``args`` from every program instance."""
    if not isinstance(prefix, str):
        raise TypeError(f"device_print: prefix must be a str, got {prefix!r}")
    return _engine().device_print(prefix, tuple(args), bool(hex))


@builtin
def debug_barrier() -> None:
    """Synchronize the threads of one program instance."""
    return _engine().debug_barrier()


# --------------------------------------------------------------------------------------------
# compiler hints
# --------------------------------------------------------------------------------------------


def _hint_values(values: Any, what: str) -> tuple[int, ...]:
    values = tuple(values) if isinstance(values, (tuple, list)) else (values,)
    out = tuple(as_int(v, what) for v in values)
    if any(v <= 0 for v in out):
        raise ValueError(f"{what} values must be positive, got {out}")
    return out


@builtin
def multiple_of(input: Any, values: Any) -> tensor:
    """``input``, with the promise that its values are multiples of ``values``."""
    return _engine().multiple_of(input, _hint_values(values, "multiple_of"))


@builtin
def max_contiguous(input: Any, values: Any) -> tensor:
    """``input``, with the promise that its first ``values`` values are contiguous."""
    return _engine().max_contiguous(input, _hint_values(values, "max_contiguous"))


@builtin
def max_constancy(input: Any, values: Any) -> tensor:
    """``input``, with the promise that runs of ``values`` values are equal."""
    return _engine().max_constancy(input, _hint_values(values, "max_constancy"))


@builtin
def assume(cond: Any) -> None:
    """Let the compiler assume that the boolean ``cond`` holds."""
    return _engine().assume(cond)
