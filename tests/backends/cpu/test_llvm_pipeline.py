"""What the CPU backend hands LLVM and which optimizations LLVM runs on it (``target.py``'s
pipeline, ``memory.py``'s loads): pinned because each was chosen for compile time (issue 13)
and a change would show only as a slower compile."""

from __future__ import annotations

import re
from typing import Any

import llvmlite.ir as ll
import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.backends import cpu
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


@triton.jit
def _row_sum(x_ptr, out_ptr, n, STRIDE: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs * STRIDE, mask=offs < n, other=0.0)
    tl.store(out_ptr, tl.sum(x, axis=0))


def _program_ir(monkeypatch: pytest.MonkeyPatch, fn: Any, *args: Any, **kw: Any) -> str:
    """The LLVM IR text the backend hands LLVM for one compile of ``fn``: its program."""
    seen: list[str] = []

    def spy(text: str) -> tuple[str, bytes]:
        seen.append(text)
        return target.optimize_and_emit(text)

    monkeypatch.setattr(cpu, "optimize_and_emit", spy)
    fn[(1,)](*args, **kw)
    (text,) = seen
    return text.partition('define internal void @"tritium.program"')[2].partition("\n}")[0]


@pytest.mark.parametrize("stride", [1, 3])
def test_contiguous_loads_compute_no_vector_of_addresses(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator, stride: int
) -> None:
    """A contiguous chunk loads from its first lane's address: no ``<W x i64>`` of addresses
    reaches LLVM (only to be deleted there); a strided one gathers through them. Both sums
    against float64, the output poisoned."""
    n, block = 100, 128
    x = rng.standard_normal(n * stride).astype(np.float32)
    out = np.full(1, np.nan, np.float32)
    text = _program_ir(monkeypatch, _row_sum, x, out, n, STRIDE=stride, BLOCK=block)
    np.testing.assert_allclose(out[0], x[::stride][:n].astype(np.float64).sum(), rtol=1e-5)
    vectors = r"= (?:add|mul|sext) <(?:[2-9]|\d\d+) x i64>"  # lane 0's own are <1 x i64>
    addresses = re.findall(vectors, text)
    assert (len(addresses) == 0) == (stride == 1), addresses
