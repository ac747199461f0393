"""The interpreter imports ml_dtypes and scipy only when a kernel needs them (each costs
0.5-3 s of a first launch), and the types and functions they provide still work then."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import math, os, sys
    import numpy as np
    import tritium.language as tl
    from tritium.interpreter import run_kernel

    def scale(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) * 3.0 + 1.0, mask=m)

    def erf_bf16(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        x = tl.load(x_ptr + offs, mask=m)
        tl.store(out_ptr + offs, tl.math.erf(x).to(tl.bfloat16).to(tl.float32), mask=m)

    rng = np.random.default_rng(int(os.environ["TRITIUM_TEST_SEED"]))
    n = 300
    x = rng.standard_normal(n).astype(np.float32)
    out = np.full(n, np.nan, np.float32)
    run_kernel(scale, (3,), dict(x_ptr=x, out_ptr=out, n=n, BLOCK=128))
    ref = x.astype(np.float64) * 3.0 + 1.0
    assert np.allclose(out, ref, rtol=1e-6, atol=1e-6), "fp32 kernel wrong"
    assert "ml_dtypes" not in sys.modules, "an fp32 kernel imported ml_dtypes"
    assert "scipy" not in sys.modules, "an fp32 kernel imported scipy"

    out = np.full(n, np.nan, np.float32)
    run_kernel(erf_bf16, (3,), dict(x_ptr=x, out_ptr=out, n=n, BLOCK=128))
    ref = np.array([math.erf(float(v)) for v in x])
    assert np.allclose(out, ref, rtol=2**-7, atol=1e-6), "erf rounded to bf16 wrong"
    print("ok")
    """
)


def test_ml_dtypes_and_scipy_load_on_first_use() -> None:
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]
