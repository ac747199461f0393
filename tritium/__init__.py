"""tritium: a Triton-compatible tile-kernel language and compiler.

Use it as Triton::

    import tritium as triton
    import tritium.language as tl

or call :func:`install_as_triton` once so that ``import triton`` finds tritium.
The public surface is the explicit list below; ``tests/runtime/test_public_api.py`` pins it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tritium import compiler, knobs, language, runtime
from tritium._triton_alias import install_as_triton
from tritium.compiler import ASTSource, CompiledKernel, compile
from tritium.compiler.version import __version__
from tritium.errors import (
    CompilationError,
    InternalCompilerError,
    OutOfResources,
    SanitizerError,
    TritiumError,
)
from tritium.language import constexpr_function
from tritium.runtime import (
    Config,
    JITFunction,
    KernelInterface,
    autotune,
    cdiv,
    heuristics,
    jit,
    next_power_of_2,
    reinterpret,
    set_allocator,
)
from tritium.runtime.tensor_wrapper import TensorWrapper
from tritium.threads import get_num_threads, set_num_threads

if TYPE_CHECKING:
    from tritium import testing


def __getattr__(name: str) -> Any:
    # `tritium.testing` (benchmark helpers: statistics, report tables) is imported when first
    # used: a process that only launches kernels never needs it (issue 13, first launch)
    if name == "testing":
        import importlib

        return importlib.import_module("tritium.testing")
    raise AttributeError(f"module 'tritium' has no attribute {name!r}")


__all__ = [
    "ASTSource",
    "CompilationError",
    "CompiledKernel",
    "Config",
    "InternalCompilerError",
    "JITFunction",
    "KernelInterface",
    "OutOfResources",
    "SanitizerError",
    "TensorWrapper",
    "TritiumError",
    "__version__",
    "autotune",
    "cdiv",
    "compile",
    "compiler",
    "constexpr_function",
    "get_num_threads",
    "heuristics",
    "install_as_triton",
    "jit",
    "knobs",
    "language",
    "next_power_of_2",
    "reinterpret",
    "runtime",
    "set_allocator",
    "set_num_threads",
    "testing",
]
