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


def _junit(tmp_path: Path, source: str = "") -> Path:
    """Run pytest on a file with one pass, one failure, one skip and one parametrized pair
    (or on ``source``)."""
    tests = tmp_path / "pkg"
    tests.mkdir(parents=True)
    (tests / "test_lib.py").write_text(
        source
        or "import pytest\n"
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


def test_max_elements_deselects_by_rule_and_counts(runner, tmp_path: Path, monkeypatch) -> None:
    # The plugin deselects a case whose positive int parameters (bools and negative ints, such
    # as an ignore_index, left out) multiply to more than TRITIUM_LIBS_MAX_ELEMENTS, records its
    # id, and the table counts it per file and in the total.
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "test_shapes.py").write_text(
        "import pytest\n"
        "@pytest.mark.parametrize('flag', [True])\n"
        "@pytest.mark.parametrize('b, v', [(2, 3), (100, 100), (-100, 5), (3, 2.5e9)])\n"
        "def test_shape(b, v, flag):\n    assert b != 2\n"
    )
    out = tmp_path / "run"
    out.mkdir()
    xml, record = out / "test_shapes.xml", out / "test_shapes.deselected"
    env = dict(
        __import__("os").environ,
        PYTHONPATH=f"{TOOLS.parent}:{TOOLS}",
        TRITIUM_LIBS_MAX_ELEMENTS="1000",
        TRITIUM_LIBS_DESELECTED=str(record),
    )
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "_alias_pytest_plugin"]
    cmd += ["-p", "no:cacheprovider", "-n", "0", "pkg/test_shapes.py", f"--junitxml={xml}"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert "1 failed, 2 passed, 1 deselected" in proc.stdout, proc.stdout + proc.stderr
    assert record.read_text() == "pkg/test_shapes.py::test_shape[100-100-True]\t10000\n"
    results = runner._read_junit(out)
    assert sorted(results) == [
        "pkg/test_shapes.py::test_shape[-100-5-True]",
        "pkg/test_shapes.py::test_shape[2-3-True]",
        "pkg/test_shapes.py::test_shape[3-2500000000.0-True]",
    ]
    suite = runner.Suite("liger", "shapes", [], glob="pkg/*.py", per_file=True)
    monkeypatch.setitem(runner.SUITES, "shapes", suite)
    table = runner._suite_table(
        "shapes", {"compiled": results}, {"compiled": runner._read_deselected(out)}
    )
    assert "| test_shapes.py | 2/3 passed" in table and "s), 1 deselected |" in table
    assert "| **compiled total** | 2/3 passed" in table and "s, 1 deselected |" in table


def test_plugin_formats_a_traceback_entry_without_a_line(tmp_path: Path) -> None:
    # CPython 3.11 gives a loop's back edge no line number; a signal (pytest-timeout's) landing
    # there leaves a traceback entry whose tb_lineno is None, and pytest 9 then fails with
    # INTERNALERROR, ending the file's session. With the plugin the test fails normally.
    (tmp_path / "test_tb.py").write_text(
        "import dis, sys, types\n"
        "def test_entry_without_line():\n"
        "    seen = []\n"
        "    for i in range(2):\n"
        "        if i:\n"
        "            seen.append(i)\n"
        "    frame = sys._getframe()\n"
        "    ins = dis.get_instructions(frame.f_code)\n"
        "    edge = next(i.offset for i in ins if i.positions.lineno is None)\n"
        "    tb = types.TracebackType(None, frame, edge, -1)\n"
        "    assert tb.tb_lineno is None\n"
        "    raise ValueError('no line').with_traceback(tb)\n"
    )
    env = dict(__import__("os").environ, PYTHONPATH=f"{TOOLS.parent}:{TOOLS}")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "_alias_pytest_plugin"]
    cmd += ["-p", "no:cacheprovider", "-n", "0", "test_tb.py"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert "INTERNALERROR" not in proc.stdout + proc.stderr
    assert "1 failed" in proc.stdout and "ValueError: no line" in proc.stdout, proc.stdout


def test_reruns_replace_the_first_results(runner, tmp_path: Path) -> None:
    # --rerun-failed writes reruns/<file>.<n>.xml: its results replace the first run's, and a
    # case the rerun deselected (--max-elements) leaves the results and counts as deselected.
    merged = tmp_path / "merged"
    (merged / runner.RERUNS).mkdir(parents=True)
    _junit(tmp_path / "a").rename(merged / "test_lib.xml")
    rerun = _junit(tmp_path / "b", "def test_bad():\n    pass\n")
    rerun.rename(merged / runner.RERUNS / "test_lib.0.xml")
    (merged / runner.RERUNS / "test_lib.0.deselected").write_text(
        "pkg/test_lib.py::test_param[2]\t4\n"
    )
    results = runner._read_junit(merged)
    assert results["pkg/test_lib.py::test_bad"][0] == "pass"  # was FAIL in the first run
    assert results["pkg/test_lib.py::test_ok"][0] == "pass"  # not rerun: kept
    assert "pkg/test_lib.py::test_param[2]" not in results
    assert runner._read_deselected(merged) == {"pkg/test_lib.py": 1}
