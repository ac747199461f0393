"""Where tutorial 03's ``tl.dot`` reads its operands from, and what the address analysis may
assume on the way:

* ``(pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N`` with N divisible by 16 is contiguous within
  each vector chunk, so B's rows load as plain vectors (no per-chunk runtime address check);
* ``a`` is broadcast from its source rows when its mask is all set, and from a packed copy on a
  ragged last K step, when rows are not contiguous along K, or when it needs a conversion.

Every case runs compiled and interpreted against a float64 NumPy reference, with the output
poisoned and with offsets that wrap (M, N smaller than a block, or not multiples of it).
"""

from __future__ import annotations

import re

import ml_dtypes
import numpy as np
import pytest

import tritium as triton
import tritium.language as tl


@triton.jit
def _matmul(
    a_ptr,
    b_ptr,
    c_ptr,
    M,
    N,
    K,
    stride_am,
    stride_ak,
    stride_bk,
    stride_bn,
    stride_cm,
    stride_cn,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr,
):
    """Tutorial 03's kernel with the result stored in ``c``'s dtype."""
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
    a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak)
    b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn)
    accumulator = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_K, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_K, other=0.0)
        accumulator = tl.dot(a, b, accumulator)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk
    c = accumulator.to(c_ptr.dtype.element_ty)
    offs_cm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_cn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    c_ptrs = c_ptr + stride_cm * offs_cm[:, None] + stride_cn * offs_cn[None, :]
    tl.store(c_ptrs, c, mask=(offs_cm[:, None] < M) & (offs_cn[None, :] < N))


def _run(a: np.ndarray, b: np.ndarray, blocks: tuple[int, int, int]) -> tuple[np.ndarray, object]:
    (m, k), n = a.shape, b.shape[1]
    bm, bn, bk = blocks
    c = np.full((m, n), np.nan, np.float32)
    grid = (triton.cdiv(m, bm) * triton.cdiv(n, bn),)
    sa, sb = (s // a.itemsize for s in a.strides), (s // b.itemsize for s in b.strides)
    compiled = _matmul[grid](
        a, b, c, m, n, k, *sa, *sb, n, 1, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=4
    )
    return c, compiled


def _check(c: np.ndarray, a: np.ndarray, b: np.ndarray, tol: float) -> None:
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c, ref, rtol=tol, atol=tol * np.sqrt(a.shape[1]))


@pytest.mark.parametrize(
    "m,n,k,blocks",
    [
        (64, 64, 64, (32, 32, 16)),  # every K step all in bounds: a read at its source
        (70, 48, 40, (32, 64, 16)),  # N=48 (divisible by 16) wraps inside a block; ragged K
        (33, 80, 24, (16, 32, 16)),  # N=80 wraps in the last column block; M=33 in rows
        (40, 50, 37, (16, 32, 16)),  # N=50: no divisibility hint, addresses checked at run time
        (5, 16, 16, (16, 16, 16)),  # M smaller than a block: rows wrap onto earlier rows
    ],
)
def test_tutorial_matmul_fp32(
    mode: str, rng: np.random.Generator, m: int, n: int, k: int, blocks: tuple[int, int, int]
) -> None:
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c, _ = _run(a, b, blocks)
    _check(c, a, b, 1e-5)


def test_transposed_and_strided_operands(mode: str, rng: np.random.Generator) -> None:
    """A stored K-major (rows not contiguous along K: packed, not read at the source) and B a
    column-strided view (stride_bn = 2: no contiguity to claim)."""
    m, n, k = 48, 32, 40
    a = rng.standard_normal((k, m)).astype(np.float32).T  # strides (1, m)
    b_wide = rng.standard_normal((k, 2 * n)).astype(np.float32)
    b = b_wide[:, ::2]
    c, _ = _run(a, b, (16, 32, 16))
    _check(c, a, b, 1e-5)


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16])
def test_low_precision_inputs(mode: str, rng: np.random.Generator, dtype: type) -> None:
    """16-bit inputs are converted while packed (no direct read), accumulated in fp32."""
    m, n, k = 40, 48, 56
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    c, _ = _run(a, b, (16, 32, 16))
    _check(c, a.astype(np.float32), b.astype(np.float32), 1e-4)


