"""bf16 and int8 K loops lowered by chunks of steps with ``vdpbf16ps`` / ``vpdpbusd``
(``dot_kloop_packed``).

Each case runs against a float64 (int8: exact integer) reference, outputs poisoned, with sizes
that are not multiples of the blocks (masked last K step: the packing's chunk-by-chunk path;
whole steps: its row-address path), K loops shorter and longer than a chunk, blocks of 4 rows
(a short register block), 16 columns (one vector per block), transposed operands and
accumulators that start non-zero. Compiled, the results equal the dot-by-dot lowering's bit
for bit (the same products added in the same order), and bf16 ``a`` read at its rows by the
microkernel equals it packed. On a host without the instructions
(``TRITIUM_CPU_FEATURES=-avx512f``) neither is used and the results are the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import ml_dtypes
import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.backends.cpu import dot_kloop
from tritium.backends.cpu import dot_kloop_packed as packed_kind
from tritium.backends.cpu.target import host_target


@triton.jit
def _matmul(
    a_ptr,
    b_ptr,
    c_ptr,
    init_ptr,
    M,
    N,
    K,
    stride_am,
    stride_ak,
    stride_bk,
    stride_bn,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    ADD_FORM: tl.constexpr,
    TAG: tl.constexpr,  # only tells the compiles of the two lowerings apart in the caches
):
    """Tutorial 03's K loop (grouped by 2 rows of programs, the int8 tutorial's masks);
    ``c = init + a @ b`` in ``init``'s type."""
    pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    num_pid_in_group = 2 * num_pid_n
    first_pid_m = (pid // num_pid_in_group) * 2
    group_size_m = min(num_pid_m - first_pid_m, 2)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + (offs_m[:, None] * stride_am + offs_k[None, :] * stride_ak)
    b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_n[None, :] * stride_bn)
    c_mask = (offs_m[:, None] < M) & (offs_n[None, :] < N)
    c_offs = offs_m[:, None] * N + offs_n[None, :]
    acc = tl.load(init_ptr + c_offs, mask=c_mask, other=0)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        k_left = K - k * BLOCK_K
        a = tl.load(a_ptrs, mask=(offs_m[:, None] < M) & (offs_k[None, :] < k_left), other=0)
        b = tl.load(b_ptrs, mask=(offs_k[:, None] < k_left) & (offs_n[None, :] < N), other=0)
        if ADD_FORM:
            acc += tl.dot(a, b)
        else:
            acc = tl.dot(a, b, acc)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk
    tl.store(c_ptr + c_offs, acc, mask=c_mask)


def _operands(rng, m, n, k, dtype, trans_a=False, trans_b=False):  # type: ignore[no-untyped-def]
    """Random ``a`` (m x k), ``b`` (k x n) and a non-zero start ``init`` (m x n); int8 over
    its whole range (-128 included), as transposed views if asked."""
    if dtype == "int8":
        a = rng.integers(-128, 128, (k, m) if trans_a else (m, k)).astype(np.int8)
        b = rng.integers(-128, 128, (n, k) if trans_b else (k, n)).astype(np.int8)
        a.flat[0] = b.flat[0] = -128
        init = rng.integers(-(1 << 20), 1 << 20, (m, n)).astype(np.int32)
    else:
        a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(ml_dtypes.bfloat16)
        b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(ml_dtypes.bfloat16)
        init = rng.standard_normal((m, n)).astype(np.float32)
    return (a.T if trans_a else a), (b.T if trans_b else b), init


