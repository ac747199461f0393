"""Tutorial 05: layer norm forward and backward, with the lock-based accumulation of dw/db.

The kernels are Triton's, unmodified but for the imports; ``forward``/``backward`` are the
tutorial's ``LayerNorm.forward``/``backward`` without autograd, on arrays or CPU tensors.
"""

from typing import Any

import numpy as np

import tritium as triton
import tritium.language as tl
from tutorials import _host


@triton.jit
def _layer_norm_fwd_fused(
    X,  # pointer to the input
    Y,  # pointer to the output
    W,  # pointer to the weights
    B,  # pointer to the biases
    Mean,  # pointer to the mean
    Rstd,  # pointer to the 1/std
    stride,  # how much to increase the pointer when moving by 1 row
    N,  # number of columns in X
    eps,  # epsilon to avoid division by zero
    BLOCK_SIZE: tl.constexpr,
):
    # Map the program id to the row of X and Y it should compute.
    row = tl.program_id(0)
    Y += row * stride
    X += row * stride
    # Compute mean
    mean = 0
    _mean = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        a = tl.load(X + cols, mask=cols < N, other=0.0).to(tl.float32)
        _mean += a
    mean = tl.sum(_mean, axis=0) / N
    # Compute variance
    _var = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        x = tl.load(X + cols, mask=cols < N, other=0.0).to(tl.float32)
        x = tl.where(cols < N, x - mean, 0.0)
        _var += x * x
    var = tl.sum(_var, axis=0) / N
    rstd = 1 / tl.sqrt(var + eps)
    # Write mean / rstd
    tl.store(Mean + row, mean)
    tl.store(Rstd + row, rstd)
    # Normalize and apply linear transformation
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        mask = cols < N
        w = tl.load(W + cols, mask=mask)
        b = tl.load(B + cols, mask=mask)
        x = tl.load(X + cols, mask=mask, other=0.0).to(tl.float32)
        x_hat = (x - mean) * rstd
        y = x_hat * w + b
        # Write output
        tl.store(Y + cols, y, mask=mask)


@triton.jit
def _layer_norm_bwd_dx_fused(
    DX,  # pointer to the input gradient
    DY,  # pointer to the output gradient
    DW,  # pointer to the partial sum of weights gradient
    DB,  # pointer to the partial sum of biases gradient
    X,  # pointer to the input
    W,  # pointer to the weights
    Mean,  # pointer to the mean
    Rstd,  # pointer to the 1/std
    Lock,  # pointer to the lock
    stride,  # how much to increase the pointer when moving by 1 row
    N,  # number of columns in X
    GROUP_SIZE_M: tl.constexpr,
    BLOCK_SIZE_N: tl.constexpr,
):
    # Map the program id to the elements of X, DX, and DY it should compute.
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_SIZE_N)
    mask = cols < N
    X += row * stride
    DY += row * stride
    DX += row * stride
    # Offset locks and weights/biases gradient pointer for parallel reduction
    lock_id = row % GROUP_SIZE_M
    Lock += lock_id
    Count = Lock + GROUP_SIZE_M
    DW = DW + lock_id * N + cols
    DB = DB + lock_id * N + cols
    # Load data to SRAM
    x = tl.load(X + cols, mask=mask, other=0).to(tl.float32)
    dy = tl.load(DY + cols, mask=mask, other=0).to(tl.float32)
    w = tl.load(W + cols, mask=mask).to(tl.float32)
    mean = tl.load(Mean + row)
    rstd = tl.load(Rstd + row)
    # Compute dx
    xhat = (x - mean) * rstd
    wdy = w * dy
    xhat = tl.where(mask, xhat, 0.0)
    wdy = tl.where(mask, wdy, 0.0)
    c1 = tl.sum(xhat * wdy, axis=0) / N
    c2 = tl.sum(wdy, axis=0) / N
    dx = (wdy - (xhat * c1 + c2)) * rstd
    # Write dx
    tl.store(DX + cols, dx, mask=mask)
    # Accumulate partial sums for dw/db
    partial_dw = (dy * xhat).to(w.dtype)
    partial_db = (dy).to(w.dtype)
    while tl.atomic_cas(Lock, 0, 1) == 1:
        pass
    count = tl.load(Count)
    # First store doesn't accumulate
    if count == 0:
        tl.atomic_xchg(Count, 1)
    else:
        partial_dw += tl.load(DW, mask=mask)
        partial_db += tl.load(DB, mask=mask)
    tl.store(DW, partial_dw, mask=mask)
    tl.store(DB, partial_db, mask=mask)

    # need a barrier to ensure all threads finished before
    # releasing the lock
    tl.debug_barrier()

    # Release the lock
    tl.atomic_xchg(Lock, 0)


