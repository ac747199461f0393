"""dtypes and casts (issue 4: dtypes): every cast pair, rounding modes, fp8, bitcast, predicates.

A kernel per source dtype casts one tile to every destination at once; the reference converts
exactly (Python ints / float64) and rounds once, to nearest even (or toward zero for
``fp_downcast_rounding="rtz"``).
"""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

from ._helpers import BF16, FP8E4, FP8E5, NP_DTYPES, Buffers, assert_bits_equal, poisoned

BLOCK = 64
DSTS = (
    "int1",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
)


@triton.jit
def _cast_all(X, B1, I8, I16, I32, I64, U8, U16, U32, U64, F16, BF, F32, F64, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    x = tl.load(X + o)
    tl.store(B1 + o, x.to(tl.int1))
    tl.store(I8 + o, x.to(tl.int8))
    tl.store(I16 + o, x.to(tl.int16))
    tl.store(I32 + o, x.to(tl.int32))
    tl.store(I64 + o, x.to(tl.int64))
    tl.store(U8 + o, x.to(tl.uint8))
    tl.store(U16 + o, x.to(tl.uint16))
    tl.store(U32 + o, x.to(tl.uint32))
    tl.store(U64 + o, x.to(tl.uint64))
    tl.store(F16 + o, x.to(tl.float16))
    tl.store(BF + o, tl.cast(x, tl.bfloat16))
    tl.store(F32 + o, x.to(tl.float32))
    tl.store(F64 + o, x.to(tl.float64))


def round_bf16(x: np.ndarray) -> np.ndarray:
    """float64 → bfloat16 rounded once to nearest even (normal range)."""
    x = np.asarray(x, np.float64)
    m, e = np.frexp(x)
    r = np.ldexp(np.rint(m * 256.0), e - 8)  # 8 significant bits, ties to even
    return r.astype(np.float32).astype(BF16)


def exact_cast(x: np.ndarray, src: str, dst: str) -> np.ndarray:
    """What ``x.to(dst)`` must give, computed exactly."""
    npd = NP_DTYPES[dst]
    if dst == "int1":
        return x.astype(np.float64) != 0 if src not in ("int64", "uint64") else x != 0
    if src == "int1":
        return x.astype(np.uint8).astype(npd)
    sk = NP_DTYPES[src].kind
    if npd.kind in "iu":
        if sk in "iu":
            return x.astype(npd)  # NumPy wraps like two's complement truncation
        return np.trunc(x.astype(np.float64)).astype(np.int64).astype(npd)
    wide = x.astype(np.float64)
    with np.errstate(over="ignore"):  # large ints overflow fp16 to inf, as they must
        if dst == "bfloat16":
            return round_bf16(wide)
        if sk in "iu" and src in ("int64", "uint64") and dst in ("float16", "float32"):
            return x.astype(npd)  # direct int → float conversion rounds once
        return wide.astype(npd)


SRCS = (
    "int1",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
)


def _source(rng: np.random.Generator, src: str) -> np.ndarray:
    npd = NP_DTYPES[src]
    if src == "int1":
        return rng.random(BLOCK) < 0.5
    if npd.kind in "iu":
        info = np.iinfo(npd)
        x = rng.integers(info.min, info.max, BLOCK, endpoint=True, dtype=npd)
        x[:6] = [0, 1, 2, 3, 127, 100] if npd.kind == "u" else [0, -1, 1, -128, 127, -100]
        return x
    x = rng.uniform(-100, 100, BLOCK)
    x[:8] = [0.0, -0.0, 0.5, -0.5, 1.5, -2.5, 99.99, -99.99]
    return x.astype(npd)


@pytest.mark.covers(
    "tl.cast",
    "tensor.to",
    "tl.int1",
    "tl.int8",
    "tl.int16",
    "tl.int32",
    "tl.int64",
    "tl.uint8",
    "tl.uint16",
    "tl.uint32",
    "tl.uint64",
    "tl.float16",
    "tl.bfloat16",
    "tl.float32",
    "tl.float64",
)
@pytest.mark.parametrize("src", SRCS)
def test_cast_matrix(backend: str, src: str, rng: np.random.Generator) -> None:
    """``x.to(dst)`` for every destination: wrap-around, truncation, round-to-nearest-even."""
    x = _source(rng, src)
    outs = {d: poisoned(BLOCK, d) for d in DSTS}
    buf = Buffers(backend)
    _cast_all[(1,)](buf(x), *(buf(outs[d]) for d in DSTS), BLOCK=BLOCK)
    buf.sync()
    errors = []
    for d in DSTS:
        ref = exact_cast(x, src, d)
        got = outs[d]
        keep = np.ones(BLOCK, bool)
        if "float" in src and NP_DTYPES[d].kind == "u":
            keep = x.astype(np.float64) > -1  # negative float → unsigned is undefined
        if "float" in src and d == "int8":
            keep = np.abs(x.astype(np.float64)) < 128
        gb = got[keep].view(f"u{got.dtype.itemsize}") if d != "int1" else got[keep]
        rb = ref[keep].view(f"u{ref.dtype.itemsize}") if d != "int1" else ref[keep]
        if not np.array_equal(gb, rb):
            i = int(np.nonzero(gb != rb)[0][0])
            errors.append(
                f"{src}->{d}: x={x[keep][i]!r} got {got[keep][i]!r} expected {ref[keep][i]!r}"
            )
    assert not errors, "\n".join(errors)


@triton.jit
def _downcast_rtz(X, F16, BF, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    x = tl.load(X + o)
    tl.store(F16 + o, x.to(tl.float16, fp_downcast_rounding="rtz"))
    tl.store(BF + o, x.to(tl.bfloat16, fp_downcast_rounding="rtz"))
    tl.store(F16 + BLOCK + o, x.to(tl.float16, fp_downcast_rounding="rtne"))
    tl.store(BF + BLOCK + o, x.to(tl.bfloat16, fp_downcast_rounding="rtne"))


def _toward_zero(x: np.ndarray, rn: np.ndarray) -> np.ndarray:
    """Round-to-nearest result ``rn`` stepped one ulp toward zero where it overshoots."""
    over = np.abs(rn.astype(np.float64)) > np.abs(x.astype(np.float64))
    bits = rn.view(np.uint16).copy()
    bits[over] -= 1  # sign-magnitude: one less in the magnitude is one ulp toward zero
    return bits.view(rn.dtype)


@pytest.mark.covers("tl.cast", "fp_downcast_rounding")
def test_fp_downcast_rounding(backend: str, rng: np.random.Generator) -> None:
    """fp32 → fp16/bf16 with ``rtz`` truncates; ``rtne`` rounds to nearest even."""
    x = rng.uniform(-1000, 1000, BLOCK).astype(np.float32)
    f16, bf = poisoned(2 * BLOCK, "float16"), poisoned(2 * BLOCK, "bfloat16")
    buf = Buffers(backend)
    _downcast_rtz[(1,)](buf(x), buf(f16), buf(bf), BLOCK=BLOCK)
    buf.sync()
    rn16, rnbf = x.astype(np.float16), round_bf16(x)
    assert_bits_equal(f16[:BLOCK], _toward_zero(x, rn16), "fp16 rtz")
    assert_bits_equal(bf[:BLOCK], _toward_zero(x, rnbf), "bf16 rtz")
    assert_bits_equal(f16[BLOCK:], rn16, "fp16 rtne")
    assert_bits_equal(bf[BLOCK:], rnbf, "bf16 rtne")


@triton.jit
def _fp8_casts(X, E4, E5, BACK4, BACK5, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    x = tl.load(X + o)
    e4 = x.to(tl.float8e4nv)
    e5 = x.to(tl.float8e5)
    tl.store(E4 + o, e4)
    tl.store(E5 + o, e5)
    tl.store(BACK4 + o, e4.to(X.dtype.element_ty))
    tl.store(BACK5 + o, e5.to(X.dtype.element_ty))


@pytest.mark.covers("tl.float8e4nv", "tl.float8e5", "tl.cast")
@pytest.mark.parametrize("src", ["float16", "bfloat16", "float32"])
def test_fp8_round_trip(backend: str, src: str, rng: np.random.Generator) -> None:
    """fp16/bf16/fp32 → fp8 e4m3fn/e5m2 rounds to nearest even; fp8 → wide is exact."""
    x = rng.uniform(-200, 200, BLOCK)
    x[:6] = [0.0, 1.0625, 1.1875, -3.25, 0.013671875, 448.0]  # ties for e4m3 and e5m2
    x = x.astype(NP_DTYPES[src])
    e4, e5 = poisoned(BLOCK, "float8e4nv"), poisoned(BLOCK, "float8e5")
    b4, b5 = poisoned(BLOCK, src), poisoned(BLOCK, src)
    buf = Buffers(backend)
    _fp8_casts[(1,)](buf(x), buf(e4), buf(e5), buf(b4), buf(b5), BLOCK=BLOCK)
    buf.sync()
    wide = x.astype(np.float32)  # exact
    assert_bits_equal(e4, wide.astype(FP8E4), "e4m3fn")
    assert_bits_equal(e5, wide.astype(FP8E5), "e5m2")
    assert_bits_equal(b4, e4.astype(np.float32).astype(NP_DTYPES[src]), "e4m3fn back")
    assert_bits_equal(b5, e5.astype(np.float32).astype(NP_DTYPES[src]), "e5m2 back")


@triton.jit
def _bitcasts(F, H, B, I8, OF, OH, OB, O8, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    f = tl.load(F + o)
    i = f.to(tl.int32, bitcast=True)
    tl.static_assert(i.dtype == tl.int32)
    tl.store(OF + o, (i ^ 0x7F).to(tl.float32, bitcast=True))
    h = tl.load(H + o).to(tl.uint16, bitcast=True)
    tl.store(OH + o, tl.cast((h + 3).to(tl.int16, bitcast=True), tl.float16, bitcast=True))
    b = tl.load(B + o)
    tl.store(OB + o, (b.to(tl.int16, bitcast=True) >> 1).to(tl.bfloat16, bitcast=True))
    q = tl.load(I8 + o)
    tl.store(O8 + o, q.to(tl.float8e5, bitcast=True))


@pytest.mark.covers("tl.cast", "bitcast")
def test_bitcast(backend: str, rng: np.random.Generator) -> None:
    """Bitcasts between same-width types keep the bits, through integer arithmetic."""
    f = rng.uniform(-10, 10, BLOCK).astype(np.float32)
    h = rng.uniform(-10, 10, BLOCK).astype(np.float16)
    b = round_bf16(rng.uniform(0.5, 10, BLOCK))
    q = rng.integers(0, 120, BLOCK).astype(np.int8)
    of, oh, ob = poisoned(BLOCK, "float32"), poisoned(BLOCK, "float16"), poisoned(BLOCK, "bfloat16")
    o8 = poisoned(BLOCK, "float8e5")
    buf = Buffers(backend)
    _bitcasts[(1,)](buf(f), buf(h), buf(b), buf(q), buf(of), buf(oh), buf(ob), buf(o8), BLOCK=BLOCK)
    buf.sync()
    assert_bits_equal(of, (f.view(np.int32) ^ 0x7F).view(np.float32), "f32")
    assert_bits_equal(oh, (h.view(np.uint16) + np.uint16(3)).view(np.float16), "f16")
    assert_bits_equal(ob, (b.view(np.int16) >> 1).view(BF16), "bf16")
    assert_bits_equal(o8, q.view(FP8E5), "fp8")


@triton.jit
def _dtype_predicates(P16, PB, P32, PI8, PU32, P8, OUT):
    tl.static_assert(P16.dtype.element_ty.is_fp16())
    tl.static_assert(P16.dtype.element_ty.is_floating())
    tl.static_assert(PB.dtype.element_ty.is_bf16())
    tl.static_assert(P32.dtype.element_ty.is_fp32())
    tl.static_assert(P32.dtype.is_ptr())
    tl.static_assert(PI8.dtype.element_ty.is_int_signed())
    tl.static_assert(PI8.dtype.element_ty.primitive_bitwidth == 8)
    tl.static_assert(PU32.dtype.element_ty.is_int_unsigned())
    tl.static_assert(PU32.dtype.element_ty.is_int())
    tl.static_assert(P8.dtype.element_ty.is_fp8())
    tl.static_assert(P8.dtype.element_ty == tl.float8e4nv)
    tl.static_assert(not PU32.dtype.element_ty.is_floating())
    x = tl.load(P32 + tl.arange(0, 8))
    tl.static_assert(x.dtype == tl.float32)
    tl.static_assert(x.type.is_block())
    tl.static_assert(x.shape[0] == 8)
    tl.static_assert((x < 0).dtype.is_bool())
    tl.store(OUT, 1)


@pytest.mark.covers("tl.dtype", "tl.pointer_type", "tl.block_type")
def test_dtype_predicates_in_kernel(backend: str) -> None:
    """``tl.dtype`` predicates on argument and tile types, evaluated at compile time."""
    out = poisoned(1, "int32")
    buf = Buffers(backend)
    args = [
        np.ones(8, NP_DTYPES[d])
        for d in ("float16", "bfloat16", "float32", "int8", "uint32", "float8e4nv")
    ]
    _dtype_predicates[(1,)](*(buf(a) for a in args), buf(out))
    buf.sync()
    assert out[0] == 1


def test_dtype_objects() -> None:
    """Host-side ``tl.dtype`` objects: names, bit widths, predicates and string parsing."""
    assert tl.dtype("fp32") == tl.float32
    assert tl.float32.primitive_bitwidth == 32 and tl.bfloat16.primitive_bitwidth == 16
    assert tl.float8e5.is_fp8() and tl.float8e4nv.is_fp8() and not tl.float16.is_fp8()
    assert tl.int1.is_bool() and tl.uint8.is_int_unsigned() and tl.int64.is_int_signed()
    assert tl.pointer_type(tl.float16).element_ty == tl.float16
    assert tl.block_type(tl.int32, [4, 8]).shape == (4, 8) or list(
        tl.block_type(tl.int32, [4, 8]).shape
    ) == [4, 8]
    assert tl.float32.name == "fp32" and tl.bfloat16.name == "bf16" and tl.uint8.name == "uint8"


@triton.jit
def _fp8_saturation(X, E4, E5, N: tl.constexpr):
    r = tl.arange(0, N)
    x = tl.load(X + r)
    tl.store(E4 + r, x.to(tl.float8e4nv))
    tl.store(E5 + r, x.to(tl.float8e5))


@pytest.mark.covers("tl.float8e4nv", "tl.float8e5", "tl.cast")
def test_fp8_saturation_and_nan(backend: str) -> None:
    """fp32 → fp8 saturates out-of-range values to ±max (cvt.rn.satfinite); NaN stays NaN."""
    x = np.array(
        [
            1000.0,
            -1e6,
            np.inf,
            -np.inf,
            465.0,
            448.0,
            6e4,
            57344.0,
            1e9,
            np.nan,
            -0.0,
            2.0**-12,
            2.0**-20,
            -3.0,
            0.1,
            1.0,
        ],
        np.float32,
    )
    e4, e5 = poisoned(16, "float8e4nv"), poisoned(16, "float8e5")
    buf = Buffers(backend)
    _fp8_saturation[(1,)](buf(x), buf(e4), buf(e5), N=16)
    buf.sync()
    ref4 = np.clip(x, -448, 448).astype(FP8E4)
    ref5 = np.clip(x, -57344, 57344).astype(FP8E5)
    assert np.isnan(e4[9].astype(np.float32)) and np.isnan(e5[9].astype(np.float32))
    keep = ~np.isnan(x)
    assert_bits_equal(e4[keep], ref4[keep], "e4m3fn")
    assert_bits_equal(e5[keep], ref5[keep], "e5m2")
