"""Triton's JIT compile hooks and ``JITFunction.preload``.

``knobs.runtime.jit_cache_hook`` is called before a specialization compiles and
``knobs.runtime.jit_post_compile_hook`` after it, with Triton's keyword arguments (``key``,
``repr``, ``fn``, ``compile`` — whose ``specialization_data`` is the specialization as JSON —,
``is_manual_warmup``, ``already_compiled``). Tools keep ``specialization_data`` and later hand it
to ``kernel.preload(data)``, which compiles that specialization again without arguments.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

__all__ = ["JitFunctionInfo", "call_hook", "preload", "specialization_data"]


class JitFunctionInfo(NamedTuple):
    """``fn`` of a hook call: the kernel's module, qualified name and the ``JITFunction``."""

    module: str
    name: str
    jit_function: Any


def _encode(value: Any) -> Any:
    """A constexpr value as JSON; TypeError for values JSON cannot hold (functions, objects)."""
    from tritium.language import dtypes

    if isinstance(value, dtypes.dtype):
        return {"dtype": value.name}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v) for v in value]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot serialize {type(value).__name__}")


def _decode(value: Any) -> Any:
    from tritium.language import dtypes

    if isinstance(value, dict) and "dtype" in value:
        return dtypes.dtype(value["dtype"])
    if isinstance(value, dict) and "tuple" in value:
        return tuple(_decode(v) for v in value["tuple"])
    return value


def _tuples(value: Any) -> Any:
    """JSON's lists back to the tuples a signature holds (tuple arguments)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def specialization_data(
    jit_fn: Any,
    signature: dict[str, Any],
    constexprs: dict[str, Any],
    attrs: dict[str, Any],
    options: dict[str, Any],
) -> str | None:
    """The specialization as JSON for :func:`preload`, or None when a value cannot be written
    (a constexpr that is a function or an object)."""
    try:
        return json.dumps(
            {
                "name": f"{jit_fn.fn.__module__}.{jit_fn.fn.__qualname__}",
                "signature": signature,
                "constexprs": {k: _encode(v) for k, v in constexprs.items()},
                "attrs": attrs,
                "options": {k: _encode(v) for k, v in options.items()},
            }
        )
    except TypeError:
        return None


def call_hook(
    hook: Any,
    jit_fn: Any,
    signature: dict[str, Any],
    constexprs: dict[str, Any],
    attrs: dict[str, Any],
    options: dict[str, Any],
    target: Any,
) -> Any:
    """Call a compile hook as Triton does; returns what it returns."""
    data = specialization_data(jit_fn, signature, constexprs, attrs, options)
    key = data if data is not None else repr((signature, constexprs, attrs, options))
    args = ", ".join(f"{k}: {v}" for k, v in signature.items())
    compile_args = {
        "key": key,
        "signature": signature,
        "device": 0,
        "constants": constexprs,
        "num_warps": options.get("num_warps", 1),
        "num_ctas": options.get("num_ctas", 1),
        "num_stages": options.get("num_stages", 1),
        "enable_fp_fusion": options.get("enable_fp_fusion", True),
        "launch_cooperative_grid": options.get("launch_cooperative_grid", False),
        "extern_libs": options.get("extern_libs"),
        "configs": [attrs],
        "specialization_data": data,
        "is_warmup": False,
        "target": target,
    }
    info = JitFunctionInfo(jit_fn.fn.__module__, jit_fn.fn.__qualname__, jit_fn)
    return hook(
        key=key,
        repr=f"{jit_fn.fn.__name__}({args})",
        fn=info,
        compile=compile_args,
        is_manual_warmup=False,
        already_compiled=False,
    )


def preload(jit_fn: Any, data: str) -> Any:
    """Compile the specialization ``data`` (a hook's ``specialization_data``) and return the
    compiled kernel; ValueError when it names another kernel."""
    from tritium.compiler import ASTSource, compile
    from tritium.runtime.driver import driver

    spec = json.loads(data)
    name = f"{jit_fn.fn.__module__}.{jit_fn.fn.__qualname__}"
    if spec["name"] != name:
        raise ValueError(f"specialization data of {spec['name']}, not of {name}")
    signature = {k: _tuples(v) for k, v in spec["signature"].items()}
    constexprs = {k: _decode(v) for k, v in spec["constexprs"].items()}
    options = {k: _decode(v) for k, v in spec["options"].items()}
    src = ASTSource(jit_fn, signature, constexprs, spec["attrs"])
    return compile(src, target=driver.active.get_current_target(), options=options)
