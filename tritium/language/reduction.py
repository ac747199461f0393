"""Builtins over an axis: reductions, scans, sorting, histograms, gathers.

Axes arrive at the engine resolved: a non-negative ``int`` below the rank (or ``None`` where
the builtin allows reducing everything).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tritium.language import ops, shape
from tritium.language import type_rules as st
from tritium.language.args import as_dtype, as_int
from tritium.language.core import _engine, builtin, tensor, tensor_member, unwrap_constexpr
from tritium.language.dtypes import dtype as _dtype
from tritium.language.ops import cast

__all__ = [
    "CompositeReductionOrdering",
    "ReductionOrdering",
    "ReductionOrderingBase",
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


class ReductionOrderingBase:
    """The base of the ``reduction_ordering`` arguments of ``tl.reduce``/``tl.sum`` and the
    other reductions (Triton's): an order in which the elements are combined that does not
    depend on how the tile is laid out."""


class ReductionOrdering(ReductionOrderingBase):
    """One ordering strategy: ``ReductionOrdering.UNORDERED`` (the default: the engine picks
    the order) or ``ReductionOrdering.INNER_TREE`` (a balanced binary tree over the reduced
    axis that combines neighbours first: ``(x0+x1)+(x2+x3)``..., so the bits of a float sum
    are the same in every engine and for every ``num_warps``)."""

    UNORDERED: ReductionOrdering
    INNER_TREE: ReductionOrdering

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReductionOrdering) and self.name == other.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"ReductionOrdering.{self.name.upper()}"


ReductionOrdering.UNORDERED = ReductionOrdering("unordered")
ReductionOrdering.INNER_TREE = ReductionOrdering("inner_tree")


class CompositeReductionOrdering(ReductionOrderingBase):
    """Several orderings chained over the levels of the reduction tree (accepted as a value,
    refused by the reductions, as in Triton: not supported yet)."""

    def __init__(self, *components: ReductionOrdering) -> None:
        self.components = components

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompositeReductionOrdering) and self.components == other.components

    def __hash__(self) -> int:
        return hash(self.components)

    def __repr__(self) -> str:
        return f"CompositeReductionOrdering({', '.join(map(repr, self.components))})"


def _inner_tree(ordering: Any) -> bool:
    """Whether ``ordering`` (a ``reduction_ordering`` argument) asks for the neighbour tree."""
    ordering = unwrap_constexpr(ordering)
    if ordering is None:
        from tritium import knobs

        strict = getattr(knobs, "strict_reduction_ordering", None)
        return bool(strict and strict())
    if isinstance(ordering, CompositeReductionOrdering):
        raise TypeError("CompositeReductionOrdering is not yet supported")
    if not isinstance(ordering, ReductionOrdering):
        raise TypeError(
            f"reduction_ordering must be None or a ReductionOrdering, got {type(ordering)}"
        )
    return ordering == ReductionOrdering.INNER_TREE


def _tree_reduce(
    inputs: tuple[tensor, ...],
    axis: int | None,
    keep_dims: bool,
    pair: Callable[[tuple[tensor, ...]], tuple[tensor, ...]],
) -> tuple[tensor, ...] | None:
    """Reduce ``inputs`` along ``axis`` in INNER_TREE order: the axis moves last, then each
    level reshapes it to ``(n/2, 2)`` and ``pair`` combines the two columns. None when the
    axis length is not a power of two (Triton's tiles always are)."""
    xs = list(inputs)
    rank = len(xs[0].shape)
    if axis is None:
        numel = 1
        for d in xs[0].shape:
            numel *= int(d)
        xs = [shape.reshape(x, (numel,)) for x in xs]
        ax = 0
    else:
        ax = axis
    n = int(xs[0].shape[ax])
    if n & (n - 1):
        return None
    last = len(xs[0].shape) - 1
    if ax != last:
        perm = [i for i in range(last + 1) if i != ax] + [ax]
        xs = [shape.permute(x, perm) for x in xs]
    rest = tuple(xs[0].shape[:-1])
    while n > 1:
        n //= 2
        xs = list(pair(tuple(shape.reshape(x, (*rest, n, 2)) for x in xs)))
    # A full reduction leaves one element: a scalar (a tile cannot have shape ()).
    xs = [shape.reshape(x, rest) if rest else shape.item(x) for x in xs]
    if keep_dims:
        if axis is None:
            xs = [shape.reshape(x, (1,) * rank) for x in xs]
        else:
            xs = [shape.expand_dims(x, axis) for x in xs]
    return tuple(xs)


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
def reduce(
    input: Any,
    axis: Any,
    combine_fn: Callable[..., Any],
    keep_dims: Any = False,
    reduction_ordering: Any = None,
) -> Any:
    """Reduce ``input`` (a tile or a tuple of tiles of one shape) along ``axis`` with
    ``combine_fn``, which maps two sets of scalars to one; ``axis=None`` reduces everything.
    ``reduction_ordering=ReductionOrdering.INNER_TREE`` fixes the order of the combines."""
    _check_combine_fn(combine_fn)
    single = not isinstance(input, tuple)
    inputs = (input,) if single else input
    ax = _resolve_axis(inputs[0], axis)
    results = None
    if _inner_tree(reduction_ordering):
        eng = _engine()

        def pair(xs: tuple[tensor, ...]) -> tuple[tensor, ...]:
            # A reduce over an axis of two elements is exactly combine_fn(column 0, column 1).
            return tuple(eng.reduce(xs, len(xs[0].shape) - 1, combine_fn, False))

        results = _tree_reduce(tuple(inputs), ax, bool(keep_dims), pair)
    if results is None:
        results = _engine().reduce(inputs, ax, combine_fn, bool(keep_dims))
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
def sum(
    input: Any,
    axis: Any = None,
    keep_dims: Any = False,
    dtype: Any = None,
    reduction_ordering: Any = None,
) -> tensor:
    """The sum of ``input`` along ``axis`` (None: all elements). Integers narrower than 32
    bits accumulate in int32/uint32 unless ``dtype`` says otherwise. With
    ``reduction_ordering=ReductionOrdering.INNER_TREE`` the additions (in the result type)
    follow the neighbour tree, bit for bit the same in every engine."""
    ty = st.sum_dtype(_tile(input, "sum").dtype, None if dtype is None else as_dtype(dtype))
    ax = _resolve_axis(input, axis)
    if _inner_tree(reduction_ordering):

        def pair(xs: tuple[tensor, ...]) -> tuple[tensor, ...]:
            a, b = shape.split(xs[0])
            return (ops.add(a, b),)

        out = _tree_reduce((_promoted(input, ty),), ax, bool(keep_dims), pair)
        if out is not None:
            return out[0]
    return _engine().sum(_promoted(input, ty), ax, bool(keep_dims), ty)


@tensor_member
@builtin
def max(
    input: Any,
    axis: Any = None,
    return_indices: Any = False,
    return_indices_tie_break_left: Any = True,
    keep_dims: Any = False,
    reduction_ordering: Any = None,
) -> Any:
    """The maximum of ``input`` along ``axis``; with ``return_indices``, also its index.
    ``reduction_ordering`` is checked and otherwise has no effect: the result does not
    depend on the order."""
    _inner_tree(reduction_ordering)
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
    reduction_ordering: Any = None,
) -> Any:
    """The minimum of ``input`` along ``axis``; with ``return_indices``, also its index.
    ``reduction_ordering``: as for :func:`max`."""
    _inner_tree(reduction_ordering)
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
def argmax(
    input: Any,
    axis: Any,
    tie_break_left: Any = True,
    keep_dims: Any = False,
    reduction_ordering: Any = None,
) -> tensor:
    """The int32 index of the maximum of ``input`` along ``axis`` (``reduction_ordering``:
    as for :func:`max`)."""
    _inner_tree(reduction_ordering)
    ty = st.max_min_dtype(_tile(input, "argmax").dtype, True)
    ax = _resolve_axis(input, axis)
    return _engine().argmax(_promoted(input, ty), ax, bool(tie_break_left), bool(keep_dims))


@tensor_member
@builtin
def argmin(
    input: Any,
    axis: Any,
    tie_break_left: Any = True,
    keep_dims: Any = False,
    reduction_ordering: Any = None,
) -> tensor:
    """The int32 index of the minimum of ``input`` along ``axis`` (``reduction_ordering``:
    as for :func:`max`)."""
    _inner_tree(reduction_ordering)
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
