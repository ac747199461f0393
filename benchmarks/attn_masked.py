"""Causal flash attention at one thread with ``dot_masked`` on and off (``ENABLED``).

``python benchmarks/attn_masked.py [--rounds 4] [--reps 9] [--dtype fp32]`` times tutorial
06's forward (``tutorials/attention.py``, B=1 H=4 S=1024 D=64; causal and full, 64 x 64,
64 x 32 and 128 x 64 blocks) in one process per setting, alternating off and on, each round.
``dot_masked.ENABLED`` is read at compile time (the CPU backend's cache key names it when
off); each child still compiles afresh (``TRITIUM_ALWAYS_COMPILE=1`` and a cache directory of
its own), so that every round times the same fresh compile. Times are the
child's thread CPU time (medians of ``--reps`` of 3 launches each, configs interleaved);
the parent prints GFLOP/s per setting, the off/on ratio of each round and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

H, S, D = 4, 1024, 64
BLOCKS = [(64, 64), (64, 32), (128, 64)]


def _flops(causal: bool) -> float:
    return 4.0 * H * S * S * D * (0.5 if causal else 1.0)


def child(enabled: bool, dtype: str, reps: int) -> None:
    """One process, one setting: print ``{config: median seconds}`` as JSON."""
    import tritium
    from tritium.backends.cpu import dot_masked
    from tutorials import attention

    dot_masked.ENABLED = enabled
    tritium.set_num_threads(1)
    rng = np.random.default_rng(8)
    q, k, v = (rng.standard_normal((1, H, S, D), dtype=np.float32) for _ in range(3))
    if dtype == "bf16":
        import ml_dtypes

        q, k, v = (t.astype(ml_dtypes.bfloat16) for t in (q, k, v))
    fns = {
        f"{'causal' if c else 'full'} {bm}x{bn}": lambda c=c, bm=bm, bn=bn: attention.launch(
            attention._attn_fwd.fn, q, k, v, c, None, BLOCK_M=bm, BLOCK_N=bn
        )
        for bm, bn in BLOCKS
        for c in (True, False)
    }
    for f in fns.values():
        f()
        f()
    times: dict[str, list[float]] = {n: [] for n in fns}
    for _ in range(reps):
        for n, f in fns.items():
            t0 = time.thread_time()
            for _ in range(3):
                f()
            times[n].append((time.thread_time() - t0) / 3)
    print(json.dumps({n: float(np.median(t)) for n, t in times.items()}), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--rounds", type=int, default=4, help="processes per setting, alternating")
    p.add_argument("--reps", type=int, default=9)
    p.add_argument("--child", choices=["0", "1"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child is not None:
        child(a.child == "1", a.dtype, a.reps)
        return
    runs: dict[str, list[dict[str, float]]] = {"0": [], "1": []}
    for r in range(a.rounds):
        for flag in ("0", "1") if r % 2 == 0 else ("1", "0"):
            env = dict(os.environ, TRITIUM_ALWAYS_COMPILE="1", TRITIUM_NUM_THREADS="1")
            env["TRITIUM_CACHE_DIR"] = tempfile.mkdtemp(prefix=f"attn-masked-{flag}-")
            cmd = [sys.executable, __file__, "--child", flag, "--dtype", a.dtype]
            out = subprocess.run(
                [*cmd, "--reps", str(a.reps)], env=env, check=True, capture_output=True, text=True
            )
            runs[flag].append(json.loads(out.stdout.strip().splitlines()[-1]))
    for name in runs["0"][0]:
        fl = _flops(name.startswith("causal"))
        off = [run[name] for run in runs["0"]]
        on = [run[name] for run in runs["1"]]
        ratios = " ".join(f"{x / y:.3f}" for x, y in zip(off, on, strict=True))
        print(
            f"{a.dtype} {name:14s} off {fl / np.median(off) / 1e9:6.1f}  on "
            f"{fl / np.median(on) / 1e9:6.1f} GFLOP/s  off/on {np.median(off) / np.median(on):.3f}"
            f" (rounds {ratios})"
        )
    print(f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
