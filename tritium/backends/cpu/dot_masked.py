"""Register blocks of a dot that a triangular mask discards (tutorial 06's causal diagonal).

Tutorial 06's causal forward computes its diagonal key block in full, ``qk = tl.dot(q,
tl.trans(k))``, then keeps the lower triangle only, ``tl.where(offs_m[:, None] >= cols[None,
:], qk * qk_scale, -inf)``, and multiplies ``p = exp2(qk - m)`` by ``v``: about half of that
block's products are thrown away (one thread, 64 x 64 blocks, S=1024: the diagonal blocks cost
1.12 full blocks each, 12 % of the causal kernel's time). The kernel's source must stay as
Triton's tutorial wrote it, so the microkernel (``dot._microkernel``) skips them itself:

* a dot from zero whose result reaches the true arm of a ``select`` through elementwise ops
  used by nothing else (``qk * qk_scale``) needs no products in a register block where the
  select's condition is false everywhere: the select takes its other arm there, whatever the
  dot held. Such a block's K loop is skipped and it stores zeros (:func:`dead_blocks`). The
  result is the same bit for bit.
* a dot whose ``a`` is ``exp2(select(cond, x, -inf) - m)`` (``p``) runs each block of rows
  over the keys ``cond`` keeps in at least one of its rows only (:func:`live_keys`): ``p`` is
  exactly 0 at the others (``exp2(-inf - m)``, ``m`` finite), and ``acc + 0 * v`` is ``acc``.
  At least one key always runs, so a row whose ``m`` is -inf (every key masked: ``p`` is NaN)
  still comes out NaN. The result is the same bit for bit unless ``v`` holds an inf or a NaN
  at a skipped key (``0 * inf`` is NaN), or an accumulator is exactly -0.0 (``-0 + 0`` is +0).

The conditions understood are ``arith.cmpi`` with a signed order predicate between tiles
affine in the row and column positions, ``s + k_r * row + k_c * col`` (``make_range``,
splats of scalars computed before the dot, integer constants, ``+``, ``-``, ``*`` by a
constant, ``extsi``, ``expand_dims``, ``broadcast``), and ``&`` of conditions (any conjunct
that is false makes the whole false). The positions are evaluated in i64: as in Triton's
AxisInfo, the kernel's i32 index arithmetic is taken not to wrap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.accumulators import constant_of
from tritium.backends.cpu.analysis import const_int
from tritium.backends.cpu.codegen import Lowering
from tritium.backends.cpu.tiles import Scalar
from tritium.ir import Operation, Value
from tritium.ir import types as irt
from tritium.ir.ops import is_elementwise

__all__ = ["dead_blocks", "live_keys"]

ENABLED = True  # for A/B timing in one process (benchmarks) and the tests, not a user setting

# (row0, col0, rows, cols) -> i1: the register block's condition is false everywhere
BlockTest = Callable[[ll.Value, ll.Value, int, int], ll.Value]
# (row0, rows) -> i32: the keys, from 0, that some row of the block keeps (at least 1)
KeyCount = Callable[[ll.Value, int], ll.Value]

_SIGNED = ("slt", "sle", "sgt", "sge")
_DEPTH = 32  # ops followed through an index expression before giving up


@dataclass(frozen=True)
class _Affine:
    """``sum(coef * scalar) + const + coefs[d] * position[d]`` over a tile's dimensions."""

    terms: tuple[tuple[Value, int], ...]
    const: int
    coefs: tuple[int, ...]

    def scaled(self, c: int) -> _Affine:
        return _Affine(
            tuple((v, k * c) for v, k in self.terms),
            self.const * c,
            tuple(k * c for k in self.coefs),
        )

    def plus(self, other: _Affine) -> _Affine:
        terms: dict[int, tuple[Value, int]] = {id(v): (v, k) for v, k in self.terms}
        for v, k in other.terms:
            old = terms.get(id(v), (v, 0))[1]
            terms[id(v)] = (v, old + k)
        coefs = tuple(a + b for a, b in zip(self.coefs, other.coefs, strict=True))
        kept = tuple((v, k) for v, k in terms.values() if k)
        return _Affine(kept, self.const + other.const, coefs)


