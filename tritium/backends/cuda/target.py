"""The NVPTX target: LLVM setup, the PTX version, and ``ptxas``.

``llvm_target(cc)`` gives the LLVM target machine for compute capability ``cc`` (80, 89, 90,
100, ...); Hopper (90) and Blackwell (100) get their architecture-specific variants
(``sm_90a``, ``sm_100a``), which ``wgmma``/TMA code needs. The PTX ISA version is the newest one
that LLVM, the ``ptxas`` in use and the architecture all accept (an older ``ptxas`` rejects a
``.version`` newer than itself).

``ptxas`` is looked up in ``TRITIUM_PTXAS_PATH``, Triton's ``TRITON_PTXAS_PATH``, the
``nvidia-cuda-nvcc`` wheel, then ``PATH``. Without one there is no cubin and the CUDA driver
JIT-compiles the PTX at load time.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

__all__ = [
    "CudaArch",
    "arch_for",
    "assemble",
    "find_ptxas",
    "llvm_target_machine",
    "max_shared",
    "ptx_version_for",
    "ptxas_version",
]

TRIPLE = "nvptx64-nvidia-cuda"
DATA_LAYOUT = (
    "e-p3:32:32-p4:32:32-p5:32:32-p6:32:32-p7:32:32-i64:64-i128:128-v16:16-v32:32-n16:32:64"
)

# The oldest PTX ISA version that knows each architecture (PTX ISA release notes).
_MIN_PTX_FOR_SM = {75: 63, 80: 70, 86: 71, 87: 74, 89: 78, 90: 78, 100: 86, 101: 86, 120: 87}
# The newest PTX ISA a ptxas release accepts: CUDA 12.x -> 8.x, 13.0 -> 9.0.
_PTX_FOR_CUDA = {
    (12, 0): 80,
    (12, 1): 81,
    (12, 2): 82,
    (12, 3): 83,
    (12, 4): 84,
    (12, 5): 85,
    (12, 6): 85,
    (12, 7): 86,
    (12, 8): 87,
    (12, 9): 88,
    (13, 0): 90,
}
# The newest PTX ISA this LLVM (22) emits.
_LLVM_MAX_PTX = 90


@dataclass(frozen=True)
class CudaArch:
    """One compilation target: ``cc`` (e.g. 90), the LLVM CPU name (``sm_90a``) and PTX version
    (e.g. 86 for ``.version 8.6``)."""

    cc: int
    sm: str
    ptx: int

    @property
    def ptx_text(self) -> str:
        """The ``.version`` as PTX prints it (``"8.6"``)."""
        return f"{self.ptx // 10}.{self.ptx % 10}"

    @property
    def hopper(self) -> bool:
        """sm_90a and newer: wgmma/TMA/clusters are available."""
        return self.cc >= 90


def _sm_name(cc: int) -> str:
    # The 'a' variants unlock architecture-specific instructions (wgmma, setmaxnreg, tcgen05)
    return f"sm_{cc}a" if cc in (90, 100) else f"sm_{cc}"


def ptx_version_for(cc: int, ptxas: tuple[int, int] | None) -> int:
    """The PTX ISA version to emit for ``cc`` given the ``ptxas`` version (None: no ptxas, the
    driver JIT-compiles; then the oldest version the architecture accepts, which every driver
    new enough for that GPU reads)."""
    need = max(v for c, v in _MIN_PTX_FOR_SM.items() if c <= cc) if cc >= 75 else 63
    if ptxas is None:
        return need
    known = [v for k, v in _PTX_FOR_CUDA.items() if k <= ptxas]
    cap = max(known) if known else 70
    cap = min(cap, _LLVM_MAX_PTX)
    if cap < need:
        raise RuntimeError(
            f"ptxas {ptxas[0]}.{ptxas[1]} is too old for sm_{cc} (needs PTX ISA "
            f"{need // 10}.{need % 10}); set TRITIUM_PTXAS_PATH to a newer one"
        )
    return cap


def arch_for(cc: int | str) -> CudaArch:
    """The target for compute capability ``cc`` (an int such as 90, or ``"sm_90a"``)."""
    if isinstance(cc, str):
        m = re.fullmatch(r"(?:sm_)?(\d+)a?", cc.strip())
        if not m:
            raise ValueError(f"not a CUDA compute capability: {cc!r}")
        cc = int(m.group(1))
    if not isinstance(cc, int) or cc < 75:
        raise ValueError(f"the cuda backend supports compute capability 75 and newer, got {cc!r}")
    ptxas = find_ptxas()
    return CudaArch(cc, _sm_name(cc), ptx_version_for(cc, ptxas_version(ptxas) if ptxas else None))


@functools.cache
def _llvm() -> object:
    import llvmlite.binding as llvm

    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    return llvm


def llvm_target_machine(arch: CudaArch) -> object:
    """The LLVM target machine emitting PTX for ``arch`` at O3."""
    llvm = _llvm()
    target = llvm.Target.from_triple(TRIPLE)  # type: ignore[attr-defined]
    return target.create_target_machine(cpu=arch.sm, features=f"+ptx{arch.ptx}", opt=3)


def optimize_and_emit_ptx(ir_text: str, arch: CudaArch) -> tuple[str, str]:
    """(optimized LLVM IR, PTX) for a module's text."""
    llvm = _llvm()
    mod = llvm.parse_assembly(ir_text)  # type: ignore[attr-defined]
    mod.verify()
    tm = llvm_target_machine(arch)
    pto = llvm.create_pipeline_tuning_options(speed_level=3)  # type: ignore[attr-defined]
    pb = llvm.create_pass_builder(tm, pto)  # type: ignore[attr-defined]
    pb.getModulePassManager().run(mod, pb)
    return str(mod), tm.emit_assembly(mod)  # type: ignore[attr-defined]


