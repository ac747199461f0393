"""Program ids, tile creation and shape manipulation of the interpreter engine.

Tile axis ``k`` is array axis ``k + 1``: axis 0 of every array is the grid axis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .engine_base import EngineBase, align, broadcast_shape
from .itypes import I32, from_lang
from .numerics import cast_array
from .tile import Overflow, Tile

__all__ = ["ShapeMixin"]


def _same(x: Tile, fn: Callable[[np.ndarray], np.ndarray]) -> Tile:
    """``x`` with ``fn`` (a shape operation) applied to its values and to its overflow taint,
    so that the taint follows each lane exactly."""
    ovf = x.ovf
    if ovf is not None:
        # a taint that does not match the values lane for lane is dropped: that can hide a
        # finding but never invent one
        ovf = Overflow(fn(ovf.mask), ovf.where, ovf.detail) if ovf.mask.shape == x.a.shape else None
    return Tile(fn(x.a), x.ty, x.prov, ovf)


class ShapeMixin(EngineBase):
    """program_id, arange, full, broadcasting, reshape, permute, join/split/cat, getitem."""

    def program_id(self, axis: int) -> Tile:
        if axis not in (0, 1, 2):
            raise ValueError(f"program_id axis must be 0, 1 or 2, got {axis}")
        return self.pid_tiles[axis]

    def num_programs(self, axis: int) -> Tile:
        if axis not in (0, 1, 2):
            raise ValueError(f"num_programs axis must be 0, 1 or 2, got {axis}")
        return Tile(np.array([self.grid[axis]], np.int32), I32)

    def arange(self, start: int, end: int) -> Tile:
        a = np.arange(start, end, dtype=np.int32)[None]
        self.track(a)
        return Tile(a, I32, None, None, start if a.ndim == 2 else None)

    def full(self, shape: tuple[int, ...], value: Any, dtype: Any) -> Tile:
        ty = from_lang(dtype)
        v = self.to_tile(value)
        if v.shape:
            raise ValueError(f"full: value must be a scalar, got a tile of shape {list(v.shape)}")
        va = cast_array(v.a, v.ty, ty) if not ty.is_ptr else v.a
        a = np.broadcast_to(
            va.reshape((va.shape[0],) + (1,) * len(shape)), (va.shape[0],) + tuple(shape)
        )
        self.track(a)
        return Tile(a, ty, v.prov if ty.is_ptr else None)

    def getitem(self, input: Any, idx: Any) -> Tile:  # noqa: A002
        x = self.to_tile(input)
        items = idx if isinstance(idx, tuple) else (idx,)
        for it in items:
            if not (it is None or it is Ellipsis or isinstance(it, (int, slice))):
                raise TypeError(f"unsupported index {it!r}: use None (new axis) or ':'")
        return _same(x, lambda a: a[(slice(None),) + items])

    def broadcast(self, input: Any, other: Any) -> tuple[Tile, Tile]:
        a, b = self.to_tile(input), self.to_tile(other)
        shape = broadcast_shape(a.shape, b.shape)
        return self.broadcast_to(a, shape), self.broadcast_to(b, shape)

    def broadcast_to(self, input: Any, shape: tuple[int, ...]) -> Tile:  # noqa: A002
        x = self.to_tile(input)
        shape = tuple(shape)
        if x.shape == shape:
            return x
        if len(x.shape) > len(shape) or broadcast_shape(x.shape, shape) != shape:
            raise ValueError(f"cannot broadcast a tile of shape {list(x.shape)} to {list(shape)}")
        a = np.broadcast_to(align(x.a, len(shape)), (x.a.shape[0],) + shape)
        ovf = None
        if x.ovf is not None:
            mask = np.broadcast_to(align(x.ovf.mask, len(shape)), a.shape)
            ovf = Overflow(mask, x.ovf.where, x.ovf.detail)
        return Tile(a, x.ty, x.prov, ovf)

    def expand_dims(self, input: Any, axis: int) -> Tile:  # noqa: A002
        x = self.to_tile(input)
        return _same(x, lambda a: np.expand_dims(a, axis + 1))

    def reshape(self, input: Any, shape: tuple[int, ...], can_reorder: bool) -> Tile:  # noqa: A002
        x = self.to_tile(input)
        shape = tuple(shape)
        if int(np.prod(shape)) != x.numel:
            raise ValueError(
                f"cannot reshape a tile of shape {list(x.shape)} "
                f"({x.numel} elements) to {list(shape)}"
            )
        return _same(x, lambda a: a.reshape((a.shape[0],) + shape))

    def permute(self, input: Any, dims: tuple[int, ...]) -> Tile:  # noqa: A002
        x = self.to_tile(input)
        if sorted(dims) != list(range(len(x.shape))):
            raise ValueError(
                f"permute: {list(dims)} is not a permutation of the axes of a "
                f"tile of shape {list(x.shape)}"
            )
        return _same(x, lambda a: a.transpose((0,) + tuple(d + 1 for d in dims)))

    def join(self, a: Any, b: Any) -> Tile:
        (xa, xb), ct, rank = self.promote(a, b)
        shape = (max(xa.shape[0], xb.shape[0]),) + broadcast_shape(xa.shape[1:], xb.shape[1:])
        r = np.stack([np.broadcast_to(xa, shape), np.broadcast_to(xb, shape)], axis=-1)
        return Tile(r, ct)

    def split(self, a: Any) -> tuple[Tile, Tile]:
        x = self.to_tile(a)
        if not x.shape or x.shape[-1] != 2:
            raise ValueError(f"split needs a tile whose last axis has size 2, got {list(x.shape)}")
        return Tile(x.a[..., 0], x.ty, x.prov), Tile(x.a[..., 1], x.ty, x.prov)

    def cat(self, input: Any, other: Any, can_reorder: bool) -> Tile:  # noqa: A002
        (xa, xb), ct, _ = self.promote(input, other)
        g = max(xa.shape[0], xb.shape[0])
        if xa.shape[2:] != xb.shape[2:]:
            raise ValueError(
                f"cat: shapes {list(xa.shape[1:])} and {list(xb.shape[1:])} differ beyond axis 0"
            )
        xa = np.broadcast_to(xa, (g,) + xa.shape[1:])
        xb = np.broadcast_to(xb, (g,) + xb.shape[1:])
        return Tile(np.concatenate([xa, xb], axis=1), ct)

    # -- hints: the interpreter checks nothing and changes nothing ------------------------------

    def multiple_of(self, input: Any, values: tuple[int, ...]) -> Tile:  # noqa: A002
        return self.to_tile(input)

    def max_contiguous(self, input: Any, values: tuple[int, ...]) -> Tile:  # noqa: A002
        return self.to_tile(input)

    def max_constancy(self, input: Any, values: tuple[int, ...]) -> Tile:  # noqa: A002
        return self.to_tile(input)

    def assume(self, cond: Any) -> None:
        return None

    def debug_barrier(self) -> None:
        return None
