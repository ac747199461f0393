"""Lowering of ``tt.call`` and ``tt.return``: calls the inline pass kept (``noinline``).

A callee becomes a private LLVM function taking scalars by value and tiles as pointers to
contiguous buffers; it writes its results into slots the caller provides and returns 1 when
an assertion failed inside it, so the caller leaves the program too.
"""

from __future__ import annotations

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.codegen import Lowering, statement
from tritium.backends.cpu.shapes import contiguous
from tritium.backends.cpu.tiles import Buffer, Scalar, contiguous_strides
from tritium.ir import Operation
from tritium.ir import types as irt


def _callee(cx: Lowering, name: str) -> ll.Function:
    root = cx.root
    fn = root.callees.get(name)
    if fn is not None:
        return fn
    module_block = root.func.parent
    assert module_block is not None
    for op in module_block.ops:
        if op.name == "tt.func" and op.attrs.get("sym_name") == name:
            sub = Lowering(op, cx.target, cx.options, root=root)
            root.callees[name] = sub.fn  # before the body: a recursive call finds it
            sub.lower_callee()
            return sub.fn
    raise cx.error(f"tt.call of unknown function {name!r}")


@statement("tt.call")
def _call(cx: Lowering, op: Operation) -> None:
    b = cx.b
    fn = _callee(cx, str(op.attrs["callee"]))
    args: list[ll.Value] = []
    for v in op.operands:
        args.append(contiguous(cx, v).ptr if isinstance(v.type, irt.TensorType) else cx.scalar(v))
    outs: list[Buffer | ll.Value] = []
    for r in op.results:
        if isinstance(r.type, irt.TensorType):
            outs.append(cx.alloc(r.type.shape, r.type.element, name="result"))
        else:
            outs.append(lu.entry_alloca(b, cx.alloca_block, lu.llvm_type(r.type), align=8))
    slots = [o.ptr if isinstance(o, Buffer) else o for o in outs]
    failed = b.call(fn, [*args, *cx.pids, *cx.nprogs, cx.err_ptr, *slots])
    with b.if_then(b.icmp_signed("!=", failed, ll.Constant(lu.I32, 0)), likely=False):
        cx.fail_return()
    for r, o in zip(op.results, outs, strict=True):
        cx.refs[r] = o if isinstance(o, Buffer) else Scalar(b.load(o, typ=lu.llvm_type(r.type)))


@statement("tt.return")
def _return(cx: Lowering, op: Operation) -> None:
    if cx.is_kernel:
        cx.b.ret_void()
        return
    for v, slot in zip(op.operands, cx.result_slots, strict=True):
        if isinstance(v.type, irt.TensorType):
            shape = v.type.shape
            cx.write_tile(v, Buffer(slot, shape, contiguous_strides(shape), v.type.element))
        else:
            cx.b.store(cx.scalar(v), slot)
    cx.b.ret(ll.Constant(lu.I32, 0))
