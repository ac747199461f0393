"""Unit tests of tritium.ir.rewrite and of pass behaviour that golden files cannot show."""

from __future__ import annotations

from pathlib import Path

import pytest

from tritium.errors import InternalCompilerError
from tritium.ir.core import Module, Operation, Value
from tritium.ir.parser import parse_module
from tritium.ir.printer import print_module, print_op
from tritium.ir.rewrite import clone_op, defined_outside, rebuild_op, walk_blocks
from tritium.ir.verifier import verify
from tritium.passes import get_pass, run_passes
from tritium.passes.registry import parse_pass_list

LOOP = """"builtin.module"() ({
  "tt.func"() ({
  ^bb0(%x: f32, %n: i32):
    %lb = "arith.constant"() {value = 0} : () -> i32
    %st = "arith.constant"() {value = 1} : () -> i32
    %r:2 = "scf.for"(%lb, %n, %st, %x, %x) ({
    ^bb0(%i: i32, %a: f32, %b: f32):
      %s = "arith.addf"(%a, %x) : (f32, f32) -> f32
      "scf.yield"(%s, %b) : (f32, f32) -> ()
    }) {tag = [1, 2]} : (i32, i32, i32, f32, f32) -> (f32, f32)
    "tt.print"(%r#0, %r#1) {prefix = ""} : (f32, f32) -> ()
    "tt.return"() : () -> ()
  }) {function_type = (f32, i32) -> (), sym_name = "k", visibility = "public"} : () -> ()
}) : () -> ()
"""


def _loop_module() -> tuple[Module, Operation]:
    m = parse_module(LOOP)
    loop = next(op for op in m.walk() if op.name == "scf.for")
    return m, loop


def test_clone_op_maps_operands_and_copies_attributes() -> None:
    m, loop = _loop_module()
    mapping: dict[Value, Value] = {}
    copy = clone_op(loop, mapping)
    assert mapping[loop.results[1]] is copy.results[1]
    body, new_body = loop.regions[0].blocks[0], copy.regions[0].blocks[0]
    assert all(mapping[a] is b for a, b in zip(body.args, new_body.args, strict=True))
    assert print_op(copy) == print_op(loop)
    copy.attrs["tag"].append(3)
    assert loop.attrs["tag"] == [1, 2]  # lists are copied, not shared
    # the clone's body reads the clone's block arguments, the outer value stays shared
    add = new_body.ops[0]
    assert add.operands[0] is new_body.args[1] and add.operands[1] is body.ops[0].operands[1]


def test_defined_outside_and_walk_blocks() -> None:
    m, loop = _loop_module()
    body = loop.regions[0].blocks[0]
    assert defined_outside(loop.operands[0], loop)
    assert not defined_outside(body.args[0], loop)
    assert not defined_outside(body.ops[0].results[0], loop)
    assert not defined_outside(loop.results[0], loop)
    assert [b for b in walk_blocks(loop)] == [body]


def test_rebuild_op_drops_results_and_keeps_the_body() -> None:
    m, loop = _loop_module()
    printer = next(op for op in m.walk() if op.name == "tt.print")
    printer.operands = [loop.results[0]]
    body = loop.regions[0].blocks[0]
    body.ops[-1].operands = [body.ops[-1].operands[0]]
    from tritium.ir.rewrite import erase_block_arg

    erase_block_arg(body, 2)
    new = rebuild_op(loop, loop.operands[:4], [0])
    assert new.regions[0].blocks[0] is body and len(new.results) == 1
    assert printer.operands[0] is new.results[0]
    verify(m)


def test_recursion_is_an_internal_error() -> None:
    text = """"builtin.module"() ({
      "tt.func"() ({
      ^bb0(%x: f32):
        %y = "tt.call"(%x) {callee = "f"} : (f32) -> f32
        "tt.return"(%y) : (f32) -> ()
      }) {function_type = (f32) -> f32, sym_name = "f", visibility = "private"} : () -> ()
      "tt.func"() ({
      ^bb0(%x: f32):
        %y = "tt.call"(%x) {callee = "f"} : (f32) -> f32
        "tt.return"() : () -> ()
      }) {function_type = (f32) -> (), sym_name = "k", visibility = "public"} : () -> ()
    }) : () -> ()"""
    with pytest.raises(InternalCompilerError, match="recursive call chain f -> f"):
        get_pass("inline").run(parse_module(text))


def test_dce_drops_only_the_unread_carried_value() -> None:
    m, _ = _loop_module()
    # result 1 is unused after this, but its block argument feeds nothing live: removable;
    # result 0 stays because the print reads it
    printer = next(op for op in m.walk() if op.name == "tt.print")
    printer.operands = [printer.operands[0]]
    get_pass("dce").run(m)
    verify(m)
    loop = next(op for op in m.walk() if op.name == "scf.for")
    assert len(loop.results) == 1 and len(loop.regions[0].blocks[0].args) == 2
    assert '"scf.yield"(%3) : (f32) -> ()' in print_module(m)


