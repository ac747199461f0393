"""Running compiled kernels on an NVIDIA GPU through the CUDA driver API (ctypes).

Why ctypes on ``libcuda.so.1`` rather than NVIDIA's ``cuda-bindings``: it needs no package
beyond the driver every CUDA machine has, the handful of calls a launch needs
(``cuModuleLoadData``, ``cuModuleGetFunction``, ``cuFuncSetAttribute``, ``cuLaunchKernel``)
are stable C ABI, and one ctypes call costs about as much as one ``cuda-bindings`` call (both
are a Python -> C transition plus argument marshalling; neither has been measured on a GPU
yet — ``benchmarks/bench_cuda.py`` prints the launch overhead).

* the module is loaded lazily, per device, into the device's primary context (the one torch
  uses), from the cubin, or from the PTX (the driver JIT-compiles it) without ``ptxas``;
* kernels needing more than 48 KiB of dynamic shared memory get
  ``CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES`` first;
* launches go to torch's current stream when torch is in use, else the default stream;
* arguments: integer addresses, torch CUDA tensors, anything with
  ``__cuda_array_interface__``, and Python numbers, packed as the kernel's parameter types
  (:func:`pack_args`, testable without a GPU).

Nothing here is imported by ``import tritium``; a missing driver raises ``CudaUnavailableError``
on first use.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "CUDADriver",
    "CUDAKernel",
    "CudaError",
    "CudaUnavailableError",
    "cuda_target",
    "do_bench",
    "pack_args",
]

CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76
_STATIC_SHARED_LIMIT = 48 * 1024


class CudaError(RuntimeError):
    """A CUDA driver call failed."""


class CudaUnavailableError(CudaError):
    """No CUDA driver (``libcuda.so.1``) or no device on this machine."""


@functools.cache
def libcuda() -> ctypes.CDLL:
    """The CUDA driver library, initialized."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError as e:
        raise CudaUnavailableError(f"the CUDA driver (libcuda.so.1) cannot be loaded: {e}") from e
    check(lib, lib.cuInit(0), "cuInit")
    return lib


def check(lib: ctypes.CDLL, code: int, what: str) -> None:
    """Raise :class:`CudaError` naming ``what`` and the driver's error name if ``code`` != 0."""
    if code == 0:
        return
    name = ctypes.c_char_p()
    try:
        lib.cuGetErrorName(code, ctypes.byref(name))
        text = name.value.decode() if name.value else str(code)
    except AttributeError:
        text = str(code)
    raise CudaError(f"{what} failed: {text} ({code})")


def available() -> bool:
    """Whether a CUDA driver and at least one device are present."""
    try:
        lib = libcuda()
    except CudaError:
        return False
    n = ctypes.c_int()
    return lib.cuDeviceGetCount(ctypes.byref(n)) == 0 and n.value > 0


def current_device() -> int:
    """torch's current CUDA device if torch is loaded with CUDA, else 0."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return int(torch.cuda.current_device())
    return 0


def current_stream(device: int) -> int:
    """torch's current stream on ``device`` (a ``CUstream`` handle), else the default (0)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return int(torch.cuda.current_stream(device).cuda_stream)
    return 0


@functools.cache
def primary_context(device: int) -> int:
    """Retain ``device``'s primary context (torch's) and make it current."""
    lib = libcuda()
    dev = ctypes.c_int()
    check(lib, lib.cuDeviceGet(ctypes.byref(dev), device), "cuDeviceGet")
    ctx = ctypes.c_void_p()
    check(lib, lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), "cuDevicePrimaryCtxRetain")
    return int(ctx.value or 0)


def set_current(device: int) -> None:
    """Make ``device``'s primary context current on this thread."""
    lib = libcuda()
    check(lib, lib.cuCtxSetCurrent(ctypes.c_void_p(primary_context(device))), "cuCtxSetCurrent")


def compute_capability(device: int = 0) -> int:
    """The device's compute capability as an int (90 for an H100)."""
    lib = libcuda()
    major, minor = ctypes.c_int(), ctypes.c_int()
    for attr, out in (
        (CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, major),
        (CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, minor),
    ):
        check(
            lib, lib.cuDeviceGetAttribute(ctypes.byref(out), attr, device), "cuDeviceGetAttribute"
        )
    return major.value * 10 + minor.value


