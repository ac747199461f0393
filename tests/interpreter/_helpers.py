"""Helpers shared by the interpreter tests (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

BF16 = ml_dtypes.bfloat16


def poison(shape: Any, dtype: Any) -> np.ndarray:
    """An output buffer full of NaN (or a loud integer) so that unwritten lanes show."""
    dt = np.dtype(dtype)
    if dt.kind == "f" or dt == BF16:
        return np.full(shape, np.nan, dtype=dt)
    return np.full(shape, 0x5A, dtype=dt)
