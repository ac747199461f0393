"""Exact value semantics: casts, bf16/fp8 rounding, integer division, promotion, shifts."""

from __future__ import annotations

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

import tritium.language as tl
from tritium.interpreter import run_kernel
from tritium.interpreter.itypes import (
    BF16 as IBF16,
)
from tritium.interpreter.itypes import (
    BOOL,
    F8E4NV,
    F8E5,
    F16,
    F32,
    F64,
    I8,
    I32,
    I64,
    U8,
    U32,
    computation_type,
)
from tritium.interpreter.numerics import cast_array

from ._helpers import BF16, poison


def _rne(x: Fraction, mant: int) -> Fraction:
    """Round the exact value x to ``mant`` explicit mantissa bits, ties to even (normal range)."""
    if x == 0:
        return x
    sign = -1 if x < 0 else 1
    x = abs(x)
    e = 0
    while x >= 2:
        x /= 2
        e += 1
    while x < 1:
        x *= 2
        e -= 1
    scaled = x * 2**mant
    q, r = divmod(scaled.numerator, scaled.denominator)
    half = Fraction(r, scaled.denominator)
    if half > Fraction(1, 2) or (half == Fraction(1, 2) and q % 2):
        q += 1
    return sign * Fraction(q, 2**mant) * Fraction(2) ** e


def test_f32_to_bf16_matches_ml_dtypes(rng):
    x = (rng.standard_normal(20000) * 10.0 ** rng.integers(-30, 30, 20000)).astype(np.float32)
    got = cast_array(x, F32, IBF16)
    np.testing.assert_array_equal(got.view(np.uint16), x.astype(BF16).view(np.uint16))


def test_f64_and_int_to_bf16_round_once(rng):
    # ml_dtypes goes through float32 (two roundings); these values show the difference.
    x = np.array([1 + 2**-8 + 2**-30, -(1 + 2**-8 + 2**-40)], np.float64)
    got = cast_array(x, F64, IBF16).astype(np.float64)
    np.testing.assert_array_equal(got, [1 + 2**-7, -(1 + 2**-7)])
    i = np.array([2**24 + 2**16 + 1, 2**40 + 2**32 + 1, -(2**62 + 2**54 + 1)], np.int64)
    got = cast_array(i, I64, IBF16).astype(np.float64)
    ref = [float(_rne(Fraction(int(v)), 7)) for v in i]
    np.testing.assert_array_equal(got, ref)
    y = rng.standard_normal(2000) * 1e3
    got = cast_array(y, F64, IBF16).astype(np.float64)
    ref = [float(_rne(Fraction(float(v)), 7)) for v in y]
    np.testing.assert_array_equal(got, ref)


def test_f32_to_fp16_and_rtz(rng):
    x = rng.standard_normal(5000).astype(np.float32)
    np.testing.assert_array_equal(cast_array(x, F32, F16), x.astype(np.float16))
    rz = cast_array(x, F32, F16, "rtz").astype(np.float64)
    assert (np.abs(rz) <= np.abs(x.astype(np.float64))).all()
    # rtz lands on the representable value just below (in magnitude) or on x itself
    up = np.nextafter(rz.astype(np.float16), np.sign(x).astype(np.float16) * np.inf)
    assert (np.abs(up.astype(np.float64)) > np.abs(x)).all() | (rz == x).all()
    assert cast_array(np.array([1e6], np.float32), F32, F16, "rtz")[0] == np.float16(65504)


def test_fp8_saturates():
    x = np.array([1e6, -1e6, np.inf, np.nan, 1.0625, 300.0], np.float32)
    e4 = cast_array(x, F32, F8E4NV).astype(np.float32)
    np.testing.assert_array_equal(e4[:3], [448, -448, 448])
    assert np.isnan(e4[3])
    assert e4[4] == np.float32(1.0625).astype(ml_dtypes.float8_e4m3fn).astype(np.float32)
    e5 = cast_array(x, F32, F8E5).astype(np.float32)
    np.testing.assert_array_equal(e5[:3], [57344, -57344, 57344])


def test_float_to_int_truncates():
    x = np.array([2.7, -2.7, 0.5, -0.5, 1e10, np.nan], np.float32)
    np.testing.assert_array_equal(cast_array(x, F32, I32)[:4], [2, -2, 0, 0])
    np.testing.assert_array_equal(cast_array(x[:4], F32, BOOL), [True, True, True, True])
    np.testing.assert_array_equal(cast_array(np.array([-1], np.int8), I8, U32), [2**32 - 1])
    np.testing.assert_array_equal(cast_array(np.array([255], np.uint8), U8, I32), [255])
    np.testing.assert_array_equal(cast_array(np.array([300], np.int32), I32, I8), [44])


