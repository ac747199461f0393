"""The kernel signature: what a kernel takes, as both the compiler and the launch see it.

A leaf module (it imports no other tritium package at run time, only ``knobs``, ``dlpack`` and
the backends' driver registry), so the compiler and the runtime can both use it.

A launch turns each runtime argument into two things: a *key* (its type string plus Triton's
hints: an integer equal to 1, an integer divisible by 16, a pointer aligned to 16 bytes) that
selects the compiled kernel, and a *launch value* (a pointer as an integer address, a scalar as a
Python number) that the backend's launcher packs. Both come from one handler per Python type,
looked up in a dict on ``type(arg)``, so a warm launch does no ``isinstance`` chains.

Keys are small tuples: ``("*fp32", True)`` (pointer, aligned to 16), ``("i32", ONE)``,
``("i64", DIV16)``, ``("fp32", None)``. :func:`decode_key` turns a key back into the
signature, constexpr and attribute entries the compiler wants; :func:`flat_parameters` names the
``tt.func`` parameters a signature becomes; :func:`argument_spans` gives a bounds-checked
kernel's extra parameters; :func:`normalize_grid` checks a launch grid.
"""

from __future__ import annotations

import ctypes
import operator
import re
import sys
import weakref
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import numpy as np

from tritium.errors import IntegerOverflowError

__all__ = [
    "ONE",
    "DIV16",
    "CONST",
    "FULL",
    "ONE_ONLY",
    "NONE",
    "Expanded",
    "arg_key",
    "array_pointer",
    "decode_key",
    "flatten_launch_args",
    "numpy_type_str",
    "READ_ONLY",
    "OVERLAPPING",
    "unwritable_pointers",
    "argument_spans",
    "flat_parameters",
    "memory_span",
    "unwritable_memory",
    "unwritable_storage",
    "inside_bytes_object",
    "normalize_grid",
    "register_argument_class",
    "signature_type",
]

#: Hint markers inside a key.
ONE = 1  # an integer argument equal to 1: compiled as the constant 1
DIV16 = 16  # an integer divisible by 16: ``tt.divisibility = 16``

#: Specialization levels of a parameter: Triton's hints all applied; only "== 1" (for
#: ``do_not_specialize_on_alignment``); none (for ``do_not_specialize``).
FULL, ONE_ONLY, NONE = 2, 1, 0

#: The launch value of an argument that was specialized away (it is not a kernel parameter).
CONST = object()

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UINT64_MAX = 2**64 - 1

# NumPy dtype -> Triton's element type string.
_NUMPY_NAMES: dict[str, str] = {
    "bool": "i1",
    "int8": "i8",
    "int16": "i16",
    "int32": "i32",
    "int64": "i64",
    "uint8": "u8",
    "uint16": "u16",
    "uint32": "u32",
    "uint64": "u64",
    "float16": "fp16",
    "float32": "fp32",
    "float64": "fp64",
    "bfloat16": "bf16",
    "float8_e4m3fn": "fp8e4nv",
    "float8_e5m2": "fp8e5",
}
_TORCH_NAMES: dict[str, str] = {
    "torch.bool": "i1",
    "torch.int8": "i8",
    "torch.int16": "i16",
    "torch.int32": "i32",
    "torch.int64": "i64",
    "torch.uint8": "u8",
    "torch.uint16": "u16",
    "torch.uint32": "u32",
    "torch.uint64": "u64",
    "torch.float16": "fp16",
    "torch.float32": "fp32",
    "torch.float64": "fp64",
    "torch.bfloat16": "bf16",
    "torch.float8_e4m3fn": "fp8e4nv",
    "torch.float8_e5m2": "fp8e5",
}
# Filled lazily: dtype object -> type string (dtype objects hash fast; their str does not).
_dtype_cache: dict[Any, str] = {}


def numpy_type_str(dt: np.dtype) -> str:
    """Triton's element type string for a NumPy (or ml_dtypes) dtype; TypeError if none."""
    name = _NUMPY_NAMES.get(np.dtype(dt).name)
    if name is None:
        raise TypeError(f"dtype {dt} has no Triton equivalent")
    return name


