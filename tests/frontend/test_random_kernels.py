"""Random kernels (tests/frontend/random_kernels.py) give the same results compiled (frontend,
passes, CPU backend) and interpreted. The seed follows TRITIUM_TEST_SEED, so a failure replays;
the failing kernel's source is in the assertion message."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from tests.frontend.helpers import run_cpu
from tests.frontend.random_kernels import KernelGenerator

pytest.importorskip("tritium.backends.cpu")

BLOCK = 16


@pytest.mark.parametrize("index", range(6))
def test_random_kernel_compiled_matches_interpreted(
    index: int, tmp_path: Path, rng: np.random.Generator
) -> None:
    from tritium.interpreter import run_kernel

    seed = int(os.environ.get("TRITIUM_TEST_SEED", "0")) * 100 + index
    name = f"random_kernel_{index}"
    source = KernelGenerator(seed).source(name)
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    kernel = getattr(module, name)

    n = int(rng.integers(BLOCK + 1, 2 * BLOCK))
    x = rng.standard_normal(2 * BLOCK).astype(np.float32)
    y = rng.integers(-20, 20, 2 * BLOCK).astype(np.int32)
    compiled = np.full(2 * BLOCK, -7777.0, np.float32)
    interpreted = compiled.copy()
    sig = {"x_ptr": "*fp32", "y_ptr": "*i32", "out_ptr": "*fp32", "n": "i32"}
    run_cpu(kernel, sig, {"BLOCK": BLOCK}, (2, 1, 1), [x, y, compiled, n])
    run_kernel(
        kernel.fn,
        (2, 1, 1),
        {"x_ptr": x, "y_ptr": y, "out_ptr": interpreted, "n": n, "BLOCK": BLOCK},
    )
    finite = np.abs(interpreted[np.isfinite(interpreted)])
    scale = 1.0 + float(finite.max(initial=0.0))
    close = np.isclose(compiled, interpreted, rtol=1e-3, atol=1e-4 * scale, equal_nan=True)
    assert close.all(), (
        f"seed {seed}: compiled {compiled[~close][:4]} vs interpreted "
        f"{interpreted[~close][:4]} at {np.nonzero(~close)[0][:4]}\n{source}"
    )
