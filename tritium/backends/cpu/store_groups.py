"""The tile stores of a disjoint version (``if_sink.version_disjoint_stores``) lowered as one
chunk loop.

Tutorial 05's layer norm backward accumulates two partial rows under its lock::

    partial_dw += tl.load(DW, mask=mask)
    partial_db += tl.load(DB, mask=mask)
    tl.store(DW, partial_dw, mask=mask)
    tl.store(DB, partial_db, mask=mask)

Where the DW and DB rows cannot overlap, ``if_sink`` runs a version in which each store
follows its own load, and each load fuses into its store's loop: two passes over the row, each
reading its row, the tiles it adds (``dy``, ``xhat``, in L2: more than L1 holds) and writing
the row back. One pass does both: per chunk ``i``, the DW chunk is loaded, added and stored,
then the DB chunk. That reorders memory accesses across the two stores (DB's chunk ``i`` is
read before DW's chunk ``i + 1`` is written), which is exact only when no store's bytes meet
the other stores' or the other stores' loads' bytes: ``if_sink`` adds those ranges to the
version's run-time condition and marks the version (``FUSED_STORES``); everything else about
the stores (masks, their values' evaluation chunk by chunk) is as in ``memory._store_tile``.

Each chunk also prefetches the next program's rows that the kernel loaded earlier and keeps in
stack tiles (``prefetch.emit_prefetch_in_store``), once for the group.

Lowered this way only when every store of the block is a contiguous tile store of one shape
with no streaming path (non-temporal stores and their fence stay with ``_store_tile``);
otherwise each store has its own loop, as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tritium.backends.cpu.if_sink import FUSED_STORES
from tritium.backends.cpu.prefetch import emit_prefetch_in_store
from tritium.ir import Operation
from tritium.ir import types as irt

if TYPE_CHECKING:
    from tritium.backends.cpu.codegen import Lowering

__all__ = ["lower_store_group"]


def _group(cx: Lowering, op: Operation) -> list[Operation] | None:
    """The stores lowered with ``op`` (``op`` first), or None."""
    block = op.parent
    owner = block.parent_op() if block is not None else None
    if owner is None or not owner.attrs.get(FUSED_STORES):
        return None
    if owner.regions[0].blocks[0] is not block:  # the fast version only
        return None
    stores = [o for o in block.ops if o.name == "tt.store"]
    if len(stores) < 2 or stores[0] is not op:
        return None
    from tritium.backends.cpu import memory, transpose  # memory imports this module
    from tritium.backends.cpu.streaming import auto_streaming

    shape = irt.shape_of(op.operands[0].type)
    for s in stores:
        ptr = s.operands[0]
        if not isinstance(ptr.type, irt.TensorType) or irt.shape_of(ptr.type) != shape:
            return None
        if cx.stride(ptr) != 1 or transpose.transposable(ptr, 1):
            return None
        if memory._wants_streaming(cx, s) or auto_streaming(cx, s) is not None:
            return None
    return stores


def lower_store_group(cx: Lowering, op: Operation) -> bool:
    """Lower ``op`` and the other stores of its fused block in one chunk loop (see the module
    docstring); False, with nothing emitted, when ``op`` is not the first store of such a
    block or the stores do not qualify."""
    stores = _group(cx, op)
    if stores is None:
        return False
    from tritium.backends.cpu import memory

    block = op.parent
    assert block is not None
    first, last = block.ops.index(stores[0]), block.ops.index(stores[-1])
    # the loads and pure ops between the stores (if_sink admits nothing else): fused ones
    # only define how their chunks are computed, inside the loop below
    for mid in block.ops[first + 1 : last]:
        if mid.name != "tt.store":
            cx.lower_op(mid)
            cx.folded.add(mid)
    cx.folded.update(stores[1:])
    cx.current_op = op
    for idx in cx.chunks(irt.shape_of(op.operands[0].type)):
        for s in stores:
            ptr, value = s.operands[0], s.operands[1]
            mask = s.operands[2] if len(s.operands) > 2 else None
            p = cx.eval(ptr, idx)
            v = cx.eval(value, idx)
            m = cx.eval(mask, idx) if mask is not None else None
            if s is stores[0]:  # the next program's lines, once per chunk
                emit_prefetch_in_store(cx, s, idx)
            sf = memory.scalar_form(cx, ptr, mask, idx)
            elem = memory._pointee(ptr)
            memory.store_vector(cx, p, elem, v, m, True, False, sf)
    return True
