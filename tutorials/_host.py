"""Host-side helpers shared by the tutorials: allocate like the input (NumPy or torch).

Triton's tutorials allocate with ``torch.empty_like``; these wrappers accept NumPy arrays too,
so allocation goes through :func:`empty`, which matches the input's library. Tests set
``POISON = True`` so every buffer a kernel should overwrite starts out full of NaNs (or -7 for
integers), and an element the kernel forgot shows up in the comparison.

A large NumPy output (16 MiB or more) comes from ``tritium.runtime.host_cache``: a block
starting on a 2 MiB boundary, reused from a process-wide cache once the arrays of an earlier
output that had it died. glibc would map a block that big afresh on every allocation, and the
OS map and zero its pages at first touch, which a kernel's stores pay for: ~5.5 ms of a fresh
64 MiB output at one thread on a 2-core EPYC (Zen 4), which a reused block does not pay. The
2 MiB boundary keeps NumPy's huge-page advice over all of it (a block from ``malloc`` starts
16 bytes past a 4 KiB page: ~540 faults for 64 MiB instead of 33).
A large CPU tensor is made the same way, over such a NumPy block (``torch.from_numpy``, which
keeps the block's array alive): torch's own allocator maps it all in 4 KiB pages (it asks for
huge pages only with ``THP_MEM_ALLOC_ENABLE=1``): first write of a fresh 64 MiB tensor
28-34 ms (``torch.empty``) against 6.5-8.0 over a fresh aligned NumPy block.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tritium.runtime import host_cache

POISON = False

# torch dtype name -> NumPy dtype, for the dtypes without a torch.Tensor.numpy() counterpart too
# (the ml_dtypes ones by name: importing ml_dtypes costs most of a new process's first launch).
_TORCH_TO_NUMPY: dict[str, Any] = {
    "bool": np.bool_,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "uint32": np.uint32,
    "uint64": np.uint64,
    "float16": np.float16,
    "float32": np.float32,
    "float64": np.float64,
}
_ML_DTYPES = ("bfloat16", "float8_e4m3fn", "float8_e5m2")


def is_torch(x: Any) -> bool:
    """True for a torch tensor."""
    return type(x).__module__.startswith("torch")


def _torch_dtype(dtype: Any) -> Any:
    """The torch dtype for a NumPy/ml_dtypes dtype (or a torch dtype, returned as is)."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    return getattr(torch, np.dtype(dtype).name)


def empty(shape: tuple[int, ...], dtype: Any, like: Any) -> Any:
    """An uninitialized (or poisoned) array of ``shape``/``dtype`` from ``like``'s library.

    ``dtype`` may be a NumPy (or ml_dtypes) dtype or a torch dtype.
    """
    if is_torch(like):
        out = _torch_empty(shape, _torch_dtype(dtype), like.device)
        if POISON:
            out.fill_(float("nan") if out.dtype.is_floating_point else -7)
        return out
    out = _numpy_empty(shape, np_dtype_of(dtype))
    if POISON:
        out.fill(np.nan if out.dtype.kind in "fV" else -7)
    return out


def _numpy_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``np.empty``, from 16 MiB on a cached block on a 2 MiB boundary (see the module
    docstring)."""
    return host_cache.empty(shape, dtype)


def _torch_empty(shape: tuple[int, ...], dtype: Any, device: Any) -> Any:
    """``torch.empty``; on the CPU from 16 MiB on, a tensor over a NumPy block from
    :func:`_numpy_empty` (torch's allocator maps a big block in 4 KiB pages and does not ask
    for huge ones: 16385 faults for 64 MiB)."""
    import torch

    nbytes = math.prod(shape) * dtype.itemsize
    if torch.device(device).type != "cpu" or nbytes < host_cache.CACHED_FROM:
        return torch.empty(shape, dtype=dtype, device=device)
    raw = _numpy_empty((nbytes,), np.dtype(np.uint8))
    return torch.from_numpy(raw).view(dtype).reshape(shape)


def empty_as(x: Any, shape: tuple[int, ...]) -> Any:
    """:func:`empty` with ``x``'s dtype and library."""
    return empty(shape, x.dtype, like=x)


def zeros(shape: tuple[int, ...], dtype: Any, like: Any) -> Any:
    """A zero-filled array from ``like``'s library."""
    out = empty(shape, dtype, like)
    out[...] = 0
    return out


def np_dtype_of(dtype: Any) -> np.dtype:
    """The NumPy dtype for a NumPy, ml_dtypes or torch dtype."""
    if type(dtype).__module__.startswith("torch"):
        name = str(dtype).split(".")[-1]
        if name in _ML_DTYPES:
            import ml_dtypes

            return np.dtype(getattr(ml_dtypes, name))
        return np.dtype(_TORCH_TO_NUMPY[name])
    return np.dtype(dtype)


def np_dtype(x: Any) -> np.dtype:
    """The NumPy dtype of an array or tensor (bfloat16 tensors give ml_dtypes.bfloat16)."""
    return np_dtype_of(x.dtype)


def stride(x: Any, dim: int) -> int:
    """The stride of ``x`` along ``dim`` in elements (torch's ``x.stride(dim)``)."""
    if is_torch(x):
        return x.stride(dim)
    return x.strides[dim] // x.itemsize


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy view of an array or a CPU tensor (a float32 copy of a bfloat16 tensor)."""
    if is_torch(x):
        import torch

        return x.float().numpy() if x.dtype == torch.bfloat16 else x.numpy()
    return np.asarray(x)