def _element_type(dt: Any) -> str:
    """Element type string of a NumPy or torch dtype, cached per dtype object."""
    s = _dtype_cache.get(dt)
    if s is None:
        if getattr(dt, "isnative", True) is False:  # '>f4' on a little-endian CPU
            raise TypeError(
                f"dtype {dt.str} is not in this CPU's byte order; convert the array first "
                "(a.astype(a.dtype.newbyteorder('=')))"
            )
        s = _TORCH_NAMES.get(str(dt)) or _NUMPY_NAMES.get(getattr(dt, "name", ""))
        if s is None:
            try:
                s = numpy_type_str(np.dtype(dt))
            except TypeError:
                raise TypeError(f"dtype {dt} has no Triton equivalent") from None
        _dtype_cache[dt] = s
    return s


def _interface_pointer(arr: np.ndarray) -> int:
    return arr.__array_interface__["data"][0]


def _make_array_pointer() -> Callable[[np.ndarray], int]:
    """The fastest correct way to read an ndarray's data pointer in this interpreter.

    ``arr.__array_interface__`` builds a dict (shape, strides, descr) just to hand back the
    pointer: ~1 us, the largest single cost of a warm launch. In CPython ``id(arr)`` is the
    object's address and NumPy's array struct starts ``PyObject_HEAD; char *data``, so the
    pointer is one word read at ``object.__basicsize__``. That layout is checked here on a few
    arrays; anywhere it does not hold (PyPy, a different header) the slow path is used.
    """
    if sys.implementation.name != "cpython":
        return _interface_pointer
    offset = object.__basicsize__
    read = ctypes.c_void_p.from_address

    def fast(arr: np.ndarray) -> int:
        return read(id(arr) + offset).value or 0

    probes = [np.zeros(3, np.float32), np.zeros((4, 5), np.int8)[1:, ::2], np.empty(0)]
    if all(fast(a) == _interface_pointer(a) for a in probes):
        return fast
    return _interface_pointer


#: ``array_pointer(arr)``: the address of a NumPy array's first element.
array_pointer = _make_array_pointer()


# ---------------------------------------------------------------------------------------------
# Handlers: (value, level) -> (key, launch value); ``level`` is FULL, ONE_ONLY or NONE.
# ---------------------------------------------------------------------------------------------

Handler = Callable[[Any, int], tuple[Any, Any]]


def _int_key(v: int, spec: int) -> tuple[Any, Any]:
    if _INT32_MIN <= v <= _INT32_MAX:
        ty = "i32"
    elif _INT64_MIN <= v <= _INT64_MAX:
        ty = "i64"
    elif 0 <= v <= _UINT64_MAX:
        ty = "u64"
    else:
        raise IntegerOverflowError(f"integer {v} does not fit in 64 bits")
    if spec:
        if v == 1:
            return (ty, ONE), CONST
        if spec == FULL and v % 16 == 0:
            return (ty, DIV16), v
    return (ty, None), v


def _bool_key(v: bool, spec: int) -> tuple[Any, Any]:
    return ("i1", None), int(v)


def _float_key(v: float, spec: int) -> tuple[Any, Any]:
    return ("fp32", None), v


def _none_key(v: None, spec: int) -> tuple[Any, Any]:
    # Triton compiles a None argument as the constexpr None.
    return ("none", None), CONST


#: Marks in a pointer key's hint, ``(mark, aligned)``: memory the kernel must not store
#: through. The compiled kernel knows which pointers it stores through; the launch refuses
#: these there (jit.py) and uses them freely for loads.
READ_ONLY = "read-only"
OVERLAPPING = "overlapping"


def _shares_elements(a: np.ndarray) -> bool:
    return any(st == 0 and n > 1 for st, n in zip(a.strides, a.shape))


def _array_hint(a: np.ndarray, ptr: int, spec: int) -> Any:
    aligned = ptr % 16 == 0 if spec == FULL else False
    flags = a.flags
    if flags.writeable and (flags.c_contiguous or a.size <= 1 or not _shares_elements(a)):
        return aligned
    if not flags.writeable:
        return (READ_ONLY, aligned)
    return (OVERLAPPING, aligned)  # a stride-0 view: several elements share one address


