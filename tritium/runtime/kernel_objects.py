"""Objects a :class:`~tritium.runtime.jit.JITFunction` hands out besides compiled kernels:
Triton's ``MockTensor`` (warming up with dtypes) and what ``warmup`` returns in interpret mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["InterpretedKernel", "MockTensor"]


class MockTensor:
    """A stand-in tensor of a dtype (Triton's ``MockTensor``, for ``warmup`` with dtypes)."""

    @staticmethod
    def wrap_dtype(arg: Any) -> Any:
        """A MockTensor for a torch dtype; anything else unchanged."""
        if type(arg).__name__ == "dtype" and type(arg).__module__ == "torch":
            return MockTensor(arg)
        return arg

    def __init__(self, dtype: Any, shape: list[int] | None = None) -> None:
        self.dtype = dtype
        self.shape = [1] if shape is None else shape

    def stride(self) -> list[int]:
        """Contiguous strides of ``shape``."""
        strides, step = [], 1
        for n in reversed(self.shape):
            strides.insert(0, step)
            step *= n
        return strides

    @staticmethod
    def data_ptr() -> int:
        """Address 0: a mock tensor has no memory."""
        return 0


class InterpretedKernel:
    """What ``warmup`` returns in interpret mode: the compiled kernel's Triton-shaped fields
    (tutorial 02 reads ``n_regs`` and ``metadata.shared`` to size its grid), and
    ``kernel[grid](*args)`` runs the interpreter, with all arguments or the runtime ones."""

    n_regs = 1
    n_spills = 0

    def __init__(self, jit_fn: Any, values: tuple[Any, ...], options: dict[str, Any]) -> None:
        from tritium.compiler.compiler import KernelMetadata

        self._jit, self._values, self._options = jit_fn, values, options
        self.name = jit_fn.fn.__name__
        # The values CompiledKernel reports on the CPU (no registers or shared memory).
        self.metadata = KernelMetadata(shared=1, num_warps=1, num_ctas=1, cluster_dims=(1, 1, 1))

    def _init_handles(self) -> None:
        """Nothing to load: the interpreter runs the Python function."""

    @property
    def asm(self) -> dict[str, str]:
        """Not available: nothing was compiled (Triton's tests that read IR fail here)."""
        raise AttributeError(
            f"{self.name} runs in the interpreter (TRITON_INTERPRET/TRITIUM_INTERPRET=1): it has "
            "no compiled IR or assembly ('asm'); launch it without the interpreter to get them"
        )

    def __getitem__(self, grid: Any) -> Callable[..., Any]:
        def runner(*args: Any) -> Any:
            if len(args) != len(self._values):  # runtime arguments only: constexprs as warmed
                it = iter(args)
                runtime = {i for i, _, _ in self._jit._runtime_params}
                args = tuple(next(it) if i in runtime else v for i, v in enumerate(self._values))
            return self._jit._interpret(grid, tuple(args), self._options, warmup=False)

        return runner
