"""Reductions (builtin and user combine functions), scans, sorting and shape operations."""

from __future__ import annotations

import numpy as np
import pytest

import tritium.language as tl
from tritium.interpreter import run_kernel

from ._helpers import poison


def reductions_kernel(x_ptr, out_ptr, idx_ptr, R: tl.constexpr, C: tl.constexpr):
    r = tl.arange(0, R)[:, None]
    c = tl.arange(0, C)[None, :]
    x = tl.load(x_ptr + r * C + c)
    tl.store(out_ptr + tl.arange(0, C), tl.sum(x, axis=0))
    tl.store(out_ptr + C + tl.arange(0, R), tl.max(x, axis=1))
    tl.store(out_ptr + C + R + tl.arange(0, R), tl.min(x, axis=1))
    tl.store(out_ptr + C + 2 * R, tl.sum(x))
    v, i = tl.max(x, axis=1, return_indices=True)
    tl.store(idx_ptr + tl.arange(0, R), i)
    tl.store(idx_ptr + R + tl.arange(0, C), tl.argmin(x, axis=0))


def test_builtin_reductions(run, rng):
    R, C = 4, 8
    x = rng.standard_normal((R, C)).astype(np.float32)
    out = poison(C + 2 * R + 1, np.float32)
    idx = poison(R + C, np.int32)
    run(reductions_kernel, (2,), x_ptr=x, out_ptr=out, idx_ptr=idx, R=R, C=C)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(out[:C], x64.sum(0), rtol=1e-6)
    np.testing.assert_array_equal(out[C : C + R], x.max(1))
    np.testing.assert_array_equal(out[C + R : C + 2 * R], x.min(1))
    np.testing.assert_allclose(out[-1], x64.sum(), rtol=1e-6)
    np.testing.assert_array_equal(idx[:R], x.argmax(1))
    np.testing.assert_array_equal(idx[R:], x.argmin(0))


def argmax_combine(v1, i1, v2, i2):
    take1 = (v1 > v2) | ((v1 == v2) & (i1 < i2))
    return tl.where(take1, v1, v2), tl.where(take1, i1, i2)


def user_reduce_kernel(x_ptr, out_ptr, idx_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs)
    prod = tl.reduce(x, 0, lambda a, b: a * b)
    v, i = tl.reduce((x, offs), 0, argmax_combine)
    tl.store(out_ptr, prod)
    tl.store(out_ptr + 1, v)
    tl.store(idx_ptr, i)


@pytest.mark.parametrize("n", [8, 16])
def test_user_combine_functions(run, rng, n):
    x = rng.uniform(0.5, 1.5, n).astype(np.float32)
    x[3] = x[n - 2] = 9.0  # a tie: the smaller index wins
    out = poison(2, np.float32)
    idx = poison(1, np.int32)
    run(user_reduce_kernel, (1,), x_ptr=x, out_ptr=out, idx_ptr=idx, N=n)
    np.testing.assert_allclose(out[0], np.prod(x.astype(np.float64)), rtol=1e-6)
    assert out[1] == 9.0 and idx[0] == 3


def scan_kernel(x_ptr, out_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs)
    tl.store(out_ptr + offs, tl.cumsum(x, 0))
    tl.store(out_ptr + N + offs, tl.cumsum(x, 0, reverse=True))
    tl.store(out_ptr + 2 * N + offs, tl.associative_scan(x, 0, lambda a, b: a - b * 0 + b))
    tl.store(out_ptr + 3 * N + offs, tl.associative_scan(x, 0, tl.maximum, reverse=True))


def test_scans(run, rng):
    n = 16
    x = rng.integers(-20, 20, n).astype(np.int32)
    out = poison(4 * n, np.int32)
    run(scan_kernel, (1,), x_ptr=x, out_ptr=out, N=n)
    np.testing.assert_array_equal(out[:n], np.cumsum(x))
    np.testing.assert_array_equal(out[n : 2 * n], np.cumsum(x[::-1])[::-1])
    np.testing.assert_array_equal(out[2 * n : 3 * n], np.cumsum(x))
    np.testing.assert_array_equal(out[3 * n :], np.maximum.accumulate(x[::-1])[::-1])


