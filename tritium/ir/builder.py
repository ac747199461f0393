"""Creating IR: a builder with an insertion point and a current source location."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tritium.ir.core import UNKNOWN_LOC, Block, Location, Operation, Value
from tritium.ir.ops import OPS
from tritium.ir.types import Type

__all__ = ["Builder"]


class Builder:
    """Appends operations at an insertion point, stamping each with ``self.loc``.

    >>> b = Builder(block)
    >>> x = b.create("arith.constant", [], [i32], {"value": 3}).result
    """

    def __init__(self, block: Block | None = None, index: int | None = None) -> None:
        self.block = block
        self.index = index  # None: append at the end of the block
        self.loc: Location = UNKNOWN_LOC

    def set_insertion_point_to_end(self, block: Block) -> None:
        self.block, self.index = block, None

    def set_insertion_point_before(self, op: Operation) -> None:
        assert op.parent is not None
        self.block, self.index = op.parent, op.parent.ops.index(op)

    def insert(self, op: Operation) -> Operation:
        if self.block is None:
            raise ValueError("builder has no insertion point")
        if self.index is None:
            self.block.append(op)
        else:
            self.block.insert(self.index, op)
            self.index += 1
        return op

    def create(
        self,
        name: str,
        operands: list[Value] | tuple[Value, ...] = (),
        result_types: list[Type] | tuple[Type, ...] = (),
        attrs: dict[str, Any] | None = None,
        regions: int = 0,
        loc: Location | None = None,
    ) -> Operation:
        """Create op ``name`` at the insertion point and return it."""
        if name not in OPS:
            raise KeyError(f"unknown op {name!r}")
        op = Operation(name, operands, result_types, attrs, regions, loc or self.loc)
        return self.insert(op)

    @contextmanager
    def at_end_of(self, block: Block) -> Iterator[Builder]:
        """Temporarily build at the end of ``block`` (e.g. inside a region)."""
        saved = (self.block, self.index)
        self.block, self.index = block, None
        try:
            yield self
        finally:
            self.block, self.index = saved

    @contextmanager
    def location(self, loc: Location) -> Iterator[None]:
        saved = self.loc
        self.loc = loc
        try:
            yield
        finally:
            self.loc = saved
