"""``triton.tools.tensor_descriptor.TensorDescriptor``: a host-side description of a tensor
(its base, shape, strides and the block shape a kernel loads), passed to kernels that use
``tl.make_tensor_descriptor``-style loads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tritium.signature import register_argument_class

__all__ = ["TensorDescriptor"]


@dataclass
class TensorDescriptor:
    """A tensor with the block shape a kernel moves at a time.

    The last dimension must be contiguous (stride 1), as Triton requires.
    """

    base: Any
    shape: list[int]
    strides: list[int]
    block_shape: list[int]
    padding: str = "zero"

    def __post_init__(self) -> None:
        rank = len(self.shape)
        if len(self.strides) != rank or len(self.block_shape) != rank:
            raise ValueError(
                "TensorDescriptor: shape, strides and block_shape must have the "
                f"same rank, got {self.shape}, {self.strides}, {self.block_shape}"
            )
        if rank and self.strides[-1] != 1:
            raise ValueError(
                f"TensorDescriptor: the last dimension must be contiguous, "
                f"got strides {self.strides}"
            )
        if self.padding not in ("zero", "nan"):
            raise ValueError(
                f"TensorDescriptor: padding must be 'zero' or 'nan', got {self.padding!r}"
            )

    @staticmethod
    def from_tensor(tensor: Any, block_shape: list[int], padding: str = "zero") -> TensorDescriptor:
        """The descriptor of a whole torch tensor or NumPy array."""
        if hasattr(tensor, "stride") and callable(tensor.stride):
            strides = list(tensor.stride())
        else:
            strides = [s // tensor.itemsize for s in tensor.strides]
        return TensorDescriptor(tensor, list(tensor.shape), strides, list(block_shape), padding)


register_argument_class(TensorDescriptor, "descriptor")
