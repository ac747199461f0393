"""The pass interface and the registry of passes by kebab-case name.

A pass is a dataclass whose fields are its options; ``run(module)`` rewrites the module in
place and returns it. Passes keep no state between runs: everything they compute lives in
locals of ``run``. Register a pass with :func:`register_pass` so that the pipeline and
``tritium-opt`` can find it by name (``"cse"``, ``"loop-invariant-code-motion"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

from tritium.ir.core import Module

__all__ = ["Pass", "PASSES", "register_pass", "get_pass"]


class Pass:
    """Base class of passes. Subclasses are dataclasses and set ``name``."""

    name: ClassVar[str] = ""

    def run(self, module: Module) -> Module:
        """Rewrite ``module`` in place and return it."""
        raise NotImplementedError


PASSES: dict[str, type[Pass]] = {}

P = TypeVar("P", bound=type[Pass])


def register_pass(name: str) -> Callable[[P], P]:
    """Class decorator: register a pass under the kebab-case ``name``."""

    def register(cls: P) -> P:
        if name in PASSES:
            raise ValueError(f"pass {name!r} is registered twice")
        cls.name = name
        PASSES[name] = cls
        return cls

    return register


def get_pass(name: str, **options: object) -> Pass:
    """A new instance of the pass registered as ``name``, with ``options`` set."""
    try:
        cls = PASSES[name]
    except KeyError:
        known = ", ".join(sorted(PASSES))
        raise KeyError(f"unknown pass {name!r}; known passes: {known}") from None
    return cls(**options)
