"""The disk cache of compiled kernels.

One file per entry, ``<cache dir>/<key[:2]>/<key>.tkc``, laid out as::

    TRITIUM-CACHE 1\\n
    <sha256 hex of the payload>\\n
    <payload: UTF-8 JSON {name, metadata, asm, binary}>

Entries are written to a temporary file in the same directory and renamed into place, so a
reader never sees half an entry even with several processes compiling at once. On read the
checksum is verified; an entry that is truncated, corrupted or unparsable is reported as a miss
(and deleted), so the caller rebuilds it rather than trusting it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any

from tritium import knobs

__all__ = ["CacheEntry", "DiskCache", "MAGIC", "atomic_write"]

MAGIC = b"TRITIUM-CACHE 1\n"


@dataclass
class CacheEntry:
    """What the cache stores for one kernel: the fields of a backend's ``CompiledArtifact``."""

    name: str
    asm: dict[str, str | bytes]
    binary: bytes
    metadata: dict[str, Any]


def _encode(entry: CacheEntry) -> bytes:
    asm = {
        k: ({"b64": base64.b64encode(v).decode()} if isinstance(v, bytes) else {"text": v})
        for k, v in entry.asm.items()
    }
    doc = {
        "name": entry.name,
        "metadata": entry.metadata,
        "asm": asm,
        "binary": base64.b64encode(entry.binary).decode(),
    }
    return json.dumps(doc, sort_keys=True).encode()


def _decode(payload: bytes) -> CacheEntry:
    doc = json.loads(payload.decode())
    asm: dict[str, str | bytes] = {
        k: (base64.b64decode(v["b64"]) if "b64" in v else v["text"]) for k, v in doc["asm"].items()
    }
    return CacheEntry(doc["name"], asm, base64.b64decode(doc["binary"]), doc["metadata"])


class DiskCache:
    """Compiled kernels on disk under ``root`` (default: ``tritium.knobs.cache_dir()``)."""

    def __init__(self, root: str | None = None) -> None:
        self.root = root or knobs.cache_dir()

    def path(self, key: str) -> str:
        """The file that holds the entry for ``key``."""
        return os.path.join(self.root, key[:2], f"{key}.tkc")

    def load(self, key: str) -> CacheEntry | None:
        """The verified entry for ``key``, or None if it is missing or damaged."""
        path = self.path(key)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        try:
            if not data.startswith(MAGIC):
                raise ValueError("bad header")
            digest, _, payload = data[len(MAGIC) :].partition(b"\n")
            if hashlib.sha256(payload).hexdigest().encode() != digest:
                raise ValueError("checksum mismatch")
            return _decode(payload)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            warnings.warn(
                f"tritium: ignoring damaged cache entry {path} ({e}); rebuilding",
                RuntimeWarning,
                stacklevel=2,
            )
            try:
                os.unlink(path)
            except OSError:
                pass
            return None

    def store(self, key: str, entry: CacheEntry) -> None:
        """Write ``entry`` atomically; a cache that cannot be written is warned about, not fatal."""
        payload = _encode(entry)
        atomic_write(
            self.path(key), MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
        )


def atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, so readers see either
    the old file or the whole new one. Failure is a warning: a cache is an optimization."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        warnings.warn(
            f"tritium: cannot write cache entry {path}: {e}", RuntimeWarning, stacklevel=3
        )