def test_masked_off_elements_never_reach_the_sum(mode: str, rng: np.random.Generator) -> None:
    """K=20 with BLOCK_K=16: the second K step reads past each row of A and past B's last row;
    those addresses hold NaN and must be masked off (the packed fallback, not the direct path)."""
    m, n, k = 32, 32, 20
    a_full = np.full((m, 32), np.nan, np.float32)
    a_full[:, :k] = rng.standard_normal((m, k))
    b_full = np.full((k + 16, n), np.nan, np.float32)
    b_full[:k] = rng.standard_normal((k, n))
    a, b = a_full[:, :k], b_full[:k]
    c, _ = _run(a, b, (16, 32, 16))
    _check(c, a, b, 1e-5)


def test_divisible_modulo_loads_b_without_address_checks(rng: np.random.Generator) -> None:
    """With N's divisible-by-16 hint, ``offs_bn % N`` is contiguous per chunk: B's loads need
    neither a gather nor the runtime check that compares every lane's address to lane 0's."""
    a = rng.standard_normal((64, 32)).astype(np.float32)
    b = rng.standard_normal((32, 48)).astype(np.float32)
    c, compiled = _run(a, b, (32, 32, 16))
    _check(c, a, b, 1e-5)
    llir = compiled.asm["llir"]  # type: ignore[attr-defined]
    assert "gather" not in llir
    assert "icmp eq <8 x i64>" not in llir and "icmp eq <16 x i64>" not in llir


@pytest.mark.parametrize("level", ["x86-64-v3", "x86-64-v4"])
def test_tutorial_matmul_compiles_for_avx2_and_avx512(level: str) -> None:
    """Compile-only for another x86-64 level (this host may lack AVX-512): the same paths are
    taken with 16-lane vectors, and the address tiles are not materialized (the frame holds
    the accumulator, the packed B and small offset tiles, not BLOCK x BLOCK i64 addresses)."""
    from tritium.backends.cpu.target import compiling_for
    from tritium.compiler import ASTSource
    from tritium.tools.aot import _level_target
    from tutorials import matmul

    try:  # the compile stages without loading the code (this CPU may not run it)
        from tritium.backends.driver import driver
        from tritium.compiler.stages import run_stages
    except ImportError:  # before the compile/launch split (issue 15)
        from tritium.compiler.compiler import _run_stages as run_stages  # type: ignore
        from tritium.runtime.driver import driver  # type: ignore

    signature = {p: "*fp32" for p in ("a_ptr", "b_ptr", "c_ptr")}
    signature |= {p: "i32" for p in ("M", "N", "K", "stride_am", "stride_bk", "stride_cm")}
    constexprs = {"stride_ak": 1, "stride_bn": 1, "stride_cn": 1, "ACTIVATION": ""}
    constexprs |= {"BLOCK_SIZE_M": 64, "BLOCK_SIZE_N": 64, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8}
    hint = {"tt.divisibility": 16}
    attrs = {p: hint for p in ("a_ptr", "b_ptr", "c_ptr", "N", "K", "stride_am", "stride_bk")}
    src = ASTSource(matmul.matmul_kernel.fn, signature, constexprs, attrs)
    with compiling_for(*_level_target(level)):
        art = run_stages(src, driver.active.get_current_target(), {})
    lanes = 16 if level == "x86-64-v4" else 8
    llir = art.asm["llir"]
    assert art.metadata["vector_width"] == lanes
    assert f"<{lanes} x float> @llvm.fmuladd" in llir or f"@llvm.fma.v{lanes}f32" in llir
    assert "gather" not in llir
    acc, packed_b = 64 * 64 * 4, 32 * 64 * 4
    assert art.metadata["stack_bytes"] < acc + 2 * packed_b + 4096  # no 16 KiB address tiles


def test_b_stored_n_major_advances_by_a_constant_step(mode: str, rng: np.random.Generator) -> None:
    """B a transposed view (stride_bk == 1, specialized to a constant): its loop-carried
    pointers advance by a compile-time step, which the packing's prefetch uses; ragged K."""
    m, n, k = 40, 48, 36
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((n, k)).astype(np.float32).T  # strides (1, k)
    c, _ = _run(a, b, (16, 16, 16))
    _check(c, a, b, 1e-5)


