"""How the packed matmul rows' launches went over the threads, round by round, beside torch.

``python -m benchmarks.thread_split [--rows bf16,int8] [--n 512] [--rounds 20] [--rep 20]
[--threads 2] [--paths omp,pool]`` times the rows of ``run.py`` (``matmul bf16 -> fp32`` at
``n``^3, autotuned; ``matmul W8A8 int8`` 64x2048x2048, NumPy's BLAS timed between the two) as
``run.py`` does (``do_bench`` medians, tritium and torch interleaved round by round, torch
imported first so that launches run on its OpenMP threads), with ``TRITIUM_LAUNCH_TRACE=1``
(:mod:`tritium.backends.cpu.launch_trace`). ``--paths omp,pool`` times each row twice a round,
its launches sent to torch's OpenMP threads and to the pool's own. Per round and row it prints
tritium's and torch's rates and, over the round's launches: the median wall time (us); how many
ran on the pool's own threads (``pool``), on other threads than the caller (``omp``) or on the
caller alone (``solo``); ``lop``, the share of launches where one thread ran at least 3/4 of the
programs; ``late``, the median time from the launch's start to its last thread's start (us);
``tail``, from the first thread out of programs to the launch's end (us); ``cpu``, the least
ratio of a thread's CPU time to its wall time (below 1: descheduled); ``same``, the launches
whose two threads began on one CPU; and for the round: the machine's steal ticks, ``other``,
the CPUs' busy share not spent by this process (``/proc/stat``), this process's involuntary
context switches and ``rq``, its threads' time runnable but waiting for a CPU (``schedstat``)
per second. At the end, the rounds whose ratio to torch is below 0.9 of the median ratio
beside the others. Linux only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

os.environ["TRITIUM_LAUNCH_TRACE"] = "1"  # read when the launcher is built: before any launch

import numpy as np  # noqa: E402

from benchmarks import kernels  # noqa: E402
from tritium.backends.cpu import launch_trace  # noqa: E402
from tritium.testing import do_bench  # noqa: E402
from tutorials import matmul_int8  # noqa: E402


def _proc_stat() -> tuple[int, list[tuple[int, int]]]:
    """Steal ticks of the machine, and (busy, total) ticks per CPU."""
    steal, cpus = 0, []
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            name, *v = line.split()
            ticks = [int(x) for x in v]
            if name == "cpu":
                steal = ticks[7]
            else:
                idle = ticks[3] + ticks[4]
                cpus.append((sum(ticks[:8]) - idle, sum(ticks[:8])))
    return steal, cpus


def _switches() -> tuple[int, int]:
    """Involuntary context switches of this process's threads so far, and the ns they spent
    runnable but waiting for a CPU (``schedstat``)."""
    n = waited = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("nonvoluntary_ctxt_switches"):
                        n += int(line.split()[1])
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                waited += int(f.read().split()[1])
        except OSError:
            continue
    return n, waited


def summarize(launches: list[launch_trace.Launch], names: dict[int, str]) -> dict[str, float]:
    """The round's launch statistics (see the module docstring)."""
    if not launches:
        return {}
    walls, late, tail, cpu = [], [], [], []
    pool = omp = solo = lop = same = 0
    for x in launches:
        busy = [t for t in x.threads if t.programs]
        walls.append(x.wall_ns / 1e3)
        others = [t for t in busy if t.tid != x.caller]
        if not others:
            solo += 1
        elif any(names.get(t.tid) == "tritium-pool" for t in others):
            pool += 1
        else:
            omp += 1
        if max((t.programs for t in busy), default=0) * 4 >= 3 * x.programs and x.nthreads > 1:
            lop += 1
        if busy:
            late.append((max(t.begin for t in busy) - x.begin) / 1e3)
            tail.append((x.end - min(t.end for t in busy)) / 1e3)
            cpu.append(min(t.cpu_ns / max(t.end - t.begin, 1) for t in busy))
        if len(busy) >= 2 and len({t.cpu_begin for t in busy}) < len(busy):
            same += 1
    n = len(launches)
    med = lambda v: statistics.median(v) if v else float("nan")  # noqa: E731
    return dict(
        launches=n,
        wall=med(walls),
        pool=pool / n,
        omp=omp / n,
        solo=solo / n,
        lop=lop / n,
        late=med(late),
        tail=med(tail),
        cpu=med(cpu),
        same=same / n,
    )


def _rows(which: list[str], n: int, torch: Any) -> list[tuple[str, Any, Any, float, Any]]:
    """(name, tritium, torch, work, an anchor timed between them or None) per row."""
    import ml_dtypes

    out = []
    rng = np.random.default_rng(6)
    if "bf16" in which:
        a, b = (rng.standard_normal((n, n)).astype(ml_dtypes.bfloat16) for _ in range(2))
        c = np.full((n, n), np.nan, np.float32)
        ta, tb = (torch.from_numpy(t.view(np.uint16)).view(torch.bfloat16) for t in (a, b))
        mine = lambda: kernels.matmul(a, b, c)  # noqa: E731
        out.append((f"bf16 {n}^3", mine, lambda: torch.matmul(ta, tb), 2.0 * n**3, None))
    if "int8" in which:
        M, N, K = 64, 2048, 2048
        qa, sa = matmul_int8.quantize_rows(rng.standard_normal((M, K), dtype=np.float32))
        qbt, sb = matmul_int8.quantize_rows(rng.standard_normal((N, K), dtype=np.float32))
        qb = np.ascontiguousarray(qbt.T)
        tqa, tqb = torch.from_numpy(qa), torch.from_numpy(qb)
        tsa, tsb = torch.from_numpy(sa)[:, None], torch.from_numpy(sb)[None, :]
        af, bf = qa.astype(np.float32), qb.astype(np.float32)

        mine = lambda: matmul_int8.matmul_int8(qa, qb, sa, sb)  # noqa: E731
        theirs = lambda: torch._int_mm(tqa, tqb) * tsa * tsb  # noqa: E731
        # run.py's row times NumPy's BLAS (threads of its own) between the two
        blas = lambda: (af @ bf) * sa[:, None] * sb[None, :]  # noqa: E731
        out.append(("int8 64x2048x2048", mine, theirs, 2.0 * M * N * K, blas))
    return out


