"""Atomic read-modify-write operations (issue 4: atomics).

``P`` programs hit the same ``N`` locations at once; final values and the returned old
values are checked in ways that hold for every interleaving.
"""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

from ._helpers import NP_DTYPES, Buffers, poisoned

N, P = 16, 6


@triton.jit
def _atomics(
    ADD,
    OADD,
    MX,
    MN,
    V,
    OXCH,
    XCH,
    CAS,
    OCAS,
    MADD,
    CNT,
    OCNT,
    LOGIC,
    n_half,
    IS_INT: tl.constexpr,
    N: tl.constexpr,
):
    pid = tl.program_id(0)
    r = tl.arange(0, N)
    one = tl.full((N,), 1, ADD.dtype.element_ty)
    old = tl.atomic_add(ADD + r, one, sem="acq_rel", scope="gpu")
    tl.store(OADD + pid * N + r, old)
    v = tl.load(V + pid * N + r)
    tl.atomic_max(MX + r, v, sem="relaxed")
    tl.atomic_min(MN + r, v, scope="cta")
    x = tl.atomic_xchg(XCH + r, v, sem="release")
    tl.store(OXCH + pid * N + r, x)
    init = tl.load(V + P * N + r)  # the CAS locations' initial values
    c = tl.atomic_cas(CAS + r, init, v, sem="acquire")
    tl.store(OCAS + pid * N + r, c)
    tl.atomic_add(MADD + r, one, mask=r < n_half)
    o = tl.atomic_add(CNT, 1)  # scalar form
    tl.store(OCNT + pid, o)
    if IS_INT:
        bits = tl.load(V + (P + 1) * N + pid * N + r)
        tl.atomic_and(LOGIC + r, bits)
        tl.atomic_or(LOGIC + N + r, bits)
        tl.atomic_xor(LOGIC + 2 * N + r, bits, sem="acq_rel", scope="sys")


