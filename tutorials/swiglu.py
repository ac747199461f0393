"""SwiGLU, the gated activation of LLaMA-style MLPs: ``h = silu(gate) * up``.

``gate`` and ``up`` are the two halves of the up-projection, ``[M, N]`` each (often views of
one ``[M, 2N]`` buffer, which the row strides carry). The activation is computed in fp32 whatever
the input dtype (fp32, fp16 or bf16) and stored in the input dtype. Each program handles one
block of columns of one row (grid axis 0: column blocks, axis 1: rows); the block size is
autotuned per row length.
"""

from __future__ import annotations

from typing import Any

import tritium as triton
import tritium.language as tl
from tutorials import _host


@triton.autotune(
    configs=[
        triton.Config({"BLOCK_N": 1024}),
        triton.Config({"BLOCK_N": 4096}),
    ],
    key=["N"],
)
@triton.jit
def swiglu_kernel(
    Gate,  # pointer to the gate half, [M, N]
    Up,  # pointer to the up half, [M, N]
    Out,  # pointer to the output, [M, N]
    stride_gate,  # elements between rows of Gate
    stride_up,  # elements between rows of Up
    stride_out,  # elements between rows of Out
    N,  # row length
    BLOCK_N: tl.constexpr,
):
    row = tl.program_id(1).to(tl.int64)
    cols = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = cols < N
    g = tl.load(Gate + row * stride_gate + cols, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(Up + row * stride_up + cols, mask=mask, other=0.0).to(tl.float32)
    # silu(g) = g * sigmoid(g) = g / (1 + exp(-g))
    h = g / (1.0 + tl.exp(-g)) * u
    tl.store(Out + row * stride_out + cols, h.to(Out.dtype.element_ty), mask=mask)


def swiglu(gate: Any, up: Any) -> Any:
    """``silu(gate) * up`` of two ``[M, N]`` arrays or CPU tensors (rows may be strided)."""
    assert gate.shape == up.shape and len(gate.shape) == 2, (gate.shape, up.shape)
    M, N = gate.shape
    for t in (gate, up):
        assert _host.stride(t, 1) == 1, "rows must be contiguous"
    out = _host.empty_as(gate, (M, N))

    # Column blocks on axis 0: the CPU launcher runs program ids with axis 0 fastest, so
    # consecutive programs (and each thread's chunk of them) stream through a row in order.
    def grid(meta: dict[str, Any]) -> tuple[int, int]:
        return (triton.cdiv(N, meta["BLOCK_N"]), M)

    swiglu_kernel[grid](
        gate, up, out, _host.stride(gate, 0), _host.stride(up, 0), _host.stride(out, 0), N
    )
    return out


def swiglu_fused(x: Any) -> Any:
    """SwiGLU of a fused ``[M, 2N]`` projection: the first half of each row is the gate."""
    n = x.shape[1] // 2
    return swiglu(x[:, :n], x[:, n:])
