"""``@jit`` and :class:`JITFunction`: binding, specialization and launching of kernels.

A launch ``kernel[grid](*args, **kwargs)`` does, in order:

1. **bind** the arguments with a generated function that has the kernel's own signature, so
   Python itself checks the count, applies defaults and names a missing parameter;
2. **specialize**: each runtime argument gives a key (type string and Triton's hints) and a
   launch value (pointers become addresses), through a handler looked up on ``type(arg)``;
3. **look up** the compiled kernel for (argument keys, constexpr values, options) in an
   in-memory dict; on a miss, compile it through :func:`tritium.compiler.compile` (which has
   the disk cache);
4. **launch** it on the grid (a tuple, or a callable of the meta-parameters).

Steps 1-4 are one function generated from the kernel's signature (:mod:`.fastpath`), and
everything that does not depend on the arguments is computed once, in ``__init__``, so a warm
launch costs a few microseconds. In interpret mode (``@jit(interpret=True)`` or
``TRITIUM_INTERPRET=1``) step 3-4 are replaced by :func:`tritium.interpreter.run_kernel`.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import sys
import types
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from tritium import knobs
from tritium.errors import CompilationError, IntegerOverflowError, TritiumError
from tritium.language.annotations import annotated_signature_type, annotation_type
from tritium.runtime.bounds import SANITIZED_KEY, sanitize_requested, sanitized_entry
from tritium.runtime.compile_hooks import call_hook, preload
from tritium.runtime.errors import InterpreterError
from tritium.runtime.fastpath import check_parameter_names, make_run
from tritium.runtime.guards import KernelCache
from tritium.runtime.kernel_objects import InterpretedKernel, MockTensor
from tritium.runtime.kernel_source import (
    UsedGlobal,
    _function_source,
    dependencies_key,
    global_changes,
)
from tritium.signature import (
    CONST,
    FULL,
    NONE,
    ONE_ONLY,
    READ_ONLY,
    arg_key,
    decode_key,
    flatten_launch_args,
    normalize_grid,
    register_argument_class,
    unwritable_pointers,
)

__all__ = [
    "ConstexprFunction",
    "DeviceCaches",
    "JITFunction",
    "KernelInterface",
    "KernelParam",
    "MockTensor",
    "jit",
    "LAUNCH_OPTIONS",
]

T = TypeVar("T")

#: Keyword arguments of a launch that are options rather than kernel parameters. The CPU backend
#: ignores the GPU ones, but they stay in the cache key so a config is compiled as asked.
LAUNCH_OPTIONS = frozenset(
    {
        "num_warps",
        "num_stages",
        "num_ctas",
        "maxnreg",
        "enable_fp_fusion",
        "debug",
        "launch_cooperative_grid",
        "waves_per_eu",
        "matrix_instr_nonkdim",
        "kpack",
        "stream",
        "device",
        "sanitize_overflow",
        "extern_libs",
        "sanitize",
        "passes",  # the pass pipeline, edited by name: tritium.passes.pipeline
        "launch_pdl",
        "instrumentation_mode",
    }
)


class ConstexprFunction:
    """Triton's type of a ``@constexpr_function``, for ``isinstance`` tests (PyTorch's Inductor
    makes one). tritium's ``constexpr_function`` returns the wrapped function itself, so
    nothing is an instance of this class."""


class KernelInterface(Generic[T]):
    """Anything launched as ``kernel[grid](*args)``: a JITFunction, an Autotuner, Heuristics."""

    run: Callable[..., T]

    def __getitem__(self, grid: Any) -> Callable[..., T]:
        """A launcher for ``grid``: ``kernel[grid](*args, **kwargs)``."""
        return lambda *args, **kwargs: self.run(*args, grid=grid, warmup=False, **kwargs)


# os.environ.get() costs ~0.5 us (it encodes the key); a warm launch checks two variables, so on
# POSIX it first looks in the encoded dict that os.environ keeps in sync, and only parses the
# value through knobs when one is set.
_ENV_BYTES = os.environ._data if os.name == "posix" else None  # type: ignore[attr-defined]


#: Callbacks around compiled launches (the profiler's, tritium.profiler): while the list is
#: not empty, a launch calls ``LAUNCH_HOOKS[-1](jit_fn, entry, grid, launch_args, values)``
#: instead of ``entry[0](grid, launch_args)``, and that hook launches. Empty, it costs one ``if``.
LAUNCH_HOOKS: list[Callable[..., None]] = []

#: Launch modes, from the environment: compiled, compiled with sanitizer checks, interpreted,
#: compiled for the NVIDIA GPU (TRITIUM_BACKEND=cuda; part of the cache key, so CPU and GPU
#: kernels of one specialization never mix).
COMPILED, SANITIZED, INTERPRETED, CUDA = 0, 1, 2, 3


def _launch_mode() -> int:
    """The mode the environment asks for; fast when none of the three variables is set."""
    if (
        _ENV_BYTES is not None
        and b"TRITIUM_INTERPRET" not in _ENV_BYTES
        and b"TRITON_INTERPRET" not in _ENV_BYTES
        and b"TRITIUM_SANITIZE" not in _ENV_BYTES
        and b"TRITIUM_BACKEND" not in _ENV_BYTES
        and b"TRITON_DEBUG" not in _ENV_BYTES
    ):
        return COMPILED
    if knobs.interpret():
        return INTERPRETED
    if knobs.backend() == "cuda":
        return CUDA
    return SANITIZED if knobs.sanitize() else COMPILED


def _is_constexpr_annotation(ann: Any) -> bool:
    """True for ``tl.constexpr`` (the class) and its string forms under postponed annotations."""
    if ann is inspect.Parameter.empty:
        return False
    if isinstance(ann, str):
        return ann.strip("'\"").split(".")[-1] == "constexpr"
    return getattr(ann, "__name__", None) == "constexpr" or type(ann).__name__ == "constexpr"


def recompile_reason(
    previous: list[tuple[dict[str, Any], ...]], new: tuple[dict[str, Any], ...]
) -> str:
    """What differs between specialization ``new`` and the closest of ``previous`` (each a
    (signature, constexprs, attrs, options) tuple): argument dtypes, hints, constexprs, options."""

    def diffs(old: tuple[dict[str, Any], ...]) -> list[str]:
        out = []
        labels = ("dtype", "constexpr", "specialization hint", "option")
        for label, a, b in zip(labels, old, new):
            for name in sorted(set(a) | set(b), key=str):
                if a.get(name) != b.get(name):
                    what = "" if label == "option" else f"argument '{name}' "
                    what = f"{what}{label}" + (f" {name}" if label == "option" else "")
                    out.append(f"{what} {a.get(name)!r} -> {b.get(name)!r}")
        return out

    best = min((diffs(p) for p in previous), key=len)
    return "; ".join(best) or "same specialization (the in-memory cache was cleared)"


class KernelParam:
    """One kernel parameter, described as Triton's ``JITFunction.params`` entries are."""

    def __init__(
        self,
        num: int,
        param: inspect.Parameter,
        is_constexpr: bool,
        do_not_specialize: bool,
        do_not_specialize_on_alignment: bool,
    ) -> None:
        self.num = num
        self.name = param.name
        self.annotation = param.annotation
        self.default = param.default
        self.has_default = param.default is not inspect.Parameter.empty
        self.is_constexpr = is_constexpr
        self.do_not_specialize = do_not_specialize
        self.do_not_specialize_on_alignment = do_not_specialize_on_alignment

    def __repr__(self) -> str:
        return f"KernelParam({self.num}, {self.name!r}, constexpr={self.is_constexpr})"


