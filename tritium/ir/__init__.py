"""The Tile IR: types, operations, builder, printer, parser and verifier."""

from tritium.ir.builder import Builder
from tritium.ir.core import UNKNOWN_LOC, Block, Location, Module, Operation, Region, Value
from tritium.ir.ops import OPS, OpDef, is_elementwise, is_pure, is_terminator, op_def
from tritium.ir.parser import parse_module
from tritium.ir.printer import print_module
from tritium.ir.types import (
    FloatType,
    FunctionType,
    IntType,
    PointerType,
    ScalarType,
    TensorType,
    Type,
    bf16,
    element_type,
    f8E4M3FN,
    f8E5M2,
    f16,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
    scalar_type,
    shape_of,
    with_element,
)
from tritium.ir.verifier import verify

__all__ = [
    "Builder", "parse_module", "print_module", "verify",
    "UNKNOWN_LOC", "Block", "Location", "Module", "Operation", "Region", "Value",
    "OPS", "OpDef", "is_elementwise", "is_pure", "is_terminator", "op_def",
    "FloatType", "FunctionType", "IntType", "PointerType", "ScalarType", "TensorType", "Type",
    "bf16", "element_type", "f8E4M3FN", "f8E5M2", "f16", "f32", "f64", "i1", "i8", "i16",
    "i32", "i64", "scalar_type", "shape_of", "with_element",
]
