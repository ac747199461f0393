"""``tl`` math functions and ``tl.extra.libdevice``: accuracy against float64 (issue 4: math).

One kernel per function family, selected by a constexpr name (a chain of static ``if``s, so
each specialization holds one function). fp32 results must be within a few ULP of the
float64 reference; correctly rounded functions (sqrt_rn, div_rn, fma, floor, ...) exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.language.extra import libdevice

from ._helpers import Buffers, poisoned, ulp_error

BLOCK = 128


@triton.jit
def _unary(X, OUT, FN: tl.constexpr, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    x = tl.load(X + o)
    if FN == "exp":
        y = tl.exp(x)
    elif FN == "exp2":
        y = tl.exp2(x)
    elif FN == "log":
        y = tl.log(x)
    elif FN == "log2":
        y = tl.log2(x)
    elif FN == "sin":
        y = tl.sin(x)
    elif FN == "cos":
        y = tl.cos(x)
    elif FN == "sqrt":
        y = tl.sqrt(x)
    elif FN == "sqrt_rn":
        y = tl.sqrt_rn(x)
    elif FN == "rsqrt":
        y = tl.rsqrt(x)
    elif FN == "erf":
        y = tl.erf(x)
    elif FN == "floor":
        y = tl.floor(x)
    elif FN == "ceil":
        y = tl.ceil(x)
    elif FN == "abs":
        y = tl.abs(x)
    elif FN == "sigmoid":
        y = tl.sigmoid(x)
    elif FN == "log1p":
        y = tl.math.log1p(x)
    elif FN == "tan":
        y = tl.math.tan(x)
    elif FN == "tanh":
        y = libdevice.tanh(x)
    elif FN == "expm1":
        y = libdevice.expm1(x)
    elif FN == "log10":
        y = libdevice.log10(x)
    elif FN == "asin":
        y = libdevice.asin(x)
    elif FN == "acos":
        y = libdevice.acos(x)
    elif FN == "atan":
        y = libdevice.atan(x)
    elif FN == "sinh":
        y = libdevice.sinh(x)
    elif FN == "cosh":
        y = libdevice.cosh(x)
    elif FN == "asinh":
        y = libdevice.asinh(x)
    elif FN == "erfc":
        y = libdevice.erfc(x)
    elif FN == "cbrt":
        y = libdevice.cbrt(x)
    elif FN == "trunc":
        y = libdevice.trunc(x)
    elif FN == "rint":
        y = libdevice.rint(x)
    elif FN == "round":
        y = libdevice.round(x)
    elif FN == "exp10":
        y = libdevice.exp10(x)
    else:
        tl.static_assert(FN == "lgamma")
        y = libdevice.lgamma(x)
    tl.store(OUT + o, y)


# name -> (float64 reference, input range, max ULP for fp32, max ULP for fp64)
UNARY = {
    "exp": (np.exp, (-80, 80), 2, 2),
    "exp2": (np.exp2, (-120, 120), 2, 2),
    "log": (np.log, (1e-30, 1e30), 2, 2),
    "log2": (np.log2, (1e-30, 1e30), 2, 2),
    "sin": (np.sin, (-30, 30), 2, 2),
    "cos": (np.cos, (-30, 30), 2, 2),
    "sqrt": (np.sqrt, (0, 1e6), 1, 1),
    "sqrt_rn": (np.sqrt, (0, 1e6), 0, 0),
    "rsqrt": (lambda v: 1 / np.sqrt(v), (1e-6, 1e6), 2, 2),
    "erf": (np.vectorize(math.erf), (-4, 4), 2, 2),
    "floor": (np.floor, (-100, 100), 0, 0),
    "ceil": (np.ceil, (-100, 100), 0, 0),
    "abs": (np.abs, (-100, 100), 0, 0),
    "sigmoid": (lambda v: 1 / (1 + np.exp(-v)), (-30, 30), 4, 4),
    "log1p": (np.log1p, (-0.9, 100), 2, 2),
    "tan": (np.tan, (-1.5, 1.5), 4, 4),
    "tanh": (np.tanh, (-10, 10), 2, 2),
    "expm1": (np.expm1, (-5, 5), 2, 2),
    "log10": (np.log10, (1e-30, 1e30), 2, 2),
    "asin": (np.arcsin, (-1, 1), 4, 4),
    "acos": (np.arccos, (-1, 1), 4, 4),
    "atan": (np.arctan, (-50, 50), 2, 2),
    "sinh": (np.sinh, (-10, 10), 3, 3),
    "cosh": (np.cosh, (-10, 10), 3, 3),
    "asinh": (np.arcsinh, (-50, 50), 3, 3),
    "erfc": (np.vectorize(math.erfc), (-3, 8), 4, 4),
    "cbrt": (np.cbrt, (-1e6, 1e6), 2, 2),
    "trunc": (np.trunc, (-100, 100), 0, 0),
    "rint": (np.rint, (-100, 100), 0, 0),
    "round": (lambda v: np.sign(v) * np.floor(np.abs(v) + 0.5), (-100, 100), 0, 0),
    "exp10": (lambda v: 10.0**v, (-30, 30), 2, 2),
    "lgamma": (np.vectorize(math.lgamma), (2.5, 30), 6, 6),
}
COVERS_UNARY = {
    "exp": "tl.exp",
    "exp2": "tl.exp2",
    "log": "tl.log",
    "log2": "tl.log2",
    "sin": "tl.sin",
    "cos": "tl.cos",
    "sqrt": "tl.sqrt",
    "sqrt_rn": "tl.sqrt_rn",
    "rsqrt": "tl.rsqrt",
    "erf": "tl.erf",
    "floor": "tl.floor",
    "ceil": "tl.ceil",
    "abs": "tl.abs",
    "sigmoid": "tl.sigmoid",
}


def _inputs(rng: np.random.Generator, name: str, dtype: np.dtype) -> np.ndarray:
    lo, hi = UNARY[name][1]
    if lo > 0 and hi / lo > 1e3:  # log-uniform over wide positive ranges
        x = np.exp(rng.uniform(math.log(lo), math.log(hi), BLOCK))
    else:
        x = rng.uniform(lo, hi, BLOCK)
    if name in ("floor", "ceil", "trunc", "rint", "round"):
        x[:8] = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.0, -3.0]  # ties and integers
    if name == "log10":  # log(x) * 0.4342... rounded twice was 3 ulp off here (fp64)
        x[0] = 2.7257077961720313
    return x.astype(dtype)


@pytest.mark.xfail_backend(
    "cpu",
    owner="CPU",
    strict=False,
    reason="fp64 cbrt/lgamma are glibc's per lane: up to 3/10 ulp on some inputs (CUDA: 1/4)",
    name={"cbrt", "lgamma"},
    dtype="float64",
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.covers(COVERS_UNARY.get(n, f"libdevice.{n}")))
        for n in UNARY
    ],
)
@pytest.mark.covers("tl.math", "tl.extra")
def test_unary_math(backend: str, name: str, dtype: str, rng: np.random.Generator) -> None:
    """Each unary function within its ULP bound of the float64 reference, fp32 and fp64."""
    if name == "sqrt_rn" and dtype == "float64":
        pytest.skip("Triton defines sqrt_rn for fp32 only")
    npd = np.dtype(dtype)
    fn, _, ulp32, ulp64 = UNARY[name]
    x = _inputs(rng, name, npd)
    out = poisoned(BLOCK, dtype)
    buf = Buffers(backend)
    _unary[(1,)](buf(x), buf(out), FN=name, BLOCK=BLOCK)
    buf.sync()
    ref = fn(x.astype(np.float64))
    err = ulp_error(out, ref, npd)
    # A bound of 0 means correctly rounded: within half an ulp of the exact value. Other bounds
    # are CUDA's documented ones, plus half an ulp of slack for the float64 reference.
    bound = ulp32 if dtype == "float32" else ulp64
    bound = 0.5 if bound == 0 else bound + 0.5
    worst = int(np.argmax(err))
    assert err.max() <= bound, (
        f"{name}({x[worst]!r}) = {out[worst]!r}, expected {ref[worst]!r}"
        f" ({err.max():.1f} ulp > {bound})"
    )


@triton.jit
def _binary(X, Y, Z, OUT, FN: tl.constexpr, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    x = tl.load(X + o)
    y = tl.load(Y + o)
    z = tl.load(Z + o)
    if FN == "pow":
        r = libdevice.pow(x, y)
    elif FN == "atan2":
        r = libdevice.atan2(x, y)
    elif FN == "hypot":
        r = libdevice.hypot(x, y)
    elif FN == "copysign":
        r = libdevice.copysign(x, y)
    elif FN == "fmod":
        r = libdevice.fmod(x, y)
    elif FN == "fma":
        r = tl.fma(x, y, z)
    elif FN == "div_rn":
        r = tl.div_rn(x, y)
    elif FN == "fdiv":
        r = tl.fdiv(x, y)
    elif FN == "maximum":
        r = tl.maximum(x, y)
    elif FN == "minimum":
        r = tl.minimum(x, y)
    elif FN == "maximum_nan":
        r = tl.maximum(x, y, propagate_nan=tl.PropagateNan.ALL)
    elif FN == "minimum_nan":
        r = tl.minimum(x, y, propagate_nan=tl.PropagateNan.ALL)
    elif FN == "clamp":
        r = tl.clamp(x, tl.minimum(y, z), tl.maximum(y, z))
    elif FN == "where":
        r = tl.where(x < y, z, x * 2.0)
    else:
        tl.static_assert(FN == "softmax")
        r = tl.softmax(x[None, :], dim=1).reshape(BLOCK)
    tl.store(OUT + o, r)


def _ref_binary(name: str, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    x, y, z = (v.astype(np.float64) for v in (x, y, z))
    if name == "maximum_nan":
        return np.maximum(x, y)
    if name == "minimum_nan":
        return np.minimum(x, y)
    if name in ("maximum", "minimum"):
        return (np.fmax if name == "maximum" else np.fmin)(x, y)
    if name == "clamp":
        return np.clip(x, np.minimum(y, z), np.maximum(y, z))
    if name == "where":
        return np.where(x < y, z, x * 2.0)
    if name == "softmax":  # x - max is rounded to fp32 first, as the kernel computes it
        e = np.exp((x - x.max()).astype(np.float32).astype(np.float64))
        return e / e.sum()
    return {
        "pow": np.power,
        "atan2": np.arctan2,
        "hypot": np.hypot,
        "copysign": np.copysign,
        "fmod": np.fmod,
        "div_rn": np.divide,
        "fdiv": np.divide,
        "fma": lambda a, b: a * b + z,
    }[name](x, y)


# name -> max ULP (fp32), covered names
BINARY = {
    "pow": (4, "libdevice.pow"),
    "atan2": (4, "libdevice.atan2"),
    "hypot": (3, "libdevice.hypot"),
    "copysign": (0, "libdevice.copysign"),
    "fmod": (0, "libdevice.fmod"),
    "fma": (0, "tl.fma"),
    "div_rn": (0, "tl.div_rn"),
    "fdiv": (2, "tl.fdiv"),
    "maximum": (0, "tl.maximum"),
    "minimum": (0, "tl.minimum"),
    "maximum_nan": (0, "tl.PropagateNan"),
    "minimum_nan": (0, "tl.PropagateNan"),
    "clamp": (0, "tl.clamp"),
    "where": (0, "tl.where"),
    "softmax": (4, "tl.softmax"),
}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.covers(c)) for n, (_, c) in BINARY.items()]
)
def test_binary_math(backend: str, name: str, rng: np.random.Generator) -> None:
    """Two/three-operand math on fp32, NaN propagation of maximum/minimum included."""
    bound = BINARY[name][0]
    x = rng.uniform(-8, 8, BLOCK).astype(np.float32)
    y = rng.uniform(-8, 8, BLOCK).astype(np.float32)
    z = rng.uniform(-8, 8, BLOCK).astype(np.float32)
    if name == "pow":
        x = np.abs(x) + np.float32(0.1)
        y[:4] = [2.0, 3.0, -1.0, 0.5]
    if name.startswith(("maximum", "minimum")):
        x[:3] = np.nan
        y[5:7] = np.nan
        y[8], x[8] = 1.0, 1.0
    out = poisoned(BLOCK, "float32")
    buf = Buffers(backend)
    _binary[(1,)](buf(x), buf(y), buf(z), buf(out), FN=name, BLOCK=BLOCK)
    buf.sync()
    ref = _ref_binary(name, x, y, z)
    if name in ("maximum", "minimum"):
        # Without propagate_nan, Triton leaves NaN handling unspecified: check the rest only.
        keep = ~(np.isnan(x) | np.isnan(y))
        out, ref = out[keep], ref[keep]
    err = ulp_error(out, ref, np.dtype(np.float32))
    worst = int(np.argmax(err))
    assert err.max() <= max(0.5, bound), (
        f"{name}: got {out[worst]!r}, expected {ref[worst]!r} ({err.max():.1f} ulp)"
    )


@triton.jit
def _int_math(X, Y, OUT, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    x = tl.load(X + o)
    y = tl.load(Y + o)
    tl.store(OUT + o, tl.umulhi(x, y))
    tl.store(OUT + BLOCK + o, tl.cdiv(x, 7))
    tl.store(OUT + 2 * BLOCK + o, tl.abs(x - y))
    tl.store(OUT + 3 * BLOCK + o, tl.maximum(x, y))
    tl.store(OUT + 4 * BLOCK + o, tl.minimum(x, y))


@pytest.mark.covers("tl.umulhi", "tl.cdiv", "tl.abs", "tl.maximum", "tl.minimum")
@pytest.mark.parametrize("dtype", ["int32", "uint32", "int64"])
def test_integer_math(backend: str, dtype: str, rng: np.random.Generator) -> None:
    """umulhi (high half of the full product), cdiv, abs, maximum/minimum on integers."""
    npd = np.dtype(dtype)
    info = np.iinfo(npd)
    x = rng.integers(info.min // 4, info.max // 4, BLOCK, dtype=npd)
    y = rng.integers(info.min // 4, info.max // 4, BLOCK, dtype=npd)
    if dtype != "uint32":
        x[:8] = np.abs(x[:8])
    out = poisoned(5 * BLOCK, dtype)
    buf = Buffers(backend)
    _int_math[(1,)](buf(x), buf(y), buf(out), BLOCK=BLOCK)
    buf.sync()
    bits = npd.itemsize * 8
    mask = (1 << bits) - 1

    def wrap(v: int) -> int:
        v &= mask
        return v - (1 << bits) if npd.kind == "i" and v >= 1 << (bits - 1) else v

    xs, ys = [int(v) for v in x], [int(v) for v in y]
    # Triton's umulhi is an unsigned multiply (tt.mulhiui) whatever the signedness.
    hi = [wrap(((a & mask) * (b & mask)) >> bits) for a, b in zip(xs, ys)]
    np.testing.assert_array_equal(out[:BLOCK], np.array(hi, dtype=npd), err_msg="umulhi")
    pos = x >= 0  # cdiv is (x + 6) // 7 in C arithmetic; check it where x is non-negative
    cdiv = -(-x[pos].astype(np.int64) // 7)
    np.testing.assert_array_equal(out[BLOCK : 2 * BLOCK][pos], cdiv, err_msg="cdiv")
    diff = np.array([wrap(a - b) for a, b in zip(xs, ys)], dtype=npd)
    absd = np.abs(diff) if npd.kind == "i" else diff
    np.testing.assert_array_equal(out[2 * BLOCK : 3 * BLOCK], absd, err_msg="abs")
    np.testing.assert_array_equal(out[3 * BLOCK : 4 * BLOCK], np.maximum(x, y))
    np.testing.assert_array_equal(out[4 * BLOCK : 5 * BLOCK], np.minimum(x, y))


@triton.jit
def _fast(X, Y, OUT, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    x = tl.load(X + o)
    y = tl.load(Y + o)
    tl.store(OUT + o, libdevice.fast_expf(x))
    tl.store(OUT + BLOCK + o, libdevice.fast_logf(y))
    tl.store(OUT + 2 * BLOCK + o, libdevice.fast_sinf(x))
    tl.store(OUT + 3 * BLOCK + o, libdevice.fast_cosf(x))
    tl.store(OUT + 4 * BLOCK + o, libdevice.fast_dividef(x, y))
    tl.store(OUT + 5 * BLOCK + o, libdevice.fast_powf(y, x))
    tl.store(OUT + 6 * BLOCK + o, libdevice.fast_log2f(y))


@pytest.mark.covers(
    "libdevice.fast_expf",
    "libdevice.fast_logf",
    "libdevice.fast_sinf",
    "libdevice.fast_cosf",
    "libdevice.fast_dividef",
    "libdevice.fast_powf",
    "libdevice.fast_log2f",
)
def test_fast_math_variants(backend: str, rng: np.random.Generator) -> None:
    """The fast (approximate) libdevice variants: accepted, and within 64 ulp on easy ranges."""
    x = rng.uniform(-3, 3, BLOCK).astype(np.float32)
    y = rng.uniform(0.5, 4, BLOCK).astype(np.float32)
    out = poisoned(7 * BLOCK, "float32")
    buf = Buffers(backend)
    _fast[(1,)](buf(x), buf(y), buf(out), BLOCK=BLOCK)
    buf.sync()
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    refs = [np.exp(x64), np.log(y64), np.sin(x64), np.cos(x64), x64 / y64, y64**x64, np.log2(y64)]
    for i, ref in enumerate(refs):
        got = out[i * BLOCK : (i + 1) * BLOCK]
        # absolute slack near the zeros of sin/cos/log, relative (ulp) elsewhere
        err = np.minimum(ulp_error(got, ref, np.dtype(np.float32)), np.abs(got - ref) / 2.0**-22)
        assert err.max() <= 64, (i, float(err.max()))
