"""Float -> integer conversions saturate, compiled and interpreted alike.

Triton leaves NaN and out-of-range conversions undefined (LLVM's ``fptosi`` gives poison).
tritium picks one deterministic answer for both modes, LLVM's ``fptosi.sat``/``fptoui.sat``
(Rust's ``as``): truncate toward zero, NaN -> 0, below the range -> its minimum, above it ->
its maximum (negative values -> 0 for unsigned types)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tritium
import tritium.language as tl

N = 64
INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
FLOATS = ["float16", "float32", "float64"]


@tritium.jit
def _to_int(x_ptr, out_ptr, DST: tl.constexpr, N: tl.constexpr):
    offs = tl.arange(0, N)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs).to(DST))
    tl.store(out_ptr + N, tl.load(x_ptr + 3).to(DST))  # the scalar path: x[3] is NaN


def _saturated(x: float, info: np.iinfo) -> int:
    if math.isnan(x):
        return 0
    if math.isinf(x):
        return int(info.max) if x > 0 else int(info.min)
    return min(max(math.trunc(x), int(info.min)), int(info.max))


@pytest.mark.parametrize("src", FLOATS)
@pytest.mark.parametrize("dst", INTS)
def test_float_to_int_saturates(mode: str, src: str, dst: str, rng: np.random.Generator) -> None:
    info = np.iinfo(dst)
    fmax = float(np.finfo(src).max)
    edges = [
        float(info.max),
        float(info.max) + 1.0,
        float(info.min),
        float(info.min) - 1.0,
        float(info.max) * 4.0,
        -float(info.max) * 4.0,
    ]
    special = [math.inf, -math.inf, fmax, math.nan, -fmax, -0.5, 0.75, -1.5, -0.0]
    special += [e for e in edges if abs(e) <= fmax]
    # random values spanning the type's range and beyond, at random magnitudes
    scale = 2.0 ** rng.uniform(0, min(math.log2(fmax), info.bits + 4), N)
    x = np.clip(rng.standard_normal(N) * scale, -fmax, fmax).astype(src)
    x[: len(special)] = np.array(special, np.float64).astype(src)
    out = rng.integers(0, 100, N + 1).astype(dst)  # poison: not the expected values
    want = np.array([_saturated(float(v), info) for v in [*x, x[3]]], dtype=object)
    _to_int[(1,)](x, out, DST=getattr(tl, dst), N=N)
    got = np.array([int(v) for v in out], dtype=object)
    bad = np.nonzero(got != want)[0]
    assert not len(bad), f"{mode} {src}->{dst}: at {bad[:4]} x={x[bad[:4] % N]} got {got[bad[:4]]}"
