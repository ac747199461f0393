"""Host side of TMA: ``CUtensorMap`` kernel parameters encoded at launch.

**Status: unit-tested with a fake driver; never run against a real one.**

A kernel whose ``metadata["tma"]`` is not empty (``tma.py``) takes, after its IR parameters,
one 128-byte ``CUtensorMap`` per entry. At launch :func:`tensor_map_params` reads the host
descriptor argument's base pointer, sizes and strides from the launch arguments (a
``TensorDescriptor`` argument is passed as base, sizes, strides) and encodes the map with
``cuTensorMapEncodeTiled``:

* ``globalDim`` / ``globalStrides`` innermost first: sizes ``(shape[1], shape[0])``, the one
  stride in bytes ``strides[0] * esize`` (the innermost stride must be 1 element);
* ``boxDim`` the entry's box ``(inner elements, rows)``, ``elementStrides`` ``(1, 1)``;
* no interleave, the entry's swizzle (32/64/128 bytes), 128-byte L2 promotion, zero fill
  for out-of-bounds elements (the descriptor's ``"zero"`` padding).

The driver's own rules are checked first, so a bad argument is a ``ValueError`` naming it
rather than a ``CUDA_ERROR_INVALID_VALUE``: the base 16-byte aligned, the strides multiples of
16 bytes (below 2**40), sizes from 1 to 2**32, box dimensions from 1 to 256, the box's inner
bytes a multiple of 16 and at most the swizzle width. Encoded maps are cached per (base,
sizes, strides, element type, box, swizzle).
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DATA_TYPES",
    "ELEMENT_BYTES",
    "TiledMap",
    "check_tiled",
    "encode_tiled",
    "tensor_map_params",
]

#: the IR element types TMA copies, as CUtensorMapDataType (the driver's enum values)
DATA_TYPES = {"f16": 6, "bf16": 9, "f32": 7, "i8": 0, "f8E4M3FN": 0, "f8E5M2": 0}
ELEMENT_BYTES = {"f16": 2, "bf16": 2, "f32": 4, "i8": 1, "f8E4M3FN": 1, "f8E5M2": 1}
#: CUtensorMapSwizzle
_SWIZZLE = {0: 0, 32: 1, 64: 2, 128: 3}
_L2_PROMOTION_128B = 2
_INTERLEAVE_NONE = 0
_OOB_FILL_NONE = 0  # out-of-bounds elements read as zero
_CACHE_SIZE = 256
_cache: OrderedDict[TiledMap, Any] = OrderedDict()


class _TensorMap(ctypes.Structure):
    """``CUtensorMap``: 128 opaque bytes, 64-byte aligned."""

    _fields_ = [("opaque", ctypes.c_uint64 * 16)]


def _aligned_map() -> tuple[Any, int]:
    """A buffer holding one 64-byte aligned CUtensorMap, and the map's address."""
    buf = ctypes.create_string_buffer(128 + 64)
    addr = (ctypes.addressof(buf) + 63) // 64 * 64
    return buf, addr


@dataclass(frozen=True)
class TiledMap:
    """What one tiled CUtensorMap encodes (also its cache key): the element type (an IR
    type name), the base address, ``shape``/``strides`` outermost first (strides in
    elements), the box ``(inner elements, rows)`` and the swizzle width in bytes (0: none)."""

    dtype: str
    base: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    box: tuple[int, ...]
    swizzle: int


