"""``triton.compiler``: ahead-of-time compilation, as Triton lays it out."""

from tritium._triton.compiler.compiler import (
    ASTSource,
    CompiledKernel,
    LazyDict,
    compile,
    make_backend,
    triton_key,
)
from tritium.errors import CompilationError

__all__ = [
    "ASTSource",
    "CompilationError",
    "CompiledKernel",
    "LazyDict",
    "compile",
    "make_backend",
    "triton_key",
]