def _ndarray_key(a: np.ndarray, spec: int) -> tuple[Any, Any]:
    ptr = array_pointer(a)
    if not ptr and a.size:
        raise ValueError("array has a NULL data pointer")
    return ("*" + _element_type(a.dtype), _array_hint(a, ptr, spec)), ptr


def _numpy_scalar_key(v: np.generic, spec: int) -> tuple[Any, Any]:
    ty = _element_type(v.dtype)
    if ty[0] in "iu" and ty != "i1":
        iv = int(v)
        if spec and iv == 1:
            return (ty, ONE), CONST
        return (ty, DIV16 if spec == FULL and iv % 16 == 0 else None), iv
    if ty == "i1":
        return (ty, None), int(v)
    # Floating scalars of every width go to the launcher as Python floats (contracts §3);
    # it rounds them to the parameter's type.
    return (ty, None), float(v)


def _torch_tensor_key(t: Any, spec: int) -> tuple[Any, Any]:
    cpu = t.is_cpu
    if not cpu and not (t.is_cuda and _cuda_active()):
        raise TypeError(f"tensor on device {t.device} cannot be used by a CPU kernel")
    ptr = t.data_ptr()
    if not ptr and t.numel():
        raise ValueError("tensor has a NULL data pointer")
    hint: Any = ptr % 16 == 0 if spec == FULL else False
    if t.numel() > 1 and 0 in t.stride():
        hint = (OVERLAPPING, hint)  # an expanded tensor: several elements share one address
    elif cpu and t.numel():
        storage = t.untyped_storage()
        if not storage.resizable():
            # memory torch did not allocate (from_numpy, frombuffer, DLPack): torch has no
            # read-only tensors, so ask the OS whether the pages are writable (PROT_READ)
            if unwritable_storage(storage):
                hint = (READ_ONLY, hint)
    return ("*" + _element_type(t.dtype), hint), ptr


def _cuda_active() -> bool:
    """Whether launches go to the GPU (TRITIUM_BACKEND=cuda, or the CUDA driver is active)."""
    from tritium import knobs
    from tritium.backends.driver import driver

    return knobs.backend() == "cuda" or getattr(driver.active, "backend", "cpu") == "cuda"


def _interface_key(obj: Any, spec: int) -> tuple[Any, Any]:
    """Objects exposing ``__array_interface__`` (but not NumPy arrays)."""
    iface = obj.__array_interface__
    ptr, readonly = iface["data"]
    ty = "*" + _element_type(np.dtype(iface["typestr"]))
    size = 1
    for n in iface.get("shape", ()):
        size *= int(n)
    if not ptr and size:
        raise ValueError("__array_interface__ gives a NULL data pointer for a non-empty array")
    hint: Any = ptr % 16 == 0 if spec == FULL else False
    strides = iface.get("strides")
    if readonly:
        hint = (READ_ONLY, hint)
    elif strides and size > 1 and 0 in strides:
        hint = (OVERLAPPING, hint)
    return (ty, hint), ptr


def _dlpack_key(obj: Any, spec: int) -> tuple[Any, Any]:
    """DLPack producers: the capsule read directly (every dtype; read-only memory typed ``*k``)."""
    from tritium.dlpack import dlpack_key

    return dlpack_key(obj, spec)


def signature_type(dtype: Any) -> str:
    """Triton's signature string for a ``tl.dtype``: ``uint32`` -> ``u32``, ``fp16`` -> ``fp16``."""
    name = str(getattr(dtype, "name", dtype))
    if name.startswith("torch."):  # reinterpret(t, torch.float16), as Triton allows
        name = name[6:]
        name = _TORCH_FLOATS.get(name, name)
    if name.startswith("uint"):
        return "u" + name[4:]
    if name.startswith("int"):
        return "i" + name[3:]
    return name


_TORCH_FLOATS = {
    "float16": "fp16",
    "bfloat16": "bf16",
    "float32": "fp32",
    "float64": "fp64",
    "float8_e4m3fn": "fp8e4nv",
    "float8_e5m2": "fp8e5",
    "bool": "i1",
}


