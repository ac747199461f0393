"""The native CPU backend: Tile IR -> LLVM IR (llvmlite) -> host object code -> a launcher
that spreads program instances over native threads.

The pipeline, step by step (:meth:`CPUBackend.compile`):

1. find the kernel (the module's public ``tt.func``);
2. lower it to an LLVM program function (``codegen.Lowering``: fusion analysis, then one op
   at a time through the dispatch tables);
3. add the exported entry (``launcher.emit_launcher``): it calls the grid launcher shared
   by all kernels (built once), with the kernel's program function and constants, such as
   the grid axis that walks memory contiguously fastest (``grid_order.fast_axis``);
4. optimize at O3 for the host CPU and emit object code (``target``); the assembly text is
   made only when someone reads ``asm["asm"]`` (or a dump directory is set).

:meth:`CPUBackend.load` loads the object code into the process-wide JIT without running
LLVM's optimizer again, so a disk-cached artifact loads fast.

Modules: ``codegen`` (the Lowering context, dispatch tables), ``analysis`` (fusion decisions,
contiguity), ``tiles`` (how a tile exists: scalar, fused, buffer, loop offset), ``elementwise``
/ ``casts`` / ``mathlib`` (per-element rules, vectorized math), ``shapes``, ``memory``,
``reduce``, ``dot`` / ``dot_packed`` (FMA, VNNI and BF16 microkernels), ``control``, ``calls``,
``debug`` (print/assert), ``launcher`` and ``threadpool`` (running the grid), ``target``
(LLVM setup and the JIT), ``llvm_utils`` (small llvmlite helpers).
"""

from __future__ import annotations

import hashlib
import sys
from typing import TYPE_CHECKING, Any

from tritium import knobs
from tritium.backends.base import ArtifactRefused, Backend, CompiledArtifact
from tritium.backends.cpu.launcher import CPUKernel, grid_launch_address
from tritium.backends.cpu.target import (
    LazyAsm,
    host_target,
    load_object,
    missing_features,
    optimize_and_emit,
    set_object_store,
)
from tritium.errors import InternalCompilerError, OutOfResources

if TYPE_CHECKING:
    from tritium.ir import Module, Operation

__all__ = ["CPUBackend", "CPUKernel", "MAX_STACK_BYTES"]

# tiles materialize on the stack of the thread running a program; beyond this, refuse
MAX_STACK_BYTES = 256 << 20


# Module flags that benchmarks and tests turn off to time or check a lowering against the one
# before it (A/B), not user settings. A compile made with one off is a different code under
# the same sources: the key names the flags that are off, so that a process with the default
# never loads it from the disk cache (the flag's module not yet imported: at its default).
_AB_FLAGS = (
    ("dot_kloop", "_ENABLED"),
    ("dot_kloop_packed", "_DIRECT_A"),
    ("dot_kloop_packed", "DIRECT_STORE"),
    ("dot_panels", "_ENABLED"),
    ("dot_epilogue", "_ENABLED"),
    ("dot_masked", "ENABLED"),
    ("heavy_first", "ENABLED"),
    ("dot_ahead", "_ENABLED"),
    ("dot_ahead", "_NEXT"),
)


def _ab_off() -> str:
    """``;off=module.FLAG,...`` for the A/B flags that are off, or ``""``."""
    off = [
        f"{mod}.{flag}"
        for mod, flag in _AB_FLAGS
        if not getattr(sys.modules.get(f"{__name__}.{mod}"), flag, True)
    ]
    return f";off={','.join(off)}" if off else ""


def _kernel_function(module: Module) -> Operation:
    funcs = module.functions
    public = [f for f in funcs if f.attrs.get("visibility", "public") == "public"]
    if len(public) != 1:
        names = [f.attrs.get("sym_name") for f in public]
        raise InternalCompilerError(
            f"expected one public tt.func, found {names}", pass_name="cpu-codegen"
        )
    return public[0]


