"""When a store without a hint should still be non-temporal: a launch's output too large for
the last-level cache.

A plain store of a line that is not cached reads it first (read-for-ownership), then writes it
back: 3 bytes of memory traffic per byte stored, against 2 for a non-temporal store, and the
line evicts data the kernel may still read. GPU kernels never say ``evict_first`` for that
reason (the GPU has no such cost), so the compiler decides:

* **statically**, a store may stream only when the kernel does nothing but store through the
  pointer argument it writes (no load, atomic or call on it): a kernel that writes and then
  re-reads a buffer (a lock-and-accumulate reduction, an in-place update) would fetch those
  lines back from memory;
* **at run time**, it streams only when the launch's programs together store at least half of
  the last-level cache (programs x the tile's bytes: an underestimate for a store in a loop,
  so the rule errs towards the ordinary store). With at least as many bytes read as written,
  such an output and its inputs cannot both stay cached, so caching the output buys nothing.

The chunk-level rules (whole, 16-byte aligned chunks) are ``memory._streaming_store``'s, as
for hinted stores. Non-temporal stores are weakly ordered, so an ``sfence`` must follow them
before anyone else may read the data: once per worker thread, after its last program
(:func:`fence_at_worker_end`), when programs cannot talk to each other; after each streaming
store op of a kernel that has atomics (a lock that publishes a program's stores to the next)
or calls.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu

# moved to hostinfo (host facts), so that a cache key needs no code generator
from tritium.backends.cpu.hostinfo import last_level_cache_bytes, streaming_threshold
from tritium.ir import Operation, Value
from tritium.ir import types as irt

if TYPE_CHECKING:
    from tritium.backends.cpu.codegen import Lowering

__all__ = [
    "ADDRESS_COMPARED",
    "auto_streaming",
    "fence_at_worker_end",
    "last_level_cache_bytes",
    "streaming_threshold",
]

#: Ops through which a pointer keeps its root argument (operand 0 is the pointer).
_POINTER_VIEWS = frozenset(
    {"tt.addptr", "tt.splat", "tt.broadcast", "tt.expand_dims", "tt.reshape", "tt.trans"}
)


def _root(v: Value) -> Value | None:
    """The kernel argument a pointer value is derived from, or None when it is not plain
    (a select, a loop-carried pointer, a pointer loaded from memory)."""
    seen = 0
    while seen < 64:
        op = v.defining_op
        if op is None:
            return v
        if op.name not in _POINTER_VIEWS:
            return None
        v = op.operands[0]
        seen += 1
    return None


#: on a ``tt.ptr_to_int`` that a backend rewrite made for a run-time range check
#: (``lock_fuse``): it does not keep its pointer's stores from streaming. ``if_sink``'s checks
#: do not carry it: the stores of their versions share one loop only when none streams.
ADDRESS_COMPARED = "cpu.address_compared"


def _written_only(root: Value) -> bool:
    """Every use of ``root`` and of the pointers derived from it is a store through them or
    an :data:`ADDRESS_COMPARED` address: no load, atomic, call, loop-carried pointer or
    other integer conversion (any of those may read the buffer back)."""
    todo, seen = [root], {root}
    while todo:
        v = todo.pop()
        for user in v.uses:
            if user.name in _POINTER_VIEWS and user.operands[0] is v:
                for r in user.results:
                    if r not in seen:
                        seen.add(r)
                        todo.append(r)
            elif user.attrs.get(ADDRESS_COMPARED) and _compared_only(user.result):
                continue
            elif user.name != "tt.store" or any(o is v for o in user.operands[1:]):
                return False
    return True


#: integer ops an address may go through on its way to a comparison
_ADDRESS_MATH = frozenset({"arith.addi", "arith.subi", "arith.constant", "arith.cmpi"})


def _compared_only(address: Value) -> bool:
    """Whether the integer ``address`` only reaches comparisons (an i1 holds no address)."""
    todo, seen = [address], {address}
    while todo:
        v = todo.pop()
        for user in v.uses:
            if user.name not in _ADDRESS_MATH:
                return False
            for r in user.results:
                if r.type != irt.i1 and r not in seen:
                    seen.add(r)
                    todo.append(r)
    return True


def auto_streaming(cx: Lowering, op: Operation) -> ll.Value | None:
    """An i1 that is true at run time when the tile store ``op`` should stream, or None when
    it never should (see the module docstring)."""
    threshold = streaming_threshold()
    if threshold is None or not cx.is_kernel:
        return None
    if not cx.target.triple.startswith(("x86_64", "i686", "i386")):
        return None
    ptr = op.operands[0]
    if not isinstance(ptr.type, irt.TensorType):
        return None
    root = _root(ptr)
    if root is None or root.owner is not cx.func.regions[0].block or not _written_only(root):
        return None
    pointee = irt.element_type(ptr.type)
    assert isinstance(pointee, irt.PointerType)
    tile_bytes = math.prod(ptr.type.shape) * lu.elem_size(pointee.pointee)
    if tile_bytes >= threshold:
        return ll.Constant(lu.I1, 1)
    b = cx.b
    programs = ll.Constant(lu.I64, 1)
    for n in cx.nprogs:
        programs = b.mul(programs, b.zext(n, lu.I64))
    # programs * tile_bytes >= threshold, without overflow: compare programs to the quotient
    need = -(-threshold // tile_bytes)
    return b.icmp_unsigned(">=", programs, ll.Constant(lu.I64, need))


#: Ops through which one program can see another's stores during a launch (or may run code
#: that does).
_SYNCHRONIZING = ("tt.atomic_rmw", "tt.atomic_cas", "tt.call", "tt.extern_elementwise")


def fence_at_worker_end(cx: Lowering) -> bool:
    """Whether the streaming stores of this kernel are fenced once by each worker thread after
    its last program, instead of after every store op of every program; records that the
    worker must then fence (``Lowering.fence_worker``).

    A fence waits until the stores before it have left the core's write-combining buffers:
    with one fence per program, each program ends waiting for its own stores to reach memory
    and the next one cannot start computing meanwhile (a copy kernel of 4096 rows of 4 KiB ran
    1.3x faster on one thread without it; issue 13). Without atomics no program may read what
    another wrote during the launch (Triton orders programs in no way), and a program always
    sees its own stores, so the stores only need to be visible when the launch ends, which the
    worker's fence ensures before the launcher joins it.
    """
    root = cx.root
    if not root.is_kernel or any(op.name in _SYNCHRONIZING for op in root.func.walk()):
        return False
    root.fence_worker = True
    return True