def small_int_sum_kernel(x_ptr, out_ptr, N: tl.constexpr):
    x = tl.load(x_ptr + tl.arange(0, N))
    s = tl.sum(x, axis=0)  # int8 accumulates in int32, as Triton does
    tl.store(out_ptr, s)
    tl.store(out_ptr + 1, tl.xor_sum(x, axis=0).to(tl.int32))


def test_small_int_sum_widens(rng):
    x = np.full(64, 100, np.int8)
    x[0] = 7
    out = poison(2, np.int32)
    run_kernel(small_int_sum_kernel, (1,), dict(x_ptr=x, out_ptr=out, N=64))
    assert out[0] == 63 * 100 + 7
    assert out[1] == np.bitwise_xor.reduce(x)


def shapes_kernel(x_ptr, out_ptr, R: tl.constexpr, C: tl.constexpr):
    r = tl.arange(0, R)[:, None]
    c = tl.arange(0, C)[None, :]
    x = tl.load(x_ptr + r * C + c)  # [R, C]
    t = tl.trans(x)  # [C, R]
    tl.store(out_ptr + tl.arange(0, C)[:, None] * R + tl.arange(0, R)[None, :], t)
    flat = tl.reshape(x, (R * C,))
    tl.store(out_ptr + R * C + tl.arange(0, R * C), tl.flip(flat, 0))
    a, b = tl.split(tl.reshape(x, (R, C // 2, 2)))
    j = tl.join(b, a)  # swap neighbours
    tl.store(out_ptr + 2 * R * C + tl.arange(0, R * C), tl.reshape(j, (R * C,)))
    s = tl.sort(flat)
    tl.store(out_ptr + 3 * R * C + tl.arange(0, R * C), s)
    bc = tl.broadcast_to(tl.expand_dims(tl.sum(x, axis=1), 1), (R, C))
    tl.store(out_ptr + 4 * R * C + r * C + c, bc)


def test_shape_ops(run, rng):
    R, C = 4, 8
    x = rng.integers(-100, 100, (R, C)).astype(np.int32)
    out = poison(5 * R * C, np.int32)
    run(shapes_kernel, (1,), x_ptr=x, out_ptr=out, R=R, C=C)
    n = R * C
    np.testing.assert_array_equal(out[:n], x.T.reshape(-1))
    np.testing.assert_array_equal(out[n : 2 * n], x.reshape(-1)[::-1])
    np.testing.assert_array_equal(
        out[2 * n : 3 * n], x.reshape(R, C // 2, 2)[..., ::-1].reshape(-1)
    )
    np.testing.assert_array_equal(out[3 * n : 4 * n], np.sort(x.reshape(-1)))
    np.testing.assert_array_equal(out[4 * n :], np.repeat(x.sum(1), C))


def histogram_gather_kernel(x_ptr, out_ptr, N: tl.constexpr, B: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs)
    tl.store(out_ptr + tl.arange(0, B), tl.histogram(x, B))
    g = tl.gather(x, (offs + 1) % N, 0)
    tl.store(out_ptr + B + offs, g)


def test_histogram_and_gather(run, rng):
    n, b = 32, 8
    x = rng.integers(0, b, n).astype(np.int32)
    out = poison(b + n, np.int32)
    run(histogram_gather_kernel, (2,), x_ptr=x, out_ptr=out, N=n, B=b)
    np.testing.assert_array_equal(out[:b], np.bincount(x, minlength=b))
    np.testing.assert_array_equal(out[b:], np.roll(x, -1))


def bad_shapes_kernel(x_ptr, N: tl.constexpr):
    a = tl.arange(0, N)
    b = tl.arange(0, 2 * N)
    tl.store(x_ptr + a, a + b)


def test_incompatible_shapes_are_an_error():
    with pytest.raises(ValueError, match="incompatible shapes"):
        run_kernel(bad_shapes_kernel, (1,), dict(x_ptr=np.zeros(8, np.int32), N=4))


def scalar_fit_kernel(x_ptr):
    x = tl.load(x_ptr + tl.arange(0, 4))
    tl.store(x_ptr + tl.arange(0, 4), x + 300)  # 300 does not fit int8


def test_scalar_out_of_range_is_an_error():
    with pytest.raises(ValueError, match="out of range"):
        run_kernel(scalar_fit_kernel, (1,), dict(x_ptr=np.zeros(4, np.int8)))


def min_max_builtin_kernel(out_ptr, n):
    pid = tl.program_id(0)
    m = min(pid * 3, n)  # Python's min on program-dependent values: no divergence
    tl.store(out_ptr + pid, max(m, 2))


def test_python_min_max_on_tiles():
    from tritium.interpreter import launcher

    out = poison(6, np.int32)
    run_kernel(min_max_builtin_kernel, (6,), dict(out_ptr=out, n=10))
    assert launcher.last_mode == "vectorized"
    np.testing.assert_array_equal(out, np.maximum(np.minimum(np.arange(6) * 3, 10), 2))


def relu_scalar(x):
    if x > 0:  # Python control flow on one element
        return x
    return x * 0


def extras_kernel(x_ptr, out_ptr, flag_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs)
    tl.store(out_ptr + tl.arange(0, 4), tl.topk(x, 4))
    tl.store(out_ptr + 4 + offs, tl.map_elementwise(lambda a: a * 2 + 1, x))
    tl.store(out_ptr + 4 + N + offs, tl.map_elementwise(relu_scalar, x))
    tl.store(flag_ptr + offs, tl.math.isnan(x / x))
    tl.store(flag_ptr + N + offs, tl.math.float2int_rn(x * 10))


def test_topk_map_elementwise_and_int_math(rng):
    n = 8
    x = rng.standard_normal(n).astype(np.float32)
    x[2] = 0.0
    out = poison(4 + 2 * n, np.float32)
    flags = poison(2 * n, np.int32)
    run_kernel(extras_kernel, (1,), dict(x_ptr=x, out_ptr=out, flag_ptr=flags, N=n))
    np.testing.assert_array_equal(out[:4], np.sort(x)[::-1][:4])
    np.testing.assert_array_equal(out[4 : 4 + n], x * 2 + 1)
    np.testing.assert_array_equal(out[4 + n :], np.maximum(x, 0))
    np.testing.assert_array_equal(flags[:n], (np.arange(n) == 2).astype(np.int32))
    np.testing.assert_array_equal(flags[n:], np.rint(x * np.float32(10)).astype(np.int32))


def dot_scaled_kernel(
    a_ptr, as_ptr, b_ptr, bs_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr
):
    rm = tl.arange(0, M)[:, None]
    rn = tl.arange(0, N)[None, :]
    a = tl.load(a_ptr + rm * (K // 2) + tl.arange(0, K // 2)[None, :])  # fp4, two per byte
    sa = tl.load(as_ptr + rm * (K // 32) + tl.arange(0, K // 32)[None, :])
    b = tl.load(b_ptr + tl.arange(0, K)[:, None] * N + rn)  # fp8 e4m3
    sb = tl.load(bs_ptr + tl.arange(0, N)[:, None] * (K // 32) + tl.arange(0, K // 32)[None, :])
    c = tl.dot_scaled(a, sa, "e2m1", b, sb, "e4m3")
    tl.store(c_ptr + rm * N + rn, c)


def test_dot_scaled(rng):
    import ml_dtypes

    M, N, K = 16, 16, 64
    fp4 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6])
    codes = rng.integers(0, 16, (M, K)).astype(np.uint8)
    packed = (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8)
    sa = rng.integers(120, 134, (M, K // 32)).astype(np.uint8)
    b = rng.standard_normal((K, N)).astype(ml_dtypes.float8_e4m3fn)
    sb = rng.integers(120, 134, (N, K // 32)).astype(np.uint8)
    c = poison((M, N), np.float32)
    run_kernel(
        dot_scaled_kernel,
        (1,),
        dict(a_ptr=packed, as_ptr=sa, b_ptr=b.view(np.uint8), bs_ptr=sb, c_ptr=c, M=M, N=N, K=K),
    )
    a_val = fp4[codes] * np.repeat(2.0 ** (sa.astype(np.float64) - 127), 32, axis=1)
    b_val = b.astype(np.float64) * np.repeat(2.0 ** (sb.astype(np.float64) - 127), 32, axis=1).T
    np.testing.assert_allclose(c, a_val @ b_val, rtol=1e-6, atol=1e-6)


def misc_kernel(x_ptr, out_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs)
    both = tl.cat(x, x * 2, can_reorder=False)
    tl.store(out_ptr + tl.arange(0, 2 * N), both)
    m = tl.reshape(x, (2, N // 2))
    tl.store(out_ptr + 2 * N + tl.arange(0, 2), tl.sum(m, axis=1, keep_dims=True).reshape(2))
    tl.store(out_ptr + 2 * N + 2, tl.max(m))
    bd = tl.dot(tl.reshape(x, (2, 4, 4)), tl.reshape(x, (2, 4, 4)))  # batched 3-D dot
    tl.store(out_ptr + 2 * N + 3 + tl.arange(0, 32), tl.reshape(bd, (32,)))


def test_cat_keepdims_batched_dot(rng):
    n = 32
    x = rng.integers(-5, 5, n).astype(np.float32)
    out = poison(2 * n + 3 + 32, np.float32)
    run_kernel(misc_kernel, (1,), dict(x_ptr=x, out_ptr=out, N=n))
    np.testing.assert_array_equal(out[: 2 * n], np.concatenate([x, 2 * x]))
    np.testing.assert_array_equal(out[2 * n : 2 * n + 2], x.reshape(2, -1).sum(1))
    assert out[2 * n + 2] == x.max()
    b = x.reshape(2, 4, 4)
    np.testing.assert_array_equal(out[2 * n + 3 :], (b @ b).reshape(-1))


def low_precision_dot_kernel(a_ptr, b_ptr, c_ptr, i_ptr, j_ptr, k_ptr, N: tl.constexpr):
    r = tl.arange(0, N)[:, None] * N + tl.arange(0, N)[None, :]
    c = tl.dot(tl.load(a_ptr + r), tl.load(b_ptr + r))  # fp8 inputs, fp32 accumulation
    tl.store(c_ptr + r, c)
    k = tl.dot(tl.load(i_ptr + r), tl.load(j_ptr + r))  # int8 inputs, int32 accumulation
    tl.store(k_ptr + r, k)


def test_fp8_and_int8_dot(rng):
    import ml_dtypes

    n = 16
    a = rng.standard_normal((n, n)).astype(ml_dtypes.float8_e4m3fn)
    b = rng.standard_normal((n, n)).astype(ml_dtypes.float8_e5m2)
    i = rng.integers(-128, 128, (n, n)).astype(np.int8)
    j = rng.integers(-128, 128, (n, n)).astype(np.int8)
    c = poison((n, n), np.float32)
    k = poison((n, n), np.int32)
    run_kernel(
        low_precision_dot_kernel,
        (1,),
        dict(a_ptr=a, b_ptr=b, c_ptr=c, i_ptr=i, j_ptr=j, k_ptr=k, N=n),
    )
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(k, i.astype(np.int64) @ j.astype(np.int64))
