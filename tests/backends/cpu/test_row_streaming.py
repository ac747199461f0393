"""Row-wise kernels as GPU code writes them: chunk width, prefetch of the next row, and the
fence after non-temporal stores (issue 13). None of it may change a result."""

from __future__ import annotations

import ctypes
import mmap
import os
import re

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.backends.cpu.irgen import fenced
from tests.backends.cpu.llir import prefetch_offsets
from tritium.backends.cpu import launcher
from tritium.backends.cpu.target import host_target
from tutorials import layer_norm

_X86 = host_target().triple.startswith("x86_64")
_REG_LANES = 16 if host_target().has("avx512f") else 8


@triton.jit
def _softmax_rows(out_ptr, in_ptr, stride, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(in_ptr + row * stride + cols, mask=mask, other=-float("inf"))
    x = x - tl.max(x, axis=0)
    num = tl.exp(x)
    tl.store(out_ptr + row * stride + cols, num / tl.sum(num, axis=0), mask=mask)


@triton.jit
def _softmax_persistent(out_ptr, in_ptr, stride, n_rows, n_cols, BLOCK: tl.constexpr):
    # tutorial 02's form: each program loops over rows pid, pid + P, ...
    for row in tl.range(tl.program_id(0), n_rows, tl.num_programs(0)):
        cols = tl.arange(0, BLOCK)
        mask = cols < n_cols
        x = tl.load(in_ptr + row * stride + cols, mask=mask, other=-float("inf"))
        num = tl.exp(x - tl.max(x, axis=0))
        tl.store(out_ptr + row * stride + cols, num / tl.sum(num, axis=0), mask=mask)


@triton.jit
def _softmax_padded(out_ptr, in_ptr, n_cols, STRIDE: tl.constexpr, BLOCK: tl.constexpr):
    # rows STRIDE elements apart: the prefetch distance is a constant, visible in the IR
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(in_ptr + row * STRIDE + cols, mask=mask, other=-float("inf"))
    num = tl.exp(x - tl.max(x, axis=0))
    tl.store(out_ptr + row * STRIDE + cols, num / tl.sum(num, axis=0), mask=mask)


@triton.jit
def _scale_blocks(x_ptr, w_ptr, out_ptr, n_cols, BLOCK: tl.constexpr):
    # rows on axis 0, column blocks on axis 1 (the launcher runs axis 1 fastest)
    row = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * n_cols + cols, mask=mask)
    w = tl.load(w_ptr + cols, mask=mask)
    tl.store(out_ptr + row * n_cols + cols, x * w + 1.0, mask=mask)


@triton.jit
def _weights_only(w_ptr, out_ptr, N: tl.constexpr):
    cols = tl.arange(0, N)
    tl.store(out_ptr + tl.program_id(0) * N + cols, tl.load(w_ptr + cols) * 2.0)


@triton.jit
def _hinted_copy(x_ptr, out_ptr, cnt_ptr, n, BLOCK: tl.constexpr, COUNT: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) - 1.0, mask=m, cache_modifier=".cs")
    if COUNT:
        tl.atomic_add(cnt_ptr, 1)


@triton.jit
def _f64_rows(x_ptr, out_ptr, N: tl.constexpr):
    cols = tl.program_id(0) * N + tl.arange(0, N)
    tl.store(out_ptr + cols, tl.load(x_ptr + cols) * 3.0)


@triton.jit
def _dot_tile(a_ptr, b_ptr, c_ptr, N: tl.constexpr):
    r = tl.arange(0, N)
    a = tl.load(a_ptr + r[:, None] * N + r[None, :])
    b = tl.load(b_ptr + r[:, None] * N + r[None, :])
    tl.store(c_ptr + r[:, None] * N + r[None, :], tl.dot(a, b))


def _function(asm: str, name: str) -> str:
    """The assembly of one function of a kernel's object."""
    start = asm.index(f"\n{name}:")
    return asm[start : asm.index(".Lfunc_end", start)]


