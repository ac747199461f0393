"""peel-masked-tail: a kernel computes the same with and without it, and the differential
harness notices when the pass is broken."""

from __future__ import annotations

import os

import numpy as np
import pytest
import test_pass_differential_kernels as harness

import tritium
import tritium.language as tl
from tritium.ir.core import Operation, Value
from tritium.passes import peel_masked_tail

SEED = int(os.environ["TRITIUM_TEST_SEED"])
WITHOUT = "-peel-masked-tail"


@tritium.jit
def _row_scale(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    """out[row] = x[row] * sum(x[row]) / n: a masked reduction loop, then a masked store loop."""
    row = tl.program_id(0)
    x_ptr += row * n
    out_ptr += row * n
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for off in range(0, n, BLOCK):
        cols = off + tl.arange(0, BLOCK)
        acc += tl.load(x_ptr + cols, mask=cols < n, other=0.0)
    mean = tl.sum(acc, axis=0) / n
    for off in range(0, n, BLOCK):
        cols = off + tl.arange(0, BLOCK)
        x = tl.load(x_ptr + cols, mask=cols < n, other=0.0)
        tl.store(out_ptr + cols, tl.where(cols < n, x * mean, 0.0), mask=cols < n)


def _launch(x: np.ndarray, passes: str | None, block: int) -> tuple[np.ndarray, object]:
    out = np.full(x.size + 64, np.nan, np.float32)  # poisoned, and room to see stray stores
    options = {} if passes is None else {"passes": passes}
    kernel = _row_scale[(x.shape[0],)](x, out, x.shape[1], BLOCK=block, **options)
    return out, kernel


@pytest.mark.parametrize("n", [1, 31, 32, 96, 100, 257])
def test_same_bits_with_and_without_the_pass(n: int) -> None:
    x = np.random.default_rng(SEED + n).standard_normal((3, n)).astype(np.float32)
    with_pass, kernel = _launch(x, None, 32)
    without, _ = _launch(x, WITHOUT, 32)
    assert np.array_equal(with_pass, without, equal_nan=True)
    assert np.isnan(with_pass[x.size :]).all()  # nothing written past the rows
    ref = x.astype(np.float64) * x.astype(np.float64).mean(axis=1, keepdims=True)
    np.testing.assert_allclose(with_pass[: x.size].reshape(x.shape), ref, rtol=1e-4, atol=1e-5)
    if n != 1:  # n == 1 is a constant (Triton's specialization): the loops fold away
        assert '"arith.maxsi"' in kernel.asm["ttir"]  # the pass ran: the loops were split


def test_matches_the_interpreter() -> None:
    x = np.random.default_rng(SEED).standard_normal((2, 77)).astype(np.float32)
    compiled, _ = _launch(x, None, 16)
    interpreted = np.full_like(compiled, np.nan)
    tritium.jit(_row_scale.fn, interpret=True)[(2,)](x, interpreted, 77, BLOCK=16)
    # fp32 sums of 77 terms in two orders (compiled: sequential; NumPy: pairwise) differ by
    # up to ~77 ulps of the sum of |x|, which can be far more than an ulp of the sum itself
    # when its terms cancel: the bound is on that accumulated rounding, row by row.
    rows = x.shape[0] * x.shape[1]
    assert np.isnan(compiled[rows:]).all() and np.isnan(interpreted[rows:]).all()
    got, want = (a[:rows].reshape(x.shape).astype(np.float64) for a in (compiled, interpreted))
    sum_error = 2 * x.shape[1] * 2.0**-24 * np.abs(x).astype(np.float64).sum(axis=1)
    bound = np.abs(x) * (sum_error / x.shape[1])[:, None] + 2.0**-23 * np.abs(want)
    assert (np.abs(got - want) <= bound).all(), np.max(np.abs(got - want) - bound)


def _broken_split(loop: Operation, masks: list[Operation]) -> None:
    """The pass with its one subtle line wrong: the main loop runs to the end, unmasked."""
    lb, ub, step = loop.operands[:3]
    mapping: dict[Value, Value] = {}
    main = peel_masked_tail.clone_op(loop, mapping)
    assert loop.parent is not None
    loop.parent.insert_before(loop, main)
    for cmp in masks:
        copy = mapping[cmp.results[0]].defining_op
        assert copy is not None
        peel_masked_tail.replace_op(
            copy, [peel_masked_tail.make_constant(copy, copy.results[0].type, True)]
        )
    loop.operands = [ub, ub, step, *main.results]


def test_the_differential_harness_catches_a_broken_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    path = harness.HERE / "inputs" / "layer_norm_fwd.ttir"
    harness.test_kernel_results_survive_the_pass(path, "peel-masked-tail")  # the real pass
    monkeypatch.setattr(peel_masked_tail, "_split", _broken_split)
    with pytest.raises(AssertionError, match="differs after peel-masked-tail"):
        harness.test_kernel_results_survive_the_pass(path, "peel-masked-tail")
