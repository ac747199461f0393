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
  exactly 0 at the others (``exp2(-inf - m)``, ``m`` not -inf), and ``acc + 0 * v`` is
  ``acc``. ``m`` must be the row maximum of that select (``max(sel, 1)``, or ``maximum(m_i,
  max(sel, 1))`` as tutorial 06 computes it): then an ``m`` of -inf means every kept score of
  the row is -inf, its whole row of ``p`` is NaN, and the one key that always runs carries
  the NaN (an ``m`` loaded as -inf would make the kept keys +inf and only the skipped ones
  NaN). The result is the same bit for bit unless ``v`` holds an inf or a NaN at a skipped
  key (``0 * inf`` is NaN), or an accumulator is exactly -0.0 (``-0 + 0`` is +0).

The conditions understood are ``arith.cmpi`` with a signed order predicate between tiles
affine in the row and column positions, ``s + k_r * row + k_c * col`` (``make_range``,
splats of scalars computed before the dot, integer constants, ``+``, ``-``, ``*`` by a
constant, ``extsi``, ``expand_dims``, ``broadcast``), and ``&`` of conditions (any conjunct
that is false makes the whole false). The positions are evaluated exactly (in i128), but
the kernel compares its operands wrapped to their width (i32 mostly): ``+``, ``-`` and ``*``
are exact modulo 2**32, so a wrapped value equals the exact one whenever the exact one fits.
A block is skipped, or a key bound used, only where each compare operand and each ``extsi``
source fits its type at the extreme corners of the tile (an affine function of the positions
takes its extremes there; checked once per dot, before its blocks); where one does not, every
block runs and every key is used.
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
_I128 = ll.IntType(128)
# coefficients and constants beyond these are not followed: the i128 sums stay exact
_MAX_COEF, _MAX_CONST = 2**32, 2**64


@dataclass(frozen=True)
class _Affine:
    """``sum(coef * scalar) + const + coefs[d] * position[d]`` over a tile's dimensions,
    exactly; ``fits``: the ``extsi`` sources it went through, with their widths (the kernel's
    value equals this one only where each of them fits its width)."""

    terms: tuple[tuple[Value, int], ...]
    const: int
    coefs: tuple[int, ...]
    fits: tuple[tuple[_Affine, int], ...] = ()

    def scaled(self, c: int) -> _Affine:
        return _Affine(
            tuple((v, k * c) for v, k in self.terms),
            self.const * c,
            tuple(k * c for k in self.coefs),
            self.fits,
        )

    def reshaped(self, f: Callable[[tuple[int, ...]], tuple[int, ...]]) -> _Affine:
        """The same function over another shape: ``f`` maps the position coefficients."""
        fits = tuple((a.reshaped(f), w) for a, w in self.fits)
        return _Affine(self.terms, self.const, f(self.coefs), fits)

    def bare(self) -> _Affine:
        return _Affine(self.terms, self.const, self.coefs)

    def small(self) -> bool:
        big = [abs(k) for _, k in self.terms] + [abs(k) for k in self.coefs]
        return all(k <= _MAX_COEF for k in big) and abs(self.const) <= _MAX_CONST

    def plus(self, other: _Affine) -> _Affine:
        terms: dict[int, tuple[Value, int]] = {id(v): (v, k) for v, k in self.terms}
        for v, k in other.terms:
            old = terms.get(id(v), (v, 0))[1]
            terms[id(v)] = (v, old + k)
        coefs = tuple(a + b for a, b in zip(self.coefs, other.coefs, strict=True))
        kept = tuple((v, k) for v, k in terms.values() if k)
        return _Affine(kept, self.const + other.const, coefs, self.fits + other.fits)


def _affine(v: Value, depth: int = 0) -> _Affine | None:
    """``v`` (an integer scalar or tile) as an affine function of its positions, or None."""
    a = _affine_op(v, depth)
    return a if a is not None and a.small() else None


def _affine_op(v: Value, depth: int) -> _Affine | None:
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
        return None if s is None else s.reshaped(lambda _: zeros)
    if name == "tt.expand_dims":
        s = _affine(ops[0], depth + 1)
        if s is None:
            return None
        axis = int(op.attrs["axis"])
        return s.reshaped(lambda k: (*k[:axis], 0, *k[axis:]))
    if name == "tt.broadcast":
        s = _affine(ops[0], depth + 1)
        src = irt.shape_of(ops[0].type)
        if s is None or len(src) != len(shape):
            return None
        return s.reshaped(_broadcast(src, shape))
    if name == "arith.extsi":
        s = _affine(ops[0], depth + 1)
        width = _width(ops[0])
        if s is None or width is None:
            return None
        return _Affine(s.terms, s.const, s.coefs, (*s.fits, (s.bare(), width)))
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


