"""Masked loads and stores of 8- and 16-bit lanes without AVX512-BW (backends/cpu/narrow_masked):
chunks not wholly enabled move their enabled lanes through a shared run-time helper (one copy
for a run of lanes, else lane by lane). Random masks check the values and that every disabled
lane of a store keeps its old value; arrays placed against inaccessible pages check that no
disabled lane is read or written; arrays across a page boundary at every offset too."""

from __future__ import annotations

import ctypes
import mmap
import os
import zlib
from collections.abc import Iterator

import ml_dtypes
import numpy as np
import pytest

import tritium
import tritium.language as tl

PAGE = 4096
DTYPES = [np.float16, ml_dtypes.bfloat16, np.int8, np.uint8, np.int16]
OTHER = 3


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """Fresh inputs per run; TRITIUM_TEST_SEED (in the report header) replays them."""
    test_id = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng([int(os.environ.get("TRITIUM_TEST_SEED", "0")), test_id])


@pytest.fixture(params=["", "-avx512bw"])
def features(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The host's features, and (on AVX-512 hosts) without BW: the emulated path either way
    on AVX2 hosts like the project's."""
    if request.param:
        prev = os.environ.get("TRITIUM_CPU_FEATURES", "")
        monkeypatch.setenv("TRITIUM_CPU_FEATURES", ",".join(f for f in (prev, request.param) if f))
    return str(request.param)


@tritium.jit
def _masked_io(x_ptr, keep_ptr, out_ptr, seen_ptr, start, n, BLOCK: tl.constexpr):
    lane = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    offs = start + lane
    inside = (offs >= 0) & (offs < n)
    keep = tl.load(keep_ptr + lane) != 0
    m = inside & keep
    x = tl.load(x_ptr + offs, mask=m, other=OTHER)
    tl.store(out_ptr + offs, x, mask=m)
    tl.store(seen_ptr + lane, x)


def _values(rng: np.random.Generator, dtype: type, n: int) -> np.ndarray:
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, n, endpoint=True).astype(dtype)
    return (rng.standard_normal(n) * 100).astype(dtype)


def _sentinel(dtype: type, n: int) -> np.ndarray:
    if np.dtype(dtype).kind in "iu":
        return np.full(n, np.iinfo(dtype).min + 1, dtype)
    return np.full(n, np.nan, dtype)


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint8 if a.dtype.itemsize == 1 else np.uint16)


