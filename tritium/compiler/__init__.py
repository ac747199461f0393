"""Ahead-of-time compilation, as ``triton.compiler``: ``ASTSource``, ``compile``,
``CompiledKernel``; the disk cache lives in :mod:`tritium.compiler.cache`."""

from tritium.backends.base import GPUTarget
from tritium.compiler.compiler import ASTSource, CompiledKernel, compile
from tritium.compiler.version import __version__, compiler_version
from tritium.errors import CompilationError

__all__ = [
    "ASTSource",
    "CompiledKernel",
    "compile",
    "CompilationError",
    "GPUTarget",
    "compiler_version",
    "__version__",
]
