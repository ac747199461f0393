"""A K loop of ``acc += tl.dot(a, b)`` lowered as K-long dots over chunks of steps (tutorial 03).

Triton's tutorial matmul steps K by ``BLOCK_K`` (32 or 64) and calls ``tl.dot`` once per
step. Lowered dot by dot, each step loads and stores every register block's accumulators,
and re-walks the step's tiles, whose rows (``BLOCK_K`` floats for ``a``, ``BLOCK_N`` for
``b``) the microkernel reads with a stride. Here such a loop is lowered in two parts:

1. the loop runs as written, except that its dot only packs: ``a`` and ``b`` of step ``s``
   are packed (or found already packed in the ``dot_apanels`` entries that an earlier
   program of the thread kept: ``a`` per row table, ``b`` per column table, see below) in
   the microkernel's order, as BLAS packs: ``a`` by
   blocks of ``MR`` rows, the rows side by side for each ``k`` (``[m/MR][k][MR]``), ``b``
   by blocks of ``NR`` vectors of columns (``[n/(NR*W)][k][NR*W]``), so that the microkernel
   reads each block's operands contiguously. A tile packed afresh goes to one of the
   ``KC`` per-step regions of the worker's scratch block; its address goes to a list
   (reading rows with plain vector loads where the step's mask is all set cost ~10% more
   compile time for no gain measurable here);
2. every ``KC`` steps, and at the loop's last step, one microkernel runs over the chunk's
   steps: blocks of columns outside (a block of ``b``, ``KC`` steps of ``k x NR*W`` floats,
   stays in L1 while the blocks of rows stream ``a`` past it), each ``MR x NR`` block of
   accumulators loaded once, kept in registers over all the chunk's steps, stored once.

Chunks of ``_KC_ELEMS`` (128) along K. Tutorial 03, fp32, one Zen 3 core (AVX2), thread CPU
time, the two lowerings interleaved in one process, four runs at load 13-17 (ratios of
medians to OpenBLAS; the compiled kernels differ only in this lowering): 1024^3 with 32x64x64
blocks 0.76-0.86 against 0.58-0.79 dot by dot, with 64x64x32 blocks 0.75-0.88 against
0.73-0.87 (no difference beyond the noise); 2048^3 0.83-0.85 against 0.73-0.78, and
0.78-0.82 against 0.78-0.85. What is left of the gap is outside the microkernel, which runs at
OpenBLAS's speed: packing ``a`` and ``b`` (each tile once or twice per launch, from rows 4 KiB
apart) is 7-8% of the time, the rest of the program (pointer tiles, masks, panel keys, the
store) 3-4% (measured by skipping the packing, or the microkernel, in an A/B build). All of K
in one chunk (packing the whole K range, then one microkernel) ran at 0.62-0.70: the
program's tiles for all of K (512 KiB) leave L1 and L2 between their packing and their use;
256 per chunk ran at 0.78-0.83. 64x64x32's chunk of ``a`` (32 KiB) does not stay in L1 with
the block of ``b``; 64 per chunk for it did not measure better either.

``b``'s packed tiles are kept per column table in as many ``dot_apanels`` slots as
``_B_PANEL_BYTES`` per thread holds (each slot the loop's whole K range; at most
``dot_apanels.MAX_SLOTS``), not in ``dot_panels``' single one: tutorial 03's programs of a
thread cycle through every ``pid_n`` once per group of ``GROUP_SIZE_M`` rows, so with one
slot each column panel was packed once per group (2 times per launch at 1024^3 with 64x64x32
blocks, 4 at 2048^3); kept, once per thread. Profiled at 1024^3 (one thread, perf samples,
the two builds interleaved in one process at load 7-8), the microkernel's FMA loop went from
84.2% to 87.5% of the kernel's samples and the samples per launch down 4.3%. At 2048^3 the
32 panels take 16.5 MiB (64 entries of 8 KiB + ``SKEW``): with 8 MiB (15 slots), and the
slots then taken in turn, every panel was packed once per group as before; 16 MiB still held
only 31 (a cycle of 32 keys through 31 slots taken in turn keeps none). Now 24 MiB hold all
32, and a cycle longer than the slots keeps all but one of them (``helpers.APANEL_FIND``'s
ghosts). One thread, thread CPU time, paired ratios to OpenBLAS (``benchmarks/matmul_ab.py``),
the code before and after in alternating processes, load 3-4: 2048^3 0.81-0.90 -> 0.89-0.95
(64x64x32 and 32x64x64 blocks); in one process, 8 MiB against 17 MiB: 0.79-0.85 against
0.88-0.91; the ghosts alone (8 MiB) 0.79 -> 0.82.

The products are added in the same order as dot by dot (step after step, ``kk`` within a
step), so the result is the same bit for bit. The loop qualifies (``_plan``) when its step is
a positive constant, its body holds exactly one ``tt.dot`` (directly, not under an ``if``),
the dot accumulates into a carried fp32 tile (``acc = tl.dot(a, b, acc)`` or
``acc += tl.dot(a, b)``) that nothing else reads inside the loop, its result is yielded to the
same slot and used by nothing else, and its operands are 2-D tiles of fp32/fp16/bf16, with
``K`` and ``N`` multiples of the vector width. Other carried values (pointer tiles, scalars)
are lowered as usual: none of them can depend on the accumulator, which no one reads before
the loop ends. A dot that a dot-product instruction takes (``dot_packed``: bf16 into fp32
with AVX512-BF16, int8 into an int32 tile with AVX512-VNNI) is lowered so too, in that
instruction's packed orders and with its microkernel (``dot_kloop_packed``).

The worker's scratch slot (``launcher._emit_worker``) points at a block malloc'ed on first
use and freed when the worker ends::

    ptrs_a   ptr[KC] at 0       the chunk's packed a tiles, by step within the chunk
    ptrs_b   ptr[KC] at 64 * ceil(KC / 8)
    own      KC x (the packed a tile, the packed b tile) at twice that, each 64-aligned
             and ``dot_panels.SKEW`` bytes longer

A plan that reads bf16 ``a`` at its rows (``dot_kloop_packed.direct_a``) has tables of row
addresses in ``ptrs_a`` and, before ``own``, the steps' offsets (i64[KC]) and the table of
the program's rows (ptr[m]: ``dot_kloop_packed.direct_bytes``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import llvmlite.ir as ll

from tritium.backends.cpu import control, dot_amx, dot_epilogue, dot_packed, memory, scratch
from tritium.backends.cpu import dot_apanels as apanels
from tritium.backends.cpu import dot_kloop_packed as packed_kind
from tritium.backends.cpu import dot_npanels as npanels
from tritium.backends.cpu import dot_panels as panels
from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.codegen import Lowering
from tritium.backends.cpu.dot_ahead import Ahead
from tritium.backends.cpu.elementwise import call_intrinsic
from tritium.backends.cpu.launcher import SCRATCH_SLOTS
from tritium.backends.cpu.reduce import _Vars
from tritium.backends.cpu.tiles import Buffer, Index, Lazy
from tritium.ir import Operation, Value
from tritium.ir import types as irt

__all__ = ["Plan", "plan_of"]

_ENABLED = True  # for A/B timing in one process (benchmarks), not a user setting
_KC_ELEMS = 128  # K elements per chunk of steps (see the module docstring)
_FLOATS = (irt.f32, irt.f16, irt.bf16)
_B_PANEL_BYTES = 24 << 20  # b's kept column panels, per thread (see the module docstring)
_B_SLOTS = True  # b's tiles kept per column panel (else dot_panels' one): for A/B timing
_PACKED = True  # dots of dot_packed's instructions too (else dot by dot): for A/B timing
_SHARED = True  # bf16's b tiles in launch-wide tables (dot_apanels): for A/B timing


@dataclass
class Plan:
    """One K loop lowered by chunks of steps (see the module docstring)."""

    cx: Lowering
    loop: Operation
    dot: Operation
    slot: int  # the carried accumulator's slot
    scratch: int  # the worker's scratch slot
    m: int
    n: int
    k: int
    counter: ll.Value | None = None  # i64 alloca: steps recorded so far
    region: ll.Value | None = None  # ptr alloca: the scratch block
    trips: ll.Value | None = None  # i64: the loop's iterations
    kind: dot_packed.Kind | None = None  # the dot-product instruction, if one takes the dot
    epilogue: dot_epilogue.Epilogue | None = None  # the C tile's store, done by the last chunk
    last: ll.Value | None = None  # i1, in the loop: this step is the last one
    amx: dot_amx.Tiles | None = None  # AMX tiles run the chunks (``kind``: theirs), see dot_amx
    direct: bool = False  # bf16's a read at its rows, not packed (dot_kloop_packed.direct_a)
    ahead: Ahead | None = None  # int8 b's rows prefetched a chunk ahead (dot_ahead)

    @property
    def kc(self) -> int:
        """Steps per chunk."""
        if self.kind is not None:
            return max(1, _KC_ELEMS * packed_kind.kc_scale(self) // self.k)
        return max(1, _KC_ELEMS // self.k)

    @property
    def width(self) -> int:
        if self.kind is not None:
            return packed_kind.LANES
        return self.cx.chunk_width((self.n,))

    def blocking(self) -> tuple[int, int]:
        """(MR, NR) of the microkernel, as ``dot``'s."""
        from tritium.backends.cpu import dot as dot_mod

        if self.kind is not None:
            return packed_kind.blocking(self.m, self.n)
        return dot_mod._blocking(self.m, self.n, self.width, dot_mod._acc_registers(self.cx))

    def _layout(self) -> tuple[int, int, int, int]:
        """(offset of ptrs_b, of own, bytes of an a tile, of a b tile) in the block."""
        lists = _round64(8 * self.kc)
        ta = _round64(self.m * self.k * 4) + panels.SKEW
        tb = _round64(self.k * self.n * 4) + panels.SKEW
        return lists, 2 * lists + packed_kind.direct_bytes(self), ta, tb

    def begin(self) -> None:
        """Before the loop: the worker's block (allocated on first use), no step recorded."""
        cx, b = self.cx, self.cx.b
        i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
        holder = b.gep(cx.scratch_ptr, [i64(self.scratch)], source_etype=lu.PTR)
        self.region = lu.entry_alloca(b, cx.alloca_block, lu.PTR, 1, align=8, name="kl.region")
        self.counter = lu.entry_alloca(b, cx.alloca_block, lu.I64, 1, align=8, name="kl.steps")
        held = b.load(holder, typ=lu.PTR)
        with b.if_then(b.icmp_unsigned("==", b.ptrtoint(held, lu.I64), i64(0)), likely=False):
            _, own, ta, tb = self._layout()
            size = i64(own + self.kc * (ta + tb))
            fresh = scratch.emit_block(b, cx.module, holder, size)  # the thread's kept one
            with b.if_then(b.icmp_unsigned("==", b.ptrtoint(fresh, lu.I64), i64(0))):
                from tritium.backends.cpu.debug import _fail

                cx.root.asserts.append(
                    f"{self.dot.loc}: out of memory for the packed tiles of a tl.dot K loop"
                )
                _fail(cx, len(cx.root.asserts))
        b.store(b.load(holder, typ=lu.PTR), self.region)
        b.store(i64(0), self.counter)
        lb, ub, st = (cx.scalar(x) for x in self.loop.operands[:3])
        lb, ub, st = (x if x.type == lu.I64 else b.sext(x, lu.I64) for x in (lb, ub, st))
        self.trips = b.sdiv(b.add(b.sub(ub, lb), b.sub(st, i64(1))), st)  # st > 0
        # fp32's microkernel: not measured. Where ``a`` is read at its rows, only if C's tile
        # lies apart from them (checked at the first step, ``record_a``): a block's fused
        # store could overwrite rows of ``a`` (``h = h @ w`` in place) that a later block of
        # the same last chunk still reads there
        if self.kind is not None and (not self.direct or packed_kind.DIRECT_STORE):
            shape = (self.m, self.n)
            self.epilogue = dot_epilogue.plan(cx, self.loop, self.dot, self.slot, shape)
            if self.epilogue is not None and self.direct:
                apart = lu.entry_alloca(b, cx.alloca_block, lu.I1, 1, align=1, name="kl.apart")
                b.store(ll.Constant(lu.I1, 0), apart)
                self.epilogue.apart = apart

    def pack_step(self, a: Value, bv: Value) -> None:
        """In the loop, for its dot: pack this step's ``a`` and ``b`` and record where."""
        b = self.cx.b
        assert self.counter is not None and self.region is not None
        i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
        s = b.load(self.counter, typ=lu.I64)
        b.store(b.add(s, i64(1)), self.counter)
        j = b.urem(s, i64(self.kc))  # the step within its chunk
        region = b.load(self.region, typ=lu.PTR)
        lists, own, ta, tb = self._layout()
        for v, operand, list_off, own_off in ((a, 0, 0, own), (bv, 1, lists, own + ta)):
            at = b.add(i64(own_off), b.mul(j, i64(ta + tb)))
            shape = irt.shape_of(v.type)
            elem = irt.f32 if self.kind is None else packed_kind.entry_elem(self.kind, operand)
            buf = Buffer(b.gep(region, [at], source_etype=lu.I8), shape, (shape[1], 1), elem)
            if operand == 0 and self.direct:
                first = b.icmp_unsigned("==", s, i64(0))
                packed_kind.record_a(self, v, first, j, buf)
                continue
            ptr = self._pack(v, operand, buf)
            ptrs = b.gep(region, [i64(list_off)], source_etype=lu.I8)
            b.store(ptr, b.gep(ptrs, [j], source_etype=lu.PTR))

    def _pack(self, v: Value, operand: int, own: Buffer) -> ll.Value:
        """The address of ``v`` packed: an entry kept by ``dot_panels``/``dot_apanels`` when
        they apply, else ``own``."""
        from tritium.backends.cpu import dot as dot_mod

        cx = self.cx
        ref = cx.refs[v]
        load = ref.op if isinstance(ref, Lazy) and ref.op.name == "tt.load" else None
        step = dot_mod._loop_step_bytes(cx, load.operands[0]) if load is not None else None
        pack = self._packer(v, operand, load, step)
        site = None
        if load is not None and step is not None:
            site = panels.site(cx, v, load, self.dot, operand=operand)
        if site is None:
            pack(own)
            return own.ptr
        assert load is not None and step is not None
        if operand == 1 and self.kind is dot_packed.INT8 and npanels.applies(cx, load):
            wide = packed_kind.wide_packer(self, v, load, step)
            self.ahead = Ahead.of(self, load, step)
            span = self.ahead.span if self.ahead is not None else None
            return npanels.reused(cx, site, v, load, step, own, pack, wide, all_set, span).ptr
        if operand == 0 or not _B_SLOTS or self.kind is dot_packed.INT8:
            keep = apanels.reused if operand == 0 else panels.reused
            return keep(cx, site, v, load, step, own, pack, all_set).ptr
        # b: one slot per column panel (``pid_n``), kept across groups of programs (bf16's
        # in a launch-wide table when several workers run: dot_apanels' ``shared``). Not for
        # int8: its tutorial's W8A8 shapes (64 x 2048 x 2048: one row of programs) never
        # reuse a column panel, and packing into a slot gone cold (32 of them, 8 MiB) ran
        # slower than into the single slot dot_panels keeps warm: 229 -> 270 GOP/s (64x64x64
        # blocks), 214 -> 247 (32x64x128), one Zen 4 thread, interleaved, load 6.
        shared = _SHARED and self.kind is dot_packed.BF16
        keep_b = apanels.reused(
            cx, site, v, load, step, own, pack, all_set, None, _B_PANEL_BYTES, "bpanel", shared
        )
        return keep_b.ptr

    def _packer(
        self, v: Value, operand: int, load: Operation | None, step: ll.Value | None
    ) -> Callable[[Buffer], None]:
        """A function packing ``v`` (``a``: operand 0, or ``b``) into a buffer's memory in
        the microkernel's order, prefetching the next step's tile when the loop advances
        its pointers by ``step`` bytes."""
        from tritium.backends.cpu import dot as dot_mod

        cx, b = self.cx, self.cx.b
        src = irt.element_type(v.type)
        w = self.width
        f32 = lu.llvm_type(irt.f32)
        i32 = lambda x: ll.Constant(lu.I32, x)  # noqa: E731
        mr, nr = self.blocking()
        nb = nr * w

        ref = cx.refs[v]
        flipped: Buffer | None = None
        if isinstance(ref, dot_mod.Transposed) or (
            isinstance(ref, Buffer) and dot_mod._is_transposed_view(cx, ref)
        ):
            # ``tl.trans(x)``: transposed W x W in registers first (no gathers)
            flipped = dot_mod._transpose_pack(cx, ref, irt.f32 if self.kind is None else src)

        ptr = load.operands[0] if load is not None else None

        def fetch(idx: Index) -> ll.Value:
            if flipped is not None:
                return cx.read_buffer(flipped, idx)
            if step is not None and ptr is not None:  # the next step's lines
                # lane 0 as a scalar, as the load's own address: LLVM merges the two (from
                # the vector of addresses, each row kept a vector add and an extract)
                first = b.inttoptr(memory._lane(cx, ptr, idx, 0), lu.PTR)
                dot_mod._prefetch(cx, b.gep(first, [step], source_etype=lu.I8))
            if self.kind is not None:
                return cx.eval(v, idx)
            return dot_mod._convert(cx, cx.eval(v, idx), src, irt.f32)

        if self.amx is not None and operand == 0:
            return dot_amx.packer(self, fetch)
        if self.kind is not None:
            direct = load if flipped is None else None
            return packed_kind.packer(self, v, operand, fetch, direct, step)

        def pack_b(dest: Buffer) -> None:  # [n / nb][k][nb]
            for idx in cx.chunks((self.k, self.n), width=w):
                kk, col = idx.dims
                off = b.add(b.mul(b.udiv(col, i32(nb)), i32(self.k * nb)), b.mul(kk, i32(nb)))
                at = b.gep(dest.ptr, [b.add(off, b.urem(col, i32(nb)))], source_etype=f32)
                b.store(fetch(idx), at, align=4)

        def rows_block(dest: Buffer, row0: ll.Value, rows: int) -> None:
            # ``rows`` rows from row0, w columns at a time: loaded as rows, stored K-major
            with lu.for_range(b, i32(0), i32(self.k), w, name="pka") as kk0:
                vecs = [fetch(Index((b.add(row0, i32(r)), kk0), w)) for r in range(rows)]
                base = b.add(b.mul(row0, i32(self.k)), b.mul(kk0, i32(rows)))
                for q, out in enumerate(_interleave(b, vecs, w)):
                    at = b.gep(dest.ptr, [b.add(base, i32(q * w))], source_etype=f32)
                    b.store(out, at, align=4)

        def pack_a(dest: Buffer) -> None:  # [m / mr][k][mr], the last block shorter
            row_blocks(b, self.m, mr, lambda row0, rows: rows_block(dest, row0, rows), "pkr")

        return pack_a if operand == 0 else pack_b

    def after_step(self, acc_v: Value) -> None:
        """In the loop, after its dot packed: the microkernel over the chunk this step ends
        (every ``kc``-th step, and the last one: a single copy of the microkernel)."""
        b = self.cx.b
        assert self.counter is not None and self.trips is not None
        i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
        done = b.load(self.counter, typ=lu.I64)  # steps recorded, this one included
        whole = b.icmp_unsigned("==", b.urem(done, i64(self.kc)), i64(0))
        self.last = b.icmp_signed("==", done, self.trips)
        with b.if_then(b.or_(whole, self.last)):
            self._run(acc_v, b.add(b.urem(b.sub(done, i64(1)), i64(self.kc)), i64(1)))

    def finish(self) -> None:
        """After the loop: its last step ran the last chunk (and stored the C tile, when
        ``dot_epilogue`` applies: the store op is lowered here for a loop that ran no step
        and for an output that streams)."""
        if self.epilogue is None:
            return
        cx, b = self.cx, self.cx.b
        assert self.counter is not None
        ran = b.load(self.counter, typ=lu.I64)
        none = b.icmp_unsigned("==", ran, ll.Constant(lu.I64, 0))
        with b.if_then(b.or_(none, b.not_(self.epilogue.now(b))), likely=False):
            cx.lower_op(self.epilogue.store)
        cx.folded.add(self.epilogue.store)

    def _run(self, acc_v: Value, steps: ll.Value) -> None:
        """``acc += sum over j < steps of A_j @ B_j`` for the chunk's recorded tiles."""
        cx, b = self.cx, self.cx.b
        assert self.region is not None
        acc = cx.refs[acc_v]
        acc_t = irt.f32 if self.kind is None else self.kind.acc
        assert isinstance(acc, Buffer) and acc.is_contiguous and acc.elem == acc_t
        region = b.load(self.region, typ=lu.PTR)
        lists, _, _, _ = self._layout()
        ptrs_b = b.gep(region, [ll.Constant(lu.I64, lists)], source_etype=lu.I8)
        if self.amx is not None:
            dot_amx.microkernel(self, self.amx, acc, (region, ptrs_b), steps)
        elif self.kind is not None:
            packed_kind.microkernel(self, acc, (region, ptrs_b), steps)
        else:
            self._microkernel(acc, (region, ptrs_b), steps)

    def _microkernel(self, acc: Buffer, lists: tuple[ll.Value, ll.Value], steps: ll.Value) -> None:
        b = self.cx.b
        m, n, k = self.m, self.n, self.k
        w = self.width
        mr, nr = self.blocking()
        nb = nr * w
        i32 = lambda x: ll.Constant(lu.I32, x)  # noqa: E731
        f32 = lu.llvm_type(irt.f32)
        vt = lu.vec(f32, w)

        def block(row0: ll.Value, col0: ll.Value, rows: int) -> None:
            corner = Index((row0, col0), w)
            acc_at = self.cx.chunk_at(acc, corner)  # the block's accumulators: one address
            regs = [
                self.cx.read_buffer(acc, corner, acc_at(r, v * w))
                for r in range(rows)
                for v in range(nr)
            ]
            carried = _Vars(self.cx, regs)
            with lu.for_range(b, ll.Constant(lu.I64, 0), steps, name="ks") as j:
                pa = b.load(b.gep(lists[0], [j], source_etype=lu.PTR), typ=lu.PTR)
                pb = b.load(b.gep(lists[1], [j], source_etype=lu.PTR), typ=lu.PTR)
                a_blk = b.gep(pa, [b.mul(row0, i32(k))], source_etype=f32)  # [k][rows]
                b_blk = b.gep(pb, [b.mul(col0, i32(k))], source_etype=f32)  # [k][nb]
                with lu.for_range(b, i32(0), i32(k), name="k") as kk:
                    cur = carried.get()
                    b_row = b.gep(b_blk, [b.mul(kk, i32(nb))], source_etype=f32)
                    bvecs = [
                        b.load(b.gep(b_row, [i32(v * w)], source_etype=f32), typ=vt, align=4)
                        for v in range(nr)
                    ]
                    a_row = b.gep(a_blk, [b.mul(kk, i32(rows))], source_etype=f32)
                    new = []
                    for r in range(rows):
                        at = b.gep(a_row, [i32(r)], source_etype=f32)
                        a_s = lu.splat(b, b.load(at, typ=f32, align=4), w)
                        for v in range(nr):
                            prev = cur[r * nr + v]
                            new.append(call_intrinsic(self.cx, "fmuladd", [a_s, bvecs[v], prev]))
                    carried.set(new)
            out = carried.get()
            for r in range(rows):
                for v in range(nr):
                    self.cx.write_chunk(acc, corner, out[r * nr + v], acc_at(r, v * w))

        register_blocks(b, m, n, mr, nb, block)


