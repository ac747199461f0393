"""Per-line profiles of compiled kernels (tritium.profiler.sampled_lines): the line table
compiled with instrumentation_mode="lines" (same machine code, correct lines), the SIGPROF
sampler, and interpreted launches on the profiler's timeline."""

from __future__ import annotations

import os
import platform
import sys
import zlib

import numpy as np
import pytest

import tritium
import tritium.language as tl
import tritium.profiler as proton
from tritium.profiler.dwarf import _sections, read_line_table
from tritium.runtime.jit import LAUNCH_HOOKS

linux_x86 = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.machine() != "x86_64",
    reason="the sampler reads the x86-64 Linux signal frame",
)


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    seed = int(os.environ.get("TRITIUM_TEST_SEED", "0"))
    return np.random.default_rng([seed, zlib.crc32(request.node.nodeid.encode())])


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.chdir(tmp_path)  # finalize() writes its file into the working directory
    monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    yield
    proton.finalize() if proton._session.SESSIONS else None
    assert not LAUNCH_HOOKS


@tritium.jit
def light_heavy(x_ptr, y_ptr, n, ITERS: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0.0)
    acc = x
    for _ in range(ITERS):
        acc = tl.sin(acc) * 0.5 + tl.cos(acc) * 0.25  # HEAVY
    y = acc + 1.0  # LIGHT
    tl.store(y_ptr + offs, y, mask=offs < n)


def _line_of(marker: str) -> int:
    import inspect

    src, first = inspect.getsourcelines(light_heavy.fn)
    return first + next(i for i, s in enumerate(src) if marker in s)


def _reference(x: np.ndarray, iters: int) -> np.ndarray:
    acc = x.astype(np.float64)
    for _ in range(iters):
        acc = np.sin(acc) * 0.5 + np.cos(acc) * 0.25
    return acc + 1.0


def _code(obj: bytes) -> list[bytes]:
    code = (".text", ".ltext")
    return [obj[o : o + n] for name, _t, o, n, _l, _i in _sections(obj) if name in code]


def test_line_table_same_code_and_right_lines(rng: np.random.Generator) -> None:
    n = 1000
    x = rng.standard_normal(n).astype(np.float32)
    y = np.full_like(x, np.nan)
    args = (x, y, n)
    with_lines = light_heavy.warmup(
        *args, ITERS=3, BLOCK=256, grid=(4,), instrumentation_mode="lines"
    )
    plain = light_heavy.warmup(*args, ITERS=3, BLOCK=256, grid=(4,))
    assert with_lines.metadata["line_info"] and not plain.metadata["line_info"]
    # line tables are data beside the code: the instructions are the same bytes
    assert _code(with_lines.binary) == _code(plain.binary)
    table = read_line_table(with_lines.binary)
    lines = {ln for rows in table.rows.values() for _off, ln, _f in rows}
    assert {_line_of("HEAVY"), _line_of("LIGHT")} <= lines
    assert any(os.path.basename(f) == os.path.basename(__file__) for f in table.files)
    with pytest.raises(ValueError, match="debug_line"):
        read_line_table(plain.binary)
    # and the kernel compiled with line tables computes the same thing
    light_heavy[(4,)](*args, ITERS=3, BLOCK=256, instrumentation_mode="lines")
    np.testing.assert_allclose(y, _reference(x, 3), rtol=1e-5, atol=1e-5)


@linux_x86
def test_sampled_lines_finds_the_heavy_line(rng: np.random.Generator) -> None:
    n = 1 << 14
    x = rng.standard_normal(n).astype(np.float32)
    y = np.full_like(x, np.nan)
    res = proton.sampling.sample_kernel(
        light_heavy, (n // 256,), x, y, n, ITERS=64, BLOCK=256, seconds=0.5, min_samples=100
    )
    np.testing.assert_allclose(y, _reference(x, 64), rtol=1e-4, atol=1e-4)
    per_line = {ln: c for (f, ln), c in res["lines"].items()}
    assert sum(per_line.values()) >= 20, res  # enough samples landed in the kernel
    heavy = per_line.get(_line_of("HEAVY"), 0)
    # 64 sin+cos per element against one add: the heavy line is most of the kernel's time
    assert heavy > 0.6 * sum(per_line.values()), res
    text = proton.sampled_lines(light_heavy, (n // 256,), x, y, n, ITERS=64, BLOCK=256, seconds=0.3)
    heavy_row = next(r for r in text.splitlines() if "# HEAVY" in r)
    assert heavy_row.split()[1].isdigit(), text  # the heavy line has a sample count


def test_sampled_lines_refuses_what_it_cannot_do(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.ones(16, np.float32)
    with pytest.raises(TypeError, match="@jit kernel"):
        proton.sampled_lines(lambda: None, (1,), x)
    with pytest.raises(ValueError, match="instrumentation_mode"):
        proton.sampled_lines(
            light_heavy, (1,), x, x, 16, ITERS=1, BLOCK=16, instrumentation_mode="lines"
        )
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(NotImplementedError, match="Linux on x86-64"):
        proton.sampled_lines(light_heavy, (1,), x, x, 16, ITERS=1, BLOCK=16)


def test_interpreted_launches_on_the_timeline(rng: np.random.Generator) -> None:
    n = 300
    x = rng.standard_normal(n).astype(np.float32)
    y = np.full_like(x, np.nan)
    proton.start("interp", data="trace")
    light_heavy[(2,)](x, y, n, ITERS=2, BLOCK=256)
    light_heavy.interpret = True
    try:
        y2 = np.full_like(x, np.nan)
        light_heavy[lambda meta: (triton_cdiv(n, meta["BLOCK"]),)](x, y2, n, ITERS=2, BLOCK=256)
    finally:
        light_heavy.interpret = False
    np.testing.assert_allclose(y, _reference(x, 2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y2, _reference(x, 2), rtol=1e-5, atol=1e-5)
    table = proton.table()
    assert "light_heavy [interpreted]" in table and "\nlight_heavy " in "\n" + table
    events = [e for e in proton.chrome_trace()["traceEvents"] if e.get("ph") == "X"]
    interp = [e for e in events if e["cat"] == "interpreted"]
    assert len(interp) == 1 and interp[0]["args"]["grid"] == [2, 1, 1]
    assert interp[0]["dur"] > 0
    proton.finalize()


def triton_cdiv(a: int, b: int) -> int:
    return tritium.cdiv(a, b)
