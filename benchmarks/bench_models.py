"""Model kernels at CPU-server sizes: tritium against NumPy and PyTorch, with the machine's limits.

    python benchmarks/bench_models.py [--quick] [--rep MS]

Rows: RMSNorm, SwiGLU (a slice of a LLaMA-7B MLP), flash attention (full and causal, fp32
and bf16), decode attention over a GQA KV cache and a W8A8 int8 linear layer (torch:
``torch._int_mm``), each checked against a float64 reference, then timed (medians of
``tritium.testing.do_bench``) for tritium, NumPy and torch in the same run. The "limit" rows
give the scale: memory bandwidth (a large copy, NumPy single-threaded and torch on all threads)
and the fp32 FMA rate (a theoretical estimate from the vector width and clock, and what the BLAS
sgemm reaches). Memory-bound kernels report GB/s, the others GFLOP/s (GOP/s for int8), each
with its share of the matching limit. The BLAS anchor is set up by ``benchmarks/run.py``
(imported first: it unsets OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE before NumPy loads).
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

# First: benchmarks/run.py unsets OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE before NumPy loads.
from benchmarks import run as _run  # noqa: E402

# isort: split
import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402

from tritium import knobs  # noqa: E402
from tritium.testing import do_bench, format_table  # noqa: E402
from tutorials import attention, matmul_int8, rms_norm, swiglu  # noqa: E402
from tutorials.demo import torch  # noqa: E402  (its thread count is set to tritium's)

BF16 = np.dtype(ml_dtypes.bfloat16)


@dataclass
class Row:
    """One kernel at one size: the three implementations, a check, and the work it does."""

    name: str
    size: str
    run_tritium: Callable[[], Any]
    run_numpy: Callable[[], Any] | None
    run_torch: Callable[[], Any] | None
    check: Callable[[], float]  # the largest error relative to the reference's magnitude
    tolerance: float
    bytes_moved: float = 0.0  # compulsory DRAM traffic (memory-bound kernels)
    flops: float = 0.0  # arithmetic (compute-bound kernels)
    flops_unit: str = "GFLOP/s"


def _rel_err(got: Any, ref: np.ndarray) -> float:
    if _is_torch(got):
        got = got.double().numpy()
    got = np.asarray(got).astype(np.float64)
    return float(np.max(np.abs(got - ref)) / max(float(np.max(np.abs(ref))), 1e-30))


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _torch_bf16(a: np.ndarray) -> Any:
    return torch.from_numpy(a.view(np.uint16)).view(torch.bfloat16)


# ---------------------------------------------------------------------------------------------
# The kernels' rows
# ---------------------------------------------------------------------------------------------


def rms_norm_row(rng: np.random.Generator, quick: bool) -> Row:
    """RMSNorm of a [M, N] fp32 activation (LLaMA hidden size 4096)."""
    M, N, eps = (1024, 4096, 1e-6) if quick else (4096, 4096, 1e-6)
    x = rng.standard_normal((M, N), dtype=np.float32)
    w = rng.random(N, dtype=np.float32)

    def numpy_rms() -> np.ndarray:
        return x * (1 / np.sqrt(np.mean(x * x, axis=1, keepdims=True) + eps)) * w

    def check() -> float:
        x64 = x.astype(np.float64)
        ref = x64 / np.sqrt((x64 * x64).mean(axis=1, keepdims=True) + eps) * w
        return _rel_err(rms_norm.rms_norm(x, w, eps)[0], ref)

    run_torch = None
    if torch is not None:
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        fn = torch.nn.functional.rms_norm

        def run_torch() -> Any:
            return fn(tx, (N,), tw, eps)

    return Row(
        "rms_norm fp32",
        f"{M}x{N}",
        lambda: rms_norm.rms_norm(x, w, eps),
        numpy_rms,
        run_torch,
        check,
        1e-5,
        bytes_moved=2 * x.nbytes + w.nbytes,
    )


def swiglu_row(rng: np.random.Generator, quick: bool) -> Row:
    """SwiGLU of a LLaMA-7B MLP (intermediate size 11008) on a slice of the 4096 tokens."""
    M, N = (256, 11008) if quick else (1024, 11008)
    gate = rng.standard_normal((M, N), dtype=np.float32)
    up = rng.standard_normal((M, N), dtype=np.float32)

    def check() -> float:
        g = gate.astype(np.float64)
        return _rel_err(swiglu.swiglu(gate, up), g / (1 + np.exp(-g)) * up)

    run_torch = None
    if torch is not None:
        tg, tu = torch.from_numpy(gate), torch.from_numpy(up)
        silu = torch.nn.functional.silu

        def run_torch() -> Any:
            return silu(tg) * tu

    return Row(
        "swiglu fp32",
        f"{M}x{N}",
        lambda: swiglu.swiglu(gate, up),
        lambda: gate / (1 + np.exp(-gate)) * up,
        run_torch,
        check,
        1e-5,
        bytes_moved=3 * gate.nbytes,
    )


def _attention_np(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool) -> np.ndarray:
    """Attention in NumPy (scores materialized), in the dtype of its inputs."""
    # A contiguous k^T: NumPy's stacked matmul falls off BLAS for a transposed view.
    s = (q @ np.ascontiguousarray(np.swapaxes(k, -1, -2))) * (q.shape[-1] ** -0.5)
    if causal:
        n = q.shape[-2]
        s = np.where(np.tril(np.ones((n, n), dtype=bool)), s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return (p / p.sum(axis=-1, keepdims=True)) @ v


def attention_row(rng: np.random.Generator, quick: bool, causal: bool, dtype: Any) -> Row:
    """Attention forward, B=1, H=16, D=64 (a 1B-7B model's heads), fp32 or bf16 inputs."""
    B, H, N, D = (1, 4, 512, 64) if quick else (1, 16, 1024, 64)
    q32, k32, v32 = (rng.standard_normal((B, H, N, D), dtype=np.float32) for _ in range(3))
    q, k, v = (t.astype(dtype) for t in (q32, k32, v32))
    # NumPy has no bf16 BLAS: its fp32 path is the anchor for bf16 inputs too.
    qn, kn, vn = (t.astype(np.float32) for t in (q, k, v))

    def check() -> float:
        ref = _attention_np(*(t.astype(np.float64) for t in (q, k, v)), causal)
        return _rel_err(attention.attention(q, k, v, causal=causal), ref)

    run_torch = None
    if torch is not None:
        conv = _torch_bf16 if np.dtype(dtype) == BF16 else torch.from_numpy
        tq, tk, tv = (conv(t) for t in (q, k, v))
        sdpa = torch.nn.functional.scaled_dot_product_attention

        def run_torch() -> Any:
            return sdpa(tq, tk, tv, is_causal=causal)

    name = f"attention {'causal' if causal else 'full'} {np.dtype(dtype).name}"
    flops = 4.0 * B * H * N * N * D * (0.5 if causal else 1.0)
    return Row(
        name,
        f"B{B} H{H} N{N} D{D}",
        lambda: attention.attention(q, k, v, causal=causal),
        lambda: _attention_np(qn, kn, vn, causal),
        run_torch,
        check,
        1e-5 if np.dtype(dtype) == np.float32 else 2e-2,
        flops=flops,
    )


def decode_row(rng: np.random.Generator, quick: bool) -> Row:
    """The decode step of serving a LLaMA-3-8B-shaped model: one token per sequence against a
    GQA KV cache (32 query heads over 8 KV heads, D=128); memory-bound on the cache."""
    B, H, H_KV, N, D = (2, 32, 8, 1024, 128) if quick else (4, 32, 8, 4096, 128)
    group = H // H_KV
    q = rng.standard_normal((B, H, D), dtype=np.float32)
    k, v = (rng.standard_normal((B, H_KV, N, D), dtype=np.float32) for _ in range(2))
    scale = D**-0.5

    def numpy_decode() -> np.ndarray:
        qg = q.reshape(B, H_KV, group, D)
        s = np.einsum("bkgd,bknd->bkgn", qg, k, optimize=True) * scale
        p = np.exp(s - s.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        return np.einsum("bkgn,bknd->bkgd", p, v, optimize=True).reshape(B, H, D)

    def check() -> float:
        q64, k64, v64 = (t.astype(np.float64) for t in (q, k, v))
        s = np.einsum("bkgd,bknd->bkgn", q64.reshape(B, H_KV, group, D), k64) * scale
        p = np.exp(s - s.max(axis=-1, keepdims=True))
        ref = np.einsum("bkgn,bknd->bkgd", p / p.sum(axis=-1, keepdims=True), v64)
        return _rel_err(attention.decode_attention(q, k, v), ref.reshape(B, H, D))

    run_torch = None
    if torch is not None:
        tq, tk, tv = torch.from_numpy(q)[:, :, None, :], torch.from_numpy(k), torch.from_numpy(v)
        sdpa = torch.nn.functional.scaled_dot_product_attention

        def run_torch() -> Any:
            return sdpa(tq, tk, tv, enable_gqa=True)

    return Row(
        "decode attention GQA fp32",
        f"B{B} H{H}/{H_KV} N{N} D{D}",
        lambda: attention.decode_attention(q, k, v),
        numpy_decode,
        run_torch,
        check,
        1e-5,
        bytes_moved=k.nbytes + v.nbytes,
    )


def matmul_int8_row(rng: np.random.Generator, quick: bool) -> Row:
    """A W8A8 linear layer: int8 activations (per-token scales) x int8 weights (per channel)."""
    M, N, K = (64, 2048, 2048) if quick else (256, 4096, 4096)
    a, sa = matmul_int8.quantize_rows(rng.standard_normal((M, K), dtype=np.float32))
    bt, sb = matmul_int8.quantize_rows(rng.standard_normal((N, K), dtype=np.float32))
    b = np.ascontiguousarray(bt.T)
    # NumPy has no int8 GEMM: the fp32 BLAS on the same integers is its anchor.
    af, bf = a.astype(np.float32), b.astype(np.float32)

    def check() -> float:
        ref = (a.astype(np.float64) @ b) * sa[:, None] * sb[None, :]
        return _rel_err(matmul_int8.matmul_int8(a, b, sa, sb), ref)

    run_torch = None
    if torch is not None and hasattr(torch, "_int_mm"):
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        tsa, tsb = torch.from_numpy(sa)[:, None], torch.from_numpy(sb)[None, :]

        def run_torch() -> Any:
            return torch._int_mm(ta, tb) * tsa * tsb

    return Row(
        "matmul W8A8 int8",
        f"{M}x{N}x{K}",
        lambda: matmul_int8.matmul_int8(a, b, sa, sb),
        lambda: (af @ bf) * sa[:, None] * sb[None, :],
        run_torch,
        check,
        1e-6,
        flops=2.0 * M * N * K,
        flops_unit="GOP/s",
    )


# ---------------------------------------------------------------------------------------------
# Machine limits
# ---------------------------------------------------------------------------------------------


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _cpu_ghz() -> float | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":", 1)[1]) / 1e3
    except OSError:
        pass
    return None


