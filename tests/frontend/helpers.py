"""Shared helpers of the frontend tests: a JITFunction stand-in, compiling, walking IR."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tritium import ir
from tritium.frontend import ast_to_ttir
from tritium.ir.verifier import verify


class jit:  # noqa: N801 - mimics @triton.jit
    """The JITFunction duck type the frontend relies on (contracts.md §3)."""

    is_jit_function = True

    def __init__(self, fn: Callable[..., Any] | None = None, *, noinline: bool = False) -> None:
        self.noinline = noinline
        if fn is not None:
            self._set(fn)

    def _set(self, fn: Callable[..., Any]) -> jit:
        self.fn = fn
        self.__name__ = fn.__name__
        self.arg_names = list(fn.__code__.co_varnames[: fn.__code__.co_argcount])
        return self

    def __call__(self, fn: Callable[..., Any]) -> jit:  # @jit(noinline=True) form
        return self._set(fn)


def compile_kernel(
    fn: Any,
    signature: dict[str, str],
    constexprs: dict[str, Any] | None = None,
    attrs: dict[str, Any] | None = None,
) -> ir.Module:
    """Compile and verify a kernel."""
    module = ast_to_ttir(fn, signature, constexprs or {}, attrs or {})
    verify(module)
    return module


def run_cpu(
    fn: Any,
    sig: dict[str, str],
    consts: dict[str, Any],
    grid: tuple[int, int, int],
    args: list[Any],
) -> None:
    """Compile ``fn`` through the frontend, the pass pipeline and the CPU backend, and launch it;
    NumPy arrays in ``args`` are passed by address."""
    import numpy as np

    from tritium.backends import get_backend
    from tritium.passes import optimize_ttir

    module = optimize_ttir(ast_to_ttir(fn, sig, consts, {}))
    backend = get_backend("cpu")
    kernel = backend.load(backend.compile(module, {}))
    kernel.launch(grid, [a.ctypes.data if isinstance(a, np.ndarray) else a for a in args])


def op_names(module: ir.Module) -> list[str]:
    """Every op name in the module, in pre-order."""
    return [op.name for op in module.walk()]


def ops_named(module: ir.Module, name: str) -> list[ir.Operation]:
    """Every op called ``name``."""
    return [op for op in module.walk() if op.name == name]


def kernel_ops(module: ir.Module, name: str | None = None) -> list[ir.Operation]:
    """The top-level ops of the public kernel (optionally only those called ``name``)."""
    fn = next(f for f in module.functions if f.attrs["visibility"] == "public")
    ops = fn.regions[0].block.ops
    return [op for op in ops if name is None or op.name == name]
