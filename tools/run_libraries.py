"""Run real Triton code, unchanged, through ``tritium.install_as_triton()`` on the CPU.

Usage::

    python tools/run_libraries.py --tutorials /tmp/triton/python/tutorials \\
        --vllm /tmp/vllm [--only 01,moe] [--write-doc]
    python tools/run_libraries.py --liger /tmp/liger --fla /tmp/fla --python venv/bin/python \\
        [--only liger-moe] [--modes interpreted] [--junit-dir DIR [--reuse]] [--write-doc]

``--tutorials`` is Triton's ``python/tutorials`` directory (fetched by the user; nothing of it is
copied into this repository). Each tutorial runs as its own module, compiled and then interpreted
(``TRITON_INTERPRET=1``), in a fresh subprocess with a time limit. The only changes are made at
run time, by this runner: ``DEVICE`` is the CPU (``driver.active.get_active_torch_device`` is
patched), ``perf_report`` benchmarks are not run (``Mark.run`` is a no-op), ``do_bench`` returns
a constant, and sizes listed in ``TUTORIALS`` are made smaller by textual substitution of the
source in memory. Tutorials guarded by ``if __name__ == "__main__"`` (or by a GPU check) get a
small driver call, also listed there; its result is compared with torch.

``--vllm`` is a directory holding vLLM's Triton kernel files at their repository paths. The
``@triton.jit`` functions of each file are executed unchanged (the file's own imports of vLLM
are not: only ``triton``, ``triton.language`` and ``torch`` are provided), launched the way vLLM's
Python wrapper launches them, and compared with a float64 torch reference written here.

``--liger`` and ``--fla`` are checkouts of Liger-Kernel and flash-linear-attention (their
``src``/package directories are put on ``PYTHONPATH``; nothing is installed). Their own pytest
files, listed in ``SUITES``, run unchanged in one pytest process per suite and mode, with the
plugin ``tools/_alias_pytest_plugin.py`` installing the alias before the library is imported.
``--python`` is the interpreter for those runs (Liger's tests import ``transformers``). Results
are read from pytest's JUnit XML (kept in ``--junit-dir``; ``--reuse`` tabulates the files there
without running again).

Prints one table: item x mode, ``pass`` / ``FAIL`` with the first line of the cause.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _vllm_cases
MODES = ("compiled", "interpreted")


@dataclass
class Tutorial:
    """One tutorial file, the size substitutions it needs, and a driver for guarded code."""

    file: str
    subs: list[tuple[str, str]] = field(default_factory=list)
    drive: Callable[[dict[str, Any]], None] | None = None
    #: Module-level results to compare with torch: (triton output name, torch output name, atol).
    compare: list[tuple[str, str, float]] = field(default_factory=list)


def _drive_04(ns: dict[str, Any]) -> None:
    """Tutorial 04 prints its results; check them: dropout keeps x / (1 - p) where x_keep is
    set, and the seeded version repeats for one seed and differs for another."""
    import torch

    x, keep, p = ns["x"], ns["x_keep"], ns["p"]
    ref = torch.where(keep.bool(), x.double() / (1 - p), torch.zeros((), dtype=torch.float64))
    # ``output`` and ``x`` were rebound by the seeded half: call the first half's dropout again.
    torch.testing.assert_close(ns["dropout"](x, x_keep=keep, p=p).double(), ref)
    assert torch.equal(ns["output"], ns["output2"]) and not torch.equal(ns["output"], ns["output3"])


def _drive_06(ns: dict[str, Any]) -> None:
    """Tutorial 06's pytest ``test_op`` at one small shape, forward and backward."""
    for causal in (False, True):
        ns["test_op"](1, 2, 128, 64, causal, False, "bwd", "triton-fp16")


def _drive_08(ns: dict[str, Any]) -> None:
    """Nothing beyond the module-level check (grouped GEMM against torch.matmul)."""


