"""Triton's tutorial kernels 01, 02, 03 and 05 against float64 NumPy references.

Sizes are deliberately not multiples of the block sizes. Each test runs compiled and
interpreted (the ``mode`` fixture), on NumPy arrays and torch CPU tensors (``lib``).
"""

from __future__ import annotations

import numpy as np
import pytest

from tritium.runtime import host_cache
from tutorials import _host, fused_softmax, layer_norm, matmul, vector_add


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32])
def test_vector_add(mode, lib, rng, dtype) -> None:
    n = 10_007
    x = (rng.standard_normal(n) * 100).astype(dtype)
    y = (rng.standard_normal(n) * 100).astype(dtype)
    out = _host.to_numpy(vector_add.add(lib(x), lib(y)))
    ref = x.astype(np.float64) + y.astype(np.float64)
    if dtype == np.int32:
        np.testing.assert_array_equal(out, ref.astype(np.int32))
    else:
        tol = 1e-3 if dtype == np.float16 else 1e-6
        np.testing.assert_allclose(out.astype(np.float64), ref, rtol=tol, atol=tol)


def test_fused_softmax(mode, lib, rng) -> None:
    x = rng.standard_normal((123, 781)).astype(np.float32) * 3
    out = _host.to_numpy(fused_softmax.softmax(lib(x)))
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=1, keepdims=True))
    np.testing.assert_allclose(out, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)


def test_fused_softmax_strided_rows(mode, rng) -> None:
    """Rows of a wider buffer: the row stride differs from the row length."""
    base = rng.standard_normal((17, 200)).astype(np.float32)
    x = base[:, :131]
    out = fused_softmax.softmax(x)
    e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(out, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("activation", ["", "leaky_relu"])
def test_matmul(mode, lib, rng, activation) -> None:
    M, N, K = 100, 72, 80
    a = rng.standard_normal((M, K)).astype(np.float16)
    b = rng.standard_normal((K, N)).astype(np.float16)
    c = _host.to_numpy(matmul.matmul(lib(a), lib(b), activation=activation))
    ref = a.astype(np.float64) @ b.astype(np.float64)
    if activation == "leaky_relu":
        ref = np.where(ref >= 0, ref, 0.01 * ref)
    assert c.dtype == np.float16
    np.testing.assert_allclose(c.astype(np.float64), ref, rtol=2e-3, atol=1e-2)
    assert matmul.matmul_kernel.best_config is not None


def test_matmul_transposed_operand(mode, rng) -> None:
    """A non-contiguous B (a transposed view): strides carry the layout."""
    a = rng.standard_normal((33, 65)).astype(np.float16)
    b = rng.standard_normal((47, 65)).astype(np.float16).T
    c = matmul.matmul(a, b)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c.astype(np.float64), ref, rtol=2e-3, atol=1e-2)


def _layer_norm_reference(x, w, b, dy, eps):
    x, w, b, dy = (t.astype(np.float64) for t in (x, w, b, dy))
    mean = x.mean(axis=1, keepdims=True)
    rstd = 1 / np.sqrt(((x - mean) ** 2).mean(axis=1, keepdims=True) + eps)
    xhat = (x - mean) * rstd
    y = xhat * w + b
    wdy = w * dy
    c1 = (xhat * wdy).mean(axis=1, keepdims=True)
    c2 = wdy.mean(axis=1, keepdims=True)
    dx = (wdy - (xhat * c1 + c2)) * rstd
    return y, mean[:, 0], rstd[:, 0], dx, (dy * xhat).sum(axis=0), dy.sum(axis=0)


def _layer_norm_inputs(rng, M, N):
    """x (rows off zero), w, b and dy for the layer norm tests, fp32."""
    x = (-2.3 + 0.5 * rng.standard_normal((M, N))).astype(np.float32)
    w = rng.random(N).astype(np.float32)
    b = rng.random(N).astype(np.float32)
    dy = (0.1 * rng.standard_normal((M, N))).astype(np.float32)
    return x, w, b, dy


