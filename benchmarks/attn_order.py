"""Causal flash attention on 2 threads: heaviest programs first (``heavy_first``) or not.

``python benchmarks/attn_order.py [--dtype bf16] [--rounds 6]`` times tutorial 06's causal
forward (``tutorials/attention.py``, B=1 H=1 S=1024 D=64, 64 x 64 and 128 x 64 blocks; the
quick benchmark's row) with the launcher handing program ids out in decreasing order (the
default: the kernel's first loop runs over ``[0, start_m * BLOCK_M)``) and in increasing order
(``heavy_first.ENABLED = False``), each in its own process (the choice is made at compile time;
each setting has its own cache directory), alternating, with SDPA timed in the same process as
the anchor. It prints GFLOP/s medians per process and the load average: wall time on 2 threads
means anything only on a quiet machine.

``--model`` instead measures each program's CPU time at one thread (grids of 0..G programs,
differences of 20th percentiles) and prints the 2-thread makespan both orders would give if
the threads took programs one at a time (the launcher's tail): an estimate of the balance that
contention does not distort much.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

S, D, H = 1024, 64, 1
FLOPS = 4.0 * H * S * S * D * 0.5
BLOCKS = [(64, 64), (128, 64)]


def _inputs(dtype: str) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(8)
    q, k, v = (rng.standard_normal((1, H, S, D), dtype=np.float32) for _ in range(3))
    if dtype == "bf16":
        import ml_dtypes

        q, k, v = (t.astype(ml_dtypes.bfloat16) for t in (q, k, v))
    return q, k, v


def child(dtype: str, heavy_first: bool, reps: int) -> None:
    """One process: tritium's blocks and SDPA, interleaved, 2 threads."""
    import torch

    from tritium.backends.cpu import heavy_first as hf
    from tutorials import attention

    hf.ENABLED = heavy_first
    torch.set_num_threads(2)
    q, k, v = _inputs(dtype)
    as_t = lambda t: torch.from_numpy(t.view(np.uint16)).view(torch.bfloat16)  # noqa: E731
    tq, tk, tv = (as_t(t) if dtype == "bf16" else torch.from_numpy(t) for t in (q, k, v))
    fns = {
        f"{bm}x{bn}": lambda bm=bm, bn=bn: attention.launch(
            attention._attn_fwd.fn, q, k, v, True, None, BLOCK_M=bm, BLOCK_N=bn
        )
        for bm, bn in BLOCKS
    }
    sdpa = torch.nn.functional.scaled_dot_product_attention
    fns["sdpa"] = lambda: sdpa(tq, tk, tv, is_causal=True)
    for f in fns.values():
        f()
        f()
    times: dict[str, list[float]] = {n: [] for n in fns}
    for _ in range(reps):
        for n, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[n].append(time.perf_counter() - t0)
    rows = " ".join(f"{n} {FLOPS / np.median(t) / 1e9:6.1f}" for n, t in times.items())
    order = "decreasing" if heavy_first else "increasing"
    print(f"{dtype} {order:10s} GFLOP/s: {rows}  load {os.getloadavg()[0]:.1f}", flush=True)


def _makespan(costs: list[float], threads: int = 2) -> float:
    done = [0.0] * threads
    for c in costs:
        done[done.index(min(done))] += c
    return max(done)


def model(dtype: str, reps: int) -> None:
    """Per-program CPU time at one thread, and the 2-thread makespan of both orders."""
    from tutorials import attention

    q, k, v = _inputs(dtype)
    out = np.empty_like(q)
    strides = [t.strides[d] // t.itemsize for t in (q, k, v, out) for d in range(4)]
    kernel = attention._attn_fwd.fn
    for bm, bn in BLOCKS:
        meta = dict(HEAD_DIM=D, STAGE=3, BLOCK_M=bm, BLOCK_N=bn)
        args = (q, k, v, out, D**-0.5, *strides, H, H, S)
        runs = [lambda g=g, a=args, m=meta: kernel[(g, 1, 1)](*a, **m) for g in range(S // bm + 1)]
        for f in runs:
            f()
        cpu: list[list[float]] = [[] for _ in runs]
        for _ in range(reps):
            for g, f in enumerate(runs):
                c0 = time.process_time()
                f()
                cpu[g].append(time.process_time() - c0)
        total = [float(np.percentile(c, 20)) for c in cpu]  # contention only adds
        costs = [max(total[g + 1] - total[g], 0.0) for g in range(len(runs) - 1)]
        whole = sum(costs)
        inc, dec = _makespan(costs), _makespan(costs[::-1])
        print(
            f"{dtype} {bm}x{bn}: programs {' '.join(f'{c * 1e3:.3f}' for c in costs)} ms; "
            f"2 threads: increasing {whole / inc:.2f}x, decreasing {whole / dec:.2f}x of one "
            f"thread (ideal 2.00); load {os.getloadavg()[0]:.1f}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--rounds", type=int, default=6, help="processes per order, alternating")
    p.add_argument("--reps", type=int, default=40)
    p.add_argument("--model", action="store_true", help="per-program costs at one thread")
    p.add_argument("--child", choices=["0", "1"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child is not None:
        child(a.dtype, a.child == "1", a.reps)
        return
    if a.model:
        os.environ["TRITIUM_NUM_THREADS"] = "1"
        model(a.dtype, a.reps)
        return
    base = os.environ.get("TRITIUM_CACHE_DIR") or tempfile.gettempdir()
    for _ in range(a.rounds):
        for flag in ("1", "0"):
            env = dict(os.environ, TRITIUM_NUM_THREADS="2")
            env["TRITIUM_CACHE_DIR"] = os.path.join(base, f"attn-order-{flag}")
            cmd = [sys.executable, __file__, "--child", flag, "--dtype", a.dtype]
            subprocess.run([*cmd, "--reps", str(a.reps)], env=env, check=True)


if __name__ == "__main__":
    main()
