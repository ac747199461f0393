"""Profiling sessions: what is recorded, and the hooks that record it.

A session (``start`` ... ``finalize``) records, for every compiled launch while it is active:
the kernel's name, its grid, its specialization (argument types and constexprs), the wall
time of the launch, the thread count, whether this launch compiled the kernel (or loaded it
from the disk cache) or found it in memory, the scopes open around it, and the bytes and
FLOPs it moved and computed (counted from the IR by :mod:`.counts`, or given by the kernel's
``launch_metadata`` as Proton's ``hook="triton"`` takes them). Compiles are recorded as
events of their own, with their duration and whether the disk cache answered.

Recording hooks: ``tritium.runtime.jit.LAUNCH_HOOKS`` (one entry while any session is active;
the launch path checks the list with one ``if``) and, for compile events, a wrapper around
``JITFunction._compile`` and the compiler's stage runner, installed only while profiling.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tritium.threads import THREADS

__all__ = ["Launch", "Compile", "Session", "SESSIONS", "active_sessions"]


@dataclass
class Launch:
    """One launch: compiled, or run in the interpreter (``mode == "interpreted"``)."""

    kernel: str
    grid: tuple[int, int, int]
    specialization: str
    start_ns: int
    duration_ns: int
    threads: int
    first: bool  # the first launch of this specialization in the process (compiled or loaded)
    scopes: tuple[str, ...]
    tid: int
    bytes: int | None = None
    flops: int | None = None
    counts_exact: bool = True
    counts_source: str = ""  # "ir" or "metadata"
    lines: dict[int, tuple[int, int, int, int]] | None = None
    source_file: str = ""
    mode: str = "compiled"


@dataclass
class Compile:
    """One call into the compiler for a new specialization."""

    kernel: str
    specialization: str
    start_ns: int
    duration_ns: int
    disk_cache_hit: bool
    scopes: tuple[str, ...]
    tid: int


@dataclass
class ScopeEvent:
    """A ``scope`` entered and left (with the metrics it was given)."""

    name: str
    start_ns: int
    duration_ns: int
    tid: int
    metrics: dict[str, Any] = field(default_factory=dict)
    parents: tuple[str, ...] = ()


@dataclass
class Session:
    """The records of one profiling session; ``name`` is the output path without suffix."""

    id: int
    name: str
    data: str
    hook: Any
    active: bool = True
    raw: list[tuple[Any, ...]] = field(default_factory=list)  # appended by launch_hook
    compiles: list[Compile] = field(default_factory=list)
    scopes: list[ScopeEvent] = field(default_factory=list)
    start_ns: int = field(default_factory=time.perf_counter_ns)
    _done: list[Launch] = field(default_factory=list)

    @property
    def launches(self) -> list[Launch]:
        """The launches recorded so far, as :class:`Launch` records (built on first read:
        the launch path itself only appends a tuple)."""
        while len(self._done) < len(self.raw):
            self._done.append(_materialize(self.raw[len(self._done)]))
        return self._done


#: Every session started and not finalized, by id.
SESSIONS: dict[int, Session] = {}
_next_id = [0]
_lock = threading.Lock()
#: Open scope names per thread (a dict on the thread id: a miss on a threading.local costs
#: microseconds, and the launch path looks here on every launch).
_stacks: dict[int, list[str]] = {}


def active_sessions() -> list[Session]:
    return [s for s in SESSIONS.values() if s.active]


def current_scopes() -> tuple[str, ...]:
    return tuple(_stacks.get(threading.get_ident(), ()))


def push_scope(name: str) -> None:
    _stacks.setdefault(threading.get_ident(), []).append(name)


def pop_scope() -> None:
    stack = _stacks.get(threading.get_ident())
    if stack:
        stack.pop()


# ---- specialization and counts, cached per compiled kernel --------------------------------------

_counts: dict[int, Any] = {}


def _specialization(compiled: Any) -> str:
    md = getattr(compiled, "metadata", {}) or {}
    sig = md.get("signature", {}) or {}
    consts = md.get("constants", {}) or {}
    parts = [f"{k}:{v}" for k, v in sig.items() if v != "constexpr"]
    parts += [f"{k}={v}" for k, v in consts.items()]
    return ", ".join(parts)


def _ir_counts(compiled: Any) -> Any:
    key = id(compiled)
    c = _counts.get(key)
    if c is None:
        from tritium.profiler.counts import count_ttir

        try:
            c = count_ttir(str(compiled.asm.get("ttir", "")))
        except Exception:  # noqa: BLE001 - counts are best effort; a launch is never refused
            c = False
        _counts[key] = c
    return c


def _metadata_counts(jit_fn: Any, grid: tuple[int, int, int], values: tuple[Any, ...]) -> Any:
    """Proton's ``launch_metadata(grid, kernel, args) -> {"name", "flops", "bytes"}``."""
    fn = getattr(jit_fn, "launch_metadata", None)
    if fn is None:
        return None
    try:
        md = fn(grid, jit_fn, dict(zip(jit_fn.arg_names, values)))
    except Exception:  # noqa: BLE001 - the user's callback must not break the launch
        return None
    return md if isinstance(md, dict) else None


