"""Sampled per-line time of a compiled CPU kernel: a measurement, not a model.

``sampled_lines(kernel, grid, *args)`` compiles the kernel once more with a source-line table
(``instrumentation_mode="lines"``: the same machine code, plus DWARF ``.debug_line``), runs it
repeatedly for about a second while the process's CPU-time timer (``ITIMER_PROF``) interrupts
whichever thread is running every half millisecond of CPU, and charges each interrupted
instruction to the kernel line it came from.

Why this design: it works without root and without ``perf`` (VMs often have neither), costs
nothing between samples, and sees every worker thread, because the timer counts the CPU time
of all threads and the kernel delivers its signal to the thread whose time ran out. The signal
handler itself must not run Python (it has to read the interrupted instruction pointer from the
signal frame, and Python handlers run later, on the main thread), so it is twenty lines of
LLVM IR, JIT-compiled like a kernel: it appends the saved ``rip`` to a buffer.

Samples that land outside the kernel's code are launch overhead and the Python around it;
samples on kernel code without a line are the grid loop and thread pool tritium adds. Both are
reported as such, so the per-line percentages are of the kernel's own time.

Linux on x86-64 only (the offset of the saved instruction pointer in ``ucontext_t`` is an ABI
fact of that pair); elsewhere :func:`sampled_lines` raises ``NotImplementedError``.
"""

from __future__ import annotations

import ctypes
import inspect
import linecache
import os
import platform
import signal
import sys
import threading
import time
from collections import Counter
from typing import Any

__all__ = ["sampled_lines", "sample_kernel"]

_CAPACITY = 1 << 16  # samples per run; a second of 2 threads at 2 kHz is ~4000
_RIP_OFFSET = 168  # offsetof(ucontext_t, uc_mcontext.gregs[REG_RIP]), x86-64 Linux
_SA_SIGINFO, _SA_RESTART = 0x4, 0x10000000

_HANDLER_IR = f"""
@tritium_prof_buf = global [{_CAPACITY} x i64] zeroinitializer, align 64
@tritium_prof_n = global i64 0, align 8

define void @tritium_prof_handler(i32 %sig, ptr %info, ptr %uc) {{
entry:
  %slot = getelementptr i8, ptr %uc, i64 {_RIP_OFFSET}
  %pc = load volatile i64, ptr %slot, align 8
  %i = atomicrmw add ptr @tritium_prof_n, i64 1 monotonic
  %ok = icmp ult i64 %i, {_CAPACITY}
  br i1 %ok, label %keep, label %done
keep:
  %p = getelementptr [{_CAPACITY} x i64], ptr @tritium_prof_buf, i64 0, i64 %i
  store volatile i64 %pc, ptr %p, align 8
  br label %done
done:
  ret void
}}

define ptr @tritium_prof_state(i32 %which) {{
entry:
  %is_buf = icmp eq i32 %which, 0
  %p = select i1 %is_buf, ptr @tritium_prof_buf, ptr @tritium_prof_n
  ret ptr %p
}}
"""


class _Sigaction(ctypes.Structure):
    # struct sigaction of glibc on x86-64
    _fields_ = [
        ("sa_sigaction", ctypes.c_void_p),
        ("sa_mask", ctypes.c_ulong * 16),
        ("sa_flags", ctypes.c_int),
        ("sa_restorer", ctypes.c_void_p),
    ]


_lock = threading.Lock()
_native: dict[str, Any] = {}


def _handler() -> tuple[int, Any, Any]:
    """(handler address, sample buffer, sample count) — the handler JIT-compiled once."""
    if "handler" not in _native:
        from tritium.backends.cpu.target import load_object, optimize_and_emit

        _opt, obj = optimize_and_emit(_HANDLER_IR)
        handler = load_object(obj, "tritium_prof_handler")
        state = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_int32)(
            load_object(obj, "tritium_prof_state")
        )
        _native["handler"] = handler
        _native["buf"] = (ctypes.c_uint64 * _CAPACITY).from_address(state(0))
        _native["n"] = ctypes.c_uint64.from_address(state(1))
    return _native["handler"], _native["buf"], _native["n"]


def _supported() -> None:
    if not sys.platform.startswith("linux") or platform.machine() not in ("x86_64", "AMD64"):
        raise NotImplementedError(
            "sampled per-line profiles need Linux on x86-64 (the saved instruction pointer is "
            f"read from the signal frame); this is {sys.platform}/{platform.machine()}: use "
            "tritium.profiler.lines() (the model) or interpreted_lines()"
        )


