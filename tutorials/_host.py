"""Host-side helpers shared by the tutorials: allocate like the input (NumPy or torch).

Triton's tutorials allocate with ``torch.empty_like``; these wrappers accept NumPy arrays too,
so allocation goes through :func:`empty`, which matches the input's library. Tests set
``POISON = True`` so every buffer a kernel should overwrite starts out full of NaNs (or -7 for
integers), and an element the kernel forgot shows up in the comparison.
"""

from __future__ import annotations

from typing import Any

import numpy as np

POISON = False


def is_torch(x: Any) -> bool:
    """True for a torch tensor."""
    return type(x).__module__.startswith("torch")


def empty(shape: tuple[int, ...], dtype: Any, like: Any) -> Any:
    """An uninitialized (or poisoned) array of ``shape``/``dtype`` from ``like``'s library.

    ``dtype`` is a NumPy dtype; it is mapped to torch's for torch inputs.
    """
    if is_torch(like):
        import torch

        tdtype = torch.from_numpy(np.zeros(0, dtype)).dtype
        out = torch.empty(shape, dtype=tdtype)
        if POISON:
            out.fill_(float("nan") if tdtype.is_floating_point else -7)
        return out
    out = np.empty(shape, dtype)
    if POISON:
        out.fill(np.nan if out.dtype.kind == "f" else -7)
    return out


def zeros(shape: tuple[int, ...], dtype: Any, like: Any) -> Any:
    """A zero-filled array from ``like``'s library."""
    out = empty(shape, dtype, like)
    out[...] = 0
    return out


def np_dtype(x: Any) -> np.dtype:
    """The NumPy dtype of an array or tensor."""
    if is_torch(x):
        import torch

        return torch.empty(0, dtype=x.dtype).numpy().dtype
    return x.dtype


def stride(x: Any, dim: int) -> int:
    """The stride of ``x`` along ``dim`` in elements (torch's ``x.stride(dim)``)."""
    if is_torch(x):
        return x.stride(dim)
    return x.strides[dim] // x.itemsize


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy view of an array or a CPU tensor."""
    return x.numpy() if is_torch(x) else np.asarray(x)
