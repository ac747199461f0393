"""The warm-launch path of a JITFunction, generated per kernel.

A warm launch must cost microseconds, and at that scale a generic loop over a list of
parameters (indexing, tuple unpacking, ``append``) is a large share of the cost. So each
:class:`~tritium.runtime.jit.JITFunction` gets a ``run`` function generated from its own
signature, with one line per runtime parameter:

* CPython binds the arguments (defaults, keyword arguments, missing or extra ones: its
  ``TypeError`` names the parameter), because ``run`` has the kernel's parameters;
* each runtime argument goes through the handler for its type (see :mod:`tritium.signature`);
* the in-memory cache is probed with a key built from literal tuples (launch options in the
  order given: another order is another entry, found again in the disk cache) and the launch
  mode (compiled, or compiled with TRITIUM_SANITIZE's checks);
* anything rare (a new specialization, interpret mode, an error) calls back into the
  JITFunction, so this module holds no compile logic.

The generated source is kept as ``JITFunction._run_source`` for anyone debugging it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tritium.signature import _HANDLERS, CONST, arg_key, normalize_grid

if TYPE_CHECKING:
    from tritium.runtime.jit import JITFunction

__all__ = ["RESERVED_PARAMETERS", "make_run", "normalize_grid"]

#: Keyword arguments of ``run`` itself; a kernel parameter cannot have these names.
RESERVED_PARAMETERS = frozenset({"grid", "warmup"})


def _unknown_type(value: Any, specialize: int) -> tuple[Any, Any]:
    """Handler of last resort: the generic lookup (raises TypeError for unsupported types)."""
    return arg_key("?", value, specialize)


def make_run(jit_fn: JITFunction) -> tuple[Callable[..., Any], str]:
    """(run function, its source) for ``jit_fn``."""
    params = jit_fn._py_params
    names = [p.name for p in params]
    for name in names:
        if name in RESERVED_PARAMETERS or name.startswith("_tt_"):
            raise TypeError(
                f"kernel {jit_fn.fn.__name__!r}: parameter name {name!r} is reserved "
                "by the launch API (kernel[grid](...))"
            )
    ns: dict[str, Any] = {
        "_tt_self": jit_fn,
        "_tt_get": _HANDLERS.get,
        "_tt_unknown": _unknown_type,
        "_tt_CONST": CONST,
        "_tt_grid3": normalize_grid,
    }
    positional, keyword_only = [], []
    for i, p in enumerate(params):
        text = p.name
        if p.default is not p.empty:
            ns[f"_tt_d{i}"] = p.default
            text += f"=_tt_d{i}"
        (keyword_only if p.kind is p.KEYWORD_ONLY else positional).append(text)
    sig = positional + ["*"] + keyword_only + ["grid", "warmup=False", "**_tt_options"]
    values = f"({', '.join(names)}{',' if len(names) == 1 else ''})"
    runtime = jit_fn._runtime_params  # (index, name, specialization level)
    lines = [f"def {jit_fn.fn.__name__}({', '.join(sig)}):"]
    lines.append("    try:")
    for j, (_, name, spec) in enumerate(runtime):
        lines.append(
            f"        _tt_k{j}, _tt_a{j} = (_tt_get(type({name})) or _tt_unknown)({name}, {spec})"
        )
    if not runtime:
        lines.append("        pass")
    lines += [
        "    except (TypeError, ValueError):",
        f"        _tt_self._raise_argument_error({values})",
        "        raise",
        "    _tt_mode = _tt_launch_mode()",
        "    if _tt_self.interpret or _tt_mode == 2:",
        f"        return _tt_self._interpret(grid, {values}, _tt_options, warmup)",
    ]
    lines += [  # Triton's used_global_vals check, for kernels that read global values
        "    if _tt_self._used_globals:",
        "        _tt_self.check_globals()",
    ]
    keys = "".join(f"_tt_k{j}, " for j in range(len(runtime)))
    launch_values = "".join(f"_tt_a{j}, " for j in range(len(runtime)))
    consts = "".join(f"({names[i]}, type({names[i]})), " for i in jit_fn._constexpr_idx)
    lines += [
        f"    _tt_key = (({keys}), ({consts}),",
        "               tuple(_tt_options.items()) if _tt_options else (), _tt_mode)",
        "    try:",
        "        _tt_entry = _tt_self.cache.get(_tt_key)",
        "    except TypeError:",
        f"        _tt_key = _tt_self._frozen_key(_tt_key, {values}, _tt_options)",
        "        _tt_entry = _tt_self.cache.get(_tt_key)",
        "    if _tt_entry is None:",
        f"        _tt_entry = _tt_self._compile(_tt_key, {values}, _tt_options)",
        "    if warmup:",
        "        return _tt_entry[1]",
        "    if callable(grid):",
        f"        grid = grid(_tt_self._meta({values}, _tt_options))",
        "    _tt_g = _tt_grid3(grid)",
        "    if _tt_g is not None:",
        f"        _tt_args = [_tt_v for _tt_v in ({launch_values}) if _tt_v is not _tt_CONST]",
        "        if _tt_hooks:",  # the profiler (jit.LAUNCH_HOOKS)
        f"            _tt_hooks[-1](_tt_self, _tt_entry, _tt_g, _tt_args, {values})",
        "        else:",
        "            _tt_entry[0](_tt_g, _tt_args)",
        "    return _tt_entry[1]",
    ]
    source = "\n".join(lines) + "\n"
    from tritium.runtime.jit import INTERPRETED, LAUNCH_HOOKS, _launch_mode

    assert INTERPRETED == 2  # the generated code compares with the literal
    ns["_tt_launch_mode"] = _launch_mode
    ns["_tt_hooks"] = LAUNCH_HOOKS
    exec(compile(source, f"<tritium launcher for {jit_fn.fn.__name__}>", "exec"), ns)  # noqa: S102
    return ns[jit_fn.fn.__name__], source
