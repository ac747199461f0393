"""Loops marked cold (``backends/cpu/cold_loops.py``): ``llvm.loop`` metadata that turns
vectorizing and unrolling off, on exactly the loops built inside the ``with`` block, kept by
the printer and by LLVM; and the kernels that use it (the panel keys of ``tl.dot`` K loops)
still right, compiled and interpreted, against a float64 reference."""

from __future__ import annotations

import re

import llvmlite.ir as ll
import numpy as np
import pytest

import tritium as triton
from tests.backends.cpu.modes import each_mode
from tests.backends.cpu.test_dot_panels import _matmul
from tritium.backends.cpu import irtext, target
from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.cold_loops import cold_loops


def _module(cold: bool) -> ll.Module:
    """Two copies of a loop LoopVectorize widens (``out[i] = i * s + t``, 64 trips, the panel
    key's shape), the second one built inside :func:`cold_loops` when ``cold``, behind an
    ``if`` (a nested region: its blocks branch back to a block made earlier)."""
    m = ll.Module()
    fty = ll.FunctionType(ll.VoidType(), [lu.PTR, lu.PTR, lu.I32, lu.I64, ll.IntType(1)])
    f = ll.Function(m, fty, "f")
    out0, out1, s, t, go = f.args
    b = ll.IRBuilder(f.append_basic_block("entry"))

    def loop(out: ll.Value, name: str) -> None:
        with lu.for_range(b, ll.Constant(lu.I32, 0), ll.Constant(lu.I32, 64), name=name) as r:
            v = b.add(b.shl(b.sext(b.mul(r, s), lu.I64), ll.Constant(lu.I64, 2)), t)
            b.store(v, b.gep(out, [b.zext(r, lu.I64)], source_etype=lu.I64), align=8)

    loop(out0, "warm")
    with b.if_then(go):
        if cold:
            with cold_loops(b):
                loop(out1, "cold")
        else:
            loop(out1, "cold")
    b.ret_void()
    return m


def _latches(text: str) -> dict[str, str]:
    """Loop name -> the metadata on its back-edge branch ('' if none)."""
    found = {}
    for name in ("warm", "cold"):
        hit = re.search(rf'br i1 %"\.\d+", label %"{name}\.body".*', text)
        assert hit is not None, name
        found[name] = hit.group(0).partition("!llvm.loop")[2].strip()
    return found


def test_only_the_loops_inside_are_marked() -> None:
    m = _module(cold=True)
    text = str(m)
    assert irtext.module_text(m) == text  # the fast printer leaves metadata to llvmlite
    latches = _latches(text)
    assert latches["warm"] == ""
    md = latches["cold"]
    assert md.startswith("!")
    node = re.search(rf"^{re.escape(md)} = !{{ {re.escape(md)}, (!\d+), (!\d+) }}", text, re.M)
    assert node is not None  # a loop ID: its first operand is itself
    assert '!"llvm.loop.vectorize.enable", i1 0' in text
    assert '!"llvm.loop.unroll.disable"' in text


def test_a_region_without_loops_gets_nothing() -> None:
    m = ll.Module()
    f = ll.Function(m, ll.FunctionType(ll.VoidType(), [ll.IntType(1)]), "g")
    b = ll.IRBuilder(f.append_basic_block("entry"))
    with cold_loops(b), b.if_then(f.args[0]):
        pass
    b.ret_void()
    assert "llvm.loop" not in str(m)


@pytest.mark.parametrize("cold", [False, True])
def test_llvm_keeps_the_loop_scalar(cold: bool) -> None:
    """Unmarked, LLVM vectorizes both loops (the test can fail); marked, the cold one stays a
    scalar loop with its metadata."""
    opt, _ = target.optimize_and_emit(str(_module(cold)))
    assert opt.count("vector.body") >= (1 if cold else 2)
    cold_body = re.search(r"^cold\.body:.*?^\S", opt, re.M | re.S)
    if cold:
        assert cold_body is not None
        assert "<4 x i64>" not in cold_body.group(0) and "!llvm.loop" in cold_body.group(0)
        assert "llvm.loop.vectorize.enable" in opt
    else:
        assert cold_body is None  # the scalar loop became the vector loop


@pytest.mark.parametrize("m,n,k", [(100, 80, 70), (37, 53, 29), (64, 96, 48)])
def test_matmul_with_cold_panel_keys(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator, m: int, n: int, k: int
) -> None:
    """A grouped tutorial matmul whose K loop keeps packed panels (their keys built by cold
    loops), ragged sizes: compiled and interpreted against float64, outputs poisoned."""
    bm, bn, bk = 16, 32, 16
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    grid = (triton.cdiv(m, bm) * triton.cdiv(n, bn),)
    for interpreted in each_mode(monkeypatch):
        c = np.full((m, n), np.nan, np.float32)
        art = _matmul[grid](a, b, c, m, n, k, k, n, n, bm, bn, bk, 4, False, "cold")
        np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-5 * np.sqrt(k))
        if not interpreted:
            llir = art.asm["llir"]
            assert "key.col.body" in llir and "llvm.loop.vectorize.enable" in llir
