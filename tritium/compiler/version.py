"""The compiler's version string, as used in every cache key.

It is the package version plus a hash of tritium's own source files, so that editing the
compiler (as its developers do all day) invalidates cached kernels without a version bump.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pathlib

__all__ = ["__version__", "compiler_version"]

__version__ = "0.1.0"


@functools.cache
def compiler_version() -> str:
    """``"<version>-<sha256 of tritium's .py files>"``, computed once per process.

    Reading and hashing every source file is ~10 ms, a large share of a new process's first
    launch of a cached kernel; so the result is also kept in the disk cache under a key made
    of every file's path, size and modification time, which a few ``stat`` calls give.
    """
    root = pathlib.Path(__file__).resolve().parent.parent
    stamp = _stamp(root)
    if stamp is not None:
        known = _cached(stamp)
        if known is not None:
            return known
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    version = f"{__version__}-{h.hexdigest()[:16]}"
    if stamp is not None:
        _remember(stamp, version)
    return version


def _stamp(root: pathlib.Path) -> str | None:
    """A key that changes whenever a source file is added, removed or written."""
    files = []
    try:
        for directory, _, names in os.walk(root):
            for name in names:
                if name.endswith(".py"):
                    st = os.stat(os.path.join(directory, name))
                    files.append(f"{directory}/{name}:{st.st_size}:{st.st_mtime_ns}")
    except OSError:
        return None
    files.sort()
    text = "tritium compiler version stamp v1\n" + "\n".join(files)
    return hashlib.sha256(text.encode()).hexdigest()


def _cached(stamp: str) -> str | None:
    try:
        from tritium.compiler.cache import DiskCache

        entry = DiskCache().load(stamp)
    except Exception:  # noqa: BLE001 - a cache is an optimization
        return None
    if entry is None or entry.name != "tritium-version":
        return None
    try:
        text = entry.binary.decode()
    except (AttributeError, UnicodeDecodeError):
        return None
    return text if text.startswith(f"{__version__}-") else None


def _remember(stamp: str, version: str) -> None:
    try:
        from tritium.compiler.cache import CacheEntry, DiskCache

        DiskCache().store(stamp, CacheEntry("tritium-version", {}, version.encode(), {}))
    except Exception:  # noqa: BLE001 - not fatal: the next process hashes the files again
        pass
