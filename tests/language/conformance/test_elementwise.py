"""Elementwise operators per dtype pair, with Triton's type promotion (issue 4: elementwise).

One kernel computes every binary operator for a pair of dtypes; ``tl.static_assert`` checks
the promoted dtype at compile time and the stored values are compared with a reference in
Python integers / float64, rounded once to the expected dtype.
"""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

from ._helpers import NP_DTYPES, Buffers, assert_bits_equal, poisoned, random_array

BLOCK = 64
INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
FLOATS_ORDER = ("float16", "bfloat16", "float32", "float64")


def promote(a: str, b: str, div_or_mod: bool = False) -> str:
    """Triton's computation type of two tensor dtypes (semantic.computation_type_impl)."""
    if "float64" in (a, b):
        return "float64"
    if "float32" in (a, b):
        return "float32"
    if "float16" in (a, b):
        return "float32" if div_or_mod else "float16"
    if "bfloat16" in (a, b):
        return "bfloat16" if a == b and not div_or_mod else "float32"
    ba, bb = NP_DTYPES[a].itemsize, NP_DTYPES[b].itemsize
    ua, ub = a.startswith("u"), b.startswith("u")
    if ua == ub:
        return a if ba >= bb else b
    if ua:
        return a if ba >= bb else b
    return b if bb >= ba else a


def _wrap(values: list[int], dtype: str) -> np.ndarray:
    """Python ints wrapped two's-complement into ``dtype``."""
    bits = NP_DTYPES[dtype].itemsize * 8
    out = [v & ((1 << bits) - 1) for v in values]
    if not dtype.startswith("u"):
        out = [v - (1 << bits) if v >= 1 << (bits - 1) else v for v in out]
    return np.array(out, dtype=np.int64 if not dtype.startswith("u") else np.uint64).astype(
        NP_DTYPES[dtype]
    )


def _cdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _cmod(a: int, b: int) -> int:
    return a - _cdiv(a, b) * b


@triton.jit
def _int_binops(
    X,
    Y,
    S,
    ADD,
    SUB,
    MUL,
    DIV,
    FDIV,
    MOD,
    AND,
    OR,
    XOR,
    SHL,
    SHR,
    CMP,
    NEG,
    RES: tl.constexpr,
    DIVMOD: tl.constexpr,
    BLOCK: tl.constexpr,
):
    o = tl.arange(0, BLOCK)
    x = tl.load(X + o)
    y = tl.load(Y + o)
    s = tl.load(S + o)
    add = x + y
    tl.static_assert(add.dtype == RES)
    tl.store(ADD + o, add)
    tl.store(SUB + o, x - y)
    tl.store(MUL + o, x * y)
    if DIVMOD:
        q = x // y
        tl.static_assert(q.dtype == RES)
        tl.store(FDIV + o, q)
        tl.store(MOD + o, x % y)
        d = x / y
        tl.static_assert(d.dtype == tl.float32)
        tl.store(DIV + o, d)
    tl.store(AND + o, x & y)
    tl.store(OR + o, x | y)
    tl.store(XOR + o, x ^ y)
    tl.store(SHL + o, x << s)
    tl.store(SHR + o, x >> s)
    lt = x < y
    tl.static_assert(lt.dtype == tl.int1)
    tl.store(CMP + o, lt)
    tl.store(CMP + BLOCK + o, x <= y)
    tl.store(CMP + 2 * BLOCK + o, x > y)
    tl.store(CMP + 3 * BLOCK + o, x >= y)
    tl.store(CMP + 4 * BLOCK + o, x == y)
    tl.store(CMP + 5 * BLOCK + o, x != y)
    tl.store(NEG + o, -x)
    tl.store(NEG + BLOCK + o, ~x)


INT_PAIRS = [
    ("int8", "int8"),
    ("int8", "int16"),
    ("int16", "int32"),
    ("int32", "int32"),
    ("int32", "int64"),
    ("uint8", "uint8"),
    ("uint16", "uint32"),
    ("uint64", "uint64"),
    ("uint8", "int32"),
    ("int8", "uint32"),
    ("int64", "uint32"),
]


