"""The runtime side of the compiled bounds check (``sanitize=True`` on a compiled kernel).

A kernel compiled with the option ``sanitize`` has two extra ``i64`` parameters per pointer
parameter, appended after all the others: the valid byte range ``[lo, hi)`` of the memory the
pointer's argument owns (see :mod:`tritium.passes.bounds_check`). This module

* decides whether a launch is sanitized (:func:`sanitize_requested`: the launch keyword
  ``sanitize=True``, ``debug=True``, ``@jit(debug=True)`` or ``TRITIUM_SANITIZE=1``; an explicit
  ``sanitize=False`` wins);
* runs the pass from the compiler with the parameters' names (:func:`add_bounds_checks`);
* gives ``JITFunction._compile`` the entry of a sanitized launch (:func:`sanitized_entry`): the
  kernel compiled with ``sanitize`` (cached under its own key), and a launch function that
  passes the launch values followed by each pointer argument's memory span
  (:func:`memory_span`: lowest to highest element address + itemsize, honouring strides,
  negative ones included).

A sanitized launch takes this slower path (it looks at the arrays on every launch to find their
spans); an ordinary launch does not pay for it.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from tritium import knobs
from tritium.runtime.args import CONST, NONE, Expanded, arg_key, array_pointer

if TYPE_CHECKING:
    from tritium.ir import Module
    from tritium.runtime.jit import JITFunction

__all__ = [
    "add_bounds_checks",
    "argument_spans",
    "stored_parameters",
    "flat_parameters",
    "memory_span",
    "sanitized_entry",
    "sanitize_env",
    "sanitize_requested",
    "unwritable_memory",
]

#: The span passed for a pointer whose argument has no known memory: nothing is out of bounds.
UNCHECKED = (0, -1)  # hi is 2**64 - 1 as the unsigned compare in the kernel sees it

#: The last element of the key a sanitized kernel is cached under in ``JITFunction.cache``.
SANITIZED_KEY = "bounds-checked"
_ENV_BYTES = os.environ._data if os.name == "posix" else None  # type: ignore[attr-defined]
_DESC_BLOCK = re.compile(r"\[([0-9, ]*)\]")


def sanitize_env() -> bool:
    """``TRITIUM_SANITIZE`` is set, checked without parsing the environment when it is not."""
    if (
        _ENV_BYTES is not None
        and b"TRITIUM_SANITIZE" not in _ENV_BYTES
        and b"TRITON_DEBUG" not in _ENV_BYTES
    ):
        return False
    return knobs.sanitize()


def sanitize_requested(jit_fn: JITFunction, options: Mapping[str, Any]) -> bool:
    """Whether a compiled launch of ``jit_fn`` with these launch options checks its bounds
    (``sanitize=False`` given at the launch wins over everything else)."""
    explicit = options.get("sanitize") if options else None
    if explicit is not None:
        return bool(explicit)
    return bool(jit_fn.debug or (options and options.get("debug")) or sanitize_env())


def flat_parameters(signature: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(name, is pointer) of each ``tt.func`` parameter a signature gives, in order.

    Tuples contribute their run-time elements (``T[0]``, ``T[1][0]``); a tensor descriptor its
    base pointer, sizes and strides (contracts.md, FRONTEND).
    """
    out: list[tuple[str, bool]] = []

    def add(name: str, ty: Any) -> None:
        if isinstance(ty, tuple):
            for i, t in enumerate(ty):
                add(f"{name}[{i}]", t)
        elif ty == "constexpr" or ty == "none":
            return
        elif ty.startswith("tensordesc"):
            m = _DESC_BLOCK.search(ty)
            rank = len([d for d in m.group(1).split(",") if d.strip()]) if m else 0
            out.append((f"{name}.base", True))
            out.extend((f"{name}.shape[{i}]", False) for i in range(rank))
            out.extend((f"{name}.strides[{i}]", False) for i in range(rank))
        else:
            out.append((name, ty.startswith("*")))

    for name, ty in signature.items():
        add(name, ty)
    return out


_STORING_OPS = ("tt.store", "tt.atomic_rmw", "tt.atomic_cas")


def stored_parameters(module: Any, signature: Mapping[str, Any]) -> list[str] | None:
    """Names (as :func:`flat_parameters` gives them) of the pointer parameters that the kernel
    may store through: those a ``tt.store`` or an atomic's address is computed from, followed
    through every operand (loop-carried values through their loop's operands), so the answer
    errs on the side of "stored". None for anything that is not Tile IR."""
    from tritium.ir import Block, Module, Operation

    if not isinstance(module, Module):
        return None
    names = [name for name, _ in flat_parameters(signature)]
    funcs = [f for f in module.functions if f.attrs.get("visibility") == "public"]
    if len(funcs) != 1:
        return None
    params = funcs[0].regions[0].block.args
    found: set[int] = set()
    seen: set[int] = set()
    work = [op.operands[0] for op in module.walk() if op.name in _STORING_OPS and op.operands]
    while work:  # an explicit stack: no recursion proportional to the kernel's size
        v = work.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        owner = v.owner
        if isinstance(owner, Operation):
            work.extend(owner.operands)
        elif isinstance(owner, Block):
            if owner is funcs[0].regions[0].block:
                found.add(v.index)
                continue
            parent = owner.parent_op()
            if parent is not None:  # a region argument: whatever flows into that region
                work.extend(parent.operands)
                for region in parent.regions:
                    for block in region.blocks:
                        term = block.terminator
                        if term is not None:
                            work.extend(term.operands)
    if len(names) != len(params):
        return None
    return [names[i] for i in sorted(found)]


