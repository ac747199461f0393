"""``tools/run_libraries.py``: the tables it writes from pytest's JUnit XML are what ran.

The library runs themselves take hours on the CPU and need the libraries' checkouts; here only
the bookkeeping is checked, on a JUnit file written by a real pytest run of a tiny test file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


@pytest.fixture(scope="module")
def runner():
    sys.path.insert(0, str(TOOLS))
    try:
        import run_libraries

        yield run_libraries
    finally:
        sys.path.remove(str(TOOLS))


def _junit(tmp_path: Path) -> Path:
    """Run pytest on a file with one pass, one failure, one skip and one parametrized pair."""
    tests = tmp_path / "pkg"
    tests.mkdir()
    (tests / "test_lib.py").write_text(
        "import pytest\n"
        "def test_ok():\n    pass\n"
        "def test_bad():\n    assert 1 == 2, 'values differ'\n"
        "@pytest.mark.skip(reason='needs a GPU')\n"
        "def test_gpu():\n    pass\n"
        "@pytest.mark.parametrize('n', [1, 2])\n"
        "def test_param(n):\n    assert n == 1\n"
    )
    xml = tmp_path / "out.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "0",
            "pkg/test_lib.py",
            f"--junitxml={xml}",
        ],
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    return xml


def test_junit_outcomes_and_table(runner, tmp_path: Path, monkeypatch) -> None:
    results = runner._read_junit(_junit(tmp_path))
    assert {t: r[0] for t, r in results.items()} == {
        "pkg/test_lib.py::test_ok": "pass",
        "pkg/test_lib.py::test_bad": "FAIL",
        "pkg/test_lib.py::test_gpu": "skip",
        "pkg/test_lib.py::test_param[1]": "pass",
        "pkg/test_lib.py::test_param[2]": "FAIL",
    }
    assert "values differ" in results["pkg/test_lib.py::test_bad"][2]
    suite = runner.Suite("liger", "tiny", ["pkg/test_lib.py"], per_test=True)
    monkeypatch.setitem(runner.SUITES, "tiny", suite)
    table = runner._suite_table("tiny", {"interpreted": results})
    assert "| **interpreted total** | 2/4 passed" in table  # the skip is not counted as run
    assert "| `test_param[2]` | FAIL" in table
    assert "- interpreted, `pkg/test_lib.py::test_bad`: FAIL: " in table
    monkeypatch.setattr(suite, "per_test", False)
    assert "| test_lib.py | 2/4 passed" in runner._suite_table("tiny", {"interpreted": results})


def test_write_section_replaces_only_its_own(runner, tmp_path: Path) -> None:
    doc = tmp_path / "libraries.md"
    doc.write_text("# Title\n\nprose\n")
    runner._write_section("a", "table A1", doc)
    runner._write_section("b", "table B", doc)
    runner._write_section("a", "table A2", doc)
    text = doc.read_text()
    assert text.startswith("# Title\n\nprose\n")
    assert "table A2" in text and "table B" in text and "table A1" not in text
    assert text.index("table A2") < text.index("table B")


def test_per_file_suite_files_and_merged_junit(runner, tmp_path: Path, monkeypatch) -> None:
    # A per-file suite globs its files (smallest first, exclusions dropped) and reads a
    # directory of per-file XMLs as their union; a file no XML mentions is "not run".
    root = tmp_path / "lib"
    (root / "t").mkdir(parents=True)
    (root / "t" / "test_big.py").write_text("x = 1\n" * 50)
    (root / "t" / "test_small.py").write_text("x = 1\n")
    (root / "t" / "test_skip.py").write_text("")
    suite = runner.Suite(
        "liger", "glob", [], glob="t/test_*.py", exclude=("t/test_skip.py",), per_file=True
    )
    assert runner._suite_files(suite, root) == ["t/test_small.py", "t/test_big.py"]
    merged = tmp_path / "merged"
    merged.mkdir()
    _junit(tmp_path).rename(merged / "test_lib.xml")
    results = runner._read_junit(merged)
    assert len(results) == 5 and results["pkg/test_lib.py::test_ok"][0] == "pass"
    monkeypatch.setitem(runner.SUITES, "glob", suite)
    table = runner._suite_table("glob", {"compiled": {}, "interpreted": results})
    assert "| test_lib.py | not run | 2/4 passed" in table
