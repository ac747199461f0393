"""The autotuner against Triton's ``runtime/autotuner.py``, behaviour by behaviour, on real
kernels run compiled and interpreted (``mode``).

Benchmark timers are replaced by scripted ones (``_Bench``) where a test needs a given config to
win: what is checked is what the autotuner does around the launches, never how fast they are.
The base kernels are module-level ``@jit`` functions wrapped in a fresh ``Autotuner`` per test,
so each config compiles once per session.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium.errors import CompileTimeAssertionFailure, OutOfResources
from tritium.runtime.autotuner import (
    Autotuner,
    AutotunerError,
    clear_pinned_results,
)


@pytest.fixture(params=["compiled", "interpreted"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test's launches compiled or interpreted (``TRITIUM_INTERPRET=1``)."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    for var in ("TRITON_PRINT_AUTOTUNING", "TRITON_CACHE_AUTOTUNING", "TRITIUM_AUTOTUNE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("TRITIUM_AUTOTUNE_FILE", raising=False)
    if request.param == "interpreted":
        monkeypatch.setenv("TRITIUM_INTERPRET", "1")
    else:
        monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    clear_pinned_results()
    yield request.param
    clear_pinned_results()


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """Fresh random inputs per run and per test (TRITIUM_TEST_SEED replays a run); sums are
    taken of positive values, so a relative tolerance holds whatever the seed."""
    test_id = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng([int(os.environ.get("TRITIUM_TEST_SEED", "0")), test_id])


@tritium.jit
def _acc(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    """out[0] += sum(x): accumulates, so it needs reset_to_zero under tuning."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.atomic_add(out_ptr, tl.sum(tl.load(x_ptr + offs, mask=offs < n, other=0.0)))


