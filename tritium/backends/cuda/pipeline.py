"""Software pipelining of K loops: ``cp.async`` copies ``num_stages - 1`` iterations ahead.

**Status: ptxas-checked (sm_80/89/90a/100), never run on a GPU yet.**

A ``scf.for`` is pipelined when (sm_80+, ``num_stages >= 2``, a positive constant step) its
body holds tensor-core dots (``mma.py``; several, as in flash attention) with operands that are
``tt.load`` s used only there — ``b`` may also be ``tl.trans`` of such a load (``k^T``), then
stored [N, K] and read without ``.trans``; 8-bit ``b`` only that way — whose ``other`` is
absent or zero, whose pointers and mask are index arithmetic over the induction variable, loop
invariants and loop-carried values advanced by a loop invariant (``a_ptrs += BK`` as a
``tt.addptr``, or a block pointer's offsets as ``arith.addi``), and whose accesses are at
least 4 contiguous bytes (``memory.vector_width``: the JIT's divisibility specialization
decides), and that has no stores or atomics (a copy made iterations ahead must not miss a
write). Each such operand gets ``S = num_stages`` stages in swizzled shared memory
(``smem.py``; for a dot that runs as wgmma on sm_90a, the canonical 1024-byte-aligned tiles
of ``wgmma.py``, and a ``fence.proxy.async`` after the wait; fewer stages where the
architecture's shared memory cannot hold them); the dots' other operands are staged from
registers each iteration as without pipelining:

* prologue: the copies of iterations ``0 .. S-2`` (one ``cp.async.commit_group`` each);
* iteration ``i`` (stage ``i % S``): ``cp.async.wait_group S-2`` (this thread's copies of
  iteration ``i`` have landed), ``bar.sync`` (everyone's have, and everyone has finished
  reading the stage that iteration ``i - 1`` used), the copies of iteration ``i + S - 1`` into
  that freed stage, a commit, then ``ldmatrix`` + ``mma`` from stage ``i % S``;
* after the loop: ``cp.async.wait_group 0`` and a barrier.

The future pointers are computed by lowering the load's index arithmetic again with the
induction variable replaced by ``iv + s * step`` and each advanced value ``p`` by
``p + s * inc``. Masked-off elements and iterations past the end copy 0 source bytes
(``cp.async``'s ``src-size`` operand), which zero-fills the destination and reads nothing.
Each copy moves the run of contiguous elements one thread holds (16 bytes: ``.cg``, 4 or 8:
``.ca``) to its swizzled place. Other shared-memory uses in the loop body start above the
stages (``Lowering.smem_floor``). ``tl.range(..., num_stages=...)`` is not recorded in the IR:
the launch option ``num_stages`` (Triton's default 3) applies to every eligible loop.

On sm_90a, an operand loaded through a host-side tensor descriptor (``tma.py``) is copied by
TMA instead: thread 0 issues ``cp.async.bulk.tensor`` boxes into the same canonical tile and
every thread waits on the stage's ``mbarrier`` rather than on ``cp.async.wait_group``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import llvmlite.ir as ll

from tritium.backends.cpu.llvm_utils import I32, mem_type
from tritium.backends.cuda import tma
from tritium.backends.cuda.assign import REMAT_OPS, _is_elementwise
from tritium.backends.cuda.layouts import Layout
from tritium.backends.cuda.lowering import Lowering, _size
from tritium.backends.cuda.mma import LLArith, mma_kind, operand_tiles
from tritium.backends.cuda.smem import SwizzledTile
from tritium.backends.cuda.target import max_shared
from tritium.backends.cuda.wgmma import WgmmaTile, fence_proxy_async, wgmma_eligible, wgmma_tiles
from tritium.ir import Operation, Value
from tritium.ir import types as irt

__all__ = ["LoopPipeline", "plan_loop"]


@dataclass
class _Operand:
    dot: Operation
    index: int  # 0: a, 1: b
    load: Operation
    tile: SwizzledTile | WgmmaTile
    offset: int  # bytes from the start of a stage
    layout: Layout
    vec: int  # elements per cp.async
    k_major: bool  # b stored [N, K] (b is tl.trans of the load)
    tma: tuple[Operation, int] | None = None  # (tt.descriptor_info, tensor map): a TMA copy


def _is_zero(v: Value) -> bool:
    op = v.defining_op
    if op is None:
        return False
    if op.name == "tt.splat":
        return _is_zero(op.operands[0])
    return op.name == "arith.constant" and op.attrs.get("value") in (0, 0.0, False)


def _inside(loop: Operation, v: Value) -> bool:
    """Whether ``v`` is defined in ``loop``'s body (an arg or an op nested in it)."""
    owner = v.owner
    if isinstance(owner, Operation):
        return owner is not loop and loop.is_ancestor_of(owner)
    op = owner.parent_op()
    return op is not None and loop.is_ancestor_of(op)


