"""Builtins over an axis: reductions, scans, sorting, histograms, gathers.

Axes arrive at the engine resolved: a non-negative ``int`` below the rank (or ``None`` where
the builtin allows reducing everything).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tritium.language import type_rules as st
from tritium.language.args import as_dtype, as_int
from tritium.language.core import _engine, builtin, tensor, tensor_member
from tritium.language.dtypes import dtype as _dtype
from tritium.language.ops import cast

__all__ = [
    "argmax",
    "argmin",
    "associative_scan",
    "cumprod",
    "cumsum",
    "flip",
    "gather",
    "histogram",
    "max",
    "min",
    "reduce",
    "sort",
    "sum",
    "topk",
    "xor_sum",
]


def _resolve_axis(input: Any, axis: Any, allow_none: bool = True) -> int | None:
    if axis is None:
        if not allow_none:
            raise TypeError("axis must be an integer, got None")
        return None
    axis = as_int(axis, "axis")
    rank = len(input.shape) if isinstance(input, tensor) else 0
    if rank == 0:
        raise ValueError("cannot reduce or scan a scalar along an axis")
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is out of range for a tile of rank {rank}")
    return axis % rank


def _tile(input: Any, what: str) -> tensor:
    if not isinstance(input, tensor):
        raise TypeError(f"{what} needs a tensor, got {input!r}")
    return input


def _promoted(input: tensor, ty: _dtype) -> tensor:
    # Triton widens some inputs before reducing (see type_rules); do it here so every
    # engine sees the same, already-promoted input.
    return input if input.dtype == ty else cast(input, ty)


def _check_combine_fn(combine_fn: Any) -> None:
    if not callable(combine_fn) and not getattr(combine_fn, "is_jit_function", False):
        raise TypeError(f"combine_fn must be a @jit function or a callable, got {combine_fn!r}")


@tensor_member
@builtin
def reduce(input: Any, axis: Any, combine_fn: Callable[..., Any], keep_dims: Any = False) -> Any:
    """Reduce ``input`` (a tile or a tuple of tiles of one shape) along ``axis`` with
    ``combine_fn``, which maps two sets of scalars to one; ``axis=None`` reduces everything."""
    _check_combine_fn(combine_fn)
    single = not isinstance(input, tuple)
    inputs = (input,) if single else input
    results = _engine().reduce(inputs, _resolve_axis(inputs[0], axis), combine_fn, bool(keep_dims))
    return results[0] if single else tuple(results)


@tensor_member
@builtin
def associative_scan(
    input: Any, axis: Any, combine_fn: Callable[..., Any], reverse: Any = False
) -> Any:
    """Inclusive scan of ``input`` (a tile or tuple of tiles) along ``axis`` with the
    associative ``combine_fn``; ``reverse`` scans from the end."""
    _check_combine_fn(combine_fn)
    single = not isinstance(input, tuple)
    inputs = (input,) if single else input
    results = _engine().associative_scan(
        inputs, _resolve_axis(inputs[0], axis, False), combine_fn, bool(reverse)
    )
    return results[0] if single else tuple(results)


@tensor_member
@builtin
def sum(input: Any, axis: Any = None, keep_dims: Any = False, dtype: Any = None) -> tensor:
    """The sum of ``input`` along ``axis`` (None: all elements). Integers narrower than 32
    bits accumulate in int32/uint32 unless ``dtype`` says otherwise."""
    ty = st.sum_dtype(_tile(input, "sum").dtype, None if dtype is None else as_dtype(dtype))
    ax = _resolve_axis(input, axis)
    return _engine().sum(_promoted(input, ty), ax, bool(keep_dims), ty)


@tensor_member
@builtin
def max(
    input: Any,
    axis: Any = None,
    return_indices: Any = False,
    return_indices_tie_break_left: Any = True,
    keep_dims: Any = False,
) -> Any:
    """The maximum of ``input`` along ``axis``; with ``return_indices``, also its index."""
    ty = st.max_min_dtype(_tile(input, "max").dtype, bool(return_indices))
    ax = _resolve_axis(input, axis)
    return _engine().max(
        _promoted(input, ty),
        ax,
        bool(return_indices),
        bool(return_indices_tie_break_left),
        bool(keep_dims),
    )


@tensor_member
@builtin
def min(
    input: Any,
    axis: Any = None,
    return_indices: Any = False,
    return_indices_tie_break_left: Any = True,
    keep_dims: Any = False,
) -> Any:
    """The minimum of ``input`` along ``axis``; with ``return_indices``, also its index."""
    ty = st.max_min_dtype(_tile(input, "min").dtype, bool(return_indices))
    ax = _resolve_axis(input, axis)
    return _engine().min(
        _promoted(input, ty),
        ax,
        bool(return_indices),
        bool(return_indices_tie_break_left),
        bool(keep_dims),
    )


@tensor_member
@builtin
def argmax(input: Any, axis: Any, tie_break_left: Any = True, keep_dims: Any = False) -> tensor:
    """The int32 index of the maximum of ``input`` along ``axis``."""
    ty = st.max_min_dtype(_tile(input, "argmax").dtype, True)
    ax = _resolve_axis(input, axis)
    return _engine().argmax(_promoted(input, ty), ax, bool(tie_break_left), bool(keep_dims))


@tensor_member
@builtin
def argmin(input: Any, axis: Any, tie_break_left: Any = True, keep_dims: Any = False) -> tensor:
    """The int32 index of the minimum of ``input`` along ``axis``."""
    ty = st.max_min_dtype(_tile(input, "argmin").dtype, True)
    ax = _resolve_axis(input, axis)
    return _engine().argmin(_promoted(input, ty), ax, bool(tie_break_left), bool(keep_dims))


@tensor_member
@builtin
def xor_sum(input: Any, axis: Any = None, keep_dims: Any = False) -> tensor:
    """The bitwise xor of the integer tile ``input`` along ``axis``."""
    if isinstance(input, tensor) and not input.dtype.is_int():
        raise TypeError(f"xor_sum needs an integer tile, got {input.dtype}")
    return _engine().xor_sum(input, _resolve_axis(input, axis), bool(keep_dims))


@tensor_member
@builtin
def cumsum(input: Any, axis: Any = 0, reverse: Any = False, dtype: Any = None) -> tensor:
    """The inclusive prefix sum of ``input`` along ``axis``."""
    ty = st.cumsum_dtype(_tile(input, "cumsum").dtype, None if dtype is None else as_dtype(dtype))
    ax = _resolve_axis(input, axis, False)
    return _engine().cumsum(_promoted(input, ty), ax, bool(reverse), ty)


@tensor_member
@builtin
def cumprod(input: Any, axis: Any = 0, reverse: Any = False) -> tensor:
    """The inclusive prefix product of ``input`` along ``axis``."""
    ty = st.cumprod_dtype(_tile(input, "cumprod").dtype)
    ax = _resolve_axis(input, axis, False)
    return _engine().cumprod(_promoted(input, ty), ax, bool(reverse))


def _last_dim(x: Any, dim: Any) -> int:
    rank = len(x.shape) if isinstance(x, tensor) else 0
    if dim is None:
        if rank == 0:
            raise ValueError("cannot sort or flip a scalar")
        return rank - 1
    return _resolve_axis(x, dim, False)  # type: ignore[return-value]


@tensor_member
@builtin
def sort(x: Any, dim: Any = None, descending: Any = False) -> tensor:
    """``x`` sorted along ``dim`` (default: the last dimension)."""
    return _engine().sort(x, _last_dim(x, dim), bool(descending))


@tensor_member
@builtin
def topk(x: Any, k: Any, dim: Any = None, descending: Any = True) -> tensor:
    """The ``k`` largest values of ``x`` along ``dim`` (default: the last dimension), in
    descending order (``descending=False``: the ``k`` smallest, ascending); ``k`` must be a
    power of two no larger than that dimension."""
    ax = _last_dim(x, dim)
    k = as_int(k, "k")
    n = x.shape[ax] if isinstance(x, tensor) else 0
    if k <= 0 or k & (k - 1) or (n and k > n):
        raise ValueError(f"topk: k must be a power of two in [1, {n}], got {k}")
    return _engine().topk(x, k, ax, bool(descending))


@tensor_member
@builtin
def flip(x: Any, dim: Any = None) -> tensor:
    """``x`` reversed along ``dim`` (default: the last dimension)."""
    return _engine().flip(x, _last_dim(x, dim))


@tensor_member
@builtin
def histogram(input: Any, num_bins: Any, mask: Any = None) -> tensor:
    """int32 counts of the values of the 1-D integer tile ``input`` in ``[0, num_bins)``."""
    num_bins = as_int(num_bins, "num_bins")
    if num_bins <= 0:
        raise ValueError(f"num_bins must be positive, got {num_bins}")
    return _engine().histogram(input, num_bins, mask)


@tensor_member
@builtin
def gather(src: Any, index: Any, axis: Any) -> tensor:
    """Elements of ``src`` picked along ``axis`` by the integer tile ``index`` (of the same
    rank): ``out[i][j] = src[index[i][j]][j]`` for axis 0."""
    return _engine().gather(src, index, _resolve_axis(src, axis, False))
