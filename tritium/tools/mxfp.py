"""OCP microscaling (MX) data on the host, as Triton's ``triton.tools.mxfp`` offers it.

``MXFP4Tensor`` holds 4-bit E2M1 codes (one per uint8, bit 3 the sign, bits 2-1 the exponent,
bit 0 the mantissa; magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6) and packs two per byte along a
dimension, the even element in the low nibble. ``MXScaleTensor`` holds E8M0 block scales (a
biased power-of-two exponent, 255 meaning NaN). Both convert from and to float32 torch tensors.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MXFP4Tensor", "MXScaleTensor"]

#: E2M1 magnitudes by the 3-bit code (exponent and mantissa bits).
_E2M1 = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


def _size(size: Any) -> tuple[int, ...]:
    return tuple(size) if isinstance(size, (tuple, list)) else (int(size),)


class MXFP4Tensor:
    """E2M1 values, one code per uint8 element of ``data``."""

    def __init__(self, data: Any = None, size: Any = None, device: Any = None) -> None:
        self.device = device
        if data is not None:
            self.device = data.device
            self.data = self._from_float(data)
            self.size = tuple(data.shape)
        elif size is not None:
            self.size = _size(size)
        else:
            raise ValueError("MXFP4Tensor: give data (a float32 tensor) or size")

    def random(self) -> MXFP4Tensor:
        """Uniformly random codes (every sign, exponent and mantissa)."""
        import torch

        self.data = torch.randint(0, 16, self.size, dtype=torch.uint8, device=self.device)
        return self

    def to(self, dtype: Any) -> Any:
        """The values as float32 (the only type supported)."""
        import torch

        if dtype != torch.float32:
            raise ValueError("MXFP4Tensor.to: only torch.float32 is supported")
        table = torch.tensor(_E2M1, dtype=torch.float32, device=self.data.device)
        magnitude = table[(self.data & 0x7).long()]
        return torch.where((self.data & 0x8) != 0, -magnitude, magnitude)

    def _from_float(self, values: Any) -> Any:
        """Codes of the nearest E2M1 values (ties to the even code), saturating at 6; NaN
        becomes 0 (E2M1 has no NaN)."""
        import torch

        v = values.float()
        mag = torch.nan_to_num(v.abs(), nan=0.0).clamp(max=6.0)
        mids = torch.tensor(
            [(a + b) / 2 for a, b in zip(_E2M1, _E2M1[1:])], dtype=torch.float32, device=v.device
        )
        lower = torch.searchsorted(mids, mag, right=False)  # at a midpoint: the lower code
        upper = torch.searchsorted(mids, mag, right=True)
        code = torch.where((lower != upper) & (lower % 2 == 1), upper, lower)
        sign = (torch.signbit(v) & ~torch.isnan(v)).to(torch.uint8) << 3
        return code.to(torch.uint8) | sign

    def to_packed_tensor(self, dim: int) -> Any:
        """Two codes per byte along ``dim`` (odd lengths padded with a zero code)."""
        import torch

        data = self.data
        if not 0 <= dim < data.ndim:
            raise ValueError(f"to_packed_tensor: dim {dim} out of range for {data.ndim} dims")
        if data.shape[dim] % 2:
            pad = torch.zeros_like(data.narrow(dim, 0, 1))
            data = torch.cat([data, pad], dim=dim)
        shape = list(data.shape)
        pairs = data.reshape(shape[:dim] + [shape[dim] // 2, 2] + shape[dim + 1 :])
        low, high = pairs.select(dim + 1, 0), pairs.select(dim + 1, 1)
        return (low | (high << 4)).to(torch.uint8)

    def unpack_packed_tensor(self, packed_tensor: Any, dim: int, original_shape: Any) -> Any:
        """The codes of :meth:`to_packed_tensor`'s result, cut to ``original_shape``."""
        import torch

        low, high = packed_tensor & 0x0F, (packed_tensor >> 4) & 0x0F
        both = torch.stack((low, high), dim=dim + 1)
        shape = list(packed_tensor.shape)
        data = both.reshape(shape[:dim] + [shape[dim] * 2] + shape[dim + 1 :])
        return data.narrow(dim, 0, int(original_shape[dim])).to(torch.uint8)


class MXScaleTensor:
    """E8M0 block scales, one biased exponent per uint8 element of ``data``."""

    def __init__(self, data: Any = None, size: Any = None, device: Any = None) -> None:
        self.device = device
        if data is not None:
            self.device = data.device
            self.data = self._from_float(data)
            self.size = tuple(data.shape)
        elif size is not None:
            self.size = _size(size)
        else:
            raise ValueError("MXScaleTensor: give data (a float32 tensor) or size")

    def random(self, low: float | None = None, high: float | None = None) -> MXScaleTensor:
        """Random exponents for scales in ``[low, high]`` (default: all but NaN)."""
        import math

        import torch

        lo = 0 if low is None else max(0, math.floor(math.log2(low)) + 127)
        hi = 254 if high is None else min(254, max(0, math.floor(math.log2(high)) + 127))
        if lo > hi:
            raise ValueError("MXScaleTensor.random: low must not exceed high")
        self.data = torch.randint(lo, hi + 1, self.size, dtype=torch.uint8, device=self.device)
        return self

    def to(self, dtype: Any) -> Any:
        """The scales as float32 (the only type supported); code 255 is NaN."""
        import torch

        if dtype != torch.float32:
            raise ValueError("MXScaleTensor.to: only torch.float32 is supported")
        e = self.data.to(torch.float32)
        value = torch.exp2(e - 127)
        return torch.where(self.data == 255, torch.full_like(value, float("nan")), value)

    def _from_float(self, values: Any) -> Any:
        """The exponent of each value rounded down to a power of two, clamped to [2^-127,
        2^127]; zero, negative and non-finite values become NaN (255)."""
        import torch

        v = values.float()
        bad = ~torch.isfinite(v) | (v <= 0)
        e = torch.floor(torch.log2(torch.where(bad, torch.ones_like(v), v))) + 127
        code = e.clamp(0, 254).to(torch.uint8)
        return torch.where(bad, torch.full_like(code, 255), code)
