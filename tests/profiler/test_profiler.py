"""tritium.profiler: launches and compiles recorded, scopes, outputs (table, Chrome trace with its
schema checked, hatchet), IR counts of bytes/FLOPs, roofline rows, the per-line view, the
machine limits' cache, and Proton's names under install_as_triton()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

import tritium
import tritium.language as tl
import tritium.profiler as proton
from tritium.profiler import machine, report
from tritium.runtime.jit import LAUNCH_HOOKS, JITFunction


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    seed = int(os.environ.get("TRITIUM_TEST_SEED", "0"))
    return np.random.default_rng([seed, zlib.crc32(request.node.nodeid.encode())])


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    proton.finalize() if proton._session.SESSIONS else None
    assert not LAUNCH_HOOKS  # hooks gone once no session is left


@tritium.jit
def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    y = tl.load(y_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, x * 2.0 + y, mask=mask)


@tritium.jit
def matmul_kernel(a_ptr, b_ptr, c_ptr, K, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    acc = tl.zeros((BLOCK, BLOCK), tl.float32)
    for k in range(0, K, BLOCK):
        a = tl.load(a_ptr + o[:, None] * K + k + o[None, :])
        b = tl.load(b_ptr + (k + o[:, None]) * BLOCK + o[None, :])
        acc += tl.dot(a, b)
    tl.store(c_ptr + o[:, None] * BLOCK + o[None, :], tl.exp(acc * 0.01))


def _add(rng, n=1000, block=128):
    x, y = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    out = np.full(n, np.nan, np.float32)
    add_kernel[(tritium.cdiv(n, block),)](x, y, out, n, BLOCK=block)
    np.testing.assert_allclose(out, 2.0 * x.astype(np.float64) + y, rtol=1e-6)


def _matmul(rng, k=64, block=16):
    a = rng.standard_normal((block, k)).astype(np.float32)
    b = rng.standard_normal((k, block)).astype(np.float32)
    c = np.full((block, block), np.nan, np.float32)
    matmul_kernel[(1,)](a, b, c, k, BLOCK=block)
    ref = np.exp((a.astype(np.float64) @ b) * 0.01)
    np.testing.assert_allclose(c, ref, rtol=1e-3)


def test_every_launch_is_recorded_with_scopes(rng) -> None:
    sid = proton.start("prof")
    with proton.scope("outer"):
        _add(rng)
        with proton.scope("inner"):
            _add(rng)
            _add(rng, n=2000, block=256)
    _add(rng)
    launches = proton._session.SESSIONS[sid].launches
    assert [r.kernel for r in launches] == ["add_kernel"] * 4
    assert [r.scopes for r in launches] == [
        ("outer",),
        ("outer", "inner"),
        ("outer", "inner"),
        (),
    ]
    assert launches[0].grid == (8, 1, 1) and launches[2].grid == (8, 1, 1)
    assert "BLOCK=128" in launches[0].specialization and "BLOCK=256" in launches[2].specialization
    assert "x_ptr:*fp32" in launches[0].specialization
    assert all(r.duration_ns > 0 and r.threads >= 1 for r in launches)
    # bytes: two loads and a store of a (padded) tile per program
    assert launches[0].bytes == 3 * 4 * 8 * 128 and launches[0].flops == 2 * 8 * 128
    text = proton.table()
    assert "add_kernel" in text and "4 launches" in text.splitlines()[-1]
    proton.finalize()
    assert os.path.exists("prof.hatchet")


def test_compiles_and_first_launches(rng, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(tmp_path / "cache"))

    @tritium.jit
    def fresh_kernel(x_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=offs < n) + 1.0, mask=offs < n)

    x = rng.standard_normal(100).astype(np.float32)
    ref = x.astype(np.float64) + 2
    sid = proton.start("c")
    fresh_kernel[(4,)](x, 100, BLOCK=32)
    fresh_kernel.cache.clear()  # the next launch loads it from the disk cache
    fresh_kernel[(4,)](x, 100, BLOCK=32)
    np.testing.assert_allclose(x, ref, rtol=1e-6)
    s = proton._session.SESSIONS[sid]
    assert [c.disk_cache_hit for c in s.compiles] == [False, True]
    assert [r.first for r in s.launches] == [True, True]
    fresh_kernel[(4,)](x, 100, BLOCK=32)
    assert s.launches[-1].first is False and len(s.compiles) == 2
    proton.finalize(sid, output_format="text")
    assert "2 compiles (1 from the disk cache)" in open("c.txt").read()


def test_hooks_are_removed_and_restored(rng) -> None:
    original = JITFunction._compile
    sid = proton.start("h")
    assert LAUNCH_HOOKS and JITFunction._compile is not original
    proton.deactivate(sid)
    _add(rng)
    proton.activate(sid)
    _add(rng)
    assert len(proton._session.SESSIONS[sid].launches) == 1
    proton.finalize(sid)
    assert not LAUNCH_HOOKS and JITFunction._compile is original


TRACE_SCHEMA = {
    "type": "object",
    "required": ["traceEvents"],
    "properties": {
        "displayTimeUnit": {"enum": ["ms", "ns"]},
        "traceEvents": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "ph", "pid", "tid"],
                "properties": {
                    "name": {"type": "string"},
                    "ph": {"enum": ["X", "M"]},
                    "pid": {"type": "integer"},
                    "tid": {"type": "integer"},
                    "cat": {"type": "string"},
                    "args": {"type": "object"},
                },
                "if": {"properties": {"ph": {"const": "X"}}},
                "then": {
                    "required": ["ts", "dur", "cat"],
                    "properties": {
                        "ts": {"type": "number", "minimum": 0},
                        "dur": {"type": "number", "minimum": 0},
                    },
                },
            },
        },
    },
}


def test_chrome_trace_schema(rng) -> None:
    proton.start("trace", data="trace")
    with proton.scope("step", metrics={"flops": 123}):
        _add(rng)
        _matmul(rng)
    proton.finalize()
    with open("trace.chrome_trace") as f:
        trace = json.load(f)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(trace, TRACE_SCHEMA)
    events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    kinds = {(e["cat"], e["name"]) for e in events}
    assert {("kernel", "add_kernel"), ("kernel", "matmul_kernel"), ("scope", "step")} <= kinds
    step = next(e for e in events if e["name"] == "step")
    for e in events:
        if e["cat"] == "kernel":  # launches nest inside their scope on the timeline
            assert step["ts"] <= e["ts"] and e["ts"] + e["dur"] <= step["ts"] + step["dur"] + 1e-3
            assert e["args"]["bytes"] > 0 and e["args"]["grid"][0] >= 1


def test_ir_counts_of_a_loop_with_a_runtime_trip_count(rng) -> None:
    sid = proton.start("mm")
    _matmul(rng, k=64)
    _matmul(rng, k=128)
    rs = proton._session.SESSIONS[sid].launches
    for r, k in zip(rs, (64, 128)):
        trips = k // 16
        assert r.flops == trips * 2 * 16 * 16 * 16 + 2 * 16 * 16  # dots, then mul and exp
        assert r.bytes == trips * 2 * 16 * 16 * 4 + 16 * 16 * 4
        assert r.counts_exact and r.counts_source == "ir"
    limits = {"bandwidth_Bps": 1e10, "peak_flops": 1e10, "threads": 2}
    view = report.lines_view(proton._session.SESSIONS[sid], "matmul_kernel", limits)
    counted = [ln.split(maxsplit=5) for ln in view.splitlines()[2:] if len(ln.split()) > 5]
    counted = [c for c in counted if c[1].replace(".", "").isdigit()]
    share = {c[5]: float(c[2]) for c in counted}
    top = max(share, key=share.get)
    assert top.startswith("acc += tl.dot(a, b)"), view  # 8 FLOPs per byte loaded
    assert sum(share.values()) == pytest.approx(100, abs=0.5)
    assert any(src.startswith("tl.store(c_ptr") and "tl.exp" in src for src in share)


def test_launch_metadata_overrides_counts(rng) -> None:
    @tritium.jit(
        launch_metadata=lambda grid, kernel, args: {
            "name": f"add n={args['n']}",
            "flops": 7,
            "bytes": 11,
        }
    )
    def meta_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)

    x = rng.standard_normal(64).astype(np.float32)
    out = np.full(64, np.nan, np.float32)
    sid = proton.start("m", hook="triton")
    meta_kernel[(1,)](x, out, 64, BLOCK=64)
    np.testing.assert_array_equal(out, x)
    (r,) = proton._session.SESSIONS[sid].launches
    assert (r.kernel, r.flops, r.bytes, r.counts_source) == ("add n=64", 7, 11, "metadata")
    tree = report.hatchet(proton._session.SESSIONS[sid])
    assert tree[0]["children"][0]["frame"]["name"] == "add n=64"
    assert tree[0]["metrics"]["flops"] == 7 and tree[0]["metrics"]["count"] == 1


def test_roofline_rows(rng) -> None:
    sid = proton.start("r")
    for _ in range(3):
        _add(rng, n=4096, block=512)
    s = proton._session.SESSIONS[sid]
    limits = {"bandwidth_Bps": 2e10, "peak_flops": 5e11, "threads": 2}
    (row,) = report.roofline_rows(s, limits)
    t = sum(r.duration_ns for r in s.launches) / 1e9
    assert row["calls"] == 3 and row["bytes"] == 3 * 4 * 4096 and row["flops"] == 2 * 4096
    assert row["GBps"] == pytest.approx(3 * row["bytes"] / t / 1e9)
    assert row["bound"] == "memory" and row["intensity"] == pytest.approx(2 / 12)
    assert row["pct_of_roof"] == pytest.approx(100 * (3 * row["bytes"] / 2e10) / t)
    assert "add_kernel" in report.roofline_table(s, limits)


def test_machine_limits_are_measured_once_and_cached(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(machine, "_TRIAD_N", 1 << 14)
    monkeypatch.setattr(machine, "_FMA_ITERS", 16)
    monkeypatch.setattr(machine, "_limits", None)
    first = machine.machine_limits()
    assert first["bandwidth_Bps"] > 0 and first["peak_flops"] > 0 and first["threads"] >= 1
    assert os.path.exists(tmp_path / "cache" / "profiler-machine.json")
    monkeypatch.setattr(machine, "_limits", None)
    monkeypatch.setattr(machine, "_measure", lambda: pytest.fail("measured twice"))
    assert machine.machine_limits() == first


def test_decorators_and_enter_exit_scope(rng) -> None:
    @proton.scope("decorated")
    def step():
        _add(rng)

    sid = proton.start("d")
    step()
    proton.enter_scope("manual")
    _add(rng)
    proton.exit_scope()
    rs = proton._session.SESSIONS[sid].launches
    assert [r.scopes for r in rs] == [("decorated",), ("manual",)]
    proton.finalize()

    @proton.profile(name="whole")
    def run():
        _add(rng)

    run()
    tree = json.load(open("whole.hatchet"))
    assert tree[0]["metrics"]["count"] == 1
    with pytest.raises(ValueError, match="data"):
        proton.start(data="graph")


def test_triton_profiler_names_under_install_as_triton(tmp_path) -> None:
    code = textwrap.dedent(
        """
        import json, numpy as np, tritium
        tritium.install_as_triton()
        import triton, triton.language as tl
        import triton.profiler as proton

        @triton.jit
        def k(x_ptr, n, BLOCK: tl.constexpr):
            o = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
            tl.store(x_ptr + o, tl.load(x_ptr + o, mask=o < n) * 2, mask=o < n)

        x = np.ones(64, np.float32)
        proton.start("p", hook="triton")
        with proton.scope("s"):
            k[(2,)](x, 64, BLOCK=32)
        proton.finalize()
        tree = json.load(open("p.hatchet"))
        scope = tree[0]["children"][0]
        print(scope["frame"]["name"], scope["children"][0]["frame"]["name"], x.sum())
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    (tmp_path / "uses_proton.py").write_text(code)
    out = subprocess.run(
        [sys.executable, "uses_proton.py"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["s", "k", "128.0"]


def test_interpreted_lines_measure_each_line(rng) -> None:
    x = rng.standard_normal(300).astype(np.float32)
    y = rng.standard_normal(300).astype(np.float32)
    out = np.full(300, np.nan, np.float32)
    view = proton.interpreted_lines(add_kernel, (3,), x, y, out, 300, BLOCK=128)
    np.testing.assert_allclose(out, 2.0 * x.astype(np.float64) + y, rtol=1e-6)
    assert add_kernel.interpret is False  # restored
    rows = [ln.split(maxsplit=4) for ln in view.splitlines()[2:]]
    timed = {r[4]: (float(r[1]), int(r[3])) for r in rows if len(r) == 5 and r[3].isdigit()}
    store = next(v for k, v in timed.items() if k.startswith("tl.store(out_ptr"))
    load = next(v for k, v in timed.items() if k.startswith("x = tl.load(x_ptr"))
    assert store[1] >= 1 and load[1] >= 1 and store[0] > 0
    assert len(timed) == 5  # the five lines of the body ran
    with pytest.raises(TypeError, match="@jit kernel"):
        proton.interpreted_lines(lambda: None, (1,))
