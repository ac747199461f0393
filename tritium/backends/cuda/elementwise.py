"""Per-element rules for the CUDA backend.

The CPU backend's rules (``tritium.backends.cpu.elementwise``) are plain LLVM IR over one
element or one vector, with no target assumptions beyond what is overridden here, so the CUDA
lowering applies them register by register. What differs on NVPTX:

* LLVM cannot select ``llvm.exp/log/exp2/log2/pow/sin/cos`` on NVPTX (it aborts the process),
  so those never reach it: f32 ``exp``/``log``/``tanh``/``erf`` use the CPU backend's IR
  polynomials; ``sin``/``cos`` reduce the argument to [-pi, pi] and use ``sin.approx.f32``
  (absolute error about 1e-6 there); ``pow`` is ``exp2(y * log2|x|)`` with the sign and
  zero cases fixed up;
* f64 transcendental functions and anything that would call libm raise ``NotImplementedError``
  naming the op (there is no libdevice yet).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import llvmlite.ir as ll

from tritium.backends.cpu import mathlib
from tritium.backends.cpu.casts import narrow_f32
from tritium.backends.cpu.elementwise import ELEMENTWISE as _CPU_RULES
from tritium.backends.cpu.llvm_utils import F32, F64
from tritium.ir import Operation

__all__ = ["ELEMENTWISE", "UNSUPPORTED"]

Rule = Callable[[Any, Operation, list[ll.Value]], ll.Value]

# f64 variants that would need libdevice
_F64_TRANSCENDENTAL = {"exp", "exp2", "log", "log2", "tanh", "sin", "cos", "tan", "erf", "log1p"}
# ops whose every variant is a libm call on the CPU backend
UNSUPPORTED = {
    f"math.{n}"
    for n in (
        "tan", "log1p", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
        "expm1", "cbrt", "erfc", "lgamma", "atan2",
    )
}  # fmt: skip


def _elt(v: ll.Value) -> ll.Type:
    return v.type.element if isinstance(v.type, ll.VectorType) else v.type


def _c(v: ll.Value, x: float) -> ll.Constant:
    return ll.Constant(_elt(v), x)


def _nvvm(cx: Any, name: str, x: ll.Value) -> ll.Value:
    fn = cx.module.globals.get(name)
    if fn is None:
        fn = ll.Function(cx.module, ll.FunctionType(x.type, [x.type]), name)
    return cx.b.call(fn, [x])


def _sincos(which: str) -> Rule:
    def f32(cx: Any, x: ll.Value) -> ll.Value:
        b = cx.b
        # x - round(x / 2pi) * 2pi with 2pi split in two so the product is exact enough
        k = mathlib._intr(cx, "roundeven", b.fmul(x, _c(x, 0.15915494309189535)))
        r = b.fsub(x, b.fmul(k, _c(x, 6.28125)))
        r = b.fsub(r, b.fmul(k, _c(x, 1.9353071795864769e-3)))
        return _nvvm(cx, f"llvm.nvvm.{which}.approx.f", r)

    def rule(cx: Any, op: Operation, a: list[ll.Value]) -> ll.Value:
        x = a[0]
        if _elt(x) == F64:
            raise NotImplementedError(f"math.{which} on f64 is not supported by the cuda backend")
        if _elt(x) == F32:
            return f32(cx, x)
        return narrow_f32(cx, f32(cx, cx.b.fpext(x, F32)), _elt(x))

    return rule


def _powf(cx: Any, op: Operation, a: list[ll.Value]) -> ll.Value:
    b = cx.b
    x, y = a
    elt = _elt(x)
    if elt == F64:
        raise NotImplementedError("math.powf on f64 is not supported by the cuda backend")
    if elt != F32:
        x, y = b.fpext(x, F32), b.fpext(y, F32)
    ax = mathlib._intr(cx, "fabs", x)
    r = mathlib.exp2_f32(cx, b.fmul(y, mathlib.log2_f32(cx, ax)))
    y_int = b.fcmp_ordered("==", mathlib._intr(cx, "trunc", y), y)
    half = b.fmul(y, _c(y, 0.5))
    y_odd = b.and_(y_int, b.fcmp_ordered("!=", mathlib._intr(cx, "trunc", half), half))
    neg = b.fcmp_ordered("<", x, _c(x, 0.0))
    r = b.select(b.and_(neg, y_odd), b.fneg(r), r)
    r = b.select(b.and_(neg, b.not_(y_int)), _c(r, float("nan")), r)
    r = b.select(b.fcmp_ordered("==", y, _c(y, 0.0)), _c(r, 1.0), r)
    return r if elt == F32 else narrow_f32(cx, r, elt)


def _hypot(cx: Any, op: Operation, a: list[ll.Value]) -> ll.Value:
    b = cx.b
    x, y = (mathlib._intr(cx, "fabs", v) for v in a)
    hi = mathlib._intr(cx, "maxnum", x, y)
    lo = mathlib._intr(cx, "minnum", x, y)
    q = b.fdiv(lo, hi)
    r = b.fmul(hi, mathlib._intr(cx, "sqrt", b.fadd(_c(q, 1.0), b.fmul(q, q))))
    return b.select(b.fcmp_ordered("==", hi, _c(hi, 0.0)), _c(hi, 0.0), r)


def _no_f64(name: str, rule: Rule) -> Rule:
    def wrapped(cx: Any, op: Operation, a: list[ll.Value]) -> ll.Value:
        if a and _elt(a[0]) == F64:
            raise NotImplementedError(f"math.{name} on f64 is not supported by the cuda backend")
        return rule(cx, op, a)

    return wrapped


def _unsupported(name: str) -> Rule:
    def rule(cx: Any, op: Operation, a: list[ll.Value]) -> ll.Value:
        raise NotImplementedError(f"{name} is not supported by the cuda backend yet")

    return rule


ELEMENTWISE: dict[str, Rule] = dict(_CPU_RULES)
for _n in _F64_TRANSCENDENTAL:
    if f"math.{_n}" in ELEMENTWISE:
        ELEMENTWISE[f"math.{_n}"] = _no_f64(_n, ELEMENTWISE[f"math.{_n}"])
for _n in UNSUPPORTED:
    ELEMENTWISE[_n] = _unsupported(_n)
ELEMENTWISE["math.sin"] = _sincos("sin")
ELEMENTWISE["math.cos"] = _sincos("cos")
ELEMENTWISE["math.powf"] = _powf
ELEMENTWISE["math.hypot"] = _hypot