class _Sampler:
    """SIGPROF at every ``interval`` seconds of process CPU time, recorded natively."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.libc = _libc()
        self.old = _Sigaction()

    def __enter__(self) -> _Sampler:
        handler, _buf, n = _handler()
        n.value = 0
        act = _Sigaction()
        act.sa_sigaction = handler
        act.sa_flags = _SA_SIGINFO | _SA_RESTART
        if self.libc.sigaction(signal.SIGPROF, ctypes.byref(act), ctypes.byref(self.old)) != 0:
            raise OSError(ctypes.get_errno(), "sigaction(SIGPROF) failed")
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)
        return self

    def __exit__(self, *exc: Any) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        self.libc.sigaction(signal.SIGPROF, ctypes.byref(self.old), None)

    @staticmethod
    def samples() -> list[int]:
        _handler_addr, buf, n = _handler()
        return list(buf[: min(int(n.value), _CAPACITY)])


class _DlInfo(ctypes.Structure):
    _fields_ = [
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    ]


def _jit_functions() -> list[tuple[int, int, str]]:
    """(start, end, name) of every function tritium's JIT has loaded (thread pool, kernels)."""
    from tritium.backends.cpu.target import load_object, loaded_objects
    from tritium.profiler.dwarf import read_symbols

    spans = []
    for entry, binary in loaded_objects().items():
        syms = read_symbols(binary)
        anchor = next((s for s in syms if s.name == entry), None)
        if anchor is None:
            continue
        base = load_object(binary, entry) - anchor.value
        spans += [
            (base + s.value, base + s.value + s.size, s.name)
            for s in syms
            if s.section == anchor.section
        ]
    return spans


def _libc() -> ctypes.CDLL:
    """The process's C library (sigaction, dladdr), opened once."""
    libc = _native.get("libc")
    if libc is None:
        libc = _native["libc"] = ctypes.CDLL(None, use_errno=True)
        libc.dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    return libc


def _symbol_of(pc: int, jit: list[tuple[int, int, str]]) -> str:
    """``library:function`` of an address outside the kernel (``dladdr``, or tritium's JIT
    objects: ``jit:<function>``), or ``?``."""
    for lo, hi, name in jit:
        if lo <= pc < hi:
            return f"jit:{name}"
    info = _DlInfo()
    if not _libc().dladdr(ctypes.c_void_p(pc), ctypes.byref(info)) or not info.dli_fname:
        return "?"
    lib = os.path.basename(info.dli_fname.decode(errors="replace"))
    fn = info.dli_sname.decode(errors="replace") if info.dli_sname else "?"
    return f"{lib}:{fn}"


def sample_kernel(
    kernel: Any,
    grid: Any,
    *args: Any,
    seconds: float = 2.0,
    interval: float = 0.001,
    min_samples: int = 0,
    **kw: Any,
) -> dict[str, Any]:
    """Run ``kernel[grid](*args, **kw)`` (compiled with line tables) for about ``seconds``
    under the sampler, longer (up to 20 times) until ``min_samples`` were taken (on a busy
    machine the process gets less CPU time, so fewer ticks); return the raw result: samples
    per (file, line), the samples in the kernel's own code without a line (grid loop, thread
    pool), those outside the kernel (launch, Python), the launch count and the mean time per
    launch."""
    from tritium.backends.cpu.line_info import LINES_MODE
    from tritium.backends.cpu.target import load_object
    from tritium.profiler.dwarf import read_line_table

    _supported()
    if getattr(kernel, "fn", None) is None or not hasattr(kernel, "warmup"):
        raise TypeError(f"sampled_lines needs a @jit kernel, got {type(kernel).__name__}")
    if "instrumentation_mode" in kw:
        raise ValueError("sampled_lines sets instrumentation_mode itself; do not pass it")
    kw = dict(kw, instrumentation_mode=LINES_MODE)
    compiled = kernel.warmup(*args, grid=grid, **kw)
    if not compiled.metadata.get("line_info"):
        raise RuntimeError(f"{kernel.fn.__name__} was not compiled with a line table")
    table = read_line_table(compiled.binary)
    entry = compiled.metadata["entry"]
    sym = table.symbol(entry)
    base = load_object(compiled.binary, entry) - sym.value  # where its code section lives
    section_end = max(s.value + s.size for s in table.symbols if s.section == sym.section)

    kernel[grid](*args, **kw)  # warm: the timed loop below launches only
    launches = 0
    with _lock, _Sampler(interval):
        t0 = time.perf_counter()
        deadline, last_call = t0 + seconds, t0 + 20 * seconds
        taken = _handler()[2]
        while True:
            kernel[grid](*args, **kw)
            launches += 1
            now = time.perf_counter()
            if now >= deadline and (taken.value >= min_samples or now >= last_call):
                break
        elapsed = time.perf_counter() - t0
        pcs = _Sampler.samples()

    jit = _jit_functions()
    by_line: Counter[tuple[str, int]] = Counter()
    outside: Counter[str] = Counter()
    no_line = 0
    for pc in pcs:
        off = pc - base
        if not 0 <= off < section_end:
            outside[_symbol_of(pc, jit)] += 1
            continue
        hit = table.line_at(sym.section, off)
        if hit is None or hit[1] == 0:
            no_line += 1
        else:
            by_line[hit] += 1
    return {
        "name": kernel.fn.__name__,
        "lines": dict(by_line),
        "no_line": no_line,
        "outside": sum(outside.values()),
        "outside_symbols": dict(outside.most_common()),
        "samples": len(pcs),
        "launches": launches,
        "mean_s": elapsed / max(launches, 1),
        "interval": interval,
    }


