"""Per-line time of a kernel run in the NumPy interpreter, measured with a line tracer.

The interpreter runs the kernel's Python function itself (program by program, or many
programs at once), so ``sys.settrace`` sees every line of it execute: the time between two
line events of the kernel's frame, including everything the line calls, is that line's.
Only the kernel's own frames get a line tracer; the ``tl.*`` calls they make run untraced.
"""

from __future__ import annotations

import linecache
import sys
import time
from collections import defaultdict
from types import FrameType
from typing import Any

__all__ = ["interpreted_lines"]


def interpreted_lines(kernel: Any, grid: Any, *args: Any, **kwargs: Any) -> str:
    """Run ``kernel[grid](*args, **kwargs)`` in the interpreter and return its source with,
    per line, the time spent (ms, %) and how many times the line ran (once per program, or
    once per block of programs when the interpreter runs several at once)."""
    fn = getattr(kernel, "fn", None)
    if fn is None or not hasattr(kernel, "interpret"):
        raise TypeError(f"interpreted_lines needs a @jit kernel, got {type(kernel).__name__}")
    code = fn.__code__
    path, name = code.co_filename, code.co_name
    times: dict[int, float] = defaultdict(float)
    hits: dict[int, int] = defaultdict(int)
    state: dict[int, tuple[int, float]] = {}  # id(frame) -> (line, time it started)

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        now = time.perf_counter()
        key = id(frame)
        prev = state.get(key)
        if prev is not None:
            times[prev[0]] += now - prev[1]
        if event == "line":
            hits[frame.f_lineno] += 1
            state[key] = (frame.f_lineno, time.perf_counter())
        elif event == "return":
            state.pop(key, None)
        return local

    def global_trace(frame: FrameType, event: str, arg: Any) -> Any:
        c = frame.f_code
        if event == "call" and c.co_name == name and c.co_filename == path:
            return local
        return None

    saved = kernel.interpret
    kernel.interpret = True
    old = sys.gettrace()
    sys.settrace(global_trace)
    t0 = time.perf_counter()
    try:
        kernel[grid](*args, **kwargs)
    finally:
        sys.settrace(old)
        kernel.interpret = saved
    total = time.perf_counter() - t0
    if not hits:
        return f"{name}: no line of the kernel ran in the interpreter"
    first_line = code.co_firstlineno
    last = max(hits)
    traced = sum(times.values()) or 1.0
    out = [
        f"{name} (interpreted): {total * 1e3:.3f} ms in all, {traced * 1e3:.3f} ms in its lines "
        f"({path})",
        f"{'line':>5} {'ms':>9} {'%':>5} {'runs':>7}  source",
    ]
    for ln in range(first_line, last + 1):
        src = linecache.getline(path, ln).rstrip()
        if ln in hits:
            t = times.get(ln, 0.0)
            out.append(f"{ln:>5} {t * 1e3:>9.3f} {100 * t / traced:>5.1f} {hits[ln]:>7}  {src}")
        else:
            out.append(f"{ln:>5} {'':>9} {'':>5} {'':>7}  {src}")
    return "\n".join(out)
