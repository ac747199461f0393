"""Triton's promotion rules as pure type computations."""

from __future__ import annotations

import pytest

import tritium.language as tl
from tritium.language import type_rules as st
from tritium.language.core import engine_scope

from .recording import RecordingEngine, fake

PTR = tl.pointer_type(tl.float32)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, tl.int1),
        (1, tl.int32),
        (-(2**31), tl.int32),
        (2**31 - 1, tl.int32),
        (2**31, tl.uint32),
        (2**32 - 1, tl.uint32),
        (2**32, tl.int64),
        (-(2**40), tl.int64),
        (2**63, tl.uint64),
        (1.0, tl.float32),
        (0.0, tl.float32),
        (-2.5, tl.float32),
        (float("inf"), tl.float32),
        (float("nan"), tl.float32),
        (1e300, tl.float64),
        (1e-300, tl.float64),
    ],
)
def test_scalar_dtype(value, expected: tl.dtype) -> None:
    assert st.scalar_dtype(value) == expected


def test_scalar_dtype_errors() -> None:
    with pytest.raises(ValueError, match="64 bits"):
        st.scalar_dtype(2**64)
    with pytest.raises(TypeError):
        st.scalar_dtype("1")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (tl.int8, tl.int32, tl.int32),
        (tl.uint8, tl.uint16, tl.uint16),
        (tl.int32, tl.uint32, tl.uint32),
        (tl.int64, tl.uint32, tl.int64),
        (tl.int8, tl.uint8, tl.uint8),
        (tl.int1, tl.int8, tl.int8),
        (tl.int1, tl.int1, tl.int1),
    ],
)
def test_integer_promote(a: tl.dtype, b: tl.dtype, expected: tl.dtype) -> None:
    assert st.integer_promote(a, b) == expected
    assert st.integer_promote(b, a) == expected


# Two tensors (no scalars): (lhs, rhs, op, operand dtype, result dtype)
TENSOR_CASES = [
    (tl.float32, tl.float16, "add", tl.float32, tl.float32),
    (tl.float16, tl.bfloat16, "mul", tl.float16, tl.float16),
    (tl.bfloat16, tl.bfloat16, "add", tl.bfloat16, tl.bfloat16),
    (tl.int32, tl.bfloat16, "add", tl.float32, tl.float32),  # bf16 with non-bf16 -> fp32
    (tl.int8, tl.float16, "sub", tl.float16, tl.float16),
    (tl.float64, tl.int64, "add", tl.float64, tl.float64),
    (tl.float8e4nv, tl.float8e5, "add", tl.float16, tl.float16),
    (tl.float8e5, tl.float8e5, "add", tl.float8e5, tl.float8e5),
    (tl.int32, tl.uint32, "add", tl.uint32, tl.uint32),
    (tl.int16, tl.int64, "mul", tl.int64, tl.int64),
    (tl.int32, tl.int32, "truediv", tl.float32, tl.float32),
    (tl.float16, tl.float16, "truediv", tl.float32, tl.float32),
    (tl.bfloat16, tl.bfloat16, "mod", tl.float32, tl.float32),
    (tl.float16, tl.float16, "add", tl.float16, tl.float16),
    (tl.int32, tl.int64, "floordiv", tl.int64, tl.int64),
    (tl.uint8, tl.uint32, "mod", tl.uint32, tl.uint32),
    (tl.int8, tl.int16, "and_", tl.int16, tl.int16),
    (tl.int1, tl.int1, "xor", tl.int1, tl.int1),
    (tl.int32, tl.float16, "lt", tl.float16, tl.int1),
    (tl.uint32, tl.int32, "eq", tl.uint32, tl.int1),
    (tl.float32, tl.int32, "maximum", tl.float32, tl.float32),
]


@pytest.mark.parametrize(
    ("a", "b", "op", "operand", "result"),
    TENSOR_CASES,
    ids=[f"{a}-{op}-{b}" for a, b, op, _, _ in TENSOR_CASES],
)
def test_tensor_tensor_promotion(a, b, op, operand, result) -> None:
    types = st.binary_result_type(a, b, op)
    assert (types.lhs, types.rhs, types.result) == (operand, operand, result)
    # tensors (anything with .dtype) are treated like their dtype
    assert st.binary_result_type(fake((4,), a), fake((4,), b), op) == types