@pytest.mark.covers(
    "tl.add",
    "tl.sub",
    "tl.mul",
    "tl.fdiv",
    "tl.where",
    "__floordiv__",
    "__mod__",
    "__and__",
    "__or__",
    "__xor__",
    "__lshift__",
    "__rshift__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__eq__",
    "__ne__",
    "__neg__",
    "__invert__",
    "tl.int8",
    "tl.int16",
    "tl.int32",
    "tl.int64",
    "tl.uint8",
    "tl.uint16",
    "tl.uint32",
    "tl.uint64",
)
@pytest.mark.parametrize("pair", INT_PAIRS, ids=lambda p: f"{p[0]}-{p[1]}")
def test_integer_binary_ops(backend: str, pair: tuple[str, str], rng: np.random.Generator) -> None:
    """Every integer operator: promotion, wrap-around, C division/modulo, shifts by type."""
    a, b = pair
    res = promote(a, b)
    divmod_ok = a.startswith("u") == b.startswith("u")
    bits = NP_DTYPES[res].itemsize * 8
    x = random_array(rng, BLOCK, a, low=np.iinfo(NP_DTYPES[a]).min + 1)
    y = random_array(rng, BLOCK, b, low=np.iinfo(NP_DTYPES[b]).min + 1)
    y[:4] = [1, 3, 7, 2]  # small divisors exercise the quotient, large ones the remainder
    x[4:8] = [5, 7, 3, 1] if a.startswith("u") else [-7, 7, -5, 5]
    y[4:8] = [2, 2, 2, 3] if b.startswith("u") else [2, -2, -3, -3]
    smax = min(bits, NP_DTYPES[b].itemsize * 8) - 1
    s = rng.integers(0, smax, BLOCK, endpoint=True).astype(NP_DTYPES[b])
    buf = Buffers(backend)
    outs = {
        k: poisoned(BLOCK, res)
        for k in ("add", "sub", "mul", "fdiv", "mod", "and", "or", "xor", "shl", "shr")
    }
    div = poisoned(BLOCK, "float32")
    cmp_ = poisoned(6 * BLOCK, "int1")
    neg = poisoned(2 * BLOCK, a)
    dev = {k: buf(v) for k, v in outs.items()}
    _int_binops[(1,)](
        buf(x),
        buf(y),
        buf(s),
        dev["add"],
        dev["sub"],
        dev["mul"],
        buf(div),
        dev["fdiv"],
        dev["mod"],
        dev["and"],
        dev["or"],
        dev["xor"],
        dev["shl"],
        dev["shr"],
        buf(cmp_),
        buf(neg),
        RES=getattr(tl, res),
        DIVMOD=divmod_ok,
        BLOCK=BLOCK,
    )
    buf.sync()
    xs = [int(v) for v in x.astype(NP_DTYPES[res])]
    ys = [int(v) for v in y.astype(NP_DTYPES[res])]
    ss = [int(v) for v in s]
    ref = {
        "add": [p + q for p, q in zip(xs, ys)],
        "sub": [p - q for p, q in zip(xs, ys)],
        "mul": [p * q for p, q in zip(xs, ys)],
        "and": [p & q for p, q in zip(xs, ys)],
        "or": [p | q for p, q in zip(xs, ys)],
        "xor": [p ^ q for p, q in zip(xs, ys)],
        "shl": [p << q for p, q in zip(xs, ss)],
        # arithmetic or logical by the left operand's own signedness (Triton's rule), then
        # wrapped to the result type
        "shr": [int(p) >> q for p, q in zip(x, ss)],
    }
    if divmod_ok:
        ref["fdiv"] = [_cdiv(p, q) for p, q in zip(xs, ys)]
        ref["mod"] = [_cmod(p, q) for p, q in zip(xs, ys)]
        np.testing.assert_array_equal(div, (x.astype(np.float32) / y.astype(np.float32)))
    for k, v in ref.items():
        np.testing.assert_array_equal(outs[k], _wrap(v, res), err_msg=k)
    xr, yr = x.astype(NP_DTYPES[res]), y.astype(NP_DTYPES[res])
    for i, op in enumerate(
        (np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal)
    ):
        np.testing.assert_array_equal(
            cmp_[i * BLOCK : (i + 1) * BLOCK], op(xr, yr), err_msg=str(op)
        )
    np.testing.assert_array_equal(neg[:BLOCK], _wrap([-int(v) for v in x], a))
    np.testing.assert_array_equal(neg[BLOCK:], _wrap([~int(v) for v in x], a))


@triton.jit
def _float_binops(
    X,
    Y,
    ADD,
    SUB,
    MUL,
    DIV,
    MOD,
    CMP,
    NEG,
    RES: tl.constexpr,
    DRES: tl.constexpr,
    BLOCK: tl.constexpr,
):
    o = tl.arange(0, BLOCK)
    x = tl.load(X + o)
    y = tl.load(Y + o)
    add = x + y
    tl.static_assert(add.dtype == RES)
    tl.store(ADD + o, add)
    tl.store(SUB + o, x - y)
    tl.store(MUL + o, x * y)
    d = x / y
    tl.static_assert(d.dtype == DRES)
    tl.store(DIV + o, d)
    tl.store(MOD + o, x % y)
    tl.store(CMP + o, x < y)
    tl.store(CMP + BLOCK + o, x <= y)
    tl.store(CMP + 2 * BLOCK + o, x > y)
    tl.store(CMP + 3 * BLOCK + o, x >= y)
    tl.store(CMP + 4 * BLOCK + o, x == y)
    tl.store(CMP + 5 * BLOCK + o, x != y)
    tl.store(NEG + o, -x)


