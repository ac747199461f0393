"""The launch trace (``TRITIUM_LAUNCH_TRACE=1``, launch_trace.py): off, the launcher and the pool
are built as without it; on (in a new process: the knob is read when the launcher is built),
every launch leaves one record, its threads' records count every program once, and their
times lie inside the launch's."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from tritium.backends.cpu import launch_trace
from tritium.backends.cpu.launcher import grid_launch_ir
from tritium.backends.cpu.threadpool import pool_ir

ROOT = pathlib.Path(__file__).resolve().parents[3]
_TRIPLE = "x86_64-unknown-linux-gnu"

_SCRIPT = """
import threading
import numpy as np
import tritium as triton
import tritium.language as tl
from tritium.backends.cpu import launch_trace

@triton.jit
def ids(out, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    tl.store(out + offs, pid + 0 * offs, mask=offs < n)

rng = np.random.default_rng(SEED)
cases = []
for threads in (1, 2, 3):
    for programs in (1, 2, 5, int(rng.integers(60, 600))):
        cases.append((threads, programs))
out = np.full(600 * 16, -7, np.int32)
ids[(1,)](out, 16, BLOCK=16)  # compiled, and the pool started
launch_trace.clear()
for threads, programs in cases:
    triton.set_num_threads(threads)
    out.fill(-7)
    ids[(programs,)](out, programs * 16, BLOCK=16)
    want = np.repeat(np.arange(programs, dtype=np.int32), 16)
    assert (out[: programs * 16] == want).all() and (out[programs * 16 :] == -7).all()
launches = launch_trace.records()
assert len(launches) == len(cases), (len(launches), len(cases))
names = launch_trace.thread_names()
me = threading.get_native_id()
for x, (threads, programs) in zip(launches, cases):
    assert x.programs == programs and x.nthreads == min(threads, programs), x
    assert x.caller == me, x
    assert 1 <= len(x.threads) <= x.nthreads, x
    assert sum(t.programs for t in x.threads) == programs, x
    assert len({t.tid for t in x.threads}) == len(x.threads), x
    for t in x.threads:
        assert x.begin <= t.begin <= t.end <= x.end, x
        assert 0 <= t.cpu_ns <= t.end - t.begin + 2_000_000, x
        assert (t.programs > 0) == (t.grabs > 0), x
        assert t.tid == me or names.get(t.tid) == "tritium-pool", (x, names)
assert [x.seq for x in launches] == sorted({x.seq for x in launches})
launch_trace.clear()
assert launch_trace.records() == []
print("ok", len(launches))
"""


def test_off_builds_the_launcher_and_pool_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRITIUM_LAUNCH_TRACE", raising=False)
    assert not launch_trace.enabled(_TRIPLE)
    plain = grid_launch_ir(_TRIPLE), pool_ir(_TRIPLE, "futex", openmp=True)
    assert "tritium_launch_trace" not in plain[0] and "sched_getcpu" not in plain[0]
    assert "pthread_setname_np" not in plain[1]
    monkeypatch.setenv("TRITIUM_LAUNCH_TRACE", "1")
    assert launch_trace.enabled(_TRIPLE) and not launch_trace.enabled("x86_64-apple-darwin")
    traced = grid_launch_ir(_TRIPLE), pool_ir(_TRIPLE, "futex", openmp=True)
    assert "tritium_launch_trace" in traced[0] and "sched_getcpu" in traced[0]
    assert "pthread_setname_np" in traced[1]
    monkeypatch.setenv("TRITIUM_LAUNCH_TRACE", "0")
    assert (grid_launch_ir(_TRIPLE), pool_ir(_TRIPLE, "futex", openmp=True)) == plain


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the trace is Linux only")
def test_records_count_every_program_once(tmp_path: pathlib.Path) -> None:
    script = tmp_path / "trace.py"  # kernels need a source file
    script.write_text(_SCRIPT.replace("SEED", os.environ.get("TRITIUM_TEST_SEED", "0")))
    env = dict(os.environ, TRITIUM_CACHE_DIR=str(tmp_path / "cache"), TRITIUM_LAUNCH_TRACE="1")
    env.pop("TRITIUM_NUM_THREADS", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "ok 12" in proc.stdout, proc.stdout


def test_the_loaded_launcher_not_the_knob_says_whether_records_exist(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np

    import tritium.language as tl
    from tritium import jit
    from tritium.backends.cpu.launcher import launcher_traced

    @jit
    def _one(out):
        tl.store(out, 1)

    _one[(1,)](np.zeros(1, np.int32))
    if launcher_traced():
        pytest.skip("this process's launcher was built traced")
    monkeypatch.setenv("TRITIUM_LAUNCH_TRACE", "1")  # after the launcher was built
    assert launch_trace.records() == []
    launch_trace.clear()  # nothing to clear, and no symbol to look for


def test_aot_libraries_are_never_traced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITIUM_LAUNCH_TRACE", "1")
    assert "tritium_launch_trace" in grid_launch_ir(_TRIPLE)
    assert "tritium_launch_trace" not in grid_launch_ir(_TRIPLE, traced=False)
    assert "tritium-pool" in pool_ir(_TRIPLE, "futex")
    assert "tritium-pool" not in pool_ir(_TRIPLE, "futex", named=False)
