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


def _wrap32(x: np.ndarray) -> np.ndarray:
    return (x + 2**31) % 2**32 - 2**31


@triton.jit
def _wrapped_scores(Q, K, S, X, W, WIDE: tl.constexpr, D: tl.constexpr, B: tl.constexpr):
    r = tl.arange(0, B)
    d = tl.arange(0, D)
    q = tl.load(Q + r[:, None] * D + d[None, :])
    k = tl.load(K + r[:, None] * D + d[None, :])
    lhs = r[:, None] + X
    rhs = r[None, :] + W
    if WIDE:
        keep = lhs.to(tl.int64) >= rhs.to(tl.int64)
    else:
        keep = lhs >= rhs
    s = tl.where(keep, tl.dot(q, tl.trans(k)), -float("inf"))
    tl.store(S + r[:, None] * B + r[None, :], s)


_WRAPS = [(0, 0), (0, 2**31 - 1), (0, 2**31 - 20), (2**31 - 10, 2**31 - 10), (2**31 - 10, 0)]


@pytest.mark.parametrize("wide", [False, True], ids=["i32", "extsi"])
@pytest.mark.parametrize("x,w", _WRAPS)
def test_wrapped_compare(mode, rng, x, w, wide) -> None:
    """The kernel compares i32 positions that wrap (``r + X >= c + W`` near 2**31), directly
    or sign-extended to i64: a register block is skipped only where its exact values fit."""
    n, d = 64, 16
    q, k = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(2))
    s = np.full((n, n), np.nan, np.float32)
    compiled = _wrapped_scores[(1,)](q, k, s, x, w, WIDE=wide, D=d, B=n)
    r = np.arange(n, dtype=np.int64)
    keep = _wrap32(r[:, None] + x) >= _wrap32(r[None, :] + w)
    ref = np.where(keep, q.astype(np.float64) @ k.astype(np.float64).T, -np.inf)
    np.testing.assert_allclose(s, ref, rtol=1e-5, atol=1e-5)
    if mode == "compiled":
        assert "live.end" in compiled.asm["llir"]


@triton.jit
def _wrapped_keys(Q, K, V, Out, S2, W, D: tl.constexpr, B: tl.constexpr):
    r = tl.arange(0, B)
    d = tl.arange(0, D)
    q = tl.load(Q + r[:, None] * D + d[None, :])
    k = tl.load(K + r[:, None] * D + d[None, :])
    v = tl.load(V + r[:, None] * D + d[None, :])
    s = tl.dot(q, tl.trans(k)) * 0.5
    tl.store(S2 + r[:, None] * B + r[None, :], s)  # a second use: no block is skipped
    s = tl.where(r[None, :] + W < r[:, None], s, -float("inf"))
    m = tl.max(s, 1)
    p = tl.math.exp2(s - m[:, None])
    tl.store(Out + r[:, None] * D + d[None, :], tl.dot(p, v))


@pytest.mark.parametrize("w", [0, -7, 2**31 - 1, 2**31 - 40])
def test_wrapped_key_bound(mode, rng, w) -> None:
    """``p @ v`` whose key bound ``c + W < r`` wraps in i32 for the later keys (kept there):
    the bound is used only where the exact values fit, else every key runs."""
    n, d = 64, 16
    q, k, v = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(3))
    out = np.full((n, d), np.nan, np.float32)
    s2 = np.empty((n, n), np.float32)
    compiled = _wrapped_keys[(1,)](q, k, v, out, s2, w, D=d, B=n)
    r = np.arange(n, dtype=np.int64)
    keep = _wrap32(r[None, :] + w) < r[:, None]
    s = np.where(keep, q.astype(np.float64) @ k.astype(np.float64).T * 0.5, -np.inf)
    some = keep.any(axis=1)
    ref = np.exp2(s[some] - s[some].max(axis=1, keepdims=True)) @ v.astype(np.float64)
    np.testing.assert_allclose(out[some], ref, rtol=2e-5, atol=2e-5)
    assert np.isnan(out[~some]).all()
    if mode == "compiled":
        assert "kept." in compiled.asm["llir"]  # m = max(s, 1) alone is understood too
    if mode == "compiled" and w in (0, -7):
        # where the bound fits it is used: a NaN in v past it reaches no row of the first block
        v[-1] = np.nan
        _wrapped_keys[(1,)](q, k, v, out, s2, w, D=d, B=n)
        assert np.isfinite(out[1:8]).all()


@triton.jit
def _loaded_max(Q, K, V, M, Out, D: tl.constexpr, B: tl.constexpr):
    r = tl.arange(0, B)
    d = tl.arange(0, D)
    q = tl.load(Q + r[:, None] * D + d[None, :])
    k = tl.load(K + r[:, None] * D + d[None, :])
    v = tl.load(V + r[:, None] * D + d[None, :])
    s = tl.where(r[:, None] >= r[None, :], tl.dot(q, tl.trans(k)) * 0.5, -float("inf"))
    m = tl.load(M + r)
    p = tl.math.exp2(s - m[:, None])
    tl.store(Out + r[:, None] * D + d[None, :], tl.dot(p, v))


@pytest.mark.parametrize("m_fill", ["-inf", "normal"])
def test_loaded_max(mode, rng, m_fill) -> None:
    """``exp2(masked s - m) @ v`` with ``m`` loaded, not the row maximum: an ``m`` of -inf
    makes the kept keys +inf and the masked ones NaN (``-inf - -inf``), so every key runs."""
    n, d = 64, 16
    q, k = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(2))
    v = np.abs(rng.standard_normal((n, d))).astype(np.float32) + 0.01
    m = np.full(n, -np.inf, np.float32) if m_fill == "-inf" else rng.standard_normal(n)
    m = m.astype(np.float32)
    out = np.full((n, d), np.nan, np.float32)
    _loaded_max[(1,)](q, k, v, m, out, D=d, B=n)
    keep = np.arange(n)[:, None] >= np.arange(n)[None, :]
    s = np.where(keep, q.astype(np.float64) @ k.astype(np.float64).T * 0.5, -np.inf)
    with np.errstate(invalid="ignore", over="ignore"):
        ref = np.exp2(s - m.astype(np.float64)[:, None]) @ v.astype(np.float64)
    np.testing.assert_allclose(out, ref, rtol=2e-5, atol=2e-5)