FLOAT_PAIRS = [
    ("float32", "float32"),
    ("float16", "float16"),
    ("bfloat16", "bfloat16"),
    ("float64", "float64"),
    ("float16", "float32"),
    ("bfloat16", "float32"),
    ("float32", "float64"),
    ("int32", "float32"),
    ("int8", "float16"),
    ("bfloat16", "int16"),
    ("uint8", "float64"),
]


def _round_to(ref64: np.ndarray, dtype: str) -> np.ndarray:
    """float64 values rounded once to ``dtype`` (bf16 through fp32 is exact here)."""
    if dtype == "bfloat16":
        return ref64.astype(np.float32).astype(NP_DTYPES[dtype])
    return ref64.astype(NP_DTYPES[dtype])


@pytest.mark.covers(
    "tl.add",
    "tl.sub",
    "tl.mul",
    "__truediv__",
    "__mod__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__eq__",
    "__ne__",
    "__neg__",
    "tl.float16",
    "tl.bfloat16",
    "tl.float32",
    "tl.float64",
)
@pytest.mark.parametrize("pair", FLOAT_PAIRS, ids=lambda p: f"{p[0]}-{p[1]}")
def test_float_binary_ops(backend: str, pair: tuple[str, str], rng: np.random.Generator) -> None:
    """Float operators: promotion (fp16/bf16 `/` in fp32), correctly rounded + - * /, fmod."""
    a, b = pair
    res, dres = promote(a, b), promote(a, b, div_or_mod=True)
    ia, ib = a not in FLOATS_ORDER, b not in FLOATS_ORDER
    x = random_array(rng, BLOCK, a, low=-20 if ia else None, high=20 if ia else None)
    y = random_array(rng, BLOCK, b, low=-20 if ib else None, high=20 if ib else None)
    if not (ia or ib):
        y[:3] = x[:3]  # equal operands for ==, <=
    buf = Buffers(backend)
    outs = {k: poisoned(BLOCK, res) for k in ("add", "sub", "mul")}
    div, mod = poisoned(BLOCK, dres), poisoned(BLOCK, dres)
    cmp_ = poisoned(6 * BLOCK, "int1")
    neg = poisoned(BLOCK, a)
    _float_binops[(1,)](
        buf(x),
        buf(y),
        buf(outs["add"]),
        buf(outs["sub"]),
        buf(outs["mul"]),
        buf(div),
        buf(mod),
        buf(cmp_),
        buf(neg),
        RES=getattr(tl, res),
        DRES=getattr(tl, dres),
        BLOCK=BLOCK,
    )
    buf.sync()
    # Operands are first converted to the computation type (exact for these inputs).
    xr = x.astype(NP_DTYPES[res]).astype(np.float64)
    yr = y.astype(NP_DTYPES[res]).astype(np.float64)
    for k, v in (("add", xr + yr), ("sub", xr - yr), ("mul", xr * yr)):
        assert_bits_equal(outs[k], _round_to(v, res), k)
    xd = x.astype(NP_DTYPES[dres]).astype(np.float64)
    yd = y.astype(NP_DTYPES[dres]).astype(np.float64)
    assert_bits_equal(div, _round_to(xd / yd, dres), "div")
    assert_bits_equal(mod, _round_to(np.fmod(xd, yd), dres), "mod")
    for i, op in enumerate(
        (np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal)
    ):
        np.testing.assert_array_equal(
            cmp_[i * BLOCK : (i + 1) * BLOCK], op(xr, yr), err_msg=str(op)
        )
    if ia:
        np.testing.assert_array_equal(neg, _wrap([-int(v) for v in x], a))
    else:
        np.testing.assert_array_equal(neg.astype(np.float64), -x.astype(np.float64))