@triton.jit
def _matmul_indexed(
    a_ptr,
    b_ptr,
    c_ptr,
    M,
    N,
    K,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """One program, row-major operands, both addressed from ``k`` afresh every step (not
    loop-advanced pointer tiles)."""
    offs_m = tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        rows = k * BLOCK_K + offs_k
        a = tl.load(a_ptr + offs_m[:, None] * K + rows[None, :], mask=rows[None, :] < K, other=0.0)
        b = tl.load(b_ptr + rows[:, None] * N + offs_n[None, :], mask=rows[:, None] < K, other=0.0)
        acc = tl.dot(a, b, acc)
    tl.store(c_ptr + offs_m[:, None] * N + offs_n[None, :], acc)


def test_loop_advanced_b_is_prefetched_one_step_ahead(rng: np.random.Generator) -> None:
    """Packing loop-advanced operands (tutorial 03's ``b_ptrs += BLOCK_K * stride_bk``)
    prefetches the next step's lines into every level; operands addressed from ``k`` afresh
    prefetch the next step's tiles into L2 as they are loaded (``prefetch._plan_dot_operand``),
    the others not. Both compute the same product."""
    m, n, k = 32, 32, 40
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c, advanced = _run(a, b, (32, 32, 16))
    _check(c, a, b, 1e-5)
    c2 = np.full((m, n), np.nan, np.float32)
    indexed = _matmul_indexed[(1,)](a, b, c2, m, n, k, BLOCK_M=32, BLOCK_N=32, BLOCK_K=16)
    _check(c2, a, b, 1e-5)

    def prefetches(compiled: object, locality: int) -> int:
        llir = compiled.asm["llir"]  # type: ignore[attr-defined]
        return len(re.findall(rf"@llvm\.prefetch\.p0\(ptr %[\w.]+, i32 0, i32 {locality},", llir))

    assert prefetches(advanced, 3) > 0 and prefetches(advanced, 2) == 0
    assert prefetches(indexed, 2) > 0 and prefetches(indexed, 3) == 0


@triton.jit
def _dot_scaled_acc(A, B, C, Out, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    """``out = a @ b + c * 2``, with ``c * 2`` a fused tile handed to ``tl.dot`` as its
    accumulator (flash attention's ``tl.dot(p, v, acc * alpha[:, None])``)."""
    rm, rn, rk = tl.arange(0, M), tl.arange(0, N), tl.arange(0, K)
    a = tl.load(A + rm[:, None] * K + rk[None, :])
    b = tl.load(B + rk[:, None] * N + rn[None, :])
    c = tl.load(C + rm[:, None] * N + rn[None, :]) * 2.0
    tl.store(Out + rm[:, None] * N + rn[None, :], tl.dot(a, b, c))


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_fused_accumulator_starts_the_registers(
    mode: str, rng: np.random.Generator, dtype: type
) -> None:
    """The accumulator is computed where each block of the microkernel starts (converted to
    fp32 for an fp16 ``c``), not first into a buffer: every element still gets ``c * 2``."""
    m, n, k = 32, 48, 16
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    out = np.full((m, n), np.nan, dtype)
    _dot_scaled_acc[(1,)](a, b, c, out, M=m, N=n, K=k)
    ref = a.astype(np.float64) @ b.astype(np.float64) + 2.0 * c.astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 4e-3
    np.testing.assert_allclose(out.astype(np.float64), ref, rtol=tol, atol=tol * 4)


@triton.jit
def _scores(
    q_ptr,
    k_ptr,
    out_ptr,
    side_ptr,
    N,
    D,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    CASE: tl.constexpr,
):
    """``out = q @ k^T`` over key blocks (attention's first dot) with ``k`` loaded masked
    (ragged N and D: masked-off elements are zero). CASE 0: ``tl.trans(k)`` feeds only the
    dot (packed transposed straight from the load); 1: a store between the transpose and
    the dot (k is read before it); 2: ``k`` also feeds a sum (materialized once)."""
    pid = tl.program_id(0)
    offs_m = pid * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    q = tl.load(
        q_ptr + offs_m[:, None] * D + offs_d[None, :],
        mask=(offs_m[:, None] < N) & (offs_d[None, :] < D),
        other=0.0,
    )
    for start in range(0, N, BLOCK_N):
        offs_n = start + tl.arange(0, BLOCK_N)
        kmask = (offs_n[:, None] < N) & (offs_d[None, :] < D)
        k = tl.load(k_ptr + offs_n[:, None] * D + offs_d[None, :], mask=kmask, other=0.0)
        kt = tl.trans(k)
        if CASE == 1:
            # overwrite the row of k just read; the dot must see the values loaded before
            junk = tl.full((BLOCK_N, BLOCK_D), -7.0, k.dtype)
            tl.store(k_ptr + offs_n[:, None] * D + offs_d[None, :], junk, mask=kmask)
        if CASE == 2:
            tl.store(side_ptr + pid * N + offs_n, tl.sum(k, axis=1), mask=offs_n < N)
        s = tl.dot(q, kt)
        cmask = (offs_m[:, None] < N) & (offs_n[None, :] < N)
        tl.store(out_ptr + offs_m[:, None] * N + offs_n[None, :], s, mask=cmask)


@pytest.mark.parametrize("case", [0, 1, 2])
@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16])
def test_dot_of_transposed_load(
    mode: str, rng: np.random.Generator, case: int, dtype: type
) -> None:
    """``tl.dot(q, tl.trans(k))`` of a masked load (N=40, D=27 in 16 x 32 key blocks), fp32
    and bf16: compiled, the transposed ``k`` is packed from the load itself when nothing
    else reads it and no store comes between (CASE 0), and from a copy otherwise."""
    n, d, bm, bn, bd = 40, 27, 64, 16, 32  # one program: CASE 1's stores race no other
    q = rng.standard_normal((n, d)).astype(dtype)
    k = rng.standard_normal((n, d)).astype(dtype)
    k_before = k.astype(np.float64)
    out = np.full((n, n), np.nan, np.float32)
    side = np.full((triton.cdiv(n, bm), n), np.nan, np.float32)
    grid = (triton.cdiv(n, bm),)
    k_run = k.copy()
    art = _scores[grid](q, k_run, out, side, n, d, bm, bn, bd, case)
    ref = q.astype(np.float64) @ k_before.T
    tol = 1e-5 if dtype == np.float32 else 1e-2
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.sqrt(d))
    if case == 2:
        np.testing.assert_allclose(
            side, np.broadcast_to(k_before.sum(1), side.shape), rtol=tol, atol=tol * np.sqrt(d)
        )
    if mode == "compiled":
        assert ("packt.fused" in art.asm["llir"]) == (case == 0)


