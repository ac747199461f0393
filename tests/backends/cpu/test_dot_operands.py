"""How tt.dot gets its operands: a fused ``b`` (a masked load used only by the dot) read at its
source by the microkernel instead of packed, and ``tl.trans(k)`` transposed in registers for
the bf16 / int8 dot-product instructions. Each case checks the result against float64 NumPy
with poisoned outputs and NaN-poisoned masked-off inputs."""

from __future__ import annotations

import re

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
from tests.backends.cpu.test_control_dot import _dot_kernel, _offsets
from tritium.ir import Value
from tritium.ir import types as irt

_NP = {F32: np.float32, F16: np.float16, BF16: ml_dtypes.bfloat16}


def _row_mask(kb: KernelBuilder, rows: Value, limit: Value, shape: list[int]) -> Value:
    """``rows[:, None] < limit`` broadcast to ``shape``."""
    valid = kb.cmp("arith.cmpi", "slt", rows, kb.splat(limit, [shape[0]]))
    return kb.broadcast(kb.expand_dims(valid, 1), shape)


def _pv_kernel(m: int, bn: int, d: int, blocks: int, in_t: irt.Type) -> KernelBuilder:
    """out[m, d] = sum over key blocks of p[:, blk] @ v[blk, :], the rows of v at or past
    ``n_valid`` masked off (other = 0): the second dot of decode attention."""
    kb = KernelBuilder("pv", [ptr(in_t), ptr(in_t), ptr(F32), I32])
    p_ptr, v_ptr, out_ptr, n_valid = kb.args
    nt = bn * blocks
    acc0 = kb.splat(kb.const(0.0, F32), [m, d])
    c0, c1 = kb.const(0, I32), kb.const(1, I32)
    p_offs = _offsets(kb, m, bn, kb.const(nt, I32))
    v_offs = _offsets(kb, bn, d, kb.const(d, I32))
    with kb.for_(c0, kb.const(blocks, I32), c1, [acc0]) as (step, (acc,), yields, loop):
        n0 = kb.binary("arith.muli", step, kb.const(bn, I32))
        p = kb.load(kb.addptr(kb.splat(kb.addptr(p_ptr, n0), [m, bn]), p_offs))
        rows = kb.binary("arith.addi", kb.splat(n0, [bn]), kb.arange(0, bn))
        v_base = kb.addptr(v_ptr, kb.binary("arith.muli", n0, kb.const(d, I32)))
        v = kb.load(
            kb.addptr(kb.splat(v_base, [bn, d]), v_offs),
            _row_mask(kb, rows, n_valid, [bn, d]),
            kb.splat(kb.const(0.0, in_t), [bn, d]),
        )
        yields.append(
            kb.op("tt.dot", [p, v, acc], acc.type, input_precision="ieee", max_num_imprecise_acc=0)
        )
    kb.store(
        kb.addptr(kb.splat(out_ptr, [m, d]), _offsets(kb, m, d, kb.const(d, I32))), loop.results[0]
    )
    return kb


@pytest.mark.parametrize(
    "m,bn,d,in_t,streamed",
    [
        (4, 16, 64, F32, True),  # decode: a GQA group of query heads, D a multiple of 16
        (3, 8, 24, F32, True),  # odd rows, 8-lane chunks
        (1, 16, 16, F32, True),
        (4, 16, 32, F16, True),  # converted to f32 on the way into the FMAs
        (8, 16, 48, F32, True),  # 3 vectors of columns: one column vector per block
        (16, 16, 32, F32, False),  # two blocks of rows would read v twice: packed instead
    ],
)
def test_dot_reads_fused_masked_b_at_its_source(
    m: int, bn: int, d: int, in_t: irt.Type, streamed: bool
) -> None:
    blocks, n_valid = 3, 2 * bn + 5
    kernel, art = compile_kernel(_pv_kernel(m, bn, d, blocks, in_t))
    rng = np.random.default_rng(m * 100 + d)
    p = rng.standard_normal((m, bn * blocks)).astype(_NP[in_t])
    v = rng.standard_normal((bn * blocks, d)).astype(_NP[in_t])
    v[n_valid:] = np.nan  # masked off: must never be read into the sum
    out = poison((m, d), np.float32)
    launch(kernel, (1,), p, v, out, n_valid)
    ref = p[:, :n_valid].astype(np.float64) @ v[:n_valid].astype(np.float64)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-4)
    if art.metadata["vector_width"] == 16:
        llir = art.asm["llir"]
        packs = set(re.findall(r"%(pack\d*)[\w.]* = alloca", llir))  # inlined: .i
        if streamed:
            assert len(packs) == 1, packs  # p's copy only: v is read at its source
        else:  # both copied: on the stack, or into the worker's scratch by dot_kloop's chunks
            assert len(packs) == 2 or "%pkr" in llir, packs


