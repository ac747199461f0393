"""Large host outputs from a process-wide cache of blocks, as torch's CUDA caching allocator
keeps device memory.

A function that returns a new large array (the tutorials' layer norm, RMSNorm and softmax
functions) would otherwise get fresh memory on every call: glibc maps a block of 32 MiB or more
afresh, and the OS maps and zeroes each of its pages at the first store, ~5.5 ms of a 64 MiB
output at one thread on a 2-core EPYC (Zen 4) against ~2.7 ms to write a reused one; smaller
blocks from glibc's heap may be given back to the OS and faulted in again (``CACHED_FROM``).
Here a block goes back to a cache when the last array viewing it dies, and the next request of
its size takes it again.

How a block knows it is free: the array handed out is a view of a small ``_Lease`` object
exposing ``__array_interface__`` (its ``base``); every view, slice, memoryview or
``torch.from_numpy`` tensor of the array keeps the array, so the lease, alive, and the lease's
finalizer returns the block only when nothing views it any more. A raw pointer taken from the
array (``ctypes.data``) is not tracked, as with any NumPy array that is freed.

Cached blocks start on a 2 MiB boundary: NumPy asks for transparent huge pages on blocks of
4 MiB or more, so all of the block is covered (from ``malloc`` a block starts 16 bytes past a
4 KiB page, and its partial 2 MiB ends are faulted in 4 KiB pages). Their contents are
undefined, as ``np.empty``'s: a cached block holds what its last user wrote. The cache keeps at
most ``TRITIUM_HOST_CACHE_BYTES`` of free blocks (``tritium.knobs.host_cache_bytes``; 0 turns it
off), and :func:`empty_cache` releases them all.
"""

from __future__ import annotations

import math
import threading
from typing import Any, NoReturn

import numpy as np

from tritium import knobs

__all__ = ["cached_bytes", "empty", "empty_cache"]

# glibc's malloc maps a block of 32 MiB or more (its largest dynamic mmap threshold on 64-bit
# systems) afresh on every call, so its pages are new each time; a smaller block comes from its
# heap, whose top it gives back to the OS once enough is free there: with the tutorial 05
# functions' 16 MiB outputs (1024x4096 fp32), 1500-2000 page faults and 2.2x the time of a
# forward and backward at one thread, in 8 of 9 processes of one script (how often depends on
# what the process allocated before). At 8 MiB none was measured.
# Without the cache a block is aligned only from 32 MiB: 2 MiB of padding would lift one just
# below over glibc's threshold, to be mapped and faulted anew on every call (tutorial 02's
# 4096x2047 softmax output, 31.98 MiB, took 5.3-7.7 ms a call instead of 3.3-3.6 that way).
CACHED_FROM = 1 << 24
ALIGNED_FROM = 1 << 25
_HUGE_PAGE = 1 << 21

# The free blocks, oldest first: (size, NumPy block holding it, its aligned address). A request
# takes the newest block of its size (rounded up to 2 MiB); eviction drops the oldest.
_free: list[tuple[int, np.ndarray, int]] = []
_free_bytes = 0
# Reentrant: a garbage collection inside a locked section may finalize a lease, which locks.
_lock = threading.RLock()


class _Lease:
    """One use of a block: the ``base`` of the array handed out. Its finalizer gives the block
    back to the cache when the last array viewing it dies."""

    __slots__ = ("__array_interface__", "_address", "_raw", "_size")

    def __init__(self, size: int, raw: np.ndarray, address: int, nbytes: int) -> None:
        self._size, self._raw, self._address = size, raw, address
        self.__array_interface__ = {
            "data": (address, False),
            "shape": (nbytes,),
            "typestr": "|u1",
            "version": 3,
        }

    def __reduce__(self) -> NoReturn:
        # a copy's finalizer would give the block back while the original's arrays view it
        raise TypeError("a host cache lease cannot be copied or pickled: copy its array")

    def __del__(self) -> None:
        try:
            _give_back(self._size, self._raw, self._address)
        except Exception:  # interpreter shutdown: the module may be half torn down
            pass


def empty(shape: tuple[int, ...] | int, dtype: Any, cached: bool = True) -> np.ndarray:
    """``np.empty(shape, dtype)``; from 16 MiB on, a block starting on a 2 MiB boundary taken
    from the cache (a new one if none of its size is free); ``cached=False`` or a cap of 0: a
    new block, aligned from 32 MiB on.

    The contents are undefined, as ``np.empty``'s.
    """
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < CACHED_FROM or dtype.hasobject:  # NumPy keeps objects only in its own memory
        return np.empty(shape, dtype)
    size = -(-nbytes // _HUGE_PAGE) * _HUGE_PAGE
    if cached and knobs.host_cache_bytes() > 0:
        raw, address = _take(size)
        block: np.ndarray = np.asarray(_Lease(size, raw, address, nbytes))
    elif nbytes < ALIGNED_FROM:
        return np.empty(shape, dtype)
    else:
        raw = np.empty(size + _HUGE_PAGE, np.uint8)
        start = -raw.ctypes.data % _HUGE_PAGE
        block = raw[start : start + nbytes]
    out: np.ndarray = block.view(dtype).reshape(shape)
    return out


def _take(size: int) -> tuple[np.ndarray, int]:
    """The newest free block of ``size`` bytes, or a new one: (its NumPy block, the aligned
    address)."""
    global _free_bytes
    with _lock:
        for i in range(len(_free) - 1, -1, -1):
            if _free[i][0] == size:
                _, raw, address = _free.pop(i)
                _free_bytes -= size
                return raw, address
    raw = np.empty(size + _HUGE_PAGE, np.uint8)
    return raw, raw.ctypes.data + (-raw.ctypes.data % _HUGE_PAGE)


def _give_back(size: int, raw: np.ndarray, address: int) -> None:
    """Keep a block nothing views any more, dropping the oldest free ones beyond the cap."""
    global _free_bytes
    cap = knobs.host_cache_bytes()
    if size > cap:
        return  # freed at once: keeping it would evict every other block, then itself
    with _lock:
        _free.append((size, raw, address))
        _free_bytes += size
        while _free and _free_bytes > cap:
            _free_bytes -= _free.pop(0)[0]


def empty_cache() -> None:
    """Release every free block of the cache (the blocks arrays still view stay theirs and
    come back when those die), as ``torch.cuda.empty_cache`` does for device memory."""
    global _free_bytes
    with _lock:
        _free.clear()
        _free_bytes = 0


def cached_bytes() -> int:
    """Bytes of free blocks the cache holds now (sizes rounded up to 2 MiB; each block also
    holds 2 MiB for its alignment, which neither this nor the cap counts)."""
    return _free_bytes
