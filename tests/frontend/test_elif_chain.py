"""Long run-time ``if``/``elif`` chains (``tritium/frontend/elif_chain.py``): lowered flat, so
no stage recurses once per ``elif``, with the nested form's semantics (conditions evaluated
only until one holds, the names visible after the chain)."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tests.frontend.test_compile_limits import _load
from tritium import ir
from tritium.errors import CompilationError
from tritium.frontend import ast_to_ttir
from tritium.frontend.elif_chain import FLAT_ELIF_MIN
from tritium.interpreter import run_kernel

LINKS = 10


@triton.jit(do_not_specialize=["c"])
def _chain(x_ptr, hits_ptr, out_ptr, c, BLOCK: tl.constexpr, C: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    acc = x  # bound before the chain: merged through every link
    scale = 1.0  # a Python number before: a tile once a branch changes it
    # each test counts its evaluations: the ones after the taken link must not run
    if tl.atomic_add(hits_ptr + 0, 1) + c == 0:
        acc = acc + 1.0
        w = x * 2.0  # bound by every branch: visible after the chain
        p = x_ptr  # a pointer bound by every branch
    elif tl.atomic_add(hits_ptr + 1, 1) + c == 1:
        acc = acc * 3.0
        w = x - 1.0
        p = x_ptr + 1
    elif tl.atomic_add(hits_ptr + 2, 1) + c == 2:
        w = x * x
        p = x_ptr + 2
        scale = 2.0
    elif tl.atomic_add(hits_ptr + 3, 1) + c == 3:
        w = -x
        p = x_ptr + 3
    elif tl.atomic_add(hits_ptr + 4, 1) + c == 4:
        acc = acc - 5.0
        w = x + 4.0
        p = x_ptr + 4
    elif tl.atomic_add(hits_ptr + 5, 1) + c == 5:
        w = x * 0.5
        p = x_ptr + 5
    elif C == 2:  # known at compile time: with C == 2 the chain's `else`
        w = x * 1000.0
        p = x_ptr
    elif tl.atomic_add(hits_ptr + 6, 1) + c == 6:
        w = x + 6.0
        p = x_ptr + 6
        scale = 3.0
    elif tl.atomic_add(hits_ptr + 7, 1) + c == 7:
        acc = tl.abs(acc)
        w = x - 7.0
        p = x_ptr + 7
    elif C == 1:  # known at compile time: with C == 1 the chain's `else`
        w = x + 11.0
        p = x_ptr + 11
    elif tl.atomic_add(hits_ptr + 8, 1) + c == 8:
        w = x * 8.0
        p = x_ptr + 8
    else:
        w = x + 100.0
        p = x_ptr + 9
        scale = 0.5
    tl.store(out_ptr + offs, acc * scale + w + tl.load(p + offs % 4))


def _reference(x: np.ndarray, c: int, C: int) -> tuple[np.ndarray, np.ndarray]:
    """What Python's nested `elif` does (float64), and the evaluations of each test."""
    x = x.astype(np.float64)
    hits = np.zeros(LINKS, np.int32)
    acc, scale = x.copy(), 1.0
    taken: Any = "else"
    for link in [0, 1, 2, 3, 4, 5, "C2", 6, 7, "C1", 8]:
        if isinstance(link, str):  # a compile-time test: nothing evaluated at run time
            if C == int(link[1]):
                taken = link
                break
            continue
        hits[link] += 1
        if c == link:
            taken = link
            break
    if taken == 0:
        acc, w, off = acc + 1.0, x * 2.0, 0
    elif taken == 1:
        acc, w, off = acc * 3.0, x - 1.0, 1
    elif taken == 2:
        w, off, scale = x * x, 2, 2.0
    elif taken == 3:
        w, off = -x, 3
    elif taken == 4:
        acc, w, off = acc - 5.0, x + 4.0, 4
    elif taken == 5:
        w, off = x * 0.5, 5
    elif taken == 6:
        w, off, scale = x + 6.0, 6, 3.0
    elif taken == 7:
        acc, w, off = np.abs(acc), x - 7.0, 7
    elif taken == "C2":
        w, off = x * 1000.0, 0
    elif taken == "C1":
        w, off = x + 11.0, 11
    elif taken == 8:
        w, off = x * 8.0, 8
    else:
        w, off, scale = x + 100.0, 9, 0.5
    loaded = x[off + np.arange(len(x)) % 4]
    return acc * scale + w + loaded, hits


