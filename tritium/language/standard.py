"""Language helpers: functions written with builtins and operators, run by every engine.

Triton defines these as ``@jit`` library functions. Here they are plain Python: an engine
calls them like any other Python code inside a kernel and sees only the builtins they
call, so no engine has to implement them. They carry ``__tritium_builtin__`` so that a
frontend calls them directly instead of compiling them as ``@jit`` callees.

The ``*_combine`` functions are the combine functions of the standard reductions; engines
that lower ``sum``/``max``/... through their generic ``reduce`` may pass them along.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tritium.language import ops, reduction, shape
from tritium.language.core import tensor, tensor_member, unwrap_constexpr
from tritium.language.type_rules import is_scalar, scalar_dtype

__all__ = [
    "bitonic_merge",
    "cdiv",
    "helper",
    "interleave",
    "max_combine",
    "min_combine",
    "or_combine",
    "prod_combine",
    "ravel",
    "reduce_or",
    "sigmoid",
    "softmax",
    "squeeze",
    "sum_combine",
    "swizzle2d",
    "to_tensor",
    "unsqueeze",
    "xor_combine",
    "zeros",
    "zeros_like",
]

F = TypeVar("F", bound=Callable[..., Any])


def helper(fn: F) -> F:
    """Mark ``fn`` as a language helper that engines run as ordinary Python."""
    fn.__tritium_builtin__ = True  # type: ignore[attr-defined]
    return fn


@tensor_member
@helper
def cdiv(x: Any, div: Any) -> Any:
    """``ceil(x / div)`` for non-negative integers: ``(x + div - 1) // div``."""
    x, div = unwrap_constexpr(x), unwrap_constexpr(div)
    return (x + div - 1) // div


@helper
def zeros(shape: Any, dtype: Any) -> tensor:
    """A tile of ``shape`` filled with zeros of ``dtype``."""
    return ops.full(shape, 0, dtype)


@helper
def zeros_like(input: Any) -> tensor:
    """A tile of zeros with the shape and dtype of ``input``."""
    return ops.full(input.shape, 0, input.dtype)


@tensor_member
@helper
def sigmoid(x: Any) -> tensor:
    """``1 / (1 + exp(-x))`` elementwise."""
    return 1 / (1 + ops.exp(-x))


@tensor_member
@helper
def softmax(x: Any, dim: Any = None, keep_dims: Any = False, ieee_rounding: Any = False) -> tensor:
    """``exp(x - max(x)) / sum(exp(x - max(x)))`` along ``dim`` (default 0)."""
    dim = 0 if unwrap_constexpr(dim) is None else dim
    z = x - reduction.max(x, dim, keep_dims=True)
    num = ops.exp(z)
    den = reduction.sum(num, dim, keep_dims=True)
    # The result has x's shape either way; keep_dims is accepted for Triton's signature.
    return ops.fdiv(num, den, ieee_rounding)


@tensor_member
@helper
def ravel(x: Any, can_reorder: Any = False) -> tensor:
    """``x`` flattened to one dimension."""
    return shape.reshape(x, x.numel, can_reorder=can_reorder)


@helper
def swizzle2d(i: Any, j: Any, size_i: Any, size_j: Any, size_g: Any) -> tuple[Any, Any]:
    """Map row-major index ``(i, j)`` of a ``size_i x size_j`` grid to column-major order
    within groups of ``size_g`` rows, which improves L2 reuse in tiled matmuls."""
    ij = i * size_j + j
    size_gj = size_g * size_j
    group_id = ij // size_gj
    off_i = group_id * size_g
    group_rows = ops.minimum(size_i - off_i, size_g)
    ij = ij % size_gj
    return off_i + ij % group_rows, ij // group_rows


@helper
def interleave(a: Any, b: Any) -> tensor:
    """The elements of ``a`` and ``b`` interleaved along the last axis."""
    c = shape.join(a, b)
    if len(c.shape) == 1:
        return c
    return shape.reshape(c, c.shape[:-2] + (2 * c.shape[-2],))


@tensor_member
@helper
def squeeze(x: Any, dim: Any) -> tensor:
    """``x`` without its axis ``dim``, which must have size 1."""
    shp = tuple(x.shape)
    dim = unwrap_constexpr(dim)
    dim = dim % len(shp) if isinstance(dim, int) and shp else dim
    if not isinstance(dim, int) or not 0 <= dim < len(shp) or shp[dim] != 1:
        raise ValueError(f"squeeze: axis {dim} of a tile of shape {list(shp)} is not of size 1")
    return shape.reshape(x, shp[:dim] + shp[dim + 1 :])


@tensor_member
@helper
def unsqueeze(x: Any, dim: Any) -> tensor:
    """``x`` with a new axis of size 1 at ``dim`` (``expand_dims`` of one axis)."""
    shp = tuple(x.shape)
    dim = unwrap_constexpr(dim)
    if not isinstance(dim, int) or not 0 <= dim <= len(shp):
        raise ValueError(f"unsqueeze: axis {dim} is out of range for a tile of rank {len(shp)}")
    return shape.reshape(x, shp[:dim] + (1,) + shp[dim:])


@helper
def to_tensor(x: Any) -> tensor:
    """``x`` as a tensor: tensors unchanged, a Python scalar as a 0-d tensor of the dtype
    :func:`~tritium.language.type_rules.scalar_dtype` gives it."""
    x = unwrap_constexpr(x)
    if isinstance(x, tensor):
        return x
    if not is_scalar(x):
        raise TypeError(f"cannot convert {x!r} of type {type(x).__name__} to a tensor")
    return ops.full((), x, scalar_dtype(x))


@tensor_member
@helper
def reduce_or(input: Any, axis: Any, keep_dims: Any = False) -> tensor:  # noqa: A002
    """The bitwise or of the integer tile ``input`` along ``axis``."""
    if isinstance(input, tensor) and not input.dtype.is_int():
        raise TypeError(f"reduce_or needs an integer tile, got {input.dtype}")
    return reduction.reduce(input, axis, or_combine, keep_dims=keep_dims)


@helper
def bitonic_merge(x: Any, dim: Any = None, descending: Any = False) -> tensor:
    """Merge the bitonic sequences of ``x`` along ``dim`` (default: last) into sorted order.

    On a bitonic input this equals sorting, which is how it is expressed here.
    """
    return reduction.sort(x, dim, descending)


# --------------------------------------------------------------------------------------------
# combine functions of the standard reductions
# --------------------------------------------------------------------------------------------


def sum_combine(a: Any, b: Any) -> Any:
    """``a + b``."""
    return a + b


def prod_combine(a: Any, b: Any) -> Any:
    """``a * b``."""
    return a * b


def max_combine(a: Any, b: Any) -> Any:
    """``maximum(a, b)``."""
    return ops.maximum(a, b)


def min_combine(a: Any, b: Any) -> Any:
    """``minimum(a, b)``."""
    return ops.minimum(a, b)


def or_combine(a: Any, b: Any) -> Any:
    """``a | b``."""
    return a | b


def xor_combine(a: Any, b: Any) -> Any:
    """``a ^ b``."""
    return a ^ b
