"""tritium under ``torch.compile``: Inductor's Triton backend on the CPU.

With :func:`tritium.install_as_triton` in effect PyTorch finds a Triton whose only backend is
the CPU (``triton.backends.backends == {"cpu": ...}``), so

* plain ``torch.compile`` keeps Inductor's C++ backend for the CPU;
* with ``torch._inductor.config.cpu_backend = "triton"`` Inductor writes Triton kernels for the
  CPU, and ``triton.compile`` (tritium) turns them into native code; with ``TRITON_INTERPRET=1``
  Inductor launches them through tritium's interpreter instead;
* a ``@triton.jit`` kernel launched inside a compiled function is a user-defined Triton kernel
  to Dynamo (``fullgraph=True`` works), as are ``torch.library.triton_op``/``wrap_triton``.

:func:`use_tritium_in_inductor` does the set-up in one call. Importing this module does not
import torch; the functions do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["tritium_cpu_benchmarker", "use_tritium_in_inductor"]


def tritium_cpu_benchmarker(
    benchmarker: Any, fn: Callable[[], Any], warmup: float = 25, rep: float = 100, **kwargs: Any
) -> float:
    """Inductor's CPU benchmark hook, timed by :func:`tritium.testing.do_bench` (median, ms).

    ``benchmarker`` is Inductor's ``Benchmarker`` (unused); ``warmup``/``rep`` are budgets in
    milliseconds, as Inductor passes them.
    """
    from tritium.testing import do_bench

    return float(do_bench(fn, warmup=warmup, rep=rep, return_mode="median"))


def use_tritium_in_inductor(
    *, cpu_backend: str = "triton", benchmark: bool = True, persistent_reductions: bool = False
) -> None:
    """Make ``torch.compile`` on the CPU generate Triton kernels that tritium compiles.

    Installs tritium as ``triton`` (it must run before anything imports ``torch._dynamo`` or
    ``torch._inductor``: they look for Triton once), sets Inductor's ``cpu_backend`` (``"cpp"``
    keeps Inductor's C++ code), compiles in this process (``compile_threads = 1``: Inductor's
    worker processes would not see the alias), and with ``benchmark`` times Inductor's CPU
    autotuning with tritium's timer. ``persistent_reductions=False`` makes Inductor loop over
    long rows in autotuned ``R0_BLOCK`` chunks instead of holding a whole ``[8, 1024]`` block
    per program, which tritium compiles to much slower code today (softmax of 1024x1024 on one
    thread: 28 ms persistent, 3.5 ms looped). ``RuntimeError`` if torch's compiler was imported
    without a Triton.
    """
    import sys

    from tritium._triton_alias import install_as_triton

    if cpu_backend not in ("triton", "cpp"):
        raise ValueError(f"cpu_backend must be 'triton' or 'cpp', got {cpu_backend!r}")
    already = "torch._inductor.runtime.triton_compat" in sys.modules
    install_as_triton()
    import torch._inductor.config as inductor_config
    from torch._inductor.runtime import triton_compat

    if already and not triton_compat.HAS_TRITON:
        raise RuntimeError(
            "use_tritium_in_inductor(): torch._inductor was imported before tritium was "
            "installed as triton; call it before importing torch._dynamo/torch._inductor"
        )
    inductor_config.cpu_backend = cpu_backend
    # Inductor's compile workers are fresh interpreters started by torch, where nothing has
    # installed tritium as triton: compile in this process instead.
    inductor_config.compile_threads = 1
    inductor_config.triton.persistent_reductions = persistent_reductions
    if benchmark:
        from torch._inductor.runtime.benchmarking import register_benchmarker

        register_benchmarker("cpu", tritium_cpu_benchmarker, override=True)
