"""The launch side of the compiled bounds check (``sanitize=True`` on a compiled kernel).

A kernel compiled with the option ``sanitize`` (the compiler's ``bounds-check`` stage, see
:mod:`tritium.compiler.stages`) has two extra ``i64`` parameters per pointer parameter, appended
after all the others: the valid byte range ``[lo, hi)`` of the memory the pointer's argument owns
(:func:`tritium.signature.argument_spans`). This module

* decides whether a launch is sanitized (:func:`sanitize_requested`: the launch keyword
  ``sanitize=True``, ``debug=True``, ``@jit(debug=True)`` or ``TRITIUM_SANITIZE=1``; an explicit
  ``sanitize=False`` wins), and then asks the compiler for ``sanitize=True``;
* gives ``JITFunction._compile`` the entry of a sanitized launch (:func:`sanitized_entry`): the
  kernel compiled with ``sanitize`` (cached under its own key), and a launch function that
  passes the launch values followed by each pointer argument's memory span.

A sanitized launch takes this slower path (it looks at the arrays on every launch to find their
spans); an ordinary launch does not pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tritium import knobs
from tritium.signature import argument_spans

if TYPE_CHECKING:
    from tritium.runtime.jit import JITFunction

__all__ = [
    "SANITIZED_KEY",
    "sanitized_entry",
    "sanitize_env",
    "sanitize_requested",
]

#: The last element of the key a sanitized kernel is cached under in ``JITFunction.cache``.
SANITIZED_KEY = "bounds-checked"
_ENV_BYTES = os.environ._data if os.name == "posix" else None  # type: ignore[attr-defined]


def sanitize_env() -> bool:
    """``TRITIUM_SANITIZE`` is set, checked without parsing the environment when it is not."""
    if (
        _ENV_BYTES is not None
        and b"TRITIUM_SANITIZE" not in _ENV_BYTES
        and b"TRITON_DEBUG" not in _ENV_BYTES
    ):
        return False
    return knobs.sanitize()


def sanitize_requested(jit_fn: JITFunction, options: Mapping[str, Any]) -> bool:
    """Whether a compiled launch of ``jit_fn`` with these launch options checks its bounds
    (``sanitize=False`` given at the launch wins over everything else)."""
    explicit = options.get("sanitize") if options else None
    if explicit is not None:
        return bool(explicit)
    return bool(jit_fn.debug or (options and options.get("debug")) or sanitize_env())


def sanitized_entry(
    jit_fn: JITFunction, key: tuple[Any, ...], values: tuple[Any, ...], options: Mapping[str, Any]
) -> tuple[Callable[..., None], Any]:
    """``(launch, compiled kernel)`` for a sanitized launch of ``jit_fn`` with ``values``.

    Called by ``JITFunction._compile`` on every sanitized launch (such entries are never stored
    under the warm path's key, so the warm path always comes back here with the arguments).
    ``launch(grid, args)`` appends each pointer argument's span to the usual launch values.
    """
    cache_key = (*key[:3], SANITIZED_KEY)
    entry = jit_fn.cache.get(cache_key)
    if entry is None:
        entry = jit_fn._compile(cache_key, values, {**options, "sanitize": True})
    spans = argument_spans(
        entry[1].src.signature, [(values[i], spec) for i, _, spec in jit_fn._runtime_params]
    )
    raw = entry[0]

    def launch(grid: tuple[int, int, int], args: list[Any]) -> None:
        raw(grid, [*args, *spans])

    return launch, entry[1]
