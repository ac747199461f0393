"""K loops of ``acc += tl.dot(a, b)`` lowered by chunks of K steps (``dot_kloop``).

Each case runs compiled and interpreted against a float64 NumPy reference, outputs poisoned,
with sizes that are not multiples of the blocks (masked last K step, wrapped rows/columns),
K loops shorter than, equal to and longer than one chunk of steps (with a partial chunk left
after the loop), transposed operands, 16-bit inputs and accumulators that start non-zero.
The compiled results are also compared bit for bit with the dot-by-dot lowering: the chunks
add the products in the same order.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.backends.cpu import dot_kloop


@triton.jit
def _matmul(
    a_ptr,
    b_ptr,
    c_ptr,
    init_ptr,
    M,
    N,
    K,
    stride_am,
    stride_ak,
    stride_bk,
    stride_bn,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    ADD_FORM: tl.constexpr,
    FROM_INIT: tl.constexpr,
    TAG: tl.constexpr,  # only tells the unfused compile apart in the caches
):
    """Tutorial 03's K loop, grouped by 2 rows of programs; ``c = init + a @ b``."""
    pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    num_pid_in_group = 2 * num_pid_n
    first_pid_m = (pid // num_pid_in_group) * 2
    group_size_m = min(num_pid_m - first_pid_m, 2)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m
    offs_am = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    offs_bn = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak)
    b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn)
    offs_cm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_cn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    c_mask = (offs_cm[:, None] < M) & (offs_cn[None, :] < N)
    c_offs = offs_cm[:, None] * N + offs_cn[None, :]
    if FROM_INIT:
        acc = tl.load(init_ptr + c_offs, mask=c_mask, other=0.0)
    else:
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_K, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_K, other=0.0)
        if ADD_FORM:
            acc += tl.dot(a, b)
        else:
            acc = tl.dot(a, b, acc)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk
    tl.store(c_ptr + c_offs, acc, mask=c_mask)


_DTYPES = {"f32": np.float32, "f16": np.float16, "bf16": ml_dtypes.bfloat16}


def _operands(rng, m, n, k, dtype, trans_a=False, trans_b=False):  # type: ignore[no-untyped-def]
    """Random ``a`` (m x k) and ``b`` (k x n) of ``dtype``, as transposed views if asked."""
    dt = _DTYPES[dtype]
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dt)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dt)
    return (a.T if trans_a else a), (b.T if trans_b else b)