def check_tiled(name: str, m: TiledMap) -> None:
    """Raise ValueError naming descriptor ``name`` where cuTensorMapEncodeTiled would refuse
    ``m``."""
    dtype, base, shape, strides, box, swizzle = (
        m.dtype, m.base, m.shape, m.strides, m.box, m.swizzle
    )  # fmt: skip
    if dtype not in ELEMENT_BYTES:
        raise ValueError(f"{name}: no TMA copy for element type {dtype}")
    es = ELEMENT_BYTES[dtype]
    if len(shape) != 2 or len(strides) != 2 or len(box) != 2:
        raise ValueError(f"{name}: TMA descriptors here are 2-D, got shape {list(shape)}")
    if base % 16:
        raise ValueError(f"{name}: the base address {base:#x} must be 16-byte aligned for TMA")
    if strides[1] != 1:
        raise ValueError(f"{name}: the last dimension must be contiguous, strides {list(strides)}")
    row = strides[0] * es
    if row <= 0 or row % 16 or row >= 2**40:
        raise ValueError(
            f"{name}: stride {strides[0]} ({row} bytes) must be a positive multiple of 16 "
            f"bytes below 2**40 for TMA"
        )
    for s in shape:
        if not 1 <= s <= 2**32:
            raise ValueError(f"{name}: sizes must be from 1 to 2**32 for TMA, got {list(shape)}")
    for d in box:
        if not 1 <= d <= 256:
            raise ValueError(f"{name}: box dimensions must be from 1 to 256, got {list(box)}")
    inner = box[0] * es
    if inner % 16:
        raise ValueError(f"{name}: the box's inner dimension ({inner} bytes) must be 16-byte sized")
    if swizzle not in _SWIZZLE or (swizzle and inner > swizzle):
        raise ValueError(f"{name}: a {inner}-byte box row does not fit the {swizzle}B swizzle")


def encode_tiled(lib: Any, name: str, m: TiledMap) -> Any:
    """``(buffer, CUtensorMap)`` encoded by the driver ``lib`` (see the module docstring),
    cached; ``name`` (the descriptor argument) is for errors."""
    got = _cache.get(m)
    if got is not None:
        _cache.move_to_end(m)
        return got
    check_tiled(name, m)
    shape, strides, box = m.shape, m.strides, m.box
    es = ELEMENT_BYTES[m.dtype]
    u64x2, u32x2 = ctypes.c_uint64 * 2, ctypes.c_uint32 * 2
    buf, addr = _aligned_map()
    code = lib.cuTensorMapEncodeTiled(
        ctypes.c_void_p(addr),
        DATA_TYPES[m.dtype],
        2,
        ctypes.c_void_p(m.base),
        u64x2(shape[1], shape[0]),
        (ctypes.c_uint64 * 1)(strides[0] * es),
        u32x2(box[0], box[1]),
        u32x2(1, 1),
        _INTERLEAVE_NONE,
        _SWIZZLE[m.swizzle],
        _L2_PROMOTION_128B,
        _OOB_FILL_NONE,
    )
    if code != 0:
        from tritium.backends.cuda.runtime import check

        check(lib, code, f"cuTensorMapEncodeTiled({name})")
    value = _TensorMap.from_address(addr)
    entry = (buf, value)  # the buffer owns the memory the map lives in
    _cache[m] = entry
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return entry


def tensor_map_params(
    lib: Any, specs: Sequence[dict[str, Any]], args: Sequence[Any], names: Sequence[str]
) -> list[Any]:
    """The CUtensorMap values (ctypes objects) of a launch, one per ``metadata["tma"]`` entry;
    ``args`` are the launch's flat arguments and ``names`` their parameter names."""
    from tritium.backends.cuda.runtime import device_pointer

    out = []
    for spec in specs:
        if not spec.get("used", True):  # a parameter no copy reads: zeros
            out.append(_TensorMap())
            continue
        i, rank = int(spec["arg"]), int(spec["rank"])
        name = names[i] if i < len(names) else f"argument {i}"
        m = TiledMap(
            spec["dtype"],
            device_pointer(args[i]),
            tuple(int(v) for v in args[i + 1 : i + 1 + rank]),
            tuple(int(v) for v in args[i + 1 + rank : i + 1 + 2 * rank]),
            tuple(spec["box"]),
            int(spec["swizzle"]),
        )
        _, value = encode_tiled(lib, name, m)
        out.append(value)
    return out
