"""Atomics of the interpreter engine, with exact sequential semantics.

Sequential semantics: lanes update memory in order within a program, programs in launch
order; each lane gets the value memory held just before its own update.

In a vectorized batch an atomic call updates for all its programs at once, in that same
order (rows = programs, then lanes), which equals the one-program-at-a-time result as long
as no program could observe the interleaving.  So each buffer may take one atomic call per
batch and no plain load/store in it; anything else raises ``GridDivergence`` and the batch
reruns one program at a time.  Lanes repeating an address are resolved in order: integer
add, xor and xchg by segmented prefix computations, the other operations lane by lane.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .engine_base import align
from .engine_memory import MemoryMixin
from .itypes import F32, IType
from .memory import Buffer
from .numerics import cast_array
from .tile import GridDivergence, Tile

__all__ = ["AtomicMixin"]

_INT_ONLY = ("atomic_and", "atomic_or", "atomic_xor")


def _combine(
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    mem: np.ndarray,
    val: np.ndarray,
    cmp: np.ndarray | None,
    elem: IType,
) -> np.ndarray:
    """New memory values from the old ones (``cmp``: compare-and-swap)."""
    if cmp is not None:
        if elem.is_float:  # cmpxchg compares bits
            uint = {2: np.uint16, 4: np.uint32, 8: np.uint64}[elem.np.itemsize]
            same = mem.view(uint) == cmp.view(uint)
        else:
            same = mem == cmp
        return np.where(same, val, mem)
    if elem.is_float and elem.bits < 32:
        return cast_array(fn(mem.astype(np.float32), val.astype(np.float32)), F32, elem)
    return fn(mem, val).astype(elem.np)


def _float_bits_extremum(big: bool) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Triton's float atomic max/min, which the compiled kernel runs: on the bit patterns, a
    signed integer max (min) where the operand's sign bit is clear, an unsigned min (max) where
    it is set. So a NaN operand with the sign bit clear wins an atomic_max and loses an
    atomic_min, and a NaN in memory is kept or replaced by the same rule. Integers: NumPy's."""

    def fn(mem: np.ndarray, val: np.ndarray) -> np.ndarray:
        if mem.dtype.kind != "f":
            return np.maximum(mem, val) if big else np.minimum(mem, val)
        sint, uint = {4: (np.int32, np.uint32), 8: (np.int64, np.uint64)}[mem.dtype.itemsize]
        mem, val = np.broadcast_arrays(mem, val.astype(mem.dtype))
        si_m, si_v, ui_m, ui_v = mem.view(sint), val.view(sint), mem.view(uint), val.view(uint)
        if big:
            take = np.where(si_v >= 0, si_v > si_m, ui_v < ui_m)
        else:
            take = np.where(si_v >= 0, si_v < si_m, ui_v > ui_m)
        return np.where(take, val, mem)

    return fn


_ATOMIC_MAX, _ATOMIC_MIN = _float_bits_extremum(True), _float_bits_extremum(False)


