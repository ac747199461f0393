"""Stores a kernel marks as streaming (``eviction_policy="evict_first"``, ``cache_modifier=".cs"``)
become non-temporal vector stores where a chunk is aligned and whole, ordinary stores elsewhere;
either way the result is the same as without the hint."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.backends.cpu.target import host_target


@triton.jit
def _affine(x_ptr, out_ptr, n, BLOCK: tl.constexpr, HINT: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    y = tl.load(x_ptr + offs, mask=m) * 2.0 + 1.0
    if HINT == 1:
        tl.store(out_ptr + offs, y, mask=m, eviction_policy="evict_first")
    elif HINT == 2:
        tl.store(out_ptr + offs, y, mask=m, cache_modifier=".cs")
    else:
        tl.store(out_ptr + offs, y, mask=m)


@triton.jit
def _rows(x_ptr, out_ptr, N: tl.constexpr):
    # an unmasked 2-D tile: every chunk is whole
    r = tl.program_id(0) * 4 + tl.arange(0, 4)[:, None]
    c = tl.arange(0, N)[None, :]
    tl.store(out_ptr + r * N + c, tl.load(x_ptr + r * N + c) - 3.0, cache_modifier=".cs")


@pytest.mark.parametrize("mode", ["compiled", "interpreted"])
@pytest.mark.parametrize("hint", [1, 2])
def test_streaming_store_results(mode: str, hint: int, monkeypatch: pytest.MonkeyPatch) -> None:
    if mode == "interpreted":
        monkeypatch.setenv("TRITIUM_INTERPRET", "1")
    rng = np.random.default_rng(int(os.environ["TRITIUM_TEST_SEED"]))
    for n in (5, 256, 1000, 4099):
        x = rng.standard_normal(n).astype(np.float32)
        # aligned to 32 and to 16 bytes (non-temporal) and misaligned (plain): all paths run
        for offset in (0, 1, 3, 4, 8):
            buf = np.full(n + 40, np.nan, np.float32)
            out = buf[offset : offset + n]
            _affine[(triton.cdiv(n, 128),)](x, out, n, BLOCK=128, HINT=hint)
            np.testing.assert_array_equal(out, x * np.float32(2) + np.float32(1))
            assert np.isnan(buf[:offset]).all() and np.isnan(buf[offset + n :]).all()
    x = rng.standard_normal((16, 64)).astype(np.float32)
    out = np.full_like(x, np.nan)
    _rows[(4,)](x, out, N=64)
    np.testing.assert_array_equal(out, x - np.float32(3))


@pytest.mark.skipif(
    not host_target().triple.startswith("x86_64"), reason="x86 non-temporal instructions"
)
def test_streaming_store_is_non_temporal_and_fenced() -> None:
    x = np.ones(256, np.float32)
    out = np.empty_like(x)
    hinted = _affine.warmup(x, out, 256, BLOCK=128, HINT=1, grid=(1,)).asm["asm"]
    plain = _affine.warmup(x, out, 256, BLOCK=128, HINT=0, grid=(1,)).asm["asm"]
    assert "vmovntps" in hinted and "sfence" in hinted
    assert "vmovnt" not in plain and "sfence" not in plain
