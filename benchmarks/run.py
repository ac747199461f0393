"""tritium against NumPy, torch eager, torch.compile and the machine's own limits, on the
workloads of the CPU performance issue: one table of medians and ratios.

    python benchmarks/run.py [--quick] [--threads 1,2] [--no-torch-compile] [--only TEXT]
                             [--out DIR]

Every row times tritium and its anchors interleaved, round by round (``--rounds``), and
reports medians, so that a machine shared with other jobs slows them alike; the header says
how loaded the machine was. The limits are measured in the same run and the same row: STREAM
copy/add (NumPy, one slice per thread), STREAM copy into a new array each call ("STREAM fresh":
the limit of a function that returns a new 64 MiB array, whose pages the OS maps and zeroes at
the first store; the functions are held to it with the host cache of freed blocks off, and to
STREAM copy while it is on) and an FMA loop (``limits.py``). The BLAS anchor is
whatever NumPy loaded, named through threadpoolctl; OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are
removed from the environment before NumPy loads, so OpenBLAS picks its kernel for this CPU.
Rows print as they finish; the table is written as Markdown and JSON (and a plot when
matplotlib is installed) under ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import os
import sys

# Must happen before NumPy (and its BLAS) is imported.
_UNSET = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if os.environ.pop(v, None)]

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402
from typing import Any  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import limits  # noqa: E402
from benchmarks.report import Table  # noqa: E402
from tritium import knobs  # noqa: E402
from tritium.testing import do_bench  # noqa: E402

# NumPy's OpenBLAS threads spin on sched_yield for ~0.1 s after a call (pool_affinity.py)
_BLAS_SPIN_S = 0.15


def blas_info() -> str:
    """The BLAS NumPy uses: library, kernel (architecture) and thread count."""
    import numpy  # noqa: F401  (loads the BLAS so threadpoolctl can see it)

    parts = [
        f"{p['internal_api']} {p['version']} kernel={p['architecture']} threads={p['num_threads']}"
        for p in limits.blas_info()
    ]
    return "; ".join(parts) or "no BLAS found (or threadpoolctl not installed)"


def set_threads(n: int, torch: Any) -> None:
    """Run tritium, torch and NumPy's BLAS on ``n`` threads from now on."""
    from tritium.backends.cpu.launcher import CPUKernel

    os.environ["TRITIUM_NUM_THREADS"] = str(n)  # kernels loaded from now on
    for obj in gc.get_objects():  # and those already loaded (they read it once)
        if type(obj) is CPUKernel:
            obj.num_threads = n
    if torch is not None:
        torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n, user_api="blas")
    except ImportError:
        pass


def measure(w: Any, rounds: int, rep: float) -> dict[str, float]:
    """Median ms per call of each implementation of ``w``, timed interleaved in rounds."""
    for impl in w.impls.values():
        impl.fn()  # compile, autotune, warm caches
    samples: dict[str, list[float]] = {name: [] for name in w.impls}
    for _ in range(rounds):
        for name, impl in w.impls.items():
            if w.unit == "us":
                number = 2000
                t = timeit.timeit(impl.fn, number=number)
                samples[name].append(t / number * 1e3)
            else:
                ms = do_bench(impl.fn, warmup=rep / 4, rep=rep, return_mode="median")
                samples[name].append(float(ms))
            if impl.blas:  # the BLAS threads' spinning would share the CPUs with the next one
                time.sleep(_BLAS_SPIN_S)
    return {name: statistics.median(v) for name, v in samples.items()}


def poisoned_check(w: Any) -> float:
    """``w.check()`` with every output the tutorials' functions allocate poisoned first: a large
    one may be a cached block (``tritium.runtime.host_cache``) still holding a correct result
    of an earlier call, which a kernel that wrote nothing would pass with."""
    from tutorials import _host

    _host.POISON = True
    try:
        return w.check()
    finally:
        _host.POISON = False


def finish(w: Any, ok: bool | None, err: float | None) -> dict[str, Any]:
    """The report's row for a measured workload: rates, ratios, goals."""
    rates = {}
    for name, ms in w.results.items():
        if w.unit == "us":
            rates[name] = ms * 1e3
        else:
            rates[name] = w.impls[name].work / (ms * 1e-3) / 1e9
    tri = rates["tritium"]
    goal_txt, met, ratios = [], True, []
    for g in w.goals:
        if w.unit == "us":
            ratio = tri
            met &= tri <= g.ratio
            goal_txt.append(f"<= {g.ratio:g} us")
        elif g.anchor in rates:
            ratio = tri / rates[g.anchor]
            met &= ratio >= g.ratio
            goal_txt.append(f">= {g.ratio:g}x {g.anchor}")
        else:
            continue
        ratios.append(ratio)
    extra = "; ".join(f"{t} ({fmt_ratio(r)})" for t, r in zip(goal_txt[1:], ratios[1:]))
    # the limit column: the goal's machine limit where a goal names one, else the row's first
    limits = [n for n in rates if n.startswith(("STREAM", "FMA", "peak"))]
    limit = next((g.anchor for g in w.goals if g.anchor in limits), limits[0] if limits else None)
    return {
        "name": w.name,
        "size": w.size,
        "threads": w.threads,
        "ok": ok,
        "max_rel_err": err,
        "unit": w.unit,
        "ms": w.results,
        "rates": rates,
        "limit_name": limit,
        "goal": goal_txt[0] + (f"; {extra}" if extra else "") if goal_txt else "-",
        "goal_ratio": w.goals[0].ratio if w.goals else None,
        "ratio": ratios[0] if ratios else None,
        "ratios": dict(zip(goal_txt, ratios)),
        "met": (met if ok is not False else False) if ratios else None,
        "note": w.note,
    }


