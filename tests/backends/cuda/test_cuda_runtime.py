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


class _FakeCudaDLPack:
    """A DLPack producer on ``kDLCUDA:0`` whose capsule (legacy ``dltensor``) is built by hand:
    the address a CUDA kernel gets must be its data plus byte_offset."""

    def __init__(self, data: int, offset: int, device_type: int = 2) -> None:
        from tritium import dlpack

        self._shape = (ctypes.c_int64 * 1)(4)
        self._managed = dlpack._DLManagedTensor()
        t = self._managed.dl_tensor
        t.data, t.byte_offset, t.ndim = data, offset, 1
        t.device.device_type, t.device.device_id = device_type, 0
        t.dtype.code, t.dtype.bits, t.dtype.lanes = 2, 32, 1  # float32
        t.shape = self._shape
        self._device = (device_type, 0)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._device

    def __dlpack__(self, **_: object) -> object:
        new = ctypes.pythonapi.PyCapsule_New
        new.restype, new.argtypes = (
            ctypes.py_object,
            [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p],
        )
        return new(ctypes.addressof(self._managed), b"dltensor", None)


def test_pack_args_takes_dlpack_on_a_cuda_device() -> None:
    params, _ = runtime.pack_args(["i64"], ["!tt.ptr<f32>"], [_FakeCudaDLPack(0x7000_0000, 64)])
    assert _read(params, 0, ctypes.c_uint64) == 0x7000_0040
    with pytest.raises(TypeError, match=r"kDLCPU:0 \(DLPack\); the kernel needs memory on kDLCUDA"):
        runtime.pack_args(["i64"], ["!tt.ptr<f32>"], [_FakeCudaDLPack(0x7000_0000, 0, 1)])
    with pytest.raises(TypeError, match="kDLCPU:0"):
        runtime.pack_args(["i64"], ["!tt.ptr<f32>"], [np.zeros(4, np.float32)])


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


# ---- tensor cores, pipelining, scans on a GPU (ptxas-checked without one: test_cuda_compile) ----
def _seed() -> int:
    return int(os.environ.get("TRITIUM_TEST_SEED", "0"))


_MMA_DTYPES = ["float16", "bfloat16", "int8", "float8_e4m3fn", "float8_e5m2"]


