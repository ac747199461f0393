"""Each op's operand and result slots (ir/ops.py) are the one source of its structure: the
verifier's arity table and the operand accessors derive from them."""

from __future__ import annotations

import pytest

from tritium.ir import OPS, parse_module
from tritium.ir.ops import Slot, _op, _slots, op_def, operand, operand_group
from tritium.ir.verifier import ARITY, VerificationError, verify

LOADS = """
"builtin.module"() ({
  "tt.func"() ({
  ^bb0(%p: !tt.ptr<f32>, %c: i1, %x: f32, %n: i32):
    %a = "tt.load"(%p) {cache = "", evict = "", volatile = false} : (!tt.ptr<f32>) -> f32
    %b = "tt.load"(%p, %c) {cache = "", evict = "", volatile = false} : (!tt.ptr<f32>, i1) -> f32
    %d = "tt.load"(%p, %c, %x) {cache = "", evict = "", volatile = false} : (!tt.ptr<f32>, i1, f32)
        -> f32
    %e:2 = "scf.for"(%n, %n, %n, %x, %d) ({
    ^bb0(%i: i32, %u: f32, %v: f32):
      "scf.yield"(%u, %v) : (f32, f32) -> ()
    }) : (i32, i32, i32, f32, f32) -> (f32, f32)
    "tt.return"() : () -> ()
  }) {function_type = (!tt.ptr<f32>, i1, f32, i32) -> (), sym_name = "k"} : () -> ()
}) : () -> ()
"""


def test_arity_is_derived_from_the_slots() -> None:
    assert ARITY == {name: d.arity for name, d in OPS.items()}
    assert ARITY["tt.load"] == (1, 3, 1) and ARITY["tt.store"] == (2, 3, 0)
    assert ARITY["scf.for"] == (3, None, None) and ARITY["tt.reduce"] == (1, None, None)
    assert ARITY["tt.reduce.return"] == (1, None, 0) and ARITY["scf.yield"] == (0, None, 0)
    assert ARITY["tt.split"] == (1, 1, 2) and ARITY["arith.addi"] == (2, 2, 1)
    # every elementwise op names each of its operands: none is optional or variadic
    for d in OPS.values():
        if "elementwise" in d.traits:
            assert all(s.count == "1" for s in d.operands) and len(d.results) == 1, d.name


def test_accessors_find_operands_by_slot_name() -> None:
    module = parse_module(LOADS)
    verify(module)
    a, b, d, loop = [op for op in module.walk() if op.name in ("tt.load", "scf.for")]
    assert [operand(x, "mask") is not None for x in (a, b, d)] == [False, True, True]
    assert operand(a, "other") is None and operand(d, "other") is d.operands[2]
    assert operand(b, "ptr") is b.operands[0]
    assert operand(loop, "step") is loop.operands[2]
    assert operand_group(loop, "inits") == loop.operands[3:]
    with pytest.raises(TypeError, match="variadic"):
        operand(loop, "inits")
    with pytest.raises(KeyError, match="no operand 'bogus'"):
        operand(a, "bogus")


def test_too_many_operands_fail_the_arity_check() -> None:
    text = LOADS.replace(
        '(%p, %c, %x) {cache = "", evict = "", volatile = false} : (!tt.ptr<f32>, i1, f32)',
        '(%p, %c, %x, %x) {cache = "", evict = "", volatile = false} : '
        "(!tt.ptr<f32>, i1, f32, f32)",
    )
    with pytest.raises(VerificationError, match="has 4 operands, expected 1..3"):
        verify(parse_module(text))


def test_slot_layouts_that_a_count_cannot_tell_apart_are_refused() -> None:
    assert _slots("operands", "t", ("a", "b?", "c?")) == (Slot("a"), Slot("b", "?"), Slot("c", "?"))
    for bad in (("a?", "b"), ("a*", "b"), ("a*", "b*"), ("a?", "b*")):
        with pytest.raises(ValueError, match="required slots first"):
            _slots("operands", "t", bad)
    with pytest.raises(TypeError, match="tuple of slot names"):
        _op("test.prose", "an op declared the old way", "lhs, rhs")  # type: ignore[arg-type]
    assert "test.prose" not in OPS


def test_op_def_prints_its_slots() -> None:
    text = str(op_def("tt.load"))
    assert text.startswith("tt.load(ptr, mask?, other?) -> result (pointee type")
