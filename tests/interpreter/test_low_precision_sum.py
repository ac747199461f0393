"""A half-precision ``tl.sum`` is accumulated in (at least) fp32 and rounded once to the
result type, compiled and interpreted alike (not rounded after every partial sum)."""

from __future__ import annotations

import numpy as np
import pytest

import tritium
import tritium.language as tl


@tritium.jit
def _row_sum(x_ptr, out_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    tl.store(out_ptr + tl.program_id(0), tl.sum(tl.load(x_ptr + tl.program_id(0) * N + offs)))


# bf16 compiles through the same path, but its conversions need __truncsfbf2, which LLVM's JIT
# lacks on AVX2-only hosts (a known abort): fp16 stands for both here.
@pytest.mark.parametrize("mode", ["compiled", "interpreted"])
def test_fp16_sum_rounds_once(mode, rng, monkeypatch) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setenv("TRITIUM_INTERPRET", "1" if mode == "interpreted" else "0")
    # values around 100: the partial sums reach thousands, where an fp16 step is 1 or more, so
    # rounding each partial sum would drift far from the once-rounded result
    x = (100 + 10 * rng.standard_normal((8, 512))).astype(np.float16)
    out = np.full(8, np.nan, np.float16)
    _row_sum[(8,)](x, out, N=512)
    want = x.astype(np.float64).sum(axis=1).astype(np.float16)
    ulp = np.spacing(want.astype(np.float16)).astype(np.float64)
    assert np.all(np.abs(out.astype(np.float64) - want.astype(np.float64)) <= ulp)


def test_bf16_sum_accumulates_in_fp32_when_compiled() -> None:
    from tritium.compiler import ASTSource

    kernel = tritium.compile(ASTSource(_row_sum, {"x_ptr": "*bf16", "out_ptr": "*bf16"}, {"N": 64}))
    ttir = kernel.asm["ttir"]
    body = ttir[ttir.index('"tt.reduce"') : ttir.index('"tt.reduce.return"')]
    assert "arith.addf" in body and "(f32, f32) -> f32" in body, body
