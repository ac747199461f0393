"""The frontend's tile value: an IR value plus its language type."""

from __future__ import annotations

from tritium import ir
from tritium.language import core as lcore
from tritium.language import dtypes as ldt

__all__ = ["Tile", "is_tile"]


class Tile(lcore.tensor):
    """A value of the kernel being compiled.

    ``handle`` is the :class:`tritium.ir.Value` that holds it and ``type`` its language type
    (a scalar or pointer dtype, or a ``block_type``). Signedness lives only here: the IR's
    integers are signless.
    """

    handle: ir.Value

    def __init__(self, handle: ir.Value, type: ldt.dtype) -> None:  # noqa: A002 - Triton's name
        super().__init__(handle, type)

    @property
    def ir_type(self) -> ir.Type:
        """The IR type of the value."""
        return self.handle.type

    @property
    def is_scalar(self) -> bool:
        """True for a scalar (or pointer) value, False for a tile."""
        return not self.type.is_block()


def is_tile(x: object) -> bool:
    """Whether ``x`` is a run-time value of the kernel being compiled (not a constant)."""
    return isinstance(x, Tile)