def _launch(a, b, init, blocks, add_form=False, tag=0):  # type: ignore[no-untyped-def]
    (m, k), n = a.shape, b.shape[1]
    bm, bn, bk = blocks
    c = np.full((m, n), np.nan, np.float32)
    grid = (triton.cdiv(m, bm) * triton.cdiv(n, bn),)
    sa = [s // a.itemsize for s in a.strides]
    sb = [s // b.itemsize for s in b.strides]
    compiled = _matmul[grid](
        a, b, c, init if init is not None else c, m, n, k, *sa, *sb,
        BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, ADD_FORM=add_form,
        FROM_INIT=init is not None, TAG=tag,
    )  # fmt: skip
    return c, compiled


def _reference(a, b, init):  # type: ignore[no-untyped-def]
    ref = a.astype(np.float64) @ b.astype(np.float64)
    return ref if init is None else ref + init.astype(np.float64)


def _check(c, ref, k):  # type: ignore[no-untyped-def]
    assert not np.isnan(c).any()
    np.testing.assert_allclose(c, ref, rtol=1e-4, atol=2e-5 * k)


@pytest.mark.parametrize(
    "m,n,k,blocks",
    [
        (64, 64, 256, (32, 32, 16)),  # 16 steps: two whole chunks of 8
        (77, 45, 83, (32, 32, 16)),  # 6 steps, the last one masked, rows/columns wrapped
        (40, 72, 300, (16, 64, 32)),  # 10 steps: a chunk of 4, twice, and 2 after the loop
        (33, 20, 9, (16, 16, 16)),  # one masked step, shorter than BLOCK_K
        (50, 70, 130, (32, 16, 64)),  # 3 steps of 64: a chunk of 2 and 1 left
        (40, 20, 70, (32, 8, 16)),  # 8 columns: AVX-512 packs 16-row blocks of 8 lanes
    ],
)
def test_kloop_matmul(mode: str, rng: np.random.Generator, m, n, k, blocks) -> None:  # type: ignore[no-untyped-def]
    a, b = _operands(rng, m, n, k, "f32")
    c, _ = _launch(a, b, None, blocks)
    _check(c, _reference(a, b, None), k)


class _Lanes:
    """What a vector holds, lane by lane (labels), for a stand-in IR builder."""

    def __init__(self, labels: list[object]) -> None:
        self.labels = labels


class _LaneBuilder:
    """Records ``shuffle_vector`` on :class:`_Lanes` as LLVM would evaluate it."""

    def __init__(self) -> None:
        self.shuffles = 0

    def shuffle_vector(self, x: _Lanes, y: _Lanes, mask) -> _Lanes:  # type: ignore[no-untyped-def]
        self.shuffles += 1
        both = x.labels + y.labels
        return _Lanes([both[i.constant] for i in mask.constant])


@pytest.mark.parametrize(
    "rows,w",
    [(1, 8), (2, 16), (4, 8), (8, 8), (8, 16), (16, 16), (16, 8), (4, 16), (3, 8), (6, 16)],
)
def test_interleave_is_column_major(rows: int, w: int) -> None:
    """``a``'s packing order: the rows' lanes read column by column. Powers of two take the
    butterfly, ``rows * log2(min(rows, w))`` shuffles; other counts the merge tree."""
    b = _LaneBuilder()
    vecs = [_Lanes([(r, c) for c in range(w)]) for r in range(rows)]
    out = dot_kloop._interleave(b, vecs, w)  # type: ignore[arg-type]
    flat = [t for v in out for t in v.labels]  # type: ignore[attr-defined]
    assert flat == [(at % rows, at // rows) for at in range(rows * w)]
    if rows & (rows - 1) == 0:
        assert b.shuffles == rows * min(rows, w).bit_length() - rows


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True)])
def test_kloop_dtypes_and_layouts(
    mode: str, rng: np.random.Generator, dtype: str, trans_a: bool, trans_b: bool
) -> None:
    """16-bit inputs (converted while packing), ``a`` with rows strided along K and ``b``
    with columns contiguous along K (transposed views of row-major arrays)."""
    m, n, k = 48, 40, 100
    a, b = _operands(rng, m, n, k, dtype, trans_a, trans_b)
    c, _ = _launch(a, b, None, (16, 32, 16))
    _check(c, _reference(a, b, None), k)


@pytest.mark.parametrize("add_form", [False, True])
def test_kloop_accumulator_starts_nonzero(
    mode: str, rng: np.random.Generator, add_form: bool
) -> None:
    """``acc`` loaded before the loop (not zeros), updated as ``tl.dot(a, b, acc)`` or as
    ``acc += tl.dot(a, b)``."""
    m, n, k = 40, 48, 150
    a, b = _operands(rng, m, n, k, "f32")
    init = rng.standard_normal((m, n)).astype(np.float32)
    c, _ = _launch(a, b, init, (32, 32, 16), add_form=add_form)
    _check(c, _reference(a, b, init), k)


@pytest.mark.parametrize("blocks", [(32, 32, 16), (16, 64, 32), (32, 16, 64)])
def test_kloop_matches_dot_by_dot_bitwise(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, blocks
) -> None:  # type: ignore[no-untyped-def]
    """The chunked lowering adds the products in the dot-by-dot order: equal bits. The fused
    compile is told apart by the run-time check it adds (its out-of-memory message)."""
    m, n, k = 70, 96, 333
    a, b = _operands(rng, m, n, k, "f32")
    init = rng.standard_normal((m, n)).astype(np.float32)
    fused, kernel = _launch(a, b, init, blocks, tag=0)
    assert any("tl.dot K loop" in msg for msg in kernel.metadata["asserts"])
    monkeypatch.setattr(dot_kloop, "_ENABLED", False)
    plain, kernel = _launch(a, b, init, blocks, tag=1)
    assert not any("tl.dot K loop" in msg for msg in kernel.metadata["asserts"])
    _check(fused, _reference(a, b, init), k)
    np.testing.assert_array_equal(fused, plain)


@triton.jit
def _mask_forms(
    a_ptr, b_ptr, c_ptr, M, K, KA, BLOCK: tl.constexpr, BLOCK_K: tl.constexpr, FORM: tl.constexpr
):
    """One block of rows and columns, tutorial 03's K loop with ``a``'s mask written four
    ways: whether a step's tiles are whole is read from the mask's corners when it is an
    affine comparison (forms 0-2), from every element otherwise (form 3)."""
    offs = tl.arange(0, BLOCK)
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + offs[:, None] * KA + offs_k[None, :]
    b_ptrs = b_ptr + offs_k[:, None] * BLOCK + offs[None, :]
    acc = tl.zeros((BLOCK, BLOCK), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        ks = k * BLOCK_K + offs_k
        if FORM == 0:
            a_mask = offs_k[None, :] < K - k * BLOCK_K
        elif FORM == 1:
            a_mask = ks[None, :] < K
        elif FORM == 2:
            a_mask = (ks[None, :] < K) & (offs[:, None] < M)
        else:
            a_mask = (ks[None, :] % (2 * K)) < K  # ks < 2K: the same lanes
        a = tl.load(a_ptrs, mask=a_mask, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_K, other=0.0)
        acc += tl.dot(a, b)
        a_ptrs += BLOCK_K
        b_ptrs += BLOCK_K * BLOCK
    tl.store(c_ptr + offs[:, None] * BLOCK + offs[None, :], acc)


@pytest.mark.parametrize("form", [0, 1, 2, 3])
def test_kloop_step_masks_read_whole_or_not(mode: str, rng: np.random.Generator, form: int) -> None:
    """A partly masked K step is loaded masked: one block of rows as wide as a vector, so the
    dot runs step by step and loads a step's tiles without masks only when the mask says the
    whole step is in range (a wrong "whole" reads past K)."""
    from tritium.backends.cpu.target import host_target, vector_width

    n, bk = vector_width(host_target()), 16
    for k in (bk * 5 + 7, bk * 5):
        a = rng.standard_normal((n, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        c = np.full((n, n), np.nan, np.float32)
        _mask_forms[(1,)](a, b, c, n, k, k, BLOCK=n, BLOCK_K=bk, FORM=form)
        ref = a.astype(np.float64) @ b.astype(np.float64)
        np.testing.assert_allclose(c, ref, rtol=1e-4, atol=1e-3)


@triton.jit
def _reads_acc_in_loop(a_ptr, b_ptr, c_ptr, K, BLOCK: tl.constexpr, BLOCK_K: tl.constexpr):
    """``acc`` is read by more than the dot in the loop (halved every step): not a K loop
    that may be deferred; lowered dot by dot."""
    offs = tl.arange(0, BLOCK)
    offs_k = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK, BLOCK), dtype=tl.float32)
    for k in range(0, K, BLOCK_K):
        a = tl.load(a_ptr + offs[:, None] * K + (k + offs_k)[None, :])
        b = tl.load(b_ptr + (k + offs_k)[:, None] * BLOCK + offs[None, :])
        acc = tl.dot(a, b, acc * 0.5)
    tl.store(c_ptr + offs[:, None] * BLOCK + offs[None, :], acc)


def test_kloop_accumulator_read_in_loop_is_not_deferred(
    mode: str, rng: np.random.Generator
) -> None:
    n, bk, steps = 32, 16, 5
    a = rng.standard_normal((n, bk * steps)).astype(np.float32)
    b = rng.standard_normal((bk * steps, n)).astype(np.float32)
    c = np.full((n, n), np.nan, np.float32)
    kernel = _reads_acc_in_loop[(1,)](a, b, c, bk * steps, BLOCK=n, BLOCK_K=bk)
    ref = np.zeros((n, n))
    for s in range(steps):
        ks = slice(s * bk, (s + 1) * bk)
        ref = ref * 0.5 + a[:, ks].astype(np.float64) @ b[ks].astype(np.float64)
    np.testing.assert_allclose(c, ref, rtol=1e-4, atol=1e-4)
    if mode == "compiled":
        assert not any("tl.dot K loop" in msg for msg in kernel.metadata["asserts"])


@triton.jit
def _two_loops(a_ptr, b_ptr, d_ptr, c_ptr, K, BLOCK: tl.constexpr, BLOCK_K: tl.constexpr):
    """Two K loops in one kernel, the second one's ``b`` scaled by the first one's result:
    ``c = (a @ b) @ d``-like chains use one scratch block each."""
    offs = tl.arange(0, BLOCK)
    offs_k = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK, BLOCK), dtype=tl.float32)
    for k in range(0, K, BLOCK_K):
        a = tl.load(a_ptr + offs[:, None] * K + (k + offs_k)[None, :])
        b = tl.load(b_ptr + (k + offs_k)[:, None] * BLOCK + offs[None, :])
        acc += tl.dot(a, b)
    out = tl.zeros((BLOCK, BLOCK), dtype=tl.float32)
    for k in range(0, BLOCK, BLOCK_K):
        d = tl.load(d_ptr + (k + offs_k)[:, None] * BLOCK + offs[None, :])
        x = tl.load(a_ptr + offs[:, None] * K + (k + offs_k)[None, :])
        out = tl.dot(x, d, out)
    tl.store(c_ptr + offs[:, None] * BLOCK + offs[None, :], acc + out)


