"""Swizzled shared-memory tiles and the ``ldmatrix`` addresses of ``mma.sync`` fragments.

**Status: ptxas-checked and modelled in NumPy (``tests/backends/cuda/test_smem.py``), never run
on a GPU yet.**

A tensor-core operand tile is stored in shared memory as ``rows`` rows of ``row_bytes`` bytes
(``a`` [M, K]: a row per m; ``b`` [K, N]: a row per k, or [N, K] for 8-bit types, see
``mma.py``) and read with ``ldmatrix``. One ``ldmatrix`` phase has 8 lanes each read 16
contiguous bytes (one *chunk*) of 8 consecutive rows at the same logical chunk column.
Shared memory has 32 banks of 4 bytes: a 128-byte line is 8 chunks, and two chunks conflict
when their byte offsets are equal modulo 128. Unswizzled, a 64-byte row puts rows ``r`` and
``r + 2`` on the same banks (a 4-way conflict); a 128-byte row puts all 8 rows there (8-way).

**The swizzle.** The 16-byte chunk ``c`` of row ``r`` is stored at chunk ``c ^ phase(r)``::

    per_phase = max(1, 128 // row_bytes)   # rows sharing one 128-byte line
    max_phase = min(row_bytes // 16, 8)    # chunks of a row within one line
    phase(r)  = (r // per_phase) % max_phase

Why conflict-free: the 8 rows ``8q .. 8q+7`` of one phase cover ``8 / per_phase`` distinct
phases, each shared by ``per_phase`` rows that sit in *different* chunk columns of one line
(``r % per_phase`` selects which part of the line, ``row_bytes`` apart). Within one line
position, XOR with distinct phases maps the same logical chunk ``c`` to distinct physical
chunks (XOR with a constant is a bijection). So the 8 lanes hit 8 distinct chunks of
``(offset // 16) % 8``: all 32 banks exactly once, one wavefront. The XOR only permutes chunks
within a row, so 16-byte vector stores of a row-major register tile (8 fp16 per thread, as the
coalesced layout holds them) stay whole and are conflict-free too.

The lane-address functions are written once over :class:`Arith`, so the lowering emits the
same formula (:class:`LLArith`) that the tests evaluate on integers (:class:`PyArith`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "Arith",
    "PyArith",
    "SwizzledTile",
    "a_lane_address",
    "b_lane_address",
]

CHUNK = 16  # bytes one ldmatrix lane reads, and the swizzle unit


class Arith(Protocol):
    """Integer arithmetic on either Python ints or LLVM i32 values."""

    def const(self, v: int) -> Any: ...
    def add(self, x: Any, y: Any) -> Any: ...
    def mul(self, x: Any, c: int) -> Any: ...
    def and_(self, x: Any, c: int) -> Any: ...
    def shr(self, x: Any, c: int) -> Any: ...
    def shl(self, x: Any, c: int) -> Any: ...
    def xor(self, x: Any, y: Any) -> Any: ...


class PyArith:
    """:class:`Arith` on Python ints (the tests' model)."""

    def const(self, v: int) -> int:
        return v

    def add(self, x: int, y: int) -> int:
        return x + y

    def mul(self, x: int, c: int) -> int:
        return x * c

    def and_(self, x: int, c: int) -> int:
        return x & c

    def shr(self, x: int, c: int) -> int:
        return x >> c

    def shl(self, x: int, c: int) -> int:
        return x << c

    def xor(self, x: int, y: int) -> int:
        return x ^ y


def _log2(v: int) -> int:
    assert v > 0 and v & (v - 1) == 0, v
    return v.bit_length() - 1


@dataclass(frozen=True)
class SwizzledTile:
    """``rows`` rows of ``row_bytes`` bytes (a power of two, at least 16) in shared memory,
    16-byte chunks XOR-swizzled by row (see the module docstring)."""

    rows: int
    row_bytes: int

    def __post_init__(self) -> None:
        if self.row_bytes < CHUNK or self.row_bytes & (self.row_bytes - 1):
            raise ValueError(f"a swizzled row must be a power of two >= 16 bytes: {self.row_bytes}")

    @property
    def per_phase(self) -> int:
        """Rows that share one 128-byte line (and so one phase)."""
        return max(1, 128 // self.row_bytes)

    @property
    def max_phase(self) -> int:
        """Distinct phases: the chunks of a row within one 128-byte line."""
        return min(self.row_bytes // CHUNK, 8)

    @property
    def nbytes(self) -> int:
        """Bytes the tile occupies."""
        return self.rows * self.row_bytes

    @property
    def align(self) -> int:
        """Alignment of the tile's start in shared memory (a 128-byte line)."""
        return 128

    def offset(self, ar: Arith, row: Any, byte: Any) -> Any:
        """Byte offset of byte ``byte`` of row ``row`` (``byte`` stays within its chunk)."""
        phase = ar.and_(ar.shr(row, _log2(self.per_phase)), self.max_phase - 1)
        chunk = ar.xor(ar.shr(byte, 4), phase)
        inner = ar.add(ar.shl(chunk, 4), ar.and_(byte, CHUNK - 1))
        return ar.add(ar.mul(row, self.row_bytes), inner)


def a_lane_address(
    ar: Arith, tile: SwizzledTile, lane: Any, warp_row: Any, j: int, ks: int, wm: int
) -> Any:
    """The byte offset lane ``lane`` passes to ``ldmatrix.x4`` for the ``a`` fragment of mma
    row-block ``j`` at k-step ``ks`` (32 bytes of k per step: 16 fp16/bf16 or 32 8-bit).

    The accumulator layout gives mma row-block ``j`` of a warp the rows ``warp_row + 16*wm*j
    + (0..7)`` (fragment rows 0-7) and ``+ 8*wm`` (rows 8-15); lanes 0-7, 8-15, 16-23, 24-31
    address matrices a0 (rows 0-7, k bytes 0-15), a1 (rows 8-15), a2 (k bytes 16-31), a3."""
    l7 = ar.and_(lane, 7)
    s3 = ar.and_(ar.shr(lane, 3), 1)
    s4 = ar.shr(lane, 4)
    row = ar.add(ar.add(warp_row, ar.const(16 * wm * j)), ar.add(l7, ar.mul(s3, 8 * wm)))
    byte = ar.add(ar.const(32 * ks), ar.mul(s4, 16))
    return tile.offset(ar, row, byte)


def b_lane_address(
    ar: Arith,
    tile: SwizzledTile,
    lane: Any,
    warp_col: Any,
    i: int,
    ks: int,
    wn: int,
    esize: int,
    k_major: bool,
) -> Any:
    """The byte offset lane ``lane`` passes to ``ldmatrix`` (x4: n-blocks ``i`` and ``i + 1``;
    x2: block ``i`` only, lanes 0-15 count) for the ``b`` fragments at k-step ``ks``.

    N-block ``i`` of a warp is the columns ``warp_col + 8*wn*i + (0..7)``. With ``k_major``
    false (16-bit types), ``b`` is stored [K, N] (a row per k) and read with ``.trans``: lanes
    0-7 address k rows 0-7 (b0), 8-15 k rows 8-15 (b1), 16-31 the same for block ``i + 1``.
    With ``k_major`` (8-bit types, which ``.trans`` cannot transpose), ``b`` is stored [N, K]
    (a row per n): lanes 0-7 address k bytes 0-15 (b0), 8-15 k bytes 16-31 (b1)."""
    l7 = ar.and_(lane, 7)
    s3 = ar.and_(ar.shr(lane, 3), 1)
    s4 = ar.shr(lane, 4)
    block_col = ar.add(ar.add(warp_col, ar.const(8 * wn * i)), ar.mul(s4, 8 * wn))
    if k_major:
        row = ar.add(block_col, l7)
        byte = ar.add(ar.const(32 * ks), ar.mul(s3, 16))
    else:
        row = ar.add(ar.const(16 * ks), ar.add(l7, ar.mul(s3, 8)))
        byte = ar.mul(block_col, esize)
    return tile.offset(ar, row, byte)
