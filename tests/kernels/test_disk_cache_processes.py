"""The disk cache across real processes: the second process launches without compiling."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

CHILD = """
import numpy as np
from tritium.compiler import compiler
from tutorials import vector_add

frontend_calls = []
stages = compiler._stages


def counting_stages():
    ast_to_ttir, optimize_ttir, get_backend = stages()

    def frontend(*args):
        frontend_calls.append(args)
        return ast_to_ttir(*args)

    return frontend, optimize_ttir, get_backend


compiler._stages = counting_stages
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
