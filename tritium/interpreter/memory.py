"""The interpreter's memory model: the user's arrays as buffers addressed by bytes.

A pointer argument becomes a ``Buffer``: the span of memory its array covers (from the
lowest to the highest byte any element occupies, so strided and negatively strided views
work) viewed as bytes through its real address, so that writes land in the user's memory
and two arguments aliasing one array see each other's writes.  Pointer values are absolute
byte addresses (int64) plus the buffer they derive from (their provenance), which is what
bounds checks and error messages name.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .itypes import U8, IType, from_numpy_dtype, from_torch_dtype

__all__ = ["Buffer", "Memory", "array_info", "foreign_groups"]


@dataclass
class Buffer:
    """Memory of one pointer argument.

    ``base`` is the address the kernel receives (the array's first element); valid bytes
    are ``[lo, hi)`` as absolute addresses.
    """

    bid: int
    name: str
    elem: IType
    base: int
    lo: int
    hi: int
    shape: tuple[int, ...]
    bytes_: np.ndarray  # uint8 view of [lo, hi)
    readonly: bool = False
    _views: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)

    def view(self, t: IType, addr_mod: int) -> np.ndarray:
        """The buffer as a flat array of ``t`` starting at the first byte >= lo that is
        congruent to ``addr_mod`` modulo the item size (cached)."""
        key = (t.name, addr_mod)
        v = self._views.get(key)
        if v is None:
            dt = t.mem_np
            size = dt.itemsize
            start = (addr_mod - self.lo) % size
            n = max(0, (self.hi - self.lo - start) // size)
            v = self.bytes_[start : start + n * size].view(dt) if n else np.empty(0, dt)
            self._views[key] = v
        return v

    def describe_offset(self, addr: int, itemsize: int) -> str:
        """An address as an element offset from the argument's pointer."""
        off = addr - self.base
        if off % itemsize == 0:
            return f"element offset {off // itemsize}"
        return f"byte offset {off}"

    def valid_range(self, itemsize: int) -> str:
        lo, hi = self.lo - self.base, self.hi - self.base
        if lo % itemsize == 0 and hi % itemsize == 0:
            return f"[{lo // itemsize}, {hi // itemsize}) elements"
        return f"[{lo}, {hi}) bytes"


def array_info(obj: Any) -> tuple[int, IType, tuple[int, ...], tuple[int, ...], bool] | None:
    """``(address, elem type, shape, byte strides, readonly)`` of an array-like argument,
    or ``None`` when ``obj`` is not an array.

    Understands NumPy arrays, torch CPU tensors (bf16 and fp8 too), objects with
    ``__array_interface__`` and DLPack producers.
    """
    wrapped = getattr(obj, "base", None)
    if wrapped is not None and not isinstance(obj, np.ndarray) and hasattr(obj, "data_ptr"):
        # a TensorWrapper (triton.reinterpret): the base's memory, read as another dtype
        from .itypes import from_lang

        inner = array_info(wrapped)
        if inner is not None:
            elem = from_lang(obj.dtype)
            if elem.itemsize != inner[1].itemsize:
                raise TypeError(
                    f"cannot reinterpret {inner[1].name} elements as {elem.name}: the sizes differ"
                )
            return (inner[0], elem) + inner[2:]
    if isinstance(obj, np.ndarray):
        return (
            obj.__array_interface__["data"][0],
            from_numpy_dtype(obj.dtype),
            obj.shape,
            obj.strides,
            not obj.flags.writeable,
        )
    mod = type(obj).__module__ or ""
    if mod.startswith("torch") and hasattr(obj, "data_ptr"):
        if getattr(obj, "device", None) is not None and obj.device.type != "cpu":
            raise ValueError(f"the interpreter needs CPU tensors; got one on {obj.device}")
        et = from_torch_dtype(obj.dtype)
        isz = obj.element_size()
        readonly = False
        if obj.numel() and not obj.untyped_storage().resizable():
            # memory torch did not allocate (from_numpy, frombuffer): a PROT_READ map would
            # make a store fault; torch has no read-only flag, so ask the OS
            from tritium.signature import unwritable_storage

            readonly = unwritable_storage(obj.untyped_storage())
        strides = tuple(s * isz for s in obj.stride())
        return (obj.data_ptr(), et, tuple(obj.shape), strides, readonly)
    if hasattr(obj, "__array_interface__"):
        arr = np.asarray(obj)
        return array_info(arr)
    if hasattr(obj, "__dlpack__"):
        from tritium.dlpack import numpy_view  # bf16/fp8 too; read-only kept

        return array_info(numpy_view(obj))
    if hasattr(obj, "data_ptr") and hasattr(obj, "dtype"):  # torch-like duck type
        et = from_torch_dtype(obj.dtype)
        isz = obj.element_size()
        return (obj.data_ptr(), et, tuple(obj.shape), tuple(s * isz for s in obj.stride()), False)
    return None


class Memory:
    """All buffers of one launch, looked up by id or by address."""

    def __init__(self) -> None:
        self.buffers: list[Buffer] = []
        #: Memory reached through pointers read from memory (not any argument's): one buffer
        #: per mapped region of the process, made on first use.
        self.foreign: dict[int, Buffer] = {}
        self._regions: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def add(self, name: str, obj: Any) -> Buffer | None:
        """Register the array ``obj`` passed as parameter ``name``; ``None`` if not an array."""
        info = array_info(obj)
        if info is None:
            return None
        addr, elem, shape, strides, ro = info
        isz = elem.itemsize
        lo = hi = 0
        if all(n > 0 for n in shape):
            for n, s in zip(shape, strides):
                lo += min(0, (n - 1) * s)
                hi += max(0, (n - 1) * s)
            hi += isz
        nbytes = hi - lo
        if nbytes > 0:
            raw = (ctypes.c_uint8 * nbytes).from_address(addr + lo)
            bytes_ = np.ctypeslib.as_array(raw)
        else:
            bytes_ = np.empty(0, np.uint8)
        buf = Buffer(
            len(self.buffers), name, elem, addr, addr + lo, addr + hi, tuple(shape), bytes_, ro
        )
        self.buffers.append(buf)
        return buf

    def find(self, addr: int) -> Buffer | None:
        """The buffer holding byte ``addr`` (the first registered one if several alias)."""
        for b in self.buffers:
            if b.lo <= addr < b.hi:
                return b
        return None


def _mapped_regions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, writable) of this process's readable mappings, sorted, adjacent ones
    with the same permissions merged (Linux: /proc/self/maps; elsewhere none)."""
    spans: list[tuple[int, int, bool]] = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                addrs, perms = line.split()[:2]
                if perms[0] != "r":
                    continue
                lo, hi = (int(x, 16) for x in addrs.split("-"))
                w = perms[1] == "w"
                if spans and spans[-1][1] == lo and spans[-1][2] == w:
                    spans[-1] = (spans[-1][0], hi, w)
                else:
                    spans.append((lo, hi, w))
    except OSError:
        pass
    spans.sort()
    return (
        np.array([s[0] for s in spans], np.uint64),
        np.array([s[1] for s in spans], np.uint64),
        np.array([s[2] for s in spans], bool),
    )


def foreign_groups(
    memory: Memory, addr: np.ndarray, lanes: np.ndarray
) -> list[tuple[Buffer | None, np.ndarray]]:
    """The ``lanes`` of ``addr`` (addresses outside every argument) grouped by the mapped
    region of the process they fall in, each region as a buffer; lanes in no mapped region come
    last with ``None`` (an error for the caller: reading them would crash the process)."""
    if memory._regions is None:
        memory._regions = _mapped_regions()
    starts, ends, writable = memory._regions
    a = addr.astype(np.int64).view(np.uint64)
    idx = np.searchsorted(starts, a, side="right").astype(np.int64) - 1
    safe = np.clip(idx, 0, max(len(starts) - 1, 0))
    inside = lanes & (idx >= 0) & (a < ends[safe]) if len(starts) else np.zeros_like(lanes)
    out: list[tuple[Buffer | None, np.ndarray]] = []
    for r in np.unique(idx[inside]):
        r = int(r)
        buf = memory.foreign.get(r)
        if buf is None:
            lo, hi = int(starts[r]), int(ends[r])
            raw = np.ctypeslib.as_array((ctypes.c_uint8 * (hi - lo)).from_address(lo))
            bid = len(memory.buffers) + len(memory.foreign)
            buf = Buffer(bid, f"<memory {lo:#x}>", U8, lo, lo, hi, (hi - lo,), raw)
            buf.readonly = not bool(writable[r])
            memory.foreign[r] = buf
        out.append((buf, inside & (idx == r)))
    rest = lanes & ~inside
    if rest.any():
        out.append((None, rest))
    return out
