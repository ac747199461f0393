"""Loads and stores (issue 4: memory): masks with ``other``, modifiers, scalars, strided and
indirect access, hints, block pointers and tensor descriptors."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.runtime.tensor_descriptor import TensorDescriptor

from ._helpers import Buffers, poisoned, random_array

N = 32


@triton.jit
def _masked(X, Y, n, N: tl.constexpr):
    r = tl.arange(0, N)
    m = r < n
    a = tl.load(X + r, mask=m, other=-7.5)
    tl.store(Y + r, a)
    b = tl.load(X + r, mask=m, other=0.0, cache_modifier=".cg", eviction_policy="evict_last")
    tl.store(Y + N + r, b * 2, mask=(r % 2 == 0) & m, cache_modifier=".cs")
    c = tl.load(X + r, mask=m, volatile=True, cache_modifier=".ca", eviction_policy="evict_first")
    tl.store(Y + 2 * N + r, c + 1, mask=m, eviction_policy="evict_first")
    d = tl.load(X + r, m, 1.0)  # positional mask and other
    tl.store(Y + 3 * N + r, d, m & (r > 2))


@pytest.mark.covers("tl.load", "tl.store", "cache_modifier", "eviction_policy", "volatile")
@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
def test_masked_load_store(backend: str, dtype: str, rng: np.random.Generator) -> None:
    """Masked-off lanes read ``other`` and are not written; modifiers are accepted."""
    n = 21
    x = random_array(
        rng, N, dtype, low=-50 if dtype == "int8" else None, high=50 if dtype == "int8" else None
    )
    if dtype == "int8":
        pytest.skip("other=-7.5 is a float for an int8 load: covered by float dtypes")
    y = poisoned(4 * N, dtype)
    before = y.copy()
    buf = Buffers(backend)
    _masked[(1,)](buf(x), buf(y), n, N=N)
    buf.sync()
    r = np.arange(N)
    m = r < n
    np.testing.assert_array_equal(y[:N], np.where(m, x, x.dtype.type(-7.5)))
    w = (r % 2 == 0) & m
    np.testing.assert_array_equal(y[N : 2 * N][w], (x * x.dtype.type(2))[w])
    np.testing.assert_array_equal(
        y[N : 2 * N][~w].view(np.uint8), before[N : 2 * N][~w].view(np.uint8)
    )
    np.testing.assert_array_equal(y[2 * N : 3 * N][m], (x + x.dtype.type(1))[m])
    np.testing.assert_array_equal(
        y[2 * N : 3 * N][~m].view(np.uint8), before[2 * N : 3 * N][~m].view(np.uint8)
    )
    w = m & (r > 2)
    np.testing.assert_array_equal(y[3 * N :][w], x[w])
    np.testing.assert_array_equal(y[3 * N :][~w].view(np.uint8), before[3 * N :][~w].view(np.uint8))


@triton.jit
def _load_with_cache(X, Y, CACHE: tl.constexpr, N: tl.constexpr):
    r = tl.arange(0, N)
    tl.store(Y + r, tl.load(X + r, cache_modifier=CACHE) * 3)


@pytest.mark.covers("cache_modifier")
@pytest.mark.parametrize("cache", ["", ".ca", ".cg", ".cs", ".cv"])
def test_load_cache_modifiers(backend: str, cache: str, rng: np.random.Generator) -> None:
    """Every load cache modifier Triton accepts (``.cs``: streaming, evict first) is a hint:
    the values are the same (Triton's ``test_load_cache_modifier``)."""
    x = random_array(rng, N, "float32")
    y = poisoned(N, "float32")
    buf = Buffers(backend)
    _load_with_cache[(1,)](buf(x), buf(y), CACHE=cache, N=N)
    buf.sync()
    np.testing.assert_array_equal(y, x * np.float32(3))


def test_load_cache_modifier_of_a_store_is_an_error() -> None:
    x = np.zeros(N, np.float32)
    with pytest.raises(Exception, match="cache_modifier must be one of"):
        _load_with_cache[(1,)](x, x.copy(), CACHE=".wb", N=N)


@triton.jit
def _scalars(X, Y, i, v):
    a = tl.load(X + i)
    tl.static_assert(a.shape == () or a.shape == [])
    tl.store(Y, a * 2)
    tl.store(Y + 1, v)
    tl.store(Y + 2, tl.load(X) + tl.load(X + 1))
    p = X + 3
    tl.store(Y + 3, tl.load(p, mask=i > 100, other=-1.0))
    tl.store(Y + 4, 5.0, mask=i < 0)


@pytest.mark.covers("tl.load", "tl.store")
def test_scalar_load_store(backend: str, rng: np.random.Generator) -> None:
    """Loads/stores through scalar pointers, with scalar masks and Python-float values."""
    x = rng.standard_normal(8).astype(np.float32)
    y = poisoned(5, "float32")
    before = y.copy()
    buf = Buffers(backend)
    _scalars[(1,)](buf(x), buf(y), 5, 3.25)
    buf.sync()
    np.testing.assert_array_equal(y[:4], np.array([x[5] * 2, 3.25, x[0] + x[1], -1.0], np.float32))
    assert y[4].view(np.uint32) == before[4].view(np.uint32)


@triton.jit
def _strided_indirect(X, IDX, Y, stride, M: tl.constexpr, N: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    # strided 2-D load: every `stride`-th row of X
    x = tl.load(X + (rm[:, None] * stride) * N + rn[None, :])
    idx = tl.load(IDX + rn)
    idx = tl.multiple_of(idx, 1)
    g = tl.load(X + idx)  # gather
    tl.store(Y + rm[:, None] * N + rn[None, :], x)
    tl.store(Y + M * N + idx, g * 3)  # scatter to a permutation


@pytest.mark.covers("tl.load", "tl.store", "tl.multiple_of")
def test_strided_and_indirect(backend: str, rng: np.random.Generator) -> None:
    """Strided 2-D loads; gather through loaded indices; scatter to a permutation."""
    m, n, stride = 4, 16, 3
    x = rng.standard_normal(m * stride * n).astype(np.float32)
    idx = rng.permutation(n).astype(np.int32)
    y = poisoned(m * n + n, "float32")
    buf = Buffers(backend)
    _strided_indirect[(1,)](buf(x), buf(idx), buf(y), stride, M=m, N=n)
    buf.sync()
    np.testing.assert_array_equal(y[: m * n].reshape(m, n), x.reshape(m * stride, n)[::stride])
    ref = np.empty(n, np.float32)
    ref[idx] = x[idx] * 3
    np.testing.assert_array_equal(y[m * n :], ref)


@triton.jit
def _hints(X, Y, n, N: tl.constexpr):
    tl.assume(n > 0)
    pid = tl.program_id(0)
    r = tl.max_contiguous(tl.multiple_of(pid * N + tl.arange(0, N), N), N)
    c = tl.max_constancy(r // N, N)
    x = tl.load(X + r, mask=r < n)
    tl.store(Y + r, x + c.to(tl.float32), mask=r < n)


@pytest.mark.covers("tl.multiple_of", "tl.max_contiguous", "tl.max_constancy", "tl.assume")
def test_hints(backend: str, rng: np.random.Generator) -> None:
    """Hints compile and do not change results."""
    n = 3 * N - 5
    x = rng.standard_normal(n).astype(np.float32)
    y = poisoned(n, "float32")
    buf = Buffers(backend)
    _hints[(3,)](buf(x), buf(y), n, N=N)
    buf.sync()
    np.testing.assert_array_equal(y, x + (np.arange(n) // N).astype(np.float32))


@triton.jit
def _block_ptr(X, Y, Z, M, K, stride_m, BM: tl.constexpr, BK: tl.constexpr):
    pid = tl.program_id(0)
    src = tl.make_block_ptr(
        base=X,
        shape=(M, K),
        strides=(stride_m, 1),
        offsets=(pid * BM, 0),
        block_shape=(BM, BK),
        order=(1, 0),
    )
    dst = tl.make_block_ptr(Y, (M, K), (stride_m, 1), (pid * BM, 0), (BM, BK), (1, 0))
    acc = tl.zeros((BM,), dtype=tl.float32)
    for _k in range(0, tl.cdiv(K, BK)):
        a = tl.load(src, boundary_check=(0, 1), padding_option="zero")
        tl.store(dst, a * 2, boundary_check=(0, 1))
        acc += tl.sum(a, axis=1)
        src = tl.advance(src, (0, BK))
        dst = tl.advance(dst, [0, BK])
    rm = pid * BM + tl.arange(0, BM)
    tl.store(Z + rm, acc, mask=rm < M)
    nanp = tl.make_block_ptr(X, (M, K), (stride_m, 1), (pid * BM, K - 2), (BM, BK), (1, 0))
    v = tl.load(nanp, boundary_check=(0, 1), padding_option="nan")
    tl.store(Z + M + rm, tl.sum(tl.where(v != v, 1, 0), axis=1), mask=rm < M)


@pytest.mark.covers("tl.make_block_ptr", "tl.advance", "boundary_check", "padding_option")
def test_block_pointers(backend: str, rng: np.random.Generator) -> None:
    """Block pointer loads/stores with boundary checks, zero and NaN padding, advance."""
    m, k, bm, bk = 10, 20, 8, 8
    x = rng.standard_normal((m, k)).astype(np.float32)
    y = poisoned((m, k), "float32")
    z = poisoned(2 * m, "float32")
    buf = Buffers(backend)
    _block_ptr[(2,)](buf(x), buf(y), buf(z), m, k, k, BM=bm, BK=bk)
    buf.sync()
    np.testing.assert_array_equal(y, x * 2)
    np.testing.assert_allclose(z[:m], x.astype(np.float64).sum(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(z[m:], np.full(m, bk - 2, np.float32))


@triton.jit
def _descriptors(X, Y, M, K, BM: tl.constexpr, BK: tl.constexpr):
    pid = tl.program_id(0)
    src = tl.make_tensor_descriptor(X, shape=[M, K], strides=[K, 1], block_shape=[BM, BK])
    dst = tl.make_tensor_descriptor(Y, [M, K], [K, 1], [BM, BK])
    for k in range(0, tl.cdiv(K, BK)):
        a = src.load([pid * BM, k * BK])
        dst.store([pid * BM, k * BK], a + 1)


@pytest.mark.covers("tl.make_tensor_descriptor", "tl.tensor_descriptor")
def test_tensor_descriptors(backend: str, rng: np.random.Generator) -> None:
    """In-kernel tensor descriptors: block loads pad out-of-bounds, stores are clipped."""
    m, k, bm, bk = 10, 20, 8, 8
    x = rng.standard_normal((m, k)).astype(np.float32)
    y = poisoned((m, k), "float32")
    buf = Buffers(backend)
    _descriptors[(2,)](buf(x), buf(y), m, k, BM=bm, BK=bk)
    buf.sync()
    np.testing.assert_array_equal(y, x + 1)


@triton.jit
def _host_descriptor(desc_in, desc_out, BM: tl.constexpr, BK: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_k = tl.program_id(1)
    a = desc_in.load([pid_m * BM, pid_k * BK])
    desc_out.store([pid_m * BM, pid_k * BK], a * 3)
    b = tl.load_tensor_descriptor(desc_in, [pid_m * BM, pid_k * BK])
    tl.store_tensor_descriptor(desc_out, [pid_m * BM, pid_k * BK], a * 3 + (b - a))


@pytest.mark.covers("TensorDescriptor", "tl.load_tensor_descriptor", "tl.store_tensor_descriptor")
def test_host_tensor_descriptor(backend: str, rng: np.random.Generator) -> None:
    """``TensorDescriptor.from_tensor`` arguments, loaded and stored block by block."""
    m, k, bm, bk = 12, 24, 8, 16
    x = rng.standard_normal((m, k)).astype(np.float32)
    y = poisoned((m, k), "float32")
    buf = Buffers(backend)
    din = TensorDescriptor.from_tensor(buf(x), [bm, bk])
    dout = TensorDescriptor.from_tensor(buf(y), [bm, bk])
    _host_descriptor[(2, 2)](din, dout, BM=bm, BK=bk)
    buf.sync()
    np.testing.assert_array_equal(y, x * 3)


@triton.jit
def _store_casts(X, IN, B, F16, I8, BOUT, N: tl.constexpr):
    r = tl.arange(0, N)
    x = tl.load(X + r)
    i = tl.load(IN + r)
    b = tl.load(B + r)
    tl.store(F16 + r, x)  # fp32 value into an fp16 pointer: rounded
    tl.store(I8 + r, i)  # int32 value into an int8 pointer: wrapped
    tl.store(BOUT + r, b ^ (r % 2 == 0))  # bool pointers load/store int1


@pytest.mark.covers("tl.store", "tl.load", "tl.int1")
def test_store_casts_and_bool_pointers(backend: str, rng: np.random.Generator) -> None:
    """A store converts the value to the pointer's element type; bool arrays are int1."""
    x = rng.uniform(-1000, 1000, N).astype(np.float32)
    i = rng.integers(-100000, 100000, N).astype(np.int32)
    b = rng.random(N) < 0.5
    f16, i8, bout = poisoned(N, "float16"), poisoned(N, "int8"), poisoned(N, "int1")
    buf = Buffers(backend)
    _store_casts[(1,)](buf(x), buf(i), buf(b), buf(f16), buf(i8), buf(bout), N=N)
    buf.sync()
    np.testing.assert_array_equal(f16, x.astype(np.float16))
    np.testing.assert_array_equal(i8, i.astype(np.int8))
    np.testing.assert_array_equal(bout, b ^ (np.arange(N) % 2 == 0))


@triton.jit
def _pointer_tricks(X, Y, OUT, n_rows, n_cols, BR: tl.constexpr, BC: tl.constexpr):
    rr = tl.arange(0, BR)
    rc = tl.arange(0, BC)
    # a 2-D mask built by broadcasting a row mask and a column mask, int `other`
    m = (rr[:, None] < n_rows) & (rc[None, :] < n_cols)
    x = tl.load(X + rr[:, None] * n_cols + rc[None, :], mask=m, other=-1)
    tl.store(OUT + rr[:, None] * BC + rc[None, :], x)
    # pointers chosen per lane with tl.where, and a pointer carried through a loop
    p = tl.where(rc % 2 == 0, X + rc, Y + rc)
    tl.store(OUT + BR * BC + rc, tl.load(p))
    acc = tl.zeros((BC,), tl.int32)
    q = X
    for _ in range(n_rows):
        acc += tl.load(q + rc, mask=rc < n_cols, other=0)
        q += n_cols
    tl.store(OUT + BR * BC + BC + rc, acc)


@pytest.mark.covers("tl.load", "tl.store", "tl.where")
def test_masks_and_pointer_arithmetic(backend: str, rng: np.random.Generator) -> None:
    """Broadcast 2-D masks with an int ``other``; per-lane pointer choice; loop-carried
    pointers incremented with ``+=``."""
    rows, cols, br, bc = 5, 6, 8, 8
    x = rng.integers(-50, 50, rows * cols + bc).astype(np.int32)
    y = rng.integers(-50, 50, bc).astype(np.int32)
    out = poisoned(br * bc + 2 * bc, "int32")
    buf = Buffers(backend)
    _pointer_tricks[(1,)](buf(x), buf(y), buf(out), rows, cols, BR=br, BC=bc)
    buf.sync()
    ref = np.full((br, bc), -1, np.int32)
    ref[:rows, :cols] = x[: rows * cols].reshape(rows, cols)
    np.testing.assert_array_equal(out[: br * bc].reshape(br, bc), ref)
    rc = np.arange(bc)
    np.testing.assert_array_equal(out[br * bc : br * bc + bc], np.where(rc % 2 == 0, x[rc], y))
    s = x[: rows * cols].reshape(rows, cols).sum(0)
    np.testing.assert_array_equal(out[br * bc + bc :], np.concatenate([s, [0] * (bc - cols)]))


@triton.jit
def _offset_types(X, OUT, N: tl.constexpr):
    r = tl.arange(0, N)
    tl.store(OUT + r, tl.load(X + r.to(tl.int64)))
    tl.store(OUT + N + r.to(tl.uint8), tl.load(X + r.to(tl.int16) * 2))
    end = X + 2 * N - 1
    tl.store(OUT + 2 * N + r, tl.load(end - r))  # pointer minus a tile: reversed
    p = OUT + 3 * N
    tl.store(p + r.to(tl.uint32), tl.load((X + N) + (r - N // 2) * 1))


@pytest.mark.covers("tl.load", "tl.store", "pointer arithmetic")
def test_pointer_offset_types(backend: str, rng: np.random.Generator) -> None:
    """Offsets of every integer type, negative offsets and pointer - tile."""
    n = 16
    x = rng.standard_normal(2 * n).astype(np.float32)
    out = poisoned(4 * n, "float32")
    buf = Buffers(backend)
    _offset_types[(1,)](buf(x), buf(out), N=n)
    buf.sync()
    r = np.arange(n)
    np.testing.assert_array_equal(out[:n], x[:n])
    np.testing.assert_array_equal(out[n : 2 * n], x[2 * r])
    np.testing.assert_array_equal(out[2 * n : 3 * n], x[::-1][:n])
    np.testing.assert_array_equal(out[3 * n :], x[n + r - n // 2])


@triton.jit
def _block_ptr_col_major(X, Y, M, K, BM: tl.constexpr, BK: tl.constexpr):
    # X is an (M, K) matrix stored column-major: element (m, k) at m + k * M
    pid = tl.program_id(0)
    src = tl.make_block_ptr(X, (M, K), (1, M), (pid * BM, 0), (BM, BK), order=(0, 1))
    dst = tl.make_block_ptr(Y, (K, M), (M, 1), (0, pid * BM), (BK, BM), order=(1, 0))
    a = tl.load(src, boundary_check=(0,))
    tl.store(dst, tl.trans(a) + 1.0, boundary_check=(1,))


@pytest.mark.covers("tl.make_block_ptr", "boundary_check")
def test_block_pointer_column_major(backend: str, rng: np.random.Generator) -> None:
    """A column-major block pointer (order=(0, 1)) with a one-dimension boundary check."""
    m, k, bm = 12, 8, 8
    x = rng.standard_normal((k, m)).astype(np.float32)  # column-major (M, K) = row-major (K, M)
    y = poisoned((k, m), "float32")
    buf = Buffers(backend)
    _block_ptr_col_major[(2,)](buf(x), buf(y), m, k, BM=bm, BK=k)
    buf.sync()
    np.testing.assert_array_equal(y, x + 1)


@triton.jit
def _descriptor_3d(X, Y, A, B, C, BA: tl.constexpr, BB: tl.constexpr, BC: tl.constexpr):
    pid = tl.program_id(0)
    src = tl.make_tensor_descriptor(X, [A, B, C], [B * C, C, 1], [BA, BB, BC])
    dst = tl.make_tensor_descriptor(Y, [A, B, C], [B * C, C, 1], [BA, BB, BC])
    v = src.load([pid * BA, 0, 0])
    dst.store([pid * BA, 0, 0], v * 2)


@pytest.mark.covers("tl.make_tensor_descriptor")
def test_tensor_descriptor_3d(backend: str, rng: np.random.Generator) -> None:
    """A 3-D tensor descriptor with a partial last block along the first dimension."""
    a, b, c = 5, 4, 8
    x = rng.standard_normal((a, b, c)).astype(np.float32)
    y = poisoned((a, b, c), "float32")
    buf = Buffers(backend)
    _descriptor_3d[(3,)](buf(x), buf(y), a, b, c, BA=2, BB=b, BC=c)
    buf.sync()
    np.testing.assert_array_equal(y, x * 2)
