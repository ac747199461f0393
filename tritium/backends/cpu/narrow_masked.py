"""Masked loads and stores of 8- and 16-bit lanes on x86 CPUs without AVX512-BW.

AVX2 (and AVX-512 without BW) has masked loads and stores for 32- and 64-bit lanes only.
LLVM turns an ``llvm.masked.load``/``store`` of ``<8 x i16>`` into a test, a branch and a
scalar access per lane: three basic blocks per lane, 24 per access. The fp16 tutorial matmul
has six such accesses (its K tails and its C store tail): 84 of its 119 machine basic blocks,
and about a sixth of its code generator's time (issue 13, cold compile).

Here the vector is staged in a stack slot and one call to a shared run-time helper
(``helpers.COPY_LANES``, built once per machine and disk-cached) moves the enabled lanes only,
between the slot and memory: one copy when they are one run (a tail), else lane by lane. A
disabled lane is never read or written (another program may be writing it). The callers
keep their plain access for a chunk whose lanes are all enabled, so only chunks with some
lanes disabled pay the call: about 1.5x LLVM's branches per lane when every chunk of a kernel
is partial (rows of 12 fp16 values in blocks of 16), a few percent at rows of 100, nothing
where only tails are partial.

Only x86 (``applies``): other targets keep LLVM's lowering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import llvmlite.ir as ll

from tritium.backends.cpu import helpers
from tritium.backends.cpu import llvm_utils as lu

if TYPE_CHECKING:
    from tritium.backends.cpu.codegen import Lowering

__all__ = ["applies", "load", "store"]


def applies(cx: Lowering, vty: ll.VectorType) -> bool:
    """Whether a masked access of ``vty`` lanes is emitted here rather than by LLVM."""
    elem = vty.element
    return (
        1 < vty.count <= 64
        and isinstance(elem, ll.IntType)
        and elem.width in (8, 16)
        and cx.target.triple.startswith("x86_64")
        and not cx.target.has("avx512bw")
    )


def _lane_bits(b: ll.IRBuilder, mask: ll.Value) -> ll.Value:
    """The mask as an i64 with bit ``i`` set for lane ``i``."""
    w = mask.type.count
    bits = b.bitcast(mask, ll.IntType(w))
    return bits if w == 64 else b.zext(bits, lu.I64)


def _copy_lanes(cx: Lowering, dst: ll.Value, src: ll.Value, bits: ll.Value, size: int) -> None:
    """The enabled lanes from ``src`` to ``dst``, by the shared run-time helper (one call:
    a loop here would cost LLVM's loop passes in every kernel)."""
    fn = helpers.declare(cx.module, helpers.COPY_LANES)
    cx.b.call(fn, [dst, src, bits, ll.Constant(lu.I64, size)])


def _slot(cx: Lowering, vty: ll.VectorType) -> ll.Value:
    nbytes = vty.count * vty.element.width // 8
    cx.root.stack_bytes += nbytes
    return lu.entry_alloca(cx.b, cx.alloca_block, vty, align=min(nbytes, 64), name="lanes")


def load(
    cx: Lowering, base: ll.Value, vty: ll.VectorType, mask: ll.Value, other: ll.Value
) -> ll.Value:
    """``llvm.masked.load(base, mask, other)`` of ``vty``: ``other`` staged in a stack slot,
    the enabled lanes copied over it, the slot loaded."""
    b = cx.b
    size = vty.element.width // 8
    slot = _slot(cx, vty)
    b.store(other, slot, align=size)
    _copy_lanes(cx, slot, base, _lane_bits(b, mask), size)
    return b.load(slot, typ=vty, align=size)


def store(cx: Lowering, value: ll.Value, base: ll.Value, mask: ll.Value) -> None:
    """``llvm.masked.store(value, base, mask)``: ``value`` staged in a stack slot, its enabled
    lanes copied to ``base``."""
    b = cx.b
    vty = value.type
    elem = vty.element
    size = elem.width // 8
    slot = _slot(cx, vty)
    b.store(value, slot, align=size)
    _copy_lanes(cx, base, slot, _lane_bits(b, mask), size)
