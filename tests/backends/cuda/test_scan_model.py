"""The scan schedule of ``scan.py`` played on a simulated CTA (no GPU, no LLVM).

Every thread's registers start as the 1-tuple of their element's coordinate; the combine is
tuple concatenation (not commutative, so any operand-order mistake shows). The simulation
follows the lowering step by step — in-thread, ``shfl.sync.up``/``down`` rounds over the lane
ids that ``lane_bits`` names, the previous lane's inclusive value, warp totals through shared
memory slots, the carry over repetitions — with the positions ``scan_plan`` and the layout
model (``thread_coords``) give, and every register must end as the tuple of all elements of
its line up to it, in scan order.
"""

from __future__ import annotations

import itertools

import pytest

from tritium.backends.cuda.layouts import (
    Layout,
    default_layout,
    lane_bits,
    thread_coords,
    warp_stride,
)
from tritium.backends.cuda.scan import scan_plan


def _flat(idx: tuple[int, ...], shape: tuple[int, ...]) -> int:
    out = 0
    for i, s in zip(idx, shape, strict=True):
        out = out * s + i
    return out


def simulate(lay: Layout, axis: int, rev: bool) -> dict[tuple[int, int], list[tuple]]:
    """(lane, warp) -> registers after the scan, following ``scan._scan``."""
    d = lay.dims[axis]
    spt, lanes, warps, reps = scan_plan(lay, d)
    threads = [(ln, w) for w in range(lay.num_warps) for ln in range(32)]
    regs = {t: [(c,) for c in thread_coords(lay, *t)] for t in threads}
    bits = lane_bits(lay, d)
    stride = bits[0] if bits else 1

    def lane_d(ln: int) -> int:
        return (ln // stride) % lay.tpw[d] % lanes

    def lane_pos(ln: int) -> int:
        return lanes - 1 - lane_d(ln) if rev else lane_d(ln)

    def warp_d(w: int) -> int:
        return (w // warp_stride(lay, d)) % lay.wpc[d] % warps

    def warp_pos(w: int) -> int:
        return warps - 1 - warp_d(w) if rev else warp_d(w)

    line_shape = tuple(s for i, s in enumerate(lay.reg_shape) if i != axis)
    lines = list(itertools.product(*(range(s) for s in line_shape)))

    def flat(ridx: tuple[int, ...], k: int) -> int:
        return _flat(ridx[:axis] + (k,) + ridx[axis:], lay.reg_shape)

    totals: dict[tuple[int, int, int, int], tuple] = {}
    for li, ridx in enumerate(lines):
        for r in range(reps):
            ks = [r * lay.spt[d] + j for j in range(spt)]
            if rev:
                ks.reverse()
            incl = {}
            for t in threads:
                acc: tuple = ()
                for k in ks:
                    acc = acc + regs[t][flat(ridx, k)]
                    regs[t][flat(ridx, k)] = acc
                incl[t] = acc
            sign = 1 if rev else -1  # down reads lane + delta, up lane - delta

            def shfl(vals: dict, delta: int, sign: int = sign) -> dict:
                out = {}
                for ln, w in vals:
                    src = ln + sign * delta
                    out[(ln, w)] = vals[(src, w)] if 0 <= src < 32 else vals[(ln, w)]
                return out

            o = 1
            while o < lanes:
                got = shfl(incl, o * stride)
                incl = {t: got[t] + incl[t] if lane_pos(t[0]) >= o else incl[t] for t in threads}
                o *= 2
            if lanes > 1:
                prev = shfl(incl, stride)
                for t in threads:
                    if lane_pos(t[0]) > 0:
                        for k in ks:
                            regs[t][flat(ridx, k)] = prev[t] + regs[t][flat(ridx, k)]
            last = lanes - 1 if not rev else 0
            for ln, w in threads:
                src = ln - lane_d(ln) * stride + last * stride
                totals[(li, r, ln, w)] = incl[(src, w)]
    coords = {t: thread_coords(lay, *t) for t in threads}

    def line_of(t: tuple[int, int], ridx: tuple[int, ...]) -> tuple[int, ...]:
        c = coords[t][flat(ridx, 0)]
        return c[:axis] + c[axis + 1 :]

    if warps > 1:
        slots = {}
        for (li, r, ln, w), v in totals.items():
            # slot (line, rep, warp): the lanes and warps holding copies write the same value
            key = (line_of((ln, w), lines[li]), r, warp_d(w))
            assert slots.setdefault(key, v) == v
        for li, ridx in enumerate(lines):
            for r in range(reps):
                for ln, w in threads:
                    ts = [slots[(line_of((ln, w), ridx), r, x)] for x in range(warps)]
                    if rev:
                        ts.reverse()
                    p = warp_pos(w)
                    prefix = sum(ts[:p], ())
                    if p > 0:
                        for j in range(spt):
                            f = flat(ridx, r * lay.spt[d] + j)
                            regs[(ln, w)][f] = prefix + regs[(ln, w)][f]
                    totals[(li, r, ln, w)] = sum(ts, ())
    if reps > 1:
        for li, ridx in enumerate(lines):
            order = list(range(reps))[::-1] if rev else list(range(reps))
            for t in threads:
                carry = totals[(li, order[0], *t)]
                for r in order[1:]:
                    for j in range(spt):
                        f = flat(ridx, r * lay.spt[d] + j)
                        regs[t][f] = carry + regs[t][f]
                    carry = carry + totals[(li, r, *t)]
    return regs


CASES = [
    ((1024,), 4, 4),  # repetitions (1024 > 512 per CTA tile)
    ((32,), 4, 4),  # replicated over warps
    ((8,), 2, 4),  # replicated over lanes and warps
    ((8, 128), 4, 4),
    ((128, 16), 8, 4),
    ((4, 8, 32), 2, 4),
    ((64, 64), 4, 8),
]


@pytest.mark.parametrize("rev", [False, True])
@pytest.mark.parametrize(("shape", "num_warps", "vec"), CASES)
def test_scan_schedule_matches_the_sequential_scan(
    shape: tuple[int, ...], num_warps: int, vec: int, rev: bool
) -> None:
    lay = default_layout(shape, num_warps, vec)
    for axis in range(len(shape)):
        regs = simulate(lay, axis, rev)
        for (ln, w), vals in regs.items():
            for c, got in zip(thread_coords(lay, ln, w), vals, strict=True):
                line = [c[:axis] + (i,) + c[axis + 1 :] for i in range(shape[axis])]
                # in scan order, the earlier operand first: from the end when reversed
                upto = line[c[axis] :][::-1] if rev else line[: c[axis] + 1]
                assert got == tuple(upto), (shape, axis, rev, ln, w, c)
