"""Exact value semantics on NumPy arrays: casts, integer division, shifts.

Everything here works on plain ``np.ndarray`` values of an ``IType``'s ``np`` dtype
(``to_memory``/``from_memory`` convert to and from the bits memory holds, which differ for
fp8e4b15 only).

* Float downcasts round to nearest even (or toward zero with ``rtz``) *once*, from the exact
  source value: ml_dtypes converts float64 and integers through float32, which rounds twice,
  so we first round to float32 with round-to-odd (exact when followed by one more rounding
  to a format with at least two fewer mantissa bits).
* Conversions to fp8 saturate to the largest finite value (``cvt.rn.satfinite``, what
  Triton does on NVIDIA GPUs), fp8 -> fp8 included; NaN stays NaN.
* Float -> integer conversions truncate toward zero and saturate: NaN gives 0, values beyond
  the range give its minimum or maximum (LLVM's ``fptosi.sat``, what compiled code does).
* Integer ``//`` and ``%`` truncate toward zero as in C; integer arithmetic wraps around.

NumPy's floating point warnings are silenced for a whole launch by ``run_kernel``, not here.
"""

from __future__ import annotations

import numpy as np

from .itypes import BOOL, F8E4B15, F8E4NV, F32, F64, IType

__all__ = [
    "cast_array",
    "bitcast_array",
    "to_memory",
    "from_memory",
    "c_div",
    "c_mod",
    "shift_left",
    "shift_right",
    "exact_float64",
]


def _round_odd_f32(x: np.ndarray) -> np.ndarray:
    """float64 -> float32 with round-to-odd (inexact results get their last bit set)."""
    with np.errstate(over="ignore", invalid="ignore"):
        r = x.astype(np.float32)
        inexact = (r.astype(np.float64) != x) & ~np.isnan(x)
    if not inexact.any():
        return r
    # Truncate toward zero, then make the last mantissa bit 1 (the sticky bit).
    too_big = np.abs(r.astype(np.float64)) > np.abs(x)
    t = np.where(too_big & inexact, np.nextafter(r, np.float32(0)), r)
    bits = t.view(np.uint32) | np.where(inexact, np.uint32(1), np.uint32(0))
    return bits.view(np.float32)


def exact_float64(a: np.ndarray, src: IType) -> np.ndarray:
    """Values of ``a`` as float64; 64-bit integers beyond 2**53 are rounded to odd."""
    f = a.astype(np.float64)
    if src.kind in ("int", "uint") and src.bits == 64:
        big = np.abs(f) > 2.0**53
        if big.any():
            flat = f.reshape(-1).copy()
            src_flat = a.reshape(-1)
            for i in np.flatnonzero(big.reshape(-1)):
                n = int(src_flat[i])
                m = abs(n)
                shift = m.bit_length() - 53
                q = m >> shift
                if m & ((1 << shift) - 1):
                    q |= 1
                flat[i] = float(q << shift) * (1 if n >= 0 else -1)
            f = flat.reshape(a.shape)
    return f


def _to_small_float(x64: np.ndarray, dst: IType, rtz: bool) -> np.ndarray:
    """Round float64 values to a float type narrower than float32, exactly once."""
    x32 = _round_odd_f32(x64)
    with np.errstate(over="ignore", invalid="ignore"):
        r = x32.astype(dst.np)
    if dst.is_fp8:
        r = _saturate_fp8(r, x64, dst)
    if rtz:
        r = _toward_zero(r, x64, dst)
    return r


def _saturate_fp8(r: np.ndarray, x: np.ndarray, dst: IType) -> np.ndarray:
    finfo = _finfo(dst)
    big = ~np.isnan(x) & (np.abs(x) > float(finfo))
    if big.any():
        r = r.copy()
        r[big] = np.where(x[big] > 0, finfo, -finfo).astype(dst.np)
    return r


def _finfo(dst: IType) -> np.generic:
    import ml_dtypes

    return ml_dtypes.finfo(dst.np).max


def _toward_zero(r: np.ndarray, x: np.ndarray, dst: IType) -> np.ndarray:
    """Step results that rounded away from zero one unit back toward zero."""
    rf = r.astype(np.float64)
    with np.errstate(invalid="ignore"):
        away = (np.abs(rf) > np.abs(x)) | (np.isnan(rf) & ~np.isnan(x))
    if not away.any():
        return r
    # Sign-magnitude encoding: subtracting one from the bits moves one step toward zero;
    # from infinity (or an fp8 NaN that stands for overflow) it lands on the largest finite.
    uint = {1: np.uint8, 2: np.uint16, 4: np.uint32}[dst.np.itemsize]
    bits = r.view(uint).copy()
    bits[away] -= uint(1)
    if dst.is_fp8 and dst.np.name.endswith("fnuz"):  # 0x80 is NaN: -min_subnormal steps to +0
        bits[away & (bits == 0x80)] = 0
    out = bits.view(dst.np)
    if dst.is_fp8:
        out = _saturate_fp8(out, x, dst)
    return out


