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

__all__ = ["RESERVED_PARAMETERS", "check_parameter_names", "make_run", "normalize_grid"]

#: Keyword arguments of ``run`` itself; a kernel parameter cannot have these names.
RESERVED_PARAMETERS = frozenset({"grid", "warmup"})


def _unknown_type(value: Any, specialize: int) -> tuple[Any, Any]:
    """Handler of last resort: the generic lookup (raises TypeError for unsupported types)."""
    return arg_key("?", value, specialize)


def _guard_lines(jit_fn: JITFunction, values: str) -> list[str]:
    """The guarded launch (see :mod:`.guards`), tried before the generic path."""
    names = [p.name for p in jit_fn._py_params]
    runtime = ", ".join(name for _, name, _ in jit_fn._runtime_params)
    consts = "".join(f"{names[i]}, _tt_type({names[i]}), " for i in jit_fn._constexpr_idx)
    env = " and ".join(f"b{v!r} not in _tt_env" for v in _ENV_VARS)
    return [
        "    try:",  # a user's cache dict, or a constexpr whose == is not a bool: no guard
        "        _tt_gd = _tt_self.cache.guard",
        "        _tt_hit = (",
        "            _tt_gd is not None and not _tt_warmup and not _tt_hooks",
        f"            and ({consts}) == _tt_gd[2] and _tt_options == _tt_gd[3]",
        f"            and ({env} or _tt_launch_mode() == 0)",
        "            and not _tt_self.interpret",
        "        )",
        "    except _tt_Exception:",
        "        _tt_hit = False",
        "    if _tt_hit:",
        "        if _tt_callable(_tt_grid):",
        f"            _tt_grid = _tt_grid(_tt_self._meta({values}, _tt_options))",
        "        if _tt_self._used_globals:",
        "            _tt_self.check_globals()",
        "        if _tt_gd[6] is None:",
        "            _tt_r = _tt_call(",
        f"                _tt_gd[0], _tt_grid, _tt_threads[0] or _tt_gd[4].num_threads, {runtime}",
        "            )",
        "        else:",  # torch tensors: checked and turned into pointers in Python (guards.py)
        f"            _tt_v = _tt_gd[6]({runtime})",
        "            _tt_r = 1 if _tt_v is None else _tt_call(",
        "                _tt_gd[0], _tt_grid, _tt_threads[0] or _tt_gd[4].num_threads, *_tt_v",
        "            )",
        "        if not _tt_r:",
        "            return _tt_gd[1]",
        "        if _tt_r != 1:",
        "            _tt_gd[4]._raise(_tt_list(_tt_r))",
    ]


#: The variables ``jit._launch_mode`` reads: when none is set, the mode is COMPILED.
_ENV_VARS = (
    "TRITIUM_INTERPRET",
    "TRITON_INTERPRET",
    "TRITIUM_SANITIZE",
    "TRITIUM_BACKEND",
    "TRITON_DEBUG",
)


def check_parameter_names(jit_fn: JITFunction) -> None:
    """TypeError for a kernel parameter that the generated launcher could not take."""
    for p in jit_fn._py_params:
        if p.name in RESERVED_PARAMETERS or p.name.startswith("_tt_"):
            raise TypeError(
                f"kernel {jit_fn.fn.__name__!r}: parameter name {p.name!r} is reserved "
                "by the launch API (kernel[grid](...))"
            )


