"""Triton's knob groups (``triton.knobs.cache.dir``, ``triton.knobs.runtime.interpret``, ...).

Each knob is backed by Triton's environment variable: reading it gives the value set in Python,
else the variable, else the default; setting it also writes the variable (while
``propagate_env`` is true, as in Triton), and ``tritium.knobs`` reads the variables. So
``knobs.compilation.always_compile = True`` and ``TRITON_ALWAYS_COMPILE=1`` have the same
effect, and a ``scope()`` restores both. A knob may name tritium's own variables too
(``also``): they are read first and written alongside, so ``knobs.cache.dir = d`` wins over an
inherited ``TRITIUM_CACHE_DIR``. Knobs of GPU-only features are accepted and have no effect.
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "Env",
    "env",
    "base_knobs",
    "env_base",
    "env_bool",
    "env_int",
    "env_str",
    "env_opt_str",
    "env_opt_bool",
    "HookChain",
    "build",
    "redis",
    "cache",
    "compilation",
    "autotuning",
    "runtime",
    "language",
    "nvidia",
    "amd",
    "proton",
    "settings",
]


class Env:
    """Assign ``knobs.env`` to a knob to drop its Python value and follow the environment."""


env = Env()
_NOTHING = object()


class _Settings:
    """Module-wide switches (``propagate_env``), held in an object the facade can share."""

    propagate_env = True


settings = _Settings()


def _setenv(keys: tuple[str, ...], value: str | None) -> None:
    if not settings.propagate_env:
        return
    for key in keys:
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "on", "yes", "y")


class env_base:  # noqa: N801 (Triton's name)
    """A knob read from the environment variable ``key`` (and ``also``), settable in Python."""

    def __init__(self, key: str, default: Any = None, also: tuple[str, ...] = ()) -> None:
        self.key, self.default, self.also = key, default, also

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__.get(self.name, _NOTHING)
        return self.get() if value is _NOTHING else value

    def __set__(self, obj: Any, value: Any) -> None:
        if isinstance(value, Env):
            obj.__dict__.pop(self.name, None)
            return
        obj.__dict__[self.name] = value
        if value is None or isinstance(value, (bool, int, str)):
            text = (
                None
                if value is None
                else ("1" if value is True else "0" if value is False else str(value))
            )
            _setenv((*self.also, self.key), text)

    def __delete__(self, obj: Any) -> None:
        obj.__dict__.pop(self.name, None)

    def raw(self) -> str | None:
        """The first of ``also`` and ``key`` that is set in the environment."""
        for key in (*self.also, self.key):
            if key in os.environ:
                return os.environ[key]
        return None

    def get(self) -> Any:
        """The value from the environment, else the default."""
        text = self.raw()
        return self.default if text is None else self.parse(text)

    def parse(self, text: str) -> Any:
        """The knob's value for the environment text ``text``."""
        return text


class env_str(env_base):  # noqa: N801
    """A string knob."""


class env_opt_str(env_base):  # noqa: N801
    """A string knob that is None when unset."""


class env_bool(env_base):  # noqa: N801
    """A flag: ``1``/``true``/``on``/``yes`` set it."""

    def __init__(self, key: str, default: bool = False, also: tuple[str, ...] = ()) -> None:
        super().__init__(key, default, also)

    def parse(self, text: str) -> bool:
        return _truthy(text)


class env_opt_bool(env_bool):  # noqa: N801
    """A flag that is None when unset."""

    def __init__(self, key: str, also: tuple[str, ...] = ()) -> None:
        env_base.__init__(self, key, None, also)


class env_int(env_base):  # noqa: N801
    """An integer knob."""

    def __init__(self, key: str, default: int = 0, also: tuple[str, ...] = ()) -> None:
        super().__init__(key, default, also)

    def parse(self, text: str) -> int:
        try:
            return int(text)
        except ValueError as e:
            raise RuntimeError(f"Unable to use {self.key}={text}: expected int") from e


class env_dir(env_base):  # noqa: N801
    """A directory whose default is ``<knobs.cache.home_dir>/.triton/<sub>``."""

    def __init__(
        self,
        key: str,
        sub: str,
        also: tuple[str, ...] = (),
        default: Callable[[], str] | None = None,
    ) -> None:
        super().__init__(key, None, also)
        self.sub, self.default_factory = sub, default

    def get(self) -> str:
        text = self.raw()
        if text is not None:
            return text
        if self.default_factory is not None:
            return self.default_factory()
        return os.path.join(cache.home_dir, ".triton", self.sub)


def _tritium_cache_dir() -> str:
    from tritium import knobs

    return knobs.cache_dir()


