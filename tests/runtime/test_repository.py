"""The README's first lines are the two commands a fresh machine needs; CI runs the second."""

from __future__ import annotations

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    lines = ROOT.joinpath("README.md").read_text().splitlines()
    commands = [
        line.strip().split("  #")[0].strip() for line in lines[:6] if line.startswith("    ")
    ]
    return commands


def test_readme_starts_with_demo_and_test_commands() -> None:
    demo, tests = _readme_commands()
    assert "tutorials/demo.py" in demo and "pip install" in demo
    assert "pytest" in tests and "pip install" in tests
    assert ROOT.joinpath("tutorials", "demo.py").exists()


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = _readme_commands()
    ci = ROOT.joinpath(".ci", "run").read_text().splitlines()
    assert tests in [line.strip() for line in ci]
    assert "set -euo pipefail" in ci
