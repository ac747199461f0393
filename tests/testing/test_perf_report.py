"""perf_report/Benchmark as Triton's: tables, DataFrames, CSV, PNG plots, results.html."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from tritium import testing


def _bench(
    plot_name: str = "demo", ylabel: str = "GB/s", args: dict | None = None, **kw
) -> testing.Benchmark:
    return testing.Benchmark(
        x_names=["size"],
        x_vals=[8, 16, 32],
        line_arg="provider",
        line_vals=["a", "b"],
        line_names=["A", "B"],
        plot_name=plot_name,
        args={"scale": 2.0} if args is None else args,
        ylabel=ylabel,
        **kw,
    )


def _expected(size: int, provider: str, scale: float) -> float:
    return size * scale * (1.0 if provider == "a" else 2.5)


def test_print_data_without_dataframe(capsys) -> None:
    calls = []

    @testing.perf_report(_bench())
    def bench(size, provider, scale):
        calls.append((size, provider))
        return _expected(size, provider, scale)

    assert bench.run(print_data=True) is None
    out = capsys.readouterr().out
    assert out.startswith("demo:\n")
    assert "A (GB/s)" in out and "B (GB/s)" in out and "80" in out
    assert calls == [(s, p) for s in (8, 16, 32) for p in ("a", "b")]


def test_return_df_is_a_dataframe_with_triton_columns(rng) -> None:
    pd = pytest.importorskip("pandas")
    scale = float(rng.uniform(0.5, 3.0))

    @testing.perf_report(_bench(ylabel="ms", args={"scale": scale}))
    def bench(size, provider, scale):
        return _expected(size, provider, scale)

    df = bench.run(return_df=True)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["size", "A (ms)", "B (ms)"]
    assert df["size"].tolist() == [8, 16, 32]
    np.testing.assert_allclose(df["B (ms)"].to_numpy(), np.array([8, 16, 32]) * scale * 2.5)
    # A list of benchmarks gives a list of frames; extra run() kwargs reach the function.
    two = testing.perf_report([_bench("one"), _bench("two")])(
        lambda size, provider, scale, offset: size + offset
    ).run(return_df=True, offset=scale)
    assert isinstance(two, list) and len(two) == 2
    np.testing.assert_allclose(two[1]["A (GB/s)"].to_numpy(), np.array([8, 16, 32]) + scale)


def test_min_max_triples_and_diff_col() -> None:
    pd = pytest.importorskip("pandas")
    bench = testing.Benchmark(
        x_names=["n"],
        x_vals=[1, 2],
        line_arg="p",
        line_vals=["x"],
        line_names=["X"],
        plot_name="",
        args={},
    )
    df = testing.perf_report(bench)(lambda n, p: (n * 1.5, n * 1.0, n * 2.0)).run(
        return_df=True, diff_col=True
    )
    assert isinstance(df, pd.DataFrame)
    # Only the means are kept; with two columns Triton adds Diff = second - first.
    assert list(df.columns) == ["n", "X ()", "Diff"]
    np.testing.assert_allclose(df["Diff"].to_numpy(), [0.5, 1.0])
    with pytest.raises(ValueError, match=r"\(mean, min, max\)"):
        testing.perf_report(bench)(lambda n, p: (1.0, 2.0)).run()


def test_bad_x_vals_and_line_names() -> None:
    with pytest.raises(ValueError, match="line_names"):
        testing.Benchmark(["a"], [1], "p", [1, 2], ["one"], "t", {})
    bench = testing.Benchmark(["a", "b"], [(1, 2, 3)], "p", [1], ["one"], "t", {})
    with pytest.raises(ValueError, match="expected 2 x values"):
        testing.perf_report(bench)(lambda a, b, p: 0.0).run()


def test_save_path_writes_png_csv_and_html(tmp_path, rng) -> None:
    pytest.importorskip("matplotlib")
    scale = float(rng.uniform(0.5, 3.0))
    out = tmp_path / "new" / "dir"

    @testing.perf_report(_bench(args={"scale": scale}, styles=[("red", "-"), ("blue", "--")]))
    def bench(size, provider, scale):
        m = _expected(size, provider, scale)
        return m, 0.9 * m, 1.1 * m

    bench.run(save_path=str(out))
    png = (out / "demo.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    with open(out / "demo.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["size", "A (GB/s)", "B (GB/s)"]
    assert len(rows) == 4 and rows[1][0] == "8"
    for row in rows[1:]:
        size = int(row[0])
        assert math.isclose(float(row[2]), _expected(size, "b", scale), rel_tol=1e-6)
        assert len(row[1].split(".")[1]) == 6  # save_precision decimals, as Triton's
    assert '<image src="demo.png"/>' in (out / "results.html").read_text()


def test_csv_written_without_pandas(tmp_path, monkeypatch) -> None:
    """The CSV and the printed table do not need pandas (the fallback writer)."""
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    monkeypatch.setitem(sys.modules, "matplotlib", None)

    @testing.perf_report(_bench())
    def bench(size, provider, scale):
        return _expected(size, provider, scale)

    with pytest.warns(UserWarning, match="matplotlib is not installed"):
        bench.run(save_path=str(tmp_path), save_precision=3)
    rows = list(csv.reader(open(tmp_path / "demo.csv", newline="")))
    assert rows[0] == ["size", "A (GB/s)", "B (GB/s)"]
    assert rows[3] == ["32", "64.000", "160.000"]
    assert not os.path.exists(tmp_path / "demo.png")
    with pytest.raises(ImportError, match="pandas"):
        bench.run(return_df=True)


def test_import_tritium_testing_stays_light() -> None:
    code = (
        "import sys, tritium.testing; "
        "print(sorted(m for m in ('pandas', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
