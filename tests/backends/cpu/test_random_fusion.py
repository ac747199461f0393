"""Random elementwise expression trees over broadcast operands, fused and reduced, against
NumPy: a net for chunking, broadcasting and fusion bugs."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.cpu.irgen import F32, I32, KernelBuilder, compile_kernel, launch, poison, ptr


def _offsets(kb: KernelBuilder, m: int, n: int, row_stride: int, col_stride: int) -> object:
    rows = kb.expand_dims(kb.arange(0, m), 1)
    if row_stride != 1:
        rows = kb.binary("arith.muli", rows, kb.splat(kb.const(row_stride, I32), [m, 1]))
    cols = kb.expand_dims(kb.arange(0, n), 0)
    if col_stride != 1:
        cols = kb.binary("arith.muli", cols, kb.splat(kb.const(col_stride, I32), [1, n]))
    return kb.binary("arith.addi", kb.broadcast(rows, [m, n]), kb.broadcast(cols, [m, n]))


def _case(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = int(rng.choice([1, 2, 8, 16]))
    n = int(rng.choice([1, 4, 16, 32, 64]))
    kb = KernelBuilder("fuzz", [ptr(F32), ptr(F32), ptr(F32), ptr(F32), F32])
    a_ptr, r_ptr, c_ptr, out_ptr, s = kb.args
    a = kb.load(kb.addptr(kb.splat(a_ptr, [m, n]), _offsets(kb, m, n, n, 1)))
    # a row vector [1, n] and a column vector [m, 1], broadcast
    r = kb.broadcast(
        kb.expand_dims(kb.load(kb.addptr(kb.splat(r_ptr, [n]), kb.arange(0, n))), 0), [m, n]
    )
    c = kb.broadcast(
        kb.expand_dims(kb.load(kb.addptr(kb.splat(c_ptr, [m]), kb.arange(0, m))), 1), [m, n]
    )
    a_np = rng.standard_normal((m, n)).astype(np.float32)
    r_np = rng.standard_normal(n).astype(np.float32)
    c_np = rng.standard_normal(m).astype(np.float32)
    s_np = float(np.float32(rng.standard_normal()))
    pool = [
        (a, a_np.astype(np.float64)),
        (r, np.broadcast_to(r_np[None, :], (m, n)) + 0.0),
        (c, np.broadcast_to(c_np[:, None], (m, n)) + 0.0),
        (kb.splat(s, [m, n]), np.full((m, n), s_np)),
    ]
    for _ in range(int(rng.integers(3, 9))):
        (x, xr), (y, yr) = (pool[int(i)] for i in rng.integers(0, len(pool), 2))
        kind = int(rng.integers(0, 7))
        if kind == 0:
            v, vr = kb.binary("arith.addf", x, y), xr + yr
        elif kind == 1:
            v, vr = kb.binary("arith.mulf", x, y), xr * yr
        elif kind == 2:
            v, vr = kb.binary("arith.subf", x, y), xr - yr
        elif kind == 3:
            v, vr = kb.binary("arith.maxnumf", x, y), np.maximum(xr, yr)
        elif kind == 4:
            t = kb.unary("math.tanh", x)
            v, vr = t, np.tanh(xr)
        elif kind == 5:
            cond = kb.cmp("arith.cmpf", "olt", x, y)
            v = kb.op("arith.select", [cond, x, y], x.type)
            vr = np.where(xr < yr, xr, yr)
        else:
            v, vr = kb.unary("arith.negf", x), -xr
        pool.append((v, vr))
    res, ref = pool[-1]
    reduce_axis = int(rng.integers(-1, 2))  # -1: no reduction
    if reduce_axis >= 0:
        res = kb.sum(res, reduce_axis)
        ref = ref.sum(reduce_axis)
        k = ref.shape[0]
        kb.store(kb.addptr(kb.splat(out_ptr, [k]), kb.arange(0, k)), res)
    else:
        kb.store(kb.addptr(kb.splat(out_ptr, [m, n]), _offsets(kb, m, n, n, 1)), res)
    kernel, _ = compile_kernel(kb)
    out = poison(ref.shape, np.float32)
    launch(kernel, (1,), a_np, r_np, c_np, out, s_np)
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * scale, err_msg=f"seed {seed}")


@pytest.mark.parametrize("seed", range(12))
def test_random_fused_expressions(seed: int) -> None:
    _case(seed)
