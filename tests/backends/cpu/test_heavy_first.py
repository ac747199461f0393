"""Programs whose loop trip count grows with the program id run heaviest first
(``tritium/backends/cpu/heavy_first.py``): which kernels are recognized, that the launcher
really hands the ids out in decreasing order, and that every program still runs once with the
same results, compiled (1 and 2 threads) and interpreted."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.modes import each_mode, use_threads


@triton.jit
def _block_sums(
    x_ptr, out_ptr, n, stride, HEAVY_AXIS: tl.constexpr, KIND: tl.constexpr, BLOCK: tl.constexpr
):
    """out[row, i] = sum of x[row, lo:hi) by blocks of BLOCK, where i is program_id(HEAVY_AXIS)
    and row the other axis's id. KIND 0: a prefix [0, (i + 1) * BLOCK) (grows with i);
    1: a suffix [i * BLOCK, n) (shrinks); 2: a prefix and a suffix (both); 3: a prefix whose
    bound is not affine in i (no opinion); 4: the prefix on a runtime step (no opinion)."""
    i = tl.program_id(HEAVY_AXIS)
    row = tl.program_id(1 - HEAVY_AXIS)
    cols = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], tl.float32)
    if KIND == 0 or KIND == 2:
        for start in range(0, (i + 1) * BLOCK, BLOCK):
            acc += tl.load(x_ptr + row * stride + start + cols, mask=start + cols < n, other=0.0)
    if KIND == 1 or KIND == 2:
        for start in range(i * BLOCK, n, BLOCK):
            acc += tl.load(x_ptr + row * stride + start + cols, mask=start + cols < n, other=0.0)
    if KIND == 3:
        for start in range(0, tl.minimum((i + 1) * BLOCK, n), BLOCK):
            acc += tl.load(x_ptr + row * stride + start + cols, mask=start + cols < n, other=0.0)
    if KIND == 4:
        for start in range(0, (i + 1) * BLOCK, stride // stride * BLOCK):
            acc += tl.load(x_ptr + row * stride + start + cols, mask=start + cols < n, other=0.0)
    grid_i = tl.num_programs(HEAVY_AXIS)
    tl.store(out_ptr + row * grid_i + i, tl.sum(acc, 0))


def _reference(x: np.ndarray, kind: int, block: int) -> np.ndarray:
    rows, n = x.shape
    g = triton.cdiv(n, block)
    x64 = x.astype(np.float64)
    out = np.zeros((rows, g))
    for i in range(g):
        if kind in (0, 2, 3, 4):
            out[:, i] += x64[:, : (i + 1) * block].sum(axis=1)
        if kind in (1, 2):
            out[:, i] += x64[:, i * block :].sum(axis=1)
    return out


def _launch(x: np.ndarray, out: np.ndarray, axis: int, kind: int, block: int) -> None:
    rows, n = x.shape
    g = triton.cdiv(n, block)
    grid = (g, rows) if axis == 0 else (rows, g)
    _block_sums[grid](x, out, n, n, HEAVY_AXIS=axis, KIND=kind, BLOCK=block)


@pytest.mark.parametrize(
    ("kind", "expected"), [(0, True), (1, False), (2, False), (3, False), (4, False)]
)
@pytest.mark.parametrize("axis", [0, 1])
def test_recognized_kernels(kind: int, expected: bool, axis: int) -> None:
    x = np.zeros((3, 100), np.float32)
    out = np.zeros((3, 7), np.float32)
    grid = (7, 3) if axis == 0 else (3, 7)
    k = _block_sums.warmup(x, out, 100, 100, HEAVY_AXIS=axis, KIND=kind, BLOCK=16, grid=grid)
    assert k.metadata["grid_heavy_first"] is expected


def test_tutorial_attention_causal_only() -> None:
    """Tutorial 06's causal kernel (STAGE 3: keys [0, start_m * BLOCK_M) then the diagonal
    block) runs heaviest first; the full kernel (every program the same) keeps the order."""
    from tutorials import attention

    S, D, H = 256, 64, 1
    q = np.zeros((1, H, S, D), np.float32)
    strides = [q.strides[d] // q.itemsize for _ in range(4) for d in range(4)]
    for stage, expected in ((3, True), (1, False)):
        k = attention._attn_fwd.fn.warmup(
            q,
            q,
            q,
            q,
            0.125,
            *strides,
            H,
            H,
            S,
            grid=(4, 1, 1),
            HEAD_DIM=D,
            STAGE=stage,
            BLOCK_M=64,
            BLOCK_N=64,
        )
        assert k.metadata["grid_heavy_first"] is expected


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind", [0, 1, 2, 3])
@pytest.mark.parametrize("axis", [0, 1])
def test_results_every_order(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    threads: int,
    kind: int,
    axis: int,
) -> None:
    """Fresh random rows (a length that is not a multiple of the block: masked last block),
    outputs poisoned, every program's sum against float64, compiled then interpreted."""
    use_threads(request, threads)
    rng = np.random.default_rng(int(os.environ["TRITIUM_TEST_SEED"]))
    block = 16
    x = rng.standard_normal((5, 203)).astype(np.float32)
    ref = _reference(x, kind, block)
    for _ in each_mode(monkeypatch):
        out = np.full(ref.shape, np.nan, np.float32)
        _launch(x, out, axis, kind, block)
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-4)


