"""Compile-time limits: an unroll too large to compile is a CompilationError at the user's line
(the limit is ``TRITIUM_STATIC_UNROLL_LIMIT``), and a long straight-line kernel goes through
every stage (frontend, passes, printer, parser, verifier, LLVM lowering, the interpreter)
without Python recursion that grows with its length."""

from __future__ import annotations

import importlib.util
import inspect
import os
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import tritium.language as tl
from tests.frontend.helpers import jit
from tritium import ir
from tritium.errors import CompilationError
from tritium.frontend import ast_to_ttir

SEED = int(os.environ.get("TRITIUM_TEST_SEED", "0"))


@jit
def nested_unroll(x_ptr, N: tl.constexpr, M: tl.constexpr):
    acc = tl.load(x_ptr)
    for _i in tl.static_range(N):
        for _j in tl.static_range(M):
            acc = acc * 0.5 + 1.0
    tl.store(x_ptr, acc)


@jit
def _unrolled_helper(acc, M: tl.constexpr):
    for j in tl.static_range(M):
        acc = acc + j
    return acc


@jit
def unroll_through_call(x_ptr, N: tl.constexpr, M: tl.constexpr):
    acc = tl.load(x_ptr)
    for _i in tl.static_range(N):
        acc = _unrolled_helper(acc, M)
    tl.store(x_ptr, acc)


@jit
def unroll_tuple(x_ptr, T: tl.constexpr):
    acc = tl.load(x_ptr)
    for t in T:
        acc = acc + t
    tl.store(x_ptr, acc)


def _line(fn: Any, needle: str) -> int:
    lines, first = inspect.getsourcelines(fn.fn)
    return first + next(i for i, ln in enumerate(lines) if needle in ln)


def _error(fn: Any, constexprs: dict[str, Any]) -> CompilationError:
    with pytest.raises(CompilationError) as info:
        ast_to_ttir(fn, {"x_ptr": "*fp32"}, constexprs, {})
    return info.value


def test_huge_static_range_is_a_compile_error_at_its_line() -> None:
    # 200,000 iterations used to compile for ever; the limit is checked before unrolling
    err = _error(nested_unroll, {"N": 200_000, "M": 1})
    assert err.line == _line(nested_unroll, "static_range(N)")
    assert "tl.static_range(N)" in err.source_line
    assert err.col == err.source_line.index("tl.static_range")
    text = str(err)
    assert "200000 copies" in text and "the limit is 8192" in text
    assert "tl.range" in text and "TRITIUM_STATIC_UNROLL_LIMIT" in text
    # 10**15 iterations: counted, never materialized
    assert "1000000000000000 copies" in str(_error(nested_unroll, {"N": 10**15, "M": 1}))
    assert f"{10**30} copies" in str(_error(nested_unroll, {"N": 10**30, "M": 1}))


def test_nested_static_ranges_multiply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITIUM_STATIC_UNROLL_LIMIT", "50")
    err = _error(nested_unroll, {"N": 8, "M": 7})
    assert err.line == _line(nested_unroll, "static_range(M)")
    assert "56 copies" in str(err) and "7 inside unrolled loops of 8" in str(err)
    ast_to_ttir(nested_unroll, {"x_ptr": "*fp32"}, {"N": 5, "M": 10}, {})  # exactly the limit


def test_unroll_counts_through_jit_calls_and_tuples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITIUM_STATIC_UNROLL_LIMIT", "20")
    err = _error(unroll_through_call, {"N": 5, "M": 5})
    assert err.line == _line(unroll_through_call, "_unrolled_helper(acc, M)")  # the call
    assert err.__cause__.line == _line(_unrolled_helper, "static_range(M)")
    assert "25 copies" in str(err.__cause__)
    ast_to_ttir(unroll_through_call, {"x_ptr": "*fp32"}, {"N": 4, "M": 5}, {})
    err = _error(unroll_tuple, {"T": tuple(range(30))})
    assert "at least 21 copies" in str(err)


def test_bad_unroll_limit_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITIUM_STATIC_UNROLL_LIMIT", "lots")
    with pytest.raises(CompilationError, match="TRITIUM_STATIC_UNROLL_LIMIT='lots' is not an int"):
        ast_to_ttir(nested_unroll, {"x_ptr": "*fp32"}, {"N": 2, "M": 2}, {})


# ---- a long straight-line kernel --------------------------------------------------------


class _NumpyTl:
    """The few ``tl`` functions the long kernel uses, on float64 NumPy arrays (the reference)."""

    float32 = np.float64
    where = staticmethod(np.where)

    @staticmethod
    def max(a: np.ndarray, axis: int) -> np.float64:
        return np.max(a, axis=axis)

    @staticmethod
    def cumsum(a: np.ndarray, axis: int) -> np.ndarray:
        return np.cumsum(a, axis=axis)


