"""The host target: LLVM initialization, the target machine, the optimization pipeline and
the one process-wide JIT that loads object code.

Everything LLVM-global lives here so that it is set up once, under a lock, and so that a
reader finds the whole "LLVM IR text -> optimized IR -> object code -> function address" path
in one place.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tritium import knobs
from tritium.backends.cpu import hostinfo

if TYPE_CHECKING:
    import llvmlite.binding as llvm
else:
    # llvmlite's binding loads a 180 MB library and sets LLVM up (~60 ms): a new process that
    # launches cached kernels never needs it (host details and object loading go without it,
    # see hostinfo.py and objload.py), so it is imported on first use (issue 13).
    llvm = hostinfo.LazyModule("llvmlite.binding")

__all__ = [
    "HostTarget",
    "LazyAsm",
    "compiling_for",
    "emit_assembly",
    "host_target",
    "initialize_llvm",
    "load_object",
    "missing_features",
    "optimize_and_emit",
    "pic_object",
    "vector_width",
]

_lock = threading.RLock()
_initialized = False


def initialize_llvm() -> None:
    """Set LLVM up for the host (once): what code that calls ``llvmlite.binding`` itself must
    do first, since :func:`host_target` may answer from the disk cache without LLVM."""
    _init_llvm()


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
    import ctypes.util

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


# Features that LLVM turns back on what an override turns off: every AVX-512 extension implies
# avx512f, so "-avx512f" among "+avx512bw,+avx512vl,..." would still give zmm code. Disabling a
# key here also disables the host's features with these prefixes.
_IMPLIED_BY = {
    "avx512f": ("avx512", "avx10", "amx-avx512", "evex512"),
    "avx2": ("avx512", "avx10", "amx-avx512", "evex512", "avxvnni", "avxifma", "avxneconvert"),
}


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
            name = f[1:]
            if f[0] == "-":
                for dependent in [g for g in feats if g.startswith(_IMPLIED_BY.get(name, ()))]:
                    feats[dependent] = "-"
            feats[name] = f[0]
    return ",".join(sign + name for name, sign in sorted(feats.items()))


_host: hostinfo.Details | None = None


def _ask_llvm() -> hostinfo.Details:
    """The host's CPU name, features, triple and data layout, from LLVM."""
    _init_llvm()
    features = llvm.get_host_cpu_features().flatten()
    cpu = llvm.get_host_cpu_name()
    tm = llvm.Target.from_default_triple().create_target_machine(
        cpu=cpu, features=features, opt=3, reloc="static", codemodel="jitdefault"
    )
    return cpu, features, tm.triple, str(tm.target_data)


def _host_details() -> hostinfo.Details:
    """The host's details, from the object store when a process asked LLVM before (hostinfo)."""
    global _host
    with _lock:
        if _host is None:
            _host = hostinfo.cached_details(_store(), _ask_llvm)
        return _host


def host_target() -> HostTarget:
    """The host CPU with its exact features, overridden by ``TRITIUM_CPU_FEATURES``."""
    global _target, _tm, _tm_key
    override = knobs.cpu_features()
    if _target is not None and _tm_key == override:
        return _target  # the fast path: runtime cache keys ask for this on every compile
    with _lock:
        cpu, host_features, triple, layout = _host_details()
        if _target is None or _tm_key != override:
            features = _merge_features(host_features, override)
            # the target machine is made when code is compiled (_target_machine): loading
            # cached kernels needs none
            _tm, _tm_key = None, override
            _target = HostTarget(cpu, features, triple, layout)
        return _target


