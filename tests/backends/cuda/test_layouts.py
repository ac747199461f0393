"""Layout and shuffle-tree math against a NumPy model of the CTA (no GPU, no LLVM).

``thread_coords`` says which elements each (lane, warp) holds; the reduction test plays the
lowering's plan (``reduction_plan``: in-thread, butterfly shuffles, shared-memory slots across
warps) on every thread of a simulated CTA and compares each thread's result registers with
NumPy's sum at the coordinates the result layout assigns them.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tritium.backends.cuda.layouts import (
    Layout,
    default_layout,
    lane_bits,
    thread_base,
    thread_coords,
    warp_stride,
)
from tritium.backends.cuda.reduce import reduction_plan

SHAPES_WARPS = [
    ((1024,), 4, 4),
    ((64, 64), 4, 4),
    ((16, 128), 8, 4),
    ((128, 16), 4, 8),
    ((4, 8, 32), 2, 4),
    ((2,), 4, 4),  # replicated: more threads than elements
    ((4, 4), 4, 4),
    ((32, 1), 4, 4),
]


def _holders(layout: Layout) -> np.ndarray:
    count = np.zeros(layout.shape, dtype=np.int64)
    for warp in range(layout.num_warps):
        for lane in range(32):
            for c in thread_coords(layout, lane, warp):
                count[c] += 1
    return count


@pytest.mark.parametrize(("shape", "num_warps", "vec"), SHAPES_WARPS)
def test_every_element_is_held_evenly(shape: tuple[int, ...], num_warps: int, vec: int) -> None:
    layout = default_layout(shape, num_warps, vec)
    count = _holders(layout)
    assert count.min() >= 1
    assert count.min() == count.max()  # replication, if any, is uniform
    if math.prod(shape) >= 32 * num_warps * layout.spt[-1]:
        assert count.max() == 1 and not layout.has_replication()


@pytest.mark.parametrize(("shape", "num_warps", "vec"), SHAPES_WARPS)
def test_exactly_one_owner_per_element(shape: tuple[int, ...], num_warps: int, vec: int) -> None:
    """The owner rule the lowering emits (``Lowering.owner``): the unwrapped coordinate is
    inside the tile along every dim."""
    layout = default_layout(shape, num_warps, vec)
    owners = np.zeros(shape, dtype=np.int64)
    for warp in range(num_warps):
        for lane in range(32):
            base = thread_base(layout, lane, warp)
            regs = [
                [(k // layout.spt[d]) * layout.tile(d) + k % layout.spt[d] + base[d]
                 for k in range(layout.regs_along(d))]
                for d in range(len(shape))
            ]  # fmt: skip
            for unwrapped in itertools.product(*regs):
                if all(u < s for u, s in zip(unwrapped, shape, strict=True)):
                    owners[unwrapped] += 1
    assert (owners == 1).all()


def test_coalescing_consecutive_lanes_read_consecutive_16_bytes() -> None:
    layout = default_layout((1024,), 4, 4)
    for lane in range(32):
        assert thread_coords(layout, lane, 0)[:4] == [(4 * lane + i,) for i in range(4)]
    wide = default_layout((64, 64), 4, 8)  # fp16: 8 elements = 16 bytes per thread
    assert wide.spt == (1, 8) and wide.tpw == (4, 8)
    assert thread_coords(wide, 1, 0)[:8] == [(0, 8 + i) for i in range(8)]
    assert thread_coords(wide, 8, 0)[0] == (1, 0)


def test_lane_bits_and_warp_strides() -> None:
    layout = Layout((32, 64), (1, 4), (2, 16), (2, 2), (1, 0))
    assert lane_bits(layout, 1) == [1, 2, 4, 8]
    assert lane_bits(layout, 0) == [16]
    assert warp_stride(layout, 1) == 1 and warp_stride(layout, 0) == 2


def test_slice_keeps_the_parent_mapping() -> None:
    parent = default_layout((16, 64), 4, 4)
    rows = parent.slice(1)
    assert rows.shape == (16,) and rows.reg_shape == (parent.reg_shape[0],)
    for warp, lane in itertools.product(range(4), range(32)):
        got = thread_coords(rows, lane, warp)
        assert got == [(r,) for r, _ in thread_coords(parent, lane, warp)[:: parent.reg_shape[1]]]
    assert rows.unslice(1) == parent.with_shape((16, 1)).slice(1).unslice(1)


def _simulate_reduce(layout: Layout, axis: int, x: np.ndarray) -> dict:
    """Each thread's result registers after the lowering's reduction plan."""
    d = layout.dims[axis]
    in_thread, masks, warps = reduction_plan(layout, d)
    out_layout = layout.slice(axis)
    reg_shape = layout.reg_shape
    partial: dict[tuple[int, int], list[int]] = {}
    for warp, lane in itertools.product(range(layout.num_warps), range(32)):
        coords = thread_coords(layout, lane, warp)
        vals = []
        for ridx in itertools.product(*(range(n) for n in out_layout.reg_shape)):
            acc = 0
            for k in range(in_thread):
                idx = ridx[:axis] + (k,) + ridx[axis:]
                flat = int(np.ravel_multi_index(idx, reg_shape)) if reg_shape else 0
                acc += int(x[coords[flat]])
            vals.append(acc)
        partial[(lane, warp)] = vals
    for m in masks:  # butterfly: every lane adds its partner's value
        partial = {
            (lane, warp): [a + b for a, b in zip(v, partial[(lane ^ m, warp)], strict=True)]
            for (lane, warp), v in partial.items()
        }
    if warps == 1:
        return partial
    slots: dict[tuple[tuple[int, ...], int], int] = {}
    for (lane, warp), vals in partial.items():
        warp_d = (warp // warp_stride(layout, d)) % warps
        for c, v in zip(thread_coords(out_layout, lane, warp), vals, strict=True):
            assert slots.setdefault((c, warp_d), v) == v  # copies write equal values
    return {
        (lane, warp): [sum(slots[(c, w)] for w in range(warps))
                       for c in thread_coords(out_layout, lane, warp)]
        for lane, warp in partial
    }  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "num_warps", "vec", "axis"),
    [
        ((1024,), 4, 4, 0),
        ((2,), 4, 4, 0),
        ((64, 64), 4, 4, 0),
        ((64, 64), 4, 4, 1),
        ((8, 256), 8, 4, 1),
        ((256, 8), 8, 4, 0),
        ((4, 16, 32), 4, 4, 1),
        ((16, 4), 4, 1, 1),
    ],
)
def test_reduction_tree_matches_numpy(
    shape: tuple[int, ...], num_warps: int, vec: int, axis: int
) -> None:
    rng = np.random.default_rng(sum(shape) + axis)
    x = rng.integers(-1000, 1000, size=shape)
    layout = default_layout(shape, num_warps, vec)
    got = _simulate_reduce(layout, axis, x)
    want = x.sum(axis=axis)
    out_layout = layout.slice(axis)
    for (lane, warp), vals in got.items():
        for c, v in zip(thread_coords(out_layout, lane, warp), vals, strict=True):
            assert v == want[c], (lane, warp, c)


def test_reduction_plan_counts() -> None:
    layout = Layout((64, 64), (1, 4), (2, 16), (4, 1), (1, 0))
    assert reduction_plan(layout, 1) == (4, [1, 2, 4, 8], 1)
    assert reduction_plan(layout, 0) == (8, [16], 4)
    tiny = Layout((4,), (1,), (32,), (4,), (0,))  # wraps: only 4 distinct lanes
    assert reduction_plan(tiny, 0) == (1, [1, 2], 1)
