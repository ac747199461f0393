"""Benchmarking and checking helpers, as ``triton.testing``: ``do_bench``, ``assert_close``,
``Benchmark`` and ``perf_report``."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tritium.testing.report import Benchmark, Mark, format_table, perf_report

__all__ = [
    "do_bench",
    "do_bench_cudagraph",
    "assert_close",
    "Benchmark",
    "perf_report",
    "Mark",
    "format_table",
    "to_numpy",
]


def do_bench(
    fn: Callable[[], Any],
    warmup: float = 25,
    rep: float = 100,
    grad_to_none: Sequence[Any] | None = None,
    quantiles: Sequence[float] | None = None,
    return_mode: str = "mean",
) -> float | list[float]:
    """Time ``fn()`` in milliseconds, as Triton's ``do_bench`` does on a GPU.

    Runs ``fn`` for about ``warmup`` ms, then times single calls for about ``rep`` ms.
    Returns the statistic named by ``return_mode`` (``"mean"``, ``"median"``, ``"min"``,
    ``"max"``, ``"all"``), or the requested ``quantiles`` of the times. A call that takes
    longer than ``rep`` on its own is timed once (so slow interpreted kernels stay cheap).
    Unlike Triton on a GPU, caches are not flushed between calls: the numbers are warm-cache
    times, as NumPy and PyTorch are usually measured on a CPU.
    """
    if return_mode not in ("min", "max", "mean", "median", "all"):
        raise ValueError(f"return_mode must be min, max, mean, median or all, got {return_mode!r}")
    fn()  # the first call may compile
    t0 = time.perf_counter()
    fn()
    first = (time.perf_counter() - t0) * 1e3
    times = [first]
    if first < rep:
        # Estimate from a few calls, then size the warmup and the measurement to the budget.
        t0 = time.perf_counter()
        for _ in range(4):
            fn()
        est = max((time.perf_counter() - t0) * 1e3 / 4, 1e-6)
        for _ in range(int(warmup / est)):
            fn()
        times = []
        for _ in range(max(1, int(rep / est))):
            if grad_to_none is not None:
                for x in grad_to_none:
                    x.grad = None
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    if quantiles is not None:
        ret = [float(v) for v in np.quantile(np.asarray(times), list(quantiles))]
        return ret[0] if len(ret) == 1 else ret
    if return_mode == "all":
        return times
    return float(
        {"min": min, "max": max, "mean": statistics.fmean, "median": statistics.median}[
            return_mode
        ](times)
    )


def do_bench_cudagraph(
    fn: Callable[[], Any],
    rep: float = 20,
    grad_to_none: Sequence[Any] | None = None,
    quantiles: Sequence[float] | None = None,
    return_mode: str = "mean",
) -> float | list[float]:
    """Triton's CUDA-graph timer; on the CPU there are no graphs, so it is :func:`do_bench`."""
    return do_bench(
        fn,
        warmup=rep / 4,
        rep=rep,
        grad_to_none=grad_to_none,
        quantiles=quantiles,
        return_mode=return_mode,
    )


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy view or copy of an array, a torch tensor (any dtype) or a scalar."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch: bf16/fp8 have no NumPy dtype
        t = x.detach().cpu()
        if not t.dtype.is_floating_point or t.dtype.itemsize >= 4:
            return t.numpy()
        return t.float().numpy()
    return np.asarray(x)


def assert_close(
    x: Any, y: Any, atol: float | None = None, rtol: float | None = None, err_msg: str = ""
) -> None:
    """Assert ``|x - y| <= atol + rtol * |y|`` elementwise (defaults 1e-2, as Triton's).

    ``atol``/``rtol`` may be functions of ``x``'s dtype, as in Triton.
    """
    atol = 1e-2 if atol is None else atol(getattr(x, "dtype", None)) if callable(atol) else atol
    rtol = 1e-2 if rtol is None else rtol(getattr(x, "dtype", None)) if callable(rtol) else rtol
    a, b = to_numpy(x), to_numpy(y)
    if a.dtype.kind == "V" or a.dtype.name in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
        a = a.astype(np.float32)
    if b.dtype.kind == "V" or b.dtype.name in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
        b = b.astype(np.float32)
    if a.dtype == np.bool_ or b.dtype == np.bool_:
        np.testing.assert_array_equal(a, b, err_msg=err_msg)
        return
    np.testing.assert_allclose(a, b, atol=atol, rtol=rtol, equal_nan=True, err_msg=err_msg)
