"""Conversions between language types (``tl.dtype``) and Tile IR types.

Language dtypes carry signedness (``uint32`` vs ``int32``); IR integers are signless, so the
mapping is many-to-one and the frontend keeps the language type next to every IR value.
"""

from __future__ import annotations

from tritium import ir
from tritium.language import dtypes as ldt

__all__ = ["to_ir_type", "lang_type", "int_constant_in_range", "scalar_ir"]

_SCALAR_TO_IR: dict[str, ir.Type] = {
    "int1": ir.i1,
    "int8": ir.i8,
    "int16": ir.i16,
    "int32": ir.i32,
    "int64": ir.i64,
    "uint8": ir.i8,
    "uint16": ir.i16,
    "uint32": ir.i32,
    "uint64": ir.i64,
    "fp16": ir.f16,
    "bf16": ir.bf16,
    "fp32": ir.f32,
    "fp64": ir.f64,
    "fp8e4nv": ir.f8E4M3FN,
    "fp8e5": ir.f8E5M2,
    # AMD's fnuz formats, and Triton's own e4m3 with bias 15, which Triton also labels with
    # MLIR's f8E4M3B11FNUZ (the CPU backend and the interpreter give it Triton's semantics)
    "fp8e4b8": ir.f8E4M3FNUZ,
    "fp8e5b16": ir.f8E5M2FNUZ,
    "fp8e4b15": ir.f8E4M3B11FNUZ,
}


def scalar_ir(dt: ldt.dtype) -> ir.Type:
    """The IR type of a scalar or pointer language dtype."""
    if isinstance(dt, ldt.pointer_type):
        return ir.PointerType(scalar_ir(dt.element_ty), dt.address_space)
    try:
        return _SCALAR_TO_IR[dt.name]
    except KeyError:
        raise TypeError(
            f"dtype {dt.name} is not supported by the compiler "
            f"(supported: {', '.join(_SCALAR_TO_IR)})"
        ) from None


def to_ir_type(ty: ldt.dtype) -> ir.Type:
    """The IR type of a language type (scalar, pointer or block)."""
    if isinstance(ty, ldt.block_type):
        return ir.TensorType(ty.shape, scalar_ir(ty.element_ty))
    return scalar_ir(ty)


def lang_type(element: ldt.dtype, shape: tuple[int, ...]) -> ldt.dtype:
    """The language type of a tile of ``element`` values of ``shape`` (``()``: a scalar)."""
    element = element.scalar
    return ldt.block_type(element, shape) if shape else element


def int_constant_in_range(value: int, dt: ldt.dtype) -> bool:
    """Whether ``value`` fits the bits of the integer dtype ``dt`` as a signed or unsigned
    number (so that ``x & 0xFFFFFFFF`` on int32 is accepted, as in Triton)."""
    if dt.is_bool():
        return value in (0, 1)
    w = dt.int_bitwidth
    return -(2 ** (w - 1)) <= value < 2**w
