"""``triton.compiler.compiler``: ``ASTSource``, ``compile``, ``CompiledKernel`` and the backend
helpers (``make_backend``, ``triton_key``) that PyTorch's Inductor imports from here."""

from tritium.compiler.compiler import ASTSource, CompiledKernel, compile
from tritium.compiler.triton_api import LazyDict, make_backend, triton_key
from tritium.runtime.driver import GPUTarget

__all__ = [
    "ASTSource",
    "CompiledKernel",
    "GPUTarget",
    "LazyDict",
    "compile",
    "make_backend",
    "triton_key",
]
