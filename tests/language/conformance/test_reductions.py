"""Reductions, scans, sort/topk, histogram and gather (issue 4: reductions and scans).

Each kernel loads one ``M x N`` tile and writes many reductions of it, so a dtype costs one
compile; the references are NumPy in float64 / int64.
"""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

from ._helpers import BF16, NP_DTYPES, Buffers, poisoned, random_array

M, N = 8, 16


@triton.jit
def _reductions(
    X, SUM0, SUM1, MAX1, MIN0, AMAX1, AMIN1, ALL, KEEP, M: tl.constexpr, N: tl.constexpr
):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    x = tl.load(X + rm[:, None] * N + rn[None, :])
    tl.store(SUM0 + rn, tl.sum(x, axis=0))
    tl.store(SUM1 + rm, x.sum(axis=1))
    tl.store(MAX1 + rm, tl.max(x, axis=1))
    tl.store(MIN0 + rn, tl.min(x, 0))
    tl.store(AMAX1 + rm, tl.argmax(x, axis=1))
    tl.store(AMIN1 + rm, tl.argmin(x, axis=1))
    tl.store(ALL, tl.sum(x))
    tl.store(ALL + 1, tl.max(x))
    tl.store(ALL + 2, tl.min(x, axis=None))
    k = tl.sum(x, axis=1, keep_dims=True)
    tl.static_assert(len(k.shape) == 2)
    tl.store(KEEP + rm[:, None] + rn[None, :] * M, k)


@pytest.mark.covers("tl.sum", "tl.max", "tl.min", "tl.argmax", "tl.argmin", "keep_dims")
@pytest.mark.parametrize("dtype", ["float32", "int32", "int8", "float16", "uint32", "float64"])
def test_basic_reductions(backend: str, dtype: str, rng: np.random.Generator) -> None:
    """sum/max/min/argmax/argmin over each axis, over everything, and with keep_dims."""
    npd = NP_DTYPES[dtype]
    if npd.kind in "iu":
        x = random_array(rng, (M, N), dtype, low=0 if npd.kind == "u" else -9, high=9)
        acc = "int32" if npd.itemsize < 4 else dtype
    else:
        x = rng.integers(-20, 20, (M, N)).astype(npd)  # ties for argmax/argmin
        x += (rng.random((M, N)) * 0.25).astype(npd) * (rng.random((M, N)) < 0.5)
        acc = dtype
    out = {
        k: poisoned(
            n,
            acc
            if k.startswith(("sum", "all", "keep"))
            else ("int32" if k.startswith("a") else dtype),
        )
        for k, n in (
            ("sum0", N),
            ("sum1", M),
            ("max1", M),
            ("min0", N),
            ("amax1", M),
            ("amin1", M),
            ("all", 3),
            ("keep", M * N),
        )
    }
    # max/min of narrow types widen in Triton: store through the input dtype anyway (exact).
    buf = Buffers(backend)
    _reductions[(1,)](
        buf(x),
        *(buf(out[k]) for k in ("sum0", "sum1", "max1", "min0", "amax1", "amin1", "all", "keep")),
        M=M,
        N=N,
    )
    buf.sync()
    x64 = x.astype(np.float64 if npd.kind == "f" else np.int64)
    tol = {"float16": 2e-2, "float32": 1e-5, "float64": 1e-12}.get(dtype, 0)
    np.testing.assert_allclose(out["sum0"].astype(np.float64), x64.sum(0), rtol=tol, atol=tol)
    np.testing.assert_allclose(out["sum1"].astype(np.float64), x64.sum(1), rtol=tol, atol=tol)
    np.testing.assert_array_equal(out["max1"], x.max(1))
    np.testing.assert_array_equal(out["min0"], x.min(0))
    np.testing.assert_array_equal(out["amax1"], np.argmax(x, 1))  # first of equal maxima
    np.testing.assert_array_equal(out["amin1"], np.argmin(x, 1))
    np.testing.assert_allclose(
        out["all"][0].astype(np.float64), x64.sum(), rtol=tol, atol=tol * M * N
    )
    assert out["all"][1] == x.max().astype(out["all"].dtype)
    assert out["all"][2] == x.min().astype(out["all"].dtype)
    keep = out["keep"].reshape(N, M).T  # stored transposed: KEEP[m + n*M]
    np.testing.assert_allclose(
        keep.astype(np.float64), np.repeat(x64.sum(1, keepdims=True), N, 1), rtol=tol, atol=tol
    )