def _on_path(path: str, fn: Any) -> Any:
    """``fn`` with the launches sent to torch's OpenMP runtime (``omp``) or the pool's own
    threads (``pool``) while it runs."""
    from tritium.backends.cpu import threadpool

    found = threadpool.openmp_runtime()
    address = found[1] if found and path == "omp" else 0

    def run() -> Any:
        if threadpool._openmp_state[1] != address:
            threadpool.attach_openmp(address)
        return fn()

    return run


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", default="bf16,int8")
    p.add_argument("--n", type=int, default=512)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--rep", type=float, default=20.0, help="ms of timed calls per round")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--paths",
        default="",
        help="'omp,pool': each row twice a round, on torch's OpenMP threads and on the pool's",
    )
    args = p.parse_args(argv)
    import torch

    import tritium

    torch.set_num_threads(args.threads)
    tritium.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.threads, user_api="blas")
    except ImportError:
        pass
    rows = _rows(args.rows.split(","), args.n, torch)
    for _, mine, theirs, _, _ in rows:
        mine(), theirs()  # compile, autotune, warm
    if args.paths:
        rows = [
            (f"{name} {path}", _on_path(path, mine), theirs, work, between)
            for name, mine, theirs, work, between in rows
            for path in args.paths.split(",")
        ]
    print(f"threads {args.threads}, load {os.getloadavg()[0]:.1f}")
    print(
        f"{'round row':24s} {'ours':>6s} {'torch':>6s} {'ratio':>5s} {'wall':>7s} {'pool':>4s} "
        f"{'omp':>4s} {'solo':>4s} {'lop':>4s} {'late':>6s} {'tail':>6s} {'cpu':>4s} "
        f"{'same':>4s} {'steal':>5s} {'other':>5s} {'invol':>5s} {'rq':>4s}"
    )
    stats: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in rows}
    for r in range(args.rounds):
        for name, mine, theirs, work, between in rows:
            steal0, cpus0 = _proc_stat()
            (inv0, rq0), own0, t0 = _switches(), os.times(), time.perf_counter()
            launch_trace.clear()
            ms = do_bench(mine, warmup=args.rep / 4, rep=args.rep, return_mode="median")
            s = summarize(launch_trace.records(), launch_trace.thread_names())
            steal1, cpus1 = _proc_stat()
            (inv1, rq1), own1, t1 = _switches(), os.times(), time.perf_counter()
            if between is not None:
                do_bench(between, warmup=args.rep / 4, rep=args.rep)
            theirs_ms = do_bench(theirs, warmup=args.rep / 4, rep=args.rep, return_mode="median")
            # the CPUs' busy ticks not spent by this process, per tick of all CPUs
            busy = sum(c1[0] - c0[0] for c0, c1 in zip(cpus0, cpus1))
            total = max(sum(c1[1] - c0[1] for c0, c1 in zip(cpus0, cpus1)), 1)
            mine_ticks = (own1.user + own1.system - own0.user - own0.system) * 100
            s.update(
                ours=work / ms / 1e6,
                torch=work / theirs_ms / 1e6,
                steal=float(steal1 - steal0),
                other=max(0.0, (busy - mine_ticks) / total),
                invol=float(inv1 - inv0),
                rq=(rq1 - rq0) / 1e9 / (t1 - t0),
            )
            s["ratio"] = s["ours"] / s["torch"]
            stats[name].append(s)
            print(
                f"{r:2d} {name:21s} {s['ours']:6.0f} {s['torch']:6.0f} {s['ratio']:5.2f} "
                f"{s['wall']:7.0f} {s['pool']:4.2f} {s['omp']:4.2f} {s['solo']:4.2f} "
                f"{s['lop']:4.2f} {s['late']:6.0f} {s['tail']:6.0f} {s['cpu']:4.2f} "
                f"{s['same']:4.2f} {s['steal']:5.0f} {s['other']:5.2f} {s['invol']:5.0f} "
                f"{s['rq']:4.2f}"
            )
            sys.stdout.flush()
    keys = ["ours", "torch", "ratio", "wall", "pool", "omp", "solo", "lop", "late", "tail", "cpu"]
    keys += ["same", "steal", "other", "invol", "rq"]
    for name, rounds in stats.items():
        cut = 0.9 * statistics.median(s["ratio"] for s in rounds)
        for label, group in (
            ("slow", [s for s in rounds if s["ratio"] < cut]),
            ("rest", [s for s in rounds if s["ratio"] >= cut]),
        ):
            if group:
                means = " ".join(f"{k} {statistics.mean(s[k] for s in group):.2f}" for k in keys)
                print(f"{name} {label} ({len(group)} rounds): {means}")
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
