"""Dots whose register blocks a triangular mask discards (``dot_masked``), compiled and
interpreted: scores kept by a ``tl.where`` of a row/column comparison, and ``p @ v`` with ``p``
zero at the masked keys, against float64 references; outputs start as NaN."""

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

# keep[r, c] for row position r (with the shift added) and key position c, per PRED
_KEEP = {
    0: lambda r, c: r >= c,  # sge, rows on the left
    1: lambda r, c: r > c,  # sgt
    2: lambda r, c: c < r,  # slt, keys on the left
    3: lambda r, c: c <= r,  # sle
}


@triton.jit
def _keep(offs_m, cols, shift, n, PRED: tl.constexpr):
    r = offs_m[:, None] + shift
    c = cols[None, :]
    if PRED == 0:
        keep = r >= c
    elif PRED == 1:
        keep = r > c
    elif PRED == 2:
        keep = c < r
    else:
        keep = c <= r
    return keep & (c < n)


@triton.jit
def _masked_scores(
    Q,
    K,
    S,
    n,
    shift,
    scale,
    PRED: tl.constexpr,
    HEAD_DIM: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    rows = offs_m[:, None] < n
    q = tl.load(Q + offs_m[:, None] * HEAD_DIM + offs_d[None, :], mask=rows, other=0.0)
    for start_n in range(0, n, BLOCK_N):
        cols = start_n + offs_n
        k = tl.load(K + cols[:, None] * HEAD_DIM + offs_d[None, :], mask=cols[:, None] < n)
        s = tl.dot(q, tl.trans(k)) * scale
        s = tl.where(_keep(offs_m, cols, shift, n, PRED), s, -float("inf"))
        tl.store(S + offs_m[:, None] * n + cols[None, :], s, mask=rows & (cols[None, :] < n))


@triton.jit
def _masked_softmax_v(
    Q,
    K,
    V,
    Out,
    n,
    shift,
    scale,
    PRED: tl.constexpr,
    HEAD_DIM: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    rows = offs_m[:, None] < n
    q = tl.load(Q + offs_m[:, None] * HEAD_DIM + offs_d[None, :], mask=rows, other=0.0)
    m_i = tl.zeros([BLOCK_M], dtype=tl.float32) - float("inf")
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    for start_n in range(0, n, BLOCK_N):
        cols = start_n + offs_n
        k = tl.load(K + cols[:, None] * HEAD_DIM + offs_d[None, :], mask=cols[:, None] < n)
        s = tl.dot(q, tl.trans(k)) * scale
        s = tl.where(_keep(offs_m, cols, shift, n, PRED), s, -float("inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        p = tl.math.exp2(s - m_new[:, None])
        alpha = tl.math.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None]
        v = tl.load(V + cols[:, None] * HEAD_DIM + offs_d[None, :], mask=cols[:, None] < n)
        acc = tl.dot(p, v, acc)
        m_i = m_new
    out = acc / l_i[:, None]
    tl.store(Out + offs_m[:, None] * HEAD_DIM + offs_d[None, :], out, mask=rows)


def _kept(pred: int, n: int, shift: int) -> np.ndarray:
    r, c = np.arange(n)[:, None] + shift, np.arange(n)[None, :]
    return _KEEP[pred](r, c)


_CASES = [(0, 0), (1, 0), (2, 0), (3, 0), (0, 13), (1, -5), (2, 40), (3, -21)]
_BLOCKS = [(64, 64), (32, 32), (64, 32)]


@pytest.mark.parametrize("blocks", _BLOCKS, ids=lambda b: f"M{b[0]}_N{b[1]}")
@pytest.mark.parametrize("pred,shift", _CASES)
def test_masked_scores(mode, rng, pred, shift, blocks) -> None:
    """The scores a triangular ``tl.where`` keeps, with -inf elsewhere: register blocks that
    keep nothing skip their products (a ``live`` branch in the compiled code)."""
    n, d = 83, 32
    q, k = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(2))
    s = np.full((n, n), np.nan, np.float32)
    grid = (triton.cdiv(n, blocks[0]),)
    compiled = _masked_scores[grid](
        q, k, s, n, shift, 0.5, PRED=pred, HEAD_DIM=d, BLOCK_M=blocks[0], BLOCK_N=blocks[1]
    )
    ref = np.where(
        _kept(pred, n, shift), q.astype(np.float64) @ k.astype(np.float64).T * 0.5, -np.inf
    )
    np.testing.assert_allclose(s, ref, rtol=1e-5, atol=1e-5)
    if mode == "compiled":
        assert "live.end" in compiled.asm["llir"]


@pytest.mark.parametrize("blocks", _BLOCKS, ids=lambda b: f"M{b[0]}_N{b[1]}")
@pytest.mark.parametrize("pred,shift", _CASES)
def test_masked_softmax_v(mode, rng, pred, shift, blocks) -> None:
    """``softmax(masked scores) @ v``: each block of rows runs ``p @ v`` over the keys some
    row of it keeps (a ``kept`` K loop); rows that keep no key are NaN, as unskipped."""
    n, d = 83, 32
    q, k, v = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(3))
    out = np.full((n, d), np.nan, np.float32)
    grid = (triton.cdiv(n, blocks[0]),)
    compiled = _masked_softmax_v[grid](
        q, k, v, out, n, shift, 0.8, PRED=pred, HEAD_DIM=d, BLOCK_M=blocks[0], BLOCK_N=blocks[1]
    )
    keep = _kept(pred, n, shift)
    s = np.where(keep, q.astype(np.float64) @ k.astype(np.float64).T * 0.8, -np.inf)
    some = keep.any(axis=1)
    w = np.exp2(s[some] - s[some].max(axis=1, keepdims=True))
    ref = (w / w.sum(axis=1, keepdims=True)) @ v.astype(np.float64)
    np.testing.assert_allclose(out[some], ref, rtol=2e-5, atol=2e-5)
    assert np.isnan(out[~some]).all()
    if mode == "compiled":
        assert "kept." in compiled.asm["llir"]
