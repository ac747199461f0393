"""Smallest reproductions of failures a sample of Triton's own tests found (``tools/
run_triton_tests.py``, ``docs/triton_tests.md``), each the test's pattern cut down to a few
lines and run compiled and interpreted (the ``mode`` fixture).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import tritium
import tritium.language as tl

torch = pytest.importorskip("torch")


@tritium.jit
def _abs(x_ptr, z_ptr, SIZE: tl.constexpr):
    offs = tl.arange(0, SIZE)
    tl.store(z_ptr + offs, tl.abs(tl.load(x_ptr + offs)))


#: Triton's fp8 dtype -> (ml_dtypes type that decodes its bytes, scale, NaN code). fp8e4b15 is
#: e4m3fn's layout with bias 15, so e4m3fn's values times 2**-8.
_FP8 = {
    "float8e4nv": (ml_dtypes.float8_e4m3fn, 1.0, 0x7F),
    "float8e5": (ml_dtypes.float8_e5m2, 1.0, 0x7E),
    "float8e4b8": (ml_dtypes.float8_e4m3fnuz, 1.0, 0x80),
    "float8e5b16": (ml_dtypes.float8_e5m2fnuz, 1.0, 0x80),
    "float8e4b15": (ml_dtypes.float8_e4m3fn, 2.0**-8, 0x7F),
}


def _every_code(kernel, name: str, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """``kernel`` (x_ptr, z_ptr, SIZE) run on every one of the 256 codes of the fp8 format
    ``name``, in a random order, into an output poisoned with NaN: the codes, and x and z
    decoded to float64."""
    decode, scale, nan_code = _FP8[name]
    dt = getattr(tl, name)
    codes = rng.permutation(256).astype(np.uint8)
    out = np.full(256, nan_code, dtype=np.uint8)  # poisoned: NaN in every format
    x_t, out_t = torch.from_numpy(codes.view(np.int8)), torch.from_numpy(out.view(np.int8))
    kernel[(1,)](tritium.reinterpret(x_t, dt), tritium.reinterpret(out_t, dt), SIZE=256)
    x = codes.view(decode).astype(np.float64) * scale
    return codes, x, out.view(decode).astype(np.float64) * scale


@pytest.mark.parametrize("name", sorted(_FP8))
def test_abs_of_fp8(mode: str, name: str, rng: np.random.Generator) -> None:
    """``tl.abs`` of an fp8 tile (Triton's test_abs_fp8): compiled, LLVM's ``fabs`` was called
    on the i8 bit patterns ("Intrinsic has incorrect return type!"). Every one of the 256
    codes, in a random order, against float64; infinities stay infinite and NaNs NaN."""
    codes, x, got = _every_code(_abs, name, rng)
    np.testing.assert_array_equal(got, np.abs(x), err_msg=f"{name}, codes {codes.tolist()}")


@tritium.jit
def _neg(x_ptr, z_ptr, SIZE: tl.constexpr):
    offs = tl.arange(0, SIZE)
    tl.store(z_ptr + offs, -tl.load(x_ptr + offs))


@pytest.mark.parametrize("name", sorted(_FP8))
def test_negation_of_fp8(mode: str, name: str, rng: np.random.Generator) -> None:
    """``-x`` of an fp8 tile is a sign flip, as Triton's ``fneg``: through f32 and back (both
    modes), e5m2's infinities became -57344 and +57344 (the cast saturates). A ``fnuz``
    format's 0 and NaN (0x80) have no negative and stay. Every code, in a random order."""
    nan_code = _FP8[name][2]
    codes, x, got = _every_code(_neg, name, rng)
    np.testing.assert_array_equal(got, -x, err_msg=f"{name}, codes {codes.tolist()}")
    signed = ~np.isnan(x)
    want = np.signbit(-x) & ~((x == 0) & (nan_code == 0x80))  # fnuz: no -0
    np.testing.assert_array_equal(np.signbit(got)[signed], want[signed], err_msg=name)


def test_negation_of_zero_is_negative_zero(mode: str, rng: np.random.Generator) -> None:
    """``-x`` of fp32 +0.0 is -0.0 in both modes (the interpreter computed 0 - x: +0.0)."""
    x = rng.standard_normal(64).astype(np.float32)
    x[rng.permutation(64)[:16]] = 0.0
    out = np.full(64, np.nan, dtype=np.float32)
    _neg[(1,)](x, out, SIZE=64)
    np.testing.assert_array_equal(out, -x.astype(np.float64))
    np.testing.assert_array_equal(np.signbit(out), ~np.signbit(x))


@tritium.jit
def _sum_range(out_ptr, lo, hi, STEP: tl.constexpr):
    acc = 0
    acc = acc.to(tl.int64)
    tl.static_assert(acc.dtype == tl.int64)
    for i in range(lo, hi, STEP):
        acc += i
    tl.store(out_ptr, acc)


@tritium.jit
def _sum_range_expr(out_ptr, lo, hi, STEP: tl.constexpr):
    acc = STEP * 0  # a number, not a literal (the interpreter lifted only literals' names)
    acc = acc.to(tl.int64)
    tl.static_assert(acc.dtype == tl.int64)
    for i in range(lo, hi, STEP):
        acc += i
    tl.store(out_ptr, acc)


