"""The compiler's version string, as used in every cache key.

It is the package version plus a hash of tritium's own source files, so that editing the
compiler (as its developers do all day) invalidates cached kernels without a version bump.
"""

from __future__ import annotations

import functools
import hashlib
import pathlib

__all__ = ["__version__", "compiler_version"]

__version__ = "0.1.0"


@functools.cache
def compiler_version() -> str:
    """``"<version>-<sha256 of tritium's .py files>"``, computed once per process."""
    root = pathlib.Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return f"{__version__}-{h.hexdigest()[:16]}"
