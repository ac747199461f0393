"""Ahead-of-time compilation: :class:`ASTSource`, :func:`compile`, :class:`CompiledKernel`.

:func:`compile` looks the kernel up in the disk cache, keyed by everything the generated code
depends on; on a miss it runs the stages, :data:`tritium.compiler.stages.STAGES` (frontend,
passes, override, bounds-check, backend), and stores the artifact.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from tritium import knobs
from tritium.backends.base import ArtifactRefused, CompiledArtifact, GPUTarget
from tritium.backends.driver import driver
from tritium.compiler import stages
from tritium.compiler.cache import CacheEntry, CacheMissError, DiskCache, ensure_private_dir
from tritium.compiler.stages import run_stages
from tritium.compiler.version import compiler_version
from tritium.errors import InternalCompilerError
from tritium.signature import CONST, NONE, Expanded, arg_key, argument_spans, normalize_grid

__all__ = ["ASTSource", "CompiledKernel", "KernelMetadata", "compile"]


def _param_name(fn: Any, key: Any) -> str:
    """A parameter named by its name, its index, or Triton 3's 1-tuple of the index."""
    if isinstance(key, tuple) and len(key) == 1:
        key = key[0]
    if isinstance(key, int):
        try:
            return fn.arg_names[key]
        except IndexError:
            raise ValueError(f"{fn.__name__} has no parameter number {key}") from None
    if isinstance(key, str) and key in fn.arg_names:
        return key
    raise ValueError(f"{fn.__name__} has no parameter {key!r}")


def _is_signature_type(ty: Any) -> bool:
    """A type string, or a (nested) tuple of them for a tuple argument."""
    if isinstance(ty, tuple):
        return all(_is_signature_type(t) for t in ty)
    return isinstance(ty, str)


def _attr_dict(value: Any) -> dict[str, Any]:
    """Attributes given as a dict or as Triton 3's list of ``[name, value]`` pairs."""
    if isinstance(value, Mapping):
        return dict(value)
    return {name: v for name, v in value}


class ASTSource:
    """A kernel with a fixed specialization, ready to compile.

    ``signature`` maps parameter names (or indices) to Triton type strings (``"*fp32"``,
    ``"i32"``, ``"constexpr"``); parameters missing from it but present in ``constexprs`` are
    constexprs. ``attrs`` maps parameters to ``{"tt.divisibility": 16}``.
    """

    def __init__(
        self,
        fn: Any,
        signature: Mapping[Any, Any],
        constexprs: Mapping[Any, Any] | None = None,
        attrs: Mapping[Any, Any] | None = None,
    ) -> None:
        if not getattr(fn, "is_jit_function", False):
            raise TypeError(f"ASTSource expects a @jit function, got {type(fn).__name__}")
        self.fn = fn
        self.name = fn.__name__
        sig = {_param_name(fn, k): v for k, v in signature.items()}
        self.constexprs = {_param_name(fn, k): v for k, v in (constexprs or {}).items()}
        self.attrs = {_param_name(fn, k): _attr_dict(v) for k, v in (attrs or {}).items()}
        self.signature: dict[str, Any] = {}
        for i, name in enumerate(fn.arg_names):
            if name in sig:
                self.signature[name] = sig[name]
            elif name in self.constexprs or i in getattr(fn, "constexprs", ()):
                self.signature[name] = "constexpr"
            else:
                raise ValueError(f"signature of {self.name} has no type for parameter '{name}'")
        for name in self.constexprs:
            # A tuple parameter keeps its per-element signature; its constexpr entry holds the
            # values of its constexpr elements (None for the run-time ones).
            if not isinstance(self.signature[name], tuple):
                self.signature[name] = "constexpr"
        for name, ty in self.signature.items():
            if ty == "constexpr" and name not in self.constexprs:
                raise ValueError(f"constexpr parameter '{name}' of {self.name} has no value")
            if not _is_signature_type(ty):
                raise TypeError(
                    f"signature type of '{name}' must be a str (or a tuple of them "
                    f"for a tuple argument), got {ty!r}"
                )

    def display_name(self) -> str:
        """The name ``@jit(repr=f)`` gives this specialization: ``f`` receives an object with
        ``constants`` (parameter name -> compile-time value, specialized ``1`` included) and
        ``signature`` (parameter name -> type string), as Triton's ``SpecializationProxy``."""
        proxy = SimpleNamespace(constants=dict(self.constexprs), signature=dict(self.signature))
        return str(self.fn.repr(proxy))

    def hash(self, target: GPUTarget, options: Mapping[str, Any], backend_key: str = "") -> str:
        """The disk cache key: kernel sources, specialization, target, compiler and options."""
        doc = self.key_parts(target, options, backend_key)
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    def key_parts(
        self, target: GPUTarget, options: Mapping[str, Any], backend_key: str = ""
    ) -> dict[str, Any]:
        """What :meth:`hash` digests, part by part (named in a must-hit cache miss)."""
        return {
            "fn": self.fn.cache_key,
            "signature": self.signature,
            "constexprs": {k: _constexpr_key(v) for k, v in self.constexprs.items()},
            "attrs": self.attrs,
            "target": target.key(),
            "backend": backend_key,
            "compiler": compiler_version(),
            "options": {k: repr(v) for k, v in sorted(options.items())},
        }


