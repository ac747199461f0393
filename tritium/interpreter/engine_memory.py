"""Loads, stores and block pointers of the interpreter engine.

Every access is checked against the memory of the argument its pointer derives from
(masked-off lanes are never touched); a bad lane raises ``SanitizerError("out-of-bounds")``
naming the kernel line, the argument, the program and the lane.  With the sanitizer on,
accesses are also logged for race detection and int32-overflowed offsets are reported.

In a vectorized batch the buffers touched by plain loads/stores and by atomics are tracked
(see :mod:`.engine_atomic`): mixing both on one buffer needs program order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.errors import SanitizerError
from tritium.language.memory import tensor_descriptor

from .engine_base import EngineBase, align
from .itypes import BOOL, I64, U8, IType, to_lang
from .memory import Buffer, foreign_groups
from .numerics import from_memory, to_memory
from .sanitizer import _Access, lane_text, loop_text
from .tile import BlockPtr, GridDivergence, Tile

__all__ = ["MemoryMixin", "TensorDescriptor"]


class TensorDescriptor(tensor_descriptor):
    """What ``tl.make_tensor_descriptor`` returns here: a block pointer's geometry (so that
    ``desc.load(offsets)``/``desc.store(offsets, v)`` work as in Triton)."""

    def __init__(
        self, bp: BlockPtr, shape: tuple[Any, ...], strides: tuple[Any, ...], padding_option: str
    ) -> None:
        import tritium.language.dtypes as ld

        assert bp.ty.elem is not None
        super().__init__(bp, shape, strides, ld.block_type(to_lang(bp.ty.elem), bp.block_shape))
        self.bp = bp
        self.padding_option = padding_option


def _broadcast(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Arrays (grid axis first) broadcast to one shape; the common equal-shape case is free."""
    shape = arrays[0].shape
    if all(a.shape == shape for a in arrays):
        return arrays
    rank = max(a.ndim for a in arrays) - 1
    return list(np.broadcast_arrays(*[align(a, rank) for a in arrays]))