class LoopPipeline:
    """The pipelining of one ``scf.for`` (see the module docstring); made by
    :func:`plan_loop`, driven by ``control._for``."""

    def __init__(
        self,
        cx: Lowering,
        loop: Operation,
        operands: list[_Operand],
        advance: dict[Value, Operation],
        stages: int,
        stage_bytes: int,
    ) -> None:
        self.cx = cx
        self.loop = loop
        self.operands = operands
        self.advance = advance  # loop-carried value -> the addptr/addi advancing it
        self.stages = stages
        self.stage_bytes = stage_bytes
        self.base = 0
        self.saved_floor = 0
        self.wgmma = any(isinstance(o.tile, WgmmaTile) for o in operands)
        self.tma_bytes = sum(o.tile.nbytes for o in operands if o.tma)
        self.threads_copy = any(o.tma is None for o in operands)  # cp.async operands

    # ---- the steps, called by control._for -------------------------------------------------
    def prologue(self, lb: ll.Value, ub: ll.Value, step: ll.Value, inits: list[Any]) -> None:
        """Reserve the stages, then copy iterations 0 .. S-2 (before the loop header)."""
        cx = self.cx
        self.saved_floor = cx.smem_floor
        align = max(o.tile.align for o in self.operands)
        self.base = (cx.smem_floor + align - 1) // align * align
        # the stages, then (TMA) one 8-byte mbarrier per stage
        self.bars = self.base + self.stages * self.stage_bytes
        top = self.bars + (8 * self.stages if self.tma_bytes else 0)
        cx.use_smem(top - cx.smem_floor)
        cx.smem_floor = top
        self.lb, self.ub, self.step = lb, ub, step
        body = self.loop.regions[0].block
        self.carried = {
            arg: regs for arg, regs in zip(body.args[1:], inits, strict=True) if arg in self.advance
        }
        if self.tma_bytes:
            fence_proxy_async(cx)  # earlier generic writes to the buffer, before TMA's
            cx.barrier()  # earlier users of the barriers' bytes are done with them
            first = cx.b.icmp_unsigned("==", cx.tid, ll.Constant(I32, 0))
            for s in range(self.stages):
                tma.mbarrier_init(cx, self._bar(ll.Constant(I32, s)), first)
            tma.mbarrier_init_fence(cx)
        cx.barrier()  # earlier users of the buffer are done with it
        for s in range(self.stages - 1):
            iv = cx.b.add(lb, ll.Constant(lb.type, s * self._step_const()))
            self._issue(iv, self.carried, s, ll.Constant(I32, s))
            if self.threads_copy:
                _commit(cx)

    def body_start(self, iv: ll.Value, stage: ll.Value) -> None:
        """Wait for this iteration's stage, copy iteration ``i + S - 1``, hand the stage to
        the dot."""
        cx = self.cx
        body = self.loop.regions[0].block
        if self.threads_copy:
            _wait(cx, self.stages - 2)
        if self.tma_bytes:  # this iteration's boxes have landed
            tma.mbarrier_wait(cx, self._bar(stage), self._phase(iv))
        if self.wgmma and self.threads_copy:
            fence_proxy_async(cx)  # cp.async wrote via the generic proxy; wgmma reads async
        cx.barrier()
        ahead = self.stages - 1
        nxt = cx.b.add(iv, ll.Constant(iv.type, ahead * self._step_const()))
        carried = {arg: cx.vals[arg] for arg in body.args[1:] if arg in self.advance}
        free = self._wrap(cx.b.add(stage, ll.Constant(I32, ahead)))
        self._issue(nxt, carried, ahead, free)
        if self.threads_copy:
            _commit(cx)
        start = self._stage_start(stage)
        for o in self.operands:
            base = cx.b.add(start, ll.Constant(I32, o.offset))
            cx.pipelined_dots.setdefault(o.dot, {})[o.index] = (o.tile, base, o.k_major)

    def next_stage(self, stage: ll.Value) -> ll.Value:
        """The stage of the next iteration."""
        return self._wrap(self.cx.b.add(stage, ll.Constant(I32, 1)))

    def epilogue(self) -> None:
        """Drain the copies still in flight (iterations past the end) and free the stages."""
        cx = self.cx
        if self.threads_copy:
            _wait(cx, 0)
        cx.barrier()
        if self.tma_bytes:  # nothing is in flight: iterations past the end issued nothing
            first = cx.b.icmp_unsigned("==", cx.tid, ll.Constant(I32, 0))
            for s in range(self.stages):
                tma.mbarrier_inval(cx, self._bar(ll.Constant(I32, s)), first)
            cx.barrier()
        cx.smem_floor = self.saved_floor
        for o in self.operands:
            cx.pipelined_dots.pop(o.dot, None)

    # ---- helpers -------------------------------------------------------------------------
    def _step_const(self) -> int:
        op = self.loop.operands[2].defining_op
        assert op is not None
        return int(op.attrs["value"])

    def _stage_start(self, stage: ll.Value) -> ll.Value:
        b = self.cx.b
        return b.add(ll.Constant(I32, self.base), b.mul(stage, ll.Constant(I32, self.stage_bytes)))

    def _bar(self, stage: ll.Value) -> ll.Value:
        """The shared address of ``stage``'s mbarrier."""
        b = self.cx.b
        byte = b.add(ll.Constant(I32, self.bars), b.mul(stage, ll.Constant(I32, 8)))
        return tma.shared_address(self.cx, byte)

    def _phase(self, iv: ll.Value) -> ll.Value:
        """The mbarrier phase parity of the iteration at ``iv``: ``((iv - lb) / step / S) & 1``
        (the barriers are initialized when the loop is entered)."""
        b = self.cx.b
        it = b.sdiv(b.sub(iv, self.lb), ll.Constant(iv.type, self._step_const()))
        parity = b.and_(b.udiv(it, ll.Constant(iv.type, self.stages)), ll.Constant(iv.type, 1))
        return parity if iv.type == I32 else b.trunc(parity, I32)

    def _wrap(self, stage: ll.Value) -> ll.Value:
        b = self.cx.b
        over = b.icmp_unsigned(">=", stage, ll.Constant(I32, self.stages))
        return b.select(over, b.sub(stage, ll.Constant(I32, self.stages)), stage)

    def _future(self, iv: ll.Value, carried: dict[Value, list], ahead: int, op: _Operand):
        """The load's pointer and mask registers ``ahead`` iterations on (substituted); for a
        TMA operand, its block offsets instead."""
        cx = self.cx
        body = self.loop.regions[0].block
        subst: dict[Value, Any] = {body.args[0]: iv}
        for arg, regs in carried.items():
            step = self.advance[arg]  # tt.addptr(arg, inc) or arith.addi(arg, inc) / (inc, arg)
            tile = isinstance(arg.type, irt.TensorType)
            regs = list(regs) if tile else [regs[0] if isinstance(regs, list) else regs]
            if ahead:
                inc_v = step.operands[1] if step.operands[0] is arg else step.operands[0]
                if isinstance(inc_v.type, irt.TensorType):
                    inc = cx.get(inc_v, cx.assign.home[arg])
                else:
                    inc = [cx.scalar(inc_v)] * len(regs)
                if ahead > 1:
                    inc = [cx.b.mul(x, ll.Constant(x.type, ahead)) for x in inc]
                regs = [cx.apply(step, [p, x]) for p, x in zip(regs, inc, strict=True)]
            subst[arg] = regs if tile else regs[0]
        saved_vals = {v: cx.vals[v] for v in subst if v in cx.vals}
        before = set(cx.vals)
        saved_memo = dict(cx._memo)
        try:
            cx.vals.update(subst)
            load = op.load
            if op.tma is not None:
                return [cx.scalar(v) for v in tma.offsets(op.tma[0])], None
            ptrs = cx.get(load.operands[0], op.layout)
            mask = load.operands[1] if len(load.operands) > 1 else None
            masks = cx.get(mask, op.layout) if mask is not None else None
        finally:
            for v in set(cx.vals) - before:
                del cx.vals[v]
            cx.vals.update(saved_vals)
            cx._memo = saved_memo
        return ptrs, masks

    def _issue(self, iv: ll.Value, carried: dict[Value, list], ahead: int, stage: ll.Value) -> None:
        """``cp.async`` every operand tile of the iteration at ``iv`` into ``stage``."""
        from tritium.backends.cuda.memory import _groups

        cx = self.cx
        b = cx.b
        ar = LLArith(b)
        in_range = b.icmp_signed("<", iv, self.ub)
        start = self._stage_start(stage)
        if self.tma_bytes:  # thread 0 announces the stage's bytes, then issues the boxes
            issuer = b.and_(in_range, b.icmp_unsigned("==", cx.tid, ll.Constant(I32, 0)))
            bar = self._bar(stage)
            tma.arrive_expect_tx(cx, bar, self.tma_bytes, issuer)
        for op in self.operands:
            ptrs, masks = self._future(iv, carried, ahead, op)
            if op.tma is not None:
                self._issue_tma(op, ptrs, b.add(start, ll.Constant(I32, op.offset)), bar, issuer)
                continue
            es = _size(mem_type(op.load.results[0].type))
            nbytes = op.vec * es
            tile_base = b.add(start, ll.Constant(I32, op.offset))
            for group in _groups(op.layout, op.vec):
                g = group[0]
                r, c = cx.coord(op.layout, 0, g), cx.coord(op.layout, 1, g)
                off = b.add(tile_base, op.tile.offset(ar, r, ar.mul(c, es)))
                pred = in_range if masks is None else b.and_(in_range, masks[g])
                _cp_async(cx, off, ptrs[g], nbytes, pred)

    def _issue_tma(
        self, op: _Operand, offs: list[ll.Value], tile_base: ll.Value, bar: ll.Value, issuer: Any
    ) -> None:
        """The boxes of one TMA operand (``offs``: the block's row and column offsets)."""
        cx = self.cx
        b = cx.b
        assert op.tma is not None and isinstance(op.tile, WgmmaTile)
        _, copies = tma.tma_copies(op.tile, _size(mem_type(op.load.results[0].type)))
        tensor_map = b.ptrtoint(cx.tensor_map_params[op.tma[1]], ll.IntType(64))
        row0, col0 = (b.trunc(x, I32) if x.type != I32 else x for x in offs)
        for c in copies:
            dst = tma.shared_address(cx, b.add(tile_base, ll.Constant(I32, c.smem)))
            col = b.add(col0, ll.Constant(I32, c.col)) if c.col else col0
            row = b.add(row0, ll.Constant(I32, c.row)) if c.row else row0
            tma.tma_load_2d(cx, dst, tensor_map, col, row, bar, issuer)