# Tensor with a Python scalar: (tensor dtype, scalar, op, result dtype)
SCALAR_CASES = [
    (tl.uint8, 1, "add", tl.uint8),
    (tl.int8, 100, "mul", tl.int8),
    (tl.int16, 4.0, "add", tl.float32),
    (tl.float16, 2.0, "mul", tl.float16),
    (tl.float16, 2, "truediv", tl.float32),
    (tl.bfloat16, 3.0, "mod", tl.float32),
    (tl.bfloat16, 3.0, "add", tl.bfloat16),
    (tl.int32, 2**31, "add", tl.int32),  # equal kind: the tensor's dtype wins ...
    (tl.int64, 2**40, "add", tl.int64),
    (tl.float64, 1.0, "add", tl.float64),
    (tl.int1, True, "and_", tl.int1),
    (tl.int32, 1.5, "lt", tl.int1),
    (tl.uint32, 0xCD9E8D57, "mul", tl.uint32),
]


@pytest.mark.parametrize(
    ("a", "scalar", "op", "result"),
    SCALAR_CASES,
    ids=[f"{a}-{op}-{s}" for a, s, op, _ in SCALAR_CASES],
)
def test_tensor_scalar_promotion(a, scalar, op, result) -> None:
    if a == tl.int32 and scalar == 2**31:
        # ... but the scalar must then fit it
        with pytest.raises(ValueError, match="out of range"):
            st.binary_result_type(a, scalar, op)
        return
    assert st.binary_result_type(a, scalar, op).result == result
    assert st.binary_result_type(scalar, a, op).result == result  # either side


def test_two_scalars_use_their_own_dtypes() -> None:
    assert st.binary_result_type(1, 2.0, "add").result == tl.float32
    assert st.binary_result_type(1, 2, "truediv").result == tl.float32
    assert st.binary_result_type(2**40, 1, "add").result == tl.int64


@pytest.mark.parametrize(
    ("a", "b", "op", "exc", "match"),
    [
        (tl.uint32, -1, "add", ValueError, "negative scalar"),
        (tl.int8, 1000, "add", ValueError, "out of range"),
        (tl.float32, tl.int32, "floordiv", TypeError, "integer operands"),
        (tl.float32, tl.int32, "and_", TypeError, "integer operands"),
        (tl.float32, 1, "lshift", TypeError, "integer operands"),
        (tl.int32, tl.uint32, "mod", TypeError, "signedness"),
        (tl.int32, tl.uint32, "truediv", TypeError, "signedness"),
        (PTR, PTR, "add", TypeError, "two pointers"),
        (PTR, tl.float32, "add", TypeError, "integers"),
        (PTR, 1.0, "add", TypeError, "integers"),
        (PTR, PTR, "sub", TypeError, "pointers"),
        (1, PTR, "sub", TypeError, "invalid operands"),
        (PTR, PTR, "lt", TypeError, "pointers"),
        (PTR, 1, "mul", TypeError, "invalid operands"),
        (tl.int32, tl.int32, "pow", ValueError, "unknown binary op"),
    ],
)
def test_invalid_combinations(a, b, op, exc, match) -> None:
    with pytest.raises(exc, match=match):
        st.binary_result_type(a, b, op)


def test_pointer_arithmetic() -> None:
    assert st.binary_result_type(PTR, tl.int32, "add") == st.BinaryTypes(PTR, tl.int32, PTR)
    assert st.binary_result_type(tl.int64, PTR, "add") == st.BinaryTypes(tl.int64, PTR, PTR)
    assert st.binary_result_type(3, PTR, "add") == st.BinaryTypes(tl.int32, PTR, PTR)
    assert st.binary_result_type(PTR, 4, "sub").result == PTR
    assert st.binary_result_type(fake((8,), PTR), fake((8,), tl.int32), "add").result == PTR


def test_unary_result_type() -> None:
    assert st.unary_result_type(tl.uint8, "neg") == tl.uint8
    assert st.unary_result_type(tl.int32, "invert") == tl.int32
    assert st.unary_result_type(tl.float32, "logical_not") == tl.int1
    with pytest.raises(TypeError):
        st.unary_result_type(tl.float32, "invert")
    with pytest.raises(TypeError):
        st.unary_result_type(PTR, "neg")


def test_where_result_type() -> None:
    assert st.where_result_type(tl.float16, 0.0) == tl.float16
    assert st.where_result_type(1.0, 0.0) == tl.float32
    assert st.where_result_type(tl.int8, tl.float32) == tl.float32
    assert st.where_result_type(PTR, PTR) == PTR
    with pytest.raises(TypeError):
        st.where_result_type(PTR, tl.pointer_type(tl.int8))


