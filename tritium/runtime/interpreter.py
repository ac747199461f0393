"""``triton.runtime.interpreter``: the name Triton gives a kernel run by its interpreter.

Under ``TRITON_INTERPRET=1`` Triton's ``@jit`` returns an :class:`InterpretedFunction`; code
that drives kernels (PyTorch's Inductor) imports the class to test for that. tritium's ``@jit``
always returns a :class:`~tritium.runtime.jit.JITFunction`, which interprets on its own when
the environment asks, so this class is only a JITFunction that always interprets.
"""

from __future__ import annotations

from typing import Any

from tritium.runtime.jit import JITFunction

__all__ = ["InterpretedFunction"]


class InterpretedFunction(JITFunction):
    """A kernel that runs in tritium's NumPy interpreter on every launch."""

    def __init__(self, fn: Any, **kwargs: Any) -> None:
        kwargs["interpret"] = True
        super().__init__(fn, **kwargs)
