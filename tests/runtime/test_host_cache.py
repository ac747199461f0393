"""The cache of large host blocks (``tritium.runtime.host_cache``): a block comes back only when
nothing views it, its size and alignment hold, the cap and ``empty_cache`` bound it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from tritium.runtime import host_cache

MIB = 1 << 20
SHAPE = (4096, 4096)  # 64 MiB of fp32


@pytest.fixture(autouse=True)
def _empty_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("TRITIUM_HOST_CACHE_BYTES", raising=False)
    host_cache.empty_cache()
    yield
    host_cache.empty_cache()


def test_a_block_comes_back_when_its_array_dies() -> None:
    a = host_cache.empty(SHAPE, np.float32)
    address = a.ctypes.data
    assert address % (2 * MIB) == 0
    assert a.shape == SHAPE and a.dtype == np.float32 and a.flags.c_contiguous
    assert a.flags.writeable
    assert host_cache.cached_bytes() == 0
    del a
    assert host_cache.cached_bytes() == 64 * MIB
    b = host_cache.empty(SHAPE, np.float32)
    assert b.ctypes.data == address
    assert host_cache.cached_bytes() == 0


def _views(a: np.ndarray) -> dict[str, object]:
    views: dict[str, object] = {
        "slice": a[1:, ::2],
        "reshape": a.reshape(-1),
        "memoryview": memoryview(a),
        "frombuffer": np.frombuffer(a, np.uint8),
    }
    try:
        import torch
    except ImportError:
        return views
    views["torch"] = torch.from_numpy(a)[7:]
    return views


@pytest.mark.parametrize("holder", ["slice", "reshape", "memoryview", "frombuffer", "torch"])
def test_a_viewed_block_is_never_handed_out(holder: str, rng: np.random.Generator) -> None:
    a = host_cache.empty(SHAPE, np.float32)
    views = _views(a)
    if holder not in views:
        pytest.skip("torch is not installed")
    view = views[holder]
    del views
    a[...] = rng.standard_normal(SHAPE).astype(np.float32)
    before = np.asarray(view).reshape(-1)[:4096].copy()
    address = a.ctypes.data
    del a
    assert host_cache.cached_bytes() == 0
    b = host_cache.empty(SHAPE, np.float32)
    assert b.ctypes.data != address
    b.fill(np.nan)
    np.testing.assert_array_equal(np.asarray(view).reshape(-1)[:4096], before)
    del view
    assert host_cache.cached_bytes() == 64 * MIB
    c = host_cache.empty(SHAPE, np.float32)
    assert c.ctypes.data == address


def test_sizes_round_to_2_mib_and_a_larger_request_gets_a_larger_block() -> None:
    a = host_cache.empty((17 * MIB,), np.uint8)
    address = a.ctypes.data
    del a
    assert host_cache.cached_bytes() == 18 * MIB
    b = host_cache.empty((18 * MIB // 4,), np.float32)  # the same 18 MiB block
    assert b.ctypes.data == address
    del b
    c = host_cache.empty((19 * MIB + 1,), np.uint8)  # needs 20 MiB: a new block
    assert c.ctypes.data != address
    c[-1] = 7
    assert c[-1] == 7 and host_cache.cached_bytes() == 18 * MIB


def test_dtypes_of_other_libraries() -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    a = host_cache.empty((4100, 2051), ml_dtypes.bfloat16)
    assert a.dtype == ml_dtypes.bfloat16 and a.shape == (4100, 2051)
    a[-1, -1] = 1.5
    assert float(a[-1, -1]) == 1.5


def test_small_blocks_are_plain_arrays() -> None:
    small = host_cache.empty((1024, 1024), np.float32)  # 4 MiB
    assert small.base is None
    del small
    assert host_cache.cached_bytes() == 0


def test_the_cap_evicts_the_oldest_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITIUM_HOST_CACHE_BYTES", "100M")
    a, b = host_cache.empty(SHAPE, np.float32), host_cache.empty(SHAPE, np.float32)
    newer = b.ctypes.data
    del a
    del b  # 128 MiB free over a 100 MiB cap: a's block goes
    assert host_cache.cached_bytes() == 64 * MIB
    assert host_cache.empty(SHAPE, np.float32).ctypes.data == newer


def test_a_block_over_the_cap_is_freed_without_evicting_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRITIUM_HOST_CACHE_BYTES", "200M")
    a = host_cache.empty(SHAPE, np.float32)
    big = host_cache.empty((300 * MIB,), np.uint8)
    del a
    del big  # 300 MiB alone is over the cap: it goes, the 64 MiB block stays
    assert host_cache.cached_bytes() == 64 * MIB


def test_a_lease_cannot_be_copied_or_pickled() -> None:
    # a copy's finalizer would hand the block out again while the array still views it
    import copy
    import pickle

    a = host_cache.empty(SHAPE, np.float32)
    lease = a.base.base
    for dup in (copy.copy, copy.deepcopy, lambda x: pickle.loads(pickle.dumps(x))):
        with pytest.raises(TypeError, match="cannot be copied"):
            dup(lease)
    del lease
    assert not np.shares_memory(pickle.loads(pickle.dumps(a)), a)  # the array pickles


def test_int_shapes_and_object_dtypes_are_accepted() -> None:
    a = host_cache.empty(5 * (1 << 22), np.float32)  # 20 MiB
    assert a.shape == (5 * (1 << 22),) and a.ctypes.data % (2 * MIB) == 0
    objs = host_cache.empty((3 * (1 << 21),), object)  # 48 MiB of pointers: NumPy's own
    assert objs.dtype == object and objs.base is None


def test_a_cap_of_zero_turns_the_cache_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITIUM_HOST_CACHE_BYTES", "0")
    a = host_cache.empty(SHAPE, np.float32)
    assert a.ctypes.data % (2 * MIB) == 0  # still aligned from 32 MiB on
    del a
    assert host_cache.cached_bytes() == 0
    # below 32 MiB a plain array: 2 MiB of padding would lift it over glibc's mmap threshold
    assert host_cache.empty((8191, 1024), np.float32).base is None


def test_uncached_blocks_are_new(monkeypatch: pytest.MonkeyPatch) -> None:
    a = host_cache.empty(SHAPE, np.float32)
    del a
    b = host_cache.empty(SHAPE, np.float32, cached=False)
    assert b.ctypes.data % (2 * MIB) == 0
    assert host_cache.cached_bytes() == 64 * MIB  # the free block stayed in the cache
    del b
    assert host_cache.cached_bytes() == 64 * MIB


def test_empty_cache_releases_free_blocks_only() -> None:
    a, b = host_cache.empty(SHAPE, np.float32), host_cache.empty(SHAPE, np.float32)
    del a
    host_cache.empty_cache()
    assert host_cache.cached_bytes() == 0
    del b  # still viewed while the cache was emptied: it comes back now
    assert host_cache.cached_bytes() == 64 * MIB


def test_threads_never_share_a_live_block() -> None:
    # each thread fills its block with its own number and checks it after the others ran
    errors: list[str] = []
    start = threading.Barrier(4)

    def work(k: int) -> None:
        start.wait()
        for i in range(12):
            a = host_cache.empty((1024 * (4 + i % 3), 4096), np.float32)
            a.fill(k)
            threading.Event().wait(0.001)
            if not (a == k).all():
                errors.append(f"thread {k} round {i}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert 0 < host_cache.cached_bytes() <= 1 << 30


def test_benchmark_checks_poison_the_functions_outputs(rng: np.random.Generator) -> None:
    # benchmarks/run.py checks a row's results with the tutorials' outputs poisoned: a cached
    # block holding an earlier call's correct result must not pass for a kernel that wrote nothing
    from benchmarks import run
    from tutorials import _host

    stale = _host.empty(SHAPE, np.float32, like=np.zeros(1))
    stale[...] = rng.standard_normal(SHAPE)
    del stale

    class Row:
        @staticmethod
        def check() -> float:
            out = _host.empty(SHAPE, np.float32, like=np.zeros(1))  # a function that wrote nothing
            return float(np.isnan(out).mean())

    assert run.poisoned_check(Row) == 1.0
    assert _host.POISON is False