# Dynamic shared memory a CTA may opt into, per compute capability (CUDA programming guide,
# "Technical Specifications per Compute Capability").
_MAX_SHARED = {75: 64 * 1024, 80: 163 * 1024, 86: 99 * 1024, 87: 163 * 1024, 89: 99 * 1024,
               90: 227 * 1024, 100: 227 * 1024, 120: 99 * 1024}  # fmt: skip


def max_shared(cc: int) -> int:
    """The most dynamic shared memory one CTA of compute capability ``cc`` may use."""
    return _MAX_SHARED.get(cc) or max(v for c, v in _MAX_SHARED.items() if c <= cc)


# ---- ptxas ---------------------------------------------------------------------------------
def _wheel_ptxas() -> str | None:
    """``ptxas`` from the ``nvidia-cuda-nvcc`` wheel (nvidia/cuda_nvcc/bin/ptxas), if installed."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for sub in ("cuda_nvcc/bin/ptxas", "cu13/bin/ptxas"):
            path = os.path.join(root, sub)
            if os.access(path, os.X_OK):
                return path
    return None


def find_ptxas() -> str | None:
    """The ``ptxas`` to use, or None (see the module docstring for the search order)."""
    for var in ("TRITIUM_PTXAS_PATH", "TRITON_PTXAS_PATH"):
        path = os.environ.get(var, "")
        if path:
            if not os.access(path, os.X_OK):
                raise RuntimeError(f"{var}={path!r} is not an executable ptxas")
            return path
    return _wheel_ptxas() or shutil.which("ptxas")


@functools.cache
def ptxas_version(path: str) -> tuple[int, int]:
    """(major, minor) of a ``ptxas`` binary, from ``ptxas --version``."""
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60).stdout
    m = re.search(r"release (\d+)\.(\d+)", out)
    if not m:
        raise RuntimeError(f"cannot read the version of {path}: {out!r}")
    return int(m.group(1)), int(m.group(2))


def assemble(ptx: str, arch: CudaArch, ptxas: str | None = None) -> tuple[bytes, str]:
    """Assemble PTX into a cubin with ``ptxas``; returns (cubin, ptxas's -v report).

    Raises ``RuntimeError`` with ptxas's message when it rejects the PTX.
    """
    ptxas = ptxas or find_ptxas()
    if ptxas is None:
        raise RuntimeError("no ptxas found (set TRITIUM_PTXAS_PATH)")
    with tempfile.TemporaryDirectory(prefix="tritium-ptxas-") as tmp:
        src, dst = os.path.join(tmp, "k.ptx"), os.path.join(tmp, "k.cubin")
        with open(src, "w") as f:
            f.write(ptx)
        cmd = [ptxas, "-v", f"--gpu-name={arch.sm}", "-O3", src, "-o", dst]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"ptxas failed for {arch.sm}:\n{proc.stderr.strip()}")
        with open(dst, "rb") as f:
            return f.read(), proc.stderr


def parse_ptxas_report(report: str) -> dict[str, int]:
    """Registers, spill bytes and static shared memory from ``ptxas -v`` output."""
    out = {"n_regs": 0, "n_spills": 0, "static_shared": 0}
    if m := re.search(r"Used (\d+) registers", report):
        out["n_regs"] = int(m.group(1))
    if m := re.search(r"(\d+) bytes spill stores", report):
        out["n_spills"] = int(m.group(1))
    if m := re.search(r"(\d+) bytes smem", report):
        out["static_shared"] = int(m.group(1))
    return out
