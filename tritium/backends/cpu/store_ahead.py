"""A streaming row store that computes its chunks ahead of their stores when its output row
lies just above a row it reads, modulo 4096 bytes.

A load whose address matches a pending older store's in bits 0-11 waits for it (4K
aliasing), and a non-temporal store stays pending long. In a row kernel's store loop the
loads of chunk ``i + 1`` follow the stores of chunk ``i``, so when the output row starts
16-450 bytes above the input, the weights or a stack tile modulo 4096 (where the allocator put
it: no kernel chooses), each load waits on the stores of the chunks just before it. On a
2-core EPYC (Zen 4, 1 thread, ``benchmarks/alias_scan``) that made layer norm's forward up to
2.1x slower, RMSNorm's up to 2.8x and the row softmax (its stack tile) up to 2x, for one
placement in ten of each input.

Where that happens the loop evaluates chunk ``i + P`` before it stores chunk ``i`` (the ``P``
chunks in between wait in registers: 512 bytes with AVX-512 code, 192 with AVX2): the loads
then follow the stores of the chunks ``P`` before them, which moves the bad band that many
bytes up. Each program chooses at run time, from the distance between its output row and each
row the loop reads with the same element size (loads and stack tiles, at chunk 0: the
distance is the same at every chunk), the loop that looks ahead when some row is in the band
of the ordinary loop and none in its own band. The ordinary loop is kept for everything else
(the well-placed case is unchanged), so a program pays a few scalar instructions for the
choice and the kernel's object carries the store loop twice. Where nothing aliases, the loop
that looks ahead was 5 % slower than the ordinary one for layer norm's forward and within 1 %
for RMSNorm and the softmax, so it is not used there. Only 1-D tiles of several chunks: a row
kernel's.

Tried first: shifting the chunks to the output's alignment so that each chunk is one whole
aligned ``vmovntps zmm`` instead of four 16-byte ones (far fewer pending stores): the band
narrowed where the output was 64-byte aligned, but with the loads then split across lines
the well-placed rows ran 10-35 % slower (and 10 % slower even with the output aligned: Zen 4
wrote the 16-byte non-temporal stores faster).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.prefetch import emit_prefetch_in_store
from tritium.backends.cpu.tiles import Buffer, Index, Lazy
from tritium.ir import Operation, Value
from tritium.ir import types as irt

if TYPE_CHECKING:
    from tritium.backends.cpu.codegen import Lowering

__all__ = ["lower_store_ahead"]

#: By the bytes of a vector register: the distances (bytes, output row above a row read,
#: modulo 4096) up to which the ordinary loop slowed down by 5 % or more on Zen 4 (16-400
#: bytes with AVX-512 code, 32-160 with AVX2), and how many bytes ahead the other loop
#: computes (its band starts there). AVX2 has 16 vector registers: 512 bytes ahead spilled
#: and the loop lost more than it saved.
_BAND_AND_AHEAD = {64: (448, 512), 32: (160, 192)}


def _rows_read(cx: Lowering, value: Value, size: int) -> list[Value | Buffer]:
    """The contiguous rows of ``size``-byte elements that evaluating ``value`` reads: the
    pointers of its fused loads, and its stack tiles."""
    from tritium.backends.cpu import memory  # memory imports this module

    rows: list[Value | Buffer] = []
    todo, seen = [value], {id(value)}
    while todo:
        v = todo.pop()
        ref = cx.refs.get(v)
        if isinstance(ref, Buffer):
            if len(ref.shape) == 1 and ref.strides[-1] == 1 and lu.elem_size(ref.elem) == size:
                rows.append(ref)
            continue
        if not isinstance(ref, Lazy):
            continue
        op = ref.op
        if op.name == "tt.load":
            ptr = op.operands[0]
            if cx.stride(ptr) == 1 and lu.elem_size(memory._pointee(ptr)) == size:
                rows.append(ptr)
            continue
        for o in op.operands:
            if isinstance(o.type, irt.TensorType) and id(o) not in seen:
                seen.add(id(o))
                todo.append(o)
    return rows


def _address(cx: Lowering, row: Value | Buffer, at: Index) -> ll.Value:
    """The i64 address of chunk ``at`` of a row that :func:`_rows_read` found."""
    from tritium.backends.cpu import memory  # memory imports this module

    if isinstance(row, Buffer):
        return cx.b.ptrtoint(cx.elem_ptr(row, at)[0], lu.I64)
    sf = memory.scalar_form(cx, row, None, at)
    assert sf is not None and sf.address is not None  # a contiguous chunk of several lanes
    return sf.address


def _in_band(cx: Lowering, above: ll.Value, start: int, band: int) -> ll.Value:
    """i1: a lane of ``above`` (bytes the output lies above each row, modulo 4096) is in
    ``start + 1`` to ``start + band``. One vector for all the rows (LLVM's SLP vectorizer
    spent 2.6 ms on the same compares written per row)."""
    b = cx.b
    k = above.type.count
    d = b.and_(b.sub(above, lu.const(lu.I64, start + 1, k)), lu.const(lu.I64, 4095, k))
    hit = b.icmp_unsigned("<", d, lu.const(lu.I64, band, k))
    name = f"llvm.vector.reduce.or.{lu.type_suffix(hit.type)}"
    return b.call(lu.intrinsic(cx.module, name, lu.I1, [hit.type]), [hit])


def lower_store_ahead(
    cx: Lowering, op: Operation, streaming: bool | ll.Value, ordinary: Callable[[], None]
) -> bool:
    """Lower the streaming tile store ``op`` as two loops chosen at run time: ``ordinary()``,
    and one that computes its chunks ahead of their stores (see the module docstring). False,
    with nothing emitted, when the tile is not a 1-D contiguous row of several chunks or the
    loop reads no row of the store's element size. The caller fences."""
    from tritium.backends.cpu import memory  # memory imports this module

    ptr, value = op.operands[0], op.operands[1]
    shape = irt.shape_of(ptr.type)
    if len(shape) != 1 or cx.stride(ptr) != 1:
        return False
    size = lu.elem_size(memory._pointee(ptr))
    w = cx.chunk_width(shape)
    band, reach = _BAND_AND_AHEAD[64 if cx.target.has("avx512f") else 32]
    ahead = reach // (w * size)
    if ahead < 1 or shape[0] // w < 4 * ahead:
        return False
    rows = _rows_read(cx, value, size)
    if not rows:
        return False
    b = cx.b
    first = Index((ll.Constant(lu.I32, 0),), w)
    out = _address(cx, ptr, first)
    starts: ll.Value = ll.Constant(lu.vec(lu.I64, len(rows)), None)
    for i, row in enumerate(rows):
        starts = b.insert_element(starts, _address(cx, row, first), ll.Constant(lu.I32, i))
    above = b.sub(lu.splat(b, out, len(rows)), starts)
    shift = ahead * w * size
    choose = b.and_(_in_band(cx, above, 0, band), b.not_(_in_band(cx, above, shift, band)))
    if streaming is not True:
        choose = b.and_(choose, streaming)
    with b.if_else(choose) as (then, other):
        with then, cx.cold_loops():  # not unrolled: the rare loop, kept small
            _ahead_loop(cx, op, shape[0] // w, w, ahead)  # chosen only where stores stream
        with other:
            ordinary()
    return True


def _ahead_loop(cx: Lowering, op: Operation, n: int, w: int, ahead: int) -> None:
    """Chunk ``t`` (the last one again once past the end) is evaluated in iteration ``t`` and
    stored in iteration ``t + ahead``: the chunks in between wait in a chain of phis."""
    from tritium.backends.cpu import memory  # memory imports this module

    ptr, value = op.operands[0], op.operands[1]
    mask = op.operands[2] if len(op.operands) > 2 else None
    b = cx.b
    pre = b.block
    body = b.append_basic_block("ahead.body")
    exit_ = b.append_basic_block("ahead.exit")
    b.branch(body)
    b.position_at_end(body)
    t = b.phi(lu.I32, name="ahead")
    t.add_incoming(ll.Constant(lu.I32, 0), pre)
    last = ll.Constant(lu.I32, n - 1)
    chunk = b.select(b.icmp_signed("<", t, last), t, last)
    at = Index((b.mul(chunk, ll.Constant(lu.I32, w)),), w)
    v = cx.eval(value, at)
    emit_prefetch_in_store(cx, op, at)  # as the ordinary loop: where the loads were evaluated
    here = b.block
    b.position_at_start(body)
    waiting = [b.phi(v.type, name=f"ahead.{k}") for k in range(ahead)]
    b.position_at_end(here)
    for q in waiting:
        q.add_incoming(ll.Constant(v.type, ll.Undefined), pre)
    done = b.sub(t, ll.Constant(lu.I32, ahead))
    with b.if_then(b.icmp_signed(">=", done, ll.Constant(lu.I32, 0)), likely=True):
        idx = Index((b.mul(done, ll.Constant(lu.I32, w)),), w)
        p = cx.eval(ptr, idx)
        m = cx.eval(mask, idx) if mask is not None else None
        sf = memory.scalar_form(cx, ptr, mask, idx)
        memory.store_vector(cx, p, memory._pointee(ptr), waiting[-1], m, True, True, sf)
    latch = b.block
    nxt = b.add(t, ll.Constant(lu.I32, 1), flags=["nsw"])
    t.add_incoming(nxt, latch)
    waiting[0].add_incoming(v, latch)
    for older, newer in zip(waiting[1:], waiting[:-1], strict=True):
        older.add_incoming(newer, latch)
    b.cbranch(b.icmp_signed("<", nxt, ll.Constant(lu.I32, n + ahead)), body, exit_)
    b.position_at_end(exit_)