class DeviceCaches:
    """``JITFunction.device_caches`` as Triton has it, over the kernel's one cache: item
    ``device`` is ``(kernel_cache, kernel_key_cache, target, backend, binder)``; tests and tools
    clear it (or its first element) to make the next launch compile again."""

    def __init__(self, jit_fn: JITFunction) -> None:
        self._fn = jit_fn

    def __getitem__(self, device: Any) -> tuple[Any, dict[Any, Any], Any, None, None]:
        from tritium.runtime.driver import driver

        return (self._fn.cache, {}, driver.active.get_current_target(), None, None)

    def clear(self) -> None:
        """Forget every compiled specialization (and the launch guards made from them)."""
        self._fn.cache.clear()


class JITFunction(KernelInterface[Any]):
    """A Python function compiled as a kernel on its first launch with each specialization.

    Attributes mirror Triton's: ``fn`` (the Python function), ``arg_names``, ``params``
    (:class:`KernelParam` s), ``constexprs`` (indices of ``tl.constexpr`` parameters),
    ``noinline``, ``src``, ``cache_key``, and ``cache`` (specialization key -> compiled kernel)
    for this process.

    ``run(*args, grid, warmup=False, **kwargs)`` binds, specializes, compiles if needed and
    launches on ``grid``, returning the compiled kernel; ``kernel[grid](*args)`` calls it.
    """

    is_jit_function = True

    def __init__(
        self,
        fn: Callable[..., Any],
        version: Any = None,
        do_not_specialize: Iterable[int | str] | None = None,
        do_not_specialize_on_alignment: Iterable[int | str] | None = None,
        debug: bool | None = None,
        noinline: bool | None = None,
        interpret: bool | None = None,
        launch_metadata: Callable[..., Any] | None = None,
        repr: Callable[..., str] | None = None,
    ) -> None:  # noqa: A002 - Triton's name
        if not isinstance(fn, types.FunctionType):
            raise TypeError(f"@jit expects a Python function, got {type(fn).__name__}")
        self.fn = fn
        self.version = version
        self.debug = bool(debug)
        self.noinline = bool(noinline)
        self.interpret = bool(interpret)
        self.launch_metadata = launch_metadata
        self._repr = repr
        self._src: str | None = None  # read on first use (inspect.getsource tokenizes the file)
        self.signature = inspect.signature(fn)
        params = list(self.signature.parameters.values())
        varargs = [p.name for p in params if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if varargs:
            # A @jit helper with *args is defined (Triton's modules declare some); launching
            # it as a kernel is what is not supported.
            params = [p for p in params if p.name not in varargs]
        self._py_params = params  # inspect.Parameter objects, for the generated launcher
        self.arg_names = [p.name for p in params]
        self.constexprs = [
            i for i, p in enumerate(params) if _is_constexpr_annotation(p.annotation)
        ]
        nospec = self._indices(do_not_specialize, "do_not_specialize")
        noalign = self._indices(do_not_specialize_on_alignment, "do_not_specialize_on_alignment")
        self.do_not_specialize = sorted(nospec)
        self.do_not_specialize_on_alignment = sorted(noalign)
        # (index, name, specialization level) of every runtime parameter; the level is
        # FULL, or ONE_ONLY (no divisibility/alignment hints), or NONE (do_not_specialize).
        cset = set(self.constexprs)
        self._runtime_params = tuple(
            (i, p.name, NONE if i in nospec else ONE_ONLY if i in noalign else FULL)
            for i, p in enumerate(params)
            if i not in cset
        )
        self._constexpr_idx = tuple(self.constexprs)
        # run-time scalars typed by their annotation (``v: tl.float16``), as Triton does
        self._annotated = {
            p.name: ty
            for i, p in enumerate(params)
            if i not in cset and (ty := annotation_type(p.annotation)) is not None
        }
        self.params = [
            KernelParam(i, p, i in cset, i in nospec, i in noalign) for i, p in enumerate(params)
        ]
        # The launch path, generated from this kernel's signature (see fastpath.py) on first
        # use: a library defines many kernels and launches some.
        if varargs:
            self.run = self._tt_run = _refuse_varargs(fn.__name__, varargs[0])
            self._run_source = ""
        else:
            check_parameter_names(self)
        self._cache_key: str | None = None
        self._used_globals: list[UsedGlobal] = []
        self.cache: dict[Any, tuple[Callable[..., Any], Any]] = KernelCache()
        # Look like the wrapped function (name, docs, module) for tools and error messages.
        self.__name__ = fn.__name__
        self.__qualname__ = fn.__qualname__
        self.__doc__ = fn.__doc__
        self.__module__ = fn.__module__
        self.__globals__ = fn.__globals__

    @property
    def src(self) -> str:
        """The kernel's source from its ``def`` line, dedented (read when first asked for:
        a program defines many kernels and launches some)."""
        src = self._src
        if src is None:
            src = self._src = _function_source(self.fn)
        return src

    @src.setter
    def src(self, value: str) -> None:
        self._src = value

    def preload(self, specialization_data: str) -> Any:
        """Compile the specialization a compile hook was given as ``specialization_data``
        (Triton's API; ``runtime/compile_hooks.py``) and return the compiled kernel."""
        return preload(self, specialization_data)

    @property
    def device_caches(self) -> DeviceCaches:
        """Triton's per-device caches: ``device_caches[device][0]`` is the compiled-kernel
        cache (on the CPU the one :attr:`cache` every device shares), ``clear()`` empties it."""
        return DeviceCaches(self)

    # ----- construction helpers ---------------------------------------------------------------

    def _indices(self, names: Iterable[int | str] | None, what: str) -> set[int]:
        out: set[int] = set()
        for n in names or ():
            if isinstance(n, str):
                if n not in self.arg_names:
                    raise ValueError(f"{what}: {self.fn.__name__!r} has no parameter {n!r}")
                out.add(self.arg_names.index(n))
            elif isinstance(n, int) and 0 <= n < len(self.arg_names):
                out.add(n)
            else:
                raise ValueError(f"{what}: bad parameter index {n!r}")
        return out

    @property
    def cache_key(self) -> str:
        """Hash of this function's source, every @jit function it calls, and the compiler."""
        if self._cache_key is None:
            from tritium.compiler.version import compiler_version

            h = hashlib.sha256(compiler_version().encode())
            h.update(repr(self.version).encode())
            used: list[UsedGlobal] = []
            for part in dependencies_key(self, used=used):
                h.update(part.encode())
                h.update(b"\0")
            self._used_globals = used
            self._cache_key = h.hexdigest()
        return self._cache_key

    def check_globals(self) -> None:
        """Raise, as Triton does, when a global value the compiled code was built with has
        changed since (the warm path calls this only for kernels that read globals)."""
        change = global_changes(self._used_globals)
        if change is not None:
            raise RuntimeError(
                f"global variable {change} since kernel {self.fn.__name__} was compiled; "
                "a kernel's globals must stay constant (pass the value as a tl.constexpr "
                "argument instead)"
            )

    # ----- launching --------------------------------------------------------------------------

    def __getitem__(self, grid: Any) -> Callable[..., Any]:
        """The launcher ``kernel[grid]``: ``run`` with ``grid`` bound, generated with the
        kernel's own signature (a lambda forwarding ``*args, **kwargs`` costs ~0.5 us)."""
        run = self.__dict__.get("run")
        if run is None:
            run = self._launcher()
        bind = getattr(run, "_tt_bind", None)
        if bind is None:  # ``run`` replaced (a tool recording launches), or *args refused
            return super().__getitem__(grid)
        return bind(grid)  # type: ignore[no-any-return]

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """``run(*args, grid, warmup=False, **kwargs)``: bind, specialize, compile if needed,
        launch on ``grid``; returns the compiled kernel. (This generates the kernel's own
        ``run`` on first use, which then replaces this method on the instance.)"""
        return self._launcher()(*args, **kwargs)

    def _launcher(self) -> Callable[..., Any]:
        """The generated ``run`` (made and installed on the instance on first use)."""
        run = self.__dict__.get("_tt_run")
        if run is None:
            run, self._run_source = make_run(self)
            self._tt_run = run
            self.__dict__.setdefault("run", run)  # unless a tool has replaced it already
        return run  # type: ignore[no-any-return]

    def warmup(self, *args: Any, grid: Any = (1,), **kwargs: Any) -> Any:
        """Compile for these arguments without launching; returns the compiled kernel."""
        return self.run(*args, grid=grid, warmup=True, **kwargs)

    def _meta(self, values: tuple[Any, ...], options: dict[str, Any]) -> dict[str, Any]:
        """The meta-parameters a grid callable receives: every argument, plus the options."""
        meta = dict(zip(self.arg_names, values))
        meta.update(options)
        return meta

    def _raise_argument_error(self, values: tuple[Any, ...]) -> None:
        """Re-run the slow path on each argument so the error names the parameter."""
        for i, name, spec in self._runtime_params:
            arg_key(name, values[i], spec)

    def _frozen_key(
        self, key: tuple[Any, ...], values: tuple[Any, ...], options: dict[str, Any]
    ) -> Any:
        """``key`` with dict-valued launch options (``extern_libs={name: path}``, as Triton's
        tutorials pass it) frozen into sorted tuples; TypeError if still unhashable."""
        frozen = tuple(
            (k, tuple(sorted(v.items())) if isinstance(v, dict) else v) for k, v in options.items()
        )
        new_key = (key[0], key[1], frozen, key[3])
        try:
            hash(new_key)
        except TypeError:
            raise self._unhashable_error(values, options) from None
        return new_key

    def _unhashable_error(self, values: tuple[Any, ...], options: dict[str, Any]) -> TypeError:
        for i, v in enumerate(values):
            if i not in self._constexpr_idx and type(v).__name__ != "constexpr":
                continue  # run-time arguments have hashable keys whatever their values
            try:
                hash(getattr(v, "value", v) if type(v).__name__ == "constexpr" else v)
            except TypeError:
                return TypeError(
                    f"constexpr parameter '{self.arg_names[i]}' must be hashable, "
                    f"got {type(v).__name__}"
                )
        return TypeError(f"launch options must be hashable: {options!r}")

    def specialization(
        self, values: tuple[Any, ...], keys: tuple[Any, ...]
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, int]]]:
        """(signature, constexprs, attrs) for the compiler, from bound values and their keys."""
        signature: dict[str, Any] = {}
        constexprs: dict[str, Any] = {}
        attrs: dict[str, dict[str, int]] = {}
        runtime_keys = dict(zip((i for i, _, _ in self._runtime_params), keys))
        for i, name in enumerate(self.arg_names):
            if i in runtime_keys:
                ty, const, attr = decode_key(runtime_keys[i])
                signature[name] = annotated_signature_type(name, ty, self._annotated.get(name))
                if const is not CONST:
                    constexprs[name] = const
                if attr:
                    attrs[name] = attr
            else:
                v = values[i]
                signature[name] = "constexpr"
                constexprs[name] = v.value if type(v).__name__ == "constexpr" else v
        return signature, constexprs, attrs

    def _compile(
        self, key: Any, values: tuple[Any, ...], options: dict[str, Any]
    ) -> tuple[Callable[..., Any], Any]:
        """Compile for one specialization and remember it in ``self.cache``."""
        from tritium.compiler import ASTSource, compile
        from tritium.runtime.driver import driver

        unknown = sorted(set(options) - LAUNCH_OPTIONS)
        if unknown:
            raise TypeError(
                f"{self.fn.__name__}() got an unexpected keyword argument '{unknown[0]}'"
            )
        if key[-1] != SANITIZED_KEY and sanitize_requested(self, options):
            # BOUNDS: bounds-checked kernels take each array's memory span at launch, so their
            # entry is never cached under the warm path's key: every launch comes back here.
            return sanitized_entry(self, key, values, options)
        signature, constexprs, attrs = self.specialization(values, key[0])
        opts = dict(options)
        if self.debug:
            opts.setdefault("debug", True)
        if key[3] == SANITIZED:  # TRITIUM_SANITIZE=1: the backend adds its memory checks
            opts.setdefault("sanitize", True)
        if key[3] == CUDA:
            from tritium.backends.cuda.runtime import cuda_target

            target = cuda_target()
        else:
            target = driver.active.get_current_target()
        log = self.__dict__.setdefault("_specializations", [])
        spec = (signature, constexprs, attrs, opts)
        if log and knobs.log_recompiles():
            print(
                f"tritium: {self.fn.__name__} compiles again: {recompile_reason(log, spec)}",
                file=sys.stderr,
            )
        log.append(spec)
        groups = sys.modules.get("tritium.knob_groups")  # hooks are set through triton.knobs
        hooks = (
            (groups.runtime.jit_cache_hook, groups.runtime.jit_post_compile_hook)
            if groups is not None
            else (None, None)
        )
        if hooks[0] is not None:
            call_hook(hooks[0], self, signature, constexprs, attrs, opts, target)
        try:
            compiled = compile(
                ASTSource(self, signature, constexprs, attrs),
                target=target,
                options=opts,
            )
        except CompilationError as e:
            # The error already points at the user's line; the compiler's frames are noise.
            # A builtin's own error stays the cause, as in Triton.
            raise e.with_traceback(None) from e.__cause__
        if hooks[1] is not None:
            call_hook(hooks[1], self, signature, constexprs, attrs, opts, target)
        self._check_stored_pointers(key[0], compiled)
        launch = compiled.launcher()
        if any(isinstance(ty, tuple) or ty.startswith("tensordesc") for ty in signature.values()):
            # A tuple or a descriptor is several kernel parameters; only such kernels flatten.
            raw = launch

            def launch(grid: tuple[int, int, int], args: list[Any]) -> None:
                raw(grid, flatten_launch_args(args))

        entry = (launch, compiled)
        self.cache[key] = entry
        return entry

    def _check_stored_pointers(self, keys: tuple[Any, ...], compiled: Any) -> None:
        """Refuse read-only or overlapping (stride-0) memory for a pointer the kernel stores
        through, before anything runs: the native code would fault or write shared elements."""
        names = [name for _, name, _ in self._runtime_params]
        bad = unwritable_pointers(names, keys)
        if not bad:
            return
        stored = compiled.metadata.get("stored_args")
        for name, why in bad.items():
            if stored is None or name in stored:
                what = (
                    "read-only" if why == READ_ONLY else "a view whose elements overlap (stride 0)"
                )
                raise ValueError(
                    f"argument '{name}' of {self.fn.__name__} is {what}, but the kernel stores "
                    "through it; pass a writable, non-overlapping array (e.g. a copy)"
                )

    def _interpret(
        self, grid: Any, values: tuple[Any, ...], options: dict[str, Any], warmup: bool
    ) -> Any:
        """Run the kernel in the NumPy interpreter with the same bound arguments."""
        unknown = sorted(set(options) - LAUNCH_OPTIONS)
        if unknown:
            raise TypeError(
                f"{self.fn.__name__}() got an unexpected keyword argument '{unknown[0]}'"
            )
        from tritium.interpreter.const_check import check_const_parameters

        check_const_parameters(self, values)  # tl.const: the compiled kernel's type check
        for kp in self.params:  # compiled, the frontend reports it at the parameter
            if kp.is_constexpr and (kp.do_not_specialize or kp.do_not_specialize_on_alignment):
                from tritium.errors import nospec_constexpr_message

                raise CompilationError(nospec_constexpr_message(kp.name))
        if warmup:  # nothing runs; the compiler's checks do, as a compiled warmup's would
            error = self._frontend_error(values)
            if error is not None:
                raise error.with_traceback(None) from error.__cause__
            return InterpretedKernel(self, values, options)
        from tritium.interpreter import run_kernel

        if callable(grid):
            grid = grid(self._meta(values, options))
        g = normalize_grid(grid)
        if g is None:
            return None
        try:
            run_kernel(
                self.fn,
                g,
                dict(zip(self.arg_names, values)),
                sanitize=bool(options.get("sanitize", knobs.sanitize() or self.debug)),
            )
        except (TritiumError, IntegerOverflowError):  # the latter: an argument's annotation
            raise
        except Exception as e:
            # An error the compiler reports (a tuple item assigned, a store value of another
            # shape) is the compiler's CompilationError, as Triton raises it; any other error
            # inside an interpreted kernel is an InterpreterError, as in Triton's interpreter.
            error = self._frontend_error(values)
            if error is not None:
                raise error.with_traceback(None) from e
            raise InterpreterError(f"{type(e).__name__}: {e}") from e
        return None

    def _frontend_error(self, values: tuple[Any, ...]) -> CompilationError | None:
        """The CompilationError the compiler's frontend reports for these arguments, if any
        (only Tile IR is built; nothing is compiled to machine code or cached)."""
        try:
            keys = tuple(
                arg_key(name, values[i], spec)[0] for i, name, spec in self._runtime_params
            )
            signature, constexprs, attrs = self.specialization(values, keys)
            from tritium.frontend import ast_to_ttir

            ast_to_ttir(self, signature, constexprs, attrs)
        except CompilationError as e:
            return e
        except Exception:  # what the frontend cannot take, the interpreter may: no verdict
            return None
        return None

    # ----- Python protocol --------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Inside a kernel being interpreted, a call runs the Python function; else an error."""
        from tritium.language.core import active_engine

        engine = active_engine()
        if engine is None:
            raise RuntimeError(
                f"{self.fn.__name__} is a @jit kernel: launch it with "
                f"{self.fn.__name__}[grid](...), or call it from another kernel"
            )
        call = getattr(engine, "call_jit", None)  # the interpreter's rewritten copy
        if call is not None:
            return call(self.fn, args, kwargs)
        return self.fn(*args, **kwargs)

    def _unsafe_update_src(self, new_src: str) -> None:
        """Replace the kernel's source with ``new_src`` (Triton's hook; its tests patch a
        template kernel's body this way). The new function shares the old one's globals."""
        self.fn = _function_from_source(new_src, self.fn)
        self.src = new_src
        self._cache_key = None
        self.cache.clear()

    def __repr__(self) -> str:
        if self._repr is not None:
            return str(self._repr(self))
        return f"JITFunction({self.__module__}:{self.__qualname__})"

    def repr(self, specialization: Any = None) -> str:
        """The kernel's name as launch hooks and PyTorch's Inductor show it (Triton's API):
        ``@jit(repr=f)`` gives ``f(specialization)``, else the function's name."""
        if self._repr is None:
            return self.__name__
        return str(self._repr(self if specialization is None else specialization))

    def __getstate__(self) -> dict[str, Any]:
        # Inductor's compile workers pickle kernels (with fn.fn and __globals__ set to None):
        # the generated launcher and the loaded kernels stay behind and are made again.
        state = dict(self.__dict__)
        state["_src"] = self.src  # the function may not travel (Inductor sends fn=None)
        for name in ("run", "_tt_run", "_run_source", "cache"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.cache = KernelCache()  # the launcher is made again on first use


def jit(
    fn: Callable[..., Any] | None = None,
    *,
    version: Any = None,
    do_not_specialize: Iterable[int | str] | None = None,
    do_not_specialize_on_alignment: Iterable[int | str] | None = None,
    debug: bool | None = None,
    noinline: bool | None = None,
    interpret: bool | None = None,
    launch_metadata: Callable[..., Any] | None = None,
    repr: Callable[..., str] | None = None,  # noqa: A002 - Triton's name
) -> Any:
    """Decorate a function as a kernel, bare (``@jit``) or with options (``@jit(debug=True)``).

    ``do_not_specialize`` lists parameters (names or indices) whose integer values are not
    specialized (== 1, divisible by 16); ``interpret=True`` always runs the kernel in the NumPy
    interpreter; ``noinline`` keeps a called function out of line; ``debug`` enables checks.
    """

    def decorator(f: Callable[..., Any]) -> JITFunction:
        return JITFunction(
            f,
            version=version,
            do_not_specialize=do_not_specialize,
            do_not_specialize_on_alignment=do_not_specialize_on_alignment,
            debug=debug,
            noinline=noinline,
            interpret=interpret,
            launch_metadata=launch_metadata,
            repr=repr,
        )

    if fn is not None:
        return decorator(fn)
    return decorator


# A @jit function passed as an argument (alone or inside a tuple) is a constexpr, as in Triton.
register_argument_class(JITFunction, "constexpr")

# knobs.runtime's launch hooks: their sync is installed once LAUNCH_HOOKS exists
import tritium.runtime.launch_hooks  # noqa: E402, F401


def _refuse_varargs(name: str, param: str) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"kernel {name!r}: *args/**kwargs parameter '{param}' is not supported")

    return run


def _function_from_source(src: str, like: Callable[..., Any]) -> Callable[..., Any]:
    """The function defined by ``src``, with ``like``'s globals (and closure values), its source
    kept in linecache so that the frontend (``inspect.getsource``) reads it."""
    import linecache

    filename = f"<tritium-src {like.__name__} {hashlib.sha256(src.encode()).hexdigest()[:16]}>"
    lines = src.splitlines(keepends=True)
    linecache.cache[filename] = (len(src), None, lines, filename)
    namespace: dict[str, Any] = {}
    scope = like.__globals__
    if like.__closure__:
        # The new function cannot close over the old one's cells: it sees their current
        # values as globals of its own (a copy of the module's globals).
        scope = dict(scope)
        for name, cell in zip(like.__code__.co_freevars, like.__closure__):
            try:
                scope[name] = cell.cell_contents
            except ValueError:  # an empty cell
                pass
    exec(compile(src, filename, "exec"), scope, namespace)  # noqa: S102
    fn = next((v for v in namespace.values() if isinstance(v, types.FunctionType)), None)
    if fn is None:
        raise ValueError("_unsafe_update_src: the new source defines no function")
    return fn
