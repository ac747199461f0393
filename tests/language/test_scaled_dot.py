"""dot_scaled by upcasting (tritium.language.scaled_dot), on a NumPy engine."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import tritium.language as tl
from tritium.language import scaled_dot
from tritium.language.core import engine_scope

from .numpy_engine import NumpyEngine, tensor_of

E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], dtype=np.float64)
E2M1 = np.concatenate([E2M1, -E2M1])


@pytest.fixture
def engine():
    with engine_scope(NumpyEngine()) as e:
        yield e


def _pack(codes: np.ndarray, axis: int) -> np.ndarray:
    """Pack 4-bit codes two per byte along ``axis``, the first in the low nibble."""
    lo = np.take(codes, np.arange(0, codes.shape[axis], 2), axis=axis)
    hi = np.take(codes, np.arange(1, codes.shape[axis], 2), axis=axis)
    return (lo | (hi << 4)).astype(np.uint8)


def test_decode_e2m1_covers_every_code(engine) -> None:
    out = scaled_dot.decode_e2m1(tensor_of(np.arange(16, dtype=np.int32)))
    np.testing.assert_array_equal(out.handle, E2M1.astype(np.float32))


@pytest.mark.parametrize("lhs_k_pack", [True, False])
@pytest.mark.parametrize("rhs_k_pack", [True, False])
def test_fp4_operands_with_scales(engine, lhs_k_pack: bool, rhs_k_pack: bool) -> None:
    rng = np.random.default_rng(int(lhs_k_pack) * 2 + int(rhs_k_pack))
    m, n, k = 16, 16, 64
    a_codes = rng.integers(0, 16, size=(m, k)).astype(np.uint8)
    b_codes = rng.integers(0, 16, size=(k, n)).astype(np.uint8)
    a_scale = rng.integers(120, 134, size=(m, k // 32)).astype(np.uint8)
    b_scale = rng.integers(120, 134, size=(n, k // 32)).astype(np.uint8)
    a_packed = _pack(a_codes, 1 if lhs_k_pack else 0)
    b_packed = _pack(b_codes, 0 if rhs_k_pack else 1)
    acc = rng.standard_normal((m, n)).astype(np.float32)
    out = scaled_dot.dot_scaled_by_upcast(
        tensor_of(a_packed),
        tensor_of(a_scale),
        "e2m1",
        tensor_of(b_packed),
        tensor_of(b_scale),
        "e2m1",
        tensor_of(acc),
        False,
        lhs_k_pack,
        rhs_k_pack,
        tl.float32,
    )
    a = E2M1[a_codes] * np.exp2(np.repeat(a_scale.astype(np.float64), 32, axis=1) - 127)
    b = E2M1[b_codes] * np.exp2(np.repeat(b_scale.astype(np.float64), 32, axis=1) - 127).T
    np.testing.assert_allclose(out.handle, a @ b + acc, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("fmt", "np_type"), [("e4m3", ml_dtypes.float8_e4m3fn), ("e5m2", ml_dtypes.float8_e5m2)]
)
@pytest.mark.parametrize("as_bits", [False, True])
def test_fp8_operands(engine, fmt: str, np_type, as_bits: bool) -> None:
    rng = np.random.default_rng(7)
    a = rng.standard_normal((16, 32)).astype(np_type)
    b = rng.standard_normal((32, 16)).astype(np_type)
    lhs = tensor_of(a.view(np.uint8)) if as_bits else tensor_of(a)
    out = scaled_dot.dot_scaled_by_upcast(
        lhs, None, fmt, tensor_of(b), None, fmt, None, False, True, True, tl.float16
    )
    ref = a.astype(np.float64) @ b.astype(np.float64)
    assert out.handle.dtype == np.float16
    np.testing.assert_allclose(out.handle.astype(np.float64), ref, rtol=2e-3, atol=1e-2)


def test_bf16_lhs_with_scale_nan(engine) -> None:
    a = np.ones((16, 32), dtype=ml_dtypes.bfloat16)
    b = np.ones((32, 16), dtype=ml_dtypes.bfloat16)
    a_scale = np.full((16, 1), 127, dtype=np.uint8)
    a_scale[3] = 255  # e8m0 NaN
    out = scaled_dot.dot_scaled_by_upcast(
        tensor_of(a),
        tensor_of(a_scale),
        "bf16",
        tensor_of(b),
        None,
        "bf16",
        None,
        False,
        True,
        True,
        tl.float32,
    ).handle
    assert np.isnan(out[3]).all() and (np.delete(out, 3, axis=0) == 32).all()
