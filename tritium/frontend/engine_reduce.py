"""Reductions, scans and ``tl.dot`` of the engine.

``tt.reduce``/``tt.scan`` carry their combine function as a region: its block takes the
scalars ``(lhs..., rhs...)`` and ends in ``tt.reduce.return``/``tt.scan.return``. The combine
function is traced into that block: a ``@jit`` function through the code generator (the
``inline_jit`` hook), a Python callable by calling it under this engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tritium import ir
from tritium.frontend.engine_arith import ArithMixin
from tritium.frontend.engine_shape import ShapeMixin
from tritium.frontend.tile import Tile
from tritium.frontend.type_conversion import lang_type, scalar_ir, to_ir_type
from tritium.language import dtypes as ldt
from tritium.language import type_rules as st

__all__ = ["ReduceMixin"]


class ReduceMixin(ArithMixin, ShapeMixin):
    """Reductions, scans and matrix products."""

    #: Traces a ``@jit`` function into the current insertion point:
    #: ``(fn, args, elementwise=False) -> result``. Set by the code generator.
    inline_jit: Callable[..., Any] | None = None

    # ---- combine regions ----------------------------------------------------------------

    def _call_combine(self, combine_fn: Any, args: list[Tile]) -> list[Tile]:
        if getattr(combine_fn, "is_jit_function", False):
            if self.inline_jit is None:
                raise RuntimeError("no code generator to trace the combine function")
            # straight-line (select) code: backends vectorize combine regions
            out = self.inline_jit(combine_fn, args, elementwise=True)
        elif callable(combine_fn):
            out = combine_fn(*args)
        else:
            raise TypeError(f"combine_fn must be a function, got {combine_fn!r}")
        return list(out) if isinstance(out, (tuple, list)) else [out]

    def _combine_region(
        self, op: ir.Operation, tiles: list[Tile], combine_fn: Any, terminator: str
    ) -> None:
        elts = [t.dtype for t in tiles]
        block = ir.Block([scalar_ir(d) for d in elts] * 2)
        op.regions[0].add_block(block)
        with self.builder.at_end_of(block):
            args = [Tile(a, d) for a, d in zip(block.args, elts * 2)]
            outs = self._call_combine(combine_fn, args)
            if len(outs) != len(tiles):
                raise ValueError(
                    f"the combine function returned {len(outs)} values for {len(tiles)} inputs"
                )
            vals = []
            for o, d in zip(outs, elts):
                o = self.to_tile(o, d)
                if not o.is_scalar:
                    raise ValueError("the combine function must return scalars")
                if o.dtype != d:
                    raise TypeError(
                        f"the combine function returned {o.dtype} for an input of type {d}"
                    )
                vals.append(o.handle)
            self.builder.create(terminator, vals)

    def _prepare(self, inputs: Any, axis: int | None, fn: str) -> tuple[list[Tile], int]:
        tiles = [
            self.to_tile(x) for x in (inputs if isinstance(inputs, (tuple, list)) else (inputs,))
        ]
        if not tiles:
            raise ValueError(f"{fn}: no inputs")
        shape = tiles[0].shape
        if any(t.shape != shape for t in tiles):
            raise ValueError(
                f"{fn}: all inputs must have one shape, got {[list(t.shape) for t in tiles]}"
            )
        if not shape:
            raise ValueError(f"{fn}: cannot reduce a scalar")
        if axis is None:
            if len(shape) > 1:
                n = tiles[0].numel
                tiles = [self.reshape(t, (n,)) for t in tiles]
            return tiles, 0
        if not isinstance(axis, int):
            raise TypeError(f"{fn}: axis must be a compile-time int, got {axis!r}")
        if not -len(shape) <= axis < len(shape):
            raise ValueError(f"{fn}: axis {axis} is out of range for a tile of rank {len(shape)}")
        return tiles, axis % len(shape)

    # ---- reduce -------------------------------------------------------------------------

    def reduce(
        self, inputs: Any, axis: int | None, combine_fn: Any, keep_dims: bool = False
    ) -> tuple[Tile, ...]:
        """``tt.reduce`` of ``inputs`` along ``axis`` with ``combine_fn``."""
        orig_rank = len(
            self.to_tile(inputs[0] if isinstance(inputs, (tuple, list)) else inputs).shape
        )
        tiles, ax = self._prepare(inputs, axis, "reduce")
        shape = tiles[0].shape[:ax] + tiles[0].shape[ax + 1 :]
        types = [lang_type(t.dtype, shape) for t in tiles]
        op = self.builder.create(
            "tt.reduce",
            [t.handle for t in tiles],
            [to_ir_type(ty) for ty in types],
            {"axis": ax},
            regions=1,
        )
        self._combine_region(op, tiles, combine_fn, "tt.reduce.return")
        results = [Tile(r, ty) for r, ty in zip(op.results, types)]
        if keep_dims:
            if axis is None:
                results = [self.reshape(r, (1,) * orig_rank) for r in results]
            else:
                results = [self.expand_dims_impl(r, ax) for r in results]
        return tuple(results)

    def sum(
        self,
        input: Any,
        axis: int | None = None,
        keep_dims: bool = False,
        dtype: ldt.dtype | None = None,
    ) -> Tile:
        """Sum along ``axis``.

        fp16 and bf16 sums accumulate in fp32 and round once to the result type at the end,
        as the interpreter does (and as Triton's own reductions on GPUs effectively do):
        rounding every partial sum to 8 bits of mantissa would lose most of a long sum.
        """
        x = self.to_tile(input)
        out = st.sum_dtype(x.dtype, dtype)
        x = self.cast(x, out)
        if out.is_floating() and out.primitive_bitwidth < 32:
            wide = self.reduce((self.cast(x, ldt.float32),), axis, self.add, keep_dims)[0]
            return self.cast(wide, out)
        return self.reduce((x,), axis, self.add, keep_dims)[0]

    def xor_sum(self, input: Any, axis: int | None = None, keep_dims: bool = False) -> Tile:
        """Bitwise xor along ``axis``."""
        x = self.to_tile(input)
        if not x.dtype.is_int():
            raise TypeError(f"xor_sum needs an integer tile, got {x.dtype}")
        return self.reduce((x,), axis, self.xor, keep_dims)[0]

    def _minmax_reduce(
        self,
        input: Any,
        axis: int | None,
        return_indices: bool,
        tie_break_left: bool,
        keep_dims: bool,
        is_max: bool,
    ) -> Any:
        x = self.to_tile(input)
        # The builtin already widened the input (Triton's rule); engine callers get the same.
        x = self.cast(x, st.max_min_dtype(x.dtype, return_indices))
        if return_indices:
            return self._arg_reduce(x, axis, tie_break_left, keep_dims, is_max)
        combine = self.maximum if is_max else self.minimum
        return self.reduce((x,), axis, lambda a, b: combine(a, b, "none"), keep_dims)[0]

    def max(
        self,
        input: Any,
        axis: int | None = None,
        return_indices: bool = False,
        return_indices_tie_break_left: bool = True,
        keep_dims: bool = False,
    ) -> Any:
        """Maximum along ``axis`` (with ``return_indices``: ``(values, indices)``)."""
        return self._minmax_reduce(
            input, axis, return_indices, return_indices_tie_break_left, keep_dims, True
        )

    def min(
        self,
        input: Any,
        axis: int | None = None,
        return_indices: bool = False,
        return_indices_tie_break_left: bool = True,
        keep_dims: bool = False,
    ) -> Any:
        """Minimum along ``axis`` (with ``return_indices``: ``(values, indices)``)."""
        return self._minmax_reduce(
            input, axis, return_indices, return_indices_tie_break_left, keep_dims, False
        )

    def _arg_reduce(
        self, x: Tile, axis: int | None, tie_break_left: bool, keep_dims: bool, is_max: bool
    ) -> tuple[Tile, Tile]:
        if axis is None:
            tiles, ax = self._prepare((x,), None, "argmax" if is_max else "argmin")
            x = tiles[0]
        else:
            ax = self._prepare((x,), axis, "argmax")[1]
        idx = self.arange(0, x.shape[ax])
        for _ in range(ax):
            idx = self.expand_dims_impl(idx, 0)
        while len(idx.shape) < len(x.shape):
            idx = self.expand_dims_impl(idx, len(idx.shape))
        idx = self.broadcast_to_shape(idx, x.shape)

        def combine(v1: Tile, i1: Tile, v2: Tile, i2: Tile) -> tuple[Tile, Tile]:
            better = self.gt(v1, v2) if is_max else self.lt(v1, v2)
            if tie_break_left:
                tie = self.logical_and(self.eq(v1, v2), self.lt(i1, i2))
                better = self.logical_or(better, tie)
            return self.where(better, v1, v2), self.where(better, i1, i2)

        vals, inds = self.reduce((x, idx), ax, combine, keep_dims)
        return vals, inds

    def argmax(
        self, input: Any, axis: int | None, tie_break_left: bool = True, keep_dims: bool = False
    ) -> Tile:
        """Index of the maximum along ``axis``."""
        x = self.to_tile(input)
        x = self.cast(x, st.max_min_dtype(x.dtype, True))
        return self._arg_reduce(x, axis, tie_break_left, keep_dims, True)[1]

    def argmin(
        self, input: Any, axis: int | None, tie_break_left: bool = True, keep_dims: bool = False
    ) -> Tile:
        """Index of the minimum along ``axis``."""
        x = self.to_tile(input)
        x = self.cast(x, st.max_min_dtype(x.dtype, True))
        return self._arg_reduce(x, axis, tie_break_left, keep_dims, False)[1]

    # ---- scans --------------------------------------------------------------------------

    def associative_scan(
        self, inputs: Any, axis: int, combine_fn: Any, reverse: bool = False
    ) -> tuple[Tile, ...]:
        """``tt.scan`` (inclusive) of ``inputs`` along ``axis`` with ``combine_fn``."""
        tiles, ax = self._prepare(inputs, axis, "associative_scan")
        types = [t.type for t in tiles]
        op = self.builder.create(
            "tt.scan",
            [t.handle for t in tiles],
            [to_ir_type(ty) for ty in types],
            {"axis": ax, "reverse": bool(reverse)},
            regions=1,
        )
        self._combine_region(op, tiles, combine_fn, "tt.scan.return")
        return tuple(Tile(r, ty) for r, ty in zip(op.results, types))

    def cumsum(
        self, input: Any, axis: int = 0, reverse: bool = False, dtype: ldt.dtype | None = None
    ) -> Tile:
        """Inclusive prefix sum along ``axis``."""
        x = self.to_tile(input)
        x = self.cast(x, st.cumsum_dtype(x.dtype, dtype))
        return self.associative_scan((x,), axis, self.add, reverse)[0]

    def cumprod(self, input: Any, axis: int = 0, reverse: bool = False) -> Tile:
        """Inclusive prefix product along ``axis``."""
        x = self.to_tile(input)
        x = self.cast(x, st.cumprod_dtype(x.dtype))
        return self.associative_scan((x,), axis, self.mul, reverse)[0]

    # ---- dot ----------------------------------------------------------------------------

    def dot(
        self,
        input: Any,
        other: Any,
        acc: Any = None,
        input_precision: str | None = None,
        max_num_imprecise_acc: int | None = None,
        out_dtype: ldt.dtype = ldt.float32,
    ) -> Tile:
        """``tt.dot``: ``input @ other + acc`` on 2-D or batched 3-D tiles."""
        a, b = self.to_tile(input), self.to_tile(other)
        if len(a.shape) not in (2, 3) or len(b.shape) != len(a.shape):
            raise ValueError(
                f"dot: both operands must be 2-D (or both 3-D), got shapes "
                f"{list(a.shape)} and {list(b.shape)}"
            )
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(
                f"dot: inner dimensions do not match: {list(a.shape)} @ {list(b.shape)}"
            )
        if len(a.shape) == 3 and a.shape[0] != b.shape[0]:
            raise ValueError(f"dot: batch dimensions do not match: {a.shape[0]} and {b.shape[0]}")
        at, bt = a.dtype, b.dtype
        c = None if acc is None else self.to_tile(acc)
        ret = st.dot_result_type(at, bt, out_dtype, None if c is None else c.dtype)
        shape = a.shape[:-1] + (b.shape[-1],)
        if c is None:
            c = self.constant(0, ret, shape)
        elif c.shape != shape:
            raise ValueError(f"dot: acc has shape {list(c.shape)}, expected {list(shape)}")
        if input_precision is None:
            input_precision = "tf32" if at.is_fp32() else "ieee"
        input_precision = str(input_precision).lower()
        # The CPU multiplies in fp32 whatever the choice: every precision Triton offers is
        # accepted and at least as accurate as asked.
        if input_precision not in ("ieee", "tf32", "tf32x3", "bf16x3", "bf16x6"):
            raise ValueError(
                "dot: input_precision must be 'ieee', 'tf32', 'tf32x3', 'bf16x3' or 'bf16x6', "
                f"got {input_precision!r}"
            )
        attrs = {
            "input_precision": input_precision,
            "max_num_imprecise_acc": int(max_num_imprecise_acc or 0),
        }
        out = self.emit("tt.dot", [a, b, c], c.type, attrs)
        assert out is not None
        return out