# ---- arguments ---------------------------------------------------------------------------
def device_pointer(value: Any) -> int:
    """The device address of a pointer argument: an int, a torch CUDA tensor, an object with
    ``__cuda_array_interface__``, or a DLPack producer whose memory is on a CUDA device (the
    argument itself keeps the memory alive during the launch, as for the others). A CPU
    tensor or array is refused by name."""
    if isinstance(value, int):
        return value
    iface = getattr(value, "__cuda_array_interface__", None)
    if iface is not None:
        return int(iface["data"][0])
    if hasattr(value, "data_ptr") and hasattr(value, "device"):
        if getattr(value.device, "type", "") != "cuda":
            raise TypeError(f"tensor on device {value.device} cannot be used by a CUDA kernel")
        return int(value.data_ptr())
    if hasattr(value, "__dlpack__"):
        from tritium.dlpack import CUDA_DEVICES, from_dlpack

        return from_dlpack(value, "a CUDA pointer argument", CUDA_DEVICES).data
    raise TypeError(f"cannot pass a {type(value).__name__} as a CUDA pointer argument")


def _half_bits(x: float, ir_type: str) -> int:
    import ml_dtypes
    import numpy as np

    dtype = ml_dtypes.bfloat16 if ir_type == "bf16" else np.float16
    return int(np.array(x, dtype=dtype).view(np.uint16))


def _packer(llvm_type: str, ir_type: str) -> Callable[[Any], ctypes._SimpleCData]:
    if llvm_type == "i64":
        if ir_type.startswith("!tt.ptr"):
            return lambda v: ctypes.c_uint64(device_pointer(v) & (2**64 - 1))
        return lambda v: ctypes.c_uint64(int(v) & (2**64 - 1))
    if llvm_type == "i32":
        return lambda v: ctypes.c_uint32(int(v) & 0xFFFFFFFF)
    if llvm_type == "i16":
        if ir_type in ("f16", "bf16"):
            return lambda v: ctypes.c_uint16(_half_bits(v, ir_type))
        return lambda v: ctypes.c_uint16(int(v) & 0xFFFF)
    if llvm_type == "i8":
        return lambda v: ctypes.c_uint8(int(v) & 0xFF)
    if llvm_type == "float":
        return lambda v: ctypes.c_float(float(v))
    if llvm_type == "double":
        return lambda v: ctypes.c_double(float(v))
    raise TypeError(f"no CUDA argument packing for parameter type {ir_type} ({llvm_type})")


def pack_args(
    llvm_types: Sequence[str],
    ir_types: Sequence[str],
    args: Sequence[Any],
    extra: Sequence[Any] = (),
) -> tuple[Any, list[Any]]:
    """``(void* params[], keepalive)`` for ``cuLaunchKernel`` from Python values; ``extra``
    ctypes values (the CUtensorMaps of TMA loads) follow the IR's parameters."""
    if len(args) != len(llvm_types):
        raise TypeError(f"the kernel takes {len(llvm_types)} arguments, got {len(args)}")
    values = [_packer(lt, it)(a) for lt, it, a in zip(llvm_types, ir_types, args, strict=True)]
    values += list(extra)
    params = (ctypes.c_void_p * max(1, len(values)))(
        *[ctypes.cast(ctypes.byref(v), ctypes.c_void_p) for v in values]
    )
    return params, values


