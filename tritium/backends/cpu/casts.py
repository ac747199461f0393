"""Lowering rules for casts, including fp8 (``f8E4M3FN``, ``f8E5M2``, AMD's ``f8E4M3FNUZ``
and ``f8E5M2FNUZ``, and Triton's fp8e4b15 as ``f8E4M3B11FNUZ``), which LLVM has no type for:
fp8 values are carried as their ``i8`` bit patterns and converted with integer bit
manipulation through f32 (one table, ``_FP8``, describes every format).

fp32 -> fp8 rounds to nearest even and, like Triton on NVIDIA GPUs (``cvt.rn.satfinite``) and
tritium's interpreter, saturates out-of-range values and infinities to the largest finite
value (+-448 for ``f8E4M3FN``, +-57344 for ``f8E5M2``, +-240 for ``f8E4M3FNUZ``, +-57344 for
``f8E5M2FNUZ``, +-1.75 for fp8e4b15); NaN stays NaN.
Float -> int casts saturate (``llvm.fptosi.sat``) instead of producing LLVM poison.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import llvmlite.ir as ll

from tritium.backends.cpu.llvm_utils import (
    F16,
    F32,
    F64,
    I1,
    I8,
    I16,
    I32,
    const,
    intrinsic,
    llvm_type,
    type_suffix,
)
from tritium.ir import Operation
from tritium.ir import types as irt

if TYPE_CHECKING:
    from tritium.backends.cpu.codegen import Lowering

__all__ = [
    "CAST_RULES",
    "constant",
    "constant_value",
    "convert",
    "f32_to_fp8",
    "fp8_kind",
    "fp8_to_f32",
    "is_fnuz",
    "narrow_f32",
]

Rule = Callable[["Lowering", Operation, list[ll.Value]], ll.Value]


@dataclass(frozen=True)
class _Fp8Format:
    """How one fp8 format encodes values: ``mbits`` mantissa bits, exponent ``bias``, the
    largest finite magnitude code (where conversions saturate) and the code of NaN.

    ``fnuz`` formats (AMD's) have no negative zero: 0x80 is their only NaN.
    """

    mbits: int
    bias: int
    max_code: int
    nan_code: int
    fnuz: bool = False


_FP8: dict[str, _Fp8Format] = {
    "f8E4M3FN": _Fp8Format(3, 7, 0x7E, 0x7F),  # max 448
    "f8E5M2": _Fp8Format(2, 15, 0x7B, 0x7E),  # IEEE-like (infinities); max 57344
    "f8E4M3FNUZ": _Fp8Format(3, 8, 0x7F, 0x80, fnuz=True),  # Triton's fp8e4b8; max 240
    "f8E5M2FNUZ": _Fp8Format(2, 16, 0x7F, 0x80, fnuz=True),  # Triton's fp8e5b16; max 57344
    # Triton's fp8e4b15 (it labels it f8E4M3B11FNUZ too): the e4m3fn layout with bias 15,
    # so max 1.75 and NaN 0x7F; no infinities
    "f8E4M3B11FNUZ": _Fp8Format(3, 15, 0x7E, 0x7F),
}


def _like(v: ll.Value, elt: ll.Type) -> ll.Type:
    return ll.VectorType(elt, v.type.count) if isinstance(v.type, ll.VectorType) else elt


def _c(v: ll.Value, elt: ll.Type, value: int | float) -> ll.Constant:
    w = v.type.count if isinstance(v.type, ll.VectorType) else None
    return const(elt, value, w)


def _call(
    cx: Lowering, base: str, args: list[ll.Value], ret: ll.Type, overload: list[ll.Type]
) -> ll.Value:
    name = f"llvm.{base}." + ".".join(type_suffix(t) for t in overload)
    return cx.b.call(intrinsic(cx.module, name, ret, [a.type for a in args]), args)


def is_fnuz(kind: str) -> bool:
    """Whether fp8 format ``kind`` (a key of ``_FP8``) has no negative zero (0x80 is NaN)."""
    return _FP8[kind].fnuz


def fp8_kind(t: irt.Type) -> str | None:
    """The fp8 format of ``t``'s elements (a key of ``_FP8``), or None for other types."""
    name = getattr(irt.element_type(t), "name", None)
    return name if name in _FP8 else None


def constant(op: Operation, width: int | None = None) -> ll.Constant:
    """The LLVM constant of an ``arith.constant`` (splatted to ``width`` lanes if given)."""
    t = op.results[0].type
    return const(llvm_type(t), constant_value(t, op.attrs["value"]), width)


def constant_value(t: irt.Type, value: int | float | bool) -> int | float | bool:
    """A constant value as its LLVM constant holds it: fp8 values become their bits,
    rounded once to nearest even and saturated like ``f32_to_fp8``."""
    kind = fp8_kind(t)
    if kind is None:
        return value
    fmt = _FP8[kind]
    v = float(value)
    if v != v:
        code = fmt.nan_code
    else:
        a = abs(v)
        e = max(math.frexp(a)[1] - 1, 1 - fmt.bias) if a else 1 - fmt.bias  # a's binade
        n = round(a / 2.0 ** (e - fmt.mbits)) if a != math.inf else 1 << 16  # nearest even
        code = ((e - 1 + fmt.bias) << fmt.mbits) + n  # monotonic encoding: n may carry
        code = min(code, fmt.max_code)
    negative = math.copysign(1.0, v) < 0 and not (fmt.fnuz and code == 0)
    return code | (0x80 if negative else 0)


def fp8_to_f32(cx: Lowering, bits: ll.Value, kind: str) -> ll.Value:
    """The exact f32 value of fp8 bits (NaN codes become a quiet NaN)."""
    b = cx.b
    if kind == "f8E5M2":
        # e5m2 is the top byte of an IEEE half
        h = b.shl(b.zext(bits, _like(bits, I16)), _c(bits, I16, 8))
        return b.fpext(b.bitcast(h, _like(bits, F16)), _like(bits, F32))
    fmt = _FP8[kind]
    m = fmt.mbits
    x = b.zext(bits, _like(bits, I32))
    sign = b.shl(b.lshr(x, _c(x, I32, 7)), _c(x, I32, 31))
    exp = b.and_(b.lshr(x, _c(x, I32, m)), _c(x, I32, (1 << (7 - m)) - 1))
    man = b.and_(x, _c(x, I32, (1 << m) - 1))
    normal = b.or_(
        b.shl(b.add(exp, _c(x, I32, 127 - fmt.bias)), _c(x, I32, 23)),
        b.shl(man, _c(x, I32, 23 - m)),
    )
    sub_scale = 2.0 ** (1 - fmt.bias - m)
    sub = b.bitcast(b.fmul(b.uitofp(man, _like(x, F32)), _c(x, F32, sub_scale)), _like(x, I32))
    mag = b.select(b.icmp_unsigned("==", exp, _c(x, I32, 0)), sub, normal)
    if fmt.fnuz:
        is_nan = b.icmp_unsigned("==", x, _c(x, I32, 0x80))
    else:
        is_nan = b.icmp_unsigned("==", b.and_(x, _c(x, I32, 0x7F)), _c(x, I32, 0x7F))
    mag = b.select(is_nan, _c(x, I32, 0x7FC00000), mag)
    return b.bitcast(b.or_(mag, sign), _like(x, F32))


def f32_to_fp8(cx: Lowering, x: ll.Value, kind: str) -> ll.Value:
    """Round an f32 value to fp8 (nearest even) and return its bits."""
    b = cx.b
    fmt = _FP8[kind]
    mbits, bias = fmt.mbits, fmt.bias
    bits = b.bitcast(x, _like(x, I32))
    sign = b.and_(b.lshr(bits, _c(bits, I32, 24)), _c(bits, I32, 0x80))
    a_bits = b.and_(bits, _c(bits, I32, 0x7FFFFFFF))
    a = b.bitcast(a_bits, _like(x, F32))
    shift = 23 - mbits
    lsb = b.and_(b.lshr(a_bits, _c(bits, I32, shift)), _c(bits, I32, 1))
    rounded = b.add(b.add(a_bits, _c(bits, I32, (1 << (shift - 1)) - 1)), lsb)
    normal = b.sub(b.lshr(rounded, _c(bits, I32, shift)), _c(bits, I32, (127 - bias) << mbits))
    scaled = b.fmul(a, _c(x, F32, 2.0 ** (bias - 1 + mbits)))
    sub = b.fptoui(_call(cx, "roundeven", [scaled], scaled.type, [scaled.type]), _like(x, I32))
    is_sub = b.fcmp_ordered("<", a, _c(x, F32, 2.0 ** (1 - bias)))
    code = b.select(is_sub, sub, normal)
    # every format saturates, infinities included (cvt.rn.satfinite); NaN stays NaN
    too_big = b.icmp_signed(">", code, _c(bits, I32, fmt.max_code))
    code = b.select(too_big, _c(bits, I32, fmt.max_code), code)
    code = b.select(b.fcmp_unordered("uno", x, x), _c(bits, I32, fmt.nan_code), code)
    if fmt.fnuz:  # no negative zero: 0x80 is NaN, so -0 (and what rounds to it) is +0
        zero = _c(bits, I32, 0)
        sign = b.select(b.icmp_unsigned("==", code, zero), zero, sign)
    return b.trunc(b.or_(code, sign), _like(x, I8))


def _to_f32(cx: Lowering, v: ll.Value, src: irt.Type) -> ll.Value:
    """f32 for a narrower final target: f64 sources round to odd (see _f64_to_f32_odd)."""
    name = irt.element_type(src).name  # type: ignore[attr-defined]
    if name in _FP8:
        return fp8_to_f32(cx, v, name)
    if llvm_type(src) == F64:
        return _f64_to_f32_odd(cx, v)
    return _float_convert(cx, v, llvm_type(src), F32)


def _f64_to_f32_odd(cx: Lowering, x: ll.Value) -> ll.Value:
    """f64 -> f32 rounding to odd: truncate toward zero, then set the last bit if inexact.

    Rounding to odd first and to nearest-even second rounds correctly to any format at least
    two bits narrower than f32, so f64 -> bf16/f16/fp8 round once, exactly, like the
    interpreter (and without LLVM's ``__truncdfbf2`` libcall, which the JIT cannot resolve).
    """
    b = cx.b
    r = b.fptrunc(x, _like(x, F32))
    back = b.fpext(r, x.type)
    fabs = lambda v: _call(cx, "fabs", [v], v.type, [v.type])  # noqa: E731
    bits = b.bitcast(r, _like(x, I32))
    over = b.fcmp_ordered(">", fabs(back), fabs(x))
    bits = b.select(over, b.sub(bits, _c(bits, I32, 1)), bits)
    inexact = b.fcmp_unordered("!=", b.fpext(b.bitcast(bits, r.type), x.type), x)
    bits = b.select(inexact, b.or_(bits, _c(bits, I32, 1)), bits)
    return b.bitcast(bits, r.type)


def narrow_f32(cx: Lowering, v: ll.Value, dst: ll.Type) -> ll.Value:
    """f32 -> half/bfloat, rounding to nearest even. Without AVX512-BF16/AVX-NE-CONVERT,
    LLVM lowers f32 -> bf16 to a compiler-rt call the JIT cannot resolve, so it is done here
    with integer ops (NaN stays a quiet NaN, overflow carries into infinity)."""
    b = cx.b
    if str(dst) != "bfloat" or cx.native_bf16:
        return b.fptrunc(v, _like(v, dst))
    bits = b.bitcast(v, _like(v, I32))
    lsb = b.and_(b.lshr(bits, _c(bits, I32, 16)), _c(bits, I32, 1))
    rounded = b.add(b.add(bits, _c(bits, I32, 0x7FFF)), lsb)
    is_nan = b.fcmp_unordered("uno", v, v)
    quiet = b.or_(bits, _c(bits, I32, 0x00400000))
    top = b.lshr(b.select(is_nan, quiet, rounded), _c(bits, I32, 16))
    return b.bitcast(b.trunc(top, _like(v, I16)), _like(v, dst))


def _float_convert(cx: Lowering, v: ll.Value, src: ll.Type, dst: ll.Type) -> ll.Value:
    """Between LLVM float types, every step exact or one correct rounding; 16-bit types
    always go through f32 (LLVM would otherwise call compiler-rt helpers)."""
    b = cx.b
    if src == dst:
        return v
    half = ("half", "bfloat")
    if str(src) == "bfloat":
        # bf16 is f32's top half: widen the bits. Through a bfloat value LLVM turns a phi of
        # plain and masked bf16 loads into one of bfloat vectors, which x86 without
        # AVX512-BF16 legalizes lane by lane through __truncsfbf2 calls
        bits = b.shl(b.zext(b.bitcast(v, _like(v, I16)), _like(v, I32)), _c(v, I32, 16))
        v = b.bitcast(bits, _like(v, F32))
        return v if dst == F32 else _float_convert(cx, v, F32, dst)
    if str(src) in half:
        v = b.fpext(v, _like(v, F32))
        return v if dst == F32 else _float_convert(cx, v, F32, dst)
    if str(dst) in half:
        v = _f64_to_f32_odd(cx, v) if src == F64 else v
        return narrow_f32(cx, v, dst)
    if src == F32:
        return b.fpext(v, _like(v, dst))
    return b.fptrunc(v, _like(v, dst))


def convert(
    cx: Lowering, v: ll.Value, src: irt.Type, dst: irt.Type, rounding: str = "rtne"
) -> ll.Value:
    """Convert a float value between any two float types (fp8 included)."""
    sname = irt.element_type(src).name  # type: ignore[attr-defined]
    dname = irt.element_type(dst).name  # type: ignore[attr-defined]
    if sname == dname:
        return v
    if dname in _FP8:
        f = _to_f32(cx, v, src)
        out = f32_to_fp8(cx, f, dname)
    elif sname in _FP8:
        return _float_convert(cx, fp8_to_f32(cx, v, sname), F32, llvm_type(dst))
    else:
        out = _float_convert(cx, v, llvm_type(src), llvm_type(dst))
    narrowing = irt.element_type(dst).bitwidth < irt.element_type(src).bitwidth  # type: ignore
    if rounding == "rtz" and narrowing:
        out = _toward_zero(cx, v, out, src, dst)
    return out


def _toward_zero(cx: Lowering, x: ll.Value, r: ll.Value, src: irt.Type, dst: irt.Type) -> ll.Value:
    """Turn a round-to-nearest result into round-toward-zero: step the magnitude down by one
    ulp where rounding went away from zero."""
    b = cx.b
    xf = _to_f32(cx, x, src) if irt.element_type(src).bitwidth <= 32 else x  # type: ignore
    back = convert(cx, r, dst, src if irt.element_type(src).bitwidth > 32 else irt.f32)  # type: ignore
    fabs = lambda v: _call(cx, "fabs", [v], v.type, [v.type])  # noqa: E731
    away = b.fcmp_ordered(">", fabs(back), fabs(xf))
    width = irt.element_type(dst).bitwidth  # type: ignore[attr-defined]
    ity = ll.IntType(width)
    rb = r if width == 8 else b.bitcast(r, _like(r, ity))
    stepped = b.sub(rb, _c(rb, ity, 1))
    fmt = _FP8.get(irt.element_type(dst).name)  # type: ignore[attr-defined]
    if fmt is not None and fmt.fnuz:  # -min_subnormal steps to +0, not to NaN (0x80)
        at_nan = b.icmp_unsigned("==", stepped, _c(rb, ity, 0x80))
        stepped = b.select(at_nan, _c(rb, ity, 0), stepped)
    rb = b.select(away, stepped, rb)
    return rb if width == 8 else b.bitcast(rb, r.type)


def _ext(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    dst = _like(a[0], llvm_type(op.results[0].type))
    if op.name == "arith.extsi":
        return cx.b.sext(a[0], dst)
    if op.name == "arith.extui":
        return cx.b.zext(a[0], dst)
    return cx.b.trunc(a[0], dst)


def _int_to_float(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    b = cx.b
    signed = op.name == "arith.sitofp"
    dst_t = op.results[0].type
    x = a[0]
    if irt.element_type(dst_t).bitwidth >= 32:  # type: ignore[attr-defined]
        # one correctly rounded conversion (x86-64 converts 64-bit integers directly)
        conv = b.sitofp if signed else b.uitofp
        return conv(x, _like(x, llvm_type(dst_t)))
    # 16- and 8-bit floats: exactly or round-to-odd into f64, then one rounding to the target
    src_w = x.type.element.width if isinstance(x.type, ll.VectorType) else x.type.width
    d = b.sitofp(x, _like(x, F64)) if signed else b.uitofp(x, _like(x, F64))
    if src_w > 53:
        d = _int_to_f64_odd(cx, x, d, signed)
    return convert(cx, d, irt.f64, dst_t)


def _int_to_f64_odd(cx: Lowering, x: ll.Value, d: ll.Value, signed: bool) -> ll.Value:
    """Make a nearest-even i64 -> f64 conversion ``d`` round to odd instead."""
    b = cx.b
    ity = x.type
    to_int = "fptosi.sat" if signed else "fptoui.sat"
    back = _call(cx, to_int, [d], ity, [ity, d.type])
    # only a positive value can round up to 2**63 (2**64 unsigned), past the saturating check
    huge = b.fcmp_ordered(">=", d, _c(d, F64, 2.0**63 if signed else 2.0**64))
    if signed:
        neg = b.icmp_signed("<", x, _c(x, ll.IntType(64), 0))
        away = b.select(neg, b.icmp_signed("<", back, x), b.icmp_signed(">", back, x))
    else:
        away = b.icmp_unsigned(">", back, x)
    away = b.or_(away, huge)
    bits = b.bitcast(d, _like(d, ll.IntType(64)))
    one = _c(bits, ll.IntType(64), 1)
    bits = b.select(away, b.sub(bits, one), bits)
    inexact = b.or_(huge, b.icmp_unsigned("!=", back, x))
    bits = b.select(inexact, b.or_(bits, one), bits)
    return b.bitcast(bits, d.type)


def _float_to_int(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    src_t = op.operands[0].type
    v = a[0]
    if irt.element_type(src_t).name in _FP8:  # type: ignore[attr-defined]
        v = fp8_to_f32(cx, v, irt.element_type(src_t).name)  # type: ignore[attr-defined]
    dst = _like(v, llvm_type(op.results[0].type))
    base = "fptosi.sat" if op.name == "arith.fptosi" else "fptoui.sat"
    if dst.element == I1 if isinstance(dst, ll.VectorType) else dst == I1:
        zero = _c(v, v.type.element if isinstance(v.type, ll.VectorType) else v.type, 0)
        return cx.b.fcmp_unordered("!=", v, zero)
    return _call(cx, base, [v], dst, [dst, v.type])


def _float_cast(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    rounding = op.attrs.get("rounding") or "rtne"
    return convert(cx, a[0], op.operands[0].type, op.results[0].type, rounding)


def _bitcast(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    dst = _like(a[0], llvm_type(op.results[0].type))
    if dst == a[0].type:
        return a[0]
    return cx.b.bitcast(a[0], dst)


CAST_RULES: dict[str, Rule] = {
    "arith.extsi": _ext,
    "arith.extui": _ext,
    "arith.trunci": _ext,
    "arith.sitofp": _int_to_float,
    "arith.uitofp": _int_to_float,
    "arith.fptosi": _float_to_int,
    "arith.fptoui": _float_to_int,
    "arith.extf": _float_cast,
    "arith.truncf": _float_cast,
    "tt.fp_to_fp": _float_cast,
    "arith.bitcast": _bitcast,
}
