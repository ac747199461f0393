"""A new process launching a kernel already in the disk cache loads what the launch needs and
nothing more (issue 13, first launch of a cached kernel): no LLVM, no Triton launcher API."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

_SCRIPT = """
import sys
import numpy as np
import tritium
import tritium.language as tl


@tritium.jit
def scale(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) * 3.0, mask=mask)


x = np.frombuffer(bytes.fromhex(sys.argv[1]), np.float32).copy()
out = np.full_like(x, np.nan)
scale[(1,)](x, out, x.size, BLOCK=32)
print(out.tobytes().hex())
print(",".join(m for m in ("llvmlite", "tritium.compiler.triton_api") if m in sys.modules))
"""


def test_cached_launch_in_a_new_process(tmp_path, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "launch.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, TRITIUM_CACHE_DIR=str(tmp_path / "cache"))
    outs = []
    for _ in range(2):  # the first process compiles, the second finds the kernel cached
        x = rng.standard_normal(20).astype(np.float32)
        run = subprocess.run(
            [sys.executable, str(script), x.tobytes().hex()],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        got, modules = (run.stdout.splitlines() + [""])[:2]
        np.testing.assert_array_equal(np.frombuffer(bytes.fromhex(got), np.float32), x * 3.0)
        outs.append(modules)
    assert "llvmlite" in outs[0]  # the test can tell: compiling imports LLVM
    assert outs[1] == ""
