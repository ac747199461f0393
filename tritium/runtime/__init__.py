"""The runtime, as ``triton.runtime``: JIT launching, autotuning, heuristics, the driver."""

from tritium.errors import OutOfResources
from tritium.runtime.autotuner import Autotuner, Config, Heuristics, autotune, heuristics
from tritium.runtime.driver import driver
from tritium.runtime.jit import JITFunction, KernelInterface, jit
from tritium.runtime.utils import cdiv, next_power_of_2

__all__ = ["Autotuner", "Config", "Heuristics", "JITFunction", "KernelInterface",
           "OutOfResources", "autotune", "cdiv", "driver", "heuristics", "jit",
           "next_power_of_2"]
