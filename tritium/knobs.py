"""Every environment variable tritium reads, in one place.

Read them through this module (``tritium.knobs.cache_dir()``) so that tests can
monkeypatch the environment and so that a reader finds them all here.
"""

from __future__ import annotations

import os

__all__ = [
    "cache_dir",
    "interpret",
    "sanitize",
    "dump_ir",
    "num_threads",
    "always_compile",
    "cpu_amx",
    "cpu_features",
    "verify_ir",
    "kernel_dump_dir",
    "kernel_override_dir",
]


def _flag(*names: str) -> bool:
    for n in names:
        v = os.environ.get(n, "")
        if v and v.lower() not in ("0", "false", "no", "off"):
            return True
    return False


def _default_on(name: str) -> bool:
    """A switch that is on unless the variable says 0/false/no/off."""
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir() -> str:
    """Where compiled kernels are kept, the first that is set: TRITIUM_CACHE_DIR, Triton's
    TRITON_CACHE_DIR, $XDG_CACHE_HOME/tritium, ~/.cache/tritium (see docs/cache.md)."""
    for name in ("TRITIUM_CACHE_DIR", "TRITON_CACHE_DIR"):
        if os.environ.get(name):
            return os.environ[name]
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):  # the XDG spec: a relative value is invalid and ignored
        return os.path.join(xdg, "tritium")
    return os.path.join(os.path.expanduser("~"), ".cache", "tritium")


def interpret() -> bool:
    """TRITIUM_INTERPRET=1 (or Triton's TRITON_INTERPRET=1): run kernels in the interpreter."""
    return _flag("TRITIUM_INTERPRET", "TRITON_INTERPRET")


def sanitize() -> bool:
    """TRITIUM_SANITIZE=1: check memory accesses (interpreter; bounds checks when compiled).

    Triton's TRITON_DEBUG=1 (every kernel as if ``@jit(debug=True)``) turns it on too.
    """
    return _flag("TRITIUM_SANITIZE", "TRITON_DEBUG")


def dump_ir() -> str:
    """TRITIUM_DUMP_IR: '1' or 'all' prints the IR after every pass to stderr; or a pass name.

    Triton's MLIR_ENABLE_DUMP=1 means the same as TRITIUM_DUMP_IR=1.
    """
    return os.environ.get("TRITIUM_DUMP_IR", "") or ("1" if _flag("MLIR_ENABLE_DUMP") else "")


def num_threads() -> int:
    """TRITIUM_NUM_THREADS: threads a CPU launch uses (default: the cores this process may use)."""
    v = os.environ.get("TRITIUM_NUM_THREADS")
    if v:
        return max(1, int(v))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def always_compile() -> bool:
    """TRITIUM_ALWAYS_COMPILE=1 (or TRITON_ALWAYS_COMPILE=1): ignore the disk cache (still
    writes it)."""
    return _flag("TRITIUM_ALWAYS_COMPILE", "TRITON_ALWAYS_COMPILE")


def cpu_features() -> str:
    """TRITIUM_CPU_FEATURES: override the host's LLVM feature string (e.g. '-avx512f')."""
    return os.environ.get("TRITIUM_CPU_FEATURES", "")


def cpu_amx() -> str:
    """TRITIUM_CPU_AMX: Intel AMX tiles for bf16 dots (backends/cpu/dot_amx.py): 'auto'
    (default: where the host has AMX, Linux grants it and the self-test passes), '0' (off), or
    'emulate' (the AMX path with the tile instructions emulated, on any host: for tests).
    Part of the CPU backend's cache key where it changes the code."""
    v = os.environ.get("TRITIUM_CPU_AMX", "").strip().lower()
    if v in ("0", "off", "false", "no"):
        return "0"
    return "emulate" if v == "emulate" else "auto"


def verify_ir() -> bool:
    """TRITIUM_VERIFY_IR=1: run the IR verifier after every pass (tests turn it on)."""
    return _flag("TRITIUM_VERIFY_IR")


def _triton_dir(switch: str, name: str, sub: str) -> str:
    # Triton's pair: a switch (TRITON_KERNEL_DUMP=1) and a directory that defaults to
    # $TRITON_HOME/.triton/<sub>.
    if not _flag(switch):
        return ""
    home = os.environ.get("TRITON_HOME") or os.path.expanduser("~")
    return os.environ.get(name) or os.path.join(home, ".triton", sub)


