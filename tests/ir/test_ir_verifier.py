"""The verifier: valid IR passes; each rule catches what it is for, naming the op and rule."""

from __future__ import annotations

import pytest
from ir_samples import build_all_ops_module, new_function

from tritium.errors import InternalCompilerError
from tritium.ir import OPS, Block, Module, Operation, f32
from tritium.ir.parser import parse_module
from tritium.ir.verifier import ARITY, TYPE_RULES, VerificationError, verify


def _module(
    body: str,
    params: str = "%p: !tt.ptr<f32>, %x: f32, %n: i32, %c: i1",
    ptypes: str = "!tt.ptr<f32>, f32, i32, i1",
) -> Module:
    return parse_module(f"""
"builtin.module"() ({{
  "tt.func"() ({{
  ^bb0({params}):
{body}
    "tt.return"() : () -> ()
  }}) {{function_type = ({ptypes}) -> (), sym_name = "k"}} : () -> ()
}}) : () -> ()""")


def _fails(module: Module, rule: str, op_name: str, text: str) -> None:
    with pytest.raises(VerificationError) as info:
        verify(module, pass_name="some-pass")
    e = info.value
    assert isinstance(e, InternalCompilerError)
    assert e.rule == rule, str(e)
    assert e.op.name == op_name, str(e)
    assert text in str(e), str(e)
    assert "in pass some-pass" in str(e) and "--- IR ---" in str(e)


def test_valid_module_passes() -> None:
    verify(build_all_ops_module())


def test_every_op_has_an_arity_and_the_tables_name_only_real_ops() -> None:
    assert set(ARITY) == set(OPS)
    assert set(TYPE_RULES) <= set(OPS)


def test_unregistered_op() -> None:
    m = _module('    %y = "arith.frobnicate"(%x) : (f32) -> f32')
    _fails(m, "registered", "arith.frobnicate", "not registered")


def test_arity() -> None:
    m = _module('    %y = "arith.addf"(%x) : (f32) -> f32')
    _fails(m, "arity", "arith.addf", "has 1 operands, expected 2")


def test_elementwise_shapes() -> None:
    m = _module(
        '    %t = "tt.splat"(%x) : (f32) -> tensor<4xf32>\n'
        '    %y = "arith.addf"(%t, %x) : (tensor<4xf32>, f32) -> tensor<4xf32>'
    )
    _fails(m, "elementwise-shape", "arith.addf", "differ in shape")


def test_select_with_scalar_condition_is_fine() -> None:
    verify(
        _module(
            '    %t = "tt.splat"(%x) : (f32) -> tensor<4xf32>\n'
            '    %y = "arith.select"(%c, %t, %t) : (i1, tensor<4xf32>, tensor<4xf32>) '
            "-> tensor<4xf32>"
        )
    )