@triton.jit
def _argmax_ties(X, OUT, N: tl.constexpr):
    rn = tl.arange(0, N)
    x = tl.load(X + rn)
    v, i = tl.max(x, axis=0, return_indices=True)
    tl.store(OUT, i)
    v, i = tl.min(x, axis=0, return_indices=True)
    tl.store(OUT + 1, i)
    tl.store(OUT + 2, tl.argmax(x, 0, tie_break_left=True))
    tl.store(OUT + 3, tl.argmax(x, 0, tie_break_left=False) >= 0)


@pytest.mark.covers("tl.argmax", "tl.argmin", "tl.max", "tl.min")
def test_argmax_tie_breaking(backend: str, rng: np.random.Generator) -> None:
    """``return_indices`` gives the first index of the maximum/minimum (tie_break_left)."""
    x = rng.integers(0, 4, N).astype(np.float32)
    x[[3, 9, 12]] = 7.0
    x[[2, 5]] = -3.0
    out = poisoned(4, "int32")
    buf = Buffers(backend)
    _argmax_ties[(1,)](buf(x), buf(out), N=N)
    buf.sync()
    assert list(out[:3]) == [3, 2, 3]
    assert out[3] == 1


@triton.jit
def _xor_sum(X, OUT, M: tl.constexpr, N: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    x = tl.load(X + rm[:, None] * N + rn[None, :])
    tl.store(OUT + rm, tl.xor_sum(x, axis=1))
    tl.store(OUT + M + rn, tl.xor_sum(x, axis=0))


@pytest.mark.covers("tl.xor_sum")
@pytest.mark.parametrize("dtype", ["int32", "uint64", "int8"])
def test_xor_sum(backend: str, dtype: str, rng: np.random.Generator) -> None:
    """xor_sum along each axis of an integer tile."""
    x = random_array(rng, (M, N), dtype)
    out = poisoned(M + N, dtype)
    buf = Buffers(backend)
    _xor_sum[(1,)](buf(x), buf(out), M=M, N=N)
    buf.sync()
    np.testing.assert_array_equal(out[:M], np.bitwise_xor.reduce(x, axis=1))
    np.testing.assert_array_equal(out[M:], np.bitwise_xor.reduce(x, axis=0))


@triton.jit
def _mul_combine(a, b):
    return a * b


@triton.jit
def _argmax_combine(v1, i1, v2, i2):
    better = (v1 > v2) | ((v1 == v2) & (i1 < i2))
    return tl.where(better, v1, v2), tl.where(better, i1, i2)


@triton.jit
def _user_reduce(X, OUT, IDX, M: tl.constexpr, N: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    x = tl.load(X + rm[:, None] * N + rn[None, :])
    tl.store(OUT + rm, tl.reduce(x, 1, _mul_combine))
    idx = tl.broadcast_to(rn[None, :], (M, N))
    v, i = tl.reduce((x, idx), 1, _argmax_combine)
    tl.store(OUT + M + rm, v)
    tl.store(IDX + rm, i)
    k = tl.reduce(x, 0, _mul_combine, keep_dims=True)
    tl.store(OUT + 2 * M + rn[None, :], k)


@pytest.mark.covers("tl.reduce")
def test_reduce_user_combine(backend: str, rng: np.random.Generator) -> None:
    """tl.reduce with a @jit combine function, on one tensor and on a (value, index) tuple."""
    x = rng.uniform(0.5, 1.5, (M, N)).astype(np.float32)
    x[:, 3] = x[:, 7] = 2.0  # ties: the lower index wins in the combine
    out = poisoned(2 * M + N, "float32")
    idx = poisoned(M, "int32")
    buf = Buffers(backend)
    _user_reduce[(1,)](buf(x), buf(out), buf(idx), M=M, N=N)
    buf.sync()
    np.testing.assert_allclose(out[:M], np.prod(x.astype(np.float64), 1), rtol=1e-5)
    np.testing.assert_array_equal(out[M : 2 * M], x.max(1))
    np.testing.assert_array_equal(idx, np.argmax(x, 1))
    np.testing.assert_allclose(out[2 * M :], np.prod(x.astype(np.float64), 0), rtol=1e-5)


@triton.jit
def _max_combine(a, b):
    return tl.maximum(a, b)


@triton.jit
def _pair_combine(a1, b1, a2, b2):
    # affine maps x -> a*x + b composed left to right: the linear-recurrence scan
    return a1 * a2, b1 * a2 + b2


@triton.jit
def _scans(X, CS, CP, RCS, MS, RMS, H, M: tl.constexpr, N: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    offs = rm[:, None] * N + rn[None, :]
    x = tl.load(X + offs)
    tl.store(CS + offs, tl.cumsum(x, axis=1))
    tl.store(CS + M * N + offs, tl.cumsum(x, 0))
    tl.store(CP + offs, tl.cumprod(x, axis=1))
    tl.store(RCS + offs, tl.cumsum(x, axis=1, reverse=True))
    tl.store(RCS + M * N + offs, tl.cumprod(x, axis=0, reverse=True))
    tl.store(MS + offs, tl.associative_scan(x, 1, _max_combine))
    tl.store(RMS + offs, tl.associative_scan(x, 1, _max_combine, reverse=True))
    a, h = tl.associative_scan((x, x - 1.0), 1, _pair_combine)
    tl.store(H + offs, h)


@pytest.mark.covers("tl.cumsum", "tl.cumprod", "tl.associative_scan")
def test_scans(backend: str, rng: np.random.Generator) -> None:
    """cumsum/cumprod along each axis and reversed; associative_scan with a custom and a
    tuple combine function, forward and reverse."""
    x = rng.uniform(0.6, 1.4, (M, N)).astype(np.float32)
    cs = poisoned(2 * M * N, "float32")
    cp, rms, ms, h = (poisoned(M * N, "float32") for _ in range(4))
    rcs = poisoned(2 * M * N, "float32")
    buf = Buffers(backend)
    _scans[(1,)](buf(x), buf(cs), buf(cp), buf(rcs), buf(ms), buf(rms), buf(h), M=M, N=N)
    buf.sync()
    x64 = x.astype(np.float64)
    r = dict(rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(cs[: M * N].reshape(M, N), np.cumsum(x64, 1), **r)
    np.testing.assert_allclose(cs[M * N :].reshape(M, N), np.cumsum(x64, 0), **r)
    np.testing.assert_allclose(cp.reshape(M, N), np.cumprod(x64, 1), **r)
    np.testing.assert_allclose(rcs[: M * N].reshape(M, N), np.cumsum(x64[:, ::-1], 1)[:, ::-1], **r)
    np.testing.assert_allclose(rcs[M * N :].reshape(M, N), np.cumprod(x64[::-1], 0)[::-1], **r)
    np.testing.assert_array_equal(ms.reshape(M, N), np.maximum.accumulate(x, 1))
    np.testing.assert_array_equal(rms.reshape(M, N), np.maximum.accumulate(x[:, ::-1], 1)[:, ::-1])
    ref = np.zeros((M, N))
    acc = np.zeros(M)
    for j in range(N):
        acc = acc * x64[:, j] + (x64[:, j] - 1.0)
        ref[:, j] = acc
    np.testing.assert_allclose(h.reshape(M, N), ref, rtol=1e-5, atol=1e-5)


@triton.jit
def _int_scans(X, CS, CP, M: tl.constexpr, N: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    offs = rm[:, None] * N + rn[None, :]
    x = tl.load(X + offs)
    tl.store(CS + offs, tl.cumsum(x, axis=1))
    tl.store(CP + offs, tl.cumprod(x, axis=1))


@pytest.mark.covers("tl.cumsum", "tl.cumprod")
@pytest.mark.parametrize("dtype", ["int32", "int8", "int64"])
def test_integer_scans(backend: str, dtype: str, rng: np.random.Generator) -> None:
    """Integer cumsum widens narrow types to int32; cumprod keeps the dtype and wraps."""
    x = random_array(rng, (M, N), dtype, low=-5, high=5)
    wide = "int32" if dtype == "int8" else dtype
    cs, cp = poisoned(M * N, wide), poisoned(M * N, dtype)
    buf = Buffers(backend)
    _int_scans[(1,)](buf(x), buf(cs), buf(cp), M=M, N=N)
    buf.sync()
    np.testing.assert_array_equal(cs.reshape(M, N), np.cumsum(x.astype(np.int64), 1))
    np.testing.assert_array_equal(
        cp.reshape(M, N), np.cumprod(x.astype(np.int64), 1).astype(NP_DTYPES[dtype])
    )


@triton.jit
def _sorting(X, SA, SD, SA0, TK, FL, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    offs = rm[:, None] * N + rn[None, :]
    x = tl.load(X + offs)
    tl.store(SA + offs, tl.sort(x))
    tl.store(SD + offs, tl.sort(x, dim=1, descending=True))
    tl.store(SA0 + offs, tl.sort(x, dim=1, descending=False))
    rk = tl.arange(0, K)
    tl.store(TK + rm[:, None] * K + rk[None, :], tl.topk(x, K))
    tl.store(FL + offs, tl.flip(x, 1))


@pytest.mark.covers("tl.sort", "tl.topk", "tl.flip")
@pytest.mark.parametrize("dtype", ["float32", "int32", "uint8", "float16"])
def test_sort_topk_flip(backend: str, dtype: str, rng: np.random.Generator) -> None:
    """sort (last dim by default; Triton sorts only the last dim), topk (largest k), flip."""
    k = 4
    x = random_array(rng, (M, N), dtype, low=0 if dtype == "uint8" else None)
    x[0, :4] = x[0, 4]  # duplicates
    outs = [poisoned(M * N, dtype) for _ in range(3)]
    tk, fl = poisoned(M * k, dtype), poisoned(M * N, dtype)
    buf = Buffers(backend)
    _sorting[(1,)](buf(x), *(buf(o) for o in outs), buf(tk), buf(fl), M=M, N=N, K=k)
    buf.sync()
    np.testing.assert_array_equal(outs[0].reshape(M, N), np.sort(x, 1))
    np.testing.assert_array_equal(outs[1].reshape(M, N), np.sort(x, 1)[:, ::-1])
    np.testing.assert_array_equal(outs[2].reshape(M, N), np.sort(x, 1))
    np.testing.assert_array_equal(tk.reshape(M, k), np.sort(x, 1)[:, ::-1][:, :k])
    np.testing.assert_array_equal(fl.reshape(M, N), x[:, ::-1])


@triton.jit
def _histogram(X, H, HM, N: tl.constexpr, BINS: tl.constexpr):
    rn = tl.arange(0, N)
    x = tl.load(X + rn)
    rb = tl.arange(0, BINS)
    tl.store(H + rb, tl.histogram(x, BINS))
    tl.store(HM + rb, tl.histogram(x, BINS, mask=rn % 3 != 0))


@pytest.mark.covers("tl.histogram")
def test_histogram(backend: str, rng: np.random.Generator) -> None:
    """histogram of int32 values in [0, bins), with and without a mask."""
    n, bins = 64, 8
    x = rng.integers(0, bins, n).astype(np.int32)
    h, hm = poisoned(bins, "int32"), poisoned(bins, "int32")
    buf = Buffers(backend)
    _histogram[(1,)](buf(x), buf(h), buf(hm), N=n, BINS=bins)
    buf.sync()
    np.testing.assert_array_equal(h, np.bincount(x, minlength=bins))
    keep = np.arange(n) % 3 != 0
    np.testing.assert_array_equal(hm, np.bincount(x[keep], minlength=bins))


@triton.jit
def _gather(X, IDX, OUT, M: tl.constexpr, N: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    offs = rm[:, None] * N + rn[None, :]
    x = tl.load(X + offs)
    idx = tl.load(IDX + offs)
    tl.store(OUT + offs, tl.gather(x, idx, 1))
    idx0 = idx % M
    tl.store(OUT + M * N + offs, tl.gather(x, idx0, axis=0))


@pytest.mark.covers("tl.gather")
def test_gather(backend: str, rng: np.random.Generator) -> None:
    """tl.gather along axis 1 and 0 (take_along_axis semantics)."""
    x = rng.standard_normal((M, N)).astype(np.float32)
    idx = rng.integers(0, N, (M, N)).astype(np.int32)
    out = poisoned(2 * M * N, "float32")
    buf = Buffers(backend)
    _gather[(1,)](buf(x), buf(idx), buf(out), M=M, N=N)
    buf.sync()
    np.testing.assert_array_equal(out[: M * N].reshape(M, N), np.take_along_axis(x, idx, 1))
    np.testing.assert_array_equal(out[M * N :].reshape(M, N), np.take_along_axis(x, idx % M, 0))


@triton.jit
def _reductions_3d(X, B, OUT, IDX, A: tl.constexpr, M: tl.constexpr, N: tl.constexpr):
    ra = tl.arange(0, A)
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    x = tl.load(X + ra[:, None, None] * M * N + rm[None, :, None] * N + rn[None, None, :])
    s1 = tl.sum(x, axis=1)  # (A, N)
    tl.store(OUT + ra[:, None] * N + rn[None, :], s1)
    s2 = tl.sum(x, axis=2, dtype=tl.float64)  # explicit accumulation dtype
    tl.static_assert(s2.dtype == tl.float64)
    tl.store(OUT + A * N + ra[:, None] * M + rm[None, :], s2.to(tl.float32))
    m0 = tl.max(x, axis=0, keep_dims=True)  # (1, M, N)
    tl.store(OUT + A * N + A * M + rm[:, None] * N + rn[None, :], tl.reshape(m0, (M, N)))
    tl.store(IDX + rm[:, None] * N + rn[None, :], tl.argmin(x, axis=0))
    b = tl.load(B + rn) != 0
    cnt = tl.sum(b, axis=0)
    tl.static_assert(cnt.dtype == tl.uint32)  # int1 is unsigned in Triton
    tl.store(IDX + M * N, cnt)


@pytest.mark.covers("tl.sum", "tl.max", "tl.argmin", "keep_dims")
def test_reductions_3d_dtype_and_bool(backend: str, rng: np.random.Generator) -> None:
    """3-D reductions on each axis, ``dtype=`` accumulation, keep_dims, and sum of int1."""
    a, m, n = 2, 4, 8
    x = rng.integers(-9, 9, (a, m, n)).astype(np.float32) + rng.uniform(0, 1, (a, m, n)).astype(
        np.float32
    ) * (rng.random((a, m, n)) < 0.5)
    b = rng.integers(0, 2, n).astype(np.int8)
    out = poisoned(a * n + a * m + m * n, "float32")
    idx = poisoned(m * n + 1, "int32")
    buf = Buffers(backend)
    _reductions_3d[(1,)](buf(x), buf(b), buf(out), buf(idx), A=a, M=m, N=n)
    buf.sync()
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(out[: a * n].reshape(a, n), x64.sum(1), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(
        out[a * n : a * n + a * m].reshape(a, m), x64.sum(2).astype(np.float32)
    )
    np.testing.assert_array_equal(out[a * n + a * m :].reshape(m, n), x.max(0))
    np.testing.assert_array_equal(idx[: m * n].reshape(m, n), np.argmin(x, 0))
    assert idx[m * n] == int((b != 0).sum())


@triton.jit
def _result_dtypes(I8, U8, F16, BF, OUT, N: tl.constexpr):
    r = tl.arange(0, N)
    i8 = tl.load(I8 + r)
    u8 = tl.load(U8 + r)
    f16 = tl.load(F16 + r)
    bf = tl.load(BF + r)
    tl.static_assert(tl.sum(i8, 0).dtype == tl.int32)
    tl.static_assert(tl.sum(u8, 0).dtype == tl.uint32)
    tl.static_assert(tl.sum(f16, 0).dtype == tl.float16)
    tl.static_assert(tl.sum(bf, 0).dtype == tl.bfloat16)
    tl.static_assert(tl.sum(i8, 0, dtype=tl.int8).dtype == tl.int8)
    tl.static_assert(tl.max(i8, 0).dtype == tl.int32)
    tl.static_assert(tl.min(f16, 0).dtype == tl.float32)
    tl.static_assert(tl.max(bf, 0).dtype == tl.float32)
    v, i = tl.max(f16, 0, return_indices=True)
    tl.static_assert(v.dtype == tl.float16)
    tl.static_assert(i.dtype == tl.int32)
    tl.static_assert(tl.argmax(i8, 0).dtype == tl.int32)
    tl.static_assert(tl.xor_sum(i8, 0).dtype == tl.int8)
    tl.static_assert(tl.cumsum(i8, 0).dtype == tl.int32)
    tl.static_assert(tl.cumsum(bf, 0).dtype == tl.float32)
    tl.static_assert(tl.cumprod(bf, 0).dtype == tl.float32)
    tl.static_assert(tl.cumprod(i8, 0).dtype == tl.int8)
    tl.store(OUT, tl.sum(i8, 0, dtype=tl.int8))  # wraps in int8
    tl.store(OUT + 1, tl.sum(i8, 0).to(tl.int8))


@pytest.mark.covers(
    "tl.sum", "tl.max", "tl.min", "tl.argmax", "tl.xor_sum", "tl.cumsum", "tl.cumprod"
)
def test_reduction_result_dtypes(backend: str, rng: np.random.Generator) -> None:
    """Triton's result dtypes: narrow int sums widen to (u)int32, fp16/bf16 sums stay, max/min
    without indices widen below 32 bits, bf16 scans widen; ``dtype=`` wins (and wraps)."""
    n = 32
    i8 = rng.integers(60, 127, n).astype(np.int8)  # the int8 sum overflows
    u8 = rng.integers(0, 255, n).astype(np.uint8)
    f16 = rng.standard_normal(n).astype(np.float16)
    bf = rng.standard_normal(n).astype(np.float32).astype(BF16)
    out = poisoned(2, "int8")
    buf = Buffers(backend)
    _result_dtypes[(1,)](buf(i8), buf(u8), buf(f16), buf(bf), buf(out), N=n)
    buf.sync()
    total = int(i8.astype(np.int64).sum())
    wrapped = ((total + 128) % 256) - 128
    np.testing.assert_array_equal(out, [wrapped, wrapped])


@triton.jit
def _count_combine(a1, b1, a2, b2):
    return a1 + a2, tl.maximum(b1, b2)


@triton.jit
def _tuple_scan_reverse(X, OUT, N: tl.constexpr):
    r = tl.arange(0, N)
    x = tl.load(X + r)
    s, m = tl.associative_scan((x, x), 0, _count_combine, reverse=True)
    tl.store(OUT + r, s)
    tl.store(OUT + N + r, m)


@pytest.mark.covers("tl.associative_scan")
def test_tuple_scan_reverse(backend: str, rng: np.random.Generator) -> None:
    """A reversed associative_scan over a tuple (suffix sums and suffix maxima)."""
    n = 32
    x = rng.integers(-50, 50, n).astype(np.int32)
    out = poisoned(2 * n, "int32")
    buf = Buffers(backend)
    _tuple_scan_reverse[(1,)](buf(x), buf(out), N=n)
    buf.sync()
    np.testing.assert_array_equal(out[:n], np.cumsum(x[::-1])[::-1])
    np.testing.assert_array_equal(out[n:], np.maximum.accumulate(x[::-1])[::-1])
