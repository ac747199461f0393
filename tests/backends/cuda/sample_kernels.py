"""Small kernels covering the op families of the conformance suite, compiled for CUDA by the
tests (through ``compile_only.py`` in a subprocess). Each case is (kernel, signature,
constexprs, options)."""

from __future__ import annotations

from typing import Any

import tritium as triton
import tritium.language as tl

D16 = {"tt.divisibility": 16}


@triton.jit
def row_softmax_2d(x_ptr, out_ptr, n_cols, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, BLOCK_N)
    offs = rows[:, None] * n_cols + cols[None, :]
    mask = cols[None, :] < n_cols
    x = tl.load(x_ptr + offs, mask=mask, other=-float("inf"))
    e = tl.exp(x - tl.max(x, axis=1)[:, None])
    tl.store(out_ptr + offs, e / tl.sum(e, axis=1)[:, None], mask=mask)


@triton.jit
def column_sum(x_ptr, out_ptr, n_rows, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    cols = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros((BLOCK_N,), tl.float32)
    for start in range(0, n_rows, BLOCK_M):
        rows = start + tl.arange(0, BLOCK_M)
        x = tl.load(x_ptr + rows[:, None] * BLOCK_N + cols[None, :], mask=rows[:, None] < n_rows)
        acc += tl.sum(x, axis=0)
    tl.store(out_ptr + cols, acc)


@triton.jit
def argmax_rows(x_ptr, out_ptr, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    x = tl.load(x_ptr + row * BLOCK + tl.arange(0, BLOCK))
    tl.store(out_ptr + row, tl.argmax(x, axis=0))


@triton.jit
def atomics(x_ptr, counter_ptr, hist_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0)
    tl.atomic_add(hist_ptr + (x & 15), 1, mask=offs < n)
    tl.atomic_max(counter_ptr, tl.max(x, axis=0))
    tl.atomic_cas(counter_ptr + 1, 0, 1)


@triton.jit
def control_flow(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    i = 0
    while i < n:
        x = x * 0.5
        i += 1
    if n > 3:
        x = x + 1.0
    else:
        x = x - 1.0
    tl.store(out_ptr + offs, x)


@triton.jit
def shapes(x_ptr, out_ptr, M: tl.constexpr, N: tl.constexpr):
    offs = tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :]
    x = tl.load(x_ptr + offs)
    t = tl.trans(x)
    r = tl.reshape(t, (N * M,))
    a, b = tl.split(tl.reshape(r, (N * M // 2, 2)))
    j = tl.join(b, a)
    tl.store(out_ptr + tl.arange(0, N * M), tl.reshape(j, (N * M,)))


@triton.jit
def math_and_casts(x_ptr, out_ptr, h_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=1.0)
    y = tl.exp(x) + tl.log(tl.abs(x) + 1.0) + tl.sin(x) * tl.cos(x) + tl.sqrt(tl.abs(x))
    y += tl.math.tanh(x) + tl.erf(x) + tl.math.pow(tl.abs(x), 1.5) + tl.math.rsqrt(x * x + 1.0)
    y += tl.floor(x) + (offs // 3).to(tl.float32) + (offs % 7).to(tl.float32)
    y += tl.where(x > 0, x, -x)
    tl.store(out_ptr + offs, y, mask=offs < n)
    h = tl.load(h_ptr + offs, mask=offs < n)
    tl.store(h_ptr + offs, (h.to(tl.float32) * 2.0).to(tl.bfloat16).to(tl.float16), mask=offs < n)


@triton.jit
def fp8_roundtrip(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    tl.store(out_ptr + offs, x.to(tl.float8e4nv).to(tl.float32))


@triton.jit
def matmul(
    a_ptr, b_ptr, c_ptr, M, N, K,
    BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, PREC: tl.constexpr = None,
):  # fmt: skip
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    a_ptrs = a_ptr + rm[:, None] * K + rk[None, :]
    b_ptrs = b_ptr + rk[:, None] * N + rn[None, :]
    acc = tl.zeros((BM, BN), c_ptr.dtype.element_ty)
    for k in range(0, K, BK):
        a = tl.load(a_ptrs, mask=(rm[:, None] < M) & (rk[None, :] + k < K), other=0.0)
        b = tl.load(b_ptrs, mask=(rk[:, None] + k < K) & (rn[None, :] < N), other=0.0)
        acc = tl.dot(a, b, acc, input_precision=PREC)
        a_ptrs += BK
        b_ptrs += BK * N
    c = c_ptr + rm[:, None] * N + rn[None, :]
    tl.store(c, acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


@triton.jit
def matmul_bt(
    a_ptr, bt_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
):  # fmt: skip
    """c = a @ bt.T with ``bt`` [N, K] loaded as is and transposed (a K-major wgmma ``b``)."""
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    a_ptrs = a_ptr + rm[:, None] * K + rk[None, :]
    b_ptrs = bt_ptr + rn[:, None] * K + rk[None, :]
    acc = tl.zeros((BM, BN), tl.float32)
    for k in range(0, K, BK):
        a = tl.load(a_ptrs, mask=(rm[:, None] < M) & (rk[None, :] + k < K), other=0.0)
        bt = tl.load(b_ptrs, mask=(rn[:, None] < N) & (rk[None, :] + k < K), other=0.0)
        acc = tl.dot(a, tl.trans(bt), acc)
        a_ptrs += BK
        b_ptrs += BK
    c = c_ptr + rm[:, None] * N + rn[None, :]
    tl.store(c, acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


@triton.jit
def cumsum_1d(x_ptr, out_ptr, BLOCK: tl.constexpr, REVERSE: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.cumsum(tl.load(x_ptr + offs), axis=0, reverse=REVERSE))


@triton.jit
def cumsum_2d(x_ptr, out_ptr, M: tl.constexpr, N: tl.constexpr, AXIS: tl.constexpr):
    offs = tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :]
    tl.store(out_ptr + offs, tl.cumsum(tl.load(x_ptr + offs), axis=AXIS))


@triton.jit
def _affine(a_mul, a_add, b_mul, b_add):
    # composing x -> a_mul * x + a_add, then b: not commutative
    return a_mul * b_mul, a_add * b_mul + b_add


@triton.jit
def affine_scan(m_ptr, a_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    mul, add = tl.associative_scan((tl.load(m_ptr + offs), tl.load(a_ptr + offs)), 0, _affine)
    tl.store(out_ptr + offs, add)


@triton.jit
def cumprod_rows(x_ptr, out_ptr, N: tl.constexpr):
    offs = tl.program_id(0) * N + tl.arange(0, N)
    tl.store(out_ptr + offs, tl.cumprod(tl.load(x_ptr + offs), axis=0))


@triton.jit
def matmul_partials(a_ptr, b_ptr, c_ptr, K, BM: tl.constexpr, BN: tl.constexpr,
                    BK: tl.constexpr):  # fmt: skip
    # stores inside the K loop: prefetching later iterations could miss them, no pipelining
    rm, rn, rk = tl.arange(0, BM), tl.arange(0, BN), tl.arange(0, BK)
    acc = tl.zeros((BM, BN), tl.float32)
    for k in range(0, K, BK):
        a = tl.load(a_ptr + rm[:, None] * K + (k + rk)[None, :])
        b = tl.load(b_ptr + (k + rk)[:, None] * BN + rn[None, :])
        acc = tl.dot(a, b, acc)
        tl.store(c_ptr + rm[:, None] * BN + rn[None, :], acc)


@triton.jit
def unsupported_tan(x_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.math.tan(tl.load(x_ptr + offs)))


@triton.jit
def matmul_tma_persistent(
    a_desc, b_desc, c_desc, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
    NUM_SMS: tl.constexpr,
):  # fmt: skip
    """Tutorial 09's persistent matmul with host-side tensor descriptors (TMA on sm_90a)."""
    num_m = tl.cdiv(M, BM)
    num_n = tl.cdiv(N, BN)
    k_tiles = tl.cdiv(K, BK)
    for tile in tl.range(tl.program_id(0), num_m * num_n, NUM_SMS, flatten=True):
        pm = tile // num_n
        pn = tile % num_n
        acc = tl.zeros((BM, BN), tl.float32)
        for ki in range(k_tiles):
            a = a_desc.load([pm * BM, ki * BK])
            b = b_desc.load([ki * BK, pn * BN])
            acc = tl.dot(a, b, acc)
        c_desc.store([pm * BM, pn * BN], acc.to(c_desc.dtype))


@triton.jit
def matmul_tma_bt(a_desc, bt_desc, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr,
                  BK: tl.constexpr):  # fmt: skip
    """c = a @ bt.T through descriptors, ``bt`` [N, K] transposed in the kernel (K-major b)."""
    pm = tl.program_id(0)
    pn = tl.program_id(1)
    acc = tl.zeros((BM, BN), tl.float32)
    for k in range(0, K, BK):
        a = a_desc.load([pm * BM, k])
        bt = bt_desc.load([pn * BN, k])
        acc = tl.dot(a, tl.trans(bt), acc)
    rm = pm * BM + tl.arange(0, BM)
    rn = pn * BN + tl.arange(0, BN)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


@triton.jit
def matmul_device_desc(a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr,
                       BK: tl.constexpr):  # fmt: skip
    """In-kernel descriptors (``tl.make_tensor_descriptor``): cp.async, not TMA."""
    a_desc = tl.make_tensor_descriptor(a_ptr, [M, K], [K, 1], [BM, BK])
    b_desc = tl.make_tensor_descriptor(b_ptr, [K, N], [N, 1], [BK, BN])
    pm = tl.program_id(0)
    pn = tl.program_id(1)
    acc = tl.zeros((BM, BN), tl.float32)
    for k in range(0, K, BK):
        acc = tl.dot(a_desc.load([pm * BM, k]), b_desc.load([k, pn * BN]), acc)
    rm = pm * BM + tl.arange(0, BM)
    rn = pn * BN + tl.arange(0, BN)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


CASES: dict[str, tuple[Any, dict[str, str], dict[str, Any], dict[str, Any]]] = {
    "row_softmax_2d": (
        row_softmax_2d, {"x_ptr": "*fp32", "out_ptr": "*fp32", "n_cols": "i32"},
        {"BLOCK_M": 4, "BLOCK_N": 128}, {"num_warps": 4},
    ),
    "column_sum": (
        column_sum, {"x_ptr": "*fp32", "out_ptr": "*fp32", "n_rows": "i32"},
        {"BLOCK_M": 64, "BLOCK_N": 32}, {"num_warps": 8},
    ),
    "argmax_rows": (argmax_rows, {"x_ptr": "*fp16", "out_ptr": "*i32"}, {"BLOCK": 512}, {}),
    "atomics": (
        atomics, {"x_ptr": "*i32", "counter_ptr": "*i32", "hist_ptr": "*i32", "n": "i32"},
        {"BLOCK": 256}, {},
    ),
    "control_flow": (control_flow, {"x_ptr": "*fp32", "out_ptr": "*fp32", "n": "i32"},
                     {"BLOCK": 64}, {"num_warps": 2}),
    "shapes": (shapes, {"x_ptr": "*fp32", "out_ptr": "*fp32"}, {"M": 16, "N": 32}, {}),
    "math_and_casts": (
        math_and_casts, {"x_ptr": "*fp32", "out_ptr": "*fp32", "h_ptr": "*fp16", "n": "i32"},
        {"BLOCK": 512}, {},
    ),
    "matmul_f16": (
        matmul, {"a_ptr": "*fp16", "b_ptr": "*fp16", "c_ptr": "*fp32", "M": "i32", "N": "i32",
                 "K": "i32"}, {"BM": 64, "BN": 64, "BK": 32}, {"num_warps": 4},
    ),
    "matmul_bf16": (
        matmul, {"a_ptr": "*bf16", "b_ptr": "*bf16", "c_ptr": "*fp32", "M": "i32", "N": "i32",
                 "K": "i32"}, {"BM": 128, "BN": 64, "BK": 32}, {"num_warps": 8},
    ),
    "matmul_tf32": (
        matmul, {"a_ptr": "*fp32", "b_ptr": "*fp32", "c_ptr": "*fp32", "M": "i32", "N": "i32",
                 "K": "i32"}, {"BM": 32, "BN": 32, "BK": 16}, {"num_warps": 4},
    ),
    "matmul_fp32_ieee_fma": (
        matmul, {"a_ptr": "*fp32", "b_ptr": "*fp32", "c_ptr": "*fp32", "M": "i32", "N": "i32",
                 "K": "i32"}, {"BM": 32, "BN": 32, "BK": 16, "PREC": "ieee"}, {"num_warps": 4},
    ),
    "matmul_i8": (
        matmul, {"a_ptr": "*i8", "b_ptr": "*i8", "c_ptr": "*i32", "M": "i32", "N": "i32",
                 "K": "i32"}, {"BM": 32, "BN": 32, "BK": 32}, {"num_warps": 4},
    ),
    "matmul_i8_wide": (
        matmul, {"a_ptr": "*i8", "b_ptr": "*i8", "c_ptr": "*i32", "M": "i32", "N": "i32",
                 "K": "i32"}, {"BM": 128, "BN": 128, "BK": 32}, {"num_warps": 8},
    ),
    "matmul_fp8e4": (
        matmul, {"a_ptr": "*fp8e4nv", "b_ptr": "*fp8e4nv", "c_ptr": "*fp32", "M": "i32",
                 "N": "i32", "K": "i32"}, {"BM": 64, "BN": 64, "BK": 64}, {"num_warps": 4},
    ),
    "matmul_fp8e5": (
        matmul, {"a_ptr": "*fp8e5", "b_ptr": "*fp8e5", "c_ptr": "*fp32", "M": "i32",
                 "N": "i32", "K": "i32"}, {"BM": 64, "BN": 32, "BK": 32}, {"num_warps": 4},
    ),
    # every integer argument divisible by 16 too, as the JIT specializes a 4096^3 launch:
    # aligned 16-byte rows, so the K loop is pipelined with cp.async (num_stages)
    "matmul_f16_pipelined": (
        matmul, {"a_ptr": "*fp16", "b_ptr": "*fp16", "c_ptr": "*fp32", "M": "i32", "N": "i32",
                 "K": "i32"}, {"BM": 128, "BN": 128, "BK": 32},
        {"num_warps": 8, "num_stages": 3, "int_div16": True},
    ),
    "matmul_bf16_pipelined_4": (
        matmul, {"a_ptr": "*bf16", "b_ptr": "*bf16", "c_ptr": "*fp32", "M": "i32", "N": "i32",
                 "K": "i32"}, {"BM": 64, "BN": 128, "BK": 64},
        {"num_warps": 4, "num_stages": 4, "int_div16": True},
    ),
    "matmul_f16_pipelined_2": (
        matmul, {"a_ptr": "*fp16", "b_ptr": "*fp16", "c_ptr": "*fp32", "M": "i32", "N": "i32",
                 "K": "i32"}, {"BM": 64, "BN": 64, "BK": 32},
        {"num_warps": 4, "num_stages": 2, "int_div16": True},
    ),
    "matmul_f16_pipelined_5": (
        matmul, {"a_ptr": "*fp16", "b_ptr": "*fp16", "c_ptr": "*fp32", "M": "i32", "N": "i32",
                 "K": "i32"}, {"BM": 128, "BN": 128, "BK": 64},
        {"num_warps": 8, "num_stages": 5, "int_div16": True},
    ),
    # 8-bit: a is copied by cp.async, b (stored [N, K], transposed) goes through registers
    "matmul_i8_pipelined": (
        matmul, {"a_ptr": "*i8", "b_ptr": "*i8", "c_ptr": "*i32", "M": "i32", "N": "i32",
                 "K": "i32"}, {"BM": 128, "BN": 128, "BK": 64},
        {"num_warps": 8, "num_stages": 3, "int_div16": True},
    ),
    "matmul_partials": (
        matmul_partials, {"a_ptr": "*fp16", "b_ptr": "*fp16", "c_ptr": "*fp32", "K": "i32"},
        {"BM": 64, "BN": 64, "BK": 32}, {"num_warps": 4, "num_stages": 3, "int_div16": True},
    ),
    "matmul_f16_stages_1": (
        matmul, {"a_ptr": "*fp16", "b_ptr": "*fp16", "c_ptr": "*fp32", "M": "i32", "N": "i32",
                 "K": "i32"}, {"BM": 64, "BN": 64, "BK": 32},
        {"num_warps": 4, "num_stages": 1, "int_div16": True},
    ),
    "matmul_f16_wide": (
        matmul, {"a_ptr": "*fp16", "b_ptr": "*fp16", "c_ptr": "*fp32", "M": "i32", "N": "i32",
                 "K": "i32"}, {"BM": 128, "BN": 128, "BK": 64}, {"num_warps": 8},
    ),
    # wgmma on sm_90a (mma.sync elsewhere): tf32 (b transposed while staging), a K-major b
    # (tl.trans of a load, pipelined)
    "matmul_tf32_wgmma": (
        matmul, {"a_ptr": "*fp32", "b_ptr": "*fp32", "c_ptr": "*fp32", "M": "i32", "N": "i32",
                 "K": "i32"}, {"BM": 64, "BN": 32, "BK": 32}, {"num_warps": 4},
    ),
    "matmul_bt_f16": (
        matmul_bt, {"a_ptr": "*fp16", "bt_ptr": "*fp16", "c_ptr": "*fp32", "M": "i32",
                    "N": "i32", "K": "i32"}, {"BM": 64, "BN": 64, "BK": 64},
        {"num_warps": 4, "num_stages": 3, "int_div16": True},
    ),
    "matmul_bt_fp8_stages_1": (
        matmul_bt, {"a_ptr": "*fp8e4nv", "bt_ptr": "*fp8e4nv", "c_ptr": "*fp32", "M": "i32",
                    "N": "i32", "K": "i32"}, {"BM": 64, "BN": 64, "BK": 64},
        {"num_warps": 4, "num_stages": 1, "int_div16": True},
    ),
    # host-side tensor descriptors: TMA boxes into the wgmma tiles on sm_90a (tma.py);
    # 128-byte swizzle (a in 8-row boxes, b MN-major in two 128-byte panels), 64-byte swizzle
    # with a K-major b, 8-bit; in-kernel descriptors stay on cp.async
    "matmul_tma_persistent": (
        matmul_tma_persistent, {"a_desc": "tensordesc<fp16[128,64]>",
                                "b_desc": "tensordesc<fp16[64,128]>",
                                "c_desc": "tensordesc<fp16[128,128]>",
                                "M": "i32", "N": "i32", "K": "i32"},
        {"BM": 128, "BN": 128, "BK": 64, "NUM_SMS": 132}, {"num_warps": 8, "num_stages": 3},
    ),
    "matmul_tma_bt_bf16": (
        matmul_tma_bt, {"a_desc": "tensordesc<bf16[64,32]>", "bt_desc": "tensordesc<bf16[64,32]>",
                        "c_ptr": "*fp32", "M": "i32", "N": "i32", "K": "i32"},
        {"BM": 64, "BN": 64, "BK": 32}, {"num_warps": 4, "num_stages": 4},
    ),
    "matmul_tma_bt_fp8": (
        matmul_tma_bt, {"a_desc": "tensordesc<fp8e4nv[64,128]>",
                        "bt_desc": "tensordesc<fp8e4nv[128,128]>",
                        "c_ptr": "*fp32", "M": "i32", "N": "i32", "K": "i32"},
        {"BM": 64, "BN": 128, "BK": 128}, {"num_warps": 4, "num_stages": 3},
    ),
    "matmul_device_desc": (
        matmul_device_desc, {"a_ptr": "*fp16", "b_ptr": "*fp16", "c_ptr": "*fp32", "M": "i32",
                             "N": "i32", "K": "i32"}, {"BM": 64, "BN": 64, "BK": 32},
        {"num_warps": 4, "num_stages": 3, "int_div16": True},
    ),
    "cumsum_1d": (cumsum_1d, {"x_ptr": "*fp32", "out_ptr": "*fp32"},
                  {"BLOCK": 1024, "REVERSE": False}, {"num_warps": 4}),
    "cumsum_1d_reverse": (cumsum_1d, {"x_ptr": "*i32", "out_ptr": "*i32"},
                          {"BLOCK": 2048, "REVERSE": True}, {"num_warps": 4}),
    "cumsum_1d_small": (cumsum_1d, {"x_ptr": "*fp32", "out_ptr": "*fp32"},
                        {"BLOCK": 32, "REVERSE": False}, {"num_warps": 4}),
    "cumsum_rows": (cumsum_2d, {"x_ptr": "*fp32", "out_ptr": "*fp32"},
                    {"M": 16, "N": 256, "AXIS": 1}, {"num_warps": 4}),
    "cumsum_cols": (cumsum_2d, {"x_ptr": "*i64", "out_ptr": "*i64"},
                    {"M": 128, "N": 16, "AXIS": 0}, {"num_warps": 8}),
    "affine_scan": (affine_scan, {"m_ptr": "*fp32", "a_ptr": "*fp32", "out_ptr": "*fp32"},
                    {"BLOCK": 512}, {"num_warps": 2}),
    "cumprod_rows": (cumprod_rows, {"x_ptr": "*fp16", "out_ptr": "*fp16"}, {"N": 128},
                     {"num_warps": 1}),
    "fp8_roundtrip": (fp8_roundtrip, {"x_ptr": "*fp32", "out_ptr": "*fp32"}, {"BLOCK": 128}, {}),
}  # fmt: skip

UNSUPPORTED: dict[str, tuple[Any, dict[str, str], dict[str, Any], str]] = {
    "tan": (unsupported_tan, {"x_ptr": "*fp32"}, {"BLOCK": 64}, "math.tan"),
}


def compile_case(name: str, cc: int) -> Any:
    """Compile sample ``name`` for compute capability ``cc``; returns the CompiledKernel."""
    from tritium.compiler import ASTSource, GPUTarget

    fn, sig, consts, opts = CASES[name]
    if fn is matmul:
        consts = {"PREC": None, **consts}
    opts = dict(opts)
    ints = opts.pop("int_div16", False)
    attrs = {k: D16 for k, t in sig.items() if t.startswith("*") or (ints and t == "i32")}
    return triton.compile(
        ASTSource(fn, sig, consts, attrs), target=GPUTarget("cuda", cc, 32), options=opts
    )
