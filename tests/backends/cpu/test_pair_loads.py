"""Loads of every other element (``x[..., ::2]``, ``x[..., 1::2]``: Inductor's rotary and
complex-number kernels), which the CPU backend reads as two contiguous vector loads and a
shuffle (``memory._pair_load``). Compiled and interpreted, fresh random inputs, poisoned
outputs; a guard page after the input shows that nothing past the last lane is read."""

from __future__ import annotations

import ctypes
import mmap
from collections.abc import Callable, Iterator

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.modes import both_modes


@triton.jit
def _rotate(x_ptr, cos_ptr, sin_ptr, out_ptr, n_pairs, BLOCK: tl.constexpr):
    # out[2i] = x[2i] cos[i] - x[2i+1] sin[i]; out[2i+1] = x[2i] sin[i] + x[2i+1] cos[i]
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n_pairs
    re = tl.load(x_ptr + 2 * i, mask, other=0.0).to(tl.float32)
    im = tl.load(x_ptr + 1 + 2 * i, mask, other=0.0).to(tl.float32)
    c = tl.load(cos_ptr + i, mask)
    s = tl.load(sin_ptr + i, mask)
    tl.store(out_ptr + 2 * i, re * c - im * s, mask)
    tl.store(out_ptr + 1 + 2 * i, re * s + im * c, mask)


@triton.jit
def _every_other(x_ptr, out_ptr, n, start, BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + i, tl.load(x_ptr + start + 2 * i, i < n) * 3, i < n)


@triton.jit
def _pairs_2d(x_ptr, out_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    # x is [M, 2N]; out[m, n] = x[m, 2n + 1] - x[m, 2n], a 2-D tile with stride 2 along cols
    rows = tl.arange(0, BM)[:, None]
    cols = tl.arange(0, BN)[None, :]
    mask = (rows < M) & (cols < N)
    base = x_ptr + rows * 2 * N + 2 * cols
    d = tl.load(base + 1, mask) - tl.load(base, mask)
    tl.store(out_ptr + rows * N + cols, d, mask)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("n_pairs, block", [(4096, 256), (1000, 128), (37, 64)])
def test_rotary_pairs(rng, monkeypatch, dtype, n_pairs, block) -> None:
    x = rng.standard_normal(2 * n_pairs).astype(dtype)
    ang = rng.random(n_pairs) * 6.3
    cos, sin = np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)

    def run() -> np.ndarray:
        out = np.full(2 * n_pairs, np.nan, np.float32)
        _rotate[(triton.cdiv(n_pairs, block),)](x, cos, sin, out, n_pairs, BLOCK=block)
        return out

    re, im = x[0::2].astype(np.float64), x[1::2].astype(np.float64)
    ref = np.empty(2 * n_pairs)
    ref[0::2] = re * cos - im * sin
    ref[1::2] = re * sin + im * cos
    for got in both_modes(monkeypatch, run):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_two_dimensional_pairs(rng, monkeypatch) -> None:
    m, n = 7, 24
    x = rng.standard_normal((m, 2 * n)).astype(np.float32)

    def run() -> np.ndarray:
        out = np.full((m, n), np.nan, np.float32)
        _pairs_2d[(1,)](x, out, m, n, BM=8, BN=32)
        return out

    for got in both_modes(monkeypatch, run):
        np.testing.assert_allclose(got, x[:, 1::2].astype(np.float64) - x[:, 0::2], rtol=1e-6)


@pytest.fixture
def guarded() -> Iterator[Callable[[int], np.ndarray]]:
    """``make(nbytes)``: a writable uint8 array whose last byte is the last of a page
    followed by an inaccessible page."""
    page = mmap.PAGESIZE
    mm = mmap.mmap(-1, 2 * page)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(mm))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    assert libc.mprotect(addr + page, page, 0) == 0  # PROT_NONE
    views: list[np.ndarray] = []

    def make(nbytes: int) -> np.ndarray:
        view = np.frombuffer(mm, np.uint8, count=nbytes, offset=page - nbytes)
        views.append(view)
        return view

    yield make
    assert libc.mprotect(addr + page, page, 3) == 0  # PROT_READ | PROT_WRITE, to unmap
    del views[:]


@pytest.mark.parametrize("start, total", [(0, 1023), (1, 1024), (1, 1000)])
def test_no_read_past_the_last_lane(rng, monkeypatch, guarded, start, total) -> None:
    # the array's last element is the chunk's last lane and the next page is unmapped: an
    # over-wide contiguous load would fault
    x = guarded(4 * total).view(np.float32)
    x[:] = rng.standard_normal(total).astype(np.float32)
    n = (total - start + 1) // 2

    def run() -> np.ndarray:
        out = np.full(n, np.nan, np.float32)
        _every_other[(triton.cdiv(n, 64),)](x, out, n, start, BLOCK=64)
        return out

    for got in both_modes(monkeypatch, run):
        np.testing.assert_array_equal(got, x[start::2] * np.float32(3))
