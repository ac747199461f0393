"""``x_ptr: tl.const`` parameters are read-only pointers in compiled kernels, as in Triton:
loads work, stores are refused, and a const pointer does not merge with a writable one."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl


@triton.jit
def _copy(In: tl.const, Out, N: tl.constexpr):
    r = tl.arange(0, N)
    tl.store(Out + r, tl.load(In + r) * 2)


@triton.jit
def _store_const(In: tl.const, N: tl.constexpr):
    tl.store(In + tl.arange(0, N), 1.0)


@triton.jit(do_not_specialize=["flag"])
def _merge(In: tl.const, Out, flag, N: tl.constexpr):
    if flag:
        dst = In
    else:
        dst = Out
    tl.store(dst + tl.arange(0, N), 1.0)


@triton.jit(do_not_specialize=["flag"])
def _ternary(In: tl.const, Out, flag, N: tl.constexpr):
    dst = In if flag else Out
    tl.store(dst + tl.arange(0, N), 1.0)


def test_const_parameters_load_but_refuse_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    x = np.random.default_rng(51).standard_normal(16).astype(np.float32)
    out = np.full(16, np.nan, np.float32)
    _copy[(1,)](x, out, N=16)
    np.testing.assert_array_equal(out, x * 2)
    for kernel, args, message in (
        (_store_const, (x,), "Cannot store to a constant pointer"),
        (_merge, (x, out, 1), "Mismatched type for dst between then block (const pointer"),
        (_ternary, (x, out, 1), "Ternary expression with dynamic condition has inconsistent"),
    ):
        with pytest.raises(triton.CompilationError, match=message.replace("(", r"\(")):
            kernel[(1,)](*args, N=16)


@triton.jit(do_not_specialize=["flag"])
def _call_merge(In: tl.const, Out, flag, N: tl.constexpr):
    tl.store(_pick(Out, In, flag) + tl.arange(0, N), 1.0)


@triton.jit
def _pick(a, b, choose_b):
    if choose_b:
        return b
    else:
        return a


def test_interpreter_type_checks_const_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    # The interpreter runs one path (flag=0 stores to the writable Out), yet the kernel is as
    # wrong as compiled: the compiled type check runs first, at warmup and at launch.
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setenv("TRITIUM_INTERPRET", "1")
    x = np.random.default_rng(52).standard_normal(16).astype(np.float32)
    out = np.full(16, np.nan, np.float32)
    _copy[(1,)](x, out, N=16)
    np.testing.assert_array_equal(out, x * 2)
    for kernel, args, message in (
        (_store_const, (x,), "Cannot store to a constant pointer"),
        (_merge, (x, out, 0), "Mismatched type for dst between then block (const pointer"),
        (_ternary, (x, out, 0), "Ternary expression with dynamic condition has inconsistent"),
        (_call_merge, (x, out, 0), "Return type mismatch"),
    ):
        before = out.copy()
        with pytest.raises(triton.CompilationError, match=message.replace("(", r"\(")):
            kernel.warmup(*args, N=16, grid=(1,))
        with pytest.raises(triton.CompilationError, match=message.replace("(", r"\(")):
            kernel[(1,)](*args, N=16)
        np.testing.assert_array_equal(out, before)  # nothing ran


def test_interpreted_warmup_has_no_asm_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    # Triton's tests that read compiled IR fail with this message in interpret mode
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setenv("TRITIUM_INTERPRET", "1")
    x = np.random.default_rng(53).standard_normal(16).astype(np.float32)
    kernel = _copy.warmup(x, np.empty_like(x), N=16, grid=(1,))
    with pytest.raises(AttributeError, match="runs in the interpreter.*no compiled IR"):
        kernel.asm["ttir"]
