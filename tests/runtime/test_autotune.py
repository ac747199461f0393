"""autotune, Config, heuristics, over fake stages (what is launched, with which config)."""

from __future__ import annotations

import numpy as np
import pytest

import tritium
import tritium.language as tl


def _make(configs, **tune_kwargs):
    @tritium.autotune(configs=configs, key=["n"], **tune_kwargs)
    @tritium.jit
    def kernel(x, n, BLOCK: tl.constexpr):
        pass

    return kernel


def test_config_surface() -> None:
    c = tritium.Config({"BLOCK": 32}, num_warps=8, num_stages=2)
    assert c.all_kwargs() == {"BLOCK": 32, "num_warps": 8, "num_stages": 2, "num_ctas": 1}
    assert "BLOCK: 32" in str(c)
    with pytest.raises(TypeError, match="dict"):
        tritium.Config([("BLOCK", 32)])


def test_autotune_picks_the_fastest_and_caches_by_key(fake_stages) -> None:
    configs = [tritium.Config({"BLOCK": b}) for b in (16, 32, 64)]
    times = {16: 3.0, 32: 1.0, 64: 2.0}
    benched = []

    def bench(fn, quantiles):
        fn()
        block = fake_stages.frontend_calls[-1].constexprs["BLOCK"]
        benched.append(block)
        return [times[block]] * 3

    k = _make(configs, do_bench=bench)
    x = np.zeros(128, np.float32)
    k[lambda meta: (tritium.cdiv(meta["n"], meta["BLOCK"]),)](x, 128)
    assert sorted(benched) == [16, 32, 64]
    assert k.best_config.kwargs == {"BLOCK": 32}
    assert fake_stages.launches[-1][1] == (4, 1, 1)  # the grid saw BLOCK=32
    k[(1,)](x, 128)
    assert len(benched) == 3  # same key: no re-tuning
    k[(1,)](x, 64)
    assert len(benched) == 6  # a new key re-tunes
    k[(1,)](x.astype(np.float64), 64)
    assert len(benched) == 9  # so does a new argument dtype


def test_prune_configs_by(fake_stages) -> None:
    configs = [tritium.Config({"BLOCK": b}) for b in (16, 32, 64, 128)]
    benched = []

    def bench(fn, quantiles):
        fn()
        benched.append(fake_stages.frontend_calls[-1].constexprs["BLOCK"])
        return [1.0, 1.0, 1.0]

    def early(configs, nargs, **kwargs):
        return [c for c in configs if c.kwargs["BLOCK"] <= nargs["n"]]

    def model(x, n, BLOCK, **kwargs):
        return abs(BLOCK - 32)

    k = _make(
        configs,
        do_bench=bench,
        prune_configs_by={"early_config_prune": early, "perf_model": model, "top_k": 2},
    )
    k[(1,)](np.zeros(64, np.float32), 64)
    assert sorted(benched) == [16, 32]
    with pytest.raises(ValueError, match="unknown"):
        _make(configs, prune_configs_by={"perf": model})


def test_reset_to_zero_and_restore_value(fake_stages) -> None:
    """Triton's order in a benchmarked launch: the config's pre_hook, then the reset, then the
    copy for restore_value (so a buffer named in both is restored to zeros), the launch, the
    restore; after tuning one more reset, before the launch that produces the result."""
    x = np.full(8, 5.0, np.float32)
    at_launch, after = [], []
    configs = [
        tritium.Config({"BLOCK": b}, pre_hook=lambda nargs: at_launch.append(x.copy()))
        for b in (16, 32)
    ]

    def bench(fn, quantiles):
        x[:] = 7.0
        fn()
        after.append(x.copy())
        return [1.0] * 3

    k = _make(configs, do_bench=bench, reset_to_zero=["x"], restore_value=["x"])
    k[(1,)](x, 8)
    assert len(after) == 2 and all((s == 0.0).all() for s in after)
    assert len(at_launch) == 3
    assert all((s == 7.0).all() for s in at_launch[:2])  # config hook runs before the reset
    np.testing.assert_array_equal(at_launch[2], 0.0)  # reset once more before the real launch
    with pytest.raises(ValueError, match="no parameter"):
        _make(configs, reset_to_zero=["y"])


