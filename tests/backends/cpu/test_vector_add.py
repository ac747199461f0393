"""End to end: hand-built vector-add IR -> native code -> threaded launch."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.cpu.irgen import F32, I32, KernelBuilder, compile_kernel, launch, poison, ptr


def _vector_add(block: int, masked: bool = True) -> KernelBuilder:
    kb = KernelBuilder("add_kernel", [ptr(F32), ptr(F32), ptr(F32), I32])
    x_ptr, y_ptr, out_ptr, n = kb.args
    start = kb.binary("arith.muli", kb.pid(0), kb.const(block, I32))
    offs = kb.binary("arith.addi", kb.splat(start, [block]), kb.arange(0, block))
    mask = kb.cmp("arith.cmpi", "slt", offs, kb.splat(n, [block])) if masked else None
    x = kb.load(kb.addptr(kb.splat(x_ptr, [block]), offs), mask)
    y = kb.load(kb.addptr(kb.splat(y_ptr, [block]), offs), mask)
    kb.store(kb.addptr(kb.splat(out_ptr, [block]), offs), kb.binary("arith.addf", x, y), mask)
    return kb


@pytest.mark.parametrize("n", [1, 17, 1000, 4099])
def test_vector_add_masked_odd_sizes(n: int) -> None:
    rng = np.random.default_rng(n)
    block = 256
    kernel, _ = compile_kernel(_vector_add(block))
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    out = poison(n + 64, np.float32)
    launch(kernel, ((n + block - 1) // block,), x, y, out, n)
    np.testing.assert_allclose(out[:n], x.astype(np.float64) + y, rtol=1e-6)
    assert np.isnan(out[n:]).all(), "masked-off lanes were written"


def test_vector_add_unaligned_buffers() -> None:
    # views starting 4 bytes into an allocation: vector accesses must not assume alignment
    rng = np.random.default_rng(0)
    n, block = 1000, 128
    kernel, _ = compile_kernel(_vector_add(block))
    xs = rng.standard_normal(n + 1).astype(np.float32)
    ys = rng.standard_normal(n + 1).astype(np.float32)
    out = poison(n + 1, np.float32)
    launch(kernel, ((n + block - 1) // block,), xs[1:], ys[1:], out[1:], n)
    np.testing.assert_allclose(out[1:], xs[1:].astype(np.float64) + ys[1:], rtol=1e-6)


def test_artifact_contents_and_threads() -> None:
    kernel, art = compile_kernel(_vector_add(64))
    assert "masked.load" in art.asm["llir"]
    assert art.metadata["param_types"] == ["!tt.ptr<f32>", "!tt.ptr<f32>", "!tt.ptr<f32>", "i32"]
    assert isinstance(art.binary, bytes) and art.binary
    n = 64 * 37
    rng = np.random.default_rng(1)
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    for threads in ("1", "3"):
        kernel.num_threads = int(threads)
        out = poison(n, np.float32)
        launch(kernel, (37,), x, y, out, n)
        np.testing.assert_allclose(out, x.astype(np.float64) + y, rtol=1e-6)


def test_launch_rejects_bad_arguments() -> None:
    kernel, _ = compile_kernel(_vector_add(64))
    with pytest.raises(TypeError):
        kernel.launch((1,), [0, 0])
    with pytest.raises(TypeError):
        kernel.launch((1,), [0, 0, 0, 1.5])