def kernel_dump_dir() -> str:
    """TRITIUM_DUMP_DIR: write every compile stage (ttir, llir, asm) of each kernel under it.

    Triton's TRITON_KERNEL_DUMP=1 does the same under TRITON_DUMP_DIR (default
    ``~/.triton/dump``).
    """
    return os.environ.get("TRITIUM_DUMP_DIR", "") or _triton_dir(
        "TRITON_KERNEL_DUMP", "TRITON_DUMP_DIR", "dump"
    )


def kernel_override_dir() -> str:
    """TRITIUM_OVERRIDE_DIR: compile ``<dir>/<kernel name>.ttir`` instead of the kernel's own IR.

    Triton's TRITON_KERNEL_OVERRIDE=1 does the same from TRITON_OVERRIDE_DIR (default
    ``~/.triton/override``).
    """
    return os.environ.get("TRITIUM_OVERRIDE_DIR", "") or _triton_dir(
        "TRITON_KERNEL_OVERRIDE", "TRITON_OVERRIDE_DIR", "override"
    )


# --- autotuning (tritium/runtime/autotuner.py) -----------------------------------------------

__all__ += [
    "print_autotuning",
    "cache_autotuning",
    "autotune_warmup_ms",
    "autotune_rep_ms",
    "autotune_mode",
    "autotune_files",
    "autotune_progress",
]


def print_autotuning() -> bool:
    """TRITON_PRINT_AUTOTUNING=1 (or TRITIUM_PRINT_AUTOTUNING=1): print each config benchmarked
    and, per tuned kernel, its key, the best config and the time tuning took (Triton's lines)."""
    return _flag("TRITON_PRINT_AUTOTUNING", "TRITIUM_PRINT_AUTOTUNING")


def cache_autotuning() -> bool:
    """TRITON_CACHE_AUTOTUNING=1: every autotuner keeps its choices on disk, as
    ``@autotune(cache_results=True)`` does (under the cache directory, per kernel, key, target)."""
    return _flag("TRITON_CACHE_AUTOTUNING", "TRITIUM_CACHE_AUTOTUNING")


def autotune_warmup_ms() -> int:
    """TRITON_AUTOTUNE_WARMUP_MS: warmup time per config of the default benchmarker (25)."""
    return int(os.environ.get("TRITON_AUTOTUNE_WARMUP_MS") or 25)


def autotune_rep_ms() -> int:
    """TRITON_AUTOTUNE_REP_MS: measuring time per config of the default benchmarker (100)."""
    return int(os.environ.get("TRITON_AUTOTUNE_REP_MS") or 100)


def autotune_mode() -> str:
    """TRITIUM_AUTOTUNE: ``on`` (default) benchmarks a new key; ``off`` never benchmarks (the
    pinned or cached config, else the first config that survives pruning); ``require`` raises
    instead of benchmarking, for deployments that must run pinned configs only."""
    v = os.environ.get("TRITIUM_AUTOTUNE", "").strip().lower()
    if v in ("", "1", "on", "true", "yes"):
        return "on"
    if v in ("0", "off", "false", "no"):
        return "off"
    if v == "require":
        return "require"
    raise ValueError(f"TRITIUM_AUTOTUNE must be on, off or require, got {v!r}")


def autotune_files() -> list[str]:
    """TRITIUM_AUTOTUNE_FILE: JSON files of pinned autotuning choices (``os.pathsep``-separated),
    as written by ``tritium.runtime.autotuner.save_autotune_results``."""
    return [p for p in os.environ.get("TRITIUM_AUTOTUNE_FILE", "").split(os.pathsep) if p]


def autotune_progress() -> bool:
    """TRITIUM_AUTOTUNE_PROGRESS=0 hides the progress line that tuning longer than 1 s shows."""
    return _default_on("TRITIUM_AUTOTUNE_PROGRESS")


def backend() -> str:
    """TRITIUM_BACKEND: ``cuda`` runs ``kernel[grid](...)`` on the NVIDIA GPU (default ``cpu``)."""
    return os.environ.get("TRITIUM_BACKEND", "").strip().lower() or "cpu"


def cuda_arch() -> int | None:
    """TRITIUM_CUDA_ARCH: compile CUDA kernels for this compute capability (e.g. ``90``)
    instead of the current device's, so a machine without a GPU can compile for one."""
    v = os.environ.get("TRITIUM_CUDA_ARCH", "").strip().lower().removeprefix("sm_").rstrip("a")
    return int(v) if v else None