def add_bounds_checks(module: Module, signature: Mapping[str, Any]) -> Module:
    """Run the ``bounds-check`` pass on ``module``, naming parameters as ``signature`` does.

    Anything that is not Tile IR (the stand-in stages of the runtime's tests) is returned as is.
    """
    from tritium.ir import Module
    from tritium.passes import run_passes
    from tritium.passes.bounds_check import BoundsCheck

    if not isinstance(module, Module):
        return module

    names = " ".join(name for name, _ in flat_parameters(signature))
    return run_passes(module, [BoundsCheck(arg_names=names)])


def memory_span(obj: Any) -> tuple[int, int] | None:
    """``(lo, hi)``: the bytes an array-like argument owns, or None if ``obj`` is not one.

    Understands NumPy arrays, torch tensors, ``reinterpret`` wrappers, objects with
    ``__array_interface__`` and DLPack producers.
    """
    if isinstance(obj, np.ndarray):
        return _span(array_pointer(obj), obj.shape, obj.strides, obj.itemsize)
    base = getattr(obj, "base", None)
    if base is not None and hasattr(obj, "data_ptr") and hasattr(obj, "dtype"):
        return memory_span(base)  # a TensorWrapper: same memory, another element type
    if hasattr(obj, "data_ptr") and hasattr(obj, "stride") and hasattr(obj, "element_size"):
        isz = int(obj.element_size())
        strides = tuple(int(s) * isz for s in obj.stride())
        return _span(int(obj.data_ptr()), tuple(obj.shape), strides, isz)
    if hasattr(obj, "__array_interface__"):
        return memory_span(np.asarray(obj))
    if hasattr(obj, "__dlpack__"):
        from tritium.dlpack import numpy_view

        return memory_span(numpy_view(obj))
    return None


def _span(ptr: int, shape: tuple[int, ...], strides: tuple[int, ...], isz: int) -> tuple[int, int]:
    if any(n == 0 for n in shape):
        return ptr, ptr  # no element: every access is out of bounds
    lo = sum(min(0, (n - 1) * s) for n, s in zip(shape, strides))
    hi = sum(max(0, (n - 1) * s) for n, s in zip(shape, strides)) + isz
    return ptr + lo, ptr + hi


def _owners(value: Any, spec: int) -> list[Any]:
    """The object behind each launch value of one argument (None for scalars)."""
    _, lv = arg_key("?", value, spec)
    if lv is CONST:
        return []
    if type(lv) is not Expanded:
        return [value]
    if isinstance(value, tuple):
        return [o for v in value for o in _owners(v, NONE)]
    return [getattr(value, "base", None)] + [None] * (len(lv) - 1)  # a tensor descriptor


def argument_spans(signature: Mapping[str, Any], args: list[tuple[Any, int]]) -> list[int]:
    """``lo, hi`` of each pointer parameter, in order, for the run-time arguments ``args``
    (each with its specialization level, which decides whether an int is a parameter)."""
    owners = [o for value, spec in args for o in _owners(value, spec)]
    params = flat_parameters(signature)
    if len(params) != len(owners):
        raise RuntimeError(
            f"bounds check: {len(owners)} launch values for {len(params)} parameters"
        )
    spans: list[int] = []
    for (_, is_ptr), owner in zip(params, owners):
        if is_ptr:
            spans.extend(memory_span(owner) or UNCHECKED)
    return spans


def sanitized_entry(
    jit_fn: JITFunction, key: tuple[Any, ...], values: tuple[Any, ...], options: Mapping[str, Any]
) -> tuple[Callable[..., None], Any]:
    """``(launch, compiled kernel)`` for a sanitized launch of ``jit_fn`` with ``values``.

    Called by ``JITFunction._compile`` on every sanitized launch (such entries are never stored
    under the warm path's key, so the warm path always comes back here with the arguments).
    ``launch(grid, args)`` appends each pointer argument's span to the usual launch values.
    """
    cache_key = (*key[:3], SANITIZED_KEY)
    entry = jit_fn.cache.get(cache_key)
    if entry is None:
        entry = jit_fn._compile(cache_key, values, {**options, "sanitize": True})
    spans = argument_spans(
        entry[1].src.signature, [(values[i], spec) for i, _, spec in jit_fn._runtime_params]
    )
    raw = entry[0]

    def launch(grid: tuple[int, int, int], args: list[Any]) -> None:
        raw(grid, [*args, *spans])

    return launch, entry[1]


#: Writable address ranges of the process, merged and sorted, as last read from
#: /proc/self/maps: most lookups fall in one (the heap, an arena) and need no new read.
_writable: tuple[list[int], list[int]] = ([], [])


def _in_writable(lo: int, hi: int) -> bool:
    starts, ends = _writable
    i = bisect.bisect_right(starts, lo) - 1
    return i >= 0 and hi <= ends[i]


def unwritable_memory(ptr: int, nbytes: int) -> bool:
    """Whether some byte of ``[ptr, ptr + nbytes)`` lies in a mapping the process may not
    write (a ``PROT_READ`` map) or in no mapping, from ``/proc/self/maps`` (Linux; elsewhere
    False). Asked only for memory torch did not allocate; the maps are read again only when
    the range is not inside a writable range seen last time."""
    global _writable
    lo, hi = ptr, ptr + max(nbytes, 1)
    if _in_writable(lo, hi):
        return False
    try:
        with open("/proc/self/maps", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    starts: list[int] = []
    ends: list[int] = []
    for line in lines:
        fields = line.split(None, 2)
        if len(fields) < 2 or b"w" not in fields[1]:
            continue
        start, end = (int(x, 16) for x in fields[0].split(b"-"))
        if ends and start <= ends[-1]:  # adjacent writable maps: one range
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    _writable = (starts, ends)
    return not _in_writable(lo, hi)
