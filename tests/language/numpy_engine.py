"""A small NumPy engine, only for testing the language helpers (standard.py, random.py).

It implements just the engine methods those helpers use, with Triton's type rules from
``type_rules``; the real interpreter lives in ``tritium.interpreter``.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

import tritium.language as tl
from tritium.language import type_rules as st
from tritium.language.engine_protocol import Engine

NP_DTYPES = {
    "int1": np.bool_,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "uint32": np.uint32,
    "uint64": np.uint64,
    "fp16": np.float16,
    "bf16": ml_dtypes.bfloat16,
    "fp32": np.float32,
    "fp64": np.float64,
    "fp8e4nv": ml_dtypes.float8_e4m3fn,
    "fp8e5": ml_dtypes.float8_e5m2,
}


class NpTensor(tl.tensor):
    """A tile (or a 0-d scalar) held as a NumPy array."""


def wrap(arr: np.ndarray, ty: tl.dtype) -> NpTensor:
    """``arr`` (converted to ``ty``) as a tensor of the matching block or scalar type."""
    arr = np.asarray(arr).astype(NP_DTYPES[ty.name], copy=False)
    return NpTensor(arr, tl.block_type(ty, arr.shape) if arr.ndim else ty)


def tensor_of(arr: np.ndarray) -> NpTensor:
    """A tensor for a NumPy array, with the dtype it has."""
    name = {v: k for k, v in NP_DTYPES.items()}[np.dtype(arr.dtype).type]
    return wrap(arr, tl.dtype(name))


def _value(x: Any, ty: tl.dtype) -> np.ndarray:
    if isinstance(x, tl.tensor):
        return x.handle.astype(NP_DTYPES[ty.name], copy=False)
    return np.array(x).astype(NP_DTYPES[ty.name])


def _c_floordiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    q = a // b
    # NumPy rounds toward -inf; C (and Triton) toward zero.
    return q + (((a % b) != 0) & ((a < 0) != (b < 0))).astype(q.dtype)


def _umulhi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    bits = a.dtype.itemsize * 8
    if bits == 64:  # exact through Python ints
        a, b = np.broadcast_arrays(a, b)
        hi = [(int(x) * int(y)) >> 64 for x, y in zip(a.ravel(), b.ravel())]
        return np.array(hi, dtype=object).astype(a.dtype).reshape(a.shape)
    wide = np.uint64 if a.dtype.kind == "u" else np.int64
    return ((a.astype(wide) * b.astype(wide)) >> 32).astype(a.dtype)


_BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "truediv": np.divide,
    "floordiv": _c_floordiv,
    "mod": np.fmod,
    "and_": np.bitwise_and,
    "or_": np.bitwise_or,
    "xor": np.bitwise_xor,
    "lshift": np.left_shift,
    "rshift": np.right_shift,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "eq": np.equal,
    "ne": np.not_equal,
    "umulhi": _umulhi,
    "fdiv": np.divide,
}


class NumpyEngine(Engine):
    """Enough of the protocol to run the language helpers on NumPy."""

    def _binary(self, op: str, lhs: Any, rhs: Any) -> NpTensor:
        types = st.binary_result_type(lhs, rhs, op)
        with np.errstate(all="ignore"):
            out = _BINARY[op](_value(lhs, types.lhs), _value(rhs, types.rhs))
        return wrap(out, types.result)

    def full(self, shape: tuple[int, ...], value: Any, dtype: tl.dtype) -> NpTensor:
        return wrap(np.full(shape, _value(value, dtype)), dtype)

    def cast(self, input: Any, dtype: tl.dtype, rounding: Any, bitcast: bool) -> NpTensor:
        src = input.handle
        if bitcast:
            return wrap(src.view(NP_DTYPES[dtype.name]), dtype)
        return wrap(src.astype(NP_DTYPES[dtype.name]), dtype)

    def neg(self, operand: Any) -> NpTensor:
        with np.errstate(all="ignore"):
            return wrap(np.negative(operand.handle), operand.dtype)

    def where(self, condition: Any, x: Any, y: Any) -> NpTensor:
        ty = st.where_result_type(x, y)
        return wrap(np.where(_value(condition, tl.int1), _value(x, ty), _value(y, ty)), ty)

    def maximum(self, x: Any, y: Any, propagate_nan: str) -> NpTensor:
        ty = st.binary_result_type(x, y, "maximum").result
        return wrap(np.maximum(_value(x, ty), _value(y, ty)), ty)

    def minimum(self, x: Any, y: Any, propagate_nan: str) -> NpTensor:
        ty = st.binary_result_type(x, y, "minimum").result
        return wrap(np.minimum(_value(x, ty), _value(y, ty)), ty)

    def _unary(self, fn: Any, x: Any) -> NpTensor:
        ty = x.dtype if isinstance(x, tl.tensor) else tl.float32
        with np.errstate(all="ignore"):
            return wrap(fn(_value(x, ty)), ty)

    def exp2(self, x: Any) -> NpTensor:
        return self._unary(np.exp2, x)

    def exp(self, x: Any) -> NpTensor:
        return self._unary(np.exp, x)

    def log(self, x: Any) -> NpTensor:
        return self._unary(np.log, x)

    def sqrt(self, x: Any) -> NpTensor:
        return self._unary(np.sqrt, x)

    def cos(self, x: Any) -> NpTensor:
        return self._unary(np.cos, x)

    def sin(self, x: Any) -> NpTensor:
        return self._unary(np.sin, x)

    def fdiv(self, x: Any, y: Any, ieee_rounding: bool) -> NpTensor:
        return self._binary("fdiv", x, y)

    def max(
        self, input: Any, axis: Any, return_indices: bool, tie_left: bool, keep_dims: bool
    ) -> NpTensor:
        return wrap(np.max(input.handle, axis=axis, keepdims=keep_dims), input.dtype)

    def sum(self, input: Any, axis: Any, keep_dims: bool, dtype: tl.dtype) -> NpTensor:
        return wrap(np.sum(input.handle, axis=axis, keepdims=keep_dims), dtype)

    def reduce(self, inputs: tuple, axis: Any, combine_fn: Any, keep_dims: bool) -> tuple:
        # A sequential fold with the combine function, run on 0-d tensors.
        (x,) = inputs
        arr = np.moveaxis(x.handle, axis, -1)
        out = np.empty(arr.shape[:-1], dtype=arr.dtype)
        for idx in np.ndindex(out.shape):
            acc = wrap(arr[idx][0], x.dtype)
            for v in arr[idx][1:]:
                acc = combine_fn(acc, wrap(v, x.dtype))
            out[idx] = acc.handle
        if keep_dims:
            out = np.expand_dims(out, axis)
        return (wrap(out, x.dtype),)

    def sort(self, x: Any, dim: int, descending: bool) -> NpTensor:
        out = np.sort(x.handle, axis=dim)
        return wrap(np.flip(out, axis=dim) if descending else out, x.dtype)

    def reshape(self, input: Any, shape: tuple[int, ...], can_reorder: bool) -> NpTensor:
        return wrap(input.handle.reshape(shape), input.dtype)

    def xor_sum(self, input: Any, axis: Any, keep_dims: bool) -> NpTensor:
        return wrap(np.bitwise_xor.reduce(input.handle, axis=axis, keepdims=keep_dims), input.dtype)

    def arange(self, start: int, end: int) -> NpTensor:
        return wrap(np.arange(start, end), tl.int32)

    def broadcast_to(self, input: Any, shape: tuple[int, ...]) -> NpTensor:
        return wrap(np.broadcast_to(input.handle, shape), input.dtype)

    def dot(self, a: Any, b: Any, acc: Any, precision: Any, imprecise: Any, out: Any) -> NpTensor:
        prod = a.handle.astype(np.float64) @ b.handle.astype(np.float64)
        if acc is not None:
            prod = prod + acc.handle
        return wrap(prod, out)

    def expand_dims(self, input: Any, axis: int) -> NpTensor:
        ty = input.dtype if isinstance(input, tl.tensor) else st.scalar_dtype(input)
        return wrap(np.expand_dims(_value(input, ty), axis), ty)

    def permute(self, input: Any, dims: tuple[int, ...]) -> NpTensor:
        return wrap(np.transpose(input.handle, dims), input.dtype)

    def join(self, a: Any, b: Any) -> NpTensor:
        return wrap(np.stack([a.handle, b.handle], axis=-1), a.dtype)


for _op in _BINARY:
    if _op not in ("fdiv",):
        setattr(NumpyEngine, _op, lambda self, lhs, rhs, _op=_op: self._binary(_op, lhs, rhs))
