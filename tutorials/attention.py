"""Flash-attention forward in the style of Triton's tutorial 06, for CPU servers.

``out = softmax(q @ k^T * sm_scale [+ causal mask]) @ v`` for ``q, k, v`` of shape
``[B, H, N, D]``, without ever forming the ``N x N`` score matrix: each program owns
``BLOCK_M`` query rows of one (batch, head) and streams over blocks of ``BLOCK_N`` keys with an
online softmax (a running row maximum ``m_i`` and row sum ``l_i``; the accumulator is rescaled
by ``exp2(m_old - m_new)`` whenever the maximum grows). Scores are scaled by ``sm_scale *
log2(e)`` so that ``exp2`` replaces ``exp``. Inputs may be fp32, fp16 or bf16; the two dots
accumulate in fp32 and the output has the input dtype. ``N`` need not be a multiple of a block.
Keys and values may have fewer heads than queries (grouped-query attention).
"""

from __future__ import annotations

import math
from typing import Any

import tritium as triton
import tritium.language as tl
from tutorials import _host
from tutorials.rms_norm import empty_as


@triton.jit
def _attn_fwd_inner(acc, l_i, m_i, q, K_block_ptr, V_block_ptr, start_m, qk_scale, N_CTX,
                    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, STAGE: tl.constexpr,
                    offs_m: tl.constexpr, offs_n: tl.constexpr):
    """One sweep over key blocks. STAGE 1: blocks strictly left of the diagonal (no mask
    needed), STAGE 2: the diagonal blocks (causal mask), STAGE 3: all keys (non-causal)."""
    if STAGE == 1:
        lo, hi = 0, start_m * BLOCK_M
    elif STAGE == 2:
        lo, hi = start_m * BLOCK_M, tl.minimum((start_m + 1) * BLOCK_M, N_CTX)
    else:
        lo, hi = 0, N_CTX
    K_block_ptr = tl.advance(K_block_ptr, (lo, 0))
    V_block_ptr = tl.advance(V_block_ptr, (lo, 0))
    for start_n in range(lo, hi, BLOCK_N):
        # Keys past N_CTX are zero-padded; their scores are set to -inf below.
        k = tl.load(K_block_ptr, boundary_check=(0, 1), padding_option="zero")
        qk = tl.dot(q, tl.trans(k))
        cols = start_n + offs_n
        if STAGE == 1:  # every key of these blocks exists and precedes every query row
            qk = qk * qk_scale
        elif STAGE == 2:
            keep = (offs_m[:, None] >= cols[None, :]) & (cols[None, :] < N_CTX)
            qk = tl.where(keep, qk * qk_scale, -float("inf"))
        else:
            qk = tl.where(cols[None, :] < N_CTX, qk * qk_scale, -float("inf"))
        m_ij = tl.maximum(m_i, tl.max(qk, 1))
        qk = qk - m_ij[:, None]
        p = tl.math.exp2(qk)
        l_ij = tl.sum(p, 1)
        # Rescale what was accumulated under the old maximum.
        alpha = tl.math.exp2(m_i - m_ij)
        l_i = l_i * alpha + l_ij
        acc = acc * alpha[:, None]
        v = tl.load(V_block_ptr, boundary_check=(0, 1), padding_option="zero")
        acc = tl.dot(p.to(v.dtype), v, acc)
        m_i = m_ij
        V_block_ptr = tl.advance(V_block_ptr, (BLOCK_N, 0))
        K_block_ptr = tl.advance(K_block_ptr, (BLOCK_N, 0))
    return acc, l_i, m_i


