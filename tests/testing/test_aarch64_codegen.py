"""AArch64 code generation (issue 10, platforms): the CPU backend's lowering, run for an
``aarch64-unknown-linux-gnu`` target machine that LLVM builds here, emits NEON code.

Nothing runs: the kernels are compiled to Tile IR as usual, lowered by the backend's own
``Lowering`` and launcher for an AArch64 ``HostTarget``, optimized by LLVM for a Neoverse N1
and checked in the assembly.
"""

from __future__ import annotations

import re

import pytest

import tritium
import tritium.language as tl
from tritium.compiler import ASTSource

llvm = pytest.importorskip("llvmlite.binding")

TRIPLE = "aarch64-unknown-linux-gnu"


@tritium.jit
def axpy_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, x * 3.0 + tl.load(y_ptr + offs, mask=mask), mask=mask)


@tritium.jit
def dot_kernel(a_ptr, b_ptr, c_ptr, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    a = tl.load(a_ptr + o[:, None] * BLOCK + o[None, :])
    b = tl.load(b_ptr + o[:, None] * BLOCK + o[None, :])
    tl.store(c_ptr + o[:, None] * BLOCK + o[None, :], tl.dot(a, b))


def _aarch64_assembly(kernel, signature, constexprs) -> str:
    from tritium.backends.cpu import _kernel_function
    from tritium.backends.cpu.codegen import Lowering, function_attributes
    from tritium.backends.cpu.launcher import emit_launcher
    from tritium.backends.cpu.target import HostTarget, host_target
    from tritium.ir.parser import parse_module

    host_target()  # LLVM initialized as the backend does it
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    try:
        target = llvm.Target.from_triple(TRIPLE)
    except RuntimeError as e:
        pytest.skip(f"this LLVM has no AArch64 target: {e}")
    tm = target.create_target_machine(
        cpu="neoverse-n1", features="+neon,+fp-armv8", opt=3, reloc="pic"
    )
    ttir = tritium.compile(ASTSource(kernel, signature, constexprs)).asm["ttir"]
    t = HostTarget("neoverse-n1", "+neon,+fp-armv8", TRIPLE, str(tm.target_data))
    cx = Lowering(_kernel_function(parse_module(ttir)), t, {})
    cx.lower_kernel()
    emit_launcher(cx, "kernel_launch")
    mod = llvm.parse_assembly(function_attributes(str(cx.module), t, cx.vw))
    mod.triple, mod.data_layout = TRIPLE, str(tm.target_data)
    mod.verify()
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return tm.emit_assembly(mod)


def _grid_launch_assembly() -> str:
    """The shared grid launcher (``launcher.grid_launch_ir``) as AArch64 assembly."""
    from tritium.backends.cpu.launcher import grid_launch_ir

    tm = llvm.Target.from_triple(TRIPLE).create_target_machine(
        cpu="neoverse-n1", features="+neon,+fp-armv8", opt=3, reloc="pic"
    )
    mod = llvm.parse_assembly(grid_launch_ir(TRIPLE))
    mod.triple, mod.data_layout = TRIPLE, str(tm.target_data)
    mod.verify()
    return tm.emit_assembly(mod)


def _mnemonics(asm: str) -> set[str]:
    return set(re.findall(r"^\s+([a-z][a-z0-9.]*)\s", asm, re.M))


def test_elementwise_kernel_uses_neon() -> None:
    sig = {"x_ptr": "*fp32", "y_ptr": "*fp32", "out_ptr": "*fp32", "n": "i32", "BLOCK": "constexpr"}
    asm = _aarch64_assembly(axpy_kernel, sig, {"BLOCK": 256})
    assert re.search(r"\bfmul\s+v\d+\.4s", asm) and re.search(r"\bfadd\s+v\d+\.4s", asm)
    assert re.search(r"\bldr\s+q\d+", asm) or re.search(r"\bld1\s", asm)  # 128-bit loads
    # the entry passes the program to the shared grid launcher
    assert re.search(r"\bbl?\s+tritium_grid_launch\b", asm)
    launcher = _grid_launch_assembly()  # which is AArch64 code too
    assert "bl" in _mnemonics(launcher) and "pthread_create" in launcher
    assert not re.search(r"%[xy]mm\d+|%r[a-z]x", asm)  # nothing of x86 left


def test_dot_kernel_uses_neon_fma() -> None:
    sig = {"a_ptr": "*fp32", "b_ptr": "*fp32", "c_ptr": "*fp32", "BLOCK": "constexpr"}
    asm = _aarch64_assembly(dot_kernel, sig, {"BLOCK": 16})
    assert re.search(r"\bfmla\s+v\d+\.4s", asm), "tl.dot should become NEON fused multiply-adds"