def _segmented(name: str, view: np.ndarray, sel: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """Old values for integer add/xor and xchg when lanes repeat addresses (in lane order)."""
    order = np.argsort(sel, kind="stable")
    s, v = sel[order], vals[order]
    new = np.concatenate(([True], s[1:] != s[:-1]))
    starts = np.flatnonzero(new)
    gid = np.cumsum(new) - 1
    ends = np.concatenate((starts[1:], [len(s)])) - 1
    mem0 = view[s[starts]]
    if name == "atomic_xchg":
        prev = np.concatenate(([v[0]], v[:-1]))
        before = np.where(new, mem0[gid], prev)
        final = v[ends]
    else:
        acc = np.add.accumulate if name == "atomic_add" else np.bitwise_xor.accumulate
        undo = np.subtract if name == "atomic_add" else np.bitwise_xor
        op = np.add if name == "atomic_add" else np.bitwise_xor
        inc = acc(v, dtype=view.dtype)
        exc = undo(inc, v)  # what the lanes before this one contributed, from the start
        base = exc[starts]
        before = op(mem0[gid], undo(exc, base[gid]))
        final = op(mem0, undo(inc[ends], base))
    out = np.empty_like(before)
    out[order] = before
    view[s[starts]] = final
    return out


class AtomicMixin(MemoryMixin):
    """atomic_add/max/min/and/or/xor/xchg/cas (see :mod:`tritium.language.engine_protocol`)."""

    def _claim_atomic(self, buf: Buffer | None) -> None:
        if self.regrouped:  # groups of programs run out of launch order: not for atomics
            raise GridDivergence("atomic while programs run out of order")
        if self.G <= 1 or buf is None:
            return
        span = (buf.lo, buf.hi)
        for lo, hi in self.plain_spans | self.atomic_spans:
            if lo < span[1] and span[0] < hi:
                raise GridDivergence("atomic on memory this batch already accessed")
        self.atomic_spans.add(span)

    def _rmw(
        self,
        name: str,
        pointer: Any,
        val: Any,
        mask: Any,
        fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
        cmp: Any = None,
        sem: str = "acq_rel",
    ) -> Tile:
        p = self._pointer(pointer, name)
        assert p.ty.elem is not None
        elem = p.ty.elem
        if name in _INT_ONLY and not elem.is_int:
            raise TypeError(f"tl.{name} needs an integer pointer, got {p.ty.name}")
        arrays = [p.a, self.to_tile(val, elem).a]
        if cmp is not None:
            arrays.append(self.to_tile(cmp, elem).a)
        if mask is not None:
            arrays.append(self.bool_array(mask))
        rank = max(a.ndim for a in arrays) - 1
        arrays = [align(a, rank) for a in arrays]
        g = max(self.G, *(a.shape[0] for a in arrays))  # every program updates, even if
        shape = (g,) + np.broadcast_shapes(*(a.shape[1:] for a in arrays))  # uniform
        arrays = [np.broadcast_to(a, shape) for a in arrays]
        addr, v = arrays[0], arrays[1]
        c = arrays[2] if cmp is not None else None
        m = arrays[-1] if mask is not None else None
        if self.sanitize:
            self._check_ovf(p, m, addr.shape, name)
        old = np.zeros(addr.shape, elem.np)
        groups = self._groups(p, addr, m)
        for buf, _ in groups:
            self._claim_atomic(buf)
        for buf, gm in groups:
            if gm is not None and not gm.any():
                continue
            view, idx = self._indices(buf, addr, gm, elem, name)
            if buf is not None and buf.readonly:
                raise ValueError(f"{name} at {self.location()} updates read-only memory")
            act = np.ones(addr.shape, bool) if gm is None else gm
            sel, vals = idx[act], v[act]
            cv = c[act] if c is not None else None
            if self.undo is not None:
                self.undo.append((view, sel, view[sel].copy()))
            before = self._apply(name, fn, view, sel, vals, cv, elem)
            old[act] = before
            self.watch_spin(name, sel.tobytes() + vals.tobytes(), before, view[sel])
            # the race log: another program's plain store to these addresses is a race, and so
            # is its plain load when an update changed memory (found and left bits are logged)
            if self.access_log is not None:
                found, left = np.zeros(addr.shape, view.dtype), np.zeros(addr.shape, view.dtype)
                found[act], left[act] = before, view[sel]
                self._log(True, buf, addr, gm, elem.itemsize, left, found, atomic=True)
        # after this atomic, the program's plain accesses may be ordered by it (a lock)
        if self.access_log is not None and sem != "relaxed":
            self.synced_pids.update(int(x) for x in self.lane_programs(g))
        return Tile(old, elem)

    @staticmethod
    def _apply(
        name: str,
        fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
        view: np.ndarray,
        sel: np.ndarray,
        vals: np.ndarray,
        cv: np.ndarray | None,
        elem: IType,
    ) -> np.ndarray:
        if len(np.unique(sel)) == len(sel):  # no lane repeats an address: one shot
            before = view[sel].copy()
            view[sel] = _combine(fn, before, vals, cv, elem)
            return before
        if cv is None and (
            name == "atomic_xchg"
            or (name in ("atomic_add", "atomic_xor") and elem.kind in ("int", "uint"))
        ):
            return _segmented(name, view, sel, vals)
        before = np.empty(len(sel), view.dtype)
        for i, j in enumerate(sel):
            before[i] = view[j]
            view[j] = _combine(
                fn, view[j : j + 1], vals[i : i + 1], None if cv is None else cv[i : i + 1], elem
            )[0]
        return before

    def atomic_add(self, pointer: Any, val: Any, mask: Any, sem: str, scope: str) -> Tile:
        return self._rmw("atomic_add", pointer, val, mask, np.add, sem=sem)

    def atomic_max(self, pointer: Any, val: Any, mask: Any, sem: str, scope: str) -> Tile:
        return self._rmw("atomic_max", pointer, val, mask, _ATOMIC_MAX, sem=sem)

    def atomic_min(self, pointer: Any, val: Any, mask: Any, sem: str, scope: str) -> Tile:
        return self._rmw("atomic_min", pointer, val, mask, _ATOMIC_MIN, sem=sem)

    def atomic_and(self, pointer: Any, val: Any, mask: Any, sem: str, scope: str) -> Tile:
        return self._rmw("atomic_and", pointer, val, mask, np.bitwise_and, sem=sem)

    def atomic_or(self, pointer: Any, val: Any, mask: Any, sem: str, scope: str) -> Tile:
        return self._rmw("atomic_or", pointer, val, mask, np.bitwise_or, sem=sem)

    def atomic_xor(self, pointer: Any, val: Any, mask: Any, sem: str, scope: str) -> Tile:
        return self._rmw("atomic_xor", pointer, val, mask, np.bitwise_xor, sem=sem)

    def atomic_xchg(self, pointer: Any, val: Any, mask: Any, sem: str, scope: str) -> Tile:
        return self._rmw("atomic_xchg", pointer, val, mask, lambda old, new: new, sem=sem)

    def atomic_cas(self, pointer: Any, cmp: Any, val: Any, sem: str, scope: str) -> Tile:
        return self._rmw("atomic_cas", pointer, val, None, lambda old, new: new, cmp=cmp, sem=sem)
