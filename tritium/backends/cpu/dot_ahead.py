"""int8 ``b``'s rows for the next chunk prefetched while the microkernel runs (issue 13).

In the W8A8 tutorial (64 x 2048 x 2048, ``BLOCK_N`` 64) a program packs a 64-byte column of
each of ``b``'s 2048 rows (a leader of ``dot_npanels``: 128 bytes, its neighbour's too). The
rows lie 2 KiB apart, so every other row is a new page and the hardware prefetchers, which
stay within a page, fetch none of them ahead; the packer's own prefetch, a step (64 rows)
ahead, leaves too little time (and likely too few lines in flight: not measured). The
packing of a chunk's steps (``dot_kloop``: 512 of K) then waited on L3 or memory, and nothing
else ran meanwhile: packing ``b`` was 17-18 % of one thread's samples, the microkernel, which
loads from L1/L2 only, ~75 % (at ``vpdpbusd``'s measured peak).

Here the microkernel of each chunk, which runs for ~9 us per program and chunk (cfg 64 x 64 x
64), prefetches the lines that the next chunk's steps will pack: every step of every block of
accumulators (``ks`` loop) issues the prefetches of ``ceil(BLOCK_K / blocks)`` rows of the
next chunk, so the chunk's ``kc * BLOCK_K`` rows are spread over the whole microkernel; a
row's address is the pointer tile's (this step's) plus the steps between, a line per 64
bytes that the step packed (``dot_npanels.reused`` records them: 0 where the step's tile was
found kept, ``BLOCK_N`` bytes, or ``NEIGHBOURS`` times that for a leader). The last chunk
of a program that packed nothing (a follower) prefetches the first chunk of the next column
panels instead, ``BLOCK_N`` bytes further along the rows as they were at the first step: with
owned shares (``launcher.owned_shares``) the thread's next program is the next ``pid_n``, a
leader that packs those. Prefetches are hints: a wrong guess (another order of programs, the
end of ``b``) costs a line and never faults (a test puts ``b`` before an unreadable page with
guesses tens of KiB past it: made real loads, they fault). No test checks the addresses
themselves: a wrong one costs only speed.

Measured on a 2-core Zen 4 KVM guest (znver4, AVX512-VNNI), the W8A8 tutorial 64 x 2048 x 2048
with each CPU config pinned, one thread, thread CPU time, the variants compiled side by side in
one process and interleaved with torch (40-100 rounds of 5 launches, medians; load 1.9-3.8 from
other jobs), against no prefetch (main's code), 15 runs: 64 x 64 x 64 blocks +1.4 to +4.0 % in
eleven (e.g. 357 -> 371, 379 -> 387 GOP/s), +8 to +12 % in the four most loaded ones (359 ->
389, 333 -> 368); 32 x 64 x 128 -0.2 to +3.4 %, +6-8 % in those. The next program's first chunk
is 0-4 % of it. Torch ``_int_mm`` with the scales read 288-342. Those runs had ``b`` 64-byte
aligned or not (not recorded); a read-only review then found that from a row not 64-byte aligned
(NumPy's large arrays lie 16 bytes past a page: the benchmark's ``b``) the last line of each row
was never prefetched and the gain vanished there (64 x 64 x 64, paired on / off: 0.986-0.993 at
16 mod 64 against 1.12-1.14 aligned): the prefetches now cover every line the row's bytes touch,
from the one holding its first byte; after that, load 2.3-2.4, 40 paired rounds: 64 x 64 x 64
1.164 (``b`` 16 mod 64) / 1.172 (aligned), 32 x 64 x 128 1.019 / 1.070. Samples (64 x 64 x 64):
packing ``b`` 17.6 -> 12-15 %, the microkernel 74.5 -> 77-81 %; with ``b`` in L2 (N = 128)
packing is 7.7 %, its instructions. On 2 MiB pages (``madvise``) one profile read 9.8 %, but the
A/B's rates there were as on 4 KiB pages (64 x 64 x 64: 336 -> 371 GOP/s with the prefetches,
load 5.7), so what is left above the instructions is not clearly page walks. Tried without gain:
prefetching into L2 only (``prefetcht1``), only the first half of the next chunk (the packer's
own prefetch 4 steps ahead for the rest: slower), the packer's prefetch 2 steps or 8 / 16 rows
ahead instead of one step, none in the packer, the rows last-first, chunks of 256 or 1024 of K
(the packed K loop's; 2 % slower, the same), 4 panels per leader (as 2), and the leader's loop
reading whole 64-byte rows (73 instructions a quad of rows instead of 90, no spills: as fast, so
it waits on memory, not on its instructions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.tiles import Index
from tritium.ir import Operation, Value

if TYPE_CHECKING:
    from tritium.backends.cpu.dot_kloop import Plan

__all__ = ["Ahead", "Issue", "issue", "setup"]

_ENABLED = True  # for A/B timing in one process (benchmarks), not a user setting
_UNROLL = 4  # rows a step up to which the prefetches are unrolled, not looped
_NEXT = True  # a follower's last chunk prefetches the next program's first chunk (A/B timing)


def _i64(v: int) -> ll.Constant:
    return ll.Constant(lu.I64, v)


@dataclass
class Ahead:
    """Where int8 ``b``'s rows are: ``ptr``, the loop's pointer tile (its row ``r`` at this
    step: :meth:`row`); ``step``, the bytes by which the loop advances it; ``span``, an i64
    alloca holding the bytes of each row this step packed (``dot_npanels.reused`` writes
    it)."""

    ptr: Value
    step: ll.Value
    span: ll.Value

    @staticmethod
    def of(plan: Plan, load: Operation, step: ll.Value) -> Ahead | None:
        """The rows of int8 ``b`` loaded by ``load`` (a ``dot_npanels`` site), or None when
        disabled."""
        if not _ENABLED:
            return None
        cx, b = plan.cx, plan.cx.b
        span = lu.entry_alloca(b, cx.alloca_block, lu.I64, 1, align=8, name="ahead.span")
        return Ahead(load.operands[0], step, span)

    def row(self, plan: Plan, r: ll.Value) -> ll.Value:
        """The address (i64) of row ``r`` (i32) of this step's tile."""
        zero = ll.Constant(lu.I32, 0)
        return plan.cx.b.extract_element(plan.cx.eval(self.ptr, Index((r, zero), 1)), zero)


