"""The fast LLVM IR printer (backends/cpu/irtext.py): its text is llvmlite's ``str(module)``,
byte for byte, for hand-built modules with every instruction it writes itself and the cases it
leaves to llvmlite, and for the modules of real kernels as the backend lowers them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import llvmlite.binding as llvm
import llvmlite.ir as ll
import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium.backends.cpu import irtext
from tritium.backends.cpu.target import initialize_llvm
from tritium.runtime.jit import JITFunction

I1, I8, I32, I64 = ll.IntType(1), ll.IntType(8), ll.IntType(32), ll.IntType(64)
F32, F64, F16 = ll.FloatType(), ll.DoubleType(), ll.HalfType()
PTR = ll.PointerType()


def _sample_module() -> ll.Module:
    """One function with each instruction kind (and odd names, flags, metadata, constants),
    plus a declaration and a global."""
    m = ll.Module(name="sample")
    g = ll.GlobalVariable(m, I32, "counter")
    g.initializer = ll.Constant(I32, 7)
    v8 = ll.VectorType(I32, 8)
    vf = ll.VectorType(F32, 8)
    fnty = ll.FunctionType(I32, [PTR, I32, vf, ll.IntType(16)])
    callee = ll.Function(m, ll.FunctionType(F32, [F32]), name="llvm.sqrt.f32")
    fn = ll.Function(m, fnty, name="f")
    fn.args[0].add_attribute("noalias")
    fn.args[1].name = 'odd"name\\x'  # quoted and escaped by llvmlite: left to it
    entry = fn.append_basic_block("entry")
    loop = fn.append_basic_block("loop body")  # a label that needs quotes
    done = fn.append_basic_block("done")
    b = ll.IRBuilder(entry)
    ptr, n, vec, h = fn.args
    slot = b.alloca(I64, name="slot")
    tile = b.alloca(I32, size=ll.Constant(I32, 64), name="tile")
    tile.align = 64
    b.store(ll.Constant(I64, -3), slot, align=8)
    x = b.add(n, ll.Constant(I32, 1), name="x", flags=["nsw"])
    y = b.mul(x, x)
    z = b.sdiv(y, n)
    c = b.icmp_signed("<", z, ll.Constant(I32, 0))
    cu = b.icmp_unsigned(">=", z, y)
    s = b.select(c, x, z)
    s2 = b.select(cu, ll.Constant(I1, True), ll.Constant(I1, False))
    e = b.zext(s2, I8)
    wide = b.sext(s, I64)
    p = b.gep(ptr, [wide], inbounds=True, source_etype=F32)
    p2 = b.gep(ptr, [ll.Constant(I64, 2), ll.Constant(I32, 1)], source_etype=ll.ArrayType(F32, 4))
    fv = b.load(p, typ=F32, align=4)
    fv2 = b.load(p2, typ=F32)
    sq = b.call(callee, [fv])
    fsum = b.fadd(sq, fv2, flags=["fast"])
    fc = b.fcmp_ordered("<", fsum, ll.Constant(F32, 0.5), flags=["nnan"])
    fu = b.fcmp_unordered("!=", fsum, ll.Constant(F32, float("inf")))
    half = b.fptrunc(fsum, F16)
    splat = b.insert_element(ll.Constant(vf, None), fsum, ll.Constant(I32, 0))
    mask = ll.Constant(v8, [0] * 8)
    splat = b.shuffle_vector(splat, ll.Constant(vf, ll.Undefined), mask)
    lanes = b.add(b.bitcast(vec, v8), ll.Constant(v8, list(range(8))))
    lane = b.extract_element(lanes, ll.Constant(I32, 3))
    both = b.and_(fc, fu)
    h32 = b.zext(h, I32)
    b.store(b.bitcast(half, ll.IntType(16)), b.bitcast(p, PTR))
    b.store(splat, p)
    br = b.cbranch(both, loop, done)
    br.set_weights([1, 99])
    b.position_at_end(loop)
    phi = b.phi(I32, name="i")
    phi.add_incoming(lane, entry)
    nxt = b.add(phi, h32)
    phi.add_incoming(nxt, loop)
    b.store(e, b.gep(ptr, [ll.Constant(I64, 0)], source_etype=I8))
    b.cbranch(b.icmp_signed("<", nxt, ll.Constant(I32, 100)), loop, done)
    b.position_at_end(done)
    res = b.phi(I32)
    res.add_incoming(lane, entry)
    res.add_incoming(nxt, loop)
    b.store(res, g)
    b.ret(res)
    void = ll.Function(m, ll.FunctionType(ll.VoidType(), []), name="g")
    vb = ll.IRBuilder(void.append_basic_block())
    vb.unreachable()
    ll.Function(m, ll.FunctionType(ll.VoidType(), [PTR]), name="declared")
    return m


def test_sample_module_text_is_llvmlites() -> None:
    m = _sample_module()
    fast = irtext.module_text(m)  # first: the llvmlite objects' own caches are still empty
    assert fast == str(m)
    initialize_llvm()
    llvm.parse_assembly(fast).verify()


def test_functions_and_globals_alone() -> None:
    m = _sample_module()
    for value in m.globals.values():
        assert irtext.global_text(value) == str(value)


def test_instruction_with_metadata_left_to_llvmlite() -> None:
    m = _sample_module()
    text = irtext.module_text(m)
    assert "!prof" in text  # the branch weights: written by llvmlite, with the metadata line
    assert text == str(m)


@tritium.jit
def _mixed_kernel(x_ptr, y_ptr, out_ptr, sums_ptr, n, BLOCK: tl.constexpr):  # noqa: ANN001
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    y = tl.load(y_ptr + offs, mask=mask, other=1.0)
    q = offs // (n % 7 + 1)
    r = tl.where(x > y, tl.sqrt(tl.abs(x)) * y, tl.exp(y) - x) + q.to(tl.float32)
    tl.store(out_ptr + offs, r, mask=mask)
    tl.atomic_add(sums_ptr, tl.sum(tl.where(mask, r, 0.0), axis=0))


def _run_mixed(rng: np.random.Generator) -> None:
    n = 1000
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    out = np.full(n, np.nan, np.float32)
    sums = np.zeros(1, np.float32)
    _mixed_kernel[(triton_cdiv(n, 128),)](x, y, out, sums, n, BLOCK=128)
    xd, yd = x.astype(np.float64), y.astype(np.float64)
    q = np.arange(n) // (n % 7 + 1)
    ref = np.where(xd > yd, np.sqrt(np.abs(xd)) * yd, np.exp(yd) - xd) + q
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(sums[0], ref.sum(), rtol=1e-4)


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _run_matmul(rng: np.random.Generator) -> None:
    from tutorials import matmul

    a = rng.standard_normal((70, 45)).astype(np.float16)
    b = rng.standard_normal((45, 33)).astype(np.float16)
    c = matmul.matmul(a, b)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c.astype(np.float64), ref, rtol=2e-2, atol=2e-2)


def _run_softmax(rng: np.random.Generator) -> None:
    from tutorials import fused_softmax

    x = rng.standard_normal((37, 100)).astype(np.float32)
    e = np.exp(x.astype(np.float64) - x.max(1, keepdims=True))
    np.testing.assert_allclose(fused_softmax.softmax(x), e / e.sum(1, keepdims=True), rtol=1e-5)


def _run_layer_norm(rng: np.random.Generator) -> None:
    from tutorials import layer_norm

    x = rng.standard_normal((9, 130)).astype(np.float32)
    w = rng.standard_normal(130).astype(np.float32)
    bias = rng.standard_normal(130).astype(np.float32)
    y, _, _ = layer_norm.forward(x, w, bias)
    xd = x.astype(np.float64)
    ref = (xd - xd.mean(1, keepdims=True)) / np.sqrt(xd.var(1, keepdims=True) + 1e-5) * w + bias
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


def _forget_compiled() -> None:
    """Empty the in-memory kernel caches of this module's and the tutorials' kernels."""
    from tutorials import fused_softmax, layer_norm, matmul

    for module in (globals(), vars(fused_softmax), vars(layer_norm), vars(matmul)):
        for value in list(module.values()):
            fn = getattr(value, "fn", value)  # an autotuner wraps its kernel
            cache = getattr(fn, "cache", None)
            if isinstance(fn, JITFunction) and cache is not None:
                cache.clear()


KERNELS: dict[str, Callable[[np.random.Generator], None]] = {
    "mixed": _run_mixed,
    "matmul": _run_matmul,
    "softmax": _run_softmax,
    "layer_norm": _run_layer_norm,
}


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_modules_print_as_llvmlite(
    name: str, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each module the backend prints (fresh compiles): the fast text equals llvmlite's, and the
    kernels built from it compute the right values."""
    monkeypatch.setenv("TRITIUM_ALWAYS_COMPILE", "1")
    monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    checked: list[int] = []
    original = irtext.module_text

    def compared(module: ll.Module) -> Any:
        fast = original(module)
        assert fast == ll.Module.__repr__(module)
        checked.append(len(fast))
        return fast

    monkeypatch.setattr(irtext, "module_text", compared)
    _forget_compiled()  # kernels compiled earlier in this process would not print again
    KERNELS[name](rng)
    assert checked, "no module went through the printer"
