"""Guarded warm launches: the last specialization a kernel ran, checked natively.

A warm launch through the generic path (:mod:`.fastpath`) computes a key for every argument
in Python, which costs about a microsecond per array. Most programs launch a kernel again
and again with arguments of the same kinds, so after a launch the JIT records a *guard* for
the specialization it used: for each runtime argument, what the native launch entry
(:mod:`tritium.backends.cpu.pycall`) must check on the next call's own argument for that
call to have the same key (an ``ndarray`` of the same dtype object, writable, C-contiguous
and aligned as before; an ``int`` of the same Triton type and hint; a ``float``...). The next
launch then passes the user's arguments straight to the native entry, which checks them,
converts them and launches; when any check fails it launches nothing and returns 1, and the
generic path runs as before (computing the key, compiling if needed, raising on bad input).

The guard also holds the constexpr values and launch options of the specialization, compared
in Python, and is dropped whenever the kernel's cache changes (:class:`KernelCache`).

A guard is made only for argument types it can check natively (NumPy arrays, Python ints,
floats, bools and None) and for CPU torch tensors, on CPython, for CPU kernels in the plain
compiled mode; kernels launched with NumPy scalars, tuples or descriptors use the generic path.

torch's tensor layout is C++ and changes between releases, so a tensor is not read natively:
the guard holds a small function generated for the specialization (:func:`_torch_prep`) that
checks each tensor argument in Python as the generic key would see it (exactly a
``torch.Tensor``, the same dtype object, on the CPU, a non-NULL data pointer aligned as before,
no stride 0, memory that torch allocated or that is writable) and hands the native entry its
data pointer as an integer; when a check fails the generic path runs. That is about half the
cost of the generic path's key.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.signature import DIV16, FULL, ONE

__all__ = ["KernelCache", "Guard", "note_launch"]

#: ``(handle address, compiled kernel, constexpr values and types, options, CPU kernel,
#: handle object and what it refers to, None or the function that checks and converts torch
#: tensors)``: what the generated launch reads, by index.
Guard = tuple[int, Any, tuple[Any, ...], dict[str, Any], Any, Any, Any]


class KernelCache(dict):  # type: ignore[type-arg]
    """``JITFunction.cache``: a dict of compiled kernels that forgets the guards made from its
    entries whenever an entry is replaced or removed, so a guard never launches a kernel the
    cache no longer holds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: the guard the next launch tries first, or None
        self.guard: Guard | None = None
        #: (cache key, argument types) -> its guard (None: these arguments cannot be guarded)
        self.guards: dict[Any, Guard | None] = {}

    def _forget(self) -> None:
        self.guard = None
        self.guards.clear()

    def __setitem__(self, key: Any, value: Any) -> None:
        self._forget()
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self._forget()
        super().__delitem__(key)

    def clear(self) -> None:
        """Remove every entry (and every guard)."""
        self._forget()
        super().clear()

    def pop(self, *args: Any) -> Any:
        """``dict.pop``, forgetting the guards."""
        self._forget()
        return super().pop(*args)

    def popitem(self) -> Any:
        """``dict.popitem``, forgetting the guards."""
        self._forget()
        return super().popitem()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """``dict.setdefault``, forgetting the guards."""
        self._forget()
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """``dict.update``, forgetting the guards."""
        self._forget()
        super().update(*args, **kwargs)

    def __ior__(self, other: Any) -> KernelCache:
        self._forget()
        return super().__ior__(other)  # type: ignore[no-any-return]

    def __reduce__(self) -> Any:
        return (KernelCache, (dict(self),))


def note_launch(
    jit_fn: Any, key: Any, values: tuple[Any, ...], options: dict[str, Any], entry: Any
) -> None:
    """After a launch in compiled mode: make (once per key) and install the guard of ``key``."""
    cache = jit_fn.cache
    if type(cache) is not KernelCache:
        return
    try:
        if cache.get(key) is not entry:
            return  # not the cached kernel of this key (a bounds-checked launch, say)
    except TypeError:
        return
    # NumPy arrays and torch tensors of one dtype give one key, but not one guard
    gkey = (key, tuple(map(type, values)))
    try:
        guard = cache.guards[gkey]
    except KeyError:
        guard = make_guard(jit_fn, key, values, options, entry)
        cache.guards[gkey] = guard
        if guard is not None:  # the launchers call the native entry directly from now on
            from tritium.backends.cpu.pycall import pycall

            run = jit_fn.__dict__.get("_tt_run")
            if hasattr(run, "_tt_bind"):  # the generated launcher's namespace
                run.__globals__["_tt_call"] = pycall()
    except TypeError:  # an unhashable key that was frozen: no guard
        return
    cache.guard = guard


_INT_TYPES = {"i32": 0, "i64": 4}


