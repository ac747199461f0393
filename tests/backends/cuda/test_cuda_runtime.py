"""The CUDA runtime: argument packing and error paths without a GPU; real launches with one.

The GPU tests skip cleanly on machines without an NVIDIA GPU (they have never run yet: see
docs/cuda_backend.md).
"""

from __future__ import annotations

import ctypes
import os

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.backends.base import CompiledArtifact
from tritium.backends.cuda import runtime

HAVE_GPU = runtime.available()
needs_gpu = pytest.mark.skipif(not HAVE_GPU, reason="no NVIDIA GPU")


def _read(params: ctypes.Array, i: int, ctype: type) -> int | float:
    return ctypes.cast(params[i], ctypes.POINTER(ctype)).contents.value


def test_pack_args_uses_each_parameter_type() -> None:
    llvm = ["i64", "i32", "float", "i16", "i8", "double", "i16", "i64"]
    ir = ["!tt.ptr<f32>", "i32", "f32", "f16", "i1", "f64", "bf16", "i64"]
    params, keep = runtime.pack_args(llvm, ir, [0x7F00_1000, -1, 1.5, -2.5, True, 0.1, 1.5, -3])
    assert _read(params, 0, ctypes.c_uint64) == 0x7F00_1000
    assert _read(params, 1, ctypes.c_uint32) == 0xFFFFFFFF
    assert _read(params, 2, ctypes.c_float) == 1.5
    assert _read(params, 3, ctypes.c_uint16) == int(np.array(-2.5, np.float16).view(np.uint16))
    assert _read(params, 4, ctypes.c_uint8) == 1
    assert _read(params, 5, ctypes.c_double) == 0.1
    assert _read(params, 6, ctypes.c_uint16) == 0x3FC0  # bf16 1.5
    assert _read(params, 7, ctypes.c_uint64) == 2**64 - 3
    assert len(keep) == len(llvm)


def test_pack_args_checks_count_and_pointers() -> None:
    with pytest.raises(TypeError, match="takes 1 arguments, got 2"):
        runtime.pack_args(["i32"], ["i32"], [1, 2])

    class Iface:
        __cuda_array_interface__ = {"data": (0xABC0, False), "shape": (4,), "typestr": "<f4"}

    params, _ = runtime.pack_args(["i64"], ["!tt.ptr<f32>"], [Iface()])
    assert _read(params, 0, ctypes.c_uint64) == 0xABC0
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="device cpu cannot be used by a CUDA kernel"):
        runtime.pack_args(["i64"], ["!tt.ptr<f32>"], [torch.zeros(4)])


@pytest.mark.skipif(HAVE_GPU, reason="checks the error on machines without a GPU")
def test_launch_without_a_driver_says_so() -> None:
    art = CompiledArtifact(
        "k", {"ptx": ".version 8.0"}, b"", {"param_types": ["i32"], "param_llvm": ["i32"]}
    )
    with pytest.raises(runtime.CudaUnavailableError):
        runtime.CUDAKernel(art).launch((1, 1, 1), [3])


@triton.jit
def _scale(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=offs < n) * 3.0, mask=offs < n)


@pytest.mark.skipif(HAVE_GPU, reason="checks the error on machines without a GPU")
def test_jit_dispatches_to_cuda_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """TRITIUM_BACKEND=cuda compiles for the GPU (here sm_90 by TRITIUM_CUDA_ARCH) and then
    needs the driver; the CPU kernel of the same specialization is cached separately."""
    rng = np.random.default_rng(int(os.environ.get("TRITIUM_TEST_SEED", "0")))
    x = rng.standard_normal(100).astype(np.float32)
    out = np.full_like(x, np.nan)
    _scale[(1,)](x, out, 100, BLOCK=128)
    np.testing.assert_allclose(out, x * 3.0, rtol=1e-6)
    monkeypatch.setenv("TRITIUM_BACKEND", "cuda")
    monkeypatch.setenv("TRITIUM_CUDA_ARCH", "90")
    with pytest.raises(runtime.CudaUnavailableError):
        _scale[(1,)](x, out, 100, BLOCK=128)
    entries = [c for _, c in _scale.cache.values()]
    assert {c.metadata["backend"] for c in entries} == {"cpu", "cuda"}


# ---- on a GPU ---------------------------------------------------------------------------
@needs_gpu
def test_vector_add_on_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setenv("TRITIUM_BACKEND", "cuda")
    g = torch.Generator(device="cuda").manual_seed(int(os.environ.get("TRITIUM_TEST_SEED", "0")))
    x = torch.randn(98_765, device="cuda", generator=g)
    out = torch.full_like(x, float("nan"))
    _scale[(triton.cdiv(x.numel(), 1024),)](x, out, x.numel(), BLOCK=1024)
    torch.testing.assert_close(out, x * 3.0)


@needs_gpu
@pytest.mark.parametrize("num_warps", [1, 4, 8])
def test_row_softmax_and_column_sum_on_gpu(monkeypatch: pytest.MonkeyPatch, num_warps: int) -> None:
    """Reductions along both axes (shuffles, and shared memory across warps)."""
    import torch

    from tests.backends.cuda.sample_kernels import column_sum, row_softmax_2d

    monkeypatch.setenv("TRITIUM_BACKEND", "cuda")
    x = torch.randn(64, 100, device="cuda")
    out = torch.full_like(x, float("nan"))
    row_softmax_2d[(16,)](x, out, 100, BLOCK_M=4, BLOCK_N=128, num_warps=num_warps)
    torch.testing.assert_close(out, torch.softmax(x.double(), 1).float())
    y = torch.randn(200, 32, device="cuda")
    sums = torch.full((32,), float("nan"), device="cuda")
    column_sum[(1,)](y, sums, 200, BLOCK_M=64, BLOCK_N=32, num_warps=num_warps)
    torch.testing.assert_close(sums, y.double().sum(0).float(), rtol=1e-5, atol=1e-4)
