"""Run-time scalars typed by their parameter's annotation, as Triton types them (its
``test_annotations.py``): ``v: tl.float16`` is an fp16 argument whatever the Python value,
``n: int`` an i32; and pointers moved by unsigned offsets, which Triton zero-extends."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.errors import IntegerOverflowError


def _with_annotations(**types: object) -> object:
    """Sets a function's annotations to objects (this module's own annotations are strings,
    ``from __future__ import annotations``): both forms must work."""

    def set_them(fn: object) -> object:
        fn.__annotations__ = dict(types)  # type: ignore[attr-defined]
        return fn

    return set_them


@triton.jit
@_with_annotations(v_f16=tl.float16, v_bf16=tl.bfloat16, v_f64=tl.float64)
def _store_annotated(out_ptr, v_f16, v_bf16, v_f64):
    tl.static_assert(v_f16.dtype == tl.float16)
    tl.static_assert(v_bf16.dtype == tl.bfloat16)
    tl.static_assert(v_f64.dtype == tl.float64)
    tl.store(out_ptr, v_f16.to(tl.float64))
    tl.store(out_ptr + 1, v_bf16.to(tl.float64))
    tl.store(out_ptr + 2, v_f64)


def _round_bf16(v: float) -> float:
    """``v`` rounded to bfloat16 (nearest, ties to even) through float32's bits."""
    bits = int(np.array([v], np.float32).view(np.uint32)[0])
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return float(np.array([bits], np.uint32).view(np.float32)[0])


def test_float_annotations_type_the_argument(mode: str, rng: np.random.Generator) -> None:
    for v in [*rng.standard_normal(3) * 100, float("inf"), float("nan")]:
        out = np.full(3, -7.0)
        _store_annotated[(1,)](out, float(v), float(v), float(v))
        ref = [float(np.float16(v)), _round_bf16(float(v)), float(v)]
        np.testing.assert_array_equal(out, ref)


@triton.jit
def _store_at(x_ptr, v: tl.uint8):
    tl.static_assert(v.dtype == tl.uint8)
    tl.store(x_ptr + v, v.to(tl.float32))


@triton.jit
def _store_at_i8(x_ptr, v: tl.int8):
    tl.store(x_ptr + 200 + v, v.to(tl.float32))


@pytest.mark.parametrize("v", [3, 255, 300, -1])
def test_integer_annotations_convert_as_c_does(mode: str, v: int) -> None:
    # the value wraps to the annotated width (300 -> 44, -1 -> 255), and an unsigned offset
    # moves the pointer forward (255 is x_ptr + 255, never x_ptr - 1)
    x = np.zeros(512, np.float32)
    _store_at[(1,)](x, v)
    expect = np.zeros(512, np.float32)
    expect[v % 256] = v % 256
    np.testing.assert_array_equal(x, expect)
    x[:] = 0
    _store_at_i8[(1,)](x, v)
    signed = (v + 128) % 256 - 128
    expect[:] = 0
    expect[200 + signed] = signed
    np.testing.assert_array_equal(x, expect)


@triton.jit
def _store_n(out_ptr, n: int):
    tl.static_assert(n.dtype == tl.int32)
    tl.store(out_ptr, n.to(tl.int64))


def test_int_annotation_is_int32_and_refuses_64_bit_values(mode: str) -> None:
    out = np.zeros(1, np.int64)
    _store_n[(1,)](out, -12345)
    assert out[0] == -12345
    with pytest.raises(IntegerOverflowError, match="argument 'n'"):
        _store_n[(1,)](out, 2**33 + 5)
    assert out[0] == -12345


@triton.jit
def _unknown_annotations(x_ptr: torch.Tensor, out_ptr: np.ndarray, n, B: tl.constexpr):  # noqa: F821
    offs = tl.arange(0, B)
    m = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) * 2, mask=m)


def test_other_annotations_leave_the_argument_typed_by_its_value(
    mode: str, rng: np.random.Generator
) -> None:
    x = rng.standard_normal(13).astype(np.float32)
    out = np.full(13, np.nan, np.float32)
    _unknown_annotations[(1,)](x, out, 13, B=16)
    np.testing.assert_array_equal(out, x * 2)


@triton.jit
def _offset_by(x_ptr, off, B: tl.constexpr):
    tl.store(x_ptr + off + tl.arange(0, B), tl.full((B,), 1.0, tl.float32))


@pytest.mark.parametrize("off", [np.uint8(255), np.uint16(40000), np.uint32(70000)])
def test_unsigned_scalar_offsets_move_pointers_forward(mode: str, off: np.generic) -> None:
    x = np.zeros(70016, np.float32)
    _offset_by[(1,)](x, off, B=4)
    assert np.flatnonzero(x).tolist() == list(range(int(off), int(off) + 4))


@triton.jit
def _store_scalar(out_ptr, v):
    tl.store(out_ptr, v.to(tl.float32))


def test_bfloat16_scalar_argument(mode: str, rng: np.random.Generator) -> None:
    # a NumPy bfloat16 scalar went to the compiled launcher as an integer slot (TypeError)
    ml_dtypes = pytest.importorskip("ml_dtypes")
    for v in rng.standard_normal(3) * 10:
        out = np.full(1, np.nan, np.float32)
        _store_scalar[(1,)](out, ml_dtypes.bfloat16(v))
        assert out[0] == _round_bf16(float(v))