def fmt_ratio(r: float) -> str:
    """A ratio in two decimals."""
    return f"{r:.2f}"


def latency_row(name: str, size: str, unit: str, value: float, limit: float, **kw: Any) -> dict:
    """A row whose measure is a time with an upper bound as its goal."""
    anchors = kw.pop("anchors", {})
    return {
        "name": name,
        "size": size,
        "threads": kw.pop("threads", 1),
        "ok": None,
        "unit": unit,
        "rates": {"tritium": value, **anchors},
        "limit_name": None,
        "goal": f"<= {limit:g} {unit}",
        "goal_ratio": limit,
        "ratio": value,
        "met": value <= limit,
        "note": kw.pop("note", ""),
    }


def _probe(mode: str, cache: str, *extra: str) -> dict[str, Any]:
    env = _probe_env(cache)
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "probes.py"), mode, *extra],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _probe_env(cache: str) -> dict[str, str]:
    # Byte-compiled modules as an installed package has them (PYTHONDONTWRITEBYTECODE would
    # make every probe compile ~100 modules from source), kept out of the source tree.
    env = dict(os.environ, TRITIUM_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "tritium-bench-pycache")
    return env


#: what a user's script does: import NumPy and tritium, launch one (cached) kernel
FIRST_LAUNCH = (
    "import numpy as np; import tritium; from benchmarks import kernels; "
    "x = np.ones(16, np.float32); out = np.empty_like(x); "
    "kernels.add4[(1,)](x, x, out, 16, BLOCK=16); assert float(out[3]) == 2.0"
)


def first_launch_walls(cache: str, runs: int) -> dict[str, list[float]]:
    """Wall seconds of whole ``python -c`` processes, from spawn to exit, interleaved run by run:
    ``pass`` (the interpreter alone), ``import numpy``, and :data:`FIRST_LAUNCH` with the kernel
    already in ``cache``."""
    env = _probe_env(cache)
    cases = {"python -c pass": "pass", "import numpy": "import numpy", "tritium": FIRST_LAUNCH}
    for code in cases.values():  # warm: byte-compiled modules, the kernel in the disk cache
        subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)
    walls: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, code in cases.items():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)
            walls[name].append(time.perf_counter() - t0)
    return walls


