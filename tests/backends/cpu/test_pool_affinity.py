"""A pool worker woken on its caller's CPU moves off it for the job (pool_affinity.py).

In a new process (the launch trace names the pool's worker): the caller pinned to one CPU, a
process spinning on ``sched_yield`` (as NumPy's OpenBLAS threads do) pinned to another, and the
worker's last CPU the caller's, so that the OS wakes it there. Every launch (in owned shares,
which ask for the move) runs each program once, the worker runs its programs on the other CPU,
and its CPU mask is restored after; a user's pin of the worker made during a job stays."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]

_SETUP = """
import os, subprocess, sys
import numpy as np
import tritium as triton
import tritium.language as tl
from tritium.backends.cpu import launch_trace, launcher

launcher.owned_shares = lambda cx: True  # the launches that ask for it (threadpool.SPREAD)

@triton.jit
def slow(out, n):
    acc = tl.program_id(0).to(tl.float32)
    for _ in range(n):
        acc = acc * 0.5 + 1.0
    tl.store(out + tl.program_id(0), acc + tl.program_id(0))

mine, other = sorted(os.sched_getaffinity(0))[:2]
spin = "import os\\nos.sched_setaffinity(0, {%d})\\nwhile True: os.sched_yield()" % other
spinner = subprocess.Popen([sys.executable, "-c", spin])
try:
    triton.set_num_threads(2)
    out = np.full(16, np.nan, np.float32)
    steps = np.int32(60_000)
    workers = []
    while not workers:  # compiled; the pool's worker started and named itself
        slow[(16,)](out, steps)
        workers = [t for t, name in launch_trace.thread_names().items() if name == "tritium-pool"]
    worker = workers[0]
    os.sched_setaffinity(0, {mine})
    os.sched_setaffinity(worker, {mine})
    slow[(16,)](out, steps)  # the worker last ran on the caller's CPU
"""

_MOVES = """
    os.sched_setaffinity(worker, {mine, other})
    launch_trace.clear()
    ran = []
    for _ in range(200):  # a worker late on the busy CPU misses a launch: until it ran 5
        out.fill(np.nan)
        slow[(16,)](out, steps)
        assert (out == 2.0 + np.arange(16)).all(), out
        ran = [t for x in launch_trace.records() for t in x.threads if t.tid == worker]
        ran = [t for t in ran if t.programs]
        if len(ran) >= 5:
            break
    on = [(t.cpu_begin, t.cpu_end) for t in ran]
    assert ran and all(mine not in c for c in on), (mine, other, on)
    assert os.sched_getaffinity(worker) == {mine, other}, os.sched_getaffinity(worker)
finally:
    spinner.kill()
print("ok", len(ran))
"""

# A second process pins the worker to the caller's CPU 10 ms into a launch of ~70 ms: in a round
# where the worker began the job on the other CPU (moved) and ended it on the caller's (pinned
# meanwhile), its mask after the launch is the user's pin, not the one the pool saved.
_PINNED = """
    pin = "import os, sys, time\\nfor line in sys.stdin:\\n    time.sleep(0.01)\\n"
    pin += "    os.sched_setaffinity(int(line), {%d})\\n    print('pinned', flush=True)" % mine
    pinner = subprocess.Popen(
        [sys.executable, "-c", pin], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    seen = []
    for _ in range(20):
        os.sched_setaffinity(worker, {mine})
        slow[(16,)](out, steps)  # the worker last ran on the caller's CPU
        os.sched_setaffinity(worker, {mine, other})
        launch_trace.clear()
        out.fill(np.nan)
        pinner.stdin.write(f"{worker}\\n")
        pinner.stdin.flush()
        slow[(16,)](out, np.int32(3_000_000))
        assert pinner.stdout.readline().strip() == "pinned"
        assert (out == 2.0 + np.arange(16)).all(), out
        ran = [t for x in launch_trace.records() for t in x.threads if t.tid == worker]
        on = [(t.cpu_begin, t.cpu_end) for t in ran if t.programs]
        seen.append((on, os.sched_getaffinity(worker)))
        if on and on[0] == (other, mine):
            assert os.sched_getaffinity(worker) == {mine}, seen
            break
    else:
        raise AssertionError(f"no launch moved the worker and then saw the pin: {seen}")
finally:
    spinner.kill()
print("ok")
"""


@pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux and two CPUs",
)
@pytest.mark.parametrize("case", ["moves", "pinned"])
def test_worker_leaves_the_callers_cpu(tmp_path: pathlib.Path, case: str) -> None:
    script = tmp_path / "affinity.py"  # kernels need a source file
    script.write_text(_SETUP + {"moves": _MOVES, "pinned": _PINNED}[case])
    env = dict(os.environ, TRITIUM_CACHE_DIR=str(tmp_path / "cache"), TRITIUM_LAUNCH_TRACE="1")
    env.pop("TRITIUM_NUM_THREADS", None)
    env["TRITIUM_THREAD_POOL_OPENMP"] = "0"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "ok" in proc.stdout, proc.stdout
