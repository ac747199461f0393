"""Kernels, inputs and references for Triton's other fp8 formats, shared by the compiled
(tests/backends/cpu/test_fp8_variants.py) and interpreted (tests/interpreter/
test_fp8_variants.py) tests, so that both engines run the same kernels on the same inputs.

* ``fp8e4b8`` and ``fp8e5b16`` are AMD's ``float8_e4m3fnuz``/``float8_e5m2fnuz`` (no
  infinities, no negative zero, NaN is 0x80).
* ``fp8e4b15`` is Triton's e4m3 with exponent bias 15: e4m3fn's layout (0x7F/0xFF are NaN,
  the largest finite value is 1.75), i.e. ``float8_e4m3fn`` bits of ``x * 2**8``.

Conversions round to nearest even and, like every fp8 conversion in tritium, saturate
out-of-range values and infinities to the largest finite value; NaN stays NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np

import tritium as triton
import tritium.language as tl

__all__ = [
    "FORMATS",
    "Fp8Case",
    "Launch",
    "N",
    "arith_kernel",
    "check_arithmetic",
    "check_constants",
    "check_every_value_round_trips",
    "check_fp8_to_fp8",
    "check_rounds_like_ml_dtypes",
    "constant_kernel",
    "convert_kernel",
    "decode_kernel",
    "encode_kernel",
    "finite_codes",
    "interesting_f32",
    "reference_bits",
    "reference_values",
]

N = 1024


@dataclass(frozen=True)
class Fp8Case:
    """One format: the language dtype, the ml_dtypes type with its layout, and the power of
    two that turns its values into that type's (``2**8`` for fp8e4b15, else 1)."""

    name: str
    dtype: Any
    layout: Any
    scale: float = 1.0

    @property
    def max(self) -> float:
        """The largest finite value."""
        return float(ml_dtypes.finfo(self.layout).max) / self.scale


FORMATS = [
    Fp8Case("fp8e4b8", tl.float8e4b8, ml_dtypes.float8_e4m3fnuz),
    Fp8Case("fp8e5b16", tl.float8e5b16, ml_dtypes.float8_e5m2fnuz),
    Fp8Case("fp8e4b15", tl.float8e4b15, ml_dtypes.float8_e4m3fn, 2.0**8),
]


@triton.jit
def encode_kernel(X, BITS, BACK, FMT: tl.constexpr, N: tl.constexpr, ROUND: tl.constexpr = "rtne"):
    """``x.to(FMT)``: its bits and its value widened back to fp32."""
    r = tl.arange(0, N)
    q = tl.load(X + r).to(FMT, fp_downcast_rounding=ROUND)
    tl.store(BITS + r, q.to(tl.uint8, bitcast=True))
    tl.store(BACK + r, q.to(tl.float32))


@triton.jit
def decode_kernel(BITS, OUT, FMT: tl.constexpr, N: tl.constexpr):
    """fp8 bit patterns converted to OUT's type, through a pointer of type FMT."""
    r = tl.arange(0, N)
    q = tl.load(BITS + r).to(FMT, bitcast=True)
    tl.store(OUT + r, q.to(OUT.dtype.element_ty))


@triton.jit
def convert_kernel(SRC, DST, N: tl.constexpr):
    """Loads through a pointer to one fp8 format, stores converted to another's."""
    r = tl.arange(0, N)
    tl.store(DST + r, tl.load(SRC + r).to(DST.dtype.element_ty))


@triton.jit
def arith_kernel(A, B, OUT, N: tl.constexpr):
    """fp8 arithmetic stays in the fp8 type (each op rounds once), as in Triton."""
    r = tl.arange(0, N)
    a = tl.load(A + r)
    b = tl.load(B + r)
    tl.store(OUT + r, ((a + b) * tl.maximum(a, b) - a).to(tl.float32))


@triton.jit
def constant_kernel(BITS, V: tl.constexpr, FMT: tl.constexpr, N: tl.constexpr):
    """The constant ``V`` of type FMT, as bits."""
    r = tl.arange(0, N)
    tl.store(BITS + r, tl.full([N], V, FMT).to(tl.uint8, bitcast=True))


def reference_values(bits: np.ndarray, case: Fp8Case) -> np.ndarray:
    """The values of fp8 bit patterns, as float64."""
    return bits.view(case.layout).astype(np.float64) / case.scale


def finite_codes(case: Fp8Case) -> np.ndarray:
    """Every bit pattern of ``case`` that is a number (NaN codes left out)."""
    codes = np.arange(256, dtype=np.uint8)
    return codes[~np.isnan(reference_values(codes, case))]


def reference_bits(x: np.ndarray, case: Fp8Case) -> np.ndarray:
    """``x`` (exactly representable in float32) rounded to ``case``: nearest even,
    saturating, NaN kept."""
    top = float(ml_dtypes.finfo(case.layout).max)
    y = x.astype(np.float64) * case.scale
    y = np.where(np.isnan(y), y, np.clip(y, -top, top))
    return y.astype(np.float32).astype(case.layout).view(np.uint8)


