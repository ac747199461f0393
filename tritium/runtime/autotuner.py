"""``@autotune``, ``Config`` and ``@heuristics``, with Triton's semantics.

An :class:`Autotuner` wraps a kernel (a JITFunction, or another wrapper). On a launch it
computes the tuning key from the arguments named in ``key`` (plus the dtypes of array
arguments); the first launch with a new key benchmarks every config that survives pruning,
remembers the fastest, then launches with it. Later launches with that key cost a dict lookup.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from tritium import knobs
from tritium.compiler.cache import atomic_write
from tritium.errors import OutOfResources
from tritium.runtime.jit import KernelInterface

__all__ = ["Config", "Autotuner", "autotune", "Heuristics", "heuristics"]


class Config:
    """One point of a tuning space: meta-parameter values and launch options.

    ``kwargs`` are the constexpr values the config sets (``{"BLOCK_SIZE_M": 64}``);
    ``num_warps``, ``num_stages``, ``num_ctas`` and ``maxnreg`` are launch options (accepted and
    ignored on the CPU); ``pre_hook(nargs)`` runs before each launch with this config.
    """

    def __init__(
        self,
        kwargs: dict[str, Any],
        num_warps: int = 4,
        num_stages: int = 3,
        num_ctas: int = 1,
        maxnreg: int | None = None,
        pre_hook: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if not isinstance(kwargs, dict):
            raise TypeError(f"Config kwargs must be a dict, got {type(kwargs).__name__}")
        self.kwargs = kwargs
        self.num_warps = num_warps
        self.num_stages = num_stages
        self.num_ctas = num_ctas
        self.maxnreg = maxnreg
        self.pre_hook = pre_hook

    def all_kwargs(self) -> dict[str, Any]:
        """The meta-parameters and the launch options, as keyword arguments of a launch."""
        opts = {
            "num_warps": self.num_warps,
            "num_stages": self.num_stages,
            "num_ctas": self.num_ctas,
            "maxnreg": self.maxnreg,
        }
        return {**self.kwargs, **{k: v for k, v in opts.items() if v is not None}}

    def __str__(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in self.all_kwargs().items())

    def __repr__(self) -> str:
        return f"Config({self})"


def _zero(arg: Any) -> None:
    if hasattr(arg, "zero_"):
        arg.zero_()
    else:
        arg[...] = 0


def _copy(arg: Any) -> Any:
    return arg.clone() if hasattr(arg, "clone") else arg.copy()


def _restore(dst: Any, src: Any) -> None:
    if hasattr(dst, "copy_"):
        dst.copy_(src)
    else:
        dst[...] = src


_DTYPE_TYPES: dict[type, bool] = {}


def _has_dtype(tp: type) -> bool:
    """Whether values of ``tp`` carry a ``dtype`` (arrays, tensors), cached per type: a failed
    ``hasattr`` on every int argument of every launch adds up."""
    has = _DTYPE_TYPES.get(tp)
    if has is None:
        has = _DTYPE_TYPES[tp] = hasattr(tp, "dtype")
    return has


class Autotuner(KernelInterface[Any]):
    """A kernel launched with the fastest of several :class:`Config` s (see :func:`autotune`)."""

    def __init__(
        self,
        fn: Any,
        arg_names: list[str],
        configs: Sequence[Config],
        key: Sequence[str],
        reset_to_zero: Sequence[str] | None = None,
        restore_value: Sequence[str] | None = None,
        pre_hook: Callable[..., None] | None = None,
        post_hook: Callable[..., None] | None = None,
        prune_configs_by: dict[str, Any] | None = None,
        warmup: float | None = None,
        rep: float | None = None,
        use_cuda_graph: bool = False,
        do_bench: Callable[..., Any] | None = None,
        cache_results: bool = False,
    ) -> None:
        self.fn = fn
        self.arg_names = list(arg_names)
        self.configs = list(configs) if configs else [Config({})]
        for name in list(key) + list(reset_to_zero or []) + list(restore_value or []):
            if name not in self.arg_names:
                raise ValueError(
                    f"autotune: {getattr(fn, '__name__', fn)} has no parameter {name!r}"
                )
        self.keys = list(key)
        self.reset_to_zero = list(reset_to_zero or [])
        self.restore_value = list(restore_value or [])
        self.user_pre_hook = pre_hook
        self.user_post_hook = post_hook
        prune = prune_configs_by or {}
        unknown = set(prune) - {"perf_model", "top_k", "early_config_prune"}
        if unknown:
            raise ValueError(f"prune_configs_by: unknown entries {sorted(unknown)}")
        self.perf_model = prune.get("perf_model")
        self.configs_top_k = prune.get("top_k", 1.0)
        self.early_config_prune = prune.get("early_config_prune")
        self.num_warmups = 25 if warmup is None else warmup
        self.num_reps = 100 if rep is None else rep
        self._do_bench = do_bench
        self.cache_results = cache_results
        self.cache: dict[tuple[Any, ...], Config] = {}
        self._config_kwargs: dict[Config, dict[str, Any]] = {}  # all_kwargs(), built once
        self.configs_timings: dict[Config, Any] | None = None
        self.best_config: Config | None = None
        self.__name__ = getattr(fn, "__name__", "autotuned")
        self.__doc__ = getattr(fn, "__doc__", None)

    def prune_configs(self, kwargs: dict[str, Any]) -> list[Config]:
        """The configs worth benchmarking: ``early_config_prune``, then ``perf_model``'s top k."""
        configs = self.configs
        if self.early_config_prune is not None:
            configs = list(self.early_config_prune(configs, kwargs))
            if not configs:
                raise ValueError("autotune: early_config_prune removed every config")
        if self.perf_model is not None:
            top_k = self.configs_top_k
            if isinstance(top_k, float) and top_k <= 1.0:
                top_k = builtins.max(1, int(len(configs) * top_k))
            if len(configs) > top_k:
                est = {c: self.perf_model(**kwargs, **c.all_kwargs()) for c in configs}
                configs = sorted(configs, key=lambda c: est[c])[:top_k]
        return configs

    def _bench(
        self,
        args: tuple[Any, ...],
        nargs: dict[str, Any],
        config: Config,
        kwargs: dict[str, Any],
        grid: Any,
    ) -> list[float]:
        """Median, 20% and 80% quantile times (ms) of one config; inf if it cannot run."""
        from tritium.testing import do_bench

        conflicts = set(config.kwargs) & set(kwargs)
        if conflicts:
            raise ValueError(
                f"Conflicting meta-parameters: {', '.join(sorted(conflicts))}. "
                "Make sure that you don't re-define auto-tuned symbols."
            )
        full = {**nargs, **config.all_kwargs()}

        def call() -> None:
            for name in self.reset_to_zero:
                _zero(nargs[name])
            if config.pre_hook is not None:
                config.pre_hook(full)
            self.fn.run(*args, grid=grid, **kwargs, **config.all_kwargs())
            if self.restore_value:
                for name, saved in zip(self.restore_value, saved_values):
                    _restore(nargs[name], saved)

        saved_values = [_copy(nargs[n]) for n in self.restore_value]
        bench = self._do_bench or (
            lambda f, quantiles: do_bench(
                f, warmup=self.num_warmups, rep=self.num_reps, quantiles=quantiles
            )
        )
        try:
            res = bench(call, quantiles=(0.5, 0.2, 0.8))
        except OutOfResources:
            return [float("inf")] * 3
        finally:
            for name, saved in zip(self.restore_value, saved_values):
                _restore(nargs[name], saved)
        return list(res) if isinstance(res, (list, tuple)) else [float(res)] * 3

    def run(self, *args: Any, grid: Any, warmup: bool = False, **kwargs: Any) -> Any:
        """Launch with the best config for these arguments, tuning first if the key is new."""
        if len(args) > len(self.arg_names):
            raise TypeError(
                f"{self.__name__}() takes {len(self.arg_names)} arguments but "
                f"{len(args)} were given"
            )
        nargs = dict(zip(self.arg_names, args))
        if kwargs:
            nargs.update(kwargs)
        # Triton's tuning key: the values of the `key` arguments, then every argument's dtype.
        tkey = tuple(
            [nargs[k] for k in self.keys if k in nargs]
            + [a.dtype for a in nargs.values() if _has_dtype(type(a))]
        )
        config = self.cache.get(tkey)
        if config is None:
            config = self._load_tuned(tkey) if self.cache_results else None
            if config is None:
                config = self._tune(args, nargs, kwargs, grid)
                if self.cache_results:
                    self._store_tuned(tkey, config)
            self.cache[tkey] = config
        self.best_config = config
        config_kwargs = self._config_kwargs.get(config)
        if config_kwargs is None:
            config_kwargs = self._config_kwargs[config] = config.all_kwargs()
        if config.pre_hook is not None:
            config.pre_hook({**nargs, **config_kwargs})
        if kwargs and not config.kwargs.keys().isdisjoint(kwargs):
            conflicts = sorted(set(config.kwargs) & set(kwargs))
            raise ValueError(
                f"Conflicting meta-parameters: {', '.join(conflicts)}. "
                "Make sure that you don't re-define auto-tuned symbols."
            )
        return self.fn.run(*args, grid=grid, warmup=warmup, **kwargs, **config_kwargs)

    def _tune(
        self, args: tuple[Any, ...], nargs: dict[str, Any], kwargs: dict[str, Any], grid: Any
    ) -> Config:
        """Benchmark the pruned configs and return the fastest."""
        if self.user_pre_hook is not None:
            self.user_pre_hook(nargs)
        pruned = self.prune_configs(kwargs | nargs)
        if len(pruned) == 1:
            timings = {pruned[0]: [0.0, 0.0, 0.0]}
        else:
            timings = {c: self._bench(args, nargs, c, kwargs, grid) for c in pruned}
        if self.user_post_hook is not None:
            self.user_post_hook(nargs, exception=None)
        self.configs_timings = timings
        return builtins.min(timings, key=lambda c: timings[c][0])

    def _tuned_path(self, tkey: tuple[Any, ...]) -> str:
        """Where ``cache_results`` keeps the choice for ``tkey``: keyed by the kernel's source,
        the tuning key, the configs and the target."""
        from tritium.runtime.driver import driver

        base = self.fn
        while not getattr(base, "is_jit_function", False):
            base = base.fn
        doc = [
            base.cache_key,
            repr(tkey),
            [str(c) for c in self.configs],
            driver.active.get_current_target().key(),
        ]
        digest = hashlib.sha256(json.dumps(doc).encode()).hexdigest()
        return os.path.join(knobs.cache_dir(), "autotune", digest[:2], f"{digest}.json")

    def _load_tuned(self, tkey: tuple[Any, ...]) -> Config | None:
        """The config an earlier process chose for ``tkey``, or None (missing or damaged)."""
        try:
            with open(self._tuned_path(tkey), "rb") as f:
                doc = json.loads(f.read())
            index = doc["config"]
            if doc["configs"] == [str(c) for c in self.configs] and 0 <= index < len(self.configs):
                return self.configs[index]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None

    def _store_tuned(self, tkey: tuple[Any, ...], config: Config) -> None:
        doc = {"config": self.configs.index(config), "configs": [str(c) for c in self.configs]}
        atomic_write(self._tuned_path(tkey), json.dumps(doc).encode())

    def warmup(self, *args: Any, **kwargs: Any) -> list[Any]:
        """Compile every (pruned) config without launching."""
        nargs = {**dict(zip(self.arg_names, args)), **kwargs}
        return [
            self.fn.warmup(*args, **kwargs, **c.all_kwargs()) for c in self.prune_configs(nargs)
        ]