def _long_kernel(statements: int, rng: random.Random) -> tuple[str, list[str]]:
    """The source of a kernel of ``statements`` random statements, and the statements alone."""
    fa, ia, sa = ["a0"], ["i0"], ["s0"]
    body = []
    for i in range(1, statements + 1):
        c = rng.random()
        f, g, k, s = rng.choice(fa), rng.choice(fa), rng.choice(ia), rng.choice(sa)
        if c < 0.35:
            body.append(f"a{i} = tl.where({k} > 0, {f} * 0.5, {g}) + {s} * 0.001")
            fa.append(f"a{i}")
        elif c < 0.5:
            body.append(f"s{i} = tl.max({f}, axis=0) * 0.5")
            sa.append(f"s{i}")
        elif c < 0.65:
            body.append(f"i{i} = ({k} + {rng.choice(ia)}) & 255")
            ia.append(f"i{i}")
        elif c < 0.75:
            body.append(f"a{i} = tl.cumsum({f}, 0) * 0.01")
            fa.append(f"a{i}")
        else:  # a chain through the latest value: dependencies as long as the kernel
            body.append(f"a{i} = {fa[-1]} * 0.5 + {f} * 0.25 + {k}.to(tl.float32) * 0.001")
            fa.append(f"a{i}")
    # one long sum: a left-deep chain of as many terms as the kernel has statements
    terms = " + ".join(f"{rng.choice(fa)} * 0.001" for _ in range(statements))
    body.append(f"out = {fa[-1]} + {sa[-1]} + {terms}")
    lines = [
        "import tritium.language as tl",
        "from tests.frontend.helpers import jit",
        "",
        "@jit",
        "def long_kernel(x_ptr, y_ptr, out_ptr, BLOCK: tl.constexpr):",
        "    offs = tl.arange(0, BLOCK)",
        "    a0 = tl.load(x_ptr + offs)",
        "    i0 = tl.load(y_ptr + offs)",
        "    s0 = tl.max(a0, axis=0)",
        *(f"    {b}" for b in body),
        "    tl.store(out_ptr + offs, out)",
    ]
    return "\n".join(lines) + "\n", body


def _load(source: str, tmp_path: Path) -> ModuleType:
    path = tmp_path / "long_kernel_module.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("long_kernel_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_long_straight_line_kernel_has_no_deep_recursion(tmp_path: Path) -> None:
    pytest.importorskip("tritium.backends.cpu")
    from tritium.backends import get_backend
    from tritium.interpreter import run_kernel
    from tritium.passes import optimize_ttir

    statements = 400
    source, body = _long_kernel(statements, random.Random(SEED))
    kernel = _load(source, tmp_path).long_kernel
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal(16).astype(np.float32)
    y = rng.integers(-50, 50, 16).astype(np.int32)
    # float64 reference: the same statements on NumPy arrays
    env: dict[str, Any] = {"tl": _NumpyTl, "a0": x.astype(np.float64), "i0": y.astype(np.int64)}
    env["s0"] = env["a0"].max()
    for stmt in body:
        exec(stmt.replace(".to(", ".astype("), env)
    want = env["out"]

    # Any stage recursing once per statement (or per link of the dependency chain, or per
    # term of the sum) would need more frames than this allows: the kernel is 400 statements
    # long and its last one sums 400 terms.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 250)
    try:
        module = ast_to_ttir(
            kernel, {"x_ptr": "*fp32", "y_ptr": "*i32", "out_ptr": "*fp32"}, {"BLOCK": 16}, {}
        )
        text = ir.print_module(module)
        assert ir.print_module(ir.parse_module(text)) == text
        module = optimize_ttir(module)
        ir.verify(module)
        backend = get_backend("cpu")
        loaded = backend.load(backend.compile(module, {}))
        compiled = np.full(16, np.nan, np.float32)
        loaded.launch((1, 1, 1), [x.ctypes.data, y.ctypes.data, compiled.ctypes.data])
        interpreted = np.full(16, np.nan, np.float32)
        run_kernel(
            kernel.fn,
            (1, 1, 1),
            {"x_ptr": x, "y_ptr": y, "out_ptr": interpreted, "BLOCK": 16},
        )
    finally:
        sys.setrecursionlimit(limit)
    np.testing.assert_allclose(compiled, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(interpreted, want, rtol=1e-4, atol=1e-4)


def test_long_compile_time_elif_chain(tmp_path: Path) -> None:
    # `if C == 0: ... elif C == 1: ...` 400 times, taken at compile time: no recursion per elif
    cases = "\n".join(
        f"    {'if' if i == 0 else 'elif'} C == {i}:\n        v = v + {i}.0" for i in range(400)
    )
    source = (
        "import tritium.language as tl\n"
        "from tests.frontend.helpers import jit\n\n"
        "@jit\n"
        "def long_kernel(x_ptr, C: tl.constexpr):\n"
        "    v = tl.load(x_ptr)\n"
        f"{cases}\n"
        "    tl.store(x_ptr, v)\n"
    )
    kernel = _load(source, tmp_path).long_kernel
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 250)
    try:
        module = ast_to_ttir(kernel, {"x_ptr": "*fp32"}, {"C": 399}, {})
    finally:
        sys.setrecursionlimit(limit)
    text = ir.print_module(module)
    assert "399.0" in text or "3.99" in text, text
