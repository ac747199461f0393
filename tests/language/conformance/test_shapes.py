"""Tile construction and shape manipulation (issue 4: shapes).

One kernel builds every shape transformation of a loaded ``M x N`` tile and writes each
result flattened, row-major; the reference does the same with NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

from ._helpers import Buffers, poisoned

M, N = 4, 8


@triton.jit
def _construct(OUT, V, N: tl.constexpr):
    r = tl.arange(0, N)
    tl.store(OUT + r, r)
    tl.store(OUT + N + r, tl.arange(3, N + 3) * 2)
    tl.store(OUT + 2 * N + r, tl.full((N,), 7, tl.int32))
    tl.store(OUT + 3 * N + r, tl.zeros([N], dtype=tl.int32) + V)
    z = tl.zeros_like(r)
    tl.static_assert(z.dtype == tl.int32)
    tl.store(OUT + 4 * N + r, z - 1)
    tl.store(
        OUT + 5 * N + r, tl.full([N], V, tl.int32) + tl.broadcast_to(tl.full((1,), 2, tl.int32), N)
    )


@pytest.mark.covers("tl.arange", "tl.full", "tl.zeros", "tl.zeros_like", "tl.broadcast_to")
def test_construction(backend: str) -> None:
    """arange (with an offset start), full, zeros, zeros_like, broadcast of a 1-element tile."""
    out = poisoned(6 * N, "int32")
    buf = Buffers(backend)
    _construct[(1,)](buf(out), 5, N=N)
    buf.sync()
    r = np.arange(N)
    np.testing.assert_array_equal(
        out.reshape(6, N),
        np.stack([r, (r + 3) * 2, np.full(N, 7), np.full(N, 5), np.full(N, -1), np.full(N, 7)]),
    )


@triton.jit
def _shapes(X, OUT, M: tl.constexpr, N: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    x = tl.load(X + rm[:, None] * N + rn[None, :])
    MN: tl.constexpr = M * N
    r = tl.arange(0, MN)
    # 0: trans, 1: permute, 2: reshape, 3: view (any order, compared as a multiset), 4: ravel
    tl.store(OUT + r, tl.reshape(tl.trans(x), MN))
    tl.store(OUT + MN + r, tl.reshape(tl.permute(x, (1, 0)), (MN,)))
    y = tl.reshape(x, (N, M))
    tl.store(OUT + 2 * MN + r, y.reshape(MN))
    tl.store(OUT + 3 * MN + r, tl.view(x, (MN,)))
    tl.store(OUT + 4 * MN + r, tl.ravel(x))
    # 5: expand_dims + broadcast_to + sum (outer product of rows/cols)
    col = tl.sum(x, axis=1)
    e = tl.expand_dims(col, 1)
    tl.static_assert(e.shape == (M, 1) or e.shape == [M, 1])
    b = tl.broadcast_to(e, (M, N)) + tl.expand_dims(tl.max(x, 0), 0)
    tl.store(OUT + 5 * MN + r, tl.reshape(b, MN))
    # 6: broadcast of two tiles with broadcast()
    p, q = tl.broadcast(col[:, None], rn[None, :].to(tl.float32))
    tl.store(OUT + 6 * MN + r, tl.reshape(p * q, MN))
    # 7: x.T and 3-D trans
    tl.store(OUT + 7 * MN + r, tl.reshape(x.T, MN))
    x3 = tl.reshape(x, (2, M // 2, N))
    t3 = tl.trans(x3, 2, 0, 1)
    tl.store(OUT + 8 * MN + r, tl.reshape(t3, MN))
    # 9: reshape with can_reorder (compared as a multiset)
    tl.store(OUT + 9 * MN + r, tl.reshape(x, MN, can_reorder=True))


@pytest.mark.covers(
    "tl.trans",
    "tl.permute",
    "tl.reshape",
    "tl.view",
    "tl.ravel",
    "tl.expand_dims",
    "tl.broadcast_to",
    "tl.broadcast",
    "tensor.T",
)
def test_shape_ops(backend: str, rng: np.random.Generator) -> None:
    """trans/permute (2-D and 3-D), reshape/view/ravel, expand_dims, broadcast, broadcast_to."""
    x = rng.standard_normal((M, N)).astype(np.float32)
    mn = M * N
    out = poisoned(10 * mn, "float32")
    buf = Buffers(backend)
    _shapes[(1,)](buf(x), buf(out), M=M, N=N)
    buf.sync()
    o = out.reshape(10, mn)
    np.testing.assert_array_equal(o[0], x.T.ravel())
    np.testing.assert_array_equal(o[1], x.T.ravel())
    np.testing.assert_array_equal(o[2], x.ravel())
    np.testing.assert_array_equal(np.sort(o[3]), np.sort(x.ravel()))
    np.testing.assert_array_equal(o[4], x.ravel())
    # Sums in fp32 may be ordered differently: allow N ulps of the sum of magnitudes.
    x64 = x.astype(np.float64)
    tol = N * 2.0**-23 * np.abs(x64).sum(1)[:, None]
    b = x64.sum(1)[:, None] + x64.max(0)[None, :]
    assert (np.abs(o[5].reshape(M, N) - b) <= tol + 2.0**-23 * np.abs(b)).all()
    c = x64.sum(1)[:, None] * np.arange(N)[None, :]
    assert (np.abs(o[6].reshape(M, N) - c) <= tol * np.arange(N)[None, :] + 1e-30).all()
    np.testing.assert_array_equal(o[7], x.T.ravel())
    np.testing.assert_array_equal(o[8], x.reshape(2, M // 2, N).transpose(2, 0, 1).ravel())
    np.testing.assert_array_equal(np.sort(o[9]), np.sort(x.ravel()))


@triton.jit
def _join_split(X, Y, OUT, N: tl.constexpr):
    rn = tl.arange(0, N)
    x = tl.load(X + rn)
    y = tl.load(Y + rn)
    j = tl.join(x, y)
    tl.static_assert(j.shape == (N, 2) or j.shape == [N, 2])
    N2: tl.constexpr = 2 * N
    r2 = tl.arange(0, N2)
    tl.store(OUT + r2, tl.reshape(j, N2))
    tl.store(OUT + N2 + r2, tl.interleave(x, y))
    tl.store(OUT + 2 * N2 + r2, tl.cat(x, y, can_reorder=True))
    a, b = tl.split(j)
    tl.store(OUT + 3 * N2 + rn, b)
    tl.store(OUT + 3 * N2 + N + rn, a)
    p, q = j.split()
    tl.store(OUT + 4 * N2 + rn, p - q)


@pytest.mark.covers("tl.join", "tl.split", "tl.interleave", "tl.cat")
def test_join_split_interleave_cat(backend: str, rng: np.random.Generator) -> None:
    """join adds a minor dim of 2, split undoes it, interleave alternates, cat concatenates."""
    x = rng.standard_normal(N).astype(np.float32)
    y = rng.standard_normal(N).astype(np.float32)
    out = poisoned(4 * 2 * N + N, "float32")
    buf = Buffers(backend)
    _join_split[(1,)](buf(x), buf(y), buf(out), N=N)
    buf.sync()
    inter = np.stack([x, y], 1).ravel()
    np.testing.assert_array_equal(out[: 2 * N], inter)
    np.testing.assert_array_equal(out[2 * N : 4 * N], inter)
    np.testing.assert_array_equal(np.sort(out[4 * N : 6 * N]), np.sort(np.concatenate([x, y])))
    np.testing.assert_array_equal(out[6 * N : 8 * N], np.concatenate([y, x]))
    np.testing.assert_array_equal(out[8 * N :], x - y)


@triton.jit
def _indexing(X, OUT, M: tl.constexpr, N: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    x = tl.load(X + rm[:, None] * N + rn[None, :])
    col = tl.sum(x, axis=1)
    c3 = col[:, None, None]
    tl.static_assert(len(c3.shape) == 3)
    y = x[None, :, :] + col[None, :, None]
    tl.static_assert(len(y.shape) == 3)
    MN: tl.constexpr = M * N
    r = tl.arange(0, MN)
    tl.store(OUT + r, tl.reshape(y, MN))
    z = x[:, None, :]
    tl.store(OUT + MN + r, tl.reshape(z, MN))


@pytest.mark.covers("tensor.__getitem__")
def test_indexing_none_and_slices(backend: str, rng: np.random.Generator) -> None:
    """``x[None, :]``, ``x[:, None, None]`` and full slices insert/keep dimensions."""
    x = rng.standard_normal((M, N)).astype(np.float32)
    out = poisoned(2 * M * N, "float32")
    buf = Buffers(backend)
    _indexing[(1,)](buf(x), buf(out), M=M, N=N)
    buf.sync()
    x64 = x.astype(np.float64)
    ref = x64 + x64.sum(1)[:, None]
    tol = N * 2.0**-23 * np.abs(x64).sum(1)[:, None] + 2.0**-23 * np.abs(ref)
    assert (np.abs(out[: M * N].reshape(M, N) - ref) <= tol).all()
    np.testing.assert_array_equal(out[M * N :], x.ravel())


@triton.jit
def _shapes_3d(X, OUT, A: tl.constexpr, B: tl.constexpr, C: tl.constexpr):
    ra = tl.arange(0, A)
    rb = tl.arange(0, B)
    rc = tl.arange(0, C)
    x = tl.load(X + ra[:, None, None] * B * C + rb[None, :, None] * C + rc[None, None, :])
    T: tl.constexpr = A * B * C
    r = tl.arange(0, T)
    tl.store(OUT + r, tl.reshape(tl.permute(x, (1, 2, 0)), T))
    tl.store(OUT + T + r, tl.reshape(tl.permute(x, 2, 1, 0), T))
    y = tl.reshape(x, (A * B, C))  # 3-D -> 2-D
    tl.store(OUT + 2 * T + r, tl.reshape(tl.trans(y), T))
    e = tl.expand_dims(y, (0, 2))  # tuple of axes
    tl.static_assert(len(e.shape) == 4)
    f = tl.expand_dims(y, -1)  # negative axis
    tl.static_assert(f.shape[2] == 1)
    g = tl.broadcast_to(f, (A * B, C, 2))
    lo, hi = tl.split(g)  # split a trailing dim of 2
    tl.store(OUT + 3 * T + r, tl.reshape(lo + hi, T))
    j = tl.join(y, y * 2)  # (A*B, C, 2)
    tl.store(OUT + 4 * T + tl.arange(0, 2 * T), tl.reshape(j, 2 * T))


@pytest.mark.covers(
    "tl.permute",
    "tl.reshape",
    "tl.trans",
    "tl.expand_dims",
    "tl.broadcast_to",
    "tl.split",
    "tl.join",
)
def test_shape_ops_3d(backend: str, rng: np.random.Generator) -> None:
    """3-D permutes, 3-D↔2-D reshapes, expand_dims with tuples and negative axes, 3-D
    broadcast_to, split of a broadcast trailing dimension, join of 2-D tiles."""
    a, b, c = 2, 4, 8
    x = rng.standard_normal((a, b, c)).astype(np.float32)
    t = a * b * c
    out = poisoned(6 * t, "float32")
    buf = Buffers(backend)
    _shapes_3d[(1,)](buf(x), buf(out), A=a, B=b, C=c)
    buf.sync()
    np.testing.assert_array_equal(out[:t], x.transpose(1, 2, 0).ravel())
    np.testing.assert_array_equal(out[t : 2 * t], x.transpose(2, 1, 0).ravel())
    y = x.reshape(a * b, c)
    np.testing.assert_array_equal(out[2 * t : 3 * t], y.T.ravel())
    np.testing.assert_array_equal(out[3 * t : 4 * t], (y * 2).ravel())
    np.testing.assert_array_equal(out[4 * t :], np.stack([y, y * 2], -1).ravel())
