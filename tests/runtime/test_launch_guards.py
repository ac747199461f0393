"""The guarded warm launch (runtime/guards.py, backends/cpu/pycall.py) against the generic path.

Every kernel here is launched several times with fresh inputs, so that the first launch goes
through the generic path (which makes the guard) and the later ones through the guard; each
result is compared with a float64 NumPy reference and with the same kernel defined with
``TRITIUM_LAUNCH_GUARDS=0`` (the generic path only).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.backends.cpu import pycall as pc
from tritium.errors import SanitizerError

needs_native = pytest.mark.skipif(pc.pycall() is None, reason="no native launch entry here")


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    seed = int(os.environ.get("TRITIUM_TEST_SEED", "0"))
    return np.random.default_rng([seed, zlib.crc32(request.node.nodeid.encode())])


def _scale(x_ptr, out_ptr, a, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, x * a, mask=mask)


def _maybe_add(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    if y_ptr is not None:
        x = x + tl.load(y_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, x, mask=mask)


def _pair(ptrs, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(ptrs[0] + offs, mask=mask) - tl.load(ptrs[1] + offs, mask=mask)
    tl.store(out_ptr + offs, x, mask=mask)


def _flagged(x_ptr, out_ptr, n, NEG, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    if NEG:
        x = -x
    tl.store(out_ptr + offs, x, mask=mask)


def _kernels(fn: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """(guarded kernel, generic-only kernel) of ``fn``."""
    guarded = triton.jit(fn)
    with monkeypatch.context() as m:
        m.setenv("TRITIUM_LAUNCH_GUARDS", "0")
        generic = triton.jit(fn)
        generic._launcher()  # the knob is read when the launcher is made
    guarded._launcher()
    assert "_tt_gd" not in generic._run_source and "_tt_gd" in guarded._run_source
    return guarded, generic


def _fresh(rng: np.random.Generator, dtype: Any, n: int) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(n).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.integers(0, 2, n).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -100), min(info.max, 100), n, endpoint=True).astype(dtype)


DTYPES = [np.float32, np.float64, np.float16, np.int8, np.int16, np.int32, np.int64, np.uint8]


@needs_native
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("a", [3, 1, 16, -2], ids=lambda a: f"a{a}")
def test_arrays_and_int_scalars(
    dtype: Any, a: int, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    guarded, generic = _kernels(_scale, monkeypatch)
    n = 37
    for i in range(4):
        x = _fresh(rng, dtype, n)
        out = np.full(n, 99, dtype)
        ref = np.full(n, 99, dtype)
        guarded[(3,)](x, out, a, n, BLOCK=16)
        generic[(3,)](x, ref, a, n, BLOCK=16)
        np.testing.assert_array_equal(out, ref)
        want = (x.astype(np.float64) * a).astype(dtype)
        np.testing.assert_array_equal(out, want)
        if i:
            assert guarded.cache.guard is not None  # the later launches were guarded
    assert len(guarded.cache) == 1


@needs_native
@pytest.mark.parametrize(
    "a",
    [2.5, True, False, 2**40, -(2**33), 2**63 + 5],
    ids=["float", "true", "false", "i64", "neg64", "u64"],
)
def test_other_scalars(a: Any, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    guarded, generic = _kernels(_scale, monkeypatch)
    dtype = np.float64
    for _ in range(3):
        x = _fresh(rng, dtype, 20)
        out = np.full(20, np.nan)
        ref = np.full(20, np.nan)
        guarded[(2,)](x, out, a, 20, BLOCK=16)
        generic[(2,)](x, ref, a, 20, BLOCK=16)
        np.testing.assert_array_equal(out, ref)
        np.testing.assert_allclose(out, x * float(np.float64(a)), rtol=1e-12)


@needs_native
def test_none_tuple_and_constexpr(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    guarded, generic = _kernels(_maybe_add, monkeypatch)
    for y_given in (False, True, False, True, True):
        x, y = _fresh(rng, np.float32, 30), _fresh(rng, np.float32, 30)
        out, ref = np.full(30, np.nan, np.float32), np.full(30, np.nan, np.float32)
        guarded[(2,)](x, y if y_given else None, out, 30, BLOCK=16)
        generic[(2,)](x, y if y_given else None, ref, 30, BLOCK=16)
        np.testing.assert_array_equal(out, ref)
        np.testing.assert_array_equal(out, x + y if y_given else x)
    pair, pair_generic = _kernels(_pair, monkeypatch)
    for _ in range(3):
        x, y = _fresh(rng, np.float32, 30), _fresh(rng, np.float32, 30)
        out, ref = np.full(30, np.nan, np.float32), np.full(30, np.nan, np.float32)
        pair[(2,)]((x, y), out, 30, BLOCK=16)
        pair_generic[(2,)]((x, y), ref, 30, BLOCK=16)
        np.testing.assert_array_equal(out, x - y)
        np.testing.assert_array_equal(ref, x - y)
    flagged, _ = _kernels(_flagged, monkeypatch)
    for neg in (True, False, tl.constexpr(True), tl.constexpr(False), 1, 0):
        x = _fresh(rng, np.float32, 30)
        out = np.full(30, np.nan, np.float32)
        flagged[(2,)](x, out, 30, neg, BLOCK=16)
        truth = bool(neg.value if isinstance(neg, tl.constexpr) else neg)
        np.testing.assert_array_equal(out, -x if truth else x)


@needs_native
def test_torch_numpy_scalars_and_dlpack(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    guarded, _ = _kernels(_scale, monkeypatch)
    for a in (np.float32(1.5), np.int64(3), np.int32(16), 2.0):
        for _ in range(2):
            x = _fresh(rng, np.float32, 25)
            tx, tout = torch.from_numpy(x.copy()), torch.full((25,), float("nan"))
            guarded[(2,)](tx, tout, a, 25, BLOCK=16)
            np.testing.assert_allclose(tout.numpy(), x * np.float64(a), rtol=1e-6)
    x = _fresh(rng, np.float32, 25)
    out = np.full(25, np.nan, np.float32)
    guarded[(2,)](np.from_dlpack(torch.from_numpy(x)), out, 2, 25, BLOCK=16)
    np.testing.assert_array_equal(out, x * 2)


@needs_native
def test_torch_tensors_are_guarded(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CPU torch tensors get a guard (checked in Python, see guards._torch_prep); every
    difference the generic key would see takes the generic path, with the generic path's
    answer or error."""
    torch = pytest.importorskip("torch")
    guarded, generic = _kernels(_scale, monkeypatch)
    n = 40

    def check(x: Any, out: Any, a: Any = 3, memory: Any = None) -> None:
        """``memory``: what the kernel reads from x's pointer on (x itself by default)."""
        ref = out.clone()
        guarded[(3,)](x, out, a, n, BLOCK=16)
        generic[(3,)](x, ref, a, n, BLOCK=16)
        want = (x if memory is None else memory).to(torch.float64)[:n] * a
        np.testing.assert_allclose(out[:n].to(torch.float64).numpy(), want.numpy(), rtol=1e-6)
        torch.testing.assert_close(out, ref, equal_nan=True)

    def fresh(dtype: Any = torch.float32, size: int = n) -> Any:
        return torch.from_numpy(_fresh(rng, np.float32, size)).to(dtype)

    for _ in range(3):
        check(fresh(), torch.full((n,), float("nan")))
    guard = guarded.cache.guard
    assert guard is not None and guard[6] is not None  # the tensors' check
    x = fresh()
    out = torch.full((n,), float("nan"))
    assert guard[6](x, out, 3, n)[:2] == (x.data_ptr(), out.data_ptr())
    assert guard[6](x.numpy(), out, 3, n) is None  # not a tensor
    assert guard[6](x.double(), out, 3, n) is None  # another dtype
    assert guard[6](fresh(size=n + 1)[1:], out, 3, n) is None  # unaligned
    assert guard[6](x, torch.zeros(1).expand(n), 3, n) is None  # stride 0
    check(fresh(torch.float64), torch.full((n,), float("nan"), dtype=torch.float64))
    check(fresh(size=n + 1)[1:], torch.full((n,), float("nan")))  # unaligned: another key
    base = fresh(size=2 * n)  # strided: the same key; the kernel reads from the first element
    check(base[::2], torch.full((n,), float("nan")), memory=base)
    check(torch.nn.Parameter(fresh(), requires_grad=False), torch.full((n,), float("nan")))
    with pytest.raises(ValueError, match="overlap"):
        guarded[(3,)](fresh(), torch.zeros(1).expand(n), 3, n, BLOCK=16)
    # NumPy arrays of the same key get their own guard, and torch's still works after them
    for _ in range(2):
        xs = _fresh(rng, np.float32, n)
        outs = np.full(n, np.nan, np.float32)
        guarded[(3,)](xs, outs, 3, n, BLOCK=16)
        np.testing.assert_array_equal(outs, xs * np.float32(3))
    assert guarded.cache.guard is not None and guarded.cache.guard[6] is None
    check(fresh(), torch.full((n,), float("nan")))
    check(fresh(), torch.full((n,), float("nan")))
    assert guarded.cache.guard[6] is not None


