"""tt.call of a private (noinline) function: tiles in and out, scalars, asserts inside."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.cpu.irgen import (
    F32,
    I1,
    I32,
    KernelBuilder,
    compile_kernel,
    launch,
    poison,
    ptr,
    tensor,
)
from tritium.ir import Block, Builder, Operation
from tritium.ir import types as irt


def _add_callee(kb: KernelBuilder, n: int) -> None:
    """helper(x: tensor<n x f32>, s: f32) -> (x * s, sum(x)); asserts s > 0."""
    tile = tensor([n], F32)
    func = Operation(
        "tt.func",
        regions=1,
        attrs={
            "sym_name": "helper",
            "function_type": irt.FunctionType((tile, F32), (tile, F32)),
            "visibility": "private",
            "noinline": True,
        },
    )
    block = Block([tile, F32])
    func.regions[0].add_block(block)
    kb.module.body.insert(0, func)
    saved = kb.b
    kb.b = Builder(block)
    x, s = block.args
    ok = kb.cmp("arith.cmpf", "ogt", s, kb.const(0.0, F32))
    kb.op("tt.assert", [ok], message="s must be positive")
    y = kb.binary("arith.mulf", x, kb.splat(s, [n]))
    kb.b.create("tt.return", [y, kb.sum(x, 0)])
    kb.b = saved
    _ = I1


def test_noinline_call_with_tiles_and_assert() -> None:
    n = 32
    kb = KernelBuilder("caller", [ptr(F32), ptr(F32), ptr(F32), F32])
    x_ptr, y_ptr, s_ptr, scale = kb.args
    _add_callee(kb, n)
    offs = kb.arange(0, n)
    x = kb.load(kb.addptr(kb.splat(x_ptr, [n]), offs))
    call = kb.b.create("tt.call", [x, scale], [x.type, F32], {"callee": "helper"})
    y, total = call.results
    kb.store(kb.addptr(kb.splat(y_ptr, [n]), offs), y)
    kb.store(s_ptr, total)
    kernel, _ = compile_kernel(kb)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n).astype(np.float32)
    y, s = poison(n, np.float32), poison(1, np.float32)
    launch(kernel, (2,), x, y, s, 1.5)
    np.testing.assert_allclose(y, x * np.float32(1.5))
    np.testing.assert_allclose(s[0], x.astype(np.float64).sum(), rtol=1e-5)
    with pytest.raises(AssertionError, match="s must be positive"):
        launch(kernel, (2,), x, y, s, -1.0)
    _ = I32