def test_promotion_rules():
    assert computation_type(F16, False, F32, True) is F16  # Python float does not promote
    assert computation_type(F16, False, F32, False) is F32
    assert computation_type(IBF16, False, F16, False) is F16  # fp16 rule comes first
    assert computation_type(IBF16, False, IBF16, False, True) is F32  # bf16 / bf16
    assert computation_type(I8, False, I32, True) is I8  # Python int takes the tensor's type
    assert computation_type(I32, False, F32, True) is F32  # Python float over int tensor
    assert computation_type(I32, False, U32, False) is U32  # C's usual conversions
    assert computation_type(I64, False, U32, False) is I64
    assert computation_type(U8, False, I32, False) is I32
    with pytest.raises(TypeError):
        computation_type(I32, False, U32, False, True)  # / with mixed signedness


def int_ops_kernel(a_ptr, b_ptr, q_ptr, r_ptr, s_ptr, t_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    a = tl.load(a_ptr + offs)
    b = tl.load(b_ptr + offs)
    tl.store(q_ptr + offs, a // b)
    tl.store(r_ptr + offs, a % b)
    tl.store(s_ptr + offs, (a << 3) >> (b & 7))
    tl.store(t_ptr + offs, a * b * 77 + b)  # wraps around


@pytest.mark.parametrize("dtype", [np.int32, np.int8, np.int64, np.uint32])
def test_integer_division_truncates(run, rng, dtype):
    info = np.iinfo(dtype)
    lo = max(int(info.min), -(10**6))
    a = rng.integers(lo, min(int(info.max), 10**6), 64).astype(dtype)
    b = rng.integers(1 if lo == 0 else -50, 50, 64).astype(dtype)
    b[b == 0] = 3
    outs = [poison(64, dtype) for _ in range(4)]
    run(
        int_ops_kernel,
        (1,),
        a_ptr=a,
        b_ptr=b,
        q_ptr=outs[0],
        r_ptr=outs[1],
        s_ptr=outs[2],
        t_ptr=outs[3],
        BLOCK=64,
    )
    ia, ib = [int(v) for v in a], [int(v) for v in b]
    q = [
        int(x / y) if abs(x) < 2**52 else (abs(x) // abs(y)) * (1 if (x < 0) == (y < 0) else -1)
        for x, y in zip(ia, ib)
    ]
    np.testing.assert_array_equal(outs[0].astype(np.int64), q)
    np.testing.assert_array_equal(
        outs[1].astype(np.int64), [x - y * qq for x, y, qq in zip(ia, ib, q)]
    )
    bits = np.dtype(dtype).itemsize * 8
    mask = (1 << bits) - 1

    def wrap(v: int) -> int:
        v &= mask
        return v - (1 << bits) if info.min < 0 and v >> (bits - 1) else v

    shl = [wrap(x << 3) for x in ia]
    shr = [(v >> (y & 7)) if info.min < 0 else ((v & mask) >> (y & 7)) for v, y in zip(shl, ib)]
    np.testing.assert_array_equal(outs[2].astype(np.int64), [wrap(v) for v in shr])
    np.testing.assert_array_equal(
        outs[3].astype(np.int64), [wrap(x * y * 77 + y) for x, y in zip(ia, ib)]
    )


def float_mod_kernel(a_ptr, b_ptr, r_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(r_ptr + offs, tl.load(a_ptr + offs) % tl.load(b_ptr + offs))


def test_float_mod_is_fmod(rng):
    a = rng.standard_normal(32).astype(np.float32) * 10
    b = rng.standard_normal(32).astype(np.float32)
    r = poison(32, np.float32)
    run_kernel(float_mod_kernel, (1,), dict(a_ptr=a, b_ptr=b, r_ptr=r, BLOCK=32))
    np.testing.assert_array_equal(r, np.fmod(a, b))


def cast_kernel(x_ptr, bf_ptr, h_ptr, i_ptr, f8_ptr, bits_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    tl.store(bf_ptr + offs, x.to(tl.bfloat16))
    tl.store(h_ptr + offs, x.to(tl.float16, fp_downcast_rounding="rtz"))
    tl.store(i_ptr + offs, x.to(tl.int32))
    tl.store(f8_ptr + offs, x.to(tl.float8e5).to(tl.float32))
    tl.store(bits_ptr + offs, x.to(tl.int32, bitcast=True))


def test_casts_in_kernel(run, rng):
    x = (rng.standard_normal(128) * 1000).astype(np.float32)
    bf, h = poison(128, BF16), poison(128, np.float16)
    i, f8, bits = poison(128, np.int32), poison(128, np.float32), poison(128, np.int32)
    run(
        cast_kernel, (1,), x_ptr=x, bf_ptr=bf, h_ptr=h, i_ptr=i, f8_ptr=f8, bits_ptr=bits, BLOCK=128
    )
    np.testing.assert_array_equal(bf.view(np.uint16), x.astype(BF16).view(np.uint16))
    np.testing.assert_array_equal(h, cast_array(x, F32, F16, "rtz"))
    np.testing.assert_array_equal(i, np.trunc(x).astype(np.int32))
    np.testing.assert_array_equal(f8, x.astype(ml_dtypes.float8_e5m2).astype(np.float32))
    np.testing.assert_array_equal(bits, x.view(np.int32))


def scalar_args_kernel(out_ptr, f, i, big):
    tl.store(out_ptr + 0, f.to(tl.float64))
    tl.store(out_ptr + 1, (i * 3).to(tl.float64))
    tl.store(out_ptr + 2, big.to(tl.float64))
    tl.store(out_ptr + 3, (i / 2).to(tl.float64))  # int / int is fp32


def test_scalar_arguments():
    out = poison(4, np.float64)
    run_kernel(scalar_args_kernel, (1,), dict(out_ptr=out, f=0.1, i=7, big=2**40 + 1))
    assert out[0] == float(np.float32(0.1))  # Python floats are fp32 arguments
    assert out[1] == 21.0
    assert out[2] == float(2**40 + 1)  # ints that do not fit in 32 bits are int64
    assert out[3] == 3.5


def math_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    y = tl.exp(x) + tl.log(tl.abs(x) + 1) + tl.sin(x) * tl.cos(x) + tl.sqrt(tl.abs(x))
    y = y + tl.erf(x) + tl.math.tanh(x) + tl.maximum(x, 0.5) + tl.sigmoid(x)
    tl.store(out_ptr + offs, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_math_functions(rng, dtype):
    import math

    x = rng.standard_normal(64).astype(dtype)
    out = poison(64, dtype)
    run_kernel(math_kernel, (1,), dict(x_ptr=x, out_ptr=out, BLOCK=64))
    v = x.astype(np.float64)
    erf = np.array([math.erf(t) for t in v])
    ref = (
        np.exp(v)
        + np.log(np.abs(v) + 1)
        + np.sin(v) * np.cos(v)
        + np.sqrt(np.abs(v))
        + erf
        + np.tanh(v)
        + np.maximum(v, 0.5)
        + 1 / (1 + np.exp(-v))
    )
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out.astype(np.float64), ref, rtol=tol, atol=tol)


def test_int64_to_float64_rounds_to_nearest():
    v = np.array([-2061975791821112909, 2**62 + 2**10 + 1], np.int64)
    np.testing.assert_array_equal(cast_array(v, I64, F64), [float(int(x)) for x in v])
    u = np.array([14882829602125971384], np.uint64)
    from tritium.interpreter.itypes import U64

    np.testing.assert_array_equal(cast_array(u, U64, F64), [float(int(u[0]))])


def test_reinterpreted_arguments(rng):
    from tritium.runtime.tensor_wrapper import TensorWrapper

    x = rng.standard_normal(32).astype(np.float32)
    out = poison(32, np.int32)
    run_kernel(
        copy_bits_kernel, (1,), dict(src_ptr=TensorWrapper(x, tl.int32), dst_ptr=out, BLOCK=32)
    )
    np.testing.assert_array_equal(out, x.view(np.int32))


def copy_bits_kernel(src_ptr, dst_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    v = tl.load(src_ptr + offs)
    tl.static_assert(v.dtype == tl.int32)
    tl.store(dst_ptr + offs, v)


def libdevice_kernel(x_ptr, y_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    y = tl.load(y_ptr + offs)
    tl.store(out_ptr + offs, tl.math.fdim(x, y))
    tl.store(out_ptr + BLOCK + offs, tl.math.round(x))
    tl.store(out_ptr + 2 * BLOCK + offs, tl.math.rint(x))
    tl.store(out_ptr + 3 * BLOCK + offs, tl.math.copysign(tl.math.hypot(x, y), y))


def test_libdevice_semantics():
    x = np.array([2.5, -2.5, 3.5, np.nan, 1.0, 0.5, -0.5, 7.0], np.float32)
    y = np.array([1.0, 1.0, np.nan, 1.0, 2.0, -3.0, 0.25, -1.0], np.float32)
    out = poison(32, np.float32)
    run_kernel(libdevice_kernel, (1,), dict(x_ptr=x, y_ptr=y, out_ptr=out, BLOCK=8))
    fdim = np.where(np.isnan(x) | np.isnan(y), np.nan, np.maximum(x - y, 0))
    np.testing.assert_array_equal(out[:8], fdim.astype(np.float32))
    np.testing.assert_array_equal(out[8:16], [3, -3, 4, np.nan, 1, 1, -1, 7])  # half away
    np.testing.assert_array_equal(out[16:24], [2, -2, 4, np.nan, 1, 0, -0.0, 7])  # half even
    ref = np.copysign(np.hypot(x.astype(np.float64), y), y).astype(np.float32)
    np.testing.assert_array_equal(out[24:], ref)


def ilogb_kernel(x_ptr, o_ptr, r_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    tl.store(o_ptr + offs, tl.math.ilogb(x))
    tl.store(r_ptr + offs, tl.math.remainder(x, x - x))  # remainder(x, 0) is NaN, no error


def test_ilogb_and_remainder_edge_cases():
    x = np.array([1, 0.999999, 2**-140, 0, np.inf, np.nan, -8, 3], np.float32)
    o = poison(8, np.int32)
    r = poison(8, np.float32)
    run_kernel(ilogb_kernel, (1,), dict(x_ptr=x, o_ptr=o, r_ptr=r, BLOCK=8))
    np.testing.assert_array_equal(o, [0, -1, -140, -(2**31), 2**31 - 1, -(2**31), 3, 1])
    assert np.isnan(r).all()
