"""The C tile's store done by a bf16 / int8 K loop's last microkernel (``dot_epilogue``).

Tutorial 03's epilogue (the accumulator converted to the output's type, an activation, the
masked store) runs against a float64 reference with outputs poisoned, at sizes that mask the
last rows and columns, and equals the store after the loop (``_ENABLED`` off) bit for bit.
A loop that runs no step stores the initial tile; kernels where moving the store into the loop
could change what is read (a load after the loop, a store in the loop) keep the store after
the loop. The epilogue is told apart by its write prefetches (``llvm.prefetch`` with rw = 1).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.backends.cpu import dot_epilogue
from tritium.backends.cpu import dot_kloop_packed as packed_kind
from tritium.backends.cpu.target import host_target

_FUSED = "i32 1, i32 3, i32 1)"  # the epilogue's prefetchw, in the LLVM IR


@pytest.fixture(autouse=True)
def _needs_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    target = host_target()
    if not target.has("avx512bf16") or not target.has("avx512f"):
        pytest.skip("needs AVX512-BF16 (the packed K loop)")
    # the epilogue takes loops whose ``a`` is packed: bf16's read at its rows keeps the store
    # after the loop (test_dot_kloop_packed.test_direct_a_stored_over_in_place)
    monkeypatch.setattr(packed_kind, "_DIRECT_A", False)


@triton.jit
def _leaky_relu(x):
    return tl.where(x >= 0, x, 0.01 * x)


@triton.jit
def _matmul(a_ptr, b_ptr, c_ptr, init_ptr, s_ptr, M, N, K, BLOCK_M: tl.constexpr,
            BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, EPILOGUE: tl.constexpr,
            TAG: tl.constexpr):  # fmt: skip
    """``c = epilogue(init + a @ b)`` in ``c``'s type (tutorial 03's K loop); EPILOGUE 0: as
    is, 1: leaky ReLU, 2: times a row scale loaded after the loop, 3: a store in the loop."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + offs_m[:, None] * K + offs_k[None, :]
    b_ptrs = b_ptr + offs_k[:, None] * N + offs_n[None, :]
    c_mask = (offs_m[:, None] < M) & (offs_n[None, :] < N)
    acc = tl.load(init_ptr + offs_m[:, None] * N + offs_n[None, :], mask=c_mask, other=0.0)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        a = tl.load(a_ptrs, mask=(offs_m[:, None] < M) & (offs_k[None, :] < K - k * BLOCK_K))
        b = tl.load(b_ptrs, mask=(offs_k[:, None] < K - k * BLOCK_K) & (offs_n[None, :] < N))
        acc = tl.dot(a, b, acc)
        if EPILOGUE == 3:
            tl.store(s_ptr + pid_m * tl.num_programs(1) + pid_n, k)
        a_ptrs += BLOCK_K
        b_ptrs += BLOCK_K * N
    if EPILOGUE == 1:
        acc = _leaky_relu(acc)
    if EPILOGUE == 2:
        acc = acc * tl.load(s_ptr + offs_m, mask=offs_m < M, other=0.0)[:, None]
    c = acc.to(c_ptr.dtype.element_ty)
    tl.store(c_ptr + offs_m[:, None] * N + offs_n[None, :], c, mask=c_mask)


