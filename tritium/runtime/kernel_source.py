"""What a kernel's cache key is made of: its source and the global values its code folds in.

:func:`dependencies_key` walks the kernel's AST for the ``@jit`` functions it calls, the plain
Python helpers it traces and the globals it reads (Triton's ``used_global_vals``);
:func:`_function_source` reads the source cheaply (no tokenizer) for a new process's first
launch of a cached kernel (issue 13). Split from ``jit.py``, which re-exports these names.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import sys
import textwrap
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tritium.code_lines import source_lines as _source_lines

if TYPE_CHECKING:
    from tritium.runtime.jit import JITFunction

__all__ = ["UsedGlobal", "dependencies_key", "global_changes"]


def _function_source(fn: Callable[..., Any]) -> str:
    """The source of ``fn`` from its ``def`` line (decorators dropped), dedented."""
    try:
        text = _source_lines(fn)
        src = textwrap.dedent(text if text is not None else inspect.getsource(fn))
    except (OSError, TypeError):
        # A function made by exec() has no source: the interpreter runs it all the same, and
        # compiling it reports the missing source (frontend.source.SourceInfo).
        return ""
    start = src.find("def ")
    return src[start:] if start >= 0 else src


def _lookup(fn: Callable[..., Any], chain: str) -> tuple[dict[str, Any], str] | None:
    """(namespace dict, key) where a name or a module attribute chain (``cfg.BLOCK``) in ``fn``'s
    body is looked up (the function's globals, or a module's ``__dict__``), or None (a closure
    cell, a local, an attribute of something that is not a module)."""
    base, dot, attr = chain.rpartition(".")
    if not dot:
        code = fn.__code__
        if chain in code.co_varnames or (fn.__closure__ and chain in code.co_freevars):
            return None  # a parameter or local (shadowing any global of that name), or a cell
        return fn.__globals__, chain
    owner = _resolve(fn, base)
    # Only walk through modules: getattr on arbitrary objects could run user code.
    if isinstance(owner, types.ModuleType):
        return vars(owner), attr
    return None


def _resolve(fn: Callable[..., Any], chain: str) -> Any:
    """The object a name or a module attribute chain in ``fn``'s body refers to, or None."""
    if "." not in chain:
        code = fn.__code__
        if fn.__closure__ and chain in code.co_freevars:
            try:
                return fn.__closure__[code.co_freevars.index(chain)].cell_contents
            except ValueError:  # an empty cell
                return None
    where = _lookup(fn, chain)
    return where[0].get(where[1]) if where is not None else None


def _dotted(node: ast.expr) -> str | None:
    """``a`` or ``a.b.c`` for a name or an attribute chain on a name, else None."""
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None  # `f().x`, `t[0].x`: never a global the code folds in
    return ".".join([node.id, *reversed(attrs)])


def _walk_chains(src: str) -> list[str]:
    """Every name and attribute chain in ``src``, in ``ast.walk`` order, repeats included."""
    chains = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.Name, ast.Attribute)):
            chain = _dotted(node)
            if chain is not None:
                chains.append(chain)
    return chains


_chains_memo: dict[str, list[str]] = {}


def source_chains(src: str) -> list[str]:
    """:func:`_walk_chains` of ``src``, kept in the disk cache (an authenticated entry keyed by
    the source's hash): a new process launching cached kernels then parses no kernel source
    (a tutorial matmul's walk is a few ms; issue 13, first launch)."""
    chains = _chains_memo.get(src)
    if chains is not None:
        return chains
    h = hashlib.sha256(f"tritium source names v1 {sys.version_info[:2]}\0".encode())
    h.update(src.encode())
    key = h.hexdigest()
    try:
        from tritium.compiler.cache import CacheEntry, DiskCache

        cache = DiskCache()
        entry = cache.load(key)
    except Exception:  # noqa: BLE001 - a cache is an optimization: walk the AST instead
        cache, entry = None, None
    if entry is not None and entry.name == "tritium-source-names":
        text = entry.binary.decode()
        chains = text.split("\n") if text else []
    else:
        chains = _walk_chains(src)
        if cache is not None:
            try:
                data = "\n".join(chains).encode()
                cache.store(key, CacheEntry("tritium-source-names", {}, data, {}))
            except Exception:  # noqa: BLE001 - not fatal: the next process walks again
                pass
    _chains_memo[src] = chains
    return chains