@pytest.mark.parametrize("zero", [0, 1])
@pytest.mark.parametrize("step", [1, 3, -1, -2])
def test_method_of_a_name_bound_to_a_number(
    mode: str, step: int, zero: int, rng: np.random.Generator
) -> None:
    """``acc = 0; acc = acc.to(tl.int64)`` (Triton's test_for_iv), or ``acc = STEP * 0``:
    Triton makes a name a plain assignment binds to a number a scalar tensor, so it has tensor
    methods; tritium kept the number (AttributeError: 'int' object has no attribute 'to'); the
    static assert holds ``.to``'s dtype, the start past 2**31 the sum's."""
    lo = int(rng.integers(2**33, 2**36))
    hi = lo + step * int(rng.integers(5, 40))
    out = np.full(1, -(2**62), dtype=np.int64)
    (_sum_range, _sum_range_expr)[zero][(1,)](out, lo, hi, STEP=step)
    assert out[0] == sum(range(lo, hi, step)), (lo, hi, step)


@tritium.jit
def _lift_float(out_ptr, WHICH: tl.constexpr):
    x = 1e40
    if WHICH == 1:
        x = 1e-300
    tl.store(out_ptr, x.to(tl.float64))


@pytest.mark.parametrize("which", [0, 1])
def test_method_of_a_float_outside_fp32(mode: str, which: int) -> None:
    """A float that fp32 cannot hold is an fp64 scalar tensor (Triton's to_tensor): lifted as
    fp32, the interpreter gave inf and 0.0."""
    out = np.full(1, np.nan)
    _lift_float[(1,)](out, WHICH=which)
    assert out[0] == (1e40, 1e-300)[which]


@tritium.jit
def _scale(x_ptr, out_ptr, n, tuple, type: tl.constexpr, callable: tl.constexpr):  # noqa: A002
    offs = tl.program_id(0) * 64 + tl.arange(0, 64)
    v = tl.load(x_ptr + offs, mask=offs < n)
    if type == "double":
        v = v * 2.0
    tl.store(out_ptr + offs, v * tuple + callable, mask=offs < n)


def test_parameters_named_like_builtins(mode: str, rng: np.random.Generator) -> None:
    """Kernel parameters named ``type`` (Triton's test_call), ``tuple`` and ``callable``: the
    generated launcher called those builtins by name, so such a parameter shadowed them
    (TypeError: 'str' object is not callable)."""
    n = 300
    x = rng.standard_normal(n).astype(np.float32)
    for kind in ("double", "single"):
        out = np.full(n, np.nan, dtype=np.float32)
        # a launch option: the launcher's tuple(...) runs only with one (num_warps is ignored)
        _scale[(tritium.cdiv(n, 64),)](x, out, n, 3.0, kind, 1.5, num_warps=4)
        want = x.astype(np.float64) * (2.0 if kind == "double" else 1.0) * 3.0 + 1.5
        np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-6)  # fp32 rounding near 0


@tritium.jit
def _split_pair(x_ptr, z1_ptr, z2_ptr, STRIDE: tl.constexpr):
    pair = tl.load(x_ptr + tl.arange(0, 2) * STRIDE)
    z1, z2 = tl.split(pair * 3)
    tl.static_assert(z1.shape == [])
    tl.store(z1_ptr, z1)
    tl.store(z2_ptr, z2 - 1)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int8])
def test_split_to_scalars(mode: str, dtype: type, rng: np.random.Generator) -> None:
    """``tl.split`` of a 2-element tile gives two scalars (Triton's test_split_to_scalar):
    compiled, the scalars were left as buffer views ("internal compiler error in pass
    cpu-codegen at tt.store: expected a scalar, got a tile")."""
    x = rng.integers(-40, 40, 6).astype(dtype)
    for stride in (1, 5):
        z1 = np.full(1, 99 if dtype != np.float32 else np.nan, dtype=dtype)
        z2 = z1.copy()
        _split_pair[(1,)](x, z1, z2, STRIDE=stride)
        assert (int(z1[0]), int(z2[0])) == (3 * int(x[0]), 3 * int(x[stride]) - 1), stride


def test_bf16_negation_is_a_sign_flip(mode: str, rng: np.random.Generator) -> None:
    """``-x`` of every bf16 bit pattern, in a random order, flips bit 15 and nothing else:
    compiled, the negation went through f32 and came back with signalling NaNs quieted (126 of
    65536 patterns, e.g. 0xff8d -> 0x7fcd)."""
    codes = rng.permutation(1 << 16).astype(np.uint16)
    out = np.full(1 << 16, 0x7FC0, dtype=np.uint16)  # poisoned: a quiet NaN
    _neg[(1,)](codes.view(ml_dtypes.bfloat16), out.view(ml_dtypes.bfloat16), SIZE=1 << 16)
    bad = np.flatnonzero(out != codes ^ 0x8000)
    assert bad.size == 0, [(hex(codes[i]), hex(out[i])) for i in bad[:8]]


@tritium.jit
def _wrapped_index(x_ptr, out_ptr, n, OP: tl.constexpr):
    offs = tl.arange(0, 4)
    f = (offs + n).to(tl.float32)  # int32 offs + n wraps past 2**31 - 1: tainted
    g = -f if OP == "neg" else tl.abs(f)
    tl.store(out_ptr + offs, tl.load(x_ptr + (g.to(tl.int32) & 3)))


@pytest.mark.parametrize("op", ["neg", "abs"])
def test_overflow_taint_follows_float_negation_and_abs(op: str) -> None:
    """The interpreter's sanitizer reports an int32 overflow that reaches an address through
    a float's ``-x`` or ``tl.abs`` (their float paths built tiles without the taint)."""
    from tritium.errors import SanitizerError
    from tritium.interpreter import run_kernel

    x, out = np.arange(4, dtype=np.float32), np.full(4, np.nan, np.float32)
    args = {"x_ptr": x, "out_ptr": out, "n": 2**31 - 2, "OP": op}
    with pytest.raises(SanitizerError, match="int32 overflow"):
        run_kernel(_wrapped_index, (1,), args, sanitize=True)
