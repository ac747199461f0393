"""Kernel arguments from any framework through DLPack, read directly from the capsule.

A DLPack producer (``__dlpack__``/``__dlpack_device__``: torch, JAX, CuPy, TensorFlow, NumPy,
...) hands over a ``PyCapsule`` holding a ``DLManagedTensor`` (legacy, capsule name
``"dltensor"``) or a ``DLManagedTensorVersioned`` (DLPack >= 1.0, ``"dltensor_versioned"``),
whose ``DLTensor`` gives the data pointer, device, dtype code/bits/lanes, shape and strides.

This module reads those structs with ctypes instead of going through ``np.from_dlpack``,
because NumPy refuses every dtype it has no native type for (bf16, the fp8 formats), and
those are exactly the ones kernels are written for. The capsule is never *consumed* (its name
is left as is), so the producer's capsule destructor runs the deleter when the capsule dies;
the capsule is kept alive for as long as its pointer is in use (:class:`KeptPointer` holds it
through a launch).

Read-only memory: a versioned tensor's ``READ_ONLY`` flag, a copy made by the producer
(``IS_COPIED``: stores would be lost) and JAX arrays (immutable, exported through the legacy
struct that has no flags) make a read-only pointer, typed ``*k<dtype>`` (Triton's const
pointer), so that a kernel storing through it is refused when it is compiled.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DLPACK_DTYPES",
    "DLPackTensor",
    "KeptPointer",
    "dlpack_key",
    "from_dlpack",
    "numpy_view",
]

#: The DLPack version this consumer implements (passed as ``max_version``).
MAX_VERSION = (1, 3)

# DLDeviceType values whose memory the CPU can address.
_CPU_DEVICES = {1: "kDLCPU", 3: "kDLCUDAHost", 11: "kDLROCMHost", 13: "kDLCUDAManaged"}
_DEVICE_NAMES = {2: "kDLCUDA", 4: "kDLOpenCL", 7: "kDLVulkan", 8: "kDLMetal", 10: "kDLROCM"}
_DEVICE_NAMES.update(_CPU_DEVICES)
#: device types whose memory a CUDA kernel addresses directly
CUDA_DEVICES = {2: "kDLCUDA", 13: "kDLCUDAManaged"}

_FLAG_READ_ONLY = 1 << 0
_FLAG_IS_COPIED = 1 << 1

#: (DLDataTypeCode, bits) -> Triton element type. Codes: 0 int, 1 uint, 2 float, 4 bfloat,
#: 6 bool, 10 float8_e4m3fn, 11 float8_e4m3fnuz, 12 float8_e5m2, 13 float8_e5m2fnuz.
DLPACK_DTYPES: dict[tuple[int, int], str] = {
    (0, 8): "i8",
    (0, 16): "i16",
    (0, 32): "i32",
    (0, 64): "i64",
    (1, 8): "u8",
    (1, 16): "u16",
    (1, 32): "u32",
    (1, 64): "u64",
    (2, 16): "fp16",
    (2, 32): "fp32",
    (2, 64): "fp64",
    (4, 16): "bf16",
    (6, 8): "i1",
    (10, 8): "fp8e4nv",
    (11, 8): "fp8e4b8",
    (12, 8): "fp8e5",
    (13, 8): "fp8e5b16",
}

# Names of the codes tritium has no type for, for the error message.
_UNSUPPORTED_CODES = {
    3: "opaque handle",
    5: "complex",
    7: "float8_e3m4",
    8: "float8_e4m3 (IEEE-style, with infinities)",
    9: "float8_e4m3b11fnuz",
    14: "float8_e8m0fnu",
    15: "float6_e2m3fn",
    16: "float6_e3m2fn",
    17: "float4_e2m1fn",
}

# Triton element type -> the NumPy/ml_dtypes dtype name of the same bits (for numpy_view).
_NUMPY_NAMES = {
    "i1": "bool",
    "i8": "int8",
    "i16": "int16",
    "i32": "int32",
    "i64": "int64",
    "u8": "uint8",
    "u16": "uint16",
    "u32": "uint32",
    "u64": "uint64",
    "fp16": "float16",
    "fp32": "float32",
    "fp64": "float64",
    "bf16": "bfloat16",
    "fp8e4nv": "float8_e4m3fn",
    "fp8e4b8": "float8_e4m3fnuz",
    "fp8e5": "float8_e5m2",
    "fp8e5b16": "float8_e5m2fnuz",
}


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [
        ("dl_tensor", _DLTensor),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
    ]


class _DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class _DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [
        ("version", _DLPackVersion),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
        ("flags", ctypes.c_uint64),
        ("dl_tensor", _DLTensor),
    ]


_capsule_is_valid = ctypes.pythonapi.PyCapsule_IsValid
_capsule_is_valid.restype = ctypes.c_int
_capsule_is_valid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]

_VERSIONED, _LEGACY = b"dltensor_versioned", b"dltensor"


class DLPackError(TypeError):
    """An object whose DLPack export a CPU kernel cannot use (device, dtype, protocol)."""


@dataclass(frozen=True)
class DLPackTensor:
    """What a DLPack capsule describes; ``capsule`` keeps the memory alive.

    ``data`` is the address of the first element (``byte_offset`` applied); ``strides`` are
    in elements (None: compact row-major); ``readonly`` is True for a read-only or copied
    export and for JAX arrays.
    """

    data: int
    dtype: str
    itemsize: int
    shape: tuple[int, ...]
    strides: tuple[int, ...] | None
    readonly: bool
    device: tuple[int, int]
    version: tuple[int, int] | None
    capsule: Any

    def pointer_type(self) -> str:
        """Triton's signature type of a pointer to this memory (``*k...`` when read-only)."""
        return ("*k" if self.readonly else "*") + self.dtype