def test_transposed_load_compiles_for_avx512_bf16() -> None:
    """Compile-only (this host may lack AVX-512): attention's bf16 ``tl.dot(q, tl.trans(k))``
    on a CPU with ``vdpbf16ps`` packs ``k`` transposed in its own 16-bit type straight from
    the load (``dot_packed``'s operand), as on AVX2 in fp32."""
    from tritium.backends.cpu.target import compiling_for
    from tritium.backends.driver import driver
    from tritium.compiler import ASTSource
    from tritium.compiler.stages import run_stages
    from tutorials import attention

    sig = {p: "*bf16" for p in ("Q", "K", "V", "Out")} | {"sm_scale": "fp32"}
    for t in "qkvo":
        sig |= {f"stride_{t}{d}": "i32" for d in ("z", "h", "m" if t in "qo" else "n", "k")}
    sig |= {p: "i32" for p in ("H", "H_KV", "N_CTX")}
    constexprs = {"HEAD_DIM": 64, "BLOCK_M": 64, "BLOCK_N": 64, "STAGE": 1}
    src = ASTSource(attention._attn_fwd.fn, sig, constexprs, {})
    feats = "+avx512f,+avx512bw,+avx512vl,+avx512dq,+avx512bf16,+avx512vnni,+avx2,+fma,+f16c"
    with compiling_for("sapphirerapids", feats):
        art = run_stages(src, driver.active.get_current_target(), {})
    llir = art.asm["llir"]
    assert "dpbf16ps" in llir and "packt.fused" in llir
