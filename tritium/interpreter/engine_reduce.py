"""Reductions, scans, sorting, gather/histogram and ``tl.dot`` of the interpreter engine.

Float sums, scans and dot products accumulate in float64 and round once to the result
type: the interpreter is the accurate reference compiled kernels are compared with.
User combine functions are called on whole tiles, pairing neighbours in a tree
(reductions) or with doubling strides (scans), which is exact for associative functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..language.type_rules import dot_result_type
from .engine_base import EngineBase, align
from .itypes import BF16, BOOL, F8E4NV, F8E5, F32, F64, I32, I64, U32, IType, from_lang, to_lang
from .numerics import cast_array
from .tile import AmbiguousTruthError, GridDivergence, Tile

__all__ = ["ReduceMixin"]

# The 16 values of an OCP e2m1 (fp4) code: sign, 2 exponent bits (bias 1), 1 mantissa bit.
_FP4 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6], np.float64)


def _fn(combine_fn: Any) -> Callable[..., Any]:
    """The Python function behind a combine function (a JITFunction or a plain callable)."""
    if getattr(combine_fn, "is_jit_function", False):
        return combine_fn.fn
    return combine_fn


def _sum_type(t: IType) -> IType:
    """Triton's default accumulator: integers narrower than 32 bits widen (int1 counts as
    unsigned); floats keep their type."""
    if t.kind == "int" and t.bits < 32:
        return I32
    if t.kind in ("uint", "bool") and t.bits < 32:
        return U32
    return t


def _minmax_type(t: IType, with_indices: bool) -> IType:
    """Triton's max/min: bf16 computes in fp32; without indices, anything narrower than 32
    bits widens too (floats to fp32, integers to int32)."""
    if t is BF16:
        return F32
    if with_indices or t.bits >= 32:
        return t
    return F32 if t.is_float else I32


class ReduceMixin(EngineBase):
    """reduce/scan/sum/max/min/arg*/sort/flip/histogram/gather/dot."""

    # -- helpers --------------------------------------------------------------------------------

    def _axis_view(self, x: Tile, axis: int | None) -> tuple[np.ndarray, int]:
        """The array with the reduced axis last (``None``: all tile axes flattened)."""
        if axis is None:
            return x.a.reshape(x.a.shape[0], -1), 1
        return np.moveaxis(x.a, axis + 1, -1), axis + 1

    @staticmethod
    def _finish(r: np.ndarray, x: Tile, axis: int | None, keep_dims: bool) -> np.ndarray:
        """Put a reduced result back in shape (``keep_dims``: size-1 axes where reduced)."""
        if not keep_dims:
            return r
        if axis is None:
            return r.reshape((r.shape[0],) + (1,) * len(x.shape))
        return np.expand_dims(r, axis + 1)

    def _call_combine(
        self, fn: Callable[..., Any], lhs: list[Tile], rhs: list[Tile], types: list[IType]
    ) -> list[np.ndarray]:
        try:
            out = fn(*lhs, *rhs)
        except (AmbiguousTruthError, GridDivergence):
            # The function branches on its operands (`if a > b: return a`): that is fine
            # for scalars, which is how Triton defines it, so call it once per element.
            return self._call_combine_per_element(fn, lhs, rhs, types)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        if len(outs) != len(types):
            raise TypeError(f"combine function returned {len(outs)} values for {len(types)} inputs")
        shape = np.broadcast_shapes(*(t.a.shape for t in lhs))
        res = []
        for o, t in zip(outs, types):
            ot = self.to_tile(o, t)
            res.append(np.broadcast_to(align(ot.a, len(shape) - 1), shape))
        return res

    def _call_combine_per_element(
        self, fn: Callable[..., Any], lhs: list[Tile], rhs: list[Tile], types: list[IType]
    ) -> list[np.ndarray]:
        shape = np.broadcast_shapes(*(t.a.shape for t in lhs + rhs))
        operands = [(np.broadcast_to(t.a, shape), t.ty) for t in lhs + rhs]
        res = [np.empty(shape, t.np) for t in types]
        for idx in np.ndindex(shape):
            args = [Tile(a[idx].reshape(1), ty) for a, ty in operands]
            outs = self._call_combine(fn, args[: len(lhs)], args[len(lhs) :], types)
            for r, o in zip(res, outs):
                r[idx] = o.reshape(-1)[0]
        return res

    # -- generic reduce and scan ------------------------------------------------------------------

    def reduce(
        self, inputs: tuple[Any, ...], axis: int | None, combine_fn: Any, keep_dims: bool
    ) -> tuple[Tile, ...]:
        xs = [self.to_tile(x) for x in inputs]
        types = [x.ty for x in xs]
        fn = _fn(combine_fn)
        arrays = [self._axis_view(x, axis)[0] for x in xs]
        g = max(a.shape[0] for a in arrays)
        arrays = [np.broadcast_to(a, (g,) + a.shape[1:]) for a in arrays]
        while arrays[0].shape[-1] > 1:
            n = arrays[0].shape[-1]
            h = n // 2
            lhs = [Tile(a[..., 0 : 2 * h : 2], t) for a, t in zip(arrays, types)]
            rhs = [Tile(a[..., 1 : 2 * h : 2], t) for a, t in zip(arrays, types)]
            res = self._call_combine(fn, lhs, rhs, types)
            if n % 2:  # the odd element out joins the next round at the end
                res = [np.concatenate([r, a[..., n - 1 :]], axis=-1) for r, a in zip(res, arrays)]
            arrays = res
        outs = []
        for a, x, t in zip(arrays, xs, types):
            outs.append(Tile(self._finish(a[..., 0], x, axis, keep_dims), t))
        return tuple(outs)

    def associative_scan(
        self, inputs: tuple[Any, ...], axis: int, combine_fn: Any, reverse: bool
    ) -> tuple[Tile, ...]:
        xs = [self.to_tile(x) for x in inputs]
        types = [x.ty for x in xs]
        user = _fn(combine_fn)
        # A reverse scan is a forward scan of the reversed tile, the running value on the left
        # (as compiled, and as Triton's tests expect of a non-commutative combine).
        fn = user
        arrays = [np.moveaxis(x.a, axis + 1, -1) for x in xs]
        g = max(a.shape[0] for a in arrays)
        arrays = [np.broadcast_to(a, (g,) + a.shape[1:]) for a in arrays]
        if reverse:
            arrays = [a[..., ::-1] for a in arrays]
        n = arrays[0].shape[-1]
        d = 1
        while d < n:  # Hillis-Steele: x[i] = x[i-d] (+) x[i] for i >= d
            lhs = [Tile(a[..., : n - d], t) for a, t in zip(arrays, types)]
            rhs = [Tile(a[..., d:], t) for a, t in zip(arrays, types)]
            res = self._call_combine(fn, lhs, rhs, types)
            arrays = [np.concatenate([a[..., :d], r], axis=-1) for a, r in zip(arrays, res)]
            d *= 2
        if reverse:
            arrays = [a[..., ::-1] for a in arrays]
        return tuple(Tile(np.moveaxis(a, -1, axis + 1), t) for a, t in zip(arrays, types))

    # -- builtin reductions -----------------------------------------------------------------------

    def sum(
        self,
        input: Any,
        axis: int | None,
        keep_dims: bool,  # noqa: A002
        dtype: Any,
    ) -> Tile:
        x = self.to_tile(input)
        rt = from_lang(dtype) if dtype is not None else _sum_type(x.ty)
        a, ax = self._axis_view(x, axis)
        if rt.is_float:
            r = cast_array(cast_array(a, x.ty, F64).sum(axis=-1), F64, rt)
        else:
            r = cast_array(a, x.ty, rt).sum(axis=-1, dtype=rt.np if rt is not BOOL else None)
            r = cast_array(np.asarray(r), rt if rt is not BOOL else I64, rt)
        return Tile(self._finish(r, x, axis, keep_dims), rt)

    def _extreme(
        self, x: Tile, axis: int | None, big: bool, want_idx: bool, keep_dims: bool
    ) -> Any:
        x = self.convert(x, _minmax_type(x.ty, want_idx))
        a, _ = self._axis_view(x, axis)
        work = a.astype(np.float64) if x.ty.is_float else a
        if not want_idx:
            # tl.max/tl.min combine with maximum/minimum (PropagateNan.NONE: maxnumf/minnumf),
            # as compiled: a NaN loses, and only an all-NaN reduction is NaN. The index path
            # below is Triton's argmax/argmin combine, where a NaN wins.
            fn = np.fmax if big else np.fmin  # on integers the same as np.maximum/minimum
            r = fn.reduce(work, axis=-1).astype(x.ty.np)
            return Tile(self._finish(r, x, axis, keep_dims), x.ty)
        idx = np.argmax(work, axis=-1) if big else np.argmin(work, axis=-1)
        if x.ty.is_float:  # NaN wins, as an unordered compare-and-select chain gives
            nan = np.isnan(work)
            has = nan.any(axis=-1)
            idx = np.where(has, np.argmax(nan, axis=-1), idx)
        vals = np.take_along_axis(a, idx[..., None], axis=-1)[..., 0]
        v = Tile(self._finish(vals, x, axis, keep_dims), x.ty)
        if not want_idx:
            return v
        return v, Tile(self._finish(idx.astype(np.int32), x, axis, keep_dims), I32)

    def max(
        self,
        input: Any,
        axis: int | None,
        return_indices: bool,  # noqa: A002
        return_indices_tie_break_left: bool,
        keep_dims: bool,
    ) -> Any:
        return self._extreme(self.to_tile(input), axis, True, return_indices, keep_dims)

    def min(
        self,
        input: Any,
        axis: int | None,
        return_indices: bool,  # noqa: A002
        return_indices_tie_break_left: bool,
        keep_dims: bool,
    ) -> Any:
        return self._extreme(self.to_tile(input), axis, False, return_indices, keep_dims)

    def argmax(
        self,
        input: Any,
        axis: int | None,
        tie_break_left: bool,  # noqa: A002
        keep_dims: bool,
    ) -> Tile:
        return self._extreme(self.to_tile(input), axis, True, True, keep_dims)[1]

    def argmin(
        self,
        input: Any,
        axis: int | None,
        tie_break_left: bool,  # noqa: A002
        keep_dims: bool,
    ) -> Tile:
        return self._extreme(self.to_tile(input), axis, False, True, keep_dims)[1]

    def xor_sum(self, input: Any, axis: int | None, keep_dims: bool) -> Tile:  # noqa: A002
        x = self.to_tile(input)
        if not x.ty.is_int:
            raise TypeError(f"xor_sum needs integers, got {x.ty.name}")
        a, _ = self._axis_view(x, axis)
        r = np.bitwise_xor.reduce(a, axis=-1)
        return Tile(self._finish(r, x, axis, keep_dims), x.ty)

    def _scan(
        self, x: Tile, axis: int, reverse: bool, rt: IType, fn: Callable[..., np.ndarray]
    ) -> Tile:
        a = np.moveaxis(x.a, axis + 1, -1)
        if reverse:
            a = a[..., ::-1]
        if rt.is_float:
            r = cast_array(fn(cast_array(a, x.ty, F64), axis=-1), F64, rt)
        else:
            r = fn(cast_array(a, x.ty, rt), axis=-1, dtype=rt.np)
        if reverse:
            r = r[..., ::-1]
        return Tile(np.moveaxis(r, -1, axis + 1), rt)

    def cumsum(self, input: Any, axis: int, reverse: bool, dtype: Any) -> Tile:  # noqa: A002
        x = self.to_tile(input)
        rt = from_lang(dtype) if dtype is not None else _sum_type(F32 if x.ty is BF16 else x.ty)
        return self._scan(x, axis, reverse, rt, np.cumsum)

    def cumprod(self, input: Any, axis: int, reverse: bool) -> Tile:  # noqa: A002
        x = self.to_tile(input)
        return self._scan(x, axis, reverse, F32 if x.ty is BF16 else x.ty, np.cumprod)

    def sort(self, x: Any, dim: int, descending: bool) -> Tile:
        t = self.to_tile(x)
        work = t.a.astype(np.float64) if t.ty.is_float and t.ty.bits < 32 else t.a
        r = np.sort(work, axis=dim + 1, kind="stable")
        if descending:
            r = np.flip(r, axis=dim + 1)
        return Tile(r.astype(t.ty.np), t.ty)

    def topk(self, x: Any, k: int, dim: int, descending: bool = True) -> Tile:
        t = self.to_tile(x)
        if not 0 < k <= t.shape[dim]:
            raise ValueError(f"topk: k={k} must be in [1, {t.shape[dim]}]")
        ordered = self.sort(t, dim, descending).a
        return Tile(np.take(ordered, np.arange(k), axis=dim + 1), t.ty)

    def flip(self, x: Any, dim: int) -> Tile:
        t = self.to_tile(x)
        return Tile(np.flip(t.a, axis=dim + 1), t.ty, t.prov)

    def histogram(self, input: Any, num_bins: int, mask: Any) -> Tile:  # noqa: A002
        x = self.to_tile(input)
        if len(x.shape) != 1 or not x.ty.is_int:
            raise TypeError("histogram needs a 1-D integer tile")
        v = x.a.astype(np.int64)
        ok = (v >= 0) & (v < num_bins)
        if mask is not None:
            ok &= self.bool_array(mask, 1)
        v, ok = np.broadcast_arrays(v, ok)
        g = v.shape[0]
        flat = (v + np.arange(g)[:, None] * num_bins)[ok]
        counts = np.bincount(flat, minlength=g * num_bins).reshape(g, num_bins)
        return Tile(counts.astype(np.int32), I32)

    def gather(self, src: Any, index: Any, axis: int) -> Tile:
        s, i = self.to_tile(src), self.to_tile(index)
        if len(s.shape) != len(i.shape):
            raise ValueError("gather: src and index must have the same rank")
        ia = i.a.astype(np.int64)
        n = s.shape[axis]
        if ((ia < 0) | (ia >= n)).any():
            raise IndexError(f"gather at {self.location()}: index out of range [0, {n})")
        g = max(s.a.shape[0], ia.shape[0])
        sa = np.broadcast_to(s.a, (g,) + s.a.shape[1:])
        ia = np.broadcast_to(ia, (g,) + ia.shape[1:])
        return Tile(np.take_along_axis(sa, ia, axis=axis + 1), s.ty)

    # -- dot -------------------------------------------------------------------------------------

    def dot(
        self,
        input: Any,
        other: Any,
        acc: Any,
        input_precision: str | None,  # noqa: A002
        max_num_imprecise_acc: int | None,
        out_dtype: Any,
    ) -> Tile:
        a, b = self._dot_operands(input, other)
        acc_ty = None if acc is None else self.to_tile(acc).ty
        product_ty = dot_result_type(
            to_lang(a.ty),
            to_lang(b.ty),
            out_dtype,
            None if acc_ty is None else to_lang(acc_ty),
        )
        product = _wide_product(a, b)
        if acc is not None:
            return self.dot_finish(product, acc)
        rt = from_lang(product_ty)
        res = cast_array(product.a, product.ty, rt)
        self.track(res)
        return Tile(res, rt)

    def _dot_operands(self, input: Any, other: Any) -> tuple[Tile, Tile]:  # noqa: A002
        a, b = self.to_tile(input), self.to_tile(other)
        if len(a.shape) not in (2, 3) or len(a.shape) != len(b.shape):
            raise ValueError(
                f"dot needs two 2-D (or 3-D) tiles, got {list(a.shape)} and {list(b.shape)}"
            )
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(f"dot: inner dimensions differ: {list(a.shape)} @ {list(b.shape)}")
        return a, b

    def dot_product(self, input: Any, other: Any) -> Tile:  # noqa: A002
        """The exact wide product of :meth:`dot` before its accumulator is added: int64 for
        integer operands, float64 otherwise (a replayed loop computes it for many iterations
        at once, then :meth:`dot_finish` adds each iteration's accumulator)."""
        return _wide_product(*self._dot_operands(input, other))

    def dot_finish(self, product: Tile, acc: Any) -> Tile:
        """:meth:`dot` with an accumulator, given :meth:`dot_product` of its operands."""
        t = self.to_tile(acc)
        if product.ty is I64:
            res = cast_array(product.a + t.a.astype(np.int64), I64, t.ty)
        else:
            res = cast_array(product.a + cast_array(t.a, t.ty, F64), F64, t.ty)
        self.track(res)
        return Tile(res, t.ty)

    def _mx_operand(self, x: Any, scale: Any, fmt: str, k_axis: int, k_pack: bool) -> np.ndarray:
        """A microscaled operand's values as float64, K along tile axis ``k_axis``."""
        t = self.to_tile(x)
        if fmt == "e2m1":
            if not k_pack:
                raise NotImplementedError("dot_scaled: e2m1 packed along M/N (k_pack=False)")
            codes = t.a.astype(np.uint8)
            ax = k_axis + 1
            vals = np.stack([_FP4[codes & 0xF], _FP4[codes >> 4]], axis=ax + 1)
            shape = list(codes.shape)
            shape[ax] *= 2  # the low nibble holds the even K index
            v = vals.reshape(shape)
        elif fmt in ("e4m3", "e5m2"):
            want = F8E4NV if fmt == "e4m3" else F8E5
            a = (
                t.a.view(want.np)
                if t.ty.kind == "uint" and t.ty.bits == 8
                else cast_array(t.a, t.ty, want)
            )
            v = a.astype(np.float64)
        else:
            v = cast_array(t.a, t.ty, F64)
        if scale is None:
            return v
        s = self.to_tile(scale).a.astype(np.float64)  # [rows, K/32] of e8m0 exponents
        factor = np.where(s == 255, np.nan, np.exp2(s - 127.0))
        factor = np.repeat(factor, 32, axis=-1)
        if k_axis == 0:  # rhs: [K, N] values, [N, K/32] scales
            factor = np.swapaxes(factor, -1, -2)
        k = v.shape[k_axis + 1]
        if factor.shape[k_axis + 1] != k:
            raise ValueError(f"dot_scaled: a scale covers 32 values of K; K={k}")
        return v * factor

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
        out_dtype: Any,
    ) -> Tile:
        a = self._mx_operand(lhs, lhs_scale, lhs_format, 1, lhs_k_pack)
        b = self._mx_operand(rhs, rhs_scale, rhs_format, 0, rhs_k_pack)
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(
                f"dot_scaled: inner dimensions differ: {list(a.shape[1:])} @ {list(b.shape[1:])}"
            )
        r = np.matmul(a, b)
        rt = from_lang(out_dtype) if out_dtype is not None else F32
        if acc is not None:
            t = self.to_tile(acc)
            r = r + cast_array(t.a, t.ty, F64)
            rt = t.ty
        return Tile(cast_array(r, F64, rt), rt)


def _wide_product(a: Tile, b: Tile) -> Tile:
    """``a @ b`` exactly: int64 for integer operands, float64 otherwise."""
    if a.ty.is_int and b.ty.is_int:
        return Tile(np.matmul(a.a.astype(np.int64), b.a.astype(np.int64)), I64)
    return Tile(np.matmul(cast_array(a.a, a.ty, F64), cast_array(b.a, b.ty, F64)), F64)
