"""Shape ops (trans, reshape, join, split, cat), batched dot, scans along a leading axis."""

from __future__ import annotations

import numpy as np

from tests.backends.cpu.irgen import (
    F32,
    I32,
    KernelBuilder,
    compile_kernel,
    launch,
    poison,
    ptr,
    tensor,
)
from tritium.ir import Block


def _offsets(kb: KernelBuilder, shape: list[int]) -> object:
    """Row-major element offsets of a tile of ``shape`` (rank 1 to 3)."""
    total = None
    stride = 1
    for axis in reversed(range(len(shape))):
        r = kb.arange(0, shape[axis])
        for a in range(len(shape)):
            if a != axis:
                r = kb.expand_dims(r, a)
        r = kb.broadcast(r, shape)
        if stride != 1:
            r = kb.binary("arith.muli", r, kb.splat(kb.const(stride, I32), shape))
        total = r if total is None else kb.binary("arith.addi", total, r)
        stride *= shape[axis]
    return total


def _load(kb: KernelBuilder, p: object, shape: list[int]) -> object:
    return kb.load(kb.addptr(kb.splat(p, shape), _offsets(kb, shape)))


def _store(kb: KernelBuilder, p: object, v: object) -> None:
    shape = list(v.type.shape)
    kb.store(kb.addptr(kb.splat(p, shape), _offsets(kb, shape)), v)


def test_trans_reshape_join_split_cat() -> None:
    m, n = 8, 16
    kb = KernelBuilder("shapes", [ptr(F32)] * 6)
    x_ptr, t_ptr, r_ptr, j_ptr, s_ptr, c_ptr = kb.args
    x = _load(kb, x_ptr, [m, n])
    t = kb.op("tt.trans", [x], tensor([n, m], F32), order=[1, 0])
    _store(kb, t_ptr, kb.binary("arith.addf", t, t))  # fused consumer of a strided view
    _store(kb, r_ptr, kb.op("tt.reshape", [t], tensor([4, 32], F32), allow_reorder=False))
    j = kb.op("tt.join", [x, kb.unary("arith.negf", x)], tensor([m, n, 2], F32))
    _store(kb, j_ptr, j)
    split = kb.b.create("tt.split", [j], [tensor([m, n], F32)] * 2)
    _store(kb, s_ptr, kb.binary("arith.subf", split.results[0], split.results[1]))
    _store(kb, c_ptr, kb.op("tt.cat", [x, t if m == n else x], tensor([2 * m, n], F32)))
    kernel, _ = compile_kernel(kb)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((m, n)).astype(np.float32)
    outs = [poison(s, np.float32) for s in ((n, m), (4, 32), (m, n, 2), (m, n), (2 * m, n))]
    launch(kernel, (1,), x, *outs)
    np.testing.assert_array_equal(outs[0], 2 * x.T)
    np.testing.assert_array_equal(outs[1], x.T.reshape(4, 32))
    np.testing.assert_array_equal(outs[2], np.stack([x, -x], -1))
    np.testing.assert_array_equal(outs[3], 2 * x)
    np.testing.assert_array_equal(outs[4], np.concatenate([x, x]))


def test_batched_dot() -> None:
    bs, m, n, k = 2, 8, 16, 4
    kb = KernelBuilder("bdot", [ptr(F32)] * 3)
    a_ptr, b_ptr, c_ptr = kb.args
    a = _load(kb, a_ptr, [bs, m, k])
    b = _load(kb, b_ptr, [bs, k, n])
    zero = kb.splat(kb.const(0.0, F32), [bs, m, n])
    _store(
        kb,
        c_ptr,
        kb.op("tt.dot", [a, b, zero], zero.type, input_precision="ieee", max_num_imprecise_acc=0),
    )
    kernel, _ = compile_kernel(kb)
    rng = np.random.default_rng(1)
    a = rng.standard_normal((bs, m, k)).astype(np.float32)
    b = rng.standard_normal((bs, k, n)).astype(np.float32)
    c = poison((bs, m, n), np.float32)
    launch(kernel, (1,), a, b, c)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


def test_scan_along_leading_axis_and_max_scan() -> None:
    m, n = 16, 8
    kb = KernelBuilder("scan0", [ptr(F32), ptr(F32)])
    x_ptr, out_ptr = kb.args
    x = _load(kb, x_ptr, [m, n])
    o = kb.b.create("tt.scan", [x], [x.type], {"axis": 0, "reverse": False}, regions=1)
    blk = Block([F32, F32])
    o.regions[0].add_block(blk)
    with kb.b.at_end_of(blk):
        kb.b.create("tt.scan.return", [kb.binary("arith.maximumf", blk.args[0], blk.args[1])])
    _store(kb, out_ptr, o.result)
    kernel, _ = compile_kernel(kb)
    x = np.random.default_rng(2).standard_normal((m, n)).astype(np.float32)
    out = poison((m, n), np.float32)
    launch(kernel, (1,), x, out)
    np.testing.assert_array_equal(out, np.maximum.accumulate(x, 0))


def test_3d_reductions_every_axis() -> None:
    shape = [4, 8, 16]
    kb = KernelBuilder("red3d", [ptr(F32)] * 4)
    x_ptr, *outs = kb.args
    x = _load(kb, x_ptr, shape)
    for axis, out in enumerate(outs):
        _store(kb, out, kb.max(kb.binary("arith.mulf", x, x), axis))
    kernel, _ = compile_kernel(kb)
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    results = [poison([s for i, s in enumerate(shape) if i != a], np.float32) for a in range(3)]
    launch(kernel, (1,), x, *results)
    for axis, got in enumerate(results):
        np.testing.assert_array_equal(got, (x * x).max(axis))


def test_non_power_of_two_tiles() -> None:
    """Tiles of 12 and 7 (the frontend allows them): reductions both ways and a dot."""
    m, n = 7, 12
    kb = KernelBuilder("odd", [ptr(F32)] * 4)
    x_ptr, r0, r1, d = kb.args
    x = _load(kb, x_ptr, [m, n])
    _store(kb, r0, kb.sum(x, 0))
    _store(kb, r1, kb.max(x, 1))
    xt = kb.op("tt.trans", [x], tensor([n, m], F32), order=[1, 0])
    zero = kb.splat(kb.const(0.0, F32), [m, m])
    _store(
        kb,
        d,
        kb.op("tt.dot", [x, xt, zero], zero.type, input_precision="ieee", max_num_imprecise_acc=0),
    )
    kernel, _ = compile_kernel(kb)
    x = np.random.default_rng(6).standard_normal((m, n)).astype(np.float32)
    outs = [poison(n, np.float32), poison(m, np.float32), poison((m, m), np.float32)]
    launch(kernel, (1,), x, *outs)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(outs[0], x64.sum(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(outs[1], x.max(1))
    np.testing.assert_allclose(outs[2], x64 @ x64.T, rtol=1e-5, atol=1e-5)