@pytest.mark.parametrize(
    "body, op_name, text",
    [
        ('    %y = "arith.addi"(%x, %x) : (f32, f32) -> f32', "arith.addi", "expects integers"),
        ('    %y = "arith.addf"(%n, %n) : (i32, i32) -> i32', "arith.addf", "expects floats"),
        (
            '    %y = "arith.cmpi"(%n, %n) {predicate = "lt"} : (i32, i32) -> i1',
            "arith.cmpi",
            "unknown predicate",
        ),
        ('    %y = "arith.extsi"(%n) : (i32) -> i8', "arith.extsi", "bit widths 32 -> 8"),
        ('    %y = "arith.constant"() : () -> i32', "arith.constant", "needs a 'value'"),
        ('    %y = "arith.constant"() {value = 256} : () -> i8', "arith.constant", "does not fit"),
        ('    %y = "arith.constant"() {value = 1.5} : () -> i8', "arith.constant", "integer const"),
        (
            '    %y = "tt.make_range"() {end = 4, start = 0} : () -> tensor<8xi32>',
            "tt.make_range",
            "result must be tensor<4xi32>",
        ),
        (
            '    %y = "tt.addptr"(%p, %x) : (!tt.ptr<f32>, f32) -> !tt.ptr<f32>',
            "tt.addptr",
            "integer offset",
        ),
        ('    %y = "tt.load"(%p) : (!tt.ptr<f32>) -> i32', "tt.load", "result must be f32"),
        (
            '    %r = "tt.make_range"() {end = 4, start = 0} : () -> tensor<4xi32>\n'
            '    %ps = "tt.splat"(%p) : (!tt.ptr<f32>) -> tensor<4x!tt.ptr<f32>>\n'
            '    %pp = "tt.addptr"(%ps, %r) : (tensor<4x!tt.ptr<f32>>, tensor<4xi32>) -> '
            "tensor<4x!tt.ptr<f32>>\n"
            '    %y = "tt.load"(%pp, %c) : (tensor<4x!tt.ptr<f32>>, i1) -> tensor<4xf32>',
            "tt.load",
            "mask must be tensor<4xi1>",
        ),
        ('    "tt.store"(%p, %n) : (!tt.ptr<f32>, i32) -> ()', "tt.store", "value must be f32"),
        (
            '    %a = "tt.splat"(%x) : (f32) -> tensor<4x8xf32>\n'
            '    %y = "tt.dot"(%a, %a, %a) : '
            "(tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>",
            "tt.dot",
            "do not fit a @ b + c",
        ),
        (
            '    %a = "tt.splat"(%x) : (f32) -> tensor<4x8xf32>\n'
            '    %y = "tt.broadcast"(%a) : (tensor<4x8xf32>) -> tensor<8x8xf32>',
            "tt.broadcast",
            "cannot broadcast",
        ),
        (
            '    %a = "tt.splat"(%x) : (f32) -> tensor<4x8xf32>\n'
            '    %y = "tt.trans"(%a) {order = [0, 0]} : (tensor<4x8xf32>) -> tensor<4x8xf32>',
            "tt.trans",
            "not a permutation",
        ),
        (
            '    %a = "tt.splat"(%x) : (f32) -> tensor<4x8xf32>\n'
            '    %y = "tt.reshape"(%a) : (tensor<4x8xf32>) -> tensor<30xf32>',
            "tt.reshape",
            "cannot reshape",
        ),
        ('    %y = "tt.call"(%x) {callee = "nope"} : (f32) -> f32', "tt.call", "unknown function"),
        (
            '    %y = "scf.if"(%n) ({\n      "scf.yield"(%x) : (f32) -> ()\n    }, {\n'
            '      "scf.yield"(%x) : (f32) -> ()\n    }) : (i32) -> f32',
            "scf.if",
            "condition must be a scalar i1",
        ),
        (
            '    %y = "scf.if"(%c) ({\n      "scf.yield"(%n) : (i32) -> ()\n    }, {\n'
            '      "scf.yield"(%x) : (f32) -> ()\n    }) : (i1) -> f32',
            "scf.if",
            "region 0 yields vs results",
        ),
        (
            '    %y = "scf.for"(%n, %n, %n, %x) ({\n    ^bb0(%i: i32, %a: f32):\n'
            '      "scf.yield"(%i) : (i32) -> ()\n    }) : (i32, i32, i32, f32) -> f32',
            "scf.for",
            "yielded values vs inits",
        ),
        (
            '    %y = "scf.for"(%n, %n, %n, %x) ({\n    ^bb0(%i: i32):\n'
            '      "scf.yield"(%x) : (f32) -> ()\n    }) : (i32, i32, i32, f32) -> f32',
            "scf.for",
            "block arguments vs (iv, inits)",
        ),
        (
            '    %y = "scf.while"(%n) ({\n    ^bb0(%a: i32):\n'
            '      "scf.condition"(%c, %x) : (i1, f32) -> ()\n    }, {\n    ^bb0(%b: i32):\n'
            '      "scf.yield"(%b) : (i32) -> ()\n    }) : (i32) -> f32',
            "scf.while",
            "after-region arguments vs scf.condition values",
        ),
        (
            '    %t = "tt.splat"(%x) : (f32) -> tensor<4xf32>\n'
            '    %y = "tt.reduce"(%t) ({\n    ^bb0(%a: f32, %b: f32):\n'
            '      "tt.reduce.return"(%a) : (f32) -> ()\n    }) {axis = 0} : (tensor<4xf32>) -> '
            "tensor<4xf32>",
            "tt.reduce",
            "result must be f32",
        ),
    ],
)
def test_type_rules(body: str, op_name: str, text: str) -> None:
    _fails(_module(body), "types", op_name, text)


