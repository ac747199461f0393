"""The interpreter engine: every ``tl.*`` builtin executed on NumPy tiles.

The methods live in mixins by concern (``engine_arith``, ``engine_shape``,
``engine_memory``, ``engine_atomic``, ``engine_reduce``); this module assembles them and
adds the debugging builtins, which need program order.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .dtypes import BOOL
from .engine_arith import ArithMixin
from .engine_atomic import AtomicMixin
from .engine_reduce import ReduceMixin
from .engine_shape import ShapeMixin
from .sanitizer import lane_text
from .tile import Tile

__all__ = ["InterpreterEngine"]


class InterpreterEngine(ArithMixin, ShapeMixin, AtomicMixin, ReduceMixin):
    """Runs kernels on NumPy: see :mod:`tritium.interpreter` for the execution model."""

    def device_print(self, prefix: str, args: tuple[Any, ...], hex: bool) -> None:  # noqa: A002
        # Output must come once per program in program order: not in a vectorized batch.
        self.no_vector("tl.device_print")
        pid = self.describe_pid(int(self.lin[0]))
        head = f"pid {pid}" + (f" {prefix}" if prefix else "")
        if not args:
            print(head, file=sys.stdout)
            return
        for v in args:
            t = self.to_tile(v)
            vals = t.value()
            if hex and t.ty.is_int and t.ty is not BOOL:
                width = t.ty.itemsize * 2
                uint = np.dtype(f"uint{t.ty.itemsize * 8}")
                bits = np.ascontiguousarray(vals).view(uint)
                text = np.array2string(bits, formatter={"int": lambda x, w=width: f"0x{x:0{w}x}"})
            elif not t.shape:
                text = str(vals.reshape(-1)[0])
            else:
                text = np.array2string(vals, threshold=sys.maxsize)
            print(f"{head} {text}", file=sys.stdout)

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
                f"device-side assertion failed in program {pid}: "
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
