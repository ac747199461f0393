"""2-D loads and stores contiguous along the first dimension (Inductor's NCHW <-> NHWC
copies around convolutions), which the CPU backend lowers through 8 x 8 register transposes
(``backends/cpu/transpose.py``). Compiled and interpreted, fresh random inputs, poisoned
outputs, tails masked off in both dimensions; moduli that are not multiples of 8 take the
ordinary path and must agree too."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.backends.cpu import transpose


@triton.jit
def _to_channels_last(in_ptr, out_ptr, ynumel, xnumel, C: tl.constexpr, HW: tl.constexpr,
                      YBLOCK: tl.constexpr, XBLOCK: tl.constexpr):  # fmt: skip
    # Inductor's triton_poi_fused_convolution_0: y = n * C + c, x = h * W + w
    yindex = tl.program_id(1) * YBLOCK + tl.arange(0, YBLOCK)[:, None]
    ymask = yindex < ynumel
    xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[None, :]
    xmask = xindex < xnumel
    y0 = yindex % C
    y1 = yindex // C
    tmp0 = tl.load(in_ptr + (xindex + HW * yindex), xmask & ymask)
    tl.store(out_ptr + (y0 + C * xindex + C * HW * y1), tmp0 * 2, xmask & ymask)


@triton.jit
def _from_channels_last(res_ptr, in_ptr, scale_ptr, out_ptr, ynumel, xnumel, C: tl.constexpr,
                        HW: tl.constexpr, YBLOCK: tl.constexpr, XBLOCK: tl.constexpr):  # fmt: skip
    # Inductor's batch-norm + add + relu after the second convolution: in_ptr is NHWC
    yindex = tl.program_id(1) * YBLOCK + tl.arange(0, YBLOCK)[:, None]
    ymask = yindex < ynumel
    xindex = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[None, :]
    xmask = xindex < xnumel
    y0 = yindex % C
    y1 = yindex // C
    res = tl.load(res_ptr + (xindex + HW * yindex), xmask & ymask)
    t = tl.load(in_ptr + (y0 + C * xindex + C * HW * y1), xmask & ymask, other=-3.0)
    s = tl.load(scale_ptr + y0, ymask)
    out = tl.maximum(res + t * s, -1.5)
    tl.store(out_ptr + (xindex + HW * yindex), out, xmask & ymask)


@triton.jit
def _int_transpose(a_ptr, out_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    # out = a.T + 1 for int32 [M, N] a, other=-7 under the mask (read back through the mask)
    rows = tl.program_id(0) * BM + tl.arange(0, BM)[:, None]
    cols = tl.program_id(1) * BN + tl.arange(0, BN)[None, :]
    m = (rows < M) & (cols < N)
    v = tl.load(a_ptr + rows + cols * M, m, other=-7)  # a stored transposed: [N, M]
    tl.store(out_ptr + rows * N + cols, v + 1, m)


def _grid(ynumel: int, xnumel: int, yb: int, xb: int) -> tuple[int, int]:
    return (triton.cdiv(xnumel, xb), triton.cdiv(ynumel, yb))


@pytest.mark.parametrize("shape", [(2, 32, 64), (3, 16, 40), (2, 12, 24), (1, 8, 8)])
@pytest.mark.parametrize("blocks", [(32, 32), (16, 64), (64, 16)])
def test_to_channels_last(mode: str, rng: np.random.Generator, shape, blocks) -> None:
    n, c, hw = shape
    x = rng.standard_normal((n, c, hw)).astype(np.float32)
    out = np.full(n * hw * c, np.nan, np.float32)
    yb, xb = blocks
    _to_channels_last[_grid(n * c, hw, yb, xb)](x, out, n * c, hw, C=c, HW=hw, YBLOCK=yb, XBLOCK=xb)
    np.testing.assert_array_equal(out.reshape(n, hw, c), 2 * x.transpose(0, 2, 1))


@pytest.mark.parametrize("shape", [(2, 32, 64), (3, 16, 40), (2, 12, 24)])
@pytest.mark.parametrize("blocks", [(32, 32), (64, 16)])
def test_from_channels_last(mode: str, rng: np.random.Generator, shape, blocks) -> None:
    n, c, hw = shape
    res = rng.standard_normal((n, c, hw)).astype(np.float32)
    nhwc = rng.standard_normal((n, hw, c)).astype(np.float32)
    scale = rng.standard_normal(c).astype(np.float32)
    out = np.full(res.size, np.nan, np.float32)
    yb, xb = blocks
    _from_channels_last[_grid(n * c, hw, yb, xb)](
        res, nhwc, scale, out, n * c, hw, C=c, HW=hw, YBLOCK=yb, XBLOCK=xb
    )
    t = nhwc.transpose(0, 2, 1).astype(np.float64)
    want = np.maximum(res + t * scale[None, :, None].astype(np.float64), -1.5)
    np.testing.assert_allclose(out.reshape(res.shape), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mn", [(64, 48), (37, 21), (8, 8)])
def test_int32_masked_transpose(mode: str, rng: np.random.Generator, mn) -> None:
    m, n = mn
    a_t = rng.integers(-(2**30), 2**30, (n, m)).astype(np.int32)  # a.T in memory
    out = np.full(m * n, -123456, np.int32)
    _int_transpose[(triton.cdiv(m, 32), triton.cdiv(n, 16))](a_t, out, m, n, BM=32, BN=16)
    np.testing.assert_array_equal(out.reshape(m, n), a_t.T + 1)


def record_block_paths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Compile every launch and note in the returned list each access lowered through the
    8 x 8 blocks (``"store"``/``"load"``), as it is emitted."""
    monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    monkeypatch.setenv("TRITIUM_ALWAYS_COMPILE", "1")
    calls: list[str] = []
    for kind in ("store", "load"):
        real = getattr(transpose, f"transposed_{kind}")

        def noted(*a, _kind=kind, _real=real, **k):  # noqa: ANN002, ANN003, ANN202
            calls.append(_kind)
            return _real(*a, **k)

        monkeypatch.setattr(transpose, f"transposed_{kind}", noted)
    return calls


def test_the_block_path_is_taken(monkeypatch: pytest.MonkeyPatch, rng) -> None:
    """The kernels above go through the 8 x 8 blocks when compiled (channel counts that are
    multiples of 8), and not when the modulus is not (C = 12): the checks above then cover
    both paths."""
    calls = record_block_paths(monkeypatch)
    # (block sizes that the tests above do not use: each launch compiles here)
    for c, want in ((16, ["store"]), (12, [])):
        calls.clear()
        x = rng.standard_normal((2, c, 16)).astype(np.float32)
        out = np.full(x.size, np.nan, np.float32)
        _to_channels_last[_grid(2 * c, 16, 16, 16)](
            x, out, 2 * c, 16, C=c, HW=16, YBLOCK=16, XBLOCK=16
        )
        assert calls == want
        np.testing.assert_array_equal(out.reshape(2, 16, c), 2 * x.transpose(0, 2, 1))
    calls.clear()
    a_t = rng.integers(-100, 100, (16, 32)).astype(np.int32)
    out = np.full(a_t.size, 0, np.int32)
    _int_transpose[(2, 1)](a_t, out, 32, 16, BM=16, BN=16)  # a specialization of its own
    assert calls == ["load"]
    np.testing.assert_array_equal(out.reshape(32, 16), a_t.T + 1)
