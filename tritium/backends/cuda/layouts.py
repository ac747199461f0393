"""Distributed layouts: which thread of a CTA holds which element of a tile.

A :class:`Layout` is Triton's ``#blocked`` encoding, optionally with dimensions sliced away
(``#slice``): for a parent tile of shape ``S`` (rank R),

* ``spt`` (size per thread): each thread holds ``spt[d]`` consecutive elements along ``d``;
* ``tpw`` (threads per warp) and ``wpc`` (warps per CTA) lay the 32 lanes and the warps out
  over the dimensions, the fastest-varying dimension first in ``order`` (``order[0]`` is the
  contiguous one, like Triton's);
* the CTA tile ``spt*tpw*wpc`` repeats along ``d`` when ``S[d]`` is larger, and wraps around
  (several threads hold the same element: replication) when it is smaller.

A thread with lane ``l`` and warp ``w`` is split into per-dimension ids along ``order``; its
base along ``d`` is ``(w_d * tpw[d] + l_d) * spt[d]``, and its register ``k`` along ``d`` (one of
``n_d = spt[d] * max(1, S[d] // tile[d])``) holds coordinate
``((k // spt[d]) * tile[d] + k % spt[d] + base_d) mod S[d]``. A thread's registers are the
row-major product over the kept dimensions. A sliced layout keeps the parent's thread mapping
and drops dimensions: the result of a reduction along ``d`` lives in ``parent.slice(d)``.

:func:`thread_coords` evaluates this in plain Python (the NumPy model the tests check the
shuffle trees and coalescing against); the lowering emits the same formula as LLVM IR
(:func:`coord_parts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

__all__ = ["Layout", "coord_parts", "default_layout", "lane_bits", "thread_coords"]

WARP = 32


@dataclass(frozen=True)
class Layout:
    """A blocked layout over ``full_shape``; ``sliced`` lists parent dims removed."""

    full_shape: tuple[int, ...]
    spt: tuple[int, ...]
    tpw: tuple[int, ...]
    wpc: tuple[int, ...]
    order: tuple[int, ...]
    sliced: tuple[int, ...] = ()

    @property
    def dims(self) -> tuple[int, ...]:
        """The parent dimensions this layout keeps, ascending."""
        return tuple(d for d in range(len(self.full_shape)) if d not in self.sliced)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the tiles in this layout."""
        return tuple(self.full_shape[d] for d in self.dims)

    @property
    def num_warps(self) -> int:
        """Warps of the CTA."""
        return math.prod(self.wpc)

    def tile(self, d: int) -> int:
        """The CTA tile along parent dim ``d``."""
        return self.spt[d] * self.tpw[d] * self.wpc[d]

    def regs_along(self, d: int) -> int:
        """Registers a thread holds along parent dim ``d``."""
        return self.spt[d] * max(1, self.full_shape[d] // self.tile(d))

    @property
    def reg_shape(self) -> tuple[int, ...]:
        """Registers per thread along each kept dimension."""
        return tuple(self.regs_along(d) for d in self.dims)

    @property
    def num_regs(self) -> int:
        """Registers per thread in total."""
        return math.prod(self.reg_shape)

    def with_shape(self, shape: tuple[int, ...]) -> Layout:
        """The same thread mapping over tiles of another ``shape`` (the kept dims' sizes)."""
        full = list(self.full_shape)
        for d, s in zip(self.dims, shape, strict=True):
            full[d] = s
        return replace(self, full_shape=tuple(full))

    def slice(self, local_dim: int) -> Layout:
        """This layout without its ``local_dim``-th kept dimension (whose size no longer
        matters: it is recorded as 1, so equal mappings compare equal)."""
        d = self.dims[local_dim]
        full = self.full_shape[:d] + (1,) + self.full_shape[d + 1 :]
        return replace(self, full_shape=full, sliced=tuple(sorted((*self.sliced, d))))

    def unslice(self, local_dim: int) -> Layout | None:
        """The layout with a size-1 dim inserted at ``local_dim`` (expand_dims), if a sliced
        parent dim sits exactly there; else None."""
        dims = self.dims
        lo = dims[local_dim - 1] if local_dim > 0 else -1
        hi = dims[local_dim] if local_dim < len(dims) else len(self.full_shape)
        cands = [p for p in self.sliced if lo < p < hi]
        if len(cands) != 1:
            return None
        p = cands[0]
        full = list(self.full_shape)
        full[p] = 1
        return replace(self, full_shape=tuple(full), sliced=tuple(s for s in self.sliced if s != p))

    def has_replication(self) -> bool:
        """Whether two threads (or two registers) hold the same element."""
        if self.sliced:
            return any(self.tpw[d] * self.wpc[d] > 1 for d in self.sliced)
        return any(self.full_shape[d] < self.tile(d) for d in self.dims)

    def __str__(self) -> str:
        def ls(t: tuple[int, ...]) -> str:
            return "[" + ", ".join(map(str, t)) + "]"

        base = (
            f"#ttg.blocked<{{sizePerThread = {ls(self.spt)}, threadsPerWarp = {ls(self.tpw)}, "
            f"warpsPerCTA = {ls(self.wpc)}, order = {ls(self.order)}}}>"
        )
        for d in sorted(self.sliced, reverse=True):
            base = f"#ttg.slice<{{dim = {d}, parent = {base}}}>"
        return base


def _split(ident: int, counts: tuple[int, ...], order: tuple[int, ...]) -> list[int]:
    """Per-dimension ids of a lane or warp id, fastest dim (order[0]) first."""
    out = [0] * len(counts)
    for d in order:
        out[d] = ident % counts[d]
        ident //= counts[d]
    return out


def lane_bits(layout: Layout, d: int) -> list[int]:
    """The xor masks (lane-id bits) that move along parent dim ``d`` within a warp."""
    stride = 1
    for o in layout.order:
        if o == d:
            return [stride << i for i in range(int(math.log2(layout.tpw[d])))]
        stride *= layout.tpw[o]
    raise ValueError(d)


def warp_stride(layout: Layout, d: int) -> int:
    """How far apart (in warp ids) neighbouring warps along parent dim ``d`` are."""
    stride = 1
    for o in layout.order:
        if o == d:
            return stride
        stride *= layout.wpc[o]
    raise ValueError(d)


def coord_parts(layout: Layout, d: int, k: int) -> int:
    """The constant part of register ``k``'s coordinate along parent dim ``d`` (the thread's
    base is added, then the sum taken modulo the size)."""
    spt = layout.spt[d]
    return (k // spt) * layout.tile(d) + k % spt


def thread_base(layout: Layout, lane: int, warp: int) -> list[int]:
    """The base coordinate of thread (lane, warp) along every parent dim."""
    lanes = _split(lane, layout.tpw, layout.order)
    warps = _split(warp, layout.wpc, layout.order)
    return [(warps[d] * layout.tpw[d] + lanes[d]) * layout.spt[d] for d in range(len(lanes))]


def thread_coords(layout: Layout, lane: int, warp: int) -> list[tuple[int, ...]]:
    """The coordinates (kept dims) of each register of thread (lane, warp), register order."""
    base = thread_base(layout, lane, warp)
    per_dim = []
    for d in layout.dims:
        size = layout.full_shape[d]
        per_dim.append(
            [(coord_parts(layout, d, k) + base[d]) % size for k in range(layout.regs_along(d))]
        )
    out: list[tuple[int, ...]] = [()]
    for coords in per_dim:
        out = [prev + (c,) for prev in out for c in coords]
    return out


def default_layout(shape: tuple[int, ...], num_warps: int, vec: int = 4) -> Layout:
    """The coalesced layout for ``shape``: ``vec`` contiguous elements per thread along the last
    dim (a 128-bit access when ``vec * element bytes == 16``), lanes then warps spread fastest
    dim first; fewer elements per thread when the tile is too small to give every thread one."""
    rank = len(shape)
    order = tuple(reversed(range(rank)))
    threads = WARP * num_warps
    numel = math.prod(shape)
    spt = [1] * rank
    last = order[0]
    per = max(1, min(vec, shape[last], numel // threads if numel >= threads else 1))
    spt[last] = per
    tpw = [1] * rank
    left = WARP
    for d in order:
        t = min(left, max(1, shape[d] // spt[d]))
        tpw[d] = t
        left //= t
    tpw[order[-1]] *= left  # leftover lanes replicate along the slowest dim
    wpc = [1] * rank
    left = num_warps
    for d in reversed(order):  # warps go to the slowest dims first (rows to warps)
        w = min(left, max(1, shape[d] // (spt[d] * tpw[d])))
        wpc[d] = w
        left //= w
    wpc[order[-1]] *= left
    return Layout(tuple(shape), tuple(spt), tuple(tpw), tuple(wpc), order)