def test_kloop_two_loops_in_one_kernel(mode: str, rng: np.random.Generator) -> None:
    n, bk, k = 32, 16, 96
    a = rng.standard_normal((n, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    d = rng.standard_normal((n, n)).astype(np.float32)
    c = np.full((n, n), np.nan, np.float32)
    _two_loops[(1,)](a, b, d, c, k, BLOCK=n, BLOCK_K=bk)
    a64 = a.astype(np.float64)
    ref = a64 @ b.astype(np.float64) + a64[:, :n] @ d.astype(np.float64)
    np.testing.assert_allclose(c, ref, rtol=1e-4, atol=1e-3)


def _fma_loops(asm: str) -> list[list[str]]:
    """The innermost loops of an AT&T-syntax listing that multiply-add: the instructions
    from a label to the last jump back to it, with no other label in between."""
    lines = [line.strip() for line in asm.splitlines()]
    loops = []
    for i, line in enumerate(lines):
        if not (line.endswith(":") and line.startswith(".LBB")):
            continue
        label = line[:-1]
        for j in range(i + 1, len(lines)):
            if lines[j].endswith(":") and lines[j].startswith(".LBB"):
                break
            if lines[j].startswith("j") and lines[j].split()[-1] == label:
                body = [x for x in lines[i + 1 : j + 1] if x and not x.startswith((".", "#"))]
                if any(x.startswith("vfmadd") for x in body):
                    loops.append(body)
    return loops


def test_kloop_microkernel_keeps_accumulators_in_registers(rng: np.random.Generator) -> None:
    """Tutorial 03's shape (64x64x32 blocks, 1024 long K): the microkernel's inner loop, in
    the generated assembly, stores nothing and reads only ``a`` and ``b`` (one broadcast per
    row of the block, one vector per accumulator column): the accumulators stay in
    registers across the K steps of a chunk."""
    from tritium.backends.cpu.target import host_target

    target = host_target()
    if not target.triple.startswith("x86_64") or target.has("avx512f"):
        pytest.skip("checks x86 AVX2 assembly")
    m = n = 64
    k = 1024
    a, b = _operands(rng, m, n, k, "f32")
    c, kernel = _launch(a, b, None, (64, 64, 32), tag=2)
    _check(c, _reference(a, b, None), k)
    loops = _fma_loops(kernel.asm["asm"])
    assert loops, "no multiply-add loop found"
    for body in loops:
        fmas = [x for x in body if x.startswith("vfmadd")]
        loads = [x for x in body if "(" in x and not x.startswith(("vfmadd", "lea", "prefetch"))]
        stores = [
            x for x in body if x.startswith("vmov") and x.split(",")[-1].strip().endswith(")")
        ]
        assert not stores, stores
        # every accumulator is a register operand of its FMA; per k, MR broadcasts of a and
        # NR vectors of b for MR x NR FMAs
        assert all("(" not in x.split(",")[-1] for x in fmas), fmas
        assert len(loads) <= len(fmas), (loads, fmas)
