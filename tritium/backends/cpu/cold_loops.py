"""Loops that run once per program (set-up, keys) kept small in the final code.

LLVM's optimizer and code generator take time in proportion to the size of the code they are
given and make (issue 13: the tutorial matmul's cold compile follows its optimized code's
size). A loop built inside :func:`cold_loops` gets ``llvm.loop`` metadata that turns
LoopVectorize (and its interleaving) and the unrollers off for it: a 32-trip loop that writes
a panel key once per program, vectorized 4 x 4 wide with a scalar tail, is ~50 instructions
of vector code (and their machine code) where the scalar loop is 12.

The loops are found structurally, not by name: every back edge (an edge to a block on the
depth-first search stack) among the blocks created inside the ``with`` block, searched from the
block the builder was in when it started.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import llvmlite.ir as ll

_CACHE_ATTR = "_tritium_cold_loop_md"


def cold_loop_metadata(module: ll.Module) -> ll.MDValue:
    """The module's ``llvm.loop`` node: ``!N = distinct !{!N, vectorize off, unroll off}``
    (its first operand itself, as LLVM requires of a loop ID; made once per module)."""
    md = getattr(module, _CACHE_ATTR, None)
    if md is not None:
        return md
    off = module.add_metadata(
        [ll.MetaDataString(module, "llvm.loop.vectorize.enable"), ll.Constant(ll.IntType(1), 0)]
    )
    no_unroll = module.add_metadata([ll.MetaDataString(module, "llvm.loop.unroll.disable")])
    md = module.add_metadata([off, no_unroll])
    md.operands = (md, off, no_unroll)  # the self reference a loop ID needs
    setattr(module, _CACHE_ATTR, md)
    return md


def _successors(block: ll.Block) -> list[ll.Block]:
    term = block.terminator
    if term is None:
        return []
    return [op for op in term.operands if isinstance(op, ll.Block)]


@contextmanager
def cold_loops(b: ll.IRBuilder) -> Iterator[None]:
    """Mark every loop built by ``b`` inside the ``with`` block as cold (no vectorizing,
    interleaving or unrolling). Loops already present are left alone; a region without
    loops gets nothing."""
    fn = b.function
    start = b.block
    before = {id(blk) for blk in fn.blocks}
    yield
    region = {id(blk) for blk in fn.blocks if id(blk) not in before} | {id(start)}
    md = None
    on_stack: set[int] = set()
    seen: set[int] = set()
    # Iterative depth-first search: (block, successors left to visit).
    stack: list[tuple[ll.Block, list[ll.Block]]] = [(start, _successors(start))]
    on_stack.add(id(start))
    seen.add(id(start))
    while stack:
        blk, todo = stack[-1]
        if not todo:
            stack.pop()
            on_stack.discard(id(blk))
            continue
        nxt = todo.pop(0)
        if id(nxt) not in region:
            continue
        if id(nxt) in on_stack:  # a back edge: blk is a latch of the loop headed by nxt
            if md is None:
                md = cold_loop_metadata(b.module)
            blk.terminator.set_metadata("llvm.loop", md)
        elif id(nxt) not in seen:
            seen.add(id(nxt))
            on_stack.add(id(nxt))
            stack.append((nxt, _successors(nxt)))
