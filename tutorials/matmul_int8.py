"""W8A8 quantized linear layer: an int8 x int8 matmul with int32 accumulation, dequantized.

``C[m, n] = (sum_k A[m, k] * B[k, n]) * a_scale[m] * b_scale[n]`` with ``A`` the activations
quantized per row (token) and ``B`` the weights quantized per output column (channel), the scheme
CPU inference servers use with VNNI/AMX int8 instructions. The dot accumulates exactly in int32;
the scales are applied once in fp32 at the end, and the output is fp32 (or fp16/bf16 if asked).
Block sizes are autotuned; programs are ordered in groups of rows, as in Triton's tutorial 03.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import tritium as triton
import tritium.language as tl
from tutorials import _host


@triton.autotune(
    configs=[
        triton.Config({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 64, "GROUP_M": 8}),
        triton.Config({"BLOCK_M": 32, "BLOCK_N": 64, "BLOCK_K": 128, "GROUP_M": 8}),
    ],
    key=["M", "N", "K"],
)
@triton.jit
def matmul_int8_kernel(
    A,
    B,
    C,
    A_scale,
    B_scale,
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
    # Grouped ordering: GROUP_M row blocks share the columns of B they read.
    pid = tl.program_id(0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    num_pid_in_group = GROUP_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = A + offs_m[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_ptrs = B + offs_k[:, None] * stride_bk + offs_n[None, :] * stride_bn
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        k_left = K - k * BLOCK_K
        a = tl.load(a_ptrs, mask=(offs_m[:, None] < M) & (offs_k[None, :] < k_left), other=0)
        b = tl.load(b_ptrs, mask=(offs_k[:, None] < k_left) & (offs_n[None, :] < N), other=0)
        acc = tl.dot(a, b, acc)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk
    # Dequantize: per-row activation scale times per-column weight scale.
    a_scale = tl.load(A_scale + offs_m, mask=offs_m < M, other=0.0)
    b_scale = tl.load(B_scale + offs_n, mask=offs_n < N, other=0.0)
    c = acc.to(tl.float32) * a_scale[:, None] * b_scale[None, :]
    c_ptrs = C + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    tl.store(c_ptrs, c.to(C.dtype.element_ty), mask=(offs_m[:, None] < M) & (offs_n[None, :] < N))


def quantize_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 quantization of each row: ``x ~= q * scale[:, None]``."""
    scale = np.maximum(np.abs(x).max(axis=1), 1e-12) / 127.0
    q = np.clip(np.rint(x / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def matmul_int8(
    a: Any,
    b: Any,
    a_scale: Any,
    b_scale: Any,
    out_dtype: Any = np.float32,
    kernel: Any = matmul_int8_kernel,
    **meta: Any,
) -> Any:
    """``(a @ b) * a_scale[:, None] * b_scale[None, :]`` for int8 ``a`` [M, K], ``b`` [K, N].

    Arrays or CPU tensors; ``out_dtype`` is a NumPy dtype (float32 or float16). ``kernel`` may be
    the un-tuned ``matmul_int8_kernel.fn`` with the block sizes given in ``meta``.
    """
    (M, K), (K2, N) = a.shape, b.shape
    assert K == K2, f"inner dimensions differ: {a.shape} @ {b.shape}"
    c = _host.empty((M, N), out_dtype, like=a)

    def grid(meta: dict[str, Any]) -> tuple[int]:
        return (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),)

    kernel[grid](
        a,
        b,
        c,
        a_scale,
        b_scale,
        M,
        N,
        K,
        _host.stride(a, 0),
        _host.stride(a, 1),
        _host.stride(b, 0),
        _host.stride(b, 1),
        _host.stride(c, 0),
        _host.stride(c, 1),
        **meta,
    )
    return c