def passes() -> str:
    """TRITIUM_PASSES: edit the compiler's pass pipeline for the whole process, e.g.
    ``-cse,+my-pass`` (syntax: ``tritium.passes.pipeline.resolve_pipeline``). Read at compile
    time and part of the disk-cache key; set it before a kernel's first launch (the in-memory
    cache of a kernel already compiled in this process keeps its code; pass ``passes=`` to the
    launch to key a call on its own pipeline)."""
    return os.environ.get("TRITIUM_PASSES", "")

    """TRITIUM_OVERRIDE_DIR: compile ``<dir>/<kernel name>.ttir`` instead of the kernel's own IR.

    Triton's TRITON_KERNEL_OVERRIDE=1 does the same from TRITON_OVERRIDE_DIR (default
    ``~/.triton/override``).
    """
    return os.environ.get("TRITIUM_OVERRIDE_DIR", "") or _triton_dir(
        "TRITON_KERNEL_OVERRIDE", "TRITON_OVERRIDE_DIR", "override"
    )


def cache_key_file() -> str:
    """TRITIUM_CACHE_KEY_FILE: the per-user secret that authenticates disk-cache entries,
    outside the cache directory (default $XDG_CONFIG_HOME/tritium/cache-key, else
    ~/.config/tritium/cache-key); created 0600 on first use."""
    if os.environ.get("TRITIUM_CACHE_KEY_FILE"):
        return os.environ["TRITIUM_CACHE_KEY_FILE"]
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "tritium", "cache-key")


def shared_cache_dir() -> str:
    """TRITIUM_SHARED_CACHE_DIR: a read-only cache shared between users (a deployment's
    prebuilt kernels), trusted by ownership and permissions; never written ('' = none)."""
    return os.environ.get("TRITIUM_SHARED_CACHE_DIR", "")


def cache_size_limit() -> int:
    """TRITIUM_CACHE_SIZE_LIMIT: bytes the private disk cache may hold before least recently
    used entries are evicted (suffixes K, M, G; default 2G; 0 = no limit)."""
    return _size("TRITIUM_CACHE_SIZE_LIMIT", 2 << 30)


def _size(name: str, default: int) -> int:
    """A number of bytes, with an optional suffix K, M, G or T (``500M``, ``1.5G``, ``2GiB``)."""
    text = os.environ.get(name, "").strip().lower()
    if not text:
        return default
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.removesuffix("b").removesuffix("i")
    try:
        if t[-1:] in units:
            return int(float(t[:-1]) * units[t[-1]])
        return int(t)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a size like 500M") from None


def host_cache_bytes() -> int:
    """TRITIUM_HOST_CACHE_BYTES: bytes of free blocks that ``tritium.runtime.host_cache`` keeps
    for the next large host output (16 MiB or more) after the arrays viewing them died
    (suffixes K, M, G; default 1G; 0 turns the cache off). Read whenever a block is taken
    or given back."""
    return _size("TRITIUM_HOST_CACHE_BYTES", 1 << 30)


def cache_mode() -> str:
    """TRITIUM_CACHE_MODE: '' (read and write the cache) or 'require' (must hit: a kernel that
    no cache holds raises CacheMissError naming the part of the key that differs)."""
    mode = os.environ.get("TRITIUM_CACHE_MODE", "").strip().lower()
    if mode not in ("", "readwrite", "require"):
        raise ValueError(f"TRITIUM_CACHE_MODE={mode!r}: expected 'require' or unset")
    return "" if mode == "readwrite" else mode


def log_recompiles() -> bool:
    """TRITIUM_LOG_RECOMPILES=1: print why a kernel compiles again (which argument's dtype,
    specialization hint or constexpr changed) to stderr."""
    return _flag("TRITIUM_LOG_RECOMPILES")


# The functions appended above by the CUDA backend, the pass toggles and the cache.
__all__ += [
    "backend",
    "cuda_arch",
    "passes",
    "cache_key_file",
    "shared_cache_dir",
    "cache_size_limit",
    "cache_mode",
    "log_recompiles",
]


def static_unroll_limit() -> int:
    """TRITIUM_STATIC_UNROLL_LIMIT: the most copies of a loop body that ``tl.static_range`` (or
    a ``for`` over a compile-time sequence) may unroll into, nested loops multiplied together
    (default 8192); a larger unroll is a CompilationError suggesting ``tl.range``."""
    text = os.environ.get("TRITIUM_STATIC_UNROLL_LIMIT", "").strip()
    if not text:
        return 8192
    try:
        return max(1, int(text))
    except ValueError:
        raise ValueError(f"TRITIUM_STATIC_UNROLL_LIMIT={text!r} is not an integer") from None


__all__ += ["static_unroll_limit"]


