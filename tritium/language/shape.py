"""Builtins that change a tile's shape: broadcasting, reshapes, permutations, join/split."""

from __future__ import annotations

from typing import Any

from tritium.language.args import as_int, as_shape
from tritium.language.core import _engine, builtin, tensor, tensor_member

__all__ = [
    "broadcast",
    "broadcast_to",
    "cat",
    "item",
    "expand_dims",
    "join",
    "permute",
    "reshape",
    "split",
    "trans",
    "view",
]


def _varargs_shape(shape: tuple[Any, ...], what: str) -> tuple[int, ...]:
    """``f(x, 4, 8)`` and ``f(x, (4, 8))`` both give ``(4, 8)``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return as_shape(shape, what)


def _checked_reshape(input: Any, shape: tuple[Any, ...]) -> tuple[int, ...]:  # noqa: A002
    dims = _varargs_shape(shape, "shape")
    if isinstance(input, tensor):
        n = 1
        for d in dims:
            n *= d
        if n != input.numel:
            raise ValueError(
                f"reshape cannot change the number of elements: {input.shape} "
                f"({input.numel}) to {dims} ({n})"
            )
    return dims


def _rank(x: Any) -> int:
    return len(x.shape) if isinstance(x, tensor) else 0


@builtin
def broadcast(input: Any, other: Any) -> tuple[tensor, tensor]:
    """``input`` and ``other`` broadcast to their common shape."""
    return _engine().broadcast(input, other)


@tensor_member
@builtin
def broadcast_to(input: Any, *shape: Any) -> tensor:
    """``input`` broadcast to ``shape`` (``broadcast_to(x, 4, 8)`` or ``(x, (4, 8))``)."""
    return _engine().broadcast_to(input, _varargs_shape(shape, "shape"))


@tensor_member
@builtin
def expand_dims(input: Any, axis: Any) -> tensor:
    """``input`` with new size-1 axes at ``axis`` (an int or a sequence of ints; negative
    axes count from the end of the result)."""
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    new_rank = _rank(input) + len(axes)
    resolved = []
    for a in axes:
        a = as_int(a, "axis")
        if not -new_rank <= a < new_rank:
            # Triton's wording (tests match it): "invalid axis -3. Expected -2 <= axis < 2"
            raise ValueError(
                f"expand_dims: invalid axis {a}. Expected {-new_rank} <= axis < {new_rank} "
                f"(out of range for a result of rank {new_rank})"
            )
        resolved.append(a % new_rank)
    if len(set(resolved)) != len(resolved):
        raise ValueError(
            f"expand_dims: duplicate axes, normalized axes = {resolved} (an axis is repeated "
            f"in {axes})"
        )
    result = input
    for a in sorted(resolved):
        result = _engine().expand_dims(result, a)
    return result


@tensor_member
@builtin
def reshape(input: Any, *shape: Any, can_reorder: Any = False) -> tensor:
    """``input`` reshaped to ``shape`` in row-major order; ``can_reorder=True`` lets the
    compiler order the elements as it likes."""
    return _engine().reshape(input, _checked_reshape(input, shape), bool(can_reorder))


@tensor_member
@builtin
def view(input: Any, *shape: Any) -> tensor:
    """Deprecated: ``reshape(input, shape, can_reorder=True)``."""
    return _engine().reshape(input, _checked_reshape(input, shape), True)


def _permutation(input: Any, dims: tuple[Any, ...], what: str) -> tuple[int, ...]:
    perm = _varargs_shape(dims, "dims")
    n = _rank(input)
    if sorted(perm) != list(range(n)):
        raise ValueError(f"{what}: dims must be a permutation of 0..{n - 1}, got {perm}")
    return perm


@tensor_member
@builtin
def trans(input: Any, *dims: Any) -> tensor:
    """``input`` with its axes permuted by ``dims``; with no dims, the last two axes swapped
    (a batched 2-D transpose, as in Triton)."""
    if not dims or (len(dims) == 1 and dims[0] in ((), None)):
        n = _rank(input)
        if n < 2:
            raise ValueError(
                f"trans without dims needs a tile of rank >= 2, got shape {input.shape}"
            )
        return _engine().permute(input, (*range(n - 2), n - 1, n - 2))
    return _engine().permute(input, _permutation(input, dims, "trans"))


@tensor_member
@builtin
def permute(input: Any, *dims: Any) -> tensor:
    """``input`` with its axes permuted: result axis i is input axis ``dims[i]``."""
    return _engine().permute(input, _permutation(input, dims, "permute"))


@builtin
def join(a: Any, b: Any) -> tensor:
    """``a`` and ``b`` stacked along a new minor axis of size 2."""
    return _engine().join(a, b)


@tensor_member
@builtin
def split(a: Any) -> tuple[tensor, tensor]:
    """The two halves of a tile whose last axis has size 2 (the inverse of :func:`join`)."""
    if isinstance(a, tensor) and (not a.shape or a.shape[-1] != 2):
        raise ValueError(f"split needs a tile whose last dimension is 2, got shape {a.shape}")
    return _engine().split(a)


@builtin
def cat(input: Any, other: Any, can_reorder: Any = False, dim: Any = 0) -> tensor:
    """``input`` and ``other`` concatenated along axis ``dim`` (default 0); the other
    dimensions must match."""
    dim = as_int(dim, "dim")
    if can_reorder or dim == 0 or not isinstance(input, tensor) or not isinstance(other, tensor):
        return _engine().cat(input, other, bool(can_reorder))
    rank = len(input.shape)
    if rank != len(other.shape):
        raise ValueError(f"cat: tensors must have the same rank, got {rank} and {len(other.shape)}")
    if not -rank <= dim < rank:
        raise ValueError(f"cat: dim {dim} is out of range for a tile of rank {rank}")
    dim %= rank
    if any(input.shape[i] != other.shape[i] for i in range(rank) if i != dim):
        raise ValueError(
            f"cat: tensor dims must match except in the concat dimension {dim}, got "
            f"{list(input.shape)} and {list(other.shape)}"
        )
    # join adds a minor axis of 2; moved in front of `dim` and merged with it, it puts all of
    # input's slices before other's along `dim`.
    both = _engine().join(input, other)
    order = list(range(rank))
    order.insert(dim, rank)
    both = _engine().permute(both, tuple(order))
    new_shape = list(input.shape)
    new_shape[dim] = int(input.shape[dim]) + int(other.shape[dim])
    return _engine().reshape(both, tuple(new_shape), False)


@tensor_member
@builtin
def item(input: Any) -> tensor:
    """The value of a one-element tile, as a scalar."""
    if isinstance(input, tensor) and input.shape:
        numel = 1
        for n in input.shape:
            numel *= int(n)
        if numel != 1:
            raise ValueError(f"item() needs a tile of one element, got shape {input.shape}")
        # A reduction over every axis is the one way both engines make a scalar of a tile.
        return _engine().reduce((input,), None, _first, False)[0]
    return input


def _first(a: Any, b: Any) -> Any:
    return a