class HookChain:
    """Callables run in order (``add``/``remove``)."""

    def __init__(self, reversed: bool = False) -> None:  # noqa: A002 (Triton's name)
        self.calls: list[Callable[..., Any]] = []
        self.reversed = reversed
        # knobs.runtime's launch chains: called after add/remove (JIT launches call the hooks
        # only while one is set, see tritium.runtime.launch_hooks)
        self.on_change: Callable[[], None] | None = None

    def add(self, func: Callable[..., Any]) -> None:
        """Add ``func`` once."""
        if func not in self.calls:
            self.calls.append(func)
        if self.on_change is not None:
            self.on_change()

    def remove(self, func: Callable[..., Any]) -> None:
        """Remove ``func`` if present."""
        if func in self.calls:
            self.calls.remove(func)
        if self.on_change is not None:
            self.on_change()

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        for call in reversed(self.calls) if self.reversed else self.calls:
            call(*args, **kwargs)


class base_knobs:  # noqa: N801
    """A group of knobs (Triton's ``knobs.cache``, ``knobs.runtime``, ...)."""

    @property
    def knob_descriptors(self) -> dict[str, env_base]:
        """The group's environment-backed knobs by attribute name."""
        return {
            k: v
            for cls in type(self).__mro__
            for k, v in vars(cls).items()
            if isinstance(v, env_base)
        }

    @property
    def knobs(self) -> dict[str, Any]:
        """The current value of every environment-backed knob."""
        return {k: getattr(self, k) for k in self.knob_descriptors}

    def copy(self) -> Any:
        """A new group with the same Python-set values."""
        new = copy.copy(self)
        new.__dict__ = dict(self.__dict__)
        return new

    def reset(self) -> Any:
        """Forget every Python-set knob value (the environment decides again)."""
        for name in self.knob_descriptors:
            self.__dict__.pop(name, None)
        self._restored()
        return self

    def _restored(self) -> None:
        """Called after ``reset`` and at the end of ``scope`` (values set without setattr)."""

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Restore the group's values and their environment variables on exit."""
        keys = [k for d in self.knob_descriptors.values() for k in (*d.also, d.key)]
        saved_env = {k: os.environ.get(k) for k in keys}
        saved = dict(self.__dict__)
        try:
            yield
        finally:
            self.__dict__.clear()
            self.__dict__.update(saved)
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            self._restored()


class build_knobs(base_knobs):  # noqa: N801
    """The host C compiler (unused: tritium builds nothing with a C compiler)."""

    cc = env_opt_str("CC")
    cudacrt_path = env_opt_str("TRITON_CUDACRT_PATH")
    cudart_path = env_opt_str("TRITON_CUDART_PATH")
    impl = None


class redis_knobs(base_knobs):  # noqa: N801
    """Triton's remote cache (not used by tritium)."""

    key_format = env_str("TRITON_REDIS_KEY_FORMAT", "triton:{key}:{filename}")
    host = env_str("TRITON_REDIS_HOST", "localhost")
    port = env_int("TRITON_REDIS_PORT", 6379)


class cache_knobs(base_knobs):  # noqa: N801
    """Where compiled kernels, dumps and overrides live."""

    home_dir = env_str("TRITON_HOME", os.path.expanduser("~/"))
    # unset: the directory tritium really uses (tritium.knobs.cache_dir), not Triton's default
    dir = env_dir(
        "TRITON_CACHE_DIR", "cache", also=("TRITIUM_CACHE_DIR",), default=_tritium_cache_dir
    )
    dump_dir = env_dir("TRITON_DUMP_DIR", "dump", also=("TRITIUM_DUMP_DIR",))
    override_dir = env_dir("TRITON_OVERRIDE_DIR", "override", also=("TRITIUM_OVERRIDE_DIR",))
    manager_class = env_opt_str("TRITON_CACHE_MANAGER")
    remote_manager_class = env_opt_str("TRITON_REMOTE_CACHE_BACKEND")

    def get_triton_dir(self, dirname: str) -> str:
        """``<home_dir>/.triton/<dirname>``."""
        return os.path.join(self.home_dir, ".triton", dirname)


class compilation_knobs(base_knobs):  # noqa: N801
    """Compiler behaviour: dumps, overrides, the disk cache."""

    override = env_bool("TRITON_KERNEL_OVERRIDE")
    dump_ir = env_bool("TRITON_KERNEL_DUMP")
    dump_ir_extract_di_local_variables = env_bool("LLVM_EXTRACT_DI_LOCAL_VARIABLES")
    store_binary_only = env_bool("TRITON_STORE_BINARY_ONLY")
    always_compile = env_bool("TRITON_ALWAYS_COMPILE", also=("TRITIUM_ALWAYS_COMPILE",))
    use_ir_loc = env_opt_str("USE_IR_LOC")
    enable_asan = env_bool("TRITON_ENABLE_ASAN")
    disable_line_info = env_bool("TRITON_DISABLE_LINE_INFO")
    front_end_debugging = env_bool("TRITON_FRONT_END_DEBUGGING")
    allow_non_constexpr_globals = env_bool("TRITON_ALLOW_NON_CONSTEXPR_GLOBALS")
    instrumentation_mode = ""
    listener = None


