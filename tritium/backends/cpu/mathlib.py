"""Vectorized math functions.

LLVM lowers ``llvm.exp.v16f32`` and friends to sixteen scalar libm calls on x86, so the
functions that dominate real kernels (exp, exp2, log, log2, tanh) are written here as IR:
range reduction plus a minimax polynomial (the classic Cephes single-precision
coefficients), accurate to a couple of ulp in f32, with explicit handling of NaN, infinities,
zero and subnormals. f16/bf16 compute in f32 and round once; f64 and the rarer functions
call libm per lane.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import llvmlite.ir as ll

from tritium.backends.cpu.llvm_utils import F32, F64, I32, const, intrinsic, type_suffix
from tritium.ir import Operation

if TYPE_CHECKING:
    from tritium.backends.cpu.codegen import Lowering

__all__ = ["MATH_RULES"]

Rule = Callable[["Lowering", Operation, list[ll.Value]], ll.Value]
Fn = Callable[["Lowering", ll.Value], ll.Value]

LN2_HI, LN2_LO = 0.693359375, -2.12194440e-4
LOG2E = 1.44269504088896341
SQRT_HALF = 0.707106781186547524


def _elt(v: ll.Value) -> ll.Type:
    return v.type.element if isinstance(v.type, ll.VectorType) else v.type


def _c(v: ll.Value, value: float, elt: ll.Type | None = None) -> ll.Constant:
    w = v.type.count if isinstance(v.type, ll.VectorType) else None
    return const(elt or _elt(v), value, w)


def _like(v: ll.Value, elt: ll.Type) -> ll.Type:
    return ll.VectorType(elt, v.type.count) if isinstance(v.type, ll.VectorType) else elt


def _intr(cx: Lowering, base: str, *args: ll.Value) -> ll.Value:
    name = f"llvm.{base}.{type_suffix(args[0].type)}"
    return cx.b.call(intrinsic(cx.module, name, args[0].type, [a.type for a in args]), list(args))


def _fma(cx: Lowering, a: ll.Value, b: ll.Value, c: ll.Value) -> ll.Value:
    # fmuladd: fused where the CPU has FMA, a plain multiply-add otherwise (never a libm call)
    return _intr(cx, "fmuladd", a, b, c)


def _poly(cx: Lowering, x: ll.Value, coeffs: list[float]) -> ll.Value:
    """Horner's rule, highest degree first."""
    acc = _c(x, coeffs[0])
    for c in coeffs[1:]:
        acc = _fma(cx, acc, x, _c(x, c))
    return acc


def _pow2i(cx: Lowering, n: ll.Value) -> ll.Value:
    """2**n as f32 for an i32 n in [-126, 127]."""
    b = cx.b
    bits = b.shl(b.add(n, _c(n, 127, I32)), _c(n, 23, I32))
    return b.bitcast(bits, _like(n, F32))


def _exp_reduced(cx: Lowering, x: ll.Value, n_f: ll.Value, r: ll.Value) -> ll.Value:
    """e**r * 2**n for |r| <= ln2/2, scaling in two steps so that subnormal results work."""
    b = cx.b
    p = _poly(cx, r, [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                      1.6666665459e-1, 5.0000001201e-1])
    r2 = b.fmul(r, r)
    e_r = b.fadd(_fma(cx, p, r2, r), _c(r, 1.0))
    n = b.fptosi(n_f, _like(x, I32))
    half = b.ashr(n, _c(n, 1, I32))
    y = b.fmul(e_r, _pow2i(cx, half))
    return b.fmul(y, _pow2i(cx, b.sub(n, half)))


def _finish_exp(cx: Lowering, x: ll.Value, y: ll.Value, hi: float, lo: float) -> ll.Value:
    b = cx.b
    y = b.select(b.fcmp_ordered(">", x, _c(x, hi)), _c(x, float("inf")), y)
    y = b.select(b.fcmp_ordered("<", x, _c(x, lo)), _c(x, 0.0), y)
    return b.select(b.fcmp_unordered("uno", x, x), x, y)


