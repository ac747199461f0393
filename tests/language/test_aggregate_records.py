"""``@triton.aggregate`` records (Triton's): fields from annotations (aggregate bases first),
a generated constructor with defaults, plain values stored as constexpr, frozen after
construction, ``tl.aggregate_replace`` for modified copies; and one used inside a kernel."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.language.aggregates import _aggregate as aggregate


@aggregate
class _Base:
    scale: tl.constexpr
    bias: tl.constexpr = tl.constexpr(1)


@aggregate
class _Affine(_Base):
    x: tl.tensor


def test_constructor_fields_defaults_and_inheritance() -> None:
    a = _Affine(3, x=None)
    assert _Affine.__aggregate_fields__ == ("scale", "bias", "x")
    assert isinstance(a.scale, tl.constexpr) and a.scale.value == 3 and a.bias.value == 1
    with pytest.raises(TypeError, match="missing required argument: 'scale'"):
        _Affine(x=None)
    with pytest.raises(TypeError, match="unexpected keyword argument 'w'"):
        _Affine(1, 2, None, w=0)

    class Plain:
        pass

    with pytest.raises(TypeError, match="Aggregates can only inherit from other aggregates"):

        @aggregate
        class Bad(Plain):
            y: tl.constexpr


def test_tuples_frozen_fields_and_replace() -> None:
    class Shape(NamedTuple):
        m: int
        n: int

    @aggregate
    class State:
        shape: tl.tuple
        k: tl.constexpr

    s = State(Shape(4, 8), 2)
    assert isinstance(s.shape, tl.tuple) and s.shape.n.value == 8 and s.shape[0].value == 4
    with pytest.raises(AttributeError, match="cannot assign to field 'k' on immutable aggregate"):
        s.k = tl.constexpr(5)
    t = tl.aggregate_replace(s, k=7)
    assert t.k.value == 7 and s.k.value == 2 and t.shape == s.shape
    with pytest.raises(TypeError, match="has no field 'z'"):
        tl.aggregate_replace(s, z=1)
    with pytest.raises(TypeError, match="expects an aggregate instance"):
        tl.aggregate_replace(42, k=1)


@triton.jit
def _use_record(X, OUT, N: tl.constexpr):
    r = _Affine(2, x=tl.load(X + tl.arange(0, N)))
    r2 = tl.aggregate_replace(r, bias=5)
    tl.store(OUT + tl.arange(0, N), r2.x * r2.scale + r2.bias)


@pytest.mark.parametrize("interpret", [False, True])
def test_a_record_inside_a_kernel(interpret: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITIUM_INTERPRET", "1" if interpret else "0")
    x = np.random.default_rng(3).standard_normal(16).astype(np.float32)
    out = np.full(16, np.nan, np.float32)
    _use_record[(1,)](x, out, N=16)
    np.testing.assert_array_equal(out, x * np.float32(2) + np.float32(5))
