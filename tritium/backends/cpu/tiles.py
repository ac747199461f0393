"""How a tile value exists during lowering, and the loops that walk a tile in vector chunks.

A value of the kernel is, at any point of code generation, one of:

* :class:`Scalar` — a rank-0 value: one LLVM SSA value;
* :class:`Lazy` — a fused tile: nothing is emitted where it is defined; each consumer asks
  for it one chunk at a time and gets the whole expression tree recomputed for that chunk;
* :class:`Pending` — a tile computed into a buffer by the loop of its first consumer (a
  reduction), which stores each chunk it evaluates; a :class:`Buffer` after that op;
* :class:`Buffer` — a materialized tile in a stack buffer, with strides (so ``trans`` and
  ``split`` are views, not copies);
* :class:`Offset` — a loop-carried tile advanced by a uniform step: base tile + scalar.

A *chunk* is given by an :class:`Index`: one i32 index per dimension, the last one being the
first of ``width`` consecutive lanes along the last dimension.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import llvmlite.ir as ll

from tritium.ir import Operation, Value
from tritium.ir import types as irt

__all__ = ["Scalar", "Lazy", "Pending", "Buffer", "Offset", "Ref", "Index", "contiguous_strides"]


@dataclass
class Scalar:
    """A rank-0 value held in one LLVM SSA value (pointers as i64 addresses)."""

    value: ll.Value


@dataclass
class Lazy:
    """A fused tile, computed on demand by the lazy rule of ``op``."""

    op: Operation


@dataclass
class Pending(Lazy):
    """A fused tile whose chunks are also stored into ``buf`` as its first consumer (``by``)
    evaluates them; after ``by`` the value is ``buf``."""

    buf: Buffer | None = None
    by: Operation | None = None


@dataclass
class Buffer:
    """A materialized tile: element ``(i0, i1, ...)`` lives at
    ``ptr[offset + sum(i_d * strides[d])]`` in memory type of ``elem``."""

    ptr: ll.Value
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    elem: irt.Type
    offset: int = 0

    @property
    def is_contiguous(self) -> bool:
        """Row-major with no offset: the buffer can be handed out or reshaped as is."""
        return self.offset == 0 and self.strides == contiguous_strides(self.shape)


@dataclass
class Offset:
    """A loop-carried tile that a loop advances uniformly (``ptrs += BLOCK``): the loop's
    initial tile ``base`` plus a scalar ``delta`` (bytes for pointers, units for integers),
    so the loop carries one scalar instead of copying a tile every iteration."""

    base: Value
    delta: ll.Value


Ref = Scalar | Lazy | Pending | Buffer | Offset


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major strides of ``shape``."""
    strides, acc = [], 1
    for s in reversed(shape):
        strides.append(acc)
        acc *= s
    return tuple(reversed(strides))


@dataclass
class Index:
    """One chunk of a tile: ``dims[d]`` (i32) per dimension; lanes ``dims[-1] + 0..width-1``.

    ``cache`` memoizes values already computed for this chunk so that a value used twice in
    one expression (an offset used by both a pointer and a mask) is emitted once.
    """

    dims: tuple[ll.Value, ...]
    width: int
    cache: dict[int, ll.Value] = field(default_factory=dict)
