"""int8 ``b`` packed for the next column panels too (``dot_npanels``): a program that finds its
tiles in no kept panel packs its neighbours' from the same reads of ``b``'s rows.

The W8A8 tutorial's kernel (its ``b`` pointers a chain of two ``tt.addptr``, its masks an ``&``
of a row and a column test) on one row of programs and on several, with an odd number of
column panels, a masked last panel and a masked last K step, at 1-3 threads (owned shares and
steals): exact against an int64 reference (scales of 1: the int32 sums converted to fp32 once),
outputs poisoned, and bit for bit as dot by dot and as ``dot_panels``' single panel. A leader
must not read a neighbour's columns that its mask rules out: ``b`` ends at an unreadable page.
"""

from __future__ import annotations

import ctypes
import mmap
import re
import sys

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.modes import use_threads
from tritium.backends.cpu import dot_kloop, dot_npanels
from tritium.backends.cpu.target import host_target
from tutorials.matmul_int8 import matmul_int8_kernel


def _vnni() -> bool:
    target = host_target()
    return target.has("avx512vnni") and target.has("avx512f")


def _run(a: np.ndarray, b: np.ndarray, blocks: tuple[int, int, int], tag: int = 0):  # type: ignore[no-untyped-def]
    """``a @ b`` by the int8 tutorial's kernel (scales 1), a fresh JIT function per ``tag``
    (each lowering its own in-memory cache entry)."""
    (m, k), n = a.shape, b.shape[1]
    bm, bn, bk = blocks
    c = np.full((m, n), np.nan, np.float32)
    ones_m, ones_n = np.ones(m, np.float32), np.ones(n, np.float32)
    kernel = triton.jit(matmul_int8_kernel.fn.fn) if tag else matmul_int8_kernel.fn
    grid = (triton.cdiv(m, bm) * triton.cdiv(n, bn),)
    compiled = kernel[grid](
        a, b, c, ones_m, ones_n, m, n, k, k, 1, b.strides[0], 1, n, 1,
        BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=8,
    )  # fmt: skip
    return c, compiled


def _reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a.astype(np.int64) @ b.astype(np.int64)).astype(np.float32)


