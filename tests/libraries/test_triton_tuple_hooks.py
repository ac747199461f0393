"""What Triton's ``test_tuple.py``, ``test_core.py::test_reshape_err``, its launch hooks and its
dump and override variables expect, reduced to the smallest kernels, compiled and interpreted."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium.errors import CompilationError
from tritium.knob_groups import runtime
from tritium.runtime.jit import LAUNCH_HOOKS


class _Closure(NamedTuple):
    fn: Any
    captured: tuple


class _View(NamedTuple):
    ptr: Any
    n: Any


@tritium.jit
def _scale_by(x, a_ptr):
    return x * tl.load(a_ptr)


@tritium.jit
def _apply_closure(closure, src: _View, dst: _View, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(src.ptr + offs, mask=offs < src.n)
    tl.store(dst.ptr + offs, closure.fn(x, *closure.captured), mask=offs < dst.n)


def test_a_namedtuple_argument_holding_a_jit_function(mode: str, rng: np.random.Generator) -> None:
    x = rng.standard_normal(50).astype(np.float32)
    a = np.array([rng.uniform(0.5, 2.0)], np.float32)
    y = np.full(64, np.nan, np.float32)
    _apply_closure[(1,)](_Closure(_scale_by, (a,)), _View(x, 50), _View(y, 40), BLOCK=64)
    np.testing.assert_allclose(y[:40], x[:40].astype(np.float64) * a[0], rtol=1e-6)
    assert np.isnan(y[40:]).all()


@tritium.jit
def _tuple_one_is_constexpr(out_ptr, strides):
    # Triton specializes an integer 1 inside a tuple argument as it does a plain argument's
    tl.static_assert(isinstance(strides[1].type, tl.constexpr_type))
    tl.store(out_ptr, strides[0] * 10 + strides[1])


def test_an_integer_one_in_a_tuple_is_a_constexpr(mode: str, rng: np.random.Generator) -> None:
    n = int(rng.integers(2, 9))
    out = np.full(1, -1, np.int32)
    _tuple_one_is_constexpr[(1,)](out, (n, 1))
    assert out[0] == n * 10 + 1


@tritium.jit
def _assign_tuple_item():
    t = tl.tuple([5, 6, 7])
    t[0] = 0


def test_assigning_a_tuple_item_is_a_compilation_error(mode: str) -> None:
    with pytest.raises(CompilationError):
        _assign_tuple_item[(1,)]()


@tritium.jit
def _bad_store(z_ptr, BLOCK: tl.constexpr):
    x = tl.arange(0, BLOCK // 2)
    tl.store(z_ptr + tl.arange(0, BLOCK)[:, None] * BLOCK + tl.arange(0, BLOCK)[None, :], x)


def test_a_store_value_that_does_not_broadcast_is_a_compilation_error(mode: str) -> None:
    z = np.full((8, 8), -1, np.int32)
    with pytest.raises(CompilationError, match="store"):
        _bad_store[(1,)](z, BLOCK=8)
    assert (z == -1).all()


@tritium.jit
def _bad_reshape():
    x = tl.arange(0, 8 * 8)
    tl.reshape(x, (8 * 4,))


def test_warmup_reports_the_compilers_errors(mode: str) -> None:
    with pytest.raises(CompilationError, match="reshape"):
        _bad_reshape.warmup(grid=(1,))


def _md(grid: Any, metadata: Any, args: dict[str, Any]) -> dict[str, Any]:
    return {"n": args["n"], "grid": grid}


@tritium.jit(launch_metadata=_md)
def _add_one(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=offs < n) + 1, mask=offs < n)


@pytest.fixture
def _hooks():
    enter, exit_ = runtime.launch_enter_hook, runtime.launch_exit_hook
    yield
    runtime.launch_enter_hook, runtime.launch_exit_hook = enter, exit_
    assert not LAUNCH_HOOKS


def test_jit_launches_call_the_launch_hooks(_hooks: None, rng: np.random.Generator) -> None:
    """Triton's launcher calls ``knobs.runtime.launch_enter_hook(metadata)`` before a compiled
    launch and ``launch_exit_hook(metadata)`` after it; the metadata has the kernel's name and
    what ``@jit(launch_metadata=fn)`` returns."""
    x = rng.standard_normal(16).astype(np.float32)
    want = x.astype(np.float64)
    _add_one[(1,)](x, 16, BLOCK=16)  # warm: the guarded fast path, no hooks yet
    events: list[tuple[Any, ...]] = []

    def enter(md: Any) -> None:
        events.append(("enter", md["name"], md["n"], md["grid"], float(x[0])))

    runtime.launch_enter_hook.add(enter)
    _add_one[(1, 1)](x, 16, BLOCK=16)
    runtime.launch_exit_hook = lambda md: events.append(("exit", md["name"], float(x[0])))
    _add_one[(1,)](x, 7, BLOCK=16)
    runtime.launch_enter_hook.remove(enter)
    runtime.launch_exit_hook = None
    _add_one[(1,)](x, 16, BLOCK=16)
    np.testing.assert_allclose(x[:7], want[:7] + 4)
    np.testing.assert_allclose(x[7:], want[7:] + 3)
    x0 = want[0]
    assert events == [
        ("enter", "_add_one", 16, (1, 1, 1), pytest.approx(x0 + 1)),
        ("enter", "_add_one", 7, (1, 1, 1), pytest.approx(x0 + 2)),
        ("exit", "_add_one", pytest.approx(x0 + 3)),
    ]
    assert not LAUNCH_HOOKS  # none set: launches pay nothing for hooks


def _add_pair(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    m = i < n
    tl.store(out_ptr + i, tl.load(x_ptr + i, mask=m) + tl.load(y_ptr + i, mask=m), mask=m)


def test_triton_kernel_dump_and_override_variables(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    """``TRITON_KERNEL_DUMP=1``/``TRITON_DUMP_DIR`` write a kernel's IR; with
    ``TRITON_KERNEL_OVERRIDE=1``/``TRITON_OVERRIDE_DIR`` an edited copy is compiled instead."""
    monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    x = rng.standard_normal(20).astype(np.float32)
    y = rng.standard_normal(20).astype(np.float32)
    dump, override = tmp_path / "dump", tmp_path / "override"
    monkeypatch.setenv("TRITON_KERNEL_DUMP", "1")
    monkeypatch.setenv("TRITON_DUMP_DIR", str(dump))
    out = np.full(20, np.nan, np.float32)
    tritium.jit(_add_pair)[(1,)](x, y, out, 20, BLOCK=32)  # a new JITFunction: it compiles
    np.testing.assert_allclose(out, x.astype(np.float64) + y, rtol=1e-6)
    (ttir,) = dump.glob("*/_add_pair.ttir")
    text = ttir.read_text()
    assert text.count("arith.addf") == 1
    monkeypatch.delenv("TRITON_KERNEL_DUMP")
    override.mkdir(mode=0o700)
    (override / "_add_pair.ttir").write_text(text.replace("arith.addf", "arith.subf"))
    monkeypatch.setenv("TRITON_KERNEL_OVERRIDE", "1")
    monkeypatch.setenv("TRITON_OVERRIDE_DIR", str(override))
    out[:] = np.nan
    tritium.jit(_add_pair)[(1,)](x, y, out, 20, BLOCK=32)
    np.testing.assert_allclose(out, x.astype(np.float64) - y, rtol=1e-6)
