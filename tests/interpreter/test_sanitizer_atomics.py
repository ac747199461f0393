"""The race sanitizer and atomics: an atomic and another program's plain store to one address
are a race, and so is an atomic that changes memory and another program's plain load there;
atomics alone, or with accesses of the same program, are not. And a kernel with ``yield`` is
an error at its line, not a launch that silently does nothing."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import tritium.language as tl
from tritium.errors import SanitizerError, UnsupportedLanguageConstruct
from tritium.interpreter import run_kernel


def _line(fn, text: str) -> str:
    lines, start = inspect.getsourcelines(fn)
    return (
        f"{inspect.getsourcefile(fn)}:{start + next(i for i, s in enumerate(lines) if text in s)}"
    )


def reset_while_counting(count_ptr, x_ptr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    s = tl.sum(tl.load(x_ptr + pid * BLOCK + tl.arange(0, BLOCK)), axis=0)
    if pid == 1:
        tl.store(count_ptr, 0)  # a plain store racing with the other programs' atomics
    tl.atomic_add(count_ptr, s)


def own_slot_counting(count_ptr, x_ptr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    s = tl.sum(tl.load(x_ptr + pid * BLOCK + tl.arange(0, BLOCK)), axis=0)
    tl.store(count_ptr + 1 + pid, s)  # each program's own slot, written plainly ...
    tl.atomic_max(count_ptr + 1 + pid, s + 1)  # ... then updated atomically by the same one
    tl.atomic_add(count_ptr, s)  # a shared counter only ever updated atomically


@pytest.mark.parametrize("vectorize", [True, False])
def test_atomic_and_plain_store_race(rng, vectorize):
    x = rng.integers(1, 10, 32).astype(np.int32)
    count = np.zeros(5, np.int32)
    with pytest.raises(SanitizerError) as err:
        run_kernel(
            reset_while_counting,
            (4,),
            dict(count_ptr=count, x_ptr=x, BLOCK=8),
            sanitize=True,
            vectorize=vectorize,
        )
    msg = str(err.value)
    assert err.value.kind == "race"
    assert "updates argument 'count_ptr' at element offset 0 atomically" in msg
    assert "program (1, 0, 0) writes without atomics" in msg
    assert _line(reset_while_counting, "tl.atomic_add(") in msg
    assert _line(reset_while_counting, "tl.store(") in msg


@pytest.mark.parametrize("vectorize", [True, False])
def test_atomics_with_own_plain_stores_are_not_races(rng, vectorize):
    x = rng.integers(1, 10, 32).astype(np.int32)
    count = rng.integers(-5, 5, 5).astype(np.int32)
    start = count[0]
    run_kernel(
        own_slot_counting,
        (4,),
        dict(count_ptr=count, x_ptr=x, BLOCK=8),
        sanitize=True,
        vectorize=vectorize,
    )
    sums = x.reshape(4, 8).sum(axis=1)
    np.testing.assert_array_equal(count, [start + sums.sum(), *(sums + 1)])


def read_while_counting(count_ptr, x_ptr, out_ptr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    s = tl.sum(tl.load(x_ptr + pid * BLOCK + tl.arange(0, BLOCK)), axis=0)
    tl.atomic_add(count_ptr, s)
    if pid == 2:
        tl.store(out_ptr, tl.load(count_ptr))  # sees the updates of the programs before it


def read_own_and_unchanged(count_ptr, x_ptr, out_ptr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    s = tl.sum(tl.load(x_ptr + pid * BLOCK + tl.arange(0, BLOCK)), axis=0)
    tl.atomic_add(count_ptr + 1 + pid, s)  # the program's own slot ...
    own = tl.load(count_ptr + 1 + pid)  # ... read back by it
    tl.atomic_max(count_ptr, s)  # never above the value there: memory does not change
    tl.store(out_ptr + pid, own + tl.load(count_ptr))


@pytest.mark.parametrize("vectorize", [True, False])
def test_plain_load_racing_with_atomic(rng, vectorize):
    x = rng.integers(1, 10, 32).astype(np.int32)
    count = np.zeros(1, np.int32)
    out = np.full(1, -1, np.int32)
    with pytest.raises(SanitizerError) as err:
        run_kernel(
            read_while_counting,
            (4,),
            dict(count_ptr=count, x_ptr=x, out_ptr=out, BLOCK=8),
            sanitize=True,
            vectorize=vectorize,
        )
    msg = str(err.value)
    assert err.value.kind == "race"
    assert "program (2, 0, 0) reads argument 'count_ptr' at element offset 0 without atomics" in msg
    assert "updates atomically" in msg and "program (2, 0, 0) updates" not in msg
    assert _line(read_while_counting, "tl.load(count_ptr)") in msg
    assert _line(read_while_counting, "tl.atomic_add(") in msg
    # without the sanitizer the same launch runs (the race is not an error of the kernel itself)
    count[:] = 0
    run_kernel(read_while_counting, (4,), dict(count_ptr=count, x_ptr=x, out_ptr=out, BLOCK=8))
    assert count[0] == x.sum()


@pytest.mark.parametrize("vectorize", [True, False])
def test_loads_of_own_or_unchanged_atomic_slots_are_not_races(rng, vectorize):
    x = rng.integers(1, 10, 32).astype(np.int32)
    count = rng.integers(-5, 5, 5).astype(np.int32)
    count[0] = 1000  # above every sum: the atomic_max there never changes memory
    start = count.copy()
    out = np.full(4, -1, np.int32)
    run_kernel(
        read_own_and_unchanged,
        (4,),
        dict(count_ptr=count, x_ptr=x, out_ptr=out, BLOCK=8),
        sanitize=True,
        vectorize=vectorize,
    )
    sums = x.reshape(4, 8).sum(axis=1)
    np.testing.assert_array_equal(count, [1000, *(start[1:] + sums)])
    np.testing.assert_array_equal(out, start[1:] + sums + 1000)


def locked_read_and_update(x_ptr, acc_ptr, lock_ptr, seen_ptr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    s = tl.sum(tl.load(x_ptr + pid * BLOCK + tl.arange(0, BLOCK)), axis=0)
    while tl.atomic_cas(lock_ptr, 0, 1) == 1:
        pass
    tl.store(seen_ptr + pid, tl.load(acc_ptr))  # inside the critical section: ordered
    tl.atomic_add(acc_ptr, s)
    tl.atomic_xchg(lock_ptr, 0)


def test_plain_load_and_atomic_inside_a_lock_are_not_races(rng):
    x = rng.integers(1, 10, 32).astype(np.int32)
    acc, seen = np.zeros(1, np.int32), np.full(4, -1, np.int32)
    run_kernel(
        locked_read_and_update,
        (4,),
        dict(x_ptr=x, acc_ptr=acc, lock_ptr=np.zeros(1, np.int32), seen_ptr=seen, BLOCK=8),
        sanitize=True,
    )
    assert acc[0] == x.sum()
    # each program saw the sums of the programs that held the lock before it
    sums = x.reshape(4, 8).sum(axis=1)
    assert sorted(seen.tolist()) == sorted(int(sums[np.argsort(seen)][:i].sum()) for i in range(4))


def generator_kernel(x_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    v = tl.load(x_ptr + offs)
    yield v
    tl.store(x_ptr + offs, v + 1)


def test_yield_in_a_kernel_is_an_error_at_its_line(rng):
    x = rng.standard_normal(8).astype(np.float32)
    before = x.copy()
    with pytest.raises(UnsupportedLanguageConstruct) as err:
        run_kernel(generator_kernel, (1,), dict(x_ptr=x, BLOCK=8))
    e = err.value
    assert f"{e.file}:{e.line}" == _line(generator_kernel, "yield v")
    assert e.source_line.strip() == "yield v" and e.col == 4
    assert "unsupported construct in a kernel: yield" in str(e)
    np.testing.assert_array_equal(x, before)


async def async_kernel(x_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.load(x_ptr + offs) + 1)


def test_async_kernel_is_an_error_at_its_def(rng):
    x = rng.standard_normal(8).astype(np.float32)
    before = x.copy()
    with pytest.raises(UnsupportedLanguageConstruct, match="in a kernel: async def") as err:
        run_kernel(async_kernel, (1,), dict(x_ptr=x, BLOCK=8))
    assert f"{err.value.file}:{err.value.line}" == _line(async_kernel, "async def")
    np.testing.assert_array_equal(x, before)
