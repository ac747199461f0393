"""Lowering of ``tt.print`` (printf from the program) and ``tt.assert``.

A failed assertion does not abort the process: the program records the assertion's number
and its program id in the launch's error record and returns; the launcher stops handing out
programs and the Python side raises ``AssertionError`` with the message.
"""

from __future__ import annotations

import math

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.casts import convert
from tritium.backends.cpu.codegen import Lowering, statement
from tritium.ir import Operation, Value
from tritium.ir import types as irt


def cstring(cx: Lowering, text: str) -> ll.Value:
    """A pointer to a NUL-terminated constant string in the module."""
    data = bytearray(text.encode("utf-8") + b"\0")
    name = f".str.{len(cx.module.globals)}"
    ty = ll.ArrayType(lu.I8, len(data))
    g = ll.GlobalVariable(cx.module, ty, name=name)
    g.linkage = "internal"
    g.global_constant = True
    g.initializer = ll.Constant(ty, data)
    return lu.opaque(g)


def _printf(cx: Lowering) -> ll.Function:
    return (
        lu.intrinsic(cx.module, "printf", lu.I32, [lu.PTR])
        if "printf" in cx.module.globals
        else ll.Function(cx.module, ll.FunctionType(lu.I32, [lu.PTR], var_arg=True), "printf")
    )


def _format(
    cx: Lowering, v: ll.Value, t: irt.Type, hex_: bool, signed: bool
) -> tuple[str, ll.Value]:
    """printf conversion and argument for one element, as Triton's GPU lowering writes it:
    ``%f`` for floats, ``%i``/``%u`` (``%lli``/``%llu`` for 64 bits), hex padded to the
    type's digits (``0x%08x``; floats print their bits), ``%p`` for pointers."""
    b = cx.b
    if isinstance(t, irt.PointerType):
        return "%p", v
    lt = lu.llvm_type(t)
    width = t.width if isinstance(t, irt.FloatType) else lt.width
    if hex_:
        bits = v if isinstance(lt, ll.IntType) else b.bitcast(v, ll.IntType(width))
        digits = max(1, width // 4)
        if width > 32:
            return f"0x%0{digits}llx", bits
        return f"0x%0{digits}x", (b.zext(bits, lu.I32) if width < 32 else bits)
    if isinstance(t, irt.FloatType):
        return "%f", convert(cx, v, t, irt.f64)
    if lt.width == 64:
        return ("%lli" if signed else "%llu"), v
    if lt.width == 32:
        ext = v
    else:
        ext = b.sext(v, lu.I32) if signed and lt.width > 1 else b.zext(v, lu.I32)
    return ("%i" if signed else "%u"), ext


def _index_width(dim: int) -> int:
    """Digits Triton pads an index of an axis of length ``dim`` to: ceil(log10(dim))."""
    return math.ceil(math.log10(dim)) if dim > 0 else 0


@statement("tt.print")
def _print(cx: Lowering, op: Operation) -> None:
    """One line per element, in Triton's format (the frontend has already shaped the prefix
    as Triton's does: `` x: ``):
    ``pid (<x>, <y>, <z>) idx (<i1>, <i2>, ...)<prefix>(operand <n>) <elem>``."""
    b = cx.b
    cx.root.prints += 1
    prefix = str(op.attrs.get("prefix", ""))
    hex_ = bool(op.attrs.get("hex", False))
    signed = list(op.attrs.get("is_signed") or [])
    printf = _printf(cx)
    pid_fmt = "pid (%i, %i, %i)"
    if not op.operands:
        b.call(printf, [cstring(cx, f"{pid_fmt}{prefix}\n"), *cx.pids])
        return
    for k, v in enumerate(op.operands):
        is_signed = signed[k] if k < len(signed) else True
        operand = f"(operand {k}) " if len(op.operands) > 1 else ""
        et = irt.element_type(v.type)
        if not isinstance(v.type, irt.TensorType):
            fmt, val = _format(cx, cx.scalar(v), et, hex_, is_signed)
            text = cstring(cx, f"{pid_fmt} idx (){prefix}{operand}{fmt}\n")
            b.call(printf, [text, *cx.pids, val])
            continue
        shape = v.type.shape
        idx_fmt = "idx (" + ", ".join(f"%{_index_width(int(d)) or ''}i" for d in shape) + ")"
        for idx in cx.chunks(shape, width=1):
            lane = b.extract_element(cx.eval(v, idx), ll.Constant(lu.I32, 0))
            fmt, val = _format(cx, lane, et, hex_, is_signed)
            text = cstring(cx, f"{pid_fmt} {idx_fmt}{prefix}{operand}{fmt}\n")
            b.call(printf, [text, *cx.pids, *idx.dims, val])


def _fail(cx: Lowering, assert_id: int) -> None:
    """Record assertion ``assert_id`` (1-based) with this program's id and return."""
    b = cx.b
    err = cx.err_ptr
    b.cmpxchg(err, ll.Constant(lu.I32, 0), ll.Constant(lu.I32, assert_id), "monotonic", "monotonic")
    for i, pid in enumerate(cx.pids):
        slot = b.gep(err, [ll.Constant(lu.I32, 1 + i)], source_etype=lu.I32)
        b.store(pid, slot, align=4)  # read only after the threads are joined
    cx.fail_return()


@statement("tt.assert")
def _assert(cx: Lowering, op: Operation) -> None:
    b = cx.b
    cond: Value = op.operands[0]
    cx.root.asserts.append(f"{op.loc}: {op.attrs.get('message', 'assertion failed')}")
    assert_id = len(cx.root.asserts)
    if not isinstance(cond.type, irt.TensorType):
        bad = b.not_(cx.scalar(cond))
    else:
        flag = lu.entry_alloca(b, cx.alloca_block, lu.I1, align=1, name="assert_bad")
        b.store(ll.Constant(lu.I1, 0), flag)
        for idx in cx.chunks(cond.type.shape):
            v = cx.eval(cond, idx)
            notv = b.xor(v, lu.const(lu.I1, 1, idx.width))
            name = f"llvm.vector.reduce.or.{lu.type_suffix(notv.type)}"
            any_bad = b.call(lu.intrinsic(cx.module, name, lu.I1, [notv.type]), [notv])
            b.store(b.or_(b.load(flag, typ=lu.I1), any_bad), flag)
        bad = b.load(flag, typ=lu.I1)
    with b.if_then(bad, likely=False):
        _fail(cx, assert_id)


@statement("gpu.barrier")
def _barrier(cx: Lowering, op: Operation) -> None:
    """Nothing to emit: a program runs its ops in order. (A tile load it orders is evaluated
    in full before it: ``analysis._demote_hazardous_loads``.)"""
