"""The pass registry, the pipeline (verification, IR dumps, errors) and tritium-opt."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tritium.errors import InternalCompilerError
from tritium.ir.core import Module
from tritium.ir.parser import parse_module
from tritium.ir.printer import print_module
from tritium.passes import PASSES, Pass, get_pass, optimize_ttir, run_passes
from tritium.tools.opt import main as opt_main

# a vector-add kernel as a naive frontend would emit it: repeated splats and masks, x * 1.0
VECTOR_ADD = (Path(__file__).parent / "inputs" / "vector_add.ttir").read_text()


def test_registry_names_are_kebab_case_and_passes_are_dataclasses() -> None:
    assert {"inline", "canonicalize", "cse", "dce", "licm"} <= set(PASSES)
    for name, cls in PASSES.items():
        assert name == name.lower() and "_" not in name
        assert dataclasses.is_dataclass(cls) and cls.__doc__
        assert get_pass(name).name == name
    with pytest.raises(KeyError, match="unknown pass 'nope'"):
        get_pass("nope")


def test_pipeline_on_vector_add() -> None:
    m = optimize_ttir(parse_module(VECTOR_ADD), verify=True)
    text = print_module(m)
    assert text.count('"tt.splat"(%arg3)') == 1  # the repeated mask is shared
    assert text.count('"arith.cmpi"') == 1
    assert '"arith.mulf"' not in text and '"arith.subf"' not in text
    assert text.count('"tt.load"') == 2 and text.count('"tt.store"') == 1
    assert 'loc("add.py":9:8)' in text  # locations survive
    again = print_module(optimize_ttir(parse_module(text), verify=True))
    assert again == text


def test_dump_ir_after_every_pass(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRITIUM_DUMP_IR", "1")
    optimize_ttir(parse_module(VECTOR_ADD))
    err = capsys.readouterr().err
    for name in ("inline", "canonicalize", "cse", "licm", "dce"):
        assert f"// -----// IR Dump After {name} //----- //" in err
    assert err.startswith("// -----// IR Dump Before inline //----- //")


def test_dump_ir_after_one_pass(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRITIUM_DUMP_IR", "cse")
    optimize_ttir(parse_module(VECTOR_ADD))
    err = capsys.readouterr().err
    assert "IR Dump After cse " in err and "IR Dump After dce" not in err


@dataclasses.dataclass
class _BreaksIR(Pass):
    """Deletes the uses of a value's definition: the verifier must catch it."""

    name = "breaks-ir"

    def run(self, module: Module) -> Module:
        op = next(o for o in module.walk() if o.name == "tt.make_range")
        assert op.parent is not None
        op.parent.ops.remove(op)
        op.parent.ops.append(op)  # now after its users and after the terminator
        return module


@dataclasses.dataclass
class _Crashes(Pass):
    """Raises a Python error, which must become an InternalCompilerError."""

    name = "crashes"

    def run(self, module: Module) -> Module:
        raise ZeroDivisionError("oops")


def test_verifier_names_the_pass_that_broke_the_ir() -> None:
    with pytest.raises(InternalCompilerError, match="in pass breaks-ir"):
        run_passes(parse_module(VECTOR_ADD), [_BreaksIR()], verify=True)


def test_crash_in_a_pass_names_it() -> None:
    with pytest.raises(InternalCompilerError, match="in pass crashes.*ZeroDivisionError"):
        run_passes(parse_module(VECTOR_ADD), [_Crashes()])


def test_opt_tool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "k.ttir"
    src.write_text(VECTOR_ADD)
    assert opt_main([str(src), "--pass", "canonicalize,cse,dce", "--no-locs"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('"builtin.module"()') and "loc(" not in out
    assert out.count('"arith.cmpi"') == 1
    assert parse_module(out)  # the output is valid input


def test_opt_tool_pipeline_and_output_file(tmp_path: Path) -> None:
    src, dst = tmp_path / "k.ttir", tmp_path / "out.ttir"
    src.write_text(VECTOR_ADD)
    assert opt_main([str(src), "--pipeline", "-o", str(dst)]) == 0
    assert dst.read_text() == print_module(optimize_ttir(parse_module(VECTOR_ADD)))


def test_opt_tool_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.ttir"
    bad.write_text('"builtin.module"() ({\n  %0 = "arith.addi"() : () -> i32\n}) : () -> ()')
    assert opt_main([str(bad), "--verify-only"]) == 1
    assert "[arity]" in capsys.readouterr().err
    assert opt_main([str(bad), "--pass", "nope", "--no-verify"]) == 1
    assert "unknown pass" in capsys.readouterr().err
    assert opt_main([str(tmp_path / "missing.ttir")]) == 1


def test_passes_do_not_share_state() -> None:
    p = get_pass("canonicalize")
    a = print_module(p.run(parse_module(VECTOR_ADD)))
    b = print_module(p.run(parse_module(VECTOR_ADD)))
    assert a == b


def test_pass_list_with_options() -> None:
    from tritium.passes.registry import parse_pass_list

    passes = parse_pass_list(
        "canonicalize{max_iterations=3}, cse ,inline{remove-dead-functions=false}"
    )
    assert [p.name for p in passes] == ["canonicalize", "cse", "inline"]
    assert passes[0].max_iterations == 3  # type: ignore[attr-defined]
    assert passes[2].remove_dead_functions is False  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="no option 'nope'"):
        parse_pass_list("cse{nope=1}")
    with pytest.raises(KeyError, match="unknown pass"):
        parse_pass_list("cse,frob")
    with pytest.raises(ValueError, match="bad pass list"):
        parse_pass_list("cse;dce")
