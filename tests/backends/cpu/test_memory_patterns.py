"""Address patterns: loop-advanced pointer tiles, run-time contiguity checks, gathers."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.cpu.irgen import F32, I32, KernelBuilder, compile_kernel, launch, poison, ptr


def test_loop_advanced_pointer_and_index_tiles() -> None:
    """ptrs += BLOCK (a splat step) and offs += 3 (a constant step) carried by a loop;
    the results after the loop are used too."""
    block, steps = 32, 5
    kb = KernelBuilder("advance", [ptr(F32), ptr(F32), ptr(I32), I32])
    x_ptr, out_ptr, offs_out, step = kb.args
    idx = kb.arange(0, block)
    ptrs0 = kb.addptr(kb.splat(x_ptr, [block]), idx)
    acc0 = kb.splat(kb.const(0.0, F32), [block])
    c0, c1, cn = kb.const(0, I32), kb.const(1, I32), kb.const(steps, I32)
    with kb.for_(c0, cn, c1, [acc0, ptrs0, idx]) as (_, (acc, ptrs, offs), yields, loop):
        x = kb.load(ptrs)
        yields.append(kb.binary("arith.addf", acc, x))
        yields.append(kb.addptr(ptrs, kb.splat(step, [block])))
        yields.append(kb.binary("arith.addi", offs, kb.splat(kb.const(3, I32), [block])))
    acc, ptrs, offs = loop.results
    kb.store(kb.addptr(kb.splat(out_ptr, [block]), idx), acc)
    kb.store(
        kb.addptr(kb.splat(kb.addptr(out_ptr, kb.const(block, I32)), [block]), idx), kb.load(ptrs)
    )
    kb.store(kb.addptr(kb.splat(offs_out, [block]), idx), offs)
    kernel, art = compile_kernel(kb)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps + 1) * block).astype(np.float32)
    out, offs_res = poison(2 * block, np.float32), poison(block, np.int32)
    launch(kernel, (1,), x, out, offs_res, block)
    rows = x.reshape(steps + 1, block).astype(np.float64)
    np.testing.assert_allclose(out[:block], rows[:steps].sum(0), rtol=1e-5)
    np.testing.assert_array_equal(out[block:], rows[steps])
    np.testing.assert_array_equal(offs_res, np.arange(block) + 3 * steps)
    assert "gather" not in art.asm["llir"]


@pytest.mark.parametrize("start", [0, 20, 60])
def test_modulo_offsets_checked_at_run_time(start: int) -> None:
    """offs = (start + arange) % n: contiguous unless it wraps inside a chunk."""
    block, n = 64, 70
    kb = KernelBuilder("wrap", [ptr(F32), ptr(F32), I32, I32])
    x_ptr, out_ptr, s, size = kb.args
    idx = kb.arange(0, block)
    offs = kb.binary(
        "arith.remsi", kb.binary("arith.addi", kb.splat(s, [block]), idx), kb.splat(size, [block])
    )
    x = kb.load(kb.addptr(kb.splat(x_ptr, [block]), offs))
    kb.store(kb.addptr(kb.splat(out_ptr, [block]), offs), kb.binary("arith.addf", x, x))
    kernel, _ = compile_kernel(kb)
    rng = np.random.default_rng(start)
    x = rng.standard_normal(n).astype(np.float32)
    out = poison(n, np.float32)
    launch(kernel, (1,), x, out, start, n)
    hit = (start + np.arange(block)) % n
    np.testing.assert_array_equal(out[hit], 2 * x[hit])
    untouched = np.setdiff1d(np.arange(n), hit)
    assert np.isnan(out[untouched]).all()


def test_indirect_gather_scatter_with_mask() -> None:
    n = 48
    kb = KernelBuilder("perm", [ptr(F32), ptr(I32), ptr(F32), I32])
    x_ptr, perm_ptr, out_ptr, limit = kb.args
    idx = kb.arange(0, 64)
    mask = kb.cmp("arith.cmpi", "slt", idx, kb.splat(limit, [64]))
    perm = kb.load(kb.addptr(kb.splat(perm_ptr, [64]), idx), mask)
    x = kb.load(kb.addptr(kb.splat(x_ptr, [64]), perm), mask, kb.splat(kb.const(-1.0, F32), [64]))
    kb.store(kb.addptr(kb.splat(out_ptr, [64]), perm), kb.binary("arith.mulf", x, x), mask)
    kernel, _ = compile_kernel(kb)
    rng = np.random.default_rng(3)
    perm = rng.permutation(n).astype(np.int32)
    perm_full = np.concatenate([perm, np.full(16, 10**6, np.int32)])  # out-of-range, masked
    x = rng.standard_normal(n).astype(np.float32)
    out = poison(n, np.float32)
    launch(kernel, (1,), x, perm_full, out, n)
    np.testing.assert_allclose(out, x.astype(np.float64) ** 2, rtol=1e-6)
