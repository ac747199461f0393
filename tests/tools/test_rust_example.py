"""examples/rust: a Rust program (no crates) links a tritium AOT library through its C
interface, runs the kernel on a Vec<f32> (aligned and unaligned) and checks the result against
f64 arithmetic itself; skipped where cargo is not installed. Built offline, in a temporary
target directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import tritium

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(tritium.__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "rust")


def _cargo() -> str | None:
    found = shutil.which("cargo")
    if found:
        return found
    home = os.path.join(os.path.expanduser("~"), ".cargo", "bin", "cargo")
    return home if os.access(home, os.X_OK) else None


@pytest.mark.skipif(_cargo() is None, reason="cargo is not installed")
@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to link the library")
def test_rust_example_builds_and_checks_its_result(tmp_path) -> None:
    if not os.path.isdir(EXAMPLE):
        pytest.skip("examples/ is not part of this installation")
    env = dict(os.environ, PYTHON=sys.executable, CARGO_TARGET_DIR=str(tmp_path / "target"))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    env.setdefault("TRITIUM_TEST_SEED", "1")
    env.pop("TRITIUM_AOT_DIR", None)
    proc = subprocess.run(
        [str(_cargo()), "run", "--release", "--offline", "--quiet"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and all(" ok, max error " in line for line in lines), proc.stdout
    ran = [line.rsplit(" ", 1)[1] for line in lines]
    assert ran[0] != ran[1]  # aligned and unaligned buffers ran different variants
