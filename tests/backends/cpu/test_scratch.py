"""Scratch blocks kept by each thread across launches (``scratch.py``).

The packed panels of a ``tl.dot`` K loop live in per-worker scratch blocks; each thread keeps
its blocks for its next launch instead of freeing them. Every result is compared with a float64
NumPy reference on fresh random inputs, outputs poisoned; ``scratch.fresh_blocks()`` (a counter
of blocks workers allocated) proves that a second launch on the same thread reuses its blocks.
Compiled only: the interpreter has no scratch blocks.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.backends.cpu import scratch
from tritium.threads import THREADS


@triton.jit
def _matmul(a_ptr, b_ptr, c_ptr, M, N, K, BLOCK: tl.constexpr, BLOCK_K: tl.constexpr):
    """``c = a @ b``, row-major, a K loop of ``tl.dot`` (packed panels in scratch blocks)."""
    pid = tl.program_id(axis=0)
    num_pid_n = tl.cdiv(N, BLOCK)
    pid_m, pid_n = pid // num_pid_n, pid % num_pid_n
    offs_m = (pid_m * BLOCK + tl.arange(0, BLOCK)) % M
    offs_n = (pid_n * BLOCK + tl.arange(0, BLOCK)) % N
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + offs_m[:, None] * K + offs_k[None, :]
    b_ptrs = b_ptr + offs_k[:, None] * N + offs_n[None, :]
    acc = tl.zeros((BLOCK, BLOCK), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_K, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_K, other=0.0)
        acc += tl.dot(a, b)
        a_ptrs += BLOCK_K
        b_ptrs += BLOCK_K * N
    cm = pid_m * BLOCK + tl.arange(0, BLOCK)
    cn = pid_n * BLOCK + tl.arange(0, BLOCK)
    tl.store(c_ptr + cm[:, None] * N + cn[None, :], acc, mask=(cm[:, None] < M) & (cn[None, :] < N))


def _run(rng: np.random.Generator, m: int, n: int, k: int, block: int = 32, bk: int = 16) -> None:
    """One launch on fresh inputs, checked against float64."""
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = np.full((m, n), np.nan, np.float32)
    grid = (triton.cdiv(m, block) * triton.cdiv(n, block),)
    _matmul[grid](a, b, c, m, n, k, BLOCK=block, BLOCK_K=bk)
    assert not np.isnan(c).any()
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c, ref, rtol=1e-4, atol=2e-5 * k)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Every launch on the calling thread (its worker runs there)."""
    saved = THREADS[0]
    THREADS[0] = 1
    yield
    THREADS[0] = saved


def test_second_launch_reuses_the_threads_blocks(
    rng: np.random.Generator, one_thread: None
) -> None:
    _run(rng, 77, 45, 130)  # compiles; the thread may hold no block yet
    _run(rng, 77, 45, 130)
    before = scratch.fresh_blocks()
    _run(rng, 77, 45, 130)  # new data at the same sizes: nothing stale is read
    _run(rng, 64, 96, 100)  # other sizes, fewer K steps: the blocks still fit
    assert scratch.fresh_blocks() == before
    scratch.release_thread()  # freed: the next launch allocates again
    _run(rng, 77, 45, 130)
    assert scratch.fresh_blocks() > before


def test_interleaved_kernels_are_correct(rng: np.random.Generator, one_thread: None) -> None:
    # another kernel (other blocks) between two launches of the first reuses or replaces the
    # thread's blocks; each one initializes what it takes
    for _ in range(2):
        _run(rng, 70, 50, 90)
        _run(rng, 96, 40, 260, block=64, bk=32)
        _run(rng, 33, 20, 9, block=16, bk=16)


def test_a_much_smaller_need_replaces_the_block(rng: np.random.Generator, one_thread: None) -> None:
    _run(rng, 64, 64, 2048, block=64, bk=32)  # 64 K steps of 64x32 and 32x64 tiles
    _run(rng, 64, 64, 2048, block=64, bk=32)
    before = scratch.fresh_blocks()
    _run(rng, 32, 32, 16, block=32, bk=16)  # one step of 32x16 tiles: memory goes back
    assert scratch.fresh_blocks() > before


def test_concurrent_launches_from_two_python_threads(rng: np.random.Generator) -> None:
    seeds = rng.integers(2**31, size=2)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        r = np.random.default_rng(seed)
        try:
            for i in range(6):
                _run(r, 40 + 17 * i, 72, 100 + 31 * i)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    _run(rng, 40, 72, 100)  # compiled before the threads start
    threads = [threading.Thread(target=work, args=(int(s),)) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_forked_child_uses_its_copy(rng: np.random.Generator, one_thread: None) -> None:
    _run(rng, 50, 70, 130)  # the parent's thread keeps blocks
    pid = os.fork()
    if pid == 0:  # the child: its thread's blocks are its own copy
        code = 1
        try:
            _run(np.random.default_rng(1), 50, 70, 130)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    _run(rng, 50, 70, 130)
