"""Sanitizer support: where in the kernel an op was called, error messages, race detection.

Bounds are always checked (a bad access must never touch memory the kernel was not given);
``sanitize=True`` adds the int32-overflow taint on index arithmetic and the race log.

A race is two programs of one launch touching one address without atomics where at least
one of them writes, and the order matters: a write-write race is reported only when the
values written differ, a read-write race only when the value written differs from the value
read (a flag every program sets to the same value is not reported).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tritium.errors import SanitizerError

__all__ = ["user_location", "AccessLog", "lane_text"]

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
    pids: np.ndarray  # int64 linear program ids, one per lane
    size: int
    values: np.ndarray | None  # uint64 bit patterns of the values written or read
    loc: str
    arg: str
    base: int  # the argument's pointer, to print offsets instead of addresses
    synced: np.ndarray  # per lane: its program had done an ordering atomic before

    def offset(self, addr: int) -> str:
        off = addr - self.base
        if off % self.size == 0:
            return f"element offset {off // self.size}"
        return f"byte offset {off}"


class AccessLog:
    """Every non-atomic load and store of a launch, for race detection at its end.

    Accesses a program makes after one of its own acquire/release atomics may be ordered by
    them (a lock, a flag): two such accesses are never reported, so lock-protected critical
    sections are not races; a conflict with at least one unsynchronized access is.
    """

    def __init__(self) -> None:
        self.records: list[_Access] = []

    def __len__(self) -> int:
        return len(self.records)

    def truncate(self, n: int) -> None:
        """Forget the records after the first ``n`` (used when a vectorized run is undone)."""
        del self.records[n:]

    def record(
        self,
        write: bool,
        addrs: np.ndarray,
        pids: np.ndarray,
        size: int,
        values: np.ndarray | None,
        loc: str,
        arg: str,
        base: int,
        synced: np.ndarray,
    ) -> None:
        if addrs.size:
            self.records.append(_Access(write, addrs, pids, size, values, loc, arg, base, synced))

    def _expand(self, recs: list[_Access], gran: int) -> tuple[np.ndarray, ...]:
        """Flat (address, pid, value, synced, record index) arrays; byte-granular when
        accesses of different sizes mix."""
        cols: list[list[np.ndarray]] = [[], [], [], [], []]
        for i, r in enumerate(recs):
            k = r.size // gran
            a, p, y = r.addrs, r.pids, r.synced
            v = r.values if r.values is not None else np.zeros(a.shape, np.uint64)
            if k > 1:
                a = (a[:, None] + np.arange(k) * gran).reshape(-1)
                v, p, y = np.repeat(v, k), np.repeat(p, k), np.repeat(y, k)
            for c, x in zip(cols, (a, p, v, y, np.full(a.shape, i, np.int64))):
                c.append(x)
        return tuple(np.concatenate(c) for c in cols)

    def check(self, describe_pid: Callable[[int], str]) -> None:
        """Raise ``SanitizerError("race", ...)`` for the first race found, if any."""
        writes = [r for r in self.records if r.write]
        if not writes:
            return
        gran = min(r.size for r in self.records)
        wa, wp, wv, ws, wi = self._expand(writes, gran)
        order = np.lexsort((wp, wa))
        wa, wp, wv, ws, wi = wa[order], wp[order], wv[order], ws[order], wi[order]
        starts = np.flatnonzero(np.concatenate(([True], wa[1:] != wa[:-1])))
        ends = np.concatenate((starts[1:], [len(wa)]))
        pmin, pmax = np.minimum.reduceat(wp, starts), np.maximum.reduceat(wp, starts)
        vmin, vmax = np.minimum.reduceat(wv, starts), np.maximum.reduceat(wv, starts)
        unsynced = np.add.reduceat((~ws).astype(np.int64), starts) > 0
        # write-write: candidates by group summaries, confirmed lane by lane
        for g in np.flatnonzero((pmin != pmax) & (vmin != vmax) & unsynced):
            s, e = int(starts[g]), int(ends[g])
            for i in range(s, e):
                if ws[i]:
                    continue
                j = next((j for j in range(s, e) if wp[j] != wp[i] and wv[j] != wv[i]), None)
                if j is not None:
                    r1, r2 = writes[int(wi[i])], writes[int(wi[j])]
                    raise SanitizerError(
                        "race",
                        (
                            f"programs {describe_pid(int(wp[i]))} and {describe_pid(int(wp[j]))} "
                            f"both write different values to argument '{r1.arg}' at "
                            f"{r1.offset(int(wa[i]))} without atomics: store at {r1.loc} and "
                            f"store at {r2.loc}"
                        ),
                    )
        reads = [r for r in self.records if not r.write]
        if not reads:
            return
        ra, rp, rv, rs, ri = self._expand(reads, gran)
        uniq = wa[starts]
        pos = np.minimum(np.searchsorted(uniq, ra), len(uniq) - 1)
        hit = uniq[pos] == ra
        other_writer = (pmin[pos] != rp) | (pmax[pos] != rp)
        # a synchronized read conflicts only with an unsynchronized write of another program
        maybe = hit & other_writer & (~rs | unsynced[pos])
        maybe &= (vmin[pos] != rv) | (vmax[pos] != rv)  # some write differs from what was read
        for k in np.flatnonzero(maybe):
            g = int(pos[k])
            w = next(
                (
                    j
                    for j in range(int(starts[g]), int(ends[g]))
                    if wp[j] != rp[k] and not (rs[k] and ws[j]) and wv[j] != rv[k]
                ),
                None,
            )
            if w is not None:
                rr, wr = reads[int(ri[k])], writes[int(wi[w])]
                raise SanitizerError(
                    "race",
                    (
                        f"program {describe_pid(int(rp[k]))} reads argument '{rr.arg}' at "
                        f"{rr.offset(int(ra[k]))} (load at {rr.loc}), which program "
                        f"{describe_pid(int(wp[w]))} writes without atomics (store at {wr.loc})"
                    ),
                )
