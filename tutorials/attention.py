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

import numpy as np

import tritium as triton
import tritium.language as tl
from tutorials import _host


@triton.jit
def _attn_fwd_inner(
    acc,
    l_i,
    m_i,
    q,
    K_block_ptr,
    V_block_ptr,
    start_m,
    qk_scale,
    N_CTX,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    STAGE: tl.constexpr,
    offs_m: tl.constexpr,
    offs_n: tl.constexpr,
):
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


# Triton's tutorial tunes BLOCK_M in {64, 128} x BLOCK_N in {32, 64, 128} (128 x 64 is its test
# config). On the CPU, 128 query rows halve the per-flop cost of packing k^T and v (each packed
# tile serves twice the rows): 128 x 64 ran 1-7% faster than 64 x 64 on full fp32 in three
# interleaved runs (one Zen 3 core, process CPU time, load 8-9), no clear difference elsewhere.
@triton.autotune(
    configs=[
        triton.Config({"BLOCK_M": 64, "BLOCK_N": 64}),
        triton.Config({"BLOCK_M": 64, "BLOCK_N": 32}),
        triton.Config({"BLOCK_M": 128, "BLOCK_N": 64}),
    ],
    key=["N_CTX", "HEAD_DIM", "STAGE"],
)
@triton.jit
def _attn_fwd(
    Q,
    K,
    V,
    Out,
    sm_scale,
    stride_qz,
    stride_qh,
    stride_qm,
    stride_qk,
    stride_kz,
    stride_kh,
    stride_kn,
    stride_kk,
    stride_vz,
    stride_vh,
    stride_vn,
    stride_vk,
    stride_oz,
    stride_oh,
    stride_om,
    stride_ok,
    H,
    H_KV,
    N_CTX,
    HEAD_DIM: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    STAGE: tl.constexpr,
):
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
    Q_block_ptr = tl.make_block_ptr(
        base=Q + q_offset,
        shape=(N_CTX, HEAD_DIM),
        strides=(stride_qm, stride_qk),
        offsets=(start_m * BLOCK_M, 0),
        block_shape=(BLOCK_M, HEAD_DIM),
        order=(1, 0),
    )
    K_block_ptr = tl.make_block_ptr(
        base=K + k_offset,
        shape=(N_CTX, HEAD_DIM),
        strides=(stride_kn, stride_kk),
        offsets=(0, 0),
        block_shape=(BLOCK_N, HEAD_DIM),
        order=(1, 0),
    )
    V_block_ptr = tl.make_block_ptr(
        base=V + v_offset,
        shape=(N_CTX, HEAD_DIM),
        strides=(stride_vn, stride_vk),
        offsets=(0, 0),
        block_shape=(BLOCK_N, HEAD_DIM),
        order=(1, 0),
    )
    O_block_ptr = tl.make_block_ptr(
        base=Out + o_offset,
        shape=(N_CTX, HEAD_DIM),
        strides=(stride_om, stride_ok),
        offsets=(start_m * BLOCK_M, 0),
        block_shape=(BLOCK_M, HEAD_DIM),
        order=(1, 0),
    )
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
        acc, l_i, m_i = _attn_fwd_inner(
            acc,
            l_i,
            m_i,
            q,
            K_block_ptr,
            V_block_ptr,
            start_m,
            qk_scale,
            N_CTX,
            BLOCK_M,
            BLOCK_N,
            4 - STAGE,
            offs_m,
            offs_n,
        )
    if STAGE & 2:
        acc, l_i, m_i = _attn_fwd_inner(
            acc,
            l_i,
            m_i,
            q,
            K_block_ptr,
            V_block_ptr,
            start_m,
            qk_scale,
            N_CTX,
            BLOCK_M,
            BLOCK_N,
            2,
            offs_m,
            offs_n,
        )
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


