"""Kernels whose IR once made LLVM abort the whole process (an assertion inside LLVM is a
SIGABRT, not an exception), so each runs in a subprocess: a regression fails one test with
LLVM's message instead of killing pytest."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("tritium.backends.cpu")

ROOT = Path(__file__).resolve().parents[3]

# A reverse scan inside a run-time ``if``, reduced afterwards: carried as <1 x float> lanes, the
# fully unrolled walk became invalid IR after instcombine and the inliner asserted (issue 8).
REVERSE_SCAN_IN_IF = """
import numpy as np
import tritium
import tritium.language as tl

@tritium.jit
def k(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    f = tl.load(x_ptr + offs)
    s = tl.load(x_ptr)
    if n > 3:
        s = tl.max(tl.cumsum(f, 0, reverse=True), axis=0)
    tl.store(out_ptr + offs, f + s)

rng = np.random.default_rng({seed})
for block in (16, 32):
    x = rng.standard_normal(block).astype(np.float32)
    out = np.full(block, np.nan, np.float32)
    k[(1,)](x, out, 5, BLOCK=block)
    want = x.astype(np.float64) + np.cumsum(x[::-1].astype(np.float64)).max()
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
print("ok")
"""


@pytest.mark.parametrize("features", ["", "-avx512f"])
def test_reverse_scan_in_runtime_if_compiles_and_runs(features: str, tmp_path: Path) -> None:
    seed = int(os.environ.get("TRITIUM_TEST_SEED", "0"))
    env = dict(os.environ, TRITIUM_CPU_FEATURES=features, TRITIUM_CACHE_DIR=str(tmp_path))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    code = textwrap.dedent(REVERSE_SCAN_IN_IF).format(seed=seed)
    script = tmp_path / "reverse_scan.py"  # @jit reads the source from a file
    script.write_text(code)
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]