def _cp_async(
    cx: Lowering, smem_byte: ll.Value, src: ll.Value, nbytes: int, pred: ll.Value
) -> None:
    """``cp.async`` of ``nbytes`` (4, 8 or 16) from global ``src``; 0 source bytes (a
    zero fill, no read) where ``pred`` is false."""
    b = cx.b
    dst = b.ptrtoint(cx.smem_abs(smem_byte), I32)
    size = b.select(pred, ll.Constant(I32, nbytes), ll.Constant(I32, 0))
    level = "cg" if nbytes == 16 else "ca"  # .cg (L2 only) exists for 16 bytes alone
    text = f"cp.async.{level}.shared.global [$0], [$1], {nbytes}, $2;"
    fty = ll.FunctionType(ll.VoidType(), [I32, src.type, I32])
    b.call(ll.InlineAsm(fty, text, "r,l,r", side_effect=True), [dst, src, size])


def _commit(cx: Lowering) -> None:
    fty = ll.FunctionType(ll.VoidType(), [])
    cx.b.call(ll.InlineAsm(fty, "cp.async.commit_group;", "", side_effect=True), [])


def _wait(cx: Lowering, pending: int) -> None:
    fty = ll.FunctionType(ll.VoidType(), [])
    text = f"cp.async.wait_group {max(0, pending)};"
    cx.b.call(ll.InlineAsm(fty, text, "", side_effect=True), [])


