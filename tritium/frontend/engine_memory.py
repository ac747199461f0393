"""Loads, stores and atomics of the engine.

Booleans live in memory as bytes (a ``*i1`` pointer addresses ``i8`` values, as in Triton):
loads of ``int1`` read ``i8`` and compare with zero, stores convert to ``i8``.
"""

from __future__ import annotations

from typing import Any

from tritium.frontend.engine_arith import ArithMixin
from tritium.frontend.engine_base import is_number
from tritium.frontend.tile import Tile
from tritium.language import dtypes as ldt

__all__ = ["MemoryMixin"]

_SEMS = ("acq_rel", "acquire", "release", "relaxed")
_SCOPES = ("gpu", "cta", "sys")


class MemoryMixin(ArithMixin):
    """Memory access."""

    def _pointer(self, pointer: Any, fn: str) -> Tile:
        p = self.to_tile(pointer)
        if not p.dtype.is_ptr():
            raise TypeError(
                f"{fn}: pointer argument must be a pointer or a tile of pointers, got {p.dtype}"
            )
        if fn != "load" and p.dtype.is_const():  # Triton refuses it too
            raise ValueError(
                f"{fn}: Cannot store to a constant pointer (a `tl.const` or `*k` argument: "
                "read-only memory such as a JAX array or a read-only DLPack export)"
            )
        return p

    def _mask(self, mask: Any, fn: str) -> Tile:
        m = self.to_tile(mask)
        if not m.dtype.is_bool():
            raise TypeError(f"{fn}: mask must have boolean (int1) type, got {m.dtype}")
        return m

    def _value_as(self, value: Any, dtype: ldt.dtype, shape: tuple[int, ...] = ()) -> Tile:
        """``value`` converted to ``dtype``; Python numbers become constants of ``dtype`` (and
        of ``shape``: one op for a literal that would be broadcast next)."""
        if is_number(value):
            return self.constant(value, dtype, shape)
        return self.cast(value, dtype)

    def _byte_pointer(self, p: Tile) -> Tile:
        """``p`` re-typed to point at bytes if it points at booleans."""
        if p.dtype.element_ty.is_bool():
            return self.cast(p, ldt.pointer_type(ldt.int8, p.dtype.address_space))
        return p

    # ---- loads and stores ---------------------------------------------------------------

    def load(
        self,
        pointer: Any,
        mask: Any = None,
        other: Any = None,
        boundary_check: Any = (),
        padding_option: str = "",
        cache_modifier: str = "",
        eviction_policy: str = "",
        volatile: bool = False,
    ) -> Tile:
        """``tt.load``: read through a pointer (tile) where ``mask``, else ``other``."""
        p = self._pointer(pointer, "load")
        if boundary_check or padding_option:
            raise NotImplementedError(
                "load: block pointers (boundary_check, padding_option) "
                "are not supported by the compiler yet"
            )
        if other is not None and mask is None:
            raise ValueError("load: `other` cannot be given without `mask`")
        elt = p.dtype.element_ty
        shape = p.shape
        m = self._mask(mask, "load") if mask is not None else None
        if m is not None:
            shape = self.broadcast_shapes(shape, m.shape)
        p = self._byte_pointer(self.broadcast_to_shape(p, shape))
        operands = [p]
        if m is not None:
            operands.append(self.broadcast_to_shape(m, shape))
            if other is not None:
                o = self._value_as(other, elt, shape)
                if o.dtype.is_bool():
                    o = self.cast(o, ldt.int8)
                if not _fits(o.shape, shape):
                    raise ValueError(
                        f"load: `other` of shape {list(o.shape)} does not "
                        f"broadcast to the pointer's shape {list(shape)}"
                    )
                operands.append(self.broadcast_to_shape(o, shape))
        attrs = {
            "cache": cache_modifier or "",
            "evict": eviction_policy or "",
            "volatile": bool(volatile),
        }
        out = self.emit_like("tt.load", operands, p.dtype.element_ty, attrs)
        if elt.is_bool():
            out = self.cast(out, ldt.int1)
        return out

    def store(
        self,
        pointer: Any,
        value: Any,
        mask: Any = None,
        boundary_check: Any = (),
        cache_modifier: str = "",
        eviction_policy: str = "",
    ) -> None:
        """``tt.store``: write ``value`` (converted to the pointee type) where ``mask``."""
        p = self._pointer(pointer, "store")
        if boundary_check:
            raise NotImplementedError(
                "store: block pointers (boundary_check) are not supported by the compiler yet"
            )
        elt = p.dtype.element_ty
        v = self._value_as(value, elt, p.shape)
        if p.is_scalar and not v.is_scalar:
            raise ValueError("store: value cannot be a tile if the pointer is a scalar")
        if not _fits(v.shape, p.shape):
            raise ValueError(
                f"store: value of shape {list(v.shape)} does not fit the pointer "
                f"tile of shape {list(p.shape)}"
            )
        v = self.broadcast_to_shape(v, p.shape)
        operands = [self._byte_pointer(p), self.cast(v, ldt.int8) if elt.is_bool() else v]
        if mask is not None:
            m = self._mask(mask, "store")
            if p.is_scalar and not m.is_scalar:
                raise ValueError("store: mask cannot be a tile if the pointer is a scalar")
            operands.append(self.broadcast_to_shape(m, p.shape))
        self.emit(
            "tt.store",
            operands,
            None,
            {"cache": cache_modifier or "", "evict": eviction_policy or ""},
        )

    # ---- atomics ------------------------------------------------------------------------

    def _atomic_operands(
        self, pointer: Any, val: Any, mask: Any, sem: Any, scope: Any, fn: str
    ) -> tuple[Tile, Tile, Tile | None, dict[str, str]]:
        p = self._pointer(pointer, fn)
        elt = p.dtype.element_ty
        if elt.is_bool():
            raise TypeError(f"{fn}: atomics on int1 are not supported")
        v = self._value_as(val, elt)
        shape = self.broadcast_shapes(p.shape, v.shape)
        m = None
        if mask is not None:
            m = self._mask(mask, fn)
            shape = self.broadcast_shapes(shape, m.shape)
            m = self.broadcast_to_shape(m, shape)
        p, v = self.broadcast_to_shape(p, shape), self.broadcast_to_shape(v, shape)
        sem = sem or "acq_rel"
        scope = scope or "gpu"
        if sem not in _SEMS:
            raise ValueError(f"{fn}: sem must be one of {', '.join(_SEMS)}, got {sem!r}")
        if scope not in _SCOPES:
            raise ValueError(f"{fn}: scope must be one of {', '.join(_SCOPES)}, got {scope!r}")
        return p, v, m, {"sem": sem, "scope": scope}

    def _rmw(self, kind: str, p: Tile, v: Tile, m: Tile | None, attrs: dict[str, str]) -> Tile:
        operands = [p, v] + ([m] if m is not None else [])
        return self.emit_like("tt.atomic_rmw", operands, v.dtype, {"rmw_op": kind, **attrs})

    def atomic_add(
        self, pointer: Any, val: Any, mask: Any = None, sem: Any = None, scope: Any = None
    ) -> Tile:
        """Atomic add; returns the old values."""
        p, v, m, attrs = self._atomic_operands(pointer, val, mask, sem, scope, "atomic_add")
        return self._rmw("fadd" if v.dtype.is_floating() else "add", p, v, m, attrs)

    def _atomic_minmax(
        self, pointer: Any, val: Any, mask: Any, sem: Any, scope: Any, is_max: bool
    ) -> Tile:
        fn = "atomic_max" if is_max else "atomic_min"
        p, v, m, attrs = self._atomic_operands(pointer, val, mask, sem, scope, fn)
        dt = v.dtype
        if dt.is_int():
            kind = (
                ("max" if is_max else "min")
                if dt.is_int_signed()
                else ("umax" if is_max else "umin")
            )
            return self._rmw(kind, p, v, m, attrs)
        if not (dt.is_fp32() or dt.is_fp64() or dt.is_fp16() or dt.is_bf16()):
            raise TypeError(f"{fn}: unsupported type {dt}")
        # Floats: a float whose sign bit is clear orders like its bits as a signed int, one
        # whose sign bit is set like its bits as an unsigned int in reverse, so one int atomic
        # per sign does it. The sign bit, not `v >= 0`: -0.0 has the bits of INT_MIN, and as
        # a "non-negative" value its signed min would overwrite any negative value in memory.
        ity = ldt.dtype(f"int{dt.primitive_bitwidth}")
        ip = self.cast(p, ldt.pointer_type(ity, p.dtype.address_space))
        iv = self.cast(v, ity, None, True)
        pos = self.ge(iv, 0)
        neg = self.logical_not(pos)
        if m is not None:
            pos, neg = self.logical_and(m, pos), self.logical_and(m, neg)
        old_pos = self._rmw("max" if is_max else "min", ip, iv, pos, attrs)
        old_neg = self._rmw("umin" if is_max else "umax", ip, iv, neg, attrs)
        return self.cast(self.where(self.ge(iv, 0), old_pos, old_neg), dt, None, True)

    def atomic_max(
        self, pointer: Any, val: Any, mask: Any = None, sem: Any = None, scope: Any = None
    ) -> Tile:
        """Atomic maximum; returns the old values."""
        return self._atomic_minmax(pointer, val, mask, sem, scope, True)

    def atomic_min(
        self, pointer: Any, val: Any, mask: Any = None, sem: Any = None, scope: Any = None
    ) -> Tile:
        """Atomic minimum; returns the old values."""
        return self._atomic_minmax(pointer, val, mask, sem, scope, False)

    def _atomic_bitwise(
        self, kind: str, pointer: Any, val: Any, mask: Any, sem: Any, scope: Any
    ) -> Tile:
        p, v, m, attrs = self._atomic_operands(pointer, val, mask, sem, scope, f"atomic_{kind}")
        if not v.dtype.is_int():
            raise TypeError(f"atomic_{kind} needs an integer pointer, got {p.dtype}")
        return self._rmw(kind, p, v, m, attrs)

    def atomic_and(
        self, pointer: Any, val: Any, mask: Any = None, sem: Any = None, scope: Any = None
    ) -> Tile:
        """Atomic bitwise and; returns the old values."""
        return self._atomic_bitwise("and", pointer, val, mask, sem, scope)

    def atomic_or(
        self, pointer: Any, val: Any, mask: Any = None, sem: Any = None, scope: Any = None
    ) -> Tile:
        """Atomic bitwise or; returns the old values."""
        return self._atomic_bitwise("or", pointer, val, mask, sem, scope)

    def atomic_xor(
        self, pointer: Any, val: Any, mask: Any = None, sem: Any = None, scope: Any = None
    ) -> Tile:
        """Atomic bitwise xor; returns the old values."""
        return self._atomic_bitwise("xor", pointer, val, mask, sem, scope)

    def atomic_xchg(
        self, pointer: Any, val: Any, mask: Any = None, sem: Any = None, scope: Any = None
    ) -> Tile:
        """Atomic exchange; returns the old values."""
        p, v, m, attrs = self._atomic_operands(pointer, val, mask, sem, scope, "atomic_xchg")
        return self._rmw("xchg", p, v, m, attrs)

    def atomic_cas(
        self, pointer: Any, cmp: Any, val: Any, sem: Any = None, scope: Any = None
    ) -> Tile:
        """Atomic compare-and-swap; returns the old values."""
        p, v, _, attrs = self._atomic_operands(pointer, val, None, sem, scope, "atomic_cas")
        c = self._value_as(cmp, p.dtype.element_ty)
        shape = self.broadcast_shapes(p.shape, c.shape)
        p, v, c = (self.broadcast_to_shape(t, shape) for t in (p, v, c))
        return self.emit_like("tt.atomic_cas", [p, c, v], v.dtype, attrs)


def _fits(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether ``shape`` broadcasts to exactly ``target`` (NumPy rules)."""
    if len(shape) > len(target):
        return False
    return all(a in (1, b) for a, b in zip(reversed(shape), reversed(target)))
