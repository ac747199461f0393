"""Builtins the IR has no op for, built from other tile ops: flip, gather, histogram,
map_elementwise. Each is exact (selections, not arithmetic on the values)."""

from __future__ import annotations

from typing import Any

from tritium.frontend.semantic_reduce import ReduceMixin
from tritium.frontend.semantic_shape import ShapeMixin
from tritium.frontend.tile import Tile
from tritium.language import dtypes as ldt

__all__ = ["ExtraMixin"]


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


class ExtraMixin(ReduceMixin, ShapeMixin):
    """Composite builtins."""

    def flip(self, x: Any, dim: int) -> Tile:
        """``x`` reversed along ``dim`` (a power-of-2 dimension).

        Reshaped so that ``dim`` becomes ``k`` axes of size 2, swapping the two halves along
        every one of them reverses the order; a swap is ``y ^ xor_sum(y, axis)``.
        """
        t = self.to_tile(x)
        if t.is_scalar or not 0 <= dim < len(t.shape):
            raise ValueError(f"flip: dim {dim} is out of range for a tile of shape "
                             f"{list(t.shape)}")
        n = t.shape[dim]
        if not _is_pow2(n):
            raise ValueError(f"flip: the flipped dimension must be a power of 2, got {n}")
        if n == 1:
            return t
        dt = t.dtype
        if dt.is_ptr():
            raise TypeError("flip: tiles of pointers are not supported")
        ity = dt if dt.is_int() else ldt.dtype(f"int{dt.primitive_bitwidth}")
        y = self.cast(t, ity, None, True)
        k = n.bit_length() - 1
        y = self.reshape(y, t.shape[:dim] + (2,) * k + t.shape[dim + 1:])
        for axis in range(dim, dim + k):
            both = self.reduce((y,), axis, self.xor, True)[0]
            y = self.xor(y, self.broadcast_to_shape(both, y.shape))
        return self.cast(self.reshape(y, t.shape), dt, None, True)

    def histogram(self, input: Any, num_bins: int, mask: Any = None) -> Tile:
        """int32 counts of the values of a 1-D int tile in ``[0, num_bins)``."""
        x = self.to_tile(input)
        if len(x.shape) != 1 or not x.dtype.is_int():
            raise TypeError(f"histogram needs a 1-D integer tile, got {x.type}")
        if not _is_pow2(num_bins):
            raise ValueError(f"histogram: num_bins must be a power of 2, got {num_bins}")
        bins = self.cast(self.arange(0, num_bins), x.dtype)
        hit = self.eq(self.expand_dims_impl(x, 1), self.expand_dims_impl(bins, 0))
        if mask is not None:
            hit = self.logical_and(hit, self.expand_dims_impl(self.to_bool(mask), 1))
        return self.sum(self.cast(hit, ldt.int32), 0, False, ldt.int32)

    def gather(self, src: Any, index: Any, axis: int) -> Tile:
        """``out[p] = src[p with p[axis] = index[p]]``, one-hot selected along ``axis``."""
        s, idx = self.to_tile(src), self.to_tile(index)
        rank = len(s.shape)
        if len(idx.shape) != rank or rank == 0 or not idx.dtype.is_int():
            raise ValueError(f"gather: index must be an integer tile of the rank of src, got "
                             f"{idx.type} for {s.type}")
        if not 0 <= axis < rank:
            raise ValueError(f"gather: axis {axis} out of range for rank {rank}")
        for d in range(rank):
            if d != axis and idx.shape[d] != s.shape[d]:
                raise ValueError(f"gather: index shape {list(idx.shape)} must match src shape "
                                 f"{list(s.shape)} except along axis {axis}")
        k = s.shape[axis]
        if not _is_pow2(k):
            raise ValueError(f"gather: the gathered dimension must be a power of 2, got {k}")
        # src with `axis` moved last and a size-1 axis in its place: [.., 1, .., K]
        order = tuple(d for d in range(rank) if d != axis) + (axis,)
        vals = self.expand_dims_impl(self.permute(s, order), axis)
        ks = self.arange(0, k)
        for _ in range(rank):
            ks = self.expand_dims_impl(ks, 0)
        hit = self.eq(self.expand_dims_impl(idx, rank), ks)
        full = idx.shape + (k,)
        vals = self.broadcast_to_shape(vals, full)
        hit = self.broadcast_to_shape(hit, full)

        def pick(v1: Tile, h1: Tile, v2: Tile, h2: Tile) -> tuple[Tile, Tile]:
            return self.where(h1, v1, v2), self.logical_or(h1, h2)

        return self.reduce((vals, hit), rank, pick, False)[0]

    def map_elementwise(self, scalar_fn: Any, args: tuple[Any, ...], pack: int = 1) -> Any:
        """Apply ``scalar_fn`` to ``args`` broadcast together, by tracing it on whole tiles
        (exact for functions of elementwise ops; run-time branching inside is rejected)."""
        if pack != 1:
            raise NotImplementedError("map_elementwise with pack > 1 is not supported by the "
                                      "compiler")
        tiles = [self.to_tile(a) for a in args]
        shape: tuple[int, ...] = ()
        for t in tiles:
            shape = self.broadcast_shapes(shape, t.shape)
        tiles = [self.broadcast_to_shape(t, shape) for t in tiles]
        if getattr(scalar_fn, "is_jit_function", False) and self.inline_jit is not None:
            return self.inline_jit(scalar_fn, tiles)
        return scalar_fn(*tiles)
