"""Tutorial 04: low-memory dropout (Triton's kernels, unmodified but for the imports).

``dropout`` applies a mask computed on the host; ``seeded_dropout`` draws its mask inside the
kernel from ``tl.rand(seed, offsets)``, so only the seed needs storing for the backward pass.
"""

from typing import Any

import tritium as triton
import tritium.language as tl
from tutorials import _host


@triton.jit
def _dropout(
    x_ptr,  # pointer to the input
    x_keep_ptr,  # pointer to a mask of 0s and 1s
    output_ptr,  # pointer to the output
    n_elements,  # number of elements in the `x` tensor
    p,  # probability that an element of `x` is changed to zero
    BLOCK_SIZE: tl.constexpr,
):
    pid = tl.program_id(axis=0)
    block_start = pid * BLOCK_SIZE
    offsets = block_start + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements
    # Load data
    x = tl.load(x_ptr + offsets, mask=mask)
    x_keep = tl.load(x_keep_ptr + offsets, mask=mask)
    # The line below is the crucial part, described in the paragraph above!
    output = tl.where(x_keep, x / (1 - p), 0.0)
    # Write-back output
    tl.store(output_ptr + offsets, output, mask=mask)


@triton.jit
def _seeded_dropout(
    x_ptr,
    output_ptr,
    n_elements,
    p,
    seed,
    BLOCK_SIZE: tl.constexpr,
):
    # compute memory offsets of elements handled by this instance
    pid = tl.program_id(axis=0)
    block_start = pid * BLOCK_SIZE
    offsets = block_start + tl.arange(0, BLOCK_SIZE)
    # load data from x
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask)
    # randomly prune it
    random = tl.rand(seed, offsets)
    x_keep = random > p
    # write-back
    output = tl.where(x_keep, x / (1 - p), 0.0)
    tl.store(output_ptr + offsets, output, mask=mask)


def dropout(x: Any, x_keep: Any, p: float) -> Any:
    """``x / (1 - p)`` where ``x_keep`` is nonzero, else 0 (1-D arrays or CPU tensors)."""
    output = _host.empty(tuple(x.shape), _host.np_dtype(x), like=x)
    n_elements = _host.to_numpy(x).size
    grid = lambda meta: (triton.cdiv(n_elements, meta["BLOCK_SIZE"]),)  # noqa: E731
    _dropout[grid](x, x_keep, output, n_elements, p, BLOCK_SIZE=1024)
    return output


def seeded_dropout(x: Any, p: float, seed: int) -> Any:
    """Dropout with a mask drawn in the kernel from ``seed``: the same seed, the same mask."""
    output = _host.empty(tuple(x.shape), _host.np_dtype(x), like=x)
    n_elements = _host.to_numpy(x).size
    grid = lambda meta: (triton.cdiv(n_elements, meta["BLOCK_SIZE"]),)  # noqa: E731
    _seeded_dropout[grid](x, output, n_elements, p, seed, BLOCK_SIZE=1024)
    return output
