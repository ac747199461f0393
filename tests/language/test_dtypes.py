"""dtypes, pointer and block types: names, predicates, equality, parsing."""

from __future__ import annotations

import pytest

import tritium.language as tl

SCALARS = {
    "int1": tl.int1,
    "int8": tl.int8,
    "int16": tl.int16,
    "int32": tl.int32,
    "int64": tl.int64,
    "uint8": tl.uint8,
    "uint16": tl.uint16,
    "uint32": tl.uint32,
    "uint64": tl.uint64,
    "fp8e4nv": tl.float8e4nv,
    "fp8e5": tl.float8e5,
    "fp8e4b15": tl.float8e4b15,
    "fp8e4b8": tl.float8e4b8,
    "fp8e5b16": tl.float8e5b16,
    "fp16": tl.float16,
    "bf16": tl.bfloat16,
    "fp32": tl.float32,
    "fp64": tl.float64,
}


@pytest.mark.parametrize("name", sorted(SCALARS))
def test_names_round_trip(name: str) -> None:
    ty = SCALARS[name]
    assert ty.name == name and str(ty) == name
    assert tl.dtype(name) == ty and hash(tl.dtype(name)) == hash(ty)
    assert tl.dtype(tl.constexpr(name)) == ty
    assert tl.dtype.is_dtype(name)


def test_repr_uses_triton_long_names() -> None:
    assert repr(tl.float32) == "triton.language.float32"
    assert repr(tl.int32) == "triton.language.int32"
    assert repr(tl.bfloat16) == "triton.language.bfloat16"


def test_unknown_name_is_value_error() -> None:
    with pytest.raises(ValueError, match="unknown dtype name 'fp33'"):
        tl.dtype("fp33")
    with pytest.raises(TypeError):
        tl.dtype(32)


@pytest.mark.parametrize(
    ("ty", "bits", "floating", "signed", "unsigned"),
    [
        (tl.int1, 1, False, False, True),  # Triton counts int1 as unsigned
        (tl.int8, 8, False, True, False),
        (tl.int64, 64, False, True, False),
        (tl.uint16, 16, False, False, True),
        (tl.uint64, 64, False, False, True),
        (tl.float8e4nv, 8, True, False, False),
        (tl.float16, 16, True, False, False),
        (tl.bfloat16, 16, True, False, False),
        (tl.float32, 32, True, False, False),
        (tl.float64, 64, True, False, False),
    ],
)
def test_predicates(ty: tl.dtype, bits: int, floating: bool, signed: bool, unsigned: bool) -> None:
    assert ty.primitive_bitwidth == bits
    assert ty.is_floating() is floating
    assert ty.is_int_signed() is signed
    assert ty.is_int_unsigned() is unsigned
    assert ty.is_int() is (signed or unsigned)
    assert not ty.is_ptr() and not ty.is_block()
    assert ty.scalar is ty


def test_specific_predicates() -> None:
    assert tl.int1.is_bool() and not tl.int8.is_bool()
    assert tl.float16.is_fp16() and tl.bfloat16.is_bf16() and tl.float32.is_fp32()
    assert tl.float64.is_fp64() and not tl.float32.is_fp64()
    assert tl.float8e4nv.is_fp8() and tl.float8e5.is_fp8() and not tl.float16.is_fp8()
    assert tl.float8e4nv.is_fp8e4nv() and tl.float8e5.is_fp8e5()
    assert tl.float32.is_standard_floating() and not tl.float8e5.is_standard_floating()
    assert tl.void.is_void()
    assert tl.float32.kind() == tl.dtype.KIND.FLOATING
    assert tl.int32.kind() == tl.dtype.KIND.INTEGRAL
    assert tl.int1.kind() == tl.dtype.KIND.BOOLEAN


def test_float_formats() -> None:
    assert (tl.float32.fp_mantissa_width, tl.float32.exponent_bias) == (23, 127)
    assert (tl.float16.fp_mantissa_width, tl.float16.exponent_bias) == (10, 15)
    assert (tl.bfloat16.fp_mantissa_width, tl.bfloat16.exponent_bias) == (7, 127)
    assert (tl.float8e4nv.fp_mantissa_width, tl.float8e4nv.exponent_bias) == (3, 7)
    assert (tl.float8e5.fp_mantissa_width, tl.float8e5.exponent_bias) == (2, 15)


