"""``triton.runtime``: Triton's runtime package over tritium's (``driver`` is the driver object,
``jit``/``driver``/``autotuner``/... are the submodules Triton has)."""

from tritium._triton.runtime import (  # noqa: F401 (submodules, as Triton's package has them)
    _allocation,
    autotuner,
    cache,
    errors,
    jit,
)
from tritium._triton.runtime.driver import driver
from tritium.runtime import (
    Autotuner,
    Config,
    Heuristics,
    InterpreterError,
    JITFunction,
    KernelInterface,
    OutOfResources,
    TensorWrapper,
    autotune,
    heuristics,
    reinterpret,
)
from tritium.runtime.jit import MockTensor

__all__ = [
    "Autotuner",
    "Config",
    "Heuristics",
    "InterpreterError",
    "JITFunction",
    "KernelInterface",
    "MockTensor",
    "OutOfResources",
    "TensorWrapper",
    "autotune",
    "driver",
    "heuristics",
    "reinterpret",
]
