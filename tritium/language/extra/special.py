"""libdevice functions written with language operations, so both engines run them unchanged:
bit counts (``clz``, ``popc``) and the modified Bessel functions ``cyl_bessel_i0``/``i1``."""

from __future__ import annotations

import math
from typing import Any

from tritium.language import ops
from tritium.language.core import tensor
from tritium.language.dtypes import float32, float64, int32, uint32, uint64
from tritium.language.standard import helper

__all__ = ["clz", "cyl_bessel_i0", "cyl_bessel_i1", "popc"]


def _unsigned(x: Any, what: str) -> tuple[Any, int]:
    if not isinstance(x, tensor) or not x.dtype.is_int():
        raise TypeError(f"{what} needs an integer tensor, got {x!r}")
    bits = x.dtype.primitive_bitwidth
    if bits not in (32, 64):
        raise TypeError(f"{what} needs a 32- or 64-bit integer, got {x.dtype}")
    return x.to(uint32 if bits == 32 else uint64, bitcast=True), bits


@helper
def clz(x: Any) -> Any:
    """The number of leading zero bits of each 32-bit (``__nv_clz``) or 64-bit
    (``__nv_clzll``) integer, as int32 (32 or 64 for zero)."""
    u, bits = _unsigned(x, "clz")
    n = ops.full(u.shape, 0, int32) if u.shape else ops.full((), 0, int32)
    shift = bits // 2
    while shift:  # binary search for the highest set bit
        empty = (u >> (bits - shift)) == 0
        n = ops.where(empty, n + shift, n)
        u = ops.where(empty, u << shift, u)
        shift //= 2
    return ops.where((u >> (bits - 1)) == 0, n + 1, n)


@helper
def popc(x: Any) -> Any:
    """The number of set bits of each 32-bit (``__nv_popc``) or 64-bit (``__nv_popcll``)
    integer, as int32."""
    u, bits = _unsigned(x, "popc")
    m1, m2, m4 = (
        int("55" * (bits // 8), 16),
        int("33" * (bits // 8), 16),
        int("0f" * (bits // 8), 16),
    )
    u = u - ((u >> 1) & m1)
    u = (u & m2) + ((u >> 2) & m2)
    u = (u + (u >> 4)) & m4
    u = (u * int("01" * (bits // 8), 16)) >> (bits - 8)  # the bytes' sum lands in the top byte
    return u.to(int32)


# The power series' terms are all positive, so summing them in fp64 loses nothing; up to
# |x| = 30 the 64th term is negligible. Past that, Hankel's asymptotic series (its 10th term
# is below 1e-19 there) gives e**x / sqrt(2 pi x) times a short sum.
_SERIES_TERMS = 64
_ASYMPTOTIC_FROM = 30.0
_ASYMPTOTIC_TERMS = 10


def _bessel_i(x: Any, order: int) -> Any:
    if not isinstance(x, tensor):
        raise TypeError(f"cyl_bessel_i{order} needs a tensor, got {x!r}")
    out_ty = x.dtype if x.dtype.is_floating() and x.dtype.primitive_bitwidth >= 32 else float32
    if not x.dtype.is_floating() and not x.dtype.is_int():
        raise TypeError(f"cyl_bessel_i{order} needs a numeric tensor, got {x.dtype}")
    a = ops.abs(x.to(float64))
    q = a * a * 0.25
    term = a * 0.5 if order else ops.full(a.shape, 1.0, float64)
    total = term
    for k in range(1, _SERIES_TERMS):
        term = term * q / float(k * (k + order))
        total = total + term
    big = ops.maximum(a, _ASYMPTOTIC_FROM)  # keeps the unused lanes finite
    mu = 4.0 * order * order
    coef, inv, acc = 1.0, 1.0 / (8.0 * big), ops.full(a.shape, 1.0, float64)
    power = inv
    for k in range(1, _ASYMPTOTIC_TERMS):
        coef *= -(mu - (2 * k - 1) ** 2) / k
        acc = acc + power * coef
        power = power * inv
    asym = ops.exp(big) / ops.sqrt(big * (2.0 * math.pi)) * acc
    asym = ops.where(a == math.inf, math.inf, asym)
    result = ops.where(a < _ASYMPTOTIC_FROM, total, asym)
    if order:  # I1 is odd
        result = ops.where(x.to(float64) < 0, -result, result)
    return result.to(out_ty)


@helper
def cyl_bessel_i0(x: Any) -> Any:
    """The modified Bessel function of the first kind of order 0 (``__nv_cyl_bessel_i0``)."""
    return _bessel_i(x, 0)


@helper
def cyl_bessel_i1(x: Any) -> Any:
    """The modified Bessel function of the first kind of order 1 (``__nv_cyl_bessel_i1``)."""
    return _bessel_i(x, 1)
