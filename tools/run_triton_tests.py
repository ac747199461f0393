"""Run Triton's own language tests against tritium on the CPU, compiled and interpreted.

Usage::

    python tools/run_triton_tests.py /tmp/triton/python/test --sample 25 --write-doc

The argument is a checkout of Triton's ``python/test`` directory (fetched by the user; nothing of
it is copied into this repository). Each mode runs in its own process under
``tritium.install_as_triton()`` (installed by a generated ``sitecustomize`` so that the
subprocesses Triton's tests start see the alias too), with ``--device cpu`` for the ``device``
fixture of Triton's conftest; the interpreted mode sets ``TRITON_INTERPRET=1``.
``--sample N`` keeps every Nth collected case of each file so that a run fits in minutes.

Outcomes: passed; failed (an assertion or exception in the test, or in its setup); skipped (the
test skipped itself, or an ``xfail`` that failed); and "gpu-only": a failure counted apart, by
the rules in ``GPU_ONLY_RULES`` (features that exist only on a GPU architecture), never by hand.
The pass rate is passed / (passed + failed). Failures are grouped by cause: the exception type
and its first message line with numbers, quoted names' digits and addresses normalized.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

#: The language test files run by default (those of ``unit/language`` that exercise the
#: language rather than one GPU feature: TLX, warp specialization, TMA and AMD files are not).
DEFAULT_FILES = (
    "test_core",
    "test_standard",
    "test_random",
    "test_block_pointer",
    "test_tuple",
    "test_line_info",
    "test_subprocess",
    "test_annotations",
    "test_compile_errors",
    "test_conversions",
    "test_decorator",
    "test_frontend",
    "test_libdevice",
    "test_module",
    "test_npot",
    "test_codegen_binop",
)

#: (name, regex over "cause + test id") of failures that need a specific GPU architecture.
GPU_ONLY_RULES = (
    ("inline PTX/AMDGCN assembly", r"inline_asm|\bptx\b|\bPTX\b|amdgcn"),
    ("GPU IR dumps (ttgir/ptx/amdgcn/cubin)", r"'(ttgir|ptx|amdgcn|cubin|hsaco|sass)'"),
    (
        "CUDA/HIP device runtime",
        r"torch\.cuda|cuda(Malloc|Memcpy)|CUDA driver|device='cuda'"
        r"|Torch not compiled with CUDA|pin_memory=True requires a CUDA",
    ),
    ("TMA / tensor memory / clusters", r"\bTMA\b|tensor memory|tmem|num_ctas|cluster"),
    ("warp specialization", r"warp_speciali[sz]"),
)

#: (regex over "cause + test id", note) explaining known failures in the doc's "why" column.
NOTES = (
    (
        r"test_print\[(device_print_scalar|no_arg_print|print_no_arg)",
        "deliberate: on a GPU every thread prints a scalar (128 copies); tritium prints it once",
    ),
    (
        r"test_print\[device_print_2d_tensor",
        "its expected index layout assumes a GPU warp of 32 (the CPU target's warp_size is 1)",
    ),
    (
        r"(CaseTimeout|TimeoutError).*test_typeconvert_downcast",
        "an exhaustive fp8 sweep sized for a GPU: 256 steps of 7 passes over 2**24 values "
        "(~230 GB of memory traffic), 0.9-1.9 s per step on the loaded 2-core CPU, no pass "
        "dominating; [float32-float8e5-rtne] passes in 555 s with --timeout 1400",
    ),
    (r"CaseTimeout|TimeoutError", "past the per-case limit (--timeout) on this CPU"),
    (
        r"DID NOT RAISE.*test_power_of_two_shapes",
        "deliberate: tritium compiles shapes that are not powers of two (docs/language_status.md)",
    ),
    (
        r"test_global_var_access|test_constexpr_annotated_global_var_access",
        "deliberate: tritium reads a kernel's plain globals (their values are in the cache key "
        "and a change raises at the next launch); Triton refuses them",
    ),
    (
        r"DID NOT RAISE.*test_fp8_support",
        "the CPU has every fp8 type; the test's list of supported ones is per GPU architecture",
    ),
    (
        r"test_err_in_builtin",
        "expects the builtin's traceback to end in triton/language/core.py; tritium's builtins "
        "are spread over several modules and their plain errors are raised without a traceback",
    ),
    (
        r"SanitizerError.*test_int_annotation",
        "the test stores at X + 3 into a 1-element tensor (out of bounds on any device); the "
        "interpreter's bounds check reports it",
    ),
    (
        r"static_assert failed.*test_float_annotation",
        "a dtype annotation of a scalar parameter (`val: tl.float16`) did not type the argument",
    ),
    (
        r"asm|arith\.|builtin\.module|ttir|ttgir|test_constexpr\[",
        "reads Triton's MLIR text; tritium prints its Tile IR in MLIR's generic form",
    ),
    (
        r"test_value_specialization",
        "interpreted, a kernel has no compiled specialization to name (`@jit(repr=...)`)",
    ),
    (
        r"test_index1d",
        "interpreted, Triton's patch_kernel execs the kernel from a string: no source for the "
        "compiler's check, so the store whose value does not broadcast stays an InterpreterError "
        "(a kernel in a file gets the compiler's CompilationError)",
    ),
    (
        r"not close.*test_scaled_dot",
        "the reference's error: all 4096 of tritium's outputs equal the exact (fp64) product "
        "rounded to bf16; torch's CPU bf16 matmul gives 1.25 at [57, 52] where the exact value "
        "is 1.2314 (bf16 1.234375), a sum of terms of total magnitude 4.2e5",
    ),
    (
        r"DID NOT RAISE.*test_const\[",
        "interpreted, Triton's patch_kernel execs the kernel from a string: no source for the "
        "tl.const type check (a kernel in a file is checked)",
    ),
    (
        r"assert '' != ''.*test_call\[.*noinline",
        "deliberate: tritium compiles a noinline call with tile arguments, which Triton's "
        "frontend refuses (UnsupportedLanguageConstruct); the test asserts that refusal",
    ),
    (
        r"numel.*exceeds.*test_gather",
        "tritium's tl.gather selects one-hot over an index.shape + (K,) tile (here 256 x 64 x "
        "128, past the 2**20 limit); a backend gather op would lift it (not made)",
    ),
    (r"test_num_warps_pow2", "Triton asserts num_warps is a power of two; tritium ignores it"),
    (r"test_unroll_attr", "counts ops in the TTIR after loop_unroll_factor; not unrolled there"),
    (
        r"test_reduce\[.*-None-True\]",
        "the test indexes a scalar pointer with `[None, None, :]` (keep_dims over all axes); "
        "Triton 3.9 raises the same (its interpreter: 'too many indices for tensor of rank 0')",
    ),
    (
        r"test_constexpr_assignment",
        "interpreted, `(PATCHED).type` of a plain number or tuple in a kernel patch_kernel "
        "execs from a string (no source to rewrite); Triton 3.9's interpreter fails it too",
    ),
)

_TIMEOUT_S = 120


def _normalize(text: str) -> str:
    """The first line of an error message, with what varies from case to case blanked."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = re.sub(r"0x[0-9a-fA-F]+", "0x…", line)
    line = re.sub(r"(?<![A-Za-z_])-?\d+(\.\d+)?(e-?\d+)?", "N", line)
    line = re.sub(r"/[\w./-]+\.py", "<file>", line)
    return line[:110]


