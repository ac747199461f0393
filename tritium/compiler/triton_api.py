"""Triton's compiler-plugin API, answered by tritium's CPU backend.

Code that drives Triton below ``@jit`` (PyTorch's Inductor above all) reaches into
``triton.backends`` (a registry of ``Backend(compiler, driver)`` pairs), a backend object from
``triton.compiler.compiler.make_backend(target)`` (``hash()``, ``parse_options()``) and
``triton_key()`` (a hash of the compiler). This module gives tritium's answers, as a CPU
Triton build would give them (``target.backend == "cpu"``); the ``triton.*`` facade modules
re-export it.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tritium.backends.base import GPUTarget
from tritium.backends.driver import CPUDriver
from tritium.compiler.version import compiler_version

__all__ = [
    "Backend",
    "BaseBackend",
    "CPUOptions",
    "Language",
    "LazyDict",
    "TritiumCPUBackend",
    "backends",
    "make_backend",
    "triton_key",
]


class Language:
    """The front-end language of a kernel (Triton has ``TRITON`` and ``GLUON``)."""

    TRITON = 0
    GLUON = 1


def triton_key() -> str:
    """A hash of the compiler itself: Inductor folds it into every cache key it writes."""
    return f"tritium-{compiler_version()}"


@dataclass(frozen=True)
class CPUOptions:
    """Compile options as a CPU Triton backend parses them.

    The GPU-only fields (``num_warps``, ``num_stages``, ``num_ctas``, ``cluster_dims``,
    ``maxnreg``...) are accepted and kept, because code reads them back, but do not change the
    code generated for the CPU.
    """

    num_warps: int = 1
    num_stages: int = 1
    num_ctas: int = 1
    cluster_dims: tuple[int, int, int] = (1, 1, 1)
    maxnreg: int | None = None
    debug: bool = False
    sanitize_overflow: bool = False
    enable_fp_fusion: bool = True
    launch_cooperative_grid: bool = False
    launch_pdl: bool = False
    extern_libs: tuple[tuple[str, str], ...] | None = None
    allowed_dot_input_precisions: tuple[str, ...] = ("ieee", "tf32", "tf32x3")
    default_dot_input_precision: str = "ieee"
    max_num_imprecise_acc_default: int = 0
    backend_name: str = "cpu"

    def hash(self) -> str:
        """A stable string of every field (Triton's options objects have one)."""
        return repr(sorted(dataclasses.asdict(self).items()))


class BaseBackend:
    """Triton's base class of a compiler backend, bound to one target."""

    supports_native_tensor_specialization = True

    def __init__(self, target: GPUTarget) -> None:
        if not self.supports_target(target):
            raise ValueError(f"{type(self).__name__} does not support target {target!r}")
        self.target = target

    @staticmethod
    def supports_target(target: GPUTarget) -> bool:
        """Whether this backend compiles for ``target``."""
        raise NotImplementedError

    def hash(self) -> str:
        """A string naming the backend's version and target exactly."""
        raise NotImplementedError

    def parse_options(self, options: Mapping[str, Any]) -> Any:
        """The options object for ``options`` (a dict of launch/compile options)."""
        raise NotImplementedError


class TritiumCPUBackend(BaseBackend):
    """tritium's CPU backend as Triton's compiler-plugin API presents it."""

    @staticmethod
    def supports_target(target: GPUTarget) -> bool:
        """True for a ``"cpu"`` target."""
        return getattr(target, "backend", None) == "cpu"

    def hash(self) -> str:
        """tritium's version and the host CPU's exact features."""
        from tritium.backends import get_backend

        return f"{compiler_version()}-{get_backend('cpu').target_key()}"

    def parse_options(self, options: Mapping[str, Any]) -> CPUOptions:
        """Known fields are kept (lists as tuples); unknown GPU-only options are dropped."""
        names = {f.name for f in dataclasses.fields(CPUOptions)}
        kept: dict[str, Any] = {}
        for k, v in options.items():
            if k not in names:
                continue
            if k == "extern_libs" and isinstance(v, Mapping):
                v = tuple(sorted(v.items()))
            elif isinstance(v, list):
                v = tuple(v)
            kept[k] = v
        return CPUOptions(**kept)

    def pack_metadata(self, metadata: Any) -> Any:
        """Metadata as the launcher receives it (unchanged on the CPU)."""
        return metadata

    def get_codegen_implementation(self, options: Any) -> dict[str, Any]:
        """Backend-specific code generation hooks: none on the CPU."""
        return {}

    def get_module_map(self) -> dict[str, Any]:
        """Backend-specific ``tl`` module replacements: none on the CPU."""
        return {}

    def load_dialects(self, context: Any) -> None:
        """No MLIR dialects to load: tritium has its own IR."""

    def add_stages(self, stages: dict[str, Any], options: Any, language: int = 0) -> None:
        """tritium's pipeline is not a table of MLIR stages; see ``tritium.compiler``."""


@dataclass(frozen=True)
class Backend:
    """One entry of ``triton.backends.backends``: a compiler class and its driver class."""

    compiler: type[BaseBackend]
    driver: type[CPUDriver]


#: The installed backends, by name, as ``triton.backends.backends`` lists them.
backends: dict[str, Backend] = {"cpu": Backend(TritiumCPUBackend, CPUDriver)}


def make_backend(target: GPUTarget) -> BaseBackend:
    """The backend object for ``target`` (``ValueError`` when no backend supports it)."""
    for backend in backends.values():
        if backend.compiler.supports_target(target):
            return backend.compiler(target)
    raise ValueError(f"no tritium backend for target {target!r}; installed: {', '.join(backends)}")


class LazyDict(Mapping[str, Any]):
    """A dict whose values may be zero-argument callables, evaluated on first read.

    Triton builds the ``launch_metadata`` handed to launch hooks with one; entries added with
    :meth:`add` are computed only if a hook reads them.
    """

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self.data = dict(data or {})
        self.extras: list[tuple[Any, tuple[Any, ...]]] = []

    @classmethod
    def _owning(cls, data: dict[str, Any]) -> LazyDict:
        """A LazyDict holding ``data`` itself (no copy): a launch builds one per call."""
        d = cls.__new__(cls)
        d.data = data
        d.extras = []
        return d

    def get(self, key: str, default: Any = None) -> Any:
        """The value for ``key`` (pending ``add`` entries evaluated first)."""
        self._evaluate()
        return self.data.get(key, default)

    def add(self, func: Any, args: tuple[Any, ...]) -> None:
        """Merge ``func(*args)`` (a dict) into this one when first read."""
        self.extras.append((func, args))

    def _evaluate(self) -> None:
        for func, args in self.extras:
            self.data.update(func(*args))
        self.extras.clear()

    def __getitem__(self, key: str) -> Any:
        self._evaluate()
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        self._evaluate()
        return iter(self.data)

    def __len__(self) -> int:
        self._evaluate()
        return len(self.data)


def make_triton_run(kernel: Any) -> Any:
    """``CompiledKernel.run`` with the signature of Triton's generated launcher.

    Triton's host code (Inductor's wrapper above all) calls
    ``run(grid_0, grid_1, grid_2, stream, function, packed_metadata, launch_metadata,
    enter_hook, exit_hook, *args)`` with every kernel argument, constexprs included; the
    constexprs are dropped here, tensors become addresses, and an empty grid launches nothing.

    ``run`` is generated per kernel (:func:`_run_source`; the source is kept as
    ``run._tt_source``): a compiled graph's call costs tens of microseconds and its kernel
    launches are a share of that, so the arguments Inductor passes (CPU tensors, Python ints
    and floats matching the signature) are unpacked and checked by straight-line code and
    handed to the native launch entry; anything else goes through :func:`_launch_values_fn`
    and the loaded kernel's ``launch``, which convert or raise as before.
    """
    from tritium.knob_groups import HookChain

    module = kernel.module
    ns: dict[str, Any] = {
        "chain": HookChain,
        "launch": module.launch,
        "values_of": _launch_values_fn(kernel),
        "metadata_of": _metadata_fn(kernel),
    }
    source = _run_source(kernel, ns)
    exec(compile(source, f"<tritium Triton run of {kernel.name}>", "exec"), ns)  # noqa: S102
    run = ns["run"]
    run._tt_source = source
    return run


def _metadata_fn(kernel: Any) -> Any:
    """Builds the hooks' metadata when the caller passed None (``launch_metadata`` returns None
    while no launch hook is set: a hook the caller passes anyway still gets the dict)."""

    def metadata_of(grid: tuple[int, int, int], stream: Any) -> LazyDict:
        return LazyDict._owning({"name": kernel.name, "grid": grid, "stream": stream})

    return metadata_of


def _run_source(kernel: Any, ns: dict[str, Any]) -> str:
    """The source of ``run`` for ``kernel`` (filling ``ns`` with the names it uses)."""
    hooks = "enter_hook is not None and (type(enter_hook) is not chain or enter_hook.calls)"
    lines = [
        "def run(grid_0, grid_1, grid_2, stream, function, metadata, launch_metadata,",
        "        enter_hook, exit_hook, *args):",
        # Inductor passes knobs.runtime's hook chains on every launch, empty unless a
        # profiler added to them: an empty chain is skipped (calling it costs ~0.7 us)
        f"    if {hooks}:",
        "        if launch_metadata is None:",
        "            launch_metadata = metadata_of((grid_0, grid_1, grid_2), stream)",
        "        enter_hook(launch_metadata)",
        "    if grid_0 > 0 and grid_1 > 0 and grid_2 > 0:",
        *(_fast_lines(kernel, ns) or ["        launch((grid_0, grid_1, grid_2), values_of(args))"]),
        f"    if {hooks.replace('enter', 'exit')}:",
        "        if launch_metadata is None:",
        "            launch_metadata = metadata_of((grid_0, grid_1, grid_2), stream)",
        "        exit_hook(launch_metadata)",
    ]
    return "\n".join(lines) + "\n"


#: signature types whose launch word is a Python int (pointers aside) or a float
_INT_SIGNATURE = frozenset({"i1", "i8", "i16", "i32", "i64", "u1", "u8", "u16", "u32", "u64"})
_FLOAT_SIGNATURE = frozenset({"fp16", "bf16", "fp32", "fp64"})


def _fast_lines(kernel: Any, ns: dict[str, Any]) -> list[str]:
    """The straight-line launch of Inductor's arguments, or [] where it does not apply.

    It applies to CPU kernels with the native launch entry, without bounds checks, whose
    runtime parameters are pointers, integers and floats, launched with every argument
    (Inductor's call). Each value must be exactly what the signature says (a CPU
    ``torch.Tensor``/``Parameter`` with a non-NULL address for a pointer, an ``int`` within 64
    bits for an integer, a ``float`` for a float) or the general path runs instead.
    """
    module = kernel.module
    torch = sys.modules.get("torch")
    kinds = getattr(module, "slot_kinds", None)
    plain = getattr(module, "_plain_address", 0)
    call = getattr(module, "_call", None)
    if torch is None or kernel._bounds_checked or not plain or call is None or kinds is None:
        return []
    from tritium.backends.cpu import pycall
    from tritium.threads import THREADS

    sig = kernel.src.signature
    names = list(sig)
    runtime = list(kernel._runtime)
    if len(kinds) != len(runtime):
        return []
    checks, words = [], []
    for j, (i, kind) in enumerate(zip(runtime, kinds)):
        ty = sig[names[i]]
        a = f"a{i}"
        if not isinstance(ty, str):
            return []
        if ty.startswith("*") and kind == pycall.INT:
            checks.append(f"(type({a}) is tensor or type({a}) is parameter) and {a}.is_cpu")
            words.append(f"p{j}")
        elif ty in _INT_SIGNATURE and kind == pycall.INT:
            checks.append(f"type({a}) is int and {_INT_MIN} <= {a} <= {_INT_MAX}")
            words.append(a)
        elif ty in _FLOAT_SIGNATURE and kind == pycall.FLOAT:
            checks.append(f"type({a}) is float")
            words.append(a)
        else:
            return []
    ns.update(
        tensor=torch.Tensor,
        parameter=torch.nn.Parameter,  # a module's weights
        call=call,
        plain=plain,
        module=module,
        threads=THREADS,
        failed=_failed_launch,
    )
    unpack = ", ".join(f"a{i}" if i in runtime else "_" for i in range(kernel._n_all))
    pointers = [(j, f"a{i}") for j, i in enumerate(runtime) if words[j] == f"p{j}"]
    general = "launch((grid_0, grid_1, grid_2), values_of(args))"
    cond = " and ".join(f"({c})" for c in checks) or "True"
    nonnull = " and ".join(f"p{j}" for j, _ in pointers) or "True"
    grid = "(grid_0, grid_1, grid_2)"
    values = ", ".join(words)
    return [
        f"        if len(args) == {kernel._n_all}:",
        f"            {unpack}, = args",
        f"            if {cond}:",
        *[f"                p{j} = {a}.data_ptr()" for j, a in pointers],
        f"                if {nonnull}:",
        "                    try:",
        f"                        rc = call(plain, {grid}, threads[0] or module.num_threads,"
        f" {values})",
        "                    except TypeError:",
        "                        rc = 1",
        "                    if rc:",
        f"                        failed(module, rc, {grid}, [{values}])",
        # an empty tensor (a NULL address), another type: the general path decides
        "                else:",
        f"                    {general}",
        "            else:",
        f"                {general}",
        "        else:",
        f"            {general}",
    ]


def _failed_launch(module: Any, rc: Any, grid: tuple[int, int, int], values: list[Any]) -> None:
    """After the native entry returned ``rc``: 1 means it did not launch (the loaded kernel's
    ``launch`` then does, or raises the argument error); anything else is the kernel's error
    record, raised as the launcher raises it."""
    if rc == 1:
        module.launch(grid, values)
    else:
        module._raise(list(rc))


#: the largest and smallest Python ints a launch takes (u64 and i64 parameters)
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def _launch_values_fn(kernel: Any) -> Any:
    """``kernel.launch_values`` with a fast path for the arguments Inductor passes.

    Inductor's launcher hands ``run`` every argument, constexprs included, on every launch:
    CPU tensors and Python ints and floats. For those the launch values are the tensor's
    address and the number itself, which this reads without the JIT's general argument
    handling (about 4 us per launch for a three-argument kernel, more than the launch
    itself). Anything else (NumPy arrays, None, an empty or non-CPU tensor, an int past 64
    bits, a call with only the runtime arguments) and kernels compiled with bounds checks
    (their launch takes each pointer's byte range too) go through ``kernel.launch_values``,
    which converts or raises as it always did.
    """
    generic = kernel.launch_values
    torch = sys.modules.get("torch")
    if kernel._bounds_checked or torch is None:
        return generic
    tensor, parameter = torch.Tensor, torch.nn.Parameter  # a module's weights are Parameters
    runtime = tuple(kernel._runtime)
    n_all = kernel._n_all

    def values_of(args: Any) -> Any:
        if len(args) != n_all:
            return generic(args)
        values = []
        for i in runtime:
            a = args[i]
            t = type(a)
            if (t is tensor or t is parameter) and a.is_cpu:
                ptr = a.data_ptr()
                if not ptr:  # empty (or NULL): the general path decides
                    return generic(args)
                values.append(ptr)
            elif (t is int and _INT_MIN <= a <= _INT_MAX) or t is float:
                values.append(a)
            else:
                return generic(args)
        return values

    return values_of
