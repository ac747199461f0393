"""Elementwise operators, math functions and casts of the interpreter engine.

fp16/bf16/fp8 arithmetic runs in float32 and rounds back once (exact for +, -, *, / and
sqrt, since float32 has more than twice their precision plus two bits); transcendental
functions run in float64 and round once to the result type, so the interpreter is at
least as accurate as any compiled kernel it is compared with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .affine import affine_offset, affine_shift, prefix_compare
from .engine_base import PLAIN_INTS, EngineBase, align, cached_const
from .itypes import BOOL, F32, F64, I32, I64, IType, computation_type, from_lang
from .numerics import bitcast_array, c_div, c_mod, cast_array, shift_left, shift_right
from .tile import Overflow, Tile

__all__ = ["ArithMixin"]

_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1
#: The types of :meth:`ArithMixin._fast3` (no rounding step, no promotion with Python numbers)
_FAST_TYPES = frozenset((F32, F64, I32, I64))


def _round_f32(r: np.ndarray, ct: IType) -> np.ndarray:
    """A float32 result rounded to the small float type ``ct``."""
    if ct.is_fp8:
        return cast_array(r, F32, ct)
    return r.astype(ct.np)  # NumPy (fp16) and ml_dtypes (bf16) round float32 to nearest even


_SCIPY: list[Any] = []  # scipy.special (or None), imported on first use: it costs ~0.3-1.5 s


def _scipy_special() -> Any:
    if not _SCIPY:
        try:
            import scipy.special as sp
        except ImportError:  # pragma: no cover - scipy is optional
            sp = None
        _SCIPY.append(sp)
    return _SCIPY[0]


def _vectorize(fn: Callable[..., float]) -> Callable[..., np.ndarray]:
    vf = np.vectorize(fn, otypes=[np.float64])
    return lambda *xs: vf(*xs)


def _special(name: str, fallback: Callable[..., float] | None) -> Callable[..., np.ndarray]:
    """scipy.special's ``name`` (else ``fallback`` vectorized), looked up at the first call."""
    impl: list[Callable[..., np.ndarray]] = []

    def call(*xs: np.ndarray) -> np.ndarray:
        if not impl:
            impl.append(_special_now(name, fallback))
        return impl[0](*xs)

    return call


def _special_now(name: str, fallback: Callable[..., float] | None) -> Callable[..., np.ndarray]:
    sp = _scipy_special()
    if sp is not None and hasattr(sp, name):
        return getattr(sp, name)
    if fallback is None:

        def missing(*xs: np.ndarray) -> np.ndarray:
            raise NotImplementedError(f"tl.math.{name} needs scipy in the interpreter")

        return missing
    return _vectorize(fallback)


def _erfinv_fallback(y: float) -> float:
    if not -1.0 < y < 1.0:
        return math.copysign(math.inf, y) if abs(y) == 1.0 else math.nan
    x = 0.0
    for _ in range(60):  # Newton on erf(x) - y
        x -= (math.erf(x) - y) / (2.0 / math.sqrt(math.pi) * math.exp(-x * x))
    return x


def _nan_on_error(fn: Callable[[float], float], x: float) -> float:
    """``fn(x)``, or C's answer where Python raises: inf at poles, NaN for domain errors."""
    try:
        return fn(x)
    except OverflowError:
        return math.inf
    except ValueError:  # the poles of gamma/lgamma (0, -1, -2, ...)
        return math.inf if fn is math.lgamma or x == 0 else math.nan


def _remainder(x: float, y: float) -> float:
    """IEEE remainder; NaN where C's remainder() gives NaN (Python raises instead)."""
    try:
        return math.remainder(x, y)
    except ValueError:  # remainder(x, 0), remainder(inf, y)
        return math.nan


