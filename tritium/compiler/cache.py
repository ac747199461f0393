"""The disk cache of compiled kernels: a trust boundary (DESIGN.md, "The cache is a trust
boundary"; the user-facing description is ``docs/cache.md``).

An entry is native code that a launch executes, so the cache is treated as ssh treats
``~/.ssh``:

* the **private cache** (``knobs.cache_dir()``): directories are created ``0700`` whatever the
  umask; a root or sub-directory that another user owns, or that the group or others may write,
  is refused with a warning (the process then compiles without a disk cache); files are opened
  with ``O_NOFOLLOW`` and must be regular files owned by the user; each entry carries an
  HMAC-SHA256 keyed with a per-user secret kept *outside* the cache directory
  (``knobs.cache_key_file()``), so an entry that was planted, copied from elsewhere or edited is
  rebuilt, never run. A size cap (``knobs.cache_size_limit()``) evicts the least recently used
  entries (a hit refreshes an entry's mtime).
* the **shared read-only cache** (``knobs.shared_cache_dir()``), for deployments: trusted by
  ownership and permissions alone (the directory, every directory above it and every entry owned
  by root or the current user and writable by nobody else; sticky ancestors such as ``/tmp`` are
  allowed, since nobody can rename what they do not own there); checked against the entry's
  SHA-256 for damage; never written, never evicted.

One file per entry, ``<root>/<key[:2]>/<key>.tkc``::

    TRITIUM-CACHE 2\\n
    <sha256 hex of the payload> <hmac hex of key + NUL + payload>\\n
    <payload: UTF-8 JSON {name, metadata, asm, binary}>

and, for the must-hit mode's error message, the key's parts in ``<root>/index/<name>/<key>.json``.
Entries are written to a temporary file in the same directory and renamed into place.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any

from tritium import knobs
from tritium.errors import TritiumError

__all__ = [
    "CacheEntry",
    "CacheMissError",
    "DiskCache",
    "MAGIC",
    "atomic_write",
    "ensure_private_dir",
    "open_private_file",
]

MAGIC = b"TRITIUM-CACHE 2\n"
_SUFFIX = ".tkc"
_warned: set[str] = set()


class CacheMissError(TritiumError):
    """``TRITIUM_CACHE_MODE=require`` and no cache holds the kernel; the message names which
    part of the key differs from the nearest cached entry."""


@dataclass
class CacheEntry:
    """What the cache stores for one kernel: the fields of a backend's ``CompiledArtifact``."""

    name: str
    asm: dict[str, str | bytes]
    binary: bytes
    metadata: dict[str, Any]


def _warn_once(what: str, message: str) -> None:
    if what not in _warned:
        _warned.add(what)
        warnings.warn(f"tritium: {message}", RuntimeWarning, stacklevel=4)


# ---- ownership and permission checks ---------------------------------------------------------


def _refusal(st: os.stat_result, kind: str, owners: tuple[int, ...]) -> str | None:
    """Why a file or directory with status ``st`` is not trusted (None if it is)."""
    want = stat.S_ISDIR if kind == "directory" else stat.S_ISREG
    if not want(st.st_mode):
        return f"is not a {kind} (a symlink or something else)"
    if st.st_uid not in owners:
        return f"is owned by uid {st.st_uid}, not by this user"
    if st.st_mode & 0o022:
        return f"is writable by its group or by others (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def check_dir(path: str, owners: tuple[int, ...] | None = None) -> str | None:
    """Why directory ``path`` is not trusted (not ours, group/world-writable, a symlink, missing),
    or None."""
    try:
        st = os.lstat(path)
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    return _refusal(st, "directory", owners or (os.geteuid(),))


def ensure_private_dir(path: str) -> str | None:
    """Create ``path`` (and missing parents) mode 0700 whatever the umask, then check it is
    ours and not writable by others. Returns why it is refused, or None when it is usable."""
    missing = []
    p = os.path.abspath(path)
    while not os.path.lexists(p):
        missing.append(p)
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
            os.chmod(d, 0o700, follow_symlinks=False)  # mkdir's mode is masked, never widened
        except FileExistsError:
            pass  # another process created it first: checked below like any existing one
        except OSError as e:
            return f"cannot be created ({e.strerror})"
    return check_dir(path)


