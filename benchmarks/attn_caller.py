"""Flash attention's launches before and after big-frame programs run on the caller's thread.

``python benchmarks/attn_caller.py BASE_TREE [--rounds 6]`` runs the same measures with this
tree's tritium and with ``BASE_TREE``'s (a checkout of an earlier commit, e.g. ``git worktree
add /tmp/attn-base <rev>``), each in its own process (its own cache directory), alternating,
and prints per-row medians over the processes with the load average. Rows, fp32, tutorial 06's
forward (``tutorials/attention.py``) at 64 x 64 blocks (250 KB frames):

- ``1 program``: causal, S=64, one program per launch (2 threads asked): the launch's
  overhead; ``vector add`` (1 program of 1024) is the small-frame anchor.
- ``causal``/``full`` S=1024 D=64 at 1 and 2 threads (``tritium.set_num_threads``).

Each row gives wall time and process CPU time (all threads: a caller spinning while workers
run counts) per launch, medians of many launches, and the fastest launch's wall time
(``min``); all three are medians over the processes. The machine is shared: compare the two
trees' rows of the same run only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(reps: int, only: str) -> None:
    """One process: every row, interleaved; prints a JSON dict row -> [wall_s, cpu_s]."""
    import tritium  # and the tutorials: from the tree in PYTHONPATH
    from tutorials import attention, vector_add

    rng = np.random.default_rng(8)

    def qkv(s: int) -> list[np.ndarray]:
        return [rng.standard_normal((1, 1, s, 64), dtype=np.float32) for _ in range(3)]

    small, big = qkv(64), qkv(1024)
    x, y = (rng.standard_normal(1024, dtype=np.float32) for _ in range(2))
    fwd = attention._attn_fwd.fn

    def attn(qkv_: list[np.ndarray], causal: bool, threads: int) -> object:
        def run() -> None:
            tritium.set_num_threads(threads)
            attention.launch(fwd, *qkv_, causal, None, BLOCK_M=64, BLOCK_N=64)

        return run

    def add() -> None:
        tritium.set_num_threads(2)
        vector_add.add(x, y)

    rows = {
        "1 program (causal S=64)": (attn(small, True, 2), 20),
        "vector add 1 program": (add, 20),
        "causal S=1024 1 thread": (attn(big, True, 1), 1),
        "causal S=1024 2 threads": (attn(big, True, 2), 1),
        "full S=1024 1 thread": (attn(big, False, 1), 1),
        "full S=1024 2 threads": (attn(big, False, 2), 1),
    }
    rows = {name: row for name, row in rows.items() if only in name}
    for f, _ in rows.values():
        f()
        f()
    out: dict[str, list[list[float]]] = {name: [] for name in rows}
    for _ in range(reps):
        for name, (f, inner) in rows.items():
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(inner):
                f()
            out[name].append(
                [(time.perf_counter() - w0) / inner, (time.process_time() - c0) / inner]
            )
    med = {
        name: [*np.median(np.array(v), axis=0).tolist(), min(w for w, _ in v)]
        for name, v in out.items()
    }
    print(json.dumps(med), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", nargs="?", help="the other tree (a checkout of an earlier commit)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--only", default="", help="the rows whose name holds this text")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.reps, args.only)
        return
    if not args.base:
        ap.error("give the base tree")
    trees = {"base": os.path.abspath(args.base), "new": HERE}
    results: dict[str, list[dict[str, list[float]]]] = {t: [] for t in trees}
    loads = []
    for r in range(args.rounds):
        for tag in list(trees)[:: 1 if r % 2 == 0 else -1]:
            env = dict(os.environ, PYTHONPATH=trees[tag])
            env["TRITIUM_CACHE_DIR"] = f"/tmp/cache-attn-caller-{tag}"
            cmd = [sys.executable, os.path.abspath(__file__)]
            cmd += ["--child", "--reps", str(args.reps), "--only", args.only]
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            results[tag].append(json.loads(res.stdout.strip().splitlines()[-1]))
            loads.append(os.getloadavg()[0])
    print(f"load average {min(loads):.1f}-{max(loads):.1f}; medians over {args.rounds} processes")
    head = ("base wall", "new wall", "base cpu", "new cpu", "base min", "new min")
    print(f"{'row':26s} " + " ".join(f"{h:>10s}" for h in head))
    for row in results["new"][0]:
        cells = []
        for i in (0, 1, 2):  # medians over the processes
            for tag in trees:
                cells.append(np.median([p[row][i] for p in results[tag]]) * 1e3)
        print(f"{row:26s} " + " ".join(f"{c:8.3f}ms" for c in cells))
        ranges = []
        for tag in trees:
            walls = [p[row][0] * 1e3 for p in results[tag]]
            ranges.append(f"{tag} wall {min(walls):.3f}-{max(walls):.3f}")
        print(f"{'':26s} " + ", ".join(ranges))


if __name__ == "__main__":
    main()