def _drive_09(ns: dict[str, Any]) -> None:
    """Tutorial 09's ``validate`` at its small shape (the tutorial's own first call)."""
    import torch

    torch.manual_seed(0)
    ns["validate"](32, 32, 32, torch.float16)


def _drive_10(ns: dict[str, Any]) -> None:
    """Tutorial 10's block-scaled matmul validation at a small shape."""
    ns["validate_block_scaled"](128, 256, 256, block_scale_type="mxfp8")


def _drive_11(ns: dict[str, Any]) -> None:
    """Tutorial 11's ``add`` with and without programmatic dependent launch."""
    import torch

    x = torch.rand(4099)
    y = torch.rand(4099)
    for pdl in (False, True):
        out = ns["add"](x, y, pdl)
        torch.testing.assert_close(out, x + y)


#: Places where a tutorial names CUDA itself rather than through ``DEVICE``: the same change as
#: ``DEVICE``, applied wherever the text occurs (a missing one is not an error).
CUDA_SUBS = [
    ('device="cuda"', "device=DEVICE"),
    ('device = "cuda"', "device = DEVICE"),
    (
        "x.is_cuda and output_triton.is_cuda",
        "x.device == DEVICE and output_triton.device == DEVICE",
    ),
    (
        'torch.cuda.get_device_properties("cuda").multi_processor_count',
        'triton.runtime.driver.active.utils.get_device_properties(0)["multiprocessor_count"]',
    ),
]

TUTORIALS: dict[str, Tutorial] = {
    "01": Tutorial("01-vector-add.py", compare=[("output_triton", "output_torch", 0.0)]),
    "02": Tutorial("02-fused-softmax.py", subs=[("torch.randn(1823, 781", "torch.randn(123, 781")]),
    "03": Tutorial(
        "03-matrix-multiplication.py",
        subs=[("(512, 512)", "(96, 96)")],
        compare=[("triton_output", "torch_output", 1e-2)],
    ),
    "04": Tutorial("04-low-memory-dropout.py", drive=_drive_04),
    "05": Tutorial(
        "05-layer-norm.py", subs=[("test_layer_norm(1151, 8192,", "test_layer_norm(37, 300,")]
    ),
    "06": Tutorial("06-fused-attention.py", drive=_drive_06),
    "07": Tutorial(
        "07-extern-functions.py",
        subs=[
            ("size = 98432", "size = 1000"),
            # The CPU is neither of the two GPU backends the tutorial names: take the CUDA
            # branch's extern_libs (libdevice; tritium maps libdevice calls itself).
            (
                "raise RuntimeError('unknown backend')",
                "extern_libs = {'libdevice': str(current_dir / 'libdevice.10.bc')}",
            ),
        ],
        compare=[("output_triton", "output_torch", 1e-5)],
    ),
    "08": Tutorial(
        "08-grouped-gemm.py",
        subs=[
            ("group_m = [1024, 512, 256, 128]", "group_m = [256, 128, 256, 128]"),
            ("group_n = [1024, 512, 256, 128]", "group_n = [128, 256, 128, 128]"),
            ("group_k = [1024, 512, 256, 128]", "group_k = [128, 128, 256, 128]"),
        ],
        drive=_drive_08,
    ),
    "09": Tutorial("09-persistent-matmul.py", drive=_drive_09),
    "10": Tutorial("10-block-scaled-matmul.py", drive=_drive_10),
    "11": Tutorial("11-programmatic-dependent-launch.py", drive=_drive_11),
}


@dataclass
class Suite:
    """A library's own pytest files, run unchanged through the alias, one process per mode."""

    library: str  #: "liger" or "fla": which ``--liger``/``--fla`` checkout
    title: str
    paths: list[str]
    select: str = ""  #: pytest ``-k`` expression ("" runs every case of ``paths``)
    modes: tuple[str, ...] = MODES
    env: dict[str, str] = field(default_factory=dict)
    per_test: bool = False  #: one table row per test (else one per file)
    #: Glob (relative to the checkout) for the files when ``paths`` is empty: every file matching
    #: it except those in ``exclude``, found at run time.
    glob: str = ""
    exclude: tuple[str, ...] = ()
    #: One pytest process per file (each its own JUnit XML): a crash or a time limit loses one
    #: file's results, not the suite's, and a stopped run keeps the files it finished.
    per_file: bool = False