def test_check_bitcast() -> None:
    st.check_bitcast(tl.float32, tl.int32)
    st.check_bitcast(tl.block_type(tl.float16, [4]), tl.uint16)
    with pytest.raises(ValueError, match="size 32 to data-type of size 16"):
        st.check_bitcast(tl.float32, tl.int16)


@pytest.mark.parametrize(
    ("fn", "args", "expected"),
    [
        (st.sum_dtype, (tl.int8,), tl.int32),
        (st.sum_dtype, (tl.uint16,), tl.uint32),
        (st.sum_dtype, (tl.int1,), tl.uint32),
        (st.sum_dtype, (tl.int64,), tl.int64),
        (st.sum_dtype, (tl.float16,), tl.float16),
        (st.sum_dtype, (tl.bfloat16,), tl.bfloat16),
        (st.sum_dtype, (tl.int8, tl.int64), tl.int64),
        (st.cumsum_dtype, (tl.bfloat16,), tl.float32),
        (st.cumsum_dtype, (tl.int16,), tl.int32),
        (st.cumprod_dtype, (tl.bfloat16,), tl.float32),
        (st.cumprod_dtype, (tl.int8,), tl.int8),
        (st.max_min_dtype, (tl.bfloat16, True), tl.float32),
        (st.max_min_dtype, (tl.float16, False), tl.float32),
        (st.max_min_dtype, (tl.float16, True), tl.float16),
        (st.max_min_dtype, (tl.int8, False), tl.int32),
        (st.max_min_dtype, (tl.uint8, False), tl.int32),
        (st.max_min_dtype, (tl.uint32, False), tl.uint32),
        (st.max_min_dtype, (tl.float64, False), tl.float64),
    ],
)
def test_reduction_dtypes(fn, args, expected) -> None:
    assert fn(*args) == expected


def test_math_dtype_checks() -> None:
    st.check_math_dtype("exp", fake((4,), tl.float32), 2.0)
    st.check_math_dtype("umulhi", fake((4,), tl.uint32))
    with pytest.raises(ValueError, match=r"expected dtype \['fp32', 'fp64'\] but got fp16"):
        st.check_math_dtype("exp", fake((4,), tl.float16))
    with pytest.raises(ValueError, match="fp64"):
        st.check_math_dtype("sqrt_rn", fake((4,), tl.float64))
    with pytest.raises(ValueError, match="int8"):
        st.check_math_dtype("umulhi", fake((4,), tl.int8))


@pytest.mark.parametrize(
    "call",
    [
        lambda: tl.exp(fake((4,), tl.float16)),
        lambda: tl.math.sqrt(fake((4,), tl.bfloat16)),
        lambda: tl.rsqrt(fake((4,), tl.int32)),
        lambda: tl.div_rn(fake((4,), tl.float64), 1.0),
        lambda: tl.umulhi(fake((4,), tl.int16), 3),
        lambda: tl.math.tanh(fake((4,), tl.float16)),
        lambda: tl.extra.libdevice.pow(fake((4,), tl.int32), 2.0),
        lambda: fake((4,), tl.float32).to(tl.int16, bitcast=True),
        lambda: tl.fdiv(fake((4,), tl.int32), 2.0),
    ],
)
def test_builtins_reject_what_triton_rejects(call) -> None:
    engine = RecordingEngine()
    with engine_scope(engine), pytest.raises((ValueError, TypeError)):
        call()
    assert not engine.calls


@pytest.mark.parametrize(
    ("shapes", "expected"),
    [
        (((4, 8), (4, 8)), (4, 8)),
        (((4, 1), (1, 8)), (4, 8)),
        (((8,), (4, 8)), (4, 8)),
        (((), (4, 8)), (4, 8)),
        (((2, 1, 8), (4, 1), (8,)), (2, 4, 8)),
        (((),), ()),
    ],
)
def test_broadcast_shapes(shapes, expected) -> None:
    assert st.broadcast_shapes(*shapes) == expected


def test_broadcast_shapes_incompatible() -> None:
    with pytest.raises(ValueError, match="dimension 1 is 8 in one and 4"):
        st.broadcast_shapes((4, 8), (4, 4))


@pytest.mark.parametrize(
    ("shape", "axis", "keep", "expected"),
    [
        ((4, 8), 0, False, (8,)),
        ((4, 8), 1, True, (4, 1)),
        ((4, 8), -1, False, (4,)),
        ((4, 8), None, False, ()),
        ((4, 8), None, True, (1, 1)),
    ],
)
def test_reduced_shape(shape, axis, keep, expected) -> None:
    assert st.reduced_shape(shape, axis, keep) == expected
    with pytest.raises(ValueError):
        st.reduced_shape(shape, 2, keep)