def _affine(v: Value, depth: int = 0) -> _Affine | None:
    """``v`` (an integer scalar or tile) as an affine function of its positions, or None."""
    shape = irt.shape_of(v.type)
    op = v.defining_op
    if not shape:
        c = const_int(v)
        if c is not None:
            return _Affine((), c, ())
        elem = v.type
        ok = isinstance(elem, irt.IntType) and elem.width in (32, 64)
        return _Affine(((v, 1),), 0, ()) if ok else None
    if op is None or depth > _DEPTH:
        return None
    name, ops = op.name, op.operands
    zeros = (0,) * len(shape)
    if name == "tt.make_range":
        return _Affine((), int(op.attrs["start"]), (1,))
    if name == "arith.constant":
        c = const_int(v)
        return None if c is None else _Affine((), c, zeros)
    if name == "tt.splat":
        s = _affine(ops[0], depth + 1)
        return None if s is None else _Affine(s.terms, s.const, zeros)
    if name == "tt.expand_dims":
        s = _affine(ops[0], depth + 1)
        if s is None:
            return None
        axis = int(op.attrs["axis"])
        return _Affine(s.terms, s.const, (*s.coefs[:axis], 0, *s.coefs[axis:]))
    if name == "tt.broadcast":
        s = _affine(ops[0], depth + 1)
        src = irt.shape_of(ops[0].type)
        if s is None or len(src) != len(shape):
            return None
        coefs = tuple(k if n == m else 0 for k, n, m in zip(s.coefs, src, shape, strict=True))
        return _Affine(s.terms, s.const, coefs)
    if name == "arith.extsi":
        return _affine(ops[0], depth + 1)
    if name in ("arith.addi", "arith.subi"):
        x, y = (_affine(o, depth + 1) for o in ops)
        if x is None or y is None:
            return None
        return x.plus(y if name == "arith.addi" else y.scaled(-1))
    if name == "arith.muli":
        for i in (0, 1):
            c = const_int(ops[1 - i])
            x = _affine(ops[i], depth + 1) if c is not None else None
            if x is not None and c is not None:
                return x.scaled(c)
    return None


def _conjuncts(cond: Value, depth: int = 0) -> list[tuple[str, _Affine]]:
    """The compares ``lhs - rhs <pred> 0`` that ``cond`` is the AND of (among others): each
    as its predicate and ``lhs - rhs`` over ``cond``'s positions."""
    op = cond.defining_op
    if op is None or depth > _DEPTH:
        return []
    if op.name == "arith.andi":
        return [c for o in op.operands for c in _conjuncts(o, depth + 1)]
    if op.name == "tt.broadcast":
        src, dst = irt.shape_of(op.operands[0].type), irt.shape_of(cond.type)
        if len(src) != len(dst):
            return []
        out = []
        for pred, d in _conjuncts(op.operands[0], depth + 1):
            coefs = tuple(k if n == m else 0 for k, n, m in zip(d.coefs, src, dst, strict=True))
            out.append((pred, _Affine(d.terms, d.const, coefs)))
        return out
    if op.name != "arith.cmpi" or op.attrs["predicate"] not in _SIGNED:
        return []
    lhs, rhs = (_affine(o) for o in op.operands)
    if lhs is None or rhs is None:
        return []
    return [(str(op.attrs["predicate"]), lhs.plus(rhs.scaled(-1)))]


def _available(cx: Lowering, d: _Affine) -> bool:
    """Every scalar of ``d`` is lowered already (computed before the dot)."""
    return all(isinstance(cx.refs.get(v), Scalar) for v, _ in d.terms)


def _i64(b: ll.IRBuilder, x: ll.Value) -> ll.Value:
    if x.type == lu.I64:
        return x
    return b.sext(x, lu.I64)


def _base(cx: Lowering, d: _Affine) -> ll.Value:
    """The scalar part of ``d`` (its value at position 0) in i64."""
    b = cx.b
    out: ll.Value = _i64c(d.const)
    for v, k in d.terms:
        x = _i64(b, cx.scalar(v))
        out = b.add(out, b.mul(x, _i64c(k)) if k != 1 else x)
    return out


def _i64c(x: int) -> ll.Constant:
    return ll.Constant(lu.I64, x)


def _extreme(
    b: ll.IRBuilder, base: ll.Value, k: int, pos: ll.Value, last: int, largest: bool
) -> ll.Value:
    """``base + k * p`` at whichever of ``p = pos`` and ``p = pos + last`` gives the largest
    (or the smallest) value."""
    if k == 0:
        return base
    p = _i64(b, pos)
    if last and (k > 0) == largest:
        p = b.add(p, _i64c(last))
    return b.add(base, b.mul(p, _i64c(k)))