def _cause(excinfo: Any) -> str:
    """``Type: normalized message``; a CompilationError's message is its last line."""
    exc = excinfo.value
    name = type(exc).__name__
    text = str(exc)
    if text.startswith("Regex pattern did not match"):  # pytest.raises(match=...): show what came
        got = next((ln for ln in text.splitlines() if ln.strip().startswith("Input:")), "")
        text = "expected error message not raised; got " + got.strip()[6:].strip()[-90:]
    elif text.startswith("at ") and "\n" in text:  # a CompilationError: its message is last
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(" ")]
        text = lines[-1] if lines else text
    return f"{name}: {_normalize(text)}"


class _Collector:
    """A pytest plugin: samples the collected cases and appends each case's outcome to a JSON
    lines file as it ends (a ``start`` line first, so a case that kills the process is known)."""

    def __init__(
        self,
        sample: int,
        offset: int,
        log: Path,
        only: set[str] | None = None,
        since: int = 0,
        shuffle: bool = False,
    ) -> None:
        self.sample, self.offset = sample, offset
        self.shuffle = shuffle
        self.log = log
        # With ``only`` (a rerun of some cases), the cases already rerun are the records after
        # line ``since`` of the log; otherwise every case the log has seen is done.
        results, unfinished = _read_log(log, since)
        self.done = set(results) | set(unfinished)
        self.only = only
        self.causes: dict[str, str] = {}

    def _write(self, record: dict[str, str]) -> None:
        with self.log.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        per_file: dict[str, int] = collections.Counter()
        keep = []
        sampled_ids: list[str] = []
        for item in items:
            index = per_file[item.fspath.basename]
            per_file[item.fspath.basename] += 1
            sampled = self.sample <= 1 or index % self.sample == self.offset % self.sample
            if self.only is not None:
                sampled = item.nodeid in self.only
            if sampled:
                sampled_ids.append(item.nodeid)
                if item.nodeid not in self.done:
                    keep.append(item)
        if self.only is None and not self.done:
            self._write({"sampled": len(sampled_ids)})
        if self.shuffle:
            # A fixed pseudo-random order: a run stopped early has run an unbiased part of
            # the sample rather than its first files.
            keep.sort(key=lambda it: hashlib.sha1(it.nodeid.encode()).hexdigest())
        items[:] = keep

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed and report.nodeid not in self.done:
            # A file that does not import: one failed case, with the cause.
            text = str(report.longrepr).strip().splitlines()
            cause = next((ln[2:] for ln in reversed(text) if ln.startswith("E ")), text[-1])
            self._write({"nodeid": report.nodeid, "outcome": "failed", "cause": _normalize(cause)})

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self._write({"start": nodeid})

    def pytest_runtest_makereport(self, item: Any, call: Any) -> None:
        if call.excinfo is not None and call.when in ("setup", "call"):
            if call.excinfo.typename not in ("Skipped", "XFailed"):
                self.causes.setdefault(item.nodeid, _cause(call.excinfo))

    def pytest_runtest_logreport(self, report: Any) -> None:
        nodeid = report.nodeid
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if hasattr(report, "wasxfail"):
                outcome = "passed" if report.passed else "skipped"
                cause = "xfail"
            elif report.skipped:
                outcome = "skipped"
                longrepr = report.longrepr
                cause = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            elif report.failed:
                outcome = "failed"
                cause = self.causes.get(nodeid) or _normalize(str(report.longrepr))
            else:
                outcome, cause = "passed", ""
            self._write({"nodeid": nodeid, "outcome": outcome, "cause": cause})


