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

import re
from collections.abc import Callable
from typing import Any

__all__ = ["calls_math", "tritium_cpu_benchmarker", "use_tritium_in_inductor"]


def tritium_cpu_benchmarker(
    benchmarker: Any, fn: Callable[[], Any], warmup: float = 25, rep: float = 100, **kwargs: Any
) -> float:
    """Inductor's CPU benchmark hook, timed by :func:`tritium.testing.do_bench` (median, ms).

    ``benchmarker`` is Inductor's ``Benchmarker`` (unused); ``warmup``/``rep`` are budgets in
    milliseconds, as Inductor passes them.
    """
    from tritium.testing import do_bench

    return float(do_bench(fn, warmup=warmup, rep=rep, return_mode="median"))


#: Lanes per vector chunk of Inductor's kernels (see :func:`use_tritium_in_inductor`).
INDUCTOR_VECTOR_WIDTH = 16


def use_tritium_in_inductor(
    *,
    cpu_backend: str = "triton",
    benchmark: bool = True,
    persistent_reductions: bool = False,
    vector_width: int | None = INDUCTOR_VECTOR_WIDTH,
) -> None:
    """Make ``torch.compile`` on the CPU generate Triton kernels that tritium compiles.

    Installs tritium as ``triton`` (it must run before anything imports ``torch._dynamo`` or
    ``torch._inductor``: they look for Triton once), sets Inductor's ``cpu_backend`` (``"cpp"``
    keeps Inductor's C++ code), compiles in this process (``compile_threads = 1``: Inductor's
    worker processes would not see the alias), and with ``benchmark`` times Inductor's CPU
    autotuning with tritium's timer. ``persistent_reductions=False`` makes Inductor loop over
    long rows in autotuned ``R0_BLOCK`` chunks instead of holding a whole ``[8, 1024]`` block
    per program, which tritium compiles to much slower code today (softmax of 1024x1024 on one
    thread: 28 ms persistent, 3.5 ms looped).

    ``vector_width`` is the number of lanes tritium gives each vector chunk of Inductor's
    kernels that call math functions (:func:`calls_math`; ``None``: the backend's default
    chunk, which is also 16 f32 lanes on AVX2 for kernels without dots or f64 tiles, see
    ``backends/cpu/elementwise.chunk_lanes``). Inductor's kernels
    are long chains of dependent math per element (GELU's erf, softmax's exp, a LayerNorm's
    normalize-scale-shift); with one register per chunk a loop iteration waits on one chain
    and the out-of-order window holds little more, so two registers per chunk (16 lanes on
    AVX2, the native width with AVX-512) interleave two chains: on AVX2, one thread, the
    LayerNorm+GELU kernel of the benchmark suite takes 0.39 ms instead of 0.52 ms, softmax
    0.79-0.88 instead of 1.06. ``RuntimeError`` if torch's compiler was imported without a
    Triton; ``ValueError`` for a width that is not a power of two from 4 to 64.
    """
    import sys

    from tritium._triton_alias import install_as_triton

    if cpu_backend not in ("triton", "cpp"):
        raise ValueError(f"cpu_backend must be 'triton' or 'cpp', got {cpu_backend!r}")
    if vector_width is not None and (
        type(vector_width) is not int or vector_width not in (4, 8, 16, 32, 64)
    ):
        raise ValueError(f"vector_width must be a power of two from 4 to 64, got {vector_width!r}")
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
    _set_inductor_vector_width(vector_width)


def _set_inductor_vector_width(width: int | None) -> None:
    """Add ``vector_width`` to the options Inductor passes to ``triton.compile`` for CPU kernels.

    Inductor builds those options in ``CachingAutotuner._create_compile_options`` from a fixed
    list of GPU fields, so the option is added after it (wrapped once; ``width`` is read at
    each compile). A torch without that method keeps the host's width.
    """
    from torch._inductor.runtime.triton_heuristics import CachingAutotuner

    _inductor_options["vector_width"] = width
    create = getattr(CachingAutotuner, "_create_compile_options", None)
    if create is None or getattr(create, "_tritium_wrapped", False):
        return

    def _create_compile_options(self: Any, cfg: Any, compile_meta: Any) -> Any:
        options = create(self, cfg, compile_meta)
        width = _inductor_options["vector_width"]
        if (
            width is not None
            and getattr(self.device_props, "type", None) == "cpu"
            and calls_math(getattr(self.fn, "src", ""))
        ):
            options = {**options, "vector_width": width}
        return options

    _create_compile_options._tritium_wrapped = True  # type: ignore[attr-defined]
    CachingAutotuner._create_compile_options = _create_compile_options


#: what _set_inductor_vector_width set (read at each Inductor compile)
_inductor_options: dict[str, Any] = {"vector_width": None}

#: the math calls Inductor writes (``tl_math.exp``, ``libdevice.erf``, ``tl.sigmoid``...)
_MATH_CALL = re.compile(
    r"\b(?:libdevice|tl_math|tl\.math)\.\w+\s*\("
    r"|\btl\.(?:exp2?|log2?|sqrt\w*|rsqrt|sigmoid|erf|sin|cos|tanh)\s*\("
)


def calls_math(src: str) -> bool:
    """Whether a kernel's source calls a math function (exp, erf, rsqrt, sigmoid...).

    Only those kernels get :data:`INDUCTOR_VECTOR_WIDTH`: their time is the latency of each
    element's chain of math, which two registers per chunk overlap. Plain sums, max/argmax
    reductions and copies are bound by loads and the reduction tree, and wider chunks made
    them slower (argmax over 1024x1024 rows: 0.52 ms instead of 0.34 on AVX2, one thread).
    """
    return _MATH_CALL.search(src) is not None
