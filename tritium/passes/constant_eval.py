"""Evaluating arith/math ops on constant scalars, exactly as the hardware would.

``evaluate(op_name, attrs, operand_types, result_type, values)`` returns the constant result
of one elementwise op on Python scalars, or ``None`` when the op cannot (or must not) be
folded: undefined results (division by zero, ``INT_MIN / -1``, shifts by the bit width or
more, float-to-int conversions out of range, NaN to int), types whose rounding is not
implemented here (bf16, fp8), and transcendental functions, whose values depend on the
target's math library.

Integers are signless bit patterns: an ``iN`` value is read modulo 2**N and interpreted as
signed or unsigned by the op. Results are returned as signed Python ints (``bool`` for
``i1``). Floats are computed in binary64 and rounded once to the result type; for +, -, *, /,
sqrt and fmod this gives the correctly rounded result for f16 and f32 too, because binary64
has more than twice their precision plus two bits.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from tritium.ir.types import FloatType, IntType, Type, element_type

__all__ = ["evaluate", "normalize", "FOLDABLE"]

Scalar = int | float | bool

# float types whose rounding from binary64 this module implements
_FLOAT_ROUND: dict[str, Callable[[float], float]] = {
    "f64": float,
    "f32": lambda x: float(np.float32(x)),
    "f16": lambda x: float(np.float16(x)),
}


def normalize(value: Scalar, t: Type) -> Scalar | None:
    """``value`` in the canonical form for constants of element type ``t``, or None if this
    module cannot represent it exactly."""
    elem = element_type(t)
    if isinstance(elem, IntType):
        v = int(value) & ((1 << elem.width) - 1)
        if elem.width == 1:
            return bool(v)
        return v - (1 << elem.width) if v >> (elem.width - 1) else v
    if isinstance(elem, FloatType):
        rnd = _FLOAT_ROUND.get(elem.name)
        if rnd is None:
            return None
        with np.errstate(all="ignore"):
            return rnd(float(value))
    return None


def _u(v: Scalar, w: int) -> int:
    return int(v) & ((1 << w) - 1)


def _s(v: Scalar, w: int) -> int:
    u = _u(v, w)
    return u - (1 << w) if u >> (w - 1) else u


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _int_binary(name: str, a: Scalar, b: Scalar, w: int) -> int | None:
    ua, ub, sa, sb = _u(a, w), _u(b, w), _s(a, w), _s(b, w)
    if name in ("divsi", "remsi"):
        if sb == 0 or (sa == -(1 << (w - 1)) and sb == -1):
            return None  # undefined behaviour at run time: leave it to the program
        q = _trunc_div(sa, sb)
        return q if name == "divsi" else sa - sb * q
    if name in ("divui", "remui"):
        if ub == 0:
            return None
        return ua // ub if name == "divui" else ua % ub
    if name in ("shli", "shrsi", "shrui") and ub >= w:
        return None
    table: dict[str, Callable[[], int]] = {
        "addi": lambda: ua + ub,
        "subi": lambda: ua - ub,
        "muli": lambda: ua * ub,
        "andi": lambda: ua & ub,
        "ori": lambda: ua | ub,
        "xori": lambda: ua ^ ub,
        "shli": lambda: ua << ub,
        "shrsi": lambda: sa >> ub,
        "shrui": lambda: ua >> ub,
        "maxsi": lambda: max(sa, sb),
        "minsi": lambda: min(sa, sb),
        "maxui": lambda: max(ua, ub),
        "minui": lambda: min(ua, ub),
        "mulhiui": lambda: (ua * ub) >> w,
    }
    fn = table.get(name)
    return None if fn is None else fn()


_CMPI: dict[str, Callable[[int, int, int, int], bool]] = {
    "eq": lambda ua, ub, sa, sb: ua == ub,
    "ne": lambda ua, ub, sa, sb: ua != ub,
    "slt": lambda ua, ub, sa, sb: sa < sb,
    "sle": lambda ua, ub, sa, sb: sa <= sb,
    "sgt": lambda ua, ub, sa, sb: sa > sb,
    "sge": lambda ua, ub, sa, sb: sa >= sb,
    "ult": lambda ua, ub, sa, sb: ua < ub,
    "ule": lambda ua, ub, sa, sb: ua <= ub,
    "ugt": lambda ua, ub, sa, sb: ua > ub,
    "uge": lambda ua, ub, sa, sb: ua >= ub,
}


def _cmpf(pred: str, a: float, b: float) -> bool | None:
    unordered = math.isnan(a) or math.isnan(b)
    rel = {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}
    if pred == "ord":
        return not unordered
    if pred == "uno":
        return unordered
    if pred in ("true", "false"):
        return pred == "true"
    if pred[0] == "o":
        return not unordered and rel[pred[1:]]
    if pred[0] == "u":
        return unordered or rel[pred[1:]]
    return None


def _max_min(name: str, a: float, b: float) -> float:
    if name in ("maximumf", "minimumf") and (math.isnan(a) or math.isnan(b)):
        return math.nan
    if name in ("maxnumf", "minnumf"):
        if math.isnan(a):
            return b
        if math.isnan(b):
            return a
    if a == b == 0.0:  # -0.0 orders below +0.0
        neg_a = math.copysign(1.0, a) < 0
        pick_a = neg_a if name.startswith("min") else not neg_a
        return a if pick_a else b
    return max(a, b) if name.startswith("max") else min(a, b)


def _round_half_away(v: float) -> float:
    """C's ``round``: to the nearest integer, halves away from zero (``floor(x + 0.5)`` would
    be wrong for 0.49999999999999994, whose sum with 0.5 rounds up to 1.0)."""
    if math.isnan(v) or math.isinf(v):
        return v
    whole = math.floor(abs(v))
    frac = abs(v) - whole  # exact: both are doubles of the same binade or smaller
    r = float(whole + 1 if frac >= 0.5 else whole)
    return math.copysign(r, v)


def _float_op(name: str, vals: list[float]) -> float | None:
    x = [np.float64(v) for v in vals]
    with np.errstate(all="ignore"):
        if name == "addf":
            return float(x[0] + x[1])
        if name == "subf":
            return float(x[0] - x[1])
        if name == "mulf":
            return float(x[0] * x[1])
        if name in ("divf", "precise_divf"):
            return float(x[0] / x[1])
        if name == "remf":
            return float(np.fmod(x[0], x[1]))
        if name == "negf":
            return float(-x[0])
        if name == "absf":
            return float(abs(x[0]))
        if name in ("sqrt", "precise_sqrt"):
            return float(np.sqrt(x[0]))
        if name in ("floor", "ceil", "trunc", "roundeven"):
            fn = {"floor": np.floor, "ceil": np.ceil, "trunc": np.trunc, "roundeven": np.rint}
            return float(fn[name](x[0]))  # np.rint rounds halves to even
        if name == "round":
            return _round_half_away(vals[0])
        if name in ("maximumf", "minimumf", "maxnumf", "minnumf"):
            return _max_min(name, vals[0], vals[1])
    return None


FOLDABLE = frozenset(
    [
        f"arith.{n}"
        for n in (
            "addi subi muli divsi divui remsi remui andi ori xori shli shrsi "
            "shrui maxsi minsi maxui minui addf subf mulf divf remf negf "
            "maximumf minimumf maxnumf minnumf cmpi cmpf select extsi extui "
            "trunci sitofp uitofp fptosi fptoui extf truncf"
        ).split()
    ]
    + [
        "tt.mulhiui",
        "tt.precise_divf",
        "tt.precise_sqrt",
        "math.absi",
        "math.absf",
        "math.sqrt",
        "math.floor",
        "math.ceil",
        "math.trunc",
        "math.round",
        "math.roundeven",
    ]
)


def _cast(name: str, v: Scalar, src: Type, dst: Type) -> Scalar | None:
    if isinstance(src, IntType) and isinstance(dst, IntType):
        return _s(v, src.width) if name == "extsi" else _u(v, src.width)
    if isinstance(src, IntType) and isinstance(dst, FloatType):
        i = _s(v, src.width) if name == "sitofp" else _u(v, src.width)
        if abs(i) >= 1 << 53 and dst.name != "f64":
            return None  # int -> double would round, then double -> dst would round again
        return float(i)
    if isinstance(src, FloatType) and isinstance(dst, IntType):
        f = float(v)
        if math.isnan(f) or math.isinf(f):
            return None
        t = math.trunc(f)
        lo, hi = (
            (-(1 << (dst.width - 1)), (1 << (dst.width - 1)))
            if name == "fptosi"
            else (0, 1 << dst.width)
        )
        return t if lo <= t < hi else None
    if isinstance(src, FloatType) and isinstance(dst, FloatType):
        return float(v)  # normalize() rounds to the result type
    return None


def evaluate(
    name: str,
    attrs: dict[str, object],
    operand_types: list[Type],
    result_type: Type,
    values: list[Scalar],
) -> Scalar | None:
    """The constant result of op ``name`` on ``values``; None if it must not be folded."""
    if name not in FOLDABLE:
        return None
    short = name.split(".", 1)[1]
    src = element_type(operand_types[-1])
    dst = element_type(result_type)
    for t in [*operand_types, result_type]:
        elem = element_type(t)
        if isinstance(elem, FloatType) and elem.name not in _FLOAT_ROUND:
            return None
    result: Scalar | None
    if short == "select":
        result = values[1] if values[0] else values[2]
    elif short == "cmpi":
        assert isinstance(src, IntType)
        w = src.width
        pred = _CMPI.get(str(attrs.get("predicate")))
        if pred is None:
            return None
        result = pred(_u(values[0], w), _u(values[1], w), _s(values[0], w), _s(values[1], w))
    elif short == "cmpf":
        result = _cmpf(str(attrs.get("predicate")), float(values[0]), float(values[1]))
    elif short in (
        "extsi",
        "extui",
        "trunci",
        "sitofp",
        "uitofp",
        "fptosi",
        "fptoui",
        "extf",
        "truncf",
    ):
        result = _cast(short, values[0], src, dst)
    elif short == "absi":
        assert isinstance(dst, IntType)
        result = abs(_s(values[0], dst.width))
    elif isinstance(dst, IntType):
        result = _int_binary(short, values[0], values[1], dst.width)
    else:
        result = _float_op(short, [float(v) for v in values])
    return None if result is None else normalize(result, result_type)
