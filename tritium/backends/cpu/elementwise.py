"""Lowering rules for elementwise ops: one function per op name, applied to LLVM values.

Every rule has the signature ``rule(cx, op, args) -> llvm value``: ``args`` are the
operands already lowered to LLVM values (scalars, or vectors of one width), and the rule
uses only the IR *element* types of ``op``, never its shape, so the same rule lowers a
scalar op, one vector chunk of a tile, and the scalar ops of a reduce combine region applied
to vector accumulators.

Integer division and shifts are guarded: LLVM makes ``x / 0``, ``INT_MIN / -1`` and
over-wide shifts undefined (x86 traps on the first two), and a kernel must never crash the
process for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import llvmlite.ir as ll

from tritium.backends.cpu import casts, mathlib
from tritium.backends.cpu.casts import narrow_f32
from tritium.backends.cpu.llvm_utils import (
    BF16,
    F32,
    I1,
    I64,
    const,
    elem_size,
    intrinsic,
    splat,
    type_suffix,
)
from tritium.ir import Operation
from tritium.ir import types as irt

if TYPE_CHECKING:
    from tritium.backends.cpu.codegen import Lowering
    from tritium.backends.cpu.target import HostTarget

__all__ = ["ELEMENTWISE", "call_intrinsic", "chunk_lanes"]

Rule = Callable[["Lowering", Operation, list[ll.Value]], ll.Value]
ELEMENTWISE: dict[str, Rule] = {}


def _rule(*names: str) -> Callable[[Rule], Rule]:
    def deco(fn: Rule) -> Rule:
        for n in names:
            ELEMENTWISE[n] = fn
        return fn

    return deco


def _width(v: ll.Value) -> int | None:
    return v.type.count if isinstance(v.type, ll.VectorType) else None


def _const_like(v: ll.Value, value: int | float) -> ll.Constant:
    t = v.type.element if isinstance(v.type, ll.VectorType) else v.type
    return const(t, value, _width(v))


def call_intrinsic(
    cx: Lowering,
    base: str,
    args: list[ll.Value],
    overload: list[ll.Type] | None = None,
    ret: ll.Type | None = None,
) -> ll.Value:
    """Call ``llvm.<base>.<suffixes>``, overloaded on the type of the first argument unless
    ``overload`` says otherwise."""
    overload = overload if overload is not None else [args[0].type]
    name = f"llvm.{base}." + ".".join(type_suffix(t) for t in overload)
    fn = intrinsic(cx.module, name, ret or args[0].type, [a.type for a in args])
    return cx.b.call(fn, args)


def chunk_lanes(target: HostTarget, func: Operation) -> int:
    """Lanes per vector chunk of ``func``'s tiles when the options do not say.

    One register of f32 lanes with AVX-512 (16). With AVX2 (8 f32 lanes per register), two
    registers per chunk: a chunk's ops then come as two independent instruction chains, which
    is what a latency-bound chain of math needs (exp, erf, a normalize-scale-shift: the next
    chunk's chain does not start before the loop branch, and the out-of-order window holds
    little more than one), and every per-chunk cost (the loop step, a mask's all-lanes test,
    a store's alignment test) is paid once per 16 lanes. Measured on an AVX2 Zen 3 core, one
    thread, interleaved A/B: softmax 1.20x, layer-norm backward 1.18x, a masked row copy 2x
    when cache-resident, the rest unchanged (issue 13). Kernels with ``tt.dot`` keep one
    register per chunk (the dot microkernels size their register blocking by it), and so do
    kernels with f64 tiles (16 lanes would be four registers).
    """
    from tritium.backends.cpu.target import vector_width  # the backend imports this module

    lanes = vector_width(target)
    if lanes >= 16:
        return lanes
    for op in func.walk():
        if op.name == "tt.dot":
            return lanes
        for r in op.results:
            if isinstance(r.type, irt.TensorType) and r.type.element == irt.f64:
                return lanes
    return 2 * lanes


# ---- integer arithmetic ----------------------------------------------------------------
_SIMPLE_INT = {
    "arith.addi": "add",
    "arith.subi": "sub",
    "arith.muli": "mul",
    "arith.andi": "and_",
    "arith.ori": "or_",
    "arith.xori": "xor",
}


def _binary(method: str) -> Rule:
    """A rule that is one llvmlite builder instruction on the two operands."""
    return lambda cx, op, a: getattr(cx.b, method)(a[0], a[1])


for _name, _method in _SIMPLE_INT.items():
    ELEMENTWISE[_name] = _binary(_method)


def _const_divisor(op: Operation) -> int | None:
    """The divisor of ``op`` as a signed integer where it is a constant (a scalar or a uniform
    tile), else None."""
    src = op.operands[1].defining_op
    while src is not None and src.name in ("tt.splat", "tt.broadcast"):
        src = src.operands[0].defining_op
    if src is None or src.name != "arith.constant":
        return None
    c = src.attrs.get("value")
    t = irt.element_type(op.results[0].type)
    if isinstance(c, bool) or not isinstance(c, int) or not isinstance(t, irt.IntType):
        return None
    c &= (1 << t.width) - 1
    return c - (1 << t.width) if c >> (t.width - 1) else c


def _by_doubles(x: ll.Value) -> bool:
    """Whether a division of ``x`` by a divisor known only at run time is done in doubles:
    vectors of i32. x86 has no vector integer division: LLVM divided lane by lane, 16 ``idiv``
    per zmm, 1.1 % of tutorial 03's samples (bf16 512^3, one Zen 4 thread) in its ``% M`` and
    ``% N`` offsets; in doubles it is 2 ``vdivpd`` and the conversions (bf16 512^3 best of 300
    launches, thread CPU, 4 alternating process pairs: 211.1-211.6 -> 213.2-214.0 GFLOP/s
    with 64x64x32 blocks, 208.4-209.4 -> 211.8-212.5 with 32x64x64)."""
    t = x.type
    return isinstance(t, ll.VectorType) and t.element == ll.IntType(32)


def _divide_in_doubles(cx: Lowering, x: ll.Value, d: ll.Value, signed: bool) -> ll.Value:
    """``x / d`` rounded towards zero for i32 lanes (``d`` not 0, nor -1 where signed), exact:
    both are doubles exactly, and the double quotient's rounding error, below
    ``|x / d| * 2**-53 <= 2**-21 / |d|``, cannot reach the next integer (at least ``1 / |d|``
    away from a quotient that is not one), so truncating it gives the integer quotient."""
    b = cx.b
    dt = ll.VectorType(ll.DoubleType(), x.type.count)
    to_fp, from_fp = (b.sitofp, b.fptosi) if signed else (b.uitofp, b.fptoui)
    return from_fp(b.fdiv(to_fp(x, dt), to_fp(d, dt)), x.type)


@_rule("arith.divsi", "arith.remsi")
def _div_signed(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    b = cx.b
    x, d = a
    if _const_divisor(op) not in (None, 0, -1):
        # a constant divisor needs no patching: LLVM folds the selects but would keep the
        # dead `sub 0, x` until a later pass (compile time, issue 13)
        return b.sdiv(x, d) if op.name == "arith.divsi" else b.srem(x, d)
    zero, one, minus1 = _const_like(d, 0), _const_like(d, 1), _const_like(d, -1)
    is_zero = b.icmp_signed("==", d, zero)
    is_m1 = b.icmp_signed("==", d, minus1)
    # divide by 1 where the real divisor is 0 or -1; patch those lanes afterwards
    safe = b.select(b.or_(is_zero, is_m1), one, d)
    if _by_doubles(x):
        q = _divide_in_doubles(cx, x, safe, signed=True)
        if op.name == "arith.divsi":
            q = b.select(is_m1, b.sub(zero, x), q)
            return b.select(is_zero, zero, q)
        return b.select(b.or_(is_zero, is_m1), zero, b.sub(x, b.mul(q, safe)))
    if op.name == "arith.divsi":
        q = b.sdiv(x, safe)
        q = b.select(is_m1, b.sub(zero, x), q)
        return b.select(is_zero, zero, q)
    r = b.srem(x, safe)
    return b.select(b.or_(is_zero, is_m1), zero, r)


@_rule("arith.divui", "arith.remui")
def _div_unsigned(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    b = cx.b
    x, d = a
    if _const_divisor(op) not in (None, 0):
        return b.udiv(x, d) if op.name == "arith.divui" else b.urem(x, d)
    zero = _const_like(d, 0)
    is_zero = b.icmp_unsigned("==", d, zero)
    safe = b.select(is_zero, _const_like(d, 1), d)
    if _by_doubles(x):
        q = _divide_in_doubles(cx, x, safe, signed=False)
        r = q if op.name == "arith.divui" else b.sub(x, b.mul(q, safe))
    else:
        r = b.udiv(x, safe) if op.name == "arith.divui" else b.urem(x, safe)
    return b.select(is_zero, zero, r)


@_rule("arith.shli", "arith.shrsi", "arith.shrui")
def _shift(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    b = cx.b
    x, s = a
    t = irt.element_type(op.results[0].type)
    assert isinstance(t, irt.IntType)
    width = _const_like(s, t.width)
    too_big = b.icmp_unsigned(">=", s, width)
    safe = b.select(too_big, _const_like(s, 0), s)
    if op.name == "arith.shli":
        return b.select(too_big, _const_like(x, 0), b.shl(x, safe))
    if op.name == "arith.shrui":
        return b.select(too_big, _const_like(x, 0), b.lshr(x, safe))
    # arithmetic shift by >= width fills with the sign bit
    return b.ashr(x, b.select(too_big, _const_like(s, t.width - 1), s))


@_rule("arith.maxsi", "arith.minsi", "arith.maxui", "arith.minui")
def _int_minmax(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    base = {
        "arith.maxsi": "smax",
        "arith.minsi": "smin",
        "arith.maxui": "umax",
        "arith.minui": "umin",
    }[op.name]
    return call_intrinsic(cx, base, a)


@_rule("tt.mulhiui")
def _mulhi(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    b = cx.b
    t = a[0].type
    elt = t.element if isinstance(t, ll.VectorType) else t
    wide_elt = ll.IntType(elt.width * 2)
    wide = ll.VectorType(wide_elt, t.count) if isinstance(t, ll.VectorType) else wide_elt
    p = b.mul(b.zext(a[0], wide), b.zext(a[1], wide))
    return b.trunc(b.lshr(p, _const_like(p, elt.width)), t)


@_rule("math.absi")
def _absi(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    return call_intrinsic(cx, "abs", [a[0], ll.Constant(I1, 0)])


@_rule("arith.cmpi")
def _cmpi(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    pred = op.attrs["predicate"]
    sym = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
    if pred in ("eq", "ne"):
        return cx.b.icmp_signed(sym[pred], a[0], a[1])
    if pred[0] == "s":
        return cx.b.icmp_signed(sym[pred[1:]], a[0], a[1])
    return cx.b.icmp_unsigned(sym[pred[1:]], a[0], a[1])


# ---- floating point ----------------------------------------------------------------------
_SIMPLE_FLOAT = {
    "arith.addf": "fadd",
    "arith.subf": "fsub",
    "arith.mulf": "fmul",
    "arith.divf": "fdiv",
    "tt.precise_divf": "fdiv",
    "arith.remf": "frem",
}


for _name, _method in _SIMPLE_FLOAT.items():
    ELEMENTWISE[_name] = _binary(_method)


@_rule("arith.negf")
def _negf(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    """``-x``, a sign flip (bf16: bit 15); an fp8 tile's i8 bit patterns flip bit 7
    (through f32, e5m2's infinities came back as -57344: the f32 -> fp8 cast saturates),
    except a ``fnuz`` format's 0 and NaN (0x80), which have no negative."""
    kind = casts.fp8_kind(op.operands[0].type)
    if _is_bf16(a[0]):  # bit 15 of the i16 (through f32 a signalling NaN came back quiet)
        bits = cx.b.bitcast(a[0], _like(a[0], ll.IntType(16)))
        flipped16 = cx.b.xor(bits, const(ll.IntType(16), 0x8000, _width(a[0])))
        return cx.b.bitcast(flipped16, a[0].type)
    if kind is None:
        return cx.b.fneg(a[0])
    x, width = a[0], _width(a[0])
    flipped = cx.b.xor(x, const(ll.IntType(8), 0x80, width))
    if not casts.is_fnuz(kind):
        return flipped
    keep = cx.b.icmp_unsigned(
        "==", cx.b.and_(x, const(ll.IntType(8), 0x7F, width)), const(ll.IntType(8), 0, width)
    )
    return cx.b.select(keep, x, flipped)


@_rule("arith.maximumf", "arith.minimumf", "arith.maxnumf", "arith.minnumf")
def _float_minmax(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    base = {
        "arith.maximumf": "maximum",
        "arith.minimumf": "minimum",
        "arith.maxnumf": "maxnum",
        "arith.minnumf": "minnum",
    }[op.name]
    return call_intrinsic(cx, base, a)


@_rule("tt.clampf")
def _clampf(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    nan = op.attrs.get("propagate_nan", "none") == "all"
    hi_fn, lo_fn = ("maximum", "minimum") if nan else ("maxnum", "minnum")
    return call_intrinsic(cx, lo_fn, [call_intrinsic(cx, hi_fn, [a[0], a[1]]), a[2]])


@_rule("arith.cmpf")
def _cmpf(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    pred = op.attrs["predicate"]
    if pred == "ord":
        return cx.b.fcmp_ordered("ord", a[0], a[1])
    if pred == "uno":
        return cx.b.fcmp_unordered("uno", a[0], a[1])
    sym = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[pred[1:]]
    if pred[0] == "o":
        return cx.b.fcmp_ordered(sym, a[0], a[1])
    return cx.b.fcmp_unordered(sym, a[0], a[1])


@_rule("arith.select")
def _select(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    cond, x, y = a
    w = _width(x)
    if w is not None and _width(cond) is None:
        cond = splat(cx.b, cond, w)
    return cx.b.select(cond, x, y)


@_rule("math.fma")
def _fma(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    return call_intrinsic(cx, "fma", a)


# ---- pointers (carried as i64 addresses) -------------------------------------------------
@_rule("tt.addptr")
def _addptr(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    b = cx.b
    ptr, off = a
    pointee = irt.element_type(op.operands[0].type)
    assert isinstance(pointee, irt.PointerType)
    size = elem_size(pointee.pointee)
    off_ty = off.type.element if isinstance(off.type, ll.VectorType) else off.type
    if off_ty.width < 64:
        off = b.sext(off, ptr.type)
    elif off_ty.width > 64:
        off = b.trunc(off, ptr.type)
    if size != 1:
        off = b.mul(off, _const_like(off, size))
    return b.add(ptr, off)


@_rule("tt.int_to_ptr", "tt.ptr_to_int", "tt.bitcast")
def _ptr_identity(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    v = a[0]
    vt = v.type.element if isinstance(v.type, ll.VectorType) else v.type
    if vt == I64:
        return v
    target = I64 if _width(v) is None else ll.VectorType(I64, _width(v))
    return cx.b.sext(v, target) if vt.width < 64 else cx.b.trunc(v, target)


# ---- bf16 arithmetic without hardware support ---------------------------------------------
def _bf16_via_f32(rule: Rule) -> Rule:
    """Compute a bf16 op in f32 and round once: LLVM would do the same but round with a
    compiler-rt call the JIT cannot resolve on CPUs without AVX512-BF16."""

    def wrapped(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
        if cx.native_bf16 or not any(_is_bf16(v) for v in a):
            return rule(cx, op, a)
        wide = [cx.b.fpext(v, _like(v, F32)) if _is_bf16(v) else v for v in a]
        out = rule(cx, op, wide)
        return narrow_f32(cx, out, BF16) if _elt(out) == F32 else out

    return wrapped


# ---- fp8 arithmetic -----------------------------------------------------------------------
def _fp8_via_f32(rule: Rule) -> Rule:
    """fp8 values are carried as i8 bit patterns: compute fp8 ops in f32 and round once, as
    the interpreter does (exact for + - * /: f32 has more than twice fp8's precision)."""

    def wrapped(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
        kinds = [casts.fp8_kind(v.type) for v in op.operands]
        if not any(kinds):
            return rule(cx, op, a)
        wide = [casts.fp8_to_f32(cx, v, k) if k else v for v, k in zip(a, kinds, strict=True)]
        out = rule(cx, op, wide)
        kind = casts.fp8_kind(op.results[0].type)
        return casts.f32_to_fp8(cx, out, kind) if kind else out

    return wrapped


def _elt(v: ll.Value) -> ll.Type:
    return v.type.element if isinstance(v.type, ll.VectorType) else v.type


def _is_bf16(v: ll.Value) -> bool:
    return _elt(v) == BF16


def _like(v: ll.Value, elt: ll.Type) -> ll.Type:
    return ll.VectorType(elt, v.type.count) if isinstance(v.type, ll.VectorType) else elt


for _name in (
    *_SIMPLE_FLOAT,
    "arith.maximumf",
    "arith.minimumf",
    "arith.maxnumf",
    "arith.minnumf",
    "tt.clampf",
    "math.fma",
    "arith.cmpf",
):
    ELEMENTWISE[_name] = _fp8_via_f32(_bf16_via_f32(ELEMENTWISE[_name]))
ELEMENTWISE["arith.negf"] = _negf  # a sign flip in every format (see _negf)


# ---- casts and math live in their own modules --------------------------------------------
ELEMENTWISE.update(casts.CAST_RULES)
ELEMENTWISE.update(mathlib.MATH_RULES)


@_rule("math.absf")
def _absf(cx: Lowering, op: Operation, a: list[ll.Value]) -> ll.Value:
    """``|x|``; an fp8 tile's i8 bit patterns (which LLVM's ``fabs`` rejects: "Intrinsic has
    incorrect return type", Triton's test_abs_fp8) lose their sign bit, exact for infinities
    too (a round trip through f32 would saturate e5m2's to 57344); a ``fnuz`` format's only NaN,
    0x80, stays NaN."""
    x = a[0]
    kind = casts.fp8_kind(op.operands[0].type)
    if kind is None:
        return mathlib.MATH_RULES["math.absf"](cx, op, a)
    width = _width(x)
    cleared = cx.b.and_(x, const(ll.IntType(8), 0x7F, width))
    if not casts.is_fnuz(kind):
        return cleared
    nan = cx.b.icmp_unsigned("==", x, const(ll.IntType(8), 0x80, width))
    return cx.b.select(nan, x, cleared)
