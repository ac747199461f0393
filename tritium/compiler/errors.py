"""Compile-time errors, as ``triton.compiler.errors`` (defined in :mod:`tritium.errors`)."""

from __future__ import annotations

from tritium.errors import (
    CompilationError,
    CompileTimeAssertionFailure,
    UnsupportedLanguageConstruct,
)

__all__ = ["CompilationError", "CompileTimeAssertionFailure", "UnsupportedLanguageConstruct"]
