"""Creation and shape ops of the engine: arange, full, broadcast, reshape, permute, indexing."""

from __future__ import annotations

from typing import Any

from tritium.frontend.engine_base import SemanticBase, is_number
from tritium.frontend.tile import Tile
from tritium.frontend.type_conversion import lang_type, to_ir_type
from tritium.language import dtypes as ldt

__all__ = ["ShapeMixin"]


def _shape_arg(shape: Any, fn: str) -> tuple[int, ...]:
    """Normalize ``shape`` (an int, or a tuple/list of ints, possibly nested once) to a tuple."""
    if isinstance(shape, (list, tuple)) and len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = shape[0]
    if isinstance(shape, int):
        shape = (shape,)
    if not isinstance(shape, (list, tuple)):
        raise TypeError(f"{fn}: shape must be a tuple of ints, got {shape!r}")
    out = []
    for d in shape:
        d = getattr(d, "value", d)
        if isinstance(d, Tile) or not isinstance(d, int) or isinstance(d, bool):
            raise TypeError(f"{fn}: shape must be compile-time ints (tl.constexpr), got {d!r}")
        if d <= 0:
            raise ValueError(f"{fn}: every dimension must be positive, got {list(shape)}")
        out.append(d)
    return tuple(out)


class ShapeMixin(SemanticBase):
    """Tile creation and shape manipulation."""

    def arange(self, start: int, end: int) -> Tile:
        """``tt.make_range``: the int32 tile ``[start, end)`` (any length, beyond Triton's
        powers of two: the backends pad and mask internally)."""
        for name, v in (("start", start), ("end", end)):
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(
                    f"arange: {name} must be a compile-time int (tl.constexpr), got {v!r}"
                )
        n = end - start
        if n <= 0:
            raise ValueError(f"arange: end ({end}) must be greater than start ({start})")
        if not (-(2**31) <= start and end <= 2**31):
            raise ValueError("arange: start and end must fit in int32")
        out = self.emit(
            "tt.make_range", [], lang_type(ldt.int32, (n,)), {"start": start, "end": end}
        )
        assert out is not None
        return out

    def full(self, shape: Any, value: Any, dtype: ldt.dtype) -> Tile:
        """A tile of ``shape`` filled with ``value`` converted to ``dtype``."""
        shape = _shape_arg(shape, "full") if shape != () else ()
        if not isinstance(dtype, ldt.dtype):
            raise TypeError(f"full: dtype must be a tl.dtype, got {dtype!r}")
        if is_number(value):
            return self.constant(value, dtype, shape)
        v = self.to_tile(value)
        if not v.is_scalar:
            raise ValueError(f"full: value must be a scalar, got a tile of shape {list(v.shape)}")
        return self.broadcast_to_shape(self.cast(v, dtype), shape)

    def broadcast(self, input: Any, other: Any) -> tuple[Tile, Tile]:
        """``input`` and ``other`` broadcast to their common shape."""
        return self.broadcast_pair(self.to_tile(input), self.to_tile(other))

    def broadcast_to(self, input: Any, shape: Any) -> Tile:
        """``input`` broadcast to ``shape``."""
        return self.broadcast_to_shape(self.to_tile(input), _shape_arg(shape, "broadcast_to"))

    def expand_dims(self, input: Any, axis: int) -> Tile:
        """``input`` with a new axis of size 1 at ``axis`` (negative counts from the end)."""
        x = self.to_tile(input)
        rank = len(x.shape) + 1
        if not -rank <= axis < rank:
            raise ValueError(f"expand_dims: axis {axis} out of range for a result of rank {rank}")
        return self.expand_dims_impl(x, axis % rank)

    def reshape(self, input: Any, shape: Any, can_reorder: bool = False) -> Tile:
        """``input`` reshaped row-major to ``shape`` (``tt.reshape``)."""
        x = self.to_tile(input)
        new = _shape_arg(shape, "reshape")
        if not new:
            raise ValueError("reshape: the new shape must have at least one dimension")
        numel = 1
        for d in new:
            numel *= d
        if numel != x.numel:
            raise ValueError(
                f"reshape: cannot reshape {list(x.shape)} ({x.numel} elements) to "
                f"{list(new)} ({numel} elements)"
            )
        if x.is_scalar:
            return self.broadcast_to_shape(x, new)
        if new == x.shape:
            return x
        out = self.emit(
            "tt.reshape", [x], lang_type(x.dtype, new), {"allow_reorder": bool(can_reorder)}
        )
        assert out is not None
        return out

    def permute(self, input: Any, dims: Any) -> Tile:
        """``input`` with axes permuted (``tt.trans``); no dims swaps a 2-D tile's axes."""
        x = self.to_tile(input)
        if isinstance(dims, int):
            dims = (dims,)
        dims = tuple(dims) if dims else ()
        if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
            dims = tuple(dims[0])
        if not dims:
            if len(x.shape) != 2:
                raise ValueError(f"trans without dims needs a 2-D tile, got shape {list(x.shape)}")
            dims = (1, 0)
        if sorted(dims) != list(range(len(x.shape))):
            raise ValueError(
                f"permute: dims {list(dims)} is not a permutation of the "
                f"{len(x.shape)} axes of a tile of shape {list(x.shape)}"
            )
        if dims == tuple(range(len(dims))):
            return x
        shape = tuple(x.shape[d] for d in dims)
        out = self.emit("tt.trans", [x], lang_type(x.dtype, shape), {"order": list(dims)})
        assert out is not None
        return out

    def join(self, a: Any, b: Any) -> Tile:
        """Stack ``a`` and ``b`` along a new last axis of size 2."""
        x, y = self.broadcast_pair(self.to_tile(a), self.to_tile(b))
        if x.dtype != y.dtype:
            raise TypeError(f"join: operands have different types {x.dtype} and {y.dtype}")
        was_scalar = x.is_scalar
        if was_scalar:
            x, y = self.broadcast_to_shape(x, (1,)), self.broadcast_to_shape(y, (1,))
        out = self.emit("tt.join", [x, y], lang_type(x.dtype, x.shape + (2,)))
        assert out is not None
        return self.reshape(out, (2,)) if was_scalar else out

    def split(self, a: Any) -> tuple[Tile, Tile]:
        """Split a tile whose last axis is 2 into two tiles."""
        x = self.to_tile(a)
        if not x.shape or x.shape[-1] != 2:
            raise ValueError(f"split: the last dimension must be 2, got shape {list(x.shape)}")
        ty = lang_type(x.dtype, x.shape[:-1])
        op = self.builder.create("tt.split", [x.handle], [to_ir_type(ty)] * 2)
        return Tile(op.results[0], ty), Tile(op.results[1], ty)

    def cat(self, input: Any, other: Any, can_reorder: bool = False) -> Tile:
        """Concatenate along axis 0 (``tt.cat``)."""
        x, y = self.to_tile(input), self.to_tile(other)
        if x.shape != y.shape or x.dtype != y.dtype or x.is_scalar:
            raise ValueError(
                f"cat: operands must be tiles of one shape and type, got {x.type} and {y.type}"
            )
        shape = (x.shape[0] * 2,) + x.shape[1:]
        out = self.emit("tt.cat", [x, y], lang_type(x.dtype, shape))
        assert out is not None
        return out

    def getitem(self, input: Any, idx: Any) -> Tile:
        """``input[idx]`` with ``None`` (new axis), ``:`` (keep the axis) and ``...``."""
        x = self.to_tile(input)
        items = idx if isinstance(idx, tuple) else (idx,)
        kept = sum(1 for i in items if i is not None and i is not Ellipsis)
        if sum(1 for i in items if i is Ellipsis) > 1:
            raise ValueError("an index can only have a single ellipsis ('...')")
        expanded: list[Any] = []
        for i in items:
            if i is Ellipsis:
                expanded.extend([slice(None)] * (len(x.shape) - kept))
            else:
                expanded.append(i)
        axis = 0
        for i in expanded:
            if i is None:
                x = self.expand_dims_impl(x, axis)
                axis += 1
            elif isinstance(i, slice) and i == slice(None):
                axis += 1
            else:
                raise TypeError(
                    f"unsupported tile index {i!r}: only None, ':' and '...' are "
                    f"allowed (use tl.split, tl.reshape or masks for the rest)"
                )
        if axis != len(x.shape):
            raise ValueError(
                f"index {idx!r} does not match the rank of a tile of shape "
                f"{list(self.to_tile(input).shape)}"
            )
        return x

    # ---- hints: the IR has no hint ops yet, so they pass the value through -------------

    def multiple_of(self, input: Any, values: Any) -> Tile:
        """Hint that ``input`` is a multiple of ``values`` (no effect on the IR yet)."""
        return self.to_tile(input)

    def max_contiguous(self, input: Any, values: Any) -> Tile:
        """Hint that ``input`` has contiguous runs (no effect on the IR yet)."""
        return self.to_tile(input)

    def max_constancy(self, input: Any, values: Any) -> Tile:
        """Hint that ``input`` has constant runs (no effect on the IR yet)."""
        return self.to_tile(input)

    def assume(self, cond: Any) -> None:
        """A compiler assumption; ignored."""
        return None