def peak_fp32_gflops(threads: int) -> tuple[float | None, str]:
    """Theoretical fp32 FMA rate: threads x lanes x 2 FMA units x 2 flops x clock (estimate)."""
    flags = _cpu_flags()
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    ghz = _cpu_ghz()
    if ghz is None:
        return None, f"{lanes} lanes, clock unknown"
    return threads * lanes * 2 * 2 * ghz, f"{threads} cores x {lanes} lanes x 2 FMA x {ghz:.2f} GHz"


def limit_rows(
    median_ms: Callable[[Callable[[], Any]], float], quick: bool, threads: int
) -> tuple[list[list[Any]], float, float]:
    """Rows for the machine limits; returns them with the bandwidth (GB/s) and fp32 GFLOP/s
    that the kernels' rows are compared with (the best measured of each)."""
    rows: list[list[Any]] = []
    n = (32 if quick else 256) * 2**20 // 4  # fp32 elements, beyond the last-level cache
    a = np.ones(n, np.float32)
    b = np.empty_like(a)
    t = median_ms(lambda: np.copyto(b, a))
    bw = 2 * a.nbytes / t / 1e6
    rows.append(
        ["limit: copy (numpy, 1 thread)", f"{a.nbytes >> 20} MiB", f"{t:.3f}", f"{bw:.1f} GB/s"]
    )
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        t = median_ms(lambda: tb.copy_(ta))
        tbw = 2 * a.nbytes / t / 1e6
        rows.append(
            [
                f"limit: copy (torch, {torch.get_num_threads()} threads)",
                f"{a.nbytes >> 20} MiB",
                f"{t:.3f}",
                f"{tbw:.1f} GB/s",
            ]
        )
        bw = max(bw, tbw)
    m = 1024 if quick else 2048
    x = np.random.default_rng(1).standard_normal((m, m), dtype=np.float32)
    t = median_ms(lambda: x @ x)
    blas = 2 * m**3 / t / 1e6
    rows.append(["limit: sgemm (numpy BLAS)", f"{m}^3", f"{t:.3f}", f"{blas:.1f} GFLOP/s"])
    peak, how = peak_fp32_gflops(threads)
    rows.append(
        [
            "limit: fp32 FMA peak (estimate)",
            how,
            "-",
            "-" if peak is None else f"{peak:.0f} GFLOP/s",
        ]
    )
    return rows, bw, blas


