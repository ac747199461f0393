"""Scans (``tl.cumsum``, ``tl.cumprod``, ``tl.associative_scan``): in-thread, then warp
shuffles, then shared memory across warps.

**Status: ptxas-checked (sm_80/90a), the lane/warp schedule modelled in NumPy
(``tests/backends/cuda/test_scan_model.py``); never run on a GPU yet.**

Along the scan axis ``d`` of a layout (``layouts.py``), the elements are ordered by register
repetition ``rep`` (slowest), then warp id along ``d``, then lane id along ``d``, then the
``spt`` consecutive registers of a thread (fastest). For every line (the other dims) and every
``rep``:

1. each thread scans its ``spt`` registers in order (inclusive); the last is its *total*;
2. a Hillis-Steele scan of the totals over the lanes along ``d``: ``log2(lanes)`` rounds of
   ``shfl.sync.up`` by ``o`` lanes (``o = 1, 2, 4, ...``, times the lane stride of ``d``),
   each lane at position ``>= o`` combining the received value in front of its own; then each
   lane takes the inclusive value of the previous lane (one more ``shfl.sync.up``) and combines
   it in front of each of its registers;
3. where warps split ``d``: every lane writes its warp's total to shared memory (slot
   ``(line coordinate, rep, warp)``; copies write the same value); after a barrier each
   thread folds the totals of the warps before its own, in order, and combines that in front
   of its registers;
4. the repetitions are chained: a running carry (the fold of every earlier ``rep``'s total)
   is combined in front of the next ``rep``'s registers.

``reverse=True`` runs the same steps in the mirrored order (``shfl.sync.down``, warps and
repetitions from the end). Combines always take the earlier (in scan order) operand first,
so non-commutative combine functions are correct. Where a layout replicates along ``d`` (a
tile smaller than the threads spread over it), the copies compute the same values.
"""

from __future__ import annotations

import math

import llvmlite.ir as ll

from tritium.backends.cpu.llvm_utils import I1, I32, llvm_type, mem_type
from tritium.backends.cuda.layouts import Layout, lane_bits, warp_stride
from tritium.backends.cuda.lowering import Lowering, _flat, _indices, _size, statement
from tritium.backends.cuda.reduce import combine, shfl
from tritium.ir import Operation
from tritium.ir import types as irt

__all__ = ["scan_plan"]