class KeptPointer(int):
    """An address that keeps the DLPack capsule owning its memory alive (the launch value of
    a DLPack argument: it lives until the launch has returned)."""

    owner: Any  # in the instance dict: int subclasses cannot have slots


def _is_immutable_framework(obj: Any) -> bool:
    """JAX arrays are immutable, but their legacy DLPack export has no read-only flag."""
    module = type(obj).__module__ or ""
    return module.split(".")[0] in ("jax", "jaxlib")


def _device_of(obj: Any) -> tuple[int, int]:
    try:
        dev = obj.__dlpack_device__()
        return int(dev[0]), int(dev[1])
    except AttributeError:
        return (1, 0)  # a producer without __dlpack_device__: the capsule tells


def _check_device(
    device: tuple[int, int], what: str, devices: Mapping[int, str] | None = None
) -> None:
    if device[0] not in (_CPU_DEVICES if devices is None else devices):
        name = _DEVICE_NAMES.get(device[0], f"device type {device[0]}")
        need = (
            f"a CPU kernel needs memory the CPU can address ({', '.join(_CPU_DEVICES.values())})"
            if devices is None
            else f"the kernel needs memory on {', '.join(devices.values())}"
        )
        raise DLPackError(f"{what} is on {name}:{device[1]} (DLPack); {need}")


def _export(obj: Any) -> Any:
    """The capsule of ``obj.__dlpack__``, asking for a versioned one without a copy.

    Producers that predate DLPack 1.0 do not take ``max_version``/``copy``; they are asked
    again without them (they never copy on the CPU).
    """
    try:
        return obj.__dlpack__(max_version=MAX_VERSION, copy=False)
    except TypeError:
        return obj.__dlpack__()


def from_dlpack(
    obj: Any, what: str | None = None, devices: Mapping[int, str] | None = None
) -> DLPackTensor:
    """Read the DLPack export of ``obj``; :class:`DLPackError` (a TypeError) naming ``what``
    when it is not usable by a CPU kernel (another device, a dtype tritium has no type for,
    vector lanes, an unknown capsule). ``devices``: the device types accepted instead of the
    CPU's (:data:`CUDA_DEVICES` for CUDA kernels)."""
    kind = type(obj).__name__
    what = kind if what is None else f"{what} ({kind})"
    _check_device(_device_of(obj), what, devices)
    try:
        capsule = _export(obj)
    except (BufferError, RuntimeError, ValueError) as e:
        raise DLPackError(f"{what} could not be exported through DLPack: {e}") from e
    if _capsule_is_valid(capsule, _VERSIONED):
        m = _DLManagedTensorVersioned.from_address(_capsule_pointer(capsule, _VERSIONED))
        version: tuple[int, int] | None = (m.version.major, m.version.minor)
        if m.version.major != MAX_VERSION[0]:
            raise DLPackError(f"{what}: DLPack version {version} is not supported")
        flags = int(m.flags)
    elif _capsule_is_valid(capsule, _LEGACY):
        m = _DLManagedTensor.from_address(_capsule_pointer(capsule, _LEGACY))
        version, flags = None, 0
    else:
        raise DLPackError(
            f"{what}: __dlpack__ returned {type(capsule).__name__} {capsule!r}, "
            "not an unconsumed DLPack capsule"
        )
    t = m.dl_tensor
    device = (int(t.device.device_type), int(t.device.device_id))
    _check_device(device, what, devices)
    dtype = _element_type(t.dtype.code, t.dtype.bits, t.dtype.lanes, what)
    ndim = int(t.ndim)
    shape = tuple(int(t.shape[i]) for i in range(ndim))
    strides = tuple(int(t.strides[i]) for i in range(ndim)) if t.strides else None
    readonly = bool(flags & (_FLAG_READ_ONLY | _FLAG_IS_COPIED)) or _is_immutable_framework(obj)
    return DLPackTensor(
        data=(t.data or 0) + int(t.byte_offset),
        dtype=dtype,
        itemsize=int(t.dtype.bits) // 8,
        shape=shape,
        strides=strides,
        readonly=readonly,
        device=device,
        version=version,
        capsule=capsule,
    )


