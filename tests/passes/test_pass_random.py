"""Differential tests on random programs: every pass (and the pipeline) keeps results.

Random programs (see random_programs.py) run in a NumPy evaluator before and after the
passes, on random inputs; results must agree exactly (NaNs equal, -0.0 == 0.0).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pass_lists import differential_passes
from random_programs import FPRED, IPRED, RandomProgram, evaluate, random_inputs

from tritium.ir import Module
from tritium.ir.parser import parse_module
from tritium.ir.printer import print_module
from tritium.ir.verifier import verify
from tritium.passes import get_pass, optimize_ttir, run_passes


def _same(a: list[Any], b: list[Any]) -> bool:
    # -0.0 == 0.0 here: the reference's max/min do not order signed zeros, the passes do
    return len(a) == len(b) and all(
        np.array_equal(np.asarray(x), np.asarray(y), equal_nan=np.asarray(x).dtype.kind == "f")
        for x, y in zip(a, b, strict=True)
    )


PIPELINES: dict[str, Callable[[Module], Module]] = {
    name: (lambda m, n=name: run_passes(m, [get_pass(n)], verify=True))
    for name in differential_passes()  # every registered pass: pass_lists.py
}
PIPELINES["optimize_ttir"] = lambda m: optimize_ttir(m, verify=True)


@pytest.mark.parametrize("pipeline", list(PIPELINES))
@pytest.mark.parametrize("seed", range(20))
def test_random_program_keeps_its_results(pipeline: str, seed: int) -> None:
    before = RandomProgram(seed).build(30)
    verify(before)
    after = PIPELINES[pipeline](RandomProgram(seed).build(30))
    rng = np.random.default_rng(seed)
    for _ in range(4):
        args = random_inputs(rng)
        want, got = evaluate(before, args), evaluate(after, args)
        assert _same(want, got), (
            f"{pipeline} changed results for {args}:\n"
            + print_module(before)
            + "\n=== after ===\n"
            + print_module(after)
        )


@pytest.mark.parametrize("seed", range(20))
def test_random_program_round_trips_through_text(seed: int) -> None:
    m = RandomProgram(seed).build(30)
    text = print_module(m)
    again = parse_module(text)
    verify(again)
    assert print_module(again) == text
    args = random_inputs(np.random.default_rng(seed))
    assert _same(evaluate(m, args), evaluate(again, args))


@pytest.mark.parametrize("seed", range(20))
def test_pipeline_is_idempotent_on_random_programs(seed: int) -> None:
    once = print_module(optimize_ttir(RandomProgram(seed).build(30), verify=True))
    twice = print_module(optimize_ttir(parse_module(once), verify=True))
    assert once == twice


_FLOAT_EDGES = [0.0, -0.0, 1.0, -2.5, float("inf"), float("-inf"), float("nan")]
_INT_EDGES = [0, 1, -1, 7, 2147483647, -2147483648]


@pytest.mark.parametrize("pred", FPRED + IPRED)
def test_negated_compares_keep_their_results(pred: str) -> None:
    """``not cmp(a, b)`` → the inverse compare, checked on every pair of edge values."""
    is_float = pred in FPRED
    t, op = ("f32", "arith.cmpf") if is_float else ("i32", "arith.cmpi")
    text = f""""builtin.module"() ({{
      "tt.func"() ({{
      ^bb0(%a: {t}, %b: {t}, %u: i32, %v: i32, %c: i1):
        %cmp = "{op}"(%a, %b) {{predicate = "{pred}"}} : ({t}, {t}) -> i1
        %true = "arith.constant"() {{value = true}} : () -> i1
        %not = "arith.xori"(%cmp, %true) : (i1, i1) -> i1
        "tt.print"(%not) {{prefix = ""}} : (i1) -> ()
        "tt.return"() : () -> ()
      }}) {{function_type = ({t}, {t}, i32, i32, i1) -> (), sym_name = "k"}} : () -> ()
    }}) : () -> ()"""
    before = parse_module(text)
    after = run_passes(parse_module(text), [get_pass("canonicalize")], verify=True)
    assert '"arith.xori"' not in print_module(after)
    edges = _FLOAT_EDGES if is_float else _INT_EDGES
    np_t = np.float32 if is_float else np.int32
    for a in edges:
        for b in edges:
            args = [np_t(a), np_t(b), np.int32(0), np.int32(0), np.bool_(False)]
            assert evaluate(before, args) == evaluate(after, args), (pred, a, b)