@contextlib.contextmanager
def compiling_for(cpu: str, features: str, triple: str | None = None) -> Iterator[HostTarget]:
    """Within the block, :func:`host_target` describes another x86-64 CPU (ahead-of-time builds
    for a feature level such as ``x86-64-v3``), or a CPU of another ``triple`` (cross builds,
    e.g. ``aarch64-unknown-linux-gnu``); the host target comes back afterwards.

    Code compiled inside the block must not be run on this machine; JIT launches in other
    threads during the block would be compiled for that CPU too, so the AOT tool runs alone.
    """
    global _target, _tm, _tm_key
    host_target()
    _init_llvm()
    with _lock:
        saved = (_target, _tm, _tm_key)
        if triple:
            llvm.initialize_all_targets()
            llvm.initialize_all_asmprinters()
        tgt = llvm.Target.from_triple(triple) if triple else llvm.Target.from_default_triple()
        tm = tgt.create_target_machine(
            cpu=cpu, features=features, opt=3, reloc="static", codemodel="jitdefault"
        )
        _tm = tm
        _target = HostTarget(cpu, features, tm.triple, str(tm.target_data))
        try:
            yield _target
        finally:
            _target, _tm, _tm_key = saved


def pic_object(llvm_ir: str, target: HostTarget, hidden: Sequence[str] = ()) -> bytes:
    """Object code of (already optimized) LLVM IR for ``target``, position independent, for
    linking into a shared library; the symbols in ``hidden`` get hidden visibility."""
    _init_llvm()
    with _lock:
        tm = llvm.Target.from_triple(target.triple).create_target_machine(
            cpu=target.cpu, features=target.features, opt=3, reloc="pic", codemodel="default"
        )
        mod = llvm.parse_assembly(llvm_ir)
        mod.triple = tm.triple
        mod.data_layout = str(tm.target_data)
        for name in hidden:
            mod.get_function(name).visibility = "hidden"
        mod.verify()
        return bytes(tm.emit_object(mod))


def missing_features(features: str) -> list[str]:
    """The ``+feature`` entries of an LLVM feature string that this CPU lacks (code built for
    them would die of an illegal instruction here)."""
    have = {f[1:] for f in _host_details()[1].split(",") if f.startswith("+")}
    return [f for f in features.split(",") if f.startswith("+") and f[1:] not in have]


def _target_machine() -> llvm.TargetMachine:
    global _tm
    target = host_target()
    with _lock:
        if _tm is None:
            _init_llvm()
            _tm = llvm.Target.from_triple(target.triple).create_target_machine(
                cpu=target.cpu,
                features=target.features,
                opt=3,
                reloc="static",
                codemodel="jitdefault",
            )
        return _tm


def vector_width(target: HostTarget) -> int:
    """Lanes per vector chunk: 16 with AVX-512 (one zmm of f32), 8 otherwise."""
    return 16 if target.has("avx512f") else 8


def optimize_and_emit(llvm_ir: str) -> tuple[str, bytes]:
    """Optimize LLVM IR text for the host (:func:`optimize_module`); return (optimized IR,
    object code).

    Assembly text is not emitted here (it is a quarter of a compile and only people read it):
    :class:`LazyAsm` makes it from the optimized IR when asked.
    """
    with _lock:
        tm = _target_machine()
        mod = llvm.parse_assembly(llvm_ir)
        mod.triple = tm.triple
        mod.data_layout = str(tm.target_data)
        mod.verify()
        optimize_module(mod, tm)
        opt_ir = str(mod)
        obj = tm.emit_object(mod)
        return opt_ir, bytes(obj)


def optimize_module(mod: llvm.ModuleRef, tm: llvm.TargetMachine) -> None:
    """Run the optimization pipeline on ``mod``: LLVM's O1 with the loop vectorizer, without
    the SLP vectorizer and loop unrolling. Code generation still runs at O3 (the target
    machine's level).

    The lowering already emits the vector code, the unrolled microkernels and their loops'
    final shape; LLVM has to clean up: fold and combine, hoist invariants, promote stack
    slots, simplify control flow and induction variables, which O1 does. What O2 adds (GVN,
    jump threading, correlated value propagation, dead store elimination, two more InstCombine
    rounds, the late loop passes) measured no faster on the benchmark kernels (matmul,
    attention, softmax, layer norm, RMSNorm, vector add, AVX-512 and AVX2: paired ratios
    within the noise, one thread, thread CPU time) and was a fifth of the optimizer's work
    (instructions executed: tutorial matmul 296 -> 242 M, attention 1088 -> 864 M; issue 13);
    O3 costs more still for no speed. The loop vectorizer stays for the scalar loops the
    lowering leaves unmarked (see cold_loops.py); the SLP vectorizer only turned some
    attention kernels' scalar mask compares into vector compares and mask moves (51 of the
    test suite's 1316 distinct kernels, no faster). Partial and runtime unrolling of the
    lowering's loops gave no measurable kernel speed and cost about 15% of the tutorial
    matmul's compile time.
    """
    pto = llvm.create_pipeline_tuning_options(speed_level=1)
    pto.loop_vectorization = True
    pto.slp_vectorization = False
    pto.loop_unrolling = False
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)


