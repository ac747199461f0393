"""Counter-based random numbers (Philox 4x32 and 4x64), as language helpers.

The same functions and bit-exact results as Triton's ``tl.rand``/``tl.randint``: a
``(seed, offset)`` pair always gives the same numbers, in every engine, so kernels are
reproducible. Everything is written with builtins (``umulhi``, casts, integer operators on
uint32/uint64), so engines need no random-number support of their own. ``randint``/``rand``
always run Philox 4x32 keyed by the 64-bit seed, as current Triton does: a 64-bit offset is
split into its low and high 32-bit words (the first two counter words), and the result is
uint32 whatever the offset's width. ``philox`` called directly on 64-bit counters runs Philox
4x64 keyed by the seed.
"""

from __future__ import annotations

from typing import Any

from tritium.language import ops
from tritium.language.control import static_range
from tritium.language.core import tensor, unwrap_constexpr
from tritium.language.dtypes import int32, int64, uint32, uint64
from tritium.language.standard import helper, to_tensor

__all__ = [
    "pair_uniform_to_normal",
    "philox",
    "philox_impl",
    "rand",
    "rand4x",
    "randint",
    "randint4x",
    "randn",
    "randn4x",
    "uint_to_uniform_float",
]

N_ROUNDS_DEFAULT = 10
# Weyl-sequence increments of the key and the round multipliers from the Philox paper
# (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), for 32-bit words ...
PHILOX_KEY_A = 0x9E3779B9
PHILOX_KEY_B = 0xBB67AE85
PHILOX_ROUND_A = 0xD2511F53
PHILOX_ROUND_B = 0xCD9E8D57
# ... and for 64-bit words.
PHILOX_KEY_A_64 = 0x9E3779B97F4A7C15
PHILOX_KEY_B_64 = 0xBB67AE8584CAA73B
PHILOX_ROUND_A_64 = 0xD2E7470EE14C6C93
PHILOX_ROUND_B_64 = 0xCA5A826395121157


@helper
def philox_impl(
    c0: Any, c1: Any, c2: Any, c3: Any, k0: Any, k1: Any, n_rounds: Any = N_ROUNDS_DEFAULT
) -> tuple[Any, Any, Any, Any]:
    """``n_rounds`` Philox rounds on the counter ``(c0..c3)`` with key ``(k0, k1)``: all uint32
    (Philox 4x32) or all uint64 (Philox 4x64)."""
    if c0.dtype == uint64:
        key_a, key_b = PHILOX_KEY_A_64, PHILOX_KEY_B_64
        round_a, round_b = PHILOX_ROUND_A_64, PHILOX_ROUND_B_64
    else:
        key_a, key_b, round_a, round_b = PHILOX_KEY_A, PHILOX_KEY_B, PHILOX_ROUND_A, PHILOX_ROUND_B
    for _ in static_range(unwrap_constexpr(n_rounds)):
        prev_c0, prev_c2 = c0, c2
        c0 = ops.umulhi(round_b, prev_c2) ^ c1 ^ k0
        c2 = ops.umulhi(round_a, prev_c0) ^ c3 ^ k1
        c1 = round_b * prev_c2
        c3 = round_a * prev_c0
        k0 = k0 + key_a
        k1 = k1 + key_b
    return c0, c1, c2, c3


def _as_unsigned(x: Any, ty: Any) -> Any:
    """A counter word as ``ty`` (uint32/uint64): signed tensors of that width keep their bits."""
    if not isinstance(x, tensor):
        return ops.full((), x, ty)
    if x.dtype.is_int_signed() and x.dtype.int_bitwidth == ty.int_bitwidth:
        return x.to(ty, bitcast=True)
    return x.to(ty)


