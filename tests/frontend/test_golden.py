"""Golden IR text for small kernels: the frontend's output must not change by accident.

``pytest tests/frontend --update-golden`` rewrites the files in ``golden/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.frontend import kernels
from tests.frontend.helpers import compile_kernel
from tritium.ir.parser import parse_module
from tritium.ir.printer import print_module

GOLDEN = Path(__file__).parent / "golden"

CASES: dict[str, tuple[Any, dict[str, str], dict[str, Any]]] = {
    "vector_add": (
        kernels.add_kernel,
        {"x_ptr": "*fp32", "y_ptr": "*fp32", "out_ptr": "*fp32", "n": "i32"},
        {"BLOCK": 16},
    ),
    "loop": (
        kernels.loop_kernel,
        {"x_ptr": "*fp32", "out_ptr": "*fp32", "n": "i32"},
        {"BLOCK": 16},
    ),
    "if": (kernels.if_kernel, {"x_ptr": "*fp32", "out_ptr": "*fp32", "flag": "i32"}, {}),
    "reduce": (kernels.reduce_kernel, {"x_ptr": "*fp32", "out_ptr": "*fp32"}, {"BLOCK": 32}),
    "softmax": (
        kernels.softmax_kernel,
        {"out_ptr": "*fp32", "in_ptr": "*fp32", "stride": "i32", "n_cols": "i32"},
        {"BLOCK": 32},
    ),
    "call": (kernels.call_kernel, {"x_ptr": "*fp32", "out_ptr": "*fp32"}, {}),
    "early_return": (kernels.early_return_kernel, {"x_ptr": "*i32", "n": "i32"}, {}),
    "while": (kernels.while_kernel, {"x_ptr": "*fp32", "n": "i32"}, {}),
    "block_pointer": (
        kernels.block_ptr_kernel,
        {"a_ptr": "*fp16", "out_ptr": "*fp32", "M": "i32", "N": "i32"},
        {"BM": 4, "BN": 8},
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_ir(name: str, update_golden: bool) -> None:
    fn, sig, consts = CASES[name]
    module = compile_kernel(fn, sig, consts)
    text = print_module(module, locs=False)
    path = GOLDEN / f"{name}.ttir"
    if update_golden or not path.exists():
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize("name", sorted(CASES))
def test_printed_ir_round_trips(name: str) -> None:
    fn, sig, consts = CASES[name]
    text = print_module(compile_kernel(fn, sig, consts))
    assert print_module(parse_module(text)) == text


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_op_has_a_user_location(name: str) -> None:
    from tritium.ir import UNKNOWN_LOC

    fn, sig, consts = CASES[name]
    module = compile_kernel(fn, sig, consts)
    for op in module.walk():
        if op.name == "builtin.module":
            continue
        assert op.loc != UNKNOWN_LOC, op
        assert op.loc.file.endswith("kernels.py") and op.loc.line > 0
