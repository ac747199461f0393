"""The grid launcher: program ids, thread pool, concurrency, fork, big stacks, bad grids."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import pytest

from tests.backends.cpu.irgen import F32, I32, KernelBuilder, compile_kernel, launch, poison, ptr
from tests.backends.cpu.test_vector_add import _vector_add


def _pid_kernel() -> object:
    """out[z, y, x] = (x, y, z, nx, ny, nz) packed as x + 10 y + 100 z + 1000 (nx+ny+nz)."""
    kb = KernelBuilder("pids", [ptr(I32)])
    (out,) = kb.args
    x, y, z = kb.pid(0), kb.pid(1), kb.pid(2)
    nx, ny, nz = kb.nprog(0), kb.nprog(1), kb.nprog(2)
    mul, add = "arith.muli", "arith.addi"
    lin = kb.binary(add, kb.binary(mul, kb.binary(add, kb.binary(mul, z, ny), y), nx), x)
    val = kb.binary(add, x, kb.binary(mul, y, kb.const(10, I32)))
    val = kb.binary(add, val, kb.binary(mul, z, kb.const(100, I32)))
    total = kb.binary(add, kb.binary(add, nx, ny), nz)
    val = kb.binary(add, val, kb.binary(mul, total, kb.const(1000, I32)))
    kb.store(kb.addptr(out, lin), val)
    kernel, _ = compile_kernel(kb)
    return kernel


@pytest.mark.parametrize("threads", ["1", "2", "5"])
def test_3d_grid_program_ids(threads: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITIUM_NUM_THREADS", threads)
    kernel = _pid_kernel()
    gx, gy, gz = 7, 3, 2
    out = poison((gz, gy, gx), np.int32)
    launch(kernel, (gx, gy, gz), out)
    z, y, x = np.meshgrid(np.arange(gz), np.arange(gy), np.arange(gx), indexing="ij")
    np.testing.assert_array_equal(out, x + 10 * y + 100 * z + 1000 * (gx + gy + gz))


def test_empty_and_bad_grids() -> None:
    kernel = _pid_kernel()
    out = poison(4, np.int32)
    launch(kernel, (0,), out)
    assert (out == np.iinfo(np.int32).max).all()
    with pytest.raises(ValueError):
        launch(kernel, (-1,), out)


def race_launches(kernel: Any, block: int, n: int, rng: np.random.Generator, rounds: int) -> None:
    """Four Python threads each launch a vector add ``rounds`` times at once; every result must
    be right (the portable pool's test runs the same race)."""
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    outs = [poison(n, np.float32) for _ in range(4)]
    errors: list[BaseException] = []

    def work(out: np.ndarray) -> None:
        try:
            for _ in range(rounds):
                launch(kernel, (n // block,), x, y, out, n)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(o,)) for o in outs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for o in outs:
        np.testing.assert_allclose(o, x.astype(np.float64) + y, rtol=1e-6)


def test_concurrent_launches_from_python_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Launches racing for the pool: the loser runs on threads of its own."""
    monkeypatch.setenv("TRITIUM_NUM_THREADS", "2")
    block, n = 64, 64 * 40
    kernel, _ = compile_kernel(_vector_add(block))
    race_launches(kernel, block, n, np.random.default_rng(0), rounds=50)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_pool_works_after_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITIUM_NUM_THREADS", "2")
    block, n = 64, 64 * 8
    kernel, _ = compile_kernel(_vector_add(block))
    x = np.arange(n, dtype=np.float32)
    out = poison(n, np.float32)
    launch(kernel, (n // block,), x, x, out, n)  # the parent's pool is running now
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            child = poison(n, np.float32)
            launch(kernel, (n // block,), x, x, child, n)
            code = 0 if np.array_equal(child, 2 * x) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def tile_frame_kernel(m: int, n: int) -> tuple[Any, int]:
    """out[p] = x[p] * sum(x[p]) over an m x n f32 tile needed twice (the whole tile is kept
    in the frame); returns the kernel and its frame's bytes."""
    kb = KernelBuilder(f"tile{m}x{n}", [ptr(F32), ptr(F32)])
    x_ptr, out_ptr = kb.args
    rows = kb.binary(
        "arith.muli", kb.expand_dims(kb.arange(0, m), 1), kb.splat(kb.const(n, I32), [m, 1])
    )
    offs = kb.binary(
        "arith.addi",
        kb.broadcast(rows, [m, n]),
        kb.broadcast(kb.expand_dims(kb.arange(0, n), 0), [m, n]),
    )
    base = kb.addptr(x_ptr, kb.binary("arith.muli", kb.pid(0), kb.const(m * n, I32)))
    x = kb.load(kb.addptr(kb.splat(base, [m, n]), offs))
    y = kb.binary("arith.mulf", x, kb.splat(kb.sum(kb.sum(x, 1), 0), [m, n]))
    obase = kb.addptr(out_ptr, kb.binary("arith.muli", kb.pid(0), kb.const(m * n, I32)))
    kb.store(kb.addptr(kb.splat(obase, [m, n]), offs), y)
    kernel, art = compile_kernel(kb)
    return kernel, art.metadata["stack_bytes"]


def big_frame_kernel() -> object:
    """:func:`tile_frame_kernel` over a 256x256 tile: 256 KiB of frame, over the launcher's
    limit for running on a caller whose stack is not known to have room (stack_room.py)."""
    kernel, frame = tile_frame_kernel(256, 256)
    assert frame > 64 * 1024
    return kernel


@pytest.mark.parametrize("threads", ["1", "2"])
def test_big_stack_tile(threads: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 256x256 f32 tile needed twice (256 KiB materialized) runs on big-stack threads."""
    monkeypatch.setenv("TRITIUM_NUM_THREADS", threads)
    m = n = 256
    kernel = big_frame_kernel()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, m, n)).astype(np.float32)
    out = poison((3, m, n), np.float32)
    launch(kernel, (3,), x, out)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(out, x64 * x64.sum((1, 2), keepdims=True), rtol=1e-4, atol=1e-3)


def test_kernels_share_one_grid_launcher() -> None:
    """A kernel's object holds its program and an entry that calls the shared launcher, not a
    worker and thread code of its own (compile time, issue 13); the kernel still runs."""
    from tritium.backends.cpu.launcher import GRID_LAUNCH

    kb = KernelBuilder("own_pid", [ptr(I32)])
    (out_ptr,) = kb.args
    x = kb.pid(0)
    kb.store(kb.addptr(out_ptr, x), kb.binary("arith.addi", x, kb.const(7, I32)))
    kernel, art = compile_kernel(kb)
    llir = art.asm["llir"]
    assert GRID_LAUNCH in llir
    assert "pthread_create" not in llir and "tritium.worker" not in llir
    out = poison(5, np.int32)
    launch(kernel, (5,), out)
    assert out.tolist() == [7, 8, 9, 10, 11]