# ---- the hooks ---------------------------------------------------------------------------------


#: The sessions recording now (kept up to date by start/activate/deactivate/finalize, so the
#: launch path does not filter SESSIONS).
ACTIVE: list[Session] = []


def refresh_active() -> None:
    ACTIVE[:] = [s for s in SESSIONS.values() if s.active]


def launch_hook(
    jit_fn: Any, entry: Any, grid: tuple[int, int, int], args: list[Any], values: tuple[Any, ...]
) -> None:
    """``LAUNCH_HOOKS`` entry: time the launch and append it to every active session.

    Only what cannot be recovered later is taken here (times, thread count, scopes, Proton's
    ``launch_metadata``); names, specializations, IR counts and whether this was the first
    launch of a fresh compile are derived when the records are read.
    """
    t0 = _now()
    entry[0](grid, args)
    t1 = _now()
    if not ACTIVE:
        return
    md = None
    if jit_fn.launch_metadata is not None:
        md = _metadata_counts(jit_fn, grid, values)
    ident = _ident()
    stack = _stacks.get(ident)
    scopes = tuple(stack) if stack else ()
    raw = (jit_fn, entry, grid, args, t0, t1, THREADS[0], scopes, ident, md)
    for s in ACTIVE:
        s.raw.append(raw)


_now = time.perf_counter_ns
_ident = threading.get_ident
#: ids of cache entries made by a compile while profiling, not launched yet.
_fresh: set[int] = set()


def interpret_hook(
    original: Callable[..., Any],
    jit_fn: Any,
    grid: Any,
    values: tuple[Any, ...],
    options: dict[str, Any],
    warmup: bool,
) -> Any:
    """Around ``JITFunction._interpret``: an interpreted launch is recorded like a compiled one
    (no IR counts: the interpreter runs the Python function, not the Tile IR)."""
    if warmup or not ACTIVE:
        return original(jit_fn, grid, values, options, warmup)
    from tritium.signature import normalize_grid

    if callable(grid):
        grid = grid(jit_fn._meta(values, options))
    g = normalize_grid(grid)
    t0 = _now()
    result = original(jit_fn, g if g is not None else grid, values, options, warmup)
    t1 = _now()
    if g is not None:
        ident = _ident()
        stack = _stacks.get(ident)
        raw = (jit_fn, None, g, [], t0, t1, 1, tuple(stack) if stack else (), ident, None)
        for s in ACTIVE:
            s.raw.append(raw)
    return result


