"""Build ``docs/language_status.md``: each ``triton.language`` name's status per backend.

The table is generated from the conformance suite (``tests/language/conformance``): every test
names what it checks with ``@pytest.mark.covers("tl.sum", ...)`` and runs once per backend;
its conftest records the covered names and the backend as junit properties. This script runs
the suite with a junit XML report (or reads one given with ``--junit``), folds the outcomes
per (name, backend) and writes the Markdown table.

Usage::

    python tools/language_status.py                 # run the suite (-n 2) and write the doc
    python tools/language_status.py --junit r.xml   # only rebuild the doc from a report
    python tools/language_status.py --json out.json # also dump the folded results

Statuses: ``pass`` (every test covering the name passed), ``partial`` (some parametrizations
are known bugs, xfailed), ``xfail`` (all of them are), ``FAIL`` (a test failed), ``skip``
(nothing ran, e.g. no GPU), ``—`` (no test covers the name yet).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITE = "tests/language/conformance"
API_LIST = ROOT / "tests" / "language" / "language_api.txt"
OUTPUT = ROOT / "docs" / "language_status.md"
BACKENDS = ("interpreter", "cpu", "cuda", "host")


@dataclass
class Cell:
    """Outcomes of the tests covering one name on one backend."""

    passed: int = 0
    failed: int = 0
    xfailed: int = 0
    skipped: int = 0
    reasons: set[str] = field(default_factory=set)

    @property
    def status(self) -> str:
        """The folded status shown in the table."""
        if self.failed:
            return "FAIL"
        if self.xfailed and self.passed:
            return f"partial ({self.passed}/{self.passed + self.xfailed})"
        if self.xfailed:
            return "xfail"
        if self.passed:
            return "pass"
        if self.skipped:
            return "skip"
        return "—"


def run_suite(junit: Path, jobs: str, seed: str) -> int:
    """Run the conformance suite, writing a junit XML report with the tests' properties."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        SUITE,
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit1",
    ]
    if jobs != "0":
        cmd += ["-n", jobs]
    print(f"+ TRITIUM_TEST_SEED={seed}", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, env={**os.environ, "TRITIUM_TEST_SEED": seed})


def _outcome(case: ET.Element) -> tuple[str, str]:
    """(passed|failed|xfailed|skipped, reason) of one junit testcase."""
    for child in case:
        if child.tag in ("failure", "error"):
            return "failed", child.get("message", "")[:120]
        if child.tag == "skipped":
            kind = child.get("type", "")
            message = child.get("message", "")
            if "xfail" in kind or message.startswith("xfail"):
                return "xfailed", message
            return "skipped", message
    return "passed", ""


Table = dict[str, dict[str, Cell]]

#: test module → the issue-4 group it checks
GROUPS = {
    "test_elementwise": "elementwise (promotion)",
    "test_math": "math / libdevice",
    "test_casts": "dtypes and casts",
    "test_reductions": "reductions and scans",
    "test_shapes": "shapes",
    "test_memory": "memory",
    "test_atomics": "atomics",
    "test_dot": "dot",
    "test_control_flow": "control flow and functions",
    "test_random": "random",
    "test_program_model": "program model",
    "test_beyond_triton": "beyond Triton",
    "test_misc": "other tl names",
}


def fold(junit: Path) -> tuple[Table, Table]:
    """(name -> backend -> Cell, group -> backend -> Cell) from a junit report of the suite."""
    table: Table = defaultdict(lambda: defaultdict(Cell))
    groups: Table = defaultdict(lambda: defaultdict(Cell))
    for case in ET.parse(junit).iter("testcase"):
        props = {p.get("name"): p.get("value", "") for p in case.iter("property")}
        backend = props.get("backend", "None")
        backend = "host" if backend == "None" else backend  # a test without a backend
        names = [n for n in props.get("covers", "").split(",") if n]
        outcome, reason = _outcome(case)
        reason = reason.removeprefix("xfail").strip(" :-")
        module = case.get("classname", "").rsplit(".", 1)[-1]
        cells = [table[name][backend] for name in names]
        cells.append(groups[GROUPS.get(module, module)][backend])
        for cell in cells:
            setattr(cell, outcome, getattr(cell, outcome) + 1)
            if outcome in ("xfailed", "failed") and reason:
                cell.reasons.add(reason)
    return table, groups


