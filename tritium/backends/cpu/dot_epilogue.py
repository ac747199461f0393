"""The C tile's store after a chunked bf16 / int8 K loop (``dot_kloop``), done by its last
microkernel, block by block.

Tutorial 03 stores its ``BLOCK_M x BLOCK_N`` fp32 tile after the K loop. Lowered as written,
that store is a loop of its own after the last chunk's microkernel: 256 chunks of lines not
in L1 (64 rows 2-4 KiB apart), stored back to back, so that the store queue fills and the
core waits on the stores (1 thread, bf16 512^3: 3-5 % of the kernel's samples on the store
loop, most on the masked ``vmovups``; the same kernel storing its tile to the same 16 KiB in
every program, or storing a column sum only, ran 2-3 % faster; one storing each program's
tile to 16 contiguous KiB, or without the mask, did not). Prefetching the tile's lines for
writing, all of them at the start of the last chunk or four rows ahead inside the store loop,
measured no change (paired ratios 0.995-1.002).

Here, in the loop's last step, each ``MR x NR`` block of accumulators, once final, is written
to the accumulator tile as before and stored right away by the store op's own chunk rule
(pointer, mask, conversion to the output's type, activation), and the block's lines of C are
requested for writing (``prefetchw``) when the block starts, a block's work (~1000 cycles)
before its stores: the stores drain while the next blocks compute. The store op itself is
lowered after the loop, run only for a loop that ran no step (``K = 0``: the tile holds its
initial value) and for a launch whose output streams past the caches (its non-temporal
stores, ``streaming``, stay there). One chunk in a loop per block, not one copy per register:
16 copies took LLVM 70 ms more on the bf16 tutorial kernel's cold compile, the loop 13 ms
(thread CPU, medians of 9, 3 alternating process pairs: 125-133 -> 137-147 ms).

It applies (:func:`plan`) when the first op after the loop that is not pure index or value
arithmetic on fused tiles is that store, its value comes from the loop's accumulator through
such ops only (``acc.to(c.dtype)``, an activation) and no fused tile load (which would be
read between the blocks' stores), its pointer and mask from values available before the
loop, no op after it in the block stores (``stride_pairs`` and ``store_groups`` lower pairs
of stores together), and the loop body writes no memory and
loads only the dot's operands: moving the store into the loop's last step then changes no
value anyone reads. The ops computing its operands are lowered before the loop (pure, and
fused tiles emit no code there). The int8 tutorial loads its scales after the loop: it keeps
its store. fp32's microkernel does not take it (not measured).

A bf16 loop whose ``a`` is read at its rows (``dot_kloop_packed.direct_a``) takes it only
where a check at run time finds C's tile apart from every row of ``a`` the loop reads
(:meth:`Epilogue.record_apart`, at the loop's first step; else the store op after the loop):
a block's store could overwrite rows of ``a`` (``h = h @ w`` in place) that a later block of
the last chunk still reads there (errors of 390 and 3.8e4 when the store was fused for every
such loop). The check is a min and max over the tile's rows of both ranges, ``a``'s widened
by how far the loop moves it (a step that is one value for all iterations only), once per
program; it takes C's rows whole only where ``dot_kloop_packed.rows_whole`` says so.
Tutorial 03 bf16 (2-core Zen 4 KVM guest, the store fused or after the loop compiled in one
process, interleaved with torch, paired ratios of medians, load 2-3.5): one thread, thread
CPU, 1024^3 1.011-1.025 / 1.008-1.025 (64x64x32 / 32x64x64 blocks), 512^3 1.008 / 1.015; two
threads, wall time, 1024^3 1.033 / 1.034 (16 rounds at load 2.5) and 1.015 / 1.014 (30).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu import memory
from tritium.backends.cpu.analysis import reads_memory
from tritium.backends.cpu.codegen import LAZY_RULES, STATEMENT_RULES, Lowering
from tritium.backends.cpu.elementwise import ELEMENTWISE
from tritium.backends.cpu.reduce import _Vars
from tritium.backends.cpu.streaming import auto_streaming
from tritium.backends.cpu.tiles import Buffer, Index
from tritium.ir import Operation, Value, is_elementwise
from tritium.ir import types as irt

__all__ = ["Epilogue", "plan"]

_ENABLED = True  # for A/B timing in one process (benchmarks), not a user setting

#: ops of the loop body that neither write memory nor stop the program
_SIDE_EFFECTS = frozenset(
    {"tt.store", "tt.atomic_rmw", "tt.atomic_cas", "tt.call", "tt.print", "tt.assert"}
)


@dataclass
class Epilogue:
    """The store of a K loop's accumulator done by the loop's last microkernel."""

    store: Operation
    acc: Value  # the loop's result that the store's value is computed from
    # i1, before the loop: the store is fused (not a launch whose output streams past the
    # caches: those keep the store op's non-temporal stores, after the loop)
    fused: ll.Value
    elem: irt.Type = field(init=False)
    # i1 alloca where ``a`` is read at its rows: set at the loop's first step when C's tile
    # lies apart from every row of ``a`` the loop reads (``record_apart``); else None
    apart: ll.Value | None = None

    def __post_init__(self) -> None:
        pointee = irt.element_type(self.store.operands[0].type)
        assert isinstance(pointee, irt.PointerType)
        self.elem = pointee.pointee

    def prefetch(self, cx: Lowering, row0: ll.Value, col0: ll.Value, rows: int, w: int) -> None:
        """Request the lines of the tile's ``rows x w`` block at (``row0``, ``col0``) for
        writing: each row's first byte of every 64, and its last."""
        b = cx.b
        span = w * lu.elem_size(self.elem)
        fn = lu.intrinsic(cx.module, "llvm.prefetch.p0", lu.VOID, [lu.PTR, lu.I32, lu.I32, lu.I32])
        i32 = lambda x: ll.Constant(lu.I32, x)  # noqa: E731
        with lu.for_range(b, row0, b.add(row0, i32(rows)), name="epf") as row:
            at = self._address(cx, Index((row, col0), 1))
            for off in [*range(0, span, 64), span - 1]:
                # write, keep in all levels (prefetchw), data
                b.call(fn, [b.gep(at, [i32(off)], source_etype=lu.I8), i32(1), i32(3), i32(1)])

    def store_block(
        self,
        cx: Lowering,
        acc: Buffer,
        at: tuple[ll.Value, ll.Value],
        rows: int,
        w: int,
        lanes: int,
    ) -> None:
        """Store the tile's ``rows x w`` block at ``at`` (row, column) by chunks of ``lanes``,
        the accumulator's final values being in ``acc`` (just written there: one copy of the
        store's chunk in a loop, not one per register, which took LLVM 70 ms more)."""
        b = cx.b
        ptr, value = self.store.operands[0], self.store.operands[1]
        mask = self.store.operands[2] if len(self.store.operands) > 2 else None
        i32 = lambda x: ll.Constant(lu.I32, x)  # noqa: E731
        row0, col0 = at
        with lu.for_range(b, row0, b.add(row0, i32(rows)), name="ers") as row:
            with lu.for_range(b, col0, b.add(col0, i32(w)), lanes, name="ecs") as col:
                idx = Index((row, col), lanes)
                idx.cache[id(self.acc)] = cx.read_buffer(acc, idx)
                p = cx.eval(ptr, idx)
                v = cx.eval(value, idx)
                m = cx.eval(mask, idx) if mask is not None else None
                sf = memory.scalar_form(cx, ptr, mask, idx)
                contiguous = memory.contiguity(cx, ptr, idx.width)
                memory.store_vector(cx, p, self.elem, v, m, contiguous, False, sf)

    def when(self, b: ll.IRBuilder, last: ll.Value) -> ll.Value:
        """i1: the microkernel that runs now stores the tile (``last``: it is the loop's
        last)."""
        if isinstance(self.fused, ll.Constant) and self.apart is None:
            return last
        return self.now(b, last)

    def now(self, b: ll.IRBuilder, last: ll.Value | None = None) -> ll.Value:
        """i1: the store is fused (``fused`` and, where ``a`` is read at its rows, ``apart``),
        and'ed with ``last`` if given."""
        ok = self.fused if last is None else b.and_(last, self.fused)
        if self.apart is not None:
            ok = b.and_(ok, b.load(self.apart, typ=lu.I1))
        return ok

    def record_apart(
        self,
        cx: Lowering,
        a_row: Callable[[ll.Value], ll.Value],
        m: int,
        row_bytes: int,
        travel: ll.Value,
    ) -> None:
        """At the loop's first step, where ``a`` is read at its rows: set ``apart`` when the
        byte range of C's tile (its rows, each run whole from its first address: see
        ``dot_kloop_packed.rows_whole``) and that of the rows of ``a`` over the whole loop
        do not meet. ``a_row(r)``: row ``r``'s first address now (i64), ``row_bytes`` read
        from it by a step, ``travel`` (i128) how far the loop's steps move the rows in all
        (negative: down). Min and max over the rows: ``m`` iterations a program, once."""
        from tritium.backends.cpu.dot_kloop_packed import rows_checkable, rows_whole

        assert self.apart is not None
        ptr = self.store.operands[0]
        if not rows_checkable(ptr):
            return  # rows maybe not contiguous: not told apart, the store op after the loop
        b = cx.b
        # the ranges in i128 (signed): an address plus a travel of any 64-bit size (a pointer
        # moved past 0 in masked-off steps) neither wraps nor saturates there
        i128 = ll.IntType(128)
        wide = lambda x: ll.Constant(i128, x)  # noqa: E731
        width = irt.shape_of(ptr.type)[1] * lu.elem_size(self.elem)
        zero = wide(0)
        down = b.icmp_signed("<", travel, zero)
        before = b.select(down, travel, zero)
        after = b.add(b.select(down, zero, travel), wide(row_bytes))
        top = wide((1 << 127) - 1)
        bounds = _Vars(cx, [top, wide(-(1 << 127)), top, wide(-(1 << 127))])  # a's, C's lo, hi

        def smin(x: ll.Value, y: ll.Value) -> ll.Value:
            return b.select(b.icmp_signed("<", x, y), x, y)

        def smax(x: ll.Value, y: ll.Value) -> ll.Value:
            return b.select(b.icmp_signed(">", x, y), x, y)

        with lu.for_range(b, ll.Constant(lu.I32, 0), ll.Constant(lu.I32, m), name="eap") as r:
            lo_a, hi_a, lo_c, hi_c = bounds.get()
            at = b.zext(a_row(r), i128)
            c = b.zext(
                b.ptrtoint(self._address(cx, Index((r, ll.Constant(lu.I32, 0)), 1)), lu.I64), i128
            )
            bounds.set(
                [smin(lo_a, b.add(at, before)), smax(hi_a, b.add(at, after)),
                 smin(lo_c, c), smax(hi_c, b.add(c, wide(width)))]
            )  # fmt: skip
        lo_a, hi_a, lo_c, hi_c = bounds.get()
        ok = b.or_(b.icmp_signed("<=", hi_c, lo_a), b.icmp_signed("<=", hi_a, lo_c))
        whole = rows_whole(cx, ptr)
        b.store(ok if whole is None else b.and_(ok, whole), self.apart)

    def _address(self, cx: Lowering, one: Index) -> ll.Value:
        first = cx.eval(self.store.operands[0], one)
        return cx.b.inttoptr(cx.b.extract_element(first, ll.Constant(lu.I32, 0)), lu.PTR)