@triton.jit
def _scalar_promotion(X, OUT, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    x = tl.load(X + o)
    one = x + 1
    tl.static_assert(one.dtype == x.dtype)
    tl.store(OUT + o, one.to(tl.float64))
    f = x * 1.5
    tl.static_assert(f.dtype == tl.float32 or f.dtype == tl.float64 or f.dtype == tl.float16)
    tl.store(OUT + BLOCK + o, f.to(tl.float64))
    m = 3 - x
    tl.store(OUT + 2 * BLOCK + o, m.to(tl.float64))


@pytest.mark.covers("tl.add", "tl.mul", "tl.sub")
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "float16", "float32"])
def test_python_scalar_operands(backend: str, dtype: str, rng: np.random.Generator) -> None:
    """A Python scalar of a lower or equal kind does not widen a tensor (int8 + 1 is int8)."""
    x = random_array(rng, BLOCK, dtype, low=0 if dtype.startswith("u") else None)
    out = poisoned(3 * BLOCK, "float64")
    buf = Buffers(backend)
    _scalar_promotion[(1,)](buf(x), buf(out), BLOCK=BLOCK)
    buf.sync()
    npd = NP_DTYPES[dtype]
    if npd.kind in "iu":
        one = _wrap([int(v) + 1 for v in x], dtype).astype(np.float64)
        three = _wrap([3 - int(v) for v in x], dtype).astype(np.float64)
        f = (x.astype(np.float32) * np.float32(1.5)).astype(np.float64)
    else:
        one = (x.astype(np.float64) + 1).astype(npd).astype(np.float64)
        three = (3 - x.astype(np.float64)).astype(npd).astype(np.float64)
        f = (x.astype(np.float64) * 1.5).astype(npd).astype(np.float64)
    np.testing.assert_array_equal(out[:BLOCK], one)
    np.testing.assert_array_equal(out[BLOCK : 2 * BLOCK], f)
    np.testing.assert_array_equal(out[2 * BLOCK :], three)


