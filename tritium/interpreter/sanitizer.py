"""Sanitizer support: where in the kernel an op was called, error messages, race detection.

Bounds are always checked (a bad access must never touch memory the kernel was not given);
``sanitize=True`` adds the int32-overflow taint on index arithmetic and the race log.

A race is two programs of one launch touching one address without atomics where at least
one of them writes, and the order matters: a write-write race is reported only when the
values written differ, a read-write race only when the value written differs from the value
read (a flag every program sets to the same value is not reported). An atomic and a plain
store of another program to one address are a race too (even a store that found the value it
writes: in another order it would erase an update), and so are an atomic that changes memory and
another program's plain load of that address (the value read depends on which came first). A
volatile load is not a plain access here: it is how a program waits on a flag.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tritium.errors import SanitizerError

__all__ = ["user_location", "AccessLog", "lane_text", "loop_text"]

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../tritium


def user_location() -> str:
    """``file:line (in function)`` of the innermost frame outside the tritium package."""
    f = sys._getframe(1)
    while f is not None:
        fname = f.f_code.co_filename
        if not os.path.abspath(fname).startswith(_PKG_DIR + os.sep):
            return f"{fname}:{f.f_lineno} (in {f.f_code.co_name})"
        f = f.f_back
    return "<unknown location>"


def loop_text(loops: list[list[object]]) -> str:
    """``, loop iteration i=24`` for the running loops ``[[name, value], ...]`` (outermost
    first, an engine's ``loop_stack``), or ``""``."""
    if not loops:
        return ""
    return ", loop iteration " + ", ".join(f"{name}={value}" for name, value in loops)


def lane_text(flat_index: int, shape: tuple[int, ...]) -> str:
    """A lane of a tile as ``lane 17`` plus its index for multi-dimensional tiles."""
    if len(shape) <= 1:
        return f"lane {flat_index}"
    idx = tuple(int(i) for i in np.unravel_index(flat_index, shape))
    return f"lane {flat_index} (index {idx})"


@dataclass
class _Access:
    write: bool
    addrs: np.ndarray  # int64, 1-D, active lanes only
    pids: np.ndarray  # int32 linear program ids, one per lane
    size: int
    values: np.ndarray | None  # bit patterns (unsigned ints of `size` bytes) written or read
    loc: str
    arg: str
    base: int  # the argument's pointer, to print offsets instead of addresses
    synced: np.ndarray | None  # per lane: its program had done an ordering atomic before
    old: np.ndarray | None = None  # writes: the bits memory held before
    atomic: bool = False  # an atomic read-modify-write (`values`: what it left, `old`: found)
    volatile: bool = False  # a volatile load (a spin on a flag): never a race with atomics

    def offset(self, addr: int) -> str:
        off = addr - self.base
        if off % self.size == 0:
            return f"element offset {off // self.size}"
        return f"byte offset {off}"


class _Flat:
    """The lanes of some records, flattened (one entry per address piece)."""

    def __init__(self, recs: list[tuple[int, _Access]], gran: int) -> None:
        cols: list[list[np.ndarray]] = [[] for _ in range(6)]
        for rid, r in recs:
            k = r.size // gran
            a, p = r.addrs, r.pids.astype(np.int64)
            y = r.synced if r.synced is not None else np.zeros(a.shape, bool)
            v, o = (_bits(x, a.shape) for x in (r.values, r.old))
            if k > 1:  # split each element into gran-byte pieces (little endian), values too
                chunk = np.arange(k, dtype=np.uint64)
                a = (a[:, None] + chunk.astype(np.int64) * gran).reshape(-1)
                mask = np.uint64((1 << (8 * gran)) - 1)
                v, o = (
                    ((x[:, None] >> (chunk * np.uint64(8 * gran))) & mask).reshape(-1)
                    for x in (v, o)
                )
                p, y = np.repeat(p, k), np.repeat(y, k)
            for c, x in zip(cols, (a, p, v, o, y, np.full(a.shape, rid, np.int64))):
                c.append(x)
        self.addr, self.pid, self.val, self.old, self.synced, self.rid = (
            np.concatenate(c) for c in cols
        )

    def take(self, order: np.ndarray) -> None:
        for name in ("addr", "pid", "val", "old", "synced", "rid"):
            setattr(self, name, getattr(self, name)[order])


def _bits(x: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    return x.astype(np.uint64) if x is not None else np.zeros(shape, np.uint64)


class AccessLog:
    """Every load, store and atomic of a launch, for race detection at its end.

    Only conflicts whose outcome depends on the order of programs are reported:

    * two programs write different values to one address;
    * a program reads an address another program writes, unless every write stores the value
      it read and either it wrote that value itself before reading or no write changed memory
      (a flag all programs set to the same value is not a race);
    * a program updates an address atomically that another program stores to without atomics;
    * a program reads an address without atomics that another program updates atomically, unless
      no atomic there changed memory (a volatile load is exempt: it is how programs wait);
    * accesses a program makes after one of its own acquire/release atomics may be ordered by
      them (a lock): two such accesses never form a race, so critical sections are not races.
    """

    def __init__(self) -> None:
        self.records: list[_Access] = []

    def __len__(self) -> int:
        return len(self.records)

    def truncate(self, n: int) -> None:
        """Forget the records after the first ``n`` (used when a vectorized run is undone)."""
        del self.records[n:]

    def record(self, access: _Access) -> None:
        if access.addrs.size:
            self.records.append(access)

    def check(self, describe_pid: Callable[[int], str]) -> None:
        """Raise ``SanitizerError("race", ...)`` for the first race found, if any."""
        self._plain(describe_pid)
        recs = self.records
        if any(r.atomic for r in recs) and any(not r.write and not r.volatile for r in recs):
            self._atomic_load(describe_pid)

    def _plain(self, describe_pid: Callable[[int], str]) -> None:
        # races with a plain store: store/store, load/store, atomic/store
        recs = self.records
        if not any(r.write and not r.atomic for r in recs):
            return
        gran = min(r.size for r in recs)
        w = _Flat([(i, r) for i, r in enumerate(recs) if r.write and not r.atomic], gran)
        w.take(np.lexsort((w.rid, w.pid, w.addr)))
        starts = np.flatnonzero(np.concatenate(([True], w.addr[1:] != w.addr[:-1])))
        ends = np.concatenate((starts[1:], [len(w.addr)]))
        pmin, pmax = np.minimum.reduceat(w.pid, starts), np.maximum.reduceat(w.pid, starts)
        vmin, vmax = np.minimum.reduceat(w.val, starts), np.maximum.reduceat(w.val, starts)
        unsynced = np.add.reduceat((~w.synced).astype(np.int64), starts) > 0
        noop = np.logical_and.reduceat(w.old == w.val, starts)
        self._write_write(w, starts, ends, pmin != pmax, vmin != vmax, unsynced, describe_pid)
        if any(r.atomic for r in recs):
            a = _Flat([(i, x) for i, x in enumerate(recs) if x.atomic], gran)
            self._atomic_store(w, a, starts, ends, pmin, pmax, describe_pid)
        if all(r.write for r in recs):
            return
        r = _Flat([(i, a) for i, a in enumerate(recs) if not a.write], gran)
        g = np.minimum(np.searchsorted(w.addr[starts], r.addr), len(starts) - 1)
        hit = w.addr[starts][g] == r.addr
        other = (pmin[g] != r.pid) | (pmax[g] != r.pid)
        sync_ok = ~r.synced | unsynced[g]
        same = (vmin[g] == r.val) & (vmax[g] == r.val)
        # did this program write the address itself before this read? (writes are sorted by
        # address, program, record: the first match is its earliest write there)
        span = int(max(w.pid.max(), r.pid.max())) + 1
        key_w = np.repeat(np.arange(len(starts), dtype=np.int64), ends - starts) * span + w.pid
        j = np.minimum(np.searchsorted(key_w, g * span + r.pid), len(w.addr) - 1)
        own_earlier = (w.addr[j] == r.addr) & (w.pid[j] == r.pid) & (w.rid[j] < r.rid)
        race = hit & other & sync_ok & ~(same & (noop[g] | own_earlier))
        for k in np.flatnonzero(race):
            s, e = int(starts[g[k]]), int(ends[g[k]])
            cands = [
                i for i in range(s, e) if w.pid[i] != r.pid[k] and not (r.synced[k] and w.synced[i])
            ]
            if not cands:
                continue
            i = next((i for i in cands if w.val[i] != r.val[k]), cands[0])
            rr, wr = recs[int(r.rid[k])], recs[int(w.rid[i])]
            raise SanitizerError(
                "race",
                (
                    f"program {describe_pid(int(r.pid[k]))} reads argument '{rr.arg}' at "
                    f"{rr.offset(int(r.addr[k]))} (load at {rr.loc}), which program "
                    f"{describe_pid(int(w.pid[i]))} writes without atomics (store at {wr.loc})"
                ),
            )

    def _atomic_store(
        self,
        w: _Flat,
        a: _Flat,
        starts: np.ndarray,
        ends: np.ndarray,
        pmin: np.ndarray,
        pmax: np.ndarray,
        describe_pid: Callable[[int], str],
    ) -> None:
        # an atomic and another program's plain store to one address: which one lands first
        # decides the result (the store may erase the update, or the update the store)
        g = np.minimum(np.searchsorted(w.addr[starts], a.addr), len(starts) - 1)
        hit = w.addr[starts][g] == a.addr
        other = (pmin[g] != a.pid) | (pmax[g] != a.pid)
        for k in np.flatnonzero(hit & other):
            s, e = int(starts[g[k]]), int(ends[g[k]])
            i = next(
                (
                    i
                    for i in range(s, e)
                    if w.pid[i] != a.pid[k] and not (w.synced[i] and a.synced[k])
                ),
                None,
            )
            if i is None:
                continue
            ar, wr = self.records[int(a.rid[k])], self.records[int(w.rid[i])]
            raise SanitizerError(
                "race",
                (
                    f"program {describe_pid(int(a.pid[k]))} updates argument '{ar.arg}' at "
                    f"{ar.offset(int(a.addr[k]))} atomically (at {ar.loc}), which program "
                    f"{describe_pid(int(w.pid[i]))} writes without atomics (store at {wr.loc})"
                ),
            )

    def _atomic_load(self, describe_pid: Callable[[int], str]) -> None:
        # a plain load of an address another program updates atomically: whether it sees the
        # update depends on the order of the programs (unless no update changed memory)
        recs = self.records
        gran = min(r.size for r in recs)
        a = _Flat([(i, x) for i, x in enumerate(recs) if x.atomic], gran)
        a.take(np.lexsort((a.rid, a.pid, a.addr)))
        starts = np.flatnonzero(np.concatenate(([True], a.addr[1:] != a.addr[:-1])))
        ends = np.concatenate((starts[1:], [len(a.addr)]))
        pmin, pmax = np.minimum.reduceat(a.pid, starts), np.maximum.reduceat(a.pid, starts)
        changed = np.logical_or.reduceat(a.old != a.val, starts)
        r = _Flat([(i, x) for i, x in enumerate(recs) if not x.write and not x.volatile], gran)
        g = np.minimum(np.searchsorted(a.addr[starts], r.addr), len(starts) - 1)
        hit = a.addr[starts][g] == r.addr
        other = (pmin[g] != r.pid) | (pmax[g] != r.pid)
        for k in np.flatnonzero(hit & other & changed[g]):
            s, e = int(starts[g[k]]), int(ends[g[k]])
            i = next(
                (
                    i
                    for i in range(s, e)
                    # ordered only if the update too was made inside a region its program
                    # had entered by an earlier atomic (a lock): the default acq_rel of the
                    # update itself orders nothing against programs that update later
                    if a.pid[i] != r.pid[k] and not (a.synced[i] and r.synced[k])
                ),
                None,
            )
            if i is None:
                continue
            rr, ar = recs[int(r.rid[k])], recs[int(a.rid[i])]
            raise SanitizerError(
                "race",
                (
                    f"program {describe_pid(int(r.pid[k]))} reads argument '{rr.arg}' at "
                    f"{rr.offset(int(r.addr[k]))} without atomics (load at {rr.loc}), which "
                    f"program {describe_pid(int(a.pid[i]))} updates atomically (at {ar.loc})"
                ),
            )

    def _write_write(
        self,
        w: _Flat,
        starts: np.ndarray,
        ends: np.ndarray,
        pids_differ: np.ndarray,
        vals_differ: np.ndarray,
        unsynced: np.ndarray,
        describe_pid: Callable[[int], str],
    ) -> None:
        # candidates by group summaries, confirmed lane by lane
        for grp in np.flatnonzero(pids_differ & vals_differ & unsynced):
            s, e = int(starts[grp]), int(ends[grp])
            for i in range(s, e):
                if w.synced[i]:
                    continue
                j = next(
                    (j for j in range(s, e) if w.pid[j] != w.pid[i] and w.val[j] != w.val[i]), None
                )
                if j is not None:
                    r1, r2 = self.records[int(w.rid[i])], self.records[int(w.rid[j])]
                    raise SanitizerError(
                        "race",
                        (
                            f"programs {describe_pid(int(w.pid[i]))} and "
                            f"{describe_pid(int(w.pid[j]))} both write different values to "
                            f"argument '{r1.arg}' at "
                            f"{r1.offset(int(w.addr[i]))} without atomics: store at {r1.loc} and "
                            f"store at {r2.loc}"
                        ),
                    )
