"""Language-level types: scalar dtypes, pointer types and block (tile) types.

These mirror Triton's ``triton.language`` types: the same names (``tl.float32`` whose
``name`` is ``"fp32"``), the same predicates (``is_floating()``, ``is_int_signed()``, ...)
and the same quirks (``int1`` counts as an unsigned integer). Types are immutable and
compare by value, so ``tl.dtype("fp32") == tl.float32``.

Unlike the Tile IR's signless integers, language dtypes carry signedness: ``uint32`` and
``int32`` are different dtypes, and the frontend picks signed or unsigned IR ops from them.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

__all__ = [
    "TRITON_MAX_TENSOR_NUMEL",
    "bfloat16",
    "block_type",
    "dtype",
    "float16",
    "float32",
    "float64",
    "float8e4b15",
    "float8e4b8",
    "float8e4nv",
    "float8e5",
    "float8e5b16",
    "get_int_dtype",
    "int1",
    "int16",
    "int32",
    "int64",
    "int8",
    "pi32_t",
    "pointer_type",
    "str_to_ty",
    "uint16",
    "uint32",
    "uint64",
    "uint8",
    "void",
]

#: The largest number of elements a block may hold (Triton's limit).
TRITON_MAX_TENSOR_NUMEL = 1048576

# name -> (mantissa bits, exponent bias) of every floating point dtype.
_FP_FORMATS: dict[str, tuple[int, int]] = {
    "fp8e4b15": (3, 15),
    "fp8e4nv": (3, 7),
    "fp8e4b8": (3, 8),
    "fp8e5": (2, 15),
    "fp8e5b16": (2, 16),
    "fp16": (10, 15),
    "bf16": (7, 127),
    "fp32": (23, 127),
    "fp64": (52, 1023),
}
_FP_WIDTHS = {"fp16": 16, "bf16": 16, "fp32": 32, "fp64": 64}


class dtype:  # noqa: N801 - Triton's public name
    """A scalar element type, named as Triton names it (``"int32"``, ``"fp32"``, ``"bf16"``).

    ``dtype(name)`` accepts the canonical names in :attr:`SINT_TYPES`, :attr:`UINT_TYPES`,
    :attr:`FP_TYPES` and :attr:`OTHER_TYPES`, and raises ``ValueError`` for anything else.
    Subclasses (:class:`pointer_type`, :class:`block_type`) describe pointers and tiles.
    """

    SINT_TYPES = ("int8", "int16", "int32", "int64")
    UINT_TYPES = ("int1", "uint8", "uint16", "uint32", "uint64")
    FP_TYPES = (
        "fp8e4b15",
        "fp8e4nv",
        "fp8e4b8",
        "fp8e5",
        "fp8e5b16",
        "fp16",
        "bf16",
        "fp32",
        "fp64",
    )
    STANDARD_FP_TYPES = ("fp16", "bf16", "fp32", "fp64")
    OTHER_TYPES = ("void",)

    class SIGNEDNESS(Enum):
        """Whether an integer dtype is signed."""

        SIGNED = 0
        UNSIGNED = 1

    class KIND(Enum):
        """The broad category of a dtype, used by the promotion rules."""

        BOOLEAN = 0
        INTEGRAL = 1
        FLOATING = 2

    def __init__(self, name: Any) -> None:
        # Accept a constexpr-wrapped name so that ``tl.dtype(tl.constexpr("fp32"))`` works.
        name = getattr(name, "value", name)
        if isinstance(name, dtype):
            name = name.name
        if not isinstance(name, str):
            raise TypeError(f"dtype name must be a str, got {type(name).__name__}")
        self.name = name
        self.int_signedness: dtype.SIGNEDNESS | None = None
        self.int_bitwidth = 0
        self.fp_mantissa_width = 0
        self.exponent_bias = 0
        self.primitive_bitwidth = 0
        if name in self.SINT_TYPES:
            self.int_signedness = dtype.SIGNEDNESS.SIGNED
            self.int_bitwidth = int(name[3:])
            self.primitive_bitwidth = self.int_bitwidth
        elif name in self.UINT_TYPES:
            self.int_signedness = dtype.SIGNEDNESS.UNSIGNED
            self.int_bitwidth = int(name.split("int")[-1])
            self.primitive_bitwidth = self.int_bitwidth
        elif name in _FP_FORMATS:
            self.fp_mantissa_width, self.exponent_bias = _FP_FORMATS[name]
            self.primitive_bitwidth = _FP_WIDTHS.get(name, 8)
        elif name == "void":
            self.primitive_bitwidth = 0
        elif type(self) is dtype:
            raise ValueError(
                f"unknown dtype name {name!r}; expected one of "
                f"{', '.join(self.SINT_TYPES + self.UINT_TYPES + self.FP_TYPES)}"
            )

    # -- predicates -------------------------------------------------------------------------

    def is_fp8(self) -> bool:
        """True for every 8-bit floating point format."""
        return self.name.startswith("fp8")

    def is_fp8e4nv(self) -> bool:
        """Whether this is the ``fp8e4nv`` dtype."""
        return self.name == "fp8e4nv"

    def is_fp8e4b8(self) -> bool:
        """Whether this is the ``fp8e4b8`` dtype."""
        return self.name == "fp8e4b8"

    def is_fp8e4b15(self) -> bool:
        """Whether this is the ``fp8e4b15`` dtype."""
        return self.name == "fp8e4b15"

    def is_fp8e5(self) -> bool:
        """Whether this is the ``fp8e5`` dtype."""
        return self.name == "fp8e5"

    def is_fp8e5b16(self) -> bool:
        """Whether this is the ``fp8e5b16`` dtype."""
        return self.name == "fp8e5b16"

    def is_fp16(self) -> bool:
        """Whether this is the ``fp16`` dtype."""
        return self.name == "fp16"

    def is_bf16(self) -> bool:
        """Whether this is the ``bf16`` dtype."""
        return self.name == "bf16"

    def is_fp32(self) -> bool:
        """Whether this is the ``fp32`` dtype."""
        return self.name == "fp32"

    def is_fp64(self) -> bool:
        """Whether this is the ``fp64`` dtype."""
        return self.name == "fp64"

    def is_int1(self) -> bool:
        """Whether this is the ``int1`` dtype."""
        return self.name == "int1"

    def is_int8(self) -> bool:
        """Whether this is the ``int8`` dtype."""
        return self.name == "int8"

    def is_int16(self) -> bool:
        """Whether this is the ``int16`` dtype."""
        return self.name == "int16"

    def is_int32(self) -> bool:
        """Whether this is the ``int32`` dtype."""
        return self.name == "int32"

    def is_int64(self) -> bool:
        """Whether this is the ``int64`` dtype."""
        return self.name == "int64"

    def is_uint8(self) -> bool:
        """Whether this is the ``uint8`` dtype."""
        return self.name == "uint8"

    def is_uint16(self) -> bool:
        """Whether this is the ``uint16`` dtype."""
        return self.name == "uint16"

    def is_uint32(self) -> bool:
        """Whether this is the ``uint32`` dtype."""
        return self.name == "uint32"

    def is_uint64(self) -> bool:
        """Whether this is the ``uint64`` dtype."""
        return self.name == "uint64"

    def is_floating(self) -> bool:
        """True for every floating point dtype (fp8 formats included)."""
        return self.name in _FP_FORMATS

    def is_standard_floating(self) -> bool:
        """True for fp16, bf16, fp32 and fp64."""
        return self.name in self.STANDARD_FP_TYPES

    def is_int_signed(self) -> bool:
        """True for int8..int64."""
        return self.name in self.SINT_TYPES

    def is_int_unsigned(self) -> bool:
        """True for uint8..uint64 and (as in Triton) for int1."""
        return self.name in self.UINT_TYPES

    def is_int(self) -> bool:
        """True for every integer dtype, int1 included."""
        return self.is_int_signed() or self.is_int_unsigned()

    def is_bool(self) -> bool:
        """True for int1, the boolean dtype."""
        return self.is_int1()

    def is_void(self) -> bool:
        """Whether this is the ``void`` dtype."""
        return self.name == "void"

    def is_ptr(self) -> bool:
        """Whether this is a :class:`pointer_type`."""
        return False

    def is_block(self) -> bool:
        """Whether this is a :class:`block_type`."""
        return False

    def is_const(self) -> bool:
        """Whether this is a pointer to read-only memory."""
        return False

    def kind(self) -> dtype.KIND:
        """BOOLEAN for int1, INTEGRAL for other integers, FLOATING for floats."""
        if self.is_bool():
            return dtype.KIND.BOOLEAN
        if self.is_int():
            return dtype.KIND.INTEGRAL
        if self.is_floating():
            return dtype.KIND.FLOATING
        raise TypeError(f"{self} has no kind")

    @staticmethod
    def is_dtype(type_str: str) -> bool:
        """Whether ``type_str`` is the name of a scalar dtype."""
        return type_str in (
            dtype.SINT_TYPES + dtype.UINT_TYPES + dtype.FP_TYPES + dtype.OTHER_TYPES
        )

    # -- derived properties ---------------------------------------------------------------

    @property
    def scalar(self) -> dtype:
        """The element type: ``self`` for scalars and pointers, the element for blocks."""
        return self

    def get_int_max_value(self) -> int:
        """The largest value of an integer dtype."""
        if self.is_int_signed():
            return 2 ** (self.int_bitwidth - 1) - 1
        if self.is_int_unsigned():
            return 2**self.int_bitwidth - 1
        raise TypeError(f"{self} is not an integer dtype")

    def get_int_min_value(self) -> int:
        """The smallest value of an integer dtype."""
        if self.is_int_signed():
            return -(2 ** (self.int_bitwidth - 1))
        if self.is_int_unsigned():
            return 0
        raise TypeError(f"{self} is not an integer dtype")

    def to_signed(self) -> dtype:
        """The signed integer dtype of the same width (int1 stays int1)."""
        if self.is_int_unsigned() and not self.is_bool():
            return dtype(f"int{self.int_bitwidth}")
        return self

    def to_unsigned(self) -> dtype:
        """The unsigned integer dtype of the same width."""
        if self.is_int_signed():
            return dtype(f"uint{self.int_bitwidth}")
        return self

    def with_element_ty(self, element_ty: dtype) -> dtype:
        """This type with its element type replaced (scalars: ``element_ty`` itself)."""
        return element_ty

    def cache_key_part(self) -> str:
        """A string that identifies this type in a cache key."""
        return self.name

    # -- identity ---------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        other = getattr(other, "value", other)  # constexpr(dtype) compares like the dtype
        if not isinstance(other, dtype) or type(other) is not type(self):
            return False
        return self.name == other.name

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.name))

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"triton.language.{_LONG_NAMES.get(self.name, self.name)}"


class pointer_type(dtype):  # noqa: N801 - Triton's public name
    """A pointer to ``element_ty`` values in ``address_space`` (1: global memory)."""

    def __init__(self, element_ty: dtype, address_space: int = 1, const: bool = False) -> None:
        element_ty = getattr(element_ty, "value", element_ty)
        if not isinstance(element_ty, dtype):
            raise TypeError(f"pointer_type: element_ty must be a dtype, got {element_ty!r}")
        super().__init__(f"pointer<{element_ty}>")
        self.element_ty = element_ty
        self.address_space = int(address_space)
        self.const = bool(const)
        self.primitive_bitwidth = 64

    def is_ptr(self) -> bool:
        return True

    def is_const(self) -> bool:
        return self.const

    def __eq__(self, other: object) -> bool:
        other = getattr(other, "value", other)
        return (
            isinstance(other, pointer_type)
            and self.element_ty == other.element_ty
            and self.address_space == other.address_space
            and self.const == other.const
        )

    def __hash__(self) -> int:
        return hash(("pointer_type", self.element_ty, self.address_space, self.const))

    def __str__(self) -> str:
        return f"const {self.name}" if self.const else self.name

    def __repr__(self) -> str:
        return f"pointer_type({self.element_ty!r})"

    def cache_key_part(self) -> str:
        return f"*{self.element_ty.cache_key_part()}"


class block_type(dtype):  # noqa: N801 - Triton's public name
    """A tile of ``element_ty`` values (scalars or pointers) of a static ``shape``."""

    def __init__(self, element_ty: dtype, shape: Any) -> None:
        element_ty = getattr(element_ty, "value", element_ty)
        if not isinstance(element_ty, dtype) or isinstance(element_ty, block_type):
            raise TypeError(
                f"block_type: element_ty must be a scalar or pointer dtype, got {element_ty!r}"
            )
        dims = tuple(int(getattr(s, "value", s)) for s in shape)
        if not dims:
            raise TypeError("block_type: shape must have at least one dimension")
        if any(d <= 0 for d in dims):
            raise ValueError(f"block_type: every dimension must be positive, got {dims}")
        super().__init__(f"<{list(dims)}, {element_ty}>")
        self.element_ty = element_ty
        self.shape = dims
        self.numel = 1
        for d in dims:
            self.numel *= d
        if self.numel > TRITON_MAX_TENSOR_NUMEL:
            raise ValueError(
                f"numel ({self.numel}) exceeds triton maximum tensor numel "
                f"({TRITON_MAX_TENSOR_NUMEL})"
            )
        self.primitive_bitwidth = element_ty.primitive_bitwidth

    @property
    def scalar(self) -> dtype:
        return self.element_ty

    @property
    def nbytes(self) -> int:
        """The size of the tile in bytes."""
        return self.numel * (self.element_ty.primitive_bitwidth // 8)

    def get_block_shapes(self) -> tuple[int, ...]:
        """The tile's shape."""
        return self.shape

    def with_element_ty(self, element_ty: dtype) -> block_type:
        return block_type(element_ty, self.shape)

    def is_block(self) -> bool:
        return True

    # A block's predicates describe its element, as in Triton (``x.type.is_floating()``).
    def is_ptr(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        other = getattr(other, "value", other)
        return (
            isinstance(other, block_type)
            and self.element_ty == other.element_ty
            and self.shape == other.shape
        )

    def __hash__(self) -> int:
        return hash(("block_type", self.element_ty, self.shape))

    def __repr__(self) -> str:
        return f"block_type({self.element_ty!r}, {list(self.shape)})"

    def cache_key_part(self) -> str:
        return f"{self.element_ty.cache_key_part()}[{','.join(map(str, self.shape))}]"


def _element_predicate(name: str) -> Any:
    def pred(self: block_type) -> bool:
        return getattr(self.element_ty, name)()

    pred.__name__ = name
    pred.__doc__ = f"{getattr(dtype, name).__doc__} Of a block: of its element type."
    return pred


def _pointer_predicate(name: str) -> Any:
    def pred(self: pointer_type) -> bool:
        return False

    pred.__name__ = name
    pred.__doc__ = f"{getattr(dtype, name).__doc__} Always False for a pointer."
    return pred


# Predicates of a block delegate to its element type, so ``x.type.is_fp16()`` works on tiles.
for _pred in (
    "is_fp8",
    "is_fp8e4nv",
    "is_fp8e4b8",
    "is_fp8e4b15",
    "is_fp8e5",
    "is_fp8e5b16",
    "is_fp16",
    "is_bf16",
    "is_fp32",
    "is_fp64",
    "is_int1",
    "is_int8",
    "is_int16",
    "is_int32",
    "is_int64",
    "is_uint8",
    "is_uint16",
    "is_uint32",
    "is_uint64",
    "is_floating",
    "is_standard_floating",
    "is_int_signed",
    "is_int_unsigned",
    "is_int",
    "is_bool",
):
    setattr(block_type, _pred, _element_predicate(_pred))
    setattr(pointer_type, _pred, _pointer_predicate(_pred))
del _pred

void = dtype("void")
int1 = dtype("int1")
int8 = dtype("int8")
int16 = dtype("int16")
int32 = dtype("int32")
int64 = dtype("int64")
uint8 = dtype("uint8")
uint16 = dtype("uint16")
uint32 = dtype("uint32")
uint64 = dtype("uint64")
float8e5 = dtype("fp8e5")
float8e5b16 = dtype("fp8e5b16")
float8e4nv = dtype("fp8e4nv")
float8e4b8 = dtype("fp8e4b8")
float8e4b15 = dtype("fp8e4b15")
float16 = dtype("fp16")
bfloat16 = dtype("bf16")
float32 = dtype("fp32")
float64 = dtype("fp64")
pi32_t = pointer_type(int32)

_LONG_NAMES = {
    "fp8e5": "float8e5",
    "fp8e5b16": "float8e5b16",
    "fp8e4nv": "float8e4nv",
    "fp8e4b8": "float8e4b8",
    "fp8e4b15": "float8e4b15",
    "fp16": "float16",
    "bf16": "bfloat16",
    "fp32": "float32",
    "fp64": "float64",
}

_SHORT_NAMES = {long: short for short, long in _LONG_NAMES.items()}

# Short spellings used in kernel signatures ("*fp32", "i32", "u8").
_SIGNATURE_NAMES = {
    "i1": "int1",
    "i8": "int8",
    "i16": "int16",
    "i32": "int32",
    "i64": "int64",
    "u1": "int1",
    "u8": "uint8",
    "u16": "uint16",
    "u32": "uint32",
    "u64": "uint64",
    "B": "int1",
}

# torch's and C's spellings that Triton's ``type_canonicalisation_dict`` also accepts.
_ALIASES = {
    "bool": "int1",
    "float8_e4m3fn": "fp8e4nv",
    "float8_e4m3fnuz": "fp8e4b8",
    "float8_e5m2": "fp8e5",
    "float8_e5m2fnuz": "fp8e5b16",
    "half": "fp16",
    "float": "fp32",
    "double": "fp64",
    "int": "int32",
}


def get_int_dtype(bitwidth: int, signed: bool) -> dtype:
    """The integer dtype of ``bitwidth`` (1, 8, 16, 32 or 64) bits and signedness."""
    if bitwidth == 1:
        return int1
    if bitwidth not in (8, 16, 32, 64):
        raise ValueError(f"no integer dtype of {bitwidth} bits")
    return dtype(f"{'' if signed else 'u'}int{bitwidth}")


def str_to_ty(name: str) -> dtype:
    """The dtype a signature string names: ``"*fp32"``, ``"i32"``, ``"u8"``, ``"bf16"``.

    A leading ``*`` makes a pointer and ``*k`` a const (read-only) pointer, as in Triton's
    signatures (``"*kfp16"``). Long names (``"float32"``, ``"int32"``) are accepted too.
    """
    if not isinstance(name, str):
        raise TypeError(f"str_to_ty: expected a str, got {type(name).__name__}")
    if name.startswith("*"):
        const = name.startswith("*k")
        return pointer_type(str_to_ty(name[2:] if const else name[1:]), const=const)
    if name in _SIGNATURE_NAMES:
        return dtype(_SIGNATURE_NAMES[name])
    name = _ALIASES.get(name, name)
    return dtype(_SHORT_NAMES.get(name, name))


# A pure type computation: safe for a frontend to call directly inside a kernel.
str_to_ty.__tritium_builtin__ = True  # type: ignore[attr-defined]
