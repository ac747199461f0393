"""Triton's type rules as pure functions on dtypes: promotion, scalars, reductions, math.

Engines (the frontend's IR builder, the interpreter) call these so that every engine gives
an operation the same result type as Triton does. Nothing here builds or computes values.

Python scalars
--------------
A Python number next to a tensor is a *scalar*: ``x + 1``, ``tl.where(m, x, 0.0)``.
On its own a scalar has the dtype :func:`scalar_dtype` gives it:

* ``bool`` → int1;
* ``int`` → the first of int32, uint32, int64, uint64 that holds it (else ValueError);
* ``float`` → fp32 when it is 0, inf, NaN or within fp32's normal range, else fp64.

Binary promotion (``+ - * / // % & | ^ << >>``, comparisons, ``maximum``, ``where``)
---------------------------------------------------------------------------------------
Kinds are ordered bool < integral < floating.

0. **Scalar with a tensor.** If the scalar's kind is lower than or equal to the tensor's,
   the scalar does not take part: the tensor's dtype wins (``uint8 + 1`` → uint8,
   ``fp16 * 2.0`` → fp16), except that ``/`` and ``%`` on fp16/bf16 compute in fp32.
   A scalar of a higher kind promotes with its own dtype by the rules below
   (``int16 + 4.0`` → fp32). Two scalars, or two tensors, go straight to the rules below.
1. fp64 with anything → fp64.
2. fp32 with anything → fp32.
3. fp16 with anything (lower) → fp16; fp32 for ``/`` and ``%``.
4. bf16 with bf16 → bf16 (fp32 for ``/`` and ``%``); bf16 with anything else → fp32
   (Triton's documentation gives ``(int32, bf16) → bf16``; its implementation, which this
   follows, gives fp32).
5. Two fp8 dtypes: the same one → itself; different ones → fp16.
6. Two integers: C's usual arithmetic conversions — same signedness: the wider; otherwise the
   unsigned one if it is at least as wide, else the signed one (``int32, uint32`` → uint32,
   ``int64, uint32`` → int64). ``/``, ``//`` and ``%`` between different signednesses are a
   TypeError.

After promotion, a scalar must fit the result: a negative scalar with an unsigned result,
or an integer scalar outside the result's range, is a ValueError.

Operator specifics
------------------
* ``/`` always gives a float: integer operands compute in fp32.
* ``//`` needs integers (TypeError on floats); it rounds toward zero (C), ``%`` takes the
  sign of the dividend (C's ``%`` and ``fmod``), unlike Python.
* ``& | ^ << >>`` need integers after promotion; ``>>`` is arithmetic for signed, logical for
  unsigned dtypes.
* Comparisons promote, then give int1.
* Pointers: ``ptr + int``, ``int + ptr`` and ``ptr - int`` give the pointer type (offsets count
  elements); pointer with float, ``ptr + ptr``, ``int - ptr`` and comparisons of pointers
  are TypeErrors, as in Triton.
* ``-x`` keeps x's dtype (unsigned values wrap); ``~x`` needs an integer.

Reductions
----------
* ``sum``/``cumsum``: integers narrower than 32 bits accumulate in int32/uint32 (same
  signedness); ``cumsum`` also widens bf16 to fp32; an explicit ``dtype`` wins.
* ``max``/``min`` without indices: bf16 → fp32, then anything narrower than 32 bits widens
  (floats to fp32, integers to int32). With indices only bf16 widens. Indices are int32.
* ``cumprod``: bf16 → fp32.

Shapes
------
Broadcasting follows NumPy: shapes align at their last dimension, and each pair of dimensions
must be equal or contain a 1 (:func:`broadcast_shapes`). Scalars broadcast to anything.
A reduction along ``axis`` drops that dimension, or keeps it as 1 with ``keep_dims``;
``axis=None`` reduces everything to a scalar (a tile of ones with ``keep_dims``)
(:func:`reduced_shape`).

Math
----
``exp exp2 log log2 cos sin sqrt rsqrt erf floor ceil`` accept fp32/fp64 tensors only;
``sqrt_rn``/``div_rn`` fp32 only; ``umulhi`` int32/int64/uint32/uint64 (ValueError
otherwise: cast explicitly). The libdevice functions take fp32/fp64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tritium.errors import IntegerOverflowError
from tritium.language.dtypes import (
    bfloat16,
    dtype,
    float16,
    float32,
    float64,
    int1,
    int32,
    int64,
    uint32,
    uint64,
)

__all__ = [
    "ARITHMETIC_OPS",
    "BITWISE_OPS",
    "COMPARISON_OPS",
    "DIV_OR_MOD_OPS",
    "BinaryTypes",
    "binary_result_type",
    "broadcast_shapes",
    "dot_result_type",
    "check_bitcast",
    "check_math_dtype",
    "computation_type",
    "cumprod_dtype",
    "cumsum_dtype",
    "integer_promote",
    "is_scalar",
    "max_min_dtype",
    "reduced_shape",
    "scalar_dtype",
    "sum_dtype",
    "unary_result_type",
    "where_result_type",
]

ARITHMETIC_OPS = frozenset(
    {
        "add",
        "sub",
        "mul",
        "truediv",
        "floordiv",
        "mod",
        "maximum",
        "minimum",
        "fma",
        "umulhi",
        "fdiv",
        "div_rn",
    }
)
BITWISE_OPS = frozenset({"and_", "or_", "xor", "lshift", "rshift"})
COMPARISON_OPS = frozenset({"lt", "le", "gt", "ge", "eq", "ne"})
DIV_OR_MOD_OPS = frozenset({"truediv", "floordiv", "mod"})

_FP32_MIN_NORMAL = 2.0**-126
_FP32_MAX = (2 - 2.0**-23) * 2.0**127


def is_scalar(value: Any) -> bool:
    """Whether ``value`` is a Python number (a *scalar* in the promotion rules)."""
    return isinstance(value, (bool, int, float)) and not isinstance(value, dtype)


def scalar_dtype(value: bool | float) -> dtype:
    """The dtype a Python scalar takes on its own (see the module docstring)."""
    if isinstance(value, bool):
        return int1
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return int32
        if 2**31 <= value < 2**32:
            return uint32
        if -(2**63) <= value < 2**63:
            return int64
        if 2**63 <= value < 2**64:
            return uint64
        raise IntegerOverflowError(f"integer {value} does not fit in 64 bits")
    if isinstance(value, float):
        mag = -value if value < 0 else value
        if math.isnan(value) or mag in (0.0, float("inf")) or _FP32_MIN_NORMAL <= mag <= _FP32_MAX:
            return float32
        return float64
    raise TypeError(f"cannot use {value!r} of type {type(value).__name__} as a scalar")


def integer_promote(a: dtype, b: dtype) -> dtype:
    """C's usual arithmetic conversions between two integer dtypes."""
    if a.is_int_signed() == b.is_int_signed():
        return a if a.int_bitwidth > b.int_bitwidth else b
    unsigned, signed = (a, b) if a.is_int_unsigned() else (b, a)
    return unsigned if unsigned.int_bitwidth >= signed.int_bitwidth else signed


