"""Small host-side helpers exported at the top level: ``cdiv``, ``next_power_of_2``,
``set_allocator``."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

__all__ = ["NullAllocator", "cdiv", "get_allocator", "next_power_of_2", "set_allocator"]

_allocator: Callable[[int, int, Any], Any] | None = None


def cdiv(x: int, y: int) -> int:
    """``ceil(x / y)`` for integers: the number of blocks of size ``y`` covering ``x``."""
    return (x + y - 1) // y


def next_power_of_2(n: int) -> int:
    """The smallest power of two >= ``n`` (1 for ``n <= 1``)."""
    n = operator.index(n)
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def set_allocator(allocator: Callable[[int, int, Any], Any] | None) -> None:
    """Register ``allocator(size, alignment, stream)`` for kernels that need global scratch
    memory, as ``triton.set_allocator``. tritium's CPU kernels need none (device-side tensor
    descriptors are lowered to plain pointers), so it is only kept for code that asks."""
    if allocator is not None and not callable(allocator):
        raise TypeError(f"allocator must be callable, got {type(allocator).__name__}")
    global _allocator
    _allocator = allocator


def get_allocator() -> Callable[[int, int, Any], Any] | None:
    """The allocator registered with :func:`set_allocator`, or None."""
    return _allocator


class NullAllocator:
    """The allocator in effect when none is set: asking it for memory is an error."""

    def __call__(self, size: int, alignment: int, stream: Any) -> Any:
        raise RuntimeError(
            "Kernel requires a runtime memory allocation, but no allocator was set. "
            "Use triton.set_allocator to specify an allocator."
        )
