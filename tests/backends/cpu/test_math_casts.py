"""Vectorized math functions (accuracy in ulp against float64) and casts incl. fp8."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest

from tests.backends.cpu.irgen import (
    BF16,
    F16,
    F32,
    F64,
    I32,
    KernelBuilder,
    compile_kernel,
    launch,
    poison,
    ptr,
    tensor,
)
from tritium.ir import types as irt

_N = 512


def _map_kernel(op: str, in_t: irt.Type, out_t: irt.Type, **attrs: object) -> object:
    kb = KernelBuilder("map", [ptr(in_t), ptr(out_t), I32])
    x_ptr, y_ptr, n = kb.args
    offs = kb.binary("arith.addi", kb.splat(kb.binary("arith.muli", kb.pid(0),
                                                      kb.const(_N, I32)), [_N]),
                     kb.arange(0, _N))
    mask = kb.cmp("arith.cmpi", "slt", offs, kb.splat(n, [_N]))
    x = kb.load(kb.addptr(kb.splat(x_ptr, [_N]), offs), mask)
    y = kb.op(op, [x], tensor([_N], out_t), **attrs)
    kb.store(kb.addptr(kb.splat(y_ptr, [_N]), offs), y, mask)
    kernel, _ = compile_kernel(kb)
    return kernel


def _run(kernel: object, x: np.ndarray, out_dtype: object) -> np.ndarray:
    y = poison(x.size, out_dtype)
    launch(kernel, ((x.size + _N - 1) // _N,), x, y, x.size)
    return y


_SPECIAL = [0.0, -0.0, 1.0, -1.0, float("inf"), float("-inf"), float("nan"), 1e-40, -1e-40,
            1e-30, 88.7, 89.0, -87.0, -104.0, 1e30, -1e30, 0.5, 3.0e-8, 100.0, -100.0]


def _inputs(name: str, rng: np.random.Generator) -> np.ndarray:
    wide = {"exp": 90.0, "exp2": 130.0, "tanh": 12.0, "erf": 5.0, "sin": 100.0, "cos": 100.0,
            "tan": 3.0}.get(name, 50.0)
    x = rng.uniform(-wide, wide, 3000)
    if name in ("log", "log2", "sqrt", "rsqrt", "log1p"):
        x = np.abs(x) * np.exp(rng.uniform(-80, 80, x.size))
    x = np.concatenate([x, _SPECIAL])
    return x.astype(np.float32)


_REF = {
    "exp": np.exp, "exp2": np.exp2, "log": np.log, "log2": np.log2, "sqrt": np.sqrt,
    "rsqrt": lambda x: 1 / np.sqrt(x), "tanh": np.tanh, "sin": np.sin, "cos": np.cos,
    "tan": np.tan, "erf": np.vectorize(math.erf, otypes=[np.float64]), "log1p": np.log1p,
    "absf": np.abs, "floor": np.floor, "ceil": np.ceil,
}
_ULP = {"exp": 2, "exp2": 2, "log": 2, "log2": 2, "tanh": 3, "rsqrt": 1}


def _ulp_error(got: np.ndarray, ref: np.ndarray) -> float:
    with np.errstate(over="ignore"):
        ref32 = ref.astype(np.float32)
    both_nan = np.isnan(got) & np.isnan(ref32)
    same = (got == ref32) | both_nan
    finite = np.isfinite(ref32) & ~same
    if (~same & ~finite).any():
        bad = np.flatnonzero(~same & ~finite)
        raise AssertionError(f"non-finite mismatch: got {got[bad][:5]}, want {ref32[bad][:5]}")
    spacing = np.spacing(np.abs(ref32[finite]).astype(np.float32)).astype(np.float64)
    err = np.abs(got[finite].astype(np.float64) - ref[finite]) / spacing
    return float(err.max()) if err.size else 0.0


@pytest.mark.parametrize("name", sorted(_REF))
def test_math_f32_accuracy(name: str) -> None:
    rng = np.random.default_rng(abs(hash(name)) % 1000)
    x = _inputs(name, rng)
    y = _run(_map_kernel(f"math.{name}", F32, F32), x, np.float32)
    with np.errstate(all="ignore"):
        ref = _REF[name](x.astype(np.float64))
    assert _ulp_error(y, ref) <= _ULP.get(name, 1) + 0.5


@pytest.mark.parametrize("name", ["exp", "log", "sin", "tanh", "sqrt"])
def test_math_f64_and_half(name: str) -> None:
    rng = np.random.default_rng(1)
    x64 = rng.uniform(0.1, 5.0, 700)
    y = _run(_map_kernel(f"math.{name}", F64, F64), x64, np.float64)
    np.testing.assert_allclose(y, _REF[name](x64), rtol=1e-14)
    for t, dt in ((F16, np.float16), (BF16, ml_dtypes.bfloat16)):
        xh = x64.astype(dt)
        yh = _run(_map_kernel(f"math.{name}", t, t), xh, dt)
        ref = _REF[name](xh.astype(np.float64)).astype(dt)
        np.testing.assert_array_equal(yh.astype(np.float64), ref.astype(np.float64))


_FP8 = {irt.f8E4M3FN: ml_dtypes.float8_e4m3fn, irt.f8E5M2: ml_dtypes.float8_e5m2}


@pytest.mark.parametrize("t8", list(_FP8))
def test_fp8_round_trip(t8: irt.Type) -> None:
    np8 = _FP8[t8]
    rng = np.random.default_rng(2)
    top = 400.0 if t8 == irt.f8E4M3FN else 50000.0
    x = np.concatenate([rng.uniform(-top, top, 500), rng.standard_normal(500) * 1e-2,
                        rng.standard_normal(100) * 1e-5, [0.0, -0.0, float("nan")]])
    x = x.astype(np.float32)
    bits = _run(_map_kernel("tt.fp_to_fp", F32, t8, rounding="rtne"), x, np.uint8)
    ref = x.astype(np8)
    got = bits.view(np8)
    np.testing.assert_array_equal(got[:-1].astype(np.float64), ref[:-1].astype(np.float64))
    assert np.isnan(got[-1].astype(np.float32))
    back = _run(_map_kernel("arith.extf", t8, F32), ref.view(np.uint8), np.float32)
    np.testing.assert_array_equal(back, ref.astype(np.float32))


def test_fp8_e4m3_saturates_like_triton() -> None:
    x = np.array([500.0, -1e6, float("inf")], np.float32)
    bits = _run(_map_kernel("tt.fp_to_fp", F32, irt.f8E4M3FN, rounding="rtne"), x, np.uint8)
    np.testing.assert_array_equal(bits.view(ml_dtypes.float8_e4m3fn).astype(np.float32),
                                  [448.0, -448.0, 448.0])


@pytest.mark.parametrize("t,dt", [(F16, np.float16), (BF16, ml_dtypes.bfloat16)])
def test_truncf_rtne_and_rtz(t: irt.Type, dt: object) -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(1000) * 100).astype(np.float32)
    y = _run(_map_kernel("arith.truncf", F32, t), x, dt)
    np.testing.assert_array_equal(y.astype(np.float32), x.astype(dt).astype(np.float32))
    z = _run(_map_kernel("tt.fp_to_fp", F32, t, rounding="rtz"), x, dt)
    mag = np.abs(z.astype(np.float64))
    assert (mag <= np.abs(x)).all()
    # round-toward-zero: the next representable magnitude is beyond |x|
    above = (np.abs(z).view(np.uint16) + 1).view(dt).astype(np.float64)
    assert (above > np.abs(x)).all()


def test_int_float_casts_saturate() -> None:
    x = np.array([1.7, -1.7, 3e9, -3e9, float("nan"), 12345.9], np.float32)
    y = _run(_map_kernel("arith.fptosi", F32, I32), x, np.int32)
    np.testing.assert_array_equal(y, [1, -1, 2**31 - 1, -(2**31), 0, 12345])
    i = np.array([-5, 7, 2**24 + 1, -(2**31)], np.int32)
    f = _run(_map_kernel("arith.sitofp", I32, F32), i, np.float32)
    np.testing.assert_array_equal(f, i.astype(np.float32))
