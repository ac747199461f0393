"""The runtime, as ``triton.runtime``: JIT launching, autotuning, heuristics, the driver."""

from tritium.runtime.autotuner import Autotuner, Config, Heuristics, autotune, heuristics
from tritium.runtime.driver import driver
from tritium.runtime.errors import InterpreterError, OutOfResources
from tritium.runtime.jit import JITFunction, KernelInterface, jit
from tritium.runtime.tensor_wrapper import TensorWrapper, reinterpret
from tritium.runtime.utils import cdiv, next_power_of_2, set_allocator

__all__ = [
    "Autotuner",
    "Config",
    "Heuristics",
    "InterpreterError",
    "JITFunction",
    "KernelInterface",
    "OutOfResources",
    "TensorWrapper",
    "autotune",
    "cdiv",
    "driver",
    "heuristics",
    "jit",
    "next_power_of_2",
    "reinterpret",
    "set_allocator",
]
