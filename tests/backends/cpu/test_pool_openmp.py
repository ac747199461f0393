"""The pool's OpenMP path (launches as parallel regions on torch's threads) and the caller
that runs no programs (kernels with big frames).

A stand-in ``GOMP_parallel`` written in Python checks the protocol (the body, its data, the
thread count, the back-off after a long tail) without any OpenMP runtime; torch's own
runtime then runs kernels next to torch ops, after ``fork`` and under Ctrl-C, in new
processes so that each starts with the runtime in a known state."""

from __future__ import annotations

import ctypes
import os
import pathlib
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import Callable, Iterator

import numpy as np
import pytest

import tritium
import tritium.language as tl
from tests.backends.cpu.irgen import launch, poison
from tests.backends.cpu.test_launcher import _pid_kernel, big_frame_kernel
from tritium import threads as tritium_threads
from tritium.backends.cpu import threadpool

ROOT = pathlib.Path(__file__).resolve().parents[3]
_BODY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_PARALLEL = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32
)


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """Fresh inputs per run; TRITIUM_TEST_SEED (in the report header) replays them."""
    test_id = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng([int(os.environ.get("TRITIUM_TEST_SEED", "0")), test_id])


@pytest.fixture(autouse=True)
def _threads() -> Iterator[None]:
    """The tests set the count with tritium.set_num_threads; it is restored afterwards."""
    saved = tritium_threads.THREADS[0]
    yield
    tritium_threads.THREADS[0] = saved


@pytest.fixture
def fake_runtime(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[Callable[[int, int], None]], list[int]]]:
    """``attach(member, finish)``, once the kernels are loaded: route launches to a stand-in
    ``GOMP_parallel`` that runs the team's ``n`` members one after another in the calling
    thread (``member(i, n)`` runs before member ``i`` does, ``finish()`` after the last);
    returns the list of thread counts it was called with."""
    threadpool.pool_address()  # the pool is loaded
    keep: list[object] = []

    def attach(
        member: Callable[[int, int], None], finish: Callable[[], None] = lambda: None
    ) -> list[int]:
        calls: list[int] = []

        def parallel(body: int, data: int, n: int, flags: int) -> None:
            calls.append(n)
            for i in range(n):  # the first member takes every program; the others find none
                member(i, n)
                _BODY(body)(data)
            finish()

        fn = _PARALLEL(parallel)
        keep.append(fn)
        address = ctypes.cast(fn, ctypes.c_void_p).value or 0
        threadpool.attach_openmp(address)
        # a kernel loaded during the test looks for a real runtime again when Python imported
        # modules meanwhile (which depends on the tests run before in this worker): keep the
        # stand-in attached
        monkeypatch.setattr(threadpool, "share_openmp", lambda: address)
        time.sleep(0.7)  # past any back-off (0.64 s at most) an earlier region started
        return calls

    try:
        yield attach
    finally:
        threadpool.attach_openmp(0)
        time.sleep(0.7)  # past any back-off the test started (0.64 s at most)
        threadpool._openmp_state[:] = [-1, -1]  # the next kernel load looks again


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_launches_run_as_openmp_regions(threads: int, rng: np.random.Generator, fake_runtime):
    kernel = _pid_kernel()  # loaded first: a kernel load looks for a real runtime
    tritium.set_num_threads(threads)
    calls = fake_runtime(lambda i, n: None)
    # a back-off that an earlier region of this process started sends launches to the own
    # threads for up to 0.64 s: launch until one is a region (a CI run once saw none)
    deadline = time.monotonic() + 3.0
    while not calls and time.monotonic() < deadline:
        launch(kernel, (4, 1, 1), poison((1, 1, 4), np.int32))
        time.sleep(0.05)
    assert calls == [min(threads, 4)] * len(calls) and calls, f"no region in 3 s: {calls}"
    calls.clear()
    expected = []
    for _ in range(5):
        gx, gy, gz = (int(v) for v in rng.integers(2, 9, size=3))
        out = poison((gz, gy, gx), np.int32)
        launch(kernel, (gx, gy, gz), out)
        z, y, x = np.meshgrid(np.arange(gz), np.arange(gy), np.arange(gx), indexing="ij")
        np.testing.assert_array_equal(out, x + 10 * y + 100 * z + 1000 * (gx + gy + gz))
        expected.append(min(threads, gx * gy * gz))
    # on a loaded machine the stand-in's slow members (ctypes callbacks) can look like
    # stragglers and back later launches off to the own threads: each region that ran had the
    # launch's thread count
    assert len(calls) <= len(expected) and set(calls) <= set(expected), (calls, expected)