def _constexpr_key(value: Any) -> str:
    """A constexpr value in a disk key: a @jit function by its own cache key (its source may
    change under the same name), containers element by element, anything else by repr."""
    if getattr(value, "is_jit_function", False):
        return f"jit:{value.cache_key}"
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__}({', '.join(_constexpr_key(v) for v in value)})"
    return f"{type(value).__name__}:{value!r}"


def _knob_dir(name: str) -> str:
    """The directory named by knob ``name`` ('' if unset)."""
    return getattr(knobs, name)()


def _dump_stages(key: str, artifact: Any, texts: Mapping[str, str]) -> None:
    """Write every stage's text to ``<dump dir>/<cache key>/``: ``<kernel>.<n>-<stage>.ttir``
    for the Tile IR stages (``texts``), then the artifact's ``<kernel>.ttir``, ``.llir``,
    ``.asm``."""
    directory = _knob_dir("kernel_dump_dir")
    if not directory:
        return
    out = os.path.join(directory, key)
    # Created private and never followed through a symlink: a planted link must not make us
    # overwrite its target.
    why = ensure_private_dir(directory) or ensure_private_dir(out)
    if why:
        warnings.warn(f"tritium: not dumping to {out}: {why}", RuntimeWarning, stacklevel=3)
        return
    files = {f"{stage}.ttir": text for stage, text in texts.items()}
    files.update(artifact.asm.items())
    for stage, text in files.items():
        data = text if isinstance(text, bytes) else text.encode()
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(os.path.join(out, f"{artifact.name}.{stage}"), flags, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)


class _RuntimeObjects:
    """The disk cache as a backend's store of its runtime object code (``load``/``save``)."""

    @staticmethod
    def load(key: str) -> bytes | None:
        entry = DiskCache().load(key)
        return entry.binary if entry is not None and entry.name == "tritium-runtime" else None

    @staticmethod
    def save(key: str, data: bytes) -> None:
        DiskCache().store(key, CacheEntry("tritium-runtime", {}, data, {}))


_RUNTIME_OBJECTS = _RuntimeObjects()

#: ``describe_pipeline(default_pipeline())`` (tests/compiler check that it still is).
DEFAULT_PIPELINE_TEXT = "inline,canonicalize,cse,licm,peel-masked-tail,canonicalize,cse,dce"


def _pipeline(options: dict[str, Any]) -> tuple[list[Any] | None, str]:
    """Pop ``passes`` from ``options``: (the pipeline to run, or None for the default; its
    description for the cache key). ``TRITIUM_PASSES`` edits it first, then ``passes``."""
    spec = options.pop("passes", None)
    if spec is None and not knobs.passes() and "tritium.passes.registry" not in sys.modules:
        # The default pipeline, and no pass registered in this process (none could be without
        # importing the registry): its description is known without importing every pass,
        # which is a large share of a new process's first launch of a cached kernel.
        return None, DEFAULT_PIPELINE_TEXT
    from tritium.passes.pipeline import default_pipeline, describe_pipeline, resolve_pipeline

    if spec is not None and not isinstance(spec, str):  # a list of Pass objects
        passes = list(spec)
    else:
        passes = resolve_pipeline(spec)
    text = describe_pipeline(passes)
    return (None if text == describe_pipeline(default_pipeline()) else passes), text


