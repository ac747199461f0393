"""int8 ``b``'s rows prefetched a chunk ahead by the microkernel (``dot_ahead``).

The prefetches are hints, so what can go wrong is around them: the W8A8 tutorial's kernel over
several chunks of K (512 per chunk), with leaders and followers of ``dot_npanels``, an odd
number of column panels, a masked last panel, a masked last K step and rows of programs not
a multiple of the block, at 1-3 threads: exact against an int64 reference on fresh int8
inputs, outputs poisoned; bit for bit as without the prefetches; the microkernel issues them
(its LLVM IR: prefetch calls beside its counter of steps); and a follower's guess of the
next program's rows, past the end of ``b`` for the last one, never faults (``b`` ends at an
unreadable page).
"""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from tests.backends.cpu.modes import use_threads
from tests.backends.cpu.test_dot_npanels import (
    _int8,
    _reference,
    _run,
    _vnni,
    exact_before_unreadable_page,
)
from tritium.backends.cpu import dot_ahead

_CASES = [
    (64, 5 * 64, 1100, (64, 64, 64)),  # one row of programs, 5 panels, 3 chunks, masked last K
    (40, 200, 1536, (32, 64, 128)),  # 2 rows of programs (the second masked), masked last panel
    (16, 256, 2048, (16, 32, 64)),  # 8 panels of 32 columns, 4 chunks
]


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("m,n,k,blocks", _CASES)
def test_prefetched_chunks_exact(
    request: pytest.FixtureRequest, rng: np.random.Generator, threads: int, m, n, k, blocks
) -> None:  # type: ignore[no-untyped-def]
    use_threads(request, threads)
    a, b = _int8(rng, (m, k)), _int8(rng, (k, n))
    c, _ = _run(a, b, blocks)
    np.testing.assert_array_equal(c, _reference(a, b))


def _prefetching_blocks(llir: str) -> list[str]:
    """The IR's basic blocks that call ``llvm.prefetch`` from the microkernel's prefetching
    code: beside its counter (``ahead.count``, rows unrolled) or in its loop (``ahead``)."""
    blocks = re.split(r"\n(?=[\w.]+:)", llir)
    ours = [x for x in blocks if x.startswith("ahead") or "ahead.count" in x]
    return [x for x in ours if "@llvm.prefetch" in x]


@pytest.mark.parametrize("m,n,k,blocks", _CASES[:2])
def test_prefetches_are_issued_and_change_no_bit(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, m, n, k, blocks
) -> None:  # type: ignore[no-untyped-def]
    if not _vnni():
        pytest.skip("needs avx512vnni")
    monkeypatch.setenv("TRITIUM_ALWAYS_COMPILE", "1")  # the IR read is this compile's
    a, b = _int8(rng, (m, k)), _int8(rng, (k, n))
    ahead, kernel = _run(a, b, blocks, tag=11)
    assert _prefetching_blocks(kernel.asm["llir"])
    monkeypatch.setattr(dot_ahead, "_ENABLED", False)
    plain, kernel = _run(a, b, blocks, tag=12)
    assert not _prefetching_blocks(kernel.asm["llir"])
    np.testing.assert_array_equal(ahead, _reference(a, b))
    np.testing.assert_array_equal(ahead, plain)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mprotect through libc")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    ("k", "n", "blocks"),
    [(192, 2 * 64, (32, 64, 64)), (1100, 4 * 64, (32, 64, 64))],
    ids=["follower-past-b", "leader-past-k"],
)
def test_guessed_rows_past_b_do_not_fault(
    request: pytest.FixtureRequest,
    rng: np.random.Generator,
    threads: int,
    k: int,
    n: int,
    blocks: tuple[int, int, int],
) -> None:
    """Prefetched guesses that lie past ``b``, which ends where an unreadable page starts: K
    shorter than a chunk, so the last program (a follower) guesses a next panel's rows
    beyond ``b``'s last row (tens of KiB past it); and K = 1100, whose last chunk a leader
    prefetches in part past K. Prefetches made real loads fault in both (checked)."""
    use_threads(request, threads)
    exact_before_unreadable_page(rng, 32, n, k, blocks)
