"""Structured control flow with carried tiles, and tt.dot."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from tests.backends.cpu.irgen import (
    BF16,
    F16,
    F32,
    I8,
    I32,
    KernelBuilder,
    compile_kernel,
    launch,
    poison,
    ptr,
    tensor,
)
from tritium.ir import Block
from tritium.ir import types as irt


def _offsets(kb: KernelBuilder, m: int, n: int, stride: object) -> object:
    rows = kb.binary("arith.muli", kb.expand_dims(kb.arange(0, m), 1), kb.splat(stride, [m, 1]))
    cols = kb.expand_dims(kb.arange(0, n), 0)
    return kb.binary("arith.addi", kb.broadcast(rows, [m, n]), kb.broadcast(cols, [m, n]))


def test_for_loop_accumulates_tile_over_chunks() -> None:
    """out[i] = sum over k of x[k, i], with an [B] accumulator carried by scf.for."""
    rows, block = 13, 64
    kb = KernelBuilder("colsum", [ptr(F32), ptr(F32), I32])
    x_ptr, out_ptr, nrows = kb.args
    cols = kb.arange(0, block)
    zero = kb.splat(kb.const(0.0, F32), [block])
    c0, c1 = kb.const(0, I32), kb.const(1, I32)
    with kb.for_(c0, nrows, c1, [zero]) as (k, (acc,), yields, loop):
        row = kb.addptr(x_ptr, kb.binary("arith.muli", k, kb.const(block, I32)))
        x = kb.load(kb.addptr(kb.splat(row, [block]), cols))
        yields.append(kb.binary("arith.addf", acc, x))
    kb.store(kb.addptr(kb.splat(out_ptr, [block]), cols), loop.results[0])
    kernel, _ = compile_kernel(kb)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, block)).astype(np.float32)
    out = poison(block, np.float32)
    launch(kernel, (1,), x, out, rows)
    np.testing.assert_allclose(out, x.astype(np.float64).sum(0), rtol=1e-5, atol=1e-5)


def test_for_loop_swaps_carried_tiles_and_scalar() -> None:
    """(a, b, s) -> (b, a + b, s + 1): yields read slots they overwrite (Fibonacci)."""
    n = 16
    kb = KernelBuilder("fib", [ptr(F32), ptr(I32)])
    out_ptr, cnt_ptr = kb.args
    idx = kb.arange(0, n)
    a0 = kb.unary("arith.sitofp", idx, tensor([n], F32))
    b0 = kb.splat(kb.const(1.0, F32), [n])
    c0, c1, c10 = kb.const(0, I32), kb.const(1, I32), kb.const(10, I32)
    with kb.for_(c0, c10, c1, [a0, b0, c0]) as (_, (a, b, s), yields, loop):
        yields += [b, kb.binary("arith.addf", a, b), kb.binary("arith.addi", s, c1)]
    kb.store(kb.addptr(kb.splat(out_ptr, [n]), idx), loop.results[1])
    kb.store(cnt_ptr, loop.results[2])
    kernel, _ = compile_kernel(kb)
    out, cnt = poison(n, np.float32), poison(1, np.int32)
    launch(kernel, (1,), out, cnt)
    a, b = np.arange(n, dtype=np.float64), np.ones(n)
    for _ in range(10):
        a, b = b, a + b
    np.testing.assert_allclose(out, b)
    assert cnt[0] == 10


def test_if_and_while() -> None:
    """while x < limit: x = x * 2 (scalar), then if pid is odd: tile = -tile."""
    n = 32
    kb = KernelBuilder("ctrl", [ptr(F32), ptr(F32), I32])
    x_ptr, out_ptr, limit = kb.args
    w = kb.b.create("scf.while", [kb.const(1, I32)], [I32], regions=2)
    before, after = Block([I32]), Block([I32])
    w.regions[0].add_block(before)
    w.regions[1].add_block(after)
    with kb.b.at_end_of(before):
        cond = kb.cmp("arith.cmpi", "slt", before.args[0], limit)
        kb.b.create("scf.condition", [cond, before.args[0]])
    with kb.b.at_end_of(after):
        kb.b.create("scf.yield", [kb.binary("arith.muli", after.args[0], kb.const(2, I32))])
    scale = kb.unary("arith.sitofp", w.result, F32)
    offs = kb.arange(0, n)
    x = kb.load(kb.addptr(kb.splat(x_ptr, [n]), offs))
    odd = kb.cmp(
        "arith.cmpi", "eq", kb.binary("arith.remsi", kb.pid(0), kb.const(2, I32)), kb.const(1, I32)
    )
    i = kb.b.create("scf.if", [odd], [x.type], regions=2)
    t, e = Block(), Block()
    i.regions[0].add_block(t)
    i.regions[1].add_block(e)
    with kb.b.at_end_of(t):
        kb.b.create("scf.yield", [kb.unary("arith.negf", x)])
    with kb.b.at_end_of(e):
        kb.b.create("scf.yield", [kb.binary("arith.mulf", x, kb.splat(scale, [n]))])
    row = kb.binary("arith.muli", kb.pid(0), kb.const(n, I32))
    kb.store(kb.addptr(kb.splat(kb.addptr(out_ptr, row), [n]), offs), i.result)
    kernel, _ = compile_kernel(kb)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(n).astype(np.float32)
    out = poison((2, n), np.float32)
    launch(kernel, (2,), x, out, 100)
    np.testing.assert_allclose(out[0], x * 128.0)
    np.testing.assert_allclose(out[1], -x)


def _dot_kernel(
    m: int,
    n: int,
    k: int,
    in_t: irt.Type,
    out_t: irt.Type,
    ksteps: int = 1,
    trans_b: bool = False,
    add_form: bool = False,
) -> KernelBuilder:
    """C[m, n] = A[m, k*ksteps] @ B[k*ksteps, n], looping over K in steps of k."""
    kb = KernelBuilder("matmul", [ptr(in_t), ptr(in_t), ptr(out_t)])
    a_ptr, b_ptr, c_ptr = kb.args
    kt = k * ksteps
    acc0 = kb.splat(kb.const(0 if isinstance(out_t, irt.IntType) else 0.0, out_t), [m, n])
    c0, c1, cs = kb.const(0, I32), kb.const(1, I32), kb.const(ksteps, I32)
    a_offs = _offsets(kb, m, k, kb.const(kt, I32))
    b_offs = (
        _offsets(kb, n, k, kb.const(kt, I32)) if trans_b else _offsets(kb, k, n, kb.const(n, I32))
    )
    with kb.for_(c0, cs, c1, [acc0]) as (step, (acc,), yields, loop):
        a_base = kb.addptr(a_ptr, kb.binary("arith.muli", step, kb.const(k, I32)))
        a = kb.load(kb.addptr(kb.splat(a_base, [m, k]), a_offs))
        if trans_b:
            b_base = kb.addptr(b_ptr, kb.binary("arith.muli", step, kb.const(k, I32)))
            bt = kb.load(kb.addptr(kb.splat(b_base, [n, k]), b_offs))
            b = kb.op("tt.trans", [bt], tensor([k, n], in_t), order=[1, 0])
        else:
            b_base = kb.addptr(b_ptr, kb.binary("arith.muli", step, kb.const(k * n, I32)))
            b = kb.load(kb.addptr(kb.splat(b_base, [k, n]), b_offs))
        if add_form:  # acc + dot(a, b, 0): how the frontend writes `acc += tl.dot(a, b)`
            prod = kb.op(
                "tt.dot", [a, b, acc0], acc.type, input_precision="ieee", max_num_imprecise_acc=0
            )
            add = "arith.addi" if isinstance(out_t, irt.IntType) else "arith.addf"
            yields.append(kb.binary(add, acc, prod))
        else:
            yields.append(
                kb.op(
                    "tt.dot", [a, b, acc], acc.type, input_precision="ieee", max_num_imprecise_acc=0
                )
            )
    c_offs = _offsets(kb, m, n, kb.const(n, I32))
    kb.store(kb.addptr(kb.splat(c_ptr, [m, n]), c_offs), loop.results[0])
    return kb


_NP = {F32: np.float32, F16: np.float16, BF16: ml_dtypes.bfloat16, I8: np.int8, I32: np.int32}


@pytest.mark.parametrize("in_t,out_t", [(F32, F32), (F16, F32), (BF16, F32), (I8, I32)])
@pytest.mark.parametrize("shape", [(16, 32, 16), (32, 64, 32), (4, 16, 8)])
def test_dot_in_k_loop(in_t: irt.Type, out_t: irt.Type, shape: tuple[int, int, int]) -> None:
    m, n, k = shape
    ksteps = 3
    kernel, art = compile_kernel(_dot_kernel(m, n, k, in_t, out_t, ksteps))
    rng = np.random.default_rng(m + n + k)
    if in_t == I8:
        a = rng.integers(-100, 100, (m, k * ksteps)).astype(np.int8)
        b = rng.integers(-100, 100, (k * ksteps, n)).astype(np.int8)
    else:
        a = rng.standard_normal((m, k * ksteps)).astype(_NP[in_t])
        b = rng.standard_normal((k * ksteps, n)).astype(_NP[in_t])
    c = poison((m, n), _NP[out_t])
    launch(kernel, (1,), a, b, c)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    if in_t == I8:
        np.testing.assert_array_equal(c, ref.astype(np.int64))
    else:
        np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-4)


def test_dot_transposed_operand_and_fp16_output() -> None:
    m, n, k = 16, 16, 32
    kernel, _ = compile_kernel(_dot_kernel(m, n, k, F16, F16, 2, trans_b=True))
    rng = np.random.default_rng(9)
    a = rng.standard_normal((m, 2 * k)).astype(np.float16)
    bt = rng.standard_normal((n, 2 * k)).astype(np.float16)
    c = poison((m, n), np.float16)
    launch(kernel, (1,), a, bt, c)
    ref = a.astype(np.float64) @ bt.astype(np.float64).T
    np.testing.assert_allclose(c.astype(np.float64), ref, rtol=2e-3, atol=2e-2)


def test_while_with_carried_tile() -> None:
    """while sum(x) > limit: x = x * 0.5, with x a tile carried through both regions."""
    n = 32
    kb = KernelBuilder("halve", [ptr(F32), ptr(F32), F32])
    x_ptr, out_ptr, limit = kb.args
    offs = kb.arange(0, n)
    x0 = kb.load(kb.addptr(kb.splat(x_ptr, [n]), offs))
    w = kb.b.create("scf.while", [x0], [x0.type], regions=2)
    before, after = Block([x0.type]), Block([x0.type])
    w.regions[0].add_block(before)
    w.regions[1].add_block(after)
    with kb.b.at_end_of(before):
        total = kb.sum(before.args[0], 0)
        cond = kb.cmp("arith.cmpf", "ogt", total, limit)
        kb.b.create("scf.condition", [cond, before.args[0]])
    with kb.b.at_end_of(after):
        half = kb.splat(kb.const(0.5, F32), [n])
        kb.b.create("scf.yield", [kb.binary("arith.mulf", after.args[0], half)])
    kb.store(kb.addptr(kb.splat(out_ptr, [n]), offs), w.result)
    kernel, _ = compile_kernel(kb)
    x = np.random.default_rng(5).uniform(1, 2, n).astype(np.float32)
    out = poison(n, np.float32)
    launch(kernel, (1,), x, out, 3.0)
    ref = x.astype(np.float64)
    while ref.sum() > 3.0:
        ref = ref * 0.5
    np.testing.assert_allclose(out, ref, rtol=1e-6)


def test_int8_dot_full_range_uses_vnni_where_available() -> None:
    m, n, k = 16, 32, 64
    kernel, art = compile_kernel(_dot_kernel(m, n, k, I8, I32, 2))
    rng = np.random.default_rng(12)
    a = rng.integers(-128, 128, (m, 2 * k)).astype(np.int8)
    b = rng.integers(-128, 128, (2 * k, n)).astype(np.int8)
    a[0, :] = -128
    b[:, 0] = -128
    c = poison((m, n), np.int32)
    launch(kernel, (1,), a, b, c)
    np.testing.assert_array_equal(c, a.astype(np.int64) @ b.astype(np.int64))
    if "+avx512vnni" in art.metadata["target"]:
        assert "vpdpbusd" in art.asm["asm"]


def test_bf16_dot_uses_dpbf16ps_where_available() -> None:
    m, n, k = 32, 32, 32
    kernel, art = compile_kernel(_dot_kernel(m, n, k, BF16, F32, 2))
    rng = np.random.default_rng(13)
    a = rng.standard_normal((m, 2 * k)).astype(ml_dtypes.bfloat16)
    b = rng.standard_normal((2 * k, n)).astype(ml_dtypes.bfloat16)
    c = poison((m, n), np.float32)
    launch(kernel, (1,), a, b, c)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-5, atol=1e-4)
    if "+avx512bf16" in art.metadata["target"]:
        assert "vdpbf16ps" in art.asm["asm"]


@pytest.mark.parametrize("in_t", [F32, F16, BF16])
def test_dot_with_transposed_b_is_packed_without_gathers(in_t: irt.Type) -> None:
    m, n, k = 16, 32, 64
    kernel, art = compile_kernel(_dot_kernel(m, n, k, in_t, F32, 2, trans_b=True))
    rng = np.random.default_rng(14)
    a = rng.standard_normal((m, 2 * k)).astype(_NP[in_t])
    bt = rng.standard_normal((n, 2 * k)).astype(_NP[in_t])
    c = poison((m, n), np.float32)
    launch(kernel, (1,), a, bt, c)
    ref = a.astype(np.float64) @ bt.astype(np.float64).T
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-4)
    if art.metadata["vector_width"] == 16:
        assert "gather" not in art.asm["llir"]
    # 16-bit floats are transposed as i16 lanes: LLVM scalarized bfloat/half shuffles on AVX2
    assert "bfloat> %" not in "\n".join(
        line for line in art.asm["llir"].splitlines() if "shufflevector" in line
    )
    assert "x half> %" not in "\n".join(
        line for line in art.asm["llir"].splitlines() if "shufflevector" in line
    )


@pytest.mark.parametrize("in_t,out_t", [(F32, F32), (I8, I32)])
def test_dot_accumulate_add_form(in_t: irt.Type, out_t: irt.Type) -> None:
    """`acc += tl.dot(a, b)` arrives as addf(dot(a, b, 0), acc): folded into one dot."""
    m, n, k, ksteps = 16, 32, 16, 3
    kernel, _ = compile_kernel(_dot_kernel(m, n, k, in_t, out_t, ksteps, add_form=True))
    rng = np.random.default_rng(15)
    if in_t == I8:
        a = rng.integers(-128, 128, (m, k * ksteps)).astype(np.int8)
        b = rng.integers(-128, 128, (k * ksteps, n)).astype(np.int8)
    else:
        a = rng.standard_normal((m, k * ksteps)).astype(np.float32)
        b = rng.standard_normal((k * ksteps, n)).astype(np.float32)
    c = poison((m, n), _NP[out_t])
    launch(kernel, (1,), a, b, c)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    if in_t == I8:
        np.testing.assert_array_equal(c, ref.astype(np.int64))
    else:
        np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-4)
