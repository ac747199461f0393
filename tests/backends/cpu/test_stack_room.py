"""Kernels with big frames run on the caller's thread when its stack has room (stack_room.py):
the room the launcher measures, and launches from the main thread, from threads whose stack is
small but big enough, and from threads whose stack is too small (the programs then go to
threads with a known stack; run on the caller, they would overflow it)."""

from __future__ import annotations

import os
import resource
import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tests.backends.cpu.irgen import launch, poison
from tests.backends.cpu.test_launcher import tile_frame_kernel
from tritium.backends.cpu.launcher import caller_stack_room
from tritium.backends.cpu.stack_room import RESERVE

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the caller's stack is measured on Linux only"
)
MiB = 1 << 20
BIG, MID = (1024, 512), (512, 256)  # f32 tiles of 2 MiB and 512 KiB


_kernels: dict[tuple[int, int], tuple[Any, int]] = {}


def tile_kernel(m: int, n: int) -> tuple[Any, int]:
    if (m, n) not in _kernels:
        _kernels[m, n] = tile_frame_kernel(m, n)
    return _kernels[m, n]


def check_launch(kernel: Any, m: int, n: int, programs: int) -> None:
    rng = np.random.default_rng(int(os.environ.get("TRITIUM_TEST_SEED", "0")))
    x = rng.standard_normal((programs, m, n)).astype(np.float32)
    out = poison((programs, m, n), np.float32)
    launch(kernel, (programs,), x, out)
    x64 = x.astype(np.float64)
    want = x64 * x64.sum((1, 2), keepdims=True)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-3 * np.abs(want).max())


def in_thread(stack: int, fn: Callable[[], Any]) -> Any:
    """``fn()`` on a new Python thread made with ``threading.stack_size(stack)``."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def body() -> None:
        try:
            result.append(fn())
        except BaseException as e:  # noqa: BLE001 - raised in the caller
            errors.append(e)

    old = threading.stack_size(stack)
    try:
        t = threading.Thread(target=body)
        t.start()
    finally:
        threading.stack_size(old)
    t.join()
    if errors:
        raise errors[0]
    return result[0]


def test_room_of_the_main_thread() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("not on the main thread")
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    room = caller_stack_room()
    assert room > MiB
    if soft != resource.RLIM_INFINITY:
        assert room <= soft - RESERVE


def test_room_follows_rlimit_stack() -> None:
    """The main thread's bounds are read again when RLIMIT_STACK changes."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("not on the main thread")
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == resource.RLIM_INFINITY or soft < 6 * MiB:
        pytest.skip("needs a finite RLIMIT_STACK of at least 6 MiB")
    before = caller_stack_room()
    resource.setrlimit(resource.RLIMIT_STACK, (soft - 3 * MiB, hard))
    try:
        lowered = caller_stack_room()
    finally:
        resource.setrlimit(resource.RLIMIT_STACK, (soft, hard))
    assert before - lowered == 3 * MiB
    assert caller_stack_room() == before


@pytest.mark.parametrize("stack", [3 * MiB, 8 * MiB, 24 * MiB])
def test_room_of_python_threads(stack: int) -> None:
    """A thread's room is its stack less what is in use and the reserve (glibc may give a
    thread a cached stack up to 4 times the size asked for)."""
    room = in_thread(stack, caller_stack_room)
    assert stack - RESERVE - 256 * 1024 < room < 4 * stack - RESERVE


def test_no_room_on_a_small_thread_stack() -> None:
    assert in_thread(256 * 1024, caller_stack_room) == 0


@pytest.mark.parametrize("threads", ["1", "2"])
def test_big_frames_on_the_main_thread(threads: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames of 2 MiB: the main thread's stack (8 MiB by default) holds two of them."""
    monkeypatch.setenv("TRITIUM_NUM_THREADS", threads)
    kernel, frame = tile_kernel(*BIG)
    assert frame >= 2 * MiB
    check_launch(kernel, *BIG, 3)
    check_launch(kernel, *BIG, 1)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_big_frames_on_a_small_thread_stack_that_fits(
    threads: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 512 KiB frame from a thread of 3 MiB: room for two frames, the caller runs them."""
    monkeypatch.setenv("TRITIUM_NUM_THREADS", threads)
    kernel, frame = tile_kernel(*MID)
    assert 256 * 1024 < frame < 768 * 1024
    assert in_thread(3 * MiB, caller_stack_room) >= 2 * frame
    in_thread(3 * MiB, lambda: check_launch(kernel, *MID, 3))


@pytest.mark.parametrize("threads", ["1", "2"])
def test_big_frames_from_a_thread_stack_too_small(
    threads: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames of 2 MiB from a thread of 256 KiB (glibc may reuse a cached stack of up to 1
    MiB): run there, they would overflow it (the program's stack probes fault); the programs
    go to threads with a known stack, and the results are right."""
    monkeypatch.setenv("TRITIUM_NUM_THREADS", threads)
    kernel, frame = tile_kernel(*BIG)
    assert in_thread(256 * 1024, caller_stack_room) < 2 * frame
    in_thread(256 * 1024, lambda: check_launch(kernel, *BIG, 3))