def _pure(cx: Lowering, op: Operation) -> bool:
    """Whether ``op`` computes values only (no memory, no control flow) and its tiles are fused
    (lowering it emits no code but its scalars')."""
    if op.regions or not op.results or op.name in STATEMENT_RULES:
        return False
    tiles = [r for r in op.results if isinstance(r.type, irt.TensorType)]
    if not tiles:
        return op.name == "arith.constant" or op.name in ELEMENTWISE
    if any(r not in cx.lazy for r in tiles):
        return False
    return op.name in LAZY_RULES or is_elementwise(op.name) or op.name in ELEMENTWISE


def _body_ok(loop: Operation, dot: Operation) -> bool:
    """The loop body writes no memory, stops nowhere, and loads only the dot's operands."""
    for op in loop.walk():
        if op is loop:
            continue
        if op.name in _SIDE_EFFECTS:
            return False
        if op.name == "tt.load" and any(u is not dot for u in op.result.uses):
            return False
    return True


def plan(
    cx: Lowering, loop: Operation, dot: Operation, slot: int, shape: tuple[int, int]
) -> Epilogue | None:
    """An :class:`Epilogue` for the store after ``loop`` of its carried ``slot`` when it
    qualifies (see the module docstring); its operands' ops are then lowered here (before the
    loop) and the store is left to :meth:`Plan.finish` for a loop of no step."""
    block = loop.parent
    if not _ENABLED or block is None or not _body_ok(loop, dot):
        return None
    ops = block.ops
    after = ops[ops.index(loop) + 1 :]
    store = next((op for op in after if not _pure(cx, op)), None)
    if store is None or store.name != "tt.store" or len(store.operands) < 2:
        return None
    later = after[after.index(store) + 1 :]
    if any(o.name in _SIDE_EFFECTS for op in later for o in op.walk()):
        return None  # another store might pair with this one (stride_pairs, store_groups)
    ptr = store.operands[0]
    if irt.shape_of(ptr.type) != shape or cx.stride(ptr) != 1:
        return None
    acc = loop.results[slot]
    need: set[Operation] = set()
    todo = list(store.operands)
    while todo:
        v = todo.pop()
        if v is acc or v in cx.refs:
            continue  # the accumulator, or a value lowered before the loop
        op = v.defining_op
        if op is None or op.parent is not block or op not in after:
            return None  # another result of the loop, or a value not available here
        if op not in need:
            need.add(op)
            todo.extend(op.operands)
    if any(reads_memory(v, cx.lazy) for v in store.operands):
        # read chunk by chunk between the blocks' stores, a fused load may see what they
        # stored (a tile of C itself, shifted: found in review, 31 of 4096 elements wrong)
        return None
    if memory._wants_streaming(cx, store):
        return None  # hinted: non-temporal stores after the loop
    streaming = auto_streaming(cx, store)
    if isinstance(streaming, ll.Constant):
        return None  # a tile as large as the threshold: it always streams
    fused = ll.Constant(lu.I1, 1) if streaming is None else cx.b.not_(streaming)
    for op in after:
        if op in need:
            cx.lower_op(op)
            cx.folded.add(op)
    return Epilogue(store, acc, fused)
