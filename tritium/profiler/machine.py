"""The machine's limits for the roofline: memory bandwidth and floating-point peak.

Both are measured once per machine (CPU model, LLVM features, thread count) with tritium
kernels, so they are what a tritium kernel can reach here, and cached in
``<cache dir>/profiler-machine.json``:

* **bandwidth**: a STREAM-style triad ``a = b + s * c`` over three 64 MiB fp32 arrays on
  every thread, counted as STREAM counts it (three arrays moved, no write-allocate);
* **cache bandwidth**: each thread re-reading its own 64 KiB (L2-resident) in a loop, what a
  tile reused across loop iterations and programs costs;
* **FLOP peak**: independent chains of fp32 fused multiply-adds held in registers, on every
  thread, for the vector ISA the kernels are compiled for (AVX2, AVX-512, NEON).

Each is the best of a few runs: the limit, not the typical value.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from typing import Any

import tritium
import tritium.language as tl
from tritium import knobs

__all__ = ["machine_limits"]

_TRIAD_N = 16 << 20  # 64 MiB per fp32 array: well past any last-level cache
_FMA_ITERS = 4096


@tritium.jit
def _triad_kernel(a_ptr, b_ptr, c_ptr, s, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    b = tl.load(b_ptr + offs, mask=mask)
    c = tl.load(c_ptr + offs, mask=mask)
    tl.store(a_ptr + offs, b + s * c, mask=mask)


@tritium.jit
def _cache_read_kernel(x_ptr, out_ptr, iters, BLOCK: tl.constexpr, TILES: tl.constexpr):
    # Each program sweeps its own TILES * BLOCK floats (64 KiB: L2-resident) again and again.
    base = x_ptr + tl.program_id(0) * TILES * BLOCK
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for i in range(iters):
        acc += tl.load(base + (i % TILES) * BLOCK + tl.arange(0, BLOCK))
    tl.store(out_ptr + tl.program_id(0) * BLOCK + tl.arange(0, BLOCK), acc)


@tritium.jit
def _fma_kernel(out_ptr, x, y, iters, BLOCK: tl.constexpr):
    # BLOCK independent lanes, i.e. several vector registers of independent FMA chains.
    acc = tl.arange(0, BLOCK).to(tl.float32) * 1e-3
    for _ in range(iters):
        acc = acc * x + y
    tl.store(out_ptr + tl.program_id(0) * BLOCK + tl.arange(0, BLOCK), acc)


def _machine_key() -> str:
    from tritium.backends.cpu.target import host_target
    from tritium.threads import get_num_threads

    try:
        desc = repr(host_target())
    except Exception:  # noqa: BLE001 - any description will do for a cache key
        desc = platform.processor()
    text = f"{platform.machine()}|{desc}|{knobs.cpu_features()}|{get_num_threads()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _best(fn: Any, reps: int) -> float:
    fn()  # compile, warm
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _measure() -> dict[str, Any]:
    import numpy as np

    from tritium.threads import get_num_threads

    n = _TRIAD_N
    a, b, c = (np.full(n, v, np.float32) for v in (0.0, 1.0, 2.0))
    block = 4096
    grid = (tritium.cdiv(n, block),)
    t = _best(lambda: _triad_kernel[grid](a, b, c, 0.5, n, BLOCK=block), 5)
    bandwidth = 3 * n * 4 / t
    threads = get_num_threads()
    best_flops = 0.0
    for fma_block in (64, 128):
        programs = 16 * threads
        out = np.empty(programs * fma_block, np.float32)
        t = _best(
            lambda p=programs, o=out, b=fma_block: _fma_kernel[(p,)](
                o, 0.999, 1e-4, _FMA_ITERS, BLOCK=b
            ),
            3,
        )
        best_flops = max(best_flops, 2.0 * fma_block * _FMA_ITERS * programs / t)
    tiles, cblock, iters = 16, 1024, _FMA_ITERS * 4
    programs = 4 * threads
    src = np.ones(programs * tiles * cblock, np.float32)
    dst = np.empty(programs * cblock, np.float32)
    t = _best(
        lambda: _cache_read_kernel[(programs,)](src, dst, iters, BLOCK=cblock, TILES=tiles), 3
    )
    cache_bandwidth = programs * iters * cblock * 4 / t
    return {
        "bandwidth_Bps": bandwidth,
        "cache_bandwidth_Bps": cache_bandwidth,
        "peak_flops": best_flops,
        "threads": threads,
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


_limits: dict[str, Any] | None = None


def machine_limits(refresh: bool = False) -> dict[str, Any]:
    """``{"bandwidth_Bps", "cache_bandwidth_Bps", "peak_flops", "threads", "measured_at"}``
    measured on first use (about a second) and cached on disk; ``refresh`` measures again."""
    global _limits
    if _limits is not None and not refresh:
        return _limits
    path = os.path.join(knobs.cache_dir(), "profiler-machine.json")
    key = _machine_key()
    table: dict[str, Any] = {}
    try:
        with open(path) as f:
            table = json.load(f)
        if not refresh and isinstance(table.get(key), dict) and "cache_bandwidth_Bps" in table[key]:
            _limits = table[key]
            return _limits
    except (OSError, ValueError):
        table = {}
    from tritium.runtime.jit import LAUNCH_HOOKS

    saved = LAUNCH_HOOKS[:]
    LAUNCH_HOOKS.clear()  # the measurement is not the user's work: keep it out of a profile
    try:
        _limits = _measure()
    finally:
        LAUNCH_HOOKS[:] = saved
    table[key] = _limits
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(table, f, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache: measured again next process
    return _limits