def _qk_kernel(m: int, bn: int, d: int, in_t: irt.Type, out_t: irt.Type) -> KernelBuilder:
    """s[m, bn] = q[m, d] @ trans(k[bn, d]), the rows of k at or past ``n_valid`` masked off
    (other = 0): the first dot of attention."""
    kb = KernelBuilder("qk", [ptr(in_t), ptr(in_t), ptr(out_t), I32])
    q_ptr, k_ptr, out_ptr, n_valid = kb.args
    q = kb.load(kb.addptr(kb.splat(q_ptr, [m, d]), _offsets(kb, m, d, kb.const(d, I32))))
    zero = kb.const(0 if isinstance(in_t, irt.IntType) else 0.0, in_t)
    k = kb.load(
        kb.addptr(kb.splat(k_ptr, [bn, d]), _offsets(kb, bn, d, kb.const(d, I32))),
        _row_mask(kb, kb.arange(0, bn), n_valid, [bn, d]),
        kb.splat(zero, [bn, d]),
    )
    kt = kb.op("tt.trans", [k], tensor([d, bn], in_t), order=[1, 0])
    acc = kb.splat(kb.const(0 if isinstance(out_t, irt.IntType) else 0.0, out_t), [m, bn])
    s = kb.op("tt.dot", [q, kt, acc], acc.type, input_precision="ieee", max_num_imprecise_acc=0)
    kb.store(kb.addptr(kb.splat(out_ptr, [m, bn]), _offsets(kb, m, bn, kb.const(bn, I32))), s)
    return kb


@pytest.mark.parametrize("in_t,out_t", [(BF16, F32), (I8, I32)])
@pytest.mark.parametrize("m,bn,d", [(16, 32, 64), (4, 16, 32), (64, 64, 16)])
def test_dot_with_transposed_masked_k_16bit_and_int8(
    in_t: irt.Type, out_t: irt.Type, m: int, bn: int, d: int
) -> None:
    """The dot-product-instruction kinds pack ``tl.trans(k)`` through the W x W in-register
    transpose (W lanes of bf16 or i8), not element by element."""
    n_valid = bn - 3
    kernel, art = compile_kernel(_qk_kernel(m, bn, d, in_t, out_t))
    rng = np.random.default_rng(m + bn + d)
    if in_t == I8:
        q = rng.integers(-128, 128, (m, d)).astype(np.int8)
        k = rng.integers(-128, 128, (bn, d)).astype(np.int8)
    else:
        q = rng.standard_normal((m, d)).astype(ml_dtypes.bfloat16)
        k = rng.standard_normal((bn, d)).astype(ml_dtypes.bfloat16)
        k[n_valid:] = np.nan
    out = poison((m, bn), _NP.get(out_t, np.int32))
    launch(kernel, (1,), q, k, out, n_valid)
    k64 = k.astype(np.float64)
    k64[n_valid:] = 0
    ref = q.astype(np.float64) @ k64.T
    if in_t == I8:
        np.testing.assert_array_equal(out, ref.astype(np.int64))
    else:
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-4)
    if art.metadata["vector_width"] == 16:
        assert "gather" not in art.asm["llir"]
        assert "%packt" in art.asm["llir"]


