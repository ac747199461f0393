"""The cache key's inputs without the slow paths (issue 13, first launch): the kernel's source
read from its code object's line range (no tokenizer), and the names its AST walk finds kept
in the disk cache, so a later process parses nothing; both give exactly what the slow paths
gave."""

from __future__ import annotations

import inspect
import textwrap

import pytest

import tritium
import tritium.language as tl
from tritium.runtime import kernel_source

SCALE = 3
LIMITS = (2, 5)


def _helper(a, b):
    return a + b


@tritium.jit
def _callee(x):
    return x * SCALE


@tritium.jit
def _kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)

    def local(v):  # a nested function: its lines belong to the kernel's source too
        return v + LIMITS[0]

    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    tl.store(
        out_ptr + offs,
        _callee(local(x)) + tl.reduce(x, 0, _helper) * 0,
        mask=m,
    )  # a last statement over several lines


def _inspect_source(fn) -> str:
    src = textwrap.dedent(inspect.getsource(fn))
    return src[src.find("def ") :]


def test_source_from_the_code_object_is_inspects() -> None:
    assert kernel_source._function_source(_kernel.fn) == _inspect_source(_kernel.fn)
    assert kernel_source._function_source(_callee.fn) == _inspect_source(_callee.fn)
    made = {}
    exec("def no_file(x):\n    return x\n", made)  # no source anywhere: empty, as before
    assert kernel_source._function_source(made["no_file"]) == ""


def test_cached_names_give_the_same_key(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(kernel_source, "_chains_memo", {})
    used_walk: list = []
    walked = kernel_source.dependencies_key(_kernel, used=used_walk)
    assert any(p.startswith("SCALE = int:3") for p in walked)
    assert any(p.startswith("LIMITS = tuple(") for p in walked)
    assert any("def _helper" in p for p in walked)

    # a new process: nothing in memory, the names come from the disk cache, no parsing
    monkeypatch.setattr(kernel_source, "_chains_memo", {})

    def no_parse(src: str) -> list[str]:
        raise AssertionError("parsed a source whose names are cached")

    monkeypatch.setattr(kernel_source, "_walk_chains", no_parse)
    used_cached: list = []
    assert kernel_source.dependencies_key(_kernel, used=used_cached) == walked
    assert [(n, v) for _, n, v in used_cached] == [(n, v) for _, n, v in used_walk]

    # a global the compiled code folded in still cannot change unnoticed
    monkeypatch.setitem(globals(), "SCALE", 4)
    assert "SCALE changed from 3 to 4" in (kernel_source.global_changes(used_cached) or "")


def test_a_changed_source_is_walked_again(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(kernel_source, "_chains_memo", {})
    first = kernel_source.source_chains("def k(a):\n    return a + SCALE\n")
    monkeypatch.setattr(kernel_source, "_chains_memo", {})
    second = kernel_source.source_chains("def k(a):\n    return a + LIMITS\n")
    assert first == ["a", "SCALE"] and second == ["a", "LIMITS"]


@pytest.mark.parametrize(
    ("src", "chains"),
    [
        ("def k(x):\n    return tl.math.exp(x)\n", ["tl.math.exp", "x", "tl.math", "tl"]),
        ("def k(x):\n    return f(x).y + t[0].z\n", ["f", "x", "t"]),
        ("def k():\n    pass\n", []),
    ],
)
def test_names_of_a_source(src: str, chains: list[str]) -> None:
    assert kernel_source._walk_chains(src) == chains
