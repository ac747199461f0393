"""The frontend's engine: ``tl.*`` builtins called while compiling land here and emit IR."""

from __future__ import annotations

from typing import Any

from tritium import ir
from tritium.frontend.block_pointer import BlockPointerMixin
from tritium.frontend.engine_extra import ExtraMixin
from tritium.frontend.engine_math import MathMixin
from tritium.frontend.tile import Tile
from tritium.language import dtypes as ldt
from tritium.language.engine_protocol import Engine

__all__ = ["IREngine"]


class IREngine(ExtraMixin, BlockPointerMixin, MathMixin, Engine):
    """Implements :class:`tritium.language.engine_protocol.Engine` by emitting Tile IR.

    The mixins hold the op families (arithmetic, shapes, memory, block pointers, reductions,
    composite builtins); this class adds the program model and debugging builtins.
    """

    def __init__(self, builder: ir.Builder) -> None:
        super().__init__(builder)

    def _axis(self, axis: Any, fn: str) -> int:
        if axis not in (0, 1, 2) or isinstance(axis, bool):
            raise ValueError(f"{fn}: axis must be 0, 1 or 2, got {axis!r}")
        return int(axis)

    def program_id(self, axis: int) -> Tile:
        """``tt.get_program_id``."""
        out = self.emit(
            "tt.get_program_id", [], ldt.int32, {"axis": self._axis(axis, "program_id")}
        )
        assert out is not None
        return out

    def num_programs(self, axis: int) -> Tile:
        """``tt.get_num_programs``."""
        out = self.emit(
            "tt.get_num_programs", [], ldt.int32, {"axis": self._axis(axis, "num_programs")}
        )
        assert out is not None
        return out

    def device_print(self, prefix: str, args: tuple[Any, ...] = (), hex: bool = False) -> None:  # noqa: A002
        """``tt.print`` of ``args`` after ``prefix``."""
        if not isinstance(prefix, str):
            raise TypeError(f"device_print: prefix must be a str, got {prefix!r}")
        tiles = [self.to_tile(a) for a in args]
        signed = [t.dtype.is_int_signed() for t in tiles]
        # Triton's shaping of the prefix (the printed line is `... idx (3) x: 7`): a prefix
        # followed by values ends in ": ", and a longer one starts with a space.
        if tiles and not prefix.endswith(" "):
            prefix += " "
        if tiles and not prefix.endswith(": "):
            prefix = prefix[:-1] + ": "
        if len(prefix) > 2 and not prefix.startswith(" "):
            prefix = " " + prefix
        self.emit(
            "tt.print", tiles, None, {"prefix": prefix, "hex": bool(hex), "is_signed": signed}
        )

    def device_assert(self, cond: Any, msg: str = "", mask: Any = None) -> None:
        """``tt.assert`` of ``cond`` (where ``mask``)."""
        c = self.to_bool(cond)
        if mask is not None:
            c = self.logical_or(c, self.logical_not(mask))
        self.emit("tt.assert", [c], None, {"message": str(msg)})

    def debug_barrier(self) -> None:
        """``gpu.barrier``: a GPU program's threads meet there; on a CPU it orders loads."""
        self.emit("gpu.barrier", [], None, {})