def test_inline_removes_chains_of_dead_private_functions() -> None:
    text = """"builtin.module"() ({
      "tt.func"() ({
      ^bb0(%x: f32):
        "tt.print"(%x) {prefix = ""} : (f32) -> ()
        "tt.return"() : () -> ()
      }) {function_type = (f32) -> (), noinline = true, sym_name = "leaf",
          visibility = "private"} : () -> ()
      "tt.func"() ({
      ^bb0(%x: f32):
        "tt.call"(%x) {callee = "leaf"} : (f32) -> ()
        "tt.return"() : () -> ()
      }) {function_type = (f32) -> (), noinline = true, sym_name = "unused",
          visibility = "private"} : () -> ()
      "tt.func"() ({
      ^bb0(%x: f32):
        "tt.return"() : () -> ()
      }) {function_type = (f32) -> (), sym_name = "k", visibility = "public"} : () -> ()
    }) : () -> ()"""
    m = get_pass("inline").run(parse_module(text))
    assert [f.attrs["sym_name"] for f in m.functions] == ["k"]


def test_inline_can_ignore_noinline() -> None:
    text = (Path(__file__).parent / "golden" / "inline_basic.ttir").read_text()
    text = text.split("// ----- expected")[0]
    m = parse_module(text[text.index('"builtin.module"') :])
    run_passes(m, parse_pass_list("inline{respect_noinline=false}"), verify=True)
    assert [f.attrs["sym_name"] for f in m.functions] == ["k"]
    assert not any(op.name == "tt.call" for op in m.walk())
    assert '"tt.print"' in print_module(m)


def _chain_module(n: int) -> Module:
    """A function of ``n`` additions in a chain, the odd ones also feeding a print."""
    lines = ['"builtin.module"() ({', '  "tt.func"() ({', "  ^bb0(%x: f32):"]
    prev = "%x"
    for i in range(n):
        lines.append(f'    %a{i} = "arith.addf"({prev}, %x) : (f32, f32) -> f32')
        prev = f"%a{i}"
    printed = ", ".join(f"%a{i}" for i in range(1, n, 2))
    types = ", ".join("f32" for _ in range(1, n, 2))
    lines.append(f'    "tt.print"({printed}) {{prefix = ""}} : ({types}) -> ()')
    lines += ['    "tt.return"() : () -> ()']
    lines += [
        '  }) {function_type = (f32) -> (), sym_name = "k", visibility = "public"} : () -> ()'
    ]
    lines += ["}) : () -> ()", ""]
    return parse_module("\n".join(lines))


def test_erase_ops_matches_erasing_one_by_one() -> None:
    """``erase_ops`` (one rebuild per block) leaves the IR that ``erase`` one by one does."""
    from tritium.passes.patterns import erase_ops

    n = 40
    one, batch = _chain_module(n), _chain_module(n)
    for m, by_batch in ((one, False), (batch, True)):
        block = next(op for op in m.walk() if op.name == "tt.func").regions[0].blocks[0]
        printer = next(op for op in block.ops if op.name == "tt.print")
        # keep a1, a3 .. a9 printed: a39 .. a10 become dead, listed users before producers
        printer.operands = printer.operands[:5]
        dead = [op for op in reversed(block.ops) if op.name == "arith.addf"][:30]
        assert [op.results[0].uses for op in dead][:1] == [[]]
        if by_batch:
            with pytest.raises(ValueError, match="still used"):
                erase_ops([dead[1]])  # its user dead[0] is still there
            erase_ops(dead)
        else:
            for op in dead:
                op.erase()
        assert all(op.parent is None for op in dead)
        assert all(not op.operands for op in dead)
        verify(m)
    assert print_module(batch) == print_module(one)
    assert print_module(batch).count("arith.addf") == 10


def test_canonicalize_and_cse_on_a_long_kernel_erase_every_dead_op() -> None:
    """The batched erasure of canonicalize's dead ops and of CSE's merged ops: a long chain of
    duplicates keeps one copy of each value and nothing unused."""
    m = _chain_module(300)
    block = next(op for op in m.walk() if op.name == "tt.func").regions[0].blocks[0]
    printer = next(op for op in block.ops if op.name == "tt.print")
    x = block.args[0]

    # a duplicate of every addition, the print reading duplicates: CSE merges each into the
    # original
    dups = {}
    for op in list(block.ops):
        if op.name == "arith.addf":
            dup = Operation("arith.addf", list(op.operands), [op.results[0].type])
            block.insert_before(printer, dup)
            dups[op.results[0]] = dup.results[0]
    printer.operands = [dups[v] for v in printer.operands[:3]]  # a1, a3, a5
    run_passes(m, parse_pass_list("cse"))
    verify(m)
    assert print_module(m).count("arith.addf") == 300
    assert all(dup.owner.parent is None for dup in dups.values())
    run_passes(m, parse_pass_list("canonicalize"))  # a6 .. a299 are unused
    verify(m)
    assert print_module(m).count("arith.addf") == 6
    assert x.uses  # still read by the remaining chain