def _wrapper_key(w: Any, spec: int) -> tuple[Any, Any]:
    """``reinterpret(tensor, dtype)``: the base's address, typed by the wrapper's dtype."""
    ptr = w.data_ptr()
    return ("*" + signature_type(w.dtype), ptr % 16 == 0 if spec == FULL else False), ptr


class Expanded(tuple):
    """The launch values of one argument that is several kernel parameters (a tensor
    descriptor: base pointer, sizes, strides); flattened by :func:`flatten_launch_args`."""

    __slots__ = ()


def flatten_launch_args(args: list[Any]) -> list[Any]:
    """Launch values with every :class:`Expanded` spliced in place."""
    out: list[Any] = []
    for a in args:
        if type(a) is Expanded:
            out.extend(a)
        else:
            out.append(a)
    return out


def _descriptor_key(d: Any, spec: int) -> tuple[Any, Any]:
    """A host ``TensorDescriptor``: typed ``tensordesc<fp32[8,16]>`` (``,nan`` for NaN padding);
    passed as the base pointer, the sizes and the strides (contracts.md, FRONTEND)."""
    base = d.base
    if hasattr(base, "data_ptr"):
        if not base.is_cpu:
            raise TypeError(f"tensor on device {base.device} cannot be used by a CPU kernel")
        ptr = base.data_ptr()
    else:
        ptr = array_pointer(np.asarray(base))
    block = ",".join(str(int(b)) for b in d.block_shape)
    padding = ",nan" if d.padding == "nan" else ""
    ty = f"tensordesc<{_element_type(base.dtype)}[{block}]{padding}>"
    return (ty, None), Expanded((ptr, *(int(n) for n in d.shape), *(int(n) for n in d.strides)))


def _constexpr_key(c: Any, spec: int) -> tuple[Any, Any]:
    """A ``tl.constexpr(v)`` passed for a parameter not annotated as one: compiled as ``v``."""
    return ("constexpr", c.value), CONST


def _tuple_key(t: tuple[Any, ...], spec: int) -> tuple[Any, Any]:
    """A tuple argument: one key per element, launch values flattened in order.

    As in Triton, an int element equal to 1 is the constant 1 (no other hints); ``None`` and
    ``@jit`` functions are constexprs. A NamedTuple's key holds its class (fields by name).
    """
    keys, values = [], []
    sub = ONE_ONLY if spec else NONE
    for i, v in enumerate(t):
        k, lv = arg_key(f"[{i}]", v, sub)
        keys.append(k)
        if type(lv) is Expanded:
            values.extend(lv)
        elif lv is not CONST:
            values.append(lv)
    cls = type(t)
    if cls is not tuple and hasattr(cls, "_fields"):
        return ("namedtuple", (cls, tuple(keys))), Expanded(values)
    return ("tuple", tuple(keys)), Expanded(values)


def _jit_key(fn: Any, spec: int) -> tuple[Any, Any]:
    return ("constexpr", fn), CONST  # a @jit function argument: a constexpr, as in Triton


_HANDLERS: dict[type, Handler] = {
    int: _int_key,
    bool: _bool_key,
    float: _float_key,
    type(None): _none_key,
    np.ndarray: _ndarray_key,
    tuple: _tuple_key,
}


#: Handlers of argument classes that live in the runtime (``TensorWrapper``,
#: ``TensorDescriptor``): each class registers itself where it is defined, so this module imports
#: none of them (an instance reaching a launch means its module has run).
_CLASS_HANDLERS: dict[type, Handler] = {}


def register_argument_class(cls: type, kind: str) -> None:
    """Pass instances of ``cls`` (and of its subclasses) as ``kind``: ``"wrapper"`` (a
    ``reinterpret`` view: the base's memory, typed by ``.dtype``) or ``"descriptor"`` (a host
    tensor descriptor: base pointer, sizes, strides) or ``"constexpr"`` (``@jit`` functions)."""
    kinds = {"wrapper": _wrapper_key, "descriptor": _descriptor_key, "constexpr": _jit_key}
    _CLASS_HANDLERS[cls] = kinds[kind]