@triton.jit
def _layer_norm_bwd_dwdb(
    DW,  # pointer to the partial sum of weights gradient
    DB,  # pointer to the partial sum of biases gradient
    FINAL_DW,  # pointer to the weights gradient
    FINAL_DB,  # pointer to the biases gradient
    M,  # GROUP_SIZE_M
    N,  # number of columns
    BLOCK_SIZE_M: tl.constexpr,
    BLOCK_SIZE_N: tl.constexpr,
):
    # Map the program id to the elements of DW and DB it should compute.
    pid = tl.program_id(0)
    cols = pid * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    dw = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    db = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    # Iterate through the rows of DW and DB to sum the partial sums.
    for i in range(0, M, BLOCK_SIZE_M):
        rows = i + tl.arange(0, BLOCK_SIZE_M)
        mask = (rows[:, None] < M) & (cols[None, :] < N)
        offs = rows[:, None] * N + cols[None, :]
        dw += tl.load(DW + offs, mask=mask, other=0.0)
        db += tl.load(DB + offs, mask=mask, other=0.0)
    # Write the final sum to the output.
    sum_dw = tl.sum(dw, axis=0)
    sum_db = tl.sum(db, axis=0)
    tl.store(FINAL_DW + cols, sum_dw, mask=cols < N)
    tl.store(FINAL_DB + cols, sum_db, mask=cols < N)


def _block_size(N: int, element_size: int) -> int:
    # Less than 64KB per feature: enqueue fused kernel
    MAX_FUSED_SIZE = 65536 // element_size
    BLOCK_SIZE = min(MAX_FUSED_SIZE, triton.next_power_of_2(N))
    if N > BLOCK_SIZE:
        raise RuntimeError("This layer norm doesn't support feature dim >= 64KB.")
    return BLOCK_SIZE


def forward(x: Any, weight: Any, bias: Any, eps: float = 1e-5) -> tuple[Any, Any, Any]:
    """(y, mean, rstd) of layer norm over the last dimension of a 2-D ``x``."""
    M, N = x.shape
    dtype = _host.np_dtype(x)
    y = _host.empty((M, N), dtype, like=x)
    mean = _host.empty((M,), np.float32, like=x)
    rstd = _host.empty((M,), np.float32, like=x)
    BLOCK_SIZE = _block_size(N, np.dtype(dtype).itemsize)
    # heuristics for number of warps
    num_warps = min(max(BLOCK_SIZE // 256, 1), 8)
    _layer_norm_fwd_fused[(M,)](  #
        x,
        y,
        weight,
        bias,
        mean,
        rstd,  #
        _host.stride(x, 0),
        N,
        eps,  #
        BLOCK_SIZE=BLOCK_SIZE,
        num_warps=num_warps,
        num_ctas=1,
    )
    return y, mean, rstd


def backward(dy: Any, x: Any, w: Any, m: Any, v: Any) -> tuple[Any, Any, Any]:
    """(dx, dw, db) of layer norm, given the forward pass's ``mean`` and ``rstd``."""
    M, N = x.shape
    dtype = _host.np_dtype(x)
    BLOCK_SIZE = _block_size(N, np.dtype(dtype).itemsize)
    num_warps = min(max(BLOCK_SIZE // 256, 1), 8)
    # heuristics for amount of parallel reduction stream for DW/DB
    GROUP_SIZE_M = 64
    if N <= 8192:
        GROUP_SIZE_M = 96  # noqa: E701
    if N <= 4096:
        GROUP_SIZE_M = 128  # noqa: E701
    if N <= 1024:
        GROUP_SIZE_M = 256  # noqa: E701
    # allocate output
    locks = _host.zeros((2 * GROUP_SIZE_M,), np.int32, like=x)
    # The partial rows of dw and db, in one block and not zeroed: the first program of each
    # lock stores its row without reading it (``count == 0``), and the dwdb kernel sums only
    # rows some program wrote. Two zero-filled 2 MiB arrays (N = 4096) cost a memset each and,
    # freed and allocated again between calls beside the 64 MiB outputs, ~1000 page faults.
    partial = _host.empty((2, GROUP_SIZE_M, N), dtype, like=x)
    _dw, _db = partial[0], partial[1]
    dw = _host.empty((N,), _host.np_dtype(w), like=x)
    db = _host.empty((N,), _host.np_dtype(w), like=x)
    dx = _host.empty((M, N), _host.np_dtype(dy), like=x)
    # enqueue kernel using forward pass heuristics
    # also compute partial sums for DW and DB
    _layer_norm_bwd_dx_fused[(M,)](  #
        dx,
        dy,
        _dw,
        _db,
        x,
        w,
        m,
        v,
        locks,  #
        _host.stride(x, 0),
        N,  #
        BLOCK_SIZE_N=BLOCK_SIZE,  #
        GROUP_SIZE_M=GROUP_SIZE_M,  #
        num_warps=num_warps,
    )
    grid = lambda meta: [triton.cdiv(N, meta["BLOCK_SIZE_N"])]  # noqa: E731
    # accumulate partial sums in separate kernel
    _layer_norm_bwd_dwdb[grid](
        _dw,
        _db,
        dw,
        db,
        min(GROUP_SIZE_M, M),
        N,  #
        BLOCK_SIZE_M=32,  #
        BLOCK_SIZE_N=128,
        num_ctas=1,
    )
    return dx, dw, db
