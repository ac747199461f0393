"""Sorting networks written with builtins, for engines without a native sort.

An engine may implement :meth:`Engine.sort <tritium.language.engine.Engine.sort>`,
``flip`` and ``topk`` by calling these functions: they only use ``reshape``, ``permute``,
``cast`` (bitcast), ``xor_sum``, ``arange``, ``where``, comparisons and ``max``, so an engine
that has those gets sorting for free (the frontend emits them as ordinary tile ops).

The tile is viewed as a hypercube: a tile of ``2**D`` elements reshaped to ``[2] * D``, where
the last ``k`` axes are the bits of the index along the sorted dimension (most significant
first). Swapping the two halves along one hypercube axis pairs every element with the one
whose index differs in that bit; a bitonic network is a sequence of such compare-and-swaps.
All dimensions must be powers of two, as for every Triton tile.
"""

from __future__ import annotations

from typing import Any

from tritium.language import ops, reduction, shape
from tritium.language.core import tensor
from tritium.language.dtypes import dtype, get_int_dtype

__all__ = ["bitonic_sort", "flip_by_swaps", "topk_by_sort"]


def _log2(n: int, what: str) -> int:
    if n <= 0 or n & (n - 1):
        raise ValueError(f"{what} must be a power of two, got {n}")
    return n.bit_length() - 1


def _int_view_dtype(ty: dtype) -> dtype:
    # Integers swap as they are; floats are bitcast to the signed integer of their width so that
    # xor can move their bits.
    if ty.is_int():
        return ty
    return get_int_dtype(ty.primitive_bitwidth, signed=True)


def _swap_halves(h: tensor, axis: int) -> tensor:
    """``h`` with the two halves of the size-2 ``axis`` exchanged (``[a, b]`` → ``[b, a]``).

    ``a ^ (a ^ b) == b``: xoring each element with the xor of its pair yields its partner.
    """
    ity = _int_view_dtype(h.dtype)
    ih = h if ity == h.dtype else ops.cast(h, ity, None, True)
    swapped = ih ^ reduction.xor_sum(ih, axis, True)
    return swapped if ity == h.dtype else ops.cast(swapped, h.dtype, None, True)


def _indicator(ndim: int, axis: int) -> tensor:
    """An int32 tile broadcastable to ``[2] * ndim``: 0 in the first half of ``axis``, 1 in
    the second."""
    dims = [1] * ndim
    dims[axis] = 2
    return shape.reshape(ops.arange(0, 2), tuple(dims))


def _to_last(x: tensor, dim: int) -> tuple[tensor, tuple[int, ...] | None]:
    rank = len(x.shape)
    if dim == rank - 1:
        return x, None
    perm = tuple(d for d in range(rank) if d != dim) + (dim,)
    inverse = tuple(perm.index(d) for d in range(rank))
    return shape.permute(x, perm), inverse


def _from_last(x: tensor, inverse: tuple[int, ...] | None) -> tensor:
    return x if inverse is None else shape.permute(x, inverse)


def _hypercube(x: tensor) -> tuple[tensor, int, int]:
    ndim = _log2(x.numel, "the number of elements")
    k = _log2(x.shape[-1], "the sorted dimension")
    return shape.reshape(x, (2,) * ndim), ndim, k


def bitonic_sort(x: tensor, dim: int, descending: bool) -> tensor:
    """``x`` sorted along ``dim`` with a bitonic network (stable only for distinct values)."""
    x, inverse = _to_last(x, dim)
    h, ndim, k = _hypercube(x)
    for stage in range(1, k + 1):
        # Runs of 2**stage elements are merged in alternating directions, the last one in the
        # requested direction.
        direction: Any = int(descending) if stage == k else _indicator(ndim, ndim - 1 - stage)
        for bit in range(stage - 1, -1, -1):
            axis = ndim - 1 - bit
            partner = _swap_halves(h, axis)
            take_partner = (h > partner) != (direction ^ _indicator(ndim, axis))
            h = ops.where(take_partner, partner, h)
    return _from_last(shape.reshape(h, x.shape), inverse)


def flip_by_swaps(x: tensor, dim: int) -> tensor:
    """``x`` reversed along ``dim``: index ``i`` becomes ``n - 1 - i = i ^ (n - 1)``, so every
    index bit of that dimension is swapped."""
    x, inverse = _to_last(x, dim)
    h, ndim, k = _hypercube(x)
    for bit in range(k):
        h = _swap_halves(h, ndim - 1 - bit)
    return _from_last(shape.reshape(h, x.shape), inverse)


def topk_by_sort(x: tensor, k: int, dim: int) -> tensor:
    """The ``k`` largest values of ``x`` along ``dim``, in descending order."""
    x, inverse = _to_last(x, dim)
    n = x.shape[-1]
    _log2(k, "k")
    ordered = bitonic_sort(x, len(x.shape) - 1, True)
    # Sorted descending, row 0 of the (n // k, k) view is elementwise the largest row.
    rows = shape.reshape(ordered, x.shape[:-1] + (n // k, k))
    top = reduction.max(rows, len(x.shape) - 1)
    if top.dtype != x.dtype:  # tl.max widens narrow dtypes; the values are exact either way
        top = ops.cast(top, x.dtype)
    return _from_last(top, inverse)
