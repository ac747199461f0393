"""Sanitizer support: where in the kernel an op was called, error messages, race detection.

Bounds are always checked (a bad access must never touch memory the kernel was not given);
``sanitize=True`` adds the int32-overflow taint on index arithmetic and the race log.

A race is two programs of one launch touching one address without atomics where at least
one of them writes: a write-write race is reported only when the values written differ (the
final memory would depend on the order), a read-write race always.
"""

from __future__ import annotations

import os
import sys
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
    values: np.ndarray | None  # uint64 bit patterns of written values
    loc: str
    arg: str
    base: int  # the argument's pointer, to print offsets instead of addresses

    def offset(self, addr: int) -> str:
        off = addr - self.base
        if off % self.size == 0:
            return f"element offset {off // self.size}"
        return f"byte offset {off}"


class AccessLog:
    """Every non-atomic load and store of a launch, for race detection at its end."""

    def __init__(self) -> None:
        self.records: list[_Access] = []

    def __len__(self) -> int:
        return len(self.records)

    def truncate(self, n: int) -> None:
        """Forget the records after the first ``n`` (used when a vectorized run is undone)."""
        del self.records[n:]

    def record(self, write: bool, addrs: np.ndarray, pids: np.ndarray, size: int,
               values: np.ndarray | None, loc: str, arg: str, base: int) -> None:
        if addrs.size:
            self.records.append(_Access(write, addrs, pids, size, values, loc, arg, base))

    def check(self, describe_pid: callable) -> None:  # type: ignore[valid-type]
        """Raise ``SanitizerError("race", ...)`` for the first race found, if any."""
        writes = [r for r in self.records if r.write]
        if not writes:
            return
        sizes = {r.size for r in self.records}
        gran = min(sizes)

        def expand(recs: list[_Access]) -> tuple[np.ndarray, ...]:
            addrs, pids, vals, ids = [], [], [], []
            for i, r in enumerate(recs):
                k = r.size // gran
                a = r.addrs
                v = r.values if r.values is not None else np.zeros(a.shape, np.uint64)
                if k > 1:  # byte-granular when accesses of different sizes mix
                    a = (a[:, None] + np.arange(k) * gran).reshape(-1)
                    v = np.repeat(v, k)
                    p = np.repeat(r.pids, k)
                else:
                    p = r.pids
                addrs.append(a)
                pids.append(p)
                vals.append(v)
                ids.append(np.full(a.shape, i, np.int64))
            return (np.concatenate(addrs), np.concatenate(pids), np.concatenate(vals),
                    np.concatenate(ids))

        wa, wp, wv, wi = expand(writes)
        order = np.lexsort((wp, wa))
        wa, wp, wv, wi = wa[order], wp[order], wv[order], wi[order]
        starts = np.flatnonzero(np.concatenate(([True], wa[1:] != wa[:-1])))
        pmin = np.minimum.reduceat(wp, starts)
        pmax = np.maximum.reduceat(wp, starts)
        vmin = np.minimum.reduceat(wv, starts)
        vmax = np.maximum.reduceat(wv, starts)
        bad = np.flatnonzero((pmin != pmax) & (vmin != vmax))
        if bad.size:
            g = int(bad[0])
            s = int(starts[g])
            e = int(starts[g + 1]) if g + 1 < len(starts) else len(wa)
            first = s
            other = next(j for j in range(s, e) if wp[j] != wp[s] and wv[j] != wv[s])
            r1, r2 = writes[int(wi[first])], writes[int(wi[other])]
            raise SanitizerError("race", (
                f"programs {describe_pid(int(wp[first]))} and {describe_pid(int(wp[other]))} "
                f"both write different values to argument '{r1.arg}' at "
                f"{r1.offset(int(wa[first]))} without atomics: store at {r1.loc} and store at "
                f"{r2.loc}"))
        reads = [r for r in self.records if not r.write]
        if not reads:
            return
        ra, rp, _, ri = expand(reads)
        uniq = wa[starts]
        pos = np.searchsorted(uniq, ra)
        pos_c = np.minimum(pos, len(uniq) - 1)
        hit = uniq[pos_c] == ra
        conflict = hit & ((pmin[pos_c] != rp) | (pmax[pos_c] != rp))
        idx = np.flatnonzero(conflict)
        if idx.size:
            j = int(idx[0])
            g = int(pos_c[j])
            s = int(starts[g])
            e = int(starts[g + 1]) if g + 1 < len(starts) else len(wa)
            w = next(k for k in range(s, e) if wp[k] != rp[j])
            rr, wr = reads[int(ri[j])], writes[int(wi[w])]
            raise SanitizerError("race", (
                f"program {describe_pid(int(rp[j]))} reads argument '{rr.arg}' at "
                f"{rr.offset(int(ra[j]))} (load at {rr.loc}), which program "
                f"{describe_pid(int(wp[w]))} writes without atomics (store at {wr.loc})"))