def launch(
    kernel: Any, q: Any, k: Any, v: Any, causal: bool, sm_scale: float | None, **meta: Any
) -> Any:
    """Launch ``kernel`` (``_attn_fwd``, or its un-tuned ``_attn_fwd.fn`` with explicit
    ``BLOCK_M``/``BLOCK_N`` in ``meta``) on ``[B, H, N, D]`` inputs; returns the output."""
    B, H, N, D = q.shape
    H_KV = k.shape[1]
    assert k.shape == v.shape == (B, H_KV, N, D), (q.shape, k.shape, v.shape)
    assert H % H_KV == 0, f"{H} query heads cannot share {H_KV} key/value heads evenly"
    assert D in (16, 32, 64, 128, 256), f"head dim {D} must be a power of 2 in [16, 256]"
    if sm_scale is None:
        sm_scale = 1.0 / math.sqrt(D)
    out = _host.empty_as(q, (B, H, N, D))
    strides = [_host.stride(t, d) for t in (q, k, v, out) for d in range(4)]

    def grid(meta: dict[str, Any]) -> tuple[int, int, int]:
        return (triton.cdiv(N, meta["BLOCK_M"]), B * H, 1)

    kernel[grid](
        q, k, v, out, sm_scale, *strides, H, H_KV, N, HEAD_DIM=D, STAGE=3 if causal else 1, **meta
    )
    return out


# ---------------------------------------------------------------------------------------------
# Decode: one new query token per sequence against a KV cache (flash-decoding)
# ---------------------------------------------------------------------------------------------


#: The fewest query rows of a decode tile. The CPU dot takes any row count, so a group of 4
#: query heads costs 4 rows, not 16 (25-35% faster at B4 H32/8 N4096 D128); set 16 for a GPU,
#: whose tensor-core dot wants at least 16 rows.
MIN_BLOCK_G = 1


@triton.jit
def _decode_split_kernel(
    Q,
    K,
    V,
    Lens,
    Acc,
    M_out,
    L_out,
    qk_scale,
    stride_qb,
    stride_qh,
    stride_kb,
    stride_kh,
    stride_kn,
    stride_vb,
    stride_vh,
    stride_vn,
    H_KV,
    GROUP,
    SPLIT_LEN,
    HEAD_DIM: tl.constexpr,
    BLOCK_G: tl.constexpr,
    BLOCK_N: tl.constexpr,
    NUM_SPLITS: tl.constexpr,
):
    """Grid: (B * H_KV, NUM_SPLITS). One program: the GROUP query heads that share one key/value
    head (the rows of its tiles), over one slice of SPLIT_LEN cached positions. It writes the
    un-normalized partial output and its running max (log2 domain) and sum for the combine."""
    pid_bh = tl.program_id(0)
    split = tl.program_id(1)
    b = pid_bh // H_KV
    h_kv = pid_bh % H_KV
    seq_len = tl.load(Lens + b)
    start = split * SPLIT_LEN
    end = tl.minimum(start + SPLIT_LEN, seq_len)
    offs_g = tl.arange(0, BLOCK_G)
    offs_d = tl.arange(0, HEAD_DIM)
    offs_n = tl.arange(0, BLOCK_N)
    heads = h_kv * GROUP + offs_g
    q = tl.load(
        Q + b.to(tl.int64) * stride_qb + heads[:, None] * stride_qh + offs_d[None, :],
        mask=offs_g[:, None] < GROUP,
        other=0.0,
    )
    k_base = K + b.to(tl.int64) * stride_kb + h_kv.to(tl.int64) * stride_kh
    v_base = V + b.to(tl.int64) * stride_vb + h_kv.to(tl.int64) * stride_vh
    m_i = tl.zeros([BLOCK_G], dtype=tl.float32) - float("inf")
    l_i = tl.zeros([BLOCK_G], dtype=tl.float32)
    acc = tl.zeros([BLOCK_G, HEAD_DIM], dtype=tl.float32)
    for n0 in range(start, end, BLOCK_N):
        cols = n0 + offs_n
        valid = cols < end
        k = tl.load(
            k_base + cols[:, None] * stride_kn + offs_d[None, :], mask=valid[:, None], other=0.0
        )
        qk = tl.dot(q, tl.trans(k)) * qk_scale
        qk = tl.where(valid[None, :], qk, -float("inf"))
        m_ij = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.math.exp2(qk - m_ij[:, None])
        alpha = tl.math.exp2(m_i - m_ij)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(
            v_base + cols[:, None] * stride_vn + offs_d[None, :], mask=valid[:, None], other=0.0
        )
        acc = tl.dot(p.to(v.dtype), v, acc * alpha[:, None])
        m_i = m_ij
    # Scratch layout: [B, H, NUM_SPLITS(, HEAD_DIM)], contiguous.
    row = (b * H_KV * GROUP + heads) * NUM_SPLITS + split
    keep = offs_g < GROUP
    tl.store(M_out + row, m_i, mask=keep)
    tl.store(L_out + row, l_i, mask=keep)
    tl.store(Acc + row[:, None] * HEAD_DIM + offs_d[None, :], acc, mask=keep[:, None])