@triton.autotune(
    configs=[
        triton.Config({"BLOCK_M": 64, "BLOCK_N": 64}),
        triton.Config({"BLOCK_M": 64, "BLOCK_N": 32}),
    ],
    key=["N_CTX", "HEAD_DIM", "STAGE"],
)
@triton.jit
def _attn_fwd(Q, K, V, Out, sm_scale,
              stride_qz, stride_qh, stride_qm, stride_qk,
              stride_kz, stride_kh, stride_kn, stride_kk,
              stride_vz, stride_vh, stride_vn, stride_vk,
              stride_oz, stride_oh, stride_om, stride_ok,
              H, H_KV, N_CTX,
              HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
              STAGE: tl.constexpr):
    """Grid: (cdiv(N_CTX, BLOCK_M), B * H). STAGE 1: non-causal, STAGE 3: causal.

    The causal split needs BLOCK_N to divide BLOCK_M (no key block straddles the diagonal
    block's left edge), as in Triton's tutorial.
    """
    start_m = tl.program_id(0)
    off_hz = tl.program_id(1)
    off_z = off_hz // H
    off_h = off_hz % H
    # Grouped-query attention: H // H_KV consecutive query heads share one key/value head.
    off_h_kv = off_h // (H // H_KV)
    q_offset = off_z.to(tl.int64) * stride_qz + off_h.to(tl.int64) * stride_qh
    k_offset = off_z.to(tl.int64) * stride_kz + off_h_kv.to(tl.int64) * stride_kh
    v_offset = off_z.to(tl.int64) * stride_vz + off_h_kv.to(tl.int64) * stride_vh
    o_offset = off_z.to(tl.int64) * stride_oz + off_h.to(tl.int64) * stride_oh
    Q_block_ptr = tl.make_block_ptr(base=Q + q_offset, shape=(N_CTX, HEAD_DIM),
                                    strides=(stride_qm, stride_qk),
                                    offsets=(start_m * BLOCK_M, 0),
                                    block_shape=(BLOCK_M, HEAD_DIM), order=(1, 0))
    K_block_ptr = tl.make_block_ptr(base=K + k_offset, shape=(N_CTX, HEAD_DIM),
                                    strides=(stride_kn, stride_kk), offsets=(0, 0),
                                    block_shape=(BLOCK_N, HEAD_DIM), order=(1, 0))
    V_block_ptr = tl.make_block_ptr(base=V + v_offset, shape=(N_CTX, HEAD_DIM),
                                    strides=(stride_vn, stride_vk), offsets=(0, 0),
                                    block_shape=(BLOCK_N, HEAD_DIM), order=(1, 0))
    O_block_ptr = tl.make_block_ptr(base=Out + o_offset, shape=(N_CTX, HEAD_DIM),
                                    strides=(stride_om, stride_ok),
                                    offsets=(start_m * BLOCK_M, 0),
                                    block_shape=(BLOCK_M, HEAD_DIM), order=(1, 0))
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    m_i = tl.zeros([BLOCK_M], dtype=tl.float32) - float("inf")
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    qk_scale = sm_scale * 1.44269504  # 1 / ln(2): exp(x) == exp2(x * log2(e))
    q = tl.load(Q_block_ptr, boundary_check=(0, 1), padding_option="zero")
    # Non-causal: one sweep over every key (STAGE 3). Causal: the blocks left of the diagonal
    # without a mask (STAGE 1), then the diagonal block with one (STAGE 2).
    if STAGE & 1:
        acc, l_i, m_i = _attn_fwd_inner(acc, l_i, m_i, q, K_block_ptr, V_block_ptr, start_m,
                                        qk_scale, N_CTX, BLOCK_M, BLOCK_N, 4 - STAGE,
                                        offs_m, offs_n)
    if STAGE & 2:
        acc, l_i, m_i = _attn_fwd_inner(acc, l_i, m_i, q, K_block_ptr, V_block_ptr, start_m,
                                        qk_scale, N_CTX, BLOCK_M, BLOCK_N, 2, offs_m, offs_n)
    acc = acc / l_i[:, None]
    tl.store(O_block_ptr, acc.to(Out.type.element_ty), boundary_check=(0, 1))


def attention(q: Any, k: Any, v: Any, causal: bool = False, sm_scale: float | None = None) -> Any:
    """Scaled dot-product attention of ``[B, H, N, D]`` arrays or CPU tensors (D a power of 2).

    ``k`` and ``v`` may have fewer heads, ``[B, H_KV, N, D]`` with ``H_KV`` dividing ``H``
    (grouped-query attention, as in LLaMA 2/3 and Mistral): query head ``h`` reads key/value
    head ``h // (H // H_KV)``.

    ``sm_scale`` defaults to ``1 / sqrt(D)``. Returns an array like ``q``.
    """
    return launch(_attn_fwd, q, k, v, causal, sm_scale)


def launch(kernel: Any, q: Any, k: Any, v: Any, causal: bool, sm_scale: float | None,
           **meta: Any) -> Any:
    """Launch ``kernel`` (``_attn_fwd``, or its un-tuned ``_attn_fwd.fn`` with explicit
    ``BLOCK_M``/``BLOCK_N`` in ``meta``) on ``[B, H, N, D]`` inputs; returns the output."""
    B, H, N, D = q.shape
    H_KV = k.shape[1]
    assert k.shape == v.shape == (B, H_KV, N, D), (q.shape, k.shape, v.shape)
    assert H % H_KV == 0, f"{H} query heads cannot share {H_KV} key/value heads evenly"
    assert D in (16, 32, 64, 128, 256), f"head dim {D} must be a power of 2 in [16, 256]"
    if sm_scale is None:
        sm_scale = 1.0 / math.sqrt(D)
    out = empty_as(q, (B, H, N, D))
    strides = [_host.stride(t, d) for t in (q, k, v, out) for d in range(4)]

    def grid(meta: dict[str, Any]) -> tuple[int, int, int]:
        return (triton.cdiv(N, meta["BLOCK_M"]), B * H, 1)

    kernel[grid](q, k, v, out, sm_scale, *strides, H, H_KV, N, HEAD_DIM=D,
                 STAGE=3 if causal else 1, **meta)
    return out
