"""A spin lock's critical section moved into the row reduction before it
(``backends/cpu/lock_fuse``).

Tutorial 05's layer norm backward, where the rewrite fires, runs on fresh random inputs
against a float64 reference with NaN-poisoned outputs and partial rows, with AVX-512 and AVX2
code, 1 to 3 threads and one lock for all rows (the rewrite stays off: no residue order), a
few (contention) or one per two rows. A one-program kernel checks each order the fast
version changes: its critical section's row overlapping the row the reduction reads, or the
row stored before the lock; there the original order must run.
"""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.modes import use_threads
from tests.backends.cpu.references import layer_norm_backward
from tritium.backends.cpu import lock_fuse
from tritium.backends.cpu.if_sink import sink_into_ifs
from tritium.backends.cpu.lock_fuse import IN_REDUCTION, fuse_critical_sections
from tritium.ir.parser import parse_module
from tritium.ir.verifier import verify
from tutorials import layer_norm

FEATURES = ["", "-avx512f"]


def _spied(monkeypatch, kernel) -> list[bool]:
    """Compile ``kernel`` afresh and record, for each row reduction lowered, whether stores
    rode in its loop."""
    from tritium.backends.cpu import codegen  # first: reduce imports it, it imports reduce

    cpu_reduce = codegen.reduce
    seen: list[bool] = []
    real = cpu_reduce.stores_in_reduction

    def spy(cx, first, last):
        got = real(cx, first, last)
        seen.append(got is not None)
        return got

    monkeypatch.setattr(cpu_reduce, "stores_in_reduction", spy)
    monkeypatch.setenv("TRITIUM_ALWAYS_COMPILE", "1")
    kernel.cache.clear()
    return seen


@pytest.mark.parametrize("features", FEATURES)
@pytest.mark.parametrize("threads", [1, 2, 3])
# one lock (no residue order) and 3 (fewer than 8 a thread): the rewrite stays off; 8 locks
# (contention at 2 and 3 threads), one per two rows
@pytest.mark.parametrize(
    ("M", "N", "group"), [(67, 300, 1), (96, 256, 3), (93, 256, 8), (70, 129, 35)]
)
def test_layer_norm_backward_rows_in_reduction(
    request, rng, monkeypatch, features, threads, M, N, group
) -> None:
    use_threads(request, threads)
    if features:
        monkeypatch.setenv("TRITIUM_CPU_FEATURES", features)
    # as on a one-core host: the rewrite applies from 8 lock rows, so 3 threads share them
    monkeypatch.setattr(lock_fuse, "host_threads", lambda: 1)
    seen = _spied(monkeypatch, layer_norm._layer_norm_bwd_dx_fused)
    x = (-2.3 + 0.5 * rng.standard_normal((M, N))).astype(np.float32)
    w = rng.random(N).astype(np.float32)
    dy = (0.1 * rng.standard_normal((M, N))).astype(np.float32)
    mean = x.astype(np.float64).mean(1).astype(np.float32)
    rstd = (1 / np.sqrt(x.astype(np.float64).var(1) + 1e-5)).astype(np.float32)
    dx_ref, dw_ref, db_ref = layer_norm_backward(x, w, dy, mean, rstd)
    dx = np.full((M, N), np.nan, np.float32)
    pdw = np.full((group, N), np.nan, np.float32)  # never zeroed: first writes store
    pdb = np.full((group, N), np.nan, np.float32)
    locks = np.zeros(2 * group, np.int32)
    layer_norm._layer_norm_bwd_dx_fused[(M,)](
        dx, dy, pdw, pdb, x, w, mean, rstd, locks, N, N,
        GROUP_SIZE_M=group, BLOCK_SIZE_N=triton.next_power_of_2(N),
    )  # fmt: skip
    # the fast version's reduction stored the partial rows, where the rewrite applies
    assert (True in seen) == (group >= 8)
    assert not locks[:group].any() and (locks[group:] == 1).all()
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pdw.sum(0), dw_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(pdb.sum(0), db_ref, rtol=1e-4, atol=1e-4)