def process_rows(quick: bool) -> list[dict[str, Any]]:
    """First launch in a new process (cached kernel) and cold compile times."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="tritium-bench-") as cache:
        walls = first_launch_walls(cache, 3 if quick else 7)
        probes = [_probe("first-launch", cache) for _ in range(2 if quick else 5)]
        med = {name: statistics.median(ts) for name, ts in walls.items()}
        row = latency_row(
            "first launch in a new process (cached)",
            "python -c: import numpy + tritium, 1 launch",
            "s",
            med["tritium"],
            0.25,
            anchors={"python -c pass": med["python -c pass"], "numpy": med["import numpy"]},
            note="wall of whole `python -c` processes, spawn to exit, median of "
            f"{len(walls['tritium'])} interleaved runs (pass / import numpy / tritium); "
            "inside the process, after `import numpy`: "
            f"{statistics.median(r['after_numpy'] for r in probes):.3f} s; "
            "its CPU time "
            f"{statistics.median(r['cpu'] for r in probes):.3f} s; "
            f"llvmlite imported: {any(r.get('llvmlite') for r in probes)}",
        )
        row["limit_name"] = "python -c pass"  # printed in the limit column: the floor
        rows.append(row)
    with tempfile.TemporaryDirectory(prefix="tritium-bench-") as cache:
        both = _probe("compile", cache, *(["--quick"] if quick else []))
    times, cpu = both["wall"], both["cpu"]
    mm = min(range(len(times["matmul_kernel"])), key=lambda i: times["matmul_kernel"][i])
    rows.append(
        latency_row(
            "cold compile: tutorial matmul",
            "1 config",
            "ms",
            1e3 * times["matmul_kernel"][mm],
            150.0,
            note=f"thread CPU time {1e3 * cpu['matmul_kernel'][mm]:.0f} ms",
        )
    )
    with tempfile.TemporaryDirectory(prefix="tritium-bench-") as cache:
        tune = _probe("autotune", cache)
    rows.append(
        latency_row(
            "autotune: 4 configs, num_warps/stages only",
            f"{tune['configs']} configs, {tune['distinct']} distinct code",
            "compiles",
            float(tune["compiles"]),
            float(tune["distinct"]),
            note="the CPU ignores num_warps and num_stages: one compile should serve all four",
        )
    )
    worst = max(times, key=lambda n: max(times[n]))
    rows.append(
        latency_row(
            "cold compile: slowest tutorial kernel",
            worst,
            "ms",
            1e3 * max(times[worst]),
            500.0,
            threads=1,
            note=("--quick: vector add, softmax and matmul only; " if quick else "")
            + "per kernel, wall / thread CPU ms: "
            + ", ".join(
                f"{n} {1e3 * max(ts):.0f} / {1e3 * max(cpu[n]):.0f}"
                for n, ts in sorted(times.items())
            ),
        )
    )
    return rows


def header(threads: list[int], torch: Any) -> dict[str, Any]:
    """What the table depends on: machine, features, threads, libraries, load."""
    from tritium.backends.cpu.target import host_target, vector_width

    target = host_target()
    load = os.getloadavg()[0]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": f"{limits.cpu_model()}, {os.cpu_count()} cores",
        "cpu features": limits.simd_summary(),
        "tritium target": f"{target.cpu}, {vector_width(target)} fp32 lanes"
        + (f", TRITIUM_CPU_FEATURES={knobs.cpu_features()}" if knobs.cpu_features() else ""),
        "threads": ", ".join(map(str, threads)) + " (tritium, torch and BLAS alike per row)",
        "numpy BLAS": blas_info() + (f" ({', '.join(_UNSET)} unset)" if _UNSET else ""),
        "torch": torch.__version__ if torch is not None else "not installed",
        "host outputs": (
            f"the functions' outputs of 16 MiB or more reuse freed blocks (host cache, up to "
            f"{knobs.host_cache_bytes() >> 20} MiB)"
            if knobs.host_cache_bytes() > 0
            else "fresh blocks (host cache off)"
        ),
        "load average at start": f"{load:.1f}"
        + (" (shared machine: timings are noisy)" if load > 0.5 else ""),
    }


def main(argv: list[str] | None = None) -> int:
    """Run, print and write the table; exit 1 if a tritium result is wrong."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, short timings")
    parser.add_argument("--threads", default=None, help="comma-separated (default 1,<cores>)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds per row")
    parser.add_argument("--rep", type=float, default=None, help="ms of timed calls per round")
    parser.add_argument("--no-torch-compile", action="store_true", help="skip torch.compile")
    parser.add_argument(
        "--only", default="", help="run only rows whose name contains this (comma-separated: any)"
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="results dir")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 5)
    only = [o for o in args.only.split(",") if o]
    rep = args.rep or (20.0 if args.quick else 100.0)
    tmax = knobs.num_threads()
    threads = sorted({int(t) for t in args.threads.split(",")} if args.threads else {1, tmax})
    try:
        import torch
    except ImportError:
        torch = None
    tc = torch is not None and not args.quick and not args.no_torch_compile

    from benchmarks import workloads

    table = Table(header(threads, torch))
    table.print_header()
    fma = {t: workloads.Impl(*limits.fma_probe(t)) for t in threads}
    failed = False
    matmul_rates: dict[tuple[str, int], float] = {}
    for t, make in workloads.build(args.quick, threads, torch, tc, fma):
        set_threads(t, torch)
        made = make()
        for w in made if isinstance(made, list) else [made]:
            if w is None or (only and not any(o in w.name for o in only)):
                continue
            ok, err = None, None
            if w.check is not None:
                err = poisoned_check(w)
                ok = err <= w.tolerance
                failed |= not ok
            w.results = measure(w, rounds, rep)
            row = finish(w, ok, err)
            table.add(row)
            if w.name.startswith("matmul fp32"):
                matmul_rates[(w.size, t)] = row["rates"]["tritium"]
    for (size, t), rate in sorted(matmul_rates.items()):
        one = matmul_rates.get((size, 1))
        if t > 1 and one:
            scale = rate / one
            table.add(
                {
                    "name": "matmul fp32 thread scaling",
                    "size": size,
                    "threads": t,
                    "ok": None,
                    "unit": "x",
                    "rates": {"tritium": scale},
                    "limit_name": None,
                    "goal": f">= 1.85x ({t} threads / 1)",
                    "goal_ratio": 1.85,
                    "ratio": scale,
                    "met": scale >= 1.85,
                    "note": "",
                }
            )
    if not only or any("compile" in o or "launch" in o for o in only):
        set_threads(tmax, torch)
        try:
            for row in process_rows(args.quick):
                table.add(row)
        except (subprocess.CalledProcessError, KeyError, ValueError) as e:
            # a failed probe must not lose the table measured so far
            err = getattr(e, "stderr", "") or ""
            print(f"process probes failed: {e!r} {err[-2000:]}", file=sys.stderr)
            failed = True
    written = table.write(pathlib.Path(args.out))
    print("wrote " + ", ".join(str(p) for p in written))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