def _find_handler(value: Any) -> Handler | None:
    """The handler for a value of a type not seen before (cached in ``_HANDLERS`` by type)."""
    tp = type(value)
    handler = next((_CLASS_HANDLERS[c] for c in tp.__mro__ if c in _CLASS_HANDLERS), None)
    if handler is not None:
        pass  # a registered runtime class
    elif tp.__name__ == "constexpr" and hasattr(value, "value"):
        handler = _constexpr_key
    elif issubclass(tp, np.generic):
        handler = _numpy_scalar_key
    elif issubclass(tp, bool):
        handler = _bool_key
    elif issubclass(tp, int):
        handler = _int_key
    elif issubclass(tp, float):
        handler = _float_key
    elif issubclass(tp, np.ndarray):
        handler = _ndarray_key
    elif issubclass(tp, tuple):
        handler = _tuple_key  # torch.Size: its items, as a tuple; a NamedTuple: with its class
    elif hasattr(tp, "data_ptr") and hasattr(tp, "dtype") and hasattr(tp, "is_cpu"):
        handler = _torch_tensor_key
    elif hasattr(value, "__array_interface__"):
        # An instance attribute on some classes: cache only what the type itself guarantees.
        if not hasattr(tp, "__array_interface__"):
            return _interface_key
        handler = _interface_key
    elif hasattr(tp, "__dlpack__"):
        handler = _dlpack_key
    if handler is not None:
        _HANDLERS[tp] = handler
    return handler


def arg_key(name: str, value: Any, specialize: int = FULL) -> tuple[Any, Any]:
    """(key, launch value) of one runtime argument; TypeError naming ``name`` if unsupported."""
    handler = _HANDLERS.get(type(value)) or _find_handler(value)
    if handler is None:
        raise TypeError(
            f"argument '{name}' has unsupported type {type(value).__name__}: "
            "expected an array/tensor, a Python or NumPy scalar, or None"
        )
    try:
        return handler(value, specialize)
    except (TypeError, ValueError) as e:
        raise type(e)(f"argument '{name}': {e}") from None


def decode_key(key: tuple[Any, Any]) -> tuple[Any, Any, dict[str, int]]:
    """(signature type, constexpr value or CONST, attrs) of one runtime argument from its key.

    The constexpr value is CONST when the argument stays a runtime parameter. A tuple argument's
    signature type is the tuple of its elements' types (``("*fp32", "i32")``).
    """
    ty, hint = key
    if ty == "constexpr":
        return "constexpr", hint, {}
    if ty == "tuple" or ty == "namedtuple":
        # (signature of each element, constexpr value of each element or None for run-time
        # ones), as the frontend takes tuple parameters (contracts.md, FRONTEND). A NamedTuple's
        # signature is an instance of its class holding the element types, as in Triton.
        cls, keys = hint if ty == "namedtuple" else (tuple, hint)
        parts = [decode_key(k) for k in keys]
        consts = tuple(None if c is CONST else c for _, c, _ in parts)
        has_const = any(
            t == "constexpr" or (isinstance(t, tuple) and c is not CONST) for t, c, _ in parts
        )
        types = [t for t, _, _ in parts]
        sig = cls(*types) if cls is not tuple else tuple(types)
        return sig, consts if has_const else CONST, {}
    if ty == "none":
        return "constexpr", None, {}
    if ty.startswith("tensordesc"):
        return ty, CONST, {}
    if ty.startswith("*"):  # checked first: an aligned pointer's hint is True, and True == ONE
        if type(hint) is tuple:  # (READ_ONLY or OVERLAPPING, aligned)
            hint = hint[1]
        return ty, CONST, ({"tt.divisibility": 16} if hint else {})
    if hint == ONE:
        return "constexpr", 1, {}
    return ty, CONST, ({"tt.divisibility": 16} if hint == DIV16 else {})


