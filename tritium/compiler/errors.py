"""Compile-time errors, as ``triton.compiler.errors``."""

from __future__ import annotations

from tritium.errors import CompilationError

__all__ = ["CompilationError", "CompileTimeAssertionFailure", "UnsupportedLanguageConstruct"]


class CompileTimeAssertionFailure(CompilationError):  # noqa: N818 - Triton's name
    """A ``tl.static_assert`` that failed while compiling."""


class UnsupportedLanguageConstruct(CompilationError):  # noqa: N818 - Triton's name
    """Python syntax that the Triton language does not support (``try``, ``lambda``, ...)."""
