"""Known-affine tiles: the fast paths of the interpreter's loop bodies.

A loop such as ``for i in range(0, n, BLOCK): m = i + offs < n; x = tl.load(p + i + offs,
mask=m)`` makes the same kinds of tiles every iteration: ``offs`` is ``tl.arange``, the
offsets are ``arange`` plus a scalar, the mask is a prefix (all lanes, or the first ``k`` of
the last block), the pointers are contiguous.  Analysing such arrays every time (a gather
index, a bounds check over every lane, ``np.where`` with the mask) costs 15-20 small NumPy
calls per access.  Instead the engine records what it knows when it makes the tile
(``Tile.aff``, see :class:`~.tile.Tile`) and keeps it through ``+``/``-`` with scalars and
pointer offsets, and through comparisons with a scalar; a load or store of a known-contiguous
pointer under a known prefix mask is then one bounds check in Python and one slice.

Everything here is exact: an ``aff`` is recorded only when it describes the array lane for
lane (integer ranges that would wrap around their type are not recorded), and every access
the fast path cannot prove in bounds goes the general way, which reports it.  With the
sanitizer on (which logs every lane) the general path is always used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .itypes import BOOL, IType
from .tile import Tile

__all__ = ["affine_offset", "affine_shift", "prefix_compare", "prefix_mask", "scalar_int"]

#: Prefix masks by ``(N, k)``: read-only, shared by every tile that has that mask.
_PREFIX: dict[tuple[int, int], np.ndarray] = {}
_PREFIX_LIMIT = 4096


def scalar_int(x: Any) -> tuple[int, IType | None] | None:
    """``(value, type)`` of a uniform signed-integer scalar operand (type ``None`` for a Python
    int in the int32 range), or ``None`` when ``x`` is anything else."""
    if type(x) is int or (isinstance(x, int) and not isinstance(x, bool)):
        if -(2**31) <= x < 2**31:
            return int(x), None
        return None
    if isinstance(x, Tile) and x.ty.kind == "int" and x.ovf is None and x.a.shape == (1,):
        return int(x.a[0]), x.ty
    return None


def _result_type(t: IType, u: IType | None) -> IType | None:
    """The type of ``tile <op> scalar`` for a signed-integer tile of type ``t``, or ``None``
    where the fast path does not apply (it then takes the general path)."""
    if u is None or u is t:
        return t if t.bits >= 32 else None
    if u.kind == "int" and t.bits >= 32:
        return t if t.bits >= u.bits else u
    return None


def affine_shift(x: Tile, v: Any, sign: int) -> Tile | None:
    """``x + v`` (``sign`` 1) or ``x - v`` (``sign`` -1) for an integer tile ``x`` with a known
    ``aff`` and a uniform integer scalar ``v``; ``None`` when that does not apply."""
    s = scalar_int(v)
    if s is None or x.ovf is not None or x.ty.kind != "int":
        return None
    ct = _result_type(x.ty, s[1])
    if ct is None:
        return None
    n = x.a.shape[1]
    start = x.aff + sign * s[0]  # type: ignore[operator]
    lo, hi = -(1 << (ct.bits - 1)), (1 << (ct.bits - 1)) - 1
    if start < lo or start + n - 1 > hi:
        return None  # it would wrap around: the general path computes the wrapped values
    return Tile(np.arange(start, start + n, dtype=ct.np)[None], ct, None, None, start)


def affine_offset(ptr: Tile, off: Any, sign: int) -> Tile | None:
    """``ptr + off`` (``sign`` 1) or ``ptr - off`` (``sign`` -1) when the result is a
    known-contiguous pointer tile: a uniform scalar pointer plus a known-affine integer tile,
    or a known-contiguous pointer tile plus or minus a uniform integer scalar; else ``None``."""
    assert ptr.ty.elem is not None
    isz = ptr.ty.elem.itemsize
    if ptr.aff is None:
        if (
            sign != 1
            or not isinstance(off, Tile)
            or off.aff is None
            or off.ty.kind != "int"
            or off.ovf is not None
            or ptr.a.shape != (1,)
        ):
            return None
        n = off.a.shape[1]
        start = int(ptr.a[0]) + off.aff * isz
    else:
        s = scalar_int(off)
        if s is None:
            return None
        n = ptr.a.shape[1]
        start = ptr.aff + sign * s[0] * isz
    if not -(2**62) <= start <= 2**62:
        return None  # (addresses wrap around int64 in the general path)
    return Tile(
        np.arange(start, start + n * isz, isz, dtype=np.int64)[None], ptr.ty, ptr.prov, None, start
    )


def prefix_mask(n: int, k: int) -> np.ndarray:
    """The bool array of shape ``(1, n)`` whose first ``k`` lanes are true (read-only)."""
    key = (n, k)
    m = _PREFIX.get(key)
    if m is None:
        if len(_PREFIX) >= _PREFIX_LIMIT:
            _PREFIX.clear()
        m = np.zeros((1, n), bool)
        m[0, :k] = True
        m.flags.writeable = False
        _PREFIX[key] = m
    return m


def prefix_compare(lhs: Any, rhs: Any, op: str) -> Tile | None:
    """``lhs < rhs`` style comparisons of a known-affine integer tile with a uniform integer
    scalar whose result is a prefix mask; ``None`` where that does not apply."""
    if isinstance(lhs, Tile) and lhs.aff is not None and lhs.ty.kind == "int":
        x, v = lhs, rhs
    elif isinstance(rhs, Tile) and rhs.aff is not None and rhs.ty.kind == "int":
        x, v = rhs, lhs
        op = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}[op]  # v < x is x > v
    else:
        return None
    if op not in ("lt", "le"):
        return None  # x > v is a suffix, not a prefix
    s = scalar_int(v)
    if s is None or _result_type(x.ty, s[1]) is None:
        return None
    n = x.a.shape[1]
    # x[j] = aff + j (exact), so x[j] < v  <=>  j < v - aff
    k = s[0] - x.aff + (1 if op == "le" else 0)
    k = min(max(k, 0), n)
    return Tile(prefix_mask(n, k), BOOL, None, None, k)