@pytest.mark.covers(
    "tl.atomic_add",
    "tl.atomic_max",
    "tl.atomic_min",
    "tl.atomic_xchg",
    "tl.atomic_cas",
    "tl.atomic_and",
    "tl.atomic_or",
    "tl.atomic_xor",
)
@pytest.mark.parametrize("dtype", ["int32", "uint32", "int64", "uint64", "float32", "float64"])
def test_atomics(backend: str, dtype: str, rng: np.random.Generator) -> None:
    """Every atomic op from P programs on shared locations: finals and old values."""
    npd = NP_DTYPES[dtype]
    is_int = npd.kind in "iu"
    lo = 0 if npd.kind == "u" else -1000
    vals = rng.integers(lo, 1000, (P, N)).astype(npd)
    init = rng.integers(lo, 1000, N).astype(npd)
    # distinct per program, so old values identify who went before
    # shifted above every initial value, so a CAS against `init` succeeds only once per lane
    vals[:, :] = vals + ((np.arange(P)[:, None] + 1) * 2000).astype(npd)
    bits = rng.integers(0, 2**31, (P, N)).astype(npd)
    v_all = np.concatenate([vals.ravel(), init, bits.ravel()]).astype(npd)
    add = rng.integers(0, 100, N).astype(npd)
    mx, mn, xch, cas, madd = init.copy(), init.copy(), init.copy(), init.copy(), add.copy()
    logic_init = rng.integers(0, 2**31, 3 * N).astype(npd)
    logic = logic_init.copy()
    cnt = np.zeros(1, npd)
    oadd, oxch, ocas = (poisoned(P * N, dtype) for _ in range(3))
    ocnt = poisoned(P, dtype)
    add0 = add.copy()
    buf = Buffers(backend)
    _atomics[(P,)](
        buf(add),
        buf(oadd),
        buf(mx),
        buf(mn),
        buf(v_all),
        buf(oxch),
        buf(xch),
        buf(cas),
        buf(ocas),
        buf(madd),
        buf(cnt),
        buf(ocnt),
        buf(logic),
        N // 2,
        IS_INT=is_int,
        N=N,
    )
    buf.sync()
    np.testing.assert_array_equal(add, add0 + npd.type(P))
    olds = np.sort(oadd.reshape(P, N), axis=0)
    np.testing.assert_array_equal(olds, add0[None, :] + np.arange(P, dtype=npd)[:, None])
    np.testing.assert_array_equal(mx, np.maximum(init, vals.max(0)))
    np.testing.assert_array_equal(mn, np.minimum(init, vals.min(0)))
    # xchg: the olds plus the final value are exactly the initial value and every program's
    seen = np.sort(np.concatenate([oxch.reshape(P, N), xch[None, :]]), axis=0)
    np.testing.assert_array_equal(seen, np.sort(np.concatenate([init[None, :], vals]), axis=0))
    # cas: exactly one program per lane saw the initial value and its value is final
    oc = ocas.reshape(P, N)
    winners = oc == init[None, :]
    np.testing.assert_array_equal(winners.sum(0), np.ones(N))
    np.testing.assert_array_equal(cas, vals[np.argmax(winners, 0), np.arange(N)])
    np.testing.assert_array_equal(oc[~winners], np.broadcast_to(cas, (P, N))[~winners])
    np.testing.assert_array_equal(madd, add0 + np.where(np.arange(N) < N // 2, P, 0).astype(npd))
    assert cnt[0] == P
    np.testing.assert_array_equal(np.sort(ocnt), np.arange(P, dtype=npd))
    if is_int:
        np.testing.assert_array_equal(logic[:N], logic_init[:N] & np.bitwise_and.reduce(bits, 0))
        np.testing.assert_array_equal(
            logic[N : 2 * N], logic_init[N : 2 * N] | np.bitwise_or.reduce(bits, 0)
        )
        np.testing.assert_array_equal(
            logic[2 * N :], logic_init[2 * N :] ^ np.bitwise_xor.reduce(bits, 0)
        )


@triton.jit
def _atomic_add_narrow(X, V, OLD, N: tl.constexpr):
    pid = tl.program_id(0)
    r = tl.arange(0, N)
    v = tl.load(V + pid * N + r)
    tl.store(OLD + pid * N + r, tl.atomic_add(X + r, v))


@pytest.mark.covers("tl.atomic_add")
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_atomic_add_half(backend: str, dtype: str, rng: np.random.Generator) -> None:
    """fp16/bf16 atomic_add (small integers, so every order gives the same exact sums)."""
    npd = NP_DTYPES[dtype]
    v = rng.integers(1, 4, (P, N)).astype(np.float32).astype(npd)
    x0 = rng.integers(-8, 8, N).astype(np.float32).astype(npd)
    x = x0.copy()
    o = poisoned(P * N, dtype)
    buf = Buffers(backend)
    _atomic_add_narrow[(P,)](buf(x), buf(v), buf(o), N=N)
    buf.sync()
    ref = x0.astype(np.float64) + v.astype(np.float64).sum(0)
    np.testing.assert_array_equal(x.astype(np.float64), ref)
    olds = o.reshape(P, N).astype(np.float64)
    assert ((olds >= x0.astype(np.float64)) & (olds < ref)).all()


@triton.jit
def _masked_atomics(X, V, OLD, n, N: tl.constexpr):
    r = tl.arange(0, N)
    m = r < n
    v = tl.load(V + r)
    tl.store(OLD + r, tl.atomic_max(X + r, v, mask=m), mask=m)
    tl.atomic_xchg(X + N + r, v, mask=m)
    tl.atomic_cas(X + 2 * N + r, v * 0, v)  # only lanes holding 0 take v


@pytest.mark.covers("tl.atomic_max", "tl.atomic_xchg", "tl.atomic_cas")
def test_masked_atomics(backend: str, rng: np.random.Generator) -> None:
    """Masked-off lanes of atomics leave memory alone; cas compares per lane."""
    x = rng.integers(-50, 50, 3 * N).astype(np.int32)
    x[2 * N : 2 * N + 5] = 0
    v = rng.integers(-50, 50, N).astype(np.int32)
    v[v == 0] = 1
    x0 = x.copy()
    o = poisoned(N, "int32")
    n = 11
    buf = Buffers(backend)
    _masked_atomics[(1,)](buf(x), buf(v), buf(o), n, N=N)
    buf.sync()
    m = np.arange(N) < n
    np.testing.assert_array_equal(x[:N], np.where(m, np.maximum(x0[:N], v), x0[:N]))
    np.testing.assert_array_equal(o[m], x0[:N][m])
    np.testing.assert_array_equal(x[N : 2 * N], np.where(m, v, x0[N : 2 * N]))
    np.testing.assert_array_equal(x[2 * N :], np.where(x0[2 * N :] == 0, v, x0[2 * N :]))


@triton.jit
def _atomic_duplicates(H, IDX, W, OLD, N: tl.constexpr):
    r = tl.arange(0, N)
    idx = tl.load(IDX + r)
    w = tl.load(W + r)
    tl.store(OLD + r, tl.atomic_add(H + idx, w))


@pytest.mark.covers("tl.atomic_add")
@pytest.mark.parametrize("dtype", ["int32", "float32"])
def test_atomic_duplicate_addresses(backend: str, dtype: str, rng: np.random.Generator) -> None:
    """Lanes of one atomic hitting the same address all count (a histogram by atomics), and
    each lane's old value is a distinct partial sum."""
    n, bins = 64, 5
    idx = rng.integers(0, bins, n).astype(np.int32)
    w = rng.integers(1, 5, n).astype(NP_DTYPES[dtype])
    h = np.zeros(bins, NP_DTYPES[dtype])
    old = poisoned(n, dtype)
    buf = Buffers(backend)
    _atomic_duplicates[(1,)](buf(h), buf(idx), buf(w), buf(old), N=n)
    buf.sync()
    ref = np.zeros(bins)
    np.add.at(ref, idx, w.astype(np.float64))
    np.testing.assert_array_equal(h, ref.astype(h.dtype))
    for b in range(bins):  # the olds of one bin, sorted, are the prefix sums of some order
        sel = idx == b
        o = np.sort(old[sel].astype(np.float64))
        assert o[0] == 0 and len(np.unique(o)) == sel.sum()
        assert (o + 1 <= ref[b]).all()
