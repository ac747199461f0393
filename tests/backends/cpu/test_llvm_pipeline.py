"""Which optimizations LLVM runs on the CPU backend's code (``target.py``'s pipeline): pinned
because each was chosen for compile time (issue 13) and a change would show only as a slower
compile."""

from __future__ import annotations

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu import target


def test_the_slp_vectorizer_does_not_run() -> None:
    """Four adjacent scalar adds between adjacent loads and stores through pointers that do
    not alias, which the SLP vectorizer turns into one ``<4 x float>`` add: the pipeline
    leaves them scalar."""
    m = ll.Module()
    f = ll.Function(m, ll.FunctionType(lu.VOID, [lu.PTR, lu.PTR]), "f")
    src, dst = f.args
    for arg in f.args:
        arg.add_attribute("noalias")
    b = ll.IRBuilder(f.append_basic_block("entry"))
    for i in range(4):
        at = ll.Constant(lu.I64, i)
        x = b.load(b.gep(src, [at], source_etype=lu.F32), typ=lu.F32)
        b.store(b.fadd(x, ll.Constant(lu.F32, 1.0)), b.gep(dst, [at], source_etype=lu.F32))
    b.ret_void()
    opt, _ = target.optimize_and_emit(str(m))
    assert "<4 x float>" not in opt
    assert opt.count("fadd float") == 4
