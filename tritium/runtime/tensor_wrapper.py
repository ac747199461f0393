"""``triton.reinterpret``: view a tensor's memory as another element type.

Triton's tests pass unsigned and fp8 data as ``reinterpret(torch_tensor, tl.uint32)``: the
memory of the base tensor, typed by a ``tl.dtype``. A launch reads the pointer from ``base``
and the element type from ``dtype`` (see :mod:`tritium.signature`).
"""

from __future__ import annotations

from typing import Any

from tritium.signature import register_argument_class, signature_type

__all__ = ["TensorWrapper", "reinterpret", "signature_type"]


class TensorWrapper:
    """A tensor (torch or NumPy) whose elements are read as ``dtype`` (a ``tl.dtype``)."""

    def __init__(self, base: Any, dtype: Any) -> None:
        self.base = base
        self.dtype = dtype
        self.shape = base.shape
        self.device = getattr(base, "device", "cpu")

    def data_ptr(self) -> int:
        """Address of the first element of the base tensor."""
        if hasattr(self.base, "data_ptr"):
            return int(self.base.data_ptr())
        return int(self.base.__array_interface__["data"][0])

    def stride(self, *args: int) -> Any:
        """The base tensor's strides (in its own elements)."""
        return self.base.stride(*args)

    def element_size(self) -> int:
        """Bytes per element of the base tensor."""
        return self.base.element_size()

    def numel(self) -> int:
        """Number of elements of the base tensor."""
        return self.base.numel() if callable(getattr(self.base, "numel", None)) else self.base.size

    def cpu(self) -> TensorWrapper:
        """The same view of a CPU copy of the base."""
        return TensorWrapper(self.base.cpu(), self.dtype)

    def clone(self) -> TensorWrapper:
        """The same view of a copy of the base."""
        return TensorWrapper(self.base.clone(), self.dtype)

    def copy_(self, other: TensorWrapper) -> None:
        """Copy another wrapper's base into this one's."""
        self.base.copy_(other.base)

    def to(self, device: Any) -> TensorWrapper:
        """The same view of the base moved to ``device``."""
        return TensorWrapper(self.base.to(device), self.dtype)

    def new_empty(self, sizes: Any) -> TensorWrapper:
        """A new uninitialized base of ``sizes``, viewed the same way."""
        return TensorWrapper(self.base.new_empty(sizes), self.dtype)

    def __str__(self) -> str:
        return f"TensorWrapper[{self.dtype}]({self.base})"


def reinterpret(tensor: Any, dtype: Any) -> Any:
    """``tensor``'s memory typed as ``dtype``; reinterpreting back to the base's type unwraps."""
    if isinstance(tensor, TensorWrapper):
        if dtype == tensor.base.dtype:
            return tensor.base
        return TensorWrapper(tensor.base, dtype)
    if hasattr(tensor, "data_ptr") or hasattr(tensor, "__array_interface__"):
        return TensorWrapper(tensor, dtype)
    raise TypeError(f"cannot reinterpret a {type(tensor).__name__}")


register_argument_class(TensorWrapper, "wrapper")
