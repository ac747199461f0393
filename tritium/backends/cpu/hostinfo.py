"""What a new process learns about the host without importing llvmlite's binding (issue 13).

A launch of a cached kernel needs the host's LLVM CPU name and feature string (they are part of
every cache key), the addresses of C functions the object code calls, and keys for the runtime's
own cached objects. Asking LLVM for the first costs loading llvmlite's library (~60 ms); so the
answer is kept in the disk cache (an authenticated entry like any other), keyed by what it
depends on: the CPU as ``/proc/cpuinfo`` describes it (vendor, family, model, flags) and the
llvmlite build (its version file and the size and time of its library). A different CPU, a
feature the kernel turned off, or another llvmlite gives another key, and LLVM is asked again.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from tritium import knobs

__all__ = [
    "LazyModule",
    "cached_details",
    "cpu_signature",
    "dlsym",
    "last_level_cache_bytes",
    "streaming_threshold",
    "llvm_identity",
    "source_digest",
]


class LazyModule:
    """A module imported on first attribute access (``llvm.parse_assembly`` imports
    ``llvmlite.binding`` then), for modules that only compiling needs."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: Any = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)


_memo: dict[str, str] = {}


def llvm_identity() -> str:
    """Which LLVM generates code here: llvmlite's version file and the size and modification
    time of its shared library, read without importing it ('' if llvmlite is not found)."""
    if "llvm" in _memo:
        return _memo["llvm"]
    text = ""
    try:
        import importlib.util

        spec = importlib.util.find_spec("llvmlite")
        roots = list(spec.submodule_search_locations or ()) if spec else []
        if roots:
            root = roots[0]
            with open(os.path.join(root, "_version.py"), "rb") as f:
                h = hashlib.sha256(f.read())
            binding = os.path.join(root, "binding")
            for name in sorted(os.listdir(binding)):
                if name.startswith("libllvmlite") or name.startswith("llvmlite"):
                    st = os.stat(os.path.join(binding, name))
                    h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
            text = h.hexdigest()
    except (OSError, ImportError, ValueError):
        text = ""
    _memo["llvm"] = text
    return text


def cpu_signature() -> str:
    """The first processor's identity and feature flags from ``/proc/cpuinfo`` ('' where there
    is no such file): what LLVM's host CPU name and features are derived from."""
    if "cpu" in _memo:
        return _memo["cpu"]
    keys = ("vendor_id", "cpu family", "model", "model name", "stepping", "flags", "features")
    keys += ("cpu implementer", "cpu architecture", "cpu variant", "cpu part", "cpu revision")
    lines = []
    try:
        with open("/proc/cpuinfo", "rb") as f:
            block = f.read(1 << 16).decode(errors="replace").split("\n\n", 1)[0]
        for line in block.splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() in keys:
                lines.append(f"{key.strip().lower()}={value.strip()}")
    except OSError:
        lines = []
    text = "\n".join(lines) if any(x.startswith(("flags=", "features=")) for x in lines) else ""
    _memo["cpu"] = text
    return text


def source_digest(*modules: str) -> str:
    """SHA-256 of the source files of ``modules`` (dotted names; found without importing them):
    the key of a runtime object that these modules generate, so editing the generator changes
    the key."""
    import importlib.util

    h = hashlib.sha256()
    for name in modules:
        module = sys.modules.get(name)
        if module is not None:
            path = getattr(module, "__file__", None) or name
        else:
            spec = importlib.util.find_spec(name)
            path = (spec.origin if spec else None) or name
        try:
            with open(path, "rb") as f:
                h.update(f.read())
        except OSError:
            h.update(f"{name}: no source".encode())
        h.update(b"\0")
    return h.hexdigest()


#: (cpu, features, triple, data layout) of the host, as LLVM reports them
Details = tuple[str, str, str, str]


def cached_details(store: Any, ask_llvm: Callable[[], Details]) -> Details:
    """The host's details from ``store`` (the compiler's object store: ``load(key)`` /
    ``save(key, bytes)``, None for none) when an entry for this CPU and LLVM is there, else from
    ``ask_llvm()``, saved for the next process."""
    cpu, llvm = cpu_signature(), llvm_identity()
    if store is None or not cpu or not llvm:
        return ask_llvm()
    h = hashlib.sha256(b"tritium host details v1\0")
    h.update(f"{sys.platform}\0{cpu}\0{llvm}".encode())
    key = h.hexdigest()
    try:
        data = store.load(key)
        if isinstance(data, bytes) and data:
            doc = json.loads(data.decode())
            if isinstance(doc, list) and len(doc) == 4 and all(isinstance(x, str) for x in doc):
                return (doc[0], doc[1], doc[2], doc[3])
    except Exception:  # noqa: BLE001 - a cache is an optimization: ask LLVM instead
        pass
    details = ask_llvm()
    try:
        store.save(key, json.dumps(list(details)).encode())
    except Exception:  # noqa: BLE001 - not fatal: the next process asks LLVM again
        pass
    return details


_handles: list[Any] = []


def dlsym(name: str) -> int | None:
    """The address of C symbol ``name`` in the process (libc, libm and libpthread included),
    or None."""
    if not _handles:
        libc = ctypes.CDLL(None)
        libc.dlsym.restype = ctypes.c_void_p
        libc.dlsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        _handles.append(libc.dlsym)
        for soname in ("libm.so.6", "libc.so.6", "libpthread.so.0"):
            try:
                _handles.append(ctypes.CDLL(soname)._handle)
            except OSError:
                pass
    find = _handles[0]
    encoded = name.encode()
    address = find(None, encoded)
    for handle in _handles[1:]:
        if address:
            break
        address = find(handle, encoded)
    return address or None


_DEFAULT_LLC = 32 << 20


@functools.cache
def last_level_cache_bytes() -> int:
    """The size of the largest CPU cache Linux reports for CPU 0 (``sysfs``); 32 MiB when it
    does not say (other systems, containers hiding ``/sys``)."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    best = 0
    try:
        entries = os.listdir(base)
    except OSError:
        return _DEFAULT_LLC
    for entry in entries:
        try:
            with open(os.path.join(base, entry, "size")) as f:
                text = f.read().strip()
        except OSError:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
        digits = text.rstrip("KMGkmg")
        if digits.isdigit():
            best = max(best, int(digits) * scale)
    return best or _DEFAULT_LLC


def streaming_threshold() -> int | None:
    """The bytes a launch must store for an unhinted store to stream (``TRITIUM_STREAMING_STORES``:
    half the last-level cache by default), or None when unhinted stores never stream."""
    mode = knobs.streaming_stores()
    if mode == "auto":
        return max(1, last_level_cache_bytes() // 2)
    if mode in ("off", "0", "never", "false"):
        return None
    if mode.isdigit():
        return int(mode)
    raise ValueError(
        f"TRITIUM_STREAMING_STORES={mode!r}: expected 'auto', 'off' or a size in bytes"
    )
