"""What the backend leaves lazy to keep compiles and first launches fast: bf16 constants are
formatted without ml_dtypes, and assembly text is made only when read."""

from __future__ import annotations

import os

import ml_dtypes
import numpy as np
import pytest

from tests.backends.cpu.test_vector_add import _vector_add
from tritium.backends import CompiledArtifact, get_backend
from tritium.backends.cpu.llvm_utils import bf16_bits
from tritium.backends.cpu.target import LazyAsm


def test_bf16_constants_round_like_ml_dtypes() -> None:
    rng = np.random.default_rng(int(os.environ["TRITIUM_TEST_SEED"]))
    normal = rng.standard_normal(4000) * 10.0 ** rng.integers(-45, 39, 4000)
    raw64 = rng.integers(0, 2**63, 2000, dtype=np.uint64).view(np.float64)
    with np.errstate(invalid="ignore"):
        raw32 = rng.integers(0, 2**32, 2000, dtype=np.uint32).view(np.float32).astype(float)
    edges = [0.0, -0.0, np.inf, -np.inf, 3.3895e38, 3.4e38, 1e-40, -1e-45, 1e300, -1e-300]
    # halfway cases: bf16 ties and values a hair off them (double rounding through fp32 fails)
    ties = [1.00390625, 1.01171875, -0.11987304402124649, 1.00390625 + 2**-40]
    values = [float(v) for v in (*normal, *raw64, *raw32, *edges, *ties) if not np.isnan(v)]
    with np.errstate(over="ignore", invalid="ignore"):
        want = np.array(values, dtype=np.float64).astype(ml_dtypes.bfloat16).view(np.uint16)
    got = np.array([bf16_bits(v) for v in values], dtype=np.uint16)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, [(values[i], hex(want[i]), hex(got[i])) for i in bad[:5]]
    nan = bf16_bits(float("nan"))
    assert nan & 0x7F80 == 0x7F80 and nan & 0x7F  # a NaN stays a NaN


def test_assembly_is_made_on_first_read_and_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRITIUM_DUMP_DIR", raising=False)
    kb = _vector_add(64)
    kb.ret()
    art = get_backend("cpu").compile(kb.module, {})
    assert isinstance(art.asm, LazyAsm)
    assert "asm" not in dict(art.asm.items())  # what the disk cache stores
    assert "asm" in art.asm
    text = art.asm["asm"]
    assert "ret" in text and art.asm.get("asm") == text
    # an artifact from the disk cache (plain dicts) gets its assembly on demand as well
    again = CompiledArtifact(art.name, {"llir": art.asm["llir"]}, art.binary, dict(art.metadata))
    get_backend("cpu").load(again)
    assert again.asm["asm"] == text
    with pytest.raises(KeyError):
        again.asm["ptx"]