@needs_native
def test_a_guard_miss_respecializes(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each change that changes the key takes the generic path and the right kernel."""
    kernel, _ = _kernels(_scale, monkeypatch)
    base = _fresh(rng, np.float32, 64)

    def check(x: np.ndarray, a: Any, n: int) -> None:
        out = np.full(n, np.nan, x.dtype)
        kernel[(4,)](x, out, a, n, BLOCK=16)
        np.testing.assert_array_equal(out, (x[:n].astype(np.float64) * a).astype(x.dtype))

    check(base, 3, 64)
    check(base, 3, 64)  # guarded
    check(base, 1, 64)  # == 1: another specialization
    check(base, 32, 64)  # divisible by 16
    check(base, 2**40, 64)  # i64
    check(base.astype(np.float64), 3, 64)  # another dtype
    check(base[1:], 3, 63)  # unaligned
    check(np.ascontiguousarray(base[::2]), 3, 32)
    buf = np.full(64, np.nan, np.float32)
    # a strided view: the generic path; a pointer is its first element's address
    kernel[(2,)](base[:32], buf[::2], 3, 32, BLOCK=16)
    np.testing.assert_array_equal(buf[:32], base[:32] * 3)
    check(base, 3, 64)
    assert len(kernel.cache) >= 6


@needs_native
def test_bad_arguments_after_a_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel, _ = _kernels(_scale, monkeypatch)
    x = np.arange(16, dtype=np.float32)
    out = np.empty_like(x)
    kernel[(1,)](x, out, 2, 16, BLOCK=16)
    kernel[(1,)](x, out, 2, 16, BLOCK=16)
    assert kernel.cache.guard is not None
    with pytest.raises(TypeError, match="out_ptr"):
        kernel[(1,)](x, "nope", 2, 16, BLOCK=16)
    with pytest.raises(TypeError, match="n"):
        kernel[(1,)](x, out, 2, BLOCK=16)
    ro = np.zeros(16, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out_ptr.*read-only"):
        kernel[(1,)](x, ro, 2, 16, BLOCK=16)
    with pytest.raises(ValueError, match="overlap"):
        kernel[(1,)](x, np.broadcast_to(np.zeros(1, np.float32), (16,)), 2, 16, BLOCK=16)
    with pytest.raises(ValueError, match="negative"):
        kernel[(-1,)](x, out, 2, 16, BLOCK=16)
    with pytest.raises(TypeError, match="integers"):
        kernel[(1.0,)](x, out, 2, 16, BLOCK=16)
    with pytest.raises(ValueError, match="64 bits"):
        kernel[(2**31 - 1, 2**31 - 1, 2**31 - 1)](x, out, 2, 16, BLOCK=16)
    with pytest.raises(ValueError, match="integer"):
        kernel[(1,)](x, out, 2**64, 16, BLOCK=16)


@needs_native
def test_grids(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    kernel, _ = _kernels(_scale, monkeypatch)
    n = 100
    x = _fresh(rng, np.float32, n)
    for grid in [
        (7,),
        [7],
        (np.int64(7),),
        lambda meta: (triton.cdiv(n, meta["BLOCK"]),),
        (7, 1, 1),
    ]:
        for _ in range(2):
            out = np.full(n, np.nan, np.float32)
            kernel[grid](x, out, 2, n, BLOCK=16)
            np.testing.assert_array_equal(out, x * 2)
    out = np.full(n, np.nan, np.float32)
    kernel[(0,)](x, out, 2, n, BLOCK=16)  # nothing runs
    assert np.isnan(out).all()
    kernel.run(x, out, 2, n, BLOCK=16, grid=(7,))
    np.testing.assert_array_equal(out, x * 2)
    assert kernel.run(x, out, 2, n, BLOCK=16, grid=(7,), warmup=True) is not None


@needs_native
def test_cache_changes_drop_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel, _ = _kernels(_scale, monkeypatch)
    x = np.arange(16, dtype=np.float32)
    out = np.full(16, np.nan, np.float32)
    kernel[(1,)](x, out, 2, 16, BLOCK=16)
    kernel[(1,)](x, out, 2, 16, BLOCK=16)
    assert kernel.cache.guard is not None
    kernel._unsafe_update_src(kernel.src.replace("x * a", "x * a + 1"))
    assert kernel.cache.guard is None
    kernel[(1,)](x, out, 2, 16, BLOCK=16)
    np.testing.assert_array_equal(out, x * 2 + 1)
    kernel.cache.pop(next(iter(kernel.cache)))
    assert kernel.cache.guard is None


@needs_native
def test_environment_is_read_per_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard made in compiled mode does not bypass TRITIUM_SANITIZE set afterwards."""
    monkeypatch.delenv("TRITIUM_SANITIZE", raising=False)
    kernel, _ = _kernels(_scale, monkeypatch)
    x = np.arange(16, dtype=np.float32)
    out = np.full(16, np.nan, np.float32)
    kernel[(1,)](x, out, 2, 16, BLOCK=16)
    kernel[(1,)](x, out, 2, 16, BLOCK=16)
    assert kernel.cache.guard is not None
    monkeypatch.setenv("TRITIUM_SANITIZE", "1")
    with pytest.raises(SanitizerError):
        kernel[(1,)](x[:8], out, 2, 16, BLOCK=16)


@needs_native
def test_native_entry_rejects_what_it_cannot_check() -> None:
    """pycall directly: anything but an exact tuple grid of positive ints is handed back."""
    fn = pc.pycall()
    kernel = triton.jit(_scale)
    x = np.arange(16, dtype=np.float32)
    out = np.full(16, np.nan, np.float32)
    kernel[(1,)](x, out, 2, 16, BLOCK=16)
    cpu = next(iter(kernel.cache.values()))[1].kernel
    addr, _keep = cpu.guard_handle([(k, 0, 0) for k in cpu.slot_kinds], 0)
    ptrs = (x.ctypes.data, out.ctypes.data)
    assert len(cpu.slot_kinds) == 4  # x, out, a, n
    out[:] = np.nan
    for grid in ([1], (0,), (1, -1), (2**31,), (True,), (1, 2, 3, 4), ()):
        assert fn(addr, grid, 1, *ptrs, 2, 16) == 1, grid
    assert fn(addr, (1,), 1, *ptrs, 2) == 1  # too few values
    with pytest.raises(TypeError):
        fn(addr, (1,), 1, ptrs[0], "x", 2, 16)
    assert np.isnan(out).all()
    assert fn(addr, (1,), 1, *ptrs, 2, 16) == 0
    np.testing.assert_array_equal(out, x * 2)


def test_default_pipeline_text_is_current() -> None:
    """The cache key's shortcut for the default pipeline (compiler.DEFAULT_PIPELINE_TEXT) must
    describe what the pipeline module would: otherwise two pipelines would share entries."""
    from tritium.compiler.compiler import DEFAULT_PIPELINE_TEXT
    from tritium.passes.pipeline import default_pipeline, describe_pipeline

    assert describe_pipeline(default_pipeline()) == DEFAULT_PIPELINE_TEXT


def test_first_launch_of_a_cached_kernel_imports_no_passes(tmp_path: Any) -> None:
    """A new process that launches a kernel found in the disk cache imports neither the
    frontend nor the passes (they are a large share of its start-up)."""
    import subprocess
    import sys

    script = (
        "import sys, numpy as np\n"
        "from benchmarks import kernels\n"
        "x = np.ones(16, np.float32); out = np.empty_like(x)\n"
        "kernels.add4[(1,)](x, x, out, 16, BLOCK=16)\n"
        "assert out.tolist() == [2.0] * 16\n"
        "print(sorted(m for m in sys.modules if m.startswith(('tritium.passes', "
        "'tritium.frontend'))))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root, TRITIUM_CACHE_DIR=str(tmp_path))
    env.pop("TRITIUM_PASSES", None)
    first = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    assert "tritium.passes" in first.stdout  # it compiled
    again = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    assert again.stdout.strip() == "[]", again.stdout
