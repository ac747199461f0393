"""The race sanitizer and atomics: an atomic and another program's plain store to one address
are a race; atomics alone, or with stores of the same program, are not. And a kernel with
``yield`` is an error at its line, not a launch that silently does nothing."""

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
