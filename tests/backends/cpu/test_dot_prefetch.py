"""Prefetch of a loop's next dot-operand tiles (``prefetch._plan_dot_operand``): decode
attention's ``k`` and ``v``, read by the dots in an order the hardware prefetcher does not
follow from one iteration to the next (issue 13). A prefetch never changes a result: these
tests check where the IR has them, and that the results stay right."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.llir import L2_PREFETCH, prefetch_offsets
from tritium.backends.cpu import prefetch
from tritium.backends.cpu.target import host_target
from tutorials import matmul

_X86 = host_target().triple.startswith("x86_64")
#: ``llvm.prefetch`` into L2 (locality 2): the row kernels' and the dot operands' own


@triton.jit
def _decode_split(
    Q, K, V, Out, n_ctx, stride_b, stride_h, H_KV, GROUP: tl.constexpr, D: tl.constexpr,
    BLOCK_N: tl.constexpr,
):  # fmt: skip
    # tutorials/attention.py's split kernel, one split: the GROUP query heads of one key/value
    # head; its cache rows D elements apart, so the next iteration's tile is a constant away
    pid = tl.program_id(0)
    b = pid // H_KV  # arithmetic the loop does not move
    h = pid % H_KV
    base = b.to(tl.int64) * stride_b + h.to(tl.int64) * stride_h
    offs_g = tl.arange(0, GROUP)
    offs_d = tl.arange(0, D)
    offs_n = tl.arange(0, BLOCK_N)
    q = tl.load(Q + (pid * GROUP + offs_g)[:, None] * D + offs_d[None, :])
    m_i = tl.zeros([GROUP], dtype=tl.float32) - float("inf")
    l_i = tl.zeros([GROUP], dtype=tl.float32)
    acc = tl.zeros([GROUP, D], dtype=tl.float32)
    for n0 in range(0, n_ctx, BLOCK_N):
        cols = n0 + offs_n
        valid = cols < n_ctx
        k = tl.load(K + base + cols[:, None] * D + offs_d[None, :], mask=valid[:, None], other=0.0)
        qk = tl.dot(q, tl.trans(k))
        qk = tl.where(valid[None, :], qk, -float("inf"))
        m_ij = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.math.exp2(qk - m_ij[:, None])
        alpha = tl.math.exp2(m_i - m_ij)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(V + base + cols[:, None] * D + offs_d[None, :], mask=valid[:, None], other=0.0)
        acc = tl.dot(p, v, acc * alpha[:, None])
        m_i = m_ij
    out = Out + (pid * GROUP + offs_g)[:, None] * D + offs_d[None, :]
    tl.store(out, acc / l_i[:, None])


@triton.jit
def _same_tiles(A, W, Out, n, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    # dot operands loaded in a loop at addresses the loop does not move: in cache after the
    # first iteration, nothing to prefetch
    rm, rn, rk = tl.arange(0, M), tl.arange(0, N), tl.arange(0, K)
    acc = tl.zeros([M, N], dtype=tl.float32)
    for _ in range(0, n):
        a = tl.load(A + rm[:, None] * K + rk[None, :])
        w = tl.load(W + rk[:, None] * N + rn[None, :])
        acc = tl.dot(a, w, acc * 0.5)
    tl.store(Out + rm[:, None] * N + rn[None, :], acc)


def _decode_inputs(rng: np.random.Generator, heads_kv: int, n: int, group: int, d: int):
    q = rng.standard_normal((2 * heads_kv * group, d)).astype(np.float32)
    k, v = (rng.standard_normal((2, heads_kv, n, d)).astype(np.float32) for _ in range(2))
    return q, k, v


def _decode_ref(q: np.ndarray, k: np.ndarray, v: np.ndarray, group: int) -> np.ndarray:
    b, h, n, d = k.shape
    qg = q.astype(np.float64).reshape(b, h, group, d)
    s = np.einsum("bhgd,bhnd->bhgn", qg, k.astype(np.float64))
    p = np.exp2(s - s.max(axis=-1, keepdims=True))
    o = np.einsum("bhgn,bhnd->bhgd", p / p.sum(axis=-1, keepdims=True), v.astype(np.float64))
    return o.reshape(b * h * group, d)


@pytest.mark.skipif(not _X86, reason="x86 prefetch instructions")
def test_decode_loop_prefetches_the_next_k_and_v_tiles(rng: np.random.Generator) -> None:
    heads_kv, n, group, d, block = 2, 100, 4, 64, 16
    q, k, v = _decode_inputs(rng, heads_kv, n, group, d)
    out = np.full_like(q, np.nan)
    args = (q, k, v, out, n, heads_kv * n * d, n * d, heads_kv)
    kernel = _decode_split.warmup(*args, GROUP=group, D=d, BLOCK_N=block, grid=(2 * heads_kv,))
    llir = kernel.asm["llir"]
    # k's transposed packing and the streamed p @ v: one iteration ahead, BLOCK_N rows
    assert prefetch_offsets(llir, L2_PREFETCH) == {block * d * 4}, sorted(
        prefetch_offsets(llir, L2_PREFETCH)
    )
    assert len(L2_PREFETCH.findall(llir)) >= 2
    _decode_split[(2 * heads_kv,)](*args, GROUP=group, D=d, BLOCK_N=block)
    np.testing.assert_allclose(out, _decode_ref(q, k, v, group), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not _X86, reason="x86 prefetch instructions")
def test_avx2_decode_loop_prefetches_once_a_line(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AVX2 code reads k and v in 32-byte chunks, two to a cache line: the dot issues one
    prefetch a line (half as many as one a chunk), and the results stay right."""
    prev = os.environ.get("TRITIUM_CPU_FEATURES", "")
    monkeypatch.setenv("TRITIUM_CPU_FEATURES", ",".join(f for f in (prev, "-avx512f") if f))
    monkeypatch.setenv("TRITIUM_ALWAYS_COMPILE", "1")
    heads_kv, n, group, d, block = 2, 100, 4, 64, 16
    q, k, v = _decode_inputs(rng, heads_kv, n, group, d)
    counts = {}
    for per_line in (False, True):
        monkeypatch.setattr(prefetch, "_PER_LINE", per_line)
        kernel = triton.jit(_decode_split.fn)  # a fresh in-memory cache
        out = np.full_like(q, np.nan)
        args = (q, k, v, out, n, heads_kv * n * d, n * d, heads_kv)
        compiled = kernel[(2 * heads_kv,)](*args, GROUP=group, D=d, BLOCK_N=block)
        counts[per_line] = len(L2_PREFETCH.findall(compiled.asm["llir"]))
        assert "<16 x float>" not in compiled.asm["llir"]
        np.testing.assert_allclose(out, _decode_ref(q, k, v, group), rtol=1e-5, atol=1e-5)
    # (about half: a chunk's load may also be split into a whole-chunk and a masked branch)
    assert 0 < 2 * counts[True] <= counts[False] + 1, counts


