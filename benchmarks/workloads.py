"""The issue's workloads: for each, tritium and its anchors (NumPy, torch eager, torch.compile,
the machine's limit) as callables with the work each one does, a correctness check and the goal.

A :class:`Workload` row is measured with every implementation interleaved, round by round (see
``run.py``), so that a machine shared with other jobs slows them alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks import kernels
from benchmarks.limits import Stream, dot_available, fma_probe
from tutorials import attention, layer_norm, matmul_int8, rms_norm
from tutorials import vector_add as tutorial_add

__all__ = ["Impl", "Goal", "Workload", "build"]


@dataclass
class Impl:
    """One implementation: ``fn()`` does ``work`` (bytes, flops or 1 for a latency); ``blas``:
    it calls NumPy's BLAS, whose OpenBLAS threads spin on ``sched_yield`` for ~0.1 s after each
    call (``measure`` lets them stop before it times the next implementation)."""

    fn: Callable[[], Any]
    work: float
    blas: bool = False


@dataclass
class Goal:
    """``tritium's rate >= ratio x anchor's rate`` (or, for latencies, ``time <= limit``)."""

    anchor: str
    ratio: float


@dataclass
class Workload:
    """One row of the table."""

    name: str
    size: str
    threads: int
    unit: str  # "GB/s", "GFLOP/s", "GOP/s" (rate = work / time) or "us" (a latency)
    impls: dict[str, Impl]
    goals: list[Goal]
    check: Callable[[], float] | None = None  # largest relative error of tritium's result
    tolerance: float = 0.0
    note: str = ""
    results: dict[str, float] = field(default_factory=dict)  # impl -> median ms


def _rel_err(got: Any, ref: np.ndarray) -> float:
    if type(got).__module__.startswith("torch"):
        got = got.float().numpy()
    got = np.asarray(got, dtype=np.float64)
    return float(np.max(np.abs(got - ref)) / max(float(np.max(np.abs(ref))), 1e-30))


def _compiled(torch: Any, fn: Callable[..., Any], enabled: bool) -> Callable[..., Any] | None:
    return torch.compile(fn, dynamic=False) if (torch is not None and enabled) else None


def _add_opt(impls: dict[str, Impl], name: str, fn: Callable[[], Any] | None, work: float) -> None:
    if fn is not None:
        impls[name] = Impl(fn, work)


# ---------------------------------------------------------------------------------------------
# Memory-bound rows
# ---------------------------------------------------------------------------------------------


def vector_add(stream: Stream, threads: int, torch: Any) -> Workload:
    """Tutorial 01 on 2^24 fp32 into a preallocated output, against STREAM add."""
    x, y, out = stream.a, stream.b, np.full_like(stream.a, np.nan)
    n = x.size
    work = 12.0 * n

    def run() -> None:
        tutorial_add.add_kernel[(triton_cdiv(n, 1024),)](x, y, out, n, BLOCK_SIZE=1024)

    impls = {"tritium": Impl(run, work), "numpy": Impl(lambda: np.add(x, y, out=out), work)}
    if torch is not None:
        tx, ty, to = (torch.from_numpy(t) for t in (x, y, out))
        impls["torch"] = Impl(lambda: torch.add(tx, ty, out=to), work)
    impls["STREAM add"] = Impl(stream.add(threads), 12.0 * stream.n)

    def check() -> float:
        out.fill(np.nan)
        run()
        return _rel_err(out, x.astype(np.float64) + y)

    return Workload(
        "vector add fp32",
        f"2^{int(math.log2(n))}",
        threads,
        "GB/s",
        impls,
        [Goal("STREAM add", 0.95)],
        check,
        1e-7,
    )


def triton_cdiv(a: int, b: int) -> int:
    """``ceil(a / b)``."""
    return -(-a // b)


def softmax(stream: Stream, threads: int, torch: Any, rows: int, cols: int, tc: bool) -> Workload:
    """Softmax, one row per program (GPU-style), against STREAM copy and torch.softmax."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((rows, cols), dtype=np.float32)
    out = np.full_like(x, np.nan)
    block = 1 << (cols - 1).bit_length()
    work = 8.0 * x.size

    def run() -> None:
        kernels.softmax_row[(rows,)](out, x, cols, cols, cols, BLOCK=block)

    def np_softmax() -> np.ndarray:
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    impls = {"tritium": Impl(run, work), "numpy": Impl(np_softmax, work)}
    if torch is not None:
        tx = torch.from_numpy(x)
        impls["torch"] = Impl(lambda: torch.softmax(tx, dim=1), work)
        f = _compiled(torch, lambda t: torch.softmax(t, dim=1), tc)
        _add_opt(impls, "torch.compile", f and (lambda: f(tx)), work)
    impls["STREAM copy"] = Impl(stream.copy(threads), 8.0 * stream.n)

    def check() -> float:
        out.fill(np.nan)
        run()
        x64 = x.astype(np.float64)
        e = np.exp(x64 - x64.max(axis=1, keepdims=True))
        return _rel_err(out, e / e.sum(axis=1, keepdims=True))

    return Workload(
        "softmax fp32 (row/program)",
        f"{rows}x{cols}",
        threads,
        "GB/s",
        impls,
        [Goal("STREAM copy", 0.80), Goal("torch", 1.0)],
        check,
        1e-5,
    )


