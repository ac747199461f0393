"""Arguments and grids are checked before the native call: read-only or overlapping memory for
a pointer the kernel stores through, NULL data pointers, foreign byte order, non-integer or
overflowing grids, CPU features the host lacks; and Ctrl-C stops a running kernel."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import tritium
import tritium.language as tl

pytest.importorskip("tritium.backends.cpu")
ROOT = Path(__file__).resolve().parents[2]


@tritium.jit
def scale(src, dst, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(dst + offs, tl.load(src + offs, mask=offs < n) * 3.0, mask=offs < n)


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(int(os.environ.get("TRITIUM_TEST_SEED", "0")))
    x = rng.standard_normal(64).astype(np.float32)
    return x, np.full(64, np.nan, np.float32)


def _read_only(x: np.ndarray) -> np.ndarray:
    y = x.copy()
    y.flags.writeable = False
    return y


def test_read_only_input_is_fine(data) -> None:
    x, out = data
    scale[(2,)](_read_only(x), out, 64, BLOCK=32)
    np.testing.assert_allclose(out, x.astype(np.float64) * 3.0, rtol=1e-6)


@pytest.mark.parametrize(
    "make, what",
    [
        (_read_only, "read-only"),
        (lambda x: np.frombuffer(x.tobytes(), np.float32), "read-only"),  # immutable bytes
        (
            lambda x: np.lib.stride_tricks.as_strided(x[:1].copy(), (64,), (0,), writeable=True),
            "overlap",
        ),
    ],
)
def test_unwritable_output_is_refused(data, make, what) -> None:
    x, _ = data
    out = make(np.full(64, np.nan, np.float32))
    before = np.array(out)
    with pytest.raises(ValueError, match=f"argument 'dst' of scale is .*{what}"):
        scale[(2,)](x, out, 64, BLOCK=32)
    np.testing.assert_array_equal(np.array(out), before)  # nothing ran


def test_foreign_byte_order_and_null_pointer_are_refused(data) -> None:
    x, out = data

    class Null:
        __array_interface__ = {"data": (0, False), "shape": (64,), "typestr": "<f4", "version": 3}

    with pytest.raises(TypeError, match="argument 'src': dtype >f4 is not in this CPU's byte"):
        scale[(2,)](x.astype(">f4"), out, 64, BLOCK=32)
    with pytest.raises(ValueError, match="argument 'dst': .*NULL data pointer"):
        scale[(2,)](x, Null(), 64, BLOCK=32)


@pytest.mark.parametrize("grid", [(7.9,), ("x",), (None,), "7", (2, 1.0)])
def test_grid_must_be_integers(data, grid) -> None:
    x, out = data
    with pytest.raises(TypeError, match="grid"):
        scale[grid](x, out, 64, BLOCK=32)


def test_grid_overflow_is_an_error(data) -> None:
    x, out = data
    with pytest.raises(ValueError, match="more programs than fit in 64 bits"):
        scale[(2**31 - 1, 2**31 - 1, 2**31 - 1)](x, out, 64, BLOCK=32)
    with pytest.raises(ValueError, match="too large"):
        scale[(2**40,)](x, out, 64, BLOCK=32)
    scale[(np.int64(2),)](x, out, 64, BLOCK=32)  # NumPy integers are integers
    np.testing.assert_allclose(out, x.astype(np.float64) * 3.0, rtol=1e-6)


def test_cpu_features_the_host_lacks_are_refused(data, monkeypatch) -> None:
    from tritium.backends.cpu.target import missing_features

    if not missing_features("+avx512f"):
        pytest.skip("this CPU has AVX-512")
    x, out = data
    monkeypatch.setenv("TRITIUM_CPU_FEATURES", "+avx512f")
    scale.cache.clear()  # the in-memory cache is per process, not per feature set
    with pytest.raises(RuntimeError, match=r"lacks: \+avx512f"):
        scale[(4,)](x, out, 64, BLOCK=16)
    assert np.isnan(out).all()


# A 2**36-program launch (2**31 - 1 by 32): once a 32-bit chunk size truncated to 0 and the
# launcher spun for ever; now it runs until Ctrl-C stops it, and the process carries on.
INTERRUPT_SCRIPT = """
import numpy as np
import tritium
import tritium.language as tl

@tritium.jit
def count(c_ptr):
    tl.atomic_add(c_ptr, 1)

c = np.zeros(1, np.int32)
count[(3,)](c)
assert c[0] == 3
print("ready", flush=True)
try:
    count[(2**31 - 1, 32)](c)
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", int(c[0]) != 0, flush=True)
c[:] = 0
count[(5,)](c)
print("usable", int(c[0]), flush=True)
"""


def _default_sigint() -> None:
    """In the child before exec: SIGINT handled by default and not blocked, whatever the test
    process inherited. A run started in the background by a shell without job control (``cmd &``
    in a script, nohup) ignores SIGINT, and an ignored signal stays ignored across exec: the child
    would then rightly ignore the Ctrl-C this test sends (the cause of the earlier hangs)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _signal_status(pid: int) -> str:
    """The child's blocked/ignored/caught signal masks, for the failure message."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return "no /proc status"
    return ", ".join(x for x in lines if x.startswith(("SigBlk", "SigIgn", "SigCgt")))


def interrupt_child(script: Path, env: dict[str, str], first_lines: list[str]) -> None:
    """Run ``script`` (INTERRUPT_SCRIPT, maybe with lines added), wait for ``first_lines`` on
    its stdout, send SIGINT while its long launch runs, and check that the launch raised
    ``KeyboardInterrupt`` and the process stayed usable (also the OpenMP pool's test)."""
    env = dict(env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_default_sigint,
    )
    try:
        assert proc.stdout is not None
        for line in first_lines:
            assert proc.stdout.readline().strip() == line
        time.sleep(1.0)  # the launch starts microseconds after "ready"; it would run for minutes
        status = _signal_status(proc.pid)
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:  # say how far it got and how the child saw SIGINT
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(
                f"no exit 120 s after SIGINT ({status}); stdout: {out!r}; stderr: {err[-2000:]}"
            )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "interrupted True" in out and "usable 5" in out, out + err[-2000:]


def test_ctrl_c_interrupts_a_running_kernel(tmp_path: Path) -> None:
    script = tmp_path / "interrupt.py"
    script.write_text(textwrap.dedent(INTERRUPT_SCRIPT))
    env = dict(os.environ, TRITIUM_CACHE_DIR=str(tmp_path / "cache"))
    interrupt_child(script, env, ["ready"])