def test_rewrite_shape_and_verifies(monkeypatch) -> None:
    """The fast version's stores follow its last reduction, marked; the module verifies; a
    second run changes nothing."""
    monkeypatch.setattr(lock_fuse, "host_threads", lambda: 1)
    x = np.zeros((16, 256), np.float32)
    args = (x, x, x, x, x, x[0], x[:, 0], x[:, 0], np.zeros(32, np.int32), 256, 256)
    layer_norm._layer_norm_bwd_dx_fused.warmup(*args, GROUP_SIZE_M=16, BLOCK_SIZE_N=256, grid=(4,))
    for _, compiled in layer_norm._layer_norm_bwd_dx_fused.cache.values():
        module = parse_module(compiled.asm["ttir"])
        (func,) = module.functions
        assert fuse_critical_sections(func)
        top = func.regions[0].blocks[0].ops
        # one try of the lock (where the lock word lies apart from work's rows), then the
        # plain branch's test where it was taken, then the versions
        attempt, peek, version = (op for op in top if op.name == "scf.if")
        assert [op.name for op in attempt.walk()].count("tt.atomic_cas") == 1
        assert "tt.atomic_cas" not in [op.name for op in top] and peek.results
        fast = [op.name for op in version.regions[0].blocks[0].ops]
        slow = version.regions[1].blocks[0].ops
        # where the try failed, the original order spins for the lock after the work
        assert any(op.name == "scf.while" for s in slow if s.regions for op in s.walk())
        marked = [op for op in version.walk() if op.attrs.get(IN_REDUCTION)]
        assert len(marked) == 2 and all(op.name == "tt.store" for op in marked)
        last_reduce = len(fast) - 1 - fast[::-1].index("tt.reduce")
        assert fast.index("tt.store") > last_reduce  # dx's store: after the partial rows
        assert "scf.while" not in fast and "tt.atomic_cas" not in fast
        assert not fuse_critical_sections(func)  # idempotent
        sink_into_ifs(func)
        verify(module)


@triton.jit
def _locked_row(X, OUT, ACC, Lock, Count, BLOCK: tl.constexpr):
    Lock += tl.program_id(0) % 8  # programs by residue: the rewrite's condition
    offs = tl.arange(0, BLOCK)
    ACC += offs  # one pointer tile for the load and the store (as tutorial 05's DW)
    x = tl.load(X + offs)
    s = tl.sum(x * x, axis=0)
    tl.store(OUT + offs, x * s)
    part = x * 3.0
    while tl.atomic_cas(Lock, 0, 1) == 1:
        pass
    count = tl.load(Count)
    if count == 0:
        tl.atomic_xchg(Count, 1)
    else:
        part += tl.load(ACC)
    tl.store(ACC, part)
    tl.atomic_xchg(Lock, 0)


@pytest.mark.parametrize("features", FEATURES)
@pytest.mark.parametrize("count", [0, 1])
@pytest.mark.parametrize(
    ("out_at", "acc_at"),
    [(64, 128), (64, 5), (64, 67), (200, 190)],
    ids=["apart", "acc-over-x", "acc-over-out", "out-over-acc"],
)
def test_overlaps_take_the_original_order(
    rng, monkeypatch, features, count, out_at, acc_at
) -> None:
    if features:
        monkeypatch.setenv("TRITIUM_CPU_FEATURES", features)
    monkeypatch.setattr(lock_fuse, "host_threads", lambda: 1)  # 64 residues: any host
    seen = _spied(monkeypatch, _locked_row)
    block = 64
    base = rng.standard_normal(320).astype(np.float32)
    buf = base.copy()
    ref = base.astype(np.float64)
    x = ref[:block].copy()
    ref[out_at : out_at + block] = x * (x * x).sum()
    part = 3 * x + (ref[acc_at : acc_at + block] if count else 0)
    ref[acc_at : acc_at + block] = part
    lock, cell = np.zeros(1, np.int32), np.array([count], np.int32)
    out, acc = buf[out_at : out_at + block], buf[acc_at : acc_at + block]
    _locked_row[(1,)](buf[:block], out, acc, lock, cell, BLOCK=block)
    np.testing.assert_allclose(buf, ref, rtol=2e-6, atol=2e-6)
    assert lock[0] == 0 and cell[0] == 1
    assert True in seen  # compiled with the fast version, whichever ran


