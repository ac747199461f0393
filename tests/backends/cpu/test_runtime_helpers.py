"""The shared run-time helpers kernels call (``backends/cpu/helpers.py``): built once, valid
IR for every target, called by the kernels instead of inlined copies."""

from __future__ import annotations

import ctypes
from typing import Any

import llvmlite.binding as llvm
import numpy as np
import pytest

import tritium as triton
from tritium.backends.cpu import helpers, scratch, target
from tritium.backends.cpu.dot_apanels import SLOTS
from tritium.backends.cpu.target import initialize_llvm


@pytest.mark.parametrize("triple", ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"])
def test_helpers_ir_verifies(triple: str) -> None:
    initialize_llvm()
    mod = llvm.parse_assembly(helpers.helpers_ir(triple))
    mod.verify()
    for name in helpers.NAMES:
        assert name.startswith(target.HELPER_PREFIX)
        assert not mod.get_function(name).is_declaration


def test_a_panels_call_the_shared_lookup(rng: np.random.Generator) -> None:
    """Tutorial 03's ``a`` panels (fp16 ``a``, converted once per row of programs) find their
    slot through the shared helpers: the kernel has no slot loop of its own, and a grouped
    launch over more rows of programs than slots is still exact."""
    from tutorials import matmul

    m, n, k = 160, 96, 128
    a = rng.standard_normal((m, k)).astype(np.float16)
    b = rng.standard_normal((k, n)).astype(np.float16)
    c = np.full((m, n), np.nan, np.float16)
    meta = {"BLOCK_SIZE_M": 16, "BLOCK_SIZE_N": 32, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8}
    grid = (triton.cdiv(m, 16) * triton.cdiv(n, 32),)
    args = (a, b, c, m, n, k, k, 1, n, 1, n, 1)
    compiled = matmul.matmul_kernel.fn.warmup(*args, ACTIVATION="", **meta, grid=grid)
    llir = compiled.asm["llir"]
    assert helpers.APANEL_FIND in llir and helpers.APANEL_REGION in llir
    assert "apanel.find" not in llir
    matmul.matmul_kernel.fn[grid](*args, ACTIVATION="", **meta)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c.astype(np.float64), ref, rtol=2e-2, atol=2e-2 * np.sqrt(k))


def _fn(name: str, restype: Any, *argtypes: Any) -> Any:
    return ctypes.CFUNCTYPE(restype, *argtypes)(target.helper_address(name))


def test_panel_entry_hits_appends_and_refuses() -> None:
    """``PANEL_ENTRY`` on a panel with room for 4 entries: step 0 appends (the entry's
    address), the same step with the same lead hits (address + 1), another lead misses, a
    skipped step, a step past ``cap`` or a partial mask get 0."""
    entry = _fn(helpers.PANEL_ENTRY, ctypes.c_uint64, *([ctypes.c_uint64] * 6), ctypes.c_bool)
    cap, first_off, tile = 4, 64, 128
    panel = np.zeros(1024, np.uint64)  # valid at 0, leads at 64, entries after them
    base = int(panel.ctypes.data)
    base += -base % 64
    view = np.frombuffer((ctypes.c_uint64 * 96).from_address(base), np.uint64)
    view[0] = 0
    e0 = base + first_off + 64  # after the 4 leads (32 bytes, to 64)
    assert entry(base, 0, 1000, cap, first_off, tile, True) == e0
    assert view[0] == 1 and view[8] == 1000
    assert entry(base, 0, 1000, cap, first_off, tile, True) == e0 + 1
    assert entry(base, 0, 1001, cap, first_off, tile, True) == 0
    assert entry(base, 2, 3000, cap, first_off, tile, True) == 0  # step 1 not filled yet
    assert entry(base, 1, 2000, cap, first_off, tile, False) == 0  # mask not all set
    assert entry(base, 1, 2000, cap, first_off, tile, True) == e0 + tile
    assert view[0] == 2
    assert entry(base, 4, 5000, cap, first_off, tile, True) == 0  # past cap
    assert view[0] == 2


def test_panel_match_keeps_and_streaks() -> None:
    """``PANEL_MATCH`` on ``dot_panels``' block: a new key is taken, the same key (step and
    whole tile) matches, a key differing in its last address or its step does not; after two
    misses in a row the block is not taken again until the 16th."""
    region_of = _fn(helpers.PANEL_REGION, ctypes.c_void_p, *([ctypes.c_uint64] * 4))
    match = _fn(helpers.PANEL_MATCH, ctypes.c_bool, *([ctypes.c_uint64] * 3))
    numel = 16
    holder = (ctypes.c_uint64 * (3 * scratch.SLOTS))()  # a worker's area: its slot 0
    region = region_of(ctypes.addressof(holder), 8, numel, 64)
    try:
        assert region and holder[0] == region and region % 64 == 0
        assert region_of(ctypes.addressof(holder), 8, numel, 64) == region  # made once
        staged = np.frombuffer((ctypes.c_uint64 * numel).from_address(region + 64), np.uint64)

        def ask(key: np.ndarray, step: int) -> bool:
            staged[:] = key
            return bool(match(region, step, numel))

        key = np.arange(100, 100 + numel, dtype=np.uint64) * 8
        assert ask(key, 256)  # a fresh block takes the first key
        assert ask(key, 256)  # the same key
        other = key.copy()
        other[-1] += 8
        assert ask(other, 256)  # one miss: taken
        assert ask(other, 256)
        assert ask(key, 256)  # taken back
        # each a miss (another step): with the one before, the 2nd to 15th in a row are not
        # kept, the 16th is
        results = [ask(key if n % 2 else other, 128) for n in range(15)]
        assert not any(results[:14]) and results[14]
        assert ask(other, 128)  # the key taken at the 16th matches
    finally:
        ctypes.CDLL(None).free(ctypes.c_void_p(holder[0]))