#: Where :func:`runtime_object` keeps object code between processes: an object with
#: ``load(key) -> bytes | None`` and ``save(key, data)``, set by the compiler (the disk cache
#: lives there, and the backend does not import it); None: built in every process.
_object_store: list[Any] = [None]


def set_object_store(store: Any) -> None:
    """Use ``store`` (see :data:`_object_store`) for the runtime's own object code."""
    _object_store[0] = store


def _store() -> Any:
    """The object store: the one set by :func:`set_object_store`, else the compiler's disk cache
    when the compiler is imported (host details are asked for before it sets the store)."""
    store = _object_store[0]
    if store is None:
        compiler = sys.modules.get("tritium.compiler.compiler")
        store = getattr(compiler, "_RUNTIME_OBJECTS", None)
    return store


def runtime_object(llvm_ir: str) -> bytes:
    """Object code of one of the runtime's own modules (the thread pool, the launch entry, the
    bf16 helpers), optimized like a kernel, from the object store when it was built before.

    Each process needs these before its first launch; building them is tens of milliseconds
    of LLVM, a large share of a new process's first launch of a cached kernel. The key is the
    IR text (which must not hold addresses), the target and LLVM's version.
    """
    return cached_object(llvm_ir, lambda: llvm_ir)


def cached_object(key_text: str, make_ir: Callable[[], str]) -> bytes:
    """Object code of the LLVM IR that ``make_ir()`` returns, from the object store when it was
    built before under ``key_text`` (with the target and LLVM's identity added): a key that
    determines the IR, such as the generating modules' :func:`hostinfo.source_digest` and their
    parameters, spares a new process building the IR just to find its key."""
    import hashlib

    target = host_target()
    h = hashlib.sha256(b"tritium runtime object v2\0")
    h.update(f"{hostinfo.llvm_identity()}\0{target.key}\0".encode())
    h.update(key_text.encode())
    key = h.hexdigest()
    store = _store()
    if store is not None:
        try:
            obj = store.load(key)
        except Exception:  # noqa: BLE001 - a cache is an optimization: build instead
            obj = None
        if isinstance(obj, bytes) and obj:
            return obj
    _, obj = optimize_and_emit(make_ir())
    if store is not None:
        try:
            store.save(key, obj)
        except Exception:  # noqa: BLE001 - not fatal: the next process builds it again
            pass
    return obj


_machines: dict[str, llvm.TargetMachine] = {}


def emit_assembly(opt_ir: str, target_key: str) -> str:
    """The assembly of already optimized IR for the target ``target_key`` (``HostTarget.key``:
    the features it was compiled with, which need not be the current ones)."""
    _init_llvm()
    with _lock:
        tm = _machines.get(target_key)
        if tm is None:
            triple, cpu, features = target_key.split(":", 2)
            tm = llvm.Target.from_triple(triple).create_target_machine(
                cpu=cpu, features=features, opt=3, reloc="static", codemodel="jitdefault"
            )
            _machines[target_key] = tm
        return tm.emit_assembly(llvm.parse_assembly(opt_ir))


