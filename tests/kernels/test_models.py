"""Model kernels users deploy on CPU servers: RMSNorm, SwiGLU, flash attention, W8A8 matmul.

Each test runs compiled and interpreted (``mode``), on NumPy arrays and torch CPU tensors
(``lib``), against float64 NumPy references on fresh random inputs. Outputs are poisoned (the
``_poison`` fixture of conftest.py), sizes are not multiples of the blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from tutorials import _host, attention, matmul_int8, rms_norm, swiglu

BF16 = np.dtype(ml_dtypes.bfloat16)

#: Relative tolerance per input dtype: a few roundings of the output dtype.
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float16): 2e-3, BF16: 1.6e-2}

DTYPES = [np.float32, np.float16, BF16]


def _to_lib(lib: Callable[[np.ndarray], Any], a: np.ndarray) -> Any:
    """``lib(a)``, also for bfloat16, which torch cannot take from NumPy directly."""
    if a.dtype != BF16:
        return lib(a)
    t = lib(np.ascontiguousarray(a).view(np.uint16))
    if _host.is_torch(t):
        import torch

        return t.view(torch.bfloat16)
    return t.view(BF16)


def _f64(x: Any) -> np.ndarray:
    """A float64 NumPy copy of an array or CPU tensor of any float dtype."""
    if _host.is_torch(x):
        return x.double().numpy()
    return np.asarray(x).astype(np.float64)


def _dtype_name(x: Any) -> str:
    return str(x.dtype).removeprefix("torch.")


def _assert_close(got: Any, ref: np.ndarray, dtype: np.dtype) -> None:
    """Compare against a float64 reference, scaled by the reference's magnitude."""
    rtol = RTOL[np.dtype(dtype)]
    np.testing.assert_allclose(_f64(got), ref, rtol=rtol, atol=rtol * np.abs(ref).max())


# ---------------------------------------------------------------------------------------------
# RMSNorm
# ---------------------------------------------------------------------------------------------


def _rms_norm_ref(x: np.ndarray, w: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    rstd = 1 / np.sqrt((x64 * x64).mean(axis=1) + eps)
    return x64 * rstd[:, None] * w64, rstd


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "fp16", "bf16"])
def test_rms_norm(mode, lib, rng, dtype) -> None:
    M, N, eps = 37, 1001, 1e-6
    x = (rng.standard_normal((M, N)) * 2 + 0.5).astype(dtype)
    w = rng.standard_normal(N).astype(dtype)
    y, rstd = rms_norm.rms_norm(_to_lib(lib, x), _to_lib(lib, w), eps)
    y_ref, rstd_ref = _rms_norm_ref(x, w, eps)
    assert _dtype_name(y) == np.dtype(dtype).name
    _assert_close(y, y_ref, dtype)
    np.testing.assert_allclose(_f64(rstd), rstd_ref, rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, BF16], ids=["fp32", "bf16"])
def test_rms_norm_fused_residual(mode, lib, rng, dtype) -> None:
    """``residual += x`` in place (rounded to its dtype), then the norm of the new residual."""
    M, N, eps = 23, 777, 1e-5
    x = rng.standard_normal((M, N)).astype(dtype)
    res = (rng.standard_normal((M, N)) * 3).astype(dtype)
    w = rng.standard_normal(N).astype(dtype)
    res_lib = _to_lib(lib, res.copy())
    y, rstd = rms_norm.rms_norm(_to_lib(lib, x), _to_lib(lib, w), eps, residual=res_lib)
    new_res = (x.astype(np.float32) + res.astype(np.float32)).astype(dtype)
    y_ref, rstd_ref = _rms_norm_ref(new_res, w, eps)
    np.testing.assert_array_equal(_f64(res_lib), new_res.astype(np.float64))
    _assert_close(y, y_ref, dtype)
    np.testing.assert_allclose(_f64(rstd), rstd_ref, rtol=1e-5)


def test_rms_norm_long_rows_and_strides(mode, rng, monkeypatch) -> None:
    """Rows longer than the column tile (the loop over blocks) of a strided view."""
    monkeypatch.setattr(rms_norm, "MAX_BLOCK_N", 128)
    base = rng.standard_normal((19, 700)).astype(np.float32)
    x = base[:, 3:600]
    w = rng.random(x.shape[1]).astype(np.float32)
    y, rstd = rms_norm.rms_norm(x, w, 1e-5)
    y_ref, rstd_ref = _rms_norm_ref(x, w, 1e-5)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rstd, rstd_ref, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# SwiGLU
