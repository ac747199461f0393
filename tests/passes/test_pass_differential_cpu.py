"""Differential tests through the CPU backend: IR before and after each pass computes the same
results when compiled and run, on random inputs (skipped while the backend is unavailable).

The programs are random (random_programs.py) and also checked against the NumPy evaluator,
so a disagreement points at the pass, the backend or the evaluator; the message shows the IR.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pass_lists import differential_passes
from random_programs import RandomProgram, evaluate, random_inputs

from tritium.ir import Module
from tritium.ir.printer import print_module
from tritium.passes import get_pass, optimize_ttir, run_passes


def _backend() -> Any:
    try:
        from tritium.backends import get_backend

        return get_backend("cpu")
    except Exception as e:  # not written yet, or broken: these tests wait for it
        pytest.skip(f"CPU backend unavailable: {e}")


def _run_cpu(m: Module, args: list[Any], n_int: int, n_float: int) -> tuple[Any, Any]:
    backend = _backend()
    kernel = backend.load(backend.compile(m, {}))
    ints = np.full(n_int, -12345, np.int32)  # poisoned: unwritten elements show
    floats = np.full(n_float, np.nan, np.float32)
    scalars = [int(a) if not isinstance(a, np.floating) else float(a) for a in args]
    kernel.launch((1, 1, 1), scalars + [ints.ctypes.data, floats.ctypes.data])
    return ints, floats


def _expected(values: list[Any]) -> tuple[Any, Any]:
    ints: list[Any] = []
    floats: list[Any] = []
    for v in values:
        a = np.atleast_1d(np.asarray(v))
        (floats if a.dtype.kind == "f" else ints).extend(a.tolist())
    return np.array(ints, np.int64).astype(np.int32), np.array(floats, np.float32)


PIPELINES: dict[str, Callable[[Module], Module]] = {
    name: (lambda m, n=name: run_passes(m, [get_pass(n)], verify=True))
    for name in differential_passes()  # every registered pass: pass_lists.py
}
PIPELINES["optimize_ttir"] = lambda m: optimize_ttir(m, verify=True)


@pytest.mark.parametrize("pipeline", list(PIPELINES))
@pytest.mark.parametrize("seed", range(4))
def test_random_program_on_cpu(pipeline: str, seed: int) -> None:
    printed = RandomProgram(seed).build(20)
    stored = RandomProgram(seed, sink="store").build(20)
    optimized = PIPELINES[pipeline](RandomProgram(seed, sink="store").build(20))
    rng = np.random.default_rng(seed)
    for _ in range(2):
        args = random_inputs(rng)
        want_i, want_f = _expected(evaluate(printed, args))
        try:
            base_i, base_f = _run_cpu(stored, args, len(want_i), len(want_f))
        except Exception as e:  # the backend cannot run the program as written: not a pass bug
            pytest.skip(f"CPU backend cannot run the unoptimized program: {str(e)[:200]}")
        got_i, got_f = _run_cpu(optimized, args, len(want_i), len(want_f))
        context = (
            f"\nargs={args}\n"
            + print_module(stored)
            + "\n=== after ===\n"
            + print_module(optimized)
        )
        assert np.array_equal(base_i, got_i), f"{pipeline}: int results differ" + context
        assert np.array_equal(base_f, got_f, equal_nan=True), (
            f"{pipeline}: float results differ" + context
        )
        assert np.array_equal(want_i, base_i), "backend disagrees with NumPy" + context
        assert np.array_equal(want_f, base_f, equal_nan=True), (
            "backend disagrees with NumPy" + context
        )
