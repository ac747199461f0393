"""Host-side integer helpers exported as ``triton.cdiv`` and ``triton.next_power_of_2``."""

from __future__ import annotations

import operator

__all__ = ["cdiv", "next_power_of_2"]


def cdiv(x: int, y: int) -> int:
    """``ceil(x / y)`` for integers: the number of blocks of size ``y`` covering ``x``."""
    return (x + y - 1) // y


def next_power_of_2(n: int) -> int:
    """The smallest power of two >= ``n`` (1 for ``n <= 1``)."""
    n = operator.index(n)
    return 1 if n <= 1 else 1 << (n - 1).bit_length()