# ---- kernels ------------------------------------------------------------------------------
class CUDAKernel:
    """A compiled kernel; its module is loaded into the current device's context on first
    launch (so compiling and loading a cached artifact need no GPU)."""

    def __init__(self, artifact: Any) -> None:
        md = artifact.metadata
        self.name = artifact.name
        self.binary = artifact.binary
        ptx = artifact.asm.get("ptx", "")
        self.ptx = ptx.encode() if isinstance(ptx, str) else ptx
        self.shared = int(md.get("shared", 0))
        self.block = 32 * int(md.get("num_warps", 4))
        self.llvm_types = list(md["param_llvm"])
        self.ir_types = list(md["param_types"])
        self.tma = list(md.get("tma", ()))  # CUtensorMap parameters (tensormap.py)
        self._functions: dict[int, int] = {}

    def function(self, device: int) -> int:
        """The ``CUfunction`` on ``device`` (loading the module the first time)."""
        fn = self._functions.get(device)
        if fn is not None:
            return fn
        lib = libcuda()
        set_current(device)
        image = self.binary or (self.ptx + b"\0")
        module = ctypes.c_void_p()
        check(lib, lib.cuModuleLoadData(ctypes.byref(module), image), f"loading {self.name}")
        func = ctypes.c_void_p()
        check(
            lib,
            lib.cuModuleGetFunction(ctypes.byref(func), module, self.name.encode()),
            f"cuModuleGetFunction({self.name})",
        )
        if self.shared > _STATIC_SHARED_LIMIT:
            check(
                lib,
                lib.cuFuncSetAttribute(
                    func, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, self.shared
                ),
                f"allowing {self.shared} bytes of shared memory for {self.name}",
            )
        self._functions[device] = int(func.value or 0)
        return self._functions[device]

    def launch(self, grid: tuple[int, int, int], args: Sequence[Any]) -> None:
        """Launch over ``grid`` on torch's current stream of the current device."""
        maps: list[Any] = []
        if self.tma:
            from tritium.backends.cuda.tensormap import tensor_map_params

            maps = tensor_map_params(libcuda(), self.tma, args, ())
        params, keep = pack_args(self.llvm_types, self.ir_types, args, maps)
        device = current_device()
        fn = self.function(device)
        gx, gy, gz = grid
        if gx * gy * gz == 0:
            return
        lib = libcuda()
        code = lib.cuLaunchKernel(
            ctypes.c_void_p(fn), gx, gy, gz, self.block, 1, 1, self.shared,
            ctypes.c_void_p(current_stream(device)), params, None,
        )  # fmt: skip
        del keep
        check(lib, code, f"launching {self.name}")


def do_bench(fn: Callable[[], Any], warmup: int = 25, rep: int = 100) -> float:
    """Median milliseconds of ``fn()`` on the GPU, timed with CUDA events (torch's)."""
    import torch

    fn()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(5):
        fn()
    end.record()
    torch.cuda.synchronize()
    est = max(1e-3, start.elapsed_time(end) / 5)
    n_warm, n_rep = max(1, int(warmup / est)), max(1, int(rep / est))
    cache = torch.empty(256 * 1024 * 1024 // 4, dtype=torch.int32, device="cuda")
    for _ in range(n_warm):
        fn()
    times = []
    for _ in range(n_rep):
        cache.zero_()  # flush L2 between runs, as Triton's do_bench does
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        times.append((s, e))
    torch.cuda.synchronize()
    ms = sorted(s.elapsed_time(e) for s, e in times)
    return ms[len(ms) // 2]


def cuda_target() -> Any:
    """The target CUDA kernels compile for: ``TRITIUM_CUDA_ARCH`` if set, else the current
    device's compute capability."""
    from tritium import knobs
    from tritium.backends.base import GPUTarget

    cc = knobs.cuda_arch()
    return GPUTarget("cuda", cc if cc is not None else compute_capability(current_device()), 32)


class CUDADriver:
    """``driver.active`` for a GPU: targets the current device's architecture."""

    backend = "cuda"

    def get_current_target(self) -> Any:
        """``GPUTarget("cuda", cc, 32)`` for the current device (or TRITIUM_CUDA_ARCH)."""
        return cuda_target()

    def get_current_device(self) -> int:
        """The current CUDA device index."""
        return current_device()

    def get_current_stream(self, device: int | None = None) -> int:
        """torch's current stream handle."""
        return current_stream(current_device() if device is None else device)

    def get_active_torch_device(self) -> Any:
        """``torch.device("cuda", current)``."""
        import torch

        return torch.device("cuda", current_device())

    def get_device_interface(self) -> Any:
        """``torch.cuda``."""
        import torch

        return torch.cuda

    def get_device_properties(self, device: int = 0) -> dict[str, int]:
        """Triton's device properties dict (SM count, shared memory, registers)."""
        import torch

        p = torch.cuda.get_device_properties(device)
        return {
            "multiprocessor_count": p.multi_processor_count,
            "max_shared_mem": int(getattr(p, "shared_memory_per_block_optin", 232448)),
            "max_num_regs": int(getattr(p, "regs_per_multiprocessor", 65536)),
            "warpSize": 32,
        }

    @property
    def utils(self) -> CUDADriver:
        """Itself, as Triton's ``driver.active.utils``."""
        return self

    def is_active(self) -> bool:
        """Whether a GPU is usable."""
        return available()