def _fdim(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """C's fdim: ``x - y`` if ``x > y`` else +0, and NaN if either operand is NaN."""
    return np.where(np.isnan(x) | np.isnan(y), np.nan, np.where(x > y, x - y, 0.0))


def _c_round(x: np.ndarray) -> np.ndarray:
    """C's round(): halfway cases away from zero."""
    r = np.trunc(x)
    return np.where(np.abs(x - r) >= 0.5, r + np.sign(x), r)


# name -> float64 implementation of the tl.math extras (Engine.math)
_MATH_F64: dict[str, Callable[..., np.ndarray]] = {
    "tan": np.tan,
    "tanh": np.tanh,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "log10": np.log10,
    "log1p": np.log1p,
    "expm1": np.expm1,
    "exp10": lambda x: np.power(10.0, x),
    "cbrt": np.cbrt,
    "rcp": lambda x: 1.0 / x,
    "trunc": np.trunc,
    "round": _c_round,
    "rint": np.rint,
    "nearbyint": np.rint,
    # libm (through Python's math) is more accurate than scipy's cephes for these
    "erfc": _vectorize(math.erfc),
    "erfinv": _special("erfinv", _erfinv_fallback),
    "lgamma": _vectorize(lambda x: _nan_on_error(math.lgamma, x)),
    "tgamma": _vectorize(lambda x: _nan_on_error(math.gamma, x)),
    "j0": _special("j0", None),
    "j1": _special("j1", None),
    "y0": _special("y0", None),
    "y1": _special("y1", None),
    "normcdf": lambda x: 0.5 * _vectorize(math.erfc)(-x / math.sqrt(2.0)),
    "pow": np.power,
    "atan2": np.arctan2,
    "hypot": np.hypot,
    "fmod": np.fmod,
    "remainder": _vectorize(lambda x, y: _remainder(x, y)),
    "copysign": np.copysign,
    "fdim": _fdim,
}
_ERF = _vectorize(math.erf)

# For results of at most 32 bits, scipy's vectorized cephes functions are far more accurate
# than needed and much faster than libm called element by element.
# (used only where scipy is installed)
_MATH_F32_FAST: dict[str, Callable[..., np.ndarray]] = {
    "erf": _special("erf", None),
    "erfc": _special("erfc", None),
    "lgamma": _special("gammaln", None),
    "tgamma": _special("gamma", None),
}


class ArithMixin(EngineBase):
    """Operators, comparisons, math and casts (see :mod:`tritium.language.engine_protocol`)."""

    # -- binary arithmetic ----------------------------------------------------------------------

    def _arith(
        self,
        name: str,
        lhs: Any,
        rhs: Any,
        fn: Callable[[Any, Any], Any],
        div_or_mod: bool = False,
        int_only: bool = False,
    ) -> Tile:
        (la, ra), ct, _ = self.promote(lhs, rhs, div_or_mod=div_or_mod)
        if int_only and ct.is_float:
            raise TypeError(
                f"invalid operands of type {ct.name}: operator {name} needs integer operands"
            )
        # (floating point warnings are off for the whole launch: see launcher.run_kernel)
        if ct.is_float and ct.bits < 32:
            r = _round_f32(fn(la.astype(np.float32), ra.astype(np.float32)), ct)
        elif ct is BOOL and name in ("+", "-", "*"):
            r = (fn(la.astype(np.uint8), ra.astype(np.uint8)) & 1).astype(bool)
        else:
            r = fn(la, ra)
        ovf = None
        if self.sanitize:
            ovf = self.merge_ovf(r.shape, lhs, rhs)
            if ct is I32 and name in ("+", "-", "*", "<<"):
                if name == "<<":
                    exact = la.astype(np.int64) << np.clip(ra, 0, 32).astype(np.int64)
                else:
                    exact = fn(la.astype(np.int64), ra.astype(np.int64))
                bad = (exact < _I32_MIN) | (exact > _I32_MAX)
                if bad.any():
                    ovf = self._new_overflow(name, exact, bad, ovf)
        return Tile(r, ct, None, ovf)

    def _new_overflow(
        self, name: str, exact: np.ndarray, bad: np.ndarray, prev: Overflow | None
    ) -> Overflow:
        bad = np.broadcast_to(bad, exact.shape)
        first = int(np.flatnonzero(bad.reshape(-1))[0])
        g = first // max(1, exact[0].size)
        pid = self.describe_pid(int(self.lane_programs(exact.shape[0])[g]))
        detail = (
            f"int32 '{name}' gives {int(exact.reshape(-1)[first])} in program {pid}, "
            "outside [-2147483648, 2147483647]"
        )
        mask = bad if prev is None else (bad | prev.mask)
        where = self.location() if prev is None else prev.where
        return Overflow(mask, where, detail if prev is None else prev.detail)

    def _ptr_offset(self, ptr: Tile, off: Any, sign: int) -> Tile:
        assert ptr.ty.elem is not None
        if (
            type(off) is Tile
            and off.a.shape == (1,)
            and off.ovf is None
            and off.ty.kind in ("int", "uint")
        ):
            v = int(off.a[0])  # a uniform integer scalar (a loop variable): its exact value
            if -(2**31) <= v < 2**32:
                off = v
        if type(off) in PLAIN_INTS and -(2**31) <= off < 2**32:
            # a Python int (a loop variable): int32 or uint32, so its int64 value is itself
            step = off * ptr.ty.elem.itemsize * sign
            a = ptr.a
            v = int(a[0]) + step if a.shape == (1,) else None
            if v is not None and -(2**63) <= v < 2**63:
                addr = np.array([v], np.int64)  # (NumPy scalars are slow)
            else:
                addr = a + np.int64(step)
            ovf = self.merge_ovf(addr.shape, ptr) if self.sanitize else None
            aff = ptr.aff + step if ptr.aff is not None and ovf is None else None
            return Tile(addr, ptr.ty, ptr.prov, ovf, aff)
        if ptr.ovf is None:
            fast = affine_offset(ptr, off, sign)
            if fast is not None:
                return fast
        o = off if isinstance(off, Tile) else self.to_tile(off)
        if not o.ty.is_int:
            raise TypeError(f"pointer offsets must be integers, got {o.ty.name}")
        step = ptr.ty.elem.itemsize * sign
        # int64 offsets: sign- or zero-extended by the offset's type (same-dtype NumPy ops are
        # much cheaper than mixed ones on small tiles)
        pa, oa = ptr.a, o.a.astype(np.int64, copy=False)
        fresh = oa is not o.a  # a new array: the steps below may reuse it (no more allocations)
        if step != 1:
            oa = np.multiply(oa, step, out=oa) if fresh else oa * step
            fresh = True
        if pa.ndim != oa.ndim:
            rank = max(pa.ndim, oa.ndim) - 1
            pa, oa = align(pa, rank), align(oa, rank)
        if fresh and oa.size > 1 and pa.size == 1:
            addr = np.add(oa, pa, out=oa)
        else:
            addr = pa + oa
        ovf = self.merge_ovf(addr.shape, ptr, o) if self.sanitize else None
        return Tile(addr, ptr.ty, ptr.prov, ovf)

    def _fast3(self, lhs: Any, rhs: Any, fn: Callable[[Any, Any], Any]) -> Tile | None:
        """``+``, ``-`` or ``*`` without promotion: two tiles of one shape and one type, or a
        tile and a Python number that keeps its type; fp32/fp64, and int32/int64 when the
        sanitizer (which checks int32 overflow) is off.  ``None``: the general path."""
        if type(lhs) is Tile:
            t, x, y = lhs.ty, lhs, rhs
        elif type(rhs) is Tile:
            t, x, y = rhs.ty, rhs, lhs
        else:
            return None
        if t not in _FAST_TYPES or x.ovf is not None or (self.sanitize and t.kind == "int"):
            return None
        if type(y) is Tile:
            if y.ty is not t or y.a.shape != x.a.shape or y.ovf is not None:
                return None
            return Tile(fn(lhs.a, rhs.a), t)
        ty = type(y)
        if ty is float:
            if t.kind != "float":
                return None
        elif ty not in PLAIN_INTS:
            return None
        elif not -(2**31) <= y < 2**31:
            return None
        c = cached_const(y, t)
        return Tile(fn(x.a, c) if x is lhs else fn(c, x.a), t)

    def add(self, lhs: Any, rhs: Any) -> Tile:
        if isinstance(lhs, Tile):
            if lhs.ty.is_ptr:
                return self._ptr_offset(lhs, rhs, 1)
            if lhs.aff is not None and (r := affine_shift(lhs, rhs, 1)) is not None:
                return r
        if isinstance(rhs, Tile):
            if rhs.ty.is_ptr:
                return self._ptr_offset(rhs, lhs, 1)
            if rhs.aff is not None and (r := affine_shift(rhs, lhs, 1)) is not None:
                return r
        r = self._fast3(lhs, rhs, np.add)
        return r if r is not None else self._arith("+", lhs, rhs, np.add)

    def sub(self, lhs: Any, rhs: Any) -> Tile:
        if isinstance(lhs, Tile):
            if lhs.ty.is_ptr:
                if isinstance(rhs, Tile) and rhs.ty.is_ptr:
                    raise TypeError("subtracting two pointers is not supported")
                return self._ptr_offset(lhs, rhs, -1)
            if lhs.aff is not None and (r := affine_shift(lhs, rhs, -1)) is not None:
                return r
        r = self._fast3(lhs, rhs, np.subtract)
        return r if r is not None else self._arith("-", lhs, rhs, np.subtract)

    def mul(self, lhs: Any, rhs: Any) -> Tile:
        r = self._fast3(lhs, rhs, np.multiply)
        return r if r is not None else self._arith("*", lhs, rhs, np.multiply)

    def truediv(self, lhs: Any, rhs: Any) -> Tile:
        (la, ra), ct, _ = self.promote(lhs, rhs, div_or_mod=True)
        if not ct.is_float:  # int / int divides in fp32, as Triton does
            la, ra, ct = cast_array(la, ct, F32), cast_array(ra, ct, F32), F32
        if ct.bits < 32:
            r = _round_f32(la.astype(np.float32) / ra.astype(np.float32), ct)
        else:
            r = la / ra
        return Tile(r, ct)

    def floordiv(self, lhs: Any, rhs: Any) -> Tile:
        return self._arith("//", lhs, rhs, c_div, div_or_mod=True, int_only=True)

    def mod(self, lhs: Any, rhs: Any) -> Tile:
        return self._arith("%", lhs, rhs, c_mod, div_or_mod=True)

    def and_(self, lhs: Any, rhs: Any) -> Tile:
        return self._arith("&", lhs, rhs, np.bitwise_and, int_only=True)

    def or_(self, lhs: Any, rhs: Any) -> Tile:
        return self._arith("|", lhs, rhs, np.bitwise_or, int_only=True)

    def xor(self, lhs: Any, rhs: Any) -> Tile:
        return self._arith("^", lhs, rhs, np.bitwise_xor, int_only=True)

    def lshift(self, lhs: Any, rhs: Any) -> Tile:
        bits = self._int_bits(lhs, rhs)
        return self._arith("<<", lhs, rhs, lambda a, b: shift_left(a, b, bits), int_only=True)

    def rshift(self, lhs: Any, rhs: Any) -> Tile:
        bits = self._int_bits(lhs, rhs)
        # Arithmetic or logical by ``lhs``'s own signedness, before promotion (as compiled).
        signed = lhs.ty.is_int and lhs.ty.signed if isinstance(lhs, Tile) else None

        def shift(a: Any, b: Any) -> Any:
            if signed is None or (a.dtype.kind == "i") == signed:
                return shift_right(a, b, bits)
            other = a.dtype.str.replace("u", "i") if signed else a.dtype.str.replace("i", "u")
            return shift_right(a.view(other), b, bits).view(a.dtype)

        return self._arith(">>", lhs, rhs, shift, int_only=True)

    def _int_bits(self, lhs: Any, rhs: Any) -> int:
        ct = computation_type(
            self.type_of(lhs),
            not isinstance(lhs, Tile),
            self.type_of(rhs),
            not isinstance(rhs, Tile),
        )
        return ct.bits

    # -- comparisons ----------------------------------------------------------------------------

    def _compare(self, lhs: Any, rhs: Any, fn: Callable[[Any, Any], Any]) -> Tile:
        lp = isinstance(lhs, Tile) and lhs.ty.is_ptr
        rp = isinstance(rhs, Tile) and rhs.ty.is_ptr
        if lp or rp:
            la = self.to_tile(lhs).a
            ra = self.to_tile(rhs).a
            rank = max(la.ndim, ra.ndim) - 1
            return Tile(fn(align(la, rank), align(ra, rank)), BOOL)
        (la, ra), _, _ = self.promote(lhs, rhs)
        return Tile(np.asarray(fn(la, ra)), BOOL)

    def lt(self, lhs: Any, rhs: Any) -> Tile:
        r = prefix_compare(lhs, rhs, "lt")
        return r if r is not None else self._compare(lhs, rhs, np.less)

    def le(self, lhs: Any, rhs: Any) -> Tile:
        r = prefix_compare(lhs, rhs, "le")
        return r if r is not None else self._compare(lhs, rhs, np.less_equal)

    def gt(self, lhs: Any, rhs: Any) -> Tile:
        r = prefix_compare(lhs, rhs, "gt")
        return r if r is not None else self._compare(lhs, rhs, np.greater)

    def ge(self, lhs: Any, rhs: Any) -> Tile:
        r = prefix_compare(lhs, rhs, "ge")
        return r if r is not None else self._compare(lhs, rhs, np.greater_equal)

    def eq(self, lhs: Any, rhs: Any) -> Tile:
        return self._compare(lhs, rhs, np.equal)

    def ne(self, lhs: Any, rhs: Any) -> Tile:
        return self._compare(lhs, rhs, np.not_equal)

    def logical_and(self, lhs: Any, rhs: Any) -> Tile:
        a, b = self.bool_array(lhs), self.bool_array(rhs)
        rank = max(a.ndim, b.ndim) - 1
        return Tile(align(a, rank) & align(b, rank), BOOL)

    def logical_or(self, lhs: Any, rhs: Any) -> Tile:
        a, b = self.bool_array(lhs), self.bool_array(rhs)
        rank = max(a.ndim, b.ndim) - 1
        return Tile(align(a, rank) | align(b, rank), BOOL)

    def logical_not(self, operand: Any) -> Tile:
        return Tile(~self.bool_array(operand), BOOL)

    # -- unary ----------------------------------------------------------------------------------

    def neg(self, operand: Any) -> Tile:
        x = self.to_tile(operand)
        if x.ty.is_ptr:
            raise TypeError("cannot negate a pointer")
        if x.ty.is_float:
            # a sign flip, as Triton's fneg (0 - x gave +0 for +0, and e5m2's -inf rounded
            # back to fp8 saturated to -57344); fnuz formats keep 0 and their NaN (ml_dtypes)
            return Tile(np.negative(x.a), x.ty, None, x.ovf)  # the overflow taint follows
        return self._arith("-", 0, x, np.subtract) if x.ty is not BOOL else x

    def pos(self, operand: Any) -> Tile:
        return self.to_tile(operand)

    def invert(self, operand: Any) -> Tile:
        x = self.to_tile(operand)
        if not x.ty.is_int:
            raise TypeError(f"~ needs an integer operand, got {x.ty.name}")
        return Tile(np.invert(x.a), x.ty, None, x.ovf)

    def _float_unary(self, x: Any, fn: Callable[[np.ndarray], np.ndarray], name: str = "") -> Tile:
        t = self.to_tile(x)
        if t.ty.is_ptr:
            raise TypeError("math functions need numbers, got a pointer")
        ty = t.ty if t.ty.is_float else F32
        if ty.bits <= 32 and name in _MATH_F32_FAST and _scipy_special() is not None:
            fn = _MATH_F32_FAST[name]
        r = fn(t.a.astype(np.float64))
        return Tile(cast_array(np.asarray(r, np.float64), F64, ty), ty)

    def exp(self, x: Any) -> Tile:
        return self._float_unary(x, np.exp)

    def exp2(self, x: Any) -> Tile:
        return self._float_unary(x, np.exp2)

    def log(self, x: Any) -> Tile:
        return self._float_unary(x, np.log)

    def log2(self, x: Any) -> Tile:
        return self._float_unary(x, np.log2)

    def cos(self, x: Any) -> Tile:
        return self._float_unary(x, np.cos)

    def sin(self, x: Any) -> Tile:
        return self._float_unary(x, np.sin)

    def sqrt(self, x: Any) -> Tile:
        return self._float_unary(x, np.sqrt)

    def sqrt_rn(self, x: Any) -> Tile:
        return self._float_unary(x, np.sqrt)

    def rsqrt(self, x: Any) -> Tile:
        return self._float_unary(x, lambda v: 1.0 / np.sqrt(v))

    def erf(self, x: Any) -> Tile:
        return self._float_unary(x, _ERF, "erf")

    def floor(self, x: Any) -> Tile:
        return self._float_unary(x, np.floor)

    def ceil(self, x: Any) -> Tile:
        return self._float_unary(x, np.ceil)

    def abs(self, x: Any) -> Tile:
        t = self.to_tile(x)
        if t.ty.is_float or t.ty.kind == "int":
            return Tile(np.abs(t.a), t.ty, None, t.ovf)  # the overflow taint follows
        return t

    # -- binary math ----------------------------------------------------------------------------

    def _float_binary(self, args: tuple[Any, ...], fn: Callable[..., np.ndarray]) -> Tile:
        arrays, ct, _ = self.promote(*args)
        ty = ct if ct.is_float else F32
        r = fn(*[cast_array(a, ct, F64) for a in arrays])
        return Tile(cast_array(np.asarray(r, np.float64), F64, ty), ty)

    def _minmax(self, x: Any, y: Any, propagate_nan: str, big: bool) -> Tile:
        (xa, ya), ct, _ = self.promote(x, y)
        if ct.is_float:
            if propagate_nan == "all":
                fn = np.maximum if big else np.minimum
            else:  # LLVM's maxnum/minnum: a NaN operand loses
                fn = np.fmax if big else np.fmin
            r = cast_array(fn(xa.astype(np.float64), ya.astype(np.float64)), F64, ct)
        else:
            r = np.maximum(xa, ya) if big else np.minimum(xa, ya)
        return Tile(r, ct)

    def maximum(self, x: Any, y: Any, propagate_nan: str) -> Tile:
        return self._minmax(x, y, propagate_nan, True)

    def minimum(self, x: Any, y: Any, propagate_nan: str) -> Tile:
        return self._minmax(x, y, propagate_nan, False)

    def clamp(self, x: Any, min: Any, max: Any, propagate_nan: str) -> Tile:  # noqa: A002
        (xa, lo, hi), ct, _ = self.promote(x, min, max)
        if not ct.is_float:
            raise TypeError(f"clamp needs floating point operands, got {ct.name}")
        f = [a.astype(np.float64) for a in (xa, lo, hi)]
        if propagate_nan == "all":
            r = np.minimum(np.maximum(f[0], f[1]), f[2])
        else:
            r = np.fmin(np.fmax(f[0], f[1]), f[2])
        return Tile(cast_array(r, F64, ct), ct)

    def fma(self, x: Any, y: Any, z: Any) -> Tile:
        arrays, ct, _ = self.promote(x, y, z)
        if not ct.is_float:
            (xa, ya, za) = arrays
            return Tile(xa * ya + za, ct)
        return self._float_binary((x, y, z), lambda a, b, c: a * b + c)

    def div_rn(self, x: Any, y: Any) -> Tile:
        return self._float_binary((x, y), np.divide)

    def fdiv(self, x: Any, y: Any, ieee_rounding: bool) -> Tile:
        return self._float_binary((x, y), np.divide)

    def umulhi(self, x: Any, y: Any) -> Tile:
        (xa, ya), ct, _ = self.promote(x, y)
        if ct.kind not in ("int", "uint") or ct.bits not in (32, 64):
            raise TypeError(f"umulhi needs 32- or 64-bit integers, got {ct.name}")
        if ct.bits == 32:
            p = xa.astype(np.uint32).astype(np.uint64) * ya.astype(np.uint32).astype(np.uint64)
            return Tile((p >> np.uint64(32)).astype(np.uint32).astype(ct.np), ct)
        xa, ya = np.broadcast_arrays(xa, ya)
        hi = [
            ((int(a) & (2**64 - 1)) * (int(b) & (2**64 - 1))) >> 64
            for a, b in zip(xa.reshape(-1), ya.reshape(-1))
        ]
        return Tile(np.array(hi, np.uint64).reshape(xa.shape).astype(ct.np), ct)

    def math(self, name: str, args: tuple[Any, ...]) -> Tile:
        if name in ("isnan", "isinf", "isfinite", "signbit"):  # int32 0/1, as libdevice
            t = self.to_tile(args[0])
            f = t.a.astype(np.float64)
            fn = {
                "isnan": np.isnan,
                "isinf": np.isinf,
                "isfinite": np.isfinite,
                "signbit": np.signbit,
            }[name]
            return Tile(fn(f).astype(np.int32), I32)
        if name in ("float2int_rn", "llrint", "llround"):
            t = self.to_tile(args[0])
            f = t.a.astype(np.float64)
            r = _c_round(f) if name == "llround" else np.rint(f)
            ty = I32 if name == "float2int_rn" else I64
            return Tile(cast_array(r, F64, ty), ty)
        if name == "ilogb":
            f = self.to_tile(args[0]).a.astype(np.float64)
            e = np.frexp(f)[1].astype(np.int64) - 1  # exact, subnormals included
            e = np.where(np.isinf(f), _I32_MAX, np.where(np.isnan(f) | (f == 0), _I32_MIN, e))
            return Tile(e.astype(np.int32), I32)
        if name == "nextafter":
            (xa, ya), ct, _ = self.promote(*args)
            return Tile(np.nextafter(xa, ya), ct)
        if name == "ldexp":
            x = self.to_tile(args[0])
            ty = x.ty if x.ty.is_float else F32
            n = self.to_tile(args[1])
            rank = max(x.a.ndim, n.a.ndim) - 1
            r = np.ldexp(align(x.a.astype(np.float64), rank), align(n.a.astype(np.int32), rank))
            return Tile(cast_array(r, F64, ty), ty)
        fn = _MATH_F64.get(name)
        if fn is None:
            raise NotImplementedError(f"tl.math.{name} is not supported by the interpreter")
        if len(args) == 1:
            return self._float_unary(args[0], fn, name)
        return self._float_binary(tuple(args), fn)

    def map_elementwise(self, scalar_fn: Any, args: tuple[Any, ...], pack: int) -> Any:
        fn = scalar_fn.fn if getattr(scalar_fn, "is_jit_function", False) else scalar_fn
        tiles = [self.to_tile(a) for a in args]
        rank = max(t.a.ndim for t in tiles) - 1
        arrays = np.broadcast_arrays(*[align(t.a, rank) for t in tiles])
        if pack < 1 or (arrays[0].shape[-1] if rank else 1) % pack:
            raise ValueError(f"map_elementwise: the last axis must be a multiple of pack={pack}")
        # The function runs on whole tiles: each of its "scalars" is the strided slice of
        # lanes it stands for, so one Python call covers every element.
        ins = [
            Tile(a[..., j::pack] if rank else a, t.ty)
            for j in range(pack)
            for a, t in zip(arrays, tiles)
        ]
        ins = [ins[j * len(tiles) + i] for i in range(len(tiles)) for j in range(pack)]
        try:
            out = fn(*ins)
        except TypeError:  # Python control flow on values: one call per element
            return self._map_each(fn, arrays, [t.ty for t in tiles], pack)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        n_res = len(outs) // pack
        shape = arrays[0].shape
        results = []
        for r in range(n_res):
            parts = [self.to_tile(outs[r * pack + j]) for j in range(pack)]
            ty = parts[0].ty
            res = np.empty(shape, ty.np)
            for j, p in enumerate(parts):
                if rank:
                    res[..., j::pack] = np.broadcast_to(align(p.a, rank), res[..., j::pack].shape)
                else:
                    res[...] = np.broadcast_to(p.a, shape)
            results.append(Tile(res, ty))
        return results[0] if n_res == 1 else tuple(results)

    def _map_each(
        self, fn: Callable[..., Any], arrays: list[np.ndarray], types: list[IType], pack: int
    ) -> Any:
        shape = arrays[0].shape
        groups = [a.reshape(-1, pack) for a in arrays]
        results: list[np.ndarray] = []
        rtypes: list[IType] = []
        for e in range(groups[0].shape[0]):
            ins = [Tile(g[e, j : j + 1], t) for g, t in zip(groups, types) for j in range(pack)]
            out = fn(*ins)
            outs = [self.to_tile(o) for o in (out if isinstance(out, (tuple, list)) else [out])]
            if not results:
                rtypes = [o.ty for o in outs]
                results = [np.empty(groups[0].shape, o.ty.np) for o in outs[::pack]]
            for r in range(len(results)):
                for j in range(pack):
                    results[r][e, j] = self.convert(outs[r * pack + j], rtypes[r * pack]).a[0]
        tiles = [Tile(r.reshape(shape), rtypes[i * pack]) for i, r in enumerate(results)]
        return tiles[0] if len(tiles) == 1 else tuple(tiles)

    # -- selection ------------------------------------------------------------------------------

    def where(self, condition: Any, x: Any, y: Any) -> Tile:
        c = self.bool_array(condition)
        if any(isinstance(v, Tile) and v.ty.is_ptr for v in (x, y)):
            xt, yt = self.to_tile(x), self.to_tile(y)
            if xt.ty is not yt.ty:
                raise TypeError(f"where: pointer operands differ ({xt.ty.name}, {yt.ty.name})")
            rank = max(c.ndim, xt.a.ndim, yt.a.ndim) - 1
            r = np.where(align(c, rank), align(xt.a, rank), align(yt.a, rank))
            prov = xt.prov if xt.prov is yt.prov else None
            return Tile(r, xt.ty, prov)
        (xa, ya), ct, rank = self.promote(x, y)
        rank = max(rank, c.ndim - 1)
        c = align(c, rank)
        r = np.where(c, align(xa, rank), align(ya, rank))
        ovf = None
        if self.sanitize:  # a lane is tainted only if the operand it selects is
            xo, yo = self.merge_ovf(r.shape, x), self.merge_ovf(r.shape, y)
            if xo is not None or yo is not None:
                src = xo if xo is not None else yo
                assert src is not None
                xm = xo.mask if xo is not None else False
                ym = yo.mask if yo is not None else False
                mask = np.where(c, xm, ym)
                if mask.any():
                    ovf = Overflow(np.broadcast_to(mask, r.shape), src.where, src.detail)
        return Tile(r, ct, None, ovf)

    # -- casts ----------------------------------------------------------------------------------

    def cast(
        self,
        input: Any,
        dtype: Any,
        fp_downcast_rounding: str | None,  # noqa: A002
        bitcast: bool,
    ) -> Tile:
        x = self.to_tile(input)
        dst = from_lang(dtype)
        if x.ty.is_ptr or dst.is_ptr:
            return self._ptr_cast(x, dst)
        if bitcast:
            return Tile(bitcast_array(x.a, x.ty, dst), dst)
        # Triton returns a cast to the same type unchanged before it looks at the rounding
        # (fla casts to the output's element type with rounding="rtne", fp32 included).
        if (
            fp_downcast_rounding is not None
            and x.ty.name != dst.name
            and not (x.ty.is_float and dst.is_float and dst.bits < x.ty.bits)
        ):
            raise ValueError(
                "fp_downcast_rounding applies only to float downcasts, "
                f"not {x.ty.name} -> {dst.name}"
            )
        return self.convert(x, dst, fp_downcast_rounding)

    def _ptr_cast(self, x: Tile, dst: IType) -> Tile:
        if x.ty.is_ptr and dst.is_ptr:  # reinterpret the pointee: same addresses
            return Tile(x.a, dst, x.prov, x.ovf)
        if x.ty.is_ptr:  # ptrtoint: the absolute address
            return Tile(cast_array(x.a, from_lang("int64"), dst), dst)
        if x.ty.kind not in ("int", "uint"):
            raise TypeError(f"cannot cast {x.ty.name} to a pointer")
        # inttoptr: no provenance; each access finds the argument every lane points into
        return Tile(x.a.astype(np.int64), dst, None, x.ovf)
