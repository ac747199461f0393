"""The interpreter's tile: a NumPy array with a leading grid axis and an element type.

Every tile value ``t`` holds ``t.a`` of shape ``(g, *t.shape)``: ``g`` is 1 when the value
is the same in every program instance being run, or the number of programs run at once
(vectorized grid execution).  Scalars are 0-d tiles (``t.a.shape == (g,)``).  Tiles are
immutable: no engine method writes into an existing tile's array.

Python control flow on a tile (``if``, ``range``, ``int()``) needs one value; when the
programs run together disagree, the tile raises :class:`GridDivergence` and the launcher
reruns those programs one at a time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.language.core import Shape
from tritium.language.core import tensor as _lang_tensor

from .itypes import IType, to_lang

__all__ = ["Tile", "BlockPtr", "GridDivergence", "Overflow"]


# (element type, shape) -> language type; types are immutable, so one object serves all tiles.
_TYPES: dict[tuple[IType, tuple[int, ...]], Any] = {}

#: Loop recordings in progress (see :mod:`.loops`): reading a tile's values tells the
#: innermost one that user code may depend on them.
WATCH: list[Any] = []


class AmbiguousTruthError(TypeError):
    """Python control flow on a tile of several elements (e.g. ``if a > b`` in a combine
    function called on whole tiles); the reduce engine then calls the function per element."""


class GridDivergence(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Internal: the programs of a vectorized run need different Python control flow.

    ``key`` (one row per program), when given, is the value the programs disagree on:
    programs with equal rows take the same path, so they can run together again.
    """

    def __init__(self, why: str, key: np.ndarray | None = None) -> None:
        super().__init__(why)
        self.key = key


class Overflow:
    """Sanitizer taint: lanes whose int32 index arithmetic overflowed, and where it happened."""

    __slots__ = ("mask", "where", "detail")

    def __init__(self, mask: np.ndarray, where: str, detail: str) -> None:
        self.mask = mask
        self.where = where
        self.detail = detail


