"""RMSNorm forward, as deployed in LLaMA-style models: ``y = x / sqrt(mean(x^2) + eps) * w``.

One program normalizes one row. The sum of squares is accumulated in fp32 whatever the input
dtype (fp32, fp16 or bf16); the output has the input's dtype. Rows longer than the block are
handled by a loop over column blocks, so any row length works with a bounded tile.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import tritium as triton
import tritium.language as tl
from tutorials import _host

#: The largest column tile: longer rows are walked in blocks of this many elements.
MAX_BLOCK_N = 8192


def empty_as(x: Any, shape: tuple[int, ...]) -> Any:
    """An uninitialized (poisoned under tests) array of ``shape`` with ``x``'s dtype and library.

    Unlike ``_host.empty`` it takes the dtype from ``x`` itself, so torch bfloat16 tensors (which
    have no NumPy dtype to go through) work too.
    """
    if not _host.is_torch(x):
        return _host.empty(shape, x.dtype, like=x)
    import torch

    out = torch.empty(shape, dtype=x.dtype)
    if _host.POISON:
        out.fill_(float("nan") if x.dtype.is_floating_point else -7)
    return out


@triton.jit
def rms_norm_kernel(
    X,  # pointer to the input, rows of length N
    Y,  # pointer to the output, same shape and dtype as X
    W,  # pointer to the weights, length N
    Rstd,  # pointer to the per-row 1/rms (fp32), kept for a backward pass
    stride_x,  # elements between rows of X
    stride_y,  # elements between rows of Y
    N,  # row length
    eps,  # added to the mean of squares
    BLOCK_N: tl.constexpr,
):
    row = tl.program_id(0)
    X += row.to(tl.int64) * stride_x
    Y += row.to(tl.int64) * stride_y
    # Sum of squares in fp32, one lane per column of the block.
    acc = tl.zeros([BLOCK_N], dtype=tl.float32)
    for off in range(0, N, BLOCK_N):
        cols = off + tl.arange(0, BLOCK_N)
        x = tl.load(X + cols, mask=cols < N, other=0.0).to(tl.float32)
        acc += x * x
    rstd = 1 / tl.sqrt(tl.sum(acc, axis=0) / N + eps)
    tl.store(Rstd + row, rstd)
    # Scale and store in the output dtype.
    for off in range(0, N, BLOCK_N):
        cols = off + tl.arange(0, BLOCK_N)
        mask = cols < N
        x = tl.load(X + cols, mask=mask, other=0.0).to(tl.float32)
        w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
        y = x * rstd * w
        tl.store(Y + cols, y.to(Y.dtype.element_ty), mask=mask)


def rms_norm(x: Any, w: Any, eps: float = 1e-6) -> tuple[Any, Any]:
    """RMSNorm of each row of a 2-D array or CPU tensor ``x`` with weights ``w``.

    Returns ``(y, rstd)``: ``y`` like ``x`` (same dtype and library), ``rstd`` the fp32 per-row
    reciprocal root mean square.
    """
    M, N = x.shape
    assert w.shape == (N,), f"weights of shape {w.shape} for rows of length {N}"
    y = empty_as(x, (M, N))
    rstd = _host.empty((M,), np.float32, like=x)
    BLOCK_N = min(triton.next_power_of_2(N), MAX_BLOCK_N)
    rms_norm_kernel[(M,)](
        x, y, w, rstd, _host.stride(x, 0), _host.stride(y, 0), N, eps, BLOCK_N=BLOCK_N
    )
    return y, rstd
