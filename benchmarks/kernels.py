"""Kernels the benchmark runs that the tutorials do not have in the needed form, written as one
would for a GPU (no CPU-specific tuning): that is the point of the comparison.
"""

from __future__ import annotations

import tritium as triton
import tritium.language as tl
from tutorials.matmul import matmul_kernel

__all__ = [
    "add4",
    "softmax_row",
    "matmul",
    "matmul_dot_by_dot",
    "matmul_kernel",
    "silu_mul",
    "rms_norm_bwd",
]


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


def matmul(a, b, c) -> None:  # type: ignore[no-untyped-def]
    """``c = a @ b`` with tutorial 03's kernel itself (autotuned over its CPU configs), the
    result stored in ``c``'s dtype (fp32 here). Arrays: NumPy or torch, 2-D, any strides."""
    M, K = a.shape
    N = b.shape[1]
    st = [s // a.itemsize for s in a.strides] if hasattr(a, "itemsize") else list(a.stride())
    sb = [s // b.itemsize for s in b.strides] if hasattr(b, "itemsize") else list(b.stride())
    sc = [s // c.itemsize for s in c.strides] if hasattr(c, "itemsize") else list(c.stride())

    def grid(meta: dict) -> tuple[int]:
        return (triton.cdiv(M, meta["BLOCK_SIZE_M"]) * triton.cdiv(N, meta["BLOCK_SIZE_N"]),)

    matmul_kernel[grid](a, b, c, M, N, K, st[0], st[1], sb[0], sb[1], sc[0], sc[1], ACTIVATION="")


def matmul_dot_by_dot(a, b, c) -> None:  # type: ignore[no-untyped-def]
    """:func:`matmul` compiled without ``dot_kloop`` (each K step's dot lowered on its own):
    the A/B anchor of that lowering, in the same run. ``ACTIVATION`` (which the kernel only
    compares with ``"leaky_relu"``) keeps its compiles apart from :func:`matmul`'s."""
    from tritium.backends.cpu import dot_kloop

    M, K = a.shape
    N = b.shape[1]
    st = [s // a.itemsize for s in a.strides]
    sb = [s // b.itemsize for s in b.strides]
    sc = [s // c.itemsize for s in c.strides]

    def grid(meta: dict) -> tuple[int]:
        return (triton.cdiv(M, meta["BLOCK_SIZE_M"]) * triton.cdiv(N, meta["BLOCK_SIZE_N"]),)

    dot_kloop._ENABLED = False
    try:
        matmul_kernel[grid](
            a, b, c, M, N, K, st[0], st[1], sb[0], sb[1], sc[0], sc[1], ACTIVATION="dot-by-dot"
        )
    finally:
        dot_kloop._ENABLED = True


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
