"""``tl.math``: Triton's math namespace, the elementwise math builtins under one roof.

Besides Triton's ``tl.math`` names, this module defines the extra elementwise functions of
:data:`tritium.language.engine_protocol.MATH_FUNCTIONS` (``tanh``, ``pow``, ``atan2``, ...),
which call :meth:`Engine.math <tritium.language.engine_protocol.Engine.math>`;
``tl.extra.libdevice`` re-exports them under libdevice's names.
"""

from __future__ import annotations

from typing import Any

from tritium.language.core import _engine, builtin
from tritium.language.engine_protocol import MATH_FUNCTIONS
from tritium.language.ops import (
    abs,
    ceil,
    cos,
    div_rn,
    erf,
    exp,
    exp2,
    fdiv,
    floor,
    fma,
    log,
    log2,
    rsqrt,
    sin,
    sqrt,
    sqrt_rn,
    umulhi,
)
from tritium.language.standard import cdiv
from tritium.language.type_rules import check_math_dtype

__all__ = [  # the extra names come from MATH_FUNCTIONS
    "abs",
    "ceil",
    "cdiv",
    "cos",
    "div_rn",
    "erf",
    "exp",
    "exp2",
    "fdiv",
    "floor",
    "fma",
    "log",
    "log2",
    "rsqrt",
    "sin",
    "sqrt",
    "sqrt_rn",
    "umulhi",
    *sorted(MATH_FUNCTIONS),
]


def _math_builtin(name: str, arity: int) -> Any:
    """A builtin forwarding ``name(*args)`` to ``Engine.math(name, args)``."""
    if arity == 1:

        def fn(x: Any) -> Any:
            check_math_dtype(name, x)
            return _engine().math(name, (x,))
    else:

        def fn(x: Any, y: Any) -> Any:  # type: ignore[misc]
            check_math_dtype(name, x, y)
            return _engine().math(name, (x, y))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise ``{name}`` ({arity} operand{'s' if arity > 1 else ''})."
    fn.__module__ = __name__
    return builtin(fn)


for _name, _arity in MATH_FUNCTIONS.items():
    globals()[_name] = _math_builtin(_name, _arity)
del _name, _arity