def thread_pool() -> str:
    """TRITIUM_THREAD_POOL: which native thread pool compiled launches use: 'auto' (default:
    futex on Linux, 'portable' elsewhere), 'futex' (Linux only) or 'portable' (pthread mutex
    and condition variables: any POSIX system). Read when the pool is first built."""
    kind = os.environ.get("TRITIUM_THREAD_POOL", "").strip().lower() or "auto"
    if kind not in ("auto", "futex", "portable"):
        raise ValueError(f"TRITIUM_THREAD_POOL={kind!r}: expected 'auto', 'futex' or 'portable'")
    return kind


__all__ += ["thread_pool"]


def thread_pool_backoff() -> bool:
    """TRITIUM_THREAD_POOL_BACKOFF=1 turns on the pool's oversubscription back-off (off by
    default): after a launch that waited long for a descheduled worker, launches run on the
    calling thread alone for 20 ms, doubling up to 0.64 s while it recurs. Read when the pool
    is built."""
    return _flag("TRITIUM_THREAD_POOL_BACKOFF")


__all__ += ["thread_pool_backoff"]


def launch_trace() -> bool:
    """TRITIUM_LAUNCH_TRACE=1 makes compiled CPU launches record, per launch and per thread
    that ran its programs, the times, programs, thread CPU time and CPUs
    (``tritium.backends.cpu.launch_trace``; Linux only; off by default). Read when the process
    builds its launcher and thread pool (their first use), part of their cache keys."""
    return _flag("TRITIUM_LAUNCH_TRACE")


__all__ += ["launch_trace"]


def launch_guards() -> bool:
    """TRITIUM_LAUNCH_GUARDS=0: never take the guarded warm launch (runtime/guards.py), only
    the generic path; read when a kernel's launcher is made (for A/B timings and debugging)."""
    return os.environ.get("TRITIUM_LAUNCH_GUARDS", "1").strip().lower() not in ("0", "false")


__all__ += ["launch_guards"]


def streaming_stores() -> str:
    """TRITIUM_STREAMING_STORES: when a CPU tile store without an eviction hint is written with
    non-temporal stores: 'auto' (default: when the launch stores at least half the last-level
    cache, see backends/cpu/streaming.py), 'off' (only hinted stores stream), or a size in
    bytes to use instead of half the cache. Part of the CPU backend's cache key."""
    return os.environ.get("TRITIUM_STREAMING_STORES", "").strip().lower() or "auto"


__all__ += ["streaming_stores"]


def thread_pool_openmp() -> bool:
    """TRITIUM_THREAD_POOL_OPENMP=0 keeps compiled launches on tritium's own pool threads. By
    default, once an OpenMP runtime is loaded in the process (torch's libgomp, Intel's or
    LLVM's libomp), launches of kernels whose frames fit any thread's stack run as OpenMP
    parallel regions on that runtime's threads, so torch and tritium share one set of threads
    instead of spinning against each other. Read when tritium looks for the runtime (at each
    kernel load)."""
    return _default_on("TRITIUM_THREAD_POOL_OPENMP")


__all__ += ["thread_pool_openmp"]


def object_loader() -> str:
    """TRITIUM_OBJECT_LOADER: how compiled CPU object code is loaded into the process: 'auto'
    (default: tritium's own ELF loader on x86-64 Linux, which needs no LLVM, so a new process
    launching cached kernels starts faster; LLVM's JIT for objects it does not handle) or
    'llvm' (always LLVM's JIT)."""
    mode = os.environ.get("TRITIUM_OBJECT_LOADER", "").strip().lower() or "auto"
    if mode not in ("auto", "llvm"):
        raise ValueError(f"TRITIUM_OBJECT_LOADER={mode!r}: expected 'auto' or 'llvm'")
    return mode


__all__ += ["object_loader"]


def cuda_wgmma() -> bool:
    """TRITIUM_CUDA_WGMMA=0 makes the cuda backend use mma.sync on sm_90a where it would use
    wgmma (default on): a switch for comparing the two on a Hopper GPU, or for working around
    a wgmma problem. Part of the cuda backend's cache key."""
    return _default_on("TRITIUM_CUDA_WGMMA")


def interpreter_replay() -> bool:
    """TRITIUM_INTERPRET_REPLAY=0 runs every iteration of an interpreted kernel's loops as
    Python. By default, once two iterations of a loop have done the same tile operations, the
    interpreter replays them for the later iterations (``tritium/interpreter/loops.py``)."""
    return _default_on("TRITIUM_INTERPRET_REPLAY")


__all__ += ["cuda_wgmma", "interpreter_replay", "host_cache_bytes"]
