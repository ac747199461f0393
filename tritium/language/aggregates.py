"""Small value and type classes of the language: tuples, const, constexpr types.

``tl.tuple`` lets kernels pass and return groups of values (``(a, b)`` arguments of a
``@jit`` function); ``tl.const`` marks a pointer parameter read-only; ``tl.constexpr_type``
is the type of a compile-time value.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

__all__ = ["tuple", "tuple_type", "const", "constexpr_type"]


class tuple_type:  # noqa: N801 - Triton's public name
    """The type of a :class:`tuple`: the types of its elements (and optional field names)."""

    def __init__(self, types: Iterable[Any], fields: Iterable[str] | None = None) -> None:
        self.types = builtins.tuple(types)
        self.fields = builtins.tuple(fields) if fields is not None else ("",) * len(self.types)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, tuple_type)
            and self.types == other.types
            and self.fields == other.fields
        )

    def __hash__(self) -> int:
        return hash((self.types, self.fields))

    def __len__(self) -> int:
        return len(self.types)

    def __getitem__(self, index: int) -> Any:
        return self.types[index]

    def __repr__(self) -> str:
        return f"tuple_type({list(self.types)!r})"

    def is_block(self) -> bool:
        return False

    def is_ptr(self) -> bool:
        return False


class tuple(builtins.tuple):  # noqa: N801,A001 - Triton's public name
    """A tuple of kernel values (tensors, constexprs, nested tuples) with a :attr:`type`."""

    def __new__(cls, args: Iterable[Any] = (), type: tuple_type | None = None) -> tuple:  # noqa: A002
        self = super().__new__(cls, args)
        self._type = type
        return self

    @property
    def type(self) -> tuple_type:
        """The element types (a tensor's ``type``, else the Python type of the value)."""
        if self._type is None:
            self._type = tuple_type(getattr(v, "type", builtins.type(v)) for v in self)
        return self._type

    @property
    def values(self) -> builtins.tuple[Any, ...]:
        """The elements as a plain Python tuple."""
        return builtins.tuple(self)

    def __repr__(self) -> str:
        return f"tl.tuple({list(self)!r})"


class const:  # noqa: N801 - Triton's public name
    """Annotation marking a pointer parameter as read-only (``x_ptr: tl.const``)."""


class constexpr_type:  # noqa: N801 - Triton's public name
    """The type of a compile-time value ``value``."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, constexpr_type) and self.value == other.value

    def __hash__(self) -> int:
        try:
            return hash(("constexpr_type", self.value))
        except TypeError:  # an unhashable value: fall back to identity
            return id(self)

    def __repr__(self) -> str:
        return f"constexpr_type[{self.value!r}]"

    def is_block(self) -> bool:
        return False

    def is_ptr(self) -> bool:
        return False


def _aggregate(cls: builtins.type) -> builtins.type:
    """Triton's ``@triton.aggregate`` class decorator, accepted so that modules defining
    aggregates import; kernels that build aggregates are not supported yet."""
    cls.__triton_aggregate__ = True  # type: ignore[attr-defined]
    return cls
