"""Elementwise math of the engine: ``tl.exp``/``tl.sqrt``/..., ``tl.math`` and libdevice names.

A function the op table has becomes that op; a few others are built exactly from bit
operations (copysign, signbit, trunc) or computed in a wider type (exp10, log10 of fp32).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from tritium.frontend.engine_arith import ArithMixin
from tritium.frontend.tile import Tile
from tritium.ir.ops import OPS
from tritium.language import dtypes as ldt

__all__ = ["MathMixin"]

# tl.math functions that map to one IR op on a float operand.
_UNARY_MATH_OPS = {
    "exp": "math.exp",
    "exp2": "math.exp2",
    "log": "math.log",
    "log2": "math.log2",
    "cos": "math.cos",
    "sin": "math.sin",
    "sqrt": "math.sqrt",
    "rsqrt": "math.rsqrt",
    "floor": "math.floor",
    "ceil": "math.ceil",
    "erf": "math.erf",
    "tan": "math.tan",
    "tanh": "math.tanh",
    "log1p": "math.log1p",
    "sqrt_rn": "tt.precise_sqrt",
}

# log2(10) as a double plus the double nearest to the rest, for an exp10 within ~1 ulp in fp64.
_LOG2_10 = Decimal("3.3219280948873623478703194294893901758648313930245806")
_LOG2_10_HI = float(_LOG2_10)
_LOG2_10_LO = float(_LOG2_10 - Decimal(_LOG2_10_HI))
# 1/ln(10) the same way, for an fp64 log10 whose product with log(x) adds no rounding error.
_INV_LN10 = Decimal("0.43429448190325182765112891891660508229439700580366656611")
_INV_LN10_HI = float(_INV_LN10)
_INV_LN10_LO = float(_INV_LN10 - Decimal(_INV_LN10_HI))


# libdevice names whose op in the table is spelled differently
_OP_ALIASES = {"pow": "powf", "rint": "roundeven", "nearbyint": "roundeven"}


class MathMixin(ArithMixin):
    """Math functions on float tiles (integers are converted to fp32)."""

    def float_operand(self, x: Any, fn: str) -> Tile:
        """``x`` as a float tile; integers are converted to fp32."""
        t = self.to_tile(x)
        if t.dtype.is_int():
            return self.cast(t, ldt.float32)
        if not t.dtype.is_floating():
            raise TypeError(f"{fn} needs a numeric operand, got {t.dtype}")
        return t

    def _unary_math(self, fn: str, x: Any) -> Tile:
        t = self.float_operand(x, fn)
        return self.emit_like(_UNARY_MATH_OPS[fn], [t], t.dtype)

    def exp(self, x: Any) -> Tile:
        """e**x."""
        return self._unary_math("exp", x)

    def exp2(self, x: Any) -> Tile:
        """2**x."""
        return self._unary_math("exp2", x)

    def log(self, x: Any) -> Tile:
        """Natural logarithm."""
        return self._unary_math("log", x)

    def log2(self, x: Any) -> Tile:
        """Base-2 logarithm."""
        return self._unary_math("log2", x)

    def cos(self, x: Any) -> Tile:
        """Cosine."""
        return self._unary_math("cos", x)

    def sin(self, x: Any) -> Tile:
        """Sine."""
        return self._unary_math("sin", x)

    def sqrt(self, x: Any) -> Tile:
        """Square root."""
        return self._unary_math("sqrt", x)

    def sqrt_rn(self, x: Any) -> Tile:
        """Correctly rounded square root."""
        return self._unary_math("sqrt_rn", x)

    def rsqrt(self, x: Any) -> Tile:
        """1 / sqrt(x)."""
        return self._unary_math("rsqrt", x)

    def floor(self, x: Any) -> Tile:
        """Round toward -inf."""
        return self._unary_math("floor", x)

    def ceil(self, x: Any) -> Tile:
        """Round toward +inf."""
        return self._unary_math("ceil", x)

    def erf(self, x: Any) -> Tile:
        """The error function."""
        return self._unary_math("erf", x)

    def abs(self, x: Any) -> Tile:
        """Absolute value; unsigned integers are returned unchanged."""
        t = self.to_tile(x)
        if t.dtype.is_floating():
            return self.emit_like("math.absf", [t], t.dtype)
        if t.dtype.is_int_signed():
            return self.emit_like("math.absi", [t], t.dtype)
        if t.dtype.is_int():
            return t
        raise TypeError(f"abs needs a numeric operand, got {t.dtype}")

    def _float_pair(self, x: Any, y: Any, fn: str) -> tuple[Tile, Tile]:
        a, b = self.binary_operands(x, y, "fdiv")
        if a.dtype.is_int():
            a, b = self.cast(a, ldt.float32), self.cast(b, ldt.float32)
        if not a.dtype.is_floating():
            raise TypeError(f"{fn} needs numeric operands, got {a.dtype}")
        return a, b

    def div_rn(self, x: Any, y: Any) -> Tile:
        """Correctly rounded division."""
        a, b = self._float_pair(x, y, "div_rn")
        return self.emit_like("tt.precise_divf", [a, b], a.dtype)

    def fdiv(self, x: Any, y: Any, ieee_rounding: bool = False) -> Tile:
        """Floating point division (correctly rounded if ``ieee_rounding``)."""
        a, b = self._float_pair(x, y, "fdiv")
        name = "tt.precise_divf" if ieee_rounding else "arith.divf"
        return self.emit_like(name, [a, b], a.dtype)

    def umulhi(self, x: Any, y: Any) -> Tile:
        """High half of the unsigned product of two integers."""
        a, b = self.binary_operands(x, y, "umulhi")
        if not a.dtype.is_int():
            raise TypeError(f"umulhi needs integer operands, got {a.dtype}")
        return self.emit_like("tt.mulhiui", [a, b], a.dtype)

    def math(self, name: str, args: tuple[Any, ...]) -> Tile:
        """The ``tl.math``/libdevice function ``name``, for those the compiler implements."""
        if name in _UNARY_MATH_OPS and len(args) == 1:
            return self._unary_math(name, args[0])
        op = f"math.{_OP_ALIASES.get(name, name)}"
        if op in OPS and name not in ("absi", "absf", "fma"):
            # an op of the table (the backends lower it per lane, e.g. to libm)
            floats = [self.float_operand(a, name) for a in args]
            if len(floats) == 2:
                floats = list(self._float_pair(floats[0], floats[1], name))
            return self.emit_like(op, floats, floats[0].dtype)
        composite = _COMPOSITES.get(name)
        if composite is None:
            raise NotImplementedError(f"tl.math.{name} is not supported by the compiler yet")
        return composite(self, *args)

    def _fmod(self, x: Any, y: Any) -> Tile:
        a, b = self._float_pair(x, y, "fmod")
        return self.emit_like("arith.remf", [a, b], a.dtype)

    def _rcp(self, x: Any) -> Tile:
        return self.truediv(1.0, self.float_operand(x, "rcp"))

    def _isnan(self, x: Any) -> Tile:
        t = self.float_operand(x, "isnan")
        out = self.emit_like("arith.cmpf", [t, t], ldt.int1, {"predicate": "uno"})
        return self.cast(out, ldt.int32)  # libdevice returns int32

    def _isinf(self, x: Any, finite: bool = False) -> Tile:
        t = self.float_operand(x, "isfinite" if finite else "isinf")
        inf = self.constant(math.inf, t.dtype, t.shape)
        pred = "one" if finite else "oeq"
        out = self.emit_like("arith.cmpf", [self.abs(t), inf], ldt.int1, {"predicate": pred})
        return self.cast(out, ldt.int32)

    def _trunc(self, x: Any) -> Tile:
        t = self.float_operand(x, "trunc")
        return self.where(self.lt(t, 0.0), self.ceil(t), self.floor(t))

    def _fdim(self, x: Any, y: Any) -> Tile:
        a, b = self._float_pair(x, y, "fdim")
        diff = self.emit_like("arith.subf", [a, b], a.dtype)
        # a NaN operand gives NaN: diff is NaN and `diff < 0` is false
        return self.where(self.lt(diff, 0.0), 0.0, diff)

    def _log10(self, x: Any) -> Tile:
        t = self.float_operand(x, "log10")
        if not t.dtype.is_fp64():
            # in fp64 the product's rounding error vanishes when rounded back
            wide = self.cast(t, ldt.float64)
            return self.cast(self.mul(self._unary_math("log", wide), 1 / math.log(10)), t.dtype)
        # fp64: log(x) times 1/ln(10) as a double-double (the product's error by fma), so the
        # result is log's error plus one rounding (log(x) * 0.4342... rounded twice was up
        # to 3 ulp off).
        y = self._unary_math("log", t)
        p = self.mul(y, _INV_LN10_HI)
        e = self.fma(y, _INV_LN10_LO, self.fma(y, _INV_LN10_HI, self.neg(p)))
        return self.where(self.lt(self.abs(p), math.inf), self.add(p, e), p)

    def _exp10(self, x: Any) -> Tile:
        t = self.float_operand(x, "exp10")
        if not t.dtype.is_fp64():
            wide = self.cast(t, ldt.float64)
            return self.cast(self._unary_math("exp2", self.mul(wide, _LOG2_10_HI)), t.dtype)
        # fp64: 10**x = 2**p * 2**e with p = x*log2(10) rounded and e the small rest (the
        # product's error, by fma, plus x times log2(10)'s own rest): 2**e ~ 1 + e*ln(2).
        p = self.mul(t, _LOG2_10_HI)
        err = self.fma(t, _LOG2_10_HI, self.neg(p))
        e = self.fma(t, _LOG2_10_LO, err)
        big = self._unary_math("exp2", p)
        fixed = self.fma(big, self.mul(e, math.log(2.0)), big)
        ok = self.logical_and(self.lt(self.abs(p), math.inf), self.lt(self.abs(big), math.inf))
        return self.where(ok, fixed, big)

    def _sign_bits(self, name: str, args: tuple[Any, ...]) -> Tile:
        """copysign and signbit on the float's bits (exact, also for -0.0 and NaN)."""
        if name == "signbit":
            t = self.float_operand(args[0], name)
            bits = self.cast(t, ldt.dtype(f"int{t.dtype.primitive_bitwidth}"), None, True)
            return self.cast(self.lt(bits, 0), ldt.int32)
        a, b = self._float_pair(args[0], args[1], name)
        ity = ldt.dtype(f"int{a.dtype.primitive_bitwidth}")
        sign = -(2 ** (a.dtype.primitive_bitwidth - 1))
        ia, ib = self.cast(a, ity, None, True), self.cast(b, ity, None, True)
        mag = self.and_(ia, ~sign)
        return self.cast(self.or_(mag, self.and_(ib, sign)), a.dtype, None, True)


_COMPOSITES: dict[str, Any] = {
    "fmod": MathMixin._fmod,
    "rcp": MathMixin._rcp,
    "isnan": MathMixin._isnan,
    "isinf": MathMixin._isinf,
    "isfinite": lambda self, x: self._isinf(x, True),
    "trunc": MathMixin._trunc,
    "fdim": MathMixin._fdim,
    "log10": MathMixin._log10,
    "exp10": MathMixin._exp10,
    "copysign": lambda self, x, y: self._sign_bits("copysign", (x, y)),
    "signbit": lambda self, x: self._sign_bits("signbit", (x,)),
}
