"""Vectorized math functions.

LLVM lowers ``llvm.exp.v16f32`` and friends to sixteen scalar libm calls on x86, so the
functions that dominate real kernels (exp, exp2, log, log2, tanh) are written here as IR:
range reduction plus a minimax polynomial (Cephes' single-precision coefficients; for exp
and exp2 a refitted degree-6 polynomial), accurate to a couple of ulp in f32, with explicit
handling of NaN, infinities, zero and subnormals. f16/bf16 compute in f32 and round once;
f64 and the rarer functions call libm per lane.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import llvmlite.ir as ll

from tritium.backends.cpu.casts import narrow_f32
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


#: 1.5 * 2**23: adding it to a float of magnitude < 2**22 rounds that float to an integer n
#: (ties to even, like roundeven) and leaves n in the low mantissa bits, so one FMA both
#: rounds and converts: the bits shifted left by 23 are n's exponent increment.
_SHIFTER = 12582912.0


def _split_n(cx: Lowering, t: ll.Value) -> tuple[ll.Value, ll.Value]:
    """(n as f32, n << 23 as i32) from ``t = y + _SHIFTER`` (y rounded to the integer n)."""
    b = cx.b
    n_f = b.fsub(t, _c(t, _SHIFTER))
    return n_f, b.shl(b.bitcast(t, _like(t, I32)), _c(t, 23, I32))


def _exp_reduced(cx: Lowering, n_f: ll.Value, e_r: ll.Value) -> ll.Value:
    """e_r * 2**n, scaling in two steps so that subnormal results work."""
    b = cx.b
    n = b.fptosi(n_f, _like(n_f, I32))
    half = b.ashr(n, _c(n, 1, I32))
    y = b.fmul(e_r, _pow2i(cx, half))
    return b.fmul(y, _pow2i(cx, b.sub(n, half)))


def _finish_exp(cx: Lowering, x: ll.Value, y: ll.Value, hi: float, lo: float) -> ll.Value:
    b = cx.b
    y = b.select(b.fcmp_ordered(">", x, _c(x, hi)), _c(x, float("inf")), y)
    y = b.select(b.fcmp_ordered("<", x, _c(x, lo)), _c(x, 0.0), y)
    return b.select(b.fcmp_unordered("uno", x, x), x, y)


def _clamp_input(cx: Lowering, x: ll.Value, lo: float, hi: float) -> ll.Value:
    """x limited to hi, and replaced by 0 below lo (those lanes' results are overwritten).

    Clamping to lo instead would compute a subnormal result for every such lane (masked-off
    lanes of a softmax row read -inf), and subnormal arithmetic costs a microcode assist of
    ~100 cycles per instruction on x86.
    """
    b = cx.b
    clamped = _intr(cx, "minnum", x, _c(x, hi))
    return b.select(b.fcmp_unordered("<", x, _c(x, lo)), _c(x, 0.0), clamped)


def _exp_normal(cx: Lowering, n_shl: ll.Value, e_r: ll.Value) -> ll.Value:
    """e_r * 2**n by adding n << 23 to the exponent field: exact while the result stays
    normal."""
    b = cx.b
    bits = b.add(b.bitcast(e_r, _like(e_r, I32)), n_shl)
    return b.bitcast(bits, e_r.type)


#: e**r = 1 + r * (1 + r * Q(r)) on |r| <= ln2/2, Q of degree 4 (highest first): a minimax
#: fit of the relative error (3.1e-9; under 0.72 ulp in f32 arithmetic with FMA). One degree
#: and one constant less than Cephes' 1 + r + r*r*P(r) with P of degree 5.
_EXP_Q = [
    1.3814539415761828e-3,
    8.3687454462051392e-3,
    4.1668388992547989e-2,
    1.6666521131992340e-1,
    4.9999994039535522e-1,
]


def _e_r(cx: Lowering, r: ll.Value) -> ll.Value:
    """e**r for |r| <= ln2/2."""
    one = _c(r, 1.0)
    return _fma(cx, r, _fma(cx, r, _poly(cx, r, _EXP_Q), one), one)


def _with_fast_path(
    cx: Lowering,
    x: ll.Value,
    limit: float,
    fast: Callable[[], ll.Value],
    full: Callable[[], ll.Value],
) -> ll.Value:
    """``fast()`` for a chunk whose lanes all satisfy |x| <= limit, else ``full()``.

    The full exp pays for infinities, NaN, overflow and subnormal results with two scaling
    multiplies and five compare/selects per vector; nearly every chunk of a real kernel needs
    none of them (a softmax row only at its masked tail, whose lanes are -inf). Both paths
    compute the same polynomial, so a lane's result does not depend on its neighbours.

    The test is x * x <= limit**2 (``limit**2`` exact in f32; rounding is monotonic, NaN
    compares false): no sign-mask constant to keep in a register or reload per chunk."""
    if not isinstance(x.type, ll.VectorType):
        return full()
    b = cx.b
    inside = b.fcmp_ordered("<=", b.fmul(x, x), _c(x, limit * limit))
    red = f"llvm.vector.reduce.and.{type_suffix(inside.type)}"
    all_in = b.call(intrinsic(cx.module, red, ll.IntType(1), [inside.type]), [inside])
    with b.if_else(all_in, likely=True) as (then, other):
        with then:
            y_fast = fast()
            fast_block = b.block
        with other:
            y_full = full()
            full_block = b.block
    phi = b.phi(x.type)
    phi.add_incoming(y_fast, fast_block)
    phi.add_incoming(y_full, full_block)
    return phi


def exp_f32(cx: Lowering, x: ll.Value) -> ll.Value:
    """e**x in f32."""

    def reduce(xc: ll.Value) -> tuple[ll.Value, ll.Value, ll.Value]:
        # n = round(x / ln2) and its exponent bits in one FMA; r = x - n ln2 in two pieces
        n_f, n_shl = _split_n(cx, _fma(cx, xc, _c(x, LOG2E), _c(x, _SHIFTER)))
        r = _fma(cx, n_f, _c(x, -LN2_HI), xc)
        return n_f, n_shl, _fma(cx, n_f, _c(x, -LN2_LO), r)

    def fast() -> ll.Value:
        _, n_shl, r = reduce(x)
        return _exp_normal(cx, n_shl, _e_r(cx, r))

    def full() -> ll.Value:
        n_f, _, r = reduce(_clamp_input(cx, x, -104.0, 88.8))
        return _finish_exp(cx, x, _exp_reduced(cx, n_f, _e_r(cx, r)), 88.72283935546875, -103.972)

    # e**87 < 2**126: every result of the fast path is a normal number
    return _with_fast_path(cx, x, 86.5, fast, full)


def exp2_f32(cx: Lowering, x: ll.Value) -> ll.Value:
    """2**x in f32."""
    b = cx.b

    def reduce(xc: ll.Value) -> tuple[ll.Value, ll.Value, ll.Value]:
        n_f, n_shl = _split_n(cx, b.fadd(xc, _c(x, _SHIFTER)))
        return n_f, n_shl, b.fmul(b.fsub(xc, n_f), _c(x, 0.693147180559945309))

    def fast() -> ll.Value:
        _, n_shl, r = reduce(x)
        return _exp_normal(cx, n_shl, _e_r(cx, r))

    def full() -> ll.Value:
        n_f, _, r = reduce(_clamp_input(cx, x, -150.0, 128.5))
        return _finish_exp(cx, x, _exp_reduced(cx, n_f, _e_r(cx, r)), 127.99999, -150.0)

    return _with_fast_path(cx, x, 125.0, fast, full)


def _log_parts(cx: Lowering, x: ll.Value) -> tuple[ll.Value, ll.Value]:
    """Split x > 0 into (e as f32, log(m)) with x = m * 2**e, m in [sqrt(1/2), sqrt(2))."""
    b = cx.b
    tiny = b.fcmp_ordered("<", x, _c(x, 1.17549435e-38))
    xs = b.select(tiny, b.fmul(x, _c(x, 8388608.0)), x)  # scale subnormals up by 2**23
    bits = b.bitcast(xs, _like(x, I32))
    e = b.sub(b.lshr(bits, _c(bits, 23, I32)), _c(bits, 127, I32))
    e = b.select(tiny, b.sub(e, _c(e, 23, I32)), e)
    m = b.bitcast(b.or_(b.and_(bits, _c(bits, 0x7FFFFF, I32)), _c(bits, 0x3F800000, I32)), x.type)
    big = b.fcmp_ordered(">", m, _c(x, 2 * SQRT_HALF))
    m = b.select(big, b.fmul(m, _c(x, 0.5)), m)
    e = b.select(big, b.add(e, _c(e, 1, I32)), e)
    f = b.fsub(m, _c(x, 1.0))
    z = b.fmul(f, f)
    p = _poly(
        cx,
        f,
        [
            7.0376836292e-2,
            -1.1514610310e-1,
            1.1676998740e-1,
            -1.2420140846e-1,
            1.4249322787e-1,
            -1.6668057665e-1,
            2.0000714765e-1,
            -2.4999993993e-1,
            3.3333331174e-1,
        ],
    )
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
    p = _poly(
        cx,
        z,
        [
            -5.70498872745e-3,
            2.06390887954e-2,
            -5.37397155531e-2,
            1.33314422036e-1,
            -3.33332819422e-1,
        ],
    )
    small = _fma(cx, b.fmul(p, z), x, x)
    s = exp_f32(cx, b.fmul(ax, _c(x, 2.0)))
    big = b.fsub(_c(x, 1.0), b.fdiv(_c(x, 2.0), b.fadd(s, _c(x, 1.0))))
    big = _intr(cx, "copysign", big, x)
    return b.select(b.fcmp_ordered("<", ax, _c(x, 0.625)), small, big)


# erf(x) / x on [0, 1] as P(x*x) of degree 5 (relative minimax error 4e-8; degree 6 was
# 2e-9, far below f32's rounding): every f32 in [0, 8] rounds to <= 2.34 ulp of erf
_ERF_SMALL = [
    -0.0005631422273376453,
    0.004917551528186348,
    -0.026711311500976276,
    0.11280180124167022,
    -0.376123261895668,
    1.1283791224957722,
]
# erfc(x) on [1, 3.925] as N(u) / D(u), u = x - 1 (rational fit of the absolute error,
# 2.6e-8 = 0.43 ulp of the result 1 - erfc; f32 evaluation adds < 2 ulp). Both are scaled
# so that D is monic: its first Horner step is then an add, off the two FMA pipes
_ERFC_NUM = [
    -0.013194368990777448,
    0.17333350676092182,
    -0.9190716167628605,
    2.4622409187041407,
    -3.337616881770382,
    1.8336833258623244,
]
_ERFC_DEN_MONIC = [
    0.9336541814508514,
    3.645454566068214,
    5.754835976136442,
    10.086411360769034,
    9.544646520996247,
    11.657297319022073,
]
# past this erf(x) rounds to 1 in f32 (erf(3.9192) = 1 - 2**-25)
_ERF_ONE = 3.925


def erf_f32(cx: Lowering, x: ll.Value) -> ll.Value:
    """erf in f32 (<= 3 ulp): x * P(x*x) below 1; 1 - N(|x| - 1) / D(|x| - 1) above, with
    |x| clamped at 3.925 (erf rounds to 1 there). Two short polynomials and one division, no
    exp and no branch: GELU's time is mostly this function, bound by the FMA pipes, so the
    choice of range also carries NaN through (one compare and one blend, not two each)."""
    b = cx.b
    ax = _intr(cx, "fabs", x)
    small = b.fmul(x, _poly(cx, b.fmul(x, x), _ERF_SMALL))
    u = b.fsub(_intr(cx, "minnum", ax, _c(x, _ERF_ONE)), _c(x, 1.0))
    den = b.fadd(u, _c(x, _ERFC_DEN_MONIC[0]))
    for c in _ERFC_DEN_MONIC[1:]:
        den = _fma(cx, den, u, _c(x, c))
    erfc = b.fdiv(_poly(cx, u, _ERFC_NUM), den)
    big = _intr(cx, "copysign", b.fsub(_c(x, 1.0), erfc), x)
    # unordered: a NaN x takes the small range, whose x * P(x*x) is that NaN
    return b.select(b.fcmp_unordered("<", ax, _c(x, 1.0)), small, big)


# pi/2 in three pieces; the first two have 11 significant bits so j * piece is exact
_PIO2 = (1.5703125, 0.0004837512969970703, 7.549790126404332e-08)
_TRIG_LIMIT = 8192.0  # beyond this the three-piece reduction loses accuracy: libm per lane


def _sincos_f32(cx: Lowering, x: ll.Value, quadrant_shift: int) -> ll.Value:
    """sin(x) (shift 0) or cos(x) (shift 1): reduce by multiples of pi/2, then a polynomial
    for sin or cos on [-pi/4, pi/4] picked by the quadrant."""
    b = cx.b
    j = _intr(cx, "roundeven", b.fmul(x, _c(x, 0.636619772367581343)))
    r = x
    for piece in _PIO2:
        r = _fma(cx, j, _c(x, -piece), r)
    z = b.fmul(r, r)
    s = _fma(
        cx, b.fmul(_poly(cx, z, [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1]), z), r, r
    )
    c = _poly(cx, z, [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2])
    c = b.fadd(_fma(cx, b.fmul(c, z), z, b.fmul(z, _c(x, -0.5))), _c(x, 1.0))
    q = b.and_(b.add(b.fptosi(j, _like(x, I32)), _c(x, quadrant_shift, I32)), _c(x, 3, I32))
    odd = b.icmp_unsigned("!=", b.and_(q, _c(x, 1, I32)), _c(x, 0, I32))
    neg = b.icmp_unsigned("!=", b.and_(q, _c(x, 2, I32)), _c(x, 0, I32))
    y = b.select(odd, c, s)
    y = b.select(neg, b.fneg(y), y)
    # rare huge arguments: redo the whole chunk with libm
    big = b.fcmp_ordered(">", _intr(cx, "fabs", x), _c(x, _TRIG_LIMIT))
    if isinstance(big.type, ll.VectorType):
        name = f"llvm.vector.reduce.or.{type_suffix(big.type)}"
        any_big = b.call(intrinsic(cx.module, name, ll.IntType(1), [big.type]), [big])
    else:
        any_big = big
    fast_block = b.block
    with b.if_then(any_big, likely=False):
        slow = _call_per_lane(cx, "cosf" if quadrant_shift else "sinf", [x])
        slow_block = b.block
    phi = b.phi(y.type)
    phi.add_incoming(y, fast_block)
    phi.add_incoming(slow, slow_block)
    return phi


def sin_f32(cx: Lowering, x: ll.Value) -> ll.Value:
    """sin in f32."""
    return _sincos_f32(cx, x, 0)


def cos_f32(cx: Lowering, x: ll.Value) -> ll.Value:
    """cos in f32."""
    return _sincos_f32(cx, x, 1)


def _call_per_lane(cx: Lowering, name: str, args: list[ll.Value]) -> ll.Value:
    """Call the scalar C function ``name`` on every lane of ``args`` (or on scalars)."""
    elt = _elt(args[0])
    callee = intrinsic(cx.module, name, elt, [elt] * len(args))
    if not isinstance(args[0].type, ll.VectorType):
        return cx.b.call(callee, args)
    out = ll.Constant(args[0].type, ll.Undefined)
    for i in range(args[0].type.count):
        lanes = [cx.b.extract_element(a, ll.Constant(I32, i)) for a in args]
        out = cx.b.insert_element(out, cx.b.call(callee, lanes), ll.Constant(I32, i))
    return out


def _libm_per_lane(f32_name: str, f64_name: str) -> Fn:
    def fn(cx: Lowering, x: ll.Value) -> ll.Value:
        return _call_per_lane(cx, f32_name if _elt(x) == F32 else f64_name, [x])

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
    "sin": (sin_f32, _libm_per_lane("sin", "sin")),
    "cos": (cos_f32, _libm_per_lane("cos", "cos")),
    "tan": (_libm_per_lane("tanf", "tan"), _libm_per_lane("tanf", "tan")),
    "erf": (erf_f32, _libm_per_lane("erff", "erf")),
    "log1p": (_libm_per_lane("log1pf", "log1p"), _libm_per_lane("log1pf", "log1p")),
    "round": (_intrinsic_fn("round"), _intrinsic_fn("round")),
    "roundeven": (_intrinsic_fn("roundeven"), _intrinsic_fn("roundeven")),
    "trunc": (_intrinsic_fn("trunc"), _intrinsic_fn("trunc")),
}
# the rarer libdevice functions (not yet ops in ops.py; ready when they are)
for _n in (
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "asinh",
    "acosh",
    "atanh",
    "expm1",
    "cbrt",
    "erfc",
    "lgamma",
    "tgamma",
    "exp10",
    "log10",
    "j0",
    "j1",
    "y0",
    "y1",
):
    _FUNCS[_n] = (_libm_per_lane(_n + "f", _n), _libm_per_lane(_n + "f", _n))


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
        return narrow_f32(cx, f32_impl(cx, wide), _elt(x))

    return rule


def _powf(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    x, y = a
    elt = _elt(x)
    if elt not in (F32, F64):
        wide = [cx.b.fpext(v, _like(v, F32)) for v in a]
        return narrow_f32(cx, _intr(cx, "pow", *wide), elt)
    return _intr(cx, "pow", x, y)


MATH_RULES: dict[str, Rule] = {f"math.{n}": _unary(n) for n in _FUNCS}
MATH_RULES["tt.precise_sqrt"] = _unary("sqrt")
MATH_RULES["math.powf"] = _powf


def _binary_libm(name: str) -> Rule:
    def rule(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
        elt = _elt(a[0])
        if elt == F64:
            return _call_per_lane(cx, name, a)
        if elt == F32:
            return _call_per_lane(cx, name + "f", a)
        wide = [cx.b.fpext(v, _like(v, F32)) for v in a]
        return narrow_f32(cx, _call_per_lane(cx, name + "f", wide), elt)

    return rule


MATH_RULES["math.atan2"] = _binary_libm("atan2")
MATH_RULES["math.hypot"] = _binary_libm("hypot")
