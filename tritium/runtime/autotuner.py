"""``@autotune``, ``Config`` and ``@heuristics``, with the semantics of Triton's
``triton/runtime/autotuner.py`` (read from upstream's main branch; ``docs/autotuning.md`` lists
each behaviour and its test).

A launch of an :class:`Autotuner` computes the tuning key: the values of the ``key`` arguments
that are parameters of the kernel (other names are ignored), then ``str(dtype)`` of every
argument that has one. A new key prunes the configs (``early_config_prune(configs, named_args,
**kwargs)``, then ``perf_model``'s ``top_k``), benchmarks each survivor (config ``pre_hook``,
then the autotuner's ``pre_hook``, the launch, its ``post_hook``), remembers the fastest, runs
the ``pre_hook`` once more with ``reset_only=True`` (so ``reset_to_zero`` buffers are zero
again) and then launches for real. A launch whose key is known runs the config's ``pre_hook``
and launches: no reset. A config that fails to compile (``CompileTimeAssertionFailure`` from
``tl.static_assert``, ``OutOfResources``) times ``inf`` and so is never chosen.

Where Triton's releases differ from its main branch, tritium follows main: ``None`` arguments
are skipped by the built-in reset/restore hooks (3.x calls ``None.zero_()``), and a fractional
``top_k`` keeps at least one of the configs that survive ``early_config_prune`` (3.x: a
fraction of all configs, possibly none).

Beyond Triton:

- per-call state (``nargs``, the values saved for ``restore_value``) is per thread, and tuning
  holds a lock, so launches from several threads at once give the right answers (Triton keeps
  that state on the instance);
- NumPy arrays work wherever torch tensors do (zeroing, saving and restoring);
- a ``tl.static_assert`` that fails while a kernel is interpreted prunes the config, as it does
  when compiled (Triton's interpreter raises instead);
- choices can be pinned from a file and benchmarking turned off (:mod:`.autotune_store`,
  ``TRITIUM_AUTOTUNE``); tuning longer than a second shows progress (:mod:`.autotune_report`).
"""

from __future__ import annotations

import builtins
import inspect
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from tritium import knobs
from tritium.errors import CompileTimeAssertionFailure, OutOfResources, TritiumError
from tritium.runtime import autotune_report as report
from tritium.runtime import autotune_store as store
from tritium.runtime.autotune_config import Config
from tritium.runtime.autotune_store import (
    clear_pinned_results,
    load_autotune_results,
    save_autotune_results,
)
from tritium.runtime.errors import InterpreterError
from tritium.runtime.jit import KernelInterface

__all__ = [
    "Config",
    "Autotuner",
    "autotune",
    "Heuristics",
    "heuristics",
    "AutotunerError",
    "save_autotune_results",
    "load_autotune_results",
    "clear_pinned_results",
]


class AutotunerError(TritiumError):
    """Autotuning cannot go on: pruning left no config, or a required pin is missing."""


def _zero(arg: Any) -> None:
    if hasattr(arg, "zero_"):
        arg.zero_()
    else:
        arg[...] = 0


def _clone(arg: Any) -> Any:
    return arg.clone() if hasattr(arg, "clone") else arg.copy()


def _copy_into(dst: Any, src: Any) -> None:
    if hasattr(dst, "copy_"):
        dst.copy_(src)
    else:
        dst[...] = src


def _failed_static_assert(e: InterpreterError) -> bool:
    """Whether an interpreted kernel stopped at a failing ``tl.static_assert``: compiled, that
    is a ``CompileTimeAssertionFailure``, which prunes the config; interpreted it must too."""
    cause = e.__cause__
    return isinstance(cause, AssertionError) and str(cause).startswith("static_assert failed")


_NO_DTYPE = object()  # the fast key's mark for an argument without a dtype
_MAX_FAST_KEYS = 4096  # fast keys remembered per autotuner (NaN keys never hit, say)

_DTYPE_TYPES: dict[type, bool] = {}
_DTYPE_STR: dict[Any, str] = {}


def _dtype_str(arg: Any) -> str | None:
    """``str(arg.dtype)`` or None, cached per type and per dtype: a failed ``hasattr`` and a
    ``str`` on every argument of every warm launch add up."""
    tp = type(arg)
    has = _DTYPE_TYPES.get(tp)
    if has is None:
        has = _DTYPE_TYPES[tp] = hasattr(tp, "dtype") or hasattr(arg, "dtype")
    if not has:
        return None
    dt = arg.dtype
    try:
        s = _DTYPE_STR.get(dt)
    except TypeError:  # an unhashable dtype
        return str(dt)
    if s is None:
        s = _DTYPE_STR[dt] = str(dt)
    return s


