# ruff: noqa: F811 (the shared fixtures are imported from test_autotuner)
"""Autotuning choices that outlive a process, and what tuning prints: ``cache_results`` and
``TRITON_CACHE_AUTOTUNING`` (Triton's), pinned-results files, ``TRITIUM_AUTOTUNE=off|require``,
``TRITON_PRINT_AUTOTUNING`` and the progress line. Compiled and interpreted (``mode``)."""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import pytest
from test_autotuner import _Bench, _configs, _grid, _inc, _tracking, _tuner, mode, rng  # noqa: F401

from tritium.runtime import autotune_report, autotune_store
from tritium.runtime.autotuner import (
    AutotunerError,
    clear_pinned_results,
    load_autotune_results,
    save_autotune_results,
)


def _fail_bench(kernel_call: Any, quantiles: Any) -> list[float]:
    raise AssertionError("benchmarked although the choice was pinned or cached")


def _inc_tuner(**kw: Any) -> Any:
    return _tuner(_inc, _configs(16, 32, 64), ["n"], restore_value=["x_ptr"], **kw)


def _run(k: Any, x: np.ndarray) -> None:
    y = x.copy()
    k[_grid(len(x))](y, len(x))
    np.testing.assert_array_equal(y, x + 1)


# ----- Triton's disk cache -----------------------------------------------------------------


@pytest.mark.parametrize("how", ["cache_results", "env"])
def test_cache_results(mode, rng, monkeypatch, tmp_path, how) -> None:
    """A second autotuner over the same kernel finds the first one's timings on disk and does
    not benchmark; as in Triton, interpreted launches neither read nor write that cache."""
    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(tmp_path))
    kw: dict[str, Any] = {"cache_results": True} if how == "cache_results" else {}
    if how == "env":
        monkeypatch.setenv("TRITON_CACHE_AUTOTUNING", "1")
    x = rng.standard_normal(40).astype(np.float32)
    k1 = _inc_tuner(do_bench=_Bench({}), **kw)
    _run(k1, x)
    stored = list((tmp_path / "autotune").rglob("*.json")) if mode == "compiled" else []
    k2 = _inc_tuner(do_bench=_fail_bench if mode == "compiled" else _Bench(), **kw)
    _run(k2, x)
    if mode == "compiled":
        assert len(stored) == 1
        doc = json.loads(stored[0].read_text())
        assert doc["key"] == ["40", "float32"] and len(doc["configs_timings"]) == 3
        assert k2.best_config == k1.best_config and k2.configs_timings == k1.configs_timings
    else:
        assert not (tmp_path / "autotune").exists()


def test_cache_results_skips_configs_with_hooks(mode, rng, monkeypatch, tmp_path) -> None:
    """A config ``pre_hook`` cannot be saved, so Triton benchmarks every time."""
    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(tmp_path))
    x = rng.standard_normal(40).astype(np.float32)
    for _ in range(2):
        bench = _Bench()
        k = _tuner(
            _inc,
            _configs(16, 32, pre_hook=_tracking(bench)),
            ["n"],
            restore_value=["x_ptr"],
            cache_results=True,
            do_bench=bench,
        )
        _run(k, x)
        assert bench.calls == 2
    assert not (tmp_path / "autotune").exists()


# ----- pinned results ----------------------------------------------------------------------


def test_pinned_file_round_trip(mode, rng, monkeypatch, tmp_path) -> None:
    """``save_autotune_results`` writes what was chosen; loaded (API or TRITIUM_AUTOTUNE_FILE),
    the same kernel and key use it without benchmarking; another key still tunes."""
    x = rng.standard_normal(48).astype(np.float32)
    bench = _Bench({16: 3.0, 32: 1.0, 64: 2.0})
    k1 = _tuner(
        _inc,
        _configs(16, 32, 64, pre_hook=_tracking(bench)),
        ["n"],
        restore_value=["x_ptr"],
        do_bench=bench,
    )
    _run(k1, x)
    assert k1.best_config.kwargs == {"BLOCK": 32}
    path = tmp_path / "pins.json"
    assert save_autotune_results(str(path), [k1]) == 1
    doc = json.loads(path.read_text())
    entry = doc["entries"][0]
    assert doc["format"] == "tritium-autotune/1"
    assert entry["key"] == ["48", "float32"] and entry["config"]["kwargs"] == {"BLOCK": 32}
    assert entry["kernel"].endswith("test_autotuner._inc")

    for how in ("api", "env"):
        clear_pinned_results()
        if how == "api":
            assert load_autotune_results(str(path)) == 1
        else:
            monkeypatch.setenv("TRITIUM_AUTOTUNE_FILE", str(path))
        k2 = _tuner(_inc, k1.configs, ["n"], restore_value=["x_ptr"], do_bench=_fail_bench)
        _run(k2, x)
        assert k2.best_config is k1.configs[1]  # the tuner's own object, its hook included
        bench2 = _Bench()  # a new key still benchmarks
        k3 = _tuner(_inc, _configs(16, 32, 64), ["n"], restore_value=["x_ptr"], do_bench=bench2)
        _run(k3, x[:20])
        assert bench2.calls == 3
    monkeypatch.delenv("TRITIUM_AUTOTUNE_FILE")