@pytest.mark.skipif(not _X86, reason="x86 prefetch instructions")
def test_dot_operands_the_hardware_prefetcher_covers_are_left_alone(
    rng: np.random.Generator,
) -> None:
    # tiles the loop does not move
    a, w = (rng.standard_normal((16, 16)).astype(np.float32) for _ in range(2))
    out = np.full((16, 16), np.nan, np.float32)
    kernel = _same_tiles.warmup(a, w, out, 3, M=16, N=16, K=16, grid=(1,))
    assert not L2_PREFETCH.findall(kernel.asm["llir"])
    _same_tiles[(1,)](a, w, out, 3, M=16, N=16, K=16)
    ref = (a.astype(np.float64) @ w.astype(np.float64)) * (1 + 0.5 + 0.25)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    # a K loop that carries its pointers (tutorial 03): the dot lowering prefetches as it packs
    x = rng.standard_normal((128, 128)).astype(np.float32)
    c = np.full_like(x, np.nan)
    grid = (4,)
    compiled = matmul.matmul_kernel.fn.warmup(
        x, x, c, 128, 128, 128, 128, 1, 128, 1, 128, 1, BLOCK_SIZE_M=64, BLOCK_SIZE_N=64,
        BLOCK_SIZE_K=32, GROUP_SIZE_M=8, ACTIVATION="", grid=grid,
    )  # fmt: skip
    assert not L2_PREFETCH.findall(compiled.asm["llir"])
