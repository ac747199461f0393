"""Two stride-2 stores that fill a contiguous range (Inductor's rotary kernel: ``out_ptr0 +
2*x``, ``out_ptr1 + 2*x`` with ``out_ptr1`` one element past ``out_ptr0``), which the CPU
backend interleaves with shuffles and stores as one vector (``stride_pairs.py``), with a
run-time check of the two bases. Compiled and interpreted against NumPy, fresh random
inputs, poisoned outputs, odd sizes with masks, and pointers that alias in every other way
(separate buffers, the same pointer, overlapping shifts), where the original order of the
two stores must decide."""

from __future__ import annotations

import ctypes
import mmap
import re
from collections.abc import Callable, Iterator

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl


@triton.jit
def _inductor_rotary(in_ptr0, in_ptr1, in_ptr2, out_ptr0, out_ptr1, xnumel, XBLOCK: tl.constexpr):
    # as Inductor writes it for ``torch.stack((q1*c - q2*s, q1*s + q2*c), -1).flatten(-2)``
    xoffset = tl.program_id(0) * XBLOCK
    xindex = xoffset + tl.arange(0, XBLOCK)[:]
    xmask = xindex < xnumel
    x2 = xindex
    x0 = xindex % 96
    tmp0 = tl.load(in_ptr0 + (2 * x2), xmask, eviction_policy="evict_last")
    tmp1 = tl.load(in_ptr1 + (x0), xmask, eviction_policy="evict_last")
    tmp3 = tl.load(in_ptr0 + (1 + 2 * x2), xmask, eviction_policy="evict_last")
    tmp4 = tl.load(in_ptr2 + (x0), xmask, eviction_policy="evict_last")
    tmp6 = tmp0 * tmp1 - tmp3 * tmp4
    tmp9 = tmp0 * tmp4 + tmp3 * tmp1
    tl.store(out_ptr0 + (2 * x2), tmp6, xmask)
    tl.store(out_ptr1 + (2 * x2), tmp9, xmask)


@triton.jit
def _unmasked(in_ptr, out_ptr0, out_ptr1, XBLOCK: tl.constexpr):
    x = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)
    v = tl.load(in_ptr + x)
    tl.store(out_ptr0 + 2 * x, v * 2.0)
    tl.store(out_ptr1 + 2 * x, v - 1.0)


@triton.jit
def _one_base(in_ptr, out_ptr, n, ODD_FIRST: tl.constexpr, XBLOCK: tl.constexpr):
    x = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)
    m = x < n
    v = tl.load(in_ptr + x, m)
    off = x * 2
    if ODD_FIRST:
        tl.store(out_ptr + (off + 1), v + 3.0, m)
        tl.store(out_ptr + off, v * v, m)
    else:
        tl.store(out_ptr + off, v * v, m)
        tl.store(out_ptr + (off + 1), v + 3.0, m)


@triton.jit
def _load_between(in_ptr, out_ptr0, out_ptr1, XBLOCK: tl.constexpr):
    # the load reads what the first store wrote: the stores must stay apart
    x = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)
    tl.store(out_ptr0 + 2 * x, tl.load(in_ptr + x))
    w = tl.load(out_ptr0 + 2 * x)
    tl.store(out_ptr1 + 2 * x, w + 1.0)


@triton.jit
def _odd_offsets(in_ptr, out_ptr0, out_ptr1, XBLOCK: tl.constexpr):
    # offsets 2x+1 are odd: the disjointness argument does not hold, so no pairing
    x = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)
    v = tl.load(in_ptr + x)
    tl.store(out_ptr0 + (2 * x + 1), v)
    tl.store(out_ptr1 + (2 * x + 1), v * 2.0)


def _interleaves(llir: str) -> bool:
    """Whether the LLVM IR holds an interleaving shuffle (lanes 0, w, 1, w+1, ...)."""
    for m in re.finditer(r"<(\d+) x i32> <i32 0, i32 (\d+), i32 1, i32 (\d+),", llir):
        n, w, w1 = (int(g) for g in m.groups())
        if n == 2 * w and w1 == w + 1:
            return True
    return False


def _write(buf: np.ndarray, start: int, values: np.ndarray) -> None:
    buf[start : start + 2 * len(values) : 2] = values


# where out_ptr1 points, relative to out_ptr0 (elements): adjacent views (the fast path),
# the same pointer, overlapping shifts, a separate buffer (None)
_SHIFTS = [1, 0, 3, -1, -3, None]


