"""Triton's launch hooks on JIT launches: ``knobs.runtime.launch_enter_hook``/``launch_exit_hook``.

Triton's JIT builds ``kernel.launch_metadata(grid, stream, *args)`` on every compiled launch and
its launcher calls ``launch_enter_hook(metadata)`` before the kernel runs and
``launch_exit_hook(metadata)`` after it (Proton and other profilers add to these chains). The
metadata is a ``LazyDict`` with ``name``, ``function`` and ``stream``, plus, when the kernel was
declared with ``@jit(launch_metadata=fn)``, what ``fn(grid, kernel.metadata, args)`` returns,
evaluated only if a hook reads it.

A warm launch must not pay for hooks nobody set, so nothing here runs unless one is set: setting
a hook (assigning the knob, or ``add``/``remove`` on its chain) calls :func:`sync`, which puts
:func:`triton_launch_hook` into ``jit.LAUNCH_HOOKS`` while a hook is set and takes it out when
none is. With ``LAUNCH_HOOKS`` empty a launch costs one ``if`` as before. Interpreted launches do
not call the hooks (nor does Triton's interpreter).
"""

from __future__ import annotations

import sys
from typing import Any


def _is_set(hook: Any) -> bool:
    """Whether ``hook`` would call anything: not None and, for a chain, not empty."""
    if hook is None:
        return False
    calls = getattr(hook, "calls", None)
    return bool(calls) if isinstance(calls, list) else True


def sync(runtime: Any) -> None:
    """Put :func:`triton_launch_hook` in ``jit.LAUNCH_HOOKS`` iff a launch hook of ``runtime``
    (``knobs.runtime``) is set; it goes last, so it runs first and launches through the
    hook below it (the profiler's) if there is one."""
    from tritium.runtime.jit import LAUNCH_HOOKS

    on = _is_set(runtime.__dict__.get("launch_enter_hook")) or _is_set(
        runtime.__dict__.get("launch_exit_hook")
    )
    while triton_launch_hook in LAUNCH_HOOKS:
        LAUNCH_HOOKS.remove(triton_launch_hook)
    if on:
        LAUNCH_HOOKS.append(triton_launch_hook)


def launch_metadata(jit_fn: Any, compiled: Any, grid: tuple[int, int, int], values: Any) -> Any:
    """What the hooks receive, as Triton's ``CompiledKernel.launch_metadata`` builds it."""
    from tritium.compiler.triton_api import LazyDict

    md = LazyDict({"name": compiled.name, "function": compiled.function, "stream": 0})
    fn = getattr(jit_fn, "launch_metadata", None)
    if fn is not None:
        md.add(fn, (grid, compiled.metadata, dict(zip(jit_fn.arg_names, values))))
    return md


def triton_launch_hook(
    jit_fn: Any, entry: Any, grid: tuple[int, int, int], args: list[Any], values: tuple[Any, ...]
) -> None:
    """``jit.LAUNCH_HOOKS`` entry: enter hook, the launch, exit hook."""
    from tritium.knob_groups import runtime
    from tritium.runtime.jit import LAUNCH_HOOKS

    enter = runtime.__dict__.get("launch_enter_hook")
    exit_ = runtime.__dict__.get("launch_exit_hook")
    md = launch_metadata(jit_fn, entry[1], grid, values)
    if _is_set(enter):
        enter(md)
    i = LAUNCH_HOOKS.index(triton_launch_hook) if triton_launch_hook in LAUNCH_HOOKS else 0
    if i > 0:  # another tool's hook (the profiler's) does the launch
        LAUNCH_HOOKS[i - 1](jit_fn, entry, grid, args, values)
    else:
        entry[0](grid, args)
    if _is_set(exit_):
        exit_(md)


def _install() -> None:
    """Hand :func:`sync` to ``tritium.knob_groups`` (now, or when it loads: it looks here)."""
    groups = sys.modules.get("tritium.knob_groups")
    if groups is not None:
        groups.launch_hooks_changed = sync
        sync(groups.runtime)


_install()