def _liger_files(*names: str) -> list[str]:
    return [f"test/transformers/test_{name}.py" for name in names]


#: Liger's kernel tests. The compiled run covers the files that finish in about half an hour
#: at nice 19 on the shared 2-core host; the others ran compiled a session before.
_LIGER_KERNEL_FILES = _liger_files("rms_norm", "layer_norm", "jsd", "swiglu")

SUITES: dict[str, Suite] = {
    "liger-moe": Suite(
        "liger",
        "Liger-Kernel fused MoE, autotuning on",
        ["test/transformers/test_fused_moe.py"],
        per_test=True,
    ),
    "liger-kernels": Suite(
        "liger",
        "Liger-Kernel kernel tests",
        _LIGER_KERNEL_FILES,
        # Liger marks its DTensor tests xfail below 8 GPUs; each spawns 4-8 processes.
        select="not dtensor",
        modes=("compiled",),
    ),
    "liger-kernels-functional": Suite(
        "liger",
        "Liger-Kernel kernel tests, the functional-API cases",
        _liger_files(
            "rms_norm",
            "swiglu",
            "geglu",
            "cross_entropy",
            "fused_linear_cross_entropy",
            "rope",
            "layer_norm",
            "kl_div",
            "jsd",
        ),
        select="functional",
        modes=("interpreted",),
    ),
    "liger-all": Suite(
        "liger",
        "Liger-Kernel, every file of test/transformers",
        [],
        glob="test/transformers/test_*.py",
        # Fused MoE is its own suite (``liger-moe``, ~45 minutes a mode here).
        exclude=("test/transformers/test_fused_moe.py",),
        select="not dtensor",
        per_file=True,
    ),
    "fla-ops": Suite(
        "fla",
        "flash-linear-attention op tests, shapes with T = 63 or 64",
        [
            f"tests/ops/test_{name}.py"
            for name in (
                "gla",
                "delta",
                "simple_gla",
                "retention",
                "based",
                "linear_attn",
                "hgrn",
            )
        ],
        select="T63 or T64",
        # Compiling every config of every kernel is hours on 2 cores: the first config only.
        env={"TRITIUM_AUTOTUNE": "off"},
    ),
}


#: fla's other op test files (beyond ``fla-ops``), same selection of shapes.
_FLA_MORE_OPS = (
    "gdn",
    "kda",
    "comba",
    "rwkv6",
    "rwkv7",
    "lightning_attn",
    "forgetting_attn",
    "solve_tril",
    "dplr_delta",
    "iplr_delta",
    "delta_product",
    "gsa",
    "oja",
    "path_attn",
    "log_linear_attn",
    "attn",
    "nsa",
    "ttt",
    "mesa",
    "titans",
)
#: Every file of Liger's ``test/transformers`` with a functional-API test (``test_*functional*``).
_LIGER_FUNCTIONAL = (
    "attn_res",
    "cross_entropy",
    "dyt",
    "fused_add_rms_norm",
    "fused_linear_cross_entropy",
    "fused_linear_jsd",
    "fused_neighborhood_attention",
    "geglu",
    "jsd",
    "layer_norm",
    "llama4_rope",
    "mhc",
    "modulated_rms_norm",
    "multi_token_attention",
    "poly_norm",
    "qwen2vl_mrope",
    "relu_squared",
    "rms_norm",
    "rope",
    "softmax",
    "sparsemax",
    "swiglu",
)
SUITES["liger-functional"] = Suite(
    "liger",
    "Liger-Kernel test/transformers, the functional-API cases of every file",
    _liger_files(*_LIGER_FUNCTIONAL),
    select="functional and not dtensor",
)
SUITES["fla-ops-more"] = Suite(
    "fla",
    "flash-linear-attention, the other op tests, shapes with T = 63 or 64",
    [f"tests/ops/test_{name}.py" for name in _FLA_MORE_OPS],
    select="T63 or T64",
    env={"TRITIUM_AUTOTUNE": "off"},
    per_file=True,
)