def unwritable_pointers(names: list[str], keys: tuple[Any, ...]) -> dict[str, str]:
    """``{parameter: why}`` for the pointer arguments (by their keys) that must not be stored
    through: read-only memory or a stride-0 (overlapping) view."""
    out = {}

    def visit(name: str, key: Any) -> None:
        if type(key) is tuple and len(key) == 2 and type(key[1]) is tuple:
            ty, hint = key
            if ty == "tuple" or ty == "namedtuple":  # elements named as parameters: T[0], T[1][0]
                for i, k in enumerate(hint[1] if ty == "namedtuple" else hint):
                    visit(f"{name}[{i}]", k)
            elif isinstance(ty, str) and ty.startswith("*") and len(hint) == 2:
                out[name] = hint[0]

    for name, key in zip(names, keys):
        visit(name, key)
    return out


# ---------------------------------------------------------------------------------------------
# The parameters a signature becomes, and a bounds-checked kernel's extra ones
# ---------------------------------------------------------------------------------------------

_DESC_BLOCK = re.compile(r"\[([0-9, ]*)\]")

#: The span passed for a pointer whose argument has no known memory: nothing is out of bounds.
UNCHECKED = (0, -1)  # hi is 2**64 - 1 as the unsigned compare in the kernel sees it


def flat_parameters(signature: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(name, is pointer) of each ``tt.func`` parameter a signature gives, in order.

    Tuples contribute their run-time elements (``T[0]``, ``T[1][0]``); a tensor descriptor its
    base pointer, sizes and strides (contracts.md, FRONTEND).
    """
    out: list[tuple[str, bool]] = []

    def add(name: str, ty: Any) -> None:
        if isinstance(ty, tuple):
            for i, t in enumerate(ty):
                add(f"{name}[{i}]", t)
        elif ty == "constexpr" or ty == "none":
            return
        elif ty.startswith("tensordesc"):
            m = _DESC_BLOCK.search(ty)
            rank = len([d for d in m.group(1).split(",") if d.strip()]) if m else 0
            out.append((f"{name}.base", True))
            out.extend((f"{name}.shape[{i}]", False) for i in range(rank))
            out.extend((f"{name}.strides[{i}]", False) for i in range(rank))
        else:
            out.append((name, ty.startswith("*")))

    for name, ty in signature.items():
        add(name, ty)
    return out


def memory_span(obj: Any) -> tuple[int, int] | None:
    """``(lo, hi)``: the bytes an array-like argument owns, or None if ``obj`` is not one.

    Understands NumPy arrays, torch tensors, ``reinterpret`` wrappers, objects with
    ``__array_interface__`` and DLPack producers.
    """
    if isinstance(obj, np.ndarray):
        return _span(array_pointer(obj), obj.shape, obj.strides, obj.itemsize)
    base = getattr(obj, "base", None)
    if base is not None and hasattr(obj, "data_ptr") and hasattr(obj, "dtype"):
        return memory_span(base)  # a TensorWrapper: same memory, another element type
    if hasattr(obj, "data_ptr") and hasattr(obj, "stride") and hasattr(obj, "element_size"):
        isz = int(obj.element_size())
        strides = tuple(int(s) * isz for s in obj.stride())
        return _span(int(obj.data_ptr()), tuple(obj.shape), strides, isz)
    if hasattr(obj, "__array_interface__"):
        return memory_span(np.asarray(obj))
    if hasattr(obj, "__dlpack__"):
        from tritium.dlpack import numpy_view

        return memory_span(numpy_view(obj))
    return None


def _span(ptr: int, shape: tuple[int, ...], strides: tuple[int, ...], isz: int) -> tuple[int, int]:
    if any(n == 0 for n in shape):
        return ptr, ptr  # no element: every access is out of bounds
    lo = sum(min(0, (n - 1) * s) for n, s in zip(shape, strides))
    hi = sum(max(0, (n - 1) * s) for n, s in zip(shape, strides)) + isz
    return ptr + lo, ptr + hi


def _owners(value: Any, spec: int) -> list[Any]:
    """The object behind each launch value of one argument (None for scalars)."""
    _, lv = arg_key("?", value, spec)
    if lv is CONST:
        return []
    if type(lv) is not Expanded:
        return [value]
    if isinstance(value, tuple):
        return [o for v in value for o in _owners(v, NONE)]
    return [getattr(value, "base", None)] + [None] * (len(lv) - 1)  # a tensor descriptor


def argument_spans(signature: Mapping[str, Any], args: list[tuple[Any, int]]) -> list[int]:
    """``lo, hi`` of each pointer parameter, in order, for the run-time arguments ``args``
    (each with its specialization level, which decides whether an int is a parameter)."""
    owners = [o for value, spec in args for o in _owners(value, spec)]
    params = flat_parameters(signature)
    if len(params) != len(owners):
        raise RuntimeError(
            f"bounds check: {len(owners)} launch values for {len(params)} parameters"
        )
    spans: list[int] = []
    for (_, is_ptr), owner in zip(params, owners):
        if is_ptr:
            spans.extend(memory_span(owner) or UNCHECKED)
    return spans


# ---------------------------------------------------------------------------------------------
# The launch grid
# ---------------------------------------------------------------------------------------------


def _grid_int(v: Any, grid: Any) -> int:
    """One grid dimension: an integer (Python, NumPy, a 0-d integer tensor), never a float or
    a string that ``int()`` would quietly accept."""
    if type(v) is int:
        return v
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(
            f"grid dimensions must be integers, got {type(v).__name__} {v!r} in {grid!r}"
        ) from None


_MAX_PROGRAMS = 2**63 - 1


def normalize_grid(grid: Any) -> tuple[int, int, int] | None:
    """A 3-tuple of ints from a 1-3 element grid; None for an empty grid (nothing to launch).
    TypeError for a non-integer dimension; ValueError for a negative one, or a grid whose
    program count does not fit in 64 bits."""
    try:
        n = len(grid)
    except TypeError:
        raise TypeError(
            f"grid must be a tuple of 1 to 3 ints (or a function of the "
            f"meta-parameters returning one), got {type(grid).__name__}"
        ) from None
    if isinstance(grid, (str, bytes)):
        raise TypeError(f"grid must be a tuple of 1 to 3 ints, got {type(grid).__name__}")
    if n == 1:
        g = (_grid_int(grid[0], grid), 1, 1)
    elif n == 2:
        g = (_grid_int(grid[0], grid), _grid_int(grid[1], grid), 1)
    elif n == 3:
        g = (_grid_int(grid[0], grid), _grid_int(grid[1], grid), _grid_int(grid[2], grid))
    else:
        raise ValueError(f"grid must have 1 to 3 dimensions, got {grid!r}")
    if g[0] <= 0 or g[1] <= 0 or g[2] <= 0:
        if min(g) < 0:
            raise ValueError(f"grid dimensions must not be negative, got {grid!r}")
        return None
    if g[0] * g[1] * g[2] > _MAX_PROGRAMS:
        raise ValueError(f"grid {grid!r} has more programs than fit in 64 bits")
    return g


def unwritable_memory(ptr: int, nbytes: int) -> bool:
    """Whether some byte of ``[ptr, ptr + nbytes)`` lies in a mapping the process may not
    write (a ``PROT_READ`` map) or in no mapping, from ``/proc/self/maps`` (Linux; elsewhere
    False). Read afresh on every call: memory is unmapped and mapped again at the same
    addresses, so an earlier answer for an address proves nothing."""
    lo, hi = ptr, ptr + max(nbytes, 1)
    try:
        with open("/proc/self/maps", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    for line in lines:  # sorted by address
        fields = line.split(None, 2)
        start, end = (int(x, 16) for x in fields[0].split(b"-"))
        if end <= lo:
            continue
        if start > lo or b"w" not in fields[1]:
            return True  # a gap no mapping covers, or a read-only map
        lo = end
        if lo >= hi:
            return False
    return True


#: id(storage) -> (weak reference to it, whether its memory is unwritable). A storage keeps
#: its memory mapped while it lives, so the answer holds until the weak reference dies.
_STORAGES: dict[int, tuple[Any, bool]] = {}


def unwritable_storage(storage: Any) -> bool:
    """:func:`unwritable_memory` for a torch storage's bytes, asked once per storage."""
    key = id(storage)
    hit = _STORAGES.get(key)
    if hit is not None and hit[0]() is storage:
        return hit[1]
    ptr, nbytes = storage.data_ptr(), storage.nbytes()
    bad = unwritable_memory(ptr, nbytes)
    if not bad:  # torch.frombuffer(bytes): writable pages, but an immutable object's contents
        bad = inside_bytes_object(ptr, nbytes)
    ref = weakref.ref(storage, lambda _, key=key: _STORAGES.pop(key, None))
    _STORAGES[key] = (ref, bad)
    return bad


#: How far before the memory a ``bytes`` header is looked for (an offset into the object).
_SCAN_BYTES = 1 << 20


@cache
def _layout() -> tuple[int, int, int, int] | None:
    """(header size, offsets of the type pointer, the size and the cached hash) of a ``bytes``
    object, measured on a probe."""
    if sys.implementation.name != "cpython" or sys.maxsize < 2**32:
        return None
    probe = bytes(range(256)) * 49  # 12,544 bytes: a length no header word holds by chance
    h = hash(probe) % 2**64  # also caches the hash in the header
    data = ctypes.cast(ctypes.c_char_p(probe), ctypes.c_void_p).value
    head = (data or 0) - id(probe)
    if not 16 <= head <= 256 or head % 8:
        return None
    words = np.frombuffer(ctypes.string_at(id(probe), head), np.uint64)
    found = [np.flatnonzero(words == v) for v in (id(bytes), len(probe), h)]
    if any(len(f) != 1 for f in found):
        return None
    return head, int(found[0][0]) * 8, int(found[1][0]) * 8, int(found[2][0]) * 8


def _readable_mapping(ptr: int) -> tuple[int, int] | None:
    """The ``[start, end)`` of the readable mapping that holds ``ptr``, if any."""
    try:
        with open("/proc/self/maps", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(None, 2)
        start, end = (int(x, 16) for x in fields[0].split(b"-"))
        if start <= ptr < end:
            return (start, end) if fields[1][:1] == b"r" else None
    return None


def inside_bytes_object(ptr: int, nbytes: int) -> bool:
    """Whether ``[ptr, ptr + nbytes)`` lies inside the contents of a live ``bytes`` object.

    ``torch.frombuffer(b"...")`` (or of ``memoryview(b)[k:]``) gives a tensor over the bytes'
    own storage; torch only warns that the buffer is not writable. The pages are writable (the
    Python heap), so :func:`unwritable_memory` passes them, and a kernel storing through the
    tensor would change an immutable object in place.

    In CPython a ``bytes`` object is a fixed header (reference count, type, size, hash) and
    its contents, NUL-terminated. The header's layout is measured once on a probe object;
    then the words before ``ptr`` are searched for a header of type ``bytes`` whose contents
    cover the range, with a live reference count, its NUL inside the mapping and, if its hash
    was computed, that hash (a freed object's header fails these). The search reads only the
    readable mapping holding ``ptr`` and goes back at most ``_SCAN_BYTES``: a tensor further
    into one ``bytes`` object is not recognized. Elsewhere than 64-bit CPython: False."""
    layout = _layout()
    if layout is None or ptr <= 0:
        return False
    head, type_at, size_at, hash_at = layout
    span = _readable_mapping(ptr)
    if span is None:
        return False
    lo = max(span[0], ptr - head - _SCAN_BYTES)
    lo += -lo % 8
    if ptr - lo < head:
        return False
    words = np.frombuffer(ctypes.string_at(lo, (ptr - lo) // 8 * 8), np.uint64)
    for i in np.flatnonzero(words == id(bytes)):
        start = lo + int(i) * 8 - type_at  # where that header would begin
        if start < lo or start + head > ptr:
            continue
        refs, size, cached = (int(words[(start - lo + at) // 8]) for at in (0, size_at, hash_at))
        end = start + head + size  # its terminating NUL, inside the mapping
        if not (0 < refs < 2**40 and ptr + nbytes <= end < span[1]):
            continue
        if ctypes.string_at(end, 1) != b"\0":
            continue
        # a stale header of a freed object rarely survives this: a computed hash must match
        if cached != 2**64 - 1 and cached != hash(ctypes.string_at(start + head, size)) % 2**64:
            continue
        return True
    return False