class LazyAsm(dict):  # type: ignore[type-arg]
    """An artifact's ``asm`` dict whose ``"asm"`` entry (assembly text) is made on first read,
    from the optimized ``"llir"``, for the target the kernel was compiled for.

    Only ``asm["asm"]``, ``asm.get("asm")`` and ``"asm" in asm`` see the lazy entry; iteration
    (what the disk cache stores) does not, until it has been read once.
    """

    def __init__(self, stages: dict[str, str | bytes], target_key: str) -> None:
        super().__init__(stages)
        self.target_key = target_key

    def _lazy(self, key: object) -> bool:
        return key == "asm" and "llir" in self.keys() and target_usable(self.target_key)

    def __missing__(self, key: str) -> str:
        if not self._lazy(key):
            raise KeyError(key)
        text = emit_assembly(str(self["llir"]), self.target_key)
        self[key] = text
        return text

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key) or self._lazy(key)

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        """``self[key]`` if present (or lazily made), else ``default``."""
        return self[key] if key in self else default


def target_usable(target_key: str) -> bool:
    """Whether ``target_key`` names a triple LLVM knows (so its assembly can be emitted)."""
    return target_key.count(":") >= 2


# compiler-rt helpers that LLVM may call from generated code where the CPU has no instruction
# for an operation (f32/f64 -> bf16 without AVX512-BF16). The JIT links against the process's
# symbols, which do not include compiler-rt, so these are defined here, in IR, with integer
# ops: round to nearest even, NaN kept quiet, overflow carried into infinity; f64 goes through
# f32 rounded to odd, so it rounds once.
_SUPPORT_IR = """
define bfloat @__truncsfbf2(float %x) {
  %bits = bitcast float %x to i32
  %hi = lshr i32 %bits, 16
  %lsb = and i32 %hi, 1
  %bias = add i32 %lsb, 32767
  %rounded = add i32 %bits, %bias
  %quiet = or i32 %bits, 4194304
  %nan = fcmp uno float %x, %x
  %pick = select i1 %nan, i32 %quiet, i32 %rounded
  %top = lshr i32 %pick, 16
  %t = trunc i32 %top to i16
  %r = bitcast i16 %t to bfloat
  ret bfloat %r
}

define bfloat @__truncdfbf2(double %x) {
  %f = fptrunc double %x to float
  %back = fpext float %f to double
  %ab = call double @llvm.fabs.f64(double %back)
  %ax = call double @llvm.fabs.f64(double %x)
  %over = fcmp ogt double %ab, %ax
  %bits = bitcast float %f to i32
  %less = sub i32 %bits, 1
  %tz = select i1 %over, i32 %less, i32 %bits
  %tzf = bitcast i32 %tz to float
  %tzd = fpext float %tzf to double
  %inexact = fcmp une double %tzd, %x
  %odd = or i32 %tz, 1
  %rodd = select i1 %inexact, i32 %odd, i32 %tz
  %g = bitcast i32 %rodd to float
  %r = call bfloat @__truncsfbf2(float %g)
  ret bfloat %r
}

declare double @llvm.fabs.f64(double)
"""


_support: dict[str, bytes] = {}


def _support_object() -> bytes:
    """Object code for :data:`_SUPPORT_IR`, built for the current target."""
    key = host_target().key
    if key not in _support:
        _support[key] = runtime_object(_SUPPORT_IR)
    return _support[key]


_engine: llvm.ExecutionEngine | None = None
#: each loaded object -> its symbol lookup (address, 0 if it does not define the name)
_loaded: dict[bytes, Callable[[str], int]] = {}
_symbols: dict[str, bytes] = {}  # entry symbol -> the object that defines it
#: global symbols: those given to :func:`add_symbol`, then those of loaded objects (the first
#: definition wins, as in LLVM's JIT)
_defined: dict[str, int] = {}
_SUPPORT_SYMBOLS = ("__truncsfbf2", "__truncdfbf2")


def add_symbol(name: str, address: int) -> None:
    """Make ``name`` resolve to ``address`` in objects loaded from now on (C API functions that
    the runtime's code calls)."""
    with _lock:
        _defined[name] = address
        if _engine is not None:
            llvm.add_symbol(name, address)