@triton.jit
def _decode_combine_kernel(
    Acc, M_in, L_in, Out, stride_ob, stride_oh, H, HEAD_DIM: tl.constexpr, NUM_SPLITS: tl.constexpr
):
    """Grid: (B * H,). Merges the splits of one query head: each partial is weighted by
    exp2(its max - the overall max); an empty split (max -inf) weighs nothing."""
    pid = tl.program_id(0)
    offs_s = tl.arange(0, NUM_SPLITS)
    offs_d = tl.arange(0, HEAD_DIM)
    m = tl.load(M_in + pid * NUM_SPLITS + offs_s)
    l_s = tl.load(L_in + pid * NUM_SPLITS + offs_s)
    acc = tl.load(Acc + (pid * NUM_SPLITS + offs_s)[:, None] * HEAD_DIM + offs_d[None, :])
    w = tl.math.exp2(m - tl.max(m, 0))
    out = tl.sum(acc * w[:, None], 0) / tl.sum(l_s * w, 0)
    b = pid // H
    h = pid % H
    tl.store(
        Out + b.to(tl.int64) * stride_ob + h * stride_oh + offs_d, out.to(Out.dtype.element_ty)
    )


def decode_attention(
    q: Any,
    k_cache: Any,
    v_cache: Any,
    seq_lens: Any = None,
    sm_scale: float | None = None,
    block_n: int = 64,
    num_splits: int | None = None,
) -> Any:
    """Attention of one new token per sequence over its KV cache (the decode step of serving).

    ``q``: ``[B, H, D]``; ``k_cache``/``v_cache``: ``[B, H_KV, N_max, D]`` (``H_KV`` divides
    ``H``, grouped-query attention); ``seq_lens``: int32 ``[B]`` valid cache lengths (each at
    least 1; default all ``N_max``). The cache is split into ``num_splits`` slices processed in
    parallel (default: enough programs for every core), then merged. Returns ``[B, H, D]``.
    """
    B, H, D = q.shape
    _, H_KV, N_max, _ = k_cache.shape
    assert k_cache.shape == v_cache.shape == (B, H_KV, N_max, D), (k_cache.shape, v_cache.shape)
    assert H % H_KV == 0, f"{H} query heads cannot share {H_KV} key/value heads evenly"
    for t in (q, k_cache, v_cache):
        assert _host.stride(t, t.ndim - 1) == 1, "the head dimension must be contiguous"
    if sm_scale is None:
        sm_scale = 1.0 / math.sqrt(D)
    if seq_lens is None:
        seq_lens = _host.empty((B,), np.int32, like=q)
        seq_lens[...] = N_max
    group = H // H_KV
    if num_splits is None:
        cores = triton.runtime.driver.active.utils.get_device_properties(0)["multiprocessor_count"]
        wanted = triton.cdiv(4 * cores, B * H_KV)
        num_splits = min(triton.next_power_of_2(wanted), triton.cdiv(N_max, block_n))
    num_splits = triton.next_power_of_2(max(1, num_splits))
    split_len = triton.cdiv(triton.cdiv(N_max, num_splits), block_n) * block_n
    acc = _host.empty((B, H, num_splits, D), np.float32, like=q)
    m = _host.empty((B, H, num_splits), np.float32, like=q)
    l_sum = _host.empty((B, H, num_splits), np.float32, like=q)
    out = _host.empty_as(q, (B, H, D))
    _decode_split_kernel[(B * H_KV, num_splits)](
        q,
        k_cache,
        v_cache,
        seq_lens,
        acc,
        m,
        l_sum,
        sm_scale * 1.44269504,
        _host.stride(q, 0),
        _host.stride(q, 1),
        _host.stride(k_cache, 0),
        _host.stride(k_cache, 1),
        _host.stride(k_cache, 2),
        _host.stride(v_cache, 0),
        _host.stride(v_cache, 1),
        _host.stride(v_cache, 2),
        H_KV,
        group,
        split_len,
        HEAD_DIM=D,
        BLOCK_G=max(MIN_BLOCK_G, triton.next_power_of_2(group)),
        BLOCK_N=block_n,
        NUM_SPLITS=num_splits,
    )
    _decode_combine_kernel[(B * H,)](
        acc,
        m,
        l_sum,
        out,
        _host.stride(out, 0),
        _host.stride(out, 1),
        H,
        HEAD_DIM=D,
        NUM_SPLITS=num_splits,
    )
    return out
