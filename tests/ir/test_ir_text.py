"""Printer and parser: the generic textual form, and exact round trips."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from ir_samples import build_all_ops_module, new_function

from tritium.ir import (
    OPS,
    FunctionType,
    Location,
    Module,
    PointerType,
    TensorType,
    bf16,
    f32,
    i1,
    i32,
)
from tritium.ir.parser import IRParseError, parse_attr, parse_module, parse_type
from tritium.ir.printer import format_attr, print_module, print_op


def test_every_op_round_trips() -> None:
    m = build_all_ops_module()
    assert {op.name for op in m.walk()} == set(OPS), "the sample must use every op"
    text = print_module(m)
    assert print_module(parse_module(text)) == text


def test_round_trip_keeps_structure() -> None:
    m = parse_module(print_module(build_all_ops_module()))
    kernel = m.get_function("kernel")
    assert kernel.attrs["function_type"] == FunctionType((PointerType(f32), i32, f32), ())
    names = [op.name for op in m.walk()]
    assert names == [op.name for op in build_all_ops_module().walk()]
    # use lists are rebuilt by the parser
    for op in m.walk():
        for v in op.operands:
            assert op in v.uses


def test_generic_form_of_a_function() -> None:
    m = Module()
    f, b = new_function(m, "k", [PointerType(f32), i32])
    b.loc = Location("k.py", 3, 10)
    b.create("tt.get_program_id", [], [i32], {"axis": 0})
    b.create("tt.return")
    assert print_module(m) == (
        '"builtin.module"() ({\n'
        '  "tt.func"() ({\n'
        "  ^bb0(%arg0: !tt.ptr<f32>, %arg1: i32):\n"
        '    %0 = "tt.get_program_id"() {axis = 0} : () -> i32 loc("k.py":3:10)\n'
        '    "tt.return"() : () -> () loc("k.py":3:10)\n'
        '  }) {function_type = (!tt.ptr<f32>, i32) -> (), sym_name = "k", '
        'visibility = "public"} : () -> ()\n'
        "}) : () -> ()\n"
    )


def test_names_restart_in_each_function() -> None:
    m = Module()
    for name in ("a", "b"):
        _, b = new_function(m, name, [i32])
        b.create("arith.constant", [], [i32], {"value": 1})
        b.create("tt.return")
    text = print_module(m)
    assert text.count("%0 = ") == 2 and text.count("^bb0(%arg0: i32)") == 2


@pytest.mark.parametrize(
    "value, text",
    [
        (0, "0"),
        (-5, "-5"),
        (2**70, str(2**70)),
        (True, "true"),
        (False, "false"),
        (1.0, "1.0"),
        (-0.0, "-0.0"),
        (0.1, "0.1"),
        (1e300, "1e+300"),
        (5e-324, "5e-324"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        ('a"b\n', '"a\\"b\\n"'),
        (None, "none"),
        ([1, [2.5, "x"]], '[1, [2.5, "x"]]'),
        ({"b": 1, "a": {}}, "{a = {}, b = 1}"),
        ({"tt.divisibility": 16, "odd key": 1}, '{"odd key" = 1, tt.divisibility = 16}'),
        (TensorType((2, 3), PointerType(bf16)), "tensor<2x3x!tt.ptr<bf16>>"),
        (FunctionType((i32,), (f32, i1)), "(i32) -> (f32, i1)"),
    ],
)
def test_attributes_print_and_parse_exactly(value: object, text: str) -> None:
    assert format_attr(value) == text
    back = parse_attr(text)
    assert format_attr(back) == text
    if isinstance(value, float):
        assert isinstance(back, float) and math.copysign(1, back) == math.copysign(1, value)
    elif not isinstance(value, (list, dict)):
        assert back == value and type(back) is type(value)


def test_nan_attribute() -> None:
    assert format_attr(math.nan) == "nan" and math.isnan(parse_attr("nan"))


@pytest.mark.parametrize(
    "text",
    [
        "i1",
        "i64",
        "f16",
        "bf16",
        "f8E4M3FN",
        "f8E5M2",
        "!tt.ptr<f32>",
        "!tt.ptr<i8, 3>",
        "tensor<128x64xf32>",
        "tensor<4x!tt.ptr<f16>>",
        "tensor<f32>",
        "!tt.ptr<!tt.ptr<f32>>",
        "() -> ()",
        "(i32, f32) -> i1",
    ],
)
def test_types_round_trip(text: str) -> None:
    assert str(parse_type(text)) == text


def test_hand_written_text_with_names_comments_and_no_locations() -> None:
    text = """
    // a comment
    "builtin.module"() ({
      "tt.func"() ({
      ^entry(%x: i32):
        %two = "arith.constant"() {value = 2} : () -> i32
        %r = "arith.muli"(%x, %two) : (i32, i32) -> i32  // doubled
        "tt.return"(%r) : (i32) -> ()
      }) {function_type = (i32) -> i32, sym_name = "f"} : () -> ()
    }) : () -> ()
    """
    m = parse_module(text)
    assert '%1 = "arith.muli"(%arg0, %0)' in print_module(m)
    assert "loc(" not in print_module(m)


def test_forward_reference_is_resolved() -> None:
    text = """"builtin.module"() ({
      "tt.func"() ({
        %a = "arith.addi"(%b, %b) : (i32, i32) -> i32
        %b = "arith.constant"() {value = 1} : () -> i32
        "tt.return"() : () -> ()
      }) {function_type = () -> (), sym_name = "f"} : () -> ()
    }) : () -> ()"""
    m = parse_module(text)
    add = next(op for op in m.walk() if op.name == "arith.addi")
    assert add.operands[0].defining_op is not None
    assert add.operands[0].defining_op.name == "arith.constant"


def test_empty_block_and_empty_region_differ() -> None:
    text = print_module(build_all_ops_module())
    assert "}, {\n    })" in text  # the if without an else region
    m = parse_module(text)
    ifs = [op for op in m.walk() if op.name == "scf.if" and not op.results]
    assert ifs and not ifs[0].regions[1].blocks


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '"builtin.module"() ({\n  %0 = "arith.addi"(%x, %x) : (i32, i32) -> i32\n}) : () -> ()',
            "use of undefined value %x",
        ),
        ('"builtin.module"() ({\n}) : () -> () trailing', "unexpected text"),
        (
            '"builtin.module"() ({\n  %0 = "arith.constant"() {value = 1} : () -> i33\n'
            "}) : () -> ()",
            "unknown type 'i33'",
        ),
        (
            '"builtin.module"() ({\n  %0 = "arith.constant"() : (i32) -> i32\n}) : () -> ()',
            "0 operands but 1 operand types",
        ),
        (
            '"builtin.module"() ({\n  %0 = "arith.constant"() {value = 1 : () -> i32\n'
            "}) : () -> ()",
            "expected",
        ),
        (
            '"builtin.module"() ({\n  %0 = "arith.constant"() {value = 1} : () -> i32\n'
            '  %0 = "arith.constant"() {value = 1} : () -> i32\n}) : () -> ()',
            "defined twice",
        ),
    ],
)
def test_parse_errors_point_at_the_text(text: str, message: str) -> None:
    with pytest.raises(IRParseError, match=message) as info:
        parse_module(text)
    assert str(info.value).split(":")[0].isdigit()  # starts with the line number


def test_print_op_names_outside_values() -> None:
    m = build_all_ops_module()
    loop = next(op for op in m.walk() if op.name == "scf.for")
    text = print_op(loop, locs=False)
    assert text.startswith('%0 = "scf.for"(%outside0, ')
    assert "loc(" not in text


def _repository_ir_files() -> list[Path]:
    tests = Path(__file__).parent.parent
    return sorted(tests.glob("*/golden/*.ttir")) + sorted(tests.glob("passes/inputs/*.ttir"))


@pytest.mark.parametrize(
    "path", _repository_ir_files(), ids=lambda p: f"{p.parent.parent.name}/{p.stem}"
)
def test_repository_ir_files_round_trip(path: Path) -> None:
    """Every .ttir file in the test tree (frontend goldens, pass inputs and expectations)
    parses and prints back identically once printed by tritium."""
    for part in path.read_text().split("// ----- expected"):
        text = part[part.index('"builtin.module"') :]
        printed = print_module(parse_module(text))
        assert print_module(parse_module(printed)) == printed


def test_damaged_text_gives_parse_errors_only() -> None:
    """Random one-character damage either still parses or raises IRParseError."""
    import random

    text = print_module(build_all_ops_module())
    rng = random.Random(0)
    for _ in range(150):
        chars = list(text)
        k = rng.randrange(len(chars))
        damage = rng.choice('%(){}[]<>:,="x0-#^!.a ')
        if rng.random() < 0.5:
            del chars[k]
        else:
            chars.insert(k, damage)
        try:
            parse_module("".join(chars))
        except IRParseError:
            pass
