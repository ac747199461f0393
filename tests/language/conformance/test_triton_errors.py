"""Errors Triton raises, raised the same way: a ``TritiumError`` (Triton's ``TritonError``)
whose ``__cause__`` is the builtin's error with Triton's wording, in both engines."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

from ._helpers import Buffers


@triton.jit
def _bad_pid(X):
    tl.store(X, tl.program_id(20))


@triton.jit
def _bad_expand(X, N: tl.constexpr):
    tl.store(X + tl.arange(0, N)[None, :], tl.expand_dims(tl.arange(0, N), -3))


@triton.jit
def _dup_expand(X, N: tl.constexpr):
    tl.store(X, tl.sum(tl.expand_dims(tl.arange(0, N), (0, 0))))


@triton.jit
def _slice(X):
    tl.store(X, X[10:])


@triton.jit
def _atomic(In, Out):
    tl.atomic_add(Out, tl.load(In))


@pytest.mark.parametrize(
    ("kernel", "dtype", "pattern"),
    [
        (_bad_pid, "int32", r"program_id axis must be 0, 1, or 2 but got 20"),
        (_bad_expand, "int32", r"invalid axis -3"),
        (_dup_expand, "int32", r"duplicate axes, normalized axes = \[0, 0\]"),
        (_slice, "float32", r"unsupported tensor index"),
        (_atomic, "int8", r"atomic_add does not support int8"),
        (_atomic, "int16", r"atomic_add does not support int16"),
    ],
)
def test_triton_errors_and_their_causes(backend: str, kernel, dtype: str, pattern: str) -> None:
    x = np.zeros(64, dtype)
    buf = Buffers(backend)
    kwargs = {"N": 16} if "N" in kernel.arg_names else {}
    args = (buf(x), buf(np.zeros(4, dtype))) if kernel is _atomic else (buf(x),)
    with pytest.raises(triton.TritiumError) as info:
        kernel[(1,)](*args, **kwargs)
    assert re.search(pattern, str(info.value.__cause__)), repr(info.value.__cause__)
