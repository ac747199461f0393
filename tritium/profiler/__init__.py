"""``tritium.profiler``: which kernel is slow, how far from the machine, and on which line.

Proton's shape of API (``triton.profiler`` under ``install_as_triton()``)::

    import tritium.profiler as proton

    proton.start("softmax", hook="triton")      # every compiled launch is recorded from here
    with proton.scope("forward"):
        kernel[grid](...)
    proton.finalize()                          # writes softmax.hatchet (a call tree)

Each launch is recorded with its kernel, grid, specialization, wall time, thread count and
whether it was the first launch of that specialization (the compile, or the disk-cache load,
is recorded as a compile event with its duration); bytes and FLOPs come from the kernel's IR
(:mod:`.counts`) or from its ``launch_metadata`` (Proton's ``hook="triton"`` convention).

``finalize(output_format=...)`` writes ``"hatchet"`` (``<name>.hatchet``, Proton's default
for ``data="tree"``), ``"chrome_trace"`` (``<name>.chrome_trace``, for Perfetto; the default
for ``data="trace"``) or ``"text"`` (``<name>.txt``: the table and roofline rows). On the
last session (or any not yet finalized), :func:`table`, :func:`roofline`, :func:`lines` and
:func:`chrome_trace` return the views as text or JSON. Interpreted launches are recorded too
(as ``<kernel> [interpreted]``, without IR counts).

Per line of a kernel: :func:`lines` (a model from the IR counts, free),
:func:`sampled_lines` (compiled code, measured by sampling; see :mod:`.sampling`) and
:func:`interpreted_lines` (the interpreter, measured with a line tracer).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any

from tritium.profiler import report as _report
from tritium.profiler import session as _session
from tritium.profiler.interpreted import interpreted_lines
from tritium.profiler.sampling import sampled_lines

__all__ = [
    "DEFAULT_PROFILE_NAME",
    "activate",
    "chrome_trace",
    "cpu_timed_scope",
    "deactivate",
    "enter_scope",
    "exit_scope",
    "finalize",
    "interpreted_lines",
    "lines",
    "machine_limits",
    "profile",
    "roofline",
    "sampled_lines",
    "scope",
    "start",
    "table",
]

DEFAULT_PROFILE_NAME = "proton"
_FORMATS = {"hatchet": ".hatchet", "chrome_trace": ".chrome_trace", "text": ".txt"}
_last: list[_session.Session] = []


def start(
    name: str | None = None,
    *,
    context: str | None = "shadow",
    data: str | None = "tree",
    backend: str | None = None,
    mode: Any = None,
    hook: Any = None,
) -> int:
    """Start a session recording every compiled launch; returns its id.

    ``name`` is the output path without suffix (default ``./proton``). ``data`` is
    ``"tree"`` or ``"trace"`` (it picks the default output format). ``context``, ``backend``
    and ``mode`` are Proton's; the CPU has one backend (timing around each launch), so they
    are accepted and recorded, not acted upon. ``hook="triton"`` uses kernels'
    ``launch_metadata`` for names, FLOPs and bytes (IR counts are used when it is absent).
    """
    if data not in ("tree", "trace"):
        raise ValueError(f"start: data must be 'tree' or 'trace', got {data!r}")
    if hook not in (None, "triton") and not callable(hook):
        raise ValueError(f"start: unsupported hook {hook!r} (None or 'triton')")
    s = _session.new_session(name or DEFAULT_PROFILE_NAME, data, hook)
    return s.id


def _sessions(session: int | None) -> list[_session.Session]:
    if session is None:
        return list(_session.SESSIONS.values())
    s = _session.SESSIONS.get(session)
    if s is None:
        raise ValueError(f"no profiling session {session}")
    return [s]


def activate(session: int | None = None) -> None:
    """Record again in ``session`` (all sessions when None)."""
    for s in _sessions(session):
        s.active = True
    _session.refresh_active()
    if _session.active_sessions():
        _session.install()


def deactivate(session: int | None = None, flushing: bool = False) -> None:
    """Stop recording in ``session`` (all when None); its records are kept."""
    for s in _sessions(session):
        s.active = False
    _session.refresh_active()
    if not _session.active_sessions():
        _session.uninstall()


def _write(s: _session.Session, fmt: str) -> str:
    path = s.name + _FORMATS[fmt]
    if fmt == "hatchet":
        text = json.dumps(_report.hatchet(s), indent=1)
    elif fmt == "chrome_trace":
        text = json.dumps(_report.chrome_trace(s))
    else:
        text = _report.table(s) + "\n\n" + _report.roofline_table(s, machine_limits()) + "\n"
    with open(path, "w") as f:
        f.write(text)
    return path


def finalize(session: int | None = None, output_format: str | None = "") -> None:
    """End ``session`` (all when None) and write its profile as ``output_format``
    (``"hatchet"``, ``"chrome_trace"`` or ``"text"``; empty: by the session's ``data``)."""
    if output_format and output_format not in _FORMATS:
        raise ValueError(f"finalize: output_format must be one of {sorted(_FORMATS)}")
    for s in _sessions(session):
        s.active = False
        _session.SESSIONS.pop(s.id, None)
        fmt = output_format or ("chrome_trace" if s.data == "trace" else "hatchet")
        _write(s, fmt)
        _last[:] = [s]
    _session.refresh_active()
    if not _session.active_sessions():
        _session.uninstall()


def profile(func: Callable[..., Any] | None = None, *, name: str | None = None, **kw: Any) -> Any:
    """Decorator: profile each call of ``func`` in a session of its own (as Proton's)."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            sid = start(name, **kw)
            try:
                return fn(*args, **kwargs)
            finally:
                finalize(sid)

        return wrapper

    return deco(func) if func is not None else deco


class scope:  # noqa: N801 - Proton's name
    """A named region: launches inside it are grouped under it (nested scopes nest), and it
    appears in the trace with its duration. A context manager and a decorator.
    ``metrics`` (e.g. ``{"flops": ..., "bytes": ...}``) are added to the scope's node."""

    def __init__(self, name: str, metrics: dict[str, Any] | None = None) -> None:
        self.name = name
        self.metrics = dict(metrics or {})
        self._t0 = 0

    def __enter__(self) -> scope:
        self._parents = _session.current_scopes()
        _session.push_scope(self.name)
        self._t0 = time.perf_counter_ns()
        return self

    def __exit__(self, *exc: Any) -> None:
        t1 = time.perf_counter_ns()
        _session.pop_scope()
        import threading

        for s in _session.active_sessions():
            s.scopes.append(
                _session.ScopeEvent(
                    self.name,
                    self._t0,
                    t1 - self._t0,
                    threading.get_ident(),
                    self.metrics,
                    self._parents,
                )
            )

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with scope(self.name, self.metrics):
                return func(*args, **kwargs)

        return wrapper


class cpu_timed_scope(scope):  # noqa: N801 - Proton's name
    """Proton's scope that also records CPU time; on the CPU every scope is timed."""


_open_scopes: list[scope] = []


def enter_scope(
    name: str, *, triton_op: bool = False, metrics: dict[str, Any] | None = None
) -> None:
    """Open a scope without a ``with`` block (closed by :func:`exit_scope`)."""
    sc = scope(name, metrics)
    sc.__enter__()
    _open_scopes.append(sc)


def exit_scope(triton_op: bool = False, metrics: dict[str, Any] | None = None) -> None:
    """Close the innermost scope opened by :func:`enter_scope`."""
    if _open_scopes:
        sc = _open_scopes.pop()
        if metrics:
            sc.metrics.update(metrics)
        sc.__exit__(None, None, None)


def _pick(session: int | None) -> _session.Session:
    if session is not None:
        s = _session.SESSIONS.get(session)
        if s is None and _last and _last[0].id == session:
            s = _last[0]
        if s is None:
            raise ValueError(f"no profiling session {session}")
        return s
    if _session.SESSIONS:
        return list(_session.SESSIONS.values())[-1]
    if _last:
        return _last[0]
    raise ValueError("no profiling session: call tritium.profiler.start() first")


def machine_limits(refresh: bool = False) -> dict[str, Any]:
    """This machine's bandwidth and FLOP peak (measured once, cached): see :mod:`.machine`."""
    from tritium.profiler.machine import machine_limits as measure

    return measure(refresh)


def table(session: int | None = None, top: int = 20) -> str:
    """The top kernels of a session (the open one, or the last finalized) as text."""
    return _report.table(_pick(session), top)


def roofline(session: int | None = None) -> str:
    """Roofline rows of a session's kernels against this machine's limits, as text."""
    return _report.roofline_table(_pick(session), machine_limits())


def roofline_data(session: int | None = None) -> list[dict[str, Any]]:
    """The roofline rows as dicts (see :func:`tritium.profiler.report.roofline_rows`)."""
    return _report.roofline_rows(_pick(session), machine_limits())


def lines(kernel: str, session: int | None = None) -> str:
    """The per-line view of ``kernel`` (its source with bytes, FLOPs and estimated time)."""
    return _report.lines_view(_pick(session), kernel, machine_limits())


def chrome_trace(session: int | None = None) -> dict[str, Any]:
    """A session as a Chrome trace (a JSON-ready dict)."""
    return _report.chrome_trace(_pick(session))