def _width(v: Value) -> int | None:
    elem = irt.element_type(v.type)
    return elem.width if isinstance(elem, irt.IntType) else None


def _broadcast(
    src: tuple[int, ...], dst: tuple[int, ...]
) -> Callable[[tuple[int, ...]], tuple[int, ...]]:
    """The coefficients' map of a broadcast: a dimension of 1 has position 0 throughout."""
    return lambda ks: tuple(k if n == m else 0 for k, n, m in zip(ks, src, dst, strict=True))


@dataclass(frozen=True)
class _Compare:
    """``lhs - rhs <pred> 0`` as ``d``, exact where every ``(affine, width)`` of ``fits`` (the
    two operands and the ``extsi`` sources inside them) fits its width."""

    pred: str
    d: _Affine
    fits: tuple[tuple[_Affine, int], ...]

    def reshaped(self, f: Callable[[tuple[int, ...]], tuple[int, ...]]) -> _Compare:
        fits = tuple((a.reshaped(f), w) for a, w in self.fits)
        return _Compare(self.pred, self.d.reshaped(f), fits)


def _conjuncts(cond: Value, depth: int = 0) -> list[_Compare]:
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
        return [c.reshaped(_broadcast(src, dst)) for c in _conjuncts(op.operands[0], depth + 1)]
    if op.name != "arith.cmpi" or op.attrs["predicate"] not in _SIGNED:
        return []
    lhs, rhs = (_affine(o) for o in op.operands)
    width = _width(op.operands[0])
    if lhs is None or rhs is None or width is None:
        return []
    fits = ((lhs.bare(), width), (rhs.bare(), width), *lhs.fits, *rhs.fits)
    return [_Compare(str(op.attrs["predicate"]), lhs.plus(rhs.scaled(-1)).bare(), fits)]


def _available(cx: Lowering, c: _Compare) -> bool:
    """Every scalar of ``c`` is lowered already (computed before the dot)."""
    terms = [v for a in (c.d, *(f for f, _ in c.fits)) for v, _ in a.terms]
    return all(isinstance(cx.refs.get(v), Scalar) for v in terms)


def _wide(b: ll.IRBuilder, x: ll.Value) -> ll.Value:
    return x if x.type == _I128 else b.sext(x, _I128)


def _base(cx: Lowering, d: _Affine) -> ll.Value:
    """The scalar part of ``d`` (its value at position 0) in i128."""
    b = cx.b
    out: ll.Value = _c(d.const)
    for v, k in d.terms:
        x = _wide(b, cx.scalar(v))
        out = b.add(out, b.mul(x, _c(k)) if k != 1 else x)
    return out


def _c(x: int) -> ll.Constant:
    return ll.Constant(_I128, x)


def _extreme(
    b: ll.IRBuilder, base: ll.Value, k: int, pos: ll.Value, last: int, largest: bool
) -> ll.Value:
    """``base + k * p`` at whichever of ``p = pos`` and ``p = pos + last`` gives the largest
    (or the smallest) value."""
    if k == 0:
        return base
    p = _wide(b, pos)
    if last and (k > 0) == largest:
        p = b.add(p, _c(last))
    return b.add(base, b.mul(p, _c(k)))


def _corner(
    cx: Lowering, d: _Affine, box: tuple[ll.Value, int, ll.Value, int], largest: bool
) -> ll.Value:
    """``d``'s largest (or smallest) value over the positions ``box``: (row0, rows, col0,
    cols)."""
    row0, rows, col0, cols = box
    e = _extreme(cx.b, _base(cx, d), d.coefs[0], row0, rows - 1, largest)
    return _extreme(cx.b, e, d.coefs[1], col0, cols - 1, largest)


def _tile(v: Value) -> tuple[ll.Value, int, ll.Value, int]:
    """Every position of the 2-D tile ``v``, as a box for :func:`_corner`."""
    rows, cols = irt.shape_of(v.type)
    return (_c(0), rows, _c(0), cols)


