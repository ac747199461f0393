"""Differential fuzzing: random kernels compiled for the CPU vs. the NumPy interpreter.

Every kernel comes from ``tests/frontend/random_kernels.py`` (control flow, scans, sorts, dots,
casts, masked atomics, ``@jit`` calls); the stored tile and the atomics' target buffers are
compared. Kernels are compiled and run in *worker subprocesses*, so a kernel that
kills its process (an LLVM assertion, a segfault) or never finishes is recorded, with its seed,
instead of ending the campaign; the worker is then restarted. A feature set the host lacks
(``+avx512f`` on an AVX2 machine) is compiled but not run: compilation is where LLVM aborts.

Usage::

    python tools/fuzz.py                              # 200 kernels per (features, block)
    python tools/fuzz.py --count 10000 --jobs 2       # a long campaign
    python tools/fuzz.py --features=-avx512f,native --blocks 16,32 --start 5000

The closing table lists, per feature set and block size, the kernels that passed, were
rejected with a clean compile error, crashed their process, hung, or disagreed with the
interpreter; failing seeds follow it and replay with ``--start SEED --count 1``.

``--family loops`` draws loop kernels from ``tests/interpreter/random_loops.py`` instead
(carried pointers with constant, run-time, conditional and data-dependent steps, block
pointers with ``tl.advance``, masks on the loop variable, stores and loads back in the loop,
arguments that overlap, fp32/int/fp16/bf16/int8 and ``tl.dot`` accumulators, counts around
the replay threshold, nested loops): each runs compiled and interpreted with loop replay on
and off (``TRITIUM_INTERPRET_REPLAY``), and all three are compared with the generator's NumPy
reference. The closing tables add how many kernels' loops replayed and ran batched, and the
outcomes per drawn feature::

    python tools/fuzz.py --family loops --features native --count 2000 --jobs 2

``--worker`` is the subprocess side (one JSON request per stdin line, one JSON result per
stdout line); ``tests/frontend/test_random_kernels.py`` drives it the same way.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTCOMES = ("ok", "compile_error", "crash", "hang", "mismatch")
SIG = {
    "x_ptr": "*fp32",
    "y_ptr": "*i32",
    "out_ptr": "*fp32",
    "ia_ptr": "*i32",  # atomics' targets: 2 * BLOCK own slots, 8 shared, one per program
    "fa_ptr": "*fp32",
    "n": "i32",
}

INTERRUPTED = threading.Event()  # set by Ctrl-C or SIGTERM: no further feature set starts

# ---- the worker (runs inside the subprocess) -----------------------------------------------


def run_case(seed: int, block: int, execute: bool, workdir: Path) -> dict[str, Any]:
    """Generate kernel ``seed``, compile it at ``block``; when ``execute``, run it compiled and
    interpreted on random inputs and compare. Returns ``{"outcome": ..., "detail": ...}``."""
    import numpy as np

    from tests.frontend.random_kernels import KernelGenerator
    from tritium.backends import get_backend
    from tritium.errors import CompilationError
    from tritium.frontend import ast_to_ttir
    from tritium.interpreter import run_kernel
    from tritium.passes import optimize_ttir

    name = f"random_kernel_{seed}"
    source = KernelGenerator(seed).source(name)
    path = workdir / f"{name}_{block}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"{name}_{block}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    kernel = getattr(module, name)
    backend = get_backend("cpu")
    try:
        ttir = optimize_ttir(ast_to_ttir(kernel, SIG, {"BLOCK": block}, {}))
        compiled_kernel = backend.compile(ttir, {})
    except CompilationError as exc:  # a clean rejection, not a crash
        return {"outcome": "compile_error", "detail": str(exc).splitlines()[0]}
    if not execute:
        return {"outcome": "ok", "detail": "compiled only"}
    rng = np.random.default_rng(seed)
    n = int(rng.integers(block + 1, 2 * block))
    x = rng.standard_normal(2 * block).astype(np.float32)
    y = rng.integers(-20, 20, 2 * block).astype(np.int32)
    # small ints, so that compare-and-swap sometimes finds what it compares with
    ia = rng.integers(-3, 4, 2 * block + 16).astype(np.int32)
    fa = rng.standard_normal(2 * block + 16).astype(np.float32)
    compiled = {
        "out": np.full(2 * block, np.nan, np.float32),  # poisoned: unwritten lanes show
        "ia": ia.copy(),
        "fa": fa.copy(),
    }
    interpreted = {k: v.copy() for k, v in compiled.items()}
    loaded = backend.load(compiled_kernel)
    loaded.launch(
        (2, 1, 1),
        [x.ctypes.data, y.ctypes.data]
        + [compiled[k].ctypes.data for k in ("out", "ia", "fa")]
        + [n],
    )
    args = {"x_ptr": x, "y_ptr": y, "n": n, "BLOCK": block}
    args.update({f"{k}_ptr": v for k, v in interpreted.items()})
    run_kernel(kernel.fn, (2, 1, 1), args)
    for what in ("out", "ia", "fa"):
        got, want = compiled[what], interpreted[what]
        finite = np.abs(want[np.isfinite(want)]).astype(np.float64)
        scale = 1.0 + float(finite.max(initial=0.0))
        close = np.isclose(got, want, rtol=1e-3, atol=1e-4 * scale, equal_nan=True)
        if what == "ia":  # integers agree exactly
            close = got == want
        if not close.all():
            bad = np.nonzero(~close)[0][:4]
            return {
                "outcome": "mismatch",
                "detail": f"{what} at {bad.tolist()}: compiled {got[bad].tolist()} "
                f"vs interpreted {want[bad].tolist()}",
            }
    return {"outcome": "ok", "detail": ""}


def _close(got: Any, want: Any, exact: bool) -> Any:
    import numpy as np

    if exact:
        return (got == want) | (np.isnan(got) & np.isnan(want))
    finite = np.abs(want[np.isfinite(want)]).astype(np.float64)
    scale = 1.0 + float(finite.max(initial=0.0))
    return np.isclose(got, want, rtol=1e-3, atol=1e-4 * scale, equal_nan=True)


def run_loop_case(seed: int, block: int, execute: bool, workdir: Path) -> dict[str, Any]:
    """Loop kernel ``seed`` (``tests/interpreter/random_loops.py``) at ``block``: compiled,
    interpreted with loop replay on and off, each against the generator's NumPy reference.
    The result's ``replayed``/``batched`` count the iterations the replay ran (coverage)."""
    import numpy as np

    from tests.interpreter.random_loops import SIG as LSIG
    from tests.interpreter.random_loops import SIZE, LoopKernelGenerator, reference
    from tritium.backends import get_backend
    from tritium.errors import CompilationError
    from tritium.frontend import ast_to_ttir
    from tritium.interpreter import loops, run_kernel
    from tritium.passes import optimize_ttir

    name = f"random_loop_{seed}"
    gen = LoopKernelGenerator(seed, block)
    path = workdir / f"{name}_{block}.py"
    path.write_text(gen.source(name))
    spec = importlib.util.spec_from_file_location(f"{name}_{block}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    kernel = getattr(module, name)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(SIZE).astype(np.float32)
    y = rng.integers(-20, 20, SIZE).astype(np.int32)
    # finite random values, not NaN: loops load back what they stored, and a missed store
    # still shows against the reference
    out0 = rng.standard_normal(SIZE).astype(np.float32)
    # x and out are views of one buffer; in a quarter of the kernels x overlaps out, so that
    # stores through out_ptr reach loads through x_ptr (the engines must see the aliasing)
    shift = 1024 if rng.random() < 0.25 else SIZE
    mem0 = np.concatenate([out0, x])  # x_ptr at out_ptr + shift: out0's tail, then x

    def fresh() -> tuple[Any, Any, Any]:
        mem = mem0.copy()
        return mem, mem[shift : shift + SIZE], mem[:SIZE]

    want, wx, wout = fresh()
    reference(gen, wx, y, wout)
    results: dict[str, Any] = {}
    stats: dict[str, int] = {}
    for mode in ("replay", "plain"):
        os.environ["TRITIUM_INTERPRET_REPLAY"] = "1" if mode == "replay" else "0"
        before = dict(loops.STATS)
        got, gx, gout = fresh()
        args = {"x_ptr": gx, "y_ptr": y, "out_ptr": gout, "n": gen.n, "s": gen.s}
        try:
            run_kernel(kernel.fn, (1, 1, 1), {**args, "BLOCK": block})
        except Exception as exc:  # noqa: BLE001 - an error on a valid kernel is a finding
            return {"outcome": "error", "detail": f"{mode}: {type(exc).__name__}: {exc}"[:300]}
        finally:
            os.environ.pop("TRITIUM_INTERPRET_REPLAY", None)
        if mode == "replay":
            stats = {k: loops.STATS[k] - before[k] for k in ("replayed", "batched")}
        results[mode] = got
    # Compiled kernels evaluate a load fused into its store chunk by chunk, taking different
    # pointer arguments not to overlap (as a GPU's threads would race there): an overlapping
    # x_ptr is compared interpreted only (tile semantics, which the reference follows).
    if execute and shift == SIZE:
        backend = get_backend("cpu")
        try:
            ttir = optimize_ttir(ast_to_ttir(kernel, LSIG, {"BLOCK": block}, {}))
            loaded = backend.load(backend.compile(ttir, {}))
        except CompilationError as exc:
            return {"outcome": "compile_error", "detail": str(exc).splitlines()[0], **stats}
        got, gx, gout = fresh()
        ptrs = [a.ctypes.data for a in (gx, y, gout)]
        loaded.launch((1, 1, 1), [*ptrs, gen.n, gen.s])
        results["compiled"] = got
    # element-wise float32 steps in the kernel's order are exact; dot products are not
    exact = all(sp["kind"] == "stream" for sp in gen.loops)
    bad_modes = []
    for mode, got in results.items():
        close = _close(got, want, exact)
        if not close.all():
            bad = np.nonzero(~close)[0][:3]
            bad_modes.append(
                f"{mode} at {bad.tolist()}: {got[bad].tolist()} vs reference {want[bad].tolist()}"
            )
    if bad_modes:
        return {"outcome": "mismatch", "detail": "; ".join(bad_modes), **stats}
    return {"outcome": "ok", "detail": "", **stats}


def worker_main() -> None:
    """Serve requests from stdin until EOF (the subprocess side)."""
    # Ctrl-C reaches the whole process group: the driver stops the campaign, the worker
    # finishes its case (it must not count as a crash) and ends at EOF.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="tritium-fuzz-") as tmp:
        for line in sys.stdin:
            req = json.loads(line)
            try:
                case = run_loop_case if req.get("family") == "loops" else run_case
                res = case(req["seed"], req["block"], req["execute"], Path(tmp))
            except Exception as exc:  # noqa: BLE001 - any exception is a finding, reported
                res = {"outcome": "error", "detail": f"{type(exc).__name__}: {exc}"[:300]}
            res.update(seed=req["seed"], block=req["block"])
            sys.stdout.write(json.dumps(res) + "\n")
            sys.stdout.flush()


# ---- the driver (the parent process) -------------------------------------------------------


def host_has(feature: str) -> bool:
    """Whether the host CPU has ``feature`` (asked of LLVM in a subprocess: import stays cheap)."""
    code = (
        "import llvmlite.binding as l; l.initialize_native_target();"
        f"print('+{feature}' in l.get_host_cpu_features().flatten().split(','))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return out.stdout.strip() == "True"


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc; elsewhere the wall clock)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return time.monotonic()


class Worker:
    """One worker subprocess for one feature set; restarted after a crash or a hang."""

    def __init__(self, features: str, timeout: float, family: str = "kernels") -> None:
        self.features, self.timeout, self.family = features, timeout, family
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        env["TRITIUM_CPU_FEATURES"] = "" if self.features == "native" else self.features
        return subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )

    def run(self, seed: int, block: int, execute: bool) -> dict[str, Any]:
        """One case; a dead or silent worker turns into a ``crash`` or ``hang`` result."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        proc = self.proc
        assert proc.stdin is not None and proc.stdout is not None
        req = {"seed": seed, "block": block, "execute": execute, "family": self.family}
        try:
            proc.stdin.write(json.dumps(req) + "\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass
        # A hang is `timeout` seconds of the worker's CPU time (a starved worker on a busy
        # machine is not hung), or ten times that of wall time (a deadlock burns no CPU).
        cpu0, wall0 = _cpu_seconds(proc.pid), time.monotonic()
        ready: list[Any] = []
        while not ready:
            ready, _, _ = select.select([proc.stdout], [], [], min(self.timeout, 5.0))
            cpu = _cpu_seconds(proc.pid) - cpu0
            wall = time.monotonic() - wall0
            if not ready and (cpu > self.timeout or wall > 10 * self.timeout):
                break
        line = proc.stdout.readline() if ready else ""
        if line:
            return json.loads(line)
        base = {"seed": seed, "block": block}
        if not ready:
            proc.kill()
            proc.wait()
            self.proc = None
            detail = f"no answer after {cpu:.0f} s of CPU time ({wall:.0f} s)"
            return {**base, "outcome": "hang", "detail": detail}
        rc = proc.wait()
        err = proc.stderr.read() if proc.stderr else ""
        self.proc = None
        last = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("  File")]
        detail = f"exit status {rc}: " + (last[0][:200] if last else "")
        return {**base, "outcome": "crash", "detail": detail}

    def close(self) -> None:
        """Stop the subprocess (EOF on its stdin)."""
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def campaign(
    features: str,
    blocks: list[int],
    seeds: range,
    execute: bool,
    timeout: float,
    jobs: int,
    deadline: float = float("inf"),
    progress: float = 0.0,
    family: str = "kernels",
) -> list[dict[str, Any]]:
    """Run every (seed, block) under ``features`` over ``jobs`` workers, starting no case after
    ``deadline`` (a ``time.monotonic()`` value); return the results of the cases run.

    Ctrl-C or SIGTERM stops the campaign after the cases in flight, keeping the results so far;
    ``progress`` > 0 prints a count line every that many seconds."""
    cases = [(s, b) for s in seeds for b in blocks]
    shards = [cases[i::jobs] for i in range(jobs)]
    done: list[dict[str, Any]] = []
    stop = threading.Event()

    def run_shard(shard: list[tuple[int, int]]) -> None:
        worker = Worker(features, timeout, family)
        try:
            for s, b in shard:
                if stop.is_set() or time.monotonic() > deadline:
                    break
                res = worker.run(s, b, execute)
                if stop.is_set() and res["outcome"] in ("crash", "hang"):
                    break  # the stop signal reached the worker too: not a finding
                done.append(res)
                if res["outcome"] != "ok":  # generated kernels are valid: a rejection is a finding
                    msg = f"{features} seed {s} block {b}: {res['outcome']} {res['detail']}"
                    print(msg, flush=True)
        finally:
            worker.close()

    last = time.monotonic()
    with ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(run_shard, shard) for shard in shards]
        try:
            while not all(f.done() for f in futures):
                wait(futures, timeout=1.0)
                if progress and time.monotonic() - last > progress:
                    last = time.monotonic()
                    counts = Counter(r["outcome"] for r in list(done))
                    print(f"{features}: {len(done)} kernels so far {dict(counts)}", flush=True)
        except KeyboardInterrupt:
            stop.set()
            INTERRUPTED.set()
            print(f"{features}: stopping after the kernels in flight", flush=True)
            wait(futures)
    return list(done)


def table(rows: dict[tuple[str, int], Counter[str]]) -> str:
    """The closing Markdown table."""
    cols = [*OUTCOMES, "error"]
    if any(c["replayed"] for c in rows.values()):
        cols += ["replayed", "batched"]
    lines = [
        "| features | block | kernels | " + " | ".join(cols) + " |",
        "|---|---|---|" + "---|" * len(cols),
    ]
    for (feat, block), c in sorted(rows.items()):
        total = sum(c[k] for k in (*OUTCOMES, "error"))
        lines.append(
            f"| {feat} | {block} | {total} | " + " | ".join(str(c[k]) for k in cols) + " |"
        )
    return "\n".join(lines)


def feature_table(results: list[dict[str, Any]]) -> str:
    """Outcomes per feature the loop kernels drew (a kernel counts once in each of its rows)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.interpreter.random_loops import LoopKernelGenerator

    rows: dict[str, Counter[str]] = {}
    for res in results:
        for tag in LoopKernelGenerator(res["seed"], res["block"]).tags():
            row = rows.setdefault(tag, Counter())
            row[res["outcome"]] += 1
            row["replayed"] += res.get("replayed", 0) > 0
            row["batched"] += res.get("batched", 0) > 0
    cols = [*OUTCOMES, "error", "replayed", "batched"]
    lines = ["| feature | kernels | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for tag, c in sorted(rows.items()):
        total = sum(c[k] for k in (*OUTCOMES, "error"))
        lines.append(f"| {tag} | {total} | " + " | ".join(str(c[k]) for k in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns 1 when anything crashed, hung or mismatched."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=200, help="kernels per feature set and block")
    p.add_argument("--start", type=int, default=0, help="first seed")
    p.add_argument("--blocks", default="16,32", help="comma-separated BLOCK sizes")
    p.add_argument(
        "--features",
        default="native,-avx512f,+avx512f",
        help="feature sets (TRITIUM_CPU_FEATURES values; 'native' is the host)",
    )
    p.add_argument(
        "--timeout", type=float, default=60.0, help="CPU seconds per kernel before a hang"
    )
    p.add_argument("--jobs", type=int, default=1, help="worker processes per feature set")
    p.add_argument(
        "--minutes", type=float, default=0.0, help="time budget per feature set (0: none)"
    )
    p.add_argument("--progress", type=float, default=0.0, help="seconds between count lines")
    p.add_argument(
        "--family",
        choices=("kernels", "loops"),
        default="kernels",
        help="kernels: random_kernels.py, compiled vs interpreted; loops: random_loops.py, "
        "compiled and interpreted with loop replay on and off vs a NumPy reference",
    )
    args = p.parse_args(argv)
    if args.worker:
        worker_main()
        return 0
    # SIGTERM (a job runner's stop) ends the campaign like Ctrl-C: the table is still printed
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    blocks = [int(b) for b in args.blocks.split(",")]
    rows: dict[tuple[str, int], Counter[str]] = {}
    failures: list[tuple[str, dict[str, Any]]] = []
    results_all: list[dict[str, Any]] = []
    start = time.perf_counter()
    for feat in [f.strip() for f in args.features.split(",") if f.strip()]:
        execute = not (feat.startswith("+") and not host_has(feat[1:]))
        label = feat if execute else f"{feat} (compile only)"
        seeds = range(args.start, args.start + args.count)
        deadline = time.monotonic() + args.minutes * 60 if args.minutes else float("inf")
        results = campaign(
            feat,
            blocks,
            seeds,
            execute,
            args.timeout,
            args.jobs,
            deadline,
            args.progress,
            args.family,
        )
        results_all += results
        for res in results:
            row = rows.setdefault((label, res["block"]), Counter())
            row[res["outcome"]] += 1
            row["replayed"] += res.get("replayed", 0) > 0  # kernels whose loops replayed
            row["batched"] += res.get("batched", 0) > 0
            if res["outcome"] != "ok":
                failures.append((label, res))
        print(f"{label}: done after {time.perf_counter() - start:.0f} s", flush=True)
        if INTERRUPTED.is_set():
            break
    print(table(rows))
    if args.family == "loops":
        print(feature_table(results_all))
    for label, res in failures:
        print(f"- {label}, seed {res['seed']}, block {res['block']}: {res['outcome']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