def _library_path(suite: Suite, root: Path) -> list[str]:
    """What the suite's library needs on ``PYTHONPATH`` (its package and its tests' root)."""
    return [str(root / "src"), str(root)] if suite.library == "liger" else [str(root)]


def _suite_files(suite: Suite, root: Path) -> list[str]:
    """The suite's test files, relative to ``root``: ``paths``, or what ``glob`` finds there."""
    if suite.paths:
        return list(suite.paths)
    # Smallest file first: a run stopped early has finished as many files as it could.
    found = sorted(root.glob(suite.glob), key=lambda f: (f.stat().st_size, f.name))
    return [
        str(f.relative_to(root)) for f in found if str(f.relative_to(root)) not in suite.exclude
    ]


def _run_suite(
    key: str,
    mode: str,
    root: Path,
    python: str,
    xml: Path,
    timeout: int,
    test_timeout: int = 0,
    files: list[str] | None = None,
    max_elements: int = 0,
    deselected: Path | None = None,
) -> tuple[int, float]:
    """Run one suite in one mode with pytest; JUnit XML goes to ``xml``. Returns (rc, seconds).

    ``test_timeout`` (seconds, 0 for none) is each test's limit, through pytest-timeout's signal
    method, so that a test over it fails and the rest of the file still runs. ``files`` replaces
    the suite's files (a per-file run passes one at a time). ``max_elements`` (0: none)
    deselects the cases whose integer parameters multiply to more than it; their ids go to
    ``deselected`` (see ``tools/_alias_pytest_plugin.py``).
    """
    suite = SUITES[key]
    tools = str(Path(__file__).resolve().parent)
    path = os.pathsep.join([str(REPO), *_library_path(suite, root), tools])
    env = dict(os.environ, PYTHONPATH=path, MPLBACKEND="Agg", **suite.env)
    env.pop("TRITON_INTERPRET", None)
    if max_elements:
        env["TRITIUM_LIBS_MAX_ELEMENTS"] = str(max_elements)
        if deselected is not None:
            env["TRITIUM_LIBS_DESELECTED"] = str(deselected)
    if mode == "interpreted":
        env["TRITON_INTERPRET"] = "1"
    cmd = [python, "-m", "pytest", "-p", "_alias_pytest_plugin", "-p", "no:cacheprovider"]
    cmd += ["-q", "-rfE", "-n", "0", *(files or suite.paths), f"--junitxml={xml}"]
    if test_timeout:
        # Native tracebacks: a timeout's signal can land on an instruction that CPython 3.11 gives
        # no line number, and pytest's own traceback style then fails (INTERNALERROR: tb_lineno
        # is None), ending the file's session.
        cmd += [f"--timeout={test_timeout}", "--timeout-method=signal", "--tb=native"]
    if suite.select:
        cmd += ["-k", suite.select]
    print(f"[{key} {mode}] cd {root} && " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    try:
        rc = subprocess.run(cmd, cwd=root, env=env, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        rc = 124
    return rc, time.perf_counter() - t0


def _read_junit(xml: Path) -> dict[str, tuple[str, float, str]]:
    """Test id -> (outcome, seconds, first line of the failure) from pytest's JUnit XML.

    ``xml`` may be a directory of per-file XMLs (a ``per_file`` suite): their union.
    """
    if xml.is_dir():
        merged: dict[str, tuple[str, float, str]] = {}
        for part in sorted(xml.glob("*.xml")):
            merged.update(_read_junit(part))
        # --rerun-failed's results replace the first run's, oldest rerun first; a case a rerun
        # deselected (--max-elements) has no result any more
        reruns = xml / RERUNS
        for part in sorted(reruns.glob("*.xml"), key=lambda f: (f.stat().st_mtime, f.name)):
            merged.update(_read_junit(part))
        for part in sorted(reruns.glob("*.deselected")):
            for line in part.read_text().splitlines():  # "<node id>\t<elements>"
                merged.pop(line.split("\t")[0].strip(), None)
        return merged
    out: dict[str, tuple[str, float, str]] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        test_id = case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
        status, cause = "pass", ""
        for tag, name in (("failure", "FAIL"), ("error", "ERROR"), ("skipped", "skip")):
            el = case.find(tag)
            if el is not None:
                status = name
                text = (el.get("message") or el.text or "").strip().splitlines()
                cause = next((t.strip() for t in text if t.strip()), "")[:200]
                break
        out[test_id] = (status, float(case.get("time", 0.0)), cause)
    return out


def _read_deselected(xml: Path) -> dict[str, int]:
    """Test file -> how many of its cases ``--max-elements`` deselected (``*.deselected`` files)."""
    counts: dict[str, int] = {}
    if xml.is_dir():
        ids = {  # each line: "<node id>\t<elements>"
            line.split("\t")[0].strip()
            for part in [*xml.glob("*.deselected"), *(xml / RERUNS).glob("*.deselected")]
            for line in part.read_text().splitlines()
            if line.strip()
        }
        for t in ids:
            f = t.split("::", 1)[0]
            counts[f] = counts.get(f, 0) + 1
    return counts


#: Subdirectory of a per-file suite's JUnit directory holding ``--rerun-failed``'s results.
RERUNS = "reruns"


def _rerun_failed(key: str, mode: str, root: Path, xml: Path, args: argparse.Namespace) -> None:
    """Run the failed cases (failures and errors, not collection errors; with ``--rerun-cause``
    only those whose cause matches it) of a per-file suite's results in ``xml`` again, one pytest
    process per test file, with ``--test-timeout``; each file's results go to
    ``xml/reruns/<file>.<n>.xml`` and replace the earlier ones."""
    failed: dict[str, list[str]] = {}
    for t, (status, _, cause) in _read_junit(xml).items():
        if (
            status in ("FAIL", "ERROR")
            and "collection failure" not in cause
            and re.search(args.rerun_cause, cause)
        ):
            failed.setdefault(t.split("::", 1)[0], []).append(t)
    reruns = xml / RERUNS
    reruns.mkdir(exist_ok=True)
    for f, ids in sorted(failed.items()):
        n = len(list(reruns.glob(f"{Path(f).stem}.*.xml")))
        out = reruns / f"{Path(f).stem}.{n}.xml"
        rc, secs = _run_suite(
            key,
            mode,
            root,
            args.python,
            out,
            args.timeout * 100,
            args.test_timeout,
            ids,
            args.max_elements,
            out.with_suffix(".deselected"),
        )
        print(f"[{key} {mode} rerun {f}: {len(ids)} cases] rc={rc} in {secs:.0f}s", flush=True)


def _suite_table(
    key: str,
    results: dict[str, dict[str, tuple[str, float, str]]],
    deselected: dict[str, dict[str, int]] | None = None,
) -> str:
    """Markdown for one suite: per test or per file, each mode, then every failure's cause.

    ``deselected`` (mode -> test file -> count) adds the cases ``--max-elements`` left out.
    """
    deselected = deselected or {}
    suite = SUITES[key]
    modes = [m for m in suite.modes if m in results]
    lines = [
        f"**{suite.title}** (`--only {key}`"
        + (f", `-k '{suite.select}'`" if suite.select else "")
        + "".join(f", `{k}={v}`" for k, v in suite.env.items())
        + ")",
        "",
    ]
    lines += ["| test | " + " | ".join(modes) + " |", "|---|" + "---|" * len(modes)]
    ids = list(dict.fromkeys(t for m in modes for t in results[m]))  # pytest's order
    if suite.per_test:
        for t in ids:
            cells = []
            for m in modes:
                st, sec, _ = results[m].get(t, ("not run", 0.0, ""))
                cells.append(f"{st} ({sec:.1f}s)" if st != "not run" else st)
            lines.append(f"| `{t.split('::', 1)[1]}` | " + " | ".join(cells) + " |")
    files = sorted({t.split("::")[0] for t in ids} | {f for d in deselected.values() for f in d})
    if not suite.per_test:
        for f in files:
            cells = []
            for m in modes:
                rs = [r for t, r in results[m].items() if t.startswith(f + "::")]
                dropped = deselected.get(m, {}).get(f, 0)
                if not rs and not dropped:  # a per-file suite stopped before this file
                    cells.append("not run")
                    continue
                ran = [r for r in rs if r[0] != "skip"]
                ok = sum(r[0] == "pass" for r in ran)
                skipped = len(rs) - len(ran)
                cell = f"{ok}/{len(ran)} passed ({sum(r[1] for r in rs):.0f}s)"
                cell += f", {skipped} skipped" if skipped else ""
                cells.append(cell + (f", {dropped} deselected" if dropped else ""))
            lines.append(f"| {Path(f).name} | " + " | ".join(cells) + " |")
    for m in modes:
        ran = [r for r in results[m].values() if r[0] != "skip"]
        ok = sum(r[0] == "pass" for r in ran)
        secs = sum(r[1] for r in results[m].values())
        dropped = sum(deselected.get(m, {}).values())
        more = f", {dropped} deselected" if dropped else ""
        lines.append(
            f"| **{m} total** | {ok}/{len(ran)} passed, {secs:.0f}s{more} |"
            + " |" * (len(modes) - 1)
        )
    bad = [(m, t, r) for m in modes for t, r in results[m].items() if r[0] in ("FAIL", "ERROR")]
    if bad:
        lines += ["", "Failures:", ""]
        for m, t, (st, _, cause) in sorted(bad, key=lambda b: (b[1], b[0])):
            lines.append(f"- {m}, `{t}`: {st}: {cause.replace('|', '/')}")
    return "\n".join(lines)


def _write_section(name: str, body: str, doc: Path = REPO / "docs" / "libraries.md") -> None:
    """Replace (or append) the generated section ``name`` of ``doc``; the rest stays as it is."""
    text = doc.read_text() if doc.exists() else ""
    begin, end = (
        f"<!-- begin {name} (generated by tools/run_libraries.py) -->",
        f"<!-- end {name} -->",
    )
    section = f"{begin}\n\n{body}\n\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    doc.write_text(text)


def _cause(exc: BaseException) -> str:
    """The exception type and the first line of its message."""
    msg = str(exc).strip().splitlines()
    first = next((m for m in msg if m.strip()), "")
    return f"{type(exc).__name__}: {first[:160]}"


def _install(mode: str) -> Any:
    """Install the alias in this process and make the CPU the tutorials' device."""
    if mode == "interpreted":
        os.environ["TRITON_INTERPRET"] = "1"
    else:
        os.environ.pop("TRITON_INTERPRET", None)
    import torch

    import tritium

    tritium.install_as_triton()
    import triton
    import triton.testing

    triton.runtime.driver.active.get_active_torch_device = lambda: torch.device("cpu")
    # Tutorials ask torch for the CUDA architecture outside their is_cuda() guards: answer "none".
    torch.cuda.get_device_capability = lambda *a, **k: (0, 0)
    # Benchmarks are timing, not correctness: skip them; do_bench answers a constant.
    triton.testing.Mark.run = lambda self, *a, **k: None
    triton.testing.do_bench = lambda *a, **k: 1.0 if not k.get("quantiles") else [1.0] * 3
    return triton


def _run_tutorial(directory: Path, key: str) -> None:
    """Execute one tutorial as a module (not ``__main__``), then its driver and comparisons."""
    import torch

    tut = TUTORIALS[key]
    path = directory / tut.file
    src = path.read_text()
    for old, new in tut.subs:
        if old not in src:
            raise RuntimeError(f"runner: substitution {old!r} not found in {tut.file}")
        src = src.replace(old, new)
    for old, new in CUDA_SUBS:
        src = src.replace(old, new)
    ns: dict[str, Any] = {"__name__": f"tutorial_{key}", "__file__": str(path)}
    mod = type(sys)(ns["__name__"])
    mod.__dict__.update(ns, DEVICE=torch.device("cpu"))
    sys.modules[ns["__name__"]] = mod
    exec(compile(src, str(path), "exec"), mod.__dict__)
    ns = mod.__dict__
    for tri, ref, atol in tut.compare:
        torch.testing.assert_close(
            ns[tri].float(), ns[ref].float(), atol=atol, rtol=1e-3 if atol else 0
        )
    if tut.drive is not None:
        tut.drive(ns)


def _child(kind: str, key: str, mode: str, path: str) -> dict[str, Any]:
    """Run one item in this process; return its outcome."""
    t0 = time.perf_counter()
    try:
        _install(mode)
        if kind == "tutorial":
            _run_tutorial(Path(path), key)
        else:
            import _vllm_cases

            _vllm_cases.run(key, Path(path))
        status, cause = "pass", ""
    except BaseException as exc:  # noqa: BLE001 - every failure is a reported outcome
        traceback.print_exc()
        status, cause = "FAIL", _cause(exc)
    return {"status": status, "cause": cause, "seconds": round(time.perf_counter() - t0, 1)}


def _spawn(kind: str, key: str, mode: str, path: str, timeout: int) -> dict[str, Any]:
    """Run one item in a fresh subprocess with a time limit."""
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    env.setdefault("MPLBACKEND", "Agg")
    cmd = [sys.executable, __file__, "--child", kind, key, mode, path]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd="/tmp"
        )
    except subprocess.TimeoutExpired:
        return {"status": "FAIL", "cause": f"timeout after {timeout}s", "seconds": timeout}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("@@RESULT "):
            result = json.loads(line[len("@@RESULT ") :])
            if result["status"] == "pass" and "\u274c" in proc.stdout:
                # Tutorials 03 and 09 report a mismatch by printing a red cross, not raising.
                bad = next(ln for ln in proc.stdout.splitlines() if "\u274c" in ln)
                result = {"status": "FAIL", "cause": f"printed: {bad.strip()[:120]}", "seconds": 0}
            return result
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {
        "status": "FAIL",
        "cause": f"crashed (rc={proc.returncode}): {tail[:160]}",
        "seconds": 0,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tutorials", type=Path, help="Triton's python/tutorials directory")
    p.add_argument("--vllm", type=Path, help="directory holding vLLM's kernel files")
    p.add_argument("--liger", type=Path, help="a Liger-Kernel checkout (runs the liger-* suites)")
    p.add_argument("--fla", type=Path, help="a flash-linear-attention checkout (fla-* suites)")
    p.add_argument("--python", default=sys.executable, help="interpreter for the pytest suites")
    p.add_argument("--junit-dir", type=Path, help="keep each suite's JUnit XML here")
    p.add_argument("--reuse", action="store_true", help="tabulate --junit-dir, run nothing")
    p.add_argument(
        "--rerun-failed",
        action="store_true",
        help="per-file suites: run the failed cases in --junit-dir again (--test-timeout); "
        "their new results replace the old in the table",
    )
    p.add_argument(
        "--rerun-cause", default="", help="--rerun-failed: only failures whose cause matches"
    )
    p.add_argument("--only", default="", help="comma-separated item keys (e.g. 01,03,moe)")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--timeout", type=int, default=300, help="per item (per suite: x 100)")
    p.add_argument(
        "--test-timeout", type=int, default=0, help="per pytest test, seconds (pytest-timeout)"
    )
    p.add_argument(
        "--largest-first",
        action="store_true",
        help="per-file suites: largest file first (a second runner can take the other end)",
    )
    p.add_argument(
        "--max-elements",
        type=int,
        default=0,
        help="deselect cases whose int parameters multiply to more (ids: FILE.deselected)",
    )
    p.add_argument("--write-doc", action="store_true", help="write docs/libraries.md")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        result = _child(*args.child)
        print("@@RESULT " + json.dumps(result), flush=True)
        return 0
    import _vllm_cases

    only = {s for s in args.only.split(",") if s}
    modes = args.modes.split(",")
    roots = {"liger": args.liger, "fla": args.fla}
    for key, suite in SUITES.items():
        root = roots[suite.library]
        if root is None or (only and key not in only):
            continue
        results, deselected = {}, {}
        for mode in (m for m in suite.modes if m in modes):
            xml_dir = args.junit_dir or Path(tempfile.mkdtemp(prefix="tritium-libs-"))
            xml = xml_dir / (f"{key}-{mode}" if suite.per_file else f"{key}-{mode}.xml")
            if args.rerun_failed and suite.per_file and xml.is_dir():
                _rerun_failed(key, mode, root.resolve(), xml, args)
            elif not args.reuse:
                xml.parent.mkdir(parents=True, exist_ok=True)
                groups: list[list[str] | None] = [None]
                if suite.per_file:
                    xml.mkdir(exist_ok=True)
                    groups = [[f] for f in _suite_files(suite, root.resolve())]
                    if args.largest_first:
                        groups.reverse()
                for files in groups:
                    out = xml / f"{Path(files[0]).stem}.xml" if files else xml
                    if files:
                        # A file another runner (the other end of the list) has done or has
                        # started is skipped: each runner claims a file before it runs it.
                        claim = out.with_suffix(".claim")
                        if out.exists() or claim.exists():
                            continue
                        claim.touch()
                    rc, secs = _run_suite(
                        key,
                        mode,
                        root.resolve(),
                        args.python,
                        out,
                        args.timeout * 100,
                        args.test_timeout,
                        files,
                        args.max_elements,
                        out.with_suffix(".deselected"),
                    )
                    what = f" {files[0]}" if files else ""
                    print(f"[{key} {mode}{what}] pytest rc={rc} in {secs:.0f}s", flush=True)
            if xml.exists():
                results[mode] = _read_junit(xml)
                deselected[mode] = _read_deselected(xml)
        if results:
            table = _suite_table(key, results, deselected)
            print(table, flush=True)
            if args.write_doc:
                _write_section(key, table)

    items: list[tuple[str, str, str]] = []
    if args.tutorials:
        items += [("tutorial", k, str(args.tutorials)) for k in TUTORIALS]
    if args.vllm:
        items += [("vllm", k, str(args.vllm)) for k in _vllm_cases.CASES]
    if only:
        items = [it for it in items if it[1] in only]
    if not items:
        return 0
    rows = []
    for kind, key, path in items:
        row = [kind, key]
        for mode in modes:
            r = _spawn(kind, key, mode, path, args.timeout)
            cell = f"pass ({r['seconds']}s)" if r["status"] == "pass" else f"FAIL: {r['cause']}"
            row.append(cell)
            print(f"{kind:8} {key:10} {mode:11} {cell}", flush=True)
        rows.append(row)
    table = ["| item | " + " | ".join(modes) + " |", "|---|" + "---|" * len(modes)]
    for kind, key, *cells in rows:
        name = TUTORIALS[key].file if kind == "tutorial" else _vllm_cases.CASES[key].title
        cells = [c.replace("|", "\\|") for c in cells]
        table.append(f"| {name} | " + " | ".join(cells) + " |")
    print("\n".join(table))
    if args.write_doc:
        _write_section("tutorials-vllm", "\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
