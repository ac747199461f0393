"""``gather`` and ``histogram`` written with builtins, for engines without native versions.

Both compare against an ``arange`` (a one-hot selection) and reduce, so an engine that has
``arange``, ``expand_dims``, comparisons, ``where``, ``sum`` and bitcasts gets them for free:
``def gather(self, src, index, axis): return indexing.gather_by_select(src, index, axis)``.
The selected dimension (``gather``) or the bin count (``histogram``) must be a power of two,
as ``arange`` requires; the work grows with it, which is fine for tile-sized inputs.
"""

from __future__ import annotations

from typing import Any

from tritium.language import ops, reduction, shape
from tritium.language.core import tensor
from tritium.language.dtypes import get_int_dtype, int32

__all__ = ["gather_by_select", "histogram_by_compare"]


def _position(size: int, ndim: int, axis: int) -> tensor:
    """``arange(0, size)`` shaped to run along ``axis`` of an ``ndim``-dimensional tile."""
    if size <= 0 or size & (size - 1):
        raise ValueError(f"the selected dimension must be a power of two, got {size}")
    dims = [1] * ndim
    dims[axis] = size
    return shape.reshape(ops.arange(0, size), tuple(dims))


def gather_by_select(src: tensor, index: tensor, axis: int) -> tensor:
    """``out[..., i, ...] = src[..., index[..., i, ...], ...]`` along ``axis``.

    Each output element sums its one selected source element with zeros, on the bits of the
    values (a same-width integer view), so the result is exact for every value, -0.0 and NaN
    included.
    """
    rank = len(src.shape)
    bits = src.dtype if src.dtype.is_int() else get_int_dtype(src.dtype.primitive_bitwidth, True)
    src_bits = src if bits == src.dtype else ops.cast(src, bits, None, True)
    # selected[..., k, m, ...] = (index[..., k, ...] == m), with m on a new axis after `axis`
    selected = shape.expand_dims(index, axis + 1) == _position(src.shape[axis], rank + 1, axis + 1)
    candidates = shape.expand_dims(src_bits, axis)  # [..., 1, m, ...]
    picked = ops.where(selected, candidates, 0)
    out = reduction.sum(picked, axis + 1, dtype=bits)
    return out if bits == src.dtype else ops.cast(out, src.dtype, None, True)


def histogram_by_compare(input: tensor, num_bins: int, mask: Any) -> tensor:  # noqa: A002
    """int32 counts of the values of the 1-D integer tile ``input`` in ``[0, num_bins)``;
    values outside the range and lanes where ``mask`` is false are not counted."""
    if len(input.shape) != 1:
        raise ValueError(f"histogram needs a 1-D tile, got shape {input.shape}")
    hits = shape.expand_dims(input, 1) == _position(num_bins, 2, 1)  # [n, bins]
    if isinstance(mask, tensor):
        hits = hits & shape.expand_dims(mask, 1)
    elif mask is not None and not mask:
        hits = hits & False
    return reduction.sum(ops.where(hits, 1, 0), 0, dtype=int32)
