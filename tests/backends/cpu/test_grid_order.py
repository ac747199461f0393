"""The launcher runs the grid axis that walks memory contiguously fastest
(``tritium/backends/cpu/grid_order.py``): GPU-style grids with rows on axis 0 are recognized,
kernels with a lock row ``pid % K`` run residue by residue, and every program still runs
exactly once whatever the order."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.modes import each_mode, use_threads
from tutorials import layer_norm, matmul, vector_add


@triton.jit
def _silu_mul(a_ptr, b_ptr, out_ptr, n_cols, ROW_AXIS: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(ROW_AXIS)
    cols = tl.program_id(1 - ROW_AXIS) * BLOCK + tl.arange(0, BLOCK)
    offs = row * n_cols + cols
    a = tl.load(a_ptr + offs)
    tl.store(out_ptr + offs, a * tl.sigmoid(a) * tl.load(b_ptr + offs))


@triton.jit
def _tag(out_ptr, stride_x, stride_z, BLOCK: tl.constexpr):
    x, y, z = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    offs = z * stride_z + x * stride_x + y * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.zeros([BLOCK], tl.int32) + (x + 100 * y + 10000 * z))


def test_rows_on_axis_0_run_column_blocks_fastest() -> None:
    a = np.zeros((4, 256), np.float32)
    rows0 = _silu_mul.warmup(a, a, a, 256, ROW_AXIS=0, BLOCK=64, grid=(4, 4))
    rows1 = _silu_mul.warmup(a, a, a, 256, ROW_AXIS=1, BLOCK=64, grid=(4, 4))
    assert rows0.metadata["grid_fast_axis"] == 1
    assert rows1.metadata["grid_fast_axis"] == 0
    # 1-D grids and kernels whose order is not recognized keep Triton's order
    add = vector_add.add_kernel.warmup(a, a, a, 16, BLOCK_SIZE=16, grid=(1,))
    assert add.metadata["grid_fast_axis"] == 0
    h = np.zeros((64, 64), np.float16)
    cfg = matmul.get_autotune_config()[0].all_kwargs()
    mm = matmul.matmul_kernel.fn.warmup(
        h, h, h, 64, 64, 64, 64, 1, 64, 1, 64, 1, ACTIVATION="", grid=(1,), **cfg
    )
    assert mm.metadata["grid_fast_axis"] == 0


@pytest.mark.parametrize("mode", ["compiled", "interpreted"])
def test_reordered_grid_runs_every_program_once(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if mode == "interpreted":
        monkeypatch.setenv("TRITIUM_INTERPRET", "1")
    gx, gy, gz, block = 3, 5, 2, 16
    out = np.full((gz, gx, gy * block), -1, np.int32)
    if mode == "compiled":
        k = _tag.warmup(out, gy * block, gx * gy * block, BLOCK=block, grid=(gx, gy, gz))
        assert k.metadata["grid_fast_axis"] == 1
    _tag[(gx, gy, gz)](out, gy * block, gx * gy * block, BLOCK=block)
    z, x, col = np.meshgrid(np.arange(gz), np.arange(gx), np.arange(gy * block), indexing="ij")
    np.testing.assert_array_equal(out, x + 100 * (col // block) + 10000 * z)


def test_reordered_grid_computes_the_same() -> None:
    rng = np.random.default_rng(int(os.environ["TRITIUM_TEST_SEED"]))
    M, N, block = 24, 384, 64
    a, b = rng.standard_normal((2, M, N), dtype=np.float32)
    ref = a.astype(np.float64) / (1 + np.exp(-a.astype(np.float64))) * b
    for row_axis, grid in ((0, (M, N // block)), (1, (N // block, M))):
        out = np.full_like(a, np.nan)
        _silu_mul[grid](a, b, out, N, ROW_AXIS=row_axis, BLOCK=block)
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


@triton.jit
def _count(out_ptr):
    pid = tl.program_id(0) + tl.num_programs(0) * tl.program_id(1)
    tl.atomic_add(out_ptr + pid, 1)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("grid", [(1,), (7,), (1000,), (4099,), (129, 3)])
def test_chunks_and_single_program_tail_run_each_program_once(
    threads: int, grid: tuple[int, ...]
) -> None:
    """The launcher hands out programs in chunks and the last ones singly (so that threads
    finish together): at every boundary each program runs exactly once."""
    total = int(np.prod(grid))
    out = np.zeros(total, np.int32)
    from tritium.threads import THREADS

    previous = THREADS[0]  # 0 means "the default": restore that, not the count it resolves to
    triton.set_num_threads(threads)
    try:
        _count[grid](out)
    finally:
        THREADS[0] = previous
    np.testing.assert_array_equal(out, np.ones(total, np.int32))


@triton.jit
def _residues(out_ptr, bins_ptr, seq_ptr, order_ptr, K: tl.constexpr):
    pid = tl.program_id(0)
    tl.atomic_add(bins_ptr + pid % K, 1)  # the lock-row pattern: run residue by residue
    tl.atomic_add(out_ptr + pid, 1)
    tl.store(order_ptr + pid, tl.atomic_add(seq_ptr, 1))


@triton.jit
def _two_moduli(out_ptr, K: tl.constexpr):
    pid = tl.program_id(0)
    tl.atomic_add(out_ptr + pid % K, 1)
    tl.atomic_add(out_ptr + K + pid % (K + 1), 1)


@triton.jit
def _residues_2d(out_ptr, K: tl.constexpr):
    pid = tl.program_id(0) + tl.num_programs(0) * tl.program_id(1)
    tl.atomic_add(out_ptr + pid % K, 1)


def _residue_order(n: int, k: int) -> list[int]:
    """The program ids in the order one thread runs them with period ``k``."""
    return [pid for r in range(min(k, n)) for pid in range(r, n, k)]


def test_residue_period_found_only_for_one_modulus_of_axis_0() -> None:
    a = np.zeros(64, np.int32)
    k = _residues.warmup(a, a, a, a, K=5, grid=(64,))
    assert k.metadata["grid_period"] == 5
    assert _residues.warmup(a, a, a, a, K=1, grid=(64,)).metadata["grid_period"] == 0
    assert _two_moduli.warmup(a, K=5, grid=(8,)).metadata["grid_period"] == 0
    assert _residues_2d.warmup(a, K=5, grid=(8, 2)).metadata["grid_period"] == 0
    assert _count.warmup(a, grid=(8,)).metadata["grid_period"] == 0
    # the tutorial's layer norm backward: the lock row is pid % GROUP_SIZE_M
    f = np.zeros((4, 8), np.float32)
    ln = layer_norm._layer_norm_bwd_dx_fused.warmup(
        f, f, f, f, f, f, f, f, a, 8, 8, GROUP_SIZE_M=3, BLOCK_SIZE_N=8, grid=(4,)
    )
    assert ln.metadata["grid_period"] == 3


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("k", [2, 5, 128])
@pytest.mark.parametrize("n", [1, 4, 7, 127, 129, 1000, 4099])
def test_residue_order_runs_each_program_once(request, monkeypatch, threads, k, n) -> None:
    """Residue order at every grid size against the period (smaller, equal, odd remainders),
    chunks rounded to whole residues and the tail grabbed a residue at a time; at one thread
    the programs run in exactly ``0, k, 2k, ..., 1, 1 + k, ...``."""
    use_threads(request, threads)
    for interpret in each_mode(monkeypatch):
        out, bins = np.zeros(n, np.int32), np.zeros(k, np.int32)
        seq, order = np.zeros(1, np.int32), np.full(n, -1, np.int32)
        _residues[(n,)](out, bins, seq, order, K=k)
        np.testing.assert_array_equal(out, np.ones(n, np.int32), err_msg=f"{interpret=}")
        np.testing.assert_array_equal(bins, np.bincount(np.arange(n) % k, minlength=k))
        assert sorted(order) == list(range(n)) and seq[0] == n
        if threads == 1 and not interpret:
            assert list(np.argsort(order)) == _residue_order(n, k)
        # a 2-D grid of a kernel that reads axis 0 only: axis 0 permuted in every row
        out, bins, seq = np.zeros(n, np.int32), np.zeros(k, np.int32), np.zeros(1, np.int32)
        _residues[(n, 2)](out, bins, seq, np.full(n, -1, np.int32), K=k)
        np.testing.assert_array_equal(out, np.full(n, 2, np.int32), err_msg=f"{interpret=}")
        assert seq[0] == 2 * n


@triton.jit
def _tickets(out_ptr, seq_ptr, order_ptr):
    pid = tl.program_id(0) + tl.num_programs(0) * tl.program_id(1)
    tl.atomic_add(out_ptr + pid, 1)
    tl.store(order_ptr + pid, tl.atomic_add(seq_ptr, 1))


def _rises_then_falls(seq: np.ndarray) -> bool:
    top = int(np.argmax(seq))
    return bool((np.diff(seq[: top + 1]) > 0).all() and (np.diff(seq[top:]) < 0).all())


def test_owned_shares_only_for_kept_panels() -> None:
    """Kernels whose K loop keeps packed panels (``dot_kloop``) run in owned shares; others
    take chunks from the shared counter."""
    h = np.zeros((64, 64), np.float32)
    cfg = matmul.get_autotune_config()[0].all_kwargs()
    mm = matmul.matmul_kernel.fn.warmup(
        h, h, h, 64, 64, 64, 64, 1, 64, 1, 64, 1, ACTIVATION="", grid=(1,), **cfg
    )
    assert mm.metadata["grid_owned"] is True
    a = np.zeros(16, np.float32)
    add = vector_add.add_kernel.warmup(a, a, a, 16, BLOCK_SIZE=16, grid=(1,))
    assert add.metadata["grid_owned"] is False


@pytest.mark.parametrize("threads", [2, 3, 5])
@pytest.mark.parametrize("grid", [(1,), (2,), (3,), (7,), (64,), (129,), (1000,), (97, 3)])
def test_owned_shares_run_each_program_once(request, monkeypatch, threads, grid) -> None:  # type: ignore[no-untyped-def]
    """Owned shares (``launcher.owned_shares``, forced on here): every program runs once at
    every grid size against the threads (fewer programs, uneven shares, chunks and single
    programs); at two threads each share runs from its front on its worker and from its end
    on the other, so its tickets rise, then fall."""
    from tritium.backends.cpu import launcher

    monkeypatch.setattr(launcher, "owned_shares", lambda cx: True)
    use_threads(request, threads)
    total = int(np.prod(grid))
    out, seq, order = np.zeros(total, np.int32), np.zeros(1, np.int32), np.full(total, -1, np.int32)
    k = _tickets[grid](out, seq, order)
    assert k.metadata["grid_owned"] is True
    np.testing.assert_array_equal(out, np.ones(total, np.int32))
    assert sorted(order) == list(range(total)) and seq[0] == total
    if threads == 2:
        n = min(threads, total)
        bounds = [t * (total // n) + min(t, total % n) for t in range(n + 1)]
        for lo, hi in zip(bounds, bounds[1:]):
            assert _rises_then_falls(order[lo:hi]), (lo, hi, order[lo:hi])
