"""The shared run-time helpers kernels call (``backends/cpu/helpers.py``): built once, valid
IR for every target, called by the kernels instead of inlined copies."""

from __future__ import annotations

import llvmlite.binding as llvm
import numpy as np
import pytest

import tritium as triton
from tritium.backends.cpu import helpers, target
from tritium.backends.cpu.target import initialize_llvm


@pytest.mark.parametrize("triple", ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"])
def test_helpers_ir_verifies(triple: str) -> None:
    initialize_llvm()
    mod = llvm.parse_assembly(helpers.helpers_ir(triple))
    mod.verify()
    for name in helpers.NAMES:
        assert name.startswith(target.HELPER_PREFIX)
        assert not mod.get_function(name).is_declaration


def test_a_panels_call_the_shared_lookup(rng: np.random.Generator) -> None:
    """Tutorial 03's ``a`` panels (fp16 ``a``, converted once per row of programs) find their
    slot through the shared helpers: the kernel has no slot loop of its own, and a grouped
    launch over more rows of programs than slots is still exact."""
    from tutorials import matmul

    m, n, k = 160, 96, 128
    a = rng.standard_normal((m, k)).astype(np.float16)
    b = rng.standard_normal((k, n)).astype(np.float16)
    c = np.full((m, n), np.nan, np.float16)
    meta = {"BLOCK_SIZE_M": 16, "BLOCK_SIZE_N": 32, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8}
    grid = (triton.cdiv(m, 16) * triton.cdiv(n, 32),)
    args = (a, b, c, m, n, k, k, 1, n, 1, n, 1)
    compiled = matmul.matmul_kernel.fn.warmup(*args, ACTIVATION="", **meta, grid=grid)
    llir = compiled.asm["llir"]
    assert helpers.APANEL_FIND in llir and helpers.APANEL_REGION in llir
    assert "apanel.find" not in llir
    matmul.matmul_kernel.fn[grid](*args, ACTIVATION="", **meta)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c.astype(np.float64), ref, rtol=2e-2, atol=2e-2 * np.sqrt(k))
