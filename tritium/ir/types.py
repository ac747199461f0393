"""Types of the Tile IR: scalars, pointers, tensors (tiles) and function types.

Types are immutable and compare by value, so they can be used as dict keys and
checked with ``==``. Their ``str`` is the textual form used by the printer:

    i32, f16, bf16, f8E4M3FN, !tt.ptr<f32>, tensor<128x64xf32>, tensor<128x!tt.ptr<f16>>

Integers are signless, as in MLIR: signedness lives in the ops (``arith.divsi`` vs
``arith.divui``), which the frontend chooses from the language-level dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Type",
    "ScalarType",
    "IntType",
    "FloatType",
    "PointerType",
    "TensorType",
    "FunctionType",
    "i1",
    "i8",
    "i16",
    "i32",
    "i64",
    "f16",
    "bf16",
    "f32",
    "f64",
    "f8E4M3FN",
    "f8E5M2",
    "f8E4M3FNUZ",
    "f8E5M2FNUZ",
    "f8E4M3B11FNUZ",
    "scalar_type",
    "element_type",
    "shape_of",
    "with_element",
]


class Type:
    """Base class of all IR types."""

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True, repr=False)
class ScalarType(Type):
    """A scalar type; ``name`` is its textual form."""

    name: str

    @property
    def bitwidth(self) -> int:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, repr=False)
class IntType(ScalarType):
    """A signless integer of ``width`` bits (``i1`` is the boolean type)."""

    width: int = 32

    @property
    def bitwidth(self) -> int:
        return self.width


@dataclass(frozen=True, repr=False)
class FloatType(ScalarType):
    """A binary floating point type; ``name`` is one of the names in ``_FLOAT_WIDTHS``."""

    width: int = 32

    @property
    def bitwidth(self) -> int:
        return self.width


@dataclass(frozen=True, repr=False)
class PointerType(Type):
    """A pointer to ``pointee`` in ``address_space`` (1 is global memory)."""

    pointee: Type
    address_space: int = 1

    @property
    def bitwidth(self) -> int:
        return 64

    def __str__(self) -> str:
        if self.address_space == 1:
            return f"!tt.ptr<{self.pointee}>"
        return f"!tt.ptr<{self.pointee}, {self.address_space}>"


@dataclass(frozen=True, repr=False)
class TensorType(Type):
    """A tile: a ``shape`` of ``element`` values (scalars or pointers)."""

    shape: tuple[int, ...]
    element: Type

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def rank(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        dims = "".join(f"{s}x" for s in self.shape)
        return f"tensor<{dims}{self.element}>"


@dataclass(frozen=True, repr=False)
class FunctionType(Type):
    """The type of a ``tt.func``: parameter and result types."""

    inputs: tuple[Type, ...]
    results: tuple[Type, ...]

    def __str__(self) -> str:
        ins = ", ".join(map(str, self.inputs))
        outs = ", ".join(map(str, self.results))
        if len(self.results) == 1 and not isinstance(self.results[0], FunctionType):
            return f"({ins}) -> {outs}"
        return f"({ins}) -> ({outs})"


i1 = IntType("i1", 1)
i8 = IntType("i8", 8)
i16 = IntType("i16", 16)
i32 = IntType("i32", 32)
i64 = IntType("i64", 64)
f16 = FloatType("f16", 16)
bf16 = FloatType("bf16", 16)
f32 = FloatType("f32", 32)
f64 = FloatType("f64", 64)
f8E4M3FN = FloatType("f8E4M3FN", 8)  # noqa: N816 (MLIR spelling)
f8E5M2 = FloatType("f8E5M2", 8)  # noqa: N816 (MLIR spelling)
# AMD's fp8 variants (Triton's fp8e4b8, fp8e5b16) and Triton's fp8e4b15: no infinities, one NaN.
f8E4M3FNUZ = FloatType("f8E4M3FNUZ", 8)  # noqa: N816 (MLIR spelling)
f8E5M2FNUZ = FloatType("f8E5M2FNUZ", 8)  # noqa: N816 (MLIR spelling)
f8E4M3B11FNUZ = FloatType("f8E4M3B11FNUZ", 8)  # noqa: N816 (MLIR spelling)

_SCALARS: dict[str, ScalarType] = {
    t.name: t
    for t in (
        i1,
        i8,
        i16,
        i32,
        i64,
        f16,
        bf16,
        f32,
        f64,
        f8E4M3FN,
        f8E5M2,
        f8E4M3FNUZ,
        f8E5M2FNUZ,
        f8E4M3B11FNUZ,
    )
}


def scalar_type(name: str) -> ScalarType:
    """The scalar type whose textual form is ``name`` (``"f32"``, ``"i64"``, ...)."""
    try:
        return _SCALARS[name]
    except KeyError:
        raise ValueError(f"unknown scalar type {name!r}") from None


def element_type(t: Type) -> Type:
    """The element type of a tensor type, or ``t`` itself for scalars and pointers."""
    return t.element if isinstance(t, TensorType) else t


def shape_of(t: Type) -> tuple[int, ...]:
    """The shape of a tensor type; ``()`` for scalars and pointers."""
    return t.shape if isinstance(t, TensorType) else ()


def with_element(t: Type, element: Type) -> Type:
    """``t`` with its element type replaced: same shape, or a scalar if ``t`` is one."""
    return TensorType(t.shape, element) if isinstance(t, TensorType) else element