def exp_f32(cx: Lowering, x: ll.Value) -> ll.Value:
    """e**x in f32."""
    b = cx.b
    xc = _intr(cx, "minnum", _intr(cx, "maxnum", x, _c(x, -104.0)), _c(x, 88.8))
    n_f = _intr(cx, "roundeven", b.fmul(xc, _c(x, LOG2E)))
    r = _fma(cx, n_f, _c(x, -LN2_HI), xc)
    r = _fma(cx, n_f, _c(x, -LN2_LO), r)
    return _finish_exp(cx, x, _exp_reduced(cx, x, n_f, r), 88.72283935546875, -103.972)


def exp2_f32(cx: Lowering, x: ll.Value) -> ll.Value:
    """2**x in f32."""
    b = cx.b
    xc = _intr(cx, "minnum", _intr(cx, "maxnum", x, _c(x, -150.0)), _c(x, 128.5))
    n_f = _intr(cx, "roundeven", xc)
    r = b.fmul(b.fsub(xc, n_f), _c(x, 0.693147180559945309))
    return _finish_exp(cx, x, _exp_reduced(cx, x, n_f, r), 127.99999, -150.0)


def _log_parts(cx: Lowering, x: ll.Value) -> tuple[ll.Value, ll.Value]:
    """Split x > 0 into (e as f32, log(m)) with x = m * 2**e, m in [sqrt(1/2), sqrt(2))."""
    b = cx.b
    tiny = b.fcmp_ordered("<", x, _c(x, 1.17549435e-38))
    xs = b.select(tiny, b.fmul(x, _c(x, 8388608.0)), x)  # scale subnormals up by 2**23
    bits = b.bitcast(xs, _like(x, I32))
    e = b.sub(b.lshr(bits, _c(bits, 23, I32)), _c(bits, 127, I32))
    e = b.select(tiny, b.sub(e, _c(e, 23, I32)), e)
    m = b.bitcast(b.or_(b.and_(bits, _c(bits, 0x7FFFFF, I32)), _c(bits, 0x3F800000, I32)),
                  x.type)
    big = b.fcmp_ordered(">", m, _c(x, 2 * SQRT_HALF))
    m = b.select(big, b.fmul(m, _c(x, 0.5)), m)
    e = b.select(big, b.add(e, _c(e, 1, I32)), e)
    f = b.fsub(m, _c(x, 1.0))
    z = b.fmul(f, f)
    p = _poly(cx, f, [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
                      1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
                      3.3333331174e-1])
    y = b.fmul(b.fmul(f, z), p)
    y = _fma(cx, z, _c(x, -0.5), y)
    return b.sitofp(e, x.type), b.fadd(f, y)


def _log_special(cx: Lowering, x: ll.Value, y: ll.Value) -> ll.Value:
    b = cx.b
    y = b.select(b.fcmp_ordered("==", x, _c(x, float("inf"))), x, y)
    y = b.select(b.fcmp_ordered("==", x, _c(x, 0.0)), _c(x, float("-inf")), y)
    y = b.select(b.fcmp_ordered("<", x, _c(x, 0.0)), _c(x, float("nan")), y)
    return b.select(b.fcmp_unordered("uno", x, x), x, y)


def log_f32(cx: Lowering, x: ll.Value) -> ll.Value:
    """Natural logarithm in f32."""
    b = cx.b
    e, lm = _log_parts(cx, x)
    y = _fma(cx, e, _c(x, LN2_LO), lm)
    y = _fma(cx, e, _c(x, LN2_HI), y)
    return _log_special(cx, x, y)


def log2_f32(cx: Lowering, x: ll.Value) -> ll.Value:
    """Base-2 logarithm in f32."""
    e, lm = _log_parts(cx, x)
    return _log_special(cx, x, _fma(cx, lm, _c(x, LOG2E), e))


