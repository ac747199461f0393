"""Builtins: program ids, tile creation, elementwise arithmetic and math, casts, dot.

Each function binds Triton's signature, checks and normalizes its arguments (constexprs are
already unwrapped by :func:`~tritium.language.core.builtin`) and calls the engine method of
the same name (see :mod:`tritium.language.engine_protocol`).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from tritium.language.args import as_dtype, as_int, as_shape, check_choice
from tritium.language.core import _engine, builtin, tensor, tensor_member
from tritium.language.dtypes import dtype as _dtype
from tritium.language.dtypes import float32
from tritium.language.type_rules import check_bitcast, check_math_dtype

__all__ = [
    "PropagateNan",
    "abs",
    "add",
    "arange",
    "cast",
    "ceil",
    "clamp",
    "cos",
    "div_rn",
    "dot",
    "dot_scaled",
    "erf",
    "exp",
    "exp2",
    "fdiv",
    "floor",
    "fma",
    "full",
    "inline_asm_elementwise",
    "log",
    "log2",
    "logical_and",
    "logical_or",
    "map_elementwise",
    "maximum",
    "minimum",
    "mul",
    "num_programs",
    "program_id",
    "rsqrt",
    "sin",
    "sqrt",
    "sqrt_rn",
    "sub",
    "umulhi",
    "where",
]


class PropagateNan(Enum):
    """How ``maximum``/``minimum``/``clamp`` treat NaN: ``NONE`` (unspecified) or ``ALL``."""

    NONE = 0x0000
    ALL = 0xFFFF


def _nan_mode(propagate_nan: Any) -> str:
    if isinstance(propagate_nan, PropagateNan):
        return propagate_nan.name.lower()
    if propagate_nan in ("none", "all"):
        return propagate_nan
    raise ValueError(f"propagate_nan must be a tl.PropagateNan, got {propagate_nan!r}")


# --------------------------------------------------------------------------------------------
# program ids and creation
# --------------------------------------------------------------------------------------------


@builtin
def program_id(axis: Any) -> tensor:
    """The id of the current program instance along ``axis`` (0, 1 or 2), an int32 scalar."""
    axis = as_int(axis, "axis")
    if axis not in (0, 1, 2):
        raise ValueError(f"program_id axis must be 0, 1, or 2 but got {axis}")
    return _engine().program_id(axis)


@builtin
def num_programs(axis: Any) -> tensor:
    """The number of program instances launched along ``axis`` (0, 1 or 2)."""
    axis = as_int(axis, "axis")
    if axis not in (0, 1, 2):
        raise ValueError(f"num_programs axis must be 0, 1, or 2 but got {axis}")
    return _engine().num_programs(axis)


@builtin
def arange(start: Any, end: Any) -> tensor:
    """The int32 tile of consecutive values ``[start, end)``; both bounds are compile-time
    integers.

    Triton requires ``end - start`` to be a power of two; tritium also accepts other sizes
    (engines pad such tiles internally), so kernels may use tiles of 12 or 20 elements.
    """
    start, end = as_int(start, "arange start"), as_int(end, "arange end")
    if end <= start:
        raise ValueError(f"arange's end ({end}) must be greater than start ({start})")
    if start < 0 or end > 2**31:  # Triton rejects negative starts too
        raise ValueError(
            f"arange's bounds must fit in int32 and start at 0 or above, got [{start}, {end})"
        )
    return _engine().arange(start, end)


@builtin
def full(shape: Any, value: Any, dtype: Any) -> tensor:
    """A tile of ``shape`` (an int or a tuple of ints) filled with ``value`` of ``dtype``."""
    return _engine().full(as_shape(shape), value, as_dtype(dtype))


# --------------------------------------------------------------------------------------------
# elementwise
# --------------------------------------------------------------------------------------------


@builtin
def where(condition: Any, x: Any, y: Any) -> tensor:
    """Elementwise ``x if condition else y``; the three broadcast together, ``x`` and ``y``
    promote to a common dtype."""
    if isinstance(condition, tensor) and condition.dtype.name != "int1":
        import warnings

        # Triton's deprecation (its tests expect it); the condition is still `!= 0`
        warnings.warn(
            "tl.where with a non-boolean condition is deprecated and will error out in a "
            f"future triton release. Got {condition.dtype}",
            stacklevel=2,
        )
    return _engine().where(condition, x, y)


@builtin
def maximum(x: Any, y: Any, propagate_nan: Any = PropagateNan.NONE) -> tensor:
    """Elementwise maximum of ``x`` and ``y``."""
    return _engine().maximum(x, y, _nan_mode(propagate_nan))


@builtin
def minimum(x: Any, y: Any, propagate_nan: Any = PropagateNan.NONE) -> tensor:
    """Elementwise minimum of ``x`` and ``y``."""
    return _engine().minimum(x, y, _nan_mode(propagate_nan))


@builtin
def clamp(x: Any, min: Any, max: Any, propagate_nan: Any = PropagateNan.NONE) -> tensor:
    """``x`` clamped to ``[min, max]`` elementwise (floating point)."""
    return _engine().clamp(x, min, max, _nan_mode(propagate_nan))


@tensor_member
@builtin
def fma(x: Any, y: Any, z: Any) -> tensor:
    """``x * y + z`` with a single rounding."""
    return _engine().fma(x, y, z)


def _unary(name: str, doc: str, checked: bool = True) -> Any:
    def fn(x: Any) -> tensor:
        if checked:
            check_math_dtype(name, x)
        return getattr(_engine(), name)(x)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    fn.__module__ = __name__
    return tensor_member(builtin(fn))


exp = _unary("exp", "Elementwise e**x.")
exp2 = _unary("exp2", "Elementwise 2**x.")
log = _unary("log", "Elementwise natural logarithm.")
log2 = _unary("log2", "Elementwise base-2 logarithm.")
cos = _unary("cos", "Elementwise cosine.")
sin = _unary("sin", "Elementwise sine.")
sqrt = _unary("sqrt", "Elementwise square root (possibly approximate).")
sqrt_rn = _unary("sqrt_rn", "Elementwise square root, rounded to nearest (IEEE).")
rsqrt = _unary("rsqrt", "Elementwise 1 / sqrt(x).")
abs = _unary("abs", "Elementwise absolute value.", checked=False)
floor = _unary("floor", "Elementwise floor.")
ceil = _unary("ceil", "Elementwise ceiling.")
erf = _unary("erf", "Elementwise error function.")


@tensor_member
@builtin
def div_rn(x: Any, y: Any) -> tensor:
    """Floating point ``x / y`` rounded to nearest (IEEE); fp32 only."""
    check_math_dtype("div_rn", x, y)
    return _engine().div_rn(x, y)


@tensor_member
@builtin
def fdiv(x: Any, y: Any, ieee_rounding: Any = False) -> tensor:
    """Floating point ``x / y``; approximate unless ``ieee_rounding``."""
    for arg in (x, y):
        ty = getattr(arg, "dtype", None)
        if isinstance(arg, int) or (isinstance(ty, _dtype) and not ty.is_floating()):
            raise TypeError("both operands of fdiv must have floating point type")
    return _engine().fdiv(x, y, bool(ieee_rounding))


@tensor_member
@builtin
def umulhi(x: Any, y: Any) -> tensor:
    """The most significant half of the full product of two 32- or 64-bit integer tiles."""
    check_math_dtype("umulhi", x, y)
    return _engine().umulhi(x, y)


# --------------------------------------------------------------------------------------------
# casts
# --------------------------------------------------------------------------------------------


@tensor_member
@builtin
def cast(input: Any, dtype: Any, fp_downcast_rounding: Any = None, bitcast: Any = False) -> tensor:
    """``input`` converted to ``dtype``; ``bitcast=True`` reinterprets the bits (same width).

    ``fp_downcast_rounding`` is None, ``"rtne"`` (round to nearest even) or ``"rtz"``
    (toward zero) and applies to float → narrower float conversions only.
    """
    if fp_downcast_rounding is not None:
        check_choice(fp_downcast_rounding, ("rtne", "rtz"), "fp_downcast_rounding")
    dtype = as_dtype(dtype)
    src = getattr(input, "dtype", None)
    if bitcast and isinstance(src, _dtype) and not (src.is_ptr() or dtype.is_ptr()):
        check_bitcast(src, dtype)
    return _engine().cast(input, dtype, fp_downcast_rounding, bool(bitcast))


# --------------------------------------------------------------------------------------------
# linear algebra
# --------------------------------------------------------------------------------------------


def _check_dot_shapes(a: Any, b: Any, acc: Any) -> None:
    """Clear errors for operand shapes no engine could multiply."""
    if not isinstance(a, tensor) or not isinstance(b, tensor):
        raise TypeError("dot: both operands must be tensors (2-D or batched tiles)")
    if len(a.shape) < 2 or len(b.shape) != len(a.shape):
        raise ValueError(
            "dot: operands must both be 2-D, or batched tiles of one rank (3-D and up), got "
            f"shapes {a.shape} and {b.shape}"
        )
    if a.shape[-1] != b.shape[-2] or a.shape[:-2] != b.shape[:-2]:
        raise ValueError(
            f"dot: shapes {a.shape} and {b.shape} do not compose (the inner dimensions must match)"
        )
    out = a.shape[:-1] + b.shape[-1:]
    if isinstance(acc, tensor) and acc.shape != out:
        raise ValueError(f"dot: acc has shape {acc.shape}, but the product has shape {out}")


_INPUT_PRECISIONS = ("tf32", "tf32x3", "ieee", "bf16x3", "bf16x6")


@builtin
def dot(
    input: Any,
    other: Any,
    acc: Any = None,
    input_precision: Any = None,
    allow_tf32: Any = None,
    max_num_imprecise_acc: Any = None,
    out_dtype: Any = float32,
) -> tensor:
    """The matrix product of two 2-D (or batched: 3-D and up) tiles, plus ``acc`` if given.

    ``allow_tf32`` is the deprecated spelling of ``input_precision="tf32"``/``"ieee"``; giving
    both is an error.
    """
    if allow_tf32 is not None:
        if input_precision is not None:
            raise ValueError("dot: only one of input_precision and allow_tf32 may be given")
        input_precision = "tf32" if allow_tf32 else "ieee"
    if input_precision is not None:
        input_precision = check_choice(
            str(input_precision).lower(), _INPUT_PRECISIONS, "input_precision"
        )
    if max_num_imprecise_acc is not None:
        max_num_imprecise_acc = as_int(max_num_imprecise_acc, "max_num_imprecise_acc")
    _check_dot_shapes(input, other, acc)
    if max_num_imprecise_acc is not None and input.dtype.is_fp8() and other.dtype.is_fp8():
        k = int(input.shape[-1])
        if max_num_imprecise_acc > k:  # Triton's check (the value is a GPU tuning knob)
            raise ValueError(f"max_num_imprecise_acc ({max_num_imprecise_acc}) must be <= K ({k})")
    out_dtype = as_dtype(out_dtype, "out_dtype")
    if len(input.shape) > 3:
        # Several batch axes (Triton allows any rank): flatten them into one, multiply the
        # batched 3-D tiles, and give the product its batch axes back.
        batch = tuple(int(d) for d in input.shape[:-2])
        n = 1
        for d in batch:
            n *= d
        eng = _engine()
        a = eng.reshape(input, (n, *(int(d) for d in input.shape[-2:])), False)
        b = eng.reshape(other, (n, *(int(d) for d in other.shape[-2:])), False)
        c = None if not isinstance(acc, tensor) else eng.reshape(acc, (n, *acc.shape[-2:]), False)
        out = eng.dot(a, b, c, input_precision, max_num_imprecise_acc, out_dtype)
        return eng.reshape(out, (*batch, *out.shape[-2:]), False)
    return _engine().dot(input, other, acc, input_precision, max_num_imprecise_acc, out_dtype)


_SCALED_FORMATS = ("e2m1", "e4m3", "e5m2", "bf16", "fp16")


@builtin
def dot_scaled(
    lhs: Any,
    lhs_scale: Any,
    lhs_format: Any,
    rhs: Any,
    rhs_scale: Any,
    rhs_format: Any,
    acc: Any = None,
    fast_math: Any = False,
    lhs_k_pack: Any = True,
    rhs_k_pack: Any = True,
    out_dtype: Any = float32,
) -> tensor:
    """A matrix product of microscaled operands (``lhs * 2**lhs_scale`` per 32-block of K)."""
    check_choice(lhs_format, _SCALED_FORMATS, "lhs_format")
    check_choice(rhs_format, _SCALED_FORMATS, "rhs_format")
    fa = _scale_factor(lhs, lhs_scale, lhs_format, -1, lhs_k_pack)
    fb = _scale_factor(rhs, rhs_scale, rhs_format, -2, rhs_k_pack)
    if fa and fb and fa != fb:  # Triton's verifier, in its words
        raise ValueError(f"Operands must have the same scale factor; (lhs: {fa} vs rhs: {fb})")
    return _engine().dot_scaled(
        lhs,
        lhs_scale,
        lhs_format,
        rhs,
        rhs_scale,
        rhs_format,
        acc,
        bool(fast_math),
        bool(lhs_k_pack),
        bool(rhs_k_pack),
        as_dtype(out_dtype, "out_dtype"),
    )


def _scale_factor(x: Any, scale: Any, fmt: str, k_axis: int, k_pack: Any) -> int:
    """How many values of K share one scale (0 without scales), from the shapes."""
    if scale is None or not isinstance(x, tensor) or not isinstance(scale, tensor):
        return 0
    shape, scale_shape = list(x.shape), list(scale.shape)
    if len(shape) < 2 or not scale_shape:
        return 0  # the engine reports the shapes
    k = shape[k_axis] * (2 if fmt == "e2m1" and k_pack else 1)
    factor = k // scale_shape[-1] if scale_shape[-1] else 0
    if factor not in (16, 32):
        raise ValueError(f"scale factor must be 16 or 32. Got {factor}")
    return factor


@builtin
def map_elementwise(scalar_fn: Any, *args: Any, pack: Any = 1) -> Any:
    """Apply ``scalar_fn`` (a ``@jit`` function or a callable written with ``tl`` ops) to the
    elements of ``args`` (broadcast together), ``pack`` elements at a time; it returns one
    scalar or a tuple of scalars per call."""
    if not callable(scalar_fn) and not getattr(scalar_fn, "is_jit_function", False):
        raise TypeError(f"map_elementwise: scalar_fn must be callable, got {scalar_fn!r}")
    if not args:
        raise TypeError("map_elementwise needs at least one argument tensor")
    return _engine().map_elementwise(scalar_fn, tuple(args), as_int(pack, "pack"))


@builtin
def inline_asm_elementwise(
    asm: Any, constraints: Any, args: Any, dtype: Any, is_pure: Any, pack: Any
) -> Any:
    """Run inline assembly ``asm`` over ``args`` elementwise, producing ``dtype`` values."""
    if not isinstance(asm, str) or not isinstance(constraints, str):
        raise TypeError("inline_asm_elementwise: asm and constraints must be str")
    dtypes = (
        tuple(as_dtype(d) for d in dtype) if isinstance(dtype, (tuple, list)) else as_dtype(dtype)
    )
    return _engine().inline_asm_elementwise(
        asm, constraints, tuple(args), dtypes, bool(is_pure), as_int(pack, "pack")
    )


# --------------------------------------------------------------------------------------------
# arithmetic as functions (Triton exports tl.add/sub/mul besides the operators)
# --------------------------------------------------------------------------------------------


@builtin
def add(x: Any, y: Any, sanitize_overflow: Any = True) -> tensor:
    """``x + y``; ``sanitize_overflow`` lets a sanitizing engine check integer overflow."""
    return _engine().add(x, y)


@builtin
def sub(x: Any, y: Any, sanitize_overflow: Any = True) -> tensor:
    """``x - y``."""
    return _engine().sub(x, y)


@builtin
def mul(x: Any, y: Any, sanitize_overflow: Any = True) -> tensor:
    """``x * y``."""
    return _engine().mul(x, y)


@tensor_member
@builtin
def logical_and(input: Any, other: Any) -> tensor:  # noqa: A002
    """Elementwise ``input and other`` on booleans (``x.logical_and(y)``)."""
    return _engine().logical_and(input, other)


@tensor_member
@builtin
def logical_or(input: Any, other: Any) -> tensor:  # noqa: A002
    """Elementwise ``input or other`` on booleans (``x.logical_or(y)``)."""
    return _engine().logical_or(input, other)