def _def_line(path: str, line: int) -> int:
    """The ``def`` line of the function around ``line`` (decorators left out)."""
    ln = line
    while ln > 1 and not linecache.getline(path, ln).lstrip().startswith("def "):
        ln -= 1
    return ln


def _blocks(path: str, sampled: dict[int, int], first: int, last: int) -> list[tuple[int, int]]:
    """Line ranges to print: the kernel's function, then each other function of the file with
    samples (a ``@jit`` helper the frontend inlined), from its ``def`` to its last sampled line."""
    blocks = [(first, last)]
    rest = sorted(ln for ln in sampled if not first <= ln <= last)
    by_def: dict[int, int] = {}
    for ln in rest:
        d = _def_line(path, ln)
        by_def[d] = max(by_def.get(d, ln), ln)
    blocks += sorted(by_def.items())
    return blocks


def sampled_lines(
    kernel: Any, grid: Any, *args: Any, seconds: float = 2.0, interval: float = 0.001, **kw: Any
) -> str:
    """The kernel's source with the measured share of its compiled time on each line.

    Runs ``kernel[grid](*args, **kw)`` repeatedly for about ``seconds`` (see the module
    docstring). Each line shows its samples, its share of the samples in the kernel's code and
    the estimated time per launch; the ``@jit`` functions it calls follow with their own lines;
    a footer gives the grid-loop/thread-pool share and the samples outside the kernel (launch
    overhead, Python). The timer ticks with the OS scheduler (250-1000 Hz of CPU time), so a
    line's count n is good to about sqrt(n) samples."""
    res = sample_kernel(kernel, grid, *args, seconds=seconds, interval=interval, **kw)
    code = kernel.fn.__code__
    path = code.co_filename
    base = os.path.basename(path)
    mine = {ln: n for (f, ln), n in res["lines"].items() if os.path.basename(f) == base}
    other = sum(n for (f, _ln), n in res["lines"].items() if os.path.basename(f) != base)
    in_kernel = sum(res["lines"].values()) + res["no_line"]
    total = max(res["samples"], 1)
    per_launch_ms = res["mean_s"] * 1e3
    share = in_kernel / total  # of a launch's time, the part spent in the kernel's code
    out = [
        f"{res['name']} (compiled, sampled): {res['samples']} samples over {res['launches']} "
        f"launches of {per_launch_ms:.3f} ms ({path})",
        f"{'line':>5} {'samples':>8} {'%':>5} {'ms':>8}  source",
    ]
    try:
        src_lines, first = inspect.getsourcelines(kernel.fn)
        last = first + len(src_lines) - 1
    except (OSError, TypeError):  # no source file: show the lines that have samples
        first = last = code.co_firstlineno
    for i, (lo, hi) in enumerate(_blocks(path, mine, first, last)):
        if i:
            out.append(f"{'':>5} {'':>8} {'':>5} {'':>8}  ...")
        for ln in range(lo, hi + 1):
            src = linecache.getline(path, ln).rstrip()
            n = mine.get(ln)
            if n:
                pct = 100 * n / max(in_kernel, 1)
                ms = per_launch_ms * share * n / max(in_kernel, 1)
                out.append(f"{ln:>5} {n:>8} {pct:>5.1f} {ms:>8.3f}  {src}")
            else:
                out.append(f"{ln:>5} {'':>8} {'':>5} {'':>8}  {src}")
    notes = [
        f"grid loop and thread pool (kernel code of no line): {res['no_line']} samples "
        f"({100 * res['no_line'] / max(in_kernel, 1):.1f}% of the kernel's)",
        f"outside the kernel (launch, Python, libraries): {res['outside']} samples "
        f"({100 * res['outside'] / total:.1f}% of all)"
        + "".join(f"\n    {n:>6}  {sym}" for sym, n in list(res["outside_symbols"].items())[:5]),
    ]
    if other:
        notes.insert(0, f"lines of other files (inlined helpers): {other} samples")
    return "\n".join(out + notes)
