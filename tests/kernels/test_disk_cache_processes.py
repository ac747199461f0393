"""The disk cache across real processes: the second process launches without compiling."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

CHILD = """
import numpy as np
from tritium.compiler.stages import STAGES
from tutorials import vector_add

frontend_calls = []
real_frontend = STAGES["frontend"]


def counting_frontend(c, previous):
    frontend_calls.append(c.src.name)
    return real_frontend(c, previous)


STAGES["frontend"] = counting_frontend
x = np.arange(1000, dtype=np.float32)
out = vector_add.add(x, x)
assert (out == 2 * x).all()
print(len(frontend_calls))
"""


def test_second_process_loads_from_disk(tmp_path) -> None:
    env = dict(os.environ, TRITIUM_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    env.pop("TRITIUM_INTERPRET", None)
    env.pop("TRITON_INTERPRET", None)
    runs = [
        subprocess.run(
            [sys.executable, "-c", CHILD],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        for _ in range(2)
    ]
    for r in runs:
        assert r.returncode == 0, r.stderr
    assert [r.stdout.split()[-1] for r in runs] == ["1", "0"]