def row_blocks(
    b: ll.IRBuilder, m: int, mr: int, body: Callable[[ll.Value, int], None], name: str
) -> None:
    """``body(row0, rows)`` for each block of ``mr`` of ``m`` rows: a loop (named ``name``)
    over the whole blocks, then the shorter last one."""
    full = m - m % mr
    if full:
        with lu.for_range(b, ll.Constant(lu.I32, 0), ll.Constant(lu.I32, full), mr, name=name) as r:
            body(r, mr)
    if m % mr:
        body(ll.Constant(lu.I32, full), m % mr)


def register_blocks(
    b: ll.IRBuilder,
    m: int,
    n: int,
    mr: int,
    nb: int,
    block: Callable[[ll.Value, ll.Value, int], None],
) -> None:
    """A microkernel's sweep: ``block(row0, col0, rows)`` for each ``mr`` x ``nb`` block of
    accumulators, blocks of columns outside (one of ``b``'s packed blocks stays in L1 while
    the blocks of rows stream ``a`` past it)."""

    def rows_of(col0: ll.Value) -> None:
        row_blocks(b, m, mr, lambda row0, rows: block(row0, col0, rows), "mb")

    if n == nb:
        rows_of(ll.Constant(lu.I32, 0))
    else:
        with lu.for_range(b, ll.Constant(lu.I32, 0), ll.Constant(lu.I32, n), nb, name="nb") as col0:
            rows_of(col0)