def test_a_long_tail_backs_off_to_the_own_threads(rng: np.random.Generator, fake_runtime):
    """A region whose last member arrives 5 ms after the first ran out of programs (as when
    the OS had not scheduled it) sends the next launches to the pool's own threads; once the
    back-off is over, regions again."""
    late = [True]

    def member(i: int, n: int) -> None:
        if i == n - 1 and late[0]:
            time.sleep(0.005)

    kernel = _pid_kernel()
    tritium.set_num_threads(2)
    calls = fake_runtime(member)
    gx = 16

    def run() -> None:
        out = poison((1, 1, gx), np.int32)
        launch(kernel, (gx, 1, 1), out)
        np.testing.assert_array_equal(out[0, 0], np.arange(gx) + 1000 * (gx + 2))

    skipped = False
    for _ in range(5):  # the next launch comes well within 20 ms, unless the machine stalls
        run()
        before = len(calls)
        run()
        if len(calls) == before:
            skipped = True
            break
    assert skipped, "a region with a 5 ms tail never backed off"
    late[0] = False
    time.sleep(0.7)  # longer than the longest back-off
    before = len(calls)
    run()
    assert len(calls) == before + 1


@tritium.jit
def _slow_programs(out, n):
    acc = tl.program_id(0).to(tl.float32)
    for _ in range(n):  # a dependent chain: about 1 ms per 300k steps
        acc = acc * 0.5 + 1.0
    tl.store(out + tl.program_id(0), acc)


def test_a_late_region_end_backs_off_to_the_own_threads(fake_runtime) -> None:
    """A region that ends 1 ms after its last thread ran out of programs (the team's barrier
    waiting for a thread the OS had not scheduled) sends the next launch to the pool's own
    threads, though its programs (tens of ms) took longer than its waits; a region that ends
    at once does not."""
    stall = [True]
    out = np.full(8, np.nan, np.float32)
    steps = np.int32(3_000_000)
    tritium.set_num_threads(2)
    _slow_programs[(8,)](out, steps)  # compiled (and loaded) before the stand-in is attached
    np.testing.assert_array_equal(out, 2.0)
    calls = fake_runtime(lambda i, n: None, lambda: stall[0] and time.sleep(0.001))

    def backed_off() -> bool:
        _slow_programs[(8,)](out, steps)
        before = len(calls)
        _slow_programs[(8,)](out, steps)
        return len(calls) == before

    assert backed_off() or backed_off(), "a region that ended 1 ms late never backed off"
    stall[0] = False
    # a region whose end a loaded machine delayed backs off too: one try of three suffices,
    # each after the longest back-off
    assert not all(time.sleep(0.7) or backed_off() for _ in range(3)), "no stall, yet backed off"
    np.testing.assert_array_equal(out, 2.0)


@pytest.mark.parametrize("kind", ["futex", "portable"])
@pytest.mark.parametrize("threads", [2, 3, 5])
def test_caller_that_runs_no_programs(
    threads: int, kind: str, rng: np.random.Generator, fake_runtime
) -> None:
    """Big-frame launches: the caller sleeps until the workers are done (it used to spin),
    every program runs once, and they never go to the OpenMP runtime (whose threads may have
    small stacks). Both builds of the pool (they sleep differently)."""
    kernel = big_frame_kernel()  # the caller runs no programs: its frame is too big
    tritium.set_num_threads(threads)
    kernel._pool = threadpool.pool_address(kind)  # type: ignore[attr-defined]
    calls = fake_runtime(lambda i, n: None)
    for programs in (1, 2, threads, 7):
        x = rng.standard_normal((programs, 256, 256)).astype(np.float32)
        for _ in range(3):  # back-to-back: workers spinning, then asleep
            out = poison(x.shape, np.float32)
            launch(kernel, (programs,), x, out)
            x64 = x.astype(np.float64)
            want = x64 * x64.sum((1, 2), keepdims=True)
            np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-3)
    assert not calls