def cast_array(a: np.ndarray, src: IType, dst: IType, rounding: str | None = None) -> np.ndarray:
    """Convert values of type ``src`` to type ``dst`` with Triton's semantics.

    ``rounding`` is ``None``/``"rtne"`` or ``"rtz"`` (float downcasts only).
    """
    if src is dst:
        return a
    rtz = rounding == "rtz"
    if rounding not in (None, "rtne", "rtz"):
        raise ValueError(f"fp_downcast_rounding must be 'rtne' or 'rtz', not {rounding!r}")
    if dst is BOOL:
        return a != 0
    if dst.kind in ("int", "uint"):
        if src.is_float:
            # fptosi/fptoui: truncate toward zero. NaN and out-of-range lanes are poison in
            # Triton (LLVM's fptosi); tritium saturates in both modes, as the compiled code's
            # llvm.fptosi.sat does (and Rust's `as`): NaN -> 0, beyond the range -> min/max.
            f = np.trunc(a.astype(np.float64))
            info = np.iinfo(dst.np)
            nan, low = np.isnan(f), f < float(info.min)
            high = f >= float(info.max) + 1.0  # 2**(bits-1) or 2**bits, exact in float64
            bad = nan | low | high
            if not bad.any():
                return f.astype(dst.np)
            r = np.where(bad, 0.0, f).astype(dst.np)
            r[low] = info.min
            r[high] = info.max
            return r
        return a.astype(dst.np)  # wrap, sign- or zero-extend by the source
    # dst is a float.
    if src is BOOL:
        return a.astype(np.float32).astype(dst.np)
    if dst is F64:  # one correctly rounded conversion (round-to-odd is for narrower dsts)
        return a.astype(np.float64)
    if dst is F32:
        if src.kind in ("int", "uint") or src is F64:
            if rtz and src is F64:
                return _toward_zero(a.astype(np.float32), a.astype(np.float64), F32)
            return a.astype(np.float32)  # one correctly rounded C conversion
        return a.astype(np.float32)  # widening from a small float is exact
    # dst narrower than float32
    if src.is_float and src.bits < dst.bits and src.mant <= dst.mant:
        return a.astype(dst.np)  # exact widening (fp8 -> fp16/bf16)
    # fp8 -> fp8 rounds and saturates: the exponent ranges differ
    x64 = exact_float64(a, src) if not src.is_float else a.astype(np.float64)
    if dst is F8E4B15:
        return _e4m3fn_to_e4b15(_to_small_float(x64 * _E4B15_SCALE, F8E4NV, rtz))
    return _to_small_float(x64, dst, rtz)


# fp8e4b15 is e4m3fn with an exponent bias 8 larger: same bits, values scaled by 2**-8
_E4B15_SCALE = 2.0**8


def _e4m3fn_to_e4b15(r: np.ndarray) -> np.ndarray:
    """fp8e4b15 values (as float16, exactly) of the e4m3fn values ``r`` scaled by 2**-8."""
    return (r.astype(np.float32) / np.float32(_E4B15_SCALE)).astype(np.float16)


def to_memory(a: np.ndarray, t: IType) -> np.ndarray:
    """Values of type ``t`` as memory holds them (fp8e4b15 values become bit patterns)."""
    if t.storage is None:
        return a
    return (a.astype(np.float32) * np.float32(_E4B15_SCALE)).astype(F8E4NV.np).view(t.storage)


def from_memory(a: np.ndarray, t: IType) -> np.ndarray:
    """The inverse of :func:`to_memory`."""
    if t.storage is None:
        return a
    return _e4m3fn_to_e4b15(np.ascontiguousarray(a).view(F8E4NV.np))


def bitcast_array(a: np.ndarray, src: IType, dst: IType) -> np.ndarray:
    """Reinterpret the bits of ``a`` as ``dst`` (same width required)."""
    if src.bits != dst.bits:
        raise ValueError(
            f"cannot bitcast {src.name} to {dst.name}: bit widths differ ({src.bits} vs {dst.bits})"
        )
    if src is BOOL or dst is BOOL:
        return a.astype(dst.np)
    bits = np.ascontiguousarray(to_memory(a, src)).view(dst.mem_np)
    return from_memory(bits, dst)


def c_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer division truncating toward zero (C / LLVM sdiv, udiv); x // 0 gives 0."""
    if a.dtype.kind == "u":
        return np.floor_divide(a, b)
    r = np.fmod(a, b)
    return np.floor_divide(a - r, np.where(b == 0, 1, b).astype(b.dtype)) * (b != 0)


def c_mod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Remainder with the sign of the dividend (C / LLVM srem, frem)."""
    return np.fmod(a, b)


def shift_left(a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    """``a << b`` wrapping at the type's width; shifts of the width or more give 0."""
    bb = b.astype(a.dtype)
    return np.where((b >= 0) & (b < bits), np.left_shift(a, bb % bits), 0).astype(a.dtype)


def shift_right(a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    """``a >> b``: arithmetic for signed types, logical for unsigned ones."""
    bb = np.clip(b, 0, bits - 1).astype(a.dtype)
    out = np.right_shift(a, bb)
    if a.dtype.kind == "u":
        out = np.where(b < bits, out, 0).astype(a.dtype)
    return out
