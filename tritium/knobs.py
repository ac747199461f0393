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


def cache_dir() -> str:
    """TRITIUM_CACHE_DIR: where compiled kernels are kept (default ~/.cache/tritium)."""
    return os.environ.get("TRITIUM_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "tritium"
    )


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
