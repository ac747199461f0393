"""The host target: LLVM initialization, the target machine, the optimization pipeline and
the one process-wide JIT that loads object code.

Everything LLVM-global lives here so that it is set up once, under a lock, and so that a
reader finds the whole "LLVM IR text -> optimized IR -> object code -> function address" path
in one place.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass

import llvmlite.binding as llvm

from tritium import knobs

__all__ = [
    "HostTarget",
    "host_target",
    "missing_features",
    "optimize_and_emit",
    "load_object",
    "vector_width",
]

_lock = threading.RLock()
_initialized = False


def _init_llvm() -> None:
    global _initialized
    with _lock:
        if _initialized:
            return
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        llvm.initialize_native_asmparser()
        _register_libm()
        _initialized = True


def _register_libm() -> None:
    """Make sure the math and threading symbols our code may call resolve in the JIT.

    LLVM scalarizes some vector intrinsics (``llvm.sin.v16f64``) into libm calls; the JIT looks
    them up with the process's dynamic symbol table, so load libm and libc globally.
    """
    for name in ("m", "c", "pthread"):
        path = ctypes.util.find_library(name)
        if path:
            try:
                llvm.load_library_permanently(path)
            except RuntimeError:
                pass  # not fatal: the symbols are usually in the process already


@dataclass(frozen=True)
class HostTarget:
    """The CPU we generate code for: LLVM cpu name, feature string, triple, data layout."""

    cpu: str
    features: str
    triple: str
    data_layout: str

    def has(self, feature: str) -> bool:
        """Whether ``+feature`` is enabled in the feature string."""
        return f"+{feature}" in self.features.split(",")

    @property
    def key(self) -> str:
        """Triple, CPU and features: what generated code depends on."""
        return f"{self.triple}:{self.cpu}:{self.features}"


_target: HostTarget | None = None
_tm: llvm.TargetMachine | None = None
_tm_key: str | None = None


def _merge_features(base: str, override: str) -> str:
    feats: dict[str, str] = {}
    for f in base.split(","):
        if f:
            feats[f[1:]] = f[0]
    for f in override.split(","):
        f = f.strip()
        if f:
            if f[0] not in "+-":
                f = "+" + f
            feats[f[1:]] = f[0]
    return ",".join(sign + name for name, sign in sorted(feats.items()))


_host_features: str | None = None


def host_target() -> HostTarget:
    """The host CPU with its exact features, overridden by ``TRITIUM_CPU_FEATURES``."""
    global _target, _tm, _tm_key, _host_features
    override = knobs.cpu_features()
    if _target is not None and _tm_key == override:
        return _target  # the fast path: runtime cache keys ask for this on every compile
    _init_llvm()
    with _lock:
        if _host_features is None:
            _host_features = llvm.get_host_cpu_features().flatten()
        if _target is None or _tm_key != override:
            features = _merge_features(_host_features, override)
            cpu = llvm.get_host_cpu_name()
            tm = llvm.Target.from_default_triple().create_target_machine(
                cpu=cpu, features=features, opt=3, reloc="static", codemodel="jitdefault"
            )
            _tm, _tm_key = tm, override
            _target = HostTarget(cpu, features, tm.triple, str(tm.target_data))
        return _target


def missing_features(features: str) -> list[str]:
    """The ``+feature`` entries of an LLVM feature string that this CPU lacks (code built for
    them would die of an illegal instruction here)."""
    host_target()
    assert _host_features is not None
    have = {f[1:] for f in _host_features.split(",") if f.startswith("+")}
    return [f for f in features.split(",") if f.startswith("+") and f[1:] not in have]


def _target_machine() -> llvm.TargetMachine:
    host_target()
    assert _tm is not None
    return _tm


def vector_width(target: HostTarget) -> int:
    """Lanes per vector chunk: 16 with AVX-512 (one zmm of f32), 8 otherwise."""
    return 16 if target.has("avx512f") else 8


def optimize_and_emit(llvm_ir: str) -> tuple[str, str, bytes]:
    """Optimize LLVM IR text at O3 for the host; return (optimized IR, assembly, object code)."""
    with _lock:
        tm = _target_machine()
        mod = llvm.parse_assembly(llvm_ir)
        mod.triple = tm.triple
        mod.data_layout = str(tm.target_data)
        mod.verify()
        pto = llvm.create_pipeline_tuning_options(speed_level=3)
        pto.loop_vectorization = True
        pto.slp_vectorization = True
        pto.loop_unrolling = True
        pb = llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(mod, pb)
        opt_ir = str(mod)
        asm = tm.emit_assembly(mod)
        obj = tm.emit_object(mod)
        return opt_ir, asm, bytes(obj)


_engine: llvm.ExecutionEngine | None = None
_loaded: dict[bytes, bool] = {}
_symbols: dict[str, bytes] = {}  # entry symbol -> the object that defines it


def load_object(binary: bytes, symbol: str) -> int:
    """Load object code into the process-wide JIT (once per distinct object); return the
    address of ``symbol``."""
    global _engine
    _init_llvm()
    with _lock:
        if _engine is None:
            owner = llvm.parse_assembly("")
            _engine = llvm.create_mcjit_compiler(owner, _target_machine())
        if binary not in _loaded:
            owner = _symbols.get(symbol)
            if owner is not None and owner != binary:
                # the JIT would resolve the name to the first object: refuse, never run wrong code
                raise RuntimeError(f"another object already defines {symbol!r}")
            _engine.add_object_file(llvm.ObjectFileRef.from_data(binary))
            _engine.finalize_object()
            _loaded[binary] = True
            _symbols[symbol] = binary
        addr = _engine.get_function_address(symbol)
        if not addr:
            raise RuntimeError(f"symbol {symbol!r} not found in the loaded kernel object")
        return addr
