"""Random kernels (tests/frontend/random_kernels.py) give the same results compiled (frontend,
passes, CPU backend) and interpreted, on the AVX-512 and the AVX2 feature sets and at several
block sizes. The seed follows TRITIUM_TEST_SEED, so a failure replays
(``python tools/fuzz.py --start SEED --count 1``).

The kernels compile and run in a worker subprocess (``tools/fuzz.py``): a kernel that makes LLVM
abort or the process segfault fails its test with the seed instead of killing pytest. A feature
set the host lacks is compiled only (running it would fault on an illegal instruction)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("tritium.backends.cpu")

KERNELS = 3  # per feature set; each CI run draws new seeds, so coverage adds up over runs
BLOCKS = (16, 32, 64)  # kernel i runs at BLOCKS[i]
# The host's own features, and the other of {AVX-512, AVX2} (run when the host has AVX-512,
# compiled only when it lacks it): both feature sets on every host, no duplicate work.
FEATURES = ("native", "-avx512f", "+avx512f")


def _fuzz() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "tools" / "fuzz.py"
    spec = importlib.util.spec_from_file_location("tritium_tools_fuzz", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("features", FEATURES)
def test_random_kernels_compiled_match_interpreted(features: str) -> None:
    fuzz = _fuzz()
    avx512 = fuzz.host_has("avx512f")
    if (features == "-avx512f" and not avx512) or (features == "+avx512f" and avx512):
        pytest.skip(f"{features} is the host's own feature set here (the 'native' case)")
    execute = features != "+avx512f"
    first = int(os.environ.get("TRITIUM_TEST_SEED", "0")) * 100
    worker = fuzz.Worker(features, timeout=120.0)
    bad = []
    try:
        for i, seed in enumerate(range(first, first + KERNELS)):
            res = worker.run(seed, BLOCKS[i % len(BLOCKS)], execute)
            if res["outcome"] != "ok":  # generated kernels are valid: a rejection is a bug too
                bad.append(res)
    finally:
        worker.close()
    assert not bad, "\n".join(
        f"seed {r['seed']} block {r['block']}: {r['outcome']} {r['detail']} (replay: python "
        f"tools/fuzz.py --features={features} --blocks {r['block']} --start {r['seed']} --count 1)"
        for r in bad
    )


# Seeds the fuzz campaigns found, each with its block and feature set: the bug it showed.
REGRESSIONS = [
    # float atomic_min with -0.0 took the signed-int path and overwrote negative values
    (400044, 32, "native"),
    (400248, 32, "native"),  # the same, through atomic_min/max on the shared slots
]


@pytest.mark.parametrize("seed, block, features", REGRESSIONS)
def test_fuzz_regressions(seed: int, block: int, features: str) -> None:
    fuzz = _fuzz()
    worker = fuzz.Worker(features, timeout=120.0)
    try:
        res = worker.run(seed, block, True)
    finally:
        worker.close()
    assert res["outcome"] == "ok", f"seed {seed} block {block}: {res['outcome']} {res['detail']}"