@tritium.jit
def _inc(x_ptr, n, BLOCK: tl.constexpr):
    """x += 1 in place: needs restore_value under tuning."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=m) + 1.0, mask=m)


@tritium.jit
def _scale(x_ptr, y_ptr, n, alpha, BLOCK: tl.constexpr):
    """y = alpha * x, with BLOCK at most 32 (a failing static_assert above)."""
    tl.static_assert(BLOCK <= 32, "BLOCK too large")
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(y_ptr + offs, alpha * tl.load(x_ptr + offs, mask=m), mask=m)


def _grid(n: int) -> Callable[[dict[str, Any]], tuple[int]]:
    return lambda meta: (tritium.cdiv(n, meta["BLOCK"]),)


def _configs(*blocks: int, **extra: Any) -> list[tritium.Config]:
    return [tritium.Config({"BLOCK": b}, **extra) for b in blocks]


class _Bench:
    """A ``do_bench`` that runs each config ``reps`` times and reports scripted times (ms, by
    BLOCK), recording what the buffers held after each launch."""

    def __init__(self, times: dict[int, float] | None = None, reps: int = 2) -> None:
        self.times = times or {}
        self.reps = reps
        self.calls = 0
        self.observed: list[Any] = []
        self.watch: Callable[[], Any] | None = None
        self.current: dict[str, Any] = {}

    def __call__(self, kernel_call: Callable[[], None], quantiles: Any) -> list[float]:
        self.calls += 1
        for _ in range(self.reps):
            kernel_call()
            if self.watch is not None:
                self.observed.append(self.watch())
        t = self.times.get(self.current.get("BLOCK"), float(self.calls))
        return [t, t * 0.99, t * 1.01]


def _tracking(bench: _Bench) -> Callable[[dict[str, Any]], None]:
    """A config pre_hook that tells ``bench`` which config is being timed."""

    def hook(nargs: dict[str, Any]) -> None:
        bench.current = nargs

    return hook


def _tuner(fn: Any, configs: list[tritium.Config], key: list[str], **kw: Any) -> Autotuner:
    return tritium.autotune(configs=configs, key=key, **kw)(fn)


# ----- reset_to_zero -----------------------------------------------------------------------


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_reset_to_zero_before_each_benchmark_and_the_real_launch(mode, rng, lib) -> None:
    """The issue's case: zeroed before every benchmarked launch and once more before the launch
    that produces the result; a launch whose key is cached is not reset."""
    n = 1000
    x = rng.uniform(0.5, 1.5, n).astype(np.float32)
    out = np.full(1, np.nan, np.float32)
    if lib == "torch":
        torch = pytest.importorskip("torch")
        x, out = torch.from_numpy(x), torch.from_numpy(out)
    bench = _Bench(reps=3)
    bench.watch = lambda: float(out[0])
    k = _tuner(_acc, _configs(64, 128), ["n"], reset_to_zero=["out_ptr"], do_bench=bench)
    out[0] = 0.0
    k[_grid(n)](x, out, n)
    ref = float(np.asarray(x, np.float64).sum())
    assert bench.calls == 2 and len(bench.observed) == 6
    np.testing.assert_allclose(bench.observed, ref, rtol=1e-5)  # each started from zero
    np.testing.assert_allclose(float(out[0]), ref, rtol=1e-5)  # not doubled
    k[_grid(n)](x, out, n)  # cache hit: no reset, Triton's result is 2 * sum
    np.testing.assert_allclose(float(out[0]), 2 * ref, rtol=1e-5)
    assert bench.calls == 2


def test_single_config_after_pruning_is_not_benchmarked_nor_reset(mode, rng) -> None:
    """Pruned to one config, Triton neither benchmarks nor resets (like a one-config tuner)."""
    n = 300
    x = rng.uniform(0.5, 1.5, n).astype(np.float32)
    out = np.array([5.0], np.float32)
    bench = _Bench()
    k = _tuner(
        _acc,
        _configs(64, 128),
        ["n"],
        reset_to_zero=["out_ptr"],
        do_bench=bench,
        prune_configs_by={"early_config_prune": lambda configs, nargs, **kw: configs[:1]},
    )
    k[_grid(n)](x, out, n)
    assert bench.calls == 0 and k.best_config.kwargs == {"BLOCK": 64}
    np.testing.assert_allclose(out[0], 5.0 + x.astype(np.float64).sum(), rtol=1e-5)


def test_user_pre_hook_replaces_the_reset(mode, rng) -> None:
    """A pre_hook on the autotuner replaces reset_to_zero/restore_value; it is called with the
    launch's arguments before each benchmarked launch, then with reset_only=True."""
    n = 200
    x = rng.uniform(0.5, 1.5, n).astype(np.float32)
    out = np.zeros(1, np.float32)
    calls: list[tuple[str, Any]] = []

    def pre(kwargs: dict[str, Any], reset_only: bool = False) -> None:
        calls.append(("pre", reset_only))
        assert kwargs["out_ptr"] is out and kwargs["n"] == n and "BLOCK" in kwargs

    def post(kwargs: dict[str, Any], exception: BaseException | None) -> None:
        calls.append(("post", exception))

    bench = _Bench(reps=1)
    k = _tuner(
        _acc,
        _configs(64, 128),
        ["n"],
        reset_to_zero=["out_ptr"],
        pre_hook=pre,
        post_hook=post,
        do_bench=bench,
    )
    assert k.user_defined_pre_hook and k.user_defined_post_hook
    k[_grid(n)](x, out, n)
    assert calls == [("pre", False), ("post", None), ("pre", False), ("post", None), ("pre", True)]
    # No built-in reset: the three launches all added into out.
    np.testing.assert_allclose(out[0], 3 * x.astype(np.float64).sum(), rtol=1e-5)


def test_hook_order_and_arguments(mode, rng) -> None:
    """Per benchmarked launch: config pre_hook, autotuner pre_hook, launch, post_hook; after
    tuning the reset_only pre_hook, then the chosen config's pre_hook and the real launch.
    The hooks get positional and keyword arguments, the config's values and grid/warmup."""
    n = 100
    x = rng.standard_normal(n).astype(np.float32)
    events: list[Any] = []

    times = {32: 2.0, 64: 1.0}
    bench = _Bench(times, reps=1)

    def cfg_hook(nargs: dict[str, Any]) -> None:
        bench.current = nargs
        events.append(("config", nargs["BLOCK"], nargs["num_warps"]))

    configs = _configs(32, 64, pre_hook=cfg_hook)

    def pre(kwargs: dict[str, Any], reset_only: bool = False) -> None:
        assert {"x_ptr", "n", "BLOCK", "grid", "warmup"} <= set(kwargs)
        events.append(("pre", reset_only, kwargs["BLOCK"]))

    def post(kwargs: dict[str, Any], exception: BaseException | None) -> None:
        events.append(("post", exception))

    k = _tuner(_inc, configs, ["n"], pre_hook=pre, post_hook=post, do_bench=bench)
    k[_grid(n)](x, n=n)
    assert events == [
        ("config", 32, 4), ("pre", False, 32), ("post", None),
        ("config", 64, 4), ("pre", False, 64), ("post", None),
        ("pre", True, 64),
        ("config", 64, 4),
    ]  # fmt: skip


