"""The compiled kernel's type check of ``tl.const`` parameters, for interpreted launches.

A ``x_ptr: tl.const`` parameter is a read-only pointer: compiled, storing through it, or
merging it with a writable pointer in an ``if``, a ternary or a callee's returns, is a
``CompilationError``. The interpreter runs one path of the kernel and cannot see the merges, so
a kernel with such a parameter goes through the frontend once per specialization before it is
interpreted (only its type check: nothing is lowered or run). Kernels without ``tl.const``
parameters, or without source (exec'd from a string), are not checked.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["check_const_parameters"]


def check_const_parameters(jit_fn: Any, values: tuple[Any, ...]) -> None:
    """Raise the compiled kernel's ``CompilationError`` if ``jit_fn`` has ``tl.const``
    parameters and does not type-check for ``values`` (the bound launch arguments)."""
    from tritium.frontend.translate import _is_const_annotation

    params = inspect.signature(jit_fn.fn).parameters.values()
    if not any(_is_const_annotation(p.annotation) for p in params):
        return
    try:  # a kernel exec'd from a string has no source to check: it is only interpreted
        inspect.getsourcelines(jit_fn.fn)
    except (OSError, TypeError):
        return
    from tritium.signature import arg_key

    keys = tuple(arg_key(name, values[i], spec)[0] for i, name, spec in jit_fn._runtime_params)
    checked: set[Any] = jit_fn.__dict__.setdefault("_const_checked", set())
    try:
        cache_key = (keys, tuple(values[i] for i in jit_fn._constexpr_idx))
        hash(cache_key)
    except TypeError:
        cache_key = None
    if cache_key is not None and cache_key in checked:
        return
    from tritium.frontend import ast_to_ttir

    signature, constexprs, attrs = jit_fn.specialization(values, keys)
    ast_to_ttir(jit_fn, signature, constexprs, attrs)  # its source, even a patched one
    if cache_key is not None:
        checked.add(cache_key)
