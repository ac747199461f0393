"""The C tile's fused store (``dot_epilogue``) where bf16 ``a`` is read at its rows
(``dot_kloop_packed.direct_a``): taken only where a check at the loop's first step finds C's
tile apart from every row of ``a`` the loop reads (``Epilogue.record_apart``).

One program computes ``c = a @ w`` with ``a`` and ``c`` in one buffer, placed so that C
overlaps ``a``'s rows in part (below, above, or only the tail of ``a``'s last row, which
the loop's first steps do not read), lies right after them, or is ``a`` itself. The
kernel's loads come before its store, so the result is ``a @ w`` from the original ``a``
whatever the overlap; C's elements outside ``a`` start as NaN, the rest of the buffer must
keep its bits, and the results equal the store op after the loop (``DIRECT_STORE`` off) bit
for bit. With the check forced true (every store fused) the overlapping cases fail.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.backends.cpu import dot_kloop
from tritium.backends.cpu import dot_kloop_packed as packed_kind
from tritium.backends.cpu.target import host_target


@triton.jit
def _overlap(h_ptr, w_ptr, A_OFF, C_OFF, SA, SC, K, BM: tl.constexpr, BN: tl.constexpr,
             BK: tl.constexpr, TAG: tl.constexpr):  # fmt: skip
    """``c = a @ w``: ``a`` (BM x K, row stride SA) at ``A_OFF``, C (BM x BN, row stride SC)
    at ``C_OFF``, both in ``h``; one program."""
    offs_m = tl.arange(0, BM)
    offs_n = tl.arange(0, BN)
    offs_k = tl.arange(0, BK)
    a_ptrs = h_ptr + A_OFF + offs_m[:, None] * SA + offs_k[None, :]
    b_ptrs = w_ptr + offs_k[:, None] * BN + offs_n[None, :]
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for _ in range(0, K // BK):
        acc += tl.dot(tl.load(a_ptrs), tl.load(b_ptrs))
        a_ptrs += BK
        b_ptrs += BK * BN
    tl.store(h_ptr + C_OFF + offs_m[:, None] * SC + offs_n[None, :], acc.to(tl.bfloat16))


_BM, _BN, _BK, _K = 32, 128, 32, 256  # two blocks of columns
# (name, A_OFF, C_OFF, SA, SC, overlaps)
_PLACES = [
    ("in place", 0, 0, _K, _K, True),
    ("C half a tile below", 0, _BM // 2 * _K, _K, _K, True),
    ("C half a tile above", _BM // 2 * _K, 0, _K, _K, True),
    # C's first row over the tail of a's last row: read only by later steps of the loop
    ("C over a's last row's tail", 0, (_BM - 1) * _K + 2 * _BK, _K, _BN, True),
    ("C right after a", 0, _BM * _K, _K, _BN, False),
    ("C right before a", _BM * _BN, 0, _K, _BN, False),
]


def _run(h0: np.ndarray, w: np.ndarray, place: tuple, tag: int) -> np.ndarray:  # type: ignore[type-arg]
    _, a_off, c_off, sa, sc, _ = place
    h = h0.copy()
    _overlap[(1,)](h, w, a_off, c_off, sa, sc, _K, BM=_BM, BN=_BN, BK=_BK, TAG=tag)
    return h


@pytest.mark.parametrize("place", _PLACES, ids=[p[0] for p in _PLACES])
def test_fused_store_over_a(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, place: tuple
) -> None:  # type: ignore[type-arg]
    target = host_target()
    if not target.has("avx512bf16") or not target.has("avx512f"):
        pytest.skip("needs avx512bf16")
    _, a_off, c_off, sa, sc, _ = place
    size = max(a_off + _BM * sa, c_off + (_BM - 1) * sc + _BN)
    h0 = np.full(size, np.nan, ml_dtypes.bfloat16)
    a_at = a_off + np.arange(_BM)[:, None] * sa + np.arange(_K)[None, :]
    c_at = c_off + np.arange(_BM)[:, None] * sc + np.arange(_BN)[None, :]
    h0[a_at] = rng.standard_normal((_BM, _K)).astype(ml_dtypes.bfloat16)
    w = rng.standard_normal((_K, _BN)).astype(ml_dtypes.bfloat16)
    ref = h0[a_at].astype(np.float64) @ w.astype(np.float64)
    recorded: list[int] = []
    record_apart = packed_kind._record_apart
    monkeypatch.setattr(
        packed_kind, "_record_apart", lambda *args: recorded.append(1) or record_apart(*args)
    )
    tag = 2 * _PLACES.index(place)  # a compile per case: the offsets share hints
    h = _run(h0, w, place, tag=tag + 1)
    assert recorded  # the check compiled in: a read at its rows, the store fused
    got = h[c_at].astype(np.float64)
    np.testing.assert_allclose(got, ref, rtol=1e-2, atol=1e-2 * np.sqrt(_K))
    rest = np.ones(size, bool)
    rest[c_at] = False
    np.testing.assert_array_equal(h[rest].view(np.uint16), h0[rest].view(np.uint16))
    monkeypatch.setattr(packed_kind, "DIRECT_STORE", False)
    plain = _run(h0, w, place, tag=tag + 2)
    np.testing.assert_array_equal(h.view(np.uint16), plain.view(np.uint16))
    if not place[5]:  # apart: the fused store itself wrote C (none after the loop here)
        monkeypatch.setattr(packed_kind, "DIRECT_STORE", True)
        monkeypatch.setattr(dot_kloop.Plan, "finish", _no_store_after_loop)
        fused = _run(h0, w, place, tag=tag + 100)
        np.testing.assert_array_equal(fused.view(np.uint16), h.view(np.uint16))


def _no_store_after_loop(self: dot_kloop.Plan) -> None:
    """``Plan.finish`` that lowers no store after the loop: C is written only if fused."""
    if self.epilogue is not None:
        self.cx.folded.add(self.epilogue.store)


@triton.jit
def _stepped(h_ptr, w_ptr, A_OFF, C_OFF, SA, SC, STEP, STEPS, LIVE, BM: tl.constexpr,
             BN: tl.constexpr, BK: tl.constexpr, TAG: tl.constexpr):  # fmt: skip
    """``c = a @ w`` over ``STEPS`` steps that move ``a``'s pointers by ``STEP`` elements (a
    run-time value, any sign); steps from ``LIVE`` on are masked off (they read nothing)."""
    offs_m = tl.arange(0, BM)
    offs_n = tl.arange(0, BN)
    offs_k = tl.arange(0, BK)
    a_ptrs = h_ptr + A_OFF + offs_m[:, None] * SA + offs_k[None, :]
    b_ptrs = w_ptr + offs_k[:, None] * BN + offs_n[None, :]
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for i in range(0, STEPS):
        live = (offs_k[None, :] * 0 + i) < LIVE
        acc += tl.dot(tl.load(a_ptrs, mask=live, other=0.0), tl.load(b_ptrs))
        a_ptrs += STEP
        b_ptrs += BK * BN
    tl.store(h_ptr + C_OFF + offs_m[:, None] * SC + offs_n[None, :], acc.to(tl.bfloat16))


@pytest.mark.parametrize("case", ["steps down", "past address 0"])
def test_fused_store_steps_down(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """``a``'s pointers moved down: (1) by ``-BK`` a step, rows and C's rows both going down
    (negative strides): C's row 0, stored first, over the columns of ``a``'s last row that
    only the later steps read, below every address the first step reads (with the travel
    down ignored, C was told apart); (2) in place, the second step (masked off) moved past
    address 0 (in 64-bit addresses ``a``'s rows wrapped to the top and C was told apart:
    errors ~126). Equal to the store after the loop, bit for bit."""
    target = host_target()
    if not target.has("avx512bf16") or not target.has("avx512f"):
        pytest.skip("needs avx512bf16")
    bm, bn, bk = 32, 128, 32
    if case == "steps down":
        steps, live, sa, sc = 4, 4, -4 * bk, -bn
        low = bm * bn  # a's last row at its first step; C's row 0 right below it
        a_off, c_off, size = low - (bm - 1) * sa, low - bn, low - (bm - 1) * sa + bk
    else:
        steps, live, sa, sc = 2, 1, bn, bn
        a_off = c_off = 0
        size = bm * sa
    h0 = rng.standard_normal(size).astype(ml_dtypes.bfloat16)
    w = rng.standard_normal((steps * bk, bn)).astype(ml_dtypes.bfloat16)
    c_at = c_off + np.arange(bm)[:, None] * sc + np.arange(bn)[None, :]
    outs = []
    for tag, direct_store in ((1, True), (2, False)):
        monkeypatch.setattr(packed_kind, "DIRECT_STORE", direct_store)
        h = h0.copy()
        step = -bk if case == "steps down" else -(h.ctypes.data // 2) - (1 << 20)
        ref = np.zeros((bm, bn))
        for i in range(live):
            at = a_off + i * step + np.arange(bm)[:, None] * sa + np.arange(bk)[None, :]
            ref += h0[at].astype(np.float64) @ w[i * bk : (i + 1) * bk].astype(np.float64)
        args = (h, w, a_off, c_off, sa, sc, step, steps, live)
        _stepped[(1,)](*args, BM=bm, BN=bn, BK=bk, TAG=tag + 10 * (case == "steps down"))
        np.testing.assert_allclose(h[c_at].astype(np.float64), ref, rtol=1e-2, atol=0.2)
        outs.append(h)
    np.testing.assert_array_equal(outs[0].view(np.uint16), outs[1].view(np.uint16))


@triton.jit
def _growing(h_ptr, w_ptr, C_OFF, SA, SC, STEPS, BM: tl.constexpr, BN: tl.constexpr,
             BK: tl.constexpr):  # fmt: skip
    """``a``'s pointers moved by ``BK * (i + 1)`` after step ``i`` (K blocks at 0, BK, 3 BK,
    6 BK, ...), the step known before the dot: C is told apart from ``a`` only by the rows'
    real travel, not ``STEPS - 1`` times the first step."""
    offs_m = tl.arange(0, BM)
    offs_n = tl.arange(0, BN)
    offs_k = tl.arange(0, BK)
    a_ptrs = h_ptr + offs_m[:, None] * SA + offs_k[None, :]
    b_ptrs = w_ptr + offs_k[:, None] * BN + offs_n[None, :]
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for i in range(0, STEPS):
        step = BK * (i + 1)
        acc += tl.dot(tl.load(a_ptrs), tl.load(b_ptrs))
        a_ptrs += step
        b_ptrs += BK * BN
    tl.store(h_ptr + C_OFF + offs_m[:, None] * SC + offs_n[None, :], acc.to(tl.bfloat16))


def test_fused_store_step_changing(rng: np.random.Generator) -> None:
    """C's first row over the columns of ``a``'s last row that only the loop's last step
    reads (6 BK .. 7 BK), beyond ``(STEPS - 1) * BK``: the store stays after the loop (with
    the rows' travel taken as ``STEPS - 1`` first steps, C's block of rows 0-3 overwrote
    them before the last block read them)."""
    target = host_target()
    if not target.has("avx512bf16") or not target.has("avx512f"):
        pytest.skip("needs avx512bf16")
    bm, bn, bk, steps, sa = 32, 128, 32, 4, 256
    c_off, sc = (bm - 1) * sa + steps * bk, bn
    h0 = np.full(c_off + (bm - 1) * sc + bn, np.nan, ml_dtypes.bfloat16)
    a_at = np.arange(bm)[:, None] * sa + np.arange(sa)[None, :]
    c_at = c_off + np.arange(bm)[:, None] * sc + np.arange(bn)[None, :]
    h0[a_at] = rng.standard_normal((bm, sa)).astype(ml_dtypes.bfloat16)
    w = rng.standard_normal((steps * bk, bn)).astype(ml_dtypes.bfloat16)
    a = h0[a_at].astype(np.float64)
    firsts = [bk * i * (i + 1) // 2 for i in range(steps)]
    ref = sum(
        a[:, p : p + bk] @ w[i * bk : (i + 1) * bk].astype(np.float64) for i, p in enumerate(firsts)
    )
    h = h0.copy()
    _growing[(1,)](h, w, c_off, sa, sc, steps, BM=bm, BN=bn, BK=bk)
    np.testing.assert_allclose(h[c_at].astype(np.float64), ref, rtol=1e-2, atol=0.2)
    rest = np.ones(h.size, bool)
    rest[c_at] = False
    np.testing.assert_array_equal(h[rest].view(np.uint16), h0[rest].view(np.uint16))


@triton.jit
def _wrapped_c(h_ptr, w_ptr, C_OFF, SA, SC, OFF_N, NN, STEPS, BM: tl.constexpr,
               BN: tl.constexpr, BK: tl.constexpr, TAG: tl.constexpr):  # fmt: skip
    """``c = a @ w`` with C's columns ``(OFF_N + arange) % NN``: a row of C wraps back
    below its first address."""
    offs_m = tl.arange(0, BM)
    offs_n = tl.arange(0, BN)
    offs_k = tl.arange(0, BK)
    a_ptrs = h_ptr + offs_m[:, None] * SA + offs_k[None, :]
    b_ptrs = w_ptr + offs_k[:, None] * BN + offs_n[None, :]
    cols = (OFF_N + offs_n) % NN
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for _ in range(0, STEPS):
        acc += tl.dot(tl.load(a_ptrs), tl.load(b_ptrs))
        a_ptrs += BK
        b_ptrs += BK * BN
    tl.store(h_ptr + C_OFF + offs_m[:, None] * SC + cols[None, :], acc.to(tl.bfloat16))


def test_fused_store_c_columns_wrap(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """C's first row starts 64 elements before the end of ``a``'s last row and wraps back
    over it (its columns ``% 144`` from 128): judged by its first addresses alone, C lay
    after ``a`` and was stored fused over the columns the other block still read (errors
    ~242). Equal to the store after the loop, bit for bit."""
    target = host_target()
    if not target.has("avx512bf16") or not target.has("avx512f"):
        pytest.skip("needs avx512bf16")
    bm, bn, bk, steps, sa = 32, 128, 32, 4, 128
    k = bk * steps
    c_off, sc, off_n, nn = (bm - 1) * sa + k - 64, 256, 128, 144
    h0 = np.full(c_off + (bm - 1) * sc + nn, np.nan, ml_dtypes.bfloat16)
    a_at = np.arange(bm)[:, None] * sa + np.arange(k)[None, :]
    h0[a_at] = rng.standard_normal((bm, k)).astype(ml_dtypes.bfloat16)
    w = rng.standard_normal((k, bn)).astype(ml_dtypes.bfloat16)
    ref = h0[a_at].astype(np.float64) @ w.astype(np.float64)
    c_at = c_off + np.arange(bm)[:, None] * sc + ((off_n + np.arange(bn)) % nn)[None, :]
    outs = []
    for tag, direct_store in ((1, True), (2, False)):
        monkeypatch.setattr(packed_kind, "DIRECT_STORE", direct_store)
        h = h0.copy()
        _wrapped_c[(1,)](h, w, c_off, sa, sc, off_n, nn, steps, BM=bm, BN=bn, BK=bk, TAG=tag)
        np.testing.assert_allclose(h[c_at].astype(np.float64), ref, rtol=1e-2, atol=0.2)
        outs.append(h)
    np.testing.assert_array_equal(outs[0].view(np.uint16), outs[1].view(np.uint16))