def test_post_hook_sees_the_exception_of_a_failed_launch(mode, rng) -> None:
    """A launch that fails with an error that is not a compile failure reaches post_hook as
    ``exception`` and then propagates (Triton's order)."""
    seen: list[Any] = []
    k = _tuner(
        _inc,
        [tritium.Config({"BLOCK": 16}), tritium.Config({"BLOCK": 16, "NOT_A_PARAM": 1})],
        ["n"],
        post_hook=lambda kwargs, exception: seen.append(type(exception)),
        do_bench=_Bench(reps=1),
    )
    with pytest.raises(TypeError, match="NOT_A_PARAM"):
        k[_grid(16)](np.zeros(16, np.float32), 16)
    assert seen == [type(None), TypeError]


# ----- restore_value -----------------------------------------------------------------------


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_restore_value(mode, rng, lib) -> None:
    """In-place updates are undone after each benchmarked launch, not after the real one."""
    n = 100
    x0 = rng.standard_normal(n).astype(np.float32)
    x = x0.copy()
    if lib == "torch":
        torch = pytest.importorskip("torch")
        x = torch.from_numpy(x)
    bench = _Bench(reps=3)
    bench.watch = lambda: np.asarray(x).copy()
    k = _tuner(_inc, _configs(32, 64), ["n"], restore_value=["x_ptr"], do_bench=bench)
    k[_grid(n)](x, n)
    assert len(bench.observed) == 6
    for seen in bench.observed:  # put back after each benchmarked launch
        np.testing.assert_array_equal(seen, x0)
    np.testing.assert_array_equal(np.asarray(x), x0 + 1)


# ----- prune_configs_by --------------------------------------------------------------------


def test_early_config_prune_gets_named_args_and_kwargs(mode, rng) -> None:
    """``early_config_prune(configs, named_args, **kwargs)``: positional arguments by name, and
    the keyword arguments of the launch (a prune function reading kwargs["N_CTX"] works)."""
    n = 64
    x = rng.standard_normal(n).astype(np.float32)
    y = np.full(n, np.nan, np.float32)
    seen: dict[str, Any] = {}

    def prune(configs, named_args, **kwargs):
        seen["named"], seen["kwargs"] = set(named_args), dict(kwargs)
        return [c for c in configs if c.kwargs["BLOCK"] <= kwargs["alpha"] * 8]

    bench = _Bench()
    k = _tuner(
        _scale, _configs(8, 16, 32), ["n"], do_bench=bench,
        prune_configs_by={"early_config_prune": prune},
    )  # fmt: skip
    k[_grid(n)](x, y, n, alpha=2.0)
    assert seen["named"] == {"x_ptr", "y_ptr", "n"}
    assert seen["kwargs"]["alpha"] == 2.0 and {"grid", "warmup"} <= set(seen["kwargs"])
    assert bench.calls == 2 and {c.kwargs["BLOCK"] for c in k.configs_timings} == {8, 16}
    np.testing.assert_allclose(y, 2.0 * x, rtol=1e-6)
    k2 = _tuner(
        _scale, _configs(8, 16), ["n"],
        prune_configs_by={"early_config_prune": lambda configs, named, **kw: []},
    )  # fmt: skip
    with pytest.raises(AutotunerError, match="at least one config"):
        k2[_grid(n)](x, y, n, 1.0)


@pytest.mark.parametrize("top_k, kept", [(2, {16, 32}), (0.5, {16, 32}), (0.1, {32})])
def test_perf_model_and_top_k(mode, rng, top_k, kept) -> None:
    """``perf_model(**named_args, **kwargs, **config.all_kwargs())`` ranks the configs; the
    ``top_k`` best (an int, or a fraction of the survivors, at least one) are benchmarked."""
    n = 64
    x = rng.standard_normal(n).astype(np.float32)
    y = np.full(n, np.nan, np.float32)
    model_args: list[set[str]] = []

    def model(**kw):
        model_args.append(set(kw))
        return abs(kw["BLOCK"] - 32)

    bench = _Bench()
    k = _tuner(
        _scale, _configs(4, 8, 16, 32), ["n"], do_bench=bench,
        prune_configs_by={"perf_model": model, "top_k": top_k},
    )  # fmt: skip
    k[_grid(n)](x, y, n, 3.0)
    assert {"x_ptr", "y_ptr", "n", "alpha", "BLOCK", "num_warps", "grid"} <= model_args[0]
    assert {c.kwargs["BLOCK"] for c in (k.configs_timings or {k.best_config: 0})} == kept
    np.testing.assert_allclose(y, 3.0 * x, rtol=1e-6)
    with pytest.raises(TypeError, match="top_k"):
        bad = _tuner(
            _scale, _configs(8, 16), ["n"], prune_configs_by={"perf_model": model, "top_k": "2"}
        )
        bad[_grid(n)](x, y, n, 3.0)