def _outputs_reused(
    name: str,
    size: str,
    threads: int,
    launch: Callable[[], Any],
    work: float,
    out: np.ndarray,
    ref: Callable[[], np.ndarray],
    stream: Stream,
) -> Workload:
    """The row of a kernel ``launch`` into outputs made once (``out`` checked against ``ref()``,
    poisoned first), against STREAM copy: the tutorials' functions allocate their outputs on
    every call, and at DRAM sizes each call then also pays the zeroing of every fresh page."""

    def check() -> float:
        out.fill(np.nan)
        launch()
        return _rel_err(out, ref())

    impls = {"tritium": Impl(launch, work)}
    impls["STREAM copy"] = Impl(stream.copy(threads), 8.0 * stream.n)
    goals = [Goal("STREAM copy", 0.80)]
    return Workload(f"{name}, outputs reused", size, threads, "GB/s", impls, goals, check, 1e-5)


def _functions_limit() -> str:
    """The STREAM anchor of a function that returns a new array of its input's size: a copy
    into a new array ("STREAM fresh") when its outputs are fresh blocks, whose pages the OS maps
    and zeroes at the first store; STREAM copy when they come back from the host cache of freed
    blocks (``tritium.runtime.host_cache``, on unless ``TRITIUM_HOST_CACHE_BYTES=0``)."""
    from tritium import knobs

    return "STREAM copy" if knobs.host_cache_bytes() > 0 else "STREAM fresh"