# An even shift makes the two stores write the same elements, where the second must win.
# Between programs that is a race (Triton orders no two programs' stores), so these run as
# one program: a chunk-by-chunk pairing once let a later chunk of the first store overwrite
# an earlier chunk of the second.
_ONE_PROGRAM = [(s, n, 1024) for s in (2, -2, 4) for n in (1001, 1024)]


@pytest.mark.parametrize(
    "shift, n, block",
    [(s, n, b) for s in _SHIFTS for n, b in [(96 * 8, 256), (1001, 128), (37, 64)]] + _ONE_PROGRAM,
)
def test_inductor_rotary(rng, mode, shift, n, block) -> None:
    q = rng.standard_normal(2 * n).astype(np.float32)
    ang = rng.random(96) * 6.3
    cos, sin = np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)
    ev, od = q[0::2].astype(np.float64), q[1::2].astype(np.float64)
    c, s = np.resize(cos, n).astype(np.float64), np.resize(sin, n).astype(np.float64)
    a, b = ev * c - od * s, ev * s + od * c
    pad = 4
    buf = np.full(2 * n + 2 * pad, np.nan, np.float32)
    ref = np.full(buf.shape, np.nan)
    _write(ref, pad, a)  # the first store, then the second: the second wins where they meet
    if shift is None:
        other = np.full(2 * n, np.nan, np.float32)
        out1, ref1 = other, np.full(2 * n, np.nan)
        _write(ref1, 0, b)
    else:
        out1, ref1 = buf[pad + shift :], None
        _write(ref, pad + shift, b)
    grid = (triton.cdiv(n, block),)
    _inductor_rotary[grid](q, cos, sin, buf[pad:], out1, n, XBLOCK=block)
    np.testing.assert_allclose(buf, ref, rtol=1e-5, atol=1e-5)
    if ref1 is not None:
        np.testing.assert_allclose(out1, ref1, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32])
def test_unmasked_dtypes(rng, mode, dtype) -> None:
    n, block = 512, 128
    x = (rng.standard_normal(n) * 100).astype(dtype)
    poison = np.nan if dtype != np.int32 else -(2**31)
    out = np.full(2 * n, poison, dtype)
    _unmasked[(n // block,)](x, out, out[1:], XBLOCK=block)
    ref = np.empty(2 * n)
    ref[0::2] = x.astype(np.float64) * 2.0
    ref[1::2] = x.astype(np.float64) - 1.0
    tol = 2e-3 if dtype == np.float16 else 1e-6
    np.testing.assert_allclose(out.astype(np.float64), ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("odd_first", [False, True])
@pytest.mark.parametrize("n, block", [(256, 64), (77, 32)])
def test_one_base(rng, mode, odd_first, n, block) -> None:
    x = rng.standard_normal(n).astype(np.float32)
    out = np.full(2 * n + 3, np.nan, np.float32)
    _one_base[(triton.cdiv(n, block),)](x, out, n, ODD_FIRST=odd_first, XBLOCK=block)
    ref = np.full(2 * n + 3, np.nan)
    ref[0 : 2 * n : 2] = x.astype(np.float64) ** 2
    ref[1 : 2 * n : 2] = x.astype(np.float64) + 3.0
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)


def _llir(kernel, *args, **kw) -> str:
    return kernel[(1,)](*args, **kw).asm["llir"]


def test_pairs_in_llvm_ir(rng, monkeypatch) -> None:
    """The pairs are stored through an interleaving shuffle; the kernels that must not pair
    are not (and all compute what the program says)."""
    monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    n = 64
    x = rng.standard_normal(n).astype(np.float32)
    q = rng.standard_normal(2 * n).astype(np.float32)
    cs = rng.standard_normal(96).astype(np.float32)
    out = np.full(2 * n + 2, np.nan, np.float32)
    assert _interleaves(_llir(_inductor_rotary, q, cs, cs, out, out[1:], n, XBLOCK=n))
    assert _interleaves(_llir(_unmasked, x, out, out[1:], XBLOCK=n))
    for odd_first in (False, True):
        assert _interleaves(_llir(_one_base, x, out, n, ODD_FIRST=odd_first, XBLOCK=n))

    out = np.full(2 * n + 2, np.nan, np.float32)
    assert not _interleaves(_llir(_load_between, x, out, out[1:], XBLOCK=n))
    ref = np.full(2 * n + 2, np.nan)
    ref[0 : 2 * n : 2] = x
    ref[1 : 2 * n + 1 : 2] = x.astype(np.float64) + 1.0
    np.testing.assert_allclose(out, ref, rtol=1e-6)

    out = np.full(2 * n + 2, np.nan, np.float32)
    assert not _interleaves(_llir(_odd_offsets, x, out, out[1:], XBLOCK=n))
    ref = np.full(2 * n + 2, np.nan)
    ref[1 : 2 * n + 1 : 2] = x
    ref[2 : 2 * n + 2 : 2] = x.astype(np.float64) * 2.0
    np.testing.assert_allclose(out, ref, rtol=1e-6)


@triton.jit
def _load_pair(in_ptr, out_ptr, n, ODD_FIRST: tl.constexpr, XBLOCK: tl.constexpr):
    # Inductor's ``q[..., ::2]``, ``q[..., 1::2]``: the two loads share two contiguous vectors
    x = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)
    m = x < n
    if ODD_FIRST:
        odd = tl.load(in_ptr + (1 + 2 * x), m)
        even = tl.load(in_ptr + (2 * x), m)
    else:
        even = tl.load(in_ptr + (2 * x), m)
        odd = tl.load(in_ptr + (1 + 2 * x), m)
    tl.store(out_ptr + x, even * 3.0 - odd, m)


@pytest.fixture
def fenced() -> Iterator[Callable[[int], np.ndarray]]:
    """``make(nbytes)``: a writable uint8 array between two inaccessible pages, ending at the
    end of its page (an array starting at a page start is made by asking for a whole page)."""
    page = mmap.PAGESIZE
    mm = mmap.mmap(-1, 3 * page)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(mm))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    for at in (addr, addr + 2 * page):
        assert libc.mprotect(at, page, 0) == 0  # PROT_NONE
    views: list[np.ndarray] = []

    def make(nbytes: int) -> np.ndarray:
        view = np.frombuffer(mm, np.uint8, count=nbytes, offset=2 * page - nbytes)
        views.append(view)
        return view

    yield make
    del views[:]
    for at in (addr, addr + 2 * page):
        assert libc.mprotect(at, page, 3) == 0  # PROT_READ | PROT_WRITE, to unmap


