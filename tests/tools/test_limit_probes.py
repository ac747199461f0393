"""The benchmark's peak probes (``benchmarks/limits.py``) build and run on this host: the fp32
FMA loop and the dot-product instructions the bf16 and int8 rows are bound by, where the CPU
has them (no timing is asserted: only that each loop runs and counts its work)."""

from __future__ import annotations

import math

import pytest

from benchmarks import limits


@pytest.mark.parametrize("op", ["fma", "vdpbf16ps", "vpdpbusd"])
def test_probe_runs(op: str) -> None:
    if op != "fma" and not limits.dot_available(op):
        pytest.skip(f"no {op} on this CPU")
    fn, per_iter = limits._loop_kernel(op)
    # operations of one instruction: 2 per lane of an fp32 FMA vector (4, 8 or 16 lanes), 2
    # products and 2 adds per f32 lane of vdpbf16ps, 4 and 4 per i32 lane of vpdpbusd
    assert per_iter in ({"vdpbf16ps": (64,), "vpdpbusd": (128,)}.get(op) or (8, 16, 32))
    assert math.isfinite(fn(1000))
    run, work = limits.fma_probe(2, seconds=0.001, op=op)
    run()
    assert work > 0
