"""Runtime errors, as ``triton.runtime.errors``."""

from __future__ import annotations

from tritium.errors import OutOfResources, TritiumError

__all__ = ["InterpreterError", "OutOfResources"]


class InterpreterError(TritiumError):
    """An exception raised inside a kernel run by the interpreter, as Triton reports it.

    The original exception is the ``__cause__``; tritium's own errors (``SanitizerError``,
    ``CompilationError``) are not wrapped.
    """