# ---------------------------------------------------------------------------------------------


def _silu(a: np.ndarray) -> np.ndarray:
    return a / (1 + np.exp(-a))


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "fp16", "bf16"])
def test_swiglu_fused_projection(mode, lib, rng, dtype) -> None:
    """``[M, 2N]`` input: gate and up are strided views of one buffer."""
    M, N = 29, 1500
    x = (rng.standard_normal((M, 2 * N)) * 3).astype(dtype)
    h = swiglu.swiglu_fused(_to_lib(lib, x))
    x64 = x.astype(np.float64)
    assert _dtype_name(h) == np.dtype(dtype).name
    assert tuple(h.shape) == (M, N)
    _assert_close(h, _silu(x64[:, :N]) * x64[:, N:], dtype)


def test_swiglu_separate_inputs(mode, rng) -> None:
    gate = (rng.standard_normal((5, 4099)) * 4).astype(np.float32)
    up = rng.standard_normal((5, 4099)).astype(np.float32)
    h = swiglu.swiglu(gate, up)
    ref = _silu(gate.astype(np.float64)) * up
    np.testing.assert_allclose(h, ref, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Flash attention forward
# ---------------------------------------------------------------------------------------------


def _attention_ref(q, k, v, causal: bool, sm_scale: float) -> np.ndarray:
    q, k, v = (t.astype(np.float64) for t in (q, k, v))
    s = q @ np.swapaxes(k, -1, -2) * sm_scale
    if causal:
        n = q.shape[-2]
        s = np.where(np.tril(np.ones((n, n), dtype=bool)), s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return (p / p.sum(axis=-1, keepdims=True)) @ v


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "fp16", "bf16"])
def test_attention(mode, lib, rng, dtype, causal) -> None:
    B, H, N, D = 2, 3, 77, 32
    q, k, v = (rng.standard_normal((B, H, N, D)).astype(dtype) for _ in range(3))
    out = attention.attention(*(_to_lib(lib, t) for t in (q, k, v)), causal=causal)
    assert _dtype_name(out) == np.dtype(dtype).name
    _assert_close(out, _attention_ref(q, k, v, causal, D**-0.5), dtype)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize(
    "config", attention._attn_fwd.configs, ids=lambda c: "M{BLOCK_M}_N{BLOCK_N}".format(**c.kwargs)
)
def test_attention_every_config(mode, rng, config, causal) -> None:
    """Each autotuning candidate is right, not just the one the tuner happens to pick."""
    B, H, N, D = 1, 2, 100, 16
    q, k, v = (rng.standard_normal((B, H, N, D)).astype(np.float32) for _ in range(3))
    out = attention.launch(attention._attn_fwd.fn, q, k, v, causal, None, **config.kwargs)
    np.testing.assert_allclose(out, _attention_ref(q, k, v, causal, D**-0.5), rtol=1e-5, atol=1e-5)