# ----- configs that fail to compile --------------------------------------------------------


def test_static_assert_failure_prunes_the_config(mode, rng) -> None:
    """A config whose kernel fails ``tl.static_assert`` times inf and is never chosen, even
    when the timer would have preferred it (compiled: CompileTimeAssertionFailure)."""
    n = 100
    x = rng.standard_normal(n).astype(np.float32)
    y = np.full(n, np.nan, np.float32)
    bench = _Bench({16: 5.0, 64: 1.0})
    configs = _configs(16, 64, pre_hook=_tracking(bench))
    k = _tuner(_scale, configs, ["n"], do_bench=bench)
    k[_grid(n)](x, y, n, -1.5)
    assert k.best_config.kwargs == {"BLOCK": 16}
    assert k.configs_timings[configs[1]] == [float("inf")] * 3
    np.testing.assert_allclose(y, -1.5 * x, rtol=1e-6)
    if mode == "compiled":
        with pytest.raises(CompileTimeAssertionFailure):
            _scale[(1,)](x, y, n, 1.0, BLOCK=64)


def test_out_of_resources_prunes_the_config(mode, rng) -> None:
    """``OutOfResources`` raised while timing a config (a launch, or a hook) prunes it."""
    n = 100
    x = rng.standard_normal(n).astype(np.float32)

    def too_big(nargs: dict[str, Any]) -> None:
        raise OutOfResources(1 << 20, 1 << 16, "shared memory")

    configs = [tritium.Config({"BLOCK": 32}, pre_hook=too_big), tritium.Config({"BLOCK": 64})]
    k = _tuner(_inc, configs, ["n"], restore_value=["x_ptr"], do_bench=_Bench())
    x1 = x.copy()
    k[_grid(n)](x1, n)
    assert k.best_config is configs[1]
    assert k.configs_timings[configs[0]] == [float("inf")] * 3
    np.testing.assert_array_equal(x1, x + 1)


# ----- key -----------------------------------------------------------------------------------


def test_key_values_dtypes_and_unknown_names(mode, rng) -> None:
    """A new value of a ``key`` argument or a new argument dtype re-tunes; other arguments do
    not; key names that are not parameters are ignored (fla relies on it)."""
    bench = _Bench()
    k = _tuner(
        _inc, _configs(16, 32), ["n", "NOT_A_PARAM"], restore_value=["x_ptr"], do_bench=bench
    )
    x = rng.standard_normal(64).astype(np.float32)
    expect = x.copy()
    k[_grid(64)](x, 64)
    expect += 1
    assert bench.calls == 2 and set(k.cache) == {(64, "float32")}
    k[_grid(32)](x, 32)  # a new n
    expect[:32] += 1
    assert bench.calls == 4
    x64 = x.astype(np.float64)
    k[_grid(32)](x64, 32)  # a new dtype
    assert bench.calls == 6 and (32, "float64") in k.cache
    k[_grid(32)](x, n=32)  # the same key passed by keyword
    expect[:32] += 1
    assert bench.calls == 6
    np.testing.assert_array_equal(x, expect)


