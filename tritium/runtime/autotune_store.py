"""Where autotuning choices outlive a process: the disk cache and pinned-results files.

Two stores, one format of a config (its :meth:`Config.__dict__` without the ``pre_hook``):

- **the disk cache** (``@autotune(cache_results=True)`` or ``TRITON_CACHE_AUTOTUNING=1``, as in
  Triton): one JSON file per kernel source, tuning key, target and list of benchmarked configs,
  under ``<cache dir>/autotune/``, holding every config's timings. Like Triton, it is skipped
  when a config has a ``pre_hook`` (a function cannot be saved) or the key is empty.
- **pinned results** (tritium's own): a JSON file that ships with an application, written by
  :func:`save_autotune_results` after tuning on a representative machine, read back by
  :func:`load_autotune_results` or through ``TRITIUM_AUTOTUNE_FILE``. An entry names the kernel
  (``module.qualname``), the tuning key (each element as ``str``, as Triton writes keys) and
  the target (``null`` for any); a pinned launch never benchmarks.

File format::

    {"format": "tritium-autotune/1",
     "entries": [{"kernel": "pkg.mod.kernel", "key": ["1024", "torch.float32"],
                  "target": "cpu:x86_64:...", "config": {"kwargs": {"BLOCK": 64}, "num_warps": 4,
                  ...}, "timings": [0.12, 0.11, 0.13]}]}
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import weakref
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from tritium import knobs

if TYPE_CHECKING:
    from tritium.runtime.autotuner import Autotuner, Config

__all__ = ["save_autotune_results", "load_autotune_results", "clear_pinned_results"]

FORMAT = "tritium-autotune/1"

#: Every autotuner alive in this process, for :func:`save_autotune_results`.
TUNERS: weakref.WeakSet[Autotuner] = weakref.WeakSet()

_lock = threading.Lock()
# (kernel id, key strings) -> {target or None: config dict}
_pins: dict[tuple[str, tuple[str, ...]], dict[str | None, dict[str, Any]]] = {}
# Files named by TRITIUM_AUTOTUNE_FILE already read: path -> mtime when read.
_env_files: dict[str, float] = {}


def target_key() -> str:
    """The compilation target, as the compiled-kernel cache names it."""
    from tritium.runtime.driver import driver

    return str(driver.active.get_current_target().key())


def kernel_id(base_fn: Any) -> str:
    """``module.qualname`` of the Python function under the decorators."""
    return f"{getattr(base_fn, '__module__', '?')}.{getattr(base_fn, '__qualname__', base_fn)}"


def key_strings(tuning_key: Sequence[Any]) -> tuple[str, ...]:
    """A tuning key as JSON keeps it: each element as ``str`` (Triton's disk cache does too)."""
    return tuple(str(k) for k in tuning_key)


def config_to_dict(config: Config) -> dict[str, Any]:
    """A config's fields without its ``pre_hook`` (Triton's ``config.__dict__`` minus hooks)."""
    return {k: v for k, v in vars(config).items() if k != "pre_hook" and not k.startswith("_")}


def config_from_dict(doc: dict[str, Any], configs: Iterable[Config]) -> Config:
    """The config ``doc`` describes: the autotuner's own object when one has the same launch
    values (so its ``pre_hook`` comes along), else a new :class:`Config`."""
    from tritium.runtime.autotuner import Config

    if not isinstance(doc, dict) or not isinstance(doc.get("kwargs"), dict):
        raise ValueError(f"not a config: {doc!r}")
    new = Config(**doc)
    for c in configs:
        if c.all_kwargs() == new.all_kwargs():
            return c
    return new


# ----- the disk cache (Triton's cache_results) -------------------------------------------------


def disk_path(jit_fn: Any, tuning_key: Sequence[Any], configs: Sequence[Config]) -> str:
    """The file for one kernel source, key, target and list of benchmarked configs."""
    doc = [jit_fn.cache_key, target_key(), list(key_strings(tuning_key))]
    doc += [str(c) for c in configs]
    digest = hashlib.sha256(json.dumps(doc).encode()).hexdigest()
    return os.path.join(knobs.cache_dir(), "autotune", digest[:2], f"{digest}.json")


def load_disk(path: str, configs: Sequence[Config]) -> dict[Config, Any] | None:
    """The timings an earlier process measured, or None when missing or damaged."""
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
        timings = {config_from_dict(c, configs): t for c, t in doc["configs_timings"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return timings or None


def store_disk(path: str, tuning_key: Sequence[Any], timings: dict[Config, Any]) -> None:
    """Keep ``timings`` for later processes (written atomically; a failure is not an error)."""
    from tritium.compiler.cache import atomic_write

    doc = {
        "key": list(key_strings(tuning_key)),
        "configs_timings": [(config_to_dict(c), t) for c, t in timings.items() if not c.pre_hook],
    }
    try:
        atomic_write(path, json.dumps(doc).encode())
    except OSError:
        pass


# ----- pinned results --------------------------------------------------------------------------


def load_autotune_results(path: str) -> int:
    """Pin the choices in the JSON file ``path`` (see the module doc); returns how many entries.

    A later file overrides an earlier one for the same kernel, key and target. A malformed file
    raises ``ValueError`` naming it: a deployment should not silently fall back to tuning.
    """
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not an autotuning results file: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path}: not an autotuning results file (format {FORMAT!r} expected)")
    entries = doc.get("entries")
    if not isinstance(entries, list):
        raise ValueError(f"{path}: 'entries' must be a list")
    with _lock:
        for i, e in enumerate(entries):
            try:
                kernel, key, cfg = e["kernel"], e["key"], e["config"]
                target = e.get("target")
                if not isinstance(cfg, dict) or not isinstance(cfg.get("kwargs"), dict):
                    raise TypeError("config must be an object with 'kwargs'")
                slot = _pins.setdefault((str(kernel), tuple(str(k) for k in key)), {})
                slot[None if target is None else str(target)] = dict(cfg)
            except (KeyError, TypeError) as err:
                raise ValueError(f"{path}: entry {i} is malformed: {err}") from None
    return len(entries)


def clear_pinned_results() -> None:
    """Forget every pinned choice (those loaded from files and through the environment)."""
    with _lock:
        _pins.clear()
        _env_files.clear()


def _load_env_files() -> None:
    """Read (again, when changed) the files that ``TRITIUM_AUTOTUNE_FILE`` names."""
    for path in knobs.autotune_files():
        try:
            mtime = os.stat(path).st_mtime
        except OSError as e:
            raise ValueError(f"TRITIUM_AUTOTUNE_FILE: cannot read {path}: {e}") from None
        if _env_files.get(path) != mtime:
            load_autotune_results(path)
            _env_files[path] = mtime


def pinned_config(base_fn: Any, tuning_key: Sequence[Any], configs: Sequence[Config]) -> Any:
    """The pinned config for this kernel and key on this target, or None."""
    if knobs.autotune_files():
        _load_env_files()
    if not _pins:
        return None
    slot = _pins.get((kernel_id(base_fn), key_strings(tuning_key)))
    if not slot:
        return None
    doc = slot.get(target_key(), slot.get(None))
    return None if doc is None else config_from_dict(doc, configs)


def save_autotune_results(path: str, kernels: Iterable[Any] | None = None) -> int:
    """Write the choices this process made (every autotuner, or those in ``kernels``) to
    ``path`` as a pinned-results file, for this target; returns how many entries.

    Configs with a ``pre_hook`` are written too (by their launch values): on load they match the
    autotuner's own config, hook included.
    """
    tuners = list(TUNERS) if kernels is None else list(kernels)
    target = target_key()
    entries = []
    for t in tuners:
        for key, config in list(t.cache.items()):
            entry = {
                "kernel": kernel_id(t.base_fn),
                "key": list(key_strings(key)),
                "target": target,
                "config": config_to_dict(config),
            }
            timing = t.timings_by_key.get(key, {}).get(config)
            if timing is not None:
                entry["timings"] = timing
            entries.append(entry)
    entries.sort(key=lambda e: (e["kernel"], e["key"]))
    text = json.dumps({"format": FORMAT, "entries": entries}, indent=1, default=str)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.replace(tmp, path)
    return len(entries)