#: the names of the shared run-time helpers that kernels call (:mod:`.helpers`) start so
HELPER_PREFIX = "tritium_helper_"
_helper_objects: set[bytes] = set()  # the helpers' object (they call none of each other)


def helper_address(name: str) -> int:
    """The address of the run-time helper ``name`` (:mod:`.helpers`): their one object built,
    or read from the object store without importing LLVM, and loaded on first use."""
    with _lock:
        address = _defined.get(name)
        if address is None:
            triple = host_target().triple

            def make_ir() -> str:
                from tritium.backends.cpu.helpers import helpers_ir

                return helpers_ir(triple)

            digest = hostinfo.source_digest(
                "tritium.backends.cpu.helpers",
                "tritium.backends.cpu.llvm_utils",
                "tritium.backends.cpu.scratch",
            )
            obj = cached_object(f"helpers {triple} {digest}", make_ir)
            _helper_objects.add(obj)
            address = load_object(obj, name)
            _defined[name] = address
            if _engine is not None:
                llvm.add_symbol(name, address)
        return address


def _resolve(name: str) -> int | None:
    address = _defined.get(name)
    if address is None and name in _SUPPORT_SYMBOLS:
        load_object(_support_object(), name)  # compiler-rt helpers: loaded when first used
        address = _defined.get(name)
    if address is None and name.startswith(HELPER_PREFIX):
        address = helper_address(name)
    return address if address is not None else hostinfo.dlsym(name)


def _own_load(binary: bytes) -> Callable[[str], int] | None:
    """Load with :mod:`objload` (no LLVM), or None where it cannot."""
    from tritium.backends.cpu import objload

    if knobs.object_loader() != "auto" or not objload.supported_host():
        return None
    try:
        obj = objload.load(binary, _resolve)
    except objload.UnsupportedObjectError:
        return None
    for name, address in obj.symbols.items():
        _defined.setdefault(name, address)
    return lambda name: obj.symbols.get(name, 0)


def _llvm_load(binary: bytes) -> Callable[[str], int]:
    """Load with LLVM's JIT (objects :mod:`objload` does not handle, other hosts)."""
    global _engine
    _init_llvm()
    support = binary == _support_object()
    if not support:
        for name in _SUPPORT_SYMBOLS:
            _resolve(name)
        # the JIT resolves only names defined before: the run-time helpers the object calls
        if binary not in _helper_objects and HELPER_PREFIX.encode() in binary:
            from tritium.backends.cpu.helpers import NAMES

            for name in NAMES:
                if name.encode() in binary:
                    helper_address(name)
    if _engine is None:
        _engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _target_machine())
    for name, address in _defined.items():  # what the own loader placed, add_symbol's
        llvm.add_symbol(name, address)
    _engine.add_object_file(llvm.ObjectFileRef.from_data(binary))
    _engine.finalize_object()
    if support:
        for name in _SUPPORT_SYMBOLS:
            _defined.setdefault(name, _engine.get_function_address(name))
    return _engine.get_function_address


def load_object(binary: bytes, symbol: str) -> int:
    """Load object code into the process (once per distinct object), without LLVM where
    :mod:`objload` can; return the address of ``symbol``."""
    with _lock:
        lookup = _loaded.get(binary)
        if lookup is None:
            owner = _symbols.get(symbol)
            if owner is not None and owner != binary:
                # the JIT would resolve the name to the first object: refuse, never run wrong code
                raise RuntimeError(f"another object already defines {symbol!r}")
            lookup = _own_load(binary) or _llvm_load(binary)
            _loaded[binary] = lookup
            _symbols[symbol] = binary
        addr = lookup(symbol)
        if not addr:
            raise RuntimeError(f"symbol {symbol!r} not found in the loaded kernel object")
        return addr


def loaded_objects() -> dict[str, bytes]:
    """The objects loaded into the JIT so far, by the symbol each was loaded for (the sampling
    profiler names addresses in them: the thread pool, other kernels)."""
    with _lock:
        return dict(_symbols)
