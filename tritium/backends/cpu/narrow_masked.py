"""Masked loads and stores of 8- and 16-bit lanes on x86 CPUs without AVX512-BW.

AVX2 (and AVX-512 without BW) has masked loads and stores for 32- and 64-bit lanes only.
LLVM turns an ``llvm.masked.load``/``store`` of ``<8 x i16>`` into a test, a branch and a
scalar access per lane: three basic blocks per lane, 24 per access. The fp16 tutorial matmul
has six such accesses (its K tails and its C store tail): 84 of its 119 machine basic blocks,
and about a sixth of its code generator's time (issue 13, cold compile).

Here:

* a masked load with at least one lane enabled, whose bytes lie in one 4 KiB page, is a
  plain vector load and a ``select`` of the enabled lanes. The page holds an enabled lane,
  so it is mapped and readable, and the bytes of the disabled lanes are read but never used
  (the x86 string functions rely on the same page rule). It is faster at run time than the
  branch per lane (rows of 12 fp16 values in blocks of 16: 0.19 vs 0.245 ms), at the cost of
  a few ms of LLVM's optimizer per kernel (measured: the optimizer lost about what the code
  generator saved), which is kept because kernels run far more often than they compile;
* any other masked load (its bytes span two pages) and every masked store stage the vector
  in a stack slot and call a shared run-time helper (``helpers.COPY_LANES``, built once per
  machine and disk-cached) that moves the enabled lanes only: one copy when they are one run
  (a tail), else lane by lane. A store never writes a disabled lane (another program may be
  writing it). The callers keep their plain access for a chunk whose lanes are all enabled,
  so only chunks with some lanes disabled pay the call.

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

#: the smallest page size of the x86-64 targets (any larger page holds whole 4 KiB blocks)
_PAGE = 4096


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
    """``llvm.masked.load(base, mask, other)`` of ``vty`` (see the module docstring)."""
    b = cx.b
    size = vty.element.width // 8
    nbytes = vty.count * size
    bits = _lane_bits(b, mask)
    some = b.icmp_unsigned("!=", bits, ll.Constant(bits.type, 0))
    offset = b.and_(b.ptrtoint(base, lu.I64), ll.Constant(lu.I64, _PAGE - 1))
    one_page = b.icmp_unsigned("<=", offset, ll.Constant(lu.I64, _PAGE - nbytes))
    with b.if_else(b.and_(some, one_page), likely=True) as (then, otherwise):
        with then:
            fast = b.select(mask, b.load(base, typ=vty, align=size), other)
            fast_block = b.block
        with otherwise:
            slot = _slot(cx, vty)
            b.store(other, slot, align=size)
            _copy_lanes(cx, slot, base, bits, size)
            slow = b.load(slot, typ=vty, align=size)
            slow_block = b.block
    phi = b.phi(vty)
    phi.add_incoming(fast, fast_block)
    phi.add_incoming(slow, slow_block)
    return phi


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