class CPUBackend(Backend):
    """Compiles kernels for the host CPU (see the module docstring for the steps)."""

    name = "cpu"
    #: Launch options that do not change CPU code: left out of the cache key (issue 13).
    ignored_options = frozenset(
        {
            "num_warps",
            "num_stages",
            "num_ctas",
            "maxnreg",
            "waves_per_eu",
            "matrix_instr_nonkdim",
            "kpack",
        }
    )

    #: ``set_object_store(store)``: where the runtime's own object code is kept (the compiler
    #: passes its disk cache)
    set_object_store = staticmethod(set_object_store)

    def target_key(self) -> str:
        target = host_target()
        # generated code depends on them (see streaming.py, dot_amx.py)
        stream, amx = knobs.streaming_stores(), knobs.cpu_amx()
        cached = self.__dict__.get("_key")
        if cached is None or cached[0] is not target or cached[1] != (stream, amx):
            from tritium.backends.cpu.hostinfo import streaming_threshold

            key = f"cpu:{target.key};stream>={streaming_threshold()}"
            cached = (target, (stream, amx), key)
            self.__dict__["_key"] = cached
        if amx == "emulate" or (amx == "auto" and target.has("amx-tile")):
            from tritium.backends.cpu.dot_amx import key_part

            return cached[2] + key_part(target) + _ab_off()  # asks no one; a refusal changes it
        return cached[2] + _ab_off()

    def compile(self, module: Module, options: dict[str, Any] | None = None) -> CompiledArtifact:
        # imported here: loading a cached kernel needs neither (a new process starts faster)
        from tritium.backends.cpu.codegen import Lowering, function_attributes
        from tritium.backends.cpu.grid_order import fast_axis, residue_period
        from tritium.backends.cpu.heavy_first import heavy_first
        from tritium.backends.cpu.irtext import global_text, module_text
        from tritium.backends.cpu.launcher import emit_launcher, owned_shares
        from tritium.backends.cpu.line_info import finish

        options = dict(options or {})
        target = host_target()
        func = _kernel_function(module)
        name = str(func.attrs.get("sym_name", "kernel"))
        # 2. lower the kernel to one LLVM function per program instance
        cx = Lowering(func, target, options)
        # the grid order: the axis whose neighbouring programs touch neighbouring memory (the
        # program's prefetches of the next program's tiles need it too)
        cx.grid_fast_axis = fast_axis(func)
        cx.grid_period = residue_period(func)  # programs by pid % K: a lock's row
        cx.grid_heavy_first = heavy_first(func)  # decreasing ids: a causal kernel's balance
        cx.lower_kernel()
        cx.grid_owned = owned_shares(cx)  # a share of programs per worker: kept panels
        # 3. the entry point; its name is unique per kernel code so objects never collide: the
        # program's IR and the launcher's grid order (one program run in two orders, e.g. by a
        # pass switched off for an A/B timing, is two objects)
        program_ir = module_text(cx.module)  # printing a module is slow: only once
        order = f"{cx.grid_fast_axis}:{cx.grid_period}:{int(cx.grid_heavy_first)}"
        order += ":owned" if cx.grid_owned else ""
        digest = hashlib.sha1((target.key + order + program_ir).encode()).hexdigest()[:16]
        entry = f"{name}_launch_{digest}"
        if cx.stack_bytes > MAX_STACK_BYTES:
            raise OutOfResources(cx.stack_bytes, MAX_STACK_BYTES, "CPU stack for tile buffers")
        before = set(cx.module.globals)
        emit_launcher(cx, entry)
        if cx.lines is not None:  # instrumentation_mode="lines": calls need locations too
            finish(cx.lines, cx.module)
            text = module_text(cx.module)  # with the metadata made since program_ir
        else:
            # the launcher's own functions and declarations, after the program's text
            added = [global_text(v) for k, v in cx.module.globals.items() if k not in before]
            text = "\n".join([program_ir, *added])
        # 4. optimize for the host and emit code
        ir_text = function_attributes(text, target, cx.vw)
        opt_ir, obj = optimize_and_emit(ir_text)
        params = [str(a.type) for a in func.regions[0].block.args]
        metadata = {
            "name": name,
            "backend": "cpu",
            "entry": entry,
            "param_types": params,
            "asserts": cx.asserts,
            "stack_bytes": cx.stack_bytes,
            "target": target.key,
            "vector_width": cx.vw,
            "grid_fast_axis": cx.grid_fast_axis,
            "grid_period": cx.grid_period,
            "grid_heavy_first": cx.grid_heavy_first,
            "grid_owned": cx.grid_owned,
            "line_info": cx.lines is not None,
        }
        if cx.amx_tiles:  # only a process that may use them loads it (see load)
            metadata["amx"] = True
        asm = LazyAsm({"llir": opt_ir}, target.key)
        if knobs.kernel_dump_dir():
            _ = asm["asm"]  # a dump writes every stage: make the assembly now
        return CompiledArtifact(name, asm, obj, metadata)

    def load(self, artifact: CompiledArtifact) -> CPUKernel:
        md = artifact.metadata
        features = str(md.get("target", "")).rpartition(":")[2]
        lacking = missing_features(features)
        if lacking:  # refuse before running: the code would die of an illegal instruction
            raise RuntimeError(
                f"kernel {artifact.name} was compiled for CPU features this CPU lacks: "
                f"{', '.join(lacking)} (check TRITIUM_CPU_FEATURES={knobs.cpu_features()!r})"
            )
        if md.get("amx"):
            from tritium.backends.cpu import dot_amx

            if not dot_amx.permitted():  # asks Linux the first time: the code needs it
                raise ArtifactRefused(f"kernel {artifact.name} uses AMX tiles, refused here")
        if not isinstance(artifact.asm, LazyAsm) and "target" in md:
            # from the disk cache, which stores no assembly: make it on demand again
            artifact.asm = LazyAsm(artifact.asm, md["target"])
        grid_launch_address()  # the launcher that every kernel's entry calls
        address = load_object(artifact.binary, md["entry"])
        return CPUKernel(artifact.name, address, md["param_types"], md.get("asserts", []))