def test_warm_launches_find_the_key_of_their_arguments(mode, rng) -> None:
    """Warm launches look the tuning key up from the arguments' dtype objects (``_fast_key_fn``):
    dtypes given positionally or by keyword, a cleared ``cache`` and the lazily made ``nargs``
    all behave as with the full key."""
    bench = _Bench()
    seen: list[dict[str, Any]] = []
    k: Autotuner | None = None

    def hook(nargs: dict[str, Any]) -> None:
        assert k is not None
        seen.append(dict(k.nargs or {}))

    k = _tuner(_scale, _configs(16, 32, pre_hook=hook), ["n"], do_bench=bench)
    n = 48
    x = rng.standard_normal(n).astype(np.float32)
    x64 = x.astype(np.float64)
    cases = [  # (x, alpha, alpha by keyword, benchmark calls after the launch)
        (x, 2.5, False, 2),
        (x, 2.5, False, 2),
        (x, np.float64(-1.5), True, 4),  # a new dtype, by keyword: a new key
        (x, np.float32(0.5), True, 6),
        (x, np.float32(0.5), True, 6),
        (x64, 2.5, False, 8),
        (x64, 2.5, False, 8),
    ]
    for step, (xs, alpha, by_keyword, calls) in enumerate(cases):
        y = np.full(n, np.nan, xs.dtype)
        if by_keyword:
            k[_grid(n)](xs, y, n, alpha=alpha)
        else:
            k[_grid(n)](xs, y, n, alpha)
        np.testing.assert_allclose(y, float(alpha) * xs.astype(np.float64), rtol=1e-6)
        assert bench.calls == calls, step
        # k.nargs: the positional arguments only, as in Triton
        assert seen[-1]["x_ptr"] is xs and seen[-1]["n"] == n
        assert ("alpha" in seen[-1]) != by_keyword
    assert set(k.cache) == {
        (n, "float32", "float32"),
        (n, "float32", "float32", "float64"),
        (n, "float32", "float32", "float32"),
        (n, "float64", "float64"),
    }
    assert k.nargs is None  # outside a launch
    k.cache.clear()
    y = np.full(n, np.nan, np.float32)
    k[_grid(n)](x, y, n, -1.0)
    assert bench.calls == 10  # the cleared cache tunes again
    np.testing.assert_allclose(y, -x.astype(np.float64), rtol=1e-6)


# ----- benchmarking overrides --------------------------------------------------------------


def test_do_bench_warmup_rep_overrides(mode, rng, monkeypatch, capsys) -> None:
    """``do_bench`` replaces the timer; Triton's deprecated ``warmup``/``rep`` warn and win over
    it; the default timer reads TRITON_AUTOTUNE_WARMUP_MS/REP_MS and says so when they are set."""
    x = rng.standard_normal(32).astype(np.float32)
    bench = _Bench()
    k = _tuner(_inc, _configs(16, 32), ["n"], restore_value=["x_ptr"], do_bench=bench)
    k[_grid(32)](x.copy(), 32)
    assert bench.calls == 2
    with pytest.warns(DeprecationWarning, match="deprecated"):
        k2 = _tuner(_inc, _configs(16, 32), ["n"], do_bench=bench, warmup=1, rep=1)
    k2[_grid(32)](x.copy(), 32)
    assert bench.calls == 2 and set(k2.configs_timings) == set(k2.configs)
    monkeypatch.setenv("TRITON_AUTOTUNE_WARMUP_MS", "1")
    monkeypatch.setenv("TRITON_AUTOTUNE_REP_MS", "2")
    k3 = _tuner(_inc, _configs(16, 32), ["n"], restore_value=["x_ptr"])
    y = x.copy()
    k3[_grid(32)](y, 32)
    assert "Autotuning benchmarker using warmup=1ms, rep=2ms" in capsys.readouterr().out
    assert all(len(t) == 3 and t[0] > 0 for t in k3.configs_timings.values())
    np.testing.assert_array_equal(y, x + 1)


# ----- attributes --------------------------------------------------------------------------


def test_attributes(mode, rng) -> None:
    """``best_config``, ``configs_timings`` (config -> [median, p20, p80]) and ``bench_time``
    as Triton sets them; ``user_defined_*_hook`` False for the built-in hooks."""
    x = rng.standard_normal(32).astype(np.float32)
    bench = _Bench({16: 2.0, 32: 1.0})
    configs = _configs(16, 32, pre_hook=_tracking(bench))
    k = _tuner(_inc, configs, ["n"], restore_value=["x_ptr"], do_bench=bench)
    assert not k.user_defined_pre_hook and not k.user_defined_post_hook
    k[_grid(32)](x, 32)
    assert k.best_config is configs[1]
    assert k.configs_timings == {
        configs[0]: [2.0, 2.0 * 0.99, 2.0 * 1.01],
        configs[1]: [1.0, 0.99, 1.01],
    }
    assert isinstance(k.bench_time, float) and k.bench_time >= 0
    assert k.cache == {(32, "float32"): configs[1]}