def computation_type(
    a: dtype, a_is_scalar: bool, b: dtype, b_is_scalar: bool, div_or_mod: bool = False
) -> dtype:
    """The dtype both operands of an arithmetic op convert to (rules 0-6 of the module doc)."""
    if a_is_scalar != b_is_scalar:
        scalar_ty, tensor_ty = (a, b) if a_is_scalar else (b, a)
        if scalar_ty.kind().value <= tensor_ty.kind().value:
            if div_or_mod and tensor_ty in (float16, bfloat16):
                return float32
            return tensor_ty
    if a.is_fp64() or b.is_fp64():
        return float64
    if a.is_fp32() or b.is_fp32():
        return float32
    if a.is_fp16() or b.is_fp16():
        return float32 if div_or_mod else float16
    if a.is_bf16() and b.is_bf16():
        return float32 if div_or_mod else bfloat16
    if a.is_bf16() or b.is_bf16():
        return float32
    if a.is_fp8() and b.is_fp8():
        return a if a == b else float16
    if not a.is_int() or not b.is_int():
        raise TypeError(f"unexpected operand types {a} and {b}")
    if div_or_mod and a.is_int_signed() != b.is_int_signed():
        raise TypeError(
            f"Cannot use /, //, or % with {a} and {b} because they have different "
            "signedness; cast them to the same signedness"
        )
    return integer_promote(a, b)


@dataclass(frozen=True)
class BinaryTypes:
    """The types of a binary op: what each operand converts to, and the result's dtype."""

    lhs: dtype
    rhs: dtype
    result: dtype


def _operand(value: Any) -> tuple[dtype, bool]:
    """(dtype, is_scalar) for a dtype, a tensor (anything with ``.dtype``) or a Python number."""
    if isinstance(value, dtype):
        return value.scalar, False
    if is_scalar(value):
        return scalar_dtype(value), True
    ty = getattr(value, "dtype", None)
    if isinstance(ty, dtype):
        return ty, False
    raise TypeError(f"cannot use {value!r} as an operand")