def open_private_file(path: str, owners: tuple[int, ...] | None = None) -> bytes:
    """The contents of regular file ``path``, opened without following a symlink and only if it
    is owned by one of ``owners`` (default: this user) and not writable by others."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        why = _refusal(os.fstat(fd), "file", owners or (os.geteuid(),))
        if why:
            raise PermissionError(f"{path} {why}")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _shared_root_refusal(root: str) -> str | None:
    """Why ``root`` cannot serve as the shared read-only cache (None if it can): it and every
    directory above it must be owned by root or this user and not writable by others (sticky
    ancestors excepted)."""
    owners = (0, os.geteuid())
    real = os.path.realpath(root)
    why = check_dir(real, owners)
    if why:
        return f"{real} {why}"
    p = os.path.dirname(real)
    while True:
        st = os.lstat(p)
        if st.st_uid not in owners:
            return f"{p} (above it) is owned by uid {st.st_uid}"
        if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            return f"{p} (above it) is writable by others"
        parent = os.path.dirname(p)
        if parent == p:
            return None
        p = parent


# ---- the per-user MAC key ---------------------------------------------------------------------


_keys: dict[str, bytes] = {}


def _mac_key() -> bytes | None:
    """The per-user secret that authenticates entries (created on first use), or None with a
    warning when it cannot be kept private."""
    path = knobs.cache_key_file()
    if path in _keys:
        return _keys[path]
    why = ensure_private_dir(os.path.dirname(path))
    secret = None
    if why is None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_hex(32).encode())
        except FileExistsError:
            pass
        except OSError as e:
            why = f"cannot be created ({e.strerror})"
    if why is None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                st = os.fstat(f.fileno())
                data = f.read().strip()
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                why = "is not a regular file owned by this user"
            elif st.st_mode & 0o077:
                why = f"is readable or writable by others (mode {stat.S_IMODE(st.st_mode):04o})"
            elif len(data) < 32:
                why = "is too short"
            else:
                secret = data
        except OSError as e:
            why = f"cannot be read ({e.strerror})"
    if secret is None:
        _warn_once("key:" + path, f"cache key file {path} {why}; compiling without the disk cache")
        return None
    _keys[path] = secret
    return secret


def _mac(secret: bytes, key: str, payload: bytes) -> str:
    return hmac.new(secret, key.encode() + b"\0" + payload, hashlib.sha256).hexdigest()


# ---- encoding ---------------------------------------------------------------------------------


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


def _parse(data: bytes, key: str, secret: bytes | None) -> CacheEntry:
    """Verify and decode an entry file; ``secret`` None means the shared cache (checksum only)."""
    if not data.startswith(MAGIC):
        raise ValueError("not a current tritium cache entry")
    head, _, payload = data[len(MAGIC) :].partition(b"\n")
    digest, _, mac = head.decode("ascii").partition(" ")
    if not hmac.compare_digest(hashlib.sha256(payload).hexdigest(), digest):
        raise ValueError("checksum mismatch")
    if secret is not None and not hmac.compare_digest(_mac(secret, key, payload), mac):
        raise ValueError("not written by this user's tritium (authentication failed)")
    entry = _decode(payload)
    if not isinstance(entry.binary, bytes) or not isinstance(entry.metadata, dict):
        raise ValueError("malformed entry")
    return entry


# ---- the cache ----------------------------------------------------------------------------------


class DiskCache:
    """Compiled kernels on disk: the private cache under ``root`` (default
    ``knobs.cache_dir()``) and the shared read-only one (``knobs.shared_cache_dir()``)."""

    def __init__(self, root: str | None = None, shared: str | None = None) -> None:
        self.root = root or knobs.cache_dir()
        self.shared = shared if shared is not None else knobs.shared_cache_dir()

    def path(self, key: str, root: str | None = None) -> str:
        """The file that holds the entry for ``key``."""
        return os.path.join(root or self.root, key[:2], f"{key}{_SUFFIX}")

    # -- trust of the roots (checked on every use: a directory can change under a process) --

    def _private_ok(self) -> bool:
        why = ensure_private_dir(self.root)
        if why:
            _warn_once(
                "root:" + self.root,
                f"cache directory {self.root} {why}; compiling without the disk cache "
                "(see docs/cache.md)",
            )
        return why is None

    def _shared_ok(self) -> bool:
        if not self.shared:
            return False
        why = _shared_root_refusal(self.shared)
        if why:
            _warn_once("shared:" + self.shared, f"shared cache {self.shared} refused: {why}")
        return why is None

    # -- reading --

    def _read(self, key: str, root: str, secret: bytes | None) -> CacheEntry | None:
        path = self.path(key, root)
        owners = (os.geteuid(),) if secret is not None else (0, os.geteuid())
        try:
            if check_dir(os.path.dirname(path), owners):
                sub = os.path.dirname(path)
                if os.path.lexists(sub):
                    _warn_once("sub:" + sub, f"cache sub-directory {sub} {check_dir(sub, owners)}")
                return None
            data = open_private_file(path, owners)
        except FileNotFoundError:
            return None
        except OSError as e:
            _warn_once("file:" + path, f"ignoring cache entry {path}: {e}")
            return None
        try:
            return _parse(data, key, secret)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            warnings.warn(
                f"tritium: ignoring damaged cache entry {path} ({e}); rebuilding",
                RuntimeWarning,
                stacklevel=3,
            )
            if secret is not None:  # our own directory: drop the bad file
                try:
                    os.unlink(path)
                except OSError:
                    pass
            return None

    def load(self, key: str) -> CacheEntry | None:
        """The verified entry for ``key`` (shared cache first), or None."""
        if self._shared_ok():
            entry = self._read(key, self.shared, None)
            if entry is not None:
                return entry
        if not self._private_ok():
            return None
        secret = _mac_key()
        if secret is None:
            return None
        entry = self._read(key, self.root, secret)
        if entry is not None:
            try:
                os.utime(self.path(key), follow_symlinks=False)  # least recently used: mtime
            except OSError:
                pass
        return entry

    def drop(self, key: str) -> None:
        """Remove ``key``'s private entry (one that verified but would not load)."""
        try:
            os.unlink(self.path(key))
        except OSError:
            pass

    # -- writing --

    def store(self, key: str, entry: CacheEntry, parts: dict[str, Any] | None = None) -> None:
        """Write ``entry`` (and the key's ``parts``, for must-hit error messages) into the
        private cache, then evict least recently used entries beyond the size limit. A cache
        that cannot be written is warned about, not fatal."""
        if not self._private_ok():
            return
        secret = _mac_key()
        if secret is None:
            return
        payload = _encode(entry)
        head = f"{hashlib.sha256(payload).hexdigest()} {_mac(secret, key, payload)}\n"
        if not atomic_write(self.path(key), MAGIC + head.encode() + payload):
            return
        if parts is not None:
            index = os.path.join(self.root, "index", entry.name, f"{key}.json")
            atomic_write(index, json.dumps(parts, sort_keys=True, default=repr).encode())
        self.evict()

    def evict(self, limit: int | None = None) -> None:
        """Delete least recently used entries until the private cache is within ``limit`` bytes
        (default ``knobs.cache_size_limit()``), down to 80% of it."""
        limit = knobs.cache_size_limit() if limit is None else limit
        if limit <= 0:
            return
        files: list[tuple[float, int, str]] = []
        try:
            subs = [e for e in os.scandir(self.root) if len(e.name) == 2]
            for sub in subs:
                if not sub.is_dir(follow_symlinks=False):
                    continue
                for f in os.scandir(sub.path):
                    if f.name.endswith(_SUFFIX) and f.is_file(follow_symlinks=False):
                        st = f.stat(follow_symlinks=False)
                        files.append((st.st_mtime, st.st_size, f.path))
        except OSError:
            return
        total = sum(size for _, size, _ in files)
        if total <= limit:
            return
        for _, size, path in sorted(files):
            try:
                os.unlink(path)
            except OSError:
                continue
            total -= size
            if total <= limit * 0.8:
                break

    # -- must-hit mode --

    def explain_miss(self, name: str, parts: dict[str, Any]) -> str:
        """Which part of the key differs from the nearest cached entry of kernel ``name``."""
        best: tuple[int, list[str]] | None = None
        for root in (self.shared, self.root):
            directory = os.path.join(root, "index", name) if root else ""
            if not directory or check_dir(directory, (0, os.geteuid())):
                continue
            for f in sorted(os.listdir(directory)):
                try:
                    other = json.loads(
                        open_private_file(os.path.join(directory, f), (0, os.geteuid()))
                    )
                except (OSError, ValueError):
                    continue
                diffs = _differences(parts, other)
                if best is None or len(diffs) < best[0]:
                    best = (len(diffs), diffs)
        if best is None:
            return f"no cached kernel named {name!r}"
        return f"nearest cached {name!r} differs in " + "; ".join(best[1])


def _differences(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    out = []
    for part in sorted(set(want) | set(have)):
        a, b = want.get(part), have.get(part)
        a = json.loads(json.dumps(a, sort_keys=True, default=repr))
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            subs = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
            detail = ", ".join(f"{k}: {a.get(k)!r} (cached {b.get(k)!r})" for k in subs[:4])
            out.append(f"{part} ({detail})")
        else:
            out.append(part)
    return out


def atomic_write(path: str, data: bytes) -> bool:
    """Write ``data`` to ``path`` through a temporary file (mode 0600) and a rename, so readers
    see either the old file or the whole new one; the directory is created private and must be
    trusted. Failure is a warning (a cache is an optimization); returns whether it was written."""
    directory = os.path.dirname(path)
    why = ensure_private_dir(directory)
    if why:
        _warn_once("write:" + directory, f"not writing {path}: {directory} {why}")
        return False
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
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
        return False
    return True
