"""Packed tiles of a K loop's ``b`` kept by a thread and reused by its next programs
(``backends/cpu/dot_panels.py``): results must not depend on which program packed a tile.

A K loop lowered by chunks (``dot_kloop``) keeps ``b``'s tiles per column table in several
slots (``dot_apanels``, one per ``pid_n``, across groups of programs); lowered dot by dot, in
one (``dot_panels``): the tests of ``b``'s tiles run both lowerings.

The kernels below let programs share some tiles and not others: the same column table (a hit),
a table that differs only after its first column (must miss: the whole step-0 pointer tile is
the key), a per-program K step (the step is part of the key), ragged last K steps (masked tiles
are never kept), and a second launch after ``b`` changed (tiles live for one launch). Every case
runs compiled, on one and two threads, and interpreted, against a float64 NumPy reference with
the output poisoned.
"""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.modes import use_threads
from tritium.backends.cpu import dot_kloop


@pytest.fixture(params=["compiled-1", "compiled-2", "interpreted"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    if request.param == "interpreted":
        monkeypatch.setenv("TRITIUM_INTERPRET", "1")
    else:
        monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
        use_threads(request, int(request.param[-1]))
    return request.param


@pytest.fixture(params=["kloop", "dot-by-dot"])
def lowering(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How the K loop is lowered; the kernels take it as a tag (their compiles differ)."""
    monkeypatch.setattr(dot_kloop, "_ENABLED", request.param == "kloop")
    return request.param


def _b_kept(llir: str, lowering: str) -> bool:
    """Whether the compiled kernel keeps ``b``'s packed tiles (by the lowering's site names)."""
    return ("%bpanel." if lowering == "kloop" else "%panel.") in llir


@triton.jit
def _gathered(
    a_ptr,
    b_ptr,
    out_ptr,
    rows_ptr,
    cols_ptr,
    steps_ptr,
    lims_ptr,
    stride_am,
    stride_bk,
    NK: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    TAG: tl.constexpr,  # the lowering (and budget): keeps their compiles apart
):
    """Program p: ``out[p] = sum over NK steps of a[rows[p], k-block] @ b[k-block, cols[p]]``
    where step j reads the K block starting at ``j * steps[p] * BLOCK_K``, up to ``lims[p]``
    (``a`` is read whole: every K block the programs read lies inside it)."""
    pid = tl.program_id(0)
    offs_m = tl.load(rows_ptr + pid * BLOCK_M + tl.arange(0, BLOCK_M))
    offs_n = tl.load(cols_ptr + pid * BLOCK_N + tl.arange(0, BLOCK_N))
    s = tl.load(steps_ptr + pid)
    lim = tl.load(lims_ptr + pid)
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + offs_m[:, None] * stride_am + offs_k[None, :]
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_n[None, :]
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for j in range(0, NK):
        left = lim - j * s * BLOCK_K
        a = tl.load(a_ptrs)  # unmasked: b's mask alone drops the K past lims[p]
        b = tl.load(b_ptrs, mask=offs_k[:, None] < left, other=0.0)
        acc = tl.dot(a, b, acc)
        a_ptrs += s * BLOCK_K
        b_ptrs += s * BLOCK_K * stride_bk
    out = out_ptr + pid * BLOCK_M * BLOCK_N
    tl.store(out + tl.arange(0, BLOCK_M)[:, None] * BLOCK_N + tl.arange(0, BLOCK_N)[None, :], acc)


def _reference(a, b, rows, cols, steps, lims, nk, bk):  # type: ignore[no-untyped-def]
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    out = []
    for p in range(len(steps)):
        acc = np.zeros((rows.shape[1], cols.shape[1]))
        for j in range(nk):
            lo = j * int(steps[p]) * bk
            hi = min(lo + bk, int(lims[p]))
            if hi > lo:
                acc += a64[rows[p]][:, lo:hi] @ b64[lo:hi][:, cols[p]]
        out.append(acc)
    return np.stack(out)


def _launch(a, b, rows, cols, steps, lims, nk, bk, tag="kloop"):  # type: ignore[no-untyped-def]
    p, bm = rows.shape
    bn = cols.shape[1]
    out = np.full((p, bm, bn), np.nan, np.float32)
    art = _gathered[(p,)](
        a, b, out, rows, cols, steps, lims, a.shape[1], b.shape[1], nk, bm, bn, bk, tag
    )
    return out, art


def test_programs_sharing_some_tiles(mode: str, lowering: str, rng: np.random.Generator) -> None:
    """Runs of programs with one column table (reused tiles), tables equal but for the later
    columns, programs that advance by two K blocks a step, and programs whose K limit makes
    a step ragged where the program before read it whole (or the other way round)."""
    m, n, k, bm, bn, bk, nk = 48, 96, 100, 16, 32, 16, 6
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    base = rng.permutation(n)[:bn].astype(np.int32)
    twisted = base.copy()
    twisted[1:] = np.roll(base[1:], 1)  # same first column, the others moved
    other = rng.permutation(n)[:bn].astype(np.int32)
    tables = [base, base, base, twisted, twisted, base, other, base, base, base, base, base]
    steps = np.array([1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 1, 1], np.int32)
    lims = np.array([k, k, 75, k, k, k, k, k, k, k, 75, k], np.int32)  # 75: step 4 ragged
    nks = 3  # 3 steps of 2 blocks stay inside K
    rows = np.stack([rng.integers(0, m, bm) for _ in tables]).astype(np.int32)
    cols = np.stack(tables)
    for nk_run in (nk, nks):
        run_steps = steps if nk_run == nks else np.ones_like(steps)
        out, art = _launch(a, b, rows, cols, run_steps, lims, nk_run, bk, lowering)
        ref = _reference(a, b, rows, cols, run_steps, lims, nk_run, bk)
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * np.sqrt(k))
    if mode != "interpreted":
        assert _b_kept(art.asm["llir"], lowering)  # the tiles were kept: the case tests reuse


def test_reuse_resumes_after_a_run_of_misses(
    mode: str, lowering: str, rng: np.random.Generator
) -> None:
    """20 programs with tables of their own (a run of misses: they stop keeping tiles), then
    runs of programs sharing one table: one in 16 keeps its tiles again, and reuse resumes.
    A program that does not keep its tiles must not read the ones kept before it."""
    m, n, k, bm, bn, bk, nk = 32, 128, 64, 16, 32, 16, 4
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    own = [rng.permutation(n)[:bn].astype(np.int32) for _ in range(20)]
    # program 15, the 16th miss in a row, keeps its tiles; program 16 must not use them
    # though each of its tiles starts at the same address (only the later columns differ)
    own[16] = own[15].copy()
    own[16][1:] = np.roll(own[15][1:], 1)
    shared = [rng.permutation(n)[:bn].astype(np.int32) for _ in range(3)]
    tables = own + [t for t in shared for _ in range(8)]
    cols = np.stack(tables)
    rows = np.stack([rng.integers(0, m, bm) for _ in tables]).astype(np.int32)
    steps = np.ones(len(tables), np.int32)
    lims = np.full(len(tables), k, np.int32)
    out, _ = _launch(a, b, rows, cols, steps, lims, nk, bk, lowering)
    ref = _reference(a, b, rows, cols, steps, lims, nk, bk)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * np.sqrt(k))


def test_second_launch_sees_new_b(mode: str, lowering: str, rng: np.random.Generator) -> None:
    """Tiles kept by one launch are not reused by the next, after ``b`` changed in place."""
    m, n, k, bm, bn, bk, nk = 32, 64, 64, 16, 32, 16, 4
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    cols = np.stack([np.arange(bn, dtype=np.int32)] * 6)
    rows = np.stack([rng.integers(0, m, bm) for _ in range(6)]).astype(np.int32)
    steps = np.ones(6, np.int32)
    lims = np.full(6, k, np.int32)
    _launch(a, b, rows, cols, steps, lims, nk, bk, lowering)
    b[:] = rng.standard_normal((k, n)).astype(np.float32)
    out, _ = _launch(a, b, rows, cols, steps, lims, nk, bk, lowering)
    ref = _reference(a, b, rows, cols, steps, lims, nk, bk)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * np.sqrt(k))


@triton.jit
def _matmul(
    a_ptr,
    b_ptr,
    c_ptr,
    M,
    N,
    K,
    stride_am,
    stride_bk,
    stride_cm,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr,
    STORE_IN_LOOP: tl.constexpr,
    TAG: tl.constexpr,  # the lowering: keeps the compiles apart
):
    """Tutorial 03 with grouped order; ``STORE_IN_LOOP`` stores the running sum every step
    (a loop that writes memory: its tiles are never kept)."""
    pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    num_pid_in_group = GROUP_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m
    offs_am = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    offs_bn = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :])
    b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_bn[None, :])
    offs_cm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_cn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    c_ptrs = c_ptr + stride_cm * offs_cm[:, None] + offs_cn[None, :]
    c_mask = (offs_cm[:, None] < M) & (offs_cn[None, :] < N)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_K, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_K, other=0.0)
        acc = tl.dot(a, b, acc)
        if STORE_IN_LOOP:
            tl.store(c_ptrs, acc, mask=c_mask)
        a_ptrs += BLOCK_K
        b_ptrs += BLOCK_K * stride_bk
    tl.store(c_ptrs, acc, mask=c_mask)


@pytest.mark.parametrize(
    "m,n,k,dtype,store_in_loop,group",
    [
        # 3 groups of 4, 4 and 1 rows of 3 programs, all steps full (kloop: b's panels are
        # kept across the groups)
        (136, 96, 80, np.float32, False, 4),
        (100, 80, 70, np.float32, False, 4),  # ragged M, N (wraps) and K
        (64, 64, 48, np.float16, False, 4),  # a, b converted while packed: kept tiles are fp32
        (72, 64, 48, np.float32, True, 4),  # a store in the loop: not kept, still right
        # no grouping: consecutive programs share no tile of b; after two misses in a row
        # they pack as without reuse, one in 16 keeps its tiles again (40 programs)
        (64, 320, 48, np.float32, False, 1),
    ],
)
def test_grouped_matmul(
    mode: str,
    lowering: str,
    rng: np.random.Generator,
    m: int,
    n: int,
    k: int,
    dtype: type,
    store_in_loop: bool,
    group: int,
) -> None:
    bm, bn, bk = 16, 32, 16
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    c = np.full((m, n), np.nan, np.float32)
    grid = (triton.cdiv(m, bm) * triton.cdiv(n, bn),)
    art = _matmul[grid](a, b, c, m, n, k, k, n, n, bm, bn, bk, group, store_in_loop, lowering)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-3
    np.testing.assert_allclose(c, ref, rtol=tol, atol=tol * np.sqrt(k))
    if mode != "interpreted":
        assert _b_kept(art.asm["llir"], lowering) == (not store_in_loop)
        assert ("%apanel." in art.asm["llir"]) == (not store_in_loop)  # a's tiles too


def test_a_panels_rotate_through_slots(mode: str, rng: np.random.Generator) -> None:
    """Packed tiles of ``a`` kept per row table (``backends/cpu/dot_apanels.py``): programs
    cycle through more row tables than the site has slots (the least recently used slot is
    taken, or the one taken last when a table let go comes back),
    come back to tables still held, read a table equal to a held one but for its later rows
    (same first address: must miss, the whole step-0 tile is the key) or the same rows
    advanced by two K blocks a step (the step is part of the key), and some have a ragged K
    limit (b's mask; a's tiles are read whole)."""
    from tritium.backends.cpu.dot_apanels import SLOTS

    m, n, k, bm, bn, bk, nk = 96, 64, 96, 16, 32, 16, 3
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    tables = [rng.permutation(m)[:bm].astype(np.int32) for _ in range(SLOTS + 2)]
    twisted = tables[0].copy()
    twisted[1:] = np.roll(tables[0][1:], 1)
    order = [tables[i % 3] for i in range(9)]  # three tables in turn: hits
    order += tables + tables[::-1]  # more tables than slots: replaced
    order += [tables[0], twisted, tables[0], tables[1], tables[1]]
    rows = np.stack(order)
    p = len(order)
    cols = np.stack([rng.permutation(n)[:bn].astype(np.int32) for _ in range(p)])
    steps = np.ones(p, np.int32)
    steps[[4, 5, p - 1]] = 2  # same rows as programs before them, two K blocks a step
    lims = np.full(p, k, np.int32)
    lims[[2, 7, p - 2]] = 40  # step 2 ragged (in b's mask only)
    out, art = _launch(a, b, rows, cols, steps, lims, nk, bk)
    ref = _reference(a, b, rows, cols, steps, lims, nk, bk)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * np.sqrt(k))
    if mode != "interpreted":
        assert "%apanel." in art.asm["llir"]  # a's tiles were kept: the case tests reuse


def test_a_panels_second_launch_sees_new_a(mode: str, rng: np.random.Generator) -> None:
    """Tiles of ``a`` kept by one launch are not reused by the next, after ``a`` changed in
    place (the same addresses, so the same keys)."""
    m, n, k, bm, bn, bk, nk = 32, 64, 64, 16, 32, 16, 4
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    rows = np.stack([np.arange(bm, dtype=np.int32)] * 6)
    cols = np.stack([rng.permutation(n)[:bn].astype(np.int32) for _ in range(6)])
    steps = np.ones(6, np.int32)
    lims = np.full(6, k, np.int32)
    _launch(a, b, rows, cols, steps, lims, nk, bk)
    a[:] = rng.standard_normal((m, k)).astype(np.float32)
    out, _ = _launch(a, b, rows, cols, steps, lims, nk, bk)
    ref = _reference(a, b, rows, cols, steps, lims, nk, bk)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * np.sqrt(k))


def test_b_panels_rotate_through_slots(mode: str, rng: np.random.Generator) -> None:
    """The K loop lowered by chunks keeps ``b``'s tiles per column table in as many slots as
    its budget holds (three here): programs cycle through more tables than that (the least
    recently used slot is taken, or the one taken last when a table let go comes back), come
    back to tables still held, read a table equal to a held one
    but for its later columns (same first address: must miss) or advanced by two K blocks a
    step (the step is part of the key), and some have a ragged K limit (masked tiles are
    never kept)."""
    from tritium.backends.cpu import dot_panels

    m, n, k, bm, bn, bk, nk = 48, 128, 96, 16, 32, 16, 3
    tile = -(-bk * bn * 4 // 64) * 64 + dot_panels.SKEW
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    tables = [rng.permutation(n)[:bn].astype(np.int32) for _ in range(5)]
    twisted = tables[0].copy()
    twisted[1:] = np.roll(tables[0][1:], 1)
    order = [tables[i % 3] for i in range(9)]  # three tables in turn: hits
    order += tables + tables[::-1]  # more tables than slots: replaced
    order += [tables[0], twisted, tables[0], tables[1], tables[1]]
    cols = np.stack(order)
    p = len(order)
    rows = np.stack([rng.integers(0, m, bm) for _ in range(p)]).astype(np.int32)
    steps = np.ones(p, np.int32)
    steps[[4, 5, p - 1]] = 2  # same columns as programs before them, two K blocks a step
    lims = np.full(p, k, np.int32)
    lims[[2, 7, p - 2]] = 40  # step 2 ragged
    if mode != "interpreted":
        # three slots of nk tiles each (and less than a fourth)
        monkey = pytest.MonkeyPatch()
        monkey.setattr(dot_kloop, "_B_PANEL_BYTES", 3 * nk * tile + tile)
    try:
        out, art = _launch(a, b, rows, cols, steps, lims, nk, bk, "kloop-3-slots")
    finally:
        if mode != "interpreted":
            monkey.undo()
    ref = _reference(a, b, rows, cols, steps, lims, nk, bk)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * np.sqrt(k))
    if mode != "interpreted":
        assert "%bpanel." in art.asm["llir"]  # b's tiles were kept: the case tests reuse


@pytest.mark.parametrize("slots", [3, 7])
def test_b_panels_of_a_cycle_longer_than_the_slots(
    mode: str, rng: np.random.Generator, slots: int
) -> None:
    """Tutorial 03's grouped order with more column tables than ``b``'s budget holds (8
    tables; 3 or 7 slots), over 5 groups (the last one short): the tables cycle once per
    group, so from the second group on the keys let go come back (``helpers.APANEL_FIND``
    then keeps ``slots - 1`` tables across groups and rotates one slot): every program's
    result must still be its own tables' product, however its tiles were found."""
    from tritium.backends.cpu import dot_panels

    m, n, k, bm, bn, bk, group = 144, 256, 80, 16, 32, 16, 2
    tile = -(-bk * bn * 4 // 64) * 64 + dot_panels.SKEW
    nk = triton.cdiv(k, bk)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = np.full((m, n), np.nan, np.float32)
    grid = (triton.cdiv(m, bm) * triton.cdiv(n, bn),)
    with pytest.MonkeyPatch.context() as monkey:
        monkey.setattr(dot_kloop, "_ENABLED", True)
        monkey.setattr(dot_kloop, "_B_PANEL_BYTES", slots * nk * tile + tile // 2)
        tag = f"kloop-{slots}-slots"
        art = _matmul[grid](a, b, c, m, n, k, k, n, n, bm, bn, bk, group, False, tag)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-5 * np.sqrt(k))
    if mode != "interpreted":
        assert "%bpanel." in art.asm["llir"]  # b's tiles were kept: the case tests reuse


@triton.jit
def _tabled(
    a_ptr, b_ptr, out_ptr, table_ptr, K, N: tl.constexpr, BM: tl.constexpr, BK: tl.constexpr
):
    """Program p reads ``a`` through its own table of offsets (``BM x BK``, not a row plus a
    column: the whole pointer tile is the key) and all of ``b``'s ``N`` columns."""
    pid = tl.program_id(0)
    rows = tl.arange(0, BM)
    ks = tl.arange(0, BK)
    cols = tl.arange(0, N)
    table = tl.load(table_ptr + pid * BM * BK + rows[:, None] * BK + ks[None, :])
    a_ptrs = a_ptr + table
    b_ptrs = b_ptr + (ks[:, None] * N + cols[None, :])
    acc = tl.zeros((BM, N), dtype=tl.float32)
    for _ in range(0, tl.cdiv(K, BK)):
        acc = tl.dot(tl.load(a_ptrs), tl.load(b_ptrs), acc)
        a_ptrs += BK
        b_ptrs += BK * N
    tl.store(out_ptr + pid * BM * N + rows[:, None] * N + cols[None, :], acc)


def test_key_of_a_gathered_tile_is_the_whole_tile(mode: str, rng: np.random.Generator) -> None:
    """A pointer tile that is not a row plus a column (offsets loaded from a table) is keyed
    by all its addresses: programs whose tables agree on the first row and column but not
    inside must not share packed tiles (a key of the first row and column would)."""
    bm, bk, n, nk = 16, 16, 32, 4
    k = bk * nk
    a = rng.standard_normal((4 * bm, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    plain = (np.arange(bm)[:, None] * k + np.arange(bk)[None, :]).astype(np.int32)
    inside = plain.copy()
    inside[1:, 1:] = plain[1:, 1:] + 2 * bm * k  # rows 2 * bm further down, past the first
    tables = np.stack([plain, inside, plain, inside, inside, plain])
    out = np.full((len(tables), bm, n), np.nan, np.float32)
    art = _tabled[(len(tables),)](a, b, out, tables, k, n, bm, bk)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ref = []
    for t in tables:
        tile = np.stack([a64.reshape(-1)[t + j * bk] for j in range(nk)], axis=0)  # nk, bm, bk
        ref.append(sum(tile[j] @ b64[j * bk : (j + 1) * bk] for j in range(nk)))
    np.testing.assert_allclose(out, np.stack(ref), rtol=1e-5, atol=1e-5 * np.sqrt(k))
    if mode != "interpreted":
        assert "%apanel." in art.asm["llir"]  # a's tiles were kept: the case tests their key