_SIMPLE = (bool, int, float, str, bytes, type(None))


def _value_text(obj: Any) -> str | None:
    """A global's value as key text, for values the frontend folds into the code: Python and
    NumPy scalars, and tuples of them; None for anything else (modules, functions, arrays)."""
    if isinstance(obj, _SIMPLE):
        return f"{type(obj).__name__}:{obj!r}"
    if type(obj).__module__ == "numpy" and getattr(obj, "shape", None) == ():
        return f"numpy.{obj.dtype}:{obj.item()!r}"  # a NumPy scalar
    if isinstance(obj, tuple):
        parts = [_value_text(v) for v in obj]
        if all(p is not None for p in parts):
            return f"tuple({', '.join(parts)})"  # type: ignore[arg-type]
    return None


#: ``(namespace, name, value)`` of one global a kernel's code was compiled with.
UsedGlobal = tuple[dict[str, Any], str, Any]


def dependencies_key(
    jit_fn: JITFunction, seen: set[int] | None = None, used: list[UsedGlobal] | None = None
) -> list[str]:
    """Source texts and global values that a kernel's compiled code depends on (Triton's
        ``used_global_vals``).

        Found by walking the kernel's AST (or, in a later process, the names the walk found, from
    the disk cache: :func:`source_chains`): every name that resolves to a ``@jit`` function adds
        that function's own dependencies (once), a plain Python function its source and, in turn,
        the globals it reads; a name or module attribute (``cfg.BLOCK``) bound to a
        ``tl.constexpr``, a Python or NumPy scalar or a tuple of them adds its value, because the
        frontend folds such globals into the code. Each such value is also appended to ``used`` so
        that a later change can be detected.
    """
    seen = set() if seen is None else seen
    used = [] if used is None else used
    seen.add(id(jit_fn))
    parts = [jit_fn.src]
    parts.extend(_globals_of(jit_fn.fn, jit_fn.src, seen, used))
    return parts


def _globals_of(
    fn: Callable[..., Any], src: str, seen: set[int], used: list[UsedGlobal]
) -> list[str]:
    parts: list[str] = []
    for node in source_chains(src):
        obj = _resolve(fn, node)
        inner = getattr(obj, "fn", None) if not getattr(obj, "is_jit_function", False) else obj
        if getattr(inner, "is_jit_function", False):  # a JITFunction, or one wrapped by a tuner
            if id(inner) not in seen:
                parts.append(f"# {node}")
                parts.extend(dependencies_key(inner, seen, used))
            continue
        if isinstance(obj, types.FunctionType) and not obj.__module__.startswith("tritium"):
            # A plain Python helper (a combine_fn, say) is traced into the kernel too.
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            try:
                helper = textwrap.dedent(inspect.getsource(obj))
            except (OSError, TypeError):
                parts.append(f"# {node}: {obj.__qualname__} (no source)")
                continue
            parts.append(f"# {node}\n{helper}")
            parts.extend(_globals_of(obj, helper, seen, used))
            continue
        if type(obj).__name__ == "constexpr" and hasattr(obj, "value"):
            text = f"constexpr({obj.value!r})"
        else:
            text = _value_text(obj)
        where = _lookup(fn, node)
        if text is None or where is None or where[1] not in where[0]:
            continue  # not a global value (a builtin such as range, a local, a module...)
        parts.append(f"{node} = {text}")
        used.append((where[0], where[1], obj))
    return parts


def global_changes(used: list[UsedGlobal]) -> str | None:
    """The first recorded global whose value changed, described; None if none did."""
    missing = object()
    for namespace, name, value in used:
        now = namespace.get(name, missing)
        if now is value:
            continue
        try:
            same = type(now) is type(value) and bool(now == value)
        except Exception:  # noqa: BLE001 - an odd __eq__: treat as changed
            same = False
        if not same:
            shown = "<deleted>" if now is missing else repr(now)
            return f"{name} changed from {value!r} to {shown}"
    return None