class Tile(_lang_tensor):
    """A tile (or scalar) of the interpreter: ``a`` the values, ``ty`` the element type.

    Pointer tiles hold absolute byte addresses in ``a`` and the buffer they derive from in
    ``prov`` (a :class:`~tritium.interpreter.memory.Buffer`, or ``None`` when unknown).
    ``ovf`` is the sanitizer's int32-overflow taint (or ``None``).

    ``aff`` (or ``None``: nothing known) describes a tile of shape ``(1, N)`` exactly, so that
    loads and stores can use slices instead of gathers (see :mod:`.affine`): for an integer
    tile ``a[0, j] == aff + j`` (no wrap-around), for a pointer tile
    ``a[0, j] == aff + j * itemsize`` (contiguous elements), for a bool tile
    ``a[0, j] == (j < aff)`` (a prefix mask, as ``offs < n`` gives).
    """

    __slots__ = ("a", "ty", "prov", "ovf", "aff")

    def __init__(
        self,
        a: np.ndarray,
        ty: IType,
        prov: Any = None,
        ovf: Overflow | None = None,
        aff: int | None = None,
    ) -> None:
        self.a = a
        self.ty = ty
        self.prov = prov
        self.ovf = ovf
        self.aff = aff

    # -- the tl.tensor surface ----------------------------------------------------------------

    @property
    def handle(self) -> np.ndarray:  # type: ignore[override]
        """The values (leading grid axis included)."""
        if WATCH:
            WATCH[-1].touched()
        return self.a

    @property
    def type(self) -> Any:  # type: ignore[override]
        """The language type: a dtype for scalars, a ``block_type`` for tiles."""
        key = (self.ty, self.a.shape[1:])
        t = _TYPES.get(key)
        if t is None:
            if not key[1]:
                t = to_lang(self.ty)
            else:
                from tritium.language.dtypes import block_type

                t = block_type(to_lang(self.ty), key[1])
            _TYPES[key] = t
        return t

    @property
    def dtype(self) -> Any:  # type: ignore[override]
        """The element type as a language dtype."""
        return to_lang(self.ty)

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return Shape(self.a.shape[1:])

    @property
    def numel(self) -> int:  # type: ignore[override]
        n = 1
        for d in self.a.shape[1:]:
            n *= d
        return n

    # -- Python control flow on run-time values -----------------------------------------------

    def value(self) -> np.ndarray:
        """This program's values (shape ``self.shape``); GridDivergence if programs differ."""
        if WATCH:
            WATCH[-1].touched()
        a = self.a
        if a.shape[0] > 1:
            first = a[0]
            same = a == first
            if self.ty.is_float:
                same |= np.isnan(a) & np.isnan(first)
            if not same.all():
                key = a.reshape(a.shape[0], -1)
                key = key.astype(np.float64 if self.ty.is_float else np.int64)
                raise GridDivergence(
                    f"value of a {self.ty.name} tile differs between programs", key
                )
            return first
        return a[0]

    def _scalar(self, what: str) -> Any:
        v = self.value()
        if v.size != 1:
            raise AmbiguousTruthError(
                f"{what} of a tile with {v.size} elements is ambiguous; use a reduction or tl.where"
            )
        return v.reshape(-1)[0]

    def __bool__(self) -> bool:
        return bool(self._scalar("the truth value"))

    def __index__(self) -> int:
        if not (self.ty.is_int or self.ty.is_ptr):
            raise TypeError(f"a {self.ty.name} value cannot be used as an integer index")
        return int(self._scalar("the integer value"))

    def __int__(self) -> int:
        return int(self._scalar("the integer value"))

    def __float__(self) -> float:
        return float(self._scalar("the float value"))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        v = self.value()
        return v if dtype is None else v.astype(dtype)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a scalar")
        return self.shape[0]

    def __str__(self) -> str:
        v = self.value()
        if self.ty.is_ptr:
            return str(v)
        return str(v if v.ndim else v.reshape(-1)[0])

    def __repr__(self) -> str:
        # never diverges: error messages that show a tile must not change the control flow
        if self.a.shape[0] > 1:
            return (
                f"tensor(<{self.a.shape[0]} programs>, shape={list(self.shape)}, "
                f"dtype={self.ty.name})"
            )
        return f"tensor({self}, dtype={self.ty.name})"

    def __format__(self, spec: str) -> str:
        if not self.shape:
            return format(self._scalar("the value").item(), spec)
        return format(str(self), spec)

    @property
    def varying(self) -> bool:
        """Whether the value has one row per program (as opposed to one shared row)."""
        return self.a.shape[0] > 1


class BlockPtr(Tile):
    """A block pointer (``tl.make_block_ptr``): a base pointer and per-dimension geometry.

    ``shape``, ``strides`` and ``offsets`` are int64 arrays of shape ``(g,)`` so that each
    program of a vectorized run may have its own offsets.
    """

    __slots__ = ("base", "dims", "strides", "offsets", "block_shape", "order")

    def __init__(
        self,
        base: Tile,
        dims: list[np.ndarray],
        strides: list[np.ndarray],
        offsets: list[np.ndarray],
        block_shape: tuple[int, ...],
        order: tuple[int, ...],
    ) -> None:
        super().__init__(base.a, base.ty, base.prov, None)
        self.base = base
        self.dims = dims
        self.strides = strides
        self.offsets = offsets
        self.block_shape = block_shape
        self.order = order

    @property
    def type(self) -> Any:  # type: ignore[override]
        import tritium.language.dtypes as ld

        assert self.ty.elem is not None
        return ld.pointer_type(ld.block_type(to_lang(self.ty.elem), self.block_shape))

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return ()

    def __repr__(self) -> str:
        return f"block_ptr(shape={self.block_shape}, elem={self.ty.elem})"