class MemoryMixin(EngineBase):
    """load/store/atomics/block pointers (see :mod:`tritium.language.engine_protocol`)."""

    # -- address resolution ---------------------------------------------------------------------

    def _pointer(self, pointer: Any, op: str) -> Tile:
        if not (isinstance(pointer, Tile) and pointer.ty.is_ptr):
            raise TypeError(f"{op}: expected a pointer, got {pointer!r}")
        return pointer

    def _groups(
        self, p: Tile, addr: np.ndarray, m: np.ndarray | None
    ) -> list[tuple[Buffer | None, np.ndarray | None]]:
        """The buffers the active lanes address: the pointer's provenance when known, else
        the argument each address falls in (``None`` for lanes outside every argument)."""
        if p.prov is not None:
            return [(p.prov, m)]
        act = np.ones(addr.shape, bool) if m is None else m
        out: list[tuple[Buffer | None, np.ndarray | None]] = []
        left = act.copy()
        for b in self.memory.buffers:
            inb = left & (addr >= b.lo) & (addr < b.hi)
            if inb.any():
                out.append((b, inb))
                left &= ~inb
        if left.any():
            if self.sanitize:  # asked to: an address outside every argument is reported
                out.append((None, left))
            else:  # a pointer read from memory: any mapped memory of the process
                out += foreign_groups(self.memory, addr, left)
        return out

    def _indices(
        self, buf: Buffer | None, addr: np.ndarray, m: np.ndarray | None, elem: IType, op: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Element indices of ``addr`` into the typed view of ``buf`` (masked-off lanes: 0),
        after checking every active lane; returns ``(view, indices)``."""
        isz = elem.itemsize
        vt = U8 if elem is BOOL else (I64 if elem.is_ptr else elem)
        if buf is None:
            self._oob(op, None, addr, m if m is not None else np.ones(addr.shape, bool), isz)
        assert buf is not None
        flat = addr.reshape(-1)
        first = int(flat[0] if m is None else flat[int(m.reshape(-1).argmax())])
        view = buf.view(vt, first % isz)
        vs = buf.lo + ((first % isz - buf.lo) % isz)  # address of view[0]
        d = addr - vs
        if m is not None:  # masked-off lanes take an active lane's (valid) offset
            np.copyto(d, first - vs, where=~m)
        shift = isz.bit_length() - 1
        # one pass each: negative offsets wrap to huge unsigned ones; a low bit set in the OR
        # of all offsets means some lane is misaligned
        if int(d.view(np.uint64).max()) >= len(view) << shift or (
            isz > 1 and int(np.bitwise_or.reduce(d, axis=None)) & (isz - 1)
        ):
            bad = (d < 0) | (d >= len(view) << shift) | ((d & (isz - 1)) != 0)
            self._oob(op, buf, addr, bad if m is None else bad & m, isz)
        return view, np.right_shift(d, shift, out=d) if shift else d

    def _oob(
        self, op: str, buf: Buffer | None, addr: np.ndarray, bad: np.ndarray, isz: int
    ) -> None:
        flat = int(np.flatnonzero(bad.reshape(-1))[0])
        lanes = max(1, addr[0].size)
        g, lane = divmod(flat, lanes)
        pid = self.describe_pid(int(self.lane_programs(addr.shape[0])[g]))
        a = int(addr.reshape(-1)[flat])
        verb = "reads" if op == "load" else "writes" if op == "store" else "updates"
        where = self.location()
        if buf is None:
            raise SanitizerError(
                "out-of-bounds",
                (
                    f"{op} at {where} {verb} address {a:#x}, which is "
                    + (
                        "not inside the memory of any argument"
                        if self.sanitize
                        else "not mapped memory of this process"
                    )
                    + f", in program {pid}{loop_text(self.loop_stack)}: "
                    + lane_text(lane, addr.shape[1:])
                ),
            )
        raise SanitizerError(
            "out-of-bounds",
            (
                f"{op} at {where} {verb} argument '{buf.name}' out of bounds in program {pid}"
                f"{loop_text(self.loop_stack)}: "
                f"{lane_text(lane, addr.shape[1:])} accesses {buf.describe_offset(a, isz)}, "
                f"valid range {buf.valid_range(isz)}"
            ),
        )

    def _plain_access(self, buf: Buffer | None) -> None:
        """Note a non-atomic access to ``buf`` in a vectorized batch (see engine_atomic)."""
        if self.G > 1 and buf is not None:
            span = (buf.lo, buf.hi)
            if any(lo < span[1] and span[0] < hi for lo, hi in self.atomic_spans):
                raise GridDivergence("plain access to memory updated by atomics")
            self.plain_spans.add(span)

    def _check_ovf(self, p: Tile, m: np.ndarray | None, shape: tuple[int, ...], op: str) -> None:
        if p.ovf is None:
            return
        bad = np.broadcast_to(align(p.ovf.mask, len(shape) - 1), shape)
        if m is not None:
            bad = bad & m
        if bad.any():
            flat = int(np.flatnonzero(bad.reshape(-1))[0])
            lanes = max(1, int(np.prod(shape[1:])))
            lane = flat % lanes
            name = p.prov.name if p.prov is not None else "?"
            raise SanitizerError(
                "int32 overflow",
                (
                    f"index arithmetic at {p.ovf.where} overflows: {p.ovf.detail}; the wrapped "
                    f"value is used as an offset of argument '{name}' by {op} at {self.location()} "
                    f"({lane_text(lane, shape[1:])})"
                ),
            )

    def _log(
        self,
        write: bool,
        buf: Buffer | None,
        addr: np.ndarray,
        m: np.ndarray | None,
        isz: int,
        values: np.ndarray | None,
        old: np.ndarray | None = None,
        atomic: bool = False,
        volatile: bool = False,
    ) -> None:
        if self.access_log is None:
            return
        g = max(addr.shape[0], self.G)  # a uniform access is made by every program
        shape = (g,) + addr.shape[1:]
        addr = np.broadcast_to(addr, shape)
        pids = np.broadcast_to(self.lane_programs(g).reshape((g,) + (1,) * (len(shape) - 1)), shape)
        act = np.ones(shape, bool) if m is None else np.broadcast_to(m, shape)

        def bits(x: np.ndarray | None) -> np.ndarray | None:
            if x is None:
                return None
            x = np.ascontiguousarray(np.broadcast_to(x, shape))
            return x.view(f"u{x.dtype.itemsize}")[act]

        # compact records: a sanitized launch keeps one per access until its end
        lane_pids = pids[act].astype(np.int32)
        synced = None
        if self.synced_pids:
            synced = np.isin(lane_pids, np.fromiter(self.synced_pids, np.int64))
        self.access_log.record(
            _Access(
                write,
                addr[act].astype(np.int64),
                lane_pids,
                isz,
                bits(values),
                self.location(),
                buf.name if buf is not None else "?",
                buf.base if buf is not None else 0,
                synced,
                bits(old),
                atomic,
                volatile,
            )
        )

    # -- load / store ---------------------------------------------------------------------------

    def load(
        self,
        pointer: Any,
        mask: Any,
        other: Any,
        boundary_check: tuple[int, ...],
        padding_option: str,
        cache_modifier: str,
        eviction_policy: str,
        volatile: bool,
    ) -> Tile:
        if isinstance(pointer, BlockPtr):
            return self._block_load(pointer, boundary_check, padding_option)
        if (
            isinstance(pointer, Tile)
            and pointer.aff is not None
            and self.access_log is None
            and not volatile
        ):
            fast = self._slice_load(pointer, mask, other)
            if fast is not None:
                return fast
        p = self._pointer(pointer, "load")
        assert p.ty.elem is not None
        elem = p.ty.elem
        addr, m = p.a, None
        if mask is not None:
            m = self.bool_array(mask)
            if m.shape != addr.shape:
                addr, m = _broadcast([addr, m])
        if self.sanitize:
            self._check_ovf(p, m, addr.shape, "load")
        if m is not None and m.all():  # the common case: only the last program is partial
            m = None
        out = self._gather(p, addr, m, elem, "load", volatile)
        if volatile:  # `while tl.load(flag, volatile=True) == 0` may wait forever
            self.watch_spin("volatile load", addr.tobytes(), out, out)
        if m is not None:
            fill = self.to_tile(other, elem).a if other is not None else np.zeros(1, elem.np)
            rank = max(out.ndim, fill.ndim) - 1
            out = np.where(align(m, rank), align(out, rank), align(fill, rank))
        self.track(out)
        return Tile(out, elem)

    def _gather(
        self,
        p: Tile,
        addr: np.ndarray,
        m: np.ndarray | None,
        elem: IType,
        op: str,
        volatile: bool = False,
    ) -> np.ndarray:
        isz = elem.itemsize
        groups = self._groups(p, addr, m)
        if len(groups) == 1:
            buf, gm = groups[0]
            if gm is not None and not gm.any():
                return np.zeros(addr.shape, elem.np)  # +0 in every type
            view, idx = self._indices(buf, addr, gm, elem, op)
            out = view[idx]
            self._plain_access(buf)
            self._log(False, buf, addr, gm, isz, out, volatile=volatile)
        else:
            out = np.zeros(addr.shape, U8.np if elem is BOOL else elem.mem_np)
            for buf, gm in groups:
                view, idx = self._indices(buf, addr, gm, elem, op)
                out = np.where(gm, view[idx], out)
                self._plain_access(buf)
                self._log(False, buf, addr, gm, isz, out, volatile=volatile)
        return out != 0 if elem is BOOL else from_memory(out, elem)

    def store(
        self,
        pointer: Any,
        value: Any,
        mask: Any,
        boundary_check: tuple[int, ...],
        cache_modifier: str,
        eviction_policy: str,
    ) -> None:
        if isinstance(pointer, BlockPtr):
            return self._block_store(pointer, value, boundary_check)
        p = self._pointer(pointer, "store")
        assert p.ty.elem is not None
        elem = p.ty.elem
        v = self.to_tile(value, elem).a
        if p.aff is not None and self.access_log is None and self._slice_store(p, v, mask):
            return None
        arrays = _broadcast([p.a, v] if mask is None else [p.a, v, self.bool_array(mask)])
        addr, v = arrays[0], arrays[1]
        m = arrays[2] if mask is not None else None
        if self.sanitize:
            self._check_ovf(p, m, addr.shape, "store")
        if m is not None and m.all():
            m = None
        self._scatter(p, addr, m, v, elem, "store")
        return None

    def _scatter(
        self, p: Tile, addr: np.ndarray, m: np.ndarray | None, v: np.ndarray, elem: IType, op: str
    ) -> None:
        v = v.astype(np.uint8) if elem is BOOL else to_memory(v, elem)
        for buf, gm in self._groups(p, addr, m):
            if gm is not None and not gm.any():
                continue
            view, idx = self._indices(buf, addr, gm, elem, op)
            assert buf is not None
            if buf.readonly:
                raise ValueError(
                    f"{op} at {self.location()} writes to argument '{buf.name}', a read-only array"
                )
            if gm is None:
                sel, vals = idx.reshape(-1), v.reshape(-1)
            else:
                sel, vals = idx[gm], v[gm]
            self._plain_access(buf)
            old = view[sel].copy() if self.undo is not None or self.access_log is not None else None
            if self.undo is not None:
                self.undo.append((view, sel, old))
            view[sel] = vals
            if self.access_log is not None:
                before = np.zeros(addr.shape, view.dtype)  # what memory held, for the race log
                if gm is None:
                    before.reshape(-1)[:] = old
                else:
                    before[gm] = old
                self._log(True, buf, addr, gm, elem.itemsize, v, before)

    # -- contiguous accesses under prefix masks (see .affine) ----------------------------------

    def _slice_span(self, p: Tile, mask: Any) -> tuple[Buffer, np.ndarray, int, int] | None:
        """For a known-contiguous pointer tile under no mask or a known prefix mask:
        ``(buffer, typed view, first index, active lanes)`` when every active lane is in
        bounds of the pointer's buffer; ``None`` otherwise (the general path decides)."""
        elem = p.ty.elem
        buf = p.prov
        if buf is None or elem is None or elem.storage is not None or elem.kind in ("bool", "ptr"):
            return None
        n = p.a.shape[1]
        if mask is None:
            k = n
        elif isinstance(mask, Tile) and mask.aff is not None and mask.ty is BOOL:
            if mask.a.shape != p.a.shape:
                return None
            k = mask.aff
        else:
            return None
        isz = elem.itemsize
        start = p.aff
        assert start is not None
        if k and not (buf.lo <= start and start + k * isz <= buf.hi):
            return None
        mod = start % isz
        view = buf.view(elem, mod)
        vs = buf.lo + ((mod - buf.lo) % isz)  # address of view[0]
        return buf, view, (start - vs) // isz, k

    def _slice_load(self, p: Tile, mask: Any, other: Any) -> Tile | None:
        """A load of a known-contiguous pointer under a prefix mask, as one slice."""
        span = self._slice_span(p, mask)
        if span is None:
            return None
        buf, view, j0, k = span
        elem = p.ty.elem
        assert elem is not None
        n = p.a.shape[1]
        if k == n:
            out = view[None, j0 : j0 + n].copy()
        else:
            fill = self.to_tile(other, elem).a if other is not None else np.zeros(1, elem.np)
            if fill.shape != (1,):
                return None
            out = np.empty((1, n), elem.np)
            out[0, k:] = fill[0]
            if k:
                out[0, :k] = view[j0 : j0 + k]
        if k:
            self._plain_access(buf)
        self.track(out)
        return Tile(out, elem)

    def _slice_store(self, p: Tile, v: np.ndarray, mask: Any) -> bool:
        """A store of ``v`` to a known-contiguous pointer under a prefix mask, as one slice;
        False when the general path must do it."""
        if v.shape[0] != 1 or (v.ndim == 2 and v.shape != p.a.shape) or v.ndim > 2:
            return False
        span = self._slice_span(p, mask)
        if span is None:
            return False
        buf, view, j0, k = span
        if not k:
            return True
        if buf.readonly:
            return False
        self._plain_access(buf)
        sel = slice(j0, j0 + k)
        if self.undo is not None:
            self.undo.append((view, sel, view[sel].copy()))  # type: ignore[arg-type]
        view[sel] = v[0, :k] if v.ndim == 2 else v[0]
        return True

    # -- block pointers and tensor descriptors --------------------------------------------------

    def _dim_array(self, v: Any, what: str) -> np.ndarray:
        t = self.to_tile(v)
        if not t.ty.is_int or t.shape:
            raise TypeError(f"make_block_ptr: {what} must be integer scalars, got {v!r}")
        return t.a.astype(np.int64)

    def make_block_ptr(
        self,
        base: Any,
        shape: tuple[Any, ...],
        strides: tuple[Any, ...],
        offsets: tuple[Any, ...],
        block_shape: tuple[int, ...],
        order: tuple[int, ...],
    ) -> BlockPtr:
        b = self._pointer(base, "make_block_ptr")
        if b.shape:
            raise TypeError("make_block_ptr: base must be a scalar pointer")
        n = len(block_shape)
        if not (len(shape) == len(strides) == len(offsets) == n):
            raise ValueError(
                "make_block_ptr: shape, strides, offsets and block_shape must have the same length"
            )
        return BlockPtr(
            b,
            [self._dim_array(v, "shape") for v in shape],
            [self._dim_array(v, "strides") for v in strides],
            [self._dim_array(v, "offsets") for v in offsets],
            tuple(block_shape),
            tuple(order),
        )

    def advance(self, base: Any, offsets: tuple[Any, ...]) -> BlockPtr:
        if not isinstance(base, BlockPtr):
            raise TypeError("advance needs a block pointer")
        if len(offsets) != len(base.block_shape):
            raise ValueError("advance: one offset per dimension is needed")
        new = [o + self._dim_array(d, "offsets") for o, d in zip(base.offsets, offsets)]
        return BlockPtr(base.base, base.dims, base.strides, new, base.block_shape, base.order)

    def _block_geometry(self, bp: BlockPtr) -> tuple[np.ndarray, list[np.ndarray]]:
        """Addresses of the block and, per dimension, which lanes are inside the tensor."""
        n = len(bp.block_shape)
        assert bp.ty.elem is not None
        isz = bp.ty.elem.itemsize
        addr = bp.base.a.reshape((-1,) + (1,) * n)
        inside = []
        for d, bs in enumerate(bp.block_shape):
            ar = np.arange(bs, dtype=np.int64).reshape(
                (1,) + tuple(bs if k == d else 1 for k in range(n))
            )
            idx = bp.offsets[d].reshape((-1,) + (1,) * n) + ar
            addr = addr + idx * (bp.strides[d].reshape((-1,) + (1,) * n) * isz)
            inside.append((idx >= 0) & (idx < bp.dims[d].reshape((-1,) + (1,) * n)))
        return addr, inside

    def _block_mask(
        self, bp: BlockPtr, boundary_check: tuple[int, ...]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        addr, inside = self._block_geometry(bp)
        m = None
        for d in boundary_check:
            if not 0 <= d < len(bp.block_shape):
                raise ValueError(f"boundary_check axis {d} out of range")
            m = inside[d] if m is None else (m & inside[d])
        if m is not None:
            addr, m = np.broadcast_arrays(addr, m)
        return addr, m

    def _block_load(
        self, bp: BlockPtr, boundary_check: tuple[int, ...], padding_option: str
    ) -> Tile:
        assert bp.ty.elem is not None
        elem = bp.ty.elem
        addr, m = self._block_mask(bp, boundary_check)
        out = self._gather(bp, addr, m, elem, "load")
        if m is not None:
            fill = np.array([np.nan if padding_option == "nan" else 0]).astype(elem.np)
            out = np.where(m, out, fill)
        self.track(out)
        return Tile(out, elem)

    def _block_store(self, bp: BlockPtr, value: Any, boundary_check: tuple[int, ...]) -> None:
        assert bp.ty.elem is not None
        elem = bp.ty.elem
        addr, m = self._block_mask(bp, boundary_check)
        v = self.to_tile(value, elem).a
        rank = len(bp.block_shape)
        arrays = [addr, align(v, rank)] + ([m] if m is not None else [])
        arrays = np.broadcast_arrays(*arrays)
        self._scatter(bp, arrays[0], arrays[2] if m is not None else None, arrays[1], elem, "store")

    def make_tensor_descriptor(
        self,
        base: Any,
        shape: tuple[Any, ...],
        strides: tuple[Any, ...],
        block_shape: tuple[int, ...],
        padding_option: str,
    ) -> TensorDescriptor:
        zeros = tuple(0 for _ in block_shape)
        order = tuple(reversed(range(len(block_shape))))
        bp = self.make_block_ptr(base, shape, strides, zeros, block_shape, order)
        return TensorDescriptor(bp, tuple(shape), tuple(strides), padding_option)

    def _desc_at(self, desc: TensorDescriptor, offsets: tuple[Any, ...]) -> BlockPtr:
        if not isinstance(desc, TensorDescriptor):
            raise TypeError("expected a tensor descriptor")
        return self.advance(desc.bp, offsets)

    def descriptor_load(self, desc: Any, offsets: tuple[Any, ...]) -> Tile:
        bp = self._desc_at(desc, offsets)
        return self._block_load(bp, tuple(range(len(bp.block_shape))), desc.padding_option)

    def descriptor_store(self, desc: Any, offsets: tuple[Any, ...], value: Any) -> None:
        bp = self._desc_at(desc, offsets)
        self._block_store(bp, value, tuple(range(len(bp.block_shape))))
