"""tritium kernels and torch ops alternating in one loop: do the two thread pools get along?

    python benchmarks/bench_threads.py [--rounds R] [--inner K] [--iters N] [--n ELEMENTS]
                                       [--no-backoff] [--quick]

Each iteration launches a tritium add (``n`` fp32 elements, default 2M) and then runs
``torch.exp`` on a tensor of the same size. Pools compared, before and after in one run:

- ``own``: tritium's own pool threads (``TRITIUM_THREAD_POOL_OPENMP=0``, the old default);
- ``openmp``: launches run as OpenMP parallel regions on torch's libgomp threads (the default
  since torch is loaded);
- ``own+backoff``: the own pool with its oversubscription back-off
  (``TRITIUM_THREAD_POOL_BACKOFF=1``).

The own and openmp pools alternate inside one process (``threadpool.attach_openmp`` switches
them between blocks of iterations), so both see the same machine load; each (tritium threads,
torch threads, back-off) configuration is a new process, and the process rounds interleave
them. Anchors: each library alone. Prints, per row, the median over all samples of the
tritium launch, the torch op and the whole iteration, in microseconds, the iteration against
the sum of the two anchors at the same thread counts (the cost of alternating), and the CPU
time all the process's threads used per iteration (spinning threads show there even on a
machine too loaded for wall times to tell). Writes
the table to ``benchmarks/results/bench_threads.md`` and ``.json``. Not part of CI; nothing
is asserted but the results.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

_CHILD = r"""
import json, sys, time
import torch
import tritium, tritium.language as tl
from tritium.backends.cpu import threadpool

