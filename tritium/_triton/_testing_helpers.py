"""Helpers Triton's own test files import from ``triton._internal_testing``.

Under ``tritium.install_as_triton()`` this module *is* ``triton._internal_testing``, so test
code written for Triton (``numpy_random``, ``to_triton``, ``to_numpy``, ``is_interpreter``,
``is_cuda``, the dtype lists) runs against tritium on the CPU. Device predicates describe the
target tritium compiles for: the CPU (so ``is_cuda()`` and ``is_hip()`` are False).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from tritium import knobs
from tritium.runtime.tensor_wrapper import TensorWrapper, reinterpret

__all__ = [
    "int_dtypes",
    "uint_dtypes",
    "integral_dtypes",
    "float_dtypes",
    "float_dtypes_with_bfloat16",
    "dtypes",
    "dtypes_with_bfloat16",
    "torch_float8_dtypes",
    "torch_dtypes",
    "tma_dtypes",
    "is_interpreter",
    "get_current_target",
    "is_cuda",
    "is_hip",
    "is_hip_cdna",
    "is_hip_cdna2",
    "is_hip_cdna3",
    "is_hip_cdna4",
    "is_hip_rdna3",
    "is_hip_rdna4",
    "is_hip_gfx1250",
    "is_hip_cdna3_or_newer",
    "is_hip_rdna",
    "get_hip_lds_size",
    "is_hopper_or_newer",
    "is_blackwell_ultra",
    "is_rubin",
    "requires_tma",  # noqa: F822 (made by the module's __getattr__)
    "default_alloc_fn",
    "unwrap_tensor",
    "run_in_process",
    "ProcessResult",
    "is_hip_mi200",
    "is_hip_mi300",
    "is_hip_mi350",
    "is_xpu",
    "is_cpu",
    "is_ampere_or_newer",
    "is_hopper",
    "is_blackwell",
    "is_sm12x",
    "get_arch",
    "numpy_random",
    "to_triton",
    "to_numpy",
    "torch_dtype_name",
    "str_to_triton_dtype",
    "supports_tma",
    "supports_ws",
    "tma_skip_msg",
]

int_dtypes = ["int8", "int16", "int32", "int64"]
uint_dtypes = ["uint8", "uint16", "uint32", "uint64"]
integral_dtypes = int_dtypes + uint_dtypes
float_dtypes = ["float16", "float32", "float64"]
float_dtypes_with_bfloat16 = float_dtypes + ["bfloat16"]
dtypes = integral_dtypes + float_dtypes
dtypes_with_bfloat16 = dtypes + ["bfloat16"]
torch_float8_dtypes = ["float8_e4m3fn", "float8_e5m2"]
torch_dtypes = ["bool"] + int_dtypes + ["uint8"] + float_dtypes + ["bfloat16"]
tma_dtypes = sorted(set(dtypes_with_bfloat16) - {"int64", "uint64", "float64"})

tma_skip_msg = "tensor descriptors (TMA) need a GPU with TMA; tritium's CPU backend has none"


def is_interpreter() -> bool:
    """True when kernels run in the interpreter (TRITON_INTERPRET=1 or TRITIUM_INTERPRET=1)."""
    return knobs.interpret()


def get_current_target() -> Any:
    """The compilation target, or None in the interpreter (as in Triton)."""
    if is_interpreter():
        return None
    from tritium.runtime.driver import driver

    return driver.active.get_current_target()


def _backend() -> str | None:
    target = get_current_target()
    return None if target is None else target.backend


def is_cuda() -> bool:
    """Compiling for an NVIDIA GPU."""
    return _backend() == "cuda"


def is_cpu() -> bool:
    """Compiling for the CPU (tritium's default)."""
    return _backend() == "cpu"


def is_hip() -> bool:
    """Compiling for an AMD GPU: never with tritium."""
    return _backend() == "hip"


def is_xpu() -> bool:
    """Compiling for an Intel GPU: never with tritium."""
    return _backend() == "xpu"


def _false() -> bool:
    return False


# AMD generations: tritium has no AMD backend.
is_hip_cdna = is_hip_cdna2 = is_hip_cdna3 = is_hip_cdna4 = is_hip_cdna3_or_newer = _false
is_hip_rdna = is_hip_rdna3 = is_hip_rdna4 = is_hip_gfx1250 = _false
is_hip_mi200 = is_hip_mi300 = is_hip_mi350 = _false


def get_hip_lds_size() -> int:
    """AMD local data share size; no AMD target, so 0."""
    return 0


def _cuda_capability() -> int:
    target = get_current_target()
    if target is None or target.backend != "cuda":
        return 0
    return int(target.arch)


def is_ampere_or_newer() -> bool:
    """An NVIDIA GPU of compute capability 8.0 or newer."""
    return _cuda_capability() >= 80


def is_hopper() -> bool:
    """An NVIDIA sm_90 GPU."""
    return _cuda_capability() // 10 == 9


def is_blackwell() -> bool:
    """An NVIDIA sm_100 GPU."""
    return _cuda_capability() // 10 == 10


def is_hopper_or_newer() -> bool:
    """An NVIDIA GPU of compute capability 9.0 or newer."""
    return _cuda_capability() >= 90


def is_blackwell_ultra() -> bool:
    """An NVIDIA sm_103 GPU."""
    return _cuda_capability() == 103


def is_rubin() -> bool:
    """An NVIDIA sm_110 GPU or newer Rubin part."""
    return _cuda_capability() // 10 == 11


def is_sm12x() -> bool:
    """An NVIDIA sm_120 GPU."""
    return _cuda_capability() // 10 == 12


def get_arch() -> str:
    """The target's architecture string ("" in the interpreter)."""
    target = get_current_target()
    return "" if target is None else str(target.arch)


def supports_tma(byval_only: bool = False) -> bool:
    """Tensor memory accelerator: only on Hopper and newer GPUs."""
    return is_cuda() and _cuda_capability() >= 90


def supports_ws() -> bool:
    """Warp specialization: only on Hopper and newer GPUs."""
    return supports_tma()


def numpy_random(
    shape: int | tuple[int, ...],
    dtype_str: str,
    rs: np.random.RandomState | None = None,
    low: int | None = None,
    high: int | None = None,
) -> np.ndarray:
    """Random test data of ``dtype_str``, as Triton's helper makes it.

    Integers are uniform in [low, high) (default: the dtype's range) and never 0, so division
    tests do not divide by zero; floats are standard normal; ``bfloat16`` is float32 data with
    the low 16 bits cleared; ``float8*`` gives int8 bit patterns in [20, 40); ``bool`` is a coin
    flip. Pass ``rs`` to get different data from two calls.
    """
    if isinstance(shape, int):
        shape = (shape,)
    if rs is None:
        rs = np.random.RandomState(seed=17)
    if dtype_str in integral_dtypes:
        info = np.iinfo(getattr(np, dtype_str))
        lo = info.min if low is None else max(low, info.min)
        hi = info.max if high is None else min(high, info.max)
        x = rs.randint(lo, hi, shape, dtype=getattr(np, dtype_str))
        x[x == 0] = 1
        return x
    if dtype_str and "float8" in dtype_str:
        return rs.randint(20, 40, shape, dtype=np.int8)
    if dtype_str in float_dtypes:
        return rs.normal(0, 1, shape).astype(dtype_str)
    if dtype_str == "bfloat16":
        bits = rs.normal(0, 1, shape).astype("float32").view("uint32") & np.uint32(0xFFFF0000)
        return bits.view("float32")
    if dtype_str in ("bool", "int1", "bool_"):
        return rs.normal(0, 1, shape) > 0.0
    raise ValueError(f"numpy_random: unknown dtype {dtype_str!r}")


def str_to_triton_dtype(name: str) -> Any:
    """The ``tl.dtype`` for a NumPy/torch-style name (``"float32"`` -> ``tl.float32``,
    ``"float8_e5m2"`` -> ``tl.float8e5``)."""
    from tritium.language.dtypes import str_to_ty

    return str_to_ty(name)


def torch_dtype_name(dtype: Any) -> str:
    """``"float32"`` for ``torch.float32``; a ``tl.dtype`` of a wrapper gives its NumPy name."""
    if hasattr(dtype, "is_floating_point") or str(dtype).startswith("torch."):
        return str(dtype).split(".")[-1]
    name = str(getattr(dtype, "name", dtype))
    if name.startswith(("int", "uint")):
        return name
    return {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32", "fp64": "float64"}.get(
        name, name
    )


def to_triton(x: np.ndarray, device: Any = "cpu", dst_type: str | None = None) -> Any:
    """A torch tensor on ``device`` holding ``x``; unsigned and fp8 data as a TensorWrapper."""
    import torch

    import tritium.language as tl

    name = x.dtype.name
    if name in uint_dtypes:
        signed = x.astype(getattr(np, name[1:]))  # same bits, a dtype every torch has
        return reinterpret(torch.tensor(signed, device=device), getattr(tl, name))
    if dst_type and "float8" in dst_type:
        return reinterpret(torch.tensor(x, device=device), getattr(tl, dst_type))
    if name == "float32" and dst_type == "bfloat16":
        return torch.tensor(x, device=device).bfloat16()
    return torch.tensor(x, device=device)


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy of a torch tensor or TensorWrapper (bfloat16 widened to float32)."""
    import torch

    if isinstance(x, TensorWrapper):
        base = x.base.cpu().numpy()
        name = torch_dtype_name(x.dtype)
        if name in integral_dtypes:
            return base.astype(getattr(np, name))
        return base
    if isinstance(x, torch.Tensor):
        if x.dtype is torch.bfloat16:
            return x.cpu().float().numpy()
        return x.cpu().numpy()
    raise ValueError(f"not a tensor tritium can read: {x!r}")


def _requires_tma() -> Any:
    import pytest

    return pytest.mark.skipif(not supports_tma(), reason=tma_skip_msg)


def __getattr__(name: str) -> Any:
    # ``requires_tma`` is a pytest mark: built on first use so that importing this module does
    # not import pytest.
    if name == "requires_tma":
        return _requires_tma()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_alloc_fn(size: int, align: int, stream: Any) -> Any:
    """Scratch memory for ``triton.set_allocator``: a byte tensor on the CPU."""
    import torch

    return torch.empty(size, dtype=torch.int8)


def unwrap_tensor(t: Any) -> Any:
    """The tensor under a TensorWrapper; anything else unchanged."""
    return t.base if isinstance(t, TensorWrapper) else t


@dataclass
class ProcessResult:
    """What :func:`run_in_process` returns: the exception raised (or None) and the stderr."""

    exc: BaseException | None
    driver_stderr_output: str


def _run_in_process_worker(
    client_fn: Any, q: Any, args: Any, kwargs: Any, env: Any, stderr_file: str
) -> None:
    if env is not None:
        os.environ.update(env)
    with open(stderr_file, "w+b") as err:
        saved = os.dup(2)
        os.dup2(err.fileno(), 2)
        exc = None
        try:
            client_fn(*args, **kwargs)
        except Exception as e:  # reported to the parent, as Triton's helper does
            exc = e
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            q.put(exc)


def run_in_process(
    client_fn: Any,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    env: Any = None,
) -> ProcessResult:
    """Run ``client_fn(*args, **kwargs)`` in a fresh process; its exception and stderr."""
    import multiprocessing
    import queue
    import tempfile

    ctx = multiprocessing.get_context("forkserver")
    q = ctx.Queue()
    with tempfile.TemporaryDirectory() as tmpdir:
        stderr_file = os.path.join(tmpdir, "err.log")
        proc = ctx.Process(
            target=_run_in_process_worker, args=(client_fn, q, args, kwargs or {}, env, stderr_file)
        )
        proc.start()
        proc.join()
        with open(stderr_file) as f:
            stderr = f.read()
    try:
        exc = q.get(timeout=1)
    except queue.Empty:
        print(stderr, file=sys.stderr)
        raise RuntimeError(f"child process exited with code {proc.exitcode}") from None
    return ProcessResult(exc, stderr)


def _fresh_knobs_impl(skipped_attr: set[str] | None = None) -> tuple[Any, Any]:
    """Triton's ``fresh_knobs`` fixture body: every knob group reset to its environment
    defaults (and its variables removed) until ``reset_function()``."""
    import pytest

    from tritium import knob_groups

    skipped = skipped_attr or set()
    groups = {
        name: group
        for name, group in vars(knob_groups).items()
        if isinstance(group, knob_groups.base_knobs) and name not in skipped
    }
    monkeypatch = pytest.MonkeyPatch()
    unset: list[str] = []
    facade = sys.modules.get("triton.knobs")

    def fresh_function() -> Any:
        for name, group in groups.items():
            fresh = group.copy().reset()
            setattr(knob_groups, name, fresh)
            if facade is not None:
                setattr(facade, name, fresh)
            for knob in group.knob_descriptors.values():
                for key in (*knob.also, knob.key):
                    if key in os.environ:
                        monkeypatch.delenv(key)
                    else:  # unset now: whatever the test sets is removed afterwards
                        unset.append(key)
        return facade if facade is not None else knob_groups

    def reset_function() -> None:
        for name, group in groups.items():
            setattr(knob_groups, name, group)
            if facade is not None:
                setattr(facade, name, group)
        monkeypatch.undo()
        for key in unset:
            os.environ.pop(key, None)

    return fresh_function, reset_function