def _softmax_ref(x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class _GuardedRows:
    """``rows`` x ``cols`` float32 rows that end exactly where an inaccessible page begins: a
    prefetch of the row after the last lands on that page (and must not fault)."""

    def __init__(self, rows: int, cols: int) -> None:
        page = mmap.PAGESIZE
        nbytes = rows * cols * 4
        self.pages = -(-nbytes // page)
        self.map = mmap.mmap(-1, (self.pages + 1) * page)
        base = ctypes.addressof(ctypes.c_char.from_buffer(self.map))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        if libc.mprotect(base + self.pages * page, page, 0) != 0:  # PROT_NONE
            raise OSError(ctypes.get_errno(), "mprotect")
        start = self.pages * page - nbytes
        flat = np.frombuffer(self.map, np.float32, rows * cols, start)
        self.array = flat.reshape(rows, cols)


@pytest.mark.parametrize("mode", ["compiled", "interpreted"])
def test_row_kernels_read_up_to_an_inaccessible_page(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if mode == "interpreted":
        monkeypatch.setenv("TRITIUM_INTERPRET", "1")
    rng = np.random.default_rng(int(os.environ["TRITIUM_TEST_SEED"]))
    rows, cols = 6, 1024
    guarded = _GuardedRows(rows, cols)
    x = guarded.array
    x[:] = rng.standard_normal((rows, cols)).astype(np.float32)
    ref = _softmax_ref(x)
    out = np.full((rows, cols), np.nan, np.float32)
    _softmax_rows[(rows,)](out, x, cols, cols, BLOCK=cols)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-9)
    for programs in (1, 4):
        out = np.full((rows, cols), np.nan, np.float32)
        _softmax_persistent[(programs,)](out, x, cols, rows, cols, BLOCK=cols)
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-9)
    # axis 1 runs fastest: the next program is the next column block of the same row
    w = rng.standard_normal(cols).astype(np.float32)
    out = np.full((rows, cols), np.nan, np.float32)
    _scale_blocks[(rows, cols // 128)](x, w, out, cols, BLOCK=128)
    np.testing.assert_array_equal(out, x * w + np.float32(1))


def test_softmax_rows_with_partial_chunks(rng: np.random.Generator) -> None:
    # 16-lane chunks with a masked tail in the middle of a chunk, rows at odd strides
    for cols in (1, 7, 100, 1000):
        block = triton.next_power_of_2(cols)
        x = rng.standard_normal((9, cols + 3)).astype(np.float32) * 4
        x[2, : cols // 2] = -np.inf  # a row with masked-like lanes (exp gives 0)
        out = np.full_like(x, np.nan)
        _softmax_rows[(9,)](out, x, cols + 3, cols, BLOCK=block)
        np.testing.assert_allclose(out[:, :cols], _softmax_ref(x[:, :cols]), rtol=1e-5, atol=1e-9)
        assert np.isnan(out[:, cols:]).all()


@pytest.mark.skipif(not _X86, reason="x86 prefetch instructions")
def test_row_loads_prefetch_and_shared_loads_do_not() -> None:
    x = np.ones((4, 256), np.float32)
    rows = _softmax_rows.warmup(x, x, 256, 256, BLOCK=256, grid=(4,)).asm["asm"]
    assert "prefetch" in _function(rows, "tritium.program")
    # into L2, not L1: the next row's lines evicted this row's, read again by the later passes
    assert "prefetcht0" not in rows and "prefetcht1" in _function(rows, "tritium.program")
    looped = _softmax_persistent.warmup(x, x, 256, 4, 256, BLOCK=256, grid=(2,)).asm["asm"]
    assert "prefetch" in _function(looped, "tritium.program")
    w = np.ones(256, np.float32)
    shared = _weights_only.warmup(w, x, N=256, grid=(4,)).asm["asm"]
    assert "prefetch" not in _function(shared, "tritium.program")
    # the next program's tile starts where this one ends (a constexpr block): the hardware
    # prefetcher's case, left alone
    adjacent = _f64_rows.warmup(x.astype(np.float64), x.astype(np.float64), N=256, grid=(4,))
    assert "prefetch" not in _function(adjacent.asm["asm"], "tritium.program")


def _loops(asm: str) -> list[list[str]]:
    """The instructions of each loop of an assembly listing: from a label to a conditional
    jump back to it (an unconditional one returns from a block placed out of line). A span
    that starts inside another and ends after it is no loop either: a block placed after the
    loop jumping back into its middle (loops nest or are apart)."""
    lines = [ln.strip() for ln in asm.splitlines()]
    at = {ln[:-1]: i for i, ln in enumerate(lines) if ln.endswith(":")}
    spans = []
    for i, ln in enumerate(lines):
        target = re.match(r"j(?!mp)\w+\s+(\.\w+)$", ln)
        if target and at.get(target.group(1), i) < i:
            spans.append((at[target.group(1)], i))
    return [
        lines[lo : hi + 1]
        for lo, hi in spans
        if not any(lo2 < lo <= hi2 < hi for lo2, hi2 in spans)
    ]


#: A vector store to memory that is not the stack (the kernel's own stack tiles).
_HEAP_STORE = re.compile(r"v(mov|maskmov)\w*\s+%[xyz]mm\d+,\s*-?\w*\((?!%rsp)")


@pytest.mark.skipif(not _X86, reason="x86 prefetch instructions")
def test_store_loops_prefetch_the_next_rows_loaded_earlier() -> None:
    # tutorial 05's dx kernel loads x and dy in its first pass only; its dx store and its
    # partial-row accumulation read them from stack tiles: those loops prefetch the next
    # program's x and dy rows too, so that DRAM stays busy for the whole program
    M, N, G = 256, 1024, 64
    x = np.ones((M, N), np.float32)
    rows, w, locks = np.ones(M, np.float32), np.ones(N, np.float32), np.zeros(2 * G, np.int32)
    part = np.zeros((G, N), np.float32)
    args = (x, x, part, part, x, w, rows, rows, locks, N, N)
    kernel = layer_norm._layer_norm_bwd_dx_fused.warmup(
        *args, GROUP_SIZE_M=G, BLOCK_SIZE_N=N, grid=(M,)
    )
    loops = _loops(_function(kernel.asm["asm"], "tritium.program"))
    storing = [body for body in loops if any(_HEAP_STORE.match(ln) for ln in body)]
    assert len(storing) >= 2  # dx, and the partial rows' accumulation
    for body in storing:
        assert any(ln.startswith("prefetcht1") for ln in body), "\n".join(body)


def test_store_loop_of_a_single_row_prefetches_the_row_after_next(
    rng: np.random.Generator,
) -> None:
    # the row softmax keeps its one row in a stack tile: its first pass prefetches the next
    # row, its store loop the one after that (4096 x 4096, 1 thread: 1.12-1.20x faster than
    # both requesting the next row); a second row load (the dx kernel's x and dy) keeps both
    # at the next row (two ahead was 0.75-0.99x there)
    rows, cols, stride, block = 5, 200, 512, 256
    x = rng.standard_normal((rows, stride), dtype=np.float32)
    kernel = _softmax_padded.warmup(x, x, cols, STRIDE=stride, BLOCK=block, grid=(rows,))
    offsets = prefetch_offsets(kernel.asm["llir"])
    assert 4 * stride in offsets and 2 * 4 * stride in offsets, sorted(offsets)
    out = np.full_like(x, np.nan)
    _softmax_padded[(rows,)](out, x, cols, STRIDE=stride, BLOCK=block)
    np.testing.assert_allclose(out[:, :cols], _softmax_ref(x[:, :cols]), rtol=1e-5, atol=1e-9)
    assert np.isnan(out[:, cols:]).all()


@pytest.mark.skipif(not _X86, reason="x86 non-temporal stores")
def test_streaming_stores_fence_once_per_worker(rng: np.random.Generator) -> None:
    n = 4099
    x = rng.standard_normal(n).astype(np.float32)
    cnt = np.zeros(1, np.int32)
    for count in (0, 1):
        out = np.full(n, np.nan, np.float32)
        kernel = _hinted_copy.warmup(x, out, cnt, n, BLOCK=128, COUNT=count, grid=(33,))
        program = _function(kernel.asm["asm"], "tritium.program")
        assert "vmovntps" in program
        if count:  # an atomic may publish the stores to another program: fence in the program
            assert "sfence" in program
        else:  # one fence at the end of each worker (the shared grid launcher's)
            assert "sfence" not in program and fenced(kernel)
        _hinted_copy[(triton.cdiv(n, 128),)](x, out, cnt, n, BLOCK=128, COUNT=count)
        np.testing.assert_array_equal(out, x - np.float32(1))
    assert cnt[0] == triton.cdiv(n, 128)


def test_chunk_lanes() -> None:
    # two AVX2 registers (one AVX-512 register) per chunk, except with dots and f64 tiles
    x = np.ones((4, 256), np.float32)
    meta = _softmax_rows.warmup(x, x, 256, 256, BLOCK=256, grid=(4,)).metadata
    assert meta["vector_width"] == 16
    d = np.ones(64, np.float64)
    assert _f64_rows.warmup(d, d, N=16, grid=(4,)).metadata["vector_width"] == _REG_LANES
    a = np.ones((16, 16), np.float32)
    assert _dot_tile.warmup(a, a, a, N=16, grid=(1,)).metadata["vector_width"] == _REG_LANES


def test_shared_launcher_fences_only_when_asked() -> None:
    # the sfence of a worker is behind the entry's _FENCE flag, and only on x86
    x86 = launcher.grid_launch_ir("x86_64-unknown-linux-gnu")
    assert "llvm.x86.sse.sfence" in x86
    assert "llvm.x86.sse.sfence" not in launcher.grid_launch_ir("aarch64-unknown-linux-gnu")
