"""Block pointers (``tl.make_block_ptr``/``tl.advance``) and tensor descriptors
(``tl.make_tensor_descriptor``), lowered in the frontend.

The IR has no block-pointer type: a :class:`BlockPointer` is a compile-time record of run-time
scalars (base pointer, shape, strides, offsets) plus the static block shape. A load or store
through it becomes a tile of pointers with a bounds mask built from the ``boundary_check``
dimensions, exactly what Triton's semantics say it reads and writes. Loops and branches
carry a block pointer as its scalar parts (see :mod:`tritium.frontend.control_flow`). A
tensor descriptor is a block pointer without offsets: each ``desc.load(offsets)`` is a
bounds-checked block load with the descriptor's padding. When compiling for CUDA
(:func:`keep_descriptor_info`), each descriptor load also gets a ``tt.descriptor_info`` op
with the descriptor's parts and the block's offsets, which the NVIDIA backend turns into a TMA
copy; the load itself is the same for every backend.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import math
from collections.abc import Iterator
from typing import Any

from tritium.frontend.engine_memory import MemoryMixin
from tritium.frontend.tile import Tile
from tritium.language import core as lcore
from tritium.language import dtypes as ldt
from tritium.language import memory as lmem

__all__ = [
    "BlockPointer",
    "TensorDescriptor",
    "BlockPointerMixin",
    "RECORD_TYPES",
    "keep_descriptor_info",
]

# the ids of the kernel being compiled (numbered from 1 per compilation), None: emit no info
_KEEP_INFO: contextvars.ContextVar[Iterator[int] | None] = contextvars.ContextVar(
    "keep_descriptor_info", default=None
)


@contextlib.contextmanager
def keep_descriptor_info(keep: bool = True) -> Iterator[None]:
    """Within this block, descriptor loads also emit ``tt.descriptor_info`` (for the CUDA
    backend's TMA); the CPU backend and the interpreter never ask for it."""
    token = _KEEP_INFO.set(itertools.count(1) if keep else None)
    try:
        yield
    finally:
        _KEEP_INFO.reset(token)


class BlockPointer(lcore.tensor):
    """A pointer to a ``block_shape`` block of a strided tensor.

    Its language type is ``pointer_type(block_type(element, block_shape))``, which is how the
    builtins recognize block pointers. ``shape``/``strides`` are int64 scalars and ``offsets``
    int32 scalars, as in Triton.
    """

    def __init__(
        self,
        base: Tile,
        shape: list[Tile],
        strides: list[Tile],
        offsets: list[Tile],
        block_shape: tuple[int, ...],
        order: tuple[int, ...],
    ) -> None:
        elt = base.dtype.element_ty
        super().__init__(None, ldt.pointer_type(ldt.block_type(elt, block_shape)))
        self.base = base
        self.tensor_shape = list(shape)
        self.strides = list(strides)
        self.offsets = list(offsets)
        self.block_shape = tuple(block_shape)
        self.order = tuple(order)

    @property
    def shape(self) -> tuple[int, ...]:
        """A block pointer is a scalar value (its block shape is in its type)."""
        return ()

    def leaves(self) -> list[Tile]:
        """The run-time scalars, in a fixed order (for loops and branches)."""
        return [self.base, *self.tensor_shape, *self.strides, *self.offsets]

    def static_key(self) -> tuple[Any, ...]:
        """What must stay the same for two block pointers to share one run-time layout."""
        return (self.block_shape, self.order, str(self.type))

    def rebuild(self, leaves: list[Tile]) -> BlockPointer:
        """A block pointer like this one made of ``leaves`` (see :meth:`leaves`)."""
        n = len(self.block_shape)
        return BlockPointer(
            leaves[0],
            leaves[1 : 1 + n],
            leaves[1 + n : 1 + 2 * n],
            leaves[1 + 2 * n : 1 + 3 * n],
            self.block_shape,
            self.order,
        )


class TensorDescriptor(lmem.tensor_descriptor):
    """A tensor descriptor: base pointer, int32 shape, int64 strides, a static block shape
    and the padding out-of-bounds lanes read ("zero" or "nan")."""

    def __init__(
        self,
        base: Tile,
        shape: list[Tile],
        strides: list[Tile],
        block_shape: tuple[int, ...],
        padding: str,
    ) -> None:
        elt = base.dtype.element_ty
        super().__init__(base, tuple(shape), tuple(strides), ldt.block_type(elt, block_shape))
        self.base = base
        self.padding = padding

    def leaves(self) -> list[Tile]:
        """The run-time scalars, in a fixed order (for loops and branches)."""
        return [self.base, *self.shape, *self.strides]

    def static_key(self) -> tuple[Any, ...]:
        """What must stay the same for two descriptors to share one run-time layout."""
        return (self.block_shape, self.padding, str(self.type))

    def rebuild(self, leaves: list[Tile]) -> TensorDescriptor:
        """A descriptor like this one made of ``leaves`` (see :meth:`leaves`)."""
        n = len(self.block_shape)
        return TensorDescriptor(
            leaves[0], leaves[1 : 1 + n], leaves[1 + n : 1 + 2 * n], self.block_shape, self.padding
        )


#: Compile-time records of run-time scalars that control flow carries leaf by leaf.
RECORD_TYPES = (BlockPointer, TensorDescriptor)


class BlockPointerMixin(MemoryMixin):
    """``make_block_ptr``, ``advance``, and loads/stores through block pointers."""

    def make_block_ptr(
        self, base: Any, shape: Any, strides: Any, offsets: Any, block_shape: Any, order: Any
    ) -> BlockPointer:
        """A block pointer; ``shape``/``strides``/``offsets`` may be ints or int scalars."""
        b = self.to_tile(base)
        if not b.is_scalar or not b.dtype.is_ptr():
            raise TypeError(f"make_block_ptr: base must be a scalar pointer, got {b.type}")
        for d in block_shape:
            if d <= 0 or d & (d - 1):
                raise ValueError(
                    f"make_block_ptr: block dimensions must be powers of 2, got {list(block_shape)}"
                )
        return BlockPointer(
            b,
            [self._index(v, ldt.int64, "shape") for v in shape],
            [self._index(v, ldt.int64, "strides") for v in strides],
            [self._index(v, ldt.int32, "offsets") for v in offsets],
            tuple(block_shape),
            tuple(order),
        )

    def _index(self, v: Any, dtype: ldt.dtype, what: str) -> Tile:
        t = self.to_tile(v, dtype)
        if not t.is_scalar or not t.dtype.is_int():
            raise TypeError(f"make_block_ptr: {what} must be integer scalars, got {t.type}")
        return self.cast(t, dtype)

    def advance(self, base: Any, offsets: Any) -> BlockPointer:
        """``base`` moved by ``offsets`` elements along each dimension."""
        if not isinstance(base, BlockPointer):
            raise TypeError(f"advance needs a block pointer, got {base!r}")
        if len(offsets) != len(base.offsets):
            raise ValueError(f"advance: expected {len(base.offsets)} offsets, got {len(offsets)}")
        new = [
            o
            if (isinstance(d, int) and d == 0)
            else self.add(o, self._index(d, ldt.int32, "offsets"))
            for o, d in zip(base.offsets, offsets)
        ]
        return BlockPointer(
            base.base, base.tensor_shape, base.strides, new, base.block_shape, base.order
        )

    def _block_addresses(
        self, bp: BlockPointer, boundary_check: tuple[int, ...]
    ) -> tuple[Tile, Tile | None]:
        """The tile of element pointers of the block and the mask of in-bounds lanes."""
        rank = len(bp.block_shape)
        total: Tile | None = None
        mask: Tile | None = None
        for d, size in enumerate(bp.block_shape):
            idx = self.add(
                self.cast(self.arange(0, size), ldt.int64), self.cast(bp.offsets[d], ldt.int64)
            )
            for _ in range(d):
                idx = self.expand_dims_impl(idx, 0)
            while len(idx.shape) < rank:
                idx = self.expand_dims_impl(idx, len(idx.shape))
            term = self.mul(idx, bp.strides[d])
            total = term if total is None else self.add(total, term)
            if d in boundary_check:
                ok = self.logical_and(self.ge(idx, 0), self.lt(idx, bp.tensor_shape[d]))
                mask = ok if mask is None else self.logical_and(mask, ok)
        for d in boundary_check:
            if not 0 <= d < rank:
                raise ValueError(
                    f"boundary_check: dimension {d} is out of range for a block of rank {rank}"
                )
        assert total is not None
        ptrs = self.add(bp.base, self.broadcast_to_shape(total, bp.block_shape))
        if mask is not None:
            mask = self.broadcast_to_shape(mask, bp.block_shape)
        return ptrs, mask

    def load(
        self,
        pointer: Any,
        mask: Any = None,
        other: Any = None,
        boundary_check: Any = (),
        padding_option: str = "",
        cache_modifier: str = "",
        eviction_policy: str = "",
        volatile: bool = False,
    ) -> Tile:
        """``tt.load``; a block pointer becomes pointers and a bounds mask."""
        if not isinstance(pointer, BlockPointer):
            return super().load(
                pointer,
                mask,
                other,
                boundary_check,
                padding_option,
                cache_modifier,
                eviction_policy,
                volatile,
            )
        ptrs, in_bounds = self._block_addresses(pointer, tuple(boundary_check or ()))
        fill = None
        if in_bounds is not None and padding_option:
            fill = 0 if padding_option == "zero" else math.nan
            if fill is math.nan and not pointer.base.dtype.element_ty.is_floating():
                raise ValueError("load: padding_option='nan' needs a floating point block")
        return super().load(
            ptrs, in_bounds, fill, (), "", cache_modifier, eviction_policy, volatile
        )

    def store(
        self,
        pointer: Any,
        value: Any,
        mask: Any = None,
        boundary_check: Any = (),
        cache_modifier: str = "",
        eviction_policy: str = "",
    ) -> None:
        """``tt.store``; a block pointer becomes pointers and a bounds mask."""
        if not isinstance(pointer, BlockPointer):
            return super().store(
                pointer, value, mask, boundary_check, cache_modifier, eviction_policy
            )
        ptrs, in_bounds = self._block_addresses(pointer, tuple(boundary_check or ()))
        v = self._value_as(value, pointer.base.dtype.element_ty)
        if not v.is_scalar and v.shape != pointer.block_shape:
            raise ValueError(
                f"store: value of shape {list(v.shape)} does not match the block "
                f"shape {list(pointer.block_shape)}"
            )
        return super().store(ptrs, v, in_bounds, (), cache_modifier, eviction_policy)

    # ---- tensor descriptors -------------------------------------------------------------

    def make_tensor_descriptor(
        self, base: Any, shape: Any, strides: Any, block_shape: Any, padding_option: str = "zero"
    ) -> TensorDescriptor:
        """A descriptor of the ``shape``/``strides`` tensor at ``base``."""
        b = self.to_tile(base)
        if not b.is_scalar or not b.dtype.is_ptr():
            raise TypeError(f"make_tensor_descriptor: base must be a scalar pointer, got {b.type}")
        for d in block_shape:
            if d <= 0 or d & (d - 1):
                raise ValueError(
                    f"make_tensor_descriptor: block dimensions must be powers of "
                    f"2, got {list(block_shape)}"
                )
        return TensorDescriptor(
            b,
            [self._index(v, ldt.int32, "shape") for v in shape],
            [self._index(v, ldt.int64, "strides") for v in strides],
            tuple(block_shape),
            padding_option or "zero",
        )

    def _descriptor_block(self, desc: Any, offsets: Any) -> BlockPointer:
        if not isinstance(desc, TensorDescriptor):
            raise TypeError(f"expected a tensor descriptor, got {desc!r}")
        if len(offsets) != len(desc.block_shape):
            raise ValueError(f"expected {len(desc.block_shape)} offsets, got {len(offsets)}")
        rank = len(desc.block_shape)
        return BlockPointer(
            desc.base,
            [self.cast(s, ldt.int64) for s in desc.shape],
            list(desc.strides),
            [self._index(o, ldt.int32, "offsets") for o in offsets],
            desc.block_shape,
            tuple(reversed(range(rank))),
        )

    def descriptor_load(self, desc: Any, offsets: Any) -> Tile:
        """The block at ``offsets``; out-of-bounds lanes read the descriptor's padding."""
        bp = self._descriptor_block(desc, offsets)
        out = self.load(
            bp, None, None, tuple(range(len(bp.block_shape))), desc.padding, "", "", False
        )
        self._descriptor_info(out.handle.defining_op, "tt.load", desc, bp)
        return out

    def _descriptor_info(
        self, op: Any, name: str, desc: TensorDescriptor, bp: BlockPointer
    ) -> None:
        """Compiling for CUDA: mark ``op`` (the descriptor access just built) and record the
        descriptor's parts and the block's offsets after it (``tt.descriptor_info``)."""
        ids = _KEEP_INFO.get()
        if ids is None or op is None or op.name != name:
            return
        ident = next(ids)
        op.attrs["tt.descriptor"] = ident
        parts = [desc.base, *desc.shape, *desc.strides, *bp.offsets]
        self.builder.create(
            "tt.descriptor_info",
            [p.handle for p in parts],
            attrs={"id": ident, "block": list(bp.block_shape), "padding": desc.padding},
        )

    def descriptor_store(self, desc: Any, offsets: Any, value: Any) -> None:
        """Store ``value`` to the block at ``offsets``; out-of-bounds lanes are not written."""
        bp = self._descriptor_block(desc, offsets)
        self.store(bp, value, None, tuple(range(len(bp.block_shape))), "", "")
        block = self.builder.block
        if block is not None and block.ops and self.builder.index is None:
            self._descriptor_info(block.ops[-1], "tt.store", desc, bp)
