"""The lowering's folding IRBuilder (backends/cpu/folding.py): constant results against NumPy's
wrapping integer arithmetic on fresh random operands, identities that return an operand, and
everything else still emitted as an instruction."""

from __future__ import annotations

import operator

import llvmlite.ir as ll
import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium.backends.cpu.folding import FoldingBuilder

WIDTHS = {8: np.int8, 32: np.int32, 64: np.int64}
COMPARISONS = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
}


def _builder() -> tuple[FoldingBuilder, list[ll.Argument]]:
    m = ll.Module()
    args = [ll.IntType(32), ll.IntType(64), ll.VectorType(ll.IntType(32), 8)]
    fn = ll.Function(m, ll.FunctionType(ll.VoidType(), args), name="f")
    return FoldingBuilder(fn.append_basic_block("entry")), list(fn.args)


def _value(c: ll.Value, dtype: type | None = None) -> int:
    """A folded constant's value (wrapped to ``dtype``, else as written)."""
    assert isinstance(c, ll.Constant), f"not folded: {c}"
    return int(c.constant) if dtype is None else int(np.array(c.constant).astype(dtype))


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_constant_operations_wrap_like_numpy(width: int, rng: np.random.Generator) -> None:
    b, _ = _builder()
    t, dt = ll.IntType(width), WIDTHS[width]
    udt = np.dtype(dt).str.replace("i", "u")
    info = np.iinfo(dt)
    pairs = rng.integers(info.min, info.max, (40, 2), endpoint=True, dtype=np.int64)
    pairs[:4] = [[info.max, 1], [info.min, -1], [0, 0], [-1, info.min]]
    with np.errstate(over="ignore"):
        for a, c in pairs:
            x, y = ll.Constant(t, int(a)), ll.Constant(t, int(c))
            na, nc = dt(a), dt(c)
            assert _value(b.add(x, y), dt) == int(na + nc)
            assert _value(b.sub(x, y), dt) == int(na - nc)
            assert _value(b.mul(x, y), dt) == int(na * nc)
            assert _value(b.and_(x, y), dt) == int(na & nc)
            assert _value(b.or_(x, y), dt) == int(na | nc)
            assert _value(b.xor(x, y), dt) == int(na ^ nc)
            ua, ub = na.astype(udt), nc.astype(udt)
            for op, cmp in COMPARISONS.items():
                assert _value(b.icmp_signed(op, x, y)) == int(cmp(na, nc))
                assert _value(b.icmp_unsigned(op, x, y)) == int(cmp(ua, ub))
            wide = ll.IntType(width * 2)
            assert _value(b.sext(x, wide)) == int(na)
            assert _value(b.zext(x, wide)) == int(ua)
            if width > 8:
                assert _value(b.trunc(x, ll.IntType(8))) == int(na.astype(np.int8))
    assert not b.block.instructions  # all folded


def test_identities_return_the_operand() -> None:
    b, (x32, x64, v) = _builder()
    zero32, one32, ones32 = (
        ll.Constant(x32.type, 0),
        ll.Constant(x32.type, 1),
        ll.Constant(x32.type, -1),
    )
    assert b.add(x32, zero32) is x32
    assert b.add(zero32, x32) is x32
    assert b.sub(x32, zero32) is x32
    assert b.mul(x32, one32) is x32
    assert b.mul(one32, x32) is x32
    assert b.and_(x32, ones32) is x32
    assert b.or_(zero32, x32) is x32
    assert b.xor(x32, zero32) is x32
    assert b.shl(x64, ll.Constant(x64.type, 0)) is x64
    assert b.add(v, ll.Constant(v.type, None)) is v  # zeroinitializer
    assert b.mul(v, ll.Constant(v.type, [ll.Constant(x32.type, 1)] * 8)) is v
    assert b.select(ll.Constant(ll.IntType(1), 1), x32, one32) is x32
    assert b.select(ll.Constant(ll.IntType(1), 0), x32, one32) is one32
    one_lane = b.insert_element(ll.Constant(ll.VectorType(x32.type, 1), None), x32, zero32)
    assert b.extract_element(one_lane, zero32) is x32
    assert len(b.block.instructions) == 1  # only the insertelement


def test_everything_else_is_emitted() -> None:
    b, (x32, x64, v) = _builder()
    zero, one = ll.Constant(x32.type, 0), ll.Constant(x32.type, 1)
    kept = [
        b.sub(zero, x32),  # a negation, not an identity
        b.mul(x32, zero),
        b.add(x32, one),
        b.and_(x32, zero),
        b.shl(x32, one),
        b.add(v, ll.Constant(v.type, [ll.Constant(x32.type, i) for i in range(8)])),
        b.sext(x32, x64.type),
        b.icmp_signed("<", x32, one),
        b.select(b.icmp_signed("<", x32, one), x32, one),
        b.sdiv(one, one),  # division is never folded
    ]
    assert all(isinstance(k, ll.Instruction) for k in kept)


@tritium.jit
def _index_math(x_ptr, out_ptr, n, STEP: tl.constexpr, ZERO: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK) * 1 + ZERO
    row = offs // STEP
    col = offs % STEP
    m = (offs < n) & (ZERO == 0)
    x = tl.load(x_ptr + row * STEP + col - ZERO, mask=m, other=0)
    tl.store(out_ptr + offs, x * 3 + row - col, mask=m)


@pytest.mark.parametrize("step", [1, 7, 64, -1])
def test_kernel_index_math_with_trivial_constants(step, mode, rng) -> None:
    """Index math full of constants the builder folds (``* 1``, ``+ 0``, ``// 64``, ``// -1``),
    compiled and interpreted, against NumPy."""
    n = 301
    x = rng.integers(-1000, 1000, n).astype(np.int32)
    out = np.full(n, -7, np.int32)
    _index_math[(tritium.cdiv(n, 64),)](x, out, n, STEP=step, ZERO=0, BLOCK=64)
    offs = np.arange(n)
    row = np.trunc(offs / step).astype(np.int64)  # C division: toward zero
    col = offs - row * step
    np.testing.assert_array_equal(out, (x * 3 + row - col).astype(np.int32))