class KernelMetadata(dict):
    """The metadata dict, also readable by attribute (``kernel.metadata.shared``) as in Triton."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


#: triton_api.LazyDict, imported on the first launch_metadata call (not at import time)
_LazyDict: Any = None
#: knobs.runtime's __dict__ and the HookChain class (looked up on the first launch_metadata call)
_knobs_runtime: dict[str, Any] | None = None
_HookChain: Any = None


class CompiledKernel:
    """A compiled, loaded kernel, as ``tritium.compile`` returns it.

    ``asm`` holds each stage's text (``"ttir"``, ``"llir"``, the backend's own); ``metadata``
    the backend's metadata plus the signature and constexprs it was compiled for.
    ``kernel[grid](*args)`` launches it with every argument (constexprs may be given or left
    out); ``kernel.launch(grid, args)`` is the backend's raw launch.
    """

    run: Callable[..., None] | None  # made on first use (``__getattr__``)

    def __init__(self, src: ASTSource, artifact: Any, kernel: Any) -> None:
        self.src = src
        self.name = src.display_name() if getattr(src.fn, "_repr", None) else artifact.name
        self.asm = artifact.asm
        self.binary = artifact.binary
        self.metadata = KernelMetadata(artifact.metadata)
        self.metadata.setdefault("signature", src.signature)
        self.metadata.setdefault("constants", src.constexprs)
        # A CPU kernel has no register file or shared memory in the GPU sense. Triton's host
        # code divides by these to size grids for occupancy (tutorial 02), so they report 1.
        self.metadata.setdefault("shared", 1)
        self.metadata.setdefault("num_warps", 1)
        self.metadata.setdefault("num_ctas", 1)
        self.metadata.setdefault("cluster_dims", (1, 1, 1))
        self.artifact = artifact
        # Inductor pickles a kernel's __dict__ with "module", "function" and "run" set to None
        # and calls _init_handles() after unpickling: the loaded native code lives in `module`.
        self.module = kernel
        self.function = None
        self.hash = ""  # the disk cache key; compile() fills it in
        self.packed_metadata = self.metadata
        self.n_regs = 1
        self.n_spills = 0
        names = list(src.signature)
        self._runtime = [i for i, n in enumerate(names) if src.signature[n] != "constexpr"]
        self._names = names
        self._n_all = len(names)
        # compiled with sanitize=True (the bounds-check stage ran): the kernel takes each
        # pointer's byte range too
        self._bounds_checked = bool(self.metadata.get("sanitized"))

        # ``run`` (Triton's launcher signature, for Inductor) is made on first use
        # (``__getattr__``): the JIT launches through ``launch``, and making it imports
        # ``triton_api``, a share of a new process's first launch of a cached kernel
        self._init_handles(run=False)

    @property
    def kernel(self) -> Any:
        """The backend's loaded kernel (its ``launch(grid, args)`` runs it)."""
        if self.module is None:
            self._init_handles()
        return self.module

    def launcher(self) -> Callable[[tuple[int, int, int], Sequence[int | float]], None]:
        """The backend's raw ``launch(grid, args)`` (the JIT calls it directly)."""
        return self.kernel.launch

    def launch(self, grid: tuple[int, int, int], args: Sequence[int | float]) -> None:
        """Run over a 3-D ``grid`` with runtime argument values (pointers as addresses)."""
        self.kernel.launch(grid, args)

    def _init_handles(self, run: bool = True) -> None:
        """Load the native code (again, after unpickling) and make Triton's ``run``."""
        if self.module is None:
            from tritium.backends import get_backend

            self.module = get_backend(self.metadata.get("backend", "cpu")).load(self.artifact)
        if run and self.__dict__.get("run") is None:
            self._make_run()

    def _make_run(self) -> Callable[..., None]:
        from tritium.compiler.triton_api import make_triton_run

        made: Callable[..., None] = make_triton_run(self)
        self.run = made
        return made

    def __getattr__(self, name: str) -> Any:
        # only for attributes not set: ``run`` until first asked for (see ``__init__``)
        if name == "run" and "_names" in self.__dict__:
            return self._make_run()
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def launch_metadata(self, grid: tuple[int, int, int], stream: int, *args: Any) -> Any:
        """What Triton's launch hooks receive: the kernel's name, grid and stream; None while
        ``knobs.runtime`` has no launch hook set (as Triton returns None without an enter hook;
        ``run`` builds the dict itself if it is handed a hook and None)."""
        # Inductor calls this on every launch, before ``run``: a function-level import, or a
        # dict nobody reads, costs more than the check (the classes are looked up once).
        global _LazyDict, _knobs_runtime, _HookChain
        knobs_runtime, chain = _knobs_runtime, _HookChain
        if knobs_runtime is None:
            from tritium.knob_groups import HookChain, runtime

            _knobs_runtime = knobs_runtime = runtime.__dict__
            _HookChain = chain = HookChain
        enter = knobs_runtime.get("launch_enter_hook")
        exit_ = knobs_runtime.get("launch_exit_hook")
        if (enter is None or (type(enter) is chain and not enter.calls)) and (
            exit_ is None or (type(exit_) is chain and not exit_.calls)
        ):
            return None
        if _LazyDict is None:
            from tritium.compiler.triton_api import LazyDict as _LazyDict
        return _LazyDict._owning({"name": self.name, "grid": grid, "stream": stream})

    def launch_values(self, args: Sequence[Any]) -> list[Any]:
        """Launch values (addresses, scalars) of runtime arguments, or of all arguments."""
        if len(args) == self._n_all:
            args = tuple(args[i] for i in self._runtime)
        elif len(args) != len(self._runtime):
            raise TypeError(
                f"{self.name} takes {len(self._runtime)} runtime arguments "
                f"(or all {self._n_all}), got {len(args)}"
            )
        # The JIT's own conversions (arrays and tensors to addresses, tuples and tensor
        # descriptors flattened), without specializing: the kernel is already compiled.
        values = []
        for i, a in zip(self._runtime, args):
            _, v = arg_key(self._names[i], a, NONE)
            if type(v) is Expanded:
                values.extend(v)
            elif v is not CONST:
                values.append(v)
        if self._bounds_checked:
            values.extend(argument_spans(self.src.signature, [(a, NONE) for a in args]))
        return values

    def __getitem__(self, grid: Any) -> Callable[..., None]:
        def runner(*args: Any) -> None:
            values = self.launch_values(args)
            g = normalize_grid(grid)
            if g is not None:
                self.kernel.launch(g, values)

        return runner

    def __repr__(self) -> str:
        return f"CompiledKernel({self.name}, signature={self.src.signature})"