def _qk_strided_kernel(bn: int, d: int, in_t: irt.Type, mask: str) -> KernelBuilder:
    """s[16, bn] = q[16, d] @ trans(k[bn, d]) with k's rows a runtime ``stride`` apart and
    masked by ``mask``: "rows" (``rows < n_valid``), "both" (also ``cols < d_valid``: a block
    pointer's two bounds checks), "diagonal" (``rows + cols < n_valid``, no row-only part)."""
    m = 16
    kb = KernelBuilder("qks", [ptr(in_t), ptr(in_t), ptr(F32), I32, I32, I32])
    q_ptr, k_ptr, out_ptr, stride, n_valid, d_valid = kb.args
    q = kb.load(kb.addptr(kb.splat(q_ptr, [m, d]), _offsets(kb, m, d, kb.const(d, I32))))
    rows, cols = kb.arange(0, bn), kb.arange(0, d)
    if mask == "diagonal":
        both = kb.binary(
            "arith.addi",
            kb.broadcast(kb.expand_dims(rows, 1), [bn, d]),
            kb.broadcast(kb.expand_dims(cols, 0), [bn, d]),
        )
        valid = kb.cmp("arith.cmpi", "slt", both, kb.splat(n_valid, [bn, d]))
    else:
        valid = _row_mask(kb, rows, n_valid, [bn, d])
    if mask == "both":
        in_cols = kb.cmp("arith.cmpi", "slt", cols, kb.splat(d_valid, [d]))
        valid = kb.binary("arith.andi", valid, kb.broadcast(kb.expand_dims(in_cols, 0), [bn, d]))
    k = kb.load(
        kb.addptr(kb.splat(k_ptr, [bn, d]), _offsets(kb, bn, d, stride)),
        valid,
        kb.splat(kb.const(0.0, in_t), [bn, d]),
    )
    kt = kb.op("tt.trans", [k], tensor([d, bn], in_t), order=[1, 0])
    acc = kb.splat(kb.const(0.0, F32), [m, bn])
    s = kb.op("tt.dot", [q, kt, acc], acc.type, input_precision="ieee", max_num_imprecise_acc=0)
    kb.store(kb.addptr(kb.splat(out_ptr, [m, bn]), _offsets(kb, m, bn, kb.const(bn, I32))), s)
    return kb


@pytest.mark.parametrize("in_t", [F32, BF16])
@pytest.mark.parametrize("mask", ["rows", "both", "diagonal"])
def test_dot_with_transposed_strided_masked_k(in_t: irt.Type, mask: str) -> None:
    """``tl.trans(k)`` packed from k's load by rows a runtime stride apart (one address per
    block of rows plus the stride), with each row's mask from its row test and the shared
    column test, or (no row-only part) from the whole mask: every masked-off element (NaN
    in memory, and past the rows' ends) reads as 0."""
    bn, d, stride = 48, 32, 40
    n_valid, d_valid = bn - 5, d - 7
    kernel, _ = compile_kernel(_qk_strided_kernel(bn, d, in_t, mask))
    rng = np.random.default_rng(len(mask) + in_t.bitwidth)
    q = rng.standard_normal((16, d)).astype(_NP[in_t])
    rows = np.full((bn, stride), np.nan, np.float64)
    rows[:, :d] = rng.standard_normal((bn, d))
    valid = np.arange(bn)[:, None] < n_valid
    if mask == "diagonal":
        valid = np.arange(bn)[:, None] + np.arange(d)[None, :] < n_valid
    if mask == "both":
        valid = valid & (np.arange(d)[None, :] < d_valid)
    rows[:, :d][~np.broadcast_to(valid, (bn, d))] = np.nan
    k = rows.astype(_NP[in_t])
    out = poison((16, bn), np.float32)
    launch(kernel, (1,), q, k, out, stride, n_valid, d_valid)
    k64 = np.where(valid, k[:, :d].astype(np.float64), 0.0)
    ref = q.astype(np.float64) @ k64.T
    tol = 1e-5 if in_t == F32 else 1e-2
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("in_t,out_t", [(BF16, F32), (I8, I32)])
def test_dot_transposed_b_in_k_loop(in_t: irt.Type, out_t: irt.Type) -> None:
    m, n, k, ksteps = 16, 32, 32, 3
    kernel, _ = compile_kernel(_dot_kernel(m, n, k, in_t, out_t, ksteps, trans_b=True))
    rng = np.random.default_rng(21)
    if in_t == I8:
        a = rng.integers(-128, 128, (m, k * ksteps)).astype(np.int8)
        bt = rng.integers(-128, 128, (n, k * ksteps)).astype(np.int8)
    else:
        a = rng.standard_normal((m, k * ksteps)).astype(ml_dtypes.bfloat16)
        bt = rng.standard_normal((n, k * ksteps)).astype(ml_dtypes.bfloat16)
    c = poison((m, n), _NP.get(out_t, np.int32))
    launch(kernel, (1,), a, bt, c)
    ref = a.astype(np.float64) @ bt.astype(np.float64).T
    if in_t == I8:
        np.testing.assert_array_equal(c, ref.astype(np.int64))
    else:
        np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-4)
