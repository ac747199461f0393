"""Shared helpers of the conformance suite: device buffers, poisoning, ULP errors, Philox.

The tests build NumPy inputs, move them to the backend under test with :func:`to_device`,
poison their outputs with :func:`poisoned`, and read results back with :func:`to_host`.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

BF16 = np.dtype(ml_dtypes.bfloat16)
FP8E4 = np.dtype(ml_dtypes.float8_e4m3fn)
FP8E5 = np.dtype(ml_dtypes.float8_e5m2)

#: Triton's dtype name -> NumPy dtype (ml_dtypes for bf16 and fp8).
NP_DTYPES: dict[str, np.dtype] = {
    "int1": np.dtype(np.bool_),
    "int8": np.dtype(np.int8),
    "int16": np.dtype(np.int16),
    "int32": np.dtype(np.int32),
    "int64": np.dtype(np.int64),
    "uint8": np.dtype(np.uint8),
    "uint16": np.dtype(np.uint16),
    "uint32": np.dtype(np.uint32),
    "uint64": np.dtype(np.uint64),
    "float16": np.dtype(np.float16),
    "bfloat16": BF16,
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
    "float8e4nv": FP8E4,
    "float8e5": FP8E5,
}

POISON_BYTE = 0xA5


def random_array(
    rng: np.random.Generator,
    shape: int | tuple[int, ...],
    dtype: str,
    low: float | None = None,
    high: float | None = None,
    nonzero: bool = True,
) -> np.ndarray:
    """Random values of Triton dtype ``dtype`` (never all zeros; no zeros if ``nonzero``)."""
    npd = NP_DTYPES[dtype]
    if dtype == "int1":
        return rng.random(shape) < 0.5
    if npd.kind in "iu":
        info = np.iinfo(npd)
        lo = info.min if low is None else int(low)
        hi = info.max if high is None else int(high)
        # uint64's upper half does not fit int64: draw it as uint64, everything else as int64
        draw = np.uint64 if npd == np.uint64 else np.int64
        a = rng.integers(lo, hi, size=shape, endpoint=True, dtype=draw).astype(npd)
        if nonzero:
            a[a == 0] = 1
        return a
    lo = -4.0 if low is None else low
    hi = 4.0 if high is None else high
    a = rng.uniform(lo, hi, size=shape)
    if nonzero:
        a[np.abs(a) < 1e-3] = 0.5
    return a.astype(npd)


def poisoned(shape: int | tuple[int, ...], dtype: str | np.dtype) -> np.ndarray:
    """An output buffer full of a recognizable junk byte pattern (0xA5...)."""
    npd = NP_DTYPES[dtype] if isinstance(dtype, str) else np.dtype(dtype)
    shape = (shape,) if isinstance(shape, int) else shape
    raw = np.full(int(np.prod(shape)) * npd.itemsize, POISON_BYTE, dtype=np.uint8)
    return raw.view(npd).reshape(shape)


def to_device(a: np.ndarray, backend: str) -> Any:
    """The array the backend's kernels take: the NumPy array itself, or a CUDA tensor."""
    if backend != "cuda":
        return a
    import torch

    view = {2: np.int16, 1: np.uint8}
    if a.dtype in (BF16, FP8E4, FP8E5):
        tdt = {BF16: torch.bfloat16, FP8E4: torch.float8_e4m3fn, FP8E5: torch.float8_e5m2}[a.dtype]
        return torch.from_numpy(a.view(view[a.dtype.itemsize]).copy()).cuda().view(tdt)
    return torch.from_numpy(a.copy()).cuda()


def to_host(t: Any, like: np.ndarray) -> np.ndarray:
    """Bring a kernel's output back as a NumPy array of ``like``'s dtype and shape."""
    if isinstance(t, np.ndarray):
        return t
    import torch

    if t.dtype in (torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2):
        t = t.view(torch.int16 if t.element_size() == 2 else torch.uint8)
    return t.cpu().numpy().view(like.dtype).reshape(like.shape)


