"""Tile IR -> LLVM IR for one kernel: the :class:`Lowering` context and the op dispatch.

The kernel becomes one LLVM function per program instance::

    void program(ptr args, i32 pid_x, i32 pid_y, i32 pid_z, i32 n_x, i32 n_y, i32 n_z, ptr err)

``args`` points at 8-byte slots holding the kernel's parameters (see ``launcher``). Ops are
lowered in program order by two dispatch tables with uniform signatures:

* ``STATEMENT_RULES[name](cx, op)`` for ops that do something where they stand (stores,
  reductions, dots, control flow, scalars' memory ops) and set the refs of their results;
* ``LAZY_RULES[name](cx, op, idx) -> vector`` computing one chunk of a fused tile.

Elementwise ops on scalars go straight through :data:`elementwise.ELEMENTWISE`. Which tiles
are fused and which are materialized is decided up front (``analysis.classify_lazy``); a tile
is then a :class:`tiles.Scalar`, :class:`tiles.Lazy`, :class:`tiles.Buffer` or
:class:`tiles.Offset` reference (``self.refs``). Functions reached by ``tt.call`` are lowered
by a child :class:`Lowering` that shares the module (``calls``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.accumulators import reduce_carried_accumulators
from tritium.backends.cpu.analysis import (
    LAZY_OPS,
    classify_lazy,
    last_dim_stride,
    write_through_reduce,
)
from tritium.backends.cpu.casts import constant, convert
from tritium.backends.cpu.cold_loops import cold_loops
from tritium.backends.cpu.elementwise import ELEMENTWISE, chunk_lanes
from tritium.backends.cpu.folding import FoldingBuilder
from tritium.backends.cpu.if_sink import sink_into_ifs
from tritium.backends.cpu.line_info import LineInfo, wants_lines
from tritium.backends.cpu.lock_fuse import fuse_critical_sections
from tritium.backends.cpu.loop_masks import fold_loop_bound_masks
from tritium.backends.cpu.reduce_layout import transpose_strided_reductions
from tritium.backends.cpu.sum_operands import simplify_sum_operands
from tritium.backends.cpu.target import HostTarget
from tritium.backends.cpu.tiles import (
    Buffer,
    Index,
    Lazy,
    Offset,
    Pending,
    Ref,
    Scalar,
    contiguous_strides,
)
from tritium.backends.cpu.welford import reduce_carried_welford
from tritium.errors import InternalCompilerError
from tritium.ir import Block, Operation, Value, is_elementwise
from tritium.ir import types as irt

__all__ = ["Lowering", "STATEMENT_RULES", "LAZY_RULES", "PROGRAM_NAME"]

StatementRule = Callable[["Lowering", Operation], None]
LazyRule = Callable[["Lowering", Operation, Index], ll.Value]
STATEMENT_RULES: dict[str, StatementRule] = {}
LAZY_RULES: dict[str, LazyRule] = {}

PROGRAM_NAME = "tritium.program"
# for A/B timing in one process (benchmarks), not a user setting: ``chunk_at``'s addresses as
# one per block plus constant offsets (False: each chunk's offset computed on its own)
_BLOCK_ADDRESSES = True


def statement(*names: str) -> Callable[[StatementRule], StatementRule]:
    """Register a statement lowering rule for ``names``."""

    def deco(fn: StatementRule) -> StatementRule:
        for n in names:
            STATEMENT_RULES[n] = fn
        return fn

    return deco


def lazy_rule(*names: str) -> Callable[[LazyRule], LazyRule]:
    """Register a chunk-evaluation rule for ``names``."""

    def deco(fn: LazyRule) -> LazyRule:
        for n in names:
            LAZY_RULES[n] = fn
        return fn

    return deco


class Lowering:
    """Everything the rules share while lowering one kernel."""

    def __init__(
        self,
        func: Operation,
        target: HostTarget,
        options: dict[str, Any],
        root: Lowering | None = None,
    ) -> None:
        self.func = func
        self.target = target
        self.options = options
        self.root = root or self  # the kernel's lowering; callees share its module and tables
        self.is_kernel = root is None
        # lanes per chunk (target.vector_width is one register's f32 lanes): see chunk_lanes
        self.vw: int = int(options.get("vector_width") or chunk_lanes(target, func))
        self.grid_fast_axis = 0  # set by the backend from grid_order.fast_axis
        self.grid_period = 0  # set by the backend from grid_order.residue_period
        self.grid_heavy_first = False  # set by the backend from heavy_first.heavy_first
        self.grid_owned = False  # set by the backend from launcher.owned_shares
        # f32 -> bf16 rounds in integers (casts.narrow_f32) on every x86 CPU: AVX512-BF16's
        # and AVX-NE-CONVERT's vcvtneps2bf16 flush subnormal inputs to zero, which neither
        # Triton on a GPU, torch nor the interpreter do
        self.native_bf16 = False
        if root is None:
            fold_loop_bound_masks(func)  # first: the accumulator updates lose the mask too
            reduce_carried_welford(func)  # Inductor's looped var_mean: carried per row
            reduce_carried_accumulators(func)  # before the fusion analysis sees the loops
            transpose_strided_reductions(func)  # after: it moved reductions into the loops
            simplify_sum_operands(func)  # after the two above: the sums they made match too
            fuse_critical_sections(func)  # a lock's row updates: into the reduction's loop
            sink_into_ifs(func)  # an if's stored results: stored in its branches, no buffers
        self.lazy, self.cheap = classify_lazy(func)
        self.stride_memo: dict[Value, int | None] = {}
        self.refs: dict[Value, Ref] = {}
        self.folded: set[Operation] = set()
        self.pending: dict[Operation, list[Value]] = {}  # consumer -> values it stores
        self.prefetch_delta: dict[Operation, ll.Value] = {}  # see prefetch.plan_prefetch
        self.same_line = False  # see prefetch.emit_prefetch
        self.fence_worker = False  # see streaming.fence_at_worker_end
        self.current_op: Operation | None = None
        name = str(func.attrs.get("sym_name", "kernel"))
        if root is None:
            self.module = ll.Module(name=name)
            self.stack_bytes = 0  # all frames together, callees' included
            self.asserts: list[str] = []  # messages of tt.assert ops, by id - 1
            self.prints = 0
            self.amx_tiles = False  # dot_amx's hardware tiles: the artifact is marked
            self.callees: dict[str, ll.Function] = {}
            # (args, pid x/y/z, n x/y/z, err, scratch): ``scratch`` points at the calling
            # worker's SCRATCH_SLOTS pointers (see launcher._emit_worker)
            fnty = ll.FunctionType(lu.VOID, [lu.PTR] + [lu.I32] * 6 + [lu.PTR, lu.PTR])
            self.fn = ll.Function(self.module, fnty, name=PROGRAM_NAME)
            self.args_ptr, *pid_args, self.err_ptr, self.scratch_ptr = self.fn.args
        else:
            self.module = root.module
            # callee(params..., pid x/y/z, n x/y/z, err, result slots...) -> i32 failed
            body = func.regions[0].block
            params = [
                lu.PTR if isinstance(a.type, irt.TensorType) else lu.llvm_type(a.type)
                for a in body.args
            ]
            n_res = len(func.attrs["function_type"].results)
            fnty = ll.FunctionType(lu.I32, params + [lu.I32] * 6 + [lu.PTR] * (1 + n_res))
            self.fn = ll.Function(self.module, fnty, name=f"tritium.callee.{name}")
            args = list(self.fn.args)
            self.params = args[: len(params)]
            pid_args = args[len(params) : len(params) + 6]
            self.err_ptr = args[len(params) + 6]
            self.scratch_ptr = None
            self.result_slots = args[len(params) + 7 :]
        self.fn.linkage = "internal"
        self.pids, self.nprogs = pid_args[:3], pid_args[3:]
        self.alloca_block = self.fn.append_basic_block("allocas")
        start = self.fn.append_basic_block("start")
        self.b: ll.IRBuilder = FoldingBuilder(start)  # trivial integer math folded as emitted
        # instrumentation_mode="lines": every instruction carries its op's source line
        self.lines: LineInfo | None = None
        self.scope: Any = None
        if wants_lines(options):
            loc = func.loc
            if root is None:
                self.lines = LineInfo(self.module, loc.file)
            else:
                self.lines = root.lines
            assert self.lines is not None
            self.scope = self.lines.subprogram(self.fn, name, loc)

    # ---- driving ------------------------------------------------------------------------
    def lower_kernel(self) -> None:
        """Emit the program function."""
        body = self.func.regions[0].block
        for i, arg in enumerate(body.args):
            self.refs[arg] = Scalar(self._unpack_arg(i, arg.type))
        self.lower_block(body)
        if not self.b.block.is_terminated:
            self.b.ret_void()
        with self.b.goto_block(self.alloca_block):
            self.b.branch(self.fn.basic_blocks[1])

    def lower_callee(self) -> None:
        """Emit a private function called by ``tt.call`` (tiles passed in buffers)."""
        body = self.func.regions[0].block
        for arg, param in zip(body.args, self.params, strict=True):
            if isinstance(arg.type, irt.TensorType):
                shape = arg.type.shape
                self.refs[arg] = Buffer(param, shape, contiguous_strides(shape), arg.type.element)
            else:
                self.refs[arg] = Scalar(param)
        self.lower_block(body)
        if not self.b.block.is_terminated:
            self.b.ret(ll.Constant(lu.I32, 0))
        with self.b.goto_block(self.alloca_block):
            self.b.branch(self.fn.basic_blocks[1])

    def fail_return(self) -> None:
        """Leave the program after a failed assertion (callees tell their caller)."""
        if self.is_kernel:
            self.b.ret_void()
        else:
            self.b.ret(ll.Constant(lu.I32, 1))

    def _unpack_arg(self, i: int, t: irt.Type) -> ll.Value:
        b = self.b
        slot = b.gep(self.args_ptr, [ll.Constant(lu.I64, 8 * i)], source_etype=lu.I8)
        if isinstance(t, irt.PointerType):
            return b.load(slot, typ=lu.I64, align=8)
        lt = lu.llvm_type(t)
        if isinstance(lt, ll.IntType):
            raw = b.load(slot, typ=lu.I64, align=8)
            return raw if lt.width == 64 else b.trunc(raw, lt)
        raw = b.load(slot, typ=lu.F64, align=8)
        return raw if lt == lu.F64 else convert(self, raw, irt.f64, t)

    def lower_block(self, block: Block) -> None:
        """Lower the ops of ``block`` except a scf terminator (its owner handles that)."""
        for op in block.ops:
            if op.name in ("scf.yield", "scf.condition"):
                return
            self.lower_op(op)

    def lower_op(self, op: Operation) -> None:
        """Lower one op; errors other than ours become an InternalCompilerError naming it."""
        self.current_op = op
        if self.lines is None:
            self._lower_op(op)
            return
        # the op's instructions carry its line; what its owner emits after it, the owner's
        outer = self.b.debug_metadata
        self.b.debug_metadata = self.lines.at(self.scope, op.loc)
        try:
            self._lower_op(op)
        finally:
            self.b.debug_metadata = outer

    def _lower_op(self, op: Operation) -> None:
        if op in self.folded:
            return  # an earlier rule computed this op's results (see dot._fold_accumulate)
        try:
            rule = STATEMENT_RULES.get(op.name)
            if rule is not None:
                rule(self, op)
                for v in self.pending.pop(op, ()):
                    ref = self.refs[v]
                    assert isinstance(ref, Pending) and ref.buf is not None
                    self.refs[v] = ref.buf
                return
            if op.results and all(not isinstance(r.type, irt.TensorType) for r in op.results):
                self._lower_scalar(op)
                return
            if op.name in LAZY_OPS or is_elementwise(op.name) or op.name in ELEMENTWISE:
                self.define_tile(op)
                return
            raise self.error(f"the CPU backend cannot lower {op.name}", op)
        except InternalCompilerError:
            raise
        except (KeyError, TypeError, ValueError, AssertionError) as e:
            raise self.error(f"{type(e).__name__}: {e}", op) from e

    def define_tile(self, op: Operation) -> None:
        """Make ``op``'s tile result fused, or compute it into a buffer right here."""
        v = op.result
        self.refs[v] = Lazy(op)
        if v in self.lazy:
            return
        by = write_through_reduce(op, self.lazy, self.cheap)
        if by is not None:
            assert isinstance(v.type, irt.TensorType)
            buf = self.alloc(v.type.shape, v.type.element)
            self.refs[v] = Pending(op, buf, by)
            self.pending.setdefault(by, []).append(v)
            return
        self.refs[v] = self.materialize(v)

    def error(self, message: str, op: Operation | None = None) -> InternalCompilerError:
        """An InternalCompilerError about ``op`` (default: the op being lowered)."""
        op = op or self.current_op
        where = f" ({op.loc})" if op is not None else ""
        return InternalCompilerError(message + where, pass_name="cpu-codegen", op=op)

    def _lower_scalar(self, op: Operation) -> None:
        if op.name == "arith.constant":
            self.refs[op.result] = Scalar(constant(op))
            return
        rule = ELEMENTWISE.get(op.name)
        if rule is None:
            raise self.error(f"the CPU backend cannot lower scalar {op.name}", op)
        args = [self.scalar(o) for o in op.operands]
        self.refs[op.result] = Scalar(rule(self, op, args))

    # ---- values -------------------------------------------------------------------------
    def scalar(self, v: Value) -> ll.Value:
        """The LLVM value of a rank-0 IR value."""
        ref = self.refs[v]
        if not isinstance(ref, Scalar):
            raise self.error(f"expected a scalar, got a tile {v.type}")
        return ref.value

    def stride(self, v: Value) -> int | None:
        """Constant stride of ``v`` along its last dimension (see analysis.last_dim_stride)."""
        return last_dim_stride(v, self.stride_memo)

    def eval(self, v: Value, idx: Index) -> ll.Value:
        """One chunk (``idx.width`` lanes) of ``v`` as an LLVM vector.

        A fused chain of elementwise ops is evaluated with an explicit stack, operands first:
        a chain as long as the kernel (``tl.static_range(600)`` of updates) must not exhaust
        Python's recursion limit."""
        hit = idx.cache.get(id(v))
        if hit is not None:
            return hit
        stack = [v]
        while stack:
            cur = stack[-1]
            if id(cur) in idx.cache:
                stack.pop()
                continue
            ref = self.refs[cur]
            if isinstance(ref, Offset):
                deps = [ref.base]
            elif isinstance(ref, (Scalar, Buffer)) or ref.op.name in LAZY_RULES:
                deps = []
            else:
                deps = list(ref.op.operands)
            pending = [d for d in deps if id(d) not in idx.cache]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            idx.cache[id(cur)] = self._eval_one(ref, idx)
        return idx.cache[id(v)]

    def _eval_one(self, ref: Any, idx: Index) -> ll.Value:
        """One chunk of one value whose operands are already in ``idx.cache``."""
        if isinstance(ref, Scalar):
            return lu.splat(self.b, ref.value, idx.width)
        if isinstance(ref, Buffer):
            return self.read_buffer(ref, idx)
        if isinstance(ref, Offset):
            base = idx.cache[id(ref.base)]
            return self.b.add(base, lu.splat(self.b, ref.delta, idx.width))
        if self.lines is None:
            val = self._eval_op(ref.op, idx)
        else:  # a fused op's instructions belong to its own line, not to the consumer's
            outer = self.b.debug_metadata
            self.b.debug_metadata = self.lines.at(self.scope, ref.op.loc)
            try:
                val = self._eval_op(ref.op, idx)
            finally:
                self.b.debug_metadata = outer
        if isinstance(ref, Pending):  # a reduction's operand, stored while it is reduced
            assert ref.buf is not None
            self.write_chunk(ref.buf, idx, val)
        return val

    def _eval_op(self, op: Operation, idx: Index) -> ll.Value:
        rule = LAZY_RULES.get(op.name)
        if rule is not None:
            return rule(self, op, idx)
        fn = ELEMENTWISE.get(op.name)
        if fn is None:
            raise self.error(f"cannot fuse {op.name}", op)
        return fn(self, op, [idx.cache[id(o)] for o in op.operands])

    # ---- buffers ------------------------------------------------------------------------
    def alloc(self, shape: tuple[int, ...], elem: irt.Type, name: str = "tile") -> Buffer:
        """A fresh contiguous stack buffer for a tile."""
        n = 1
        for s in shape:
            n *= s
        mt = lu.mem_type(elem)
        self.root.stack_bytes += n * lu.elem_size(elem)
        ptr = lu.entry_alloca(self.b, self.alloca_block, mt, n, align=64, name=name)
        return Buffer(ptr, tuple(shape), contiguous_strides(tuple(shape)), elem)

    def elem_ptr(self, buf: Buffer, idx: Index) -> tuple[ll.Value, ll.Value]:
        """(address of the chunk's first element, its element offset: i64 when a chunk loop's
        counter is among the dimensions, else i32)."""
        b = self.b
        terms = [
            (d, stride)
            for d, stride in zip(idx.dims, buf.strides, strict=True)
            if stride != 0 and not (isinstance(d, ll.Constant) and d.constant == 0)
        ]
        if any(lu.wide_counter(d) is not None for d, _ in terms):
            # in i64 from the loops' own i64 counters: no i32 offset for LLVM to widen
            off: ll.Value = ll.Constant(lu.I64, buf.offset)
            for d, stride in terms:
                w = lu.wide_counter(d)
                if w is None:  # chunk positions are never negative
                    w = ll.Constant(lu.I64, d.constant) if isinstance(d, ll.Constant) else None
                    w = w or b.zext(d, lu.I64)
                term = w if stride == 1 else b.mul(w, ll.Constant(lu.I64, stride), flags=["nsw"])
                off = b.add(off, term, flags=["nsw"])
            wide = off
        else:
            off = ll.Constant(lu.I32, buf.offset)
            for d, stride in terms:
                term = d if stride == 1 else b.mul(d, ll.Constant(lu.I32, stride), flags=["nsw"])
                off = b.add(off, term, flags=["nsw"])
            wide = b.zext(off, lu.I64)
        ptr = b.gep(buf.ptr, [wide], source_etype=lu.mem_type(buf.elem), inbounds=True)
        return ptr, off

    def chunk_at(self, buf: Buffer, idx: Index) -> Callable[..., ll.Value]:
        """``at(*steps)``: the address of the chunk ``steps`` elements (constants, one per
        dimension) from ``idx``'s in ``buf``, a constant offset from the one address computed
        here; for :meth:`read_buffer` and :meth:`write_chunk`'s ``at``.

        A register block's chunks (a dot's accumulators ``(row0 + r, col0 + c)``, a
        transposed block's rows) addressed one by one each recomputed ``(row0 + r) * stride +
        col0 + c`` and its extension to i64: in tutorial 06's attention a sixth of the
        unoptimized IR, which LLVM's InstCombine then reassociated term by term (issue 13)."""
        base, _ = self.elem_ptr(buf, idx)
        mt = lu.mem_type(buf.elem)

        def at(*steps: int) -> ll.Value:
            if not _BLOCK_ADDRESSES:  # each chunk's own offset, as before (A/B timings)
                b = self.b
                dims = [b.add(d, ll.Constant(d.type, s)) for d, s in zip(idx.dims, steps)]
                return self.elem_ptr(buf, Index(tuple(dims), idx.width))[0]
            delta = sum(s * stride for s, stride in zip(steps, buf.strides, strict=True))
            if delta == 0:
                return base
            return self.b.gep(base, [ll.Constant(lu.I64, delta)], source_etype=mt, inbounds=True)

        return at

    def read_buffer(self, buf: Buffer, idx: Index, at: ll.Value | None = None) -> ll.Value:
        """One chunk of a buffer: a vector load, or a gather for a strided view. ``at``: the
        chunk's address, when the caller has it (:meth:`chunk_at`; contiguous rows only)."""
        b = self.b
        mt, lt = lu.mem_type(buf.elem), lu.llvm_type(buf.elem)
        ptr, off = (at, None) if at is not None else self.elem_ptr(buf, idx)
        size = lu.elem_size(buf.elem)
        w = idx.width
        if w == 1 or buf.strides[-1] == 1:
            val = b.load(ptr, typ=lu.vec(mt, w), align=size)
        else:
            assert off is not None, "a strided chunk is addressed by its offset"
            off = off if off.type == lu.I32 else b.trunc(off, lu.I32)
            lanes = b.mul(lu.lane_iota(w), lu.const(lu.I32, buf.strides[-1], w))
            offs = b.add(lu.splat(b, off, w), lanes)
            ptrs = b.gep(buf.ptr, [b.zext(offs, lu.vec(lu.I64, w))], source_etype=mt)
            ptrs.type = lu.vec(lu.PTR, w)  # llvmlite types a vector GEP as a scalar ptr
            if str(mt) in ("half", "bfloat"):  # gathered as i16, see memory.load_vector
                val = b.bitcast(
                    self.gather(ptrs, lu.vec(lu.I16, w), size, None, None), lu.vec(mt, w)
                )
            else:
                val = self.gather(ptrs, lu.vec(mt, w), size, None, None)
        if lt == lu.I1:
            val = b.trunc(val, lu.vec(lu.I1, w))
        return val

    def write_chunk(
        self, buf: Buffer, idx: Index, value: ll.Value, at: ll.Value | None = None
    ) -> None:
        """Store one chunk into a buffer: a vector store, or a scatter for a strided view.
        ``at``: the chunk's address, as for :meth:`read_buffer`."""
        b = self.b
        ptr, off = (at, None) if at is not None else self.elem_ptr(buf, idx)
        w = idx.width
        if lu.llvm_type(buf.elem) == lu.I1:
            value = b.zext(value, lu.vec(lu.I8, w))
        size = lu.elem_size(buf.elem)
        if w == 1 or buf.strides[-1] == 1:
            b.store(value, ptr, align=size)
            return
        assert off is not None, "a strided chunk is addressed by its offset"
        off = off if off.type == lu.I32 else b.trunc(off, lu.I32)
        lanes = b.mul(lu.lane_iota(w), lu.const(lu.I32, buf.strides[-1], w))
        offs = b.add(lu.splat(b, off, w), lanes)
        ptrs = b.gep(buf.ptr, [b.zext(offs, lu.vec(lu.I64, w))], source_etype=lu.mem_type(buf.elem))
        ptrs.type = lu.vec(lu.PTR, w)
        if str(value.type.element) in ("half", "bfloat"):
            value = b.bitcast(value, lu.vec(lu.I16, w))
        vty = value.type
        name = f"llvm.masked.scatter.{lu.type_suffix(vty)}.v{w}p0"
        fn = lu.intrinsic(self.module, name, lu.VOID, [vty, ptrs.type, lu.I32, lu.vec(lu.I1, w)])
        b.call(fn, [value, ptrs, ll.Constant(lu.I32, size), lu.const(lu.I1, 1, w)])

    def gather(
        self,
        ptrs: ll.Value,
        vty: ll.VectorType,
        align: int,
        mask: ll.Value | None,
        other: ll.Value | None,
    ) -> ll.Value:
        """``llvm.masked.gather`` (all lanes when ``mask`` is None)."""
        w = vty.count
        if mask is None:
            mask = lu.const(lu.I1, 1, w)
        if other is None:
            other = ll.Constant(vty, None)
        name = f"llvm.masked.gather.{lu.type_suffix(vty)}.v{w}p0"
        fn = lu.intrinsic(self.module, name, vty, [ptrs.type, lu.I32, mask.type, vty])
        return self.b.call(fn, [ptrs, ll.Constant(lu.I32, align), mask, other])

    def materialize(self, v: Value) -> Buffer:
        """``v`` as a buffer (computing it into a fresh one unless it already is one)."""
        ref = self.refs[v]
        if isinstance(ref, Buffer):
            return ref
        assert isinstance(v.type, irt.TensorType)
        buf = self.alloc(v.type.shape, v.type.element)
        self.write_tile(v, buf)
        return buf

    def write_tile(
        self, v: Value, dest: Buffer, convert: Callable[[ll.Value], ll.Value] | None = None
    ) -> None:
        """Compute all of ``v`` into ``dest`` (same shape), chunk by chunk."""
        assert isinstance(v.type, irt.TensorType)
        for idx in self.chunks(v.type.shape):
            val = self.eval(v, idx)
            self.write_chunk(dest, idx, convert(val) if convert else val)

    # ---- loops --------------------------------------------------------------------------
    def chunk_width(self, shape: tuple[int, ...]) -> int:
        """Lanes per chunk for a tile of ``shape``: the largest power of two that divides the
        last dimension, up to the vector width (non-power-of-two tiles get narrower chunks,
        never odd vector lengths)."""
        last = shape[-1] if shape else 1
        w = 1
        while w * 2 <= self.vw and last % (w * 2) == 0:
            w *= 2
        return w

    def cold_loops(self) -> contextlib.AbstractContextManager[None]:
        """Loops built inside this ``with`` run once per program: no vectorizing or
        unrolling (:mod:`cold_loops`; smaller code, a faster compile)."""
        return cold_loops(self.b)

    def chunks(self, shape: tuple[int, ...], width: int | None = None) -> Iterator[Index]:
        """Iterate (as a generator driving the builder) over the chunks of ``shape``: the
        caller's loop body is emitted once, inside nested LLVM loops."""
        w = width or self.chunk_width(shape)
        yield from self._loop_dims(list(shape), w, [])

    def _loop_dims(self, shape: list[int], width: int, dims: list[ll.Value]) -> Iterator[Index]:
        d = len(dims)
        if d == len(shape):
            yield Index(tuple(dims), width)
            return
        last = d == len(shape) - 1
        step = width if last else 1
        if shape[d] == step:
            yield from self._loop_dims(shape, width, dims + [ll.Constant(lu.I32, 0)])
            return
        with lu.for_range(
            self.b,
            ll.Constant(lu.I32, 0),
            ll.Constant(lu.I32, shape[d]),
            step,
            name=f"d{d}",
            wide=True,
        ) as i:
            yield from self._loop_dims(shape, width, dims + [i])


