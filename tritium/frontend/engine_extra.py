"""Builtins the IR has no op for, built from other tile ops: flip, sort, topk, gather,
histogram, map_elementwise, dot_scaled. Each is exact: values are moved by selections and bit
swaps, never by arithmetic on them, and microscaled operands are decoded exactly to fp32."""

from __future__ import annotations

import math
from typing import Any

from tritium.frontend.engine_reduce import ReduceMixin
from tritium.frontend.tile import Tile
from tritium.language import dtypes as ldt

__all__ = ["ExtraMixin"]


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


class ExtraMixin(ReduceMixin):
    """Composite builtins."""

    def _positions(self, shape: tuple[int, ...], dim: int, start: int, step: int) -> Tile:
        """The int32 tile of ``shape`` whose value is ``start + step * i`` at index ``i`` of
        ``dim`` (index tiles for :meth:`gather`)."""
        idx = self.add(start, self.mul(self.arange(0, shape[dim]), step))
        for _ in range(dim):
            idx = self.expand_dims_impl(idx, 0)
        while len(idx.shape) < len(shape):
            idx = self.expand_dims_impl(idx, len(idx.shape))
        return self.broadcast_to_shape(idx, shape)

    def flip(self, x: Any, dim: int) -> Tile:
        """``x`` reversed along ``dim``.

        For a power-of-2 length, reshaped so that ``dim`` becomes ``k`` axes of size 2,
        swapping the two halves along every one of them reverses the order; a swap is
        ``y ^ xor_sum(y, axis)``. Other lengths gather with reversed indices.
        """
        t = self.to_tile(x)
        if t.is_scalar or not 0 <= dim < len(t.shape):
            raise ValueError(f"flip: dim {dim} is out of range for a tile of shape {list(t.shape)}")
        n = t.shape[dim]
        if n == 1:
            return t
        if not _is_pow2(n):
            # any length: gather with the reversed indices
            return self.gather(t, self._positions(t.shape, dim, n - 1, -1), dim)
        dt = t.dtype
        if dt.is_ptr():
            raise TypeError("flip: tiles of pointers are not supported")
        ity = dt if dt.is_int() else ldt.dtype(f"int{dt.primitive_bitwidth}")
        y = self.cast(t, ity, None, True)
        k = n.bit_length() - 1
        y = self.reshape(y, t.shape[:dim] + (2,) * k + t.shape[dim + 1 :])
        for axis in range(dim, dim + k):
            both = self.reduce((y,), axis, self.xor, True)[0]
            y = self.xor(y, self.broadcast_to_shape(both, y.shape))
        return self.cast(self.reshape(y, t.shape), dt, None, True)

    def _compare_and_swap(self, x: Tile, stage: int, i: int, order: int, n_dims: int) -> Tile:
        """One column of a bitonic network: each element is paired with the one at distance
        ``d = 2**(n_dims - k - 1)`` (``k = i + n_dims - stage``) along the last axis and the
        pair is put in order.

        The pairs are the two halves of the size-2 axis of ``x`` viewed as ``[A, 2, d]`` (views
        of ``x``'s buffer, no copies): the comparison and the two selections work on the
        ``[A, d]`` halves, and the result is one elementwise selection back on ``[A, 2, d]``,
        so that the backend makes one loop nest per column. The compile time of a sort is
        LLVM's work on these loops: against the previous two forms (a join put the halves back,
        or each half was broadcast to the full tile and reshaped), CPU seconds for one
        ``[4, n]`` fp32 sort on an AVX2 host went from 0.28 / 0.61 / 1.36 to 0.16 / 0.33 / 0.93
        at n = 16 / 64 / 1024 (issue 13).
        """
        k = i + (n_dims - stage)
        d = 2 ** (n_dims - k - 1)
        rows = x.numel // (2 * d)
        left, right = self.split(self.permute(self.reshape(x, (rows, 2, d)), (0, 2, 1)))
        swap = self.gt(left, right)
        if order == 2:
            # Alternate directions between neighbouring runs of 2**stage elements: bit `stage`
            # of an element's index, which is bit `i` of its row.
            up = self.cast(self.and_(self.rshift(self.arange(0, rows), i), 1), ldt.int1)
            swap = self.ne(swap, self.expand_dims_impl(up, 1))
        elif order:
            swap = self.logical_not(swap)
        first = self.where(swap, right, left)
        second = self.where(swap, left, right)
        # back to [A, 2, d] by selecting on the size-2 axis between the two halves broadcast
        # along it: elementwise, so the backend computes the column in one loop nest into the
        # reshaped result (a join would be materialized in 2-lane chunks, then copied again)
        shape = (rows, 2, d)
        side = self.expand_dims_impl(self.expand_dims_impl(self.arange(0, 2), 0), 2)
        is_first = self.eq(self.broadcast_to_shape(side, shape), 0)
        both = self.where(
            is_first,
            self.broadcast_to_shape(self.expand_dims_impl(first, 1), shape),
            self.broadcast_to_shape(self.expand_dims_impl(second, 1), shape),
        )
        return self.reshape(both, x.shape)

    def _bitonic_merge(self, x: Tile, stage: int, order: int, n_dims: int) -> Tile:
        """Stage ``stage`` of the network: ``stage`` columns; ``order`` 2 alternates the
        direction between neighbouring runs of ``2**stage`` elements (a bitonic build), else
        1 sorts descending, 0 ascending."""
        for i in range(stage):
            x = self._compare_and_swap(x, stage, i, order, n_dims)
        return x

    def sort(self, x: Any, dim: int, descending: bool) -> Tile:
        """``x`` sorted along its last dimension (a bitonic network of compare-and-swaps)."""
        t = self.to_tile(x)
        if t.is_scalar or dim != len(t.shape) - 1:
            raise ValueError(
                f"sort: only the last dimension can be sorted, got dim={dim} "
                f"for shape {list(t.shape)}"
            )
        n = t.shape[dim]
        if not _is_pow2(n):
            return self._sort_padded(t, dim, descending)
        n_dims = n.bit_length() - 1
        for stage in range(1, n_dims + 1):
            t = self._bitonic_merge(
                t, stage, 2 if stage < n_dims else int(bool(descending)), n_dims
            )
        return t

    def _sort_padded(self, t: Tile, dim: int, descending: bool) -> Tile:
        """Sort a non-power-of-2 last dimension: pad it to a power of 2 with values that sort
        last, sort, and keep the first ``n``."""
        n = t.shape[dim]
        m = 1 << (n - 1).bit_length()
        dt = t.dtype
        if dt.is_floating():
            pad: Any = -math.inf if descending else math.inf
        elif dt.is_int():
            pad = dt.get_int_min_value() if descending else dt.get_int_max_value()
        else:
            raise TypeError(f"sort: unsupported type {dt}")
        wide = t.shape[:-1] + (m,)
        pos = self._positions(wide, dim, 0, 1)
        padded = self.gather(t, self.minimum(pos, n - 1, "none"), dim)
        padded = self.where(self.lt(pos, n), padded, pad)
        done = self.sort(padded, dim, descending)
        return self.gather(done, self._positions(t.shape, dim, 0, 1), dim)

    def topk(self, x: Any, k: int, dim: int, descending: bool = True) -> Tile:
        """The ``k`` largest (``descending``) or smallest values along ``dim``, in order."""
        t = self.sort(x, dim, descending)
        n = t.shape[-1]
        if not 0 < k <= n:
            raise ValueError(f"topk: k must be between 1 and {n}, got {k}")
        if k == n:
            return t
        return self.gather(t, self._positions(t.shape[:-1] + (k,), dim, 0, 1), dim)

    def histogram(self, input: Any, num_bins: int, mask: Any = None) -> Tile:
        """int32 counts of the values of a 1-D int tile in ``[0, num_bins)``."""
        x = self.to_tile(input)
        if len(x.shape) != 1 or not x.dtype.is_int():
            raise TypeError(f"histogram needs a 1-D integer tile, got {x.type}")
        bins = self.cast(self.arange(0, num_bins), x.dtype)
        hit = self.eq(self.expand_dims_impl(x, 1), self.expand_dims_impl(bins, 0))
        if mask is not None:
            hit = self.logical_and(hit, self.expand_dims_impl(self.to_bool(mask), 1))
        return self.sum(self.cast(hit, ldt.int32), 0, False, ldt.int32)

    def gather(self, src: Any, index: Any, axis: int) -> Tile:
        """``out[p] = src[p with p[axis] = index[p]]``, one-hot selected along ``axis``."""
        s, idx = self.to_tile(src), self.to_tile(index)
        rank = len(s.shape)
        if len(idx.shape) != rank or rank == 0 or not idx.dtype.is_int():
            raise ValueError(
                f"gather: index must be an integer tile of the rank of src, got "
                f"{idx.type} for {s.type}"
            )
        if not 0 <= axis < rank:
            raise ValueError(f"gather: axis {axis} out of range for rank {rank}")
        for d in range(rank):
            if d != axis and idx.shape[d] != s.shape[d]:
                raise ValueError(
                    f"gather: index shape {list(idx.shape)} must match src shape "
                    f"{list(s.shape)} except along axis {axis}"
                )
        k = s.shape[axis]
        # src with `axis` moved last and a size-1 axis in its place: [.., 1, .., K]
        order = tuple(d for d in range(rank) if d != axis) + (axis,)
        vals = self.expand_dims_impl(self.permute(s, order), axis)
        ks = self.arange(0, k)
        for _ in range(rank):
            ks = self.expand_dims_impl(ks, 0)
        hit = self.eq(self.expand_dims_impl(idx, rank), ks)
        full = idx.shape + (k,)
        vals = self.broadcast_to_shape(vals, full)
        hit = self.broadcast_to_shape(hit, full)

        def pick(v1: Tile, h1: Tile, v2: Tile, h2: Tile) -> tuple[Tile, Tile]:
            return self.where(h1, v1, v2), self.logical_or(h1, h2)

        return self.reduce((vals, hit), rank, pick, False)[0]

    def map_elementwise(self, scalar_fn: Any, args: tuple[Any, ...], pack: int = 1) -> Any:
        """Apply ``scalar_fn`` to ``args`` broadcast together, by tracing it on whole tiles: an
        ``if`` on a value computes both branches and selects per element (so the branches
        may not store or print)."""
        if pack != 1:
            raise NotImplementedError(
                "map_elementwise with pack > 1 is not supported by the compiler"
            )
        tiles = [self.to_tile(a) for a in args]
        shape: tuple[int, ...] = ()
        for t in tiles:
            shape = self.broadcast_shapes(shape, t.shape)
        tiles = [self.broadcast_to_shape(t, shape) for t in tiles]
        if getattr(scalar_fn, "is_jit_function", False) and self.inline_jit is not None:
            return self.inline_jit(scalar_fn, tiles, elementwise=True)
        return scalar_fn(*tiles)

    # ---- dot_scaled: microscaled (MX) operands decoded to fp32, then tt.dot ----------------

    def _fp4_values(self, codes: Tile) -> Tile:
        """e2m1 codes (the low 4 bits of ``codes``) as exact fp32 values."""
        c = self.cast(codes, ldt.int32)
        sign = self.and_(self.rshift(c, 3), 1)
        exp = self.and_(self.rshift(c, 1), 3)
        man = self.cast(self.and_(c, 1), ldt.float32)
        # exponent 0 is subnormal (0 or 0.5), else (1 + m/2) * 2**(e - 1)
        scale = self.cast(self.lshift(1, self.maximum(exp, 1)), ldt.float32)
        normal = self.mul(self.add(1.0, self.mul(man, 0.5)), self.mul(scale, 0.5))
        mag = self.where(self.eq(exp, 0), self.mul(man, 0.5), normal)
        return self.where(self.eq(sign, 1), self.neg(mag), mag)

    def _mx_values(self, x: Any, fmt: str, k_axis: int, k_pack: bool) -> Tile:
        """The operand's values as fp32, K along axis ``k_axis`` of a 2-D tile."""
        t = self.to_tile(x)
        if len(t.shape) != 2:
            raise ValueError(f"dot_scaled: operands must be 2-D, got shape {list(t.shape)}")
        if fmt == "e2m1":
            if not k_pack:
                raise NotImplementedError("dot_scaled: e2m1 packed along M/N (k_pack=False)")
            codes = (
                self.cast(t, ldt.uint8, None, True)
                if t.dtype.primitive_bitwidth == 8
                else self.cast(t, ldt.uint8)
            )
            lo, hi = self._fp4_values(codes), self._fp4_values(self.rshift(codes, 4))
            pair = self.join(lo, hi)  # the low nibble holds the even K index
            if k_axis == 0:
                pair = self.permute(pair, (0, 2, 1))
                return self.reshape(pair, (t.shape[0] * 2, t.shape[1]))
            return self.reshape(pair, (t.shape[0], t.shape[1] * 2))
        if fmt in ("e4m3", "e5m2"):
            fp8 = ldt.float8e4nv if fmt == "e4m3" else ldt.float8e5
            bits = t.dtype.is_int() and t.dtype.primitive_bitwidth == 8
            t = self.cast(t, fp8, None, True) if bits else self.cast(t, fp8)
        return self.cast(t, ldt.float32)

    def _mx_scaled(self, v: Tile, scale: Any, k_axis: int) -> Tile:
        """``v`` times 2**(scale - 127) per 32 values of K (e8m0 scales; 255 is NaN)."""
        if scale is None:
            return v
        s = self.cast(self.to_tile(scale), ldt.int32)
        k = v.shape[k_axis]
        rows = v.shape[1 - k_axis]
        if s.shape != (rows, k // 32) or k % 32:
            raise ValueError(
                f"dot_scaled: scales must have shape {[rows, k // 32]} (one per "
                f"32 values of K), got {list(s.shape)}"
            )
        # 2**(s - 127) built from its bits: s is the biased exponent of an fp32
        factor = self.cast(self.lshift(s, 23), ldt.float32, None, True)
        factor = self.where(self.eq(s, 0), 2.0**-127, factor)
        factor = self.where(self.eq(s, 255), float("nan"), factor)
        factor = self.broadcast_to_shape(self.expand_dims_impl(factor, 2), (rows, k // 32, 32))
        factor = self.reshape(factor, (rows, k))
        if k_axis == 0:
            factor = self.permute(factor, (1, 0))
        return self.mul(v, factor)

    def dot_scaled(
        self,
        lhs: Any,
        lhs_scale: Any,
        lhs_format: str,
        rhs: Any,
        rhs_scale: Any,
        rhs_format: str,
        acc: Any,
        fast_math: bool,
        lhs_k_pack: bool,
        rhs_k_pack: bool,
        out_dtype: ldt.dtype,
    ) -> Tile:
        """``(lhs * 2**lhs_scale) @ (rhs * 2**rhs_scale) + acc`` with operands decoded to fp32."""
        a = self._mx_scaled(self._mx_values(lhs, lhs_format, 1, lhs_k_pack), lhs_scale, 1)
        b = self._mx_scaled(self._mx_values(rhs, rhs_format, 0, rhs_k_pack), rhs_scale, 0)
        return self.dot(a, b, acc, "ieee", None, out_dtype)
