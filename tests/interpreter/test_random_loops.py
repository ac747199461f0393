"""Random loop kernels (tests/interpreter/random_loops.py): compiled, and interpreted with loop
replay on and off, each equal to the generator's NumPy reference.  The seed follows
TRITIUM_TEST_SEED, so a failure replays (``python tools/fuzz.py --family loops --features
native --blocks BLOCK --start SEED --count 1``).  Runs in a worker subprocess
(``tools/fuzz.py``): a crash or hang fails the test with its seed."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.interpreter.random_loops import SIZE, LoopKernelGenerator, reference

pytest.importorskip("tritium.backends.cpu")

KERNELS = 4  # each CI run draws new seeds, so coverage adds up over runs


def _fuzz() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "tools" / "fuzz.py"
    spec = importlib.util.spec_from_file_location("tritium_tools_fuzz", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_random_loops_match_reference() -> None:
    fuzz = _fuzz()
    first = 700000 + int(os.environ.get("TRITIUM_TEST_SEED", "0")) * 100
    worker = fuzz.Worker("native", timeout=120.0, family="loops")
    bad = []
    try:
        for i, seed in enumerate(range(first, first + KERNELS)):
            block = (16, 32)[i % 2]
            res = worker.run(seed, block, True)
            if res["outcome"] != "ok":
                bad.append(res)
    finally:
        worker.close()
    assert not bad, "\n".join(
        f"seed {r['seed']} block {r['block']}: {r['outcome']} {r['detail']} (replay: python "
        f"tools/fuzz.py --family loops --features native --blocks {r['block']} "
        f"--start {r['seed']} --count 1)"
        for r in bad
    )


def test_reference_sees_a_wrong_store() -> None:
    """The comparison can fail: the reference differs from the untouched buffer wherever a
    kernel stores, for a seed whose kernel stores in its loop."""
    seed = next(
        s
        for s in range(1000)
        if any(
            sp["kind"] == "stream" and sp["store"] and sp["count"] not in (0, "n")
            for sp in LoopKernelGenerator(s).loops
        )
    )
    gen = LoopKernelGenerator(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(SIZE).astype(np.float32)
    y = rng.integers(-20, 20, SIZE).astype(np.int32)
    out = rng.standard_normal(SIZE).astype(np.float32)
    want = out.copy()
    reference(gen, x, y, want)
    assert (want != out).any()
