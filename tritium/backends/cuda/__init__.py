"""The NVIDIA backend: Tile IR -> distributed layouts -> LLVM NVPTX -> PTX -> cubin.

The pipeline, step by step (:meth:`CUDABackend.compile`):

1. find the kernel (the module's public ``tt.func``);
2. choose a layout for every tile (``assign``: coalesced blocked layouts, slices for
   reductions) and record it on the ops: the ``ttgir`` stage;
3. lower to one ``ptx_kernel`` LLVM function (``lowering.Lowering`` with the rules in
   ``memory``, ``reduce``, ``control``, ``shapes``, ``dot`` and the per-element rules in
   ``elementwise``);
4. optimize at O3 and emit PTX for the target (``target``);
5. assemble a cubin with ``ptxas`` where one is found (otherwise the driver JIT-compiles the
   PTX when the kernel is loaded).

:meth:`CUDABackend.load` returns a kernel that loads its module into the current CUDA
context on first launch (``runtime``), so compiling needs no GPU and no CUDA driver.
"""

from __future__ import annotations

from typing import Any

from tritium import knobs
from tritium.backends.base import Backend, CompiledArtifact
from tritium.backends.cuda import control, dot, memory, reduce, scan, shapes, tma  # noqa: F401
from tritium.backends.cuda.lowering import Lowering, param_type
from tritium.backends.cuda.target import (
    arch_for,
    assemble,
    find_ptxas,
    optimize_and_emit_ptx,
    parse_ptxas_report,
    ptxas_version,
)
from tritium.errors import InternalCompilerError
from tritium.ir import Module, Operation

__all__ = ["CUDABackend"]

# Beyond this a kernel needs the opt-in attribute for dynamic shared memory (the runtime sets it).
DEFAULT_SHARED_LIMIT = 48 * 1024


def _kernel_function(module: Module) -> Operation:
    public = [f for f in module.functions if f.attrs.get("visibility", "public") == "public"]
    if len(public) != 1:
        names = [f.attrs.get("sym_name") for f in public]
        raise InternalCompilerError(
            f"expected one public tt.func, found {names}", pass_name="cuda-codegen"
        )
    return public[0]


class CUDABackend(Backend):
    """Compiles kernels for NVIDIA GPUs (see the module docstring for the steps)."""

    name = "cuda"

    def target_key(self) -> str:
        ptxas = find_ptxas()
        version = ".".join(map(str, ptxas_version(ptxas))) if ptxas else "none"
        wgmma = "" if knobs.cuda_wgmma() else ":no-wgmma"  # TRITIUM_CUDA_WGMMA=0
        return f"cuda:ptxas-{version}{wgmma}"

    def compile(self, module: Module, options: dict[str, Any] | None = None) -> CompiledArtifact:
        options = dict(options or {})
        arch = arch_for(options.get("arch", 90))
        func = _kernel_function(module)
        name = str(func.attrs.get("sym_name", "kernel"))
        # 2-3. layouts, then the LLVM kernel
        cx = Lowering(func, arch, options)
        dot.plan_wgmma_operands(cx)
        tma.plan_tensor_maps(cx)
        try:
            cx.lower_kernel()
        except NotImplementedError as e:
            raise NotImplementedError(f"{name}: {e}") from None
        ttgir = str(module)
        llir = str(cx.module)
        if cx.tensor_maps:
            llir = tma.grid_constant_params(llir, [p.name for p in cx.tensor_map_params])
        _check_no_external_calls(name, llir)
        # 4. PTX
        opt_ir, ptx = optimize_and_emit_ptx(llir, arch)
        asm: dict[str, str | bytes] = {"ttgir": ttgir, "llir": opt_ir, "ptx": ptx}
        metadata: dict[str, Any] = {
            "name": name,
            "backend": "cuda",
            "arch": arch.sm,
            "cc": arch.cc,
            "ptx_version": arch.ptx_text,
            "num_warps": cx.num_warps,
            "num_ctas": 1,
            "shared": cx.smem_bytes,
            "param_types": [str(a.type) for a in func.regions[0].block.args],
            "param_llvm": [str(param_type(a.type)) for a in func.regions[0].block.args],
            # CUtensorMap parameters appended after param_types (encoded at launch)
            "tma": [s.as_metadata(i in cx.tma_used) for i, s in enumerate(cx.tensor_maps)],
            "n_regs": 0,
            "n_spills": 0,
        }
        binary = b""
        # 5. cubin (optional: without ptxas the driver compiles the PTX)
        ptxas = find_ptxas()
        if ptxas is not None:
            cubin, report = assemble(ptx, arch, ptxas)
            asm["cubin"] = cubin
            binary = cubin
            stats = parse_ptxas_report(report)
            metadata["n_regs"] = stats["n_regs"]
            metadata["n_spills"] = stats["n_spills"]
        return CompiledArtifact(name, asm, binary, metadata)

    def load(self, artifact: CompiledArtifact) -> Any:
        from tritium.backends.cuda.runtime import CUDAKernel

        return CUDAKernel(artifact)


def _check_no_external_calls(name: str, llir: str) -> None:
    """NVPTX has no libm: a call to anything but an intrinsic cannot be linked."""
    for line in llir.splitlines():
        if line.startswith("declare") and '@"llvm.' not in line and "@llvm." not in line:
            callee = line.split("@", 1)[1].split("(", 1)[0].strip('"')
            raise NotImplementedError(
                f"{name}: the cuda backend cannot call {callee!r} (no libdevice yet)"
            )