@helper
def philox(
    seed: Any, c0: Any, c1: Any, c2: Any, c3: Any, n_rounds: Any = N_ROUNDS_DEFAULT
) -> tuple[Any, Any, Any, Any]:
    """Philox on the counter ``(c0..c3)`` keyed by the 64-bit ``seed``: 4x32 for 32-bit (or
    Python int) counters, 4x64 for 64-bit counters."""
    if not isinstance(seed, tensor):
        # A non-negative Python seed may use all 64 bits; a negative one wraps like int64.
        value = unwrap_constexpr(seed)
        seed = ops.full((), value, uint64 if value >= 0 else int64)
    if not seed.dtype.is_int():
        raise TypeError(f"philox: seed must be an integer, got {seed.dtype}")
    seed = seed.to(uint64)
    if isinstance(c0, tensor) and c0.dtype.primitive_bitwidth == 64:
        words = tuple(_as_unsigned(c, uint64) for c in (c0, c1, c2, c3))
        return philox_impl(*words, seed, ops.full((), 0, uint64), n_rounds)
    seed_hi = ((seed >> 32) & 0xFFFFFFFF).to(uint32)
    seed_lo = (seed & 0xFFFFFFFF).to(uint32)
    words = tuple(_as_unsigned(c, uint32) for c in (c0, c1, c2, c3))
    return philox_impl(*words, seed_lo, seed_hi, n_rounds)


@helper
def randint4x(seed: Any, offset: Any, n_rounds: Any = N_ROUNDS_DEFAULT) -> tuple[Any, ...]:
    """Four blocks of random uint32 values for the ``offset`` tile. A 64-bit offset supplies
    two counter words (low, high), so offsets past 2**32 still give distinct streams."""
    offset = to_tensor(offset)
    offset_lo = offset.to(uint32)
    zero = offset_lo * 0
    offset_hi = (offset >> 32).to(uint32) if offset.dtype.primitive_bitwidth > 32 else zero
    return philox(seed, offset_lo, offset_hi, zero, zero, n_rounds)


@helper
def randint(seed: Any, offset: Any, n_rounds: Any = N_ROUNDS_DEFAULT) -> Any:
    """A block of random uint32 values for the ``offset`` tile (any integer width)."""
    return randint4x(seed, offset, n_rounds)[0]


@helper
def uint_to_uniform_float(x: Any) -> Any:
    """Random 32-bit (or 64-bit) integers mapped to fp32 values uniform in [0, 1)."""
    if x.dtype.int_bitwidth == 32:
        x = x.to(int32, bitcast=True)
        scale = 4.6566127342e-10  # 1 / 2**31, rounded so that the result stays below 1
    else:
        x = x.to(int64, bitcast=True)
        scale = 1.0842020432385337e-19  # just under 1 / 2**63, Triton's constant
    x = ops.where(x < 0, -x - 1, x)
    return x * scale


@helper
def rand(seed: Any, offset: Any, n_rounds: Any = N_ROUNDS_DEFAULT) -> Any:
    """A block of fp32 values uniform in [0, 1) for the int32 ``offset`` tile."""
    return uint_to_uniform_float(randint(seed, offset, n_rounds))


@helper
def rand4x(seed: Any, offsets: Any, n_rounds: Any = N_ROUNDS_DEFAULT) -> tuple[Any, ...]:
    """Four blocks of fp32 values uniform in [0, 1)."""
    return tuple(uint_to_uniform_float(i) for i in randint4x(seed, offsets, n_rounds))


@helper
def pair_uniform_to_normal(u1: Any, u2: Any) -> tuple[Any, Any]:
    """Box-Muller: two uniform [0, 1) blocks to two standard normal blocks."""
    u1 = ops.maximum(1.0e-7, u1)
    theta = 6.283185307179586 * u2
    r = ops.sqrt(-2.0 * ops.log(u1))
    return r * ops.cos(theta), r * ops.sin(theta)


@helper
def randn(seed: Any, offset: Any, n_rounds: Any = N_ROUNDS_DEFAULT) -> Any:
    """A block of standard normal fp32 values for the int32 ``offset`` tile."""
    i1, i2, _, _ = randint4x(seed, offset, n_rounds)
    n1, _ = pair_uniform_to_normal(uint_to_uniform_float(i1), uint_to_uniform_float(i2))
    return n1


@helper
def randn4x(seed: Any, offset: Any, n_rounds: Any = N_ROUNDS_DEFAULT) -> tuple[Any, ...]:
    """Four blocks of standard normal fp32 values."""
    u1, u2, u3, u4 = rand4x(seed, offset, n_rounds)
    n1, n2 = pair_uniform_to_normal(u1, u2)
    n3, n4 = pair_uniform_to_normal(u3, u4)
    return n1, n2, n3, n4