def main(argv: list[str] | None = None) -> int:
    """Print the limits and the kernels' table; exit 1 if a tritium result is wrong."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--rep", type=float, default=200.0, help="ms of timed runs per entry")
    parser.add_argument("--repeats", type=int, default=3, help="medians of this many do_bench")
    args = parser.parse_args(argv)

    threads = knobs.num_threads()
    print(f"tritium threads: {threads}")
    print(f"numpy BLAS: {_run.blas_info()}")
    if _run._UNSET:
        print(f"(unset for the anchor: {', '.join(_run._UNSET)})")
    print(f"torch: {torch.__version__ + f' threads={torch.get_num_threads()}' if torch else '-'}")
    if os.cpu_count() and os.getloadavg()[0] > threads:
        print(f"note: load average {os.getloadavg()[0]:.1f} > {threads} threads: times are noisy")

    def median_ms(fn: Callable[[], Any]) -> float:
        fn()  # compile / autotune outside the timing
        return statistics.median(
            do_bench(fn, warmup=args.rep / 4, rep=args.rep, return_mode="median")
            for _ in range(args.repeats)
        )

    limits, bandwidth, gflops = limit_rows(median_ms, args.quick, threads)
    print(format_table(["machine limit", "size", "ms", "rate"], limits))
    print()

    rng = np.random.default_rng(0)
    cases = [rms_norm_row(rng, args.quick), swiglu_row(rng, args.quick)]
    for causal in (False, True):
        cases.append(attention_row(rng, args.quick, causal, np.float32))
    cases.append(attention_row(rng, args.quick, False, BF16))
    cases.append(decode_row(rng, args.quick))
    cases.append(matmul_int8_row(rng, args.quick))

    header = [
        "kernel",
        "size",
        "err",
        "ok",
        "tritium ms",
        "numpy ms",
        "torch ms",
        "numpy/tritium",
        "torch/tritium",
        "tritium rate",
        "of limit",
    ]
    rows, failed = [], False
    for case in cases:
        err = _run.poisoned_check(case)
        ok = err <= case.tolerance
        failed |= not ok
        t = median_ms(case.run_tritium)
        n = median_ms(case.run_numpy) if case.run_numpy else None
        p = median_ms(case.run_torch) if case.run_torch else None
        if case.flops:
            gfs = case.flops / t / 1e6
            rate, share = f"{gfs:.1f} {case.flops_unit}", gfs / gflops
        else:
            gbs = case.bytes_moved / t / 1e6
            rate, share = f"{gbs:.1f} GB/s", gbs / bandwidth
        rows.append(
            [
                case.name,
                case.size,
                f"{err:.1e}",
                "yes" if ok else "NO",
                f"{t:.2f}",
                "-" if n is None else f"{n:.2f}",
                "-" if p is None else f"{p:.2f}",
                "-" if n is None else f"{n / t:.2f}",
                "-" if p is None else f"{p / t:.2f}",
                rate,
                f"{100 * share:.0f}%",
            ]
        )
    print(format_table(header, rows))
    print(
        "(of limit: memory-bound rows against the best copy bandwidth, the others against the "
        "BLAS sgemm rate)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