def test_conflicting_meta_parameters(fake_stages) -> None:
    k = _make([tritium.Config({"BLOCK": 16})])
    with pytest.raises(ValueError, match="Conflicting meta-parameters: BLOCK"):
        k[(1,)](np.zeros(8, np.float32), 8, BLOCK=16)


def test_real_do_bench_is_used_by_default(fake_stages) -> None:
    configs = [tritium.Config({"BLOCK": b}) for b in (16, 32)]
    k = _make(configs, warmup=1, rep=2)
    k[(1,)](np.zeros(8, np.float32), 8)
    assert k.best_config in configs
    assert set(k.configs_timings) == set(configs)


def test_heuristics(fake_stages) -> None:
    @tritium.heuristics(
        {
            "BLOCK": lambda args: tritium.next_power_of_2(args["n"]),
            "EVEN": lambda args: args["n"] % args["BLOCK"] == 0,
        }
    )
    @tritium.jit
    def kernel(x, n, BLOCK: tl.constexpr, EVEN: tl.constexpr):
        pass

    kernel[(1,)](np.zeros(8, np.float32), 20)
    assert fake_stages.frontend_calls[-1].constexprs == {"BLOCK": 32, "EVEN": False}
    with pytest.raises(TypeError, match="missing argument 'n'"):
        kernel[(1,)](np.zeros(8, np.float32))


def test_autotune_over_heuristics(fake_stages) -> None:
    @tritium.autotune(
        [tritium.Config({"BLOCK": 16}), tritium.Config({"BLOCK": 32})],
        key=[],
        do_bench=lambda fn, quantiles: (fn(), [1.0] * 3)[1],
    )
    @tritium.heuristics({"EVEN": lambda args: args["n"] % args["BLOCK"] == 0})
    @tritium.jit
    def kernel(x, n, BLOCK: tl.constexpr, EVEN: tl.constexpr):
        pass

    kernel[(1,)](np.zeros(8, np.float32), 64)
    assert {m.constexprs["EVEN"] for m in fake_stages.frontend_calls} == {True}


def test_cdiv_and_next_power_of_2() -> None:
    assert [tritium.cdiv(n, 4) for n in (0, 1, 4, 5)] == [0, 1, 1, 2]
    assert [tritium.next_power_of_2(n) for n in (0, 1, 2, 3, 1000, 1024)] == [
        1,
        1,
        2,
        4,
        1024,
        1024,
    ]


def test_warmup_compiles_every_config_without_launching(fake_stages) -> None:
    configs = [tritium.Config({"BLOCK": b}) for b in (16, 32, 64)]
    k = _make(configs)
    kernels = k.warmup(np.zeros(8, np.float32), 8, grid=(1,))
    assert len(kernels) == 3 and fake_stages.launches == []
    assert sorted(m.constexprs["BLOCK"] for m in fake_stages.frontend_calls) == [16, 32, 64]


def test_heuristics_warmup(fake_stages) -> None:
    @tritium.heuristics({"BLOCK": lambda args: 2 * args["n"]})
    @tritium.jit
    def kernel(x, n, BLOCK: tl.constexpr):
        pass

    kernel.warmup(np.zeros(8, np.float32), 8, grid=(1,))
    assert fake_stages.frontend_calls[-1].constexprs["BLOCK"] == 16
    assert fake_stages.launches == []


def test_cache_results_on_disk(fake_stages) -> None:
    configs = [tritium.Config({"BLOCK": b}) for b in (16, 32)]
    benched = []

    def bench(fn, quantiles):
        fn()
        block = fake_stages.frontend_calls[-1].constexprs["BLOCK"]
        benched.append(block)
        return [{16: 2.0, 32: 1.0}[block]] * 3

    x = np.zeros(8, np.float32)
    _make(configs, do_bench=bench, cache_results=True)[(1,)](x, 8)
    assert len(benched) == 2
    again = _make(configs, do_bench=bench, cache_results=True)  # as in a new process
    again[(1,)](x, 8)
    assert len(benched) == 2 and again.best_config is configs[1]
    _make(configs, do_bench=bench)[(1,)](x, 8)  # without cache_results: tuned again
    assert len(benched) == 4
