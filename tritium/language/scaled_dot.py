"""``tl.dot_scaled`` by upcasting, written with builtins, for engines without a native one.

Microscaling (OCP MX) operands are decoded to fp32 and scaled, then multiplied with an
ordinary ``tl.dot`` at IEEE precision, so an engine implements
``dot_scaled(...)`` as ``scaled_dot.dot_scaled_by_upcast(...)``. The operand layouts are
Triton's:

* ``e2m1`` (fp4): two values per uint8, the first in the low nibble, packed along K
  (``k_pack=True``: lhs ``[M, K/2]``, rhs ``[K/2, N]``) or along M / N (``k_pack=False``:
  lhs ``[M/2, K]``, rhs ``[K, N/2]``);
* ``e4m3`` / ``e5m2``: fp8e4nv / fp8e5 tensors, or uint8 holding their bits;
* ``bf16`` / ``fp16``: plain tensors;
* scales: uint8 e8m0 exponents (``2 ** (s - 127)``; 255 is NaN), one per 32 values along K,
  shaped ``[M, K/32]`` for lhs and ``[N, K/32]`` for rhs, or None (no scaling).
"""

from __future__ import annotations

from typing import Any

from tritium.language import ops, shape
from tritium.language.core import tensor
from tritium.language.dtypes import dtype, float8e4nv, float8e5, float32

__all__ = ["GROUP_SIZE", "decode_e2m1", "dot_scaled_by_upcast"]

#: The number of values along K that share one e8m0 scale.
GROUP_SIZE = 32

_FP8_FORMATS = {"e4m3": float8e4nv, "e5m2": float8e5}


def decode_e2m1(nibbles: tensor) -> tensor:
    """fp32 values of e2m1 codes (integers 0..15: sign bit 3, exponent bits 1-2, mantissa
    bit 0), i.e. ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}."""
    exponent = (nibbles >> 1) & 3
    mantissa = ops.cast(nibbles & 1, float32)
    normal = (1.0 + 0.5 * mantissa) * ops.exp2(ops.cast(exponent, float32) - 1.0)
    magnitude = ops.where(exponent == 0, 0.5 * mantissa, normal)
    return ops.where((nibbles & 8) != 0, -magnitude, magnitude)


def _unpack_fp4(packed: tensor, along_first_dim: bool) -> tensor:
    """Decode a 2-D uint8 tile of packed e2m1 pairs, unpacking along dim 0 or dim 1."""
    codes = ops.cast(packed, dtype("int32"))
    pairs = shape.join(decode_e2m1(codes & 15), decode_e2m1((codes >> 4) & 15))  # [a, b, 2]
    rows, cols = packed.shape
    if along_first_dim:
        return shape.reshape(shape.permute(pairs, 0, 2, 1), (2 * rows, cols))
    return shape.reshape(pairs, (rows, 2 * cols))


def _decode(x: tensor, fmt: str, k_pack: bool, k_dim: int) -> tensor:
    if fmt == "e2m1":
        # k_dim is the position of K in the operand; without k_pack the other dim is packed
        return _unpack_fp4(x, along_first_dim=(k_dim == 0) == k_pack)
    if fmt in _FP8_FORMATS:
        if x.dtype.is_int():
            x = ops.cast(x, _FP8_FORMATS[fmt], None, True)
        return ops.cast(x, float32)
    return ops.cast(x, float32)


def _expand_scale(scale: tensor, rows: int, k: int) -> tensor:
    """``[rows, K/32]`` e8m0 exponents as a ``[rows, K]`` fp32 tile of powers of two."""
    exps = ops.cast(scale, float32)
    factors = ops.where(exps == 255.0, float("nan"), ops.exp2(exps - 127.0))
    groups = k // GROUP_SIZE
    spread = shape.broadcast_to(shape.expand_dims(factors, 2), (rows, groups, GROUP_SIZE))
    return shape.reshape(spread, (rows, k))


def dot_scaled_by_upcast(
    lhs: tensor,
    lhs_scale: tensor | None,
    lhs_format: str,
    rhs: tensor,
    rhs_scale: tensor | None,
    rhs_format: str,
    acc: tensor | None,
    fast_math: bool,
    lhs_k_pack: bool,
    rhs_k_pack: bool,
    out_dtype: dtype,
) -> Any:
    """``(lhs * 2**lhs_scale) @ (rhs * 2**rhs_scale) (+ acc)`` in fp32, cast to ``out_dtype``.

    ``fast_math`` is accepted and ignored: the upcast product is already exact in fp32.
    """
    a = _decode(lhs, lhs_format, lhs_k_pack, k_dim=1)  # [M, K]
    b = _decode(rhs, rhs_format, rhs_k_pack, k_dim=0)  # [K, N]
    (m, k), n = a.shape, b.shape[1]
    if b.shape[0] != k:
        raise ValueError(f"dot_scaled: lhs decodes to {a.shape} and rhs to {b.shape}")
    if lhs_scale is not None:
        a = a * _expand_scale(lhs_scale, m, k)
    if rhs_scale is not None:
        b = b * shape.permute(_expand_scale(rhs_scale, n, k), 1, 0)
    out = ops.dot(a, b, None if acc is None else ops.cast(acc, float32), "ieee")
    return out if out_dtype == float32 else ops.cast(out, out_dtype)