def _launch(a, b, init, blocks, add_form=False, tag=0):  # type: ignore[no-untyped-def]
    (m, k), n = a.shape, b.shape[1]
    bm, bn, bk = blocks
    c = (
        np.full((m, n), -1 << 31, np.int32)
        if init.dtype == np.int32
        else np.full((m, n), np.nan, np.float32)
    )
    grid = (triton.cdiv(m, bm) * triton.cdiv(n, bn),)
    sa = [s // a.itemsize for s in a.strides]
    sb = [s // b.itemsize for s in b.strides]
    compiled = _matmul[grid](
        a, b, c, init, m, n, k, *sa, *sb,
        BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, ADD_FORM=add_form, TAG=tag,
    )  # fmt: skip
    return c, compiled


def _check(c, a, b, init) -> None:  # type: ignore[no-untyped-def]
    if init.dtype == np.int32:
        ref = a.astype(np.int64) @ b.astype(np.int64) + init
        np.testing.assert_array_equal(c, ref.astype(np.int32))  # wraps as int32 would
        return
    ref = a.astype(np.float64) @ b.astype(np.float64) + init
    assert not np.isnan(c).any()
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-5 * a.shape[1])


_CASES = [
    (64, 64, 512, (32, 64, 64)),  # 8 whole steps: chunks of several steps, no masked step
    (77, 45, 83, (32, 32, 16)),  # masked last step, masked rows and columns
    (40, 72, 300, (16, 64, 32)),  # 10 steps: whole chunks and a partial one
    (33, 20, 9, (16, 16, 16)),  # one masked step shorter than BLOCK_K, one vector of columns
    (20, 64, 700, (4, 64, 128)),  # blocks of 4 rows, long steps
]


@pytest.mark.parametrize("dtype", ["bf16", "int8"])
@pytest.mark.parametrize("m,n,k,blocks", _CASES)
def test_packed_kloop_matmul(mode: str, rng: np.random.Generator, dtype, m, n, k, blocks) -> None:  # type: ignore[no-untyped-def]
    a, b, init = _operands(rng, m, n, k, dtype)
    c, _ = _launch(a, b, init, blocks)
    _check(c, a, b, init)


@pytest.mark.parametrize("dtype", ["bf16", "int8"])
@pytest.mark.parametrize("trans_a,trans_b", [(True, False), (False, True)])
def test_packed_kloop_layouts(
    mode: str, rng: np.random.Generator, dtype: str, trans_a: bool, trans_b: bool
) -> None:
    """``a`` with rows strided along K, ``b`` with rows strided along N: packed chunk by
    chunk (no row addresses), still in the instructions' orders."""
    a, b, init = _operands(rng, 48, 40, 100, dtype, trans_a, trans_b)
    c, _ = _launch(a, b, init, (16, 32, 32))
    _check(c, a, b, init)


@pytest.mark.parametrize("dtype", ["bf16", "int8"])
@pytest.mark.parametrize("m,n,k,blocks", [_CASES[0], _CASES[1], _CASES[4]])
@pytest.mark.parametrize("add_form", [False, True])
def test_packed_kloop_matches_dot_by_dot_bitwise(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, dtype, m, n, k, blocks, add_form
) -> None:  # type: ignore[no-untyped-def]
    """Chunked and dot by dot (``_PACKED`` off), both with the instructions: equal bits. The
    chunked compile is told apart by the run-time check it adds (its out-of-memory message)."""
    target = host_target()
    feature = "avx512bf16" if dtype == "bf16" else "avx512vnni"
    if not target.has(feature) or not target.has("avx512f"):
        pytest.skip(f"needs {feature}")
    a, b, init = _operands(rng, m, n, k, dtype)
    fused, kernel = _launch(a, b, init, blocks, add_form, tag=1)
    assert any("tl.dot K loop" in msg for msg in kernel.metadata["asserts"])
    assert ("vdpbf16ps" if dtype == "bf16" else "vpdpbusd") in kernel.asm["asm"]
    monkeypatch.setattr(dot_kloop, "_PACKED", False)
    plain, kernel = _launch(a, b, init, blocks, add_form, tag=2)
    assert not any("tl.dot K loop" in msg for msg in kernel.metadata["asserts"])
    _check(fused, a, b, init)
    np.testing.assert_array_equal(fused, plain)


@pytest.mark.parametrize("m,n,k,blocks", [*_CASES, (40, 48, 2100, (16, 32, 64))])
@pytest.mark.parametrize("trans_a", [False, True])
def test_direct_a_matches_packed_a_bitwise(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, m, n, k, blocks, trans_a
) -> None:  # type: ignore[no-untyped-def]
    """bf16 ``a`` read by the microkernel at its rows (steps whose masks are all set) or from
    a copy (masked K tails, masked rows), and packed (``_DIRECT_A`` off): equal bits, and
    right (the last case: three chunks of steps, the last a masked step alone). Rows strided
    along K (``trans_a``) are packed either way. The lowerings are told apart by the
    compile's calls of ``record_a``."""
    target = host_target()
    if not target.has("avx512bf16") or not target.has("avx512f"):
        pytest.skip("needs avx512bf16")
    recorded = []
    record_a = packed_kind.record_a
    monkeypatch.setattr(
        packed_kind, "record_a", lambda *args: recorded.append(1) or record_a(*args)
    )
    a, b, init = _operands(rng, m, n, k, "bf16", trans_a)
    direct, _ = _launch(a, b, init, blocks, tag=4)
    assert bool(recorded) is not trans_a
    monkeypatch.setattr(packed_kind, "_DIRECT_A", False)
    recorded.clear()
    packed, _ = _launch(a, b, init, blocks, tag=5)
    assert not recorded
    _check(direct, a, b, init)
    np.testing.assert_array_equal(direct, packed)


@triton.jit
def _in_place(
    h_ptr, w_ptr, D, BM: tl.constexpr, BD: tl.constexpr, BK: tl.constexpr, TAG: tl.constexpr
):
    """``h = h @ w`` in place, each program owning whole rows of ``h`` (race-free in Triton:
    a program's loads of its rows come before its store of them)."""
    offs_m = tl.program_id(0) * BM + tl.arange(0, BM)
    offs_n = tl.arange(0, BD)
    offs_k = tl.arange(0, BK)
    a_ptrs = h_ptr + offs_m[:, None] * D + offs_k[None, :]
    b_ptrs = w_ptr + offs_k[:, None] * D + offs_n[None, :]
    acc = tl.zeros((BM, BD), dtype=tl.float32)
    for _ in range(0, D // BK):
        acc += tl.dot(tl.load(a_ptrs), tl.load(b_ptrs))
        a_ptrs += BK
        b_ptrs += BK * D
    tl.store(h_ptr + offs_m[:, None] * D + offs_n[None, :], acc.to(tl.bfloat16))


@pytest.mark.parametrize("m,d,bm,bk", [(32, 128, 16, 32), (64, 256, 32, 64)])
def test_direct_a_stored_over_in_place(
    rng: np.random.Generator, m: int, d: int, bm: int, bk: int
) -> None:
    """The C tile stored over the rows of ``a`` the loop read (``h = h @ w``): every block of
    the last chunk reads ``a`` before any of C is stored (a fused store of the first column
    block overwrote rows the second then read: errors of 390 and 3.8e4)."""
    h0 = rng.standard_normal((m, d)).astype(ml_dtypes.bfloat16)
    w = rng.standard_normal((d, d)).astype(ml_dtypes.bfloat16)
    ref = h0.astype(np.float64) @ w.astype(np.float64)
    h = h0.copy()
    _in_place[(m // bm,)](h, w, d, BM=bm, BD=d, BK=bk, TAG=m)
    np.testing.assert_allclose(h.astype(np.float64), ref, rtol=1e-2, atol=1e-2 * np.sqrt(d))


@triton.jit
def _wrapped(a_ptr, b_ptr, c_ptr, N, K, SA, BM: tl.constexpr, BN: tl.constexpr,
             BK: tl.constexpr, MODE: tl.constexpr):  # fmt: skip
    """``a``'s offsets along K contiguous per 16 lanes only (MODE 0, 1, 3, 4), ``b``'s
    columns wrapped by ``% N`` as tutorial 03 writes them (MODE 2, 5)."""
    offs_m = tl.program_id(0) * BM + tl.arange(0, BM)
    offs_n = tl.program_id(1) * BN + tl.arange(0, BN)
    ka = tl.arange(0, BK)
    if MODE == 0:
        offs_k = ka % 16
    elif MODE == 1:
        offs_k = (ka // 16) * 32 + ka % 16
    elif MODE == 3:
        offs_k = ka + ((ka // 16) % 2) * 16  # uniform per 16 lanes, not across the row
    elif MODE == 4:
        offs_k = ka % (32 - (ka // 16) * 16)  # n uniform per 16 lanes only
    else:
        offs_k = ka
    a_ptrs = a_ptr + offs_m[:, None] * SA + offs_k[None, :]
    b_ptrs = b_ptr + ka[:, None] * N + (offs_n % N)[None, :]
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for _ in range(0, K // BK):
        acc = tl.dot(tl.load(a_ptrs), tl.load(b_ptrs), acc)
        a_ptrs += BK
        b_ptrs += BK * N
    mask = offs_n[None, :] < N
    tl.store(c_ptr + offs_m[:, None] * N + offs_n[None, :], acc, mask=mask)


def _guarded(nbytes: int) -> tuple[np.ndarray, object]:
    """``nbytes`` that end where an inaccessible page begins (Linux)."""
    import ctypes
    import mmap

    page = mmap.PAGESIZE
    pages = -(-nbytes // page) + 1
    mm = mmap.mmap(-1, pages * page)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(mm))
    assert ctypes.CDLL(None).mprotect(ctypes.c_void_p(addr + (pages - 1) * page), page, 0) == 0
    return np.frombuffer(mm, np.uint8, nbytes, (pages - 1) * page - nbytes), mm


def _random_guarded(
    rng: np.random.Generator, shape: tuple[int, int], dtype: type
) -> tuple[np.ndarray, object]:
    """A random ``shape`` array of ``dtype`` ending where an inaccessible page begins, and the
    mapping to keep alive while it is used."""
    raw, keep = _guarded(shape[0] * shape[1] * np.dtype(dtype).itemsize)
    out = raw.view(dtype).reshape(shape)
    out[:] = rng.standard_normal(shape).astype(dtype)
    return out, keep


def _assert_right_in_child(
    launch: Callable[[], None], c: np.ndarray, ref: np.ndarray, tol: float
) -> None:
    """``launch()`` run in a forked child (a fault kills it alone), its result ``c`` held to
    ``ref`` there: the child's exit status reports it."""
    pid = os.fork()
    if pid == 0:
        try:
            launch()
            os._exit(0 if float(np.abs(c - ref).max()) < tol else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), f"the launch died: status {status}"
    assert os.WEXITSTATUS(status) == 0, f"wrong result (3) or an exception (4): {status}"


@triton.jit
def _one_dot(a_ptr, b_ptr, c_ptr, N, SA, BM: tl.constexpr, BN: tl.constexpr,
             BK: tl.constexpr, MODE: tl.constexpr):  # fmt: skip
    """One fp32 dot (no K loop): ``a``'s K offsets ``% 16`` (MODE 0), ``b``'s columns ``% N``
    (MODE 2)."""
    offs_m = tl.program_id(0) * BM + tl.arange(0, BM)
    offs_n = tl.program_id(1) * BN + tl.arange(0, BN)
    ka = tl.arange(0, BK)
    offs_k = ka % 16 if MODE == 0 else ka
    a = tl.load(a_ptr + offs_m[:, None] * SA + offs_k[None, :])
    b = tl.load(b_ptr + ka[:, None] * N + (offs_n % N)[None, :])
    mask = offs_n[None, :] < N
    tl.store(c_ptr + offs_m[:, None] * N + offs_n[None, :], tl.dot(a, b), mask=mask)


@pytest.mark.parametrize("mode", [0, 2])
def test_dot_rows_contiguous_per_chunk_only(rng: np.random.Generator, mode: int) -> None:
    """``dot._row_source`` (fp32, any host) reads rows whole only where they are contiguous
    across the row: ``% 16`` offsets along K gave errors ~19, and ``b``'s columns ``% 48``
    with BLOCK_N = 32 read past ``b`` (a fault before an inaccessible page; in a child)."""
    if not hasattr(os, "fork"):
        pytest.skip("needs fork")
    m, n, bm, bn, bk = (64, 32, 32, 32, 32) if mode == 0 else (64, 48, 32, 32, 32)
    a = rng.standard_normal((m, 64)).astype(np.float32)
    b, keep = _random_guarded(rng, (bk, n), np.float32)
    cols = np.arange(bk) % 16 if mode == 0 else np.arange(bk)
    ref = a[:, cols].astype(np.float64) @ b.astype(np.float64)
    c = np.full((m, n), np.nan, np.float32)
    grid = (m // bm, triton.cdiv(n, bn))
    launch = lambda: _one_dot[grid](a, b, c, n, a.shape[1], BM=bm, BN=bn, BK=bk, MODE=mode)  # noqa: E731
    _assert_right_in_child(launch, c, ref, 1e-3)
    del keep


@pytest.mark.parametrize("mode", [0, 1, 2, 3, 4, 5])
def test_rows_contiguous_per_chunk_only(rng: np.random.Generator, mode: int) -> None:
    """Rows whose stride is 1 in every 16 lanes but not across the row (``%`` / ``//`` of a
    range) are packed from their values, not read whole from their first addresses: ``a``
    along K read whole summed the wrong elements (errors ~60), and ``b``'s row wrapped by
    ``% 48`` read 32 bytes past ``b``, faulting before an inaccessible page (``b`` ends
    there; a subprocess, so that a fault fails only this test). MODE 5 is MODE 2 with
    ``% 80``: the column blocks at 0 and 32 lie whole in a row, the one at 64 wraps."""
    if not host_target().has("avx512bf16") or not hasattr(os, "fork"):
        pytest.skip("needs AVX512-BF16 (the packed K loop) and fork")
    m, n, k, bm, bn, bk = {2: (64, 48, 64, 32, 32, 32), 5: (64, 80, 64, 32, 32, 32)}.get(
        mode, (32, 32, 256, 16, 32, 32)
    )
    a = rng.standard_normal((m, k + 64)).astype(ml_dtypes.bfloat16)
    b, keep = _random_guarded(rng, (k, n), ml_dtypes.bfloat16)
    ka = np.arange(bk)
    cols = [ka % 16, (ka // 16) * 32 + ka % 16, ka, ka + ((ka // 16) % 2) * 16]
    cols = [*cols, ka % (32 - (ka // 16) * 16), ka][mode]
    ref = sum(
        a[:, s * bk + cols].astype(np.float64) @ b[s * bk : (s + 1) * bk].astype(np.float64)
        for s in range(k // bk)
    )
    c = np.full((m, n), np.nan, np.float32)
    grid = (m // bm, triton.cdiv(n, bn))
    launch = lambda: _wrapped[grid](a, b, c, n, k, a.shape[1], BM=bm, BN=bn, BK=bk, MODE=mode)  # noqa: E731
    _assert_right_in_child(launch, c, ref, 1e-3 * np.sqrt(k))
    del keep


@pytest.mark.parametrize("dtype", ["bf16", "int8"])
def test_packed_kloop_not_taken_without_avx512(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, dtype: str
) -> None:
    """With AVX-512 turned off no dot-product instruction is emitted (bf16 goes through the
    fp32 K loop, int8 dot by dot) and the results are right."""
    if not host_target().triple.startswith("x86_64"):
        pytest.skip("x86 features")
    prev = os.environ.get("TRITIUM_CPU_FEATURES", "")
    monkeypatch.setenv("TRITIUM_CPU_FEATURES", ",".join(f for f in (prev, "-avx512f") if f))
    a, b, init = _operands(rng, 77, 45, 83, dtype)
    c, kernel = _launch(a, b, init, (32, 32, 16), tag=3)
    _check(c, a, b, init)
    asm = kernel.asm["asm"]
    assert "vdpbf16ps" not in asm and "vpdpbusd" not in asm
    assert "zmm" not in asm


@triton.jit
def _matmul_bt(a_ptr, bt_ptr, c_ptr, M, N, K, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
               BLOCK_K: tl.constexpr):  # fmt: skip
    """``c = a @ bt.T`` with ``bt`` (N x K) loaded as it lies and transposed by ``tl.trans``."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=c_ptr.dtype.element_ty)
    for k in range(0, K, BLOCK_K):
        a_mask = (offs_m[:, None] < M) & ((k + offs_k)[None, :] < K)
        a = tl.load(a_ptr + offs_m[:, None] * K + (k + offs_k)[None, :], mask=a_mask, other=0)
        b_mask = (offs_n[:, None] < N) & ((k + offs_k)[None, :] < K)
        bt = tl.load(bt_ptr + offs_n[:, None] * K + (k + offs_k)[None, :], mask=b_mask, other=0)
        acc = tl.dot(a, tl.trans(bt), acc)
    c_mask = (offs_m[:, None] < M) & (offs_n[None, :] < N)
    tl.store(c_ptr + offs_m[:, None] * N + offs_n[None, :], acc, mask=c_mask)


@pytest.mark.parametrize("dtype", ["bf16", "int8"])
def test_packed_kloop_transposed_b(mode: str, rng: np.random.Generator, dtype: str) -> None:
    """``tl.dot(a, tl.trans(bt), acc)`` in the K loop: ``b`` transposed in registers in its
    own type before the instruction's packing."""
    m, n, k = 40, 50, 200
    a, b, init = _operands(rng, m, n, k, dtype)
    bt = np.ascontiguousarray(b.T)
    c = (
        np.full((m, n), -1 << 31, np.int32)
        if dtype == "int8"
        else np.full((m, n), np.nan, np.float32)
    )
    _matmul_bt[(triton.cdiv(m, 32), triton.cdiv(n, 32))](
        a, bt, c, m, n, k, BLOCK_M=32, BLOCK_N=32, BLOCK_K=32
    )
    _check(c, a, b, np.zeros_like(init))