@triton.jit
def _record_order(counter_ptr, order_ptr, sums_ptr, GROWS: tl.constexpr):
    """Each program appends its linear id to ``order`` (one thread: the launch order) and
    stores the sum of ``0..hi-1``, a loop whose trip count grows with program_id(0) when
    GROWS, else is the same for all."""
    x, y = tl.program_id(0), tl.program_id(1)
    linear = x + tl.num_programs(0) * y
    if GROWS:
        hi = x + 1
    else:
        hi = 4
    acc = 0
    for j in range(0, hi):
        acc += j
    tl.store(sums_ptr + linear, acc)
    slot = tl.atomic_add(counter_ptr, 1)
    tl.store(order_ptr + slot, linear)


@pytest.mark.parametrize("grows", [True, False])
def test_launch_order_is_decreasing(request: pytest.FixtureRequest, grows: bool) -> None:
    """One thread runs the programs in launch order: decreasing linear ids when the loop grows
    with the id (the heaviest first), Triton's increasing order otherwise."""
    use_threads(request, 1)
    gx, gy = 6, 3
    counter = np.zeros(1, np.int32)
    order = np.full(gx * gy, -1, np.int32)
    sums = np.full(gx * gy, -1, np.int32)
    _record_order[(gx, gy)](counter, order, sums, GROWS=grows)
    ids = np.arange(gx * gy, dtype=np.int32)
    np.testing.assert_array_equal(order, ids[::-1] if grows else ids)
    x = ids % gx
    np.testing.assert_array_equal(sums, x * (x + 1) // 2 if grows else np.full_like(ids, 6))


@triton.jit
def _row_scale(x_ptr, out_ptr, GROWS: tl.constexpr):
    """A row per program (read before a loop: the next program's row is prefetched), then a
    loop whose trip count grows with the program id when GROWS."""
    pid = tl.program_id(0)
    cols = tl.arange(0, 256)
    row = tl.load(x_ptr + pid * 1024 + cols)
    m = tl.max(row, 0)
    if GROWS:
        hi = pid + 1
    else:
        hi = 4
    acc = 0.0
    for j in range(0, hi):
        acc += tl.sum(tl.exp(row - m), 0) * j
    tl.store(out_ptr + pid * 1024 + cols, row * acc)


@pytest.mark.parametrize("grows", [True, False])
def test_next_program_prefetch_follows_the_order(
    monkeypatch: pytest.MonkeyPatch, grows: bool
) -> None:
    """The next program's row is 4096 bytes before this one's when the ids decrease, after it
    otherwise (prefetch.py); the results match float64 compiled and interpreted."""
    rng = np.random.default_rng(int(os.environ["TRITIUM_TEST_SEED"]))
    x = rng.standard_normal((8, 1024)).astype(np.float32)
    ir = _row_scale.warmup(x, x, GROWS=grows, grid=(8,)).asm["llir"]
    assert "llvm.prefetch" in ir
    assert ("-4096" in ir) is grows and (", 4096" in ir) is not grows
    x64 = x[:, :256].astype(np.float64)
    hi = np.arange(1, 9) if grows else np.full(8, 4)
    s = np.exp(x64 - x64.max(axis=1, keepdims=True)).sum(axis=1)
    ref = x64 * (s * (hi * (hi - 1) / 2))[:, None]
    for _ in each_mode(monkeypatch):
        out = np.full_like(x, np.nan)
        _row_scale[(8,)](x, out, GROWS=grows)
        np.testing.assert_allclose(out[:, :256], ref, rtol=1e-5, atol=1e-5)
        assert np.isnan(out[:, 256:]).all()