def all_set(cx: Lowering, mask: Value) -> ll.Value:
    """i1: every element of the tile ``mask`` is set. An ``arith.andi`` of two tiles is
    checked operand by operand, so that ``dot._all_true`` looks through each one's
    ``tt.broadcast``: the int8 tutorial's ``(offs_m[:, None] < M) & (offs_k[None, :] <
    k_left)`` was checked as a whole 32 x 128 tile in every K step (a fifth of the kernel's
    samples at 64x2048x2048, one Zen 4 thread); now a column and a row."""
    from tritium.backends.cpu import dot as dot_mod

    op = mask.defining_op
    if op is not None and op.name == "arith.andi" and isinstance(mask.type, irt.TensorType):
        x, y = op.operands
        if irt.shape_of(x.type) == irt.shape_of(y.type) == irt.shape_of(mask.type):
            return cx.b.and_(all_set(cx, x), all_set(cx, y))
    return dot_mod._all_true(cx, mask)


def _round64(n: int) -> int:
    return -(-n // 64) * 64


def _mask(idx: list[int]) -> ll.Constant:
    return ll.Constant(lu.vec(lu.I32, len(idx)), idx)


def _interleave(b: ll.IRBuilder, vecs: list[ll.Value], w: int) -> list[ll.Value]:
    """The ``len(vecs) x w`` lanes of ``vecs`` (rows) in column-major order, as
    ``len(vecs)`` vectors of ``w`` lanes: output lane ``L`` of the whole holds row
    ``L % rows``, column ``L // rows``.

    Rows and width powers of two (tile shapes are): a butterfly of ``log2(min(rows, w))``
    rounds of ``rows`` two-input shuffles, each round trading one bit of the row (which
    vector) for one bit of the column (which lane), the last round also putting the lanes in
    their final order. Tutorial 03's 8 x 16 ``a`` blocks (AVX-512): 24 shuffles, one
    ``vpermt2ps`` each, against 57 from the merge tree below (whose partly-poison masks LLVM
    turned into 32 ``vpermt2ps``, 16 ``vshufpd`` and a spilled index register per shuffle);
    with the prefetch addresses of ``fetch`` as scalars, the tutorial matmul's code
    generation took 8-9 ms less (EPYC Zen 4, thread CPU time; the object 11.7 -> 8.1 KiB)
    and the kernel runs as fast (``benchmarks/matmul_ab.py``, 1024^3 and 512^3, both configs:
    paired ratios to OpenBLAS within +-0.03 of the tree's at load 4)."""
    rows = len(vecs)
    if rows & (rows - 1) or w & (w - 1):
        return _interleave_tree(b, vecs, w)
    p, q = rows.bit_length() - 1, w.bit_length() - 1
    rounds = min(p, q)
    final = [[divmod(at, rows)[::-1] for at in range(v * w, v * w + w)] for v in range(rows)]
    # what each vector holds, lane by lane, as (row, column)
    held = [[(r, c) for c in range(w)] for r in range(rows)]
    for i in range(rounds):
        bit = 1 << (q - rounds + i)  # the lane bit that trades places with row bit i
        made, now = [], []
        for v in range(rows):
            if i == rounds - 1:
                want = final[v]
                src = next(x for x in range(rows) if want[0] in held[x])
                lo = src & ~(1 << i)
            else:
                lo = v & ~(1 << i)
                half = bit if v >> i & 1 else 0
                want = [
                    held[lo | (1 << i) if lane & bit else lo][lane & ~bit | half]
                    for lane in range(w)
                ]
            hi = lo | (1 << i)
            where = {t: lane for lane, t in enumerate(held[lo])}
            where.update({t: w + lane for lane, t in enumerate(held[hi])})
            made.append(b.shuffle_vector(vecs[lo], vecs[hi], _mask([where[t] for t in want])))
            now.append(want)
        vecs, held = made, now
    return vecs


def _interleave_tree(b: ll.IRBuilder, vecs: list[ll.Value], w: int) -> list[ll.Value]:
    """:func:`_interleave` for any number of rows: each output vector is merged from the rows by
    a tree of two-input shuffles of ``w`` lanes (wider shuffles took LLVM far longer to
    compile)."""
    rows = len(vecs)
    outs = []
    for q in range(rows):
        lanes = [q * w + j for j in range(w)]  # positions in the whole

        def pick(src: int, lane: int, lanes: list[int] = lanes) -> int | None:
            """Where output lane ``lane`` is in row ``src``'s vector, if it is that row's."""
            at = lanes[lane]
            return at // rows if at % rows == src else None

        # (vector, the rows it holds at their output lanes); rows not yet placed: raw
        parts: list[tuple[ll.Value, set[int]]] = []
        for r in range(0, rows, 2):
            pair = [r, r + 1] if r + 1 < rows else [r]
            x = vecs[r]
            y = vecs[pair[-1]]
            mask = []
            for lane in range(w):
                p0, p1 = pick(r, lane), pick(pair[-1], lane)
                mask.append(p0 if p0 is not None else (w + p1 if p1 is not None else 0))
            parts.append((b.shuffle_vector(x, y, _mask(mask)), set(pair)))
        while len(parts) > 1:
            nxt = []
            for i in range(0, len(parts) - 1, 2):
                (x, sx), (y, sy) = parts[i], parts[i + 1]
                mask = []
                for lane in range(w):
                    row = lanes[lane] % rows
                    mask.append(lane if row in sx else (w + lane if row in sy else 0))
                nxt.append((b.shuffle_vector(x, y, _mask(mask)), sx | sy))
            if len(parts) % 2:
                nxt.append(parts[-1])
            parts = nxt
        outs.append(parts[0][0])
    return outs


def _accumulation(loop: Operation, dot: Operation) -> int | None:
    """The carried slot the dot accumulates into (``dot(a, b, acc)``, or ``acc + dot(a, b)``
    with a zero ``c``), when only the dot (or the add) reads it inside the loop and the
    result only goes back to that slot; else None."""
    from tritium.backends.cpu import dot as dot_mod

    body = loop.regions[0].block
    term = body.terminator
    if term is None or term.name != "scf.yield":
        return None
    res, c, reader = dot.result, dot.operands[2], dot
    if dot_mod._is_zero(c) and len({id(u) for u in res.uses}) == 1:
        use = res.uses[0]
        if use.name in ("arith.addf", "arith.addi") and use.parent is body:
            other = [o for o in use.operands if o is not res]
            if len(other) != 1:
                return None
            res, c, reader = use.result, other[0], use
    if c.defining_op is not None or c.owner is not body or c.index == 0:
        return None
    if any(u is not reader for u in c.uses):
        return None
    slot = c.index - 1
    if any(u is not term for u in res.uses) or term.operands[slot] is not res:
        return None
    if sum(1 for o in term.operands if o is res) != 1:
        return None
    return slot


def plan_of(cx: Lowering, dot: Operation) -> Plan | None:
    """The plan of the K loop whose ``dot`` is being lowered, if that loop qualified."""
    plans: dict[int, Plan] = getattr(cx, "kloop_plans", {})
    return plans.get(id(dot))


def _plan(cx: Lowering, loop: Operation) -> Plan | None:
    """A :class:`Plan` for ``loop`` when it qualifies (see the module docstring)."""
    if not _ENABLED or not cx.is_kernel or getattr(cx, "scratch_ptr", None) is None:
        return None
    if getattr(cx, "scratch_slots", 0) >= SCRATCH_SLOTS:
        return None
    st = loop.operands[2].defining_op
    if st is None or st.name != "arith.constant" or not isinstance(st.attrs["value"], int):
        return None
    if st.attrs["value"] <= 0:
        return None
    body = loop.regions[0].block
    dots = [o for o in loop.walk() if o.name == "tt.dot"]
    if len(dots) != 1 or dots[0].parent is not body:
        return None
    dot = dots[0]
    a, b, _ = dot.operands
    a_t, b_t, r_t = (irt.element_type(x.type) for x in (a, b, dot.result))
    if len(irt.shape_of(a.type)) != 2 or len(irt.shape_of(b.type)) != 2:
        return None
    m, k = irt.shape_of(a.type)
    n = irt.shape_of(b.type)[1]
    kind = dot_packed.applies(cx, a, b, r_t) if _PACKED else None
    amx = dot_amx.choose(cx, a, b, r_t) if _PACKED else None
    kind = amx.kind if amx is not None else kind
    if kind is not None:
        if packed_kind.words_per_chunk(kind, k) is None:
            return None
    else:
        if a_t not in _FLOATS or b_t not in _FLOATS or r_t != irt.f32:
            return None
        if dot_packed.applies(cx, a, b, irt.f32) is not None:
            return None  # dot by dot, with the instruction (``_PACKED`` off)
        w = cx.chunk_width((n,))
        if n % w or k % w:
            return None
        from tritium.backends.cpu import dot as dot_mod

        mr, _ = dot_mod._blocking(m, n, w, dot_mod._acc_registers(cx))
        load = b.defining_op
        if mr == m and load is not None and load.name == "tt.load" and load.parent is body:
            return None  # one block of rows reads each step's b once: at its source (dot._streams)
    slot = _accumulation(loop, dot)
    if slot is None:
        return None
    scratch = getattr(cx, "scratch_slots", 0)
    cx.scratch_slots = scratch + 1  # type: ignore[attr-defined]  # read by launcher._emit_worker
    plan = Plan(cx, loop, dot, slot, scratch, m, n, k, kind=kind, amx=amx)
    plan.direct = kind is dot_packed.BF16 and amx is None and packed_kind.direct_a(cx, loop, dot)
    plans = getattr(cx, "kloop_plans", None)
    if plans is None:
        plans = {}
        cx.kloop_plans = plans  # type: ignore[attr-defined]
    plans[id(dot)] = plan
    return plan


def _hook(cx: Lowering, loop: Operation) -> Plan | None:
    plan = _plan(cx, loop)
    if plan is not None:
        plan.begin()
    return plan


control.LOOP_HOOKS.append(_hook)