@pytest.mark.parametrize("odd_first", [False, True])
@pytest.mark.parametrize("n, block", [(512, 128), (509, 64), (37, 16)])
def test_load_pairs_stay_inside(rng, mode, fenced, odd_first, n, block) -> None:
    """The pair's loads read the range the program reads, nothing before its first element
    (the page before is unmapped when ``2n`` floats fill a page) nor after its last."""
    whole = 2 * n == mmap.PAGESIZE // 4
    x = fenced(8 * n).view(np.float32)
    x[:] = rng.standard_normal(2 * n)
    assert whole == (n == 512)
    out = np.full(n, np.nan, np.float32)
    _load_pair[(triton.cdiv(n, block),)](x, out, n, ODD_FIRST=odd_first, XBLOCK=block)
    ref = x[0::2].astype(np.float64) * 3.0 - x[1::2]
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)


@triton.jit
def _pairs_2d(x_ptr, out_ptr0, out_ptr1, M, N, BM: tl.constexpr, BN: tl.constexpr):
    # out is [M, 2N] (out_ptr1 one element past out_ptr0): out[m, 2n] = x, out[m, 2n+1] = -x
    rows = tl.program_id(0) * BM + tl.arange(0, BM)[:, None]
    cols = tl.arange(0, BN)[None, :]
    mask = (rows < M) & (cols < N)
    x = tl.load(x_ptr + rows * N + cols, mask)
    off = 2 * (rows * N + cols)
    tl.store(out_ptr0 + off, x, mask)
    tl.store(out_ptr1 + off, -x * 0.5, mask)


@pytest.mark.parametrize("shift", [1, 0, None])
@pytest.mark.parametrize("M, N, BM, BN", [(8, 64, 4, 64), (7, 45, 4, 64)])
def test_two_dimensional(rng, mode, shift, M, N, BM, BN) -> None:
    x = rng.standard_normal((M, N)).astype(np.float32)
    buf = np.full(2 * M * N + 2, np.nan, np.float32)
    ref = np.full(buf.shape, np.nan)
    ref[0 : 2 * M * N : 2] = x.ravel()
    second = np.full(2 * M * N, np.nan, np.float32) if shift is None else buf[shift:]
    if shift is not None:
        ref[shift : shift + 2 * M * N : 2] = -0.5 * x.ravel()
    _pairs_2d[(triton.cdiv(M, BM),)](x, buf, second, M, N, BM=BM, BN=BN)
    np.testing.assert_allclose(buf, ref, rtol=1e-6)
    if shift is None:
        ref2 = np.full(2 * M * N, np.nan)
        ref2[0::2] = -0.5 * x.ravel()
        np.testing.assert_allclose(second, ref2, rtol=1e-6)