def make_run(jit_fn: JITFunction) -> tuple[Callable[..., Any], str]:
    """(run function, its source) for ``jit_fn``; the source also defines ``_tt_bind(grid)``,
    which returns the launcher ``kernel[grid]`` (the same body, grid bound), kept as
    ``run._tt_bind``."""
    check_parameter_names(jit_fn)
    params = jit_fn._py_params
    names = [p.name for p in params]
    ns: dict[str, Any] = {
        "_tt_self": jit_fn,
        "_tt_get": _HANDLERS.get,
        "_tt_unknown": _unknown_type,
        "_tt_CONST": CONST,
        "_tt_grid3": normalize_grid,
        # builtins the generated code calls, under names no kernel parameter can take (a
        # parameter named `type`, as in Triton's test_call, shadowed the builtin)
        "_tt_type": type,
        "_tt_callable": callable,
        "_tt_tuple": tuple,
        "_tt_list": list,
        "_tt_Exception": Exception,
        "_tt_TypeError": TypeError,
        "_tt_ValueError": ValueError,
    }
    positional, keyword_only = [], []
    for i, p in enumerate(params):
        text = p.name
        if p.default is not p.empty:
            ns[f"_tt_d{i}"] = p.default
            text += f"=_tt_d{i}"
        (keyword_only if p.kind is p.KEYWORD_ONLY else positional).append(text)
    sig = positional + ["*"] + keyword_only + ["grid", "warmup=False", "**_tt_options"]
    bound_sig = positional + (["*"] + keyword_only if keyword_only else []) + ["**_tt_options"]
    values = f"({', '.join(names)}{',' if len(names) == 1 else ''})"
    runtime = jit_fn._runtime_params  # (index, name, specialization level)
    body = _guard_lines(jit_fn, values) if _guarded() else []
    body.append("    try:")
    for j, (_, name, spec) in enumerate(runtime):
        handler = f"(_tt_get(_tt_type({name})) or _tt_unknown)"
        body.append(f"        _tt_k{j}, _tt_a{j} = {handler}({name}, {spec})")
    if not runtime:
        body.append("        pass")
    body += [
        "    except (_tt_TypeError, _tt_ValueError):",
        f"        _tt_self._raise_argument_error({values})",
        "        raise",
        "    _tt_mode = _tt_launch_mode()",
        "    if _tt_self.interpret or _tt_mode == 2:",
        f"        return _tt_self._interpret(_tt_grid, {values}, _tt_options, _tt_warmup)",
    ]
    body += [  # Triton's used_global_vals check, for kernels that read global values
        "    if _tt_self._used_globals:",
        "        _tt_self.check_globals()",
    ]
    keys = "".join(f"_tt_k{j}, " for j in range(len(runtime)))
    launch_values = "".join(f"_tt_a{j}, " for j in range(len(runtime)))
    consts = "".join(f"({names[i]}, _tt_type({names[i]})), " for i in jit_fn._constexpr_idx)
    body += [
        f"    _tt_key = (({keys}), ({consts}),",
        "               _tt_tuple(_tt_options.items()) if _tt_options else (), _tt_mode)",
        "    try:",
        "        _tt_entry = _tt_self.cache.get(_tt_key)",
        "    except _tt_TypeError:",
        f"        _tt_key = _tt_self._frozen_key(_tt_key, {values}, _tt_options)",
        "        _tt_entry = _tt_self.cache.get(_tt_key)",
        "    if _tt_entry is None:",
        f"        _tt_entry = _tt_self._compile(_tt_key, {values}, _tt_options)",
        "    if _tt_warmup:",
        "        return _tt_entry[1]",
        "    if _tt_callable(_tt_grid):",
        f"        _tt_grid = _tt_grid(_tt_self._meta({values}, _tt_options))",
        "    _tt_g = _tt_grid3(_tt_grid)",
        "    if _tt_g is not None:",
        f"        _tt_args = [_tt_v for _tt_v in ({launch_values}) if _tt_v is not _tt_CONST]",
        "        if _tt_hooks:",  # the profiler (jit.LAUNCH_HOOKS)
        f"            _tt_hooks[-1](_tt_self, _tt_entry, _tt_g, _tt_args, {values})",
        "        else:",
        "            _tt_entry[0](_tt_g, _tt_args)",
        "            if _tt_mode == 0 and _tt_call is not None:",
        f"                _tt_note(_tt_self, _tt_key, {values}, _tt_options, _tt_entry)",
        "    return _tt_entry[1]",
    ]
    name = jit_fn.fn.__name__
    lines = [f"def {name}({', '.join(sig)}):", "    _tt_grid, _tt_warmup = grid, warmup"]
    lines += body
    lines += ["", "", "def _tt_bind(_tt_grid_bound):"]
    lines += [f"    def {name}({', '.join(bound_sig)}):"]
    lines += ["        _tt_grid, _tt_warmup = _tt_grid_bound, False"]
    lines += ["    " + line if line else line for line in body]
    lines += [f"    return {name}"]
    source = "\n".join(lines) + "\n"
    from tritium.runtime.guards import note_launch
    from tritium.runtime.jit import _ENV_BYTES, INTERPRETED, LAUNCH_HOOKS, _launch_mode
    from tritium.threads import THREADS

    assert INTERPRETED == 2  # the generated code compares with the literal
    ns["_tt_launch_mode"] = _launch_mode
    ns["_tt_hooks"] = LAUNCH_HOOKS
    ns["_tt_env"] = _ENV_BYTES if _ENV_BYTES is not None else {v.encode(): 1 for v in _ENV_VARS}
    ns["_tt_call"] = _native_call()
    ns["_tt_threads"] = THREADS
    ns["_tt_note"] = note_launch
    exec(compile(source, f"<tritium launcher for {name}>", "exec"), ns)  # noqa: S102
    run = ns[name]
    run._tt_bind = ns["_tt_bind"]
    return run, source


def _guarded() -> bool:
    """Whether launches may try a guard: CPython (the native entry's conditions) and not
    turned off with TRITIUM_LAUNCH_GUARDS=0."""
    import sys

    from tritium import knobs

    return sys.implementation.name == "cpython" and knobs.launch_guards()


class _LazyCall:
    """The native launch entry, built when the first guard is made (after a kernel loads), so
    that defining a kernel does not start LLVM."""

    def __call__(self, *args: Any) -> Any:
        from tritium.backends.cpu.pycall import pycall

        fn = pycall()
        if fn is None:
            return 1  # take the generic path
        return fn(*args)


def _native_call() -> Any:
    """The native entry if it is built already, else a stand-in that builds it (defining a
    kernel must not import the CPU backend: a new process would pay for it before any launch)."""
    import sys

    pc = sys.modules.get("tritium.backends.cpu.pycall")
    if pc is not None and pc._state:
        return pc._state[0]
    return _LazyCall()
