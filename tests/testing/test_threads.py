"""tritium.set_num_threads/get_num_threads, read at every launch, and threadpoolctl's view."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium import threads


@tritium.jit
def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(
        out_ptr + offs,
        tl.load(x_ptr + offs, mask=mask) + tl.load(y_ptr + offs, mask=mask),
        mask=mask,
    )


@pytest.fixture(autouse=True)
def _restore_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    saved = threads.THREADS[0]
    yield
    threads.THREADS[0] = saved


def _recording_launch(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[int], Any]:
    """A compiled add kernel whose native entry records the thread count it is given (through
    ctypes, or the launch builtin of backends/cpu/pycall.py that warm launches call)."""
    n = 1000
    x, y = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    out = np.full(n, np.nan, np.float32)
    compiled = add_kernel[(8,)](x, y, out, n, BLOCK=128)
    cpu_kernel = compiled.kernel
    seen: list[int] = []
    native = cpu_kernel._fn

    def recorder(args, gx, gy, gz, nthreads, *rest):  # rest: err, pool, stop word
        seen.append(nthreads)
        return native(args, gx, gy, gz, nthreads, *rest)

    cpu_kernel._fn = recorder
    builtin = cpu_kernel._call
    if builtin is not None:

        def record_builtin(handle, grid, nthreads, *values):  # type: ignore[no-untyped-def]
            seen.append(nthreads)
            return builtin(handle, grid, nthreads, *values)

        monkeypatch.setattr(cpu_kernel, "_call", record_builtin)
        namespace = add_kernel._launcher().__globals__  # the guarded launch's call
        monkeypatch.setitem(namespace, "_tt_call", record_builtin)

    def launch() -> None:
        out[:] = np.nan
        add_kernel[(8,)](x, y, out, n, BLOCK=128)
        np.testing.assert_allclose(out, x.astype(np.float64) + y, rtol=1e-6)

    return seen, (launch, cpu_kernel, native)


def test_set_num_threads_applies_to_loaded_kernels(rng, monkeypatch) -> None:
    seen, (launch, cpu_kernel, native) = _recording_launch(rng, monkeypatch)
    try:
        tritium.set_num_threads(1)
        assert tritium.get_num_threads() == 1
        launch()
        tritium.set_num_threads(np.int64(3))
        assert tritium.get_num_threads() == 3
        launch()
        assert seen == [1, 3]
    finally:
        cpu_kernel._fn = native


def test_set_num_threads_rejects_bad_counts() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        tritium.set_num_threads(0)
    with pytest.raises(TypeError, match="int"):
        tritium.set_num_threads("2")
    with pytest.raises(TypeError, match="int"):
        tritium.set_num_threads(True)


def test_threadpoolctl_sees_and_limits_tritium(rng, monkeypatch) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not hasattr(threadpoolctl, "register"):
        pytest.skip("threadpoolctl < 3.5 cannot take third-party controllers")
    seen, (launch, cpu_kernel, native) = _recording_launch(rng, monkeypatch)  # llvmlite loaded
    try:
        tritium.set_num_threads(2)
        info = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "tritium"]
        assert len(info) == 1 and info[0]["num_threads"] == 2
        assert info[0]["version"] == tritium.__version__
        with threadpoolctl.threadpool_limits(limits=1, user_api="tritium"):
            assert tritium.get_num_threads() == 1
            launch()
        assert tritium.get_num_threads() == 2
        launch()
        assert seen == [1, 2]
    finally:
        cpu_kernel._fn = native


def test_threadpoolctl_imported_after_tritium_knows_it() -> None:
    """``import tritium`` does not import threadpoolctl (first-launch time); importing it
    later registers tritium's controller all the same."""
    pytest.importorskip("threadpoolctl")
    import subprocess
    import sys

    code = (
        "import sys, tritium\n"
        "assert 'threadpoolctl' not in sys.modules\n"
        "import threadpoolctl\n"
        "if hasattr(threadpoolctl, 'register'):\n"
        "    apis = [i['user_api'] for i in threadpoolctl.threadpool_info()]\n"
        "    assert 'tritium' in apis, apis\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
