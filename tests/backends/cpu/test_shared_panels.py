"""Launch-wide tables of packed panels (``dot_apanels``' ``shared``, ``helpers``' table
find and entries, the launcher's odd shares run from their ends).

A bf16 K loop (``dot_kloop_packed``) at several threads keeps its packed ``b`` tiles in one
table for the whole launch: a tile is packed by the first thread that claims its entry and
read by the others once published. Checked against a float64
reference with poisoned outputs, and bit for bit against the per-thread panels
(``dot_kloop._SHARED`` off): at 2 and 3 threads, masked edges, ``b`` rewritten between
launches (a table is the launch's only), two launches at once from two Python threads, and
that the tables were filled (the workers shared them).
"""

from __future__ import annotations

import threading

import ml_dtypes
import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.backends.cpu import dot_kloop, scratch
from tritium.backends.cpu import dot_kloop_packed as packed_kind
from tritium.backends.cpu.target import host_target

from .modes import use_threads


def _needs_bf16() -> None:
    target = host_target()
    if not target.has("avx512bf16") or not target.has("avx512f"):
        pytest.skip("needs AVX512-BF16")


@triton.jit
def _matmul(
    a_ptr,
    b_ptr,
    c_ptr,
    order_ptr,
    seq_ptr,
    M,
    N,
    K,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr,
    TAG: tl.constexpr,  # only tells compiles apart in the caches
):
    """Tutorial 03's kernel (row-major operands, grouped order); each program records when
    it ran (``order[pid]``: its ticket)."""
    pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    num_pid_in_group = GROUP_M * num_pid_n
    first_pid_m = (pid // num_pid_in_group) * GROUP_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m
    offs_m = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    offs_n = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + (offs_m[:, None] * K + offs_k[None, :])
    b_ptrs = b_ptr + (offs_k[:, None] * N + offs_n[None, :])
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_K, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_K, other=0.0)
        acc = tl.dot(a, b, acc)
        a_ptrs += BLOCK_K
        b_ptrs += BLOCK_K * N
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = (rows[:, None] < M) & (cols[None, :] < N)
    tl.store(c_ptr + rows[:, None] * N + cols[None, :], acc, mask=mask)
    tl.store(order_ptr + pid, tl.atomic_add(seq_ptr, 1))


_BLOCKS = (32, 32, 32)


def _run(a, b, tag=0, blocks=_BLOCKS):  # type: ignore[no-untyped-def]
    (m, k), n = a.shape, b.shape[1]
    bm, bn, bk = blocks
    grid = (triton.cdiv(m, bm) * triton.cdiv(n, bn),)
    c = np.full((m, n), np.nan, np.float32)
    order, seq = np.full(grid[0], -1, np.int32), np.zeros(1, np.int32)
    _matmul[grid](a, b, c, order, seq, m, n, k, bm, bn, bk, 4, TAG=tag)
    return c, order


def _operands(rng: np.random.Generator, m: int, n: int, k: int):  # type: ignore[no-untyped-def]
    a = rng.standard_normal((m, k)).astype(ml_dtypes.bfloat16)
    b = rng.standard_normal((k, n)).astype(ml_dtypes.bfloat16)
    return a, b


def _check(c, a, b) -> None:  # type: ignore[no-untyped-def]
    ref = a.astype(np.float64) @ b.astype(np.float64)
    assert not np.isnan(c).any()
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-5 * a.shape[1])


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("m,n,k", [(256, 256, 256), (200, 130, 300), (96, 512, 64)])
def test_shared_tables_match_private_panels_bitwise(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    rng: np.random.Generator,
    threads: int,
    m: int,
    n: int,
    k: int,
) -> None:
    """Several workers, tiles kept in launch-wide tables: right, and equal bit for bit to the
    same kernel keeping per-thread panels; every program runs once (without AVX512-BF16 the
    fp32 K loop, which keeps per-thread panels either way)."""
    use_threads(request, threads)
    a, b = _operands(rng, m, n, k)
    shared, order = _run(a, b, tag=1)
    _check(shared, a, b)
    assert sorted(order) == list(range(len(order)))
    monkeypatch.setattr(dot_kloop, "_SHARED", False)
    private, _ = _run(a, b, tag=2)
    np.testing.assert_array_equal(shared, private)


def test_shared_tables_filled_and_odd_shares_reversed(
    request: pytest.FixtureRequest, rng: np.random.Generator
) -> None:
    """At 2 threads the workers keep their ``b`` tiles in the launch's table (one slot per
    column panel) and the second share runs from its end: in a launch where both workers ran
    at once (the shares' tickets interleave), its first ticket went to a program of its back
    half (the owner runs its chunks from the end; a thief's later steals from the front, or the
    owner descheduled inside its first chunk, do not change which program ended first)."""
    _needs_bf16()
    use_threads(request, 2)
    a, b = _operands(rng, 1024, 512, 256)
    both = 0
    for _ in range(20):
        c, order = _run(a, b, tag=3)
        _check(c, a, b)
        half = len(order) // 2
        if order[:half].max() > order[half:].min():  # the second worker took part early
            both += 1
            first = half + int(np.argmin(order[half:]))
            assert first >= half + (len(order) - half) // 2, order
    # b's site, every panel: scratch slot 1 (2 where ``a`` is packed too, at a site of its own)
    assert scratch.table_slots_used(1 if packed_kind._DIRECT_A else 2) == 512 // 32
    if not both:
        pytest.skip("the second worker never ran beside the first (a loaded machine)")


def test_shared_tables_fresh_each_launch(
    request: pytest.FixtureRequest, rng: np.random.Generator
) -> None:
    """``b`` rewritten in place between launches (the same addresses, so the same keys): the
    second launch packs the new values, nothing kept from the first."""
    use_threads(request, 2)
    a, b = _operands(rng, 256, 192, 160)
    c, _ = _run(a, b, tag=4)
    _check(c, a, b)
    b[...] = rng.standard_normal(b.shape).astype(ml_dtypes.bfloat16)
    c, _ = _run(a, b, tag=4)
    _check(c, a, b)


def test_shared_tables_concurrent_launches(
    request: pytest.FixtureRequest, rng: np.random.Generator
) -> None:
    """Two launches of the kernel at once from two Python threads, different data: each
    gets tables of its own (one the kept blocks, the other new ones), both right."""
    use_threads(request, 2)
    cases = [_operands(rng, 192, 160, 224) for _ in range(2)]
    outs: list[list[np.ndarray]] = [[], []]

    def work(i: int) -> None:
        for _ in range(8):
            outs[i].append(_run(*cases[i], tag=5)[0])

    workers = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    for (a, b), got in zip(cases, outs, strict=True):
        assert len(got) == 8
        for c in got:
            _check(c, a, b)