def _materialize(raw: tuple[Any, ...]) -> Launch:
    jit_fn, entry, grid, args, t0, t1, threads, scopes, tid, md = raw
    if entry is None:  # interpreted (interpret_hook)
        return Launch(
            kernel=f"{jit_fn.__name__} [interpreted]",
            grid=grid,
            specialization="interpreted",
            start_ns=t0,
            duration_ns=t1 - t0,
            threads=1,
            first=False,
            scopes=scopes,
            tid=tid,
            counts_exact=False,
            mode="interpreted",
        )
    compiled = entry[1]
    programs = grid[0] * grid[1] * grid[2]
    first = id(entry) in _fresh
    _fresh.discard(id(entry))
    threads = threads or getattr(getattr(compiled, "kernel", None), "num_threads", 0)
    rec = Launch(
        kernel=getattr(compiled, "name", None) or jit_fn.__name__,
        grid=grid,
        specialization=_specialization(compiled),
        start_ns=t0,
        duration_ns=t1 - t0,
        threads=min(int(threads or 0), programs),
        first=first,
        scopes=scopes,
        tid=tid,
    )
    if md is not None:
        rec.kernel = str(md.get("name", rec.kernel))
        rec.flops = int(md["flops"]) if "flops" in md else None
        rec.bytes = int(md["bytes"]) if "bytes" in md else None
        rec.counts_source = "metadata"
    counts = _ir_counts(compiled)
    if counts:
        ev = counts.evaluate(args, programs)
        if rec.flops is None:
            rec.flops = ev["flops"]
        if rec.bytes is None:
            rec.bytes = ev["bytes"]
        rec.counts_exact = ev["exact"] or rec.counts_source == "metadata"
        rec.lines = ev["lines"]
        rec.source_file = counts.source
        rec.counts_source = rec.counts_source or "ir"
    return rec


_originals: dict[str, Any] = {}


def _modules() -> tuple[Any, Any]:
    """The compiler and jit modules (their packages re-export functions of the same names)."""
    import importlib

    return (
        importlib.import_module("tritium.compiler.compiler"),
        importlib.import_module("tritium.runtime.jit"),
    )


_compile_state = threading.local()


def install() -> None:
    """Put the launch hook and the compile wrappers in place (idempotent)."""
    compiler_mod, jit_mod = _modules()

    if launch_hook not in jit_mod.LAUNCH_HOOKS:
        jit_mod.LAUNCH_HOOKS.append(launch_hook)
    if "_compile" in _originals:
        return
    original_compile = jit_mod.JITFunction._compile
    original_stages = compiler_mod.run_stages
    original_interpret = jit_mod.JITFunction._interpret
    _originals["_compile"] = original_compile
    _originals["_run_stages"] = original_stages
    _originals["_interpret"] = original_interpret

    def _interpret(self: Any, grid: Any, values: Any, options: Any, warmup: bool) -> Any:
        return interpret_hook(original_interpret, self, grid, values, options, warmup)

    def _run_stages(*a: Any, **k: Any) -> Any:
        _compile_state.ran_stages = True
        return original_stages(*a, **k)

    def _compile(self: Any, key: Any, values: Any, options: Any) -> Any:
        _compile_state.ran_stages = False
        t0 = time.perf_counter_ns()
        entry = original_compile(self, key, values, options)
        t1 = time.perf_counter_ns()
        rec = Compile(
            kernel=getattr(entry[1], "name", None) or self.__name__,
            specialization=_specialization(entry[1]),
            start_ns=t0,
            duration_ns=t1 - t0,
            disk_cache_hit=not getattr(_compile_state, "ran_stages", False),
            scopes=current_scopes(),
            tid=threading.get_ident(),
        )
        for s in active_sessions():
            s.compiles.append(rec)
        _fresh.add(id(entry))
        return entry

    jit_mod.JITFunction._compile = _compile  # type: ignore[method-assign]
    jit_mod.JITFunction._interpret = _interpret  # type: ignore[method-assign]
    compiler_mod.run_stages = _run_stages


def uninstall() -> None:
    """Remove the hooks once no session is left."""
    compiler_mod, jit_mod = _modules()

    while launch_hook in jit_mod.LAUNCH_HOOKS:
        jit_mod.LAUNCH_HOOKS.remove(launch_hook)
    if "_compile" in _originals:
        jit_mod.JITFunction._compile = _originals.pop("_compile")  # type: ignore[method-assign]
        jit_mod.JITFunction._interpret = _originals.pop("_interpret")  # type: ignore[method-assign]
        compiler_mod.run_stages = _originals.pop("_run_stages")


def new_session(name: str, data: str, hook: Any) -> Session:
    with _lock:
        _next_id[0] += 1
        s = Session(id=_next_id[0] - 1, name=name, data=data, hook=hook)
        SESSIONS[s.id] = s
    refresh_active()
    install()
    return s


def default_name() -> str:
    return os.path.join(os.getcwd(), "proton")