class Buffers:
    """Moves inputs/outputs to the backend and back, keeping the host copies in order."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._pairs: list[tuple[Any, np.ndarray]] = []

    def __call__(self, a: np.ndarray) -> Any:
        """The device version of ``a``; :meth:`sync` copies it back into ``a``."""
        d = to_device(a, self.backend)
        self._pairs.append((d, a))
        return d

    def sync(self) -> None:
        """Copy every device buffer back into its host array (no-op on the CPU)."""
        for d, a in self._pairs:
            if d is not a:
                a[...] = to_host(d, a)


def ulp_error(got: np.ndarray, ref: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """|got - ref| in units of the last place of ``dtype`` at ``ref`` (ref in float64)."""
    ref = np.asarray(ref, np.float64)
    refd = ref.astype(dtype)
    spacing = np.abs(np.spacing(refd.astype(dtype))).astype(np.float64)
    tiny = (
        np.finfo(dtype).smallest_subnormal
        if hasattr(np.finfo(dtype), "smallest_subnormal")
        else np.finfo(dtype).tiny
    )
    spacing = np.maximum(spacing, float(tiny))
    err = np.abs(got.astype(np.float64) - ref) / spacing
    both_nan = np.isnan(got.astype(np.float64)) & np.isnan(ref)
    same_inf = np.isinf(ref) & (got.astype(np.float64) == ref)
    return np.where(both_nan | same_inf, 0.0, err)


def assert_bits_equal(got: np.ndarray, ref: np.ndarray, msg: str = "") -> None:
    """Exact equality of the stored bits (NaNs included), with a readable report."""
    assert got.dtype == ref.dtype, (got.dtype, ref.dtype)
    gb = (
        got.view(f"u{got.dtype.itemsize}")
        if got.dtype.kind == "f" or got.dtype in (BF16, FP8E4, FP8E5)
        else got
    )
    rb = (
        ref.view(f"u{ref.dtype.itemsize}")
        if ref.dtype.kind == "f" or ref.dtype in (BF16, FP8E4, FP8E5)
        else ref
    )
    bad = np.nonzero(gb != rb)
    assert bad[0].size == 0, (
        f"{msg}: {bad[0].size} mismatches, first at {bad[0][:4]}: "
        f"got {got[bad][:4]}, expected {ref[bad][:4]}"
    )


# ---- Philox4x32-10, as documented for triton.language.random ------------------------------

PHILOX_KEY_A = 0x9E3779B9
PHILOX_KEY_B = 0xBB67AE85
PHILOX_ROUND_A = 0xD2511F53
PHILOX_ROUND_B = 0xCD9E8D57
M32 = 0xFFFFFFFF


def philox4x32(
    seed: int,
    c0: np.ndarray,
    c1: np.ndarray | None = None,
    c2: np.ndarray | None = None,
    c3: np.ndarray | None = None,
    n_rounds: int = 10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Philox4x32 of counters (c0..c3, uint32) under key (seed lo, seed hi): 4 uint32 arrays."""
    c = [np.asarray(c0, np.int64).astype(np.uint64) & M32]
    for x in (c1, c2, c3):
        c.append(np.zeros_like(c[0]) if x is None else np.asarray(x).astype(np.uint64) & M32)
    s = int(seed) & 0xFFFFFFFFFFFFFFFF
    k0, k1 = np.uint64(s & M32), np.uint64(s >> 32)
    a, b = np.uint64(PHILOX_ROUND_A), np.uint64(PHILOX_ROUND_B)
    m = np.uint64(M32)
    for _ in range(n_rounds):
        p0 = a * c[0]  # < 2^64: exact in uint64
        p2 = b * c[2]
        n0 = (p2 >> np.uint64(32)) ^ c[1] ^ k0
        n2 = (p0 >> np.uint64(32)) ^ c[3] ^ k1
        c = [n0 & m, p2 & m, n2 & m, p0 & m]
        k0 = (k0 + np.uint64(PHILOX_KEY_A)) & m
        k1 = (k1 + np.uint64(PHILOX_KEY_B)) & m
    return tuple(x.astype(np.uint32) for x in c)  # type: ignore[return-value]


def uint_to_uniform_float(x: np.ndarray) -> np.ndarray:
    """Triton's uint32 -> [0, 1) float32 map: fold the sign, scale by 2^-31 (in fp32)."""
    i = x.view(np.int32).astype(np.int64)
    i = np.where(i < 0, -i - 1, i)
    return i.astype(np.float32) * np.float32(4.6566127342e-10)


def pair_uniform_to_normal(u1: np.ndarray, u2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Box-Muller as triton.language.random does it (u1 clamped to 1e-7), in float64."""
    u1 = np.maximum(np.float32(1.0e-7), u1).astype(np.float64)
    th = 6.283185307179586 * u2.astype(np.float64)
    r = np.sqrt(-2.0 * np.log(u1))
    return r * np.cos(th), r * np.sin(th)