@triton.jit
def _where_promotion(X, Y, OUT, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    x = tl.load(X + o)  # int8
    y = tl.load(Y + o)  # float16
    w1 = tl.where(x > 0, x, 1.5)
    tl.static_assert(w1.dtype == tl.float32)
    tl.store(OUT + o, w1)
    w2 = tl.where(x > 0, x, y)
    tl.static_assert(w2.dtype == tl.float16)
    tl.store(OUT + BLOCK + o, w2.to(tl.float32))
    w3 = tl.where(o % 2 == 0, x, 7)
    tl.static_assert(w3.dtype == tl.int8)
    tl.store(OUT + 2 * BLOCK + o, w3.to(tl.float32))
    w4 = tl.where(True, y, x)
    tl.store(OUT + 3 * BLOCK + o, w4.to(tl.float32))


@pytest.mark.covers("tl.where")
def test_where_promotion(backend: str, rng: np.random.Generator) -> None:
    """tl.where promotes its branches like a binary op; scalar branches and conditions."""
    x = random_array(rng, BLOCK, "int8", low=-100, high=100)
    y = random_array(rng, BLOCK, "float16")
    out = poisoned(4 * BLOCK, "float32")
    buf = Buffers(backend)
    _where_promotion[(1,)](buf(x), buf(y), buf(out), BLOCK=BLOCK)
    buf.sync()
    xf = x.astype(np.float32)
    o = np.arange(BLOCK)
    np.testing.assert_array_equal(out[:BLOCK], np.where(x > 0, xf, 1.5))
    np.testing.assert_array_equal(
        out[BLOCK : 2 * BLOCK], np.where(x > 0, xf.astype(np.float16), y).astype(np.float32)
    )
    np.testing.assert_array_equal(out[2 * BLOCK : 3 * BLOCK], np.where(o % 2 == 0, xf, 7))
    np.testing.assert_array_equal(out[3 * BLOCK :], y.astype(np.float32))


@triton.jit
def _scalar_c_semantics(OUT, a, b, f):
    # run-time scalars
    tl.store(OUT + 0, a // b)
    tl.store(OUT + 1, a % b)
    tl.store(OUT + 2, -a // b)
    tl.store(OUT + 3, a >> 1)
    # the same on values the compiler can fold (tensor constants, not Python constexprs)
    c = tl.full((), -7, tl.int32)
    d = tl.full((), 2, tl.int32)
    tl.store(OUT + 4, c // d)
    tl.store(OUT + 5, c % d)
    tl.store(OUT + 6, c % -d)
    tl.store(OUT + 7, (c * 1000000) * 3000)  # wraps in int32
    tl.store(OUT + 8, (f * 3).to(tl.int32))  # float scalar arg, truncation toward zero
    tl.store(OUT + 9, tl.program_id(0) * 2.5 + a)


@pytest.mark.covers("__floordiv__", "__mod__", "__rshift__", "tl.full")
def test_scalar_c_semantics(backend: str) -> None:
    """Scalar integer // and % truncate toward zero (C), folded or not; int32 wraps."""
    out = poisoned(10, "int32")
    buf = Buffers(backend)
    _scalar_c_semantics[(1,)](buf(out), -7, 2, -1.7)
    buf.sync()
    wrap = (((-7 * 1000000) * 3000 + 2**31) % 2**32) - 2**31
    np.testing.assert_array_equal(out, [-3, -1, 3, -4, -3, -1, -1, wrap, -5, -7])


@triton.jit
def _scalar_args(OUT, i32, i64, u64, f, flag, h, one):
    tl.static_assert(i64.dtype == tl.int64)
    tl.static_assert(u64.dtype == tl.uint64)
    tl.static_assert(f.dtype == tl.float32)
    tl.store(OUT + 0, i32.to(tl.float64))
    tl.store(OUT + 1, (i64 + 1).to(tl.float64))
    tl.store(OUT + 2, (u64 >> 40).to(tl.float64))
    tl.store(OUT + 3, f.to(tl.float64))
    tl.store(OUT + 4, tl.where(flag, 1.0, 2.0).to(tl.float64))
    tl.store(OUT + 5, h.to(tl.float64))
    tl.store(OUT + 6, (f * one + one).to(tl.float64))  # `one` may be a constexpr (== 1)


@pytest.mark.covers("kernel arguments")
def test_scalar_argument_types(backend: str) -> None:
    """Python int → i32/i64/u64 by magnitude, float → fp32, bool → i1, NumPy scalars by dtype,
    and the value 1 (specialized) still usable as a value."""
    out = poisoned(7, "float64")
    buf = Buffers(backend)
    _scalar_args[(1,)](buf(out), -123, 2**40 + 5, 2**63 + 2**45, 1.25, True, np.float16(0.5), 1)
    buf.sync()
    ref = [-123, 2**40 + 6, (2**63 + 2**45) >> 40, 1.25, 1.0, 0.5, 2.25]
    np.testing.assert_array_equal(out, np.array(ref, np.float64))


@triton.jit
def _special(X, Y, CMP, F, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    x = tl.load(X + o)
    y = tl.load(Y + o)
    tl.store(CMP + o, x < y)
    tl.store(CMP + BLOCK + o, x <= y)
    tl.store(CMP + 2 * BLOCK + o, x > y)
    tl.store(CMP + 3 * BLOCK + o, x >= y)
    tl.store(CMP + 4 * BLOCK + o, x == y)
    tl.store(CMP + 5 * BLOCK + o, x != y)
    tl.store(F + o, x / y)
    tl.store(F + BLOCK + o, x * y)
    tl.store(F + 2 * BLOCK + o, x - y)
    tl.store(F + 3 * BLOCK + o, -x)
    tl.store(F + 4 * BLOCK + o, tl.abs(x))
    tl.store(F + 5 * BLOCK + o, tl.sqrt(x))


@pytest.mark.covers(
    "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__", "__truediv__", "tl.abs", "tl.sqrt"
)
def test_float_special_values(backend: str) -> None:
    """IEEE semantics with NaN, ±inf, ±0 and subnormals: unordered compares are false except
    !=, x/0 is ±inf, 0/0 NaN, -0.0 keeps its sign, sqrt(-1) is NaN."""
    vals = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e-45, 3e38], np.float32)
    x = np.repeat(vals, vals.size)
    y = np.tile(vals, vals.size)
    block = 128
    x = np.concatenate([x, np.ones(block - x.size, np.float32)])
    y = np.concatenate([y, np.ones(block - y.size, np.float32)])
    cmp_ = poisoned(6 * block, "int1")
    f = poisoned(6 * block, "float32")
    buf = Buffers(backend)
    _special[(1,)](buf(x), buf(y), buf(cmp_), buf(f), BLOCK=block)
    buf.sync()
    for i, op in enumerate(
        (np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal)
    ):
        np.testing.assert_array_equal(cmp_[i * block : (i + 1) * block], op(x, y), err_msg=str(op))
    with np.errstate(all="ignore"):
        refs = [x / y, x * y, x - y, -x, np.abs(x), np.sqrt(x)]
    for i, ref in enumerate(refs):
        got = f[i * block : (i + 1) * block]
        ref = ref.astype(np.float32)
        nan = np.isnan(ref)
        np.testing.assert_array_equal(np.isnan(got), nan, err_msg=f"{i}: NaN lanes")
        keep = ~nan
        if i == 3:  # Triton computes -x as 0 - x: the sign of -(+0.0) is not IEEE's
            keep &= x != 0
        assert_bits_equal(got[keep], ref[keep], str(i))
