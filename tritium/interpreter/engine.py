"""The interpreter engine: every ``tl.*`` builtin executed on NumPy tiles.

The methods live in mixins by concern (``engine_arith``, ``engine_shape``,
``engine_memory``, ``engine_atomic``, ``engine_reduce``); this module assembles them and
adds the debugging builtins, whose output follows program order.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .engine_arith import ArithMixin
from .engine_atomic import AtomicMixin
from .engine_reduce import ReduceMixin
from .engine_shape import ShapeMixin
from .itypes import BOOL
from .sanitizer import lane_text, loop_text
from .tile import Tile

__all__ = ["InterpreterEngine"]


def _format(t: Tile, vals: np.ndarray, hex: bool) -> str:  # noqa: A002
    """One program's values of ``t`` as ``tl.device_print`` shows them."""
    if hex and t.ty.is_int and t.ty is not BOOL:
        width = t.ty.itemsize * 2
        bits = np.ascontiguousarray(vals).view(np.dtype(f"uint{t.ty.itemsize * 8}"))
        return np.array2string(bits, formatter={"int": lambda x, w=width: f"0x{x:0{w}x}"})
    if not t.shape:
        return str(vals.reshape(-1)[0])
    return np.array2string(vals, threshold=sys.maxsize)


class InterpreterEngine(ArithMixin, ShapeMixin, AtomicMixin, ReduceMixin):
    """Runs kernels on NumPy: see :mod:`tritium.interpreter` for the execution model."""

    def device_print(self, prefix: str, args: tuple[Any, ...], hex: bool) -> None:  # noqa: A002
        # Once per program, in program order: a vectorized batch buffers its lines (see
        # flush_prints), which the launcher prints sorted by program when the batch succeeds.
        tiles = [self.to_tile(v) for v in args]
        for row, lin in enumerate(self.lin):
            head = f"pid {self.describe_pid(int(lin))}" + (f" {prefix}" if prefix else "")
            lines = (
                [head]
                if not tiles
                else [
                    f"{head} {_format(t, t.a[row if t.a.shape[0] > 1 else 0], hex)}" for t in tiles
                ]
            )
            if self.G == 1 and not self.regrouped:
                for line in lines:
                    print(line, file=sys.stdout)
            else:
                self.print_seq += 1
                self.prints.append((int(lin), self.print_seq, lines))

    def call_jit(self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run the ``@jit`` function ``fn`` called from the kernel (``JITFunction.__call__``)
        as the kernel itself runs: ``and``/``or``/``not`` on tiles rewritten, tile-aware
        ``min``/``max`` (see ``launcher._with_overlay``)."""
        from .launcher import overlaid

        return overlaid(fn)(*args, **kwargs)

    def flush_prints(self) -> None:
        """Print the lines buffered by a vectorized batch, program by program."""
        for _, _, lines in sorted(self.prints, key=lambda p: (p[0], p[1])):
            for line in lines:
                print(line, file=sys.stdout)
        self.prints.clear()

    def device_assert(self, cond: Any, msg: str, mask: Any) -> None:
        c = self.bool_array(cond)
        if mask is not None:
            m = self.bool_array(mask)
            rank = max(c.ndim, m.ndim) - 1
            from .engine_base import align

            c, m = np.broadcast_arrays(align(c, rank), align(m, rank))
            bad = ~c & m
        else:
            bad = ~c
        if bad.any():
            flat = int(np.flatnonzero(bad.reshape(-1))[0])
            lanes = max(1, bad[0].size)
            g, lane = divmod(flat, lanes)
            pid = self.describe_pid(int(self.lane_programs(bad.shape[0])[g]))
            # worded like the CPU backend's failed tt.assert, plus the lane
            raise AssertionError(
                f"device-side assertion failed in program {pid}{loop_text(self.loop_stack)}: "
                f"{self.location()}: {msg} "
                f"({lane_text(lane, bad.shape[1:])})"
            )

    def inline_asm_elementwise(
        self,
        asm: str,
        constraints: str,
        args: tuple[Tile, ...],
        dtype: Any,
        is_pure: bool,
        pack: int,
    ) -> Any:
        raise NotImplementedError("tl.inline_asm_elementwise cannot run in the interpreter")
