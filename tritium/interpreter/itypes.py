"""The interpreter's own element types and Triton's type-promotion rules.

The interpreter is the oracle the compilers are checked against, so it keeps its own
small description of each element type (``IType``) and implements the promotion rules
from Triton's documentation independently of the frontend.  Language dtypes
(``tl.float32``...) are converted to and from ``IType`` at the engine boundary.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from tritium.errors import IntegerOverflowError

__all__ = [
    "IType",
    "itype",
    "ptr_of",
    "from_numpy_dtype",
    "from_torch_dtype",
    "computation_type",
    "integer_promote",
    "python_scalar_type",
    "to_lang",
    "from_lang",
    "BOOL",
    "I8",
    "I16",
    "I32",
    "I64",
    "U8",
    "U16",
    "U32",
    "U64",
    "F16",
    "BF16",
    "F32",
    "F64",
    "F8E4NV",
    "F8E5",
    "F8E4B8",
    "F8E5B16",
    "F8E4B15",
]


@dataclass(frozen=True, eq=False)
class IType:
    """One element type: ``kind`` is ``bool``, ``int``, ``uint``, ``float`` or ``ptr``.

    ``np`` is the NumPy dtype that stores values of this type (int64 addresses for
    pointers); ``mant`` is the explicit mantissa width of a float type.
    """

    name: str
    kind: str
    bits: int
    np: np.dtype
    mant: int = 0
    elem: IType | None = None  # pointee of a pointer type
    # how memory holds the type when that differs from ``np`` (see ``F8E4B15``)
    storage: np.dtype | None = None

    # cached in the instance: these are read on every op
    @cached_property
    def mem_np(self) -> np.dtype:
        """The NumPy dtype of this type's elements in memory (bit patterns for fp8e4b15)."""
        return self.np if self.storage is None else self.storage

    @cached_property
    def is_float(self) -> bool:
        return self.kind == "float"

    @cached_property
    def is_int(self) -> bool:
        """True for bool, signed and unsigned integers (Triton's ``is_int``)."""
        return self.kind in ("bool", "int", "uint")

    @cached_property
    def is_ptr(self) -> bool:
        return self.kind == "ptr"

    @cached_property
    def signed(self) -> bool:
        """Signedness as Triton sees it: ``int1`` counts as unsigned."""
        return self.kind == "int"

    @cached_property
    def itemsize(self) -> int:
        """Bytes one element takes in memory (``int1`` is stored as one byte)."""
        return max(1, self.bits // 8)

    @cached_property
    def is_fp8(self) -> bool:
        return self.kind == "float" and self.bits == 8

    def __repr__(self) -> str:
        return f"IType({self.name})"

    def __getattr__(self, attr: str) -> Any:
        # reached only for ``np`` of the ml_dtypes types before ml_dtypes is imported
        if attr == "np" and self.name in _ML_NAMES:
            _load_ml_dtypes()
            return self.__dict__["np"]
        raise AttributeError(attr)


def _mk(name: str, kind: str, bits: int, npdt: Any, mant: int = 0) -> IType:
    return IType(name, kind, bits, np.dtype(npdt), mant)


BOOL = _mk("int1", "bool", 1, np.bool_)
I8, I16, I32, I64 = (_mk(f"int{b}", "int", b, f"int{b}") for b in (8, 16, 32, 64))
U8, U16, U32, U64 = (_mk(f"uint{b}", "uint", b, f"uint{b}") for b in (8, 16, 32, 64))
F16 = _mk("fp16", "float", 16, np.float16, 10)
# ml_dtypes (bf16, fp8) costs 0.5-3 s to import: these types get their NumPy dtype on first use
_ML_NAMES = {
    "bf16": "bfloat16",
    "fp8e4nv": "float8_e4m3fn",
    "fp8e5": "float8_e5m2",
    "fp8e4b8": "float8_e4m3fnuz",
    "fp8e5b16": "float8_e5m2fnuz",
}


def _mk_ml(name: str, bits: int, mant: int) -> IType:
    t = IType(name, "float", bits, None, mant)  # type: ignore[arg-type]
    object.__delattr__(t, "np")  # IType.__getattr__ fills it in
    return t


BF16 = _mk_ml("bf16", 16, 7)
F32 = _mk("fp32", "float", 32, np.float32, 23)
F64 = _mk("fp64", "float", 64, np.float64, 52)
F8E4NV = _mk_ml("fp8e4nv", 8, 3)
F8E5 = _mk_ml("fp8e5", 8, 2)
F8E4B8 = _mk_ml("fp8e4b8", 8, 3)
F8E5B16 = _mk_ml("fp8e5b16", 8, 2)
_ML_TYPES = (BF16, F8E4NV, F8E5, F8E4B8, F8E5B16)
# Triton's fp8e4b15 (e4m3fn's layout with exponent bias 15: max 1.75, NaN 0x7F, no inf) has
# no NumPy dtype: tiles hold its values exactly as float16, memory holds its bit patterns
# (numerics.py converts at loads, stores and bitcasts).
F8E4B15 = IType("fp8e4b15", "float", 8, np.dtype(np.float16), 3, storage=np.dtype(np.uint8))

_ALL = [
    BOOL,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F16,
    BF16,
    F32,
    F64,
    F8E4NV,
    F8E5,
    F8E4B8,
    F8E5B16,
    F8E4B15,
]
_BY_NAME: dict[str, IType] = {t.name: t for t in _ALL}
# Triton's aliases and the names users write in signatures.
_BY_NAME.update(
    {
        "i1": BOOL,
        "i8": I8,
        "i16": I16,
        "i32": I32,
        "i64": I64,
        "u1": BOOL,
        "u8": U8,
        "u16": U16,
        "u32": U32,
        "u64": U64,
        "float16": F16,
        "bfloat16": BF16,
        "float32": F32,
        "float64": F64,
        "float8e4nv": F8E4NV,
        "float8e5": F8E5,
        "float8e4b8": F8E4B8,
        "float8e5b16": F8E5B16,
        "float8e4b15": F8E4B15,
        "fp8e4m3fn": F8E4NV,
        "fp8e5m2": F8E5,
        "half": F16,
        "float": F32,
        "double": F64,
        "bool": BOOL,
    }
)

_PTRS: dict[tuple[str, int], IType] = {}


def ptr_of(elem: IType) -> IType:
    """The (cached) pointer type whose pointee is ``elem``."""
    key = (elem.name, id(elem))
    t = _PTRS.get(key)
    if t is None:
        t = IType(f"pointer<{elem.name}>", "ptr", 64, np.dtype(np.int64), 0, elem)
        _PTRS[key] = t
    return t


def itype(name: str) -> IType:
    """The ``IType`` named ``name`` (Triton's names, aliases, or ``*fp32`` for pointers)."""
    if name.startswith("*"):
        return ptr_of(itype(name[1:]))
    try:
        return _BY_NAME[name]
    except KeyError:
        raise TypeError(f"unknown element type {name!r}") from None


_NP_TO_IT: dict[np.dtype, IType] = {
    t.np: t
    for t in reversed(_ALL)
    if t.kind != "ptr" and t.storage is None and t.name not in _ML_NAMES
}


def _load_ml_dtypes() -> None:
    """Import ml_dtypes and give its types their NumPy dtypes."""
    import ml_dtypes

    for t in _ML_TYPES:
        if "np" not in t.__dict__:
            object.__setattr__(t, "np", np.dtype(getattr(ml_dtypes, _ML_NAMES[t.name])))
            _NP_TO_IT.setdefault(t.np, t)


def from_numpy_dtype(dt: Any) -> IType:
    """The element type of a NumPy (or ml_dtypes) array dtype."""
    if "ml_dtypes" in sys.modules and "np" not in BF16.__dict__:
        _load_ml_dtypes()  # an array of an ml_dtypes type exists: it is imported already
    try:
        return _NP_TO_IT[np.dtype(dt)]
    except KeyError:
        raise TypeError(f"arrays of dtype {np.dtype(dt)} cannot be passed to a kernel") from None


_TORCH_NAMES = {
    "float32": F32,
    "float16": F16,
    "bfloat16": BF16,
    "float64": F64,
    "int8": I8,
    "int16": I16,
    "int32": I32,
    "int64": I64,
    "uint8": U8,
    "uint16": U16,
    "uint32": U32,
    "uint64": U64,
    "bool": BOOL,
    "float8_e4m3fn": F8E4NV,
    "float8_e5m2": F8E5,
    "float8_e4m3fnuz": F8E4B8,
    "float8_e5m2fnuz": F8E5B16,
}


def from_torch_dtype(dt: Any) -> IType:
    """The element type of a torch dtype (matched by name; torch need not be imported)."""
    name = str(dt).replace("torch.", "")
    try:
        return _TORCH_NAMES[name]
    except KeyError:
        raise TypeError(f"tensors of dtype {dt} cannot be passed to a kernel") from None


def python_scalar_type(v: object) -> IType:
    """Type of a Python scalar as a kernel argument or a literal operand (Triton's rules)."""
    if isinstance(v, (bool, np.bool_)):
        return BOOL
    if isinstance(v, (int, np.integer)):
        if isinstance(v, np.integer):
            return from_numpy_dtype(type(v))
        if -(2**31) <= v < 2**31:
            return I32
        if 2**31 <= v < 2**32:
            return U32
        if -(2**63) <= v < 2**63:
            return I64
        if 2**63 <= v < 2**64:
            return U64
        raise IntegerOverflowError(f"integer {v} does not fit in 64 bits")
    if isinstance(v, np.generic):  # np.floating, and ml_dtypes' bfloat16/fp8 scalars
        return from_numpy_dtype(type(v))
    if isinstance(v, float):
        return F32
    raise TypeError(f"unsupported scalar {v!r} of type {type(v).__name__}")


def python_int_arg_type(v: int) -> IType:
    """Type of a Python int kernel argument: i32 when it fits, else i64/u64 (Triton)."""
    if -(2**31) <= v < 2**31:
        return I32
    if -(2**63) <= v < 2**63:
        return I64
    if v < 2**64:
        return U64
    raise IntegerOverflowError(f"integer argument {v} does not fit in 64 bits")


def _kind_rank(t: IType) -> int:
    return {"bool": 0, "uint": 1, "int": 1, "float": 2}[t.kind]


def integer_promote(a: IType, b: IType) -> IType:
    """C's usual arithmetic conversions between two integer types (as Triton applies them)."""
    if a.signed == b.signed:
        return a if a.bits > b.bits else b
    if not a.signed:
        return a if a.bits >= b.bits else b
    return b if b.bits >= a.bits else a


def computation_type(
    a: IType, a_scalar: bool, b: IType, b_scalar: bool, div_or_mod: bool = False
) -> IType:
    """The type both operands of an arithmetic op are converted to.

    ``a_scalar``/``b_scalar`` say the operand was a Python number: a number of a lower or
    equal kind (bool < int < float) than the tensor does not take part in promotion.
    fp16/bf16 ``/`` and ``%`` compute in fp32, as Triton does.
    """
    if a_scalar != b_scalar:
        st, tt = (a, b) if a_scalar else (b, a)
        if _kind_rank(st) <= _kind_rank(tt):
            if div_or_mod and tt in (F16, BF16):
                return F32
            return tt
    if a is F64 or b is F64:
        return F64
    if a is F32 or b is F32:
        return F32
    if a is F16 or b is F16:
        return F32 if div_or_mod else F16
    if a is BF16 and b is BF16:
        return F32 if div_or_mod else BF16
    if a is BF16 or b is BF16:
        return F32
    if a.is_fp8 and b.is_fp8:
        return a if a is b else F16
    if not (a.is_int and b.is_int):
        raise TypeError(f"unexpected operand types {a.name} and {b.name}")
    if div_or_mod and a.signed != b.signed:
        raise TypeError(
            f"Cannot use /, //, or % with {a.name} and {b.name} because they have "
            "different signedness; cast them to the same signedness"
        )
    return integer_promote(a, b)


# ----------------------------------------------------------------------------------------
# Conversion to and from tritium.language dtypes (imported lazily: LANG may load later).

_TO_LANG: dict[int, Any] = {}


def to_lang(t: IType) -> Any:
    """The ``tritium.language`` dtype for ``t`` (``tl.pointer_type`` for pointers)."""
    hit = _TO_LANG.get(id(t))
    if hit is not None:
        return hit
    import tritium.language as tl

    if t.is_ptr:
        assert t.elem is not None
        out = tl.pointer_type(to_lang(t.elem))
    else:
        out = tl.dtype(t.name)
    _TO_LANG[id(t)] = out
    return out


def from_lang(dt: Any) -> IType:
    """The ``IType`` for a language dtype (also accepts names and ``IType`` itself)."""
    if isinstance(dt, IType):
        return dt
    if isinstance(dt, str):
        return itype(dt)
    if hasattr(dt, "value") and not hasattr(dt, "name"):  # a constexpr wrapper
        return from_lang(dt.value)
    is_ptr = getattr(dt, "is_ptr", None)
    if callable(is_ptr) and is_ptr():
        return ptr_of(from_lang(dt.element_ty))
    is_block = getattr(dt, "is_block", None)
    if callable(is_block) and is_block():
        return from_lang(dt.scalar)
    name = getattr(dt, "name", None)
    if isinstance(name, str):
        return itype(name)
    if dt in (float, int, bool):
        return {float: F32, int: I32, bool: BOOL}[dt]
    if type(dt).__module__ == "torch":  # triton.reinterpret(t, torch.float16), as Triton allows
        return from_torch_dtype(dt)
    try:
        return from_numpy_dtype(dt)
    except TypeError:
        raise TypeError(f"not a dtype: {dt!r}") from None
