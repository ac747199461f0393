"""tritium.testing: do_bench, assert_close, perf_report/Benchmark."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from tritium import testing


def test_do_bench_returns_milliseconds() -> None:
    calls = []
    ms = testing.do_bench(lambda: calls.append(1), warmup=1, rep=2)
    assert isinstance(ms, float) and 0 < ms < 1000 and len(calls) > 2
    q = testing.do_bench(lambda: None, warmup=1, rep=2, quantiles=[0.5, 0.2, 0.8])
    assert isinstance(q, list) and len(q) == 3 and q[1] <= q[0] <= q[2]
    assert isinstance(testing.do_bench(lambda: None, warmup=1, rep=2, return_mode="all"), list)
    with pytest.raises(ValueError, match="return_mode"):
        testing.do_bench(lambda: None, return_mode="avg")


def test_do_bench_runs_a_slow_call_few_times() -> None:
    import time

    calls = []
    testing.do_bench(lambda: (calls.append(1), time.sleep(0.02)), warmup=1, rep=5)
    assert len(calls) == 2  # the compile call and one timed call


def test_assert_close() -> None:
    x = np.random.default_rng(1).random(100)
    testing.assert_close(x, x + 1e-4)
    testing.assert_close(x.astype(ml_dtypes.bfloat16), x, atol=1e-2, rtol=1e-2)
    with pytest.raises(AssertionError):
        testing.assert_close(x, x + 1)
    testing.assert_close(np.array([True, False]), np.array([True, False]))
    testing.assert_close(x, x + 0.5, atol=lambda dtype: 1.0)  # Triton: tolerance per dtype
    assert testing.do_bench_cudagraph(lambda: None, rep=2) >= 0


def test_assert_close_torch() -> None:
    torch = pytest.importorskip("torch")
    t = torch.rand(10, dtype=torch.bfloat16)
    testing.assert_close(t, t.float().numpy())


def test_perf_report_prints_a_table(capsys) -> None:
    @testing.perf_report(
        testing.Benchmark(
            x_names=["size"],
            x_vals=[8, 16],
            line_arg="provider",
            line_vals=["a", "b"],
            line_names=["A", "B"],
            plot_name="demo",
            args={"scale": 2.0},
        )
    )
    def bench(size, provider, scale):
        return size * scale * (1 if provider == "a" else 2)

    assert bench.run(print_data=True) is None  # return_df: tests/testing/test_perf_report.py
    out = capsys.readouterr().out
    assert "demo:" in out and "size" in out and "64" in out
