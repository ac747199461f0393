"""The base of the frontend's engine: creating ops, constants, broadcasting and casts.

Every engine method ends up here to put an op at the builder's insertion point. The
builder's current location (set by the code generator for each AST node) stamps each op.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tritium import ir
from tritium.frontend.tile import Tile
from tritium.frontend.type_conversion import int_constant_in_range, lang_type, to_ir_type
from tritium.language import core as lcore
from tritium.language import dtypes as ldt
from tritium.language import type_rules as st

__all__ = ["SemanticBase", "is_number"]


def is_number(x: Any) -> bool:
    """Whether ``x`` is a Python scalar that an operator may combine with a tile."""
    return isinstance(x, (bool, int, float)) or _is_numpy_scalar(x)


def _is_numpy_scalar(x: Any) -> bool:
    return type(x).__module__ == "numpy" and hasattr(x, "item") and getattr(x, "ndim", 1) == 0


class SemanticBase:
    """Emits IR through ``builder``; the op-specific mixins build on these helpers."""

    def __init__(self, builder: ir.Builder) -> None:
        self.builder = builder

    # ---- creating ops -------------------------------------------------------------------

    def emit(
        self,
        name: str,
        operands: Sequence[Tile],
        ty: ldt.dtype | None,
        attrs: dict[str, Any] | None = None,
    ) -> Tile | None:
        """Create op ``name`` on the tiles ``operands`` with one result of language type
        ``ty`` (or none if ``ty`` is None) and return the result as a tile."""
        results = [to_ir_type(ty)] if ty is not None else []
        op = self.builder.create(name, [t.handle for t in operands], results, attrs)
        return Tile(op.result, ty) if ty is not None else None

    def emit_like(
        self,
        name: str,
        operands: Sequence[Tile],
        element: ldt.dtype,
        attrs: dict[str, Any] | None = None,
    ) -> Tile:
        """Emit an elementwise op whose result has the shape of ``operands[0]`` and the
        element type ``element``."""
        out = self.emit(name, operands, lang_type(element, operands[0].shape), attrs)
        assert out is not None
        return out

    # ---- constants and literals ---------------------------------------------------------

    def constant(self, value: Any, dtype: ldt.dtype, shape: tuple[int, ...] = ()) -> Tile:
        """An ``arith.constant`` of ``dtype`` (a scalar, or a tile of ``shape``)."""
        dtype = dtype.scalar
        if _is_numpy_scalar(value):
            value = value.item()
        if dtype.is_ptr():
            raise TypeError(f"cannot make a constant of pointer type {dtype}")
        if dtype.is_floating():
            if not isinstance(value, (bool, int, float)):
                raise TypeError(f"cannot make a {dtype} constant from {value!r}")
            value = float(value)
        elif dtype.is_bool():
            value = bool(value)
        elif dtype.is_int():
            if isinstance(value, float):
                if not math.isfinite(value):
                    raise ValueError(f"cannot convert {value} to {dtype}")
                value = int(value)  # toward zero, as a cast would
            value = int(value)
            if not int_constant_in_range(value, dtype):
                raise ValueError(f"value {value} is out of range for {dtype}")
            w = dtype.int_bitwidth
            # IR integers are signless: store the two's complement pattern as a signed number.
            value = ((value + 2 ** (w - 1)) % 2**w) - 2 ** (w - 1)
        else:
            raise TypeError(f"cannot make a constant of type {dtype}")
        out = self.emit("arith.constant", [], lang_type(dtype, shape), {"value": value})
        assert out is not None
        return out

    def to_tile(self, x: Any, dtype: ldt.dtype | None = None) -> Tile:
        """``x`` as a tile: tiles pass through; Python numbers become constants of ``dtype``
        (default: the literal's own dtype, Triton's rules)."""
        x = lcore.unwrap_constexpr(x)
        if isinstance(x, Tile):
            return x
        if is_number(x):
            if _is_numpy_scalar(x):
                x = x.item()
            return self.constant(x, dtype if dtype is not None else st.scalar_dtype(x))
        if getattr(x, "handle", None) is None and isinstance(x, lcore.tensor):
            raise TypeError(
                f"a block pointer cannot be used as a value here; move it with "
                f"tl.advance and read it with tl.load ({x.type})"
            )
        if isinstance(x, lcore.tensor):
            raise TypeError(f"a {type(x).__name__} from another engine cannot be used here")
        raise TypeError(f"expected a tensor or a number, got {type(x).__name__} {x!r}")

    # ---- shapes -------------------------------------------------------------------------

    @staticmethod
    def broadcast_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
        """The common shape of ``a`` and ``b`` under NumPy's rules; ValueError if none."""
        if len(a) < len(b):
            a = (1,) * (len(b) - len(a)) + a
        elif len(b) < len(a):
            b = (1,) * (len(a) - len(b)) + b
        out = []
        for x, y in zip(a, b):
            if x != y and x != 1 and y != 1:
                raise ValueError(
                    f"cannot broadcast shapes {list(a)} and {list(b)}: "
                    f"dimension {x} does not match {y}"
                )
            out.append(max(x, y))
        return tuple(out)

    def broadcast_to_shape(self, x: Tile, shape: tuple[int, ...]) -> Tile:
        """``x`` broadcast to ``shape``: scalars are splat, missing leading dims inserted with
        ``tt.expand_dims``, size-1 dims widened with ``tt.broadcast``."""
        shape = tuple(shape)
        if x.shape == shape:
            return x
        if not shape:
            raise ValueError(f"cannot broadcast a tile of shape {list(x.shape)} to a scalar")
        if x.is_scalar:
            src = x.handle.defining_op
            if src is not None and src.name == "arith.constant":
                # A splat constant is one op; keeps `x + 1` compact.
                return self.constant(_constant_value(src, x.dtype), x.dtype, shape)
            out = self.emit("tt.splat", [x], lang_type(x.dtype, shape))
            assert out is not None
            return out
        if len(x.shape) > len(shape):
            raise ValueError(f"cannot broadcast shape {list(x.shape)} to {list(shape)}")
        while len(x.shape) < len(shape):
            x = self.expand_dims_impl(x, 0)
        for have, want in zip(x.shape, shape):
            if have != want and have != 1:
                raise ValueError(f"cannot broadcast shape {list(x.shape)} to {list(shape)}")
        out = self.emit("tt.broadcast", [x], lang_type(x.dtype, shape))
        assert out is not None
        return out

    def broadcast_pair(self, a: Tile, b: Tile) -> tuple[Tile, Tile]:
        """``a`` and ``b`` broadcast to their common shape."""
        shape = self.broadcast_shapes(a.shape, b.shape)
        return self.broadcast_to_shape(a, shape), self.broadcast_to_shape(b, shape)

    def expand_dims_impl(self, x: Tile, axis: int) -> Tile:
        """``x`` with a new dimension of size 1 at ``axis`` (scalars become 1-element tiles)."""
        if x.is_scalar:
            return self.broadcast_to_shape(x, (1,))
        shape = list(x.shape)
        if not 0 <= axis <= len(shape):
            raise ValueError(f"expand_dims: axis {axis} out of range for rank {len(shape)}")
        shape.insert(axis, 1)
        out = self.emit("tt.expand_dims", [x], lang_type(x.dtype, tuple(shape)), {"axis": axis})
        assert out is not None
        return out

    # ---- casts --------------------------------------------------------------------------

    def cast(
        self,
        input: Any,
        dtype: ldt.dtype,
        fp_downcast_rounding: str | None = None,
        bitcast: bool = False,
    ) -> Tile:
        """``input`` converted to ``dtype`` with Triton's rules (``tl.cast`` / ``x.to``)."""
        x = self.to_tile(input)
        dst = lcore.unwrap_constexpr(dtype)
        if isinstance(dst, str):
            dst = ldt.str_to_ty(dst)
        if not isinstance(dst, ldt.dtype):
            raise TypeError(f"cast: dtype must be a tl.dtype, got {dst!r}")
        dst = dst.scalar
        if bitcast:
            return self._bitcast(x, dst)
        if fp_downcast_rounding not in (None, "rtne", "rtz"):
            raise ValueError(
                f"fp_downcast_rounding must be 'rtne' or 'rtz', got {fp_downcast_rounding!r}"
            )
        return self._convert(x, dst, fp_downcast_rounding)

    def _retype(self, x: Tile, dst: ldt.dtype) -> Tile:
        """``x`` with a new language element type but the same IR value (signedness only)."""
        return Tile(x.handle, lang_type(dst, x.shape))

    def _bitcast(self, x: Tile, dst: ldt.dtype) -> Tile:
        src = x.dtype
        if src == dst:
            return x
        if src.is_ptr() and dst.is_ptr():
            return self.emit_like("tt.bitcast", [x], dst)
        if src.is_ptr() or dst.is_ptr():
            raise ValueError(
                f"cannot bitcast between {src} and {dst}; use .to() to convert "
                f"between pointers and int64"
            )
        if src.primitive_bitwidth != dst.primitive_bitwidth:
            raise ValueError(
                f"cannot bitcast {src} ({src.primitive_bitwidth} bits) to {dst} "
                f"({dst.primitive_bitwidth} bits)"
            )
        if to_ir_type(src) == to_ir_type(dst):
            return self._retype(x, dst)
        return self.emit_like("arith.bitcast", [x], dst)

    def _convert(self, x: Tile, dst: ldt.dtype, rounding: str | None) -> Tile:
        src = x.dtype
        if src == dst:
            return x
        # pointers
        if src.is_ptr() or dst.is_ptr():
            return self._convert_ptr(x, dst)
        # fp8 formats, and any float <-> fp8: tt.fp_to_fp (ints go through fp32)
        if src.is_fp8() or dst.is_fp8():
            if src.is_int() or dst.is_int():
                return self._convert(self._convert(x, ldt.float32, None), dst, rounding)
            # fp8 -> fp8 of the other format counts as narrowing: it may round
            narrowing = dst.primitive_bitwidth <= src.primitive_bitwidth
            attrs = {"rounding": rounding or "rtne"} if narrowing else {}
            return self.emit_like("tt.fp_to_fp", [x], dst, attrs)
        # fp16 / bf16 convert to anything but fp32 through fp32, as Triton does
        if (src.is_fp16() or src.is_bf16()) and not dst.is_fp32():
            return self._convert(self._convert(x, ldt.float32, None), dst, rounding)
        if src.is_floating() and dst.is_floating():
            if dst.primitive_bitwidth < src.primitive_bitwidth:
                if rounding == "rtz":
                    return self.emit_like("tt.fp_to_fp", [x], dst, {"rounding": "rtz"})
                return self.emit_like("arith.truncf", [x], dst)
            return self.emit_like("arith.extf", [x], dst)
        if src.is_int() and dst.is_int():
            if dst.is_bool():
                return self.cmp_zero(x, "ne")
            sw, dw = src.int_bitwidth, dst.int_bitwidth
            if sw == dw:
                return self._retype(x, dst)
            if sw > dw:
                return self.emit_like("arith.trunci", [x], dst)
            sign_extend = src.is_int_signed() and not src.is_bool()
            return self.emit_like("arith.extsi" if sign_extend else "arith.extui", [x], dst)
        if src.is_floating() and dst.is_int():
            if dst.is_bool():
                return self.cmp_zero(x, "ne")
            name = "arith.fptosi" if dst.is_int_signed() else "arith.fptoui"
            return self.emit_like(name, [x], dst)
        if src.is_int() and dst.is_floating():
            unsigned = src.is_bool() or src.is_int_unsigned()
            return self.emit_like("arith.uitofp" if unsigned else "arith.sitofp", [x], dst)
        raise TypeError(f"cannot cast {src} to {dst}")

    def _convert_ptr(self, x: Tile, dst: ldt.dtype) -> Tile:
        src = x.dtype
        if src.is_ptr() and dst.is_ptr():
            return self.emit_like("tt.bitcast", [x], dst)
        if src.is_ptr() and dst.is_int():
            as_int = self.emit_like("tt.ptr_to_int", [x], ldt.int64)
            return self._convert(as_int, dst, None) if dst != ldt.int64 else as_int
        if src.is_int() and dst.is_ptr():
            if src != ldt.int64:
                x = self._convert(x, ldt.int64, None)
            return self.emit_like("tt.int_to_ptr", [x], dst)
        raise TypeError(f"cannot cast {src} to {dst}")

    def cmp_zero(self, x: Tile, pred: str) -> Tile:
        """``x != 0`` (or ``== 0`` for ``pred="eq"``) as int1, for ints and floats."""
        zero = self.constant(0, x.dtype, x.shape)
        if x.dtype.is_floating():
            name, p = "arith.cmpf", ("une" if pred == "ne" else "oeq")
        else:
            name, p = "arith.cmpi", pred
        return self.emit_like(name, [x, zero], ldt.int1, {"predicate": p})


def _constant_value(op: ir.Operation, dtype: ldt.dtype) -> Any:
    """The value of a scalar ``arith.constant``, re-read as a value of the language ``dtype``
    (signless IR ints are stored signed; unsigned dtypes read back as non-negative)."""
    value = op.attrs["value"]
    if dtype.is_int() and not dtype.is_bool() and dtype.is_int_unsigned() and value < 0:
        value += 2**dtype.int_bitwidth
    return value