def layer_norm_rows(stream: Stream, threads: int, torch: Any, M: int, N: int, tc: bool) -> list:
    """Layer norm forward, and forward+backward, (tutorial 05) against torch and STREAM copy."""
    rng = np.random.default_rng(2)
    x = (-2.3 + 0.5 * rng.standard_normal((M, N))).astype(np.float32)
    w, b = rng.random(N, dtype=np.float32), rng.random(N, dtype=np.float32)
    dy = (0.1 * rng.standard_normal((M, N))).astype(np.float32)
    eps = 1e-5
    fwd_bytes = 8.0 * x.size
    bwd_bytes = 12.0 * x.size  # x, dy in, dx out (dw/db partials are N-sized)

    def fwd() -> Any:
        return layer_norm.forward(x, w, b, eps)

    def fwd_bwd() -> Any:
        y, mean, rstd = layer_norm.forward(x, w, b, eps)
        return (y, *layer_norm.backward(dy, x, w, mean, rstd))

    def ref64() -> tuple[np.ndarray, ...]:
        x64, w64, b64, dy64 = (t.astype(np.float64) for t in (x, w, b, dy))
        mean = x64.mean(axis=1, keepdims=True)
        xc = x64 - mean
        rstd = 1 / np.sqrt((xc * xc).mean(axis=1, keepdims=True) + eps)
        xhat = xc * rstd
        wdy = w64 * dy64
        c1 = (xhat * wdy).mean(axis=1, keepdims=True)
        c2 = wdy.mean(axis=1, keepdims=True)
        dx = (wdy - (xhat * c1 + c2)) * rstd
        return xhat * w64 + b64, dx, (dy64 * xhat).sum(axis=0), dy64.sum(axis=0)

    def np_fwd() -> np.ndarray:
        mean = x.mean(axis=1, keepdims=True)
        xc = x - mean
        return xc / np.sqrt((xc * xc).mean(axis=1, keepdims=True) + eps) * w + b

    f_impls = {"tritium": Impl(fwd, fwd_bytes), "numpy": Impl(np_fwd, fwd_bytes)}
    b_impls = {"tritium": Impl(fwd_bwd, fwd_bytes + bwd_bytes)}
    if torch is not None:
        F = torch.nn.functional
        tx, tw, tb, tdy = (torch.from_numpy(t) for t in (x, w, b, dy))
        f_impls["torch"] = Impl(lambda: F.layer_norm(tx, (N,), tw, tb, eps), fwd_bytes)
        f = _compiled(torch, lambda a, c, d: F.layer_norm(a, (N,), c, d, eps), tc)
        _add_opt(f_impls, "torch.compile", f and (lambda: f(tx, tw, tb)), fwd_bytes)
        xg, wg, bg = (t.clone().requires_grad_(True) for t in (tx, tw, tb))

        def torch_fwd_bwd() -> None:
            xg.grad = wg.grad = bg.grad = None
            F.layer_norm(xg, (N,), wg, bg, eps).backward(tdy)

        b_impls["torch"] = Impl(torch_fwd_bwd, fwd_bytes + bwd_bytes)
    # the functions return new arrays of x's size (their limit: _functions_limit)
    for impls in (f_impls, b_impls):
        impls["STREAM fresh"] = Impl(stream.copy_fresh(threads, x.size), 8.0 * x.size)
        impls["STREAM copy"] = Impl(stream.copy(threads), 8.0 * stream.n)
    goals = [Goal("torch", 3.0), Goal(_functions_limit(), 0.80)]

    def check_fwd() -> float:
        return _rel_err(fwd()[0], ref64()[0])

    def check_bwd() -> float:
        return max(_rel_err(g, r) for g, r in zip(fwd_bwd(), ref64()))

    # the same kernel into outputs made once (_outputs_reused)
    y, mean, rstd = (np.full_like(t, np.nan) for t in fwd())
    block = layer_norm._block_size(N, 4)

    def fwd_reused() -> None:
        layer_norm._layer_norm_fwd_fused[(M,)](x, y, w, b, mean, rstd, N, N, eps, BLOCK_SIZE=block)

    size = f"{M}x{N}"
    return [
        Workload("layer norm fwd fp32", size, threads, "GB/s", f_impls, goals, check_fwd, 1e-5),
        _outputs_reused(
            "layer norm fwd", size, threads, fwd_reused, fwd_bytes, y, lambda: ref64()[0], stream
        ),
        Workload("layer norm fwd+bwd fp32", size, threads, "GB/s", b_impls, goals, check_bwd, 1e-3),
    ]


