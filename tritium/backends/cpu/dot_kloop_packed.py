"""``dot_kloop``'s chunked K loop for the dots that ``dot_packed``'s instructions take (bf16
with AVX512-BF16 ``vdpbf16ps``, int8 with AVX512-VNNI ``vpdpbusd``).

Lowered dot by dot, such a K loop re-packed ``b`` in every step of every program and loaded
and stored every accumulator block per step. Here, as for fp32 (``dot_kloop``), each step
only packs its tiles (or finds them in the thread's kept panels) and one microkernel per
chunk of steps keeps each block's accumulators in registers across the chunk. The packed
orders are those of the instructions: ``group`` (2 for bf16, 4 for int8) consecutive values
of ``k`` form one 32-bit word, so

- ``a`` is packed by blocks of ``MR`` rows, word-interleaved: ``[m/MR][k/group][MR]`` words
  (each word broadcast to all lanes once per row and step of the microkernel);
  int8 ``a`` is stored biased to unsigned (XOR 0x80 per byte: ``vpdpbusd`` multiplies
  unsigned by signed);
- ``b`` by blocks of ``NR`` vectors of 16 columns: ``[n/(NR*16)][k/group][NR*16]`` words, the
  word at ``[q, c]`` holding ``b[group*q .. group*q+group-1, c]``; for int8 followed by
  ``colsum(b)`` (i32 [n]), from which the microkernel takes ``128 * colsum`` off the
  accumulators it loads (the bias of ``a`` cancelled exactly, as in ``dot_packed``).

bf16 ``a`` is not packed where its step's tile is a load of rows contiguous along K from a
pointer tile the loop advances uniformly (``direct_a``, tutorial 03): the microkernel
broadcasts each word from the row itself (``record_a``: a table of the rows' addresses at
the program's first step and, per step, how far the loop has moved them; a step whose mask
is not all set copies its tile, masked-off elements filled in, to its own region), as
oneDNN's brgemm reads A. A chunk's steps are consecutive along K, so a row's words for a
chunk are contiguous lines; with no packed ``a`` to keep in L1 the chunks are 4x longer
(``KC_DIRECT``: 1024 of K, the accumulators loaded and stored 4x less often). Tutorial 03
bf16 on a 2-core Zen 4 KVM guest, paired against packed ``a`` in one process (load 2.7-4.5):
one thread, thread CPU, 1024^3 1.028-1.050 (64x64x32 / 32x64x64 blocks), 512^3 1.016-1.035,
2048^3 1.016-1.043; two threads, wall time in rounds begun after both cores were 80 % idle
for 0.2 s, 1024^3 1.035 / 1.034 (96 rounds), 512^3 1.027 / 1.018 (361). Direct ``a`` in
chunks as long as before measured 0.990-1.013 (its rows' loads cost about what packing did),
packed ``a`` in the longer chunks 0.995-1.000, 2048 of K per chunk as 1024 (within noise).

The products are added in the dot-by-dot lowering's order (step after step, word after word
within a step), so the results are the same bit for bit (int8 exact).

Measured on a 2-core Zen 4 KVM guest (znver4, AVX512-BF16/VNNI), one thread, thread CPU time,
both lowerings and torch interleaved in one process (``python -m benchmarks.matmul_packed``,
the two CPU configs of each kernel pinned), load 3.9: tutorial 03 bf16 512^3 160-162 GFLOP/s
dot by dot -> 188-196 (torch 200); the W8A8 int8 tutorial 64x2048x2048 164-207 -> 290-309
GOP/s (torch ``_int_mm`` 273). 1024^3 bf16 (autotuned, alternating with torch, load 6):
196-197 against torch's 201-207. One core's peak here (a loop of independent instructions):
``vdpbf16ps`` 233 GFLOP/s, ``vpdpbusd`` 462 GOP/s; torch's bf16 runs at ~0.9 of it.

Where the time goes (cpu-clock samples of the kernel by machine-code loop): bf16 1024^3 with
``a`` read at its rows and C's store fused (one thread, 64x64x32, load 3): the microkernel's
``kq`` loop 90.5 % and its step's code 2.1 % (so the loop runs at about the peak), packing
``b`` 3.2 % + 0.8 % (on its rows' loads), the blocks' accumulators and C's fused store
~1.6 %. Before ``direct_a``, bf16 512^3: the
microkernel's loop 88 %, at ~0.93 of the peak; packing ``a`` 2 %, ``b`` 2 %, the C tile's
store 3 %, the accumulators' loads and stores per chunk 1.5 %. int8 64x2048x2048: the
microkernel 62-75 %, packing ``b`` 15-30 %: its rows lie 2 KiB apart and each program reads a
64-byte column of every one of the 2048 rows once per launch (1024 pages): with ``b`` fitting
L2 (N=128) packing is 7.6 %, and with ``b`` on 2 MiB pages (``madvise(MADV_HUGEPAGE)``) 15-18
% against 25-30 % (252-295 -> 310-318 GOP/s): page walks (two-dimensional in this VM), not
the instructions. Prefetching the rows 1, 2, 4 or 8 steps ahead, into L1 or L2, and padding
the rows (no 2 KiB aliasing) measured no change. A program that finds its ``b`` tiles in no
kept panel now packs the next column panel's too from the same reads of the rows
(``dot_npanels``, ``wide_packer``): packing ``b`` 25 -> 17 % of the samples, 2-4 % faster.
The microkernel now prefetches the rows that the next chunk packs (``dot_ahead``): packing
``b`` 17-18 -> 12-15 % of the samples; one thread, in-process A/Bs, -0.2 to +4 % in most
runs, up to +8-17 % in loaded ones (see ``dot_ahead``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import llvmlite.ir as ll

from tritium.backends.cpu import dot_ahead, dot_packed
from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.codegen import Lowering
from tritium.backends.cpu.reduce import _Vars
from tritium.backends.cpu.tiles import Buffer, Index
from tritium.ir import Block, Operation, Value
from tritium.ir import types as irt

if TYPE_CHECKING:
    from tritium.backends.cpu.dot_kloop import Plan

__all__ = [
    "BLOCK",
    "DIRECT_STORE",
    "KC_DIRECT",
    "KC_SCALE",
    "LANES",
    "blocking",
    "direct_a",
    "direct_bytes",
    "entry_elem",
    "kc_scale",
    "microkernel",
    "packer",
    "record_a",
    "words_per_chunk",
]

LANES = 16  # i32 / f32 lanes of a zmm register
# K per chunk of steps, times dot_kloop's (fp32) one: the same bytes of packed tiles
KC_SCALE = {irt.bf16: 2, irt.i8: 4}
KC_DIRECT = 8  # the same where a is read at its rows (direct_a): only b's tiles in L1 / L2
DIRECT_STORE = True  # C's store fused there too where apart from a's rows: for A/B timing
BLOCK = (4, 4)  # (MR, NR) where the tile allows, see blocking()
_DIRECT_A = True  # bf16's a read at its rows where direct_a() allows: for A/B timing


def blocking(m: int, n: int) -> tuple[int, int]:
    """(MR, NR): rows x vectors of 16 columns of accumulators kept in registers. 4 x 4 (16
    accumulators, 4 broadcasts of ``a`` and 4 vectors of ``b`` per 16 instructions) measured
    best on Zen 4 (tutorial 03 bf16 512^3, one thread, thread CPU, four blockings interleaved
    in one process, load 6.5, 64x64x32 / 32x64x64 blocks): 8 x 2 (``dot_packed``'s) 180 / 188
    GFLOP/s, 4 x 4 197 / 201, 6 x 4 191 / 192, 8 x 4 171 / 178 (32 accumulators spill);
    int8 64x2048x2048 307 / 277, 311 / 285, 297 / 275, 290 / 254 GOP/s."""
    mr, nr = BLOCK
    while (n // LANES) % nr:
        nr //= 2
    return min(mr, m), nr


def kc_scale(plan: Plan) -> int:
    """K per chunk of steps, times ``dot_kloop``'s (fp32) one."""
    assert plan.kind is not None
    return KC_DIRECT if plan.direct else KC_SCALE[plan.kind.elem]


def entry_elem(kind: dot_packed.Kind, operand: int) -> irt.Type:
    """The element type whose size, times the tile's elements, gives a packed entry's bytes:
    the operand's own, but for int8 ``b`` 2 bytes (its column sums follow the tile)."""
    if kind is dot_packed.INT8 and operand == 1:
        return irt.i16
    return kind.elem


def words_per_chunk(kind: dot_packed.Kind, k: int) -> int | None:
    """Words of one row of ``a`` read at once when packing (16, or all of a short step's),
    or None when a step's ``k`` does not split so."""
    kq = k // kind.group
    if k % kind.group:
        return None
    w = min(LANES, kq)
    return w if kq % w == 0 and w & (w - 1) == 0 else None


def _geometry(plan: Plan) -> tuple[dot_packed.Kind, int, int, int, int]:
    """(kind, g, kq, mr, nb) of a packed plan: its instruction, elements per 32-bit word,
    words along K, rows and columns of the microkernel's register block."""
    kind = plan.kind
    assert kind is not None
    mr, nr = plan.blocking()
    return kind, kind.group, plan.k // kind.group, mr, nr * LANES


def _i32(v: int) -> ll.Constant:
    return ll.Constant(lu.I32, v)


def rows_checkable(ptr: Value) -> bool:
    """Whether the rows of the pointer tile ``ptr`` (stride 1 along them, which
    ``last_dim_stride`` promises chunk by chunk only) can be told contiguous from their first
    addresses: no ``%`` / ``//`` made the stride (``analysis.stride_wraps``), or each such op
    is of 1-D tiles, checked at run time by :func:`rows_whole`."""
    from tritium.backends.cpu.analysis import stride_wraps

    wraps = stride_wraps(ptr)
    return wraps is not None and all(
        len(irt.shape_of(x.type)) == 1 for op in wraps for x in op.operands[:2]
    )


def rows_whole(cx: Lowering, ptr: Value) -> ll.Value | None:
    """i1: each row of ``ptr`` (see :func:`rows_checkable`) runs contiguously from its first
    address: for each ``x % n`` / ``x // n`` that made its stride, no multiple of ``n`` falls
    inside the row's ``W`` values of ``x`` after its first, ``x0``: ``0 <= x0`` and ``x0 % n
    <= n - W``, or ``x0`` and ``n`` both multiples of ``W`` (which covers a negative ``x0``).
    Tutorial 03's ``(pid_n * BLOCK_N + arange) % N``: with N = 48 and BLOCK_N = 32 the
    column block at 32 wraps (a row read whole ran 32 bytes past ``b``'s rows) and the one at 0
    does not; with N = 80 only the one at 64 wraps. None: no such op (contiguous whatever the
    values)."""
    from tritium.backends.cpu.analysis import stride_wraps

    b = cx.b
    ok: ll.Value | None = None
    for op in stride_wraps(ptr) or []:
        x, n = op.operands[:2]
        w = irt.shape_of(x.type)[0]
        x0, n0 = (b.extract_element(cx.eval(v, Index((_i32(0),), 1)), _i32(0)) for v in (x, n))
        t = x0.type
        zero, width = ll.Constant(t, 0), ll.Constant(t, w)
        aligned = b.and_(
            b.icmp_signed("==", b.srem(x0, width), zero),
            b.icmp_signed("==", b.srem(n0, width), zero),
        )
        # n >= W first, so that n - W does not wrap and srem never divides by zero
        inside = b.select(
            b.and_(b.icmp_signed(">=", x0, zero), b.icmp_signed(">=", n0, width)),
            b.icmp_signed(
                "<=",
                b.srem(x0, b.select(b.icmp_signed(">", n0, zero), n0, width)),
                b.sub(n0, width),
            ),
            ll.Constant(lu.I1, 0),
        )
        fits = b.or_(aligned, inside)
        ok = fits if ok is None else b.and_(ok, fits)
    return ok


def direct_a(cx: Lowering, loop: Operation, dot: Operation) -> bool:
    """Whether the microkernel reads bf16 ``a`` at its source rows rather than packed
    (``record_a``): ``a`` is a load in the loop's body of the pointer tile the loop carries
    and advances by a uniform step (so that every row moves by the same bytes from step to
    step), contiguous along K, and the body writes no memory (the rows are read when the
    chunk ends, not at the step)."""
    from tritium.backends.cpu.analysis import advanced_slot
    from tritium.backends.cpu.dot_epilogue import _SIDE_EFFECTS

    a = dot.operands[0]
    load = a.defining_op
    body = loop.regions[0].block
    if not _DIRECT_A or irt.element_type(a.type) != irt.bf16 or irt.shape_of(a.type)[1] < 8:
        return False
    if load is None or load.name != "tt.load" or load.parent is not body:
        return False
    ptr = load.operands[0]
    if ptr.defining_op is not None or ptr not in body.args or ptr is body.args[0]:
        return False
    if advanced_slot(loop, body.args.index(ptr) - 1) is None or cx.stride(ptr) != 1:
        return False
    if not rows_checkable(ptr):
        return False
    return not any(o.name in _SIDE_EFFECTS for o in loop.walk())


def direct_bytes(plan: Plan) -> int:
    """Bytes of the scratch block before the steps' own regions that a plan reading ``a``
    at its rows adds: the steps' row offsets (i64 [KC], after ``ptrs_b``) and the table of
    the rows' addresses at the program's first step (ptr [m])."""
    if not plan.direct:
        return 0
    return _round64(8 * plan.kc) + _round64(8 * plan.m)


def record_a(plan: Plan, v: Value, first: ll.Value, j: ll.Value, own: Buffer) -> None:
    """In the loop, for a plan that reads ``a`` at its rows (``direct_a``): record where
    step ``j`` of the chunk finds row ``r`` of its tile, ``table[r] + offset`` (entries of
    ``ptrs_a`` and of the offsets list). ``table`` is the rows' addresses at the program's
    first step (``first``: i1, this is it), written then, and ``offset`` how far the loop
    has advanced them since; a step whose mask is not all set (or whose ``a`` is not a load
    left to its uses) writes its tile, masked-off elements as ``other``, to its own region,
    with a table of that copy's rows, at offset 0."""
    from tritium.backends.cpu import dot_kloop as kloop
    from tritium.backends.cpu.tiles import Lazy

    cx, b = plan.cx, plan.cx.b
    assert plan.region is not None
    region = b.load(plan.region, typ=lu.PTR)
    lists = plan._layout()[0]
    m, k = plan.m, plan.k
    i64 = lambda x: ll.Constant(lu.I64, x)  # noqa: E731
    offsets = b.gep(region, [i64(2 * lists)], source_etype=lu.I8)
    table = b.gep(region, [i64(3 * lists)], source_etype=lu.I8)
    copy_rows = b.gep(own.ptr, [i64(_round64(m * k * 2))], source_etype=lu.I8)
    ref = cx.refs[v]
    load = ref.op if type(ref) is Lazy and ref.op.name == "tt.load" else None
    ok: ll.Value = ll.Constant(lu.I1, 0)
    offset: ll.Value = i64(0)
    if load is not None:
        ptr = load.operands[0]

        def row_address(row: ll.Value) -> ll.Value:
            return b.extract_element(cx.eval(ptr, Index((row, _i32(0)), 1)), _i32(0))

        with b.if_then(first, likely=False):
            with lu.for_range(b, _i32(0), _i32(m), name="dat") as row:
                at = b.gep(table, [row], source_etype=lu.PTR)
                b.store(b.inttoptr(row_address(row), lu.PTR), at, align=8)
            _record_apart(plan, ptr, row_address)
        mask = load.operands[1] if len(load.operands) > 1 else None
        ok = kloop.all_set(cx, mask) if mask is not None else ll.Constant(lu.I1, 1)
        whole = rows_whole(cx, ptr)  # a wrapped row is copied as a masked one is
        ok = ok if whole is None else b.and_(ok, whole)
        start = b.ptrtoint(b.load(table, typ=lu.PTR, align=8), lu.I64)
        offset = b.sub(row_address(_i32(0)), start)
    with b.if_then(b.not_(ok), likely=False):
        cx.write_tile(v, Buffer(own.ptr, (m, k), (k, 1), irt.bf16))
        with lu.for_range(b, _i32(0), _i32(m), name="dac") as row:
            at = b.gep(own.ptr, [b.mul(row, _i32(k))], source_etype=lu.BF16)
            b.store(at, b.gep(copy_rows, [row], source_etype=lu.PTR), align=8)
    b.store(b.select(ok, table, copy_rows), b.gep(region, [j], source_etype=lu.PTR))
    b.store(b.select(ok, offset, i64(0)), b.gep(offsets, [j], source_etype=lu.I64))


def _record_apart(plan: Plan, ptr: Value, row_address: Callable[[ll.Value], ll.Value]) -> None:
    """At the first step: whether the C tile's fused store (``dot_epilogue``) lies apart from
    every row of ``a`` the loop reads at ``ptr`` (else the store op runs after the loop). The
    loop moves the rows by ``trips - 1`` steps in all only where its step is one value for
    all iterations (a constant, or a scalar from outside the loop); else no store is fused."""
    from tritium.backends.cpu import dot as dot_mod
    from tritium.backends.cpu.analysis import advanced_slot

    epilogue, b = plan.epilogue, plan.cx.b
    if epilogue is None or epilogue.apart is None:
        return
    body = plan.loop.regions[0].block
    s = advanced_slot(plan.loop, body.args.index(ptr) - 1)
    owner: Operation | Block | None = None if isinstance(s, int) or s is None else s.owner
    while owner is not None:
        if owner is plan.loop:
            return  # the step may change from iteration to iteration
        owner = owner.parent_op()
    step = dot_mod._loop_step_bytes(plan.cx, ptr)
    if s is None or step is None:
        return
    assert plan.trips is not None
    # in i128, as record_apart's ranges: no product or sum of 64-bit addresses wraps there
    i128 = ll.IntType(128)
    travel = b.mul(b.sext(b.sub(plan.trips, ll.Constant(lu.I64, 1)), i128), b.sext(step, i128))
    epilogue.record_apart(plan.cx, row_address, plan.m, 2 * plan.k, travel)


def _rows_at(
    plan: Plan, table: ll.Value, shift: ll.Value, row0: ll.Value, rows: int
) -> list[ll.Value]:
    """The addresses of a step's rows ``row0 .. row0 + rows - 1`` of ``a`` (``record_a``'s
    ``table`` and ``shift``), the lines of the next block's rows in that step prefetched, a
    block's step (16 x ``kq`` instructions) before they are read: without, each block waited
    on its rows' first lines (1 thread, 1024^3, paired: 0.4-1.3 % slower)."""
    from tritium.backends.cpu import dot as dot_mod

    b = plan.cx.b
    mr = plan.blocking()[0]
    out = []
    for r in range(rows):
        at = b.gep(table, [b.add(row0, _i32(r))], source_etype=lu.PTR)
        out.append(b.gep(b.load(at, typ=lu.PTR, align=8), [shift], source_etype=lu.I8))
    for r in range(mr):  # after the last block of rows, the first (the next block of columns)
        at = b.gep(table, [b.urem(b.add(row0, _i32(mr + r)), _i32(plan.m))], source_etype=lu.PTR)
        line = b.gep(b.load(at, typ=lu.PTR, align=8), [shift], source_etype=lu.I8)
        for off in range(0, plan.k * 2, 64):
            dot_mod._prefetch(plan.cx, b.gep(line, [_i32(off)], source_etype=lu.I8))
    return out


def _round64(n: int) -> int:
    return (n + 63) // 64 * 64


def _flip(b: ll.IRBuilder, words: ll.Value, kind: dot_packed.Kind) -> ll.Value:
    """int8 words biased to unsigned (each byte + 128), others as they are."""
    if kind is not dot_packed.INT8:
        return words
    count = words.type.count
    return b.xor(words, ll.Constant(lu.vec(lu.I32, count), [0x80808080 - (1 << 32)] * count))


def packer(
    plan: Plan,
    v: Value,
    operand: int,
    fetch: Callable[[Index], ll.Value],
    load: Operation | None,
    step: ll.Value | None,
) -> Callable[[Buffer], None]:
    """A function packing ``v`` (``a``: operand 0, or ``b``) into a buffer's memory in the
    microkernel's order (see the module docstring). ``fetch(idx)``: a chunk of ``v``.
    ``load``: the ``tt.load`` that ``v`` is, if any: when its rows are contiguous they are
    read at their first addresses (``_direct_packer``), or, in a step whose mask is not all
    set, from a copy of the tile with the masked-off elements filled in; ``step``: bytes by
    which the loop advances its pointers (the next step's rows are prefetched)."""
    from tritium.backends.cpu import dot_kloop as kloop

    ptr = load.operands[0] if load is not None else None
    if load is None or plan.cx.stride(ptr) != 1 or not rows_checkable(ptr):
        return _packer(plan, v, operand, fetch)
    mask = load.operands[1] if len(load.operands) > 1 else None

    def pack(dest: Buffer) -> None:
        cx, b = plan.cx, plan.cx.b
        whole = rows_whole(cx, load.operands[0])  # a wrapped row is copied as a masked one is
        if mask is None and whole is None:
            _direct_packer(plan, v, operand, load, step, None)(dest)
            return
        ok = kloop.all_set(cx, mask) if mask is not None else ll.Constant(lu.I1, 1)
        ok = ok if whole is None else b.and_(ok, whole)
        copy = cx.alloc(irt.shape_of(v.type), irt.element_type(v.type), name="pkmasked")
        with b.if_then(b.not_(ok), likely=False):
            cx.write_tile(v, copy)  # masked-off elements read as ``other``
        _direct_packer(plan, v, operand, load, step, (ok, copy))(dest)

    return pack


def wide_packer(
    plan: Plan, v: Value, load: Operation, step: ll.Value | None
) -> Callable[[Buffer, Sequence[ll.Value]], None]:
    """``b``'s packer for a step whose mask is all set that also packs the tiles of the next
    column panels (``dot_npanels``): ``pack(dest, beside)`` reads each row once for this
    tile and the ``len(beside)`` tiles right of it, to ``dest`` and the addresses
    ``beside``."""
    return _direct_packer(plan, v, 1, load, step, None)


def _direct_packer(
    plan: Plan,
    v: Value,
    operand: int,
    load: Operation,
    step: ll.Value | None,
    masked: tuple[ll.Value, Buffer] | None,
) -> Callable[..., None]:
    """``_packer``'s orders, the rows read at their first addresses (plain vector loads), or
    where ``masked`` = (i1 ``ok``, ``copy``) says so (``ok`` false), at those of ``copy``.
    Evaluating the masked load chunk by chunk (its pointer and mask tiles) was most of
    packing's cost, packing ``b`` two fifths of the int8 tutorial's samples (64x2048x2048,
    one Zen 4 thread); and a second, chunk-by-chunk packer for masked steps cost as much
    compile time as the rest of the K loop (cold compile, thread CPU, load 4-5: the int8
    tutorial's kernel 93 ms dot by dot, 234 with both packers, 155-167 with the copy; bf16
    tutorial 03 90, 172, 134-141)."""
    from tritium.backends.cpu import dot as dot_mod
    from tritium.backends.cpu import dot_kloop as kloop

    cx, b = plan.cx, plan.cx.b
    kind, g, kq, mr, nb = _geometry(plan)
    word = lu.vec(lu.I32, LANES)
    elem = lu.llvm_type(kind.elem)
    size = lu.elem_size(kind.elem)
    ptr = load.operands[0]

    def row_at(row: ll.Value, span: int) -> ll.Value:
        """The address of the tile's row ``row`` (``span`` elements), its next step's lines
        prefetched."""
        first = cx.eval(ptr, Index((row, _i32(0)), 1))
        at = b.inttoptr(b.extract_element(first, _i32(0)), lu.PTR)
        if masked is not None:
            ok, copy = masked
            cols = irt.shape_of(v.type)[1]
            at = b.select(ok, at, b.gep(copy.ptr, [b.mul(row, _i32(cols))], source_etype=elem))
        if step is not None:
            ahead = b.gep(at, [step], source_etype=lu.I8)
            for off in range(0, span * size, 64):
                dot_mod._prefetch(cx, b.gep(ahead, [_i32(off)], source_etype=lu.I8))
        return at

    def rows_block(dest: Buffer, row0: ll.Value, rows: int) -> None:
        wq = words_per_chunk(kind, plan.k)
        assert wq is not None
        starts = [row_at(b.add(row0, _i32(r)), plan.k) for r in range(rows)]
        with lu.for_range(b, _i32(0), _i32(kq), wq, name="pda") as q0:
            vecs = []
            for at in starts:
                src = b.gep(at, [b.mul(q0, _i32(g))], source_etype=elem)
                raw = b.load(src, typ=lu.vec(elem, wq * g), align=size)
                vecs.append(_flip(b, b.bitcast(raw, lu.vec(lu.I32, wq)), kind))
            base = b.add(b.mul(row0, _i32(kq)), b.mul(q0, _i32(rows)))
            for i, out in enumerate(kloop._interleave(b, vecs, wq)):
                at = b.gep(dest.ptr, [b.add(base, _i32(i * wq))], source_etype=lu.I32)
                b.store(out, at, align=4)

    def pack_a(dest: Buffer) -> None:
        kloop.row_blocks(b, plan.m, mr, lambda row0, rows: rows_block(dest, row0, rows), "pdr")

    pair, mix_c = _mixes(g)
    cols = plan.n // LANES

    def pack_b(dest: Buffer, beside: Sequence[ll.Value] = ()) -> None:
        # ``beside``: where the tiles of the next column panels go (``dot_npanels``), each
        # ``plan.n`` columns further along the same rows: read with this tile's
        dests = [dest.ptr, *beside]
        zero = ll.Constant(word, None)
        sums = _Vars(cx, [zero] * (cols * len(dests))) if kind is dot_packed.INT8 else None
        with lu.for_range(b, _i32(0), _i32(kq), name="pdb") as q:
            rows = []
            for j in range(g):
                at = row_at(b.add(b.mul(q, _i32(g)), _i32(j)), plan.n * len(dests))
                rows.append(
                    [
                        b.load(
                            b.gep(at, [_i32(c * LANES)], source_etype=elem),
                            typ=lu.vec(elem, LANES),
                            align=size,
                        )
                        for c in range(cols * len(dests))
                    ]
                )
            totals = sums.get() if sums is not None else []
            for c in range(cols * len(dests)):
                mixed = _mix(b, [r[c] for r in rows], pair, mix_c)
                base = (c % cols * LANES // nb) * kq * nb + c % cols * LANES % nb
                to = dests[c // cols]
                at = b.gep(to, [b.add(_i32(base), b.mul(q, _i32(nb)))], source_etype=lu.I32)
                b.store(b.bitcast(mixed, word), at, align=4)
                if sums is not None:
                    totals[c] = _colsum(cx, totals[c], b.bitcast(mixed, word))
            if sums is not None:
                sums.set(totals)
        if sums is not None:
            for c, total in enumerate(sums.get()):
                at = b.gep(
                    dests[c // cols],
                    [_i32(kq * plan.n + c % cols * LANES)],
                    source_etype=lu.I32,
                )
                b.store(total, at, align=4)

    return pack_a if operand == 0 else pack_b


def _colsum(cx: Lowering, total: ll.Value, words: ll.Value) -> ll.Value:
    """``total`` plus the sums of each i32 lane's 4 signed bytes: ``vpdpbusd`` with bytes of
    1 (one instruction for 16 lanes; sign-extending and adding the 4 rows took 8, half of
    packing ``b``'s instructions)."""
    word = lu.vec(lu.I32, LANES)
    dp = lu.intrinsic(cx.module, "llvm.x86.avx512.vpdpbusd.512", word, [word, word, word])
    ones = ll.Constant(word, [_i32(0x01010101)] * LANES)
    return cx.b.call(dp, [total, ones, words])


def _mixes(g: int) -> tuple[ll.Constant, ll.Constant]:
    """Shuffle masks putting value ``j`` of output lane ``c`` from row ``j`` (as
    ``dot_packed._pack_b``): for 4 rows, concat(r0, r1) and concat(r2, r3), then a mix."""
    pair = ll.Constant(lu.vec(lu.I32, 2 * LANES), list(range(2 * LANES)))
    if g == 4:
        mix = [(j // 2) * 2 * LANES + (j % 2) * LANES + c for c in range(LANES) for j in range(4)]
    else:
        mix = [j * LANES + c for c in range(LANES) for j in range(2)]
    return pair, ll.Constant(lu.vec(lu.I32, g * LANES), mix)


def _mix(b: ll.IRBuilder, rows: list[ll.Value], pair: ll.Constant, mix: ll.Constant) -> ll.Value:
    """The ``group`` rows of 16 values interleaved by ``_mixes``' masks (16-bit floats as
    i16 lanes: LLVM scalarizes bfloat shuffles without AVX512-BF16's types in the shuffle
    patterns)."""
    if rows[0].type.element == lu.BF16:
        rows = [b.bitcast(r, lu.vec(lu.I16, LANES)) for r in rows]
    if len(rows) == 4:
        lo = b.shuffle_vector(rows[0], rows[1], pair)
        hi = b.shuffle_vector(rows[2], rows[3], pair)
        return b.shuffle_vector(lo, hi, mix)
    return b.shuffle_vector(rows[0], rows[1], mix)


def _packer(
    plan: Plan, v: Value, operand: int, fetch: Callable[[Index], ll.Value]
) -> Callable[[Buffer], None]:
    """``packer``'s orders, ``v`` read chunk by chunk through ``fetch`` (masked edges,
    transposed views)."""
    from tritium.backends.cpu import dot_kloop as kloop

    cx, b = plan.cx, plan.cx.b
    kind, g, kq, mr, nb = _geometry(plan)
    word = lu.vec(lu.I32, LANES)

    def rows_block(dest: Buffer, row0: ll.Value, rows: int) -> None:
        # ``rows`` rows from row0, ``wq`` words at a time: loaded as rows, stored word-major
        wq = words_per_chunk(kind, plan.k)
        assert wq is not None
        with lu.for_range(b, _i32(0), _i32(kq), wq, name="pka") as q0:
            vecs = []
            for r in range(rows):
                raw = fetch(Index((b.add(row0, _i32(r)), b.mul(q0, _i32(g))), wq * g))
                vecs.append(_flip(b, b.bitcast(raw, lu.vec(lu.I32, wq)), kind))
            base = b.add(b.mul(row0, _i32(kq)), b.mul(q0, _i32(rows)))
            for i, out in enumerate(kloop._interleave(b, vecs, wq)):
                at = b.gep(dest.ptr, [b.add(base, _i32(i * wq))], source_etype=lu.I32)
                b.store(out, at, align=4)

    def pack_a(dest: Buffer) -> None:  # [m / mr][kq][mr] words, the last block shorter
        kloop.row_blocks(b, plan.m, mr, lambda row0, rows: rows_block(dest, row0, rows), "pkr")

    pair, mix_c = _mixes(g)

    def pack_b(dest: Buffer) -> None:  # [n / nb][kq][nb] words, then int8's colsum [n]
        # one loop over the vectors of columns, not a copy per vector: this path (masked
        # steps) is rarely taken, and each copy of its masked loads cost compile time
        with lu.for_range(b, _i32(0), _i32(plan.n), LANES, name="pkc") as col:
            block = b.mul(b.udiv(col, _i32(nb)), _i32(kq * nb))
            base = b.add(block, b.urem(col, _i32(nb)))
            zero = ll.Constant(word, None)
            sums = _Vars(cx, [zero]) if kind is dot_packed.INT8 else None
            with lu.for_range(b, _i32(0), _i32(kq), name="pkb") as q:
                rows = [
                    fetch(Index((b.add(b.mul(q, _i32(g)), _i32(j)), col), LANES)) for j in range(g)
                ]
                mixed = _mix(b, rows, pair, mix_c)
                at = b.gep(dest.ptr, [b.add(base, b.mul(q, _i32(nb)))], source_etype=lu.I32)
                b.store(b.bitcast(mixed, word), at, align=4)
                if sums is not None:
                    sums.set([_colsum(cx, sums.get()[0], b.bitcast(mixed, word))])
            if sums is not None:
                at = b.gep(dest.ptr, [b.add(_i32(kq * plan.n), col)], source_etype=lu.I32)
                b.store(sums.get()[0], at, align=4)

    return pack_a if operand == 0 else pack_b


def microkernel(plan: Plan, acc: Buffer, lists: tuple[ll.Value, ll.Value], steps: ll.Value) -> None:
    """``acc += sum over j < steps of A_j @ B_j`` for the chunk's packed tiles (``lists``:
    their addresses), by blocks of ``MR x NR`` accumulators kept in registers."""
    from tritium.backends.cpu import dot_kloop as kloop

    cx, b = plan.cx, plan.cx.b
    kind, _, kq, mr, nb = _geometry(plan)
    nr = nb // LANES
    m, n = plan.m, plan.n
    word = lu.vec(lu.I32, LANES)
    acc_ty = lu.vec(lu.llvm_type(kind.acc), LANES)
    if kind is dot_packed.INT8:
        dp = lu.intrinsic(cx.module, "llvm.x86.avx512.vpdpbusd.512", word, [word, word, word])
    else:
        pairs = lu.vec(lu.BF16, 2 * LANES)
        dp = lu.intrinsic(
            cx.module, "llvm.x86.avx512bf16.dpbf16ps.512", acc_ty, [acc_ty, pairs, pairs]
        )

    def step_of(j: ll.Value, which: int) -> ll.Value:
        return b.load(b.gep(lists[which], [j], source_etype=lu.PTR), typ=lu.PTR)

    offsets = None
    if plan.direct:
        at = ll.Constant(lu.I64, 2 * plan._layout()[0])
        offsets = b.gep(lists[0], [at], source_etype=lu.I8)

    bias = None
    if kind is dot_packed.INT8:
        # the bias of ``a`` over the chunk: 128 * (b's column sums of its steps), once for
        # all blocks of rows (summed per block of rows, it was 2 % of the W8A8 tutorial's
        # samples at 64x2048x2048)
        bias = cx.alloc((n,), irt.i32, name="pkbias")
        zero = ll.Constant(word, None)
        sums = _Vars(cx, [zero] * (n // LANES))
        with lu.for_range(b, ll.Constant(lu.I64, 0), steps, name="cs") as j:
            at = b.gep(step_of(j, 1), [_i32(kq * n)], source_etype=lu.I32)
            loads = [
                b.load(b.gep(at, [_i32(v * LANES)], source_etype=lu.I32), typ=word, align=4)
                for v in range(n // LANES)
            ]
            sums.set([b.add(x, y) for x, y in zip(sums.get(), loads, strict=True)])
        seven = ll.Constant(word, [_i32(7)] * LANES)
        for v, total in enumerate(sums.get()):
            at = b.gep(bias.ptr, [_i32(v * LANES)], source_etype=lu.I32)
            b.store(b.shl(total, seven), at, align=4)

    ahead = dot_ahead.setup(plan) if kind is dot_packed.INT8 else None  # b's next rows

    def block(row0: ll.Value, col0: ll.Value, rows: int) -> None:
        def acc_idx(r: int, v: int) -> Index:
            return Index((b.add(row0, _i32(r)), b.add(col0, _i32(v * LANES))), LANES)

        regs = [cx.read_buffer(acc, acc_idx(r, v)) for r in range(rows) for v in range(nr)]
        epilogue = plan.epilogue
        stores = None if epilogue is None or plan.last is None else epilogue.when(b, plan.last)
        if epilogue is not None and stores is not None:  # the block's lines of C, for below
            with b.if_then(stores):
                epilogue.prefetch(cx, row0, col0, rows, nb)
        if bias is not None:
            at = [
                b.gep(bias.ptr, [b.add(col0, _i32(v * LANES))], source_etype=lu.I32)
                for v in range(nr)
            ]
            corr = [b.load(x, typ=word, align=4) for x in at]
            regs = [b.sub(x, corr[i % nr]) for i, x in enumerate(regs)]
        carried = _Vars(cx, regs)
        with lu.for_range(b, ll.Constant(lu.I64, 0), steps, name="ks") as j:
            if ahead is not None:
                dot_ahead.issue(plan, ahead)
            a_rows = None
            if offsets is None:
                a_blk = b.gep(step_of(j, 0), [b.mul(row0, _i32(kq))], source_etype=lu.I32)
            else:
                shift = b.load(b.gep(offsets, [j], source_etype=lu.I64), typ=lu.I64)
                a_rows = _rows_at(plan, step_of(j, 0), shift, row0, rows)
            b_blk = b.gep(step_of(j, 1), [b.mul(col0, _i32(kq))], source_etype=lu.I32)
            with lu.for_range(b, _i32(0), _i32(kq), name="kq") as q:
                cur = carried.get()
                b_row = b.gep(b_blk, [b.mul(q, _i32(nb))], source_etype=lu.I32)
                bvecs = [
                    b.load(b.gep(b_row, [_i32(v * LANES)], source_etype=lu.I32), typ=word, align=4)
                    for v in range(nr)
                ]
                if kind is dot_packed.BF16:
                    bvecs = [b.bitcast(x, pairs) for x in bvecs]
                if a_rows is None:
                    a_row = b.gep(a_blk, [b.mul(q, _i32(rows))], source_etype=lu.I32)
                new = []
                for r in range(rows):
                    if a_rows is None:
                        at = b.gep(a_row, [_i32(r)], source_etype=lu.I32)
                        a_s = lu.splat(b, b.load(at, typ=lu.I32, align=4), LANES)
                    else:  # the word of row r at its own address, each row's word q at q
                        at = b.gep(a_rows[r], [q], source_etype=lu.I32)
                        a_s = lu.splat(b, b.load(at, typ=lu.I32, align=2), LANES)
                    if kind is dot_packed.BF16:
                        a_s = b.bitcast(a_s, pairs)
                    for v in range(nr):
                        new.append(b.call(dp, [cur[r * nr + v], a_s, bvecs[v]]))
                carried.set(new)
        out = carried.get()
        for r in range(rows):
            for v in range(nr):
                cx.write_chunk(acc, acc_idx(r, v), out[r * nr + v])
        if epilogue is not None and stores is not None:  # the block's accumulators are final
            with b.if_then(stores):
                epilogue.store_block(cx, acc, (row0, col0), rows, nb, LANES)

    kloop.register_blocks(b, m, n, mr, nb, block)
