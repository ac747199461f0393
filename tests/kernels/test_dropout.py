"""Triton's tutorial 04 (low-memory dropout): a host mask, and a mask drawn from a seed."""

import numpy as np
import pytest

from tutorials import _host, low_memory_dropout


def test_dropout_with_a_host_mask(mode, lib, rng) -> None:
    n, p = 10_007, 0.3
    x = rng.standard_normal(n).astype(np.float32)
    keep = (rng.random(n) > p).astype(np.int32)
    out = _host.to_numpy(low_memory_dropout.dropout(lib(x), lib(keep), p))
    ref = np.where(keep != 0, x.astype(np.float64) / (1 - p), 0.0)
    np.testing.assert_allclose(out, ref, rtol=1e-6)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_seeded_dropout(mode, lib, rng, p) -> None:
    n = 20_011
    x = (rng.random(n) + 0.5).astype(np.float32)  # never 0, so a dropped element shows as 0
    seed = int(rng.integers(0, 2**31))
    out = _host.to_numpy(low_memory_dropout.seeded_dropout(lib(x), p, seed))
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept].astype(np.float64) / (1 - p), rtol=1e-6)
    assert abs((~kept).mean() - p) < 0.02  # about p of the elements are dropped
    again = _host.to_numpy(low_memory_dropout.seeded_dropout(lib(x), p, seed))
    np.testing.assert_array_equal(again, out)  # the same seed gives the same mask
    other = _host.to_numpy(low_memory_dropout.seeded_dropout(lib(x), p, seed + 1))
    assert (other != out).any()


def test_seeded_dropout_is_the_same_compiled_and_interpreted(rng, monkeypatch) -> None:
    """tl.rand is a counter-based generator: both engines must draw the very same numbers."""
    n, p, seed = 5_003, 0.4, int(rng.integers(0, 2**31))
    x = (rng.random(n) + 0.5).astype(np.float32)
    monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    compiled = low_memory_dropout.seeded_dropout(x, p, seed)
    monkeypatch.setenv("TRITIUM_INTERPRET", "1")
    interpreted = low_memory_dropout.seeded_dropout(x, p, seed)
    np.testing.assert_array_equal(compiled, interpreted)