def test_missing_terminator() -> None:
    m = _module(
        '    "scf.if"(%c) ({\n      %y = "arith.addf"(%x, %x) : (f32, f32) -> f32\n'
        "    }, {\n    }) : (i1) -> ()"
    )
    _fails(m, "terminator", "scf.if", "region 0 must end in scf.yield, ends in arith.addf")


def test_terminator_in_the_middle() -> None:
    m = _module('    "tt.return"() : () -> ()\n    %y = "arith.addf"(%x, %x) : (f32, f32) -> f32')
    _fails(m, "structure", "tt.return", "not the last op")


def test_if_with_results_needs_an_else() -> None:
    m = _module(
        '    %y = "scf.if"(%c) ({\n      "scf.yield"(%x) : (f32) -> ()\n'
        "    }, {\n    }) : (i1) -> f32"
    )
    _fails(m, "structure", "scf.if", "region 1 has no block")


def test_use_before_definition() -> None:
    m = _module(
        '    %a = "arith.addf"(%b, %x) : (f32, f32) -> f32\n'
        '    %b = "arith.addf"(%x, %x) : (f32, f32) -> f32'
    )
    _fails(m, "dominance", "arith.addf", "from a later op")


def test_value_from_inside_a_region_used_outside() -> None:
    m = _module(
        '    "scf.if"(%c) ({\n      %y = "arith.addf"(%x, %x) : (f32, f32) -> f32\n'
        '      "scf.yield"() : () -> ()\n    }, {\n    }) : (i1) -> ()\n'
        '    %z = "arith.addf"(%y, %x) : (f32, f32) -> f32'
    )
    _fails(m, "dominance", "arith.addf", "does not enclose it")


def test_value_from_another_function() -> None:
    m = Module()
    _, b1 = new_function(m, "a", [f32])
    x = b1.block.args[0]  # type: ignore[union-attr]
    b1.create("tt.return")
    _, b2 = new_function(m, "b", [])
    b2.create("arith.negf", [x], [f32])
    b2.create("tt.return")
    _fails(m, "dominance", "arith.negf", "not defined before its use")


def test_wrong_region_count() -> None:
    m = _module("")
    f = m.functions[0]
    body = f.regions[0].blocks[0]
    bad = Operation("scf.if", [body.args[3]], [], {}, 1)
    bad.regions[0].add_block(Block()).append(Operation("scf.yield"))
    body.insert(0, bad)
    bad.parent = body
    _fails(m, "structure", "scf.if", "has 1 regions, expected 2")


def test_function_signature_mismatch() -> None:
    m = parse_module(
        '"builtin.module"() ({\n  "tt.func"() ({\n  ^bb0(%a: i32):\n'
        '    "tt.return"(%a) : (i32) -> ()\n'
        '  }) {function_type = (i32) -> f32, sym_name = "f"} : () -> ()\n'
        "}) : () -> ()"
    )
    _fails(m, "types", "tt.func", "tt.return values vs function_type results: i32 vs f32")


def test_stale_use_list() -> None:
    m = _module('    %y = "arith.addi"(%n, %n) : (i32, i32) -> i32')
    add = next(op for op in m.walk() if op.name == "arith.addi")
    add.operands[0].uses.remove(add)
    _fails(m, "structure", "arith.addi", "use list")


def test_error_names_location() -> None:
    m = parse_module(
        '"builtin.module"() ({\n  "tt.func"() ({\n'
        '    %y = "arith.addi"() : () -> i32 loc("k.py":4:2)\n'
        '    "tt.return"() : () -> ()\n'
        '  }) {function_type = () -> (), sym_name = "f"} : () -> ()\n'
        "}) : () -> ()"
    )
    _fails(m, "arity", "arith.addi", "arith.addi at k.py:4:2")


def test_attributes_must_be_plain_data() -> None:
    m = _module('    %y = "arith.addi"(%n, %n) : (i32, i32) -> i32')
    add = next(op for op in m.walk() if op.name == "arith.addi")
    add.attrs["bad"] = object()
    with pytest.raises(VerificationError) as info:
        verify(m)
    assert info.value.rule == "attributes" and "'bad'" in str(info.value)
