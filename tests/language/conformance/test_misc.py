"""The rest of ``tl``: constexpr and tuples, logical ops, helpers (to_tensor, reduce_or,
swizzle2d, rand4x/randn4x, philox), map_elementwise, dot_scaled, more fp8 flavours, and the
host-side names (str_to_ty, TRITON_MAX_TENSOR_NUMEL, void)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

from ._helpers import (
    Buffers,
    assert_bits_equal,
    pair_uniform_to_normal,
    philox4x32,
    poisoned,
    uint_to_uniform_float,
)

N = 16
SCALE: tl.constexpr = tl.constexpr(3)


@triton.jit
def _constexprs(OUT, N: tl.constexpr, K: tl.constexpr):
    r = tl.arange(0, N)
    C: tl.constexpr = K * 2 + 1
    tl.static_assert(C == 2 * K + 1)
    x = tl.to_tensor(C) + r * SCALE
    tl.static_assert(isinstance(x, tl.tensor))
    tl.store(OUT + r, x)
    s = tl.to_tensor(5)
    tl.static_assert(s.dtype == tl.int32)
    tl.store(OUT + N + r, r * 0 + s)


@pytest.mark.covers("tl.constexpr", "tl.to_tensor", "tl.tensor")
def test_constexpr_and_to_tensor(backend: str) -> None:
    """constexpr arithmetic, module-level constexpr globals, to_tensor of Python ints."""
    out = poisoned(2 * N, "int32")
    buf = Buffers(backend)
    _constexprs[(1,)](buf(out), N=N, K=5)
    buf.sync()
    np.testing.assert_array_equal(out[:N], 11 + 3 * np.arange(N))
    np.testing.assert_array_equal(out[N:], np.full(N, 5))


@triton.jit
def _tuple_args(OUT, T, pair, N: tl.constexpr):
    r = tl.arange(0, N)
    a, b = T
    tl.store(OUT + r, tl.load(a + r) + tl.load(b + r))
    tl.store(OUT + N + r, r * 0 + pair[0] * 10 + pair[1])


@pytest.mark.covers("tl.tuple")
def test_tuple_arguments(backend: str, rng: np.random.Generator) -> None:
    """Tuples as kernel arguments: a tuple of pointers and a tuple of ints."""
    a = rng.integers(-9, 9, N).astype(np.int32)
    b = rng.integers(-9, 9, N).astype(np.int32)
    out = poisoned(2 * N, "int32")
    buf = Buffers(backend)
    _tuple_args[(1,)](buf(out), (buf(a), buf(b)), (4, 7), N=N)
    buf.sync()
    np.testing.assert_array_equal(out[:N], a + b)
    np.testing.assert_array_equal(out[N:], np.full(N, 47))


@triton.jit
def _logical(X, Y, OUT, M: tl.constexpr, N: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    offs = rm[:, None] * N + rn[None, :]
    x = tl.load(X + offs) > 0
    y = tl.load(Y + offs) > 0
    tl.store(OUT + offs, tl.logical_and(x, y))
    tl.store(OUT + M * N + offs, x.logical_or(y))
    tl.store(OUT + 2 * M * N + offs, x & ~y | (~x & y))
    tl.store(OUT + 3 * M * N + rm, tl.reduce_or(x, axis=1))


@pytest.mark.covers("tl.logical_and", "tl.logical_or", "tl.reduce_or", "tl.int1")
def test_logical_ops(backend: str, rng: np.random.Generator) -> None:
    """logical_and/or on int1 tiles, ~ on booleans, reduce_or."""
    m = 4
    x = rng.integers(-3, 3, (m, N)).astype(np.int32)
    y = rng.integers(-3, 3, (m, N)).astype(np.int32)
    x[0] = -1  # one all-false row for reduce_or
    out = poisoned(3 * m * N + m, "int1")
    buf = Buffers(backend)
    _logical[(1,)](buf(x), buf(y), buf(out), M=m, N=N)
    buf.sync()
    bx, by = x > 0, y > 0
    mn = m * N
    np.testing.assert_array_equal(out[:mn], (bx & by).ravel())
    np.testing.assert_array_equal(out[mn : 2 * mn], (bx | by).ravel())
    np.testing.assert_array_equal(out[2 * mn : 3 * mn], (bx ^ by).ravel())
    np.testing.assert_array_equal(out[3 * mn :], bx.any(1))


@triton.jit
def _swizzle(OUT, SI: tl.constexpr, SJ: tl.constexpr, SG: tl.constexpr):
    ri = tl.arange(0, SI)
    rj = tl.arange(0, SJ)
    i2, j2 = tl.swizzle2d(ri[:, None], rj[None, :], SI, SJ, SG)
    offs = ri[:, None] * SJ + rj[None, :]
    tl.store(OUT + offs, i2 * 1000 + j2)


def _swizzle_ref(i: np.ndarray, j: np.ndarray, si: int, sj: int, sg: int) -> np.ndarray:
    ij = i * sj + j
    gid = ij // (sg * sj)
    off_i = gid * sg
    g = np.minimum(si - off_i, sg)
    ij = ij % (sg * sj)
    return (off_i + ij % g) * 1000 + ij // g


@pytest.mark.covers("tl.swizzle2d")
def test_swizzle2d(backend: str) -> None:
    """swizzle2d maps row-major indices to column-major within groups of size_g rows."""
    si, sj, sg = 8, 4, 3
    out = poisoned(si * sj, "int32")
    buf = Buffers(backend)
    _swizzle[(1,)](buf(out), SI=si, SJ=sj, SG=sg)
    buf.sync()
    i, j = np.meshgrid(np.arange(si), np.arange(sj), indexing="ij")
    np.testing.assert_array_equal(out.reshape(si, sj), _swizzle_ref(i, j, si, sj, sg))


@triton.jit
def _rand4(OUT_F, OUT_I, seed, N: tl.constexpr):
    r = tl.arange(0, N)
    a, b, c, d = tl.rand4x(seed, r)
    tl.store(OUT_F + r, a)
    tl.store(OUT_F + 3 * N + r, d)
    e, f, g, h = tl.randn4x(seed, r)
    tl.store(OUT_F + N + r, e)
    tl.store(OUT_F + 2 * N + r, h)
    z = r * 0
    p0, p1, p2, p3 = tl.philox(seed, r, z + 1, z + 2, z + 3)
    tl.store(OUT_I + r, p2)
    q0, q1, q2, q3 = tl.philox_impl(
        r.to(tl.uint32), p0, p1, p3, (z + 5).to(tl.uint32), (z + 6).to(tl.uint32)
    )
    tl.store(OUT_I + N + r, q3)


@pytest.mark.covers("tl.rand4x", "tl.randn4x", "tl.philox", "tl.philox_impl")
def test_rand4x_randn4x_philox(backend: str) -> None:
    """The 4-wide variants and raw Philox with explicit counters and keys."""
    seed = 77
    of = poisoned(4 * N, "float32")
    oi = poisoned(2 * N, "uint32")
    buf = Buffers(backend)
    _rand4[(1,)](buf(of), buf(oi), seed, N=N)
    buf.sync()
    r = np.arange(N)
    c = philox4x32(seed, r)
    u = [uint_to_uniform_float(v) for v in c]
    np.testing.assert_array_equal(of[:N], u[0])
    np.testing.assert_array_equal(of[3 * N :], u[3])
    n1, _ = pair_uniform_to_normal(u[0], u[1])
    _, n4 = pair_uniform_to_normal(u[2], u[3])
    np.testing.assert_allclose(of[N : 2 * N], n1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(of[2 * N : 3 * N], n4, rtol=1e-5, atol=1e-5)
    p = philox4x32(seed, r, np.full(N, 1), np.full(N, 2), np.full(N, 3))
    np.testing.assert_array_equal(oi[:N], p[2])
    key = (6 << 32) | 5
    q = philox4x32(key, r, p[0], p[1], p[3])
    np.testing.assert_array_equal(oi[N:], q[3])


@triton.jit
def _scalar_select(x, y):
    if x > y:
        return x - y
    else:
        return y * 2


@triton.jit
def _map(X, Y, OUT, N: tl.constexpr):
    r = tl.arange(0, N)
    x = tl.load(X + r)
    y = tl.load(Y + r)
    tl.store(OUT + r, tl.map_elementwise(_scalar_select, x, y))


@pytest.mark.covers("tl.map_elementwise")
def test_map_elementwise(backend: str, rng: np.random.Generator) -> None:
    """map_elementwise applies a scalar @jit function (with control flow) to each element."""
    x = rng.integers(-9, 9, N).astype(np.int32)
    y = rng.integers(-9, 9, N).astype(np.int32)
    out = poisoned(N, "int32")
    buf = Buffers(backend)
    _map[(1,)](buf(x), buf(y), buf(out), N=N)
    buf.sync()
    np.testing.assert_array_equal(out, np.where(x > y, x - y, y * 2))


@triton.jit
def _dot_scaled(
    A,
    AS,
    B,
    BS,
    C,
    FA: tl.constexpr,
    FB: tl.constexpr,
    M: tl.constexpr,
    N: tl.constexpr,
    K: tl.constexpr,
    KA: tl.constexpr,
):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rka = tl.arange(0, KA)
    rk = tl.arange(0, K)
    rs = tl.arange(0, K // 32)
    a = tl.load(A + rm[:, None] * KA + rka[None, :])
    b = tl.load(B + rk[:, None] * N + rn[None, :])
    a_s = tl.load(AS + rm[:, None] * (K // 32) + rs[None, :])
    b_s = tl.load(BS + rn[:, None] * (K // 32) + rs[None, :])
    c = tl.dot_scaled(a, a_s, FA, b, b_s, FB)
    tl.store(C + rm[:, None] * N + rn[None, :], c)


E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6])


@pytest.mark.covers("tl.dot_scaled")
@pytest.mark.parametrize("fmt", ["e4m3", "e5m2", "e2m1"])
def test_dot_scaled(backend: str, fmt: str, rng: np.random.Generator) -> None:
    """MX dot: operands decoded from fp8/fp4, times 2^(e8m0 scale - 127) per 32 along K."""
    m, n, k = 16, 16, 64
    if fmt == "e2m1":
        codes = rng.integers(0, 16, (m, k)).astype(np.uint8)
        a = (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8)  # low nibble first
        a_val = E2M1[codes]
    else:
        npd = ml_dtypes.float8_e4m3fn if fmt == "e4m3" else ml_dtypes.float8_e5m2
        a = rng.uniform(-4, 4, (m, k)).astype(np.float32).astype(npd)
        a_val = a.astype(np.float64)
    b = rng.uniform(-4, 4, (k, n)).astype(np.float32).astype(ml_dtypes.float8_e5m2)
    a_s = rng.integers(120, 134, (m, k // 32)).astype(np.uint8)
    b_s = rng.integers(120, 134, (n, k // 32)).astype(np.uint8)
    c = poisoned((m, n), "float32")
    buf = Buffers(backend)
    _dot_scaled[(1,)](
        buf(a), buf(a_s), buf(b), buf(b_s), buf(c), FA=fmt, FB="e5m2", M=m, N=n, K=k, KA=a.shape[1]
    )
    buf.sync()
    sa = np.repeat(2.0 ** (a_s.astype(np.float64) - 127), 32, axis=1)
    sb = np.repeat(2.0 ** (b_s.astype(np.float64) - 127), 32, axis=1).T
    aa, bb = a_val * sa, b.astype(np.float64) * sb
    ref = aa @ bb
    bound = k * 2.0**-23 * (np.abs(aa) @ np.abs(bb)) + 1e-30
    assert (np.abs(c - ref) <= bound).all(), float(np.abs(c - ref).max())


@triton.jit
def _fp8_flavours(X, E4B8, E5B16, N: tl.constexpr):
    r = tl.arange(0, N)
    x = tl.load(X + r)
    tl.store(E4B8 + r, x.to(tl.float8e4b8).to(tl.float32))
    tl.store(E5B16 + r, x.to(tl.float8e5b16).to(tl.float32))


@pytest.mark.covers("tl.float8e4b8", "tl.float8e5b16")
def test_fp8_fnuz_flavours(backend: str, rng: np.random.Generator) -> None:
    """fp8 e4m3 bias 8 and e5m2 bias 16 (AMD's fnuz types): round-trip through fp32."""
    x = rng.uniform(-100, 100, N).astype(np.float32)
    a, b = poisoned(N, "float32"), poisoned(N, "float32")
    buf = Buffers(backend)
    _fp8_flavours[(1,)](buf(x), buf(a), buf(b), N=N)
    buf.sync()
    assert_bits_equal(a, x.astype(ml_dtypes.float8_e4m3fnuz).astype(np.float32), "e4b8")
    assert_bits_equal(b, x.astype(ml_dtypes.float8_e5m2fnuz).astype(np.float32), "e5b16")


@pytest.mark.covers(
    "tl.str_to_ty",
    "tl.TRITON_MAX_TENSOR_NUMEL",
    "tl.void",
    "tl.const",
    "tl.pi32_t",
    "tl.tuple_type",
    "tl.constexpr_type",
)
def test_host_side_names() -> None:
    """Names used outside kernels: type strings, the tile size limit, void, const."""
    assert tl.str_to_ty("fp32") == tl.float32
    assert tl.str_to_ty("*fp16").element_ty == tl.float16
    assert tl.str_to_ty("i64") == tl.int64
    assert int(getattr(tl.TRITON_MAX_TENSOR_NUMEL, "value", tl.TRITON_MAX_TENSOR_NUMEL)) >= 2**17
    assert tl.void != tl.int32
    assert tl.const is not None
    assert tl.pi32_t == tl.pointer_type(tl.int32)
    assert isinstance(tl.tuple_type, type) and isinstance(tl.constexpr_type, type)


@triton.jit
def _fp8_e4b15(X, BITS, BACK, N: tl.constexpr):
    r = tl.arange(0, N)
    x = tl.load(X + r)
    q = x.to(tl.float8e4b15)
    tl.store(BITS + r, q.to(tl.uint8, bitcast=True))
    tl.store(BACK + r, q.to(tl.float32))


@pytest.mark.covers("tl.float8e4b15")
def test_fp8_e4b15(backend: str, rng: np.random.Generator) -> None:
    """fp8e4b15 is e4m3fn with exponent bias 15 (max 1.75): e4m3fn bits of x * 2^8."""
    x = rng.uniform(-1.7, 1.7, N).astype(np.float32)
    bits, back = poisoned(N, "uint8"), poisoned(N, "float32")
    buf = Buffers(backend)
    _fp8_e4b15[(1,)](buf(x), buf(bits), buf(back), N=N)
    buf.sync()
    ref = (x * np.float32(256)).astype(ml_dtypes.float8_e4m3fn)
    np.testing.assert_array_equal(bits, ref.view(np.uint8))
    np.testing.assert_array_equal(back, ref.astype(np.float32) / np.float32(256))
