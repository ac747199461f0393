"""Passes switched on and off by name: edit syntax, both caches, tritium-opt, the A/B tool."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium.compiler import ASTSource
from tritium.ir.core import Module
from tritium.passes.pipeline import (
    PIPELINE,
    default_pipeline,
    describe_pipeline,
    pipeline_table,
    resolve_pipeline,
)
from tritium.passes.registry import PASSES, Pass, parse_pass_list, register_pass
from tritium.tools import ab
from tritium.tools.opt import main as opt_main

SEED = int(os.environ["TRITIUM_TEST_SEED"])
VECTOR_ADD = Path(__file__).parent / "inputs" / "vector_add.ttir"


def _names(passes: list[Pass]) -> list[str]:
    return [p.name for p in passes]


def test_edits_drop_add_insert_and_replace() -> None:
    default = _names(default_pipeline())
    assert default == [spec for spec, _ in PIPELINE]
    assert _names(resolve_pipeline("-cse", env=False)) == [n for n in default if n != "cse"]
    assert _names(resolve_pipeline("+dce", env=False)) == [*default, "dce"]
    got = _names(resolve_pipeline("-licm,+licm@after:inline", env=False))
    assert got[:2] == ["inline", "licm"] and got.count("licm") == 1
    assert _names(resolve_pipeline("+cse@before:dce", env=False))[-2:] == ["cse", "dce"]
    assert _names(resolve_pipeline("dce, cse", env=False)) == ["dce", "cse"]
    assert resolve_pipeline("none", env=False) == []
    (canon,) = resolve_pipeline("canonicalize{max_iterations=2}", env=False)
    assert canon.max_iterations == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("-nope", "unknown pass 'nope'"),
        ("+nope", "unknown pass 'nope'"),
        ("-bounds-check", "not in the pipeline"),
        ("-cse,dce", "mix of edits"),
        ("+dce@before:nope", "@before:<pass>"),
        ("+dce@sideways:cse", "@before:<pass>"),
        ("+canonicalize{bogus=1}", "no option 'bogus'"),
    ],
)
def test_bad_edits_name_the_variable_and_the_item(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        resolve_pipeline(spec, env=False)
    assert f"passes={spec!r}" in str(info.value)


def test_environment_edits_first_then_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITIUM_PASSES", "-cse")
    assert "cse" not in _names(resolve_pipeline())
    assert _names(resolve_pipeline("+cse"))[-1] == "cse"
    assert "cse" in _names(resolve_pipeline(env=False))
    monkeypatch.setenv("TRITIUM_PASSES", "-nope")
    with pytest.raises(ValueError, match="TRITIUM_PASSES='-nope'"):
        resolve_pipeline()


def test_description_reads_back_and_shows_changed_options() -> None:
    passes = resolve_pipeline("+canonicalize{max_iterations=3}", env=False)
    text = describe_pipeline(passes)
    assert text.endswith(",canonicalize{max_iterations=3}")
    assert "max_iterations" not in text.split(",")[1]  # defaults are left out
    assert describe_pipeline(parse_pass_list(text)) == text


@pytest.mark.parametrize("doc", ["writing_a_pass.md", "contracts.md"])
def test_the_docs_show_the_pipeline_as_pipeline_py_lists_it(doc: str) -> None:
    text = (Path(__file__).parents[2] / "docs" / doc).read_text()
    assert pipeline_table() in text, f"regenerate the table in docs/{doc}: pipeline_table()"


@pytest.fixture
def outside_pass() -> Iterator[type[Pass]]:
    """A pass registered from outside tritium (as a researcher's script does), then removed."""

    @register_pass("test-noop-outside")
    @dataclasses.dataclass
    class Noop(Pass):
        """Does nothing."""

        def run(self, module: Module) -> Module:
            return module

    yield Noop
    del PASSES["test-noop-outside"]


def test_a_pass_from_outside_tritium_is_keyed_by_its_source(outside_pass: type[Pass]) -> None:
    text = describe_pipeline(resolve_pipeline("+test-noop-outside", env=False))
    assert "test-noop-outside@src:" in text  # editing the pass's file changes the cache key


@tritium.jit
def _twice(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    a = tl.load(x_ptr + offs, mask=offs < n)
    b = tl.load(x_ptr + offs, mask=offs < n)  # the same mask again: cse shares it
    tl.store(out_ptr + offs, a * b + 1.0, mask=offs < n)


def _inputs(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(SEED).standard_normal(n).astype(np.float32)
    return x, np.full_like(x, np.nan)


@pytest.mark.parametrize("passes", [None, "-cse", "none", "-canonicalize,+cse@after:inline"])
def test_launch_option_compiles_its_own_pipeline(passes: str | None) -> None:
    x, out = _inputs()
    options = {} if passes is None else {"passes": passes}
    kernel = _twice[(3,)](x, out, x.size, BLOCK=128, **options)
    np.testing.assert_allclose(out, x.astype(np.float64) ** 2 + 1.0, rtol=1e-6)
    masks = kernel.asm["ttir"].count('"arith.cmpi"')
    assert masks == (3 if passes in ("-cse", "none") else 1)


def test_in_memory_cache_keys_on_the_launch_pipeline() -> None:
    x, out = _inputs()
    a = _twice[(3,)](x, out, x.size, BLOCK=128)
    b = _twice[(3,)](x, out, x.size, BLOCK=128, passes="-cse")
    assert a is not b and a.asm["ttir"] != b.asm["ttir"]
    assert _twice[(3,)](x, out, x.size, BLOCK=128, passes="-cse") is b


def test_bad_launch_pipeline_is_a_value_error() -> None:
    x, out = _inputs()
    with pytest.raises(ValueError, match="unknown pass 'nope'"):
        _twice[(3,)](x, out, x.size, BLOCK=128, passes="-nope")


def _source() -> ASTSource:
    sig = {"x_ptr": "*fp32", "out_ptr": "*fp32", "n": "i32", "BLOCK": "constexpr"}
    return ASTSource(_twice, sig, constexprs={"BLOCK": 64})


def test_disk_cache_keys_on_the_pipeline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(tmp_path))
    default = tritium.compile(_source()).asm["ttir"]
    # each of these would read the default's entry back if the key ignored the pipeline
    assert tritium.compile(_source(), passes="-cse").asm["ttir"].count('"tt.load"') == 2
    assert tritium.compile(_source(), options={"passes": "-cse"}).asm["ttir"] != default
    monkeypatch.setenv("TRITIUM_PASSES", "-cse")
    assert tritium.compile(_source()).asm["ttir"].count('"tt.load"') == 2
    monkeypatch.delenv("TRITIUM_PASSES")
    assert tritium.compile(_source()).asm["ttir"] == default
    assert len(list(tmp_path.rglob("*.tkc"))) == 2  # the default and the one without cse


def test_opt_pipeline_takes_edits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert opt_main([str(VECTOR_ADD), "--pipeline", "--no-locs"]) == 0
    full = capsys.readouterr().out
    assert opt_main([str(VECTOR_ADD), "--pipeline=-cse", "--no-locs"]) == 0
    without = capsys.readouterr().out
    assert full.count('"tt.splat"') < without.count('"tt.splat"')
    assert opt_main([str(VECTOR_ADD), "--pipeline=-nope"]) == 1
    assert "unknown pass 'nope'" in capsys.readouterr().err


# ----- the A/B tool ---------------------------------------------------------------------------

_MODULE = """"builtin.module"() ({{
  "tt.func"() ({{
  ^bb0(%p: !tt.ptr<i32>, %n: i32):
{extra}    %a = "arith.muli"(%n, %n) : (i32, i32) -> i32
    %b = "arith.addi"(%a, %n) : (i32, i32) -> i32
    "tt.store"(%p, %b) : (!tt.ptr<i32>, i32) -> ()
    "tt.return"() : () -> ()
  }}) {{function_type = (!tt.ptr<i32>, i32) -> (), sym_name = "k"}} : () -> ()
}}) : () -> ()
"""


def test_ir_diff_ignores_value_numbering() -> None:
    before = _MODULE.format(extra="")
    after = _MODULE.format(extra='    %x = "arith.subi"(%n, %n) : (i32, i32) -> i32\n')
    assert ab.ir_diff(before, before) == ""
    changed = [
        line
        for line in ab.ir_diff(before, after).splitlines()
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert len(changed) == 1 and '"arith.subi"' in changed[0]  # %0.. renumbering is not shown


SCRIPT = """
import numpy as np
import tritium
import tritium.language as tl


@tritium.jit
def twice(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    a = tl.load(x_ptr + offs, mask=offs < n)
    b = tl.load(x_ptr + offs, mask=offs < n)
    tl.store(out_ptr + offs, a * b, mask=offs < n)


x = np.arange(1000, dtype=np.float32)
out = np.empty_like(x)
twice[(8,)](x, out, x.size, BLOCK=128)
"""


def test_ab_tool_prints_ir_diff_machine_code_and_timings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    argv = [str(script), "--kernel", "twice", "--without", "cse", "--rounds", "1", "--rep", "2"]
    assert ab.main(argv) == 0
    out = capsys.readouterr().out
    line_b = next(line for line in out.splitlines() if line.startswith("B: "))
    assert "cse" not in line_b.split()[1] and "licm" in line_b
    assert "+    %v" in out and '"tt.load"' in out  # the masks are back
    assert "arith.cmpi: 1 -> 3" in out
    assert "== machine code ==" in out and "noise floor (A vs A again):" in out
    assert ab.main([str(script), "--kernel", "nope", "--without", "cse"]) == 1
    assert "never launched a kernel named 'nope'" in capsys.readouterr().err
    assert ab.main([str(script), "--kernel", "twice", "--with", "nope"]) == 1


SCRIPT_WITH_PASS = '''
import dataclasses
from tritium.passes import Pass, register_pass


@register_pass("test-script-pass")
@dataclasses.dataclass
class ScriptPass(Pass):
    """A researcher's pass, defined in the script it is tried on."""

    def run(self, module):
        return module
'''


def test_ab_tool_takes_a_pass_the_script_defines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT_WITH_PASS + SCRIPT)
    try:
        argv = [str(script), "--kernel", "twice", "--with", "test-script-pass", "--no-timing"]
        assert ab.main(argv) == 0
    finally:
        PASSES.pop("test-script-pass", None)
    out = capsys.readouterr().out
    assert ",test-script-pass@src:" in out  # keyed by the script's contents
    assert "== Tile IR (values named by content) ==\nidentical" in out
    assert "identical instructions" in out


def test_a_pass_is_keyed_by_the_file_it_is_defined_in(tmp_path: Path) -> None:
    from tritium.passes import pipeline

    path = tmp_path / "my_pass.py"
    hashes = []
    for body in ("return module", "return module  # edited"):
        path.write_text(f"def run(self, module):\n    {body}\n")
        ns: dict[str, object] = {}
        exec(compile(path.read_text(), str(path), "exec"), ns)
        cls = type("MyPass", (Pass,), {"run": ns["run"]})
        hashes.append(pipeline._source_hash(cls))
    assert hashes[0] != hashes[1]


def test_compile_takes_a_list_of_passes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(tmp_path))
    from tritium.passes import get_pass

    unoptimized = tritium.compile(_source(), passes=[]).asm["ttir"]
    shared = tritium.compile(_source(), passes=[get_pass("cse")]).asm["ttir"]
    assert unoptimized.count('"arith.cmpi"') == 3 and shared.count('"arith.cmpi"') == 1