def _element_type(code: int, bits: int, lanes: int, what: str) -> str:
    if lanes != 1:
        raise DLPackError(f"{what}: DLPack vector dtypes ({lanes} lanes) are not supported")
    ty = DLPACK_DTYPES.get((code, bits))
    if ty is not None:
        return ty
    name = _UNSUPPORTED_CODES.get(code)
    if name is None or code == 5:
        base = {0: "int", 1: "uint", 2: "float", 4: "bfloat", 5: "complex", 6: "bool"}
        name = f"{base.get(code, f'code {code} of ')}{bits}"
    raise DLPackError(
        f"{what} has DLPack dtype {name}, which tritium kernels do not support "
        "(supported: bool, int/uint 8-64, fp16/bf16/fp32/fp64, fp8 e4m3fn/e5m2/e4m3fnuz/e5m2fnuz)"
    )


def dlpack_key(obj: Any, spec: int) -> tuple[Any, Any]:
    """The argument handler for DLPack producers (see :mod:`tritium.signature`): the key
    ``("*fp32", aligned)`` (``*k`` for read-only memory) and the address, which holds the
    capsule until the launch is over."""
    t = from_dlpack(obj)
    ptr = KeptPointer(t.data)
    ptr.owner = t.capsule
    return (t.pointer_type(), t.data % 16 == 0 if spec == 2 else False), ptr


def numpy_view(obj: Any, what: str | None = None) -> Any:
    """A NumPy array sharing ``obj``'s memory (bf16/fp8 as ml_dtypes), made from the DLPack
    struct, not through ``np.from_dlpack``; read-only when the export is. It keeps the capsule
    alive. For the interpreter and for memory-span checks."""
    import numpy as np

    t = from_dlpack(obj, what)
    name = _NUMPY_NAMES[t.dtype]
    if name.startswith(("bfloat", "float8")):
        import ml_dtypes

        dt = np.dtype(getattr(ml_dtypes, name))
    else:
        dt = np.dtype(name)
    if t.strides is None:
        strides, step = [], t.itemsize
        for n in reversed(t.shape):
            strides.append(step)
            step *= max(n, 1)
        byte_strides = tuple(reversed(strides))
    else:
        byte_strides = tuple(s * t.itemsize for s in t.strides)

    if 0 in t.shape:
        return np.empty(t.shape, dt)
    # Same-width unsigned integers for the ml_dtypes types (NumPy's interface has no name for
    # them), viewed as the real dtype afterwards.
    raw = np.dtype(f"u{dt.itemsize}") if name.startswith(("bfloat", "float8")) else dt
    holder = _Holder(
        t.capsule,
        {
            "version": 3,
            "shape": t.shape,
            "typestr": raw.str,
            "data": (t.data, t.readonly),
            "strides": byte_strides,
        },
    )
    arr = np.asarray(holder)
    return arr.view(dt) if raw is not dt else arr


class _Holder:
    """An ``__array_interface__`` owner: NumPy keeps it as the array's base, so the capsule
    it holds lives as long as the view."""

    def __init__(self, capsule: Any, interface: dict[str, Any]) -> None:
        self.capsule = capsule
        self.__array_interface__ = interface