def _run(
    x: np.ndarray, out: np.ndarray, start: int, block: int, programs: int, rng, keep_p=0.7
) -> None:
    """Launch on ``x`` (any placement) and check ``out`` and every lane's loaded value; each
    lane inside ``x`` is enabled with probability ``keep_p`` (1: the masks are runs)."""
    n = x.size
    lanes = programs * block
    keep = (rng.random(lanes) < keep_p).astype(np.int8)
    seen = _sentinel(x.dtype.type, lanes)
    before = out.copy()
    _masked_io[(programs,)](x, keep, out, seen, start, n, BLOCK=block)
    offs = start + np.arange(lanes)
    m = (offs >= 0) & (offs < n) & (keep != 0)
    want_seen = np.full(lanes, OTHER, x.dtype)
    want_seen[m] = x[offs[m]]
    want_out = before.copy()
    want_out[offs[m]] = x[offs[m]]
    np.testing.assert_array_equal(_bits(seen), _bits(want_seen))
    np.testing.assert_array_equal(_bits(out), _bits(want_out))  # disabled lanes untouched


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("block", [16, 64])
@pytest.mark.parametrize("mode_", ["compiled", "interpreted"])
def test_masked_values_and_untouched_lanes(dtype, block, mode_, features, monkeypatch, rng):
    """Random masks, and runs of every length (heads and tails of odd sizes), against NumPy,
    compiled and interpreted."""
    if mode_ == "interpreted":
        monkeypatch.setenv("TRITIUM_INTERPRET", "1")
    cases = [(1, 0, 0.7), (37, -5, 0.7), (203, 3, 0.7)]
    cases += [(n, -s, 1.0) for n, s in zip(range(1, 34, 3), range(0, 40, 7), strict=False)]
    for n, start, keep_p in cases:
        x = _values(rng, dtype, n)
        _run(x, _sentinel(dtype, n), start, block, (n + 10) // block + 1, rng, keep_p)


class _Pages:
    """``count`` pages of anonymous memory; ``guard(i)`` makes page ``i`` inaccessible (a
    read or write there kills the process) until the block ends."""

    def __init__(self, count: int) -> None:
        self.map = mmap.mmap(-1, count * PAGE)
        self.bytes = np.frombuffer(self.map, np.uint8)
        self.guarded: list[int] = []

    def guard(self, page: int) -> None:
        self._protect(page, 0)  # PROT_NONE
        self.guarded.append(page)

    def _protect(self, page: int, prot: int) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        addr = self.bytes.ctypes.data + page * PAGE
        if libc.mprotect(addr, PAGE, prot) != 0:
            pytest.skip(f"mprotect failed: {os.strerror(ctypes.get_errno())}")

    def array(self, offset: int, dtype: type, n: int) -> np.ndarray:
        itemsize = np.dtype(dtype).itemsize
        return self.bytes[offset : offset + n * itemsize].view(dtype)

    def release(self) -> None:
        for page in self.guarded:
            self._protect(page, mmap.PROT_READ | mmap.PROT_WRITE)


@pytest.fixture
def pages() -> Iterator[_Pages]:
    p = _Pages(5)
    try:
        yield p
    finally:
        p.release()


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("block", [16, 64])
def test_arrays_against_inaccessible_pages(dtype, block, features, pages, rng):
    """x and out end where an inaccessible page begins, or start where one ends (with lanes
    before the array masked off): only enabled lanes may be read or written, else the process
    dies. Compiled only: what is tested is the generated code's memory accesses."""
    pages.guard(0)
    pages.guard(2)
    pages.guard(4)
    itemsize = np.dtype(dtype).itemsize
    for n in (5, 31, 100):
        # x at the end of page 1, out at the end of page 3: the chunks past n reach page 2/4
        x = pages.array(2 * PAGE - n * itemsize, dtype, n)
        out = pages.array(4 * PAGE - n * itemsize, dtype, n)
        x[:] = _values(rng, dtype, n)
        out[:] = _sentinel(dtype, n)
        _run(x, out, 0, block, n // block + 2, rng)
        # x at the start of page 1, out at the start of page 3, lanes from -7: before them
        # lies an inaccessible page
        x = pages.array(PAGE, dtype, n)
        out = pages.array(3 * PAGE, dtype, n)
        x[:] = _values(rng, dtype, n)
        out[:] = _sentinel(dtype, n)
        _run(x, out, -7, block, (n + 7) // block + 1, rng)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_chunks_across_a_page_boundary(dtype, features, rng):
    """Arrays that cross a page boundary at every offset within a chunk (both pages
    accessible)."""
    p = _Pages(2)
    itemsize = np.dtype(dtype).itemsize
    n = 96
    for shift in range(0, 32, itemsize):
        x = p.array(PAGE - 48 * itemsize + shift, dtype, n)
        out = p.array(PAGE - 40 * itemsize - shift, dtype, n)
        if abs(out.ctypes.data - x.ctypes.data) < n * itemsize:
            out = _sentinel(dtype, n)  # would overlap x: an ordinary array instead
        x[:] = _values(rng, dtype, n)
        out[:] = _sentinel(dtype, n)
        _run(x, out, 0, 32, n // 32, rng)


def test_no_llvm_masked_access_of_narrow_lanes(features):
    """The fp16 loads and stores compile to the helper's calls, not LLVM's lane-by-lane
    branches (on a host without AVX512-BW or with it switched off)."""
    from tritium.backends.cpu.target import host_target

    if host_target().has("avx512bw"):
        pytest.skip("the host's AVX512-BW masked accesses are used")
    x = np.ones(8, np.float16)
    keep = np.ones(16, np.int8)
    seen = np.empty(16, np.float16)
    kernel = _masked_io.warmup(x, keep, x.copy(), seen, 0, 8, BLOCK=16, grid=(1,))
    llir = kernel.asm["llir"]
    assert "llvm.masked.load.v" not in llir and "llvm.masked.store.v" not in llir
    assert "tritium_helper_copy_lanes" in llir
