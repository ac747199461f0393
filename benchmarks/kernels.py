"""Kernels the benchmark runs that the tutorials do not have in the needed form, written as one
would for a GPU (no CPU-specific tuning): that is the point of the comparison.
"""

from __future__ import annotations

import tritium as triton
import tritium.language as tl

__all__ = ["add4", "softmax_row", "matmul_kernel", "silu_mul", "rms_norm_bwd"]


@triton.jit
def add4(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    """The warm-launch probe: 4 runtime arguments, one program."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, x + tl.load(y_ptr + offs, mask=mask), mask=mask)


@triton.jit
def softmax_row(out_ptr, in_ptr, in_stride, out_stride, n_cols, BLOCK: tl.constexpr):
    """Softmax of one row per program, as the GPU tutorial's simplest form launches it."""
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(in_ptr + row * in_stride + cols, mask=mask, other=-float("inf"))
    x = x - tl.max(x, axis=0)
    num = tl.exp(x)
    tl.store(out_ptr + row * out_stride + cols, num / tl.sum(num, axis=0), mask=mask)


def _matmul_configs() -> list[triton.Config]:
    # The tutorial's CPU configs (tutorials/matmul.py).
    return [
        triton.Config(
            {"BLOCK_SIZE_M": 64, "BLOCK_SIZE_N": 64, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8},
            num_stages=1,
            num_warps=1,
        ),
        triton.Config(
            {"BLOCK_SIZE_M": 32, "BLOCK_SIZE_N": 64, "BLOCK_SIZE_K": 64, "GROUP_SIZE_M": 8},
            num_stages=1,
            num_warps=1,
        ),
    ]


@triton.autotune(configs=_matmul_configs(), key=["M", "N", "K"])
@triton.jit
def matmul_kernel(
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
    BLOCK_SIZE_M: tl.constexpr,
    BLOCK_SIZE_N: tl.constexpr,
    BLOCK_SIZE_K: tl.constexpr,
    GROUP_SIZE_M: tl.constexpr,
):
    """Triton's tutorial 03 kernel; the result is stored in ``c``'s dtype (fp32 here)."""
    pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BLOCK_SIZE_M)
    num_pid_n = tl.cdiv(N, BLOCK_SIZE_N)
    num_pid_in_group = GROUP_SIZE_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_SIZE_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_SIZE_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m
    offs_am = (pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)) % M
    offs_bn = (pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)) % N
    offs_k = tl.arange(0, BLOCK_SIZE_K)
    a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak)
    b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn)
    accumulator = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_SIZE_K)):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_SIZE_K, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_SIZE_K, other=0.0)
        accumulator = tl.dot(a, b, accumulator)
        a_ptrs += BLOCK_SIZE_K * stride_ak
        b_ptrs += BLOCK_SIZE_K * stride_bk
    c = accumulator.to(c_ptr.dtype.element_ty)
    offs_cm = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
    offs_cn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    c_ptrs = c_ptr + stride_cm * offs_cm[:, None] + stride_cn * offs_cn[None, :]
    c_mask = (offs_cm[:, None] < M) & (offs_cn[None, :] < N)
    tl.store(c_ptrs, c, mask=c_mask)


def matmul(a, b, c) -> None:  # type: ignore[no-untyped-def]
    """``c = a @ b`` with the tutorial kernel (arrays: NumPy or torch, 2-D, any strides)."""
    M, K = a.shape
    N = b.shape[1]
    st = [s // a.itemsize for s in a.strides] if hasattr(a, "itemsize") else list(a.stride())
    sb = [s // b.itemsize for s in b.strides] if hasattr(b, "itemsize") else list(b.stride())
    sc = [s // c.itemsize for s in c.strides] if hasattr(c, "itemsize") else list(c.stride())

    def grid(meta: dict) -> tuple[int]:
        return (triton.cdiv(M, meta["BLOCK_SIZE_M"]) * triton.cdiv(N, meta["BLOCK_SIZE_N"]),)

    matmul_kernel[grid](a, b, c, M, N, K, st[0], st[1], sb[0], sb[1], sc[0], sc[1])


@triton.jit
def silu_mul(a_ptr, b_ptr, out_ptr, n_cols, ROW_AXIS: tl.constexpr, BLOCK: tl.constexpr):
    """SwiGLU's elementwise part; ``ROW_AXIS`` says which grid axis numbers the rows."""
    row = tl.program_id(ROW_AXIS)
    cols = tl.program_id(1 - ROW_AXIS) * BLOCK + tl.arange(0, BLOCK)
    offs = row * n_cols + cols
    a = tl.load(a_ptr + offs)
    b = tl.load(b_ptr + offs)
    tl.store(out_ptr + offs, a * tl.sigmoid(a) * b)


@triton.jit
def rms_norm_bwd(dy_ptr, x_ptr, w_ptr, rstd_ptr, dx_ptr, stride, N, BLOCK: tl.constexpr):
    """dx of RMSNorm for one row per program (dw is left to a second reduction, not timed)."""
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < N
    x = tl.load(x_ptr + row * stride + cols, mask=mask, other=0.0)
    dy = tl.load(dy_ptr + row * stride + cols, mask=mask, other=0.0)
    w = tl.load(w_ptr + cols, mask=mask, other=0.0)
    rstd = tl.load(rstd_ptr + row)
    wdy = w * dy
    c = tl.sum(wdy * x, axis=0) * rstd * rstd / N
    tl.store(dx_ptr + row * stride + cols, (wdy - x * c) * rstd, mask=mask)
