"""State and helpers shared by the interpreter engine's method groups.

The engine methods are split by concern over several mixin modules (arithmetic, shapes,
memory, reductions); all of them build on :class:`EngineBase`: the launch state (grid,
the programs being run now, memory, sanitizer logs) and the operand helpers that turn
Python scalars and tiles into aligned NumPy arrays of one computation type.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.language.control import loop_index
from tritium.language.engine_protocol import Engine

from .itypes import BOOL, F32, F64, IType, computation_type, from_lang, python_scalar_type
from .memory import Memory
from .numerics import cast_array
from .sanitizer import AccessLog, user_location
from .tile import Overflow, Tile

__all__ = ["EngineBase", "PLAIN_INTS", "const_array", "align"]

_SPIN_LIMIT = 100_000
_PY_SCALARS = (bool, int, float, np.bool_, np.integer, np.floating)
#: Exactly these types are Python ints to the fast paths: ``int`` and a loop variable (an int
#: subclass, see ``tritium.language.control.loop_index``; not ``bool``).
PLAIN_INTS = (int, loop_index)


def const_array(v: Any, t: IType) -> np.ndarray:
    """A Python number as a one-row array of type ``t`` (integers wrap, floats round once)."""
    if t.is_float:
        if t is F32 or t is F64:  # the one C conversion from double that cast_array makes
            return np.array([float(v)], t.np)
        return cast_array(np.array([float(v)], np.float64), F64, t)
    if t is BOOL:
        return np.array([bool(v)])
    v = int(v) & ((1 << t.bits) - 1)
    if t.signed and v >= 1 << (t.bits - 1):
        v -= 1 << t.bits
    return np.array([v], t.np)


#: Operand arrays of Python numbers, by (value, type): read-only, shared by every operation
#: with that constant (``x * 2.0`` in a loop body, a loop variable added to a tile).
_CONSTS: dict[tuple[Any, IType], np.ndarray] = {}
_CONSTS_LIMIT = 1024


def cached_const(v: int | float, t: IType) -> np.ndarray:
    """``const_array(v, t)`` (a read-only array) for an int or float ``v`` that fits ``t``."""
    if type(v) is loop_index:  # a new value every iteration: caching would only churn
        return const_array(v, t)
    key = (v, t)
    a = _CONSTS.get(key)
    if a is None:
        a = const_array(v, t)
        if v == 0:  # 0.0 and -0.0 are one dict key: zeros are not cached
            return a
        if len(_CONSTS) >= _CONSTS_LIMIT:
            _CONSTS.clear()
        a.flags.writeable = False
        _CONSTS[key] = a
    return a


def _check_fits(v: Any, t: IType) -> None:
    """A Python int operand must fit the type it is converted to (as in Triton)."""
    if (
        t.kind in ("int", "uint")
        and isinstance(v, (int, np.integer))
        and not isinstance(v, (bool, np.bool_))
    ):
        lo = -(1 << (t.bits - 1)) if t.signed else 0
        hi = (1 << (t.bits - 1)) - 1 if t.signed else (1 << t.bits) - 1
        if not lo <= int(v) <= hi:
            raise ValueError(f"scalar {v} is out of range for type {t.name}")


def align(a: np.ndarray, rank: int) -> np.ndarray:
    """Insert size-1 tile axes after the grid axis so that ``a`` has ``rank`` tile axes."""
    extra = rank - (a.ndim - 1)
    if extra > 0:
        a = a.reshape(a.shape[:1] + (1,) * extra + a.shape[1:])
    return a


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The common tile shape (NumPy rules), or a ValueError naming the shapes."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(
            "incompatible shapes for broadcasting: " + ", ".join(str(list(s)) for s in shapes)
        ) from None


class EngineBase(Engine):
    """Launch state plus operand helpers; see the module docstring."""

    def __init__(self, memory: Memory, grid: tuple[int, int, int], sanitize: bool) -> None:
        self.memory = memory
        self.grid = grid
        self.sanitize = sanitize
        self.access_log: AccessLog | None = AccessLog() if sanitize else None
        self.undo: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        #: the rewritten loops running now, outermost first: ``[variable name, value]``
        #: each (loops.run_loop keeps it; error messages name the iteration)
        self.loop_stack: list[list[Any]] = []
        self.max_numel = 1
        self._spin: tuple[Any, int] | None = None  # (last no-op access, repeat count)
        # programs that executed an acquire/release atomic (the race log trusts their order)
        self.synced_pids: set[int] = set()
        # True while programs run in groups out of launch order (after a divergence)
        self.regrouped = False
        # tl.device_print lines of a vectorized batch: (program, sequence, lines)
        self.prints: list[tuple[int, int, list[str]]] = []
        self.print_seq = 0
        # whether loops may replay recorded iterations (see loops.py; the launcher decides)
        self.replay_loops = False
        self.set_programs(np.zeros(1, np.int64))

    # -- which programs run now ----------------------------------------------------------------

    def set_programs(self, lin: np.ndarray) -> None:
        """Run the programs with linear ids ``lin`` (x fastest) together from now on."""
        gx, gy, _ = self.grid
        self.lin = lin
        self.G = len(lin)
        # byte spans touched in this batch by plain accesses and by atomics (engine_atomic)
        self.plain_spans: set[tuple[int, int]] = set()
        self.atomic_spans: set[tuple[int, int]] = set()
        if self.G == 1:  # one program (sequential mode): skip the array arithmetic
            x, y, z = self.pid_of(int(lin[0]))
            self.pid_tiles = tuple(Tile(np.array([v], np.int32), _I32) for v in (x, y, z))
            return
        self.pid_tiles = tuple(
            Tile(v.astype(np.int32), _I32) for v in (lin % gx, (lin // gx) % gy, lin // (gx * gy))
        )

    def pid_of(self, lin: int) -> tuple[int, int, int]:
        gx, gy, _ = self.grid
        return (lin % gx, (lin // gx) % gy, lin // (gx * gy))

    def describe_pid(self, lin: int) -> str:
        return str(self.pid_of(lin))

    def lane_programs(self, g: int) -> np.ndarray:
        """Linear program ids of the rows of an array with leading axis ``g``."""
        return self.lin if g == self.G else self.lin[:1]

    def watch_spin(self, what: str, where: bytes, before: np.ndarray, after: np.ndarray) -> None:
        """Fail instead of hanging when a program keeps repeating a memory access that
        changes nothing: with programs run one at a time, the program that would release it
        never runs (a spin lock across programs, a grid-wide barrier)."""
        if self.G != 1 or not np.array_equal(before, after):
            self._spin = None
            return
        key = (what, where, before.tobytes())
        if self._spin is not None and self._spin[0] == key:
            self._spin = (key, self._spin[1] + 1)
            if self._spin[1] >= _SPIN_LIMIT:
                raise RuntimeError(
                    f"{what} at {self.location()} in program {self.describe_pid(int(self.lin[0]))}"
                    f" repeated {_SPIN_LIMIT} times without changing memory: the kernel waits "
                    "for another program, but the interpreter runs programs one at a time"
                )
        else:
            self._spin = (key, 1)

    def marks(self) -> tuple[int, int, int, frozenset[int]]:
        """Positions in the undo journal, the race log and the print buffer, and the programs
        past an ordering atomic (for rollback)."""
        assert self.undo is not None
        log = len(self.access_log) if self.access_log is not None else 0
        return (len(self.undo), log, len(self.prints), frozenset(self.synced_pids))

    def rollback(self, marks: tuple[int, int, int, frozenset[int]]) -> None:
        """Undo everything a vectorized attempt did since ``marks``: memory written (newest
        first), race log records, buffered prints and the programs it marked as synced."""
        assert self.undo is not None
        undo_mark, log_mark, print_mark, synced = marks
        self.synced_pids = set(synced)
        while len(self.undo) > undo_mark:
            view, sel, old = self.undo.pop()
            view[sel] = old
        if self.access_log is not None:
            self.access_log.truncate(log_mark)
        del self.prints[print_mark:]

    # -- operands --------------------------------------------------------------------------

    @staticmethod
    def type_of(x: Any) -> IType:
        if isinstance(x, Tile):
            return x.ty
        if isinstance(x, _PY_SCALARS):
            return python_scalar_type(x)
        raise TypeError(f"expected a tensor or a number, got {x!r} ({type(x).__name__})")

    def to_tile(self, x: Any, ty: IType | None = None) -> Tile:
        """``x`` as a tile (a Python number becomes a scalar of its own or of type ``ty``)."""
        if isinstance(x, Tile):
            return x if ty is None or x.ty is ty else self.convert(x, ty)
        t = ty if ty is not None else self.type_of(x)
        return Tile(const_array(x, t), t)

    def convert(self, x: Tile, ty: IType, rounding: str | None = None) -> Tile:
        """``x`` cast (value conversion) to ``ty``; the overflow taint follows the value."""
        if x.ty is ty:
            return x
        # a known-affine int tile widened to a signed type keeps its values (offs.to(tl.int64))
        aff = (
            x.aff
            if x.aff is not None and x.ty.kind == ty.kind == "int" and ty.bits >= x.ty.bits
            else None
        )
        return Tile(cast_array(x.a, x.ty, ty, rounding), ty, None, x.ovf, aff)

    def promote(self, *xs: Any, div_or_mod: bool = False) -> tuple[list[np.ndarray], IType, int]:
        """Convert operands to their computation type; returns (arrays aligned to one rank,
        the type, the rank)."""
        if len(xs) == 2:
            fast = self._promote2(xs[0], xs[1], div_or_mod)
            if fast is not None:
                return fast
        ts = [self.type_of(x) for x in xs]
        scal = [not isinstance(x, Tile) for x in xs]
        ct, cs = ts[0], scal[0]
        for t, s in zip(ts[1:], scal[1:]):
            ct = computation_type(ct, cs, t, s, div_or_mod)
            cs = cs and s
        arrays = []
        rank = 0
        shapes = []
        for x in xs:
            if isinstance(x, Tile):
                rank = max(rank, x.a.ndim - 1)
                shapes.append(x.a.shape[1:])
        for x, t in zip(xs, ts):
            if isinstance(x, Tile):
                arrays.append(cast_array(x.a, t, ct) if t is not ct else x.a)
            else:
                _check_fits(x, ct)
                arrays.append(const_array(x, ct))
        if rank:
            arrays = [align(a, rank) for a in arrays]
            if len({s for s in shapes if s}) > 1:
                broadcast_shape(*shapes)
        return arrays, ct, rank

    def _promote2(
        self, x: Any, y: Any, div_or_mod: bool
    ) -> tuple[list[np.ndarray], IType, int] | None:
        """The common cases of :meth:`promote`: two tiles of one type, or a tile and an int
        or float that does not change its type; ``None`` for everything else."""
        if isinstance(x, Tile):
            t = x.ty
            if isinstance(y, Tile):
                if y.ty is not t or (div_or_mod and t.is_float and t.bits < 32):
                    return None
                xa, ya = x.a, y.a
            elif type(y) in PLAIN_INTS and t.kind == "int" and t.bits >= 32 and not div_or_mod:
                if not -(2**31) <= y < 2**31:
                    return None
                xa, ya = x.a, cached_const(y, t)
            elif type(y) is float and t.is_float and t.bits >= 32:
                xa, ya = x.a, cached_const(y, t)
            else:
                return None
        elif isinstance(y, Tile):
            t = y.ty
            if type(x) in PLAIN_INTS and t.kind == "int" and t.bits >= 32 and not div_or_mod:
                if not -(2**31) <= x < 2**31:
                    return None
                xa, ya = cached_const(x, t), y.a
            elif type(x) is float and t.is_float and t.bits >= 32:
                xa, ya = cached_const(x, t), y.a
            else:
                return None
        else:
            return None
        rank = max(xa.ndim, ya.ndim) - 1
        if xa.ndim != ya.ndim:
            xa, ya = align(xa, rank), align(ya, rank)
        elif xa.shape[1:] != ya.shape[1:] and rank:
            broadcast_shape(xa.shape[1:], ya.shape[1:])
        return [xa, ya], t, rank

    def bool_array(self, x: Any, rank: int | None = None) -> np.ndarray:
        """A mask or condition as a bool array (non-bool values compare != 0)."""
        t = self.to_tile(x)
        a = t.a if t.ty is BOOL else cast_array(t.a, t.ty, BOOL)
        return align(a, rank) if rank is not None else a

    def dtype_arg(self, dt: Any) -> IType:
        return from_lang(dt)

    # -- sanitizer helpers ---------------------------------------------------------------------

    def merge_ovf(self, shape: tuple[int, ...], *xs: Any) -> Overflow | None:
        """The union of the operands' overflow taints, broadcast to a result of ``shape``."""
        if not self.sanitize:
            return None
        found = [x.ovf for x in xs if isinstance(x, Tile) and x.ovf is not None]
        if not found:
            return None
        rank = len(shape) - 1
        mask = np.zeros(shape, bool)
        for o in found:
            mask = mask | align(o.mask, rank)
        return Overflow(mask, found[0].where, found[0].detail)

    def track(self, a: np.ndarray) -> None:
        """Remember the largest tile made so far (it sizes the next vectorized batch)."""
        n = a.size // max(1, a.shape[0])
        if n > self.max_numel:
            self.max_numel = n

    @staticmethod
    def location() -> str:
        return user_location()


_I32 = python_scalar_type(0)