def scan_plan(layout: Layout, d: int) -> tuple[int, int, int, int]:
    """(registers per thread scanned in order, lanes, warps, repetitions) along parent dim
    ``d``: the distinct elements each level holds (copies beyond them are replicas)."""
    size = layout.full_shape[d]
    spt, tpw, wpc = layout.spt[d], layout.tpw[d], layout.wpc[d]
    in_thread = min(spt, size)
    lanes = max(1, min(tpw, size // in_thread))
    warps = max(1, min(wpc, size // (in_thread * lanes)))
    reps = max(1, size // layout.tile(d))
    return in_thread, lanes, warps, reps


def _select(cx: Lowering, cond: ll.Value, a: list[ll.Value], b: list[ll.Value]) -> list:
    return [cx.b.select(cond, x, y) for x, y in zip(a, b, strict=True)]


@statement("tt.scan")
def _scan(cx: Lowering, op: Operation) -> None:
    b = cx.b
    axis = int(op.attrs["axis"])
    rev = bool(op.attrs.get("reverse", False))
    src0 = op.operands[0]
    layout = cx.assign.home[src0] if src0 not in cx.assign.remat else None
    layout = layout or cx.assign.default(irt.shape_of(src0.type))
    regs = [list(cx.get(v, layout)) for v in op.operands]
    d = layout.dims[axis]
    spt, lanes, warps, reps = scan_plan(layout, d)
    line_layout = layout.slice(axis)
    c32 = lambda v: ll.Constant(I32, v)  # noqa: E731
    # this thread's position along d among the distinct lanes / warps, in scan order
    bits = lane_bits(layout, d)
    lane_stride = bits[0] if bits else 1
    lane_d = b.urem(b.udiv(cx.lane, c32(lane_stride)), c32(max(1, layout.tpw[d])))
    lane_d = b.urem(lane_d, c32(lanes))
    lane_pos = b.sub(c32(lanes - 1), lane_d) if rev else lane_d
    warp_d = b.urem(b.udiv(cx.warp, c32(warp_stride(layout, d))), c32(layout.wpc[d]))
    warp_d = b.urem(warp_d, c32(warps))
    warp_pos = b.sub(c32(warps - 1), warp_d) if rev else warp_d
    lines = _indices(line_layout.reg_shape)

    def flat(ridx: tuple[int, ...], k: int) -> int:
        return _flat(ridx[:axis] + (k,) + ridx[axis:], layout.reg_shape)

    # steps 1-2 for every (line, rep); the rep totals (inclusive over the warp) are kept
    warp_totals: dict[tuple[int, int], list[ll.Value]] = {}
    for li, ridx in enumerate(lines):
        for r in range(reps):
            ks = [r * layout.spt[d] + j for j in range(spt)]
            if rev:
                ks.reverse()
            acc: list[ll.Value] | None = None
            for k in ks:
                cur = [x[flat(ridx, k)] for x in regs]
                acc = cur if acc is None else combine(cx, op, acc, cur)
                for x, v in zip(regs, acc, strict=True):
                    x[flat(ridx, k)] = v
            assert acc is not None
            incl = acc
            mode = "down" if rev else "up"
            o = 1
            while o < lanes:
                got = [shfl(cx, v, mode, o * lane_stride) for v in incl]
                ok = b.icmp_unsigned(">=", lane_pos, c32(o))
                incl = _select(cx, ok, combine(cx, op, got, incl), incl)
                o *= 2
            if lanes > 1:
                prev = [shfl(cx, v, mode, lane_stride) for v in incl]
                has = b.icmp_unsigned(">", lane_pos, c32(0))
                for k in ks:
                    cur = [x[flat(ridx, k)] for x in regs]
                    new = _select(cx, has, combine(cx, op, prev, cur), cur)
                    for x, v in zip(regs, new, strict=True):
                        x[flat(ridx, k)] = v
            if warps > 1 or reps > 1:
                # the warp's total is the inclusive value of its last lane (in scan order)
                last = lanes - 1 if not rev else 0
                first = b.sub(cx.lane, b.mul(lane_d, c32(lane_stride)))
                src = b.add(first, c32(last * lane_stride))
                warp_totals[(li, r)] = [shfl(cx, v, "idx", src) for v in incl]
    if warps > 1:
        # shared-memory slots are per line *coordinate*: the lanes of a warp hold other lines
        line_idx = [
            cx.linear(line_layout, li) if line_layout.dims else c32(0) for li in range(len(lines))
        ]
        n_lines = math.prod(line_layout.shape)
        totals = _across_warps(
            cx, op, warp_totals, line_idx, n_lines, reps, warps, warp_d, warp_pos, rev
        )
        for (li, r), (prefix, total) in totals.items():
            ridx = lines[li]
            for j in range(spt):
                f = flat(ridx, r * layout.spt[d] + j)
                cur = [x[f] for x in regs]
                has = b.icmp_unsigned(">", warp_pos, c32(0))
                new = _select(cx, has, combine(cx, op, prefix, cur), cur)
                for x, v in zip(regs, new, strict=True):
                    x[f] = v
            warp_totals[(li, r)] = total
    if reps > 1:
        for li, ridx in enumerate(lines):
            order = list(range(reps))
            if rev:
                order.reverse()
            carry = warp_totals[(li, order[0])]
            for r in order[1:]:
                for j in range(spt):
                    f = flat(ridx, r * layout.spt[d] + j)
                    new = combine(cx, op, carry, [x[f] for x in regs])
                    for x, v in zip(regs, new, strict=True):
                        x[f] = v
                carry = combine(cx, op, carry, warp_totals[(li, r)])
    for i, res in enumerate(op.results):
        cx.vals[res] = regs[i]


def _across_warps(
    cx: Lowering,
    op: Operation,
    warp_totals: dict[tuple[int, int], list[ll.Value]],
    line_idx: list[ll.Value],
    n_lines: int,
    reps: int,
    warps: int,
    warp_d: ll.Value,
    warp_pos: ll.Value,
    rev: bool,
) -> dict[tuple[int, int], tuple[list[ll.Value], list[ll.Value]]]:
    """Step 3: per (line, rep), the fold of the totals of the warps before this one (in scan
    order) and the fold of all of them (the rep's total)."""
    b = cx.b
    c32 = lambda v: ll.Constant(I32, v)  # noqa: E731
    types = [mem_type(r.type) for r in op.results]
    slots = n_lines * reps * warps
    starts, offset = [], 0
    for t in types:
        size = _size(t)
        offset = (offset + 7) // 8 * 8
        starts.append(offset // size)
        offset += slots * size
    cx.use_smem(offset)
    cx.barrier()  # earlier users of the buffer are done
    # every lane writes its warp's total (all lanes hold it): the same value per slot
    for (li, r), tot in warp_totals.items():
        base = b.mul(b.add(b.mul(line_idx[li], c32(reps)), c32(r)), c32(warps))
        for i, v in enumerate(tot):
            idx = b.add(c32(starts[i]), b.add(base, warp_d))
            cx.smem_store(types[i], idx, b.zext(v, types[i]) if v.type == I1 else v)
    cx.barrier()
    out = {}
    for li in range(len(line_idx)):
        for r in range(reps):
            base = b.mul(b.add(b.mul(line_idx[li], c32(reps)), c32(r)), c32(warps))
            ts = []
            for w in range(warps):
                cur = []
                for i, t in enumerate(types):
                    v = cx.smem_load(t, b.add(base, c32(starts[i] + w)))
                    lt = llvm_type(op.results[i].type)
                    cur.append(b.trunc(v, I1) if lt == I1 else v)
                ts.append(cur)
            if rev:
                ts.reverse()  # scan order
            prefix = ts[0]  # what the warp at position 1 needs; position 0 needs nothing
            running = ts[0]
            for p in range(2, warps):
                running = combine(cx, op, running, ts[p - 1])
                prefix = _select(cx, b.icmp_unsigned("==", warp_pos, c32(p)), running, prefix)
            out[(li, r)] = (prefix, combine(cx, op, running, ts[-1]))
    return out