@needs_gpu
@pytest.mark.parametrize("num_stages", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", _MMA_DTYPES)
@pytest.mark.parametrize(("m", "n", "k"), [(256, 256, 512), (200, 136, 208)])
def test_matmul_on_tensor_cores_on_gpu(
    monkeypatch: pytest.MonkeyPatch, dtype: str, num_stages: int, m: int, n: int, k: int
) -> None:
    """ldmatrix + mma.sync for every operand type; with num_stages >= 2 and aligned rows the K
    loop is pipelined with cp.async (the second shape masks rows, columns and the last K
    tile: zero-filled copies)."""
    import torch

    from tests.backends.cuda.sample_kernels import matmul

    if dtype.startswith("float8") and runtime.compute_capability() < 89:
        pytest.skip("fp8 tensor cores need sm_89+ (sm_80 runs the FMA loop: still checked)")
    monkeypatch.setenv("TRITIUM_BACKEND", "cuda")
    g = torch.Generator(device="cuda").manual_seed(_seed())
    tdt = getattr(torch, dtype)
    if dtype == "int8":
        a = torch.randint(-128, 128, (m, k), device="cuda", generator=g, dtype=torch.int8)
        b = torch.randint(-128, 128, (k, n), device="cuda", generator=g, dtype=torch.int8)
        c = torch.full((m, n), -(2**31), device="cuda", dtype=torch.int32)
        ref = (a.long() @ b.long()).int()
    else:
        a = torch.randn(m, k, device="cuda", generator=g).to(tdt)
        b = torch.randn(k, n, device="cuda", generator=g).to(tdt)
        c = torch.full((m, n), float("nan"), device="cuda")
        ref = (a.double() @ b.double()).float()
    grid = (triton.cdiv(m, 64), triton.cdiv(n, 64))
    matmul[grid](a, b, c, m, n, k, BM=64, BN=64, BK=32, num_warps=4, num_stages=num_stages)
    if dtype == "int8":
        assert torch.equal(c, ref)
    else:
        torch.testing.assert_close(c, ref, rtol=1e-4, atol=1e-3)


@needs_gpu
@pytest.mark.parametrize("num_stages", [1, 3])
@pytest.mark.parametrize(
    ("dtype", "bm", "bn", "bk", "warps", "trans_b"),
    [
        ("float16", 64, 64, 64, 4, False),  # 128-byte rows: the 128B swizzle
        ("bfloat16", 128, 128, 32, 8, False),  # two warpgroups, 64-byte rows of a
        ("float16", 64, 64, 64, 4, True),  # b = tl.trans(load): K-major b
        ("float32", 64, 32, 32, 4, False),  # tf32: b transposed while staging
        ("float16", 64, 16, 16, 4, False),  # 32-byte rows: the 32B swizzle
    ],
)
def test_wgmma_shapes_on_gpu(
    monkeypatch: pytest.MonkeyPatch, dtype: str, bm: int, bn: int, bk: int, warps: int,
    trans_b: bool, num_stages: int,
) -> None:  # fmt: skip
    """The shapes that take wgmma on sm_90a (mma.sync elsewhere: the same answers): every
    swizzle width, one and two warpgroups, MN- and K-major b, tf32; masked edges."""
    import torch

    from tests.backends.cuda.sample_kernels import matmul, matmul_bt

    monkeypatch.setenv("TRITIUM_BACKEND", "cuda")
    g = torch.Generator(device="cuda").manual_seed(_seed())
    m, n, k = 200, 136, 208
    tdt = getattr(torch, dtype)
    a = torch.randn(m, k, device="cuda", generator=g).to(tdt)
    b = torch.randn(k, n, device="cuda", generator=g).to(tdt)
    c = torch.full((m, n), float("nan"), device="cuda")
    grid = (triton.cdiv(m, bm), triton.cdiv(n, bn))
    opts = {"BM": bm, "BN": bn, "BK": bk, "num_warps": warps, "num_stages": num_stages}
    if trans_b:
        matmul_bt[grid](a, b.t().contiguous(), c, m, n, k, **opts)
    else:
        matmul[grid](a, b, c, m, n, k, **opts)
    ref = (a.double() @ b.double()).float()
    tol = 2e-2 if dtype == "float32" else 1e-3  # tf32 keeps 10 mantissa bits
    torch.testing.assert_close(c, ref, rtol=tol, atol=tol * 8)


@needs_gpu
@pytest.mark.parametrize("case", ["cumsum_1d", "cumsum_1d_reverse", "cumsum_1d_small",
                                  "cumsum_rows", "cumsum_cols"])  # fmt: skip
def test_scans_on_gpu(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """tl.cumsum along every axis, reversed, replicated, across warps and repetitions."""
    import torch

    from tests.backends.cuda.sample_kernels import CASES

    monkeypatch.setenv("TRITIUM_BACKEND", "cuda")
    fn, sig, consts, opts = CASES[case]
    g = torch.Generator(device="cuda").manual_seed(_seed())
    tdt = {"*fp32": torch.float32, "*i32": torch.int32, "*i64": torch.int64}[sig["x_ptr"]]
    shape = (consts["M"], consts["N"]) if "M" in consts else (consts["BLOCK"],)
    x = torch.randn(shape, device="cuda", generator=g)
    x = (x * 100).to(tdt) if not tdt.is_floating_point else x
    out = torch.empty_like(x).fill_(-7)
    fn[(1,)](x, out, **consts, **opts)
    axis = consts.get("AXIS", 0)
    xd = x.double() if tdt.is_floating_point else x.long()
    ref = xd.flip(axis).cumsum(axis).flip(axis) if consts.get("REVERSE") else xd.cumsum(axis)
    torch.testing.assert_close(out, ref.to(tdt), rtol=1e-5, atol=1e-3)


@needs_gpu
def test_non_commutative_scan_and_cumprod_on_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """An associative, non-commutative combine (affine maps) and tl.cumprod in fp16."""
    import torch

    from tests.backends.cuda.sample_kernels import affine_scan, cumprod_rows

    monkeypatch.setenv("TRITIUM_BACKEND", "cuda")
    g = torch.Generator(device="cuda").manual_seed(_seed())
    mul = torch.rand(512, device="cuda", generator=g) * 0.5 + 0.75
    add = torch.randn(512, device="cuda", generator=g)
    out = torch.full_like(add, float("nan"))
    affine_scan[(1,)](mul, add, out, BLOCK=512, num_warps=2)
    ref = torch.empty(512, dtype=torch.float64)
    acc = 0.0
    for i, (mm, aa) in enumerate(zip(mul.double().tolist(), add.double().tolist(), strict=True)):
        acc = acc * mm + aa
        ref[i] = acc
    torch.testing.assert_close(out.cpu().double(), ref, rtol=1e-4, atol=1e-4)
    x = (torch.rand(4, 128, device="cuda", generator=g) * 0.2 + 0.9).half()
    y = torch.full_like(x, float("nan"))
    cumprod_rows[(4,)](x, y, N=128, num_warps=1)
    torch.testing.assert_close(y.float(), x.double().cumprod(1).float(), rtol=2e-2, atol=1e-3)
