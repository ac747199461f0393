"""Structured control flow: ``scf.for``, ``scf.if``, ``scf.while``.

Loop-carried tiles keep one layout (their init's home layout); each register becomes one
phi. Conditions are rank-0 values, the same in every thread, so barriers inside branches and
loops (layout conversions, reductions) are reached by the whole CTA.
"""

from __future__ import annotations

from typing import Any

import llvmlite.ir as ll

from tritium.backends.cpu.llvm_utils import I32
from tritium.backends.cuda.lowering import Lowering, statement
from tritium.backends.cuda.pipeline import plan_loop
from tritium.ir import Operation, Value
from tritium.ir import types as irt


def _flatten(cx: Lowering, v: Value, like: Value) -> list[ll.Value]:
    """Registers of ``v`` in the layout of ``like`` (a block arg or result), or the scalar."""
    if isinstance(v.type, irt.TensorType):
        return cx.get(v, cx.assign.home[like])
    return [cx.scalar(v)]


def _bind(cx: Lowering, target: Value, regs: list[Any]) -> None:
    cx.vals[target] = list(regs) if isinstance(target.type, irt.TensorType) else regs[0]


def _phis(cx: Lowering, values: list[list[ll.Value]], pred: ll.Block) -> list[list[ll.Instruction]]:
    out = []
    for regs in values:
        row = []
        for r in regs:
            phi = cx.b.phi(r.type)
            phi.add_incoming(r, pred)
            row.append(phi)
        out.append(row)
    return out


@statement("scf.for")
def _for(cx: Lowering, op: Operation) -> None:
    b = cx.b
    lb, ub, step = (cx.scalar(v) for v in op.operands[:3])
    body = op.regions[0].block
    inits = [_flatten(cx, v, a) for v, a in zip(op.operands[3:], body.args[1:], strict=True)]
    plan = plan_loop(cx, op)  # cp.async pipelining of a K loop (pipeline.py), or None
    if plan is not None:
        plan.prologue(lb, ub, step, inits)
    pre = b.block
    header = b.append_basic_block("for.header")
    loop = b.append_basic_block("for.body")
    done = b.append_basic_block("for.end")
    zero = ll.Constant(step.type, 0)
    b.branch(header)
    b.position_at_end(header)
    iv = b.phi(lb.type)
    iv.add_incoming(lb, pre)
    phis = _phis(cx, inits, pre)
    stage = None
    if plan is not None:
        stage = b.phi(I32)
        stage.add_incoming(ll.Constant(I32, 0), pre)
    up = b.and_(b.icmp_signed(">", step, zero), b.icmp_signed("<", iv, ub))
    down = b.and_(b.icmp_signed("<", step, zero), b.icmp_signed(">", iv, ub))
    b.cbranch(b.or_(up, down), loop, done)
    b.position_at_end(loop)
    cx.vals[body.args[0]] = iv
    for arg, row in zip(body.args[1:], phis, strict=True):
        _bind(cx, arg, row)
    cx.push_scope()
    if plan is not None:
        plan.body_start(iv, stage)
    cx.lower_block(body)
    yld = body.terminator
    assert yld is not None
    nxt = [_flatten(cx, v, a) for v, a in zip(yld.operands, body.args[1:], strict=True)]
    cx.pop_scope()
    if plan is not None:
        stage.add_incoming(plan.next_stage(stage), b.block)
    latch = b.block
    iv.add_incoming(b.add(iv, step), latch)
    for row, vals in zip(phis, nxt, strict=True):
        for phi, v in zip(row, vals, strict=True):
            phi.add_incoming(v, latch)
    b.branch(header)
    b.position_at_end(done)
    if plan is not None:
        plan.epilogue()
    for res, row in zip(op.results, phis, strict=True):
        _bind(cx, res, row)


@statement("scf.if")
def _if(cx: Lowering, op: Operation) -> None:
    b = cx.b
    cond = cx.scalar(op.operands[0])
    then_b = b.append_basic_block("if.then")
    else_b = b.append_basic_block("if.else")
    merge = b.append_basic_block("if.end")
    b.cbranch(cond, then_b, else_b)
    incoming = []
    for region, blk in zip(op.regions, (then_b, else_b), strict=False):
        b.position_at_end(blk)
        vals: list[list[ll.Value]] = []
        if region.blocks:
            cx.push_scope()
            cx.lower_block(region.block)
            yld = region.block.terminator
            if yld is not None and op.results:
                vals = [_flatten(cx, v, r) for v, r in zip(yld.operands, op.results, strict=True)]
            cx.pop_scope()
        incoming.append((b.block, vals))
        b.branch(merge)
    if len(op.regions) < 2:
        b.position_at_end(else_b)
        incoming.append((else_b, []))
        b.branch(merge)
    b.position_at_end(merge)
    for i, res in enumerate(op.results):
        row = []
        for k in range(len(incoming[0][1][i])):
            phi = b.phi(incoming[0][1][i][k].type)
            for blk, vals in incoming:
                phi.add_incoming(vals[i][k], blk)
            row.append(phi)
        _bind(cx, res, row)


@statement("scf.while")
def _while(cx: Lowering, op: Operation) -> None:
    b = cx.b
    before, after = op.regions[0].block, op.regions[1].block
    inits = [_flatten(cx, v, a) for v, a in zip(op.operands, before.args, strict=True)]
    pre = b.block
    header = b.append_basic_block("while.before")
    body = b.append_basic_block("while.after")
    done = b.append_basic_block("while.end")
    b.branch(header)
    b.position_at_end(header)
    phis = _phis(cx, inits, pre)
    for arg, row in zip(before.args, phis, strict=True):
        _bind(cx, arg, row)
    cx.push_scope()
    cx.lower_block(before)
    cond_op = before.terminator
    assert cond_op is not None
    cond = cx.scalar(cond_op.operands[0])
    fwd = [_flatten(cx, v, a) for v, a in zip(cond_op.operands[1:], after.args, strict=True)]
    cx.pop_scope()
    b.cbranch(cond, body, done)
    b.position_at_end(body)
    for arg, regs in zip(after.args, fwd, strict=True):
        _bind(cx, arg, regs)
    cx.push_scope()
    cx.lower_block(after)
    yld = after.terminator
    assert yld is not None
    nxt = [_flatten(cx, v, a) for v, a in zip(yld.operands, before.args, strict=True)]
    cx.pop_scope()
    latch = b.block
    for row, vals in zip(phis, nxt, strict=True):
        for phi, v in zip(row, vals, strict=True):
            phi.add_incoming(v, latch)
    b.branch(header)
    b.position_at_end(done)
    for res, regs in zip(op.results, fwd, strict=True):
        _bind(cx, res, regs)