@triton.jit
def _row_and_copy(X, OUT, ACC, Q, Lock, Count, TWICE: tl.constexpr, BLOCK: tl.constexpr):
    Lock += tl.program_id(0) % 8
    offs = tl.arange(0, BLOCK)
    ACC += offs
    x = tl.load(X + offs)
    tl.store(OUT + offs, x * tl.sum(x, axis=0))
    part = x * 3.0
    old = x * 0.0
    while tl.atomic_cas(Lock, 0, 1) == 1:
        pass
    count = tl.load(Count)
    if count == 0:
        tl.atomic_xchg(Count, 1)
    elif TWICE:  # a second load of the row, which only the copy reads
        part += tl.load(ACC)
        old += tl.load(ACC)
    else:
        old = tl.load(ACC)
        part += old
    tl.store(ACC, part)
    tl.store(Q + offs, old)  # the row as it was before this program added to it
    tl.atomic_xchg(Lock, 0)


@pytest.mark.parametrize("twice", [False, True])
def test_a_load_of_the_row_the_store_does_not_read_keeps_the_original_order(
    rng, monkeypatch, twice
) -> None:
    # the fast version places each store right after what it reads: a second load of the
    # stored row that only the copy reads would come after the row's store (review, lf_same)
    monkeypatch.setattr(lock_fuse, "host_threads", lambda: 1)
    _spied(monkeypatch, _row_and_copy)
    block = 64
    x = rng.standard_normal(block).astype(np.float32)
    acc0 = rng.standard_normal(block).astype(np.float32)
    (out, q), acc = np.full((2, block), np.nan, np.float32), acc0.copy()
    lock, cell = np.zeros(1, np.int32), np.ones(1, np.int32)
    _row_and_copy[(1,)](x, out, acc, q, lock, cell, TWICE=twice, BLOCK=block)
    np.testing.assert_array_equal(q, acc0)
    np.testing.assert_allclose(acc, acc0.astype(np.float64) + 3.0 * x, rtol=1e-6, atol=1e-6)


@triton.jit
def _lock_in_rows(X, OUT, ACC, Lock, Count, BLOCK: tl.constexpr):
    Lock += tl.program_id(0) % 8
    offs = tl.arange(0, BLOCK)
    x = tl.load(X + offs)
    tl.store(OUT + offs, x + tl.sum(x, axis=0))
    part = x * 3
    while tl.atomic_cas(Lock, 0, 1) == 1:
        pass
    count = tl.load(Count)
    if count == 0:
        tl.atomic_xchg(Count, 1)
    else:
        part += tl.load(ACC + offs)
    tl.store(ACC + offs, part)
    tl.atomic_xchg(Lock, 0)


def test_the_try_of_a_lock_inside_the_rows_work_reads_keeps_the_original_order(
    rng, monkeypatch
) -> None:
    # the lock word is X[10]: work sums X before the acquire, so it must read the lock free
    # (0), not the try's 1 (review, lf_lockword)
    monkeypatch.setattr(lock_fuse, "host_threads", lambda: 1)
    _spied(monkeypatch, _lock_in_rows)
    block = 64
    x = rng.integers(-50, 50, block).astype(np.int32)
    x[10] = 0
    out, acc = np.full(block, -7, np.int32), rng.integers(-50, 50, block).astype(np.int32)
    acc0, cell = acc.copy(), np.ones(1, np.int32)
    _lock_in_rows[(1,)](x, out, acc, x[10:11], cell, BLOCK=block)
    np.testing.assert_array_equal(out, x + x.sum())
    np.testing.assert_array_equal(acc, acc0 + 3 * x)
    assert x[10] == 0


def test_the_rewritten_dx_row_still_streams(monkeypatch) -> None:
    # the run-time range checks compare dx's address (tt.ptr_to_int, marked as only compared):
    # a check left unmarked made the streaming analysis drop dx's non-temporal stores (the
    # 64 MiB dx written through the cache: the fused kernel 0.93x the original's speed)
    monkeypatch.setattr(lock_fuse, "host_threads", lambda: 1)
    seen = _spied(monkeypatch, layer_norm._layer_norm_bwd_dx_fused)
    n, group = 4096, 128
    x, w = np.zeros((8, n), np.float32), np.zeros(n, np.float32)
    args = (x, x, x, x, x, w, x[:, 0], x[:, 0], np.zeros(2 * group, np.int32), n, n)
    layer_norm._layer_norm_bwd_dx_fused.warmup(
        *args, GROUP_SIZE_M=group, BLOCK_SIZE_N=n, grid=(4096,)
    )
    assert True in seen
    (compiled,) = (c for _, c in layer_norm._layer_norm_bwd_dx_fused.cache.values())
    assert "!nontemporal" in compiled.asm["llir"]