def test_pinned_entry_for_another_target_is_ignored(mode, rng, tmp_path) -> None:
    """A pin names its target; one for another machine does not apply (``null``: any)."""
    x = rng.standard_normal(24).astype(np.float32)
    entry = {"kernel": autotune_store.kernel_id(_inc.fn), "key": ["24", "float32"]}
    cfg = {"kwargs": {"BLOCK": 64}, "num_warps": 4}
    path = tmp_path / "pins.json"
    doc = {"format": "tritium-autotune/1", "entries": [dict(entry, target="elsewhere", config=cfg)]}
    path.write_text(json.dumps(doc))
    load_autotune_results(str(path))
    bench = _Bench()
    k = _inc_tuner(do_bench=bench)
    _run(k, x)
    assert bench.calls == 3
    doc["entries"] = [dict(entry, target=None, config=cfg)]
    path.write_text(json.dumps(doc))
    load_autotune_results(str(path))
    k = _inc_tuner(do_bench=_fail_bench)
    _run(k, x)
    assert k.best_config.kwargs == {"BLOCK": 64}


def test_malformed_pinned_file(tmp_path) -> None:
    path = tmp_path / "pins.json"
    path.write_text('{"entries": []}')
    with pytest.raises(ValueError, match="format"):
        load_autotune_results(str(path))
    path.write_text('{"format": "tritium-autotune/1", "entries": [{"kernel": "k"}]}')
    with pytest.raises(ValueError, match="entry 0 is malformed"):
        load_autotune_results(str(path))


def test_autotune_off_and_require(mode, rng, monkeypatch) -> None:
    """TRITIUM_AUTOTUNE=off never benchmarks: the first config left by pruning; =require
    raises, naming the kernel and key, where it would have benchmarked."""
    x = rng.standard_normal(30).astype(np.float32)
    monkeypatch.setenv("TRITIUM_AUTOTUNE", "off")
    prune = {"early_config_prune": lambda configs, nargs, **kw: configs[1:]}
    k = _inc_tuner(do_bench=_fail_bench, prune_configs_by=prune)
    _run(k, x)
    assert k.best_config.kwargs == {"BLOCK": 32}
    monkeypatch.setenv("TRITIUM_AUTOTUNE", "require")
    k = _inc_tuner(do_bench=_fail_bench)
    with pytest.raises(AutotunerError, match=r"test_autotuner\._inc with key \(30, 'float32'\)"):
        _run(k, x)
    monkeypatch.setenv("TRITIUM_AUTOTUNE", "sometimes")
    with pytest.raises(ValueError, match="TRITIUM_AUTOTUNE"):
        _run(_inc_tuner(do_bench=_fail_bench), x)


# ----- printing and progress ---------------------------------------------------------------


@pytest.mark.parametrize("close", [False, True])
def test_print_autotuning(mode, rng, monkeypatch, capsys, close) -> None:
    """TRITON_PRINT_AUTOTUNING=1: a line per config benchmarked and Triton's summary per tuned
    kernel; tritium's note when the two fastest time within noise. Nothing on a cached key."""
    monkeypatch.setenv("TRITON_PRINT_AUTOTUNING", "1")
    x = rng.standard_normal(40).astype(np.float32)
    times = {16: 3.0, 32: 1.0, 64: 1.005 if close else 2.0}
    bench = _Bench(times)
    k = _tuner(
        _inc,
        _configs(16, 32, 64, pre_hook=_tracking(bench)),
        ["n"],
        restore_value=["x_ptr"],
        do_bench=bench,
    )
    _run(k, x)
    out = capsys.readouterr().out
    assert out.count("Autotuning kernel _inc with config BLOCK: ") == 3
    assert (
        "Triton autotuning for function _inc,\nwith key as (40, 'float32'),\nfinished after " in out
    )
    assert "best config selected: BLOCK: 32, num_warps: 4, num_ctas: 1, num_stages: 3" in out
    assert ("within measured noise" in out) == close
    _run(k, x)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("tqdm", [False, True])
def test_progress_after_a_second(mode, rng, monkeypatch, capsys, tqdm) -> None:
    """Tuning that takes over a second shows progress on stderr (tqdm when installed)."""
    clock = iter(range(100))
    monkeypatch.setattr(autotune_report, "_now", lambda: 0.6 * next(clock))
    if tqdm:
        pytest.importorskip("tqdm")
    else:
        monkeypatch.setitem(sys.modules, "tqdm", None)
    x = rng.standard_normal(40).astype(np.float32)
    _run(_inc_tuner(do_bench=_Bench()), x)
    err = capsys.readouterr().err
    assert "autotuning _inc" in err
    if not tqdm:
        assert "autotuning _inc: 2/3 configs" in err and err.endswith("\n")
        assert "1/3" not in err  # under a second: nothing yet
    monkeypatch.setenv("TRITIUM_AUTOTUNE_PROGRESS", "0")
    _run(_inc_tuner(do_bench=_Bench()), x)
    assert capsys.readouterr().err == ""
