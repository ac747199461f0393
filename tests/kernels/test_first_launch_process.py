"""A new process that launches kernels from the disk cache (issue 13, first launch): it loads
their object code without LLVM (no llvmlite import at all), and the kernels compute the right
results: a masked fp32 add, an fp32 -> bf16 rounding (calls the runtime's compiler-rt helpers
where the CPU has no bf16 instruction) and an fp64 ``cbrt`` (calls libm per lane)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import tritium
    import tritium.language as tl
    from tritium.language.extra import libdevice


    @tritium.jit
    def add(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        x = tl.load(x_ptr + offs, mask=m)
        tl.store(out_ptr + offs, x + tl.load(y_ptr + offs, mask=m), mask=m)


    @tritium.jit
    def to_bf16(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        b = tl.load(x_ptr + offs, mask=m).to(tl.bfloat16)
        tl.store(out_ptr + offs, b.to(tl.uint16, bitcast=True), mask=m)


    @tritium.jit
    def cube_root(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(out_ptr + offs, libdevice.cbrt(tl.load(x_ptr + offs, mask=m)), mask=m)


    rng = np.random.default_rng(int(sys.argv[1]))
    n = 1000
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    d = rng.standard_normal(n) * 100.0
    out = np.full(n, np.nan, np.float32)
    add[(8,)](x, y, out, n, BLOCK=128)
    bits = np.full(n, 0xFFFF, np.uint16)
    to_bf16[(8,)](x, bits, n, BLOCK=128)
    roots = np.full(n, np.nan)
    cube_root[(8,)](d, roots, n, BLOCK=128)
    print(json.dumps({
        "add": out.tolist(),
        "bf16": bits.tolist(),
        "cbrt": roots.tolist(),
        "modules": sorted(m for m in sys.modules if m.startswith(("llvmlite", "tritium.ir"))),
    }))
    """
)


def _bf16_bits(x: np.ndarray) -> np.ndarray:
    """fp32 -> bf16 bits, rounded to nearest even (finite inputs)."""
    u = x.view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


@pytest.mark.parametrize("loader", ["auto", "llvm"])
def test_cached_launch_in_a_new_process(tmp_path, loader) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, TRITIUM_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    env["TRITIUM_OBJECT_LOADER"] = loader
    for name in ("TRITIUM_INTERPRET", "TRITON_INTERPRET", "TRITIUM_ALWAYS_COMPILE"):
        env.pop(name, None)
    seed = int(os.environ["TRITIUM_TEST_SEED"])
    outs = []
    for _ in range(2):  # the first compiles and fills the cache, the second loads from it
        proc = subprocess.run(
            [sys.executable, str(script), str(seed)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        outs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    rng = np.random.default_rng(seed)
    n = 1000
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    d = rng.standard_normal(n) * 100.0
    for out in outs:
        np.testing.assert_allclose(out["add"], x.astype(np.float64) + y, rtol=1e-6, atol=1e-6)
        assert out["bf16"] == _bf16_bits(x).tolist()
        np.testing.assert_allclose(out["cbrt"], np.cbrt(d), rtol=1e-13)
    if loader == "auto" and sys.platform.startswith("linux") and os.uname().machine == "x86_64":
        # a cached launch loads its objects itself: neither llvmlite nor the IR is imported
        assert outs[1]["modules"] == [], outs[1]["modules"]