def _arg_names(fn: Any) -> list[str]:
    names = getattr(fn, "arg_names", None)
    if names is None:
        raise TypeError(f"expected a @jit function (or a wrapped one), got {type(fn).__name__}")
    return list(names)


def autotune(
    configs: Sequence[Config],
    key: Sequence[str],
    prune_configs_by: dict[str, Any] | None = None,
    reset_to_zero: Sequence[str] | None = None,
    restore_value: Sequence[str] | None = None,
    pre_hook: Callable[..., None] | None = None,
    post_hook: Callable[..., None] | None = None,
    warmup: float | None = None,
    rep: float | None = None,
    use_cuda_graph: bool = False,
    do_bench: Callable[..., Any] | None = None,
    cache_results: bool = False,
) -> Callable[[Any], Autotuner]:
    """Decorate a kernel so that each launch uses the fastest of ``configs``.

    ``key`` names the arguments whose values trigger re-tuning when they change;
    ``prune_configs_by`` may hold ``perf_model`` (an estimate of the run time), ``top_k`` (how
    many of the best estimates to benchmark) and ``early_config_prune(configs, nargs)``;
    ``reset_to_zero`` names buffers zeroed before each benchmark run; ``restore_value`` names
    buffers restored after each run; ``warmup``/``rep`` are the benchmark times in ms;
    ``cache_results`` keeps each choice in the disk cache, for later processes.
    """

    def decorator(fn: Any) -> Autotuner:
        return Autotuner(
            fn,
            _arg_names(fn),
            configs,
            key,
            reset_to_zero,
            restore_value,
            pre_hook=pre_hook,
            post_hook=post_hook,
            prune_configs_by=prune_configs_by,
            warmup=warmup,
            rep=rep,
            use_cuda_graph=use_cuda_graph,
            do_bench=do_bench,
            cache_results=cache_results,
        )

    return decorator


