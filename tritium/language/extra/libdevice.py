"""libdevice-style names (``libdevice.tanh``, ``libdevice.pow``, ...) for Triton kernels that
import ``triton.language.extra.libdevice`` (or ``.cuda.libdevice``).

Each name forwards to a ``tl`` builtin or to ``tl.math``'s extra functions; the engine sees
the same methods whichever spelling a kernel uses. Float and double variants (``expf``) are
one function: the dtype of the argument decides the precision.
"""

from __future__ import annotations

from tritium.language import math as _m
from tritium.language import ops as _ops
from tritium.language.extra.special import clz, cyl_bessel_i0, cyl_bessel_i1, popc

# Names that already are tl builtins.
abs = _ops.abs
fabs = _ops.abs
ceil = _ops.ceil
floor = _ops.floor
cos = _ops.cos
sin = _ops.sin
exp = _ops.exp
exp2 = _ops.exp2
log = _ops.log
log2 = _ops.log2
sqrt = _ops.sqrt
sqrt_rn = _ops.sqrt_rn
rsqrt = _ops.rsqrt
erf = _ops.erf
fma = _ops.fma
div_rn = _ops.div_rn
mulhi = _ops.umulhi
umulhi = _ops.umulhi
fmax = _ops.maximum
fmin = _ops.minimum
fast_expf = _ops.exp
fast_logf = _ops.log
fast_log2f = _ops.log2
fast_sinf = _ops.sin
fast_cosf = _ops.cos

# Names served by Engine.math.
tan = _m.tan
tanh = _m.tanh
asin = _m.asin
acos = _m.acos
atan = _m.atan
sinh = _m.sinh
cosh = _m.cosh
asinh = _m.asinh
acosh = _m.acosh
atanh = _m.atanh
log10 = _m.log10
log1p = _m.log1p
expm1 = _m.expm1
exp10 = _m.exp10
cbrt = _m.cbrt
rcp = _m.rcp
trunc = _m.trunc
round = _m.round
rint = _m.rint
nearbyint = _m.nearbyint
erfc = _m.erfc
erfinv = _m.erfinv
lgamma = _m.lgamma
tgamma = _m.tgamma
signbit = _m.signbit
isnan = _m.isnan
isinf = _m.isinf
isfinited = _m.isfinite
finitef = _m.isfinite
isfinite = _m.isfinite
j0 = _m.j0
j1 = _m.j1
y0 = _m.y0
y1 = _m.y1
normcdf = _m.normcdf
ilogb = _m.ilogb
pow = _m.pow
powf = _m.pow
atan2 = _m.atan2
hypot = _m.hypot
fmod = _m.fmod
remainder = _m.remainder
copysign = _m.copysign
nextafter = _m.nextafter
fdim = _m.fdim
ldexp = _m.ldexp
fast_tanf = _m.tan
float2int_rn = _m.float2int_rn
llrint = _m.llrint
llround = _m.llround
fast_dividef = _ops.fdiv
fast_powf = _m.pow
fast_exp10f = _m.exp10
fast_log10f = _m.log10

__all__ = [
    "abs",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "cbrt",
    "ceil",
    "clz",
    "copysign",
    "cos",
    "cosh",
    "cyl_bessel_i0",
    "cyl_bessel_i1",
    "div_rn",
    "erf",
    "erfc",
    "erfinv",
    "exp",
    "exp10",
    "exp2",
    "expm1",
    "fabs",
    "fast_cosf",
    "fast_dividef",
    "fast_exp10f",
    "fast_expf",
    "fast_log10f",
    "fast_log2f",
    "fast_logf",
    "fast_powf",
    "fast_sinf",
    "fast_tanf",
    "fdim",
    "finitef",
    "float2int_rn",
    "floor",
    "fma",
    "fmax",
    "fmin",
    "fmod",
    "hypot",
    "ilogb",
    "isfinite",
    "isfinited",
    "isinf",
    "isnan",
    "j0",
    "j1",
    "ldexp",
    "lgamma",
    "llrint",
    "llround",
    "log",
    "log10",
    "log1p",
    "log2",
    "mulhi",
    "nearbyint",
    "nextafter",
    "normcdf",
    "popc",
    "pow",
    "powf",
    "rcp",
    "remainder",
    "rint",
    "round",
    "rsqrt",
    "signbit",
    "sin",
    "sinh",
    "sqrt",
    "sqrt_rn",
    "tan",
    "tanh",
    "tgamma",
    "trunc",
    "umulhi",
    "y0",
    "y1",
]