@pytest.mark.parametrize("interpret", [False, True])
@pytest.mark.parametrize("C", [0, 1, 2])
def test_long_chain_matches_nested_semantics(rng, monkeypatch, interpret, C) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setenv("TRITIUM_INTERPRET", "1" if interpret else "0")
    x = rng.standard_normal(16).astype(np.float32)
    for c in [*rng.choice(np.arange(-1, 11), 5, replace=False), 0, 8]:
        hits = np.zeros(LINKS, np.int32)
        out = np.full(16, np.nan, np.float32)
        _chain[(1,)](x, hits, out, int(c), BLOCK=16, C=C)
        want, want_hits = _reference(x, int(c), C)
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5, err_msg=f"c={c}")
        np.testing.assert_array_equal(hits, want_hits, err_msg=f"c={c}")


def _chain_source(links: int, else_binds: bool) -> str:
    cases = "\n".join(
        f"    {'if' if i == 0 else 'elif'} c == {i}:\n        v = v + {i}.5\n        w = v"
        for i in range(links)
    )
    tail = "        w = v\n" if else_binds else ""
    return (
        "import tritium.language as tl\n"
        "from tests.frontend.helpers import jit\n\n"
        "@jit\n"
        "def long_kernel(x_ptr, c_ptr):\n"
        "    c = tl.load(c_ptr)\n"
        "    v = tl.load(x_ptr)\n"
        f"{cases}\n"
        "    else:\n"
        "        v = v - 1.0\n"
        f"{tail}"
        "    tl.store(x_ptr, v + w)\n"
    )


@pytest.mark.parametrize("links", [3, FLAT_ELIF_MIN + 2])
def test_a_name_some_branch_does_not_bind_is_not_visible_after(tmp_path: Path, links) -> None:
    # the same error for a short (nested) chain and a long (flat) one
    kernel = _load(_chain_source(links, else_binds=False), tmp_path).long_kernel
    with pytest.raises(CompilationError, match="'w' is not defined"):
        ast_to_ttir(kernel, {"x_ptr": "*fp32", "c_ptr": "*i32"}, {}, {})


def test_150_run_time_elifs_compile_without_deep_recursion(tmp_path: Path, rng) -> None:
    # a few hundred links used to end in "recursion too deep"; the stack here allows far
    # fewer frames than the chain has links, so any stage recursing per `elif` fails
    pytest.importorskip("tritium.backends.cpu")
    from tritium.backends import get_backend
    from tritium.passes import optimize_ttir

    links = 150
    kernel = _load(_chain_source(links, else_binds=True), tmp_path).long_kernel
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 250)
    results: dict[int, tuple[float, float]] = {}
    try:
        module = ast_to_ttir(kernel, {"x_ptr": "*fp32", "c_ptr": "*i32"}, {}, {})
        text = ir.print_module(module)
        assert ir.print_module(ir.parse_module(text)) == text
        module = optimize_ttir(module)
        ir.verify(module)
        backend = get_backend("cpu")
        loaded = backend.load(backend.compile(module, {}))
        for c in [*rng.integers(0, links, 3), links - 1, links + 5]:
            x0 = np.float32(rng.standard_normal())
            compiled, interpreted = np.array([x0]), np.array([x0])
            cv = np.array([c], np.int32)
            loaded.launch((1, 1, 1), [compiled.ctypes.data, cv.ctypes.data])
            run_kernel(kernel.fn, (1, 1, 1), {"x_ptr": interpreted, "c_ptr": cv})
            results[int(c)] = (float(compiled[0]), float(interpreted[0]))
            v = float(x0) + (c + 0.5 if c < links else -1.0)
            want: Any = 2 * v
            np.testing.assert_allclose(results[int(c)], [want, want], rtol=1e-5, err_msg=f"{c}")
    finally:
        sys.setrecursionlimit(limit)