@dataclass
class Issue:
    """One chunk's prefetching, set up before its microkernel: whether it prefetches
    (``go``, i1), a counter of its ``ks`` iterations so far (i64 alloca), the rows each
    iteration prefetches, the bytes added to ``row(r) + d * step`` for row ``r`` of the
    ``d``-th step of the chunk prefetched (i64), and the bytes of each row (i64)."""

    ahead: Ahead
    go: ll.Value
    counter: ll.Value
    rows: int
    base: ll.Value
    span: ll.Value


def setup(plan: Plan) -> Issue | None:
    """Before a chunk's microkernel (int8 ``b`` at a ``dot_npanels`` site): what it
    prefetches, see the module docstring."""
    from tritium.backends.cpu.dot_kloop_packed import LANES
    from tritium.backends.cpu.dot_npanels import NEIGHBOURS

    ahead = plan.ahead
    if not isinstance(ahead, Ahead):
        return None
    cx, b = plan.cx, plan.cx.b
    span = b.load(ahead.span, typ=lu.I64)
    packs = b.icmp_unsigned("!=", span, _i64(0))
    base, go = ahead.step, packs  # the next chunk: its first step is the next one
    if plan.last is not None:
        go = b.and_(packs, b.not_(plan.last))
        if _NEXT and plan.trips is not None:
            # a follower's last chunk: the first chunk of the next column panels, ``n``
            # bytes right of this program's rows as they were at its first step
            nxt = b.and_(plan.last, b.not_(packs))
            back = b.mul(b.sub(plan.trips, _i64(1)), ahead.step)
            base = b.select(nxt, b.sub(_i64(plan.n), back), base)
            span = b.select(nxt, _i64(plan.n * NEIGHBOURS), span)
            go = b.or_(go, nxt)
    counter = lu.entry_alloca(b, cx.alloca_block, lu.I64, 1, align=8, name="ahead.count")
    b.store(_i64(0), counter)
    mr, nr = plan.blocking()
    blocks = -(-plan.m // mr) * (plan.n // (nr * LANES))
    return Issue(ahead, go, counter, -(-plan.k // blocks), base, span)


def issue(plan: Plan, it: Issue) -> None:
    """In the microkernel's ``ks`` loop (once per step of each block of accumulators): this
    iteration's rows, a line per 64 bytes of ``span``."""
    from tritium.backends.cpu.dot_npanels import NEIGHBOURS

    b = plan.cx.b
    total = plan.kc * plan.k  # a chunk's rows
    args = [lu.PTR, lu.I32, lu.I32, lu.I32]
    fn = lu.intrinsic(plan.cx.module, "llvm.prefetch.p0", ll.VoidType(), args)
    read, keep, data = (ll.Constant(lu.I32, x) for x in (0, 3, 1))
    with b.if_then(it.go):
        t = b.load(it.counter, typ=lu.I64)
        b.store(b.add(t, _i64(1)), it.counter)

        def one(r: ll.Value) -> None:
            at = b.add(b.mul(t, _i64(it.rows)), r)
            at = b.select(b.icmp_unsigned("<", at, _i64(total)), at, _i64(total - 1))
            d = b.udiv(at, _i64(plan.k))
            row = it.ahead.row(plan, b.trunc(b.urem(at, _i64(plan.k)), lu.I32))
            at = b.add(b.add(row, b.mul(d, it.ahead.step)), it.base)
            # every line that [at, at + span) touches, from the one holding ``at``: rows
            # that start inside a line (NumPy's large arrays lie 16 bytes past a page) end
            # in one line more
            line = b.inttoptr(b.and_(at, _i64(-64)), lu.PTR)
            end = b.add(b.and_(at, _i64(63)), it.span)
            for off in range(0, plan.n * NEIGHBOURS + 64, 64):
                o = b.select(b.icmp_unsigned("<", _i64(off), end), _i64(off), _i64(0))
                b.call(fn, [b.gep(line, [o], source_etype=lu.I8), read, keep, data])

        if it.rows <= _UNROLL:
            for r in range(it.rows):
                one(_i64(r))
        else:  # a loop: less IR to compile (16 rows a step for 32 x 64 x 128 blocks)
            with lu.for_range(b, _i64(0), _i64(it.rows), name="ahead") as r:
                one(r)