@tritium.jit
def add(x, y, o, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(o + offs, tl.load(x + offs, mask=m) + tl.load(y + offs, mask=m), mask=m)

tt, th, iters, n, rounds = (int(a) for a in sys.argv[1:6])
modes = sys.argv[6].split(",")
x, y, o, o2 = torch.randn(n), torch.randn(n), torch.empty(n), torch.empty(n)
B = 4096
grid = ((n + B - 1) // B,)
add[grid](x, y, o, n, BLOCK=B)  # compiles, loads the pool, finds torch's OpenMP runtime
omp = threadpool.share_openmp()
if "openmp" in modes and not omp:
    raise SystemExit("no OpenMP runtime found")
if tt:
    tritium.set_num_threads(tt)
if th:
    torch.set_num_threads(th)
res = {m: [[], [], [], []] for m in modes}
for r in range(rounds):
    for mode in modes:
        threadpool.attach_openmp(omp if mode == "openmp" else 0)
        tri, tor, tot, cpu = res[mode]
        for i in range(iters + 3):
            if i == 3:
                c0 = time.process_time()
            t0 = time.perf_counter()
            if tt:
                add[grid](x, y, o, n, BLOCK=B)
            t1 = time.perf_counter()
            if th:
                torch.exp(x, out=o2)
            t2 = time.perf_counter()
            if i >= 3:  # warm-up after the switch: pools started, caches warm
                tri.append(t1 - t0), tor.append(t2 - t1), tot.append(t2 - t0)
        # CPU time of all the process's threads per iteration: spinning shows up here even
        # when the machine is too loaded for the wall time to tell
        cpu.append((time.process_time() - c0) / iters)
        if tt:  # outside the timed loop: fill_ runs on torch's threads
            o.fill_(float("nan"))
            add[grid](x, y, o, n, BLOCK=B)
            assert torch.equal(o, x + y), "wrong result"
print(json.dumps(res))
"""


def _run(config: tuple[int, int, bool], modes: list[str], args: argparse.Namespace) -> dict:
    tt, th, backoff = config
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env["TRITIUM_THREAD_POOL_BACKOFF"] = "1" if backoff else "0"
    env.pop("TRITIUM_THREAD_POOL_OPENMP", None)
    script = RESULTS / "_bench_threads_child.py"
    cmd = [sys.executable, str(script), str(tt), str(th), str(args.iters), str(args.n)]
    cmd += [str(args.inner), ",".join(modes)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"child {config} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=2, help="processes per configuration")
    p.add_argument("--inner", type=int, default=3, help="pool switches inside a process")
    p.add_argument("--iters", type=int, default=20, help="iterations per block")
    p.add_argument("--n", type=int, default=2_000_000)
    p.add_argument("--no-backoff", action="store_true", help="skip the own+backoff rows")
    p.add_argument("--quick", action="store_true", help="2+2 threads and the anchors only")
    args = p.parse_args()
    both = ["own", "openmp"]
    configs: dict[tuple[int, int, bool], list[str]] = {
        (2, 2, False): both,
        (2, 1, False): both,
        (1, 2, False): both,
        (2, 0, False): both,  # anchor: tritium alone (torch imported, not run)
        (1, 0, False): ["own"],
        (0, 2, False): ["own"],  # anchor: torch alone
        (0, 1, False): ["own"],
    }
    if args.quick:
        configs = {c: m for c, m in configs.items() if c[:2] in ((2, 2), (2, 0), (0, 2))}
    if not args.no_backoff:
        configs[2, 2, True] = ["own"]
        if not args.quick:
            configs[2, 1, True] = ["own"]
    samples: dict[tuple[int, int, str], list[list[float]]] = {}  # 4 lists: see _CHILD
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "_bench_threads_child.py").write_text(_CHILD)
    load0 = os.getloadavg()[0]
    for r in range(args.rounds):
        for config, modes in configs.items():
            res = _run(config, modes, args)
            for mode, vals in res.items():
                name = "own+backoff" if config[2] else mode
                acc = samples.setdefault((config[0], config[1], name), [[], [], [], []])
                for a, v in zip(acc, vals):
                    a.extend(v)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    load1 = os.getloadavg()[0]
    med = {k: [statistics.median(v) * 1e6 if v else 0.0 for v in s] for k, s in samples.items()}
    rows = []
    for (tt, th, pool), (tri, tor, tot, cpu) in med.items():
        row = {"tritium_threads": tt, "torch_threads": th, "pool": pool if tt else "-"}
        row.update(tritium_us=tri if tt else None, torch_us=tor if th else None, iteration_us=tot)
        row["cpu_us"] = cpu
        alone_tri = med.get((tt, 0, "own" if pool == "own+backoff" else pool), [0, 0, 0])[2]
        alone_tor = med.get((0, th, "own"), [0, 0, 0])[2]
        row["vs_alone"] = tot / (alone_tri + alone_tor) if tt and th else None
        rows.append(row)
    head = "| tritium threads | torch threads | pool | tritium add (µs) | torch.exp (µs) "
    head += "| iteration (µs) | iteration / (each alone) | CPU time / iteration (µs) |"
    lines = [
        f"{args.n} fp32 elements; medians of {args.rounds} processes x {args.inner} blocks x "
        f"{args.iters} iterations; load average {load0:.1f} before, {load1:.1f} after",
        "",
        head,
        "|" + "---|" * 8,
    ]
    fmt = lambda v, f="{:.0f}": "-" if v is None else f.format(v)  # noqa: E731
    for row in rows:
        cells = [str(row["tritium_threads"] or "-"), str(row["torch_threads"] or "-"), row["pool"]]
        cells += [fmt(row["tritium_us"]), fmt(row["torch_us"]), fmt(row["iteration_us"])]
        cells += [fmt(row["vs_alone"], "{:.2f}x"), fmt(row["cpu_us"])]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print("\n" + text)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    (RESULTS / "bench_threads.md").write_text(f"{stamp}\n\n{text}\n")
    meta = {"n": args.n, "load_before": load0, "load_after": load1, "cpus": os.cpu_count()}
    (RESULTS / "bench_threads.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