def _int8(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    x = rng.integers(-128, 128, shape).astype(np.int8)
    x.flat[0] = -128
    return x


_CASES = [
    (32, 7 * 32, 200, (32, 32, 64)),  # one row of programs, 7 panels, a masked last K step
    (50, 200, 256, (16, 32, 64)),  # 4 rows of programs in a group, a masked last panel
    (16, 256, 1024, (16, 64, 128)),  # 8 steps of 128
]


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("m,n,k,blocks", _CASES)
def test_next_panels_exact(
    request: pytest.FixtureRequest, rng: np.random.Generator, threads: int, m, n, k, blocks
) -> None:  # type: ignore[no-untyped-def]
    use_threads(request, threads)
    a, b = _int8(rng, (m, k)), _int8(rng, (k, n))
    c, _ = _run(a, b, blocks)
    np.testing.assert_array_equal(c, _reference(a, b))


@pytest.mark.parametrize("m,n,k,blocks", _CASES)
def test_next_panels_match_dot_by_dot_and_one_panel(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, m, n, k, blocks
) -> None:  # type: ignore[no-untyped-def]
    """The packed K loop with the next panels, with ``dot_panels``' one panel
    (``NEIGHBOURS`` 1) and dot by dot (``_PACKED`` off): equal bits; only the first packs
    the next panels (its LLVM IR has the lookup's loops)."""
    if not _vnni():
        pytest.skip("needs avx512vnni")
    monkeypatch.setenv("TRITIUM_ALWAYS_COMPILE", "1")  # the disk cache's key has no setting
    a, b = _int8(rng, (m, k)), _int8(rng, (k, n))
    wide, kernel = _run(a, b, blocks, tag=1)
    assert "npanel" in kernel.asm["llir"] and "vpdpbusd" in kernel.asm["asm"]
    monkeypatch.setattr(dot_npanels, "NEIGHBOURS", 1)
    one, kernel = _run(a, b, blocks, tag=2)
    assert "npanel" not in kernel.asm["llir"]
    monkeypatch.setattr(dot_kloop, "_PACKED", False)
    plain, _ = _run(a, b, blocks, tag=3)
    np.testing.assert_array_equal(wide, _reference(a, b))
    np.testing.assert_array_equal(wide, one)
    np.testing.assert_array_equal(wide, plain)


def test_tutorial_keys_are_a_first_column_and_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """The int8 tutorial's pointers (a row's pointers plus a column's offsets, two
    ``tt.addptr``) are keyed by their first column and first row (1 + 64 + 64 words for
    ``a``'s and ``b``'s 64 x 64 tiles), not by all 4096 addresses."""
    if not _vnni():
        pytest.skip("needs avx512vnni")
    monkeypatch.setenv("TRITIUM_ALWAYS_COMPILE", "1")
    a, b = np.zeros((64, 256), np.int8), np.zeros((256, 128), np.int8)
    _, kernel = _run(a, b, (64, 64, 64), tag=4)
    calls = re.findall(
        r"call \w+ @tritium_helper_(\w+)\(ptr [^,]+, i64 [^,]+, i64 (\d+)", kernel.asm["llir"]
    )
    assert ("apanel_region", "129") in calls and ("npanel_find", "129") in calls, calls


@pytest.mark.parametrize("threads", [1, 2])
def test_panels_of_an_earlier_launch_are_not_reused(
    request: pytest.FixtureRequest, rng: np.random.Generator, threads: int
) -> None:
    """``b`` rewritten in place between launches (same addresses, so the same keys; one
    column panel, which a launch's first program would find kept): each launch packs
    afresh."""
    use_threads(request, threads)
    m, n, k, blocks = 64, 64, 256, (32, 64, 64)
    a, b = _int8(rng, (m, k)), _int8(rng, (k, n))
    for _ in range(3):
        b[...] = _int8(rng, (k, n))
        c, _ = _run(a, b, blocks)
        np.testing.assert_array_equal(c, _reference(a, b))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mprotect through libc")
def test_next_panels_stop_at_the_column_mask() -> None:
    """``b`` (3 column panels: the leader of the last one has no neighbour) ends where an
    unreadable page starts: packing a neighbour past ``N`` would fault."""
    exact_before_unreadable_page(np.random.default_rng(3), 32, 3 * 64, 128, (32, 64, 64))


def exact_before_unreadable_page(
    rng: np.random.Generator, m: int, n: int, k: int, blocks: tuple[int, int, int]
) -> None:
    """``a @ b`` on fresh int8 operands, exact, with ``b`` (k x n) ending where an unreadable
    page starts (Linux: ``mprotect`` through libc), so that a read past it faults."""
    page = mmap.PAGESIZE
    size = -(-k * n // page) * page + page
    region = mmap.mmap(-1, size)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    anchor = ctypes.c_char.from_buffer(region)
    start = ctypes.addressof(anchor)
    assert libc.mprotect(start + size - page, page, 0) == 0  # PROT_NONE
    try:
        b = np.frombuffer(region, np.int8, k * n, size - page - k * n).reshape(k, n)
        b[...] = _int8(rng, (k, n))
        a = _int8(rng, (m, k))
        c, _ = _run(a, b, blocks)
        np.testing.assert_array_equal(c, _reference(a, b))
    finally:
        assert libc.mprotect(start + size - page, page, 3) == 0  # read and write again
        del b, anchor
        region.close()


@triton.jit
def _matmul_k_masked(a_ptr, b_ptr, c_ptr, M, N, K, BLOCK_M: tl.constexpr,
                     BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, WRAP: tl.constexpr):  # fmt: skip
    """``b``'s mask tests K only (no bound on the columns); with ``WRAP`` its columns taken
    modulo ``N`` (tutorial 03's addressing)."""
    pid = tl.program_id(0)
    offs_m = tl.arange(0, BLOCK_M)
    offs_n = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    if WRAP:
        offs_n = offs_n % N
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + (offs_m[:, None] * K + offs_k[None, :])
    b_ptrs = b_ptr + (offs_k[:, None] * N + offs_n[None, :])
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_K, other=0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_K, other=0)
        acc = tl.dot(a, b, acc)
        a_ptrs += BLOCK_K
        b_ptrs += BLOCK_K * N
    tl.store(c_ptr + offs_m[:, None] * N + pid * BLOCK_N + tl.arange(0, BLOCK_N)[None, :], acc)


@pytest.mark.parametrize("wrap", [False, True])
def test_no_column_bound_keeps_one_panel(rng: np.random.Generator, wrap: bool) -> None:
    """No column test in the mask (nothing says where the next panels' columns end), or
    columns taken ``% N`` (their addresses need not continue the rows): one panel as before,
    and the right product."""
    m, n, k = 16, 4 * 64, 192
    a, b = _int8(rng, (m, k)), _int8(rng, (k, n))
    c = np.full((m, n), -(1 << 31), np.int32)
    kernel = _matmul_k_masked[(n // 64,)](
        a, b, c, m, n, k, BLOCK_M=16, BLOCK_N=64, BLOCK_K=64, WRAP=wrap
    )
    np.testing.assert_array_equal(c, a.astype(np.int64) @ b.astype(np.int64))
    if _vnni():
        assert "vpdpbusd" in kernel.asm["asm"] and "npanel" not in kernel.asm["llir"]


@triton.jit
def _matmul_column_test(a_ptr, b_ptr, c_ptr, M, N, K, lo, s, BLOCK_M: tl.constexpr,
                        BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                        TEST: tl.constexpr):  # fmt: skip
    """``b``'s column test bounds nothing from above: ``lo - offs_n <= 0`` (that is,
    ``offs_n >= lo``) or ``offs_n * s < N`` with a run-time ``s`` (0 or negative, it holds past
    any column)."""
    pid = tl.program_id(0)
    offs_m = tl.arange(0, BLOCK_M)
    offs_n = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + offs_m[:, None] * K + offs_k[None, :]
    b_ptrs = b_ptr + offs_k[:, None] * N + offs_n[None, :]
    if TEST == "from below":
        columns = (lo - offs_n[None, :]) <= 0
    else:
        columns = offs_n[None, :] * s < N
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        kl = K - k * BLOCK_K
        a = tl.load(a_ptrs, mask=(offs_m[:, None] < M) & (offs_k[None, :] < kl), other=0)
        b = tl.load(b_ptrs, mask=(offs_k[:, None] < kl) & columns, other=0)
        acc = tl.dot(a, b, acc)
        a_ptrs += BLOCK_K
        b_ptrs += BLOCK_K * N
    tl.store(c_ptr + offs_m[:, None] * N + offs_n[None, :], acc, mask=offs_m[:, None] < M)


@pytest.mark.parametrize("test", ["from below", "run-time factor"])
def test_column_test_without_an_upper_bound_keeps_one_panel(
    rng: np.random.Generator, test: str
) -> None:
    """A column test that is a comparison with a uniform value but grows, or may not grow,
    away from the bound past the tile (found in review: ``lo - offs_n <= 0`` was taken for an
    upper bound, and the last panel's leader read past ``b``'s end): one panel, right product."""
    m, n, k, s = 32, 5 * 64, 128, 2  # s = 1 would be specialized to a constant
    a, b = _int8(rng, (m, k)), _int8(rng, (k, n))
    c = np.full((m, n), -(1 << 31), np.int32)
    kernel = _matmul_column_test[(n // 64,)](
        a, b, c, m, n, k, 0, s, BLOCK_M=32, BLOCK_N=64, BLOCK_K=64, TEST=test
    )
    kept = b.astype(np.int64)
    if test == "run-time factor":
        kept[:, np.arange(n) * s >= n] = 0
    np.testing.assert_array_equal(c, a.astype(np.int64) @ kept)
    if _vnni():
        assert "vpdpbusd" in kernel.asm["asm"] and "npanel" not in kernel.asm["llir"]
