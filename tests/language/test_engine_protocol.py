"""The engine protocol itself: documented, positional, complete."""

from __future__ import annotations

import inspect

import pytest

from tritium.language.engine_protocol import (
    MATH_FUNCTIONS,
    MATH_INT32_RESULTS,
    MATH_INT64_RESULTS,
    Engine,
)

METHODS = sorted(
    name for name, fn in vars(Engine).items() if inspect.isfunction(fn) and not name.startswith("_")
)


@pytest.mark.parametrize("name", METHODS)
def test_methods_are_documented_and_take_no_defaults(name: str) -> None:
    fn = getattr(Engine, name)
    assert fn.__doc__, f"Engine.{name} has no docstring"
    params = list(inspect.signature(fn).parameters.values())[1:]
    # builtins pass every argument positionally, defaults applied, so the protocol has none
    for p in params:
        assert p.default is inspect.Parameter.empty, f"Engine.{name}({p.name}=...) has a default"
        assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, f"Engine.{name}: {p.name}"


def test_math_function_tables_are_consistent() -> None:
    assert set(MATH_FUNCTIONS.values()) == {1, 2}
    assert MATH_INT32_RESULTS <= set(MATH_FUNCTIONS)
    assert MATH_INT64_RESULTS <= set(MATH_FUNCTIONS)
    assert not MATH_INT32_RESULTS & MATH_INT64_RESULTS
