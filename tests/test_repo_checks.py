"""Checks on the repository itself: module size, the import graph between packages, the
seed printed on failure, license metadata. (ruff and mypy run in .ci/run, not here.)"""

from __future__ import annotations

import ast
import functools
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINE_BUDGET = 800  # STYLE.md: modules stay under ~800 lines; split a longer one by concern


def _python_files(*dirs: str) -> list[Path]:
    return sorted(p for d in dirs for p in (ROOT / d).rglob("*.py"))


def test_modules_stay_under_the_line_budget() -> None:
    too_long = {
        str(p.relative_to(ROOT)): n
        for p in _python_files("tritium", "tests", "tutorials")
        if (n := len(p.read_text().splitlines())) > LINE_BUDGET
    }
    assert not too_long, f"modules over {LINE_BUDGET} lines (split them by concern): {too_long}"


# ----- the import graph between tritium's packages -----------------------------------------


def _unit(module: str) -> str | None:
    """The package (or top-level module) of tritium a dotted name belongs to."""
    parts = module.split(".")
    if parts[0] != "tritium" or len(parts) < 2:
        return None
    name = parts[1]
    exists = (ROOT / "tritium" / name).is_dir() or (ROOT / "tritium" / f"{name}.py").exists()
    return name if exists else None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """Nodes under ``if TYPE_CHECKING:``: imports for annotations only, not at run time."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        test = node.test if isinstance(node, ast.If) else None
        if isinstance(test, (ast.Name, ast.Attribute)) and ast.unparse(test).endswith(
            "TYPE_CHECKING"
        ):
            inside.update(id(n) for n in ast.walk(node))
    return inside


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """package -> the packages it imports at run time (lazy imports inside functions count)."""
    graph: dict[str, set[str]] = {}
    for path in _python_files("tritium"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if len(parts) < 2 or parts[1] == "__init__":
            continue  # tritium/__init__.py re-exports every package: it is the root, not a node
        src = parts[1]
        tree = ast.parse(path.read_text())
        skip = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
                if node.module == "tritium":  # from tritium import knobs
                    names = [f"tritium.{a.name}" for a in node.names]
            for name in names:
                dst = _unit(name)
                if dst is not None and dst != src:
                    graph.setdefault(src, set()).add(dst)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one package (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_packages() -> None:
    graph = import_graph()  # cached: do not mutate
    assert {"ir", "passes", "backends", "frontend", "compiler", "runtime"} <= set(graph)
    assert cycles(graph) == [], f"import cycles between packages (graph: {graph})"


def test_layers_compile_below_launch() -> None:
    """Data flows down: the compiler never imports the runtime that launches what it makes; the
    kernel signature (tritium/signature.py) is a leaf both use; passes know no backend."""
    graph = import_graph()
    assert "runtime" not in graph["compiler"] and "testing" not in graph["compiler"]
    assert graph["signature"] <= {"knobs", "dlpack", "backends", "errors"}
    assert "backends" not in graph["passes"] and "frontend" not in graph["ir"]
    assert not graph.get("testing", set()) & {"runtime", "compiler", "backends"}


# ----- the seed on failure, metadata ------------------------------------------------------------


class _Reporter:
    def __init__(self, stats: dict[str, list[Any]]) -> None:
        self.stats = stats
        self.lines: list[str] = []

    def write_line(self, line: str) -> None:
        self.lines.append(line)


@pytest.mark.parametrize("outcome", ["failed", "error"])
def test_seed_is_printed_after_a_failure(outcome: str, pytestconfig: pytest.Config) -> None:
    (conftest,) = (
        p
        for p in pytestconfig.pluginmanager.get_plugins()
        if getattr(p, "__file__", None) == str(ROOT / "tests" / "conftest.py")
    )
    hook = conftest.pytest_terminal_summary
    reporter = _Reporter({outcome: [object()], "passed": [object()]})
    hook(terminalreporter=reporter, exitstatus=1, config=pytestconfig)
    seed = os.environ["TRITIUM_TEST_SEED"]
    assert f"tritium test seed: {seed} (rerun with TRITIUM_TEST_SEED={seed})" in reporter.lines
    quiet = _Reporter({"passed": [object()]})
    hook(terminalreporter=quiet, exitstatus=0, config=pytestconfig)
    assert not any("seed" in line for line in quiet.lines)


def test_license_and_package_metadata() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert project["authors"] and project["classifiers"] and project["description"]
    assert "mypy" in " ".join(project["optional-dependencies"]["test"])
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright 2018-2020 Philippe Tillet" in text and "Copyright 2020-2022 OpenAI" in text


# ----- one promotion rule in both engines ----------------------------------------------------


def _promotion_or_error(fn: Any, a: Any, a_scalar: bool, b: Any, b_scalar: bool, div: bool) -> str:
    try:
        return str(getattr(fn(a, a_scalar, b, b_scalar, div), "name", ""))
    except TypeError:
        return "TypeError"


def test_frontend_and_interpreter_promote_alike() -> None:
    """The compiler's type promotion (language/type_rules.py) and the interpreter's
    (interpreter/itypes.py) are two tables of the same rules: every pair of dtypes, tensor or
    Python scalar, with and without division, gets the same type or the same TypeError."""
    from tritium.interpreter import itypes as it
    from tritium.language import type_rules as st

    names = [t.name for t in it._ALL if not t.is_ptr]
    assert {"int1", "int8", "uint64", "fp16", "bf16", "fp32", "fp64", "fp8e5"} <= set(names)
    differ = []
    for a in names:
        for b in names:
            for scalars in ((False, False), (True, False), (False, True)):
                for div in (False, True):
                    lang = _promotion_or_error(
                        st.computation_type,
                        it.to_lang(it.itype(a)),
                        scalars[0],
                        it.to_lang(it.itype(b)),
                        scalars[1],
                        div,
                    )
                    interp = _promotion_or_error(
                        it.computation_type, it.itype(a), scalars[0], it.itype(b), scalars[1], div
                    )
                    if lang != interp:
                        differ.append(
                            f"{a}{'(scalar)' * scalars[0]} {'/' if div else '+'} "
                            f"{b}{'(scalar)' * scalars[1]}: compiled {lang}, "
                            f"interpreted {interp}"
                        )
    assert not differ, f"{len(differ)} promotions differ, e.g. " + "; ".join(differ[:6])
