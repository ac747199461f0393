"""Triton's other fp8 formats (fp8e4b8, fp8e5b16, fp8e4b15) compiled for the CPU: loads,
stores, bitcasts and casts to and from fp16/bf16/fp32/fp64, checked against ml_dtypes and
against the interpreter (cases in tests/fp8_variants_cases.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.fp8_variants_cases import (
    FORMATS,
    Fp8Case,
    N,
    check_arithmetic,
    check_constants,
    check_every_value_round_trips,
    check_fp8_to_fp8,
    check_rounds_like_ml_dtypes,
    decode_kernel,
    encode_kernel,
    interesting_f32,
)
from tritium.interpreter import run_kernel


def compiled(kernel: Any, args: dict[str, Any]) -> None:
    """One program of ``kernel``, compiled for the CPU."""
    kernel[(1,)](**args)


def interpreted(kernel: Any, args: dict[str, Any]) -> None:
    """One program of ``kernel`` in the interpreter."""
    run_kernel(kernel.fn, (1, 1, 1), args)


@pytest.mark.parametrize("case", FORMATS, ids=lambda c: c.name)
def test_every_value_round_trips(case: Fp8Case) -> None:
    check_every_value_round_trips(compiled, case)


@pytest.mark.parametrize("dst", FORMATS, ids=lambda c: c.name)
@pytest.mark.parametrize("src", FORMATS, ids=lambda c: c.name)
def test_fp8_to_fp8(src: Fp8Case, dst: Fp8Case) -> None:
    check_fp8_to_fp8(compiled, src, dst)


@pytest.mark.parametrize("case", FORMATS, ids=lambda c: c.name)
def test_rounds_like_ml_dtypes(case: Fp8Case) -> None:
    check_rounds_like_ml_dtypes(compiled, case, np.random.default_rng(8))


@pytest.mark.parametrize("rounding", ["rtne", "rtz"])
@pytest.mark.parametrize("case", FORMATS, ids=lambda c: c.name)
def test_compiled_and_interpreted_agree(case: Fp8Case, rounding: str) -> None:
    """Bit for bit, for both rounding modes, fp32 -> fp8 -> fp32 and fp8 -> fp16."""
    x = interesting_f32(case, np.random.default_rng(9))
    outs = []
    for launch in (compiled, interpreted):
        bits, back = np.zeros(N, np.uint8), np.zeros(N, np.float32)
        args = dict(X=x, BITS=bits, BACK=back, FMT=case.dtype, N=N, ROUND=rounding)
        launch(encode_kernel, args)
        halves = np.zeros(N, np.float16)
        launch(decode_kernel, dict(BITS=bits, OUT=halves, FMT=case.dtype, N=N))
        outs.append((bits, back, halves))
    for got, want in zip(outs[0], outs[1]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("case", FORMATS, ids=lambda c: c.name)
def test_arithmetic(case: Fp8Case) -> None:
    check_arithmetic(compiled, case, np.random.default_rng(10))


@pytest.mark.parametrize("case", FORMATS, ids=lambda c: c.name)
def test_constants(case: Fp8Case) -> None:
    check_constants(compiled, case)