def test_int_limits_and_sign_conversion() -> None:
    assert tl.int8.get_int_max_value() == 127 and tl.int8.get_int_min_value() == -128
    assert tl.uint8.get_int_max_value() == 255 and tl.uint8.get_int_min_value() == 0
    assert tl.int32.to_unsigned() == tl.uint32 and tl.uint64.to_signed() == tl.int64
    with pytest.raises(TypeError):
        tl.float32.get_int_max_value()


def test_signed_and_unsigned_differ() -> None:
    assert tl.int32 != tl.uint32
    assert len({tl.int32, tl.uint32, tl.dtype("int32")}) == 2


def test_pointer_type() -> None:
    p = tl.pointer_type(tl.float16)
    assert p.is_ptr() and not p.is_floating() and not p.is_block()
    assert p.element_ty == tl.float16 and p.scalar is p
    assert p.primitive_bitwidth == 64 and p.address_space == 1
    assert p == tl.pointer_type(tl.float16) and p != tl.pointer_type(tl.float32)
    assert p != tl.float16 and hash(p) == hash(tl.pointer_type(tl.float16))
    assert tl.pi32_t == tl.pointer_type(tl.int32)
    assert tl.pointer_type(p).element_ty == p  # pointer to pointer
    with pytest.raises(TypeError, match="element_ty"):
        tl.pointer_type("fp32")


def test_block_type() -> None:
    b = tl.block_type(tl.float32, [16, tl.constexpr(8)])
    assert b.is_block() and b.shape == (16, 8) and b.numel == 128 and b.nbytes == 512
    assert b.scalar == tl.float32 and b.element_ty == tl.float32
    assert b.get_block_shapes() == (16, 8)
    assert b.is_floating() and b.is_fp32() and not b.is_int()  # predicates of the element
    assert b == tl.block_type(tl.float32, (16, 8)) and b != tl.block_type(tl.float32, (8, 16))
    assert b.with_element_ty(tl.int8) == tl.block_type(tl.int8, (16, 8))
    pb = tl.block_type(tl.pointer_type(tl.float32), [4])
    assert pb.scalar.is_ptr() and pb.is_block()


def test_block_type_errors() -> None:
    with pytest.raises(ValueError, match="positive"):
        tl.block_type(tl.float32, [0])
    with pytest.raises(TypeError, match="at least one dimension"):
        tl.block_type(tl.float32, [])
    with pytest.raises(ValueError, match="maximum tensor numel"):
        tl.block_type(tl.float32, [tl.TRITON_MAX_TENSOR_NUMEL * 2])
    with pytest.raises(TypeError):
        tl.block_type(tl.block_type(tl.float32, [2]), [2])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fp32", tl.float32),
        ("bf16", tl.bfloat16),
        ("i1", tl.int1),
        ("i32", tl.int32),
        ("u8", tl.uint8),
        ("u64", tl.uint64),
        ("fp8e5", tl.float8e5),
        ("float16", tl.float16),
        ("int64", tl.int64),
        ("*fp32", tl.pointer_type(tl.float32)),
        ("*i8", tl.pointer_type(tl.int8)),
        ("*bf16", tl.pointer_type(tl.bfloat16)),
    ],
)
def test_str_to_ty(text: str, expected: tl.dtype) -> None:
    assert tl.str_to_ty(text) == expected


def test_str_to_ty_const_pointer() -> None:
    ty = tl.str_to_ty("*kfp16")
    assert ty.is_ptr() and ty.is_const() and ty.element_ty == tl.float16
    assert ty != tl.pointer_type(tl.float16)


def test_str_to_ty_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        tl.str_to_ty("f32x")


def test_get_int_dtype() -> None:
    from tritium.language.core import get_int_dtype

    assert get_int_dtype(32, True) == tl.int32 and get_int_dtype(8, False) == tl.uint8
    assert get_int_dtype(1, True) == tl.int1 and get_int_dtype(64, False) == tl.uint64
    with pytest.raises(ValueError, match="12 bits"):
        get_int_dtype(12, True)
