"""A register block's chunks addressed from one address (``Lowering.chunk_at``): the dot's
accumulators, its operands' K step and a transposed ``b``'s packed rows are constant offsets
from the block's first chunk, not each its own ``(row0 + r) * stride + col0 + c`` (issue 13,
cold compile). Results against float64 on fresh random inputs, outputs poisoned; the IR LLVM
is handed is read for the addresses."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.irgen import poison
from tritium.backends import cpu
from tritium.backends.cpu import target


@triton.jit
def _dot_tile(
    a_ptr, b_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr, TB: tl.constexpr
):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
    if TB:  # b given as [N, K]: the dot packs its transpose
        b = tl.trans(tl.load(b_ptr + rn[:, None] * K + rk[None, :]))
    else:
        b = tl.load(b_ptr + rk[:, None] * N + rn[None, :])
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], tl.dot(a, b))


def _variable_geps(program: str, base: str) -> list[str]:
    """The ``getelementptr``s from the stack buffer ``base`` by a computed (not constant)
    index."""
    return re.findall(rf'getelementptr inbounds float, ptr %"{base}", i64 %', program)


@pytest.mark.parametrize("shape", [(48, 64, 32), (40, 48, 16)])
@pytest.mark.parametrize("trans_b", [False, True])
def test_dot_blocks_address_their_chunks_from_one_address(
    monkeypatch: pytest.MonkeyPatch,
    rng: np.random.Generator,
    shape: tuple[int, int, int],
    trans_b: bool,
) -> None:
    seen: list[str] = []

    def spy(text: str) -> tuple[str, bytes]:
        seen.append(text)
        return target.optimize_and_emit(text)

    monkeypatch.setattr(cpu, "optimize_and_emit", spy)
    m, n, k = shape
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    c = poison((m, n), np.float32)
    _dot_tile[(1,)](a, b, c, m, n, k, trans_b)
    ref = a.astype(np.float64) @ (b.T if trans_b else b).astype(np.float64)
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-5)
    (text,) = seen
    program = text.partition('define internal void @"tritium.program"')[2].partition("\n}")[0]
    # one computed address per copy of the block code (whole blocks, the shorter last rows or
    # columns) and the result's store reading ``acc``, every other chunk a constant offset;
    # each chunk had its own before (17-25 with AVX-512, 9 with AVX2)
    assert 1 <= len(_variable_geps(program, "acc")) <= 4
    if trans_b:
        assert 1 <= len(_variable_geps(program, "packt.fused")) <= 4
    assert re.search(r"getelementptr inbounds float, ptr %[\w.\"]+, i64 \d+", program)


@triton.jit
def _batched_dot(
    a_ptr, b_ptr, c_ptr, B: tl.constexpr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr
):
    rb = tl.arange(0, B)[:, None, None]
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(a_ptr + rb * M * K + rm[None, :, None] * K + rk[None, None, :])
    b = tl.load(b_ptr + rb * K * N + rk[None, :, None] * N + rn[None, None, :])
    tl.store(c_ptr + rb * M * N + rm[None, :, None] * N + rn[None, None, :], tl.dot(a, b))


def test_batched_dot_blocks(rng: np.random.Generator) -> None:
    """A 3-D dot (the accumulator's rows a batch stride apart from the next batch's) with a
    shorter last block of rows."""
    bs, m, n, k = 3, 20, 64, 16
    a = rng.standard_normal((bs, m, k)).astype(np.float32)
    b = rng.standard_normal((bs, k, n)).astype(np.float32)
    c = poison((bs, m, n), np.float32)
    _batched_dot[(1,)](a, b, c, bs, m, n, k)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)