# ---- eligibility ---------------------------------------------------------------------------
def _index_math(
    loop: Operation, v: Value, allowed: set[Value], cx: Lowering, used: set[Value] | None = None
) -> bool:
    """Whether ``v`` can be recomputed for a later iteration: loop invariants, the values in
    ``allowed`` (the induction variable, advanced pointers; those reached go to ``used``) and
    index arithmetic over them."""
    if v in allowed:
        if used is not None:
            used.add(v)
        return True
    if not _inside(loop, v):
        return True
    op = v.defining_op
    body = loop.regions[0].block
    if op is None or op.parent is not body or op.regions:
        return False
    if isinstance(v.type, irt.TensorType) and v not in cx.assign.remat:
        return False
    if not (op.name in REMAT_OPS or _is_elementwise(op)):
        return False
    return all(_index_math(loop, x, allowed, cx, used) for x in op.operands)


_WRITES = {"tt.store", "tt.atomic_rmw", "tt.atomic_cas", "tt.call"}


def _advanced(loop: Operation, cx: Lowering) -> dict[Value, Operation]:
    """Loop-carried values advanced by a loop invariant each iteration: pointer tiles
    (``p = tt.addptr(p, inc)``) and integers, tiles or scalars (``o = arith.addi(o, inc)``,
    the offsets of block pointers)."""
    body = loop.regions[0].block
    yld = body.terminator
    assert yld is not None
    out: dict[Value, Operation] = {}
    for arg, nxt in zip(body.args[1:], yld.operands, strict=True):
        op = nxt.defining_op
        if op is None or op.parent is not body:
            continue
        if op.name == "tt.addptr" and op.operands[0] is arg:
            inc = op.operands[1]
        elif (
            op.name == "arith.addi" and arg in op.operands and op.operands[0] is not op.operands[1]
        ):
            inc = op.operands[1] if op.operands[0] is arg else op.operands[0]
        else:
            continue
        if _index_math(loop, inc, set(), cx):
            out[arg] = op
    return out


