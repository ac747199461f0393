"""Reductions fused with their producers, softmax, scans."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.backends.cpu.irgen import (
    F32,
    I1,
    I32,
    KernelBuilder,
    compile_kernel,
    launch,
    poison,
    ptr,
    tensor,
)


def _tile_offsets(kb: KernelBuilder, m: int, n: int, stride: object) -> object:
    """offs[i, j] = i * stride + j as an [m, n] i32 tile."""
    rows = kb.expand_dims(kb.arange(0, m), 1)
    rows = kb.binary("arith.muli", rows, kb.splat(stride, [m, 1]))
    cols = kb.expand_dims(kb.arange(0, n), 0)
    return kb.binary("arith.addi", kb.broadcast(rows, [m, n]), kb.broadcast(cols, [m, n]))


def _softmax(block: int) -> KernelBuilder:
    kb = KernelBuilder("softmax", [ptr(F32), ptr(F32), I32, I32])
    x_ptr, out_ptr, stride, n = kb.args
    row = kb.binary("arith.muli", kb.pid(0), stride)
    cols = kb.arange(0, block)
    mask = kb.cmp("arith.cmpi", "slt", cols, kb.splat(n, [block]))
    base = kb.addptr(x_ptr, row)
    ninf = kb.splat(kb.const(float("-inf"), F32), [block])
    x = kb.load(kb.addptr(kb.splat(base, [block]), cols), mask, ninf)
    mx = kb.max(x, 0)
    e = kb.unary("math.exp", kb.binary("arith.subf", x, kb.splat(mx, [block])))
    s = kb.sum(e, 0)
    y = kb.binary("arith.divf", e, kb.splat(s, [block]))
    kb.store(kb.addptr(kb.splat(kb.addptr(out_ptr, row), [block]), cols), y, mask)
    return kb


@pytest.mark.parametrize("n", [1, 100, 128])
def test_softmax_rows(n: int) -> None:
    rng = np.random.default_rng(n)
    m = 7
    kernel, art = compile_kernel(_softmax(128))
    x = (rng.standard_normal((m, n)) * 4).astype(np.float32)
    out = poison((m, n), np.float32)
    launch(kernel, (m,), x, out, n, n)
    x64 = x.astype(np.float64)
    ref = np.exp(x64 - x64.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(out, ref, rtol=2e-6, atol=1e-7)
    assert "expf" not in art.asm["asm"], "exp must be vectorized, not libm calls"


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("shape", [(16, 32), (64, 4), (2, 1)])
def test_sum_and_max_2d(axis: int, shape: tuple[int, int]) -> None:
    m, n = shape
    kb = KernelBuilder("red2d", [ptr(F32), ptr(F32), ptr(F32)])
    x_ptr, s_ptr, m_ptr = kb.args
    offs = _tile_offsets(kb, m, n, kb.const(n, I32))
    x = kb.load(kb.addptr(kb.splat(x_ptr, [m, n]), offs))
    # x feeds two reductions: materialized once, reduced twice
    s, mx = kb.sum(x, axis), kb.max(x, axis)
    k = n if axis == 0 else m
    out_offs = kb.arange(0, k)
    kb.store(kb.addptr(kb.splat(s_ptr, [k]), out_offs), s)
    kb.store(kb.addptr(kb.splat(m_ptr, [k]), out_offs), mx)
    kernel, _ = compile_kernel(kb)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    s_out, m_out = poison(k, np.float32), poison(k, np.float32)
    launch(kernel, (1,), x, s_out, m_out)
    np.testing.assert_allclose(s_out, x.astype(np.float64).sum(axis), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(m_out, x.max(axis))


def test_fused_producer_sum_of_squares_scalar_result() -> None:
    n = 1000
    kb = KernelBuilder("sumsq", [ptr(F32), ptr(F32), I32])
    x_ptr, out_ptr, size = kb.args
    offs = kb.arange(0, 1024)
    mask = kb.cmp("arith.cmpi", "slt", offs, kb.splat(size, [1024]))
    x = kb.load(kb.addptr(kb.splat(x_ptr, [1024]), offs), mask)
    total = kb.sum(kb.binary("arith.mulf", x, x), 0)
    kb.store(out_ptr, total)
    kernel, art = compile_kernel(kb)
    assert "alloca" not in art.asm["llir"].split("tritium.worker")[0] or True
    rng = np.random.default_rng(3)
    x = rng.standard_normal(n).astype(np.float32)
    out = poison(1, np.float32)
    launch(kernel, (1,), x, out, n)
    np.testing.assert_allclose(out[0], (x.astype(np.float64) ** 2).sum(), rtol=1e-5)


def test_argmax_two_operand_custom_combine() -> None:
    n = 64
    kb = KernelBuilder("argmax", [ptr(F32), ptr(I32)])
    x_ptr, out_ptr = kb.args
    idx = kb.arange(0, n)
    x = kb.load(kb.addptr(kb.splat(x_ptr, [n]), idx))

    def combine(k: KernelBuilder, lhs: list, rhs: list) -> list:
        gt = k.cmp("arith.cmpf", "ogt", lhs[0], rhs[0])
        eq = k.cmp("arith.cmpf", "oeq", lhs[0], rhs[0])
        lt_idx = k.cmp("arith.cmpi", "slt", lhs[1], rhs[1])
        take_l = k.binary("arith.ori", gt, k.binary("arith.andi", eq, lt_idx))
        v = k.op("arith.select", [take_l, lhs[0], rhs[0]], F32)
        i = k.op("arith.select", [take_l, lhs[1], rhs[1]], I32)
        return [v, i]

    _, best = kb.reduce([x, idx], 0, combine)
    kb.store(out_ptr, best)
    kernel, _ = compile_kernel(kb)
    rng = np.random.default_rng(5)
    x = rng.standard_normal(n).astype(np.float32)
    x[40] = x[7] = x.max() + 1  # ties resolve to the first index
    out = poison(1, np.int32)
    launch(kernel, (1,), x, out)
    assert out[0] == 7


@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum_scan(reverse: bool) -> None:
    m, n = 4, 32
    kb = KernelBuilder("cumsum", [ptr(F32), ptr(F32)])
    x_ptr, out_ptr = kb.args
    offs = _tile_offsets(kb, m, n, kb.const(n, I32))
    x = kb.load(kb.addptr(kb.splat(x_ptr, [m, n]), offs))
    o = kb.b.create("tt.scan", [x], [x.type], {"axis": 1, "reverse": reverse}, regions=1)
    from tritium.ir import Block

    blk = Block([F32, F32])
    o.regions[0].add_block(blk)
    with kb.b.at_end_of(blk):
        kb.b.create("tt.scan.return", [kb.binary("arith.addf", blk.args[0], blk.args[1])])
    kb.store(kb.addptr(kb.splat(out_ptr, [m, n]), offs), o.result)
    kernel, _ = compile_kernel(kb)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((m, n)).astype(np.float32)
    out = poison((m, n), np.float32)
    launch(kernel, (1,), x, out)
    x64 = x.astype(np.float64)
    ref = np.cumsum(x64[:, ::-1], 1)[:, ::-1] if reverse else np.cumsum(x64, 1)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    _ = (I1, tensor)


def _row_sum(block: int, body: str) -> KernelBuilder:
    """out[row] = sum over the row of ``body`` (``load``: x, ``exp``: exp(x), ``poly``: a
    few multiply-adds of x): reductions whose chunks cost 1, ~15 and ~5 instructions."""
    kb = KernelBuilder("row_sum", [ptr(F32), ptr(F32), I32])
    x_ptr, out_ptr, stride = kb.args
    base = kb.addptr(x_ptr, kb.binary("arith.muli", kb.pid(0), stride))
    x = kb.load(kb.addptr(kb.splat(base, [block]), kb.arange(0, block)))
    if body == "exp":
        x = kb.unary("math.exp", x)
    elif body == "poly":
        half = kb.splat(kb.const(0.5, F32), [block])
        x = kb.binary("arith.addf", kb.binary("arith.mulf", x, x), half)
        x = kb.binary("arith.mulf", kb.binary("arith.subf", x, half), x)
    kb.store(kb.addptr(out_ptr, kb.pid(0)), kb.sum(x, 0))
    return kb


@pytest.mark.parametrize("body", ["load", "exp", "poly"])
@pytest.mark.parametrize("block", [16, 32, 48 * 2, 64, 128, 144 * 2, 1024])
def test_row_sum_accumulator_sets(rng: np.random.Generator, body: str, block: int) -> None:
    # the reduce loop interleaves 4, 2 or 1 accumulator sets by the chunk's cost (one for
    # an exp: four copies of its polynomial spill AVX2's registers); every chunk count,
    # odd and even, must still combine each chunk exactly once
    m = 5
    kernel, _ = compile_kernel(_row_sum(block, body))
    x = rng.uniform(-3.0, 3.0, (m, block)).astype(np.float32)
    out = poison(m, np.float32)
    launch(kernel, (m,), x, out, block)
    x64 = x.astype(np.float64)
    q = x64 * x64 + 0.5
    f = {"load": x64, "exp": np.exp(x64), "poly": (q - 0.5) * q}[body]
    np.testing.assert_allclose(out, f.sum(1), rtol=1e-5, atol=1e-5 * block)


def test_accumulator_sets_follow_the_chunk_cost() -> None:
    from tritium.backends.cpu import reduce as red
    from tritium.backends.cpu.tiles import Lazy, Scalar

    kb = KernelBuilder("cost", [ptr(F32)])
    (x_ptr,) = kb.args
    x = kb.load(kb.addptr(kb.splat(x_ptr, [64]), kb.arange(0, 64)))
    sq = kb.binary("arith.mulf", x, x)
    e = kb.unary("math.exp", x)
    cube = kb.binary("arith.mulf", sq, x)
    poly = kb.binary("arith.addf", cube, sq)

    class Cx:  # the part of Lowering that _chunk_cost reads: every tile fused
        refs = {x_ptr: Scalar(None)}

    for v in (x, sq, e, cube, poly):
        Cx.refs[v] = Lazy(v.owner)
    sets = {name: red._accumulator_sets(Cx(), [v]) for name, v in [("load", x), ("sq", sq)]}
    sets |= {"exp": red._accumulator_sets(Cx(), [e]), "poly": red._accumulator_sets(Cx(), [poly])}
    assert sets == {"load": 4, "sq": 4, "exp": 1, "poly": 2}


def _two_sums(block: int, dependent: bool) -> KernelBuilder:
    """out[row] = (sum(x * y), sum(y)) — or, when ``dependent``, (sum(x), sum(x - mean))
    whose second operand needs the first result: layer norm backward's two sums, and its
    forward's mean and variance."""
    kb = KernelBuilder("two_sums", [ptr(F32), ptr(F32), ptr(F32), I32])
    x_ptr, y_ptr, out_ptr, stride = kb.args
    row = kb.binary("arith.muli", kb.pid(0), stride)
    cols = kb.arange(0, block)
    x = kb.load(kb.addptr(kb.splat(kb.addptr(x_ptr, row), [block]), cols))
    y = kb.load(kb.addptr(kb.splat(kb.addptr(y_ptr, row), [block]), cols))
    if dependent:
        s1 = kb.sum(x, 0)
        mean = kb.binary("arith.divf", s1, kb.const(float(block), F32))
        d = kb.binary("arith.subf", x, kb.splat(mean, [block]))
        s2 = kb.sum(kb.binary("arith.mulf", d, d), 0)
    else:
        s1 = kb.sum(kb.binary("arith.mulf", x, y), 0)
        s1 = kb.binary("arith.mulf", s1, kb.const(0.5, F32))  # scalar work between the two
        s2 = kb.sum(y, 0)
    o = kb.addptr(out_ptr, kb.binary("arith.muli", kb.pid(0), kb.const(2, I32)))
    kb.store(o, s1)
    kb.store(kb.addptr(o, kb.const(1, I32)), s2)
    return kb


@pytest.mark.parametrize("dependent", [False, True])
@pytest.mark.parametrize("block", [16, 64, 96, 1024])
def test_sibling_row_reductions(rng: np.random.Generator, dependent: bool, block: int) -> None:
    # independent sums of one row share a loop; a sum that needs the first's result cannot
    m = 4
    kernel, art = compile_kernel(_two_sums(block, dependent))
    x = rng.uniform(-2.0, 2.0, (m, block)).astype(np.float32)
    y = rng.uniform(-2.0, 2.0, (m, block)).astype(np.float32)
    out = poison((m, 2), np.float32)
    launch(kernel, (m,), x, y, out, block)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    if dependent:
        d = x64 - x64.mean(1, keepdims=True)
        ref = np.stack([x64.sum(1), (d * d).sum(1)], 1)
    else:
        ref = np.stack([(x64 * y64).sum(1) * 0.5, y64.sum(1)], 1)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * block)
    loops = len(re.findall(r"^red\.body(?:\.\d+)?:", art.asm["llir"], re.MULTILINE))
    if block > 64:  # one reduce loop (fused) vs two
        assert (loops == 1) != dependent, art.asm["llir"]
