"""The active driver: which device kernels run on, and what that device is.

Mirrors ``triton.backends.driver``/``triton.runtime.driver``: ``driver.active`` is the driver in
use (the host CPU unless :func:`tritium.runtime.driver.activate_cuda` switched to the GPU), and
``driver.active.get_current_target()`` names the target a kernel is compiled for. The CPU's
target is :func:`tritium.backends.cpu.target.host_target`: the exact LLVM CPU name and feature
string, ``TRITIUM_CPU_FEATURES`` applied, because a kernel compiled for one set of features must
never be reused on a machine without them (the disk cache keys on this string).

It lives with the backends, below the compiler and the runtime, so that both can ask it.
"""

from __future__ import annotations

from typing import Any

from tritium import knobs
from tritium.backends.base import GPUTarget

__all__ = ["CPUDriver", "DriverConfig", "driver"]


class CPUDriver:
    """The driver for the host CPU."""

    backend = "cpu"

    def get_current_target(self) -> GPUTarget:
        """The host CPU as a target: its LLVM name and feature string."""
        from tritium.backends.cpu.target import host_target

        host = host_target()
        return GPUTarget("cpu", f"{host.cpu}:{host.features}", 1)

    def get_current_device(self) -> int:
        """Device index; the CPU is device 0."""
        return 0

    def get_current_stream(self, device: int | None = None) -> int:
        """Stream handle; the CPU has none, so 0."""
        return 0

    def get_active_torch_device(self) -> Any:
        """``torch.device("cpu")``: where tensors for CPU kernels live (Triton's tutorials ask)."""
        import torch

        return torch.device("cpu")

    def get_device_interface(self) -> Any:
        """The torch module for this device (``torch.cpu``), as Triton returns ``torch.cuda``."""
        import torch

        return torch.cpu

    def get_device_properties(self, device: int = 0) -> dict[str, int]:
        """A Triton-shaped properties dict; ``multiprocessor_count`` is the thread count."""
        return {
            "multiprocessor_count": knobs.num_threads(),
            "max_shared_mem": 1 << 20,
            "max_num_regs": 1 << 16,
            "warpSize": 1,
        }

    @property
    def utils(self) -> CPUDriver:
        """Itself: Triton code calls ``driver.active.utils.get_device_properties(dev)``."""
        return self

    @staticmethod
    def is_active() -> bool:
        """The CPU is always there (Triton asks the driver class, before making one)."""
        return True

    def get_benchmarker(self) -> Any:
        """The timer Triton's autotuner uses: :func:`tritium.testing.do_bench` (CPU clock)."""
        from tritium.testing import do_bench

        return do_bench

    def get_empty_cache_for_benchmark(self) -> Any:
        """A buffer larger than the last-level cache, zeroed between timed runs to flush it."""
        import torch

        return torch.empty(64 << 20, dtype=torch.int8)

    def clear_cache(self, cache: Any) -> None:
        """Overwrite ``cache`` (from :meth:`get_empty_cache_for_benchmark`)."""
        cache.zero_()


class DriverConfig:
    """Holds the active driver (``driver.active``); tests may swap it with ``set_active``."""

    def __init__(self) -> None:
        self._active: CPUDriver | None = None

    @property
    def active(self) -> CPUDriver:
        """The driver in use (created on first use)."""
        if self._active is None:
            self._active = CPUDriver()
        return self._active

    def set_active(self, drv: CPUDriver) -> None:
        """Use ``drv`` from now on."""
        self._active = drv

    def reset_active(self) -> None:
        """Go back to the default driver."""
        self._active = None


driver = DriverConfig()
