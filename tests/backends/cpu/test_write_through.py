"""A materialized tile read by another one that a reduction writes through
(``analysis.write_through_reduce``): both are filled by the reduction's loop, unless a store
could change what the first one's load reads before that loop runs. Compiled and interpreted,
fresh random inputs, NaN-poisoned outputs, a float64 reference; odd lengths (masks)."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.modes import each_mode
from tritium.backends.cpu.analysis import classify_lazy, write_through_reduce
from tritium.ir.parser import parse_module


@triton.jit
def _chained(P, Q, out_a, out_b, n, CLOBBER: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    mask = offs < n
    a = tl.load(P + offs, mask=mask, other=0.0)  # read by b and by the last store
    if CLOBBER:
        tl.store(Q + offs, a * 0.0 - 7.0, mask=mask)  # Q may be P: a must be read first
    b = tl.where(mask, a * 2.0 + 1.0, 0.0)  # read by the sum and by a store
    s = tl.sum(b * b, axis=0)
    tl.store(out_b + offs, b - s, mask=mask)
    tl.store(out_a + offs, a * s, mask=mask)


@pytest.mark.parametrize("clobber", [False, True])
@pytest.mark.parametrize("n", [77, 128])
def test_chained_write_through(rng, monkeypatch, clobber, n) -> None:
    block = 128
    base = rng.standard_normal(block).astype(np.float32)
    a64 = np.where(np.arange(block) < n, base.astype(np.float64), 0.0)
    b64 = np.where(np.arange(block) < n, a64 * 2 + 1, 0.0)
    s = (b64 * b64).sum()
    _chained.cache.clear()
    for interpret in each_mode(monkeypatch):
        p = base.copy()
        oa = np.full(block, np.nan, np.float32)
        ob = np.full(block, np.nan, np.float32)
        _chained[(1,)](p, p, oa, ob, n, CLOBBER=clobber, BLOCK=block)  # Q is P
        np.testing.assert_allclose(oa[:n], (a64 * s)[:n], rtol=1e-5, err_msg=f"{interpret=}")
        np.testing.assert_allclose(ob[:n], (b64 - s)[:n], rtol=1e-5, err_msg=f"{interpret=}")
        assert np.isnan(oa[n:]).all() and np.isnan(ob[n:]).all()
        if clobber:
            np.testing.assert_array_equal(p[:n], -7.0)
    # the load is filled by the sum's loop only when no store comes between them
    ((_, compiled),) = _chained.cache.values()
    (func,) = parse_module(compiled.asm["ttir"]).functions
    lazy, cheap = classify_lazy(func)
    (load,) = [op for op in func.walk() if op.name == "tt.load"]
    assert load.result not in lazy
    by = write_through_reduce(load, lazy, cheap)
    assert (by is None) == clobber
    assert by is None or by.name == "tt.reduce"
