"""Golden tests: each tests/passes/golden/*.ttir file holds an input module, the passes to run
(``// RUN: a,b``, or ``// RUN: optimize_ttir`` for the whole pipeline) and, after a
``// ----- expected`` line, the IR they must produce.

Every case also checks that the output verifies and that running the passes again changes
nothing (idempotence). ``pytest tests/passes --update-golden`` rewrites the expected sections.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tritium.ir.parser import parse_module
from tritium.ir.printer import print_module
from tritium.ir.verifier import verify
from tritium.passes import get_pass, optimize_ttir, run_passes

GOLDEN = Path(__file__).parent / "golden"
SEPARATOR = "// ----- expected"
CASES = sorted(GOLDEN.glob("*.ttir"))


def _split(text: str) -> tuple[list[str], str, str | None]:
    head, _, expected = text.partition(SEPARATOR + "\n")
    run = [line for line in head.splitlines() if line.startswith("// RUN:")]
    assert len(run) == 1, "a golden file needs one '// RUN: pass,pass' line"
    names = [n.strip() for n in run[0].removeprefix("// RUN:").split(",") if n.strip()]
    return names, head, expected if SEPARATOR in text else None


def _run(names: list[str], text: str) -> str:
    module = parse_module(text)
    if names == ["optimize_ttir"]:  # the compiler's whole pipeline
        optimize_ttir(module, verify=True)
    else:
        run_passes(module, [get_pass(n) for n in names], verify=True)
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

    covered = {n for p in CASES for n in _split(p.read_text())[0]}
    assert set(PASSES) <= covered
