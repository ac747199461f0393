"""``tl.dot`` (issue 4: dot): input dtype pairs, out_dtype, input_precision, acc=, 3-D batches.

Errors are bounded relative to ``|a| @ |b|`` (the natural scale of a dot product's rounding
error), computed in float64; integer dots are exact.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

from ._helpers import NP_DTYPES, Buffers, poisoned

M, N, K = 16, 32, 16


@triton.jit
def _dot(
    A,
    B,
    C,
    ACC,
    OUT_DTYPE: tl.constexpr,
    PRECISION: tl.constexpr,
    M: tl.constexpr,
    N: tl.constexpr,
    K: tl.constexpr,
):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(A + rm[:, None] * K + rk[None, :])
    b = tl.load(B + rk[:, None] * N + rn[None, :])
    c = tl.dot(a, b, out_dtype=OUT_DTYPE, input_precision=PRECISION)
    tl.static_assert(c.dtype == OUT_DTYPE)
    tl.store(C + rm[:, None] * N + rn[None, :], c)
    acc = tl.load(ACC + rm[:, None] * N + rn[None, :])
    d = tl.dot(a, b, acc=acc, out_dtype=OUT_DTYPE, input_precision=PRECISION)
    tl.store(C + M * N + rm[:, None] * N + rn[None, :], d)
    e = tl.dot(a, b, acc, input_precision=PRECISION, out_dtype=OUT_DTYPE)
    tl.store(C + 2 * M * N + rm[:, None] * N + rn[None, :], e)


# (input dtype, out_dtype, input_precision, relative error bound per K)
CASES = [
    ("float32", "float32", "ieee", 2.0**-23),
    ("float32", "float32", "tf32", 2.0**-10),
    ("float32", "float32", "tf32x3", 2.0**-20),
    ("float16", "float32", None, 2.0**-23),
    ("float16", "float16", None, 2.0**-10),
    ("bfloat16", "float32", None, 2.0**-23),
    ("float64", "float64", None, 2.0**-52),
    ("int8", "int32", None, 0.0),
    ("float8e4nv", "float32", None, 2.0**-23),
    ("float8e5", "float32", None, 2.0**-23),
]


def _inputs(rng: np.random.Generator, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    if dtype == "int8":
        return rng.integers(-128, 128, shape).astype(np.int8)
    x = rng.uniform(-2, 2, shape)
    x[np.abs(x) < 1e-2] = 0.5
    return x.astype(np.float32).astype(NP_DTYPES[dtype])


@pytest.mark.covers("tl.dot", "input_precision", "out_dtype")
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def test_dot(
    backend: str, case: tuple[str, str, str | None, float], rng: np.random.Generator
) -> None:
    """C = A @ B, C = A @ B + acc (keyword and positional acc), in out_dtype."""
    dtype, out_dtype, precision, eps = case
    a = _inputs(rng, dtype, (M, K))
    b = _inputs(rng, dtype, (K, N))
    acc = (
        rng.integers(-1000, 1000, (M, N)) if out_dtype == "int32" else rng.uniform(-4, 4, (M, N))
    ).astype(NP_DTYPES[out_dtype])
    c = poisoned(3 * M * N, out_dtype)
    buf = Buffers(backend)
    _dot[(1,)](
        buf(a),
        buf(b),
        buf(c),
        buf(acc),
        OUT_DTYPE=getattr(tl, out_dtype),
        PRECISION=precision,
        M=M,
        N=N,
        K=K,
    )
    buf.sync()
    wa, wb = a.astype(np.float64), b.astype(np.float64)
    ref = wa @ wb
    scale = np.abs(wa) @ np.abs(wb)
    acc64 = acc.astype(np.float64)
    got = c.reshape(3, M, N).astype(np.float64)
    if out_dtype == "int32":
        np.testing.assert_array_equal(got[0], ref)
        np.testing.assert_array_equal(got[1], ref + acc64)
        np.testing.assert_array_equal(got[2], ref + acc64)
        return
    out_eps = float(np.finfo(NP_DTYPES[out_dtype]).eps)
    bound = K * eps * scale + out_eps * (np.abs(ref) + np.abs(acc64))
    for i, r in enumerate((ref, ref + acc64, ref + acc64)):
        err = np.abs(got[i] - r)
        assert (err <= bound + 1e-300).all(), (i, float((err / (bound + 1e-30)).max()))


@triton.jit
def _batched(A, B, C, BATCH: tl.constexpr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rb = tl.arange(0, BATCH)
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(A + rb[:, None, None] * M * K + rm[None, :, None] * K + rk[None, None, :])
    b = tl.load(B + rb[:, None, None] * K * N + rk[None, :, None] * N + rn[None, None, :])
    c = tl.dot(a, b, input_precision="ieee")
    tl.static_assert(len(c.shape) == 3)
    tl.store(C + rb[:, None, None] * M * N + rm[None, :, None] * N + rn[None, None, :], c)


@pytest.mark.covers("tl.dot")
def test_batched_dot(backend: str, rng: np.random.Generator) -> None:
    """3-D ``tl.dot``: a batch of independent matrix products."""
    batch = 2
    a = rng.uniform(-2, 2, (batch, M, K)).astype(np.float32)
    b = rng.uniform(-2, 2, (batch, K, N)).astype(np.float32)
    c = poisoned((batch, M, N), "float32")
    buf = Buffers(backend)
    _batched[(1,)](buf(a), buf(b), buf(c), BATCH=batch, M=M, N=N, K=K)
    buf.sync()
    wa, wb = a.astype(np.float64), b.astype(np.float64)
    bound = K * 2.0**-23 * (np.abs(wa) @ np.abs(wb)) + 1e-30
    assert (np.abs(c - wa @ wb) <= bound).all()


@triton.jit
def _dot_loop(A, B, C, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr, BK: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, BK)
    acc = tl.zeros((M, N), dtype=tl.float32)
    for k in range(0, K, BK):
        a = tl.load(A + rm[:, None] * K + (k + rk)[None, :])
        b = tl.load(B + (k + rk)[:, None] * N + rn[None, :])
        acc = tl.dot(a, b, acc)
    tl.store(C + rm[:, None] * N + rn[None, :], acc.to(tl.float16))


@pytest.mark.covers("tl.dot")
def test_dot_k_loop_fp16(backend: str, rng: np.random.Generator) -> None:
    """The matmul pattern: fp16 tiles accumulated over a K loop in fp32, stored as fp16."""
    k = 64
    a = rng.uniform(-1, 1, (M, k)).astype(np.float16)
    b = rng.uniform(-1, 1, (k, N)).astype(np.float16)
    c = poisoned((M, N), "float16")
    buf = Buffers(backend)
    _dot_loop[(1,)](buf(a), buf(b), buf(c), M=M, N=N, K=k, BK=16)
    buf.sync()
    ref = a.astype(np.float64) @ b.astype(np.float64)
    bound = k * 2.0**-23 * (np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)))
    assert (np.abs(c.astype(np.float64) - ref) <= bound + np.abs(ref) * 2.0**-11 + 1e-7).all()


@triton.jit
def _dot_layouts(A, B, C, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(A + rm[:, None] * K + rk[None, :])
    bt = tl.load(B + rn[:, None] * K + rk[None, :])  # B stored as (N, K)
    c1 = tl.dot(a, tl.trans(bt), allow_tf32=False)  # the attention pattern q @ k.T
    tl.store(C + rm[:, None] * N + rn[None, :], c1)
    c2 = tl.dot(a, bt.T, max_num_imprecise_acc=0, input_precision="ieee")
    tl.store(C + M * N + rm[:, None] * N + rn[None, :], c2)
    at = tl.permute(a, (1, 0))  # (K, M): dot(at.T, ...) again
    c3 = tl.dot(tl.trans(at), tl.permute(bt, 1, 0), input_precision="ieee")
    tl.store(C + 2 * M * N + rm[:, None] * N + rn[None, :], c3)


@pytest.mark.covers("tl.dot", "tl.trans", "allow_tf32", "max_num_imprecise_acc")
def test_dot_transposed_operands(backend: str, rng: np.random.Generator) -> None:
    """Dots of transposed/permuted operands, with the legacy allow_tf32 and
    max_num_imprecise_acc keywords accepted."""
    a = rng.uniform(-1, 1, (M, K)).astype(np.float16)
    bt = rng.uniform(-1, 1, (N, K)).astype(np.float16)
    c = poisoned(3 * M * N, "float32")
    buf = Buffers(backend)
    _dot_layouts[(1,)](buf(a), buf(bt), buf(c), M=M, N=N, K=K)
    buf.sync()
    ref = a.astype(np.float64) @ bt.astype(np.float64).T
    bound = K * 2.0**-23 * (np.abs(a.astype(np.float64)) @ np.abs(bt.astype(np.float64)).T)
    for i in range(3):
        err = np.abs(c[i * M * N : (i + 1) * M * N].reshape(M, N) - ref)
        assert (err <= bound + 1e-30).all(), i


@triton.jit
def _dot_mixed(A, B, C, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(A + rm[:, None] * K + rk[None, :])
    b = tl.load(B + rk[:, None] * N + rn[None, :])
    tl.store(C + rm[:, None] * N + rn[None, :], tl.dot(a, b))


@pytest.mark.covers("tl.dot")
@pytest.mark.parametrize(
    "pair", [("float8e4nv", "float8e5"), ("float8e5", "float8e4nv")], ids=lambda p: f"{p[0]}-{p[1]}"
)
def test_dot_mixed_fp8(backend: str, pair: tuple[str, str], rng: np.random.Generator) -> None:
    """fp8 e4m3 × e5m2 (either order) accumulates exactly enough in fp32."""
    a = _inputs(rng, pair[0], (M, K))
    b = _inputs(rng, pair[1], (K, N))
    c = poisoned((M, N), "float32")
    buf = Buffers(backend)
    _dot_mixed[(1,)](buf(a), buf(b), buf(c), M=M, N=N, K=K)
    buf.sync()
    wa, wb = a.astype(np.float64), b.astype(np.float64)
    bound = K * 2.0**-23 * (np.abs(wa) @ np.abs(wb)) + 1e-30
    assert (np.abs(c - wa @ wb) <= bound).all()


@triton.jit
def _dot_typed(A, B, C, ACC_DTYPE: tl.constexpr, N: tl.constexpr):
    r = tl.arange(0, N)
    a = tl.load(A + r[:, None] * N + r[None, :])
    b = tl.load(B + r[:, None] * N + r[None, :])
    acc = tl.full((N, N), 1, ACC_DTYPE)
    tl.store(C + r[:, None] * N + r[None, :], tl.dot(a, b, acc))


@pytest.mark.parametrize(
    ("a_dtype", "b_dtype", "acc_dtype", "pattern"),
    [
        ("int8", "int8", "float32", r"acc of type fp32 does not match the product type int32"),
        ("float16", "float16", "int32", r"acc of type int32 does not match the product type fp32"),
        ("int16", "int16", "int32", r"integer operands must both be 8-bit"),
        ("float16", "float32", "float32", r"operands must have the same type"),
    ],
)
def test_dot_type_errors(
    backend: str, a_dtype: str, b_dtype: str, acc_dtype: str, pattern: str
) -> None:
    """Operand and accumulator types Triton rejects are a TypeError in both engines (the
    interpreter used to truncate a float accumulator of an int8 dot to an integer)."""
    n = 16
    buf = Buffers(backend)
    a = buf(np.ones((n, n), NP_DTYPES[a_dtype]))
    b = buf(np.ones((n, n), NP_DTYPES[b_dtype]))
    c = buf(np.zeros((n, n), NP_DTYPES[acc_dtype]))
    with pytest.raises(triton.TritiumError) as info:
        _dot_typed[(1,)](a, b, c, ACC_DTYPE=getattr(tl, acc_dtype), N=n)
    assert isinstance(info.value.__cause__, TypeError), repr(info.value.__cause__)
    assert re.search(pattern, str(info.value.__cause__)), repr(info.value.__cause__)
