"""The public surface is a decision: ``tritium.__all__`` is pinned here."""

from __future__ import annotations

import sys
import types

import pytest

import tritium
from tritium._triton_alias import uninstall_triton_alias

PUBLIC_API = [
    "ASTSource",
    "CompilationError",
    "CompiledKernel",
    "Config",
    "InternalCompilerError",
    "JITFunction",
    "KernelInterface",
    "OutOfResources",
    "SanitizerError",
    "TensorWrapper",
    "TritiumError",
    "__version__",
    "autotune",
    "cdiv",
    "compile",
    "compiler",
    "constexpr_function",
    "get_num_threads",
    "heuristics",
    "install_as_triton",
    "jit",
    "knobs",
    "language",
    "next_power_of_2",
    "reinterpret",
    "runtime",
    "set_allocator",
    "set_num_threads",
    "testing",
]


def test_all_is_pinned() -> None:
    assert sorted(tritium.__all__) == sorted(PUBLIC_API)
    for name in tritium.__all__:
        assert getattr(tritium, name) is not None, name


def test_testing_and_runtime_surfaces() -> None:
    import tritium.runtime
    import tritium.testing

    assert sorted(tritium.testing.__all__) == sorted(
        [
            "do_bench",
            "do_bench_cudagraph",
            "assert_close",
            "Benchmark",
            "perf_report",
            "Mark",
            "format_table",
            "to_numpy",
        ]
    )
    assert {
        "jit",
        "autotune",
        "heuristics",
        "Config",
        "driver",
        "JITFunction",
        "Autotuner",
        "Heuristics",
    } <= set(tritium.runtime.__all__)


def _forget_triton(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "triton" or name.startswith("triton."):
            monkeypatch.delitem(sys.modules, name)


@pytest.fixture
def no_triton(monkeypatch: pytest.MonkeyPatch):
    """No triton module imported before the test, and the alias removed after it."""
    _forget_triton(monkeypatch)
    yield
    uninstall_triton_alias()


def test_install_as_triton(no_triton) -> None:
    tritium.install_as_triton()
    tritium.install_as_triton()  # twice is fine
    import triton
    import triton.language as tl
    import triton.runtime.jit as jit_mod

    # ``triton`` is a facade of its own (Triton's version), re-exporting tritium's objects.
    assert triton is sys.modules["tritium._triton"] and triton.jit is tritium.jit
    assert triton.__version__ != tritium.__version__
    assert tl is tritium.language and jit_mod is sys.modules["tritium._triton.runtime.jit"]
    assert jit_mod.JITFunction is tritium.JITFunction
    assert tritium.runtime.jit is tritium.jit  # importing triton.runtime.jit rebinds nothing
    assert triton.testing is tritium.testing
    assert sys.modules["triton.compiler"].compile is tritium.compile  # a facade module
    assert triton.runtime.driver.active.get_current_target().backend == "cpu"
    from triton.language import core

    assert core is sys.modules["tritium.language.core"]  # one module, not a copy
    with pytest.raises(ModuleNotFoundError):
        import triton.no_such_module  # noqa: F401


def test_install_as_triton_refuses_the_real_triton(no_triton, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "triton", types.ModuleType("triton"))
    with pytest.raises(RuntimeError, match="real 'triton'"):
        tritium.install_as_triton()


def test_set_allocator() -> None:
    from tritium.runtime.utils import get_allocator

    def alloc(size, alignment, stream):
        return bytearray(size)

    tritium.set_allocator(alloc)
    assert get_allocator() is alloc
    tritium.set_allocator(None)
    with pytest.raises(TypeError, match="callable"):
        tritium.set_allocator(3)
