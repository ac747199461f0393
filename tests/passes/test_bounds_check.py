"""The ``bounds-check`` pass: which accesses it checks, what it adds, and that it is opt-in.

The golden files ``golden/bounds_check_*.ttir`` show the full output (and idempotence); the
run-time behaviour is tested in ``tests/runtime/test_compiled_sanitizer.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.frontend import ast_to_ttir
from tritium.ir import Module
from tritium.ir.printer import print_module
from tritium.passes import optimize_ttir, run_passes
from tritium.passes.bounds_check import BoundsCheck
from tritium.passes.registry import parse_pass_list
from tritium.signature import flat_parameters


@triton.jit
def pick_kernel(a_ptr, b_ptr, flag, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    if flag > 0:
        p = a_ptr + offs
    else:
        p = a_ptr + 2 * offs
    tl.store(p, tl.load(p))  # one parameter on both branches: checked
    if flag > 1:
        q = a_ptr + offs
    else:
        q = b_ptr + offs
    tl.store(q, tl.load(q))  # two parameters: cannot be checked


SIGNATURE = {"a_ptr": "*fp32", "b_ptr": "*fp32", "flag": "i32", "BLOCK": "constexpr"}


def _module() -> Module:
    return optimize_ttir(ast_to_ttir(pick_kernel, SIGNATURE, {"BLOCK": 4}, {}), verify=True)


def _accesses(module: Module) -> list[str]:
    return [
        str(op.attrs.get("sanitizer", "checked"))
        for op in module.walk()
        if op.name in ("tt.load", "tt.store")
    ]


def test_traces_through_scf_if_and_skips_what_it_cannot_attribute() -> None:
    module = run_passes(_module(), [BoundsCheck(arg_names="a_ptr b_ptr flag")], verify=True)
    assert _accesses(module) == ["checked", "checked", "unchecked", "unchecked"]
    messages = [op.attrs["message"] for op in module.walk() if op.name == "tt.assert"]
    assert len(messages) == 2 and all("argument 'a_ptr'" in m for m in messages)
    func = module.functions[0]
    assert func.attrs["tt.bounds_check"] == [[0, 3, 4], [1, 5, 6]]
    assert func.attrs["tt.bounds_names"] == ["a_ptr", "b_ptr"]
    assert [str(a.type) for a in func.regions[0].block.args][3:] == ["i64"] * 4


def test_idempotent_and_opt_in() -> None:
    plain = print_module(_module())
    assert "tt.assert" not in plain  # the pipeline itself never adds checks
    once = run_passes(_module(), [BoundsCheck()], verify=True)
    text = print_module(once)
    assert "argument 'arg0'" in text  # names default to the parameter number
    assert print_module(run_passes(once, [BoundsCheck()], verify=True)) == text


def test_options_from_a_pass_list() -> None:
    (p,) = parse_pass_list("bounds-check{arg_names=x y n}")
    assert isinstance(p, BoundsCheck) and p.arg_names == "x y n"


def test_flat_parameters_follow_the_frontend_conventions() -> None:
    sig = {
        "x": "*fp32",
        "T": ("*i32", "constexpr", ("i32", "*fp16")),
        "d": "tensordesc<fp32[8,16]>",
        "n": "i32",
        "B": "constexpr",
    }
    assert flat_parameters(sig) == [
        ("x", True),
        ("T[0]", True),
        ("T[2][0]", False),
        ("T[2][1]", True),
        ("d.base", True),
        ("d.shape[0]", False),
        ("d.shape[1]", False),
        ("d.strides[0]", False),
        ("d.strides[1]", False),
        ("n", False),
    ]


@pytest.mark.parametrize("seed", range(3))
def test_differential_on_random_programs(seed: int) -> None:
    """Random programs compute the same with and without checks (exact-size buffers)."""
    from random_programs import RandomProgram, evaluate, random_inputs

    from tritium.backends import get_backend

    backend = get_backend("cpu")
    rng = np.random.default_rng(seed)
    args = random_inputs(rng)
    n_int = n_float = 0
    for v in evaluate(RandomProgram(seed).build(20), args):
        a = np.atleast_1d(np.asarray(v))
        if a.dtype.kind == "f":
            n_float += a.size
        else:
            n_int += a.size
    results = []
    for checked in (False, True):
        m = optimize_ttir(RandomProgram(seed, sink="store").build(20), verify=True)
        if checked:
            m = run_passes(m, [BoundsCheck()], verify=True)
        kernel = backend.load(backend.compile(m, {}))
        ints, floats = np.full(n_int, -12345, np.int32), np.full(n_float, np.nan, np.float32)
        scalars = [int(a) if not isinstance(a, np.floating) else float(a) for a in args]
        spans = [ints.ctypes.data, ints.ctypes.data + ints.nbytes]
        spans += [floats.ctypes.data, floats.ctypes.data + floats.nbytes]
        launch = scalars + [ints.ctypes.data, floats.ctypes.data] + (spans if checked else [])
        kernel.launch((1, 1, 1), launch)
        results.append((ints, floats))
    (bi, bf), (ci, cf) = results
    assert np.array_equal(bi, ci) and np.array_equal(bf, cf, equal_nan=True)