# lazy rules and statements for the remaining op families register themselves on import
from tritium.backends.cpu import (  # noqa: E402,F401
    calls,
    control,
    debug,
    dot,
    memory,
    reduce,
    shapes,
)

# a definition's header: ``define ...(params)``, then a ``!dbg`` attachment in line-table mode;
# matched from the newline before it: a pattern that starts with a literal is searched for as
# one (``^`` in MULTILINE mode tried every position: 1.6 ms of tutorial 06's text, now 0.1)
_DEFINE_RE = re.compile(r"\n(define [^\n]*\))((?: ![^\n]*)?)\n\{")


def function_attributes(ir_text: str, target: HostTarget, vw: int) -> str:
    """Attach target attributes (vector width preferences, stack probing) to every defined
    function: llvmlite.ir cannot express string attributes.

    The program function is also ``noinline``. Its one caller is the launcher's worker loop,
    and inlining it there made LLVM run the whole function simplification pipeline over the
    program twice: once on its own, then again inside the worker. Keeping it a function
    costs one call per program instance (the program's work is microseconds or more) and
    took about 15% off the tutorial matmul's LLVM optimization time (issue 13); kernel times
    were unchanged (benchmarks A/B, interleaved in one process).
    """
    attrs = " ".join(['"probe-stack"="inline-asm"', '"frame-pointer"="none"'])
    if target.has("avx512f") and vw >= 16:
        # without these the x86 backend splits explicit 512-bit vectors into 256-bit halves
        attrs += ' "prefer-vector-width"="512" "min-legal-vector-width"="512"'
    program = f'@"{PROGRAM_NAME}"('

    def tag(m: re.Match[str]) -> str:
        group = " #91" if program in m.group(1) else " #90"
        return f"\n{m.group(1)}{group}{m.group(2)}\n{{"  # attributes go before ``!dbg``

    out = _DEFINE_RE.sub(tag, "\n" + ir_text)[1:]
    return (
        f"{out}\nattributes #90 = {{ nounwind {attrs} }}\n"
        f"attributes #91 = {{ noinline nounwind {attrs} }}\n"
    )
