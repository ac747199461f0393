"""A fake engine for tests: records every call and returns tensors of a chosen type."""

from __future__ import annotations

import inspect
from typing import Any

import tritium.language as tl
from tritium.language.engine_protocol import Engine


class FakeTensor(tl.tensor):
    """A tensor with no data; only its type matters."""


def fake(shape: tuple[int, ...] = (4, 8), dtype: tl.dtype = tl.float32) -> FakeTensor:
    """A FakeTensor of ``shape`` (``()`` for a scalar) and ``dtype``."""
    return FakeTensor(None, tl.block_type(dtype, shape) if shape else dtype)


class RecordingEngine(Engine):
    """Records ``(method, args)`` for every engine call, after checking the arguments bind to
    the protocol's signature; returns ``result`` (a FakeTensor) or a tuple of them."""

    def __init__(self, result: FakeTensor | None = None) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.result = result if result is not None else fake()

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_") or name in ("calls", "result") or not hasattr(Engine, name):
            return object.__getattribute__(self, name)
        protocol = getattr(Engine, name)

        def method(*args: Any, **kwargs: Any) -> Any:
            assert not kwargs, f"{name} called with keywords {kwargs}: must be positional"
            inspect.signature(protocol).bind(self, *args)  # raises on a wrong arity
            self.calls.append((name, args))
            result = object.__getattribute__(self, "result")
            if name in ("reduce", "associative_scan"):
                return tuple(result for _ in args[0])
            if name in ("split", "broadcast"):
                return result, result
            return result

        return method

    @property
    def last(self) -> tuple[str, tuple[Any, ...]]:
        """The most recent call."""
        return self.calls[-1]