class Heuristics(KernelInterface[Any]):
    """A kernel whose meta-parameters are computed from its arguments (see :func:`heuristics`)."""

    def __init__(
        self, fn: Any, arg_names: list[str], values: dict[str, Callable[[dict[str, Any]], Any]]
    ) -> None:
        self.fn = fn
        self.arg_names = arg_names
        self.values = values
        self.__name__ = getattr(fn, "__name__", "heuristics")

    def _apply(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Add each heuristic's value to ``kwargs`` (later heuristics see earlier ones)."""
        for name, heur in self.values.items():
            try:
                kwargs[name] = heur({**dict(zip(self.arg_names, args)), **kwargs})
            except KeyError as e:
                missing = e.args[0] if e.args else None
                if missing in self.arg_names:
                    raise TypeError(
                        f"{self.__name__}() missing argument '{missing}', needed by "
                        f"the heuristic for '{name}'"
                    ) from None
                raise

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Compute each heuristic from the arguments (and earlier heuristics), then launch."""
        self._apply(args, kwargs)
        return self.fn.run(*args, **kwargs)

    def warmup(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the heuristics, then compile without launching."""
        self._apply(args, kwargs)
        return self.fn.warmup(*args, **kwargs)


def heuristics(values: dict[str, Callable[[dict[str, Any]], Any]]) -> Callable[[Any], Heuristics]:
    """Decorate a kernel so that meta-parameters are computed from the other arguments.

    ``values`` maps a meta-parameter name to a function of the dict of all arguments, e.g.
    ``@heuristics({"EVEN_N": lambda args: args["n"] % args["BLOCK"] == 0})``.
    """
    if not isinstance(values, dict):
        raise TypeError("heuristics expects a dict of name -> function of the arguments")

    def decorator(fn: Any) -> Heuristics:
        return Heuristics(fn, _arg_names(fn), values)

    return decorator