def interesting_f32(case: Fp8Case, rng: np.random.Generator, n: int = N) -> np.ndarray:
    """float32 inputs: random magnitudes from far below the subnormals to far beyond the
    largest value, both signs, exact ties between neighbouring values, and the specials."""
    values = reference_values(finite_codes(case), case)
    pos = np.unique(values[values >= 0])
    ties = (pos[:-1] + pos[1:]) / 2  # exactly halfway: rounds to the even neighbour
    beyond = [case.max * 1.01, case.max * 1.2, case.max * 4, 3e38, np.inf]
    specials = np.array([0.0, np.nan, *beyond, *pos[:4], pos[-1]], np.float64)
    fixed = np.concatenate([ties, specials])
    fixed = np.concatenate([fixed, -fixed])
    lo, hi = np.log2(pos[1]) - 4, np.log2(case.max) + 3
    k = n - fixed.size
    rand = np.exp2(rng.uniform(lo, hi, k)) * rng.choice([-1.0, 1.0], k)
    return np.concatenate([fixed, rand]).astype(np.float32)


Launch = Callable[[Any, dict[str, Any]], None]
"""Runs a kernel of this module on one program: ``launch(kernel, {param: value})``."""

WIDE_TYPES = [np.float16, ml_dtypes.bfloat16, np.float32, np.float64]


def check_every_value_round_trips(launch: Launch, case: Fp8Case) -> None:
    """Every fp8 bit pattern converts exactly to each wider float type, and every finite
    value converts back to its own bits."""
    codes = np.arange(256, dtype=np.uint8)
    want = reference_values(codes, case)
    finite = ~np.isnan(want)
    for wide in WIDE_TYPES:
        out = np.full(256, np.nan, wide)
        launch(decode_kernel, dict(BITS=codes, OUT=out, FMT=case.dtype, N=256))
        np.testing.assert_array_equal(out.astype(np.float64), want, err_msg=str(np.dtype(wide)))
        bits, back = np.zeros(256, np.uint8), np.zeros(256, np.float32)
        launch(encode_kernel, dict(X=out, BITS=bits, BACK=back, FMT=case.dtype, N=256))
        np.testing.assert_array_equal(bits[finite], codes[finite], err_msg=str(np.dtype(wide)))
        assert np.isnan(back[~finite]).all()


def check_rounds_like_ml_dtypes(launch: Launch, case: Fp8Case, rng: np.random.Generator) -> None:
    """Random, out-of-range, tied, subnormal and special inputs of every source float type
    round to nearest even, saturate at the largest finite value and keep NaN."""
    x32 = interesting_f32(case, rng)
    for wide in WIDE_TYPES:
        with np.errstate(over="ignore"):  # fp16 overflows to infinity
            x = x32.astype(wide)
        exact = x.astype(np.float32)  # what the kernel sees, exactly
        bits, back = np.zeros(N, np.uint8), np.zeros(N, np.float32)
        launch(encode_kernel, dict(X=x, BITS=bits, BACK=back, FMT=case.dtype, N=N))
        ref = reference_bits(exact, case)
        bad = np.flatnonzero(bits != ref)
        assert bad.size == 0, (
            f"{np.dtype(wide)}: x={exact[bad[:4]]} got {bits[bad[:4]]} want {ref[bad[:4]]}"
        )
        np.testing.assert_array_equal(back, reference_values(ref, case).astype(np.float32))


def check_fp8_to_fp8(launch: Launch, src: Fp8Case, dst: Fp8Case) -> None:
    """Every value of one format, loaded through a typed pointer, converts to another format
    (and stores through one) rounding to nearest even and saturating."""
    codes = np.arange(256, dtype=np.uint8)
    out = np.zeros(256, np.uint8)
    launch(
        convert_kernel,
        dict(
            SRC=triton.reinterpret(codes, src.dtype), DST=triton.reinterpret(out, dst.dtype), N=256
        ),
    )
    want = reference_bits(reference_values(codes, src).astype(np.float32), dst)
    np.testing.assert_array_equal(out, want)


def check_arithmetic(launch: Launch, case: Fp8Case, rng: np.random.Generator) -> None:
    """``(a + b) * max(a, b) - a`` on random finite fp8 values, each op rounded once."""
    codes = finite_codes(case)
    a, b = rng.choice(codes, N), rng.choice(codes, N)
    out = np.zeros(N, np.float32)
    ptrs = dict(A=triton.reinterpret(a, case.dtype), B=triton.reinterpret(b, case.dtype))
    launch(arith_kernel, dict(**ptrs, OUT=out, N=N))

    def rnd(x: np.ndarray) -> np.ndarray:  # x: exact results, representable in float32
        return reference_values(reference_bits(x.astype(np.float32), case), case)

    av, bv = reference_values(a, case), reference_values(b, case)
    want = rnd(rnd(rnd(av + bv) * np.maximum(av, bv)) - av)
    np.testing.assert_array_equal(out, want.astype(np.float32))


def check_constants(launch: Launch, case: Fp8Case) -> None:
    """Literals of an fp8 type round like conversions do (ties, saturation, NaN, -0)."""
    pos = np.unique(np.abs(reference_values(finite_codes(case), case)))
    tie = (pos[-3] + pos[-2]) / 2
    values = [0.1, -tie, tie, case.max * 3, -np.inf, np.nan, -pos[1] / 4, 1.0]
    for v in values:
        bits = np.zeros(16, np.uint8)
        launch(constant_kernel, dict(BITS=bits, V=float(np.float32(v)), FMT=case.dtype, N=16))
        want = reference_bits(np.full(16, v, np.float32), case)
        np.testing.assert_array_equal(bits, want, err_msg=f"{case.name} constant {v}")