@pytest.mark.parametrize(("M", "N"), [(151, 1000), (300, 129)])
def test_layer_norm_forward_backward(mode, lib, rng, M, N) -> None:
    eps = 1e-5
    x, w, b, dy = _layer_norm_inputs(rng, M, N)
    y, mean, rstd = layer_norm.forward(lib(x), lib(w), lib(b), eps)
    dx, dw, db = layer_norm.backward(lib(dy), lib(x), lib(w), mean, rstd)
    y_ref, mean_ref, rstd_ref, dx_ref, dw_ref, db_ref = _layer_norm_reference(x, w, b, dy, eps)
    np.testing.assert_allclose(_host.to_numpy(y), y_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_host.to_numpy(mean), mean_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_host.to_numpy(rstd), rstd_ref, rtol=1e-4)
    np.testing.assert_allclose(_host.to_numpy(dx), dx_ref, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(_host.to_numpy(dw), dw_ref, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(_host.to_numpy(db), db_ref, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_host_empty_large_starts_on_huge_page(dtype) -> None:
    # from 32 MiB on, a NumPy output starts on a 2 MiB boundary (fewer page faults, see
    # _host's docstring): the view has the asked shape and dtype, is C-contiguous, poisoned
    # all through and writable up to its last element; a smaller one is a plain array
    shape = (8195, 1024 * 4 // np.dtype(dtype).itemsize + 3)
    out = _host.empty(shape, dtype, like=np.zeros(1))
    assert out.ctypes.data % (1 << 21) == 0
    assert out.shape == shape and out.dtype == dtype and out.flags.c_contiguous
    poison = np.nan if np.dtype(dtype).kind == "f" else -7
    np.testing.assert_array_equal(out, np.full(shape, poison, dtype))
    values = np.arange(out.size).reshape(shape).astype(dtype)
    out[...] = values
    np.testing.assert_array_equal(out, values)
    small = _host.empty((3, 5), dtype, like=np.zeros(1))
    assert small.shape == (3, 5) and small.base is None


def test_host_empty_just_below_32_mib_without_the_cache_is_a_plain_array(monkeypatch) -> None:
    # without the host cache a block below 32 MiB is reused from glibc's heap; 2 MiB of padding
    # would lift this one over glibc's mmap threshold, to be mapped and faulted afresh each call
    monkeypatch.setenv("TRITIUM_HOST_CACHE_BYTES", "0")
    out = _host.empty((8191, 1024), np.float32, like=np.zeros(1))
    assert out.nbytes < 1 << 25 and out.base is None


@pytest.mark.parametrize("like", ["numpy", "torch"])
def test_host_empty_poisons_a_reused_block(monkeypatch, rng, like) -> None:
    # from 16 MiB on, an output's block comes back from the host cache with what its last user
    # wrote: poisoned again, so a kernel that writes nothing cannot pass with a stale result
    monkeypatch.delenv("TRITIUM_HOST_CACHE_BYTES", raising=False)
    host_cache.empty_cache()
    lib = np.zeros(1) if like == "numpy" else pytest.importorskip("torch").zeros(1)
    out = _host.to_numpy(_host.empty((1024, 4096), np.float32, like=lib))
    address = out.ctypes.data
    out[...] = rng.standard_normal(out.shape)
    del out
    again = _host.to_numpy(_host.empty((1024, 4096), np.float32, like=lib))
    assert again.ctypes.data == address
    assert np.isnan(again).all()


@pytest.mark.parametrize("name", ["float32", "bfloat16", "int16"])
def test_host_empty_large_tensor_starts_on_huge_page(name) -> None:
    # a CPU tensor from 32 MiB on lies over such a NumPy block (torch's allocator would map it
    # in 4 KiB pages): a plain tensor of the asked shape and dtype, poisoned, writable
    torch = pytest.importorskip("torch")
    dtype = getattr(torch, name)
    shape = (8195, 1024 * 4 // dtype.itemsize + 3)
    out = _host.empty(shape, dtype, like=torch.zeros(1))
    assert out.data_ptr() % (1 << 21) == 0
    assert out.shape == shape and out.dtype == dtype and out.is_contiguous()
    assert out.device.type == "cpu"
    poisoned = torch.isnan(out) if dtype.is_floating_point else out == -7
    assert bool(poisoned.all())
    values = torch.arange(out.numel()).reshape(shape).to(dtype)
    out.copy_(values)
    assert torch.equal(out, values)
    small = _host.empty((3, 5), dtype, like=torch.zeros(1))
    assert small.shape == (3, 5) and small.dtype == dtype


def test_layer_norm_forward_backward_large_outputs(lib, rng) -> None:
    # y and dx above 32 MiB (on 2 MiB boundaries), partial rows of dw and db not zeroed: every
    # output poisoned, compiled, against a float64 reference
    M, N, eps = 2050, 4100, 1e-5
    x, w, b, dy = _layer_norm_inputs(rng, M, N)
    y, mean, rstd = layer_norm.forward(lib(x), lib(w), lib(b), eps)
    dx, dw, db = layer_norm.backward(lib(dy), lib(x), lib(w), mean, rstd)
    y, dx, dw, db = (_host.to_numpy(t) for t in (y, dx, dw, db))
    assert y.ctypes.data % (1 << 21) == 0 and dx.ctypes.data % (1 << 21) == 0
    y_ref, _, _, dx_ref, dw_ref, db_ref = _layer_norm_reference(x, w, b, dy, eps)
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(db, db_ref, rtol=1e-3, atol=1e-3)


def test_layer_norm_functions_on_reused_outputs(rng) -> None:
    # called again, forward and backward take y's and dx's blocks back from the host cache (a
    # softmax output in between wants the same size); every call's results against float64
    M, N, eps = 1030, 4100, 1e-5
    host_cache.empty_cache()
    for _ in range(3):
        x, w, b, dy = _layer_norm_inputs(rng, M, N)
        y, mean, rstd = layer_norm.forward(x, w, b, eps)
        dx, dw, db = layer_norm.backward(dy, x, w, mean, rstd)
        y_ref, _, _, dx_ref, dw_ref, db_ref = _layer_norm_reference(x, w, b, dy, eps)
        np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(dx, dx_ref, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(dw, dw_ref, rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(db, db_ref, rtol=1e-3, atol=1e-3)
        s = fused_softmax.softmax(x)
        e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
        np.testing.assert_allclose(s, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)
        del y, dx, s
        assert host_cache.cached_bytes() > 0