class Autotuner(KernelInterface[Any]):
    """A kernel launched with the fastest of several :class:`Config` s (see :func:`autotune`).

    Attributes as in Triton: ``configs``, ``keys``, ``cache`` (tuning key -> config),
    ``best_config`` (of the latest launch), ``configs_timings`` and ``bench_time`` (of the
    latest tuning), ``pre_hook``/``post_hook`` (the user's, or the built-in reset/restore),
    ``user_defined_pre_hook``/``user_defined_post_hook``, ``reset_to_zero``, ``restore_value``,
    ``early_config_prune``, ``perf_model``, ``configs_top_k``, ``fn`` and ``base_fn``.
    """

    def __init__(
        self,
        fn: Any,
        arg_names: list[str],
        configs: Sequence[Config],
        key: Sequence[str],
        reset_to_zero: Sequence[str] | None,
        restore_value: Sequence[str] | None,
        pre_hook: Callable[..., Any] | None = None,
        post_hook: Callable[..., Any] | None = None,
        prune_configs_by: dict[str, Any] | None = None,
        warmup: float | None = None,
        rep: float | None = None,
        use_cuda_graph: bool = False,
        do_bench: Callable[..., Any] | None = None,
        cache_results: bool = False,
    ) -> None:
        self.configs = list(configs) if configs else [Config({})]
        self.keys = list(key)
        self.cache: dict[tuple[Any, ...], Config] = {}
        self.arg_names = list(arg_names)
        self._arg_name_set = frozenset(self.arg_names)
        #: positions of the ``key`` parameters, in ``key`` order, for the fast key
        self._key_pos = [self.arg_names.index(k) for k in self.keys if k in self._arg_name_set]
        self._max_key_pos = max(self._key_pos, default=-1)
        #: number of positional arguments -> its fast key function (see _fast_key_fn)
        self._fast_key_fns: dict[int, Any] = {}
        #: fast key -> (tuning key, the dtype objects whose ids the fast key holds)
        self._fast_keys: dict[tuple[Any, ...], tuple[tuple[Any, ...], list[Any]]] = {}
        self.cache_results = bool(cache_results or knobs.cache_autotuning())
        self.reset_to_zero = list(reset_to_zero or [])
        self.restore_value = list(restore_value or [])
        for name in self.reset_to_zero + self.restore_value:
            # Triton fails with a KeyError at the first tuning; the name is plainly a typo.
            if name not in self._arg_name_set:
                raise ValueError(
                    f"autotune: {getattr(fn, '__name__', fn)} has no parameter {name!r} "
                    "(named in reset_to_zero/restore_value)"
                )
        self._local = threading.local()  # per-call state: nargs, restore copies
        self._tune_lock = threading.RLock()

        self.pre_hook: Callable[..., Any] = lambda kwargs, reset_only=False: 0
        self.post_hook: Callable[..., Any] = lambda kwargs, exception: 0
        self.user_defined_pre_hook = False
        self.user_defined_post_hook = False
        if pre_hook:
            self.pre_hook = pre_hook
            self.user_defined_pre_hook = True
        elif self.reset_to_zero or self.restore_value:
            self.pre_hook = self._reset_and_save
        if post_hook:
            self.post_hook = post_hook
            self.user_defined_post_hook = True
        elif self.restore_value:
            self.post_hook = self._restore

        self.perf_model = None
        self.configs_top_k: float | int = 1.0
        self.early_config_prune = None
        if prune_configs_by:
            # Triton ignores other entries; a misspelt one would silently tune everything.
            unknown = set(prune_configs_by) - {"perf_model", "top_k", "early_config_prune"}
            if unknown:
                raise ValueError(f"prune_configs_by: unknown entries {sorted(unknown)}")
            self.perf_model = prune_configs_by.get("perf_model", self.perf_model)
            self.configs_top_k = prune_configs_by.get("top_k", self.configs_top_k)
            self.early_config_prune = prune_configs_by.get("early_config_prune")

        self.fn = fn
        self.base_fn = fn
        while not inspect.isfunction(self.base_fn):
            self.base_fn = self.base_fn.fn
        self.__name__ = getattr(fn, "__name__", "autotuned")
        self.__doc__ = getattr(fn, "__doc__", None)

        self.best_config: Config | None = None
        self.configs_timings: dict[Config, Any] | None = None
        self.bench_time: float = 0.0
        #: tuning key -> {config: timing} of every tuning this process ran (for pinning files).
        self.timings_by_key: dict[tuple[Any, ...], dict[Config, Any]] = {}
        self._config_kwargs: dict[int, dict[str, Any]] = {}  # id(config) -> all_kwargs()

        self._do_bench = do_bench
        self.num_warmups = warmup
        self.num_reps = rep
        self.use_cuda_graph = use_cuda_graph
        if warmup is not None or rep is not None or use_cuda_graph:
            # Triton's deprecated interface: these override `do_bench`.
            warnings.warn(
                "warmup, rep, and use_cuda_graph parameters are deprecated. See "
                "https://github.com/triton-lang/triton/pull/4496 for details.",
                DeprecationWarning,
                stacklevel=3,
            )
            from tritium import testing

            if use_cuda_graph:
                self._do_bench = lambda kernel_call, quantiles: testing.do_bench_cudagraph(
                    kernel_call, rep=rep if rep is not None else 100, quantiles=quantiles
                )
            else:
                self._do_bench = lambda kernel_call, quantiles: testing.do_bench(
                    kernel_call,
                    warmup=warmup if warmup is not None else 25,
                    rep=rep if rep is not None else 100,
                    quantiles=quantiles,
                )
        store.TUNERS.add(self)

    # ----- per-call state, per thread ---------------------------------------------------------

    @property
    def nargs(self) -> dict[str, Any] | None:
        """The positional arguments of the launch in progress in this thread, by name."""
        state = self._local.__dict__
        nargs = state.get("nargs")
        if nargs is None:  # made when first asked for: a warm launch without hooks never is
            args = state.get("args")
            if args is not None:
                nargs = state["nargs"] = dict(zip(self.arg_names, args))
        return nargs

    @nargs.setter
    def nargs(self, value: dict[str, Any] | None) -> None:
        state = self._local.__dict__
        state["nargs"], state["args"] = value, None

    @property
    def restore_copies(self) -> dict[str, Any]:
        """Values saved by the built-in ``pre_hook`` for ``restore_value``, in this thread."""
        return getattr(self._local, "restore_copies", {})

    @restore_copies.setter
    def restore_copies(self, value: dict[str, Any]) -> None:
        self._local.restore_copies = value

    def _reset_and_save(self, kwargs: dict[str, Any], reset_only: bool = False) -> None:
        """The built-in ``pre_hook``: zero ``reset_to_zero``, save ``restore_value``."""
        for name in self.reset_to_zero:
            if kwargs[name] is not None:
                _zero(kwargs[name])
        if not reset_only:
            self.restore_copies = {
                name: _clone(kwargs[name])
                for name in self.restore_value
                if kwargs[name] is not None
            }

    def _restore(self, kwargs: dict[str, Any], exception: BaseException | None) -> None:
        """The built-in ``post_hook``: put back what ``_reset_and_save`` saved."""
        for name, value in self.restore_copies.items():
            _copy_into(kwargs[name], value)
        self.restore_copies = {}

    # ----- benchmarking -----------------------------------------------------------------------

    @cached_property
    def do_bench(self) -> Callable[..., Any]:
        """``do_bench(kernel_call, quantiles)``: the user's, else tritium's timer with
        ``TRITON_AUTOTUNE_WARMUP_MS``/``TRITON_AUTOTUNE_REP_MS`` (25/100 ms, as Triton's)."""
        if self._do_bench is not None:
            return self._do_bench
        from tritium import testing

        warmup, rep = knobs.autotune_warmup_ms(), knobs.autotune_rep_ms()
        if warmup != 25 or rep != 100:
            print(f"Autotuning benchmarker using warmup={warmup}ms, rep={rep}ms")
        return lambda kernel_call, quantiles: testing.do_bench(
            kernel_call, warmup=warmup, rep=rep, quantiles=quantiles
        )

    def _bench(self, *args: Any, config: Config, **meta: Any) -> Any:
        """Time one config: ``[median, p20, p80]`` in ms, ``inf`` when it cannot compile."""
        verbose = knobs.print_autotuning()
        if verbose:
            print(f"Autotuning kernel {self.base_fn.__name__} with config {config}")
        conflicts = meta.keys() & config.kwargs.keys()
        if conflicts:
            raise ValueError(
                f"Conflicting meta-parameters: {', '.join(sorted(conflicts))}."
                " Make sure that you don't re-define auto-tuned symbols."
            )
        current = dict(meta, **config.all_kwargs())
        full_nargs = {**(self.nargs or {}), **current}

        def kernel_call() -> None:
            if config.pre_hook:
                config.pre_hook(full_nargs)
            self.pre_hook(full_nargs)
            try:
                self.fn.run(*args, **current)
            except Exception as e:
                try:
                    self.post_hook(full_nargs, exception=e)
                finally:
                    raise
            self.post_hook(full_nargs, exception=None)

        try:
            return self.do_bench(kernel_call, quantiles=(0.5, 0.2, 0.8))
        except (OutOfResources, CompileTimeAssertionFailure) as e:
            if verbose:
                print(f"Autotuning failed with {e}")
            return [float("inf"), float("inf"), float("inf")]
        except InterpreterError as e:
            if not _failed_static_assert(e):
                raise
            if verbose:
                print(f"Autotuning failed with {e}")
            return [float("inf"), float("inf"), float("inf")]

    def prune_configs(self, kwargs: dict[str, Any]) -> list[Config]:
        """The configs worth benchmarking for the launch in progress (``self.nargs``):
        ``early_config_prune(configs, nargs, **kwargs)``, then ``perf_model``'s ``top_k``."""
        nargs = self.nargs or {}
        pruned = self.configs
        if self.early_config_prune:
            pruned = self.early_config_prune(self.configs, nargs, **kwargs)
            if not pruned:
                raise AutotunerError(
                    "No valid autotuner configs after pruning. `early_config_prune` should "
                    "return at least one config."
                )
        if self.perf_model:
            top_k = self.configs_top_k
            if isinstance(top_k, float) and top_k <= 1.0:
                top_k = builtins.max(1, int(len(pruned) * top_k))
            elif not isinstance(top_k, int):
                raise TypeError(
                    "Error while pruning configs, top_k must be either 1) a float <= 1.0 or "
                    "2) an int"
                )
            if len(pruned) > top_k:
                est = {c: self.perf_model(**nargs, **kwargs, **c.all_kwargs()) for c in pruned}
                pruned = sorted(est, key=lambda c: est[c])[:top_k]
        return list(pruned)

    # ----- launching --------------------------------------------------------------------------

    def _fast_key_fn(self, nargs: int) -> Callable[[tuple[Any, ...]], tuple[Any, ...]] | bool:
        """For launches with ``nargs`` positional arguments, a function giving a key that
        determines the tuning key and is cheap to build: the ``key`` values at their positions
        and the ``id`` of every argument's ``dtype`` object (the fast key's entry keeps those
        dtypes alive, so no id is reused while it is there). Straight-line code generated for
        ``nargs``: a loop or ``map`` over the arguments costs several times more. False when a
        ``key`` argument is not positional: only the full key is right then."""
        if nargs <= self._max_key_pos:
            return False
        parts = [f"a[{i}]" for i in self._key_pos]
        parts += [f"_id(_getattr(a[{i}], 'dtype', _NO_DTYPE))" for i in range(nargs)]
        src = f"def fast_key(a):\n    return ({nargs}, {', '.join(parts)})\n"
        ns: dict[str, Any] = {"_id": id, "_getattr": getattr, "_NO_DTYPE": _NO_DTYPE}
        exec(compile(src, f"<tritium fast tuning key of {self.__name__}>", "exec"), ns)  # noqa: S102
        return ns["fast_key"]  # type: ignore[no-any-return]

    def _fast_kwargs(self, kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """The fast key's part for kernel arguments given by name (none is a ``key``, else the
        fast key is not used)."""
        names = self._arg_name_set
        return tuple(
            x
            for k, v in kwargs.items()
            if k in names
            for x in (k, id(getattr(v, "dtype", _NO_DTYPE)))
        )

    def _remember_fast_key(
        self, fast: tuple[Any, ...], key: tuple[Any, ...], args: tuple[Any, ...], kwargs: Any
    ) -> None:
        """Map ``fast`` to the tuning ``key``, keeping alive the dtypes whose ids it holds."""
        dtypes = [getattr(a, "dtype", None) for a in args]
        dtypes += [getattr(v, "dtype", None) for v in kwargs.values()]
        if len(self._fast_keys) >= _MAX_FAST_KEYS:
            self._fast_keys.clear()
        self._fast_keys[fast] = (key, dtypes)

    def _tuning_key(self, nargs: dict[str, Any], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """Triton's key: the ``key`` values that are parameters, then every argument's dtype."""
        if kwargs:
            names = self._arg_name_set
            all_args = {**nargs, **{k: v for k, v in kwargs.items() if k in names}}
        else:
            all_args = nargs
        key = [all_args[k] for k in self.keys if k in all_args]
        for arg in all_args.values():
            s = _dtype_str(arg)
            if s is not None:
                key.append(s)
        return tuple(key)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Launch with the best config for these arguments, tuning first if the key is new.

        ``kwargs`` holds ``grid`` and ``warmup`` besides the kernel's keyword arguments, as in
        Triton (so ``early_config_prune`` and ``perf_model`` see them too).
        """
        state = self._local.__dict__
        outer = state.get("args"), state.get("nargs")  # a hook may launch this kernel again
        state["args"], state["nargs"] = args, None  # see the nargs property
        try:
            used_cached_result = True
            if len(self.configs) > 1:
                # The full key costs ~1 us per argument (a dict of all arguments, a str per
                # dtype); a warm launch finds it from a cheaper key (see _fast_key), inlined.
                fast = key = None
                make = self._fast_key_fns.get(len(args))
                if make is None:
                    make = self._fast_key_fns[len(args)] = self._fast_key_fn(len(args))
                if make:
                    fast = make(args)
                    if not self._arg_name_set.isdisjoint(kwargs):
                        fast += self._fast_kwargs(kwargs)
                    try:
                        key = self._fast_keys.get(fast)
                    except TypeError:  # an unhashable key value
                        fast = None
                if key is None:
                    key = self._tuning_key(self.nargs or {}, kwargs)
                    if fast is not None:
                        self._remember_fast_key(fast, key, args, kwargs)
                else:
                    key = key[0]
                config = self.cache.get(key)
                if config is None:
                    with self._tune_lock:  # one tuning at a time; a waiting thread reuses it
                        config = self.cache.get(key)
                        if config is None:
                            config, used_cached_result = self._choose(
                                key, args, self.nargs or {}, kwargs
                            )
            else:
                config = self.configs[0]
            self.best_config = config
            if not used_cached_result and knobs.print_autotuning():
                report.print_tuned(
                    self.base_fn.__name__, key, self.bench_time, config, self.configs_timings or {}
                )
            config_kwargs = self._config_kwargs.get(id(config))
            if config_kwargs is None:
                config_kwargs = self._config_kwargs[id(config)] = config.all_kwargs()
            if not config.kwargs.keys().isdisjoint(kwargs):
                conflicts = sorted(set(config.kwargs) & set(kwargs))
                raise ValueError(
                    f"Conflicting meta-parameters: {', '.join(conflicts)}."
                    " Make sure that you don't re-define auto-tuned symbols."
                )
            if config.pre_hook is not None:
                config.pre_hook({**(self.nargs or {}), **kwargs, **config_kwargs})
            return self.fn.run(*args, **kwargs, **config_kwargs)
        finally:
            state["args"], state["nargs"] = outer

    def _interpreted(self) -> bool:
        """Whether launches run in the interpreter (whose timings mean nothing for the CPU)."""
        base = self.fn
        while not getattr(base, "is_jit_function", False) and hasattr(base, "fn"):
            base = base.fn
        return bool(getattr(base, "interpret", False)) or knobs.interpret()

    def _jit_fn(self) -> Any:
        base = self.fn
        while not getattr(base, "is_jit_function", False):
            base = base.fn
        return base

    def _choose(
        self, key: tuple[Any, ...], args: tuple[Any, ...], nargs: dict[str, Any], kwargs: Any
    ) -> tuple[Config, bool]:
        """The config for a new key, and whether it came without benchmarking: pinned, the only
        one left by pruning, found in the disk cache, or (``TRITIUM_AUTOTUNE=off``) the first
        survivor of pruning; else benchmarked."""
        pinned = store.pinned_config(self.base_fn, key, self.configs)
        if pinned is not None:
            self.cache[key] = pinned
            return pinned, True
        pruned = self.prune_configs(kwargs)
        if len(pruned) == 1:
            self.cache[key] = pruned[0]
            return pruned[0], True
        disk = None
        if self.cache_results and key and not self._interpreted():
            if not any(c.pre_hook for c in pruned):  # a hook cannot be saved (as in Triton)
                disk = store.disk_path(self._jit_fn(), key, pruned)
                timings = store.load_disk(disk, pruned)
                if timings is not None:
                    best = builtins.min(timings, key=timings.get)
                    self.cache[key] = best
                    self.configs_timings = timings
                    self.timings_by_key[key] = timings
                    return best, True
        mode = knobs.autotune_mode()
        if mode == "off":
            self.cache[key] = pruned[0]
            return pruned[0], True
        if mode == "require":
            raise AutotunerError(
                f"TRITIUM_AUTOTUNE=require: no pinned or cached config for "
                f"{store.kernel_id(self.base_fn)} with key {key} on {store.target_key()}"
            )
        self._benchmark(key, args, nargs, kwargs, pruned)
        if disk is not None:
            store.store_disk(disk, key, self.configs_timings or {})
        return self.cache[key], False

    def _benchmark(
        self,
        key: tuple[Any, ...],
        args: tuple[Any, ...],
        nargs: dict[str, Any],
        kwargs: dict[str, Any],
        pruned: list[Config],
    ) -> None:
        """Time every pruned config, keep the fastest, then reset the buffers once more."""
        bench_start = time.time()
        progress = report.Progress(self.base_fn.__name__, len(pruned))
        timings: dict[Config, Any] = {}
        try:
            for config in pruned:
                timings[config] = self._bench(*args, config=config, **kwargs)
                progress.step()
        finally:
            progress.close()
        self.bench_time = time.time() - bench_start
        best = builtins.min(timings, key=timings.get)
        self.cache[key] = best
        # The benchmark launches wrote into the buffers: zero reset_to_zero ones again so the
        # launch that produces the result starts from zero (Triton's reset_only call).
        self.pre_hook({**nargs, **kwargs, **best.all_kwargs()}, reset_only=True)
        self.configs_timings = timings
        self.timings_by_key[key] = timings

    def warmup(self, *args: Any, **kwargs: Any) -> list[Any]:
        """Compile every config that survives pruning, without launching."""
        state = self._local.__dict__
        outer = state.get("args"), state.get("nargs")
        state["args"], state["nargs"] = args, None
        try:
            return [
                self.fn.warmup(*args, **kwargs, **c.all_kwargs())
                for c in self.prune_configs(kwargs)
            ]
        finally:
            state["args"], state["nargs"] = outer


def autotune(
    configs: Sequence[Config],
    key: Sequence[str],
    prune_configs_by: dict[str, Any] | None = None,
    reset_to_zero: Sequence[str] | None = None,
    restore_value: Sequence[str] | None = None,
    pre_hook: Callable[..., Any] | None = None,
    post_hook: Callable[..., Any] | None = None,
    warmup: float | None = None,
    rep: float | None = None,
    use_cuda_graph: bool = False,
    do_bench: Callable[..., Any] | None = None,
    cache_results: bool = False,
) -> Callable[[Any], Autotuner]:
    """Decorate a kernel so that each launch uses the fastest of ``configs``.

    ``key`` names the arguments whose values trigger re-tuning when they change (names that are
    not parameters are ignored; argument dtypes are always part of the key);
    ``prune_configs_by`` may hold ``early_config_prune(configs, named_args, **kwargs)``,
    ``perf_model(**args, **config_kwargs)`` (an estimated time) and ``top_k`` (an int, or a
    fraction of the configs); ``reset_to_zero`` names buffers zeroed before each benchmarked
    launch and once more before the launch that produces the result; ``restore_value`` names
    buffers restored after each benchmarked launch; ``pre_hook(kwargs, reset_only=False)`` and
    ``post_hook(kwargs, exception)`` replace those built-in hooks; ``do_bench(fn, quantiles)``
    replaces the timer (``warmup``/``rep``/``use_cuda_graph`` are Triton's deprecated way, and
    win over it); ``cache_results`` keeps each choice on disk for later processes.
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


def _arg_names(fn: Any) -> list[str]:
    names = getattr(fn, "arg_names", None)
    if names is None:
        raise TypeError(f"expected a @jit function (or a wrapped one), got {type(fn).__name__}")
    return list(names)


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
