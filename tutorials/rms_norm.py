"""RMSNorm forward, as deployed in LLaMA-style models: ``y = x / sqrt(mean(x^2) + eps) * w``.

One program normalizes one row. The sum of squares is accumulated in fp32 whatever the input
dtype (fp32, fp16 or bf16); the output has the input's dtype. Rows longer than the block are
handled by a loop over column blocks, so any row length works with a bounded tile. The
residual add that precedes the norm in a transformer block can be fused (``residual=``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import tritium as triton
import tritium.language as tl
from tutorials import _host

#: The largest column tile: longer rows are walked in blocks of this many elements.
MAX_BLOCK_N = 8192


@triton.jit
def rms_norm_kernel(
    X,  # pointer to the input, rows of length N
    Y,  # pointer to the output, same shape and dtype as X
    W,  # pointer to the weights, length N
    Rstd,  # pointer to the per-row 1/rms (fp32), kept for a backward pass
    Res,  # pointer to the residual stream (updated in place), or None
    stride_x,  # elements between rows of X
    stride_y,  # elements between rows of Y
    stride_r,  # elements between rows of Res
    N,  # row length
    eps,  # added to the mean of squares
    BLOCK_N: tl.constexpr,
    HAS_RESIDUAL: tl.constexpr,
):
    row = tl.program_id(0)
    X += row.to(tl.int64) * stride_x
    Y += row.to(tl.int64) * stride_y
    if HAS_RESIDUAL:
        Res += row.to(tl.int64) * stride_r
    # Sum of squares in fp32, one lane per column of the block.
    acc = tl.zeros([BLOCK_N], dtype=tl.float32)
    for off in range(0, N, BLOCK_N):
        cols = off + tl.arange(0, BLOCK_N)
        mask = cols < N
        x = tl.load(X + cols, mask=mask, other=0.0).to(tl.float32)
        if HAS_RESIDUAL:
            # residual += x, rounded to the stream's dtype: what is normalized is what is stored.
            r = tl.load(Res + cols, mask=mask, other=0.0).to(tl.float32)
            h = (x + r).to(Res.dtype.element_ty)
            tl.store(Res + cols, h, mask=mask)
            x = h.to(tl.float32)
        acc += x * x
    rstd = 1 / tl.sqrt(tl.sum(acc, axis=0) / N + eps)
    tl.store(Rstd + row, rstd)
    # Scale and store in the output dtype.
    for off in range(0, N, BLOCK_N):
        cols = off + tl.arange(0, BLOCK_N)
        mask = cols < N
        if HAS_RESIDUAL:
            x = tl.load(Res + cols, mask=mask, other=0.0).to(tl.float32)
        else:
            x = tl.load(X + cols, mask=mask, other=0.0).to(tl.float32)
        w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
        y = x * rstd * w
        tl.store(Y + cols, y.to(Y.dtype.element_ty), mask=mask)


def rms_norm(x: Any, w: Any, eps: float = 1e-6, residual: Any = None) -> tuple[Any, Any]:
    """RMSNorm of each row of a 2-D array or CPU tensor ``x`` with weights ``w``.

    With ``residual`` (same shape as ``x``), the fused add of a transformer block:
    ``residual += x`` in place, and the updated residual is what gets normalized.
    Returns ``(y, rstd)``: ``y`` like ``x`` (same dtype and library), ``rstd`` the fp32 per-row
    reciprocal root mean square.
    """
    M, N = x.shape
    assert w.shape == (N,), f"weights of shape {w.shape} for rows of length {N}"
    if residual is not None:
        assert residual.shape == (M, N), f"residual {residual.shape} for input {x.shape}"
        assert _host.stride(residual, 1) == 1, "residual rows must be contiguous"
    y = _host.empty_as(x, (M, N))
    rstd = _host.empty((M,), np.float32, like=x)
    BLOCK_N = min(triton.next_power_of_2(N), MAX_BLOCK_N)
    stride_r = 0 if residual is None else _host.stride(residual, 0)
    rms_norm_kernel[(M,)](
        x,
        y,
        w,
        rstd,
        residual,
        _host.stride(x, 0),
        _host.stride(y, 0),
        stride_r,
        N,
        eps,
        BLOCK_N=BLOCK_N,
        HAS_RESIDUAL=residual is not None,
    )
    return y, rstd