def rms_norm_rows(stream: Stream, threads: int, torch: Any, M: int, N: int, tc: bool) -> list:
    """RMSNorm forward (tutorial kernel) and its dx (a one-row-per-program kernel)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((M, N), dtype=np.float32)
    w = rng.random(N, dtype=np.float32)
    dy = rng.standard_normal((M, N), dtype=np.float32)
    eps = 1e-6
    _, rstd = rms_norm.rms_norm(x, w, eps)
    dx = np.full_like(x, np.nan)
    block = 1 << (N - 1).bit_length()

    def bwd() -> None:
        kernels.rms_norm_bwd[(M,)](dy, x, w, rstd, dx, N, N, BLOCK=block)

    x64, w64, dy64 = (t.astype(np.float64) for t in (x, w, dy))
    r64 = 1 / np.sqrt((x64 * x64).mean(axis=1, keepdims=True) + eps)

    def check_fwd() -> float:
        return _rel_err(rms_norm.rms_norm(x, w, eps)[0], x64 * r64 * w64)

    def check_bwd() -> float:
        dx.fill(np.nan)
        bwd()
        wdy = w64 * dy64
        ref = (wdy - x64 * (wdy * x64).mean(axis=1, keepdims=True) * r64 * r64) * r64
        return _rel_err(dx, ref)

    def np_fwd() -> np.ndarray:
        return x * (1 / np.sqrt(np.mean(x * x, axis=1, keepdims=True) + eps)) * w

    f_impls = {"tritium": Impl(lambda: rms_norm.rms_norm(x, w, eps), 8.0 * x.size)}
    f_impls["numpy"] = Impl(np_fwd, 8.0 * x.size)
    b_impls = {"tritium": Impl(bwd, 12.0 * x.size)}
    if torch is not None:
        F = torch.nn.functional
        tx, tw, tdy = (torch.from_numpy(t) for t in (x, w, dy))
        f_impls["torch"] = Impl(lambda: F.rms_norm(tx, (N,), tw, eps), 8.0 * x.size)
        f = _compiled(torch, lambda a, c: F.rms_norm(a, (N,), c, eps), tc)
        _add_opt(f_impls, "torch.compile", f and (lambda: f(tx, tw)), 8.0 * x.size)
        xg = tx.clone().requires_grad_(True)
        yg = F.rms_norm(xg, (N,), tw, eps)

        def torch_bwd() -> None:
            xg.grad = None
            yg.backward(tdy, retain_graph=True)

        b_impls["torch"] = Impl(torch_bwd, 12.0 * x.size)
    # the forward returns a new array of x's size (its limit: _functions_limit); dx is made
    # once
    f_impls["STREAM fresh"] = Impl(stream.copy_fresh(threads, x.size), 8.0 * x.size)
    for impls in (f_impls, b_impls):
        impls["STREAM copy"] = Impl(stream.copy(threads), 8.0 * stream.n)
    f_goals = [Goal("torch", 3.0), Goal(_functions_limit(), 0.80)]
    b_goals = [Goal("torch", 3.0), Goal("STREAM copy", 0.80)]
    # the forward kernel into outputs made once (_outputs_reused), as the dx row runs
    y, rstd_out = np.full_like(x, np.nan), np.full_like(rstd, np.nan)
    fwd_block = min(block, rms_norm.MAX_BLOCK_N)

    def fwd_reused() -> None:
        rms_norm.rms_norm_kernel[(M,)](
            x, y, w, rstd_out, None, N, N, 0, N, eps, BLOCK_N=fwd_block, HAS_RESIDUAL=False
        )

    size = f"{M}x{N}"
    return [
        Workload("rms norm fwd fp32", size, threads, "GB/s", f_impls, f_goals, check_fwd, 1e-5),
        _outputs_reused(
            "rms norm fwd",
            size,
            threads,
            fwd_reused,
            8.0 * x.size,
            y,
            lambda: x64 * r64 * w64,
            stream,
        ),
        Workload("rms norm bwd dx fp32", size, threads, "GB/s", b_impls, b_goals, check_bwd, 1e-4),
    ]


def silu_grid(stream: Stream, threads: int, M: int, N: int) -> Workload:
    """SwiGLU's elementwise part with rows on grid axis 0 (GPU-style) and on axis 1."""
    rng = np.random.default_rng(4)
    a, b = (rng.standard_normal((M, N), dtype=np.float32) for _ in range(2))
    out = np.full_like(a, np.nan)
    block = 128
    work = 12.0 * a.size

    def run(axis: int) -> Callable[[], None]:
        grid = (M, N // block) if axis == 0 else (N // block, M)
        return lambda: kernels.silu_mul[grid](a, b, out, N, ROW_AXIS=axis, BLOCK=block)

    def check() -> float:
        out.fill(np.nan)
        run(0)()
        a64 = a.astype(np.float64)
        return _rel_err(out, a64 / (1 + np.exp(-a64)) * b)

    impls = {
        "tritium": Impl(run(0), work),
        "rows on axis 1": Impl(run(1), work),
        "numpy": Impl(lambda: a / (1 + np.exp(-a)) * b, work),
        "STREAM add": Impl(stream.add(threads), 12.0 * stream.n),
    }
    return Workload(
        "GPU-style grid: silu*mul, rows on axis 0",
        f"{M}x{N} BLOCK {block}",
        threads,
        "GB/s",
        impls,
        [Goal("rows on axis 1", 0.90)],
        check,
        1e-5,
    )


# ---------------------------------------------------------------------------------------------
# Compute-bound rows
# ---------------------------------------------------------------------------------------------


def matmul_fp32(threads: int, torch: Any, n: int, fma: Impl) -> Workload:
    """Tutorial 03's kernel on fp32 n^3 against NumPy's BLAS (OpenBLAS) and torch."""
    rng = np.random.default_rng(5)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    c = np.full((n, n), np.nan, np.float32)
    flops = 2.0 * n**3
    impls = {
        "tritium": Impl(lambda: kernels.matmul(a, b, c), flops),
        "numpy": Impl(lambda: np.matmul(a, b, out=c), flops, blas=True),
        # the K loop lowered dot by dot (no dot_kloop): that lowering's A/B, same run
        "tritium dot by dot": Impl(lambda: kernels.matmul_dot_by_dot(a, b, c), flops),
    }
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        tc = torch.empty((n, n))
        impls["torch"] = Impl(lambda: torch.matmul(ta, tb, out=tc), flops)
    impls["FMA peak"] = fma

    def check() -> float:
        c.fill(np.nan)
        kernels.matmul(a, b, c)
        return _rel_err(c, a.astype(np.float64) @ b)

    return Workload(
        "matmul fp32 (tutorial 03)",
        f"{n}^3",
        threads,
        "GFLOP/s",
        impls,
        [Goal("numpy", 1.0)],
        check,
        1e-5,
        note="numpy = OpenBLAS sgemm",
    )


def _dot_peak(impls: dict[str, Impl], op: str, threads: int) -> None:
    """The instruction ``op``'s peak on ``threads`` threads (``limits``' probe, timed in the
    same rounds as the row's implementations), where the CPU has it."""
    if dot_available(op):
        impls[f"peak {op}"] = Impl(*fma_probe(threads, op=op))


def matmul_bf16(threads: int, torch: Any, n: int) -> Workload | None:
    """bf16 inputs, fp32 accumulation and output, against torch's bf16 matmul; the
    ``vdpbf16ps`` peak (both run on it without AMX) as the row's limit."""
    if torch is None:
        return None
    import ml_dtypes

    rng = np.random.default_rng(6)
    a, b = (rng.standard_normal((n, n)).astype(ml_dtypes.bfloat16) for _ in range(2))
    c = np.full((n, n), np.nan, np.float32)
    ta, tb = (torch.from_numpy(t.view(np.uint16)).view(torch.bfloat16) for t in (a, b))
    flops = 2.0 * n**3
    impls = {
        "tritium": Impl(lambda: kernels.matmul(a, b, c), flops),
        "torch": Impl(lambda: torch.matmul(ta, tb), flops),
    }
    _dot_peak(impls, "vdpbf16ps", threads)

    def check() -> float:
        c.fill(np.nan)
        kernels.matmul(a, b, c)
        return _rel_err(c, a.astype(np.float64) @ b.astype(np.float64))

    return Workload(
        "matmul bf16 -> fp32",
        f"{n}^3",
        threads,
        "GFLOP/s",
        impls,
        [Goal("torch", 1.0)],
        check,
        1e-5,
    )


def matmul_i8(threads: int, torch: Any, M: int, N: int, K: int) -> Workload:
    """A W8A8 int8 linear layer (tutorials/matmul_int8.py) against ``torch._int_mm``; the
    ``vpdpbusd`` peak as the row's limit."""
    rng = np.random.default_rng(7)
    a, sa = matmul_int8.quantize_rows(rng.standard_normal((M, K), dtype=np.float32))
    bt, sb = matmul_int8.quantize_rows(rng.standard_normal((N, K), dtype=np.float32))
    b = np.ascontiguousarray(bt.T)
    ops = 2.0 * M * N * K
    impls = {"tritium": Impl(lambda: matmul_int8.matmul_int8(a, b, sa, sb), ops)}
    af, bf = a.astype(np.float32), b.astype(np.float32)
    impls["numpy"] = Impl(lambda: (af @ bf) * sa[:, None] * sb[None, :], ops, blas=True)
    if torch is not None and hasattr(torch, "_int_mm"):
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        tsa, tsb = torch.from_numpy(sa)[:, None], torch.from_numpy(sb)[None, :]
        impls["torch"] = Impl(lambda: torch._int_mm(ta, tb) * tsa * tsb, ops)
    _dot_peak(impls, "vpdpbusd", threads)

    def check() -> float:
        ref = (a.astype(np.float64) @ b) * sa[:, None] * sb[None, :]
        return _rel_err(matmul_int8.matmul_int8(a, b, sa, sb), ref)

    return Workload(
        "matmul W8A8 int8",
        f"{M}x{N}x{K}",
        threads,
        "GOP/s",
        impls,
        [Goal("torch", 1.0)],
        check,
        1e-6,
        note="numpy = fp32 BLAS on the same integers",
    )


def flash_attention(
    threads: int, torch: Any, H: int, S: int, causal: bool, bf16: bool, fma: Impl | None = None
) -> Any:
    """Tutorial 06's forward kernel, B=1, D=64, against F.scaled_dot_product_attention; ``fma``:
    the FMA probe, timed in the same run, so that the row shows how far each side is from the
    fp32 peak (the two dots are 4 S^2 D flops; the softmax's exp2 adds ~7% more work on the
    same FMA pipes, which the row does not count)."""
    D = 64
    rng = np.random.default_rng(8)
    q, k, v = (rng.standard_normal((1, H, S, D), dtype=np.float32) for _ in range(3))
    if bf16:
        import ml_dtypes

        q, k, v = (t.astype(ml_dtypes.bfloat16) for t in (q, k, v))
    flops = 4.0 * H * S * S * D * (0.5 if causal else 1.0)
    impls = {"tritium": Impl(lambda: attention.attention(q, k, v, causal=causal), flops)}
    if torch is not None:
        if bf16:
            tq, tk, tv = (
                torch.from_numpy(t.view(np.uint16)).view(torch.bfloat16) for t in (q, k, v)
            )
        else:
            tq, tk, tv = (torch.from_numpy(t) for t in (q, k, v))
        sdpa = torch.nn.functional.scaled_dot_product_attention
        impls["torch"] = Impl(lambda: sdpa(tq, tk, tv, is_causal=causal), flops)
    if fma is not None:
        impls["FMA peak"] = fma

    def check() -> float:
        q64, k64, v64 = (t.astype(np.float64) for t in (q, k, v))
        s = q64 @ np.swapaxes(k64, -1, -2) / math.sqrt(D)
        if causal:
            s = np.where(np.tril(np.ones((S, S), dtype=bool)), s, -np.inf)
        p = np.exp(s - s.max(axis=-1, keepdims=True))
        ref = (p / p.sum(axis=-1, keepdims=True)) @ v64
        return _rel_err(attention.attention(q, k, v, causal=causal), ref)

    name = f"flash attn fwd {'causal' if causal else 'full'} {'bf16' if bf16 else 'fp32'}"
    return Workload(
        name,
        f"B1 H{H} S{S} D{D}",
        threads,
        "GFLOP/s",
        impls,
        [Goal("torch", 1.5)],
        check,
        2e-2 if bf16 else 1e-5,
        note="torch = SDPA",
    )


def warm_launch(torch: Any) -> Workload:
    """A 4-argument kernel on one program: the runtime's and the launcher's cost per call."""
    x = np.ones(4, np.float32)
    out = np.full_like(x, np.nan)
    launch = kernels.add4[(1,)]
    impls = {
        "tritium": Impl(lambda: launch(x, x, out, 4, BLOCK=16), 1.0),
        "numpy": Impl(lambda: np.add(x, x, out=out), 1.0),
    }
    if torch is not None:
        tx, to = torch.from_numpy(x), torch.from_numpy(out)
        impls["torch"] = Impl(lambda: torch.add(tx, tx, out=to), 1.0)

    def check() -> float:
        out.fill(np.nan)
        launch(x, x, out, 4, BLOCK=16)
        return _rel_err(out, 2.0 * x.astype(np.float64))

    return Workload(
        "warm launch, 4 args, 1 program",
        "4 elements",
        1,
        "us",
        impls,
        [Goal("<= us", 2.0)],
        check,
        0.0,
    )


def build(quick: bool, threads: list[int], torch: Any, tc: bool, fma: dict[int, Impl]) -> Any:
    """Yield ``(threads, workload)`` in the order they run; ``fma[t]`` is the FMA probe."""
    n_stream = 1 << 24
    stream = Stream(n_stream, max(threads))
    tmax = max(threads)
    for t in threads:
        yield t, lambda t=t: vector_add(stream, t, torch)
    sizes = [(4096, 1024)] if quick else [(4096, 1024), (4096, 4096)]
    for rows, cols in sizes:
        yield tmax, lambda r=rows, c=cols: softmax(stream, tmax, torch, r, c, tc)
    M = 1024 if quick else 4096
    yield tmax, lambda: layer_norm_rows(stream, tmax, torch, M, 4096, tc)
    yield tmax, lambda: rms_norm_rows(stream, tmax, torch, M, 4096, tc)
    for t in threads:
        yield t, lambda t=t: silu_grid(stream, t, 256 if quick else 1024, 11008)
    for n in [1024] if quick else [1024, 2048]:
        for t in threads:
            yield t, lambda t=t, n=n: matmul_fp32(t, torch, n, fma[t])
    yield tmax, lambda: matmul_bf16(tmax, torch, 512 if quick else 1024)
    yield tmax, lambda: matmul_i8(tmax, torch, 64, 2048, 2048)
    heads = 1 if quick else 4
    for bf16 in (False, True):
        for causal in (False, True):
            if quick and bf16 and causal:
                continue
            yield (
                tmax,
                lambda c=causal, b=bf16: flash_attention(tmax, torch, heads, 1024, c, b, fma[tmax]),
            )
    yield 1, lambda: warm_launch(torch)