def test_config_surface() -> None:
    """Config's fields, all_kwargs, str, equality and hash as Triton's."""
    c = tritium.Config({"BLOCK": 32}, num_warps=8, num_stages=2)
    assert c.all_kwargs() == {"BLOCK": 32, "num_warps": 8, "num_ctas": 1, "num_stages": 2}
    assert str(c) == "BLOCK: 32, num_warps: 8, num_ctas: 1, num_stages: 2, maxnreg: None"
    assert c == tritium.Config({"BLOCK": 32}, num_warps=8, num_stages=2)
    assert hash(c) == hash(tritium.Config({"BLOCK": 32}, num_warps=8, num_stages=2))
    assert c != tritium.Config({"BLOCK": 32}, num_warps=4, num_stages=2)
    assert tritium.Config({}, ir_override="k.ttir").all_kwargs()["ir_override"] == "k.ttir"


# ----- heuristics composed with autotune ---------------------------------------------------


@tritium.jit
def _masked_inc(x_ptr, n, BLOCK: tl.constexpr, EVEN: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    if EVEN:
        tl.store(x_ptr + offs, tl.load(x_ptr + offs) + 1.0)
    else:
        m = offs < n
        tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=m) + 1.0, mask=m)


def test_autotune_over_heuristics(mode, rng) -> None:
    """``@autotune`` outside ``@heuristics``: each heuristic sees the config's values."""
    even: list[bool] = []

    def is_even(args: dict[str, Any]) -> bool:
        even.append(args["n"] % args["BLOCK"] == 0)
        return even[-1]

    inner = tritium.heuristics({"EVEN": is_even})(_masked_inc)
    k = _tuner(inner, _configs(16, 32), ["n"], restore_value=["x_ptr"], do_bench=_Bench())
    x = rng.standard_normal(96).astype(np.float32)
    y = x.copy()
    k[_grid(96)](y, 96)
    assert set(even) == {True}
    np.testing.assert_array_equal(y, x + 1)
    y = x[:40].copy()
    k[_grid(40)](y, 40)
    assert even[-1] is False
    np.testing.assert_array_equal(y, x[:40] + 1)


def test_heuristics_over_autotune(mode, rng) -> None:
    """``@heuristics`` outside ``@autotune``: the heuristic's value is a keyword argument of the
    tuner's launch, visible to pruning (and part of the key if ``key`` names it)."""
    seen: list[Any] = []

    def prune(configs, named_args, **kwargs):
        seen.append(kwargs["EVEN"])
        return configs

    bench = _Bench()
    inner = _tuner(
        _masked_inc, _configs(16, 32), ["n"], restore_value=["x_ptr"], do_bench=bench,
        prune_configs_by={"early_config_prune": prune},
    )  # fmt: skip
    k = tritium.heuristics({"EVEN": lambda args: args["n"] % 32 == 0})(inner)
    x = rng.standard_normal(64).astype(np.float32)
    for n in (64, 50):
        y = x[:n].copy()
        k[_grid(n)](y, n)
        np.testing.assert_array_equal(y, x[:n] + 1)
    assert seen == [True, False] and bench.calls == 4


# ----- beyond Triton: threads --------------------------------------------------------------


def test_threads_launch_at_once(mode, rng) -> None:
    """Autotuned kernels called from several threads at once give the right answers: reset and
    restore state is per thread, and a key is tuned once."""
    sizes = [100, 200, 100, 300, 200, 100]
    xs = [rng.uniform(0.5, 1.5, n).astype(np.float32) for n in sizes]
    acc = _tuner(_acc, _configs(64, 128), ["n"], reset_to_zero=["out_ptr"], do_bench=_Bench())
    inc = _tuner(_inc, _configs(64, 128), ["n"], restore_value=["x_ptr"], do_bench=_Bench())
    outs = [np.zeros(1, np.float32) for _ in sizes]
    incs = [x.copy() for x in xs]
    barrier = threading.Barrier(len(sizes))
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            acc[_grid(sizes[i])](xs[i], outs[i], sizes[i])
            inc[_grid(sizes[i])](incs[i], sizes[i])
        except BaseException as e:  # reported below, with the thread's traceback
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(sizes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for x, out, y in zip(xs, outs, incs):
        np.testing.assert_allclose(out[0], x.astype(np.float64).sum(), rtol=1e-5)
        np.testing.assert_array_equal(y, x + 1)
    assert set(acc.cache) == {(n, "float32", "float32") for n in set(sizes)}