def _fit(cx: Lowering, c: _Compare, box: tuple[ll.Value, int, ll.Value, int]) -> ll.Value:
    """i1: over ``box``, each operand of ``c``'s compare and each ``extsi`` source in them
    fits its width, so that the kernel's wrapped values are the exact ones."""
    b = cx.b
    ok: ll.Value = ll.Constant(lu.I1, 1)
    for a, w in c.fits:
        lo = b.icmp_signed(">=", _corner(cx, a, box, False), _c(-(2 ** (w - 1))))
        hi = b.icmp_signed("<", _corner(cx, a, box, True), _c(2 ** (w - 1)))
        ok = b.and_(ok, b.and_(lo, hi))
    return ok


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
    tests = [c for c in _conjuncts(cond) if _available(cx, c)]
    if not tests:
        return None

    fits = [_fit(cx, c, _tile(dot.result)) for c in tests]  # here: once, before the blocks

    def test(row0: ll.Value, col0: ll.Value, rows: int, cols: int) -> ll.Value:
        b = cx.b
        box = (row0, rows, col0, cols)
        dead: ll.Value = ll.Constant(lu.I1, 0)
        for c, fit in zip(tests, fits, strict=True):
            largest = c.pred in ("sgt", "sge")  # then false everywhere iff its largest d fails
            e = _corner(cx, c.d, box, largest)
            op = {"sgt": "<=", "sge": "<", "slt": ">=", "sle": ">"}[c.pred]
            dead = b.or_(dead, b.and_(b.icmp_signed(op, e, _c(0)), fit))
        return dead

    return test


def _row_max(m: Value, sel: Value) -> bool:
    """``m`` is ``sel``'s row maximum, broadcast (``max(sel, 1)[:, None]``, or ``maximum(m_i,
    max(sel, 1))[:, None]``): an ``m`` of -inf then means every kept score of its row is -inf,
    so the row's ``p`` is NaN at every key, the one key always kept included."""
    op = m.defining_op
    if op is None or op.name != "tt.broadcast":
        return False
    op = op.operands[0].defining_op
    if op is None or op.name != "tt.expand_dims" or int(op.attrs["axis"]) != 1:
        return False
    op = op.operands[0].defining_op
    if op is not None and op.name in _MAX:
        op = next((o.defining_op for o in op.operands if _is_row_max(o.defining_op, sel)), None)
    return _is_row_max(op, sel)


_MAX = ("arith.maxnumf", "arith.maximumf")


def _is_row_max(op: Operation | None, sel: Value) -> bool:
    """``op`` is ``tt.reduce`` of ``sel`` along its rows by a max."""
    if op is None or op.name != "tt.reduce" or int(op.attrs["axis"]) != 1:
        return False
    if len(op.operands) != 1 or op.operands[0] is not sel or len(op.regions) != 1:
        return False
    block = op.regions[0].block
    if len(block.ops) != 2 or block.ops[-1].name != "tt.reduce.return":
        return False
    comb = block.ops[0]
    ret = block.ops[-1].operands
    args = {id(a) for a in block.args}
    ok = len(ret) == 1 and ret[0] is comb.result and len(args) == 2
    return ok and comb.name in _MAX and {id(o) for o in comb.operands} == args


def live_keys(cx: Lowering, a: Value, k: int) -> KeyCount | None:
    """For a dot's ``a`` of ``exp2(select(cond, x, -inf) - m)``, ``m`` the select's row
    maximum: the count of leading keys (columns of ``a``) that a block of rows needs, or None
    (see the module docstring)."""
    if not ENABLED or len(irt.shape_of(a.type)) != 2:
        return None
    op = a.defining_op
    if op is None or op.name not in ("math.exp2", "math.exp"):
        return None
    sub = op.operands[0].defining_op
    if sub is None or sub.name != "arith.subf":
        return None
    sel = sub.operands[0].defining_op
    if sel is None or sel.name != "arith.select" or not _row_max(sub.operands[1], sel.result):
        return None
    cond, _, other = sel.operands
    if constant_of(other) != float("-inf") or irt.shape_of(cond.type) != irt.shape_of(a.type):
        return None
    # keys kept up to a bound: lhs - rhs falls by one per key (>=, >) or rises by one (<, <=)
    tests = [
        c
        for c in _conjuncts(cond)
        if _available(cx, c) and c.d.coefs[1] == (-1 if c.pred in ("sgt", "sge") else 1)
    ]
    if not tests:
        return None

    fits = [_fit(cx, c, _tile(a)) for c in tests]  # here: once, before the blocks

    def count(row0: ll.Value, rows: int) -> ll.Value:
        b = cx.b
        n: ll.Value = _c(k)
        for c, fit in zip(tests, fits, strict=True):
            if c.pred in ("sgt", "sge"):  # key c kept while base + kr * row - c >= 0 (> 0)
                top = _corner(cx, c.d, (row0, rows, _c(0), 1), True)
                bound = b.add(top, _c(1)) if c.pred == "sge" else top
            else:  # key c kept while base + kr * row + c < 0 (<= 0)
                low = _corner(cx, c.d, (row0, rows, _c(0), 1), False)
                bound = b.neg(low) if c.pred == "slt" else b.sub(_c(1), low)
            use = b.and_(b.icmp_signed("<", bound, n), fit)
            n = b.select(use, bound, n)
        n = b.select(b.icmp_signed("<", n, _c(1)), _c(1), n)
        return b.trunc(n, lu.I32)

    return count