def test_attention_grouped_query(mode, lib, rng) -> None:
    """GQA: 6 query heads over 2 key/value heads (each k/v head serves 3 query heads)."""
    B, H, H_KV, N, D = 2, 6, 2, 45, 32
    q = rng.standard_normal((B, H, N, D)).astype(np.float32)
    k, v = (rng.standard_normal((B, H_KV, N, D)).astype(np.float32) for _ in range(2))
    out = attention.attention(lib(q), lib(k), lib(v), causal=True)
    k_rep, v_rep = (np.repeat(t, H // H_KV, axis=1) for t in (k, v))
    np.testing.assert_allclose(
        _f64(out), _attention_ref(q, k_rep, v_rep, True, D**-0.5), rtol=1e-5, atol=1e-5
    )


def _decode_ref(q, k, v, lens, scale: float) -> np.ndarray:
    B, H, D = q.shape
    group = H // k.shape[1]
    out = np.zeros((B, H, D))
    for b in range(B):
        for h in range(H):
            kk, vv = (t[b, h // group, : lens[b]].astype(np.float64) for t in (k, v))
            s = kk @ q[b, h].astype(np.float64) * scale
            p = np.exp(s - s.max())
            out[b, h] = p @ vv / p.sum()
    return out


@pytest.mark.parametrize("num_splits", [None, 4], ids=["auto_splits", "4_splits"])
@pytest.mark.parametrize("dtype", [np.float32, BF16], ids=["fp32", "bf16"])
def test_decode_attention(mode, lib, rng, dtype, num_splits) -> None:
    """One query token per sequence over a GQA KV cache with ragged lengths (one of length 1,
    so some splits are empty)."""
    B, H, H_KV, N, D = 3, 8, 2, 200, 32
    q = rng.standard_normal((B, H, D)).astype(dtype)
    k, v = (rng.standard_normal((B, H_KV, N, D)).astype(dtype) for _ in range(2))
    lens = np.array([N, 1, 77], np.int32)
    out = attention.decode_attention(
        *(_to_lib(lib, t) for t in (q, k, v, lens)), num_splits=num_splits
    )
    assert _dtype_name(out) == np.dtype(dtype).name
    _assert_close(out, _decode_ref(q, k, v, lens, D**-0.5), dtype)


@pytest.mark.parametrize("min_rows", [1, 16])
def test_decode_attention_multi_head(mode, rng, monkeypatch, min_rows) -> None:
    """Plain multi-head attention (one query head per KV head: one-row dot tiles, or 16 rows
    as a GPU would use) with a block size that divides neither the cache nor the splits."""
    monkeypatch.setattr(attention, "MIN_BLOCK_G", min_rows)
    B, H, N, D = 2, 3, 50, 16
    q = rng.standard_normal((B, H, D)).astype(np.float32)
    k, v = (rng.standard_normal((B, H, N, D)).astype(np.float32) for _ in range(2))
    lens = np.array([N, 33], np.int32)
    ref = _decode_ref(q, k, v, lens, 0.3)
    out = attention.decode_attention(q, k, v, lens, sm_scale=0.3, block_n=16, num_splits=2)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_attention_strided_heads(mode, rng) -> None:
    """q, k, v as [B, N, H, D] buffers viewed as [B, H, N, D] (strides, not copies), with a
    sharp softmax (large scale) so the running maximum changes across key blocks."""
    B, H, N, D = 1, 2, 130, 64
    q, k, v = (
        rng.standard_normal((B, N, H, D)).astype(np.float32).transpose(0, 2, 1, 3) for _ in range(3)
    )
    out = attention.attention(q, k, v, causal=True, sm_scale=0.6)
    np.testing.assert_allclose(out, _attention_ref(q, k, v, True, 0.6), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# W8A8 int8 matmul
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("out_dtype", [np.float32, np.float16], ids=["fp32", "fp16"])
def test_matmul_int8(mode, lib, rng, out_dtype) -> None:
    """int32 accumulation is exact; only the fp32 dequantization and the output round."""
    M, N, K = 100, 72, 300
    a, a_scale = matmul_int8.quantize_rows(rng.standard_normal((M, K)))
    bt, b_scale = matmul_int8.quantize_rows(rng.standard_normal((N, K)))
    b = bt.T  # [K, N] with a column stride: weights stored per output channel
    c = matmul_int8.matmul_int8(lib(a), lib(b), lib(a_scale), lib(b_scale), out_dtype=out_dtype)
    ref = (a.astype(np.float64) @ b.astype(np.float64)) * a_scale[:, None] * b_scale[None, :]
    assert _dtype_name(c) == np.dtype(out_dtype).name
    rtol = 1e-6 if out_dtype == np.float32 else 1e-3
    np.testing.assert_allclose(_f64(c), ref, rtol=rtol, atol=rtol * np.abs(ref).max())


@pytest.mark.parametrize(
    "config", matmul_int8.matmul_int8_kernel.configs, ids=lambda c: "K{BLOCK_K}".format(**c.kwargs)
)
def test_matmul_int8_extreme_values(mode, rng, config) -> None:
    """All +-127 products: the int32 sums reach K * 127^2 without overflow or rounding; every
    autotuning candidate, with a K that is not a multiple of any BLOCK_K."""
    M, N, K = 33, 17, 1000
    a = rng.choice(np.array([-127, 127], np.int8), size=(M, K))
    b = rng.choice(np.array([-127, 127], np.int8), size=(K, N))
    ones_m, ones_n = np.ones(M, np.float32), np.ones(N, np.float32)
    kernel = matmul_int8.matmul_int8_kernel.fn
    c = matmul_int8.matmul_int8(a, b, ones_m, ones_n, kernel=kernel, **config.kwargs)
    np.testing.assert_array_equal(c, (a.astype(np.int64) @ b.astype(np.int64)).astype(np.float32))
