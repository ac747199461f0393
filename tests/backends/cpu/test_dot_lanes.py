"""``tl.dot(q, tl.trans(k))`` of a few rows of ``q`` (decode attention's GQA group) lowered by
``dot_lanes``: products accumulated in lanes along the head dimension, one transpose-and-add
tree per group of keys, ``k`` never packed transposed.

Each case runs compiled and interpreted against a float64 NumPy reference with the output
poisoned, over ragged key blocks (masked rows of ``k``) and rows of ``q`` past the group
(masked, read as zero); compiled, the lowering is told apart by its partial-sum buffer, used
up to ``_MAX_ROWS`` rows only (flash attention's 64 rows keep the packed ``k``). The sum order
differs from the packed lowering's (see ``dot_lanes``), hence a tolerance, as for other dots.
"""

from __future__ import annotations

import os

import ml_dtypes
import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.backends.cpu.dot_lanes import _MAX_ROWS
from tritium.backends.cpu.target import host_target


@triton.jit
def _scores(q_ptr, k_ptr, out_ptr, G, N, D: tl.constexpr, BLOCK_G: tl.constexpr,
            BLOCK_N: tl.constexpr):  # fmt: skip
    """``out = q @ k^T`` (G x N) over blocks of BLOCK_N keys, ``q`` loaded once."""
    offs_g = tl.arange(0, BLOCK_G)
    offs_d = tl.arange(0, D)
    q = tl.load(q_ptr + offs_g[:, None] * D + offs_d[None, :], mask=offs_g[:, None] < G, other=0.0)
    for start in range(0, N, BLOCK_N):
        offs_n = start + tl.arange(0, BLOCK_N)
        k = tl.load(
            k_ptr + offs_n[:, None] * D + offs_d[None, :], mask=offs_n[:, None] < N, other=0.0
        )
        s = tl.dot(q, tl.trans(k))
        omask = (offs_g[:, None] < G) & (offs_n[None, :] < N)
        tl.store(out_ptr + offs_g[:, None] * N + offs_n[None, :], s, mask=omask)


def _run(rng: np.random.Generator, g: int, block_g: int, n: int, d: int, block_n: int,
         dtype: type) -> tuple[np.ndarray, np.ndarray, object]:  # fmt: skip
    q = rng.standard_normal((g, d)).astype(dtype)
    k = rng.standard_normal((n, d)).astype(dtype)
    out = np.full((g, n), np.nan, np.float32)
    art = _scores[(1,)](q, k, out, g, n, d, block_g, block_n)
    return out, q.astype(np.float64) @ k.astype(np.float64).T, art


def _check(out: np.ndarray, ref: np.ndarray, d: int, dtype: type) -> None:
    tol = 1e-5 if dtype == np.float32 else 1e-2
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.sqrt(d))


@pytest.mark.parametrize(
    ("g", "block_g", "n", "d", "block_n"),
    [(4, 4, 100, 128, 64), (2, 2, 37, 64, 32), (3, 4, 50, 32, 16), (8, 8, 70, 64, 32),
     (5, 16, 40, 64, 16)],
)  # fmt: skip
def test_few_rows_against_transposed_keys(
    mode: str, rng: np.random.Generator, g: int, block_g: int, n: int, d: int, block_n: int
) -> None:
    """Groups of 2 to 8 rows (the lowering's register blocks of keys: 16, 8, 4, 2 at a time),
    head dimensions of 2 to 8 vectors, blocks of 1 to 4 key groups; 16 rows keep the packed
    ``k``."""
    out, ref, art = _run(rng, g, block_g, n, d, block_n, np.float32)
    _check(out, ref, d, np.float32)
    if mode == "compiled":
        assert ("%lanes" in art.asm["llir"]) == (block_g <= _MAX_ROWS)  # type: ignore[attr-defined]


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16])
def test_16_bit_keys(rng: np.random.Generator, dtype: type) -> None:
    """16-bit ``q`` and ``k`` converted to fp32 chunk by chunk as they are read (or, with
    ``vdpbf16ps``, the dot-product instruction's own lowering)."""
    out, ref, _ = _run(rng, 4, 4, 90, 64, 32, dtype)
    _check(out, ref, 64, dtype)


def test_without_avx512(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    """AVX2 code (8 lanes, 8 accumulators: keys 2 at a time for 4 rows; bf16 converted as
    it is read, no ``vdpbf16ps``): the same results."""
    if not host_target().triple.startswith("x86_64"):
        pytest.skip("x86 features")
    prev = os.environ.get("TRITIUM_CPU_FEATURES", "")
    monkeypatch.setenv("TRITIUM_CPU_FEATURES", ",".join(f for f in (prev, "-avx512f") if f))
    for g, block_g in ((4, 4), (8, 8), (2, 2)):
        out, ref, art = _run(rng, g, block_g, 45, 64, 16, np.float32)
        _check(out, ref, 64, np.float32)
        llir = art.asm["llir"]  # type: ignore[attr-defined]
        assert "%lanes" in llir and "<8 x float>" in llir and "<16 x float>" not in llir
    # (a shape no other test compiles: a kernel compiled earlier in the run would be reused)
    out, ref, art = _run(rng, 4, 4, 90, 32, 16, ml_dtypes.bfloat16)
    _check(out, ref, 32, ml_dtypes.bfloat16)
    assert "%lanes" in art.asm["llir"]  # type: ignore[attr-defined]