def _run(m, n, k, out, epilogue=0, blocks=(32, 64, 32), tag=0, seed=0):  # type: ignore[no-untyped-def]
    """(c, the reference in float64, the compiled kernel)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(ml_dtypes.bfloat16)
    b = rng.standard_normal((k, n)).astype(ml_dtypes.bfloat16)
    init = rng.standard_normal((m, n)).astype(np.float32)
    scale = rng.uniform(0.5, 2.0, max(m, 64)).astype(np.float32)
    c = np.full((m, n), np.nan, out)
    bm, bn, bk = blocks
    grid = (triton.cdiv(m, bm), triton.cdiv(n, bn))
    s = scale.copy()
    kernel = _matmul[grid](
        a, b, c, init, s, m, n, k, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, EPILOGUE=epilogue, TAG=tag
    )
    ref = a.astype(np.float64) @ b.astype(np.float64) + init
    if epilogue == 1:
        ref = np.where(ref >= 0, ref, 0.01 * ref)
    if epilogue == 2:
        ref = ref * scale[:m, None]
    return c, ref, kernel


def _close(c, ref, k) -> None:  # type: ignore[no-untyped-def]
    assert not np.isnan(c.astype(np.float32)).any()
    if c.dtype == np.float32:
        np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-5 * max(k, 1))
    else:  # one rounding to the output's type on top
        eps = 2.0**-8 if c.dtype == ml_dtypes.bfloat16 else 2.0**-11
        np.testing.assert_allclose(c.astype(np.float64), ref, rtol=2 * eps, atol=1e-4 * max(k, 1))


@pytest.mark.parametrize("out", [np.float32, np.float16, ml_dtypes.bfloat16])
@pytest.mark.parametrize("epilogue", [0, 1])
@pytest.mark.parametrize(
    "m,n,k,blocks",
    [(64, 128, 256, (32, 64, 32)), (77, 45, 83, (32, 32, 16)), (20, 64, 700, (4, 64, 128))],
)
def test_epilogue_stores_like_the_store_after_the_loop(
    monkeypatch: pytest.MonkeyPatch, out, epilogue, m, n, k, blocks
) -> None:  # type: ignore[no-untyped-def]
    """Fused (its write prefetches in the IR), right, and the same bits as the store op
    lowered after the loop."""
    c, ref, kernel = _run(m, n, k, out, epilogue, blocks, tag=1)
    assert _FUSED in kernel.asm["llir"]
    _close(c, ref, k)
    monkeypatch.setattr(dot_epilogue, "_ENABLED", False)
    plain, _, kernel = _run(m, n, k, out, epilogue, blocks, tag=2)
    assert _FUSED not in kernel.asm["llir"]
    np.testing.assert_array_equal(c.view(np.uint8), plain.view(np.uint8))


@pytest.mark.parametrize("out", [np.float32, np.float16])
def test_epilogue_loop_of_no_step_stores_the_initial_tile(out) -> None:  # type: ignore[no-untyped-def]
    """K = 0: no microkernel runs, the store op after the loop stores ``init``."""
    c, ref, kernel = _run(40, 72, 0, out, epilogue=1, tag=3)
    assert _FUSED in kernel.asm["llir"]
    _close(c, ref, 0)


@pytest.mark.parametrize("epilogue", [2, 3])
def test_epilogue_not_taken_where_reads_could_change(epilogue: int) -> None:
    """A load after the loop (the int8 tutorial's scales) or a store inside it: the store
    stays after the loop."""
    c, ref, kernel = _run(77, 45, 83, np.float32, epilogue, (32, 32, 16), tag=4)
    assert _FUSED not in kernel.asm["llir"]
    _close(c, ref, 83)


@pytest.mark.parametrize("threshold,streams", [(16 << 10, True), (1 << 30, False)])
def test_epilogue_leaves_streaming_outputs_to_the_store_op(
    monkeypatch: pytest.MonkeyPatch, threshold: int, streams: bool
) -> None:
    """Whether the output streams is decided at run time (the launch's 6 tiles of 8 KiB
    against the threshold): one that does is stored after the loop by the store op's
    non-temporal stores, one that does not by the microkernel; both right."""
    monkeypatch.setenv("TRITIUM_STREAMING_STORES", str(threshold))
    c, ref, kernel = _run(96, 128, 200, np.float32, 1, (32, 64, 32), tag=5 + streams)
    assert _FUSED in kernel.asm["llir"] and "!nontemporal" in kernel.asm["llir"]
    _close(c, ref, 200)


@triton.jit
def _matmul_plus_tile(a_ptr, b_ptr, c_ptr, r_ptr, M, N, K, BLOCK_M: tl.constexpr,
                      BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):  # fmt: skip
    """``c = a @ b + r`` in one program, ``r`` loaded (a fused tile) before the K loop."""
    offs_m = tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    c_mask = (offs_m[:, None] < M) & (offs_n[None, :] < N)
    r = tl.load(r_ptr + offs_m[:, None] * N + offs_n[None, :], mask=c_mask, other=0.0)
    a_ptrs = a_ptr + offs_m[:, None] * K + offs_k[None, :]
    b_ptrs = b_ptr + offs_k[:, None] * N + offs_n[None, :]
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_K, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_K, other=0.0)
        acc = tl.dot(a, b, acc)
        a_ptrs += BLOCK_K
        b_ptrs += BLOCK_K * N
    tl.store(c_ptr + offs_m[:, None] * N + offs_n[None, :], acc + r, mask=c_mask)


def test_epilogue_not_taken_for_a_fused_tile_load() -> None:
    """``r`` is ``c``'s own tile one row down and one column left (``r[i, j] = c[i + 1, j - 1]``
    before the store): read block by block between the epilogue's stores, it saw values the
    blocks before had stored (found in review: 31 of 4096 elements wrong). The store stays
    after the loop, where the store op reads each chunk of ``r`` before it stores it."""
    m, n, k = 32, 128, 64
    rng = np.random.default_rng(7)
    a, b = (rng.standard_normal(s).astype(ml_dtypes.bfloat16) for s in ((m, k), (k, n)))
    buf = rng.standard_normal((m + 1) * n + 1).astype(np.float32)
    old = buf.copy()
    c = buf[1 : 1 + m * n].reshape(m, n)
    r = buf[n : n + m * n].reshape(m, n)
    kernel = _matmul_plus_tile[(1,)](a, b, c, r, m, n, k, BLOCK_M=32, BLOCK_N=128, BLOCK_K=32)
    ref = a.astype(np.float64) @ b.astype(np.float64) + old[n : n + m * n].reshape(m, n)
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-4)
    assert _FUSED not in kernel.asm["llir"]
