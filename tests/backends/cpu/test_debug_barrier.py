"""``tl.debug_barrier()``: a ``gpu.barrier`` in the IR; on the CPU a tile load before it is
evaluated in full before a store after it, even into another argument that overlaps it."""

from __future__ import annotations

import numpy as np
import pytest

import tritium
import tritium.language as tl


@tritium.jit
def _shift_rows(C, R, BARRIER: tl.constexpr, ROWS: tl.constexpr, COLS: tl.constexpr):
    o = tl.arange(0, ROWS)[:, None] * COLS + tl.arange(0, COLS)[None, :]
    x = tl.load(R + o)
    if BARRIER:
        tl.debug_barrier()
    tl.store(C + o, x * 2.0 + 1.0)


@pytest.mark.parametrize("rows, cols", [(64, 64), (16, 128), (32, 16)])
def test_a_load_before_a_barrier_is_read_before_the_store_after_it(rng, rows, cols):
    # C is R one row further on: the store's first chunks overwrite what later chunks of the
    # load read, unless the whole tile was loaded first (as the barrier requires)
    buf = rng.standard_normal((rows + 1) * cols).astype(np.float32)
    want = buf.copy()
    want[cols:] = buf[: rows * cols].astype(np.float64) * 2.0 + 1.0
    _shift_rows[(1,)](buf[cols:], buf[: rows * cols], BARRIER=True, ROWS=rows, COLS=cols)
    np.testing.assert_array_equal(buf, want.astype(np.float32))


def test_the_barrier_is_an_op_of_the_ir():
    buf = np.zeros(65 * 64, np.float32)
    compiled = _shift_rows[(1,)](buf[64:], buf[:4096], BARRIER=True, ROWS=64, COLS=64)
    assert compiled.asm["ttir"].count("gpu.barrier") == 1
    plain = _shift_rows[(1,)](buf[64:], buf[:4096], BARRIER=False, ROWS=64, COLS=64)
    assert "gpu.barrier" not in plain.asm["ttir"]