def _apanel_region(count: int, numel: int) -> tuple[Any, int, Any]:
    """A fresh ``APANEL_REGION`` of ``count`` slots (4 entries of 64 bytes each) for keys of
    ``numel`` words: (the worker's area holding it, its address, ``ask(n, step)``: the slot
    ``APANEL_FIND`` gives key ``n``)."""
    region_of = _fn(helpers.APANEL_REGION, ctypes.c_void_p, *([ctypes.c_uint64] * 5))
    find = _fn(helpers.APANEL_FIND, ctypes.c_uint64, *([ctypes.c_uint64] * 3))
    holder = (ctypes.c_uint64 * (3 * scratch.SLOTS))()  # a worker's area: its slot 0
    region = region_of(ctypes.addressof(holder), 4, numel, 64, count)
    assert region
    staged = np.frombuffer((ctypes.c_uint64 * numel).from_address(region + 64), np.uint64)

    def ask(n: int, step: int = 64) -> int:
        staged[:] = np.arange(numel, dtype=np.uint64) * 4 + 4096 * n
        staged[-1] += n % 3  # keys that differ only past their lead, too
        return int(find(region, int(staged[0]), step))

    return holder, region, ask


@pytest.mark.parametrize("count", [SLOTS, 3])  # a's slots; b's follow a budget (dot_kloop)
def test_apanel_find_least_recently_used(count: int) -> None:
    """``APANEL_FIND``: a key is found in the slot that took it; a new key takes an empty
    slot, else the least recently used one; keys differ by their step or any address."""
    holder, _, ask = _apanel_region(count, 8)
    try:
        slots = [ask(n) for n in range(count)]
        assert len(set(slots)) == count
        assert [ask(n) for n in range(count)] == slots  # all still held
        assert ask(0) == slots[0]  # key 0 used last now: key 1 is the least recent
        assert ask(0, step=128) == slots[1]  # a new key (its step) takes key 1's slot
        assert ask(count + 5) == slots[2 % count]  # the next new key: the next least recent
        assert ask(0) == slots[0] and ask(0, step=128) == slots[1]
    finally:
        ctypes.CDLL(None).free(ctypes.c_void_p(holder[0]))


@pytest.mark.parametrize("count", [SLOTS, 15])
def test_apanel_find_keeps_keys_of_a_cycle(count: int) -> None:
    """Keys asked in a cycle longer than the slots (tutorial 03's column panels at 2048^3:
    32 keys, each asked by a group of programs in a row, 15 slots): from the second cycle on,
    a key let go and asked again takes the slot taken last, so ``count - 1`` keys are found
    with their entries in every later cycle (least-recently-used alone would find none), and
    the programs of a group after the first find their key."""
    holder, _, ask = _apanel_region(count, 8)
    keys, group = 2 * count + 2, 3

    def cycle() -> int:
        """Keys whose first program found them filled (the programs fill: ``valid`` 1)."""
        kept = 0
        for n in range(keys):
            slot = ask(n)
            valid = ctypes.c_int64.from_address(slot)  # the slot's ``valid``
            kept += valid.value == 1
            valid.value = 1
            assert all(ask(n) == slot for _ in range(group - 1))
        return kept

    try:
        assert cycle() == 0
        assert [cycle() for _ in range(3)] == [count - 1] * 3
        # a new set of keys (another operand, a batch): the least recently used slots go
        fresh = [ask(1000 + n) for n in range(count)]
        assert len(set(fresh)) == count
    finally:
        ctypes.CDLL(None).free(ctypes.c_void_p(holder[0]))


@pytest.mark.parametrize("cap", [4, 40])
def test_apanel_region_of_a_megabyte_or_more_is_huge_page_aligned(cap: int) -> None:
    """A scratch block of 1 MiB or more (``scratch._HUGE_MIN``) starts on a 2 MiB boundary on
    Linux (so that it can be backed by transparent huge pages), a smaller one on 64 bytes;
    either is usable to its last byte."""
    import sys

    region_of = _fn(helpers.APANEL_REGION, ctypes.c_void_p, *([ctypes.c_uint64] * 5))
    holder = (ctypes.c_uint64 * (3 * scratch.SLOTS))()
    tile, count = 8192 + 64, 4
    region = region_of(ctypes.addressof(holder), cap, 8, tile, count)
    try:
        assert region and region % 64 == 0
        big = cap * tile * count >= scratch._HUGE_MIN
        if big and scratch._HUGE_PAGES and sys.platform.startswith("linux"):
            assert region % scratch.HUGE_PAGE == 0
        size = cap * tile * count  # the entries alone: the block is larger
        view = np.frombuffer((ctypes.c_uint8 * size).from_address(region), np.uint8)
        view[:] = 7
        assert int(view[-1]) == 7 and int(view.sum()) == 7 * size
    finally:
        ctypes.CDLL(None).free(ctypes.c_void_p(holder[0]))