_TORCH_SCRIPT = r"""
import os, sys
import numpy as np
import torch
import tritium, tritium.language as tl
from tritium.backends.cpu import threadpool

@tritium.jit
def scale(x, o, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(o + offs, tl.load(x + offs, mask=offs < n) * 3.0, mask=offs < n)

def check(threads, torch_too=True):
    tritium.set_num_threads(threads)
    n = 100_000
    x = np.random.default_rng(SEED + threads).standard_normal(n).astype(np.float32)
    for _ in range(20):  # alternating with torch's own regions on the same threads
        o = np.full(n, np.nan, np.float32)
        scale[(n // 1024 + 1,)](x, o, n, BLOCK=1024)
        assert np.allclose(o, x.astype(np.float64) * 3, rtol=1e-6), "wrong result"
        if torch_too:
            torch.exp(torch.from_numpy(x))

mode = sys.argv[1]
torch.set_num_threads(2)
check(2)
print("shared", bool(threadpool.share_openmp()), flush=True)
if mode == "fork":
    pid = os.fork()
    if pid == 0:  # libgomp's threads are gone here: the pool's own threads run the launches
        code = 1  # (no torch op: libgomp's regions hang in a child of a process that used them)
        try:
            check(2, torch_too=False)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    print("child", os.waitstatus_to_exitcode(status), flush=True)
check(3)
check(2)
import threading  # launches from several Python threads at once: a team per thread
errors = []
def race():
    try:
        check(2)
    except BaseException as e:
        errors.append(e)
threads = [threading.Thread(target=race) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert not errors, errors
print("done", flush=True)
"""


def _run_script(tmp_path: pathlib.Path, text: str, *argv: str, **env: str) -> str:
    script = tmp_path / "script.py"  # kernels need a source file
    script.write_text(text.replace("SEED", os.environ.get("TRITIUM_TEST_SEED", "0")))
    full = dict(os.environ, TRITIUM_CACHE_DIR=str(tmp_path / "cache"), **env)
    full["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), full.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, str(script), *argv], env=full, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return proc.stdout


def _torch_openmp() -> None:
    torch = pytest.importorskip("torch")
    if "OpenMP" not in torch.__config__.parallel_info():
        pytest.skip("this torch does not use OpenMP")


@pytest.mark.parametrize("mode", ["plain", "fork"])
def test_torch_openmp_threads_run_kernels(tmp_path: pathlib.Path, mode: str) -> None:
    _torch_openmp()
    if mode == "fork" and not hasattr(os, "fork"):
        pytest.skip("needs fork")
    out = _run_script(tmp_path, _TORCH_SCRIPT, mode)
    assert "shared True" in out and "done" in out, out
    if mode == "fork":
        assert "child 0" in out, out


def test_env_keeps_the_own_threads(tmp_path: pathlib.Path) -> None:
    _torch_openmp()
    out = _run_script(tmp_path, _TORCH_SCRIPT, "plain", TRITIUM_THREAD_POOL_OPENMP="0")
    assert "shared False" in out and "done" in out, out


def test_ctrl_c_stops_a_kernel_on_openmp_threads(tmp_path: pathlib.Path) -> None:
    """The interrupt test of tests/runtime, with torch's runtime running the launch."""
    _torch_openmp()
    from tests.runtime.test_launch_validation import INTERRUPT_SCRIPT, interrupt_child

    script = tmp_path / "interrupt.py"
    text = "import torch\nfrom tritium.backends.cpu import threadpool\n"
    text += textwrap.dedent(INTERRUPT_SCRIPT).replace(
        'print("ready"', 'print("shared", bool(threadpool.share_openmp()))\nprint("ready"'
    )
    script.write_text(text)
    env = dict(os.environ, TRITIUM_CACHE_DIR=str(tmp_path / "cache"), TRITIUM_NUM_THREADS="2")
    interrupt_child(script, env, ["shared True", "ready"])


@pytest.mark.parametrize(
    "value,ok", [("64k", False), ("512", False), ("2M", True), ("4096", True), ("1g", True)]
)
def test_small_openmp_stacks_keep_the_own_threads(
    value: str, ok: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OMP_STACKSIZE (kilobytes unless a suffix says) under 1 MiB: kernels' frames might not
    fit the runtime's threads, so launches stay on the pool's own."""
    monkeypatch.delenv("GOMP_STACKSIZE", raising=False)
    monkeypatch.setenv("OMP_STACKSIZE", value)
    assert threadpool._openmp_stack_ok() is ok
