"""Tutorial 02: fused softmax (Triton's kernel, unmodified but for the imports)."""

from typing import Any

import tritium as triton
import tritium.language as tl
from tutorials import _host


@triton.jit
def softmax_kernel(
    output_ptr,
    input_ptr,
    input_row_stride,
    output_row_stride,
    n_rows,
    n_cols,
    BLOCK_SIZE: tl.constexpr,
    num_stages: tl.constexpr,
):
    # starting row of the program
    row_start = tl.program_id(0)
    row_step = tl.num_programs(0)
    for row_idx in tl.range(row_start, n_rows, row_step, num_stages=num_stages):
        # The stride represents how much we need to increase the pointer to advance 1 row
        row_start_ptr = input_ptr + row_idx * input_row_stride
        # The block size is the next power of two greater than n_cols, so we can fit each
        # row in a single block
        col_offsets = tl.arange(0, BLOCK_SIZE)
        input_ptrs = row_start_ptr + col_offsets
        # Load the row into SRAM, using a mask since BLOCK_SIZE may be > than n_cols
        mask = col_offsets < n_cols
        row = tl.load(input_ptrs, mask=mask, other=-float("inf"))
        # Subtract maximum for numerical stability
        row_minus_max = row - tl.max(row, axis=0)
        # Note that exponentiation in Triton is fast but approximate (i.e., think __expf in CUDA)
        numerator = tl.exp(row_minus_max)
        denominator = tl.sum(numerator, axis=0)
        softmax_output = numerator / denominator
        # Write back output to DRAM
        output_row_start_ptr = output_ptr + row_idx * output_row_stride
        output_ptrs = output_row_start_ptr + col_offsets
        tl.store(output_ptrs, softmax_output, mask=mask)


def softmax(x: Any) -> Any:
    """Row-wise softmax of a 2-D array or CPU tensor, computed by ``softmax_kernel``.

    On a GPU the tutorial sizes the grid from register and shared-memory occupancy; on the CPU
    a few programs per core, each looping over rows, keep every core busy.
    """
    n_rows, n_cols = x.shape
    BLOCK_SIZE = triton.next_power_of_2(n_cols)
    num_stages = 2
    y = _host.empty((n_rows, n_cols), _host.np_dtype(x), like=x)
    props = triton.runtime.driver.active.utils.get_device_properties(0)
    num_programs = min(4 * props["multiprocessor_count"], n_rows)
    softmax_kernel[(num_programs, 1, 1)](
        y,
        x,
        _host.stride(x, 0),
        _host.stride(y, 0),
        n_rows,
        n_cols,
        BLOCK_SIZE=BLOCK_SIZE,
        num_stages=num_stages,
    )
    return y
