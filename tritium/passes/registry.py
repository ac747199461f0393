"""The pass interface and the registry of passes by kebab-case name.

A pass is a dataclass whose fields are its options; ``run(module)`` rewrites the module in
place and returns it. Passes keep no state between runs: everything they compute lives in
locals of ``run``. Register a pass with :func:`register_pass` so that the pipeline and
``tritium-opt`` can find it by name (``"cse"``, ``"loop-invariant-code-motion"``).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable
from typing import ClassVar, TypeVar

from tritium.ir.core import Module

__all__ = ["Pass", "PASSES", "register_pass", "get_pass", "parse_pass_list"]


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


_ITEM = re.compile(r"\s*([a-z0-9-]+)\s*(?:\{([^}]*)\})?\s*(?:,|$)")


def parse_pass_list(spec: str) -> list[Pass]:
    """Passes from a textual list: ``"canonicalize{max_iterations=5},cse,dce"``.

    Option values are converted to the type of the pass's dataclass field (int, float, bool
    as true/false, str)."""
    passes: list[Pass] = []
    pos = 0
    spec = spec.strip()
    while pos < len(spec):
        m = _ITEM.match(spec, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"bad pass list at {spec[pos:]!r}; expected name or name{{k=v,...}}")
        name, opts = m.group(1), m.group(2)
        cls = PASSES.get(name)
        if cls is None:
            get_pass(name)  # raises the KeyError that lists the known passes
        assert cls is not None
        # resolved annotations: a pass may or may not use `from __future__ import annotations`
        hints = typing.get_type_hints(cls)
        types = {f.name: hints.get(f.name, str) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        options: dict[str, object] = {}
        for item in filter(None, (o.strip() for o in (opts or "").split(","))):
            key, _, text = item.partition("=")
            key = key.strip().replace("-", "_")
            if key not in types:
                raise ValueError(f"pass {name!r} has no option {key!r}; it has {sorted(types)}")
            options[key] = _convert(text.strip(), types[key])
        passes.append(cls(**options))
        pos = m.end()
    return passes


def _convert(text: str, field_type: object) -> object:
    if field_type is bool:
        if text not in ("true", "false"):
            raise ValueError(f"expected true or false, got {text!r}")
        return text == "true"
    if field_type is int or field_type is float:
        return field_type(text)
    return text
