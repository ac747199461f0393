"""Stores of an ``scf.if``'s results sunk into its branches (``backends/cpu/if_sink``).

Tutorial 05's layer norm backward, where the rewrite fires, runs compiled and interpreted on
fresh random inputs against a float64 reference, with odd row lengths (masks), several
``GROUP_SIZE_M`` (one lock for all rows; a few; one per row), NaN-poisoned outputs *and*
partial dw/db buffers (the ``count == 0`` branch must not read them) and 1 or 2 threads (the
lock). Other kernels check that the stores keep their order when the pointers alias, that the
rewrite stays off where it must, and that the rewritten module verifies.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.modes import each_mode, use_threads
from tests.backends.cpu.references import layer_norm_backward
from tritium.backends.cpu.if_sink import FUSED_STORES, VERSIONED, sink_into_ifs
from tritium.ir import Operation
from tritium.ir.parser import parse_module
from tritium.ir.verifier import verify
from tutorials import layer_norm


@pytest.fixture(params=[1, 2])
def threads(request: pytest.FixtureRequest) -> int:
    use_threads(request, int(request.param))
    return int(request.param)


def _rewritten(kernel: Any) -> list[Operation]:
    """The ``scf.if`` ops of each compiled specialization after the rewrite (verified)."""
    ifs = []
    for _, compiled in kernel.cache.values():
        module = parse_module(compiled.asm["ttir"])
        for f in module.functions:
            sink_into_ifs(f)
            ifs += [op for op in f.walk() if op.name == "scf.if"]
        verify(module)
    return ifs


def _stores_in(op: Any) -> int:
    return sum(1 for inner in op.walk() if inner.name == "tt.store")


# (300, 257, 16) and (130, 64, 128) run residue by residue (grid_order.residue_period): several
# programs per lock row, odd remainders, a group larger than half the grid
@pytest.mark.parametrize(
    ("M", "N", "group"),
    [(37, 1000, 1), (64, 517, 5), (23, 300, 32), (300, 257, 16), (130, 64, 128)],
)
def test_layer_norm_backward_first_write_branch(rng, monkeypatch, threads, M, N, group) -> None:
    x = (-2.3 + 0.5 * rng.standard_normal((M, N))).astype(np.float32)
    w = rng.random(N).astype(np.float32)
    dy = (0.1 * rng.standard_normal((M, N))).astype(np.float32)
    mean = x.astype(np.float64).mean(1).astype(np.float32)
    rstd = (1 / np.sqrt(x.astype(np.float64).var(1) + 1e-5)).astype(np.float32)
    dx_ref, dw_ref, db_ref = layer_norm_backward(x, w, dy, mean, rstd)
    block = triton.next_power_of_2(N)
    layer_norm._layer_norm_bwd_dx_fused.cache.clear()
    for interpret in each_mode(monkeypatch):
        dx = np.full((M, N), np.nan, np.float32)
        # never zeroed: the first program of each group must store, not accumulate
        pdw = np.full((group, N), np.nan, np.float32)
        pdb = np.full((group, N), np.nan, np.float32)
        locks = np.zeros(2 * group, np.int32)
        layer_norm._layer_norm_bwd_dx_fused[(M,)](
            dx, dy, pdw, pdb, x, w, mean, rstd, locks, N, N,
            GROUP_SIZE_M=group, BLOCK_SIZE_N=block,
        )  # fmt: skip
        used = min(group, M)
        assert not locks[:group].any() and (locks[group : group + used] == 1).all()
        np.testing.assert_allclose(dx, dx_ref, rtol=1e-4, atol=1e-5, err_msg=f"{interpret=}")
        assert not np.isnan(pdw[:used]).any(), f"{interpret=}"
        np.testing.assert_allclose(pdw[:used].sum(0), dw_ref, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(pdb[:used].sum(0), db_ref, rtol=1e-4, atol=1e-4)
    branch, first, inner = _rewritten(layer_norm._layer_norm_bwd_dx_fused)
    assert not branch.results and _stores_in(branch) == 8
    then_b, else_b = (r.blocks[0] for r in branch.regions)
    # the else branch: DW stored before DB is loaded where the two rows cannot overlap
    assert inner.attrs.get(VERSIONED) and inner.parent is else_b
    # the first-write branch: its atomic_xchg, then its two stores in one loop where the
    # rows cannot overlap (store_groups.py)
    assert first.attrs.get(FUSED_STORES) and first.parent is then_b
    assert [op.name for op in then_b.ops][0] == "tt.atomic_rmw"
    fast, slow = (r.blocks[0] for r in inner.regions)
    first_fast, first_slow = (r.blocks[0] for r in first.regions)
    for b, want in (
        (first_fast, ["tt.store", "tt.store"]),
        (first_slow, ["tt.store", "tt.store"]),
        (fast, ["tt.load", "tt.store", "tt.load", "tt.store"]),
        (slow, ["tt.load", "tt.load", "tt.store", "tt.store"]),
    ):
        assert [op.name for op in b.ops if op.name in ("tt.store", "tt.load")] == want
        assert b.ops[-1].name == "scf.yield" and not b.ops[-1].operands
    # partial_dw = dy * xhat, read by both branches only, moved into each (and its versions)
    assert sum(op.name == "arith.mulf" for op in first_fast.ops + first_slow.ops) == 2


@triton.jit
def _aliased(P, Q, C, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    c = tl.load(C)
    t = tl.load(P + offs) * 3.0  # read by both branches only: moved into them
    if c == 0:
        tl.atomic_xchg(C, 5)
        a = t
        b = tl.load(Q + offs) * 2.0
    else:
        a = t + tl.load(P + offs)
        b = tl.load(Q + offs) - 1.0
    # Q overlaps P shifted by a few elements: the first store changes what the second
    # branch's loads would read if they ran after it, and the second store overwrites part
    # of the first; on every path the stores must run after the branch and in this order
    tl.store(Q + offs, a)
    tl.store(P + offs, b)
    tl.store(out_ptr + offs, t)


@pytest.mark.parametrize("c0", [0, 1])
@pytest.mark.parametrize("shift", [3, -5, 0])
def test_stores_keep_their_order_through_aliases(rng, monkeypatch, c0, shift) -> None:
    block = 64
    base = rng.standard_normal(3 * block).astype(np.float32)
    p0, q0 = block, block + shift
    b64 = base.astype(np.float64)
    t = 3 * b64[p0 : p0 + block]
    a = t if c0 == 0 else t + b64[p0 : p0 + block]
    bb = 2 * b64[q0 : q0 + block] if c0 == 0 else b64[q0 : q0 + block] - 1
    ref = b64.copy()
    ref[q0 : q0 + block] = a
    ref[p0 : p0 + block] = bb
    _aliased.cache.clear()
    for interpret in each_mode(monkeypatch):
        buf = base.copy()
        out = np.full(block, np.nan, np.float32)
        cell = np.array([c0], np.int32)
        _aliased[(1,)](buf[p0 : p0 + block], buf[q0 : q0 + block], cell, out, BLOCK=block)
        np.testing.assert_allclose(buf, ref, rtol=1e-6, err_msg=f"{interpret=}")
        np.testing.assert_allclose(out, t, rtol=1e-6)
        assert cell[0] == (5 if c0 == 0 else c0)
    branch = _rewritten(_aliased)[0]  # (its else branch is versioned: Q is loaded and stored)
    assert not branch.results and _stores_in(branch) >= 4
    assert sum(o.name == "tt.store" for o in branch.regions[0].blocks[0].ops) == 2
    # t has a use after the if (the last store): it stays where it was
    assert sum(op.name == "arith.mulf" for op in branch.parent.ops) == 1


@triton.jit
def _kept(P, Q, C, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    c = tl.load(C)
    if c == 0:
        a = tl.load(P + offs)
    else:
        a = tl.load(P + offs) + 1.0
    tl.atomic_add(C, 1)  # not a store: the stores after it are not moved
    tl.store(Q + offs, a)


@triton.jit
def _shared(P, Q, C, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    c = tl.load(C)
    if c == 0:
        a = tl.load(P + offs)
    else:
        a = tl.load(P + offs) + 1.0
    tl.store(Q + offs, a)
    tl.store(Q + BLOCK + offs, a * 2.0)  # the result is read by more than the stores


@pytest.mark.parametrize("kernel", [_kept, _shared])
def test_rewrite_stays_off(rng, monkeypatch, kernel) -> None:
    block = 32
    p = rng.standard_normal(block).astype(np.float32)
    kernel.cache.clear()
    for c0 in (0, 1):
        outs = []
        for _ in each_mode(monkeypatch):
            q = np.full(2 * block, np.nan, np.float32)
            kernel[(1,)](p, q, np.array([c0], np.int32), BLOCK=block)
            outs.append(q)
        np.testing.assert_array_equal(outs[0], outs[1])
        np.testing.assert_allclose(outs[0][:block], p.astype(np.float64) + c0, rtol=1e-6)
    (branch,) = _rewritten(kernel)
    assert len(branch.results) == 1 and _stores_in(branch) == 0


@triton.jit
def _locked_sum(Lock, Count, V, BLOCK: tl.constexpr):
    # plain loads and stores under the lock: lost updates show if the lock does not exclude
    pid = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    while tl.atomic_cas(Lock, 0, 1) == 1:
        pass
    c = tl.load(Count)
    tl.store(Count, c + 1)
    tl.store(V + offs, tl.load(V + offs) + (pid + offs).to(tl.float32))
    tl.debug_barrier()
    tl.atomic_xchg(Lock, 0)


def test_spin_lock_excludes(monkeypatch, threads) -> None:
    """The acquire loop waits on a plain read (with ``pause``) between compare-and-swaps; every
    program's read-modify-write under the lock must survive, with 1 or 2 threads."""
    programs, block = 3000, 16
    ref = (np.arange(programs)[:, None] + np.arange(block)[None, :]).sum(0)
    _locked_sum.cache.clear()
    for interpret in each_mode(monkeypatch):
        lock, count = np.zeros(1, np.int32), np.zeros(1, np.int32)
        v = np.zeros(block, np.float32)
        _locked_sum[(programs,)](lock, count, v, BLOCK=block)
        assert lock[0] == 0 and count[0] == programs, f"{interpret=}"
        np.testing.assert_array_equal(v, ref.astype(np.float32))
    ((_, compiled),) = _locked_sum.cache.values()
    if compiled.asm["llir"].count("x86_64"):
        assert "llvm.x86.sse2.pause" in compiled.asm["llir"]
    assert "load atomic" in compiled.asm["llir"]


