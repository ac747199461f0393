"""Triton's other fp8 formats (fp8e4b8, fp8e5b16, fp8e4b15) in the interpreter: loads,
stores, bitcasts and casts to and from fp16/bf16/fp32/fp64 (cases in tests/fp8_variants_cases.py;
the compiled twin is tests/backends/cpu/test_fp8_variants.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.fp8_variants_cases import (
    FORMATS,
    Fp8Case,
    check_arithmetic,
    check_constants,
    check_every_value_round_trips,
    check_fp8_to_fp8,
    check_rounds_like_ml_dtypes,
)
from tritium.interpreter import run_kernel


def interpret(kernel: Any, args: dict[str, Any]) -> None:
    """One program of ``kernel`` in the interpreter."""
    run_kernel(kernel.fn, (1, 1, 1), args)


@pytest.mark.parametrize("case", FORMATS, ids=lambda c: c.name)
def test_every_value_round_trips(case: Fp8Case) -> None:
    check_every_value_round_trips(interpret, case)


@pytest.mark.parametrize("dst", FORMATS, ids=lambda c: c.name)
@pytest.mark.parametrize("src", FORMATS, ids=lambda c: c.name)
def test_fp8_to_fp8(src: Fp8Case, dst: Fp8Case) -> None:
    check_fp8_to_fp8(interpret, src, dst)


@pytest.mark.parametrize("case", FORMATS, ids=lambda c: c.name)
def test_rounds_like_ml_dtypes(case: Fp8Case, rng: np.random.Generator) -> None:
    check_rounds_like_ml_dtypes(interpret, case, rng)


@pytest.mark.parametrize("case", FORMATS, ids=lambda c: c.name)
def test_arithmetic(case: Fp8Case, rng: np.random.Generator) -> None:
    check_arithmetic(interpret, case, rng)


@pytest.mark.parametrize("case", FORMATS, ids=lambda c: c.name)
def test_constants(case: Fp8Case) -> None:
    check_constants(interpret, case)
