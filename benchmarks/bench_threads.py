"""tritium kernels and torch ops alternating in one loop: do the two thread pools get along?

    python benchmarks/bench_threads.py [--rounds R] [--iters N] [--n ELEMENTS]

Each iteration launches a tritium add (``n`` fp32 elements, default 2M) and then runs
``torch.exp`` on a tensor of the same size. Configurations: tritium at 1 or 2 threads, torch
at 1 or 2, the pool's oversubscription back-off off or on (``TRITIUM_THREAD_POOL_BACKOFF``),
plus each library alone as anchors. Every configuration is a new process (the pool is built
once per process); the rounds interleave them, so machine load drifts over all of them alike.
Prints, per configuration, the median over all rounds of: the tritium launch, the torch op and
the whole iteration, in microseconds, and the load average before and after. Not part of CI;
no result is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, sys, time
import torch
import tritium, tritium.language as tl

@tritium.jit
def add(x, y, o, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(o + offs, tl.load(x + offs, mask=m) + tl.load(y + offs, mask=m), mask=m)

tt, th, iters, n = (int(a) for a in sys.argv[1:5])
x, y, o, o2 = torch.randn(n), torch.randn(n), torch.empty(n), torch.empty(n)
B = 4096
grid = ((n + B - 1) // B,)
if tt:
    tritium.set_num_threads(tt)
if th:
    torch.set_num_threads(th)
tri, tor, tot = [], [], []
for i in range(iters + 5):
    t0 = time.perf_counter()
    if tt:
        add[grid](x, y, o, n, BLOCK=B)
    t1 = time.perf_counter()
    if th:
        torch.exp(x, out=o2)
    t2 = time.perf_counter()
    if i >= 5:  # warm-up: compile, pools started
        tri.append(t1 - t0), tor.append(t2 - t1), tot.append(t2 - t0)
if tt:
    assert torch.equal(o, x + y), "wrong result"
print(json.dumps([tri, tor, tot]))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--n", type=int, default=2_000_000)
    args = p.parse_args()
    grid = itertools.product((1, 2), (1, 2), (0, 1))
    configs = [(t, h, b) for t, h, b in grid if b == 0 or t > 1]  # back-off: pools only
    configs += [(2, 0, 0), (0, 2, 0)]  # anchors: each alone
    samples: dict[tuple[int, int, int], list[list[float]]] = {c: [[], [], []] for c in configs}
    load0 = os.getloadavg()[0]
    script = ROOT / "benchmarks" / "results" / "_bench_threads_child.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text(_CHILD)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    for r in range(args.rounds):
        for tt, th, bo in configs:
            env["TRITIUM_THREAD_POOL_BACKOFF"] = str(bo)
            cmd = [sys.executable, str(script), str(tt), str(th), str(args.iters), str(args.n)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            for acc, vals in zip(samples[tt, th, bo], json.loads(out.stdout)):
                acc.extend(vals)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    load1 = os.getloadavg()[0]
    print(f"\n{args.n} fp32 elements; load average {load0:.1f} before, {load1:.1f} after\n")
    head = ["tritium threads", "torch threads", "back-off", "tritium add (µs)"]
    head += ["torch.exp (µs)", "iteration (µs)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for (tt, th, bo), (tri, tor, tot) in samples.items():
        us = [f"{statistics.median(v) * 1e6:.0f}" for v in (tri, tor, tot)]
        row = [str(tt or "-"), str(th or "-"), "on" if bo else "off"]
        row += [us[0] if tt else "-", us[1] if th else "-", us[2]]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