@triton.jit
def _cas_once(Lock, Out):
    # the loop ends on any old value but 1: a word holding 2 ends it at once, unchanged
    while tl.atomic_cas(Lock, 0, 1) == 1:
        pass
    tl.store(Out, tl.load(Lock))


def test_spin_loop_ends_on_other_values(monkeypatch) -> None:
    for interpret in each_mode(monkeypatch):
        for start, after in ((0, 1), (2, 2), (-1, -1)):
            lock, out = np.array([start], np.int32), np.full(1, -99, np.int32)
            _cas_once[(1,)](lock, out)
            assert lock[0] == after and out[0] == after, f"{interpret=} {start=}"


@triton.jit
def _two_rows(A, B, X, C, n, BLOCK: tl.constexpr):
    # tutorial 05's first-write branch on two rows that may overlap
    offs = tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(X + offs, mask=mask)
    c = tl.load(C)
    if c == 0:
        pa = x * 2.0
        pb = x
    else:
        pa = x * 2.0 + tl.load(A + offs, mask=mask)
        pb = x + tl.load(B + offs, mask=mask)
    tl.store(A + offs, pa, mask=mask)
    tl.store(B + offs, pb, mask=mask)


@pytest.mark.parametrize("shift", [0, 5, -7, 50, 64, -64, 100])
@pytest.mark.parametrize("c0", [0, 1])
def test_disjoint_version(rng, monkeypatch, shift, c0) -> None:
    """The else branch stores A before loading B only where the two 64-element tiles cannot
    overlap (|shift| >= 64); elsewhere, and on masked-off lanes, the original order holds."""
    block, n = 64, 45
    base = rng.standard_normal(3 * block + 200).astype(np.float32)
    x = rng.standard_normal(block).astype(np.float32)
    a0, b0 = 100, 100 + shift
    ref = base.astype(np.float64)
    la, lb = ref[a0 : a0 + n].copy(), ref[b0 : b0 + n].copy()  # both read before any store
    x64 = x[:n].astype(np.float64)
    ref[a0 : a0 + n] = 2 * x64 + (la if c0 else 0)
    ref[b0 : b0 + n] = x64 + (lb if c0 else 0)
    _two_rows.cache.clear()
    for interpret in each_mode(monkeypatch):
        buf = base.copy()
        cell = np.array([c0], np.int32)
        _two_rows[(1,)](buf[a0:], buf[b0:], x, cell, n, BLOCK=block)
        np.testing.assert_allclose(buf, ref, rtol=1e-6, err_msg=f"{interpret=}")
    (outer, first, inner) = _rewritten(_two_rows)  # first: the c == 0 branch's stores
    assert first.attrs.get(FUSED_STORES) and first.parent_op() is outer
    assert inner.attrs.get(VERSIONED) and inner.parent_op() is outer
    fast, slow = (r.blocks[0] for r in inner.regions)
    names = [o.name for o in fast.ops if o.name in ("tt.load", "tt.store")]
    assert names == ["tt.load", "tt.store", "tt.load", "tt.store"]
    names = [o.name for o in slow.ops if o.name in ("tt.load", "tt.store")]
    assert names == ["tt.load", "tt.load", "tt.store", "tt.store"]


