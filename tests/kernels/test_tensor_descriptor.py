"""Host ``TensorDescriptor`` arguments, end to end (Triton 3.4's descriptor-based kernels)."""

from __future__ import annotations

import numpy as np

import tritium
import tritium.language as tl
from tritium.runtime.tensor_descriptor import TensorDescriptor


@tritium.jit
def scale_blocks(din, dout, BM: tl.constexpr, BK: tl.constexpr):
    m, k = tl.program_id(0) * BM, tl.program_id(1) * BK
    dout.store([m, k], din.load([m, k]) * 3.0)


def test_descriptor_arguments(mode, lib, rng) -> None:
    m, k, bm, bk = 12, 24, 8, 16  # blocks overhang the edges: loads pad, stores are clipped
    x = rng.standard_normal((m, k)).astype(np.float32)
    y = np.full_like(x, np.nan)
    xs, ys = lib(x), lib(y)
    grid = (tritium.cdiv(m, bm), tritium.cdiv(k, bk))
    scale_blocks[grid](
        TensorDescriptor.from_tensor(xs, [bm, bk]),
        TensorDescriptor.from_tensor(ys, [bm, bk]),
        BM=bm,
        BK=bk,
    )
    np.testing.assert_array_equal(y, x * np.float32(3.0))