def _check_scalar_fits(value: Any, is_scalar_: bool, ty: dtype) -> None:
    if not is_scalar_ or not ty.is_int() or isinstance(value, float):
        return
    v = int(value)
    if v < 0 and ty.is_int_unsigned() and not ty.is_bool():
        raise ValueError(
            f"cannot combine the negative scalar {v} with an unsigned operand "
            f"({ty}); cast one of them explicitly"
        )
    if not ty.is_bool() and not ty.get_int_min_value() <= v <= ty.get_int_max_value():
        raise ValueError(f"scalar {v} is out of range for type {ty}")


def _pointer_types(op: str, a: dtype, b: dtype) -> BinaryTypes:
    if a.is_ptr() and b.is_ptr():
        raise TypeError(
            f"cannot {'add' if op == 'add' else 'apply ' + op + ' to'} two pointers ({a} and {b})"
        )
    if op == "add" and b.is_ptr():  # offset + ptr
        if not a.is_int():
            raise TypeError(f"pointer offsets must be integers, got {a}")
        return BinaryTypes(a, b, b)
    if op in ("add", "sub") and a.is_ptr():
        if not b.is_int():
            raise TypeError(f"pointer offsets must be integers, got {b}")
        return BinaryTypes(a, b, a)
    raise TypeError(f"invalid operands of type {a} and {b} for {op}")


def binary_result_type(lhs: Any, rhs: Any, op: str) -> BinaryTypes:
    """The operand and result dtypes of ``op`` (an Engine operator name such as ``"add"``,
    ``"truediv"``, ``"lt"``, ``"and_"``, ``"maximum"``) on ``lhs`` and ``rhs``.

    Each operand may be a dtype or tensor (a tensor operand) or a Python number (a scalar).
    ``lhs``/``rhs`` of the result follow the operands' order; in pointer arithmetic the
    offset keeps its own integer dtype (``int + ptr`` gives ``BinaryTypes(int, ptr, ptr)``).
    Raises TypeError/ValueError as Triton does for invalid combinations.
    """
    a, a_scalar = _operand(lhs)
    b, b_scalar = _operand(rhs)
    if a.is_ptr() or b.is_ptr():
        return _pointer_types(op, a, b)
    div_or_mod = op in DIV_OR_MOD_OPS
    common = computation_type(a, a_scalar, b, b_scalar, div_or_mod)
    _check_scalar_fits(lhs, a_scalar, common)
    _check_scalar_fits(rhs, b_scalar, common)
    if op == "truediv":
        out = float32 if common.is_int() else common
        return BinaryTypes(out, out, out)
    if op == "floordiv" and not common.is_int():
        raise TypeError(f"// needs integer operands, got {a} and {b}")
    if op in BITWISE_OPS and not common.is_int():
        # Triton's wording ("invalid operands of type"), which code and tests match on.
        raise TypeError(
            f"invalid operands of type {a} and {b}: {op.rstrip('_')} needs integer operands"
        )
    if op in COMPARISON_OPS:
        return BinaryTypes(common, common, int1)
    if op in ARITHMETIC_OPS or op in BITWISE_OPS:
        return BinaryTypes(common, common, common)
    raise ValueError(f"unknown binary op {op!r}")


def unary_result_type(operand: Any, op: str) -> dtype:
    """The result dtype of ``neg``, ``pos``, ``invert`` or ``logical_not`` on ``operand``."""
    ty, _ = _operand(operand)
    if op == "logical_not":
        return int1
    if ty.is_ptr():
        raise TypeError(f"wrong type argument to unary {op}: {ty}")
    if op == "invert" and not ty.is_int():
        raise TypeError(f"wrong type argument to unary invert: {ty}")
    if op in ("neg", "pos", "invert"):
        return ty
    raise ValueError(f"unknown unary op {op!r}")


def where_result_type(x: Any, y: Any) -> dtype:
    """The dtype of ``tl.where(cond, x, y)``: x and y promote like an arithmetic op; two
    pointers must have the same type."""
    a, a_scalar = _operand(x)
    b, b_scalar = _operand(y)
    if a.is_ptr() or b.is_ptr():
        if a != b:
            raise TypeError(f"where: incompatible pointer operands {a} and {b}")
        return a
    common = computation_type(a, a_scalar, b, b_scalar)
    _check_scalar_fits(x, a_scalar, common)
    _check_scalar_fits(y, b_scalar, common)
    return common


def check_bitcast(src: dtype, dst: dtype) -> None:
    """ValueError unless a bitcast from ``src`` to ``dst`` keeps the bit width (pointers are
    64 bits wide)."""
    src, dst = src.scalar, dst.scalar
    if src.primitive_bitwidth != dst.primitive_bitwidth:
        raise ValueError(
            f"cannot bitcast data-type of size {src.primitive_bitwidth} to "
            f"data-type of size {dst.primitive_bitwidth} ({src} to {dst})"
        )


