"""Elementwise arithmetic, comparisons and logic: the operator methods of the engine.

Integer ops pick the signed or unsigned IR op from the language dtype; operands are promoted
with :mod:`tritium.language.type_rules` (Triton's rules) and broadcast explicitly.
"""

from __future__ import annotations

from typing import Any

from tritium.frontend.engine_base import SemanticBase, is_number
from tritium.frontend.tile import Tile
from tritium.language import core as lcore
from tritium.language import dtypes as ldt
from tritium.language import type_rules as st

__all__ = ["ArithMixin"]

_FLOAT_PRED = {"lt": "olt", "le": "ole", "gt": "ogt", "ge": "oge", "eq": "oeq", "ne": "une"}
_SIGNED_PRED = {"lt": "slt", "le": "sle", "gt": "sgt", "ge": "sge", "eq": "eq", "ne": "ne"}
_UNSIGNED_PRED = {"lt": "ult", "le": "ule", "gt": "ugt", "ge": "uge", "eq": "eq", "ne": "ne"}


class ArithMixin(SemanticBase):
    """Operators, comparisons, logic, selection and min/max."""

    # ---- operand preparation ------------------------------------------------------------

    def binary_operands(self, lhs: Any, rhs: Any, op: str) -> tuple[Tile, Tile]:
        """Both operands of the engine operator ``op`` as tiles of one shape, converted to the
        types :func:`tritium.language.type_rules.binary_result_type` gives them."""
        lhs, rhs = _py(lcore.unwrap_constexpr(lhs)), _py(lcore.unwrap_constexpr(rhs))
        l_lit, r_lit = is_number(lhs), is_number(rhs)
        if not l_lit:
            lhs = self.to_tile(lhs)
        if not r_lit:
            rhs = self.to_tile(rhs)
        types = st.binary_result_type(lhs, rhs, op)
        a = None if l_lit else self.cast(lhs, types.lhs)
        b = None if r_lit else self.cast(rhs, types.rhs)
        # Literals are made directly at the other operand's shape: one constant op.
        if a is None and b is None:
            a, b = self.to_tile(lhs, types.lhs), self.to_tile(rhs, types.rhs)
        elif a is None:
            a = self.constant(lhs, types.lhs, b.shape)
        elif b is None:
            b = self.constant(rhs, types.rhs, a.shape)
        return self.broadcast_pair(a, b)

    def _int_or_float(self, a: Tile, b: Tile, fname: str, sname: str, uname: str) -> Tile:
        dt = a.dtype
        if dt.is_floating():
            return self.emit_like(fname, [a, b], dt)
        if dt.is_int():
            return self.emit_like(sname if dt.is_int_signed() else uname, [a, b], dt)
        raise TypeError(f"unexpected operand type {dt}")

    # ---- arithmetic ---------------------------------------------------------------------

    def add(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs + rhs``; pointer + integer is ``tt.addptr``."""
        a, b = self.binary_operands(lhs, rhs, "add")
        if b.dtype.is_ptr():
            a, b = b, a
        if a.dtype.is_ptr():
            return self._addptr(a, b)
        return self._int_or_float(a, b, "arith.addf", "arith.addi", "arith.addi")

    def _addptr(self, ptr: Tile, offset: Tile) -> Tile:
        """``tt.addptr``, whose offset is signed: an unsigned offset narrower than 64 bits is
        zero-extended first (a ``uint8`` 255 moves the pointer forward, as in Triton)."""
        dt = offset.dtype
        if dt.is_int_unsigned() and dt.int_bitwidth < 64:
            offset = self.cast(offset, ldt.int64)
        return self.emit_like("tt.addptr", [ptr, offset], ptr.dtype)

    def sub(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs - rhs``; pointer - integer moves the pointer back."""
        a, b = self.binary_operands(lhs, rhs, "sub")
        if a.dtype.is_ptr():
            zero = self.constant(0, b.dtype, b.shape)
            neg = self.emit_like("arith.subi", [zero, b], b.dtype)
            return self._addptr(a, neg)  # Triton: ptr + (-offset), unsigned as above
        return self._int_or_float(a, b, "arith.subf", "arith.subi", "arith.subi")

    def mul(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs * rhs``."""
        a, b = self.binary_operands(lhs, rhs, "mul")
        return self._int_or_float(a, b, "arith.mulf", "arith.muli", "arith.muli")

    def truediv(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs / rhs``: integer operands are converted to fp32 first (Triton)."""
        a, b = self.binary_operands(lhs, rhs, "truediv")
        return self.emit_like("arith.divf", [a, b], a.dtype)

    def floordiv(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs // rhs`` on integers, rounding toward zero (C and Triton semantics)."""
        a, b = self.binary_operands(lhs, rhs, "floordiv")
        return self._int_or_float(a, b, "", "arith.divsi", "arith.divui")

    def mod(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs % rhs`` with the sign of ``lhs`` (C's ``%`` and ``fmod``, as Triton)."""
        a, b = self.binary_operands(lhs, rhs, "mod")
        return self._int_or_float(a, b, "arith.remf", "arith.remsi", "arith.remui")

    def neg(self, operand: Any) -> Tile:
        """``-operand``."""
        x = self.to_tile(operand)
        if x.dtype.is_floating():
            return self.emit_like("arith.negf", [x], x.dtype)
        if x.dtype.is_int():
            zero = self.constant(0, x.dtype, x.shape)
            return self.emit_like("arith.subi", [zero, x], x.dtype)
        raise TypeError(f"cannot negate a value of type {x.dtype}")

    def pos(self, operand: Any) -> Tile:
        """``+operand``."""
        x = self.to_tile(operand)
        if x.dtype.is_ptr():
            raise TypeError(f"unary + is not defined on {x.dtype}")
        return x

    def invert(self, operand: Any) -> Tile:
        """``~operand`` on integers (all-ones xor)."""
        x = self.to_tile(operand)
        if not x.dtype.is_int():
            raise TypeError(f"~ needs an integer operand, got {x.dtype}")
        ones = self.constant(True if x.dtype.is_bool() else -1, x.dtype, x.shape)
        return self.emit_like("arith.xori", [x, ones], x.dtype)

    # ---- bitwise ------------------------------------------------------------------------

    def _bitwise(self, lhs: Any, rhs: Any, name: str, op: str) -> Tile:
        a, b = self.binary_operands(lhs, rhs, op)
        return self.emit_like(name, [a, b], a.dtype)

    def and_(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs & rhs``."""
        return self._bitwise(lhs, rhs, "arith.andi", "and_")

    def or_(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs | rhs``."""
        return self._bitwise(lhs, rhs, "arith.ori", "or_")

    def xor(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs ^ rhs``."""
        return self._bitwise(lhs, rhs, "arith.xori", "xor")

    def lshift(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs << rhs``."""
        return self._bitwise(lhs, rhs, "arith.shli", "lshift")

    def rshift(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs >> rhs``: arithmetic when ``lhs`` is a signed integer, else logical (decided
        by ``lhs``'s own type before promotion, as Triton does: ``int8 >> uint32`` is an
        arithmetic shift of the sign-extended value)."""
        a, b = self.binary_operands(lhs, rhs, "rshift")
        own = lhs.dtype if isinstance(lhs, Tile) and lhs.dtype.is_int() else a.dtype
        name = "arith.shrsi" if own.is_int_signed() else "arith.shrui"
        return self.emit_like(name, [a, b], a.dtype)

    # ---- comparisons and logic ----------------------------------------------------------

    def _compare(self, lhs: Any, rhs: Any, pred: str) -> Tile:
        a, b = self.binary_operands(lhs, rhs, pred)
        dt = a.dtype
        if dt.is_floating():
            return self.emit_like("arith.cmpf", [a, b], ldt.int1, {"predicate": _FLOAT_PRED[pred]})
        if dt.is_int():
            table = _SIGNED_PRED if dt.is_int_signed() else _UNSIGNED_PRED
            return self.emit_like("arith.cmpi", [a, b], ldt.int1, {"predicate": table[pred]})
        raise TypeError(f"cannot compare values of type {dt}")

    def lt(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs < rhs`` (int1)."""
        return self._compare(lhs, rhs, "lt")

    def le(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs <= rhs`` (int1)."""
        return self._compare(lhs, rhs, "le")

    def gt(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs > rhs`` (int1)."""
        return self._compare(lhs, rhs, "gt")

    def ge(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs >= rhs`` (int1)."""
        return self._compare(lhs, rhs, "ge")

    def eq(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs == rhs`` (int1)."""
        return self._compare(lhs, rhs, "eq")

    def ne(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs != rhs`` (int1)."""
        return self._compare(lhs, rhs, "ne")

    def to_bool(self, x: Any) -> Tile:
        """``x`` as int1 (non-zero is true)."""
        t = self.to_tile(x)
        return t if t.dtype.is_bool() else self.cast(t, ldt.int1)

    def logical_and(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs and rhs`` on tiles (int1)."""
        a, b = self.broadcast_pair(self.to_bool(lhs), self.to_bool(rhs))
        return self.emit_like("arith.andi", [a, b], ldt.int1)

    def logical_or(self, lhs: Any, rhs: Any) -> Tile:
        """``lhs or rhs`` on tiles (int1)."""
        a, b = self.broadcast_pair(self.to_bool(lhs), self.to_bool(rhs))
        return self.emit_like("arith.ori", [a, b], ldt.int1)

    def logical_not(self, operand: Any) -> Tile:
        """``not operand`` on a tile (int1)."""
        x = self.to_bool(operand)
        true = self.constant(True, ldt.int1, x.shape)
        return self.emit_like("arith.xori", [x, true], ldt.int1)

    # ---- selection, min/max -------------------------------------------------------------

    def where(self, condition: Any, x: Any, y: Any) -> Tile:
        """``x`` where ``condition`` else ``y``, all broadcast to one shape."""
        cond = self.to_bool(condition)
        x, y = _py(lcore.unwrap_constexpr(x)), _py(lcore.unwrap_constexpr(y))
        xs = x if is_number(x) else self.to_tile(x)
        ys = y if is_number(y) else self.to_tile(y)
        ty = st.where_result_type(xs, ys)
        shape = cond.shape
        for v in (xs, ys):
            if not is_number(v):
                shape = self.broadcast_shapes(shape, v.shape)
        a, b = (
            self.constant(v, ty, shape)
            if is_number(v)
            else self.broadcast_to_shape(self.cast(v, ty), shape)
            for v in (xs, ys)
        )
        cond = self.broadcast_to_shape(cond, shape)
        return self.emit_like("arith.select", [cond, a, b], a.dtype)

    def _minmax(self, x: Any, y: Any, propagate_nan: Any, is_max: bool) -> Tile:
        a, b = self.binary_operands(x, y, "maximum" if is_max else "minimum")
        dt = a.dtype
        if dt.is_floating():
            nan_all = str(getattr(propagate_nan, "name", propagate_nan)).lower() == "all"
            if is_max:
                name = "arith.maximumf" if nan_all else "arith.maxnumf"
            else:
                name = "arith.minimumf" if nan_all else "arith.minnumf"
        elif dt.is_int_signed():
            name = "arith.maxsi" if is_max else "arith.minsi"
        elif dt.is_int():
            name = "arith.maxui" if is_max else "arith.minui"
        else:
            raise TypeError(f"unexpected operand type {dt}")
        return self.emit_like(name, [a, b], dt)

    def maximum(self, x: Any, y: Any, propagate_nan: Any = "none") -> Tile:
        """Elementwise maximum."""
        return self._minmax(x, y, propagate_nan, True)

    def minimum(self, x: Any, y: Any, propagate_nan: Any = "none") -> Tile:
        """Elementwise minimum."""
        return self._minmax(x, y, propagate_nan, False)

    def clamp(self, x: Any, min: Any, max: Any, propagate_nan: Any = "none") -> Tile:  # noqa: A002
        """``minimum(maximum(x, min), max)`` on floats (``tt.clampf``)."""
        t = self.to_tile(x)
        if not t.dtype.is_floating():
            raise TypeError(f"clamp needs a floating point input, got {t.dtype}")
        lo, hi = (
            self.cast(self.to_tile(min, t.dtype), t.dtype),
            self.cast(self.to_tile(max, t.dtype), t.dtype),
        )
        shape = self.broadcast_shapes(self.broadcast_shapes(t.shape, lo.shape), hi.shape)
        ops = [self.broadcast_to_shape(v, shape) for v in (t, lo, hi)]
        nan = (
            "all" if str(getattr(propagate_nan, "name", propagate_nan)).lower() == "all" else "none"
        )
        return self.emit_like("tt.clampf", ops, t.dtype, {"propagate_nan": nan})

    def fma(self, x: Any, y: Any, z: Any) -> Tile:
        """``x * y + z`` with one rounding."""
        a, b = self.binary_operands(x, y, "fma")
        a, c = self.binary_operands(a, z, "fma")
        a, b = self.binary_operands(a, b, "fma")
        if not a.dtype.is_floating():
            raise TypeError(f"fma needs floating point operands, got {a.dtype}")
        return self.emit_like("math.fma", [a, b, c], a.dtype)


def _py(x: Any) -> Any:
    """A NumPy scalar as the Python number it holds."""
    return x.item() if type(x).__module__ == "numpy" and hasattr(x, "item") else x