def _read_log(log: Path, since: int = 0) -> tuple[dict[str, dict[str, str]], list[str]]:
    """(results by case, cases started but never finished) from a worker's JSON lines (from
    line ``since`` on); a case's last record wins, so a rerun appends to the log."""
    results: dict[str, dict[str, str]] = {}
    started: list[str] = []
    if log.exists():
        for line in log.read_text().splitlines()[since:]:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if "sampled" in rec:
                continue
            if "start" in rec:
                started.append(rec["start"])
            else:
                results[rec.pop("nodeid")] = rec
    return results, [n for n in started if n not in results]


def _sampled(log: Path) -> int | None:
    """How many cases the first worker of the run sampled (its ``sampled`` record)."""
    if log.exists():
        for line in log.read_text().splitlines():
            if line.startswith('{"sampled"'):
                return int(json.loads(line)["sampled"])
    return None


class CaseTimeout(BaseException):  # noqa: N818 - reads as the cause in the tables
    """A case ran past ``--timeout``. Not an ``Exception``: code under test that catches
    ``Exception`` (and retries another way) cannot swallow it."""


def _alarm(signum: int, frame: Any) -> None:
    raise CaseTimeout("test ran longer than the per-case limit (--timeout)")


def _worker(args: argparse.Namespace) -> int:
    """Run pytest in this process (the alias is already installed by sitecustomize)."""
    import pytest

    import tritium

    tritium.install_as_triton()
    only = set(Path(args.only).read_text().splitlines()) if args.only else None
    collector = _Collector(
        args.sample, args.offset, Path(args.json), only, args.since, args.shuffle
    )

    class _Timeout:
        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_call(self, item: Any) -> Any:
            signal.signal(signal.SIGALRM, _alarm)
            # Past the limit, fire again every 5 s in case a handler swallowed the first.
            signal.setitimer(signal.ITIMER_REAL, args.timeout, 5)
            try:
                return (yield)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)

    test_dir = Path(args.test_dir)
    files = [str(test_dir / "unit" / "language" / f"{f}.py") for f in args.files]
    os.chdir(test_dir)
    pytest.main(
        [*files, "--device", "cpu", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
        + ["--rootdir", str(test_dir), "-o", "addopts=", "--tb=short"]
        + ["--continue-on-collection-errors"]
        + (["-x"] if args.exitfirst else [])
        + (["-k", args.k] if args.k else []),
        plugins=[collector, _Timeout()],
    )
    return 0


def _gpu_rule(nodeid: str, cause: str) -> str | None:
    for name, pattern in GPU_ONLY_RULES:
        if re.search(pattern, f"{cause} {nodeid}"):
            return name
    return None


def _classify(results: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Move failures that match a GPU-only rule to the outcome ``gpu-only``."""
    out = {}
    for nodeid, r in results.items():
        rule = _gpu_rule(nodeid, r["cause"]) if r["outcome"] == "failed" else None
        out[nodeid] = {"outcome": "gpu-only", "cause": rule} if rule else r
    return out


def _run_mode(mode: str, args: argparse.Namespace, site_dir: str) -> dict[str, dict[str, str]]:
    """Run one mode to the end: a worker that dies (a crash in a kernel) is restarted after the
    case it was running, which is counted as failed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([site_dir, str(REPO), env.get("PYTHONPATH", "")])
    env.pop("TRITON_INTERPRET", None)
    env.pop("TRITIUM_INTERPRET", None)
    if mode == "interpreted":
        env["TRITON_INTERPRET"] = "1"
    env.setdefault("TRITIUM_CACHE_DIR", tempfile.mkdtemp(prefix="tritium-triton-tests-"))
    log = Path(args.json_for(mode))
    cmd = [sys.executable, __file__, args.test_dir, "--worker", "--json", str(log)]
    if args.rerun_failed:
        # Rerun the failures of the last run (the same sample) and append to its log.
        # Timeouts are not rerun (they would only time out again) unless asked, with -k.
        failed = [
            n
            for n, r in _read_log(log)[0].items()
            if r["outcome"] == "failed"
            and (args.rerun_timeouts or not r["cause"].startswith(("CaseTimeout", "Timeout")))
            and (not args.rerun_timeouts or re.search(args.k or "", n))
        ]
        if not failed:
            return _read_log(log)[0]
        only = Path(str(log) + ".rerun")
        only.write_text("\n".join(failed) + "\n")
        since = len(log.read_text().splitlines())
        cmd += ["--only", str(only), "--since", str(since)]
    elif args.resume:
        Path(str(log) + ".resumed").touch()
    else:
        log.unlink(missing_ok=True)
        for marker in (".resumed", ".rerun"):
            Path(str(log) + marker).unlink(missing_ok=True)
    cmd += ["--sample", str(args.sample), "--offset", str(args.offset)]
    cmd += ["--timeout", str(args.timeout), "--files", *args.files]
    cmd += ["--shuffle"] if args.shuffle else []
    cmd += ["-k", args.k] if args.k else []
    append = args.rerun_failed or args.resume
    with open(str(log) + ".log", "ab" if append else "wb") as out:
        for _ in range(args.max_crashes + 1):
            rc = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
            results, unfinished = _read_log(log)
            if rc in (0, 1) or not unfinished:
                break
            out.flush()
            tail = Path(str(log) + ".log").read_bytes()[-50000:].decode(errors="replace")
            found = re.findall(r"(?:LLVM ERROR|Fatal Python error): [^\n]*", tail)
            why = _normalize(found[-1]) if found else f"exit status {rc}"
            with log.open("a") as f:
                for nodeid in unfinished:
                    cause = f"crash: the process died ({why})"
                    f.write(json.dumps({"nodeid": nodeid, "outcome": "failed", "cause": cause}))
                    f.write("\n")
    return _read_log(log)[0]


def _tables(all_results: dict[str, dict[str, dict[str, str]]], args: argparse.Namespace) -> str:
    """Markdown: the per-file table (both modes side by side) and the causes per mode."""
    modes = list(all_results)
    lines = ["| file | " + " | ".join(f"{m}: pass / fail / skip / gpu-only" for m in modes) + " |"]
    lines.append("|---|" + "---|" * len(modes))
    totals = {m: collections.Counter() for m in modes}
    for f in args.files:
        cells = []
        for m in modes:
            c = collections.Counter(
                r["outcome"]
                for k, r in all_results[m].items()
                if f"/{f}.py::" in f"/{k}" or k.endswith(f"/{f}.py")
            )
            totals[m].update(c)
            cells.append(_cell(c))
        lines.append(f"| {f} | " + " | ".join(cells) + " |")
    lines.append("| **all** | " + " | ".join(f"**{_cell(totals[m])}**" for m in modes) + " |")
    for m in modes:
        # grouped by cause and note: one message ("DID NOT RAISE") can have several reasons
        failed = {
            k: (r["cause"], _why(f"{r['cause']} {k}"))
            for k, r in all_results[m].items()
            if r["outcome"] == "failed"
        }
        causes = collections.Counter(failed.values())
        lines += ["", f"### Failures by cause, {m} ({sum(causes.values())})", ""]
        lines += ["| count | cause | e.g. | why |", "|---:|---|---|---|"]
        for (cause, why), n in causes.most_common(args.top):
            example = next(k for k, v in failed.items() if v == (cause, why))
            ex = _md(example.split("/")[-1])[:70]
            lines.append(f"| {n} | `{_md(cause)}` | `{ex}` | {why} |")
        gpu = collections.Counter(
            r["cause"] for r in all_results[m].values() if r["outcome"] == "gpu-only"
        )
        if gpu:
            lines += ["", f"GPU-only, {m}: " + ", ".join(f"{k} {n}" for k, n in gpu.most_common())]
    return "\n".join(lines)


def _why(text: str) -> str:
    """The note of the first of ``NOTES`` whose pattern matches a failure (cause + test id)."""
    return next((note for pattern, note in NOTES if re.search(pattern, text)), "")


def _cell(c: collections.Counter[str]) -> str:
    ran = c["passed"] + c["failed"]
    rate = f" ({100 * c['passed'] / ran:.1f}%)" if ran else ""
    return f"{c['passed']} / {c['failed']} / {c['skipped']} / {c['gpu-only']}{rate}"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments; run each mode in a subprocess (or be that subprocess)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("test_dir", help="Triton's python/test directory (a checkout, outside the repo)")
    p.add_argument("--files", nargs="+", default=list(DEFAULT_FILES), help="unit/language files")
    p.add_argument("--sample", type=int, default=1, help="keep every Nth case of each file")
    p.add_argument("--offset", type=int, default=0, help="which case of each N to keep")
    p.add_argument("--modes", default="compiled,interpreted", help="compiled,interpreted")
    p.add_argument("--serial", action="store_true", help="run the modes one after the other")
    p.add_argument("--timeout", type=int, default=_TIMEOUT_S, help="seconds per case")
    p.add_argument("-k", default="", help="pytest -k expression")
    p.add_argument("--max-crashes", type=int, default=20, help="worker restarts per mode")
    p.add_argument("--top", type=int, default=200, help="causes listed per mode")
    p.add_argument("--out", default=tempfile.gettempdir(), help="where result JSON goes")
    p.add_argument("--write-doc", nargs="?", const=str(REPO / "docs" / "triton_tests.md"))
    p.add_argument(
        "--rerun-failed",
        action="store_true",
        help="rerun the failed cases (not timeouts) of the last run in --out, update them",
    )
    p.add_argument(
        "--rerun-timeouts",
        action="store_true",
        help="--rerun-failed: rerun timeouts too (those whose id matches -k, as a regex)",
    )
    p.add_argument(
        "--shuffle",
        action="store_true",
        help="run the sample in a fixed pseudo-random order (a run stopped early is unbiased)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="go on with a stopped run in --out (same options): the cases with a result are kept",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="no run: the tables (and --write-doc) from the logs in --out, even of a stopped run",
    )
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--only", help=argparse.SUPPRESS)
    p.add_argument("--since", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--json", help=argparse.SUPPRESS)
    p.add_argument("--exitfirst", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.files = [f.removesuffix(".py") for f in args.files]
    if args.worker:
        return _worker(args)
    args.json_for = lambda mode: str(Path(args.out) / f"triton-tests-{mode}.json")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    site_dir = tempfile.mkdtemp(prefix="tritium-alias-")
    Path(site_dir, "sitecustomize.py").write_text("import tritium\ntritium.install_as_triton()\n")
    modes = args.modes.split(",")
    start = time.time()
    results: dict[str, dict[str, dict[str, str]]] = {}

    def run(mode: str) -> None:
        if args.report_only:
            results[mode] = _classify(_read_log(Path(args.json_for(mode)))[0])
        else:
            results[mode] = _classify(_run_mode(mode, args, site_dir))

    threads = [threading.Thread(target=run, args=(m,)) for m in modes]
    for t in threads:
        t.start()
        if args.serial:
            t.join()
    for t in threads:
        t.join()
    results = {m: results[m] for m in modes}
    table = _tables(results, args)
    coverage = []
    for m in modes:
        sampled = _sampled(Path(args.json_for(m)))
        if sampled and len(results[m]) < sampled:
            coverage.append(
                f"- {m}: {len(results[m])} of the {sampled} sampled cases have a result (the run "
                "was stopped; with --shuffle the ones that ran are a pseudo-random part)"
            )
        elif sampled:
            coverage.append(f"- {m}: all {sampled} sampled cases ran")
    if coverage:
        table = "\n".join(coverage) + "\n\n" + table
    print(table)
    print(f"\n({time.time() - start:.0f} s; logs in {args.out}/triton-tests-*.json.log)")
    if args.write_doc:
        Path(args.write_doc).write_text(_doc(table, args))
    return 0


def _doc(table: str, args: argparse.Namespace) -> str:
    head = Path(__file__).read_text().split('"""')[1].strip().splitlines()[0]
    rules = "\n".join(f"- {name}: `{pattern}`" for name, pattern in GPU_ONLY_RULES)
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    logs = [Path(args.json_for(m)) for m in args.modes.split(",")]
    rerun = ""
    if any(Path(str(log) + ".resumed").exists() for log in logs):
        rerun += " The run was stopped and resumed (`--resume`) on a later commit."
    if args.rerun_failed or any(Path(str(log) + ".rerun").exists() for log in logs):
        rerun += " Its failures were then rerun (`--rerun-failed`) after later fixes."
    return (
        "# Triton's language tests on tritium\n\n"
        "Generated by `python tools/run_triton_tests.py <triton>/python/test "
        f"--sample {args.sample} --write-doc` (do not edit by hand). " + head + "\n\n"
        f"Run on {time.strftime('%Y-%m-%d', time.gmtime())} (tritium {commit or 'unknown'}): "
        f"every {args.sample}th collected case of each file (offset {args.offset})."
        + rerun
        + "\n\n"
        "Cells: passed / failed / skipped / gpu-only (pass rate = passed / (passed + failed)).\n\n"
        f"{table}\n\nGPU-only rules (a failure whose cause or test id matches):\n\n{rules}\n"
    )


if __name__ == "__main__":
    sys.exit(main())
