"""An ``IRBuilder`` that folds trivial integer arithmetic as it emits (issue 13, cold compile).

The lowering rules build index math generically: ``start + i`` with a start of 0, a chunk
offset times a stride of 1, an integer division's guards against a divisor of 0 or -1 when the
divisor is the constant 64, ``sext i32 0``. In the tutorial matmul that was about one
instruction in eight of the unoptimized IR: LLVM removes them in its first InstCombine, but
each costs llvmlite's printer and LLVM's parser and first passes first. Folded here:

* ``x + 0``, ``0 + x``, ``x - 0``, ``x * 1``, ``1 * x``, ``x | 0``, ``x ^ 0``, ``x & -1``,
  shifts by 0 (scalars and splat vector constants) -> ``x``;
* the same operations, casts (``zext``/``sext``/``trunc``) and comparisons of two scalar
  integer constants -> the constant result (wrapping: poison flags allow any value);
* ``select`` on a constant scalar condition -> the chosen operand;
* ``extractelement`` of the lane an ``insertelement`` just set -> the inserted value.

Nothing is folded that could change a result: no division, no floating point, and an operand
is returned only when the instruction would have produced exactly it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import llvmlite.ir as ll

__all__ = ["FoldingBuilder"]


def _int(v: ll.Value) -> int | None:
    """The value of a scalar integer constant (two's complement, as written), else None."""
    if isinstance(v, ll.Constant) and isinstance(v.type, ll.IntType):
        c = v.constant
        if isinstance(c, bool):
            return int(c)
        if isinstance(c, int):
            return c
    return None


def _splat(v: ll.Value) -> int | None:
    """The lanes' value of a scalar integer constant or an integer vector constant whose lanes
    are all that one constant (``zeroinitializer`` is 0), else None."""
    scalar = _int(v)
    if scalar is not None:
        return scalar
    if isinstance(v, ll.Constant) and isinstance(v.type, ll.VectorType):
        if not isinstance(v.type.element, ll.IntType):
            return None
        if v.constant is None:
            return 0
        if isinstance(v.constant, (list, tuple)) and v.constant:
            lanes = [_int(c) for c in v.constant]
            if lanes[0] is not None and all(x == lanes[0] for x in lanes):
                return lanes[0]
    return None


def _const(t: ll.IntType, value: int) -> ll.Constant:
    """``value`` wrapped to ``t``'s width, written signed as llvmlite prints it."""
    bits = value & ((1 << t.width) - 1)
    if t.width > 1 and bits >= 1 << (t.width - 1):
        bits -= 1 << t.width
    return ll.Constant(t, bits)


def _unsigned(t: ll.IntType, value: int) -> int:
    return value & ((1 << t.width) - 1)


def _signed(t: ll.IntType, value: int) -> int:
    u = _unsigned(t, value)
    return u - (1 << t.width) if t.width > 1 and u >= 1 << (t.width - 1) else u


_BINARY = {
    "add": lambda a, b, w: a + b,
    "sub": lambda a, b, w: a - b,
    "mul": lambda a, b, w: a * b,
    "and_": lambda a, b, w: a & b,
    "or_": lambda a, b, w: a | b,
    "xor": lambda a, b, w: a ^ b,
}

_SIGNED_CMP = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _fold_compare(
    cmpop: str, lhs: ll.Value, rhs: ll.Value, read: Callable[[ll.IntType, int], int]
) -> ll.Value | None:
    """An ``i1`` constant for a comparison of two integer constants, each read as ``read``
    (signed or unsigned) gives it; None otherwise."""
    a, b = _int(lhs), _int(rhs)
    if a is None or b is None or cmpop not in _SIGNED_CMP or lhs.type != rhs.type:
        return None
    t = lhs.type
    return ll.Constant(ll.IntType(1), int(_SIGNED_CMP[cmpop](read(t, a), read(t, b))))


class FoldingBuilder(ll.IRBuilder):
    """``llvmlite.ir.IRBuilder`` with the folds of the module docstring."""

    def _fold_binary(self, op: str, lhs: ll.Value, rhs: ll.Value) -> ll.Value | None:
        if lhs.type != rhs.type:
            return None
        a, b = _int(lhs), _int(rhs)
        if a is not None and b is not None:
            assert isinstance(lhs.type, ll.IntType)
            return _const(lhs.type, _BINARY[op](a, b, lhs.type.width))
        sa, sb = _splat(lhs), _splat(rhs)
        identity = {"add": 0, "sub": None, "mul": 1, "and_": -1, "or_": 0, "xor": 0}[op]
        if sb is not None and _matches(rhs, sb, 0 if op == "sub" else identity):
            return lhs
        if identity is not None and sa is not None and _matches(lhs, sa, identity):
            return rhs
        return None

    def _shift(self, lhs: ll.Value, rhs: ll.Value) -> bool:
        return lhs.type == rhs.type and _splat(rhs) == 0

    def shl(self, lhs: ll.Value, rhs: ll.Value, name: str = "", flags: Any = ()) -> ll.Value:
        """``lhs << rhs``; a shift by 0 is ``lhs``."""
        return lhs if self._shift(lhs, rhs) else super().shl(lhs, rhs, name, flags=flags)

    def lshr(self, lhs: ll.Value, rhs: ll.Value, name: str = "", flags: Any = ()) -> ll.Value:
        """Logical ``lhs >> rhs``; a shift by 0 is ``lhs``."""
        return lhs if self._shift(lhs, rhs) else super().lshr(lhs, rhs, name, flags=flags)

    def ashr(self, lhs: ll.Value, rhs: ll.Value, name: str = "", flags: Any = ()) -> ll.Value:
        """Arithmetic ``lhs >> rhs``; a shift by 0 is ``lhs``."""
        return lhs if self._shift(lhs, rhs) else super().ashr(lhs, rhs, name, flags=flags)

    def zext(self, value: ll.Value, typ: ll.Type, name: str = "") -> ll.Value:
        """Zero extension; a constant's is a constant."""
        a = _int(value)
        if a is not None and isinstance(typ, ll.IntType):
            return _const(typ, _unsigned(value.type, a))
        return super().zext(value, typ, name)

    def sext(self, value: ll.Value, typ: ll.Type, name: str = "") -> ll.Value:
        """Sign extension; a constant's is a constant."""
        a = _int(value)
        if a is not None and isinstance(typ, ll.IntType):
            return _const(typ, _signed(value.type, a))
        return super().sext(value, typ, name)

    def trunc(self, value: ll.Value, typ: ll.Type, name: str = "") -> ll.Value:
        """Truncation; a constant's is a constant."""
        a = _int(value)
        if a is not None and isinstance(typ, ll.IntType):
            return _const(typ, a)
        return super().trunc(value, typ, name)

    def icmp_signed(self, cmpop: str, lhs: ll.Value, rhs: ll.Value, name: str = "") -> ll.Value:
        """Signed comparison; of two constants, a constant."""
        folded = _fold_compare(cmpop, lhs, rhs, _signed)
        return folded if folded is not None else super().icmp_signed(cmpop, lhs, rhs, name)

    def icmp_unsigned(self, cmpop: str, lhs: ll.Value, rhs: ll.Value, name: str = "") -> ll.Value:
        """Unsigned comparison; of two constants, a constant."""
        folded = _fold_compare(cmpop, lhs, rhs, _unsigned)
        return folded if folded is not None else super().icmp_unsigned(cmpop, lhs, rhs, name)

    def select(
        self, cond: ll.Value, lhs: ll.Value, rhs: ll.Value, name: str = "", flags: Any = ()
    ) -> ll.Value:
        """``cond ? lhs : rhs``; on a constant scalar condition, the chosen operand."""
        c = _int(cond)
        if c is not None and cond.type == ll.IntType(1) and lhs.type == rhs.type:
            return lhs if c & 1 else rhs
        return super().select(cond, lhs, rhs, name, flags=flags)

    def extract_element(self, vector: ll.Value, idx: ll.Value, name: str = "") -> ll.Value:
        """A lane; the one an ``insertelement`` just set is its inserted value."""
        if isinstance(vector, ll.instructions.InsertElement):
            at = _int(vector.operands[2])
            if at is not None and at == _int(idx):
                return vector.operands[1]
        return super().extract_element(vector, idx, name)


def _matches(v: ll.Value, lane: int, identity: int | None) -> bool:
    """Whether every lane of the constant ``v`` (value ``lane``) is ``identity``, compared at
    the element's width (-1 is all ones)."""
    if identity is None:
        return False
    t = v.type.element if isinstance(v.type, ll.VectorType) else v.type
    assert isinstance(t, ll.IntType)
    return _unsigned(t, lane) == _unsigned(t, identity)


def _folding_binary(op: str) -> Any:
    """``FoldingBuilder.<op>``: IRBuilder's ``op`` unless :meth:`_fold_binary` folds it."""
    emit = getattr(ll.IRBuilder, op)

    def method(
        self: FoldingBuilder, lhs: ll.Value, rhs: ll.Value, name: str = "", flags: Any = ()
    ) -> ll.Value:
        folded = self._fold_binary(op, lhs, rhs)
        return folded if folded is not None else emit(self, lhs, rhs, name, flags=flags)

    method.__name__ = op
    method.__doc__ = f"``{op.rstrip('_')}`` of ``lhs`` and ``rhs``, folded when trivial."
    return method


for _op in _BINARY:
    setattr(FoldingBuilder, _op, _folding_binary(_op))
