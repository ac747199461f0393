"""A flash-attention forward kernel (online softmax over key blocks), compiled and interpreted.

Not one of Triton's tutorials verbatim, but the same ingredients as tutorial 06: two ``tl.dot``
per step, row maxima and sums carried through a loop, ``exp2`` with a folded scale, masks for a
sequence length that is not a multiple of the blocks.
"""

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl


@triton.jit
def attention_fwd(
    Q,
    K,
    V,
    Out,
    seq_len,
    sm_scale,
    stride_h,
    stride_s,  # the same layout for Q, K, V and Out: [head, seq, dim]
    HEAD_DIM: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    start_m = tl.program_id(0)
    head = tl.program_id(1)
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    base = head * stride_h
    q = tl.load(
        Q + base + offs_m[:, None] * stride_s + offs_d[None, :],
        mask=offs_m[:, None] < seq_len,
        other=0.0,
    )
    m_i = tl.zeros([BLOCK_M], dtype=tl.float32) - float("inf")
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    qk_scale = sm_scale * 1.44269504  # exp(x) == exp2(x * log2(e))
    for start_n in range(0, seq_len, BLOCK_N):
        cols = start_n + offs_n
        k = tl.load(
            K + base + cols[None, :] * stride_s + offs_d[:, None],
            mask=cols[None, :] < seq_len,
            other=0.0,
        )
        qk = tl.dot(q, k) * qk_scale
        qk = tl.where(cols[None, :] < seq_len, qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.exp2(qk - m_new[:, None])
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(
            V + base + cols[:, None] * stride_s + offs_d[None, :],
            mask=cols[:, None] < seq_len,
            other=0.0,
        )
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    out = acc / l_i[:, None]
    out_ptrs = Out + base + offs_m[:, None] * stride_s + offs_d[None, :]
    tl.store(out_ptrs, out.to(Out.dtype.element_ty), mask=offs_m[:, None] < seq_len)


@pytest.mark.parametrize(("dtype", "tol"), [(np.float32, 1e-4), (np.float16, 2e-2)])
def test_attention_forward(mode, rng, dtype, tol) -> None:
    heads, seq, dim = 2, 75, 32
    q, k, v = (rng.standard_normal((heads, seq, dim)).astype(dtype) for _ in range(3))
    out = np.full_like(q, np.nan)
    scale = float(1.0 / np.sqrt(dim))  # a Python float is fp32; a np.float64 would be fp64
    grid = (triton.cdiv(seq, 32), heads)
    attention_fwd[grid](
        q, k, v, out, seq, scale, seq * dim, dim, HEAD_DIM=dim, BLOCK_M=32, BLOCK_N=16
    )
    q64, k64, v64 = (t.astype(np.float64) for t in (q, k, v))
    s = q64 @ k64.transpose(0, 2, 1) * scale
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    ref = (w / w.sum(axis=-1, keepdims=True)) @ v64
    np.testing.assert_allclose(out.astype(np.float64), ref, rtol=tol, atol=tol)


@triton.jit
def _scores_two_sweeps(
    Q, K, S, seq_len, scale, HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr
):
    """``S = q @ k^T * scale`` for one block of query rows, in two key loops split where the
    block starts (tutorial 06's causal stages): the first loop runs no iteration in program 0.
    ``q`` is loaded once, outside both loops."""
    start_m = tl.program_id(0)
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    rows = offs_m[:, None] < seq_len
    q = tl.load(Q + offs_m[:, None] * HEAD_DIM + offs_d[None, :], mask=rows, other=0.0)
    split = start_m * BLOCK_M
    for start_n in range(0, split, BLOCK_N):
        cols = start_n + offs_n
        k = tl.load(K + cols[:, None] * HEAD_DIM + offs_d[None, :], mask=cols[:, None] < seq_len)
        s = tl.dot(q, tl.trans(k)) * scale
        tl.store(S + offs_m[:, None] * seq_len + cols[None, :], s, mask=rows & (cols < seq_len))
    for start_n in range(split, seq_len, BLOCK_N):
        cols = start_n + offs_n
        k = tl.load(K + cols[:, None] * HEAD_DIM + offs_d[None, :], mask=cols[:, None] < seq_len)
        s = tl.dot(q, tl.trans(k)) * scale
        tl.store(S + offs_m[:, None] * seq_len + cols[None, :], s, mask=rows & (cols < seq_len))


def test_low_precision_q_converted_once_per_program(mode, rng) -> None:
    """A bf16 ``q`` used by dots in two loops is converted to fp32 once per program (a flag
    set by whichever dot runs first; program 0's first loop runs no iteration), and every
    score is still right."""
    import ml_dtypes

    seq, dim = 83, 32
    q, k = (rng.standard_normal((seq, dim)).astype(ml_dtypes.bfloat16) for _ in range(2))
    s = np.full((seq, seq), np.nan, np.float32)
    compiled = _scores_two_sweeps[(triton.cdiv(seq, 32),)](
        q, k, s, seq, 0.5, HEAD_DIM=dim, BLOCK_M=32, BLOCK_N=16
    )
    ref = q.astype(np.float64) @ k.astype(np.float64).T * 0.5
    np.testing.assert_allclose(s, ref, rtol=1e-5, atol=1e-5)
    llir = compiled.asm["llir"] if mode == "compiled" else ""
    if mode == "compiled" and "dpbf16ps" not in llir:  # AVX512-BF16 dots take bf16 as it is
        assert "packed1" in llir


@pytest.mark.parametrize(
    "blocks", [(64, 64), (64, 32), (128, 64)], ids=["M64_N64", "M64_N32", "M128_N64"]
)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_tutorial_forward_head_dim_64(mode, rng, dtype, causal, blocks) -> None:
    """The benchmark's code path (``tutorials/attention.py``, D = 64, 64-row query blocks: the
    deferred ``tl.trans(k)`` packed by 8 x 8 blocks, 16-bit tiles widened for the fp32 dots)
    with a sequence that is a multiple of neither block (masked last key block, masked query
    rows) and a sharp softmax (scale 0.7: the running maximum moves between key blocks), against
    a float64 reference; outputs start as NaN (``_host.POISON``)."""
    import ml_dtypes

    from tutorials import attention

    np_dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    B, H, N, D = 1, 2, 100, 64
    q, k, v = (rng.standard_normal((B, H, N, D)).astype(np_dtype) for _ in range(3))
    out = attention.launch(
        attention._attn_fwd.fn, q, k, v, causal, 0.7, BLOCK_M=blocks[0], BLOCK_N=blocks[1]
    )
    q64, k64, v64 = (t.astype(np.float64) for t in (q, k, v))
    s = q64 @ np.swapaxes(k64, -1, -2) * 0.7
    if causal:
        s = np.where(np.tril(np.ones((N, N), dtype=bool)), s, -np.inf)
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    ref = (w / w.sum(axis=-1, keepdims=True)) @ v64
    # p is rounded to the input type before the second dot, as on a GPU
    tol = {"float32": 1e-5, "float16": 3e-3, "bfloat16": 2.5e-2}[dtype]
    assert out.dtype == q.dtype
    np.testing.assert_allclose(out.astype(np.float64), ref, rtol=tol, atol=tol)