def _operand_load(v: Value, body: Any, index: int) -> tuple[Operation, bool] | None:
    """(the load, whether b is its transpose) if dot operand ``v`` is a load of the loop body
    used only there (``b`` may be ``tl.trans`` of one: then stored [N, K])."""
    op = v.defining_op
    k_major = False
    if index == 1 and op is not None and op.name == "tt.trans" and len(v.uses) == 1:
        if [int(i) for i in op.attrs.get("order", [1, 0])] != [1, 0]:
            return None
        k_major = True
        v = op.operands[0]
        op = v.defining_op
    if op is None or op.name != "tt.load" or op.parent is not body or len(v.uses) != 1:
        return None
    return op, k_major


def plan_loop(cx: Lowering, loop: Operation) -> LoopPipeline | None:
    """The pipeline of ``loop`` if it qualifies (see the module docstring), else None."""
    if cx.arch.cc < 80 or cx.num_stages < 2:
        return None
    step = loop.operands[2].defining_op
    if step is None or step.name != "arith.constant" or not int(step.attrs["value"]) > 0:
        return None
    from tritium.backends.cuda.dot import mma_eligible
    from tritium.backends.cuda.memory import vector_width

    body = loop.regions[0].block
    # copies run iterations ahead: a store in the loop could write what a later load reads
    if any(op.name in _WRITES for op in loop.walk()):
        return None
    advance = _advanced(loop, cx)
    allowed = {body.args[0], *advance}
    operands: list[_Operand] = []
    skip: list[Operation] = []
    offset = 0
    for dot in (op for op in body.ops if op.name == "tt.dot"):
        kind = mma_kind(dot, cx.arch.cc)
        if kind is None or not mma_eligible(dot, cx.assign.home[dot.results[0]], cx.arch.cc):
            continue
        m, k = irt.shape_of(dot.operands[0].type)
        n = irt.shape_of(dot.operands[1].type)[1]
        acc_layout = cx.assign.home[dot.results[0]]
        wgmma = wgmma_eligible(dot, acc_layout, cx.arch.cc)
        for index, v in enumerate(dot.operands[:2]):
            found = _operand_load(v, body, index)
            if found is None:
                continue
            load, k_major = found
            if index == 1 and not k_major and kind.k_major_b:
                continue  # 8-bit b must be stored [N, K]: .trans cannot transpose it
            if len(load.operands) > 2 and not _is_zero(load.operands[2]):
                continue
            layout = cx.assign.home[load.results[0]]
            planned = cx.tma_loads.get(load) if wgmma else None
            if planned is not None:
                info, spec, box_tile = planned
                want = wgmma_tiles(kind, m, n, k, acc_layout.wpc[0], k_major)[index]
                if box_tile == want and all(
                    _index_math(loop, x, allowed, cx) for x in tma.offsets(info)
                ):
                    offset = (offset + want.align - 1) // want.align * want.align
                    operands.append(
                        _Operand(dot, index, load, want, offset, layout, 0, k_major, (info, spec))
                    )
                    cx.tma_used.add(spec)
                    skip.append(load)
                    if k_major:
                        skip.append(v.defining_op)  # type: ignore[arg-type]
                    offset += want.nbytes
                    continue
            used: set[Value] = set()
            if not all(_index_math(loop, x, allowed, cx, used) for x in load.operands[:2]):
                continue
            # an advanced tile is read in its own layout: no conversion while substituting
            if any(
                isinstance(a.type, irt.TensorType) and cx.assign.home[a] != layout for a in used
            ):
                continue
            vec = vector_width(cx, load, layout)
            if vec * kind.esize < 4 or layout.order[0] != 1:
                continue
            tile: SwizzledTile | WgmmaTile
            if wgmma:
                tile = wgmma_tiles(kind, m, n, k, acc_layout.wpc[0], k_major)[index]
            else:
                tile = operand_tiles(kind, m, n, k, k_major)[index]
            offset = (offset + tile.align - 1) // tile.align * tile.align
            operands.append(_Operand(dot, index, load, tile, offset, layout, vec, k_major))
            skip.append(load)
            if k_major:
                skip.append(v.defining_op)  # type: ignore[arg-type]
            offset += tile.nbytes
    if not operands:
        return None
    align = max(o.tile.align for o in operands)
    offset = (offset + align - 1) // align * align  # every stage starts aligned
    stages = cx.num_stages
    per_stage = offset + (8 if any(o.tma for o in operands) else 0)  # + its mbarrier
    while stages > 2 and cx.smem_floor + stages * per_stage > max_shared(cx.arch.cc):
        stages -= 1
    if cx.smem_floor + stages * per_stage > max_shared(cx.arch.cc):
        return None
    cx.skip_ops.update(skip)
    return LoopPipeline(cx, loop, operands, advance, stages, offset)
