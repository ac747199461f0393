"""Differential tests on real kernels: the frontend's golden IR (tests/frontend/golden) and
this directory's pass inputs, compiled by the CPU backend before and after each pass, run on
the same random buffers; every buffer must end up identical.

Kernels are launched on a small grid with every pointer given a large random buffer of its
pointee type and every integer parameter a small size, so that masked kernels stay in bounds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pass_lists import differential_passes

from tritium.ir import FloatType, IntType, Module, PointerType
from tritium.ir.parser import parse_module
from tritium.ir.printer import print_module
from tritium.passes import get_pass, optimize_ttir, run_passes

HERE = Path(__file__).parent
SOURCES = sorted((HERE.parent / "frontend" / "golden").glob("*.ttir")) + sorted(
    (HERE / "inputs").glob("*.ttir")
)
BUFFER = 1 << 14
SIZE = 37  # every integer parameter: odd, so masks cut blocks in the middle
_NP = {
    "i1": np.bool_,
    "i8": np.int8,
    "i16": np.int16,
    "i32": np.int32,
    "i64": np.int64,
    "f16": np.float16,
    "f32": np.float32,
    "f64": np.float64,
}

PIPELINES: dict[str, Callable[[Module], Module]] = {
    name: (lambda m, n=name: run_passes(m, [get_pass(n)], verify=True))
    for name in differential_passes()  # every registered pass: pass_lists.py
}
PIPELINES["optimize_ttir"] = lambda m: optimize_ttir(m, verify=True)


def _kernel_text(path: Path) -> str:
    text = path.read_text().split("// ----- expected")[0]
    return text[text.index('"builtin.module"') :]


def _launchable(m: Module) -> bool:
    kernels = [f for f in m.functions if f.attrs.get("visibility", "public") == "public"]
    if len(kernels) != 1:
        return False
    params = kernels[0].attrs["function_type"].inputs
    ok = all(
        isinstance(t, (IntType, FloatType))
        or (isinstance(t, PointerType) and str(t.pointee) in _NP)
        for t in params
    )
    noisy = any(op.name in ("tt.print", "tt.assert") for op in m.walk())
    return ok and not noisy


def _buffers_and_args(m: Module, seed: int) -> tuple[list[Any], list[int | float]]:
    rng = np.random.default_rng(seed)
    kernel = next(f for f in m.functions if f.attrs.get("visibility", "public") == "public")
    buffers: list[Any] = []
    args: list[int | float] = []
    for t in kernel.attrs["function_type"].inputs:
        if isinstance(t, PointerType):
            dtype = _NP[str(t.pointee)]
            if np.dtype(dtype).kind == "f":
                buf = rng.standard_normal(BUFFER).astype(dtype)
            else:
                buf = rng.integers(-50, 50, BUFFER).astype(dtype)
            buffers.append(buf)
            args.append(buf.ctypes.data)
        elif isinstance(t, IntType):
            args.append(SIZE)
        else:
            args.append(float(rng.standard_normal()))
    return buffers, args


def _run(m: Module, seed: int) -> list[Any]:
    from tritium.backends import get_backend

    backend = get_backend("cpu")
    kernel = backend.load(backend.compile(m, {}))
    # One thread: with made-up arguments, programs may store to the same addresses, and the
    # last writer must not depend on thread timing.
    kernel.num_threads = 1
    buffers, args = _buffers_and_args(m, seed)
    kernel.launch((3, 1, 1), args)
    return buffers


def _before(text: str) -> Module:
    m = parse_module(text)
    # backends need calls inlined: then the baseline is the inlined kernel
    has_calls = any(op.name == "tt.call" for op in m.walk())
    return run_passes(m, [get_pass("inline")], verify=True) if has_calls else m


@functools.cache
def _baseline(path: Path) -> list[Any] | str:
    """The buffers after running the unoptimized kernel (computed once per kernel: compiling
    is the slow part of these tests), or why a frontend golden kernel cannot be launched here.

    Only a frontend golden that is not launchable with made-up buffers (tensor parameters,
    prints, several kernels) is skipped; anything else that cannot run, and any file of
    ``tests/passes/inputs`` (written for this harness), fails the test: a broken input must
    not pass as a skip."""
    text = _kernel_text(path)
    if not _launchable(parse_module(text)):
        if path.parent == HERE / "inputs":
            pytest.fail(f"{path.name}: not a launchable kernel, yet in the pass inputs")
        return "not a launchable kernel (tensor parameters, prints or several kernels)"
    return _run(_before(text), seed=1)


@pytest.mark.parametrize("pipeline", list(PIPELINES))
@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_kernel_results_survive_the_pass(path: Path, pipeline: str) -> None:
    want = _baseline(path)
    if isinstance(want, str):
        pytest.skip(want)
    optimized = PIPELINES[pipeline](_before(_kernel_text(path)))
    got = _run(optimized, seed=1)
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        same = np.array_equal(w, g, equal_nan=w.dtype.kind == "f")
        if not same:
            equal = (w == g) | ((w != w) & (g != g)) if w.dtype.kind == "f" else w == g
            where = np.flatnonzero(~equal)
            again = _run(optimized, seed=1)[i]  # the same kernel once more: is it repeatable?
            repeat = np.array_equal(again, g, equal_nan=True)
            like_want = np.array_equal(again, w, equal_nan=True)
            assert same, (
                f"buffer {i} differs after {pipeline} at {where.size} elements, first "
                f"{where[:8].tolist()}: want {w[where[:8]].tolist()}, got "
                f"{g[where[:8]].tolist()}; a second run of it repeats the first: {repeat}, "
                f"matches the baseline: {like_want}"
                f"\n{print_module(optimized)}"
            )