def _load(src: ASTSource, artifact: Any, backend: Any, key: str = "") -> CompiledKernel:
    kernel = CompiledKernel(src, artifact, backend.load(artifact))
    kernel.hash = key
    return kernel


_gc_lock = threading.Lock()
_gc_paused = [0, False]  # compiles in progress, whether the collector was enabled before them


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while kernels compile (on again, if it was on,
    when the last concurrent compile ends).

    A compile allocates tens of thousands of objects that live until it ends (Tile IR,
    llvmlite's instructions, which refer to each other in cycles); each automatic collection
    in between walks them all and frees nothing. In the tutorial matmul's cold compile that
    was 3 ms of young collections and, when one fell inside the compile, 25 ms or more for a
    full one, which a process with torch loaded makes longer (issue 13). The compile's cyclic
    garbage is collected after it, as the allocation counts say.
    """
    with _gc_lock:
        if _gc_paused[0] == 0:
            _gc_paused[1] = gc.isenabled()
            gc.disable()
        _gc_paused[0] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_paused[0] -= 1
            if _gc_paused[0] == 0 and _gc_paused[1]:
                gc.enable()


def compile(
    src: ASTSource,
    target: GPUTarget | None = None,  # noqa: A001 - Triton's name
    options: Mapping[str, Any] | None = None,
    *,
    passes: str | Sequence[Any] | None = None,
) -> CompiledKernel:
    """Compile ``src`` for ``target`` (default: this CPU), through the disk cache.

    On a cache miss, :func:`~tritium.compiler.stages.run_stages` runs the stages of
    :data:`~tritium.compiler.stages.STAGES` in order: frontend, passes, override, bounds-check,
    backend.

    ``passes`` (or ``options["passes"]``, as a launch gives it) changes the pass pipeline by
    name: ``"-cse,+my-pass"``, see :func:`tritium.passes.pipeline.resolve_pipeline`, or a list
    of passes. The pipeline that runs, after ``TRITIUM_PASSES``, is part of the cache key.

    A cached entry is used only when its checksum verifies; a damaged one is rebuilt. One
    that the backend refuses to this process (``ArtifactRefused``: the CPU's AMX code where
    Linux refused the tiles) is kept, and the compile goes on under the backend's new key.
    ``TRITIUM_ALWAYS_COMPILE=1`` skips reading the cache (the result is still written). With a
    kernel dump directory every stage's text is written there (``<kernel>.<n>-<stage>.ttir``
    and the artifact's ``.ttir``/``.llir``/``.asm``); with an override directory a
    ``<kernel>.ttir`` file in it replaces the optimized IR, and the cache is bypassed.
    """
    if not isinstance(src, ASTSource):
        raise TypeError(f"compile expects an ASTSource, got {type(src).__name__}")
    target = target or driver.active.get_current_target()
    opts = dict(options or {})
    if passes is not None:
        opts["passes"] = passes
    try:
        pipeline, pipeline_text = _pipeline(opts)
    except ValueError as e:
        raise ValueError(f"compile of {src.name}: {e}") from None
    backend = stages.get_backend(target.backend)
    if hasattr(backend, "set_object_store"):  # the runtime's own objects, across processes
        backend.set_object_store(_RUNTIME_OBJECTS)
    # Options the backend ignores (num_warps on the CPU) stay out of the key: configs that
    # differ only in them share one compile, one entry per distinct generated code.
    ignored = getattr(backend, "ignored_options", frozenset())
    opts = {k: v for k, v in opts.items() if k not in ignored}
    target_key = backend.target_key()
    parts = src.key_parts(target, {**opts, "pipeline": pipeline_text}, target_key)
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    cache = DiskCache()
    require = knobs.cache_mode() == "require"
    # Dumping needs the stages to run, and an override changes what they produce.
    use_cache = not (
        knobs.always_compile() or _knob_dir("kernel_dump_dir") or _knob_dir("kernel_override_dir")
    )
    if use_cache:
        entry = cache.load(key)
        if entry is not None:
            artifact = CompiledArtifact(entry.name, entry.asm, entry.binary, entry.metadata)
            try:
                return _load(src, artifact, backend, key)
            except ArtifactRefused:
                # sound code this process may not run, kept for those that may; the backend's
                # key says so now (unchanged, it is rebuilt as a failed load below)
                if backend.target_key() != target_key:
                    return compile(src, target, options, passes=passes)
                cache.drop(key)
            except Exception as e:  # noqa: BLE001 - any failure to load means: rebuild it
                cache.drop(key)
                warnings.warn(
                    f"tritium: cached kernel {entry.name} failed to load ({e}); rebuilding",
                    RuntimeWarning,
                    stacklevel=2,
                )
    if require:
        raise CacheMissError(
            f"TRITIUM_CACHE_MODE=require: {src.name} is not in the cache "
            f"({cache.explain_miss(src.name, parts)})"
        )
    texts: dict[str, str] | None = {} if _knob_dir("kernel_dump_dir") else None
    with collector_paused():
        artifact = run_stages(src, target, opts, pipeline, texts)
    try:
        # Round-trip through JSON so a fresh kernel sees exactly what a cached one would.
        artifact.metadata = json.loads(json.dumps(artifact.metadata))
    except (TypeError, ValueError) as e:
        raise InternalCompilerError(f"backend metadata is not plain data: {e}") from e
    if backend.target_key() != target_key:  # learned while compiling (the CPU: AMX refused)
        parts = src.key_parts(target, {**opts, "pipeline": pipeline_text}, backend.target_key())
        key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    if texts is not None:
        _dump_stages(key, artifact, texts)
    if not _knob_dir("kernel_override_dir"):
        cache.store(
            key,
            CacheEntry(artifact.name, artifact.asm, artifact.binary, artifact.metadata),
            parts,
        )
    return _load(src, artifact, backend, key)
