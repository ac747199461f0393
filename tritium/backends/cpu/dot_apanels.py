"""Packed tiles of a dot's ``a`` kept in a few slots per thread, one per row of programs.

Tutorial 03 reads a ``BLOCK_M x BLOCK_K`` tile of ``a`` in each K step. Its rows lie a whole
row of ``a`` apart (4 KiB for 1024 fp32 columns): they share a handful of L1 and L2 sets, so
the lines prefetched one step ahead are evicted before they are read, and copying the tile
waited on L3 (a tenth of the kernel's time, sampled, Zen 3). In grouped order the programs
of a thread cycle through ``GROUP_SIZE_M`` values of ``pid_m`` for each ``pid_n``, so each
row of programs reads the same tiles of ``a`` again once per ``pid_n``: packed once into a
contiguous per-thread panel, they are re-read sequentially (which the hardware prefetcher
follows; prefetching each next entry in software ran slower) instead of being gathered from
scattered rows again. Tutorial 03, fp32 1024^3, 64x64x32 blocks, one Zen 3 thread, thread
CPU time at load 5: 71 -> 78 GFLOP/s (medians; OpenBLAS 90).

Unlike ``b``'s tiles (``dot_panels``: the next programs share them), consecutive programs
use different rows of ``a``: the site keeps ``SLOTS`` panels, each with its own key, and a
program whose key is in none takes an empty slot, else the least recently used one. A
grouped order of up to ``SLOTS`` rows of programs then packs each tile once per group; any
other order packs each tile once per program, as without the panels (plus writing its key).
When the programs cycle through more keys than there are slots (``b``'s column panels below,
at 2048^3), least-recently-used would let each key evict the one needed next and keep none:
a key found among the *ghosts* (the last ``helpers._GHOSTS`` keys let go) takes the slot
taken last instead, so that the other slots keep theirs for the next cycle (``slots - 1`` of
the cycle's keys kept rather than none).

The worker's scratch slot points at a block malloc'ed on first use and freed when the worker
ends::

    header  64 bytes: cap (i64, entries per slot), clock (i64, lookups so far),
            numel (i64, the key's elements), tile bytes (i64), slots (i64), last (i64, the
            address of the slot taken last), gone (i64, keys let go so far)
    staged  i64[numel] (to 64 bytes)  the key of the program looking for its slot
    ghosts  64 x (lead, step) (i64)   the last keys let go, a ring (``gone`` mod 64)
    slots x slot (SLOTS for a):
        valid  i64   entries [0, valid) hold the packed tiles of steps 0 .. valid-1
        lead   i64   the address of the key's element [0, 0]
        step   i64   bytes by which the loop advances the pointer tile
        used   i64   the lookup (clock) that last found or took the slot; -1: empty
        (to 64 bytes)
        key    i64[numel]  the pointer tile of step 0 (``dot_panels.stage_any_key``: the
                            whole tile, or its base, first column and first row when it is
                            a row plus a column)
        first  i64[cap]    the address of each entry's tile element [0, 0]
        entries  cap x the packed tile

``dot_kloop`` keeps ``b``'s tiles here too, one slot per column table (``pid_n``), as many
slots as its budget holds (``slots=None``): the region's header says how many.

A site lowered with ``shared`` (``b`` of ``dot_kloop``'s bf16 K loops) keeps its tiles, in a
launch of several workers, in a table of the launch first (``helpers``' table find and
entries; the launch holds its descriptor, ``scratch``): one set of slots, laid out as a
region's, set up by the first program that asks, each slot given a key once per launch
under a lock and published (the slots are never taken back during the launch, so a slot
that another thread reads keeps its tiles, and a lookup reads the published ones without
the lock), its entries claimed by the first thread that needs one and published (the
entry's lead stored with release) once packed; a thread that finds an entry claimed but not
published waits briefly, then packs its own copy. A key that finds the table full goes to
the thread's own slots as above. Per thread, tutorial 03 at two threads packed every column
panel of ``b`` on both (1024^3: 16 row panels of ``a`` + 2 x 16); with the table each once
per launch (16 + 16, counted with an instrumented build). The launcher runs the odd shares
of such a launch from their ends, so that the threads do not want the same panel at once.
``a`` is not shared: at 512^3 (one group of rows, each row panel packed on both threads) a
table for it too ran 0.5-1 % slower than one for ``b`` only (2 threads, paired in one
process; the panels read from the other core's cache). Measured: ``docs/open_items.md``
(issue 13, the thirteenth session).

Which tiles may be kept and why a step's tile is known from the key follows ``dot_panels``
(a top-level loop that writes no memory, a pointer tile advanced by a uniform step, every
element of the mask set). Making the region and finding a key's slot are run-time helpers
(:mod:`.helpers`) that every kernel shares: the kernel only stages its key.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import llvmlite.ir as ll

from tritium.backends.cpu import dot_panels as panels  # a module: dot_panels imports codegen
from tritium.backends.cpu import helpers, scratch
from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.codegen import Lowering
from tritium.backends.cpu.tiles import Buffer
from tritium.ir import Operation, Value

__all__ = ["reused", "SLOTS"]

SLOTS = 8  # rows of programs kept: tutorial 03's GROUP_SIZE_M
# all slots of a site, per thread: each of the 8 slots holds 128 steps of a 64 x 32 fp32 tile
# (K = 4096); with 4 MiB, 63 of 2048^3's 64, and the last step was packed by every program
_PANEL_BYTES = 9 << 20
MAX_SLOTS = 64  # slots of a site whose count follows its budget (``slots=None``)
_HEADER = 64
_SLOT_HEADER = 64


def reused(
    cx: Lowering,
    slot: int,
    v: Value,
    load: Operation,
    step: ll.Value,
    buf: Buffer,
    pack: Callable[[Buffer], None],
    all_true: Callable[[Lowering, Value], ll.Value],
    slots: int | None = SLOTS,
    budget: int = _PANEL_BYTES,
    name: str = "apanel",
    shared: bool = False,
) -> Buffer:
    """The packed ``v`` (``a``, row-major): an entry of one of the site's panels when it holds
    this step's tile (nothing to pack), else ``pack`` fills an entry (kept for the programs
    of the same rows) or, when none can be kept, ``buf``. ``slot``: the worker's scratch slot
    (``dot_panels.site``); ``all_true(cx, mask)``: i1, every element of ``mask`` set.

    ``budget``: the bytes of all the site's slots' entries, per thread. ``slots``: how many
    (each then holds ``budget / slots`` bytes of entries), or None: as many as hold each the
    loop's whole K range within ``budget`` (at most ``MAX_SLOTS``): ``dot_kloop`` keeps the
    column panels of ``b`` so, one per ``pid_n``, across groups of programs. ``name``: the
    prefix of the site's stack slots in the IR. ``shared``: in a launch of several workers,
    the tiles are kept in a launch-wide table first (see the module docstring)."""
    b = cx.b
    i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
    shape, _, tile_bytes = panels.entry_layout(v, buf)
    ptr = load.operands[0]
    numel = panels.key_numel(ptr)  # the key's i64 words
    key_off = _SLOT_HEADER
    first_off = key_off + panels._round64(8 * numel)

    mask = load.operands[1] if len(load.operands) > 1 else None
    loop = ptr.owner.parent_op()  # type: ignore[union-attr]
    counter = panels._program_start_alloca(cx, lu.I64, i64(0), f"{name}.step")
    mine = panels._program_start_alloca(cx, lu.PTR, ll.Constant(lu.PTR, None), f"{name}.slot")
    i = b.load(counter, typ=lu.I64)
    b.store(b.add(i, i64(1)), counter)
    holder = b.gep(cx.scratch_ptr, [i64(slot)], source_etype=lu.PTR)

    field = partial(helpers.byte_field, b)

    with b.if_then(b.icmp_signed("==", i, i64(0))):
        # the region and the slot lookup are shared helpers (``helpers``): inlined, they were
        # a sixth of the tutorial matmul's compile time (issue 13)
        if slots is not None:
            cap = panels._trips(cx, loop, max(1, budget // (slots * tile_bytes)))
            count: ll.Value = i64(slots)
        else:
            cap = panels._trips(cx, loop, max(1, budget // tile_bytes))
            count = b.udiv(i64(budget), b.mul(cap, i64(tile_bytes)))
            count = b.select(b.icmp_unsigned(">", count, i64(MAX_SLOTS)), i64(MAX_SLOTS), count)
            count = b.select(b.icmp_unsigned("<", count, i64(1)), i64(1), count)
        get_region = helpers.declare(cx.module, helpers.APANEL_REGION)
        table: ll.Value = ll.Constant(lu.PTR, None)
        if shared:  # this slot's descriptor in the launch's (none: null)
            word = b.gep(cx.scratch_ptr, [i64(scratch.SHARED_WORD)], source_etype=lu.PTR)
            descs = b.load(word, typ=lu.PTR)
            some = b.icmp_unsigned("!=", b.ptrtoint(descs, lu.I64), i64(0))
            table = b.select(some, b.gep(descs, [i64(2 * slot)], source_etype=lu.I64), table)
            cx.shared_tables = True  # type: ignore[attr-defined]  # read by launcher.emit_launcher
        region = b.call(get_region, [holder, cap, i64(numel), i64(tile_bytes), count, table])
        with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(region, lu.I64), i64(0))):
            # this program's key, staged after the region's header for the lookup
            panels.stage_any_key(cx, ptr, shape, field(region, _HEADER))
            find = helpers.declare(cx.module, helpers.APANEL_FIND)
            b.store(b.call(find, [region, panels.lead(cx, ptr, shape), step]), mine)

    all_set = ll.Constant(lu.I1, 1) if mask is None else all_true(cx, mask)
    use = lu.entry_alloca(b, cx.alloca_block, lu.I1, 1, align=1, name=f"{name}.use")
    dest = lu.entry_alloca(b, cx.alloca_block, lu.PTR, 1, align=8, name=f"{name}.dest")
    claimed = None
    if shared:
        claimed = lu.entry_alloca(b, cx.alloca_block, lu.I1, 1, align=1, name=f"{name}.claim")
        b.store(ll.Constant(lu.I1, 0), claimed)
    b.store(ll.Constant(lu.I1, 0), use)
    b.store(buf.ptr, dest)
    at = b.load(mine, typ=lu.PTR)
    with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(at, lu.I64), i64(0))):
        cap = b.load(field(b.load(holder, typ=lu.PTR), 0), typ=lu.I64)
        sizes = (cap, first_off, tile_bytes)
        lead = panels.lead(cx, ptr, shape)
        panels.step_entry(cx, at, i, lead, sizes, all_set, use, dest, claimed)
    out = Buffer(b.load(dest, typ=lu.PTR), buf.shape, buf.strides, buf.elem)
    with b.if_then(b.not_(b.load(use, typ=lu.I1))):
        pack(out)
        if claimed is not None:  # packed into a launch-wide table's entry: the others' now
            with b.if_then(b.load(claimed, typ=lu.I1), likely=False):
                panels.publish(cx, at, i, panels.lead(cx, ptr, shape), first_off)
    return out
