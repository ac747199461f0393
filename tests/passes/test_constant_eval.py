"""Constant folding agrees with NumPy's fixed-width arithmetic, bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tritium.ir.types import FloatType, IntType, f16, f32, f64, i1, i8, i16, i32, i64
from tritium.passes.constant_eval import evaluate, normalize

INT_OPS = {
    "addi": np.add,
    "subi": np.subtract,
    "muli": np.multiply,
    "andi": np.bitwise_and,
    "ori": np.bitwise_or,
    "xori": np.bitwise_xor,
    "maxsi": np.maximum,
    "minsi": np.minimum,
}
SIGNED = {i8: np.int8, i16: np.int16, i32: np.int32, i64: np.int64}
UNSIGNED = {i8: np.uint8, i16: np.uint16, i32: np.uint32, i64: np.uint64}


def _ints(t: IntType, rng: np.random.Generator, n: int) -> list[int]:
    edge = [0, 1, -1, (1 << (t.width - 1)) - 1, -(1 << (t.width - 1))]
    rand = [
        int(x) for x in rng.integers(-(1 << (t.width - 1)), 1 << (t.width - 1), n, dtype=np.int64)
    ]
    return edge + rand


@pytest.mark.parametrize("t", [i8, i16, i32, i64], ids=str)
def test_integer_ops_match_numpy(t: IntType) -> None:
    rng = np.random.default_rng(0)
    xs = _ints(t, rng, 20)
    st, ut = SIGNED[t], UNSIGNED[t]
    with np.errstate(all="ignore"):
        for name, fn in INT_OPS.items():
            for a in xs:
                for b in xs[:8]:
                    want = int(fn(st(a), st(b)))
                    assert evaluate(f"arith.{name}", {}, [t, t], t, [a, b]) == want, (name, a, b)
        for a in xs:
            for b in xs[:8]:
                if b == 0 or (a == -(1 << (t.width - 1)) and b == -1):
                    assert evaluate("arith.divsi", {}, [t, t], t, [a, b]) is None
                    continue
                q = int(np.trunc(a / b)) if t.width < 53 else None
                got = evaluate("arith.divsi", {}, [t, t], t, [a, b])
                if q is not None:
                    assert got == q, (a, b)
                r = evaluate("arith.remsi", {}, [t, t], t, [a, b])
                assert r == int(np.fmod(st(a), st(b))), (a, b)
                uq = evaluate("arith.divui", {}, [t, t], t, [a, b])
                assert normalize(uq, t) == normalize(
                    int(ut(a % (1 << t.width)) // ut(b % (1 << t.width))), t
                )


def test_shifts_and_undefined_cases() -> None:
    assert evaluate("arith.shli", {}, [i32, i32], i32, [1, 31]) == -(1 << 31)
    assert evaluate("arith.shli", {}, [i32, i32], i32, [1, 32]) is None
    assert evaluate("arith.shrsi", {}, [i8, i8], i8, [-128, 7]) == -1
    assert evaluate("arith.shrui", {}, [i8, i8], i8, [-128, 7]) == 1
    assert evaluate("arith.shrui", {}, [i8, i8], i8, [1, -1]) is None  # shift by 255


@pytest.mark.parametrize(
    "pred, a, b, want",
    [
        ("slt", -1, 0, True),
        ("ult", -1, 0, False),
        ("uge", -1, 0, True),
        ("eq", 255, -1, False),
        ("sle", 5, 5, True),
        ("ne", 3, 4, True),
    ],
)
def test_cmpi(pred: str, a: int, b: int, want: bool) -> None:
    assert evaluate("arith.cmpi", {"predicate": pred}, [i32, i32], i1, [a, b]) is want


@pytest.mark.parametrize(
    "t, np_t", [(f16, np.float16), (f32, np.float32), (f64, np.float64)], ids=["f16", "f32", "f64"]
)
def test_float_ops_round_like_numpy(t: FloatType, np_t: type) -> None:
    rng = np.random.default_rng(1)
    vals = [float(np_t(v)) for v in rng.standard_normal(30) * 100] + [
        0.0,
        -0.0,
        math.inf,
        -math.inf,
        math.nan,
        float(np.finfo(np_t).max),
    ]
    ops = {
        "addf": np.add,
        "subf": np.subtract,
        "mulf": np.multiply,
        "divf": np.divide,
        "remf": np.fmod,
        "maximumf": np.maximum,
        "minimumf": np.minimum,
        "maxnumf": np.fmax,
        "minnumf": np.fmin,
    }
    with np.errstate(all="ignore"):
        for name, fn in ops.items():
            for a in vals:
                for b in vals[::3]:
                    if a == b == 0.0 and name.startswith(("max", "min")):
                        continue  # NumPy does not order -0.0 below 0.0; see the test below
                    want = fn(np_t(a), np_t(b))
                    got = evaluate(f"arith.{name}", {}, [t, t], t, [a, b])
                    assert got is not None
                    assert np_t(got).tobytes() == want.tobytes() or (
                        math.isnan(got) and np.isnan(want)
                    ), (name, a, b, got, want)


def test_signed_zero_in_max_min() -> None:
    assert math.copysign(1, evaluate("arith.maximumf", {}, [f32, f32], f32, [-0.0, 0.0])) == 1
    assert math.copysign(1, evaluate("arith.minimumf", {}, [f32, f32], f32, [0.0, -0.0])) == -1


@pytest.mark.parametrize(
    "pred, a, b, want",
    [
        ("olt", 1.0, 2.0, True),
        ("olt", math.nan, 2.0, False),
        ("ult", math.nan, 2.0, True),
        ("une", math.nan, math.nan, True),
        ("oeq", math.nan, math.nan, False),
        ("one", 1.0, 1.0, False),
        ("ord", 1.0, math.nan, False),
        ("uno", 1.0, math.nan, True),
    ],
)
def test_cmpf(pred: str, a: float, b: float, want: bool) -> None:
    assert evaluate("arith.cmpf", {"predicate": pred}, [f32, f32], i1, [a, b]) is want


def test_casts() -> None:
    assert evaluate("arith.extsi", {}, [i8], i32, [-1]) == -1
    assert evaluate("arith.extui", {}, [i8], i32, [-1]) == 255
    assert evaluate("arith.trunci", {}, [i32], i8, [0x1FF]) == -1
    assert evaluate("arith.uitofp", {}, [i32], f32, [-1]) == 4294967296.0
    assert evaluate("arith.sitofp", {}, [i64], f32, [(1 << 60) + 1]) is None  # double rounding
    assert evaluate("arith.fptosi", {}, [f32], i32, [-2.9]) == -2
    assert evaluate("arith.fptosi", {}, [f32], i8, [128.0]) is None
    assert evaluate("arith.fptoui", {}, [f32], i8, [-1.0]) is None
    assert evaluate("arith.fptosi", {}, [f32], i32, [math.nan]) is None
    assert evaluate("arith.truncf", {}, [f32], f16, [70000.0]) == math.inf
    assert evaluate("arith.extf", {}, [f16], f32, [0.5]) == 0.5


def test_not_folded() -> None:
    assert evaluate("math.exp", {}, [f32], f32, [1.0]) is None
    from tritium.ir.types import bf16

    assert evaluate("arith.addf", {}, [bf16, bf16], bf16, [1.0, 1.0]) is None


def test_normalize() -> None:
    assert normalize(255, i8) == -1 and normalize(1, i1) is True and normalize(2, i1) is False
    assert normalize(0.1, f32) == float(np.float32(0.1))


@pytest.mark.parametrize(
    "name, x, want",
    [
        ("math.round", 0.49999999999999994, 0.0),
        ("math.round", 2.5, 3.0),
        ("math.round", -2.5, -3.0),
        ("math.roundeven", 2.5, 2.0),
        ("math.roundeven", -3.5, -4.0),
        ("math.trunc", -2.7, -2.0),
        ("math.round", -0.2, -0.0),
    ],
)
def test_rounding_functions(name: str, x: float, want: float) -> None:
    from tritium.ir import OPS

    if name not in OPS:
        pytest.skip(f"{name} is not an op")
    got = evaluate(name, {}, [f64], f64, [x])
    assert got == want and math.copysign(1, got) == math.copysign(1, want)
