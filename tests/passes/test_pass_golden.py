"""Golden tests: each tests/passes/golden/*.ttir file holds an input module, the passes to run
(``// RUN: a,b{option=value}``, as ``tritium-opt --pass`` takes them; ``// RUN: optimize_ttir``
for the whole pipeline, or ``// RUN: optimize_ttir -cse,+my-pass`` for it edited by name) and,
after a ``// ----- expected`` line, the IR they must produce.

Every case also checks that the output verifies and that running the passes again changes
nothing (idempotence). ``pytest tests/passes --update-golden`` rewrites the expected sections.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tritium.ir.parser import parse_module
from tritium.ir.printer import print_module
from tritium.ir.verifier import verify
from tritium.passes import optimize_ttir, run_passes
from tritium.passes.pipeline import resolve_pipeline
from tritium.passes.registry import Pass, parse_pass_list

GOLDEN = Path(__file__).parent / "golden"
SEPARATOR = "// ----- expected"
CASES = sorted(GOLDEN.glob("*.ttir"))


def _split(text: str) -> tuple[str, str, str | None]:
    head, _, expected = text.partition(SEPARATOR + "\n")
    run = [line for line in head.splitlines() if line.startswith("// RUN:")]
    assert len(run) == 1, "a golden file needs one '// RUN: pass,pass' line"
    return run[0].removeprefix("// RUN:").strip(), head, expected if SEPARATOR in text else None


def _passes(run: str) -> list[Pass]:
    """The passes a RUN line names: a pass list, or the pipeline with optional edits."""
    if run.split(" ")[0] == "optimize_ttir":  # the compiler's whole pipeline
        return resolve_pipeline(run.removeprefix("optimize_ttir").strip(), env=False)
    return parse_pass_list(run)


def _run(run: str, text: str) -> str:
    module = parse_module(text)
    if run == "optimize_ttir":
        optimize_ttir(module, verify=True)
    else:
        run_passes(module, _passes(run), verify=True)
    return print_module(module)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(path: Path, update_golden: bool) -> None:
    names, head, expected = _split(path.read_text())
    got = _run(names, head)
    if update_golden or expected is None:
        path.write_text(head.rstrip("\n") + "\n" + SEPARATOR + "\n" + got)
        expected = got
    assert got == expected, f"{path.name}: output differs from the golden file"
    verify(parse_module(got))
    assert _run(names, got) == got, f"{path.name}: running the passes again changed the IR"


def test_golden_files_exist_for_every_pass() -> None:
    from tritium.passes import PASSES

    covered = {
        p.name
        for case in CASES
        if not _split(case.read_text())[0].startswith("optimize_ttir")
        for p in _passes(_split(case.read_text())[0])
    }
    assert set(PASSES) <= covered, f"no golden file runs {sorted(set(PASSES) - covered)}"


def test_run_lines_take_options_and_pipeline_edits() -> None:
    """A RUN line is read the way tritium-opt reads --pass and --pipeline."""
    (canon,) = _passes("canonicalize{max_iterations=3}")
    assert canon.name == "canonicalize" and canon.max_iterations == 3  # type: ignore[attr-defined]
    names = [p.name for p in _passes("optimize_ttir -cse,+dce@before:licm")]
    assert "cse" not in names and names.index("dce") == names.index("licm") - 1