def tanh_f32(cx: Lowering, x: ll.Value) -> ll.Value:
    """Hyperbolic tangent in f32: a polynomial near 0, 1 - 2/(e**2|x| + 1) elsewhere."""
    b = cx.b
    ax = _intr(cx, "fabs", x)
    z = b.fmul(x, x)
    p = _poly(cx, z, [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2,
                      1.33314422036e-1, -3.33332819422e-1])
    small = _fma(cx, b.fmul(p, z), x, x)
    s = exp_f32(cx, b.fmul(ax, _c(x, 2.0)))
    big = b.fsub(_c(x, 1.0), b.fdiv(_c(x, 2.0), b.fadd(s, _c(x, 1.0))))
    big = _intr(cx, "copysign", big, x)
    return b.select(b.fcmp_ordered("<", ax, _c(x, 0.625)), small, big)


def _libm_per_lane(f32_name: str, f64_name: str) -> Fn:
    def fn(cx: Lowering, x: ll.Value) -> ll.Value:
        elt = _elt(x)
        name = f32_name if elt == F32 else f64_name
        callee = intrinsic(cx.module, name, elt, [elt])
        if not isinstance(x.type, ll.VectorType):
            return cx.b.call(callee, [x])
        out = ll.Constant(x.type, ll.Undefined)
        for i in range(x.type.count):
            lane = cx.b.extract_element(x, ll.Constant(I32, i))
            out = cx.b.insert_element(out, cx.b.call(callee, [lane]), ll.Constant(I32, i))
        return out
    return fn


def _intrinsic_fn(base: str) -> Fn:
    return lambda cx, x: _intr(cx, base, x)


def _rsqrt(cx: Lowering, x: ll.Value) -> ll.Value:
    return cx.b.fdiv(_c(x, 1.0), _intr(cx, "sqrt", x))


# name -> (f32 implementation, f64 implementation)
_FUNCS: dict[str, tuple[Fn, Fn]] = {
    "exp": (exp_f32, _intrinsic_fn("exp")),
    "exp2": (exp2_f32, _intrinsic_fn("exp2")),
    "log": (log_f32, _intrinsic_fn("log")),
    "log2": (log2_f32, _intrinsic_fn("log2")),
    "tanh": (tanh_f32, _libm_per_lane("tanhf", "tanh")),
    "sqrt": (_intrinsic_fn("sqrt"), _intrinsic_fn("sqrt")),
    "rsqrt": (_rsqrt, _rsqrt),
    "absf": (_intrinsic_fn("fabs"), _intrinsic_fn("fabs")),
    "floor": (_intrinsic_fn("floor"), _intrinsic_fn("floor")),
    "ceil": (_intrinsic_fn("ceil"), _intrinsic_fn("ceil")),
    "sin": (_libm_per_lane("sinf", "sin"), _libm_per_lane("sin", "sin")),
    "cos": (_libm_per_lane("cosf", "cos"), _libm_per_lane("cos", "cos")),
    "tan": (_libm_per_lane("tanf", "tan"), _libm_per_lane("tanf", "tan")),
    "erf": (_libm_per_lane("erff", "erf"), _libm_per_lane("erff", "erf")),
    "log1p": (_libm_per_lane("log1pf", "log1p"), _libm_per_lane("log1pf", "log1p")),
}


def _unary(name: str) -> Rule:
    f32_impl, f64_impl = _FUNCS[name]

    def rule(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
        x = a[0]
        elt = _elt(x)
        if elt == F64:
            return f64_impl(cx, x)
        if elt == F32:
            return f32_impl(cx, x)
        if name in ("absf",):
            return _intr(cx, "fabs", x)
        # f16 / bf16: compute in f32, round once
        wide = cx.b.fpext(x, _like(x, F32))
        return cx.b.fptrunc(f32_impl(cx, wide), x.type)
    return rule


def _powf(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    x, y = a
    elt = _elt(x)
    if elt not in (F32, F64):
        wide = [cx.b.fpext(v, _like(v, F32)) for v in a]
        return cx.b.fptrunc(_intr(cx, "pow", *wide), x.type)
    return _intr(cx, "pow", x, y)


MATH_RULES: dict[str, Rule] = {f"math.{n}": _unary(n) for n in _FUNCS}
MATH_RULES["tt.precise_sqrt"] = _unary("sqrt")
MATH_RULES["math.powf"] = _powf