@triton.jit
def _three_rows(A, B, C, X, C0, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(X + offs, mask=mask)
    c = tl.load(C0)
    if c == 0:
        pa = x
        pb = x * 2.0
    else:
        pa = x + tl.load(A + offs, mask=mask)
        pb = x * 2.0 + tl.load(C + offs, mask=mask)
    tl.store(A + offs, pa, mask=mask)
    tl.store(B + offs, pb, mask=mask)


@pytest.mark.parametrize("shift", [0, 5, -7, 64, -64, 100])
def test_fused_store_loop_needs_every_pair_apart(rng, monkeypatch, shift) -> None:
    """The fast version stores A and B in one chunk loop (store_groups.py). Only the swap of
    load C and store A needs A and C apart; the shared loop needs A and B apart too: with B
    overlapping A (|shift| < 64) the stores must run one after the other, B's last."""
    block, n = 64, 45
    base = rng.standard_normal(600).astype(np.float32)
    x = rng.standard_normal(block).astype(np.float32)
    a0, b0, c0 = 100, 100 + shift, 400
    ref = base.astype(np.float64)
    la, lc = ref[a0 : a0 + n].copy(), ref[c0 : c0 + n].copy()
    x64 = x[:n].astype(np.float64)
    ref[a0 : a0 + n] = x64 + la
    ref[b0 : b0 + n] = 2 * x64 + lc
    _three_rows.cache.clear()
    for interpret in each_mode(monkeypatch):
        buf = base.copy()
        cell = np.array([1], np.int32)
        _three_rows[(1,)](buf[a0:], buf[b0:], buf[c0:], x, cell, n, BLOCK=block)
        np.testing.assert_allclose(buf, ref, rtol=1e-6, err_msg=f"{interpret=}")
    (outer, _, inner) = _rewritten(_three_rows)
    assert inner.attrs.get(VERSIONED) and inner.attrs.get(FUSED_STORES)
    # the version's condition compares A with C (the swap) and A with B (the shared loop)
    cmps = [o for o in inner.parent.ops if o.name == "arith.cmpi"]
    assert len(cmps) == 4