def sum_dtype(input_dtype: dtype, dtype_arg: dtype | None = None) -> dtype:
    """The accumulation (and result) dtype of ``tl.sum``."""
    if dtype_arg is not None:
        return dtype_arg
    if input_dtype.is_int() and input_dtype.int_bitwidth < 32:
        # int1 counts as unsigned, as in Triton, so booleans sum in uint32
        return int32 if input_dtype.is_int_signed() else uint32
    return input_dtype


def cumsum_dtype(input_dtype: dtype, dtype_arg: dtype | None = None) -> dtype:
    """The accumulation (and result) dtype of ``tl.cumsum``."""
    if input_dtype.is_bf16():
        input_dtype = float32
    return sum_dtype(input_dtype, dtype_arg)


def cumprod_dtype(input_dtype: dtype) -> dtype:
    """The accumulation dtype of ``tl.cumprod``."""
    return float32 if input_dtype.is_bf16() else input_dtype


def max_min_dtype(input_dtype: dtype, return_indices: bool) -> dtype:
    """The dtype ``tl.max``/``tl.min`` reduce in (and return values in)."""
    if input_dtype.is_bf16():
        return float32
    if return_indices or input_dtype.primitive_bitwidth >= 32:
        return input_dtype
    return float32 if input_dtype.is_floating() else int32


_MATH_DTYPES: dict[str, tuple[str, ...]] = {
    **{
        name: ("fp32", "fp64")
        for name in (
            "exp",
            "exp2",
            "log",
            "log2",
            "cos",
            "sin",
            "sqrt",
            "rsqrt",
            "erf",
            "floor",
            "ceil",
        )
    },
    "sqrt_rn": ("fp32",),
    "div_rn": ("fp32",),
    "umulhi": ("int32", "int64", "uint32", "uint64"),
}


def check_math_dtype(name: str, *args: Any) -> None:
    """ValueError if a tensor argument of the math builtin ``name`` has a dtype Triton rejects
    (Python scalars are not checked; see the module docstring)."""
    allowed = _MATH_DTYPES.get(name, ("fp32", "fp64"))
    for arg in args:
        ty = getattr(arg, "dtype", None)
        if isinstance(ty, dtype) and ty.name not in allowed:
            raise ValueError(
                f"{name}: expected dtype {list(allowed)} but got {ty.name}; "
                "cast the argument explicitly"
            )


def dot_result_type(a: dtype, b: dtype, out_dtype: dtype | None, acc: dtype | None) -> dtype:
    """The product type of ``tl.dot(a, b, acc, out_dtype=...)``: int32 for two 8-bit integer
    operands, else ``out_dtype`` (fp32 by default). TypeError for operands Triton rejects
    (mixed or wide integers, two different non-fp8 floats) and for an ``acc`` whose kind (float
    or integer) differs from the product's; an ``acc`` of the same kind sets the result type."""
    if a.is_int() or b.is_int():
        if not (a.is_int() and b.is_int() and a.int_bitwidth == 8 and b.int_bitwidth == 8):
            raise TypeError(f"dot: integer operands must both be 8-bit, got {a} and {b}")
        ret = int32
    else:
        if a != b and not (a.is_fp8() and b.is_fp8()):
            raise TypeError(f"dot: operands must have the same type, got {a} and {b}")
        ret = out_dtype if out_dtype is not None else float32
        if not ret.is_floating():
            raise TypeError(f"dot: out_dtype must be a float type, got {ret}")
    if acc is not None and acc.is_floating() != ret.is_floating():
        raise TypeError(f"dot: acc of type {acc} does not match the product type {ret}")
    return ret


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The common shape of ``shapes`` under NumPy broadcasting; ValueError if there is none."""
    rank = max((len(sh) for sh in shapes), default=0)
    result = [1] * rank
    for sh in shapes:
        for i, dim in enumerate(sh, start=rank - len(sh)):
            if dim == result[i] or dim == 1:
                continue
            if result[i] != 1:
                raise ValueError(
                    f"cannot broadcast shapes {' and '.join(map(str, shapes))}: dimension "
                    f"{i} is {result[i]} in one and {dim} in another"
                )
            result[i] = dim
    return tuple(result)


def reduced_shape(shape: tuple[int, ...], axis: int | None, keep_dims: bool) -> tuple[int, ...]:
    """The shape of a reduction of a ``shape`` tile along ``axis`` (None: all axes)."""
    if axis is None:
        return (1,) * len(shape) if keep_dims else ()
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"axis {axis} is out of range for shape {shape}")
    axis %= len(shape)
    if keep_dims:
        return shape[:axis] + (1,) + shape[axis + 1 :]
    return shape[:axis] + shape[axis + 1 :]