def _select_cond(res: Value) -> Value | None:
    """The condition of the select whose true arm ``res`` reaches through elementwise ops
    that nothing else reads, or None."""
    v = res
    for _ in range(_DEPTH):
        users = {id(u): u for u in v.uses}
        if len(users) != 1:
            return None
        (use,) = users.values()
        if use.parent is not res.defining_op.parent:  # type: ignore[union-attr]
            return None
        if use.name == "arith.select":
            cond, arm, other = use.operands
            ok = arm is v and cond is not v and other is not v
            return cond if ok and irt.shape_of(cond.type) == irt.shape_of(res.type) else None
        if not is_elementwise(use.name) or irt.shape_of(use.result.type) != irt.shape_of(v.type):
            return None
        v = use.result
    return None


def dead_blocks(cx: Lowering, dot: Operation) -> BlockTest | None:
    """For a 2-D dot from zero whose result only a select's true arm reads: the test that a
    register block's condition is false everywhere (see the module docstring), or None."""
    if not ENABLED or len(irt.shape_of(dot.result.type)) != 2:
        return None
    cond = _select_cond(dot.result)
    if cond is None:
        return None
    tests = [(p, d) for p, d in _conjuncts(cond) if _available(cx, d)]
    if not tests:
        return None

    def test(row0: ll.Value, col0: ll.Value, rows: int, cols: int) -> ll.Value:
        b = cx.b
        dead: ll.Value = ll.Constant(lu.I1, 0)
        for pred, d in tests:
            kr, kc = d.coefs
            largest = pred in ("sgt", "sge")  # then false everywhere iff its largest d fails
            e = _extreme(b, _base(cx, d), kr, row0, rows - 1, largest)
            e = _extreme(b, e, kc, col0, cols - 1, largest)
            op = {"sgt": "<=", "sge": "<", "slt": ">=", "sle": ">"}[pred]
            dead = b.or_(dead, b.icmp_signed(op, e, _i64c(0)))
        return dead

    return test


def _row_uniform(m: Value) -> bool:
    """``m`` is one value per row (``m[:, None]`` broadcast): a NaN or -inf there makes the
    whole row of ``p`` NaN, which the one key always kept still carries into the result."""
    op = m.defining_op
    if op is None or op.name != "tt.broadcast":
        return False
    src = irt.shape_of(op.operands[0].type)
    return len(src) == 2 and src[1] == 1


def live_keys(cx: Lowering, a: Value, k: int) -> KeyCount | None:
    """For a dot's ``a`` of ``exp2(select(cond, x, -inf) - m)``: the count of leading keys
    (columns of ``a``) that a block of rows needs, or None (see the module docstring)."""
    if not ENABLED or len(irt.shape_of(a.type)) != 2:
        return None
    op = a.defining_op
    if op is None or op.name not in ("math.exp2", "math.exp"):
        return None
    sub = op.operands[0].defining_op
    if sub is None or sub.name != "arith.subf" or not _row_uniform(sub.operands[1]):
        return None
    sel = sub.operands[0].defining_op
    if sel is None or sel.name != "arith.select":
        return None
    cond, _, other = sel.operands
    if constant_of(other) != float("-inf") or irt.shape_of(cond.type) != irt.shape_of(a.type):
        return None
    # keys kept up to a bound: lhs - rhs falls by one per key (>=, >) or rises by one (<, <=)
    tests = [
        (p, d)
        for p, d in _conjuncts(cond)
        if _available(cx, d) and d.coefs[1] == (-1 if p in ("sgt", "sge") else 1)
    ]
    if not tests:
        return None

    def count(row0: ll.Value, rows: int) -> ll.Value:
        b = cx.b
        n: ll.Value = _i64c(k)
        for pred, d in tests:
            if pred in ("sgt", "sge"):  # key c kept while base + kr * row - c >= 0 (> 0)
                top = _extreme(b, _base(cx, d), d.coefs[0], row0, rows - 1, True)
                bound = b.add(top, _i64c(1)) if pred == "sge" else top
            else:  # key c kept while base + kr * row + c < 0 (<= 0)
                low = _extreme(b, _base(cx, d), d.coefs[0], row0, rows - 1, False)
                bound = b.neg(low) if pred == "slt" else b.sub(_i64c(1), low)
            n = b.select(b.icmp_signed("<", bound, n), bound, n)
        n = b.select(b.icmp_signed("<", n, _i64c(1)), _i64c(1), n)
        return b.trunc(n, lu.I32)

    return count
