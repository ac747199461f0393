"""``triton.runtime.driver``: the active driver (``driver.active``), and
:func:`activate_cuda` to switch it to the GPU.

The driver classes live in :mod:`tritium.backends.driver`, with the targets they describe, so
that the compiler can ask for the current target without importing the runtime.
"""

from __future__ import annotations

from tritium.backends.base import GPUTarget
from tritium.backends.driver import CPUDriver, DriverConfig, driver

__all__ = ["GPUTarget", "CPUDriver", "DriverConfig", "activate_cuda", "driver"]


def activate_cuda() -> None:
    """Make the NVIDIA GPU the active driver: from now on ``kernel[grid](...)`` compiles for
    the current device and takes CUDA tensors (call once, before the first launch)."""
    from tritium.backends.cuda.runtime import CUDADriver, CudaUnavailableError, available

    if not available():
        raise CudaUnavailableError("no CUDA device is available")
    driver.set_active(CUDADriver())  # type: ignore[arg-type]