def make_guard(
    jit_fn: Any, key: Any, values: tuple[Any, ...], options: dict[str, Any], entry: Any
) -> Guard | None:
    """The guard for a launch of ``entry`` (key ``key``) with ``values``, or None when some
    argument (or the kernel) is not of a kind the native entry can check."""
    from tritium.backends.cpu import pycall as pc

    kernel = getattr(entry[0], "__self__", None)
    if pc.pycall() is None or not hasattr(kernel, "guard_handle") or key[3] != 0:
        return None
    records: list[tuple[int, int, int]] = []
    keep: list[Any] = []
    tensors: dict[int, tuple[Any, bool | None]] = {}  # position -> (dtype, aligned or None)
    torch_tensor = _torch_tensor_type()
    for j, ((i, _, spec), k) in enumerate(zip(jit_fn._runtime_params, key[0])):
        v = values[i]
        tv = type(v)
        if tv is torch_tensor:
            ty, hint = k
            if type(hint) is not bool or not v.is_cpu:
                return None  # read-only or overlapping memory, or not a CPU tensor
            tensors[j] = (v.dtype, hint if spec == FULL else None)
            records.append((pc.INT, 0, 0))  # its data pointer, checked by the prep function
        elif tv is np.ndarray:
            ty, hint = k
            if type(hint) is not bool or not pc.ndarray_guards_ok():
                return None  # read-only or overlapping memory, or an unknown NumPy layout
            flags = 0
            if spec == FULL:
                flags = pc.ALIGN_CHECKED | (pc.ALIGNED if hint else 0)
            keep.append(v.dtype)
            records.append((pc.G_NDARRAY, flags, id(v.dtype)))
        elif tv is int:
            ty, hint = k
            cls = _INT_TYPES.get(ty)
            if cls is None:
                return None
            cls += 2 if hint == ONE else 1 if hint == DIV16 else 0
            if pc.int_class(v, spec) != cls:
                return None
            records.append((pc.G_INT, spec, cls))
        elif tv is float:
            records.append((pc.G_FLOAT, 0, 0))
        elif tv is bool:
            records.append((pc.G_BOOL, 0, 0))
        elif v is None:
            records.append((pc.G_NONE, 0, 0))
        else:
            return None
    passed = [kind for kind, _, datum in records if _passed(kind, datum)]
    wanted = [pc.FLOAT if kind == pc.G_FLOAT else pc.INT for kind in passed]
    if wanted != kernel.slot_kinds:
        return None  # the kernel's parameters are not these words: never guess
    consts = tuple(x for pair in key[1] for x in pair)
    for c in consts:
        try:
            if type(c == c) is not bool:
                return None  # an array-like constexpr: == would not give one answer
        except Exception:  # noqa: BLE001 - an odd __eq__: no guard
            return None
    handle = kernel.guard_handle(records, id(np.ndarray))
    if handle is None:
        return None
    prep = _torch_prep(jit_fn, tensors) if tensors else None
    return (handle[0], entry[1], consts, dict(options), kernel, (handle[1], keep), prep)


def _torch_tensor_type() -> Any:
    """``torch.Tensor`` if torch is imported (a launch with tensors imported it), else None."""
    import sys

    torch = sys.modules.get("torch")
    return getattr(torch, "Tensor", None)


def _torch_prep(jit_fn: Any, tensors: dict[int, tuple[Any, bool | None]]) -> Any:
    """A function of the runtime arguments that returns them with each torch tensor (at the
    positions of ``tensors``) replaced by its data pointer, or None when a tensor is not as
    the specialization saw it: exactly a ``torch.Tensor``, of the recorded dtype object, on
    the CPU, non-NULL, aligned to 16 bytes as recorded (under full specialization), without
    a stride 0 across several elements, in memory torch allocated or that is writable
    (``_torch_tensor_key``'s checks, in its order of cost)."""
    from tritium.signature import unwritable_storage

    names = [f"a{j}" for j in range(len(jit_fn._runtime_params))]
    ns: dict[str, Any] = {"_T": _torch_tensor_type(), "_unwritable": unwritable_storage}
    lines = [f"def prep({', '.join(names)}):"]
    for j, (dtype, aligned) in tensors.items():
        a = names[j]
        ns[f"_dt{j}"] = dtype
        lines += [
            f"    if type({a}) is not _T or {a}.dtype is not _dt{j} or not {a}.is_cpu:",
            "        return None",
            f"    p{j} = {a}.data_ptr()",
            f"    if not p{j}{'' if aligned is None else f' or (p{j} & 15 == 0) != {aligned}'}:",
            "        return None",
            f"    if 0 in {a}.stride() and {a}.numel() > 1:",
            "        return None",
            f"    s{j} = {a}.untyped_storage()",
            f"    if not s{j}.resizable() and _unwritable(s{j}):",
            "        return None",
        ]
    values = [f"p{j}" if j in tensors else n for j, n in enumerate(names)]
    lines.append(f"    return ({', '.join(values)},)")
    source = "\n".join(lines) + "\n"
    name = f"<tritium torch guard of {jit_fn.fn.__name__}>"
    exec(compile(source, name, "exec"), ns)  # noqa: S102
    return ns["prep"]


def _passed(kind: int, datum: int) -> bool:
    """Whether an argument guarded as ``kind`` is one of the kernel's argument words."""
    from tritium.backends.cpu import pycall as pc

    if kind == pc.G_NONE:
        return False
    if kind == pc.G_INT:
        return datum % 4 != 2  # an int == 1 is compiled as a constant
    return True
