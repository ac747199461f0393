"""Stores a kernel marks as streaming (``eviction_policy="evict_first"``, ``cache_modifier=".cs"``)
become non-temporal vector stores where a chunk is aligned and whole, ordinary stores elsewhere;
either way the result is the same as without the hint."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.irgen import fenced
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
    hinted = _affine.warmup(x, out, 256, BLOCK=128, HINT=1, grid=(1,))
    assert "vmovntps" in hinted.asm["asm"] and fenced(hinted)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRITIUM_STREAMING_STORES", "off")
        plain = _affine.warmup(x, out, 256, BLOCK=128, HINT=0, grid=(1,))
    assert "vmovnt" not in plain.asm["asm"] and not fenced(plain)


@triton.jit
def _scaled(x_ptr, out_ptr, n, BLOCK: tl.constexpr, TAG: tl.constexpr):
    # TAG: a separate specialization per setting (the setting is read when a kernel compiles)
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) * 2.0 + 1.0, mask=m)


@triton.jit
def _in_place(x_ptr, n, BLOCK: tl.constexpr, TAG: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=m) * 3.0, mask=m)


@pytest.mark.skipif(
    not host_target().triple.startswith("x86_64"), reason="x86 non-temporal instructions"
)
def test_unhinted_store_streams_only_a_write_only_output() -> None:
    # by default a store the kernel never reads back may stream (decided per launch by its
    # size); a buffer the kernel also loads from never does
    x = np.ones(256, np.float32)
    out = np.empty_like(x)
    written = _scaled.warmup(x, out, 256, BLOCK=128, TAG=-1, grid=(1,))
    assert "vmovntps" in written.asm["asm"] and fenced(written)
    in_place = _in_place.warmup(x, 256, BLOCK=128, TAG=-1, grid=(1,))
    assert "vmovnt" not in in_place.asm["asm"] and not fenced(in_place)


@pytest.mark.parametrize("mode", ["compiled", "interpreted"])
@pytest.mark.parametrize("tag,setting", [(0, "1"), (1, "4096"), (2, "off"), (3, "auto")])
def test_streaming_threshold_results(
    mode: str, tag: int, setting: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "1": every launch streams its unhinted stores; "4096": launches of 8 or more programs
    # (of 512 bytes) do, decided at run time; "auto": these small launches do not
    if mode == "interpreted":
        monkeypatch.setenv("TRITIUM_INTERPRET", "1")
    monkeypatch.setenv("TRITIUM_STREAMING_STORES", setting)
    rng = np.random.default_rng(int(os.environ["TRITIUM_TEST_SEED"]))
    for n in (5, 1000, 4099):
        x = rng.standard_normal(n).astype(np.float32)
        for offset in (0, 1, 4, 8):
            buf = np.full(n + 40, np.nan, np.float32)
            out = buf[offset : offset + n]
            _scaled[(triton.cdiv(n, 128),)](x, out, n, BLOCK=128, TAG=tag)
            np.testing.assert_array_equal(out, x * np.float32(2) + np.float32(1))
            assert np.isnan(buf[:offset]).all() and np.isnan(buf[offset + n :]).all()
        y = x.copy()
        _in_place[(triton.cdiv(n, 128),)](y, n, BLOCK=128, TAG=tag)
        np.testing.assert_array_equal(y, x * np.float32(3))


def test_streaming_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from tritium.backends.cpu.streaming import streaming_threshold

    monkeypatch.setenv("TRITIUM_STREAMING_STORES", "sometimes")
    with pytest.raises(ValueError, match="TRITIUM_STREAMING_STORES"):
        streaming_threshold()
    monkeypatch.setenv("TRITIUM_STREAMING_STORES", "4096")
    assert streaming_threshold() == 4096