def _public_names() -> list[str]:
    """``tl.X`` for every public ``triton.language`` name in the pinned API list."""
    names = [ln.strip() for ln in API_LIST.read_text().splitlines() if ln.strip()]
    return [f"tl.{n}" for n in names if not n.startswith("_")]


def render(table: Table, groups: Table, seed: str | None = None) -> str:
    """The Markdown document: the tl.* table, then other constructs and options."""
    public = _public_names()
    others = sorted(n for n in table if n not in set(public))
    lines = [
        "# `triton.language` status per backend",
        "",
        "Generated by `python tools/language_status.py` from the conformance suite",
        f"(`{SUITE}`); do not edit by hand. A name's status folds every test that covers",
        "it (`@pytest.mark.covers`): **pass**, **partial (passed/ran)** where some",
        "parametrizations are known bugs (strict xfails; see docs/open_items.md), **xfail**,",
        "**FAIL**, **skip** (did not run here, e.g. no GPU), **—** (not covered yet).",
        "The `host` column is for checks that need no kernel (dtype objects, type strings).",
        "Inputs are random per run"
        + (f" (this run: `TRITIUM_TEST_SEED={seed}`)." if seed else "."),
        "",
    ]

    lines.extend(
        [
            "## Summary by group (tests passed / run, known bugs xfailed)",
            "",
            "| group | " + " | ".join(BACKENDS) + " |",
            "|---|" + "---|" * len(BACKENDS),
        ]
    )
    for group in list(GROUPS.values()) + sorted(set(groups) - set(GROUPS.values())):
        if group not in groups:
            continue
        row = []
        for b in BACKENDS:
            c = groups[group].get(b)
            if c is None or c.passed + c.failed + c.xfailed == 0:
                row.append("—" if c is None else "skip")
                continue
            text = f"{c.passed}/{c.passed + c.failed + c.xfailed}"
            if c.xfailed:
                text += f" ({c.xfailed} xfail)"
            if c.failed:
                text += f" (**{c.failed} FAIL**)"
            row.append(text)
        lines.append(f"| {group} | " + " | ".join(row) + " |")
    lines.append("")

    def section(title: str, names: list[str]) -> None:
        lines.extend(
            [
                f"## {title}",
                "",
                "| name | " + " | ".join(BACKENDS) + " | notes |",
                "|---|" + "---|" * len(BACKENDS) + "---|",
            ]
        )
        for name in names:
            cells = table.get(name, {})
            statuses = [cells[b].status if b in cells else "—" for b in BACKENDS]
            reasons = sorted({r for b in BACKENDS if b in cells for r in cells[b].reasons})
            note = "; ".join(reasons).replace("|", "\\|")
            lines.append(f"| `{name}` | " + " | ".join(statuses) + f" | {note} |")
        lines.append("")

    section("`tl.*` names", public)
    section("Other constructs, options and methods", others)
    covered = sum(1 for n in public if n in table)
    lines.append(f"Covered: {covered} of {len(public)} public `tl` names.")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run (or read) the suite's junit report and write the status document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--junit", type=Path, help="read this report instead of running")
    parser.add_argument("--jobs", "-n", default="2", help="pytest-xdist workers (0: none)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--json", type=Path, help="also write the folded results as JSON")
    args = parser.parse_args(argv)
    rc = 0
    seed = None
    if args.junit is None:
        fd, tmp = tempfile.mkstemp(suffix=".xml")
        os.close(fd)
        junit = Path(tmp)
        seed = os.environ.get("TRITIUM_TEST_SEED") or str(random.randrange(2**31))
        rc = run_suite(junit, args.jobs, seed)
    else:
        junit = args.junit
    table, groups = fold(junit)
    if args.junit is None:
        junit.unlink()
    args.output.write_text(render(table, groups, seed))
    print(f"wrote {args.output}")
    if args.json:
        data = {
            n: {
                b: {
                    "status": c.status,
                    "passed": c.passed,
                    "failed": c.failed,
                    "xfailed": c.xfailed,
                    "skipped": c.skipped,
                    "reasons": sorted(c.reasons),
                }
                for b, c in cells.items()
            }
            for n, cells in table.items()
        }
        args.json.write_text(json.dumps(data, indent=1, sort_keys=True))
    return rc


if __name__ == "__main__":
    sys.exit(main())
