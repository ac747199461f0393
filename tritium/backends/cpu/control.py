"""Lowering of structured control flow: ``scf.for``, ``scf.if``, ``scf.while``, ``tt.return``.

Loop-carried scalars live in entry-block allocas (promoted to phis by mem2reg). Loop-carried
tiles live in one buffer per slot; ``scf.yield`` computes the next values into those
buffers. Because a yielded value may read the current contents of the buffers it is about
to overwrite, a yielded tile is written directly only when that is safe (it reads its own
slot chunk-for-chunk at most, and no other yielded value reads that slot); otherwise it is
computed into a temporary first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.analysis import advanced_slot
from tritium.backends.cpu.codegen import Lowering, statement
from tritium.backends.cpu.tiles import Buffer, Lazy, Offset, Scalar
from tritium.ir import Block, Operation, Value
from tritium.ir import types as irt

# Called with (cx, loop) before an ``scf.for`` is lowered; one may return an object whose
# ``finish()`` runs after the loop (``dot_kloop``: a K loop of dots, by chunks of K).
LOOP_HOOKS: list[Callable[[Lowering, Operation], Any]] = []


def _is_tile(v: Value) -> bool:
    return isinstance(v.type, irt.TensorType)


class _Slots:
    """Storage for the values carried by a loop or produced by an if: a buffer per tile, an
    alloca per scalar."""

    def __init__(self, cx: Lowering, types: list[irt.Type]) -> None:
        self.cx = cx
        self.types = types
        self.storage: list[Buffer | ll.Value] = []
        for t in types:
            if isinstance(t, irt.TensorType):
                self.storage.append(cx.alloc(t.shape, t.element, name="carried"))
            else:
                self.storage.append(
                    lu.entry_alloca(cx.b, cx.alloca_block, lu.llvm_type(t), align=8, name="var")
                )

    def refs(self) -> list[Scalar | Buffer]:
        """The current values of the slots (scalars loaded here)."""
        out: list[Scalar | Buffer] = []
        for t, s in zip(self.types, self.storage, strict=True):
            if isinstance(s, Buffer):
                out.append(s)
            else:
                out.append(Scalar(self.cx.b.load(s, typ=lu.llvm_type(t))))
        return out

    def write(self, values: list[Value]) -> None:
        """Store ``values`` into the slots, safely with respect to aliasing."""
        cx = self.cx
        carried = {id(s.ptr) for s in self.storage if isinstance(s, Buffer)}
        reads = [_buffer_reads(cx, v) if _is_tile(v) else [] for v in values]
        pending: list[tuple[int, Buffer]] = []
        direct: list[int] = []
        for i, (v, s) in enumerate(zip(values, self.storage, strict=True)):
            if not isinstance(s, Buffer):
                continue
            ref = cx.refs[v]
            if isinstance(ref, Buffer) and ref.ptr is s.ptr and ref.is_contiguous:
                continue  # already in place (the slot itself, or an in-place dot)
            own = id(s.ptr)
            safe = all(ptr == own and ident for ptr, ident in reads[i] if ptr in carried)
            safe = safe and not any(
                own == ptr for j, r in enumerate(reads) if j != i for ptr, _ in r
            )
            if safe:
                direct.append(i)
            else:
                tmp = cx.alloc(s.shape, s.elem, name="yield_tmp")
                cx.write_tile(v, tmp)
                pending.append((i, tmp))
        for v, s in zip(values, self.storage, strict=True):
            if not isinstance(s, Buffer):
                cx.b.store(cx.scalar(v), s)
        for i in direct:
            s = self.storage[i]
            assert isinstance(s, Buffer)
            cx.write_tile(values[i], s)
        for i, tmp in pending:
            s = self.storage[i]
            assert isinstance(s, Buffer)
            for idx in cx.chunks(s.shape):
                cx.write_chunk(s, idx, cx.read_buffer(tmp, idx))


def _buffer_reads(cx: Lowering, v: Value) -> list[tuple[int, bool]]:
    """(id of buffer pointer, read chunk-for-chunk at the same index) for every buffer the
    evaluation of ``v`` reads."""
    out: list[tuple[int, bool]] = []

    def walk(v: Value, identity: bool) -> None:
        ref = cx.refs.get(v)
        if isinstance(ref, Buffer):
            out.append((id(ref.ptr), identity and ref.is_contiguous))
        elif isinstance(ref, Offset):
            walk(ref.base, identity)
        elif isinstance(ref, Lazy):
            same = identity and ref.op.name not in ("tt.broadcast", "tt.expand_dims", "tt.join")
            for o in ref.op.operands:
                if _is_tile(o):
                    walk(o, same)

    walk(v, True)
    return out


def _bind(cx: Lowering, args: list[Value], refs: list[Scalar | Buffer]) -> None:
    for a, r in zip(args, refs, strict=True):
        cx.refs[a] = r


def _terminator(block: Block) -> Operation:
    term = block.terminator
    assert term is not None and term.name in ("scf.yield", "scf.condition"), term
    return term


@statement("scf.for")
def _for(cx: Lowering, op: Operation) -> None:
    b = cx.b
    hooked = [h for h in (hook(cx, op) for hook in LOOP_HOOKS) if h is not None]
    lb, ub, step = (cx.scalar(v) for v in op.operands[:3])
    inits = op.operands[3:]
    body = op.regions[0].block
    advanced = _Advanced(cx, op)
    kept = [i for i in range(len(inits)) if i not in advanced.steps]
    slots = _Slots(cx, [inits[i].type for i in kept])
    slots.write([inits[i] for i in kept])
    iv_ty = lb.type
    step_is_const = isinstance(step, ll.Constant)
    pre = b.block
    header = b.append_basic_block("for.head")
    loop = b.append_basic_block("for.body")
    exit_ = b.append_basic_block("for.exit")
    b.branch(header)
    b.position_at_end(header)
    iv = b.phi(iv_ty, name="iv")
    iv.add_incoming(lb, pre)
    if step_is_const and step.constant < 0:
        cond = b.icmp_signed(">", iv, ub)
    elif step_is_const:
        cond = b.icmp_signed("<", iv, ub)
    else:
        up = b.icmp_signed(">", step, ll.Constant(iv_ty, 0))
        cond = b.select(up, b.icmp_signed("<", iv, ub), b.icmp_signed(">", iv, ub))
    b.cbranch(cond, loop, exit_)
    b.position_at_end(loop)
    cx.refs[body.args[0]] = Scalar(iv)
    _bind(cx, [body.args[1 + i] for i in kept], slots.refs())
    advanced.bind(body.args[1:])
    cx.lower_block(body)
    yielded = list(_terminator(body).operands)
    advanced.step()
    slots.write([yielded[i] for i in kept])
    nxt = b.add(iv, step)
    iv.add_incoming(nxt, b.block)
    b.branch(header)
    b.position_at_end(exit_)
    _bind(cx, [op.results[i] for i in kept], slots.refs())
    advanced.bind(op.results)
    for h in hooked:
        h.finish()


class _Advanced:
    """The carried tiles a loop only advances by a uniform step (``ptrs += BLOCK * stride``):
    each is its initial tile plus a scalar delta, and only the delta is carried."""

    def __init__(self, cx: Lowering, loop: Operation) -> None:
        self.cx = cx
        self.loop = loop
        self.steps: dict[int, Value | int] = {}
        self.deltas: dict[int, ll.Value] = {}
        for i, init in enumerate(loop.operands[3:]):
            s = advanced_slot(loop, i)
            if s is None:
                continue
            self.steps[i] = s
            if isinstance(cx.refs[init], Lazy) and init not in cx.cheap:
                cx.refs[init] = cx.materialize(init)  # computed once, not per iteration
            slot = lu.entry_alloca(cx.b, cx.alloca_block, lu.llvm_type(init.type), align=8)
            cx.b.store(ll.Constant(slot_type(init), 0), slot)
            self.deltas[i] = slot

    def bind(self, values: list[Value]) -> None:
        """Make ``values`` (block arguments or loop results) base + current delta."""
        for i, slot in self.deltas.items():
            init = self.loop.operands[3 + i]
            delta = self.cx.b.load(slot, typ=slot_type(init))
            self.cx.refs[values[i]] = Offset(init, delta)

    def step(self) -> None:
        """Advance every delta by its step (elements of the pointee for pointers)."""
        b = self.cx.b
        for i, slot in self.deltas.items():
            init = self.loop.operands[3 + i]
            ty = slot_type(init)
            s = self.steps[i]
            inc = ll.Constant(ty, s) if isinstance(s, int) else _resize(b, self.cx.scalar(s), ty)
            elem = irt.element_type(init.type)
            if isinstance(elem, irt.PointerType):
                inc = b.mul(inc, ll.Constant(ty, lu.elem_size(elem.pointee)))
            b.store(b.add(b.load(slot, typ=ty), inc), slot)


def slot_type(v: Value) -> ll.IntType:
    """The scalar type of a delta: i64 bytes for pointer tiles, the element type for ints."""
    return lu.llvm_type(v.type)  # type: ignore[return-value]


def _resize(b: ll.IRBuilder, v: ll.Value, ty: ll.IntType) -> ll.Value:
    if v.type.width < ty.width:
        return b.sext(v, ty)
    if v.type.width > ty.width:
        return b.trunc(v, ty)
    return v


@statement("scf.if")
def _if(cx: Lowering, op: Operation) -> None:
    b = cx.b
    cond = cx.scalar(op.operands[0])
    slots = _Slots(cx, [r.type for r in op.results])
    then_r, else_r = op.regions
    if else_r.blocks:
        with b.if_else(cond) as (then, otherwise):
            with then:
                cx.lower_block(then_r.block)
                slots.write(list(_terminator(then_r.block).operands))
            with otherwise:
                cx.lower_block(else_r.block)
                slots.write(list(_terminator(else_r.block).operands))
    else:
        with b.if_then(cond):
            cx.lower_block(then_r.block)
            term = then_r.block.terminator
            if term is not None and term.name == "scf.yield":
                slots.write(list(term.operands))
    _bind(cx, op.results, slots.refs())


@statement("scf.while")
def _while(cx: Lowering, op: Operation) -> None:
    b = cx.b
    before, after = (r.block for r in op.regions)
    carried = _Slots(cx, [v.type for v in op.operands])
    carried.write(list(op.operands))
    passed = _Slots(cx, [r.type for r in op.results])
    header = b.append_basic_block("while.head")
    loop = b.append_basic_block("while.body")
    exit_ = b.append_basic_block("while.exit")
    b.branch(header)
    b.position_at_end(header)
    _bind(cx, before.args, carried.refs())
    cx.lower_block(before)
    cond_op = _terminator(before)
    cond = cx.scalar(cond_op.operands[0])
    passed.write(list(cond_op.operands[1:]))
    b.cbranch(cond, loop, exit_)
    b.position_at_end(loop)
    spin = _spin_wait(op)
    if spin is not None:
        _wait_until_changed(cx, *spin)
    _bind(cx, after.args, passed.refs())
    cx.lower_block(after)
    carried.write(list(_terminator(after).operands))
    b.branch(header)
    b.position_at_end(exit_)
    _bind(cx, op.results, passed.refs())


def _spin_wait(op: Operation) -> tuple[Value, Value] | None:
    """(pointer, value) of a spin lock's acquire loop, ``while atomic_cas(p, c, v) == k:
    pass`` (tutorial 05), or None: a ``scf.while`` that carries nothing, whose condition is
    only a scalar integer compare-and-swap's old value compared equal to a value defined
    outside the loop, and whose body is empty."""
    before, after = (r.block for r in op.regions)
    if op.operands or op.results or len(after.ops) != 1 or len(before.ops) != 3:
        return None
    cas, cmp, cond = before.ops
    if cas.name != "tt.atomic_cas" or len(cas.operands) != 3 or _is_tile(cas.operands[0]):
        return None
    if not isinstance(cas.results[0].type, irt.IntType) or cas.results[0].type.width == 1:
        return None
    if cmp.name != "arith.cmpi" or cmp.attrs.get("predicate") != "eq":
        return None
    if cond.operands != [cmp.results[0]] or cas.results[0] not in cmp.operands:
        return None
    others = [v for v in cmp.operands if v is not cas.results[0]]
    if len(others) != 1:  # (the block has no arguments: the value is defined outside)
        return None
    return cas.operands[0], others[0]


def _wait_until_changed(cx: Lowering, ptr: Value, k: Value) -> None:
    """After a failed compare-and-swap of a spin loop, read the word (relaxed, no store) until
    it no longer holds ``k``, with a ``pause`` per read on x86, before trying again.

    A failed ``cmpxchg`` still takes the cache line exclusive, so spinning on it moves the
    line back and forth between the waiting core and the one that holds the lock (and wants
    to release it); a plain load keeps a shared copy until the release invalidates it. The
    loop still ends only by a compare-and-swap that returns something else than ``k``: the
    failed ones skipped here store nothing and return ``k``, so no outcome is added or lost.
    """
    b = cx.b
    want = cx.scalar(k)
    addr = b.inttoptr(cx.scalar(ptr), lu.PTR)
    head = b.append_basic_block("spin.head")
    pause_bb = b.append_basic_block("spin.pause")
    done = b.append_basic_block("spin.done")
    b.branch(head)
    b.position_at_end(head)
    size = want.type.width // 8
    now = b.load_atomic(addr, "monotonic", size, typ=want.type)
    b.cbranch(b.icmp_unsigned("==", now, want), pause_bb, done)
    b.position_at_end(pause_bb)
    if cx.target.triple.startswith(("x86_64", "i686", "i386")):
        b.call(lu.intrinsic(cx.module, "llvm.x86.sse2.pause", lu.VOID, []), [])
    b.branch(head)
    b.position_at_end(done)
