"""Whole kernels through the interpreter: vector add, softmax, matmul, layer norm."""

from __future__ import annotations

import numpy as np
import pytest

import tritium.language as tl
from tritium.interpreter import launcher, run_kernel

from ._helpers import BF16, poison


def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    y = tl.load(y_ptr + offs, mask=m)
    tl.store(out_ptr + offs, x + y, mask=m)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, BF16, np.int32])
@pytest.mark.parametrize("n", [1, 97, 1000])
def test_vector_add(run, rng, dtype, n):
    x = (rng.standard_normal(n) * 100).astype(dtype)
    y = (rng.standard_normal(n) * 100).astype(dtype)
    out = poison(n, dtype)
    run(add_kernel, (-(-n // 64),), x_ptr=x, y_ptr=y, out_ptr=out, n=n, BLOCK=64)
    ref = (x.astype(np.float64) + y.astype(np.float64)).astype(dtype)  # exact sum, one rounding
    np.testing.assert_array_equal(out.astype(np.float64), ref.astype(np.float64))


def softmax_kernel(out_ptr, in_ptr, in_stride, out_stride, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    m = offs < n_cols
    x = tl.load(in_ptr + row * in_stride + offs, mask=m, other=-float("inf")).to(tl.float32)
    x = x - tl.max(x, axis=0)
    e = tl.exp(x)
    y = e / tl.sum(e, axis=0)
    tl.store(out_ptr + row * out_stride + offs, y, mask=m)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, BF16])
def test_softmax(run, rng, dtype):
    rows, cols = 13, 97
    a = rng.standard_normal((rows, cols)).astype(dtype)
    out = poison((rows, cols), np.float32)
    run(
        softmax_kernel,
        (rows,),
        out_ptr=out,
        in_ptr=a,
        in_stride=cols,
        out_stride=cols,
        n_cols=cols,
        BLOCK=128,
    )
    a64 = a.astype(np.float64)
    ref = np.exp(a64 - a64.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-7)


def matmul_kernel(
    a_ptr,
    b_ptr,
    c_ptr,
    M,
    N,
    K,
    sam,
    sak,
    sbk,
    sbn,
    scm,
    scn,
    BM: tl.constexpr,
    BN: tl.constexpr,
    BK: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BK)):
        kk = k * BK + rk
        a = tl.load(
            a_ptr + rm[:, None] * sam + kk[None, :] * sak,
            mask=(rm[:, None] < M) & (kk[None, :] < K),
            other=0.0,
        )
        b = tl.load(
            b_ptr + kk[:, None] * sbk + rn[None, :] * sbn,
            mask=(kk[:, None] < K) & (rn[None, :] < N),
            other=0.0,
        )
        acc = tl.dot(a, b, acc)
    c = acc.to(c_ptr.dtype.element_ty)
    tl.store(
        c_ptr + rm[:, None] * scm + rn[None, :] * scn, c, mask=(rm[:, None] < M) & (rn[None, :] < N)
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float16, BF16])
def test_matmul(run, rng, dtype):
    M, N, K = 45, 37, 70
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    c = poison((M, N), dtype)
    run(
        matmul_kernel,
        (-(-M // 16), -(-N // 16)),
        a_ptr=a,
        b_ptr=b,
        c_ptr=c,
        M=M,
        N=N,
        K=K,
        sam=K,
        sak=1,
        sbk=N,
        sbn=1,
        scm=N,
        scn=1,
        BM=16,
        BN=16,
        BK=32,
    )
    ref = a.astype(np.float64) @ b.astype(np.float64)
    tol = {np.float32: 1e-5, np.float16: 2e-3, BF16: 1e-2}[dtype]
    np.testing.assert_allclose(c.astype(np.float64), ref, rtol=tol, atol=tol * 4)


def test_matmul_transposed_strides(rng):
    """A column-major B operand (strides swapped) through the same kernel."""
    M, N, K = 32, 16, 48
    a = rng.standard_normal((M, K)).astype(np.float32)
    bt = rng.standard_normal((N, K)).astype(np.float32)  # B = bt.T, column-major
    c = poison((M, N), np.float32)
    run_kernel(
        matmul_kernel,
        (2, 1),
        dict(
            a_ptr=a,
            b_ptr=bt,
            c_ptr=c,
            M=M,
            N=N,
            K=K,
            sam=K,
            sak=1,
            sbk=1,
            sbn=K,
            scm=N,
            scn=1,
            BM=16,
            BN=16,
            BK=16,
        ),
    )
    np.testing.assert_allclose(
        c, a.astype(np.float64) @ bt.T.astype(np.float64), rtol=1e-5, atol=1e-5
    )


def layer_norm_kernel(x_ptr, y_ptr, w_ptr, b_ptr, stride, N, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    x_ptr += row * stride
    y_ptr += row * stride
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for off in range(0, N, BLOCK):
        cols = off + tl.arange(0, BLOCK)
        acc += tl.load(x_ptr + cols, mask=cols < N, other=0.0).to(tl.float32)
    mean = tl.sum(acc, axis=0) / N
    var_acc = tl.zeros([BLOCK], dtype=tl.float32)
    for off in range(0, N, BLOCK):
        cols = off + tl.arange(0, BLOCK)
        x = tl.load(x_ptr + cols, mask=cols < N, other=0.0).to(tl.float32)
        d = tl.where(cols < N, x - mean, 0.0)
        var_acc += d * d
    rstd = 1 / tl.sqrt(tl.sum(var_acc, axis=0) / N + eps)
    for off in range(0, N, BLOCK):
        cols = off + tl.arange(0, BLOCK)
        m = cols < N
        w = tl.load(w_ptr + cols, mask=m)
        b = tl.load(b_ptr + cols, mask=m)
        x = tl.load(x_ptr + cols, mask=m, other=0.0).to(tl.float32)
        y = (x - mean) * rstd * w + b
        tl.store(y_ptr + cols, y, mask=m)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, BF16])
def test_layer_norm(run, rng, dtype):
    rows, N = 9, 300
    x = rng.standard_normal((rows, N)).astype(dtype)
    w = rng.standard_normal(N).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    y = poison((rows, N), dtype)
    run(
        layer_norm_kernel,
        (rows,),
        x_ptr=x,
        y_ptr=y,
        w_ptr=w,
        b_ptr=b,
        stride=N,
        N=N,
        eps=1e-5,
        BLOCK=128,
    )
    x64 = x.astype(np.float64)
    mu = x64.mean(1, keepdims=True)
    ref = (x64 - mu) / np.sqrt(x64.var(1, keepdims=True) + 1e-5) * w + b
    tol = {np.float32: 1e-5, np.float16: 2e-3, BF16: 2e-2}[dtype]
    np.testing.assert_allclose(y.astype(np.float64), ref, rtol=tol, atol=tol)


def grid_2d_kernel(out_ptr, W: tl.constexpr):
    x = tl.program_id(0)
    y = tl.program_id(1)
    z = tl.program_id(2)
    v = x + 10 * y + 100 * z + 1000 * tl.num_programs(0) + 10000 * tl.num_programs(2)
    lin = x + tl.num_programs(0) * (y + tl.num_programs(1) * z)
    tl.store(out_ptr + lin, v)


def test_grid_3d(run):
    gx, gy, gz = 3, 4, 2
    out = poison(gx * gy * gz, np.int32)
    run(grid_2d_kernel, (gx, gy, gz), out_ptr=out, W=1)
    z, y, x = np.meshgrid(range(gz), range(gy), range(gx), indexing="ij")
    ref = (x + 10 * y + 100 * z + 1000 * gx + 10000 * gz).reshape(-1)
    np.testing.assert_array_equal(out, ref)


def early_exit_kernel(out_ptr, n):
    pid = tl.program_id(0)
    if pid >= n:  # Python control flow on a program-dependent value
        return
    for i in range(pid):  # and a loop bound that differs per program
        tl.store(out_ptr + pid * 8 + i, i * pid)


def test_divergent_control_flow_falls_back():
    out = np.full(10 * 8, -1, np.int32)
    run_kernel(early_exit_kernel, (10,), dict(out_ptr=out, n=7))
    assert launcher.last_mode == "regrouped"
    ref = np.full((10, 8), -1, np.int32)
    for p in range(7):
        ref[p, :p] = np.arange(p) * p
    np.testing.assert_array_equal(out.reshape(10, 8), ref)


def in_place_kernel(x_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n)
    tl.store(x_ptr + offs, x * 2 + 1, mask=offs < n)
    if pid == 3:  # diverges after the store: the batch must be undone, not applied twice
        tl.store(x_ptr + offs, x * 2 + 1, mask=offs < n)


def test_undo_after_divergence(rng):
    x = rng.integers(-100, 100, 100).astype(np.int32)
    ref = x * 2 + 1
    launcher._SEQUENTIAL.discard(in_place_kernel.__code__)
    run_kernel(in_place_kernel, (7,), dict(x_ptr=x, n=100, BLOCK=16))
    assert launcher.last_mode == "regrouped"
    np.testing.assert_array_equal(x, ref)


def test_vectorized_mode_is_used(rng):
    x = rng.standard_normal(512).astype(np.float32)
    out = poison(512, np.float32)
    run_kernel(add_kernel, (8,), dict(x_ptr=x, y_ptr=x, out_ptr=out, n=512, BLOCK=64))
    assert launcher.last_mode == "vectorized"
    np.testing.assert_array_equal(out, x + x)


def test_torch_tensors(rng):
    torch = pytest.importorskip("torch")
    x = torch.randn(300, dtype=torch.bfloat16)
    y = torch.randn(300, dtype=torch.bfloat16)
    out = torch.full((300,), float("nan"), dtype=torch.bfloat16)
    run_kernel(add_kernel, (3,), dict(x_ptr=x, y_ptr=y, out_ptr=out, n=300, BLOCK=128))
    ref = (x.double() + y.double()).to(torch.bfloat16)
    assert torch.equal(out, ref)


def test_strided_view_and_zero_grid(rng):
    base = rng.standard_normal((8, 16)).astype(np.float32)
    col = base[:, 3]  # a strided view: kernel sees its first element and the array's span
    out = poison(8, np.float32)
    run_kernel(
        softmax_kernel,
        (1,),
        dict(out_ptr=out, in_ptr=col, in_stride=0, out_stride=0, n_cols=1, BLOCK=2),
    )
    assert out[0] == 1.0 and np.isnan(out[1:]).all()
    run_kernel(add_kernel, (0,), dict(x_ptr=base, y_ptr=base, out_ptr=out, n=8, BLOCK=8))
    assert np.isnan(out[1:]).all()


def loop_variable_kernel(x_ptr, out_ptr, idx_ptr, n, start, BLOCK: tl.constexpr):
    """The loop variable (a ``loop_index``, an int subclass) in every operand position the
    interpreter's int fast paths take: pointer offsets, both sides of tile arithmetic."""
    offs = tl.arange(0, BLOCK)
    for i in range(start, n, BLOCK):
        m = i + offs < n
        x = tl.load(x_ptr + i + offs, mask=m, other=0.0)
        tl.store(out_ptr + (offs + i), x * 2.0 - i, mask=m)
        tl.store(idx_ptr + i + offs, i - offs + i * 3, mask=m)


@pytest.mark.parametrize("sanitize", [False, True])
def test_loop_variable_operands(run, rng, sanitize):
    import tritium

    n, start, block = 203, 5, 16
    x = rng.standard_normal(n).astype(np.float32)
    ref_out = np.full(n, np.nan, np.float64)
    ref_idx = np.full(n, -7, np.int64)
    for i in range(start, n, block):
        lanes = np.arange(block)
        sel = i + lanes < n
        ref_out[i + lanes[sel]] = 2.0 * x[i + lanes[sel]].astype(np.float64) - i
        ref_idx[i + lanes[sel]] = i - lanes[sel] + 3 * i
    results = []
    for mode in ("interpreted", "compiled"):
        out = poison(n, np.float32)
        idx = np.full(n, -7, np.int32)
        args = dict(x_ptr=x, out_ptr=out, idx_ptr=idx, n=n, start=start, BLOCK=block)
        if mode == "interpreted":
            run(loop_variable_kernel, (1,), sanitize=sanitize, **args)
        else:
            tritium.jit(loop_variable_kernel)[(1,)](*args.values())
        results.append((out, idx))
        np.testing.assert_allclose(out[start:], ref_out[start:], rtol=1e-6)
        assert np.isnan(out[:start]).all()
        np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(results[0][1], results[1][1])
