"""Induction variables of replayed loops: carried pointers advanced by a fixed step.

Triton's tutorial kernels walk memory by advancing a carried pointer tile every iteration
(``a_ptrs += BLOCK_K * stride_ak``, ``p += BLOCK``, ``bp = tl.advance(bp, (0, BLOCK))``).
The loads of such a loop read a value carried from the previous iteration, so
:mod:`.loops` would have to run them iteration by iteration.  But when the step is the same
in every iteration (built only from values made before the loop), the pointer of iteration
``r`` of a batch is ``p + r * step``: this module finds those carried values in a recording
(:func:`find`) and builds their values for a batch of iterations at once (:func:`rows`), so
that the loads and stores through them run for the whole batch as for ``ptr + i + offs``.

All of it is exact.  Only integer, pointer and block-pointer values qualify, whose update is
modular addition: the step is measured on the real update (``step = f(p) - p`` in the
value's own wrapping integer type), and ``p + r * step`` wraps as ``r`` repeated additions
do.  Float values never qualify (``x + c + c`` is not ``x + 2 * c`` in floating point).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .tile import BlockPtr, Tile

__all__ = ["find", "row", "rows"]

#: Updates that add the same amount every iteration when their other operand is invariant.
_UPDATES = ("add", "sub", "advance")


def find(trace: Any, n: int, canon: dict[int, int], invariant: Any) -> dict[int, list[int]]:
    """Carried slots of ``trace`` that are induction variables: slot -> the indices of the
    operations (in order) that compute the next iteration's value from this one, each adding
    or subtracting an invariant amount (``h += 300; h = h - 1`` is two).  ``invariant(e)``
    tells whether an encoded operand is the same in every iteration (refers to nothing
    carried)."""
    aliased = {g[1] for _, g in trace.guards if g[0] == "alias"}
    kinds = {j: g[0] for j, g in trace.guards}
    found: dict[int, list[int]] = {}
    for j in range(1, n):
        if kinds.get(j) != "tile" or j in aliased:
            continue
        me = ("r", j, ())
        cur = trace.outs[j]
        chain: list[int] = []
        while cur != me and len(chain) < 8:
            if cur[0] != "r" or cur[2] != () or cur[1] < n:
                break
            k = canon.get(cur[1], cur[1]) - n
            name, args, kw = trace.ops[k]
            if name not in _UPDATES or kw or len(args) != 2:
                break
            chain.append(k)
            if invariant(args[1]):
                cur = args[0]
            elif name == "add" and invariant(args[0]):
                cur = args[1]
            else:
                break
        if cur == me and chain:
            found[j] = chain[::-1]
    return found


def _integer(t: Tile) -> bool:
    return t.ty.kind in ("int", "uint", "ptr") and t.ovf is None and t.a.shape[0] == 1


def rows(p0: Any, p1: Any, count: np.ndarray) -> Any:
    """The value after ``count[r]`` updates, one row per entry of ``count`` (int64), given the
    value ``p0`` and its update ``p1``; None when ``p1`` is not ``p0`` plus a fixed step."""
    if type(p0) is Tile:
        if type(p1) is not Tile or p1.ty is not p0.ty or p1.a.shape != p0.a.shape:
            return None
        if not _integer(p0) or p1.ovf is not None or p1.prov is not p0.prov:
            return None
        a0 = p0.a
        step = p1.a - a0  # wraps in the value's own type, as the update did
        k = count.astype(a0.dtype).reshape((-1,) + (1,) * (a0.ndim - 1))
        flat = step.reshape(-1)
        if flat.size and (flat == flat[0]).all():
            step = flat[:1].reshape((1,) * a0.ndim)  # one step for every lane (the usual)
        return Tile(a0 + k * step, p0.ty, p0.prov)
    if type(p0) is BlockPtr:
        if (
            type(p1) is not BlockPtr
            or p1.base is not p0.base
            or p1.dims is not p0.dims
            or p1.strides is not p0.strides
            or p1.block_shape != p0.block_shape
            or p1.order != p0.order
            or any(o.shape != (1,) for o in (*p0.offsets, *p1.offsets))
        ):
            return None
        offs = [o0 + count * (o1 - o0) for o0, o1 in zip(p0.offsets, p1.offsets)]
        return BlockPtr(p0.base, p0.dims, p0.strides, offs, p0.block_shape, p0.order)
    return None


def row(x: Any, r: int) -> Any:
    """Row ``r`` of a batch value (a value the same in every row is itself); None for values
    that are not tiles."""
    if type(x) is BlockPtr:
        if all(o.shape[0] == 1 for o in x.offsets):
            return x
        offs = [o[r : r + 1] if o.shape[0] > 1 else o for o in x.offsets]
        return BlockPtr(x.base, x.dims, x.strides, offs, x.block_shape, x.order)
    if type(x) is Tile:
        return Tile(x.a[r : r + 1], x.ty, x.prov) if x.a.shape[0] > 1 else x
    return None