class autotuning_knobs(base_knobs):  # noqa: N801
    """The autotuner: printing the chosen config, benchmark lengths."""

    cache = env_bool("TRITON_CACHE_AUTOTUNING")
    print = env_bool("TRITON_PRINT_AUTOTUNING")
    dump_best_config_ir = env_bool("TRITON_KERNEL_DUMP_BEST_CONFIG")
    warmup = env_int("TRITON_AUTOTUNE_WARMUP_MS", 25)
    rep = env_int("TRITON_AUTOTUNE_REP_MS", 100)
    use_entropy = env_bool("TRITON_AUTOTUNE_USE_ENTROPY", True)


class runtime_knobs(base_knobs):  # noqa: N801
    """Launching: the interpreter, debug checks, hooks."""

    interpret = env_bool("TRITON_INTERPRET", also=("TRITIUM_INTERPRET",))
    debug = env_bool("TRITON_DEBUG")
    sanitize_overflow = env_bool("TRITON_SANITIZE_OVERFLOW")
    override_arch = env_opt_str("TRITON_OVERRIDE_ARCH")

    def __init__(self) -> None:
        # set without __setattr__: nothing to sync yet (and no import of the JIT at startup)
        self.__dict__["launch_enter_hook"] = HookChain()
        self.__dict__["launch_exit_hook"] = HookChain(reversed=True)
        self.launch_enter_hook.on_change = self.launch_exit_hook.on_change = self._restored
        self.kernel_load_start_hook = HookChain()
        self.kernel_load_end_hook = HookChain(reversed=True)
        self.kernel_unload_hook = HookChain()
        self.jit_cache_hook = None
        self.jit_post_compile_hook = None
        self.add_stages_inspection_hook = None

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in ("launch_enter_hook", "launch_exit_hook"):
            self._restored()

    def _restored(self) -> None:
        # JIT launches call the launch hooks only while one is set (tritium.runtime.launch_hooks
        # registers its sync here when it loads; before that no kernel can have launched)
        for name in ("launch_enter_hook", "launch_exit_hook"):
            chain = self.__dict__.get(name)
            if isinstance(chain, HookChain):
                chain.on_change = self._restored
        if launch_hooks_changed is not None:
            launch_hooks_changed(self)


#: Called with ``knobs.runtime`` when a launch hook is set or a chain changes; installed by
#: :mod:`tritium.runtime.launch_hooks` (the runtime depends on the knobs, not the reverse).
launch_hooks_changed: Callable[[Any], None] | None = None


class language_knobs(base_knobs):  # noqa: N801
    """Language defaults."""

    fp32_default = env_opt_str("TRITON_F32_DEFAULT")
    default_fp_fusion = env_bool("TRITON_DEFAULT_FP_FUSION", True)
    strict_reduction_ordering = env_bool("TRITON_STRICT_REDUCTION_ORDERING")
    allow_npot = env_bool("TRITON_ALLOW_NPOT")


class nvidia_knobs(base_knobs):  # noqa: N801
    """NVIDIA tools and options (accepted; tritium's CUDA backend reads its own)."""

    dump_nvptx = env_bool("NVPTX_ENABLE_DUMP")
    disable_ptxas_opt = env_bool("DISABLE_PTXAS_OPT")
    ptxas_options = env_opt_str("PTXAS_OPTIONS")
    mock_ptx_version = env_opt_str("TRITON_MOCK_PTX_VERSION")
    dump_ptxas_log = env_bool("TRITON_DUMP_PTXAS_LOG")
    libdevice_path = env_opt_str("TRITON_LIBDEVICE_PATH")
    libcuda_path = env_opt_str("TRITON_LIBCUDA_PATH")


class amd_knobs(base_knobs):  # noqa: N801
    """AMD options (accepted, no effect: tritium has no AMD backend)."""

    use_buffer_ops = env_bool("AMDGCN_USE_BUFFER_OPS", True)
    use_buffer_atomics = env_bool("AMDGCN_USE_BUFFER_ATOMICS", True)
    dump_amdgcn = env_bool("AMDGCN_ENABLE_DUMP")
    libhip_path = env_opt_str("TRITON_LIBHIP_PATH")


class proton_knobs(base_knobs):  # noqa: N801
    """The profiler (accepted, no effect)."""

    disable = env_bool("TRITON_PROTON_DISABLE")
    profile_buffer_size = env_int("TRITON_PROFILE_BUFFER_SIZE", 64 * 1024 * 1024)
    enable_nvtx = env_bool("TRITON_ENABLE_NVTX", True)


build = build_knobs()
redis = redis_knobs()
cache = cache_knobs()
compilation = compilation_knobs()
autotuning = autotuning_knobs()
runtime = runtime_knobs()
# the launch hooks' sync, if the runtime loaded first (else it installs itself when it loads)
launch_hooks_changed = getattr(
    sys.modules.get("tritium.runtime.launch_hooks"), "sync", launch_hooks_changed
)
language = language_knobs()
nvidia = nvidia_knobs()
amd = amd_knobs()
proton = proton_knobs()
