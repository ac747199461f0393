"""The CUDA lowering context: Tile IR -> one NVPTX kernel in LLVM IR.

Every tile is held *distributed*: in a layout (``layouts.Layout``), each thread holds a list
of LLVM scalar values, its registers, in row-major order over the layout's ``reg_shape``;
rank-0 values are one LLVM value, the same in every thread.

Ops with side effects or real cost (loads, reductions, loops...) are lowered in program order,
in their home layout (``assign.py``). Rematerializable index arithmetic is lowered lazily, in
whatever layout a consumer asks for (:meth:`Lowering.get`), memoized per region so a value
computed inside a loop body is not reused after it. When a consumer needs a tile in another
layout, :meth:`Lowering.convert` goes through shared memory.

Thread and warp ids, and each layout's per-thread base coordinates, are computed once in the
entry block, which ends in a branch to the body.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import llvmlite.ir as ll

from tritium.backends.cpu import casts
from tritium.backends.cpu.llvm_utils import I1, I8, I16, I32, BFloatType, llvm_type, mem_type
from tritium.backends.cuda.assign import Assignment, annotate, assign_layouts
from tritium.backends.cuda.axis_info import AxisInfo, analyze
from tritium.backends.cuda.elementwise import ELEMENTWISE
from tritium.backends.cuda.layouts import Layout, coord_parts
from tritium.backends.cuda.target import DATA_LAYOUT, TRIPLE, CudaArch
from tritium.errors import CompilationError
from tritium.ir import Operation, Value
from tritium.ir import types as irt

__all__ = ["Lowering", "STATEMENTS", "statement"]

Stmt = Callable[["Lowering", Operation], None]
STATEMENTS: dict[str, Stmt] = {}
SMEM = ll.PointerType(I8, 3)
GLOBAL = ll.PointerType(I8, 1)


def statement(*names: str) -> Callable[[Stmt], Stmt]:
    """Register the lowering of ops called ``names`` (they run in program order)."""

    def deco(fn: Stmt) -> Stmt:
        for n in names:
            STATEMENTS[n] = fn
        return fn

    return deco


def param_type(t: irt.Type) -> ll.Type:
    """How a kernel parameter of IR type ``t`` is passed: pointers as 64-bit addresses,
    booleans as bytes, 16-bit floats as their bits (the runtime packs the same way)."""
    lt = llvm_type(t)
    if lt == I1:
        return I8
    if isinstance(lt, (ll.HalfType, BFloatType)):
        return I16
    return lt


class Lowering:
    """Lowers one ``tt.func`` (see the module docstring)."""

    def __init__(self, func: Operation, arch: CudaArch, options: dict[str, Any]) -> None:
        self.func = func
        self.arch = arch
        self.name = str(func.attrs.get("sym_name", "kernel"))
        self.num_warps = int(options.get("num_warps", 4) or 4)
        if self.num_warps not in (1, 2, 4, 8, 16, 32):
            raise ValueError(f"num_warps must be a power of two from 1 to 32, got {self.num_warps}")
        _check_power_of_two_shapes(func)
        self.assign: Assignment = assign_layouts(func, self.num_warps, arch.cc)
        self.axis: dict[Value, AxisInfo] = analyze(func)
        self.module = ll.Module(name=self.name)
        self.module.triple = TRIPLE
        self.module.data_layout = DATA_LAYOUT
        self.native_bf16 = True  # read by the shared elementwise rules: LLVM legalizes bf16
        self.smem_bytes = 0
        # bytes at the bottom of the shared buffer held across a region (a pipelined loop's
        # stages): every other use of the buffer starts above them
        self.smem_floor = 0
        self.num_stages = int(options.get("num_stages") or 3)  # Triton's CUDA default
        self.skip_ops: set[Operation] = set()  # lowered by someone else (pipeline.py)
        self.pipelined_dots: dict[Operation, Any] = {}
        # wgmma dots whose b is tl.trans(x) used only there: x, staged K-major (dot.py)
        self.trans_b: dict[Operation, Value] = {}
        # TMA (tma.plan_tensor_maps): CUtensorMap parameters, the loads that may use them
        # (load -> (tt.descriptor_info, map index, tile)), the maps a pipeline took
        self.tensor_maps: list[Any] = []
        self.tma_loads: dict[Operation, tuple[Operation, int, Any]] = {}
        self.tma_used: set[int] = set()
        self.tma_stores: dict[Operation, tuple[Operation, int]] = {}
        self.vals: dict[Value, Any] = {}
        self._memo: dict[tuple[Value, Layout], list[ll.Value]] = {}
        self._scopes: list[list[tuple[Value, Layout]]] = [[]]
        self._bases: dict[tuple[Any, ...], ll.Value] = {}
        self._smem: ll.GlobalVariable | None = None

    # ---- the kernel ---------------------------------------------------------------------
    def lower_kernel(self) -> None:
        """Emit the kernel function."""
        block = self.func.regions[0].block
        ptypes = [param_type(a.type) for a in block.args]
        # CUtensorMap parameters of TMA loads (tma.py) follow the IR's parameters
        ptypes += [ll.PointerType()] * len(self.tensor_maps)
        fn = ll.Function(self.module, ll.FunctionType(ll.VoidType(), ptypes), self.name)
        fn.calling_convention = "ptx_kernel"
        self.fn = fn
        self.tensor_map_params = list(fn.args[len(block.args) :])
        for i, p in enumerate(self.tensor_map_params):
            p.name = f"tritium_tmap{i}"
        entry = fn.append_basic_block("entry")
        body = fn.append_basic_block("body")
        self.pre = ll.IRBuilder(entry)
        self.b = ll.IRBuilder(body)
        tid = self._sreg("tid.x")
        self.tid = tid
        self.lane = self.pre.and_(tid, ll.Constant(I32, 31))
        self.warp = self.pre.lshr(tid, ll.Constant(I32, 5))
        for arg, p in zip(block.args, fn.args[: len(block.args)], strict=True):
            lt = llvm_type(arg.type)
            if lt == I1:
                p = self.pre.icmp_unsigned("!=", p, ll.Constant(I8, 0))
            elif p.type != lt:
                p = self.pre.bitcast(p, lt)
            self.vals[arg] = p
        self.lower_block(block)
        self.pre.branch(body)
        # .maxntid: ptxas then keeps registers within what a CTA of this size may use
        md = self.module.add_metadata([fn, ll.MetaDataString(self.module, "maxntidx"),
                                       ll.Constant(I32, 32 * self.num_warps)])  # fmt: skip
        self.module.add_named_metadata("nvvm.annotations", md)
        annotate(self.func, self.assign)

    def _sreg(self, name: str) -> ll.Value:
        fname = f"llvm.nvvm.read.ptx.sreg.{name}"
        fn = self.module.globals.get(fname) or ll.Function(
            self.module, ll.FunctionType(I32, []), fname
        )
        return self.pre.call(fn, [])

    def intrinsic(self, name: str, ret: ll.Type, args: list[ll.Value]) -> ll.Value:
        """Call an LLVM/NVVM intrinsic by its full name."""
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ll.Function(self.module, ll.FunctionType(ret, [a.type for a in args]), name)
        return self.b.call(fn, args)

    def barrier(self) -> None:
        """``bar.sync 0``: every thread of the CTA."""
        self.intrinsic("llvm.nvvm.barrier0", ll.VoidType(), [])

    def error(self, op: Operation, msg: str) -> CompilationError:
        """A compilation error at ``op``'s source location."""
        loc = op.loc
        return CompilationError(getattr(loc, "file", ""), getattr(loc, "line", 0), msg)

    # ---- ops in program order -----------------------------------------------------------
    def lower_block(self, block: Any) -> None:
        """Lower every op of ``block`` in order (terminators are handled by their parent)."""
        for op in block.ops:
            if op.name in ("scf.yield", "scf.condition", "tt.reduce.return", "tt.scan.return"):
                continue
            self.lower_op(op)

    def lower_op(self, op: Operation) -> None:
        """Lower one op; tiles of index arithmetic wait until a consumer asks for them."""
        if op in self.skip_ops:
            return
        if op.results and all(
            r in self.assign.remat and isinstance(r.type, irt.TensorType) for r in op.results
        ):
            return
        rule = STATEMENTS.get(op.name)
        if rule is not None:
            rule(self, op)
            return
        if op.name in ELEMENTWISE or op.name in _LAYOUT_OPS:
            res = op.results[0]
            if isinstance(res.type, irt.TensorType):
                self.vals[res] = self.compute(op, self.assign.home[res])
            else:
                self.vals[res] = self.apply(op, [self.scalar(v) for v in op.operands])
            return
        raise NotImplementedError(f"{op.name} is not supported by the cuda backend yet")

    def apply(self, op: Operation, args: list[ll.Value]) -> ll.Value:
        """One element of an elementwise op."""
        if op.name == "arith.constant":
            return casts.constant(op)
        return ELEMENTWISE[op.name](self, op, args)

    # ---- values in layouts ----------------------------------------------------------------
    def scalar(self, v: Value) -> ll.Value:
        """The LLVM value of a rank-0 IR value."""
        got = self.vals.get(v)
        if got is None:
            op = v.defining_op
            if op is None:
                raise KeyError(v)
            self.lower_op(op)
            got = self.vals[v]
        return got

    def get(self, v: Value, layout: Layout) -> list[ll.Value]:
        """The registers of tile ``v`` in ``layout``."""
        key = (v, layout)
        got = self._memo.get(key)
        if got is not None:
            return got
        if v in self.assign.remat:
            op = v.defining_op
            assert op is not None
            regs = self.compute(op, layout)
        else:
            home = self.assign.home[v]
            if home == layout:
                return self.vals[v]
            regs = self.convert(self.vals[v], home, layout, v.type)
        self._memo[key] = regs
        self._scopes[-1].append(key)
        return regs

    def push_scope(self) -> None:
        """Enter a region: lazily computed values made inside do not outlive it."""
        self._scopes.append([])

    def pop_scope(self) -> None:
        """Leave a region (see :meth:`push_scope`)."""
        for key in self._scopes.pop():
            self._memo.pop(key, None)

    def compute(self, op: Operation, layout: Layout) -> list[ll.Value]:
        """Lower an elementwise or index op directly in ``layout``."""
        n = layout.num_regs
        name = op.name
        if name == "arith.constant":
            return [casts.constant(op)] * n
        if name == "tt.splat":
            return [self.scalar(op.operands[0])] * n
        if name == "tt.make_range":
            start = ll.Constant(I32, int(op.attrs["start"]))
            return [self.b.add(self.coord(layout, 0, k), start) for k in range(n)]
        if name == "tt.broadcast":
            src_shape = irt.shape_of(op.operands[0].type)
            src_layout = layout.with_shape(src_shape)
            src = self.get(op.operands[0], src_layout)
            return [
                src[_flat(tuple(k % c for k, c in zip(idx, src_layout.reg_shape, strict=True)),
                          src_layout.reg_shape)]
                for idx in _indices(layout.reg_shape)
            ]  # fmt: skip
        if name == "tt.expand_dims":
            ax = int(op.attrs["axis"])
            src_layout = layout.slice(ax)
            src = self.get(op.operands[0], src_layout)
            return [
                src[_flat(idx[:ax] + idx[ax + 1 :], src_layout.reg_shape)]
                for idx in _indices(layout.reg_shape)
            ]
        ins = [
            self.get(v, layout) if isinstance(v.type, irt.TensorType) else [self.scalar(v)] * n
            for v in op.operands
        ]
        return [self.apply(op, [x[i] for x in ins]) for i in range(n)]

    # ---- coordinates --------------------------------------------------------------------
    def base(self, layout: Layout, d: int) -> ll.Value:
        """Thread base coordinate along parent dim ``d`` (computed once, in the entry)."""
        key = (layout.spt, layout.tpw, layout.wpc, layout.order, d)
        got = self._bases.get(key)
        if got is not None:
            return got
        p = self.pre

        def part(ident: ll.Value, counts: tuple[int, ...]) -> ll.Value:
            stride = 1
            for o in layout.order:
                if o == d:
                    break
                stride *= counts[o]
            v = p.udiv(ident, ll.Constant(I32, stride)) if stride > 1 else ident
            return p.urem(v, ll.Constant(I32, counts[d]))

        lane_d = part(self.lane, layout.tpw)
        warp_d = part(self.warp, layout.wpc)
        v = p.add(p.mul(warp_d, ll.Constant(I32, layout.tpw[d])), lane_d)
        v = p.mul(v, ll.Constant(I32, layout.spt[d]))
        self._bases[key] = v
        return v

    def coord(self, layout: Layout, local_dim: int, flat: int, unwrapped: bool = False) -> ll.Value:
        """Coordinate along kept dim ``local_dim`` of register ``flat``."""
        d = layout.dims[local_dim]
        k = _unflat(flat, layout.reg_shape)[local_dim]
        v = self.b.add(self.base(layout, d), ll.Constant(I32, coord_parts(layout, d, k)))
        if unwrapped:
            return v
        return self.b.and_(v, ll.Constant(I32, layout.full_shape[d] - 1))

    def linear(self, layout: Layout, flat: int) -> ll.Value:
        """Row-major linear index of register ``flat``'s element."""
        out: ll.Value = ll.Constant(I32, 0)
        stride = 1
        for ld in reversed(range(len(layout.dims))):
            c = self.coord(layout, ld, flat)
            out = self.b.add(out, self.b.mul(c, ll.Constant(I32, stride)))
            stride *= layout.shape[ld]
        return out

    def owner(self, layout: Layout, flat: int) -> ll.Value | None:
        """True in the one thread (and register) that owns this register's element, where the
        layout replicates; None where it does not (every holder is the owner)."""
        conds: list[ll.Value] = []
        for ld, d in enumerate(layout.dims):
            if layout.full_shape[d] < layout.tile(d):
                c = self.coord(layout, ld, flat, unwrapped=True)
                conds.append(self.b.icmp_unsigned("<", c, ll.Constant(I32, layout.full_shape[d])))
        for d in layout.sliced:
            if layout.tpw[d] * layout.wpc[d] > 1:
                conds.append(self.b.icmp_unsigned("==", self.base(layout, d), ll.Constant(I32, 0)))
        if not conds:
            return None
        out = conds[0]
        for c in conds[1:]:
            out = self.b.and_(out, c)
        return out

    # ---- shared memory ----------------------------------------------------------------
    def require_smem_align(self, align: int) -> None:
        """Align the start of the shared buffer to ``align`` bytes (wgmma's swizzle atoms)."""
        self.smem_abs(ll.Constant(I32, 0))  # the buffer exists
        assert self._smem is not None
        self._smem.align = max(self._smem.align, align)

    def smem_abs(self, byte: ll.Value) -> ll.Value:
        """An ``i8`` pointer to byte ``byte`` of the dynamic shared buffer (ignoring the floor)."""
        if self._smem is None:
            g = ll.GlobalVariable(self.module, ll.ArrayType(I8, 0), "tritium_smem", addrspace=3)
            g.linkage = "external"
            g.align = 128
            self._smem = g
        return self.b.gep(self.b.bitcast(self._smem, SMEM), [byte])

    def smem(self, elt: ll.Type, index: ll.Value) -> ll.Value:
        """A pointer to element ``index`` of type ``elt`` above the floor of the shared buffer."""
        off = self.b.mul(index, ll.Constant(I32, _size(elt)))
        if self.smem_floor:
            off = self.b.add(off, ll.Constant(I32, self.smem_floor))
        return self.smem_abs(off)

    def use_smem(self, nbytes: int) -> None:
        """Record that a step needs ``nbytes`` of shared memory above the floor (steps reuse
        one buffer)."""
        self.smem_bytes = max(self.smem_bytes, self.smem_floor + nbytes)

    def smem_store(self, elt: ll.Type, index: ll.Value, value: ll.Value) -> None:
        """Store ``value`` (of IR element type ``elt``) at ``index``."""
        ptr = self.smem(elt, index)
        self.b.store(value, self.b.bitcast(ptr, ll.PointerType(elt, 3)))

    def smem_load(self, elt: ll.Type, index: ll.Value) -> ll.Value:
        """Load an ``elt`` from ``index``."""
        ptr = self.smem(elt, index)
        return self.b.load(self.b.bitcast(ptr, ll.PointerType(elt, 3)))

    def convert(
        self, regs: list[ll.Value], src: Layout, dst: Layout, ty: irt.Type
    ) -> list[ll.Value]:
        """Move a tile from layout ``src`` to ``dst`` through shared memory."""
        return self.exchange([(regs, src, None)], dst, None, ty)

    def exchange(
        self,
        writes: list[tuple[list[ll.Value], Layout, Callable[[int], ll.Value] | None]],
        dst: Layout,
        read_index: Callable[[int], ll.Value] | None,
        ty: irt.Type,
        numel: int | None = None,
    ) -> list[ll.Value]:
        """Write tiles to shared memory (each register at its ``index(flat)``, default: its
        row-major position), then read ``dst``'s registers (at ``read_index(flat)``)."""
        lt = llvm_type(ty)
        mt = mem_type(ty)
        n = numel if numel is not None else math.prod(dst.shape)
        self.use_smem(n * _size(mt))
        self.barrier()  # earlier readers of the buffer are done
        for regs, lay, index in writes:
            for flat, v in enumerate(regs):
                idx = index(flat) if index else self.linear(lay, flat)
                self.smem_store(mt, idx, self.b.zext(v, mt) if lt == I1 else v)
        self.barrier()
        out = []
        for flat in range(dst.num_regs):
            idx = read_index(flat) if read_index else self.linear(dst, flat)
            v = self.smem_load(mt, idx)
            out.append(self.b.icmp_unsigned("!=", v, ll.Constant(I8, 0)) if lt == I1 else v)
        return out


def _check_power_of_two_shapes(func: Operation) -> None:
    """Layouts wrap coordinates with a mask: every tile dimension must be a power of two
    (Triton's rule; tritium's CPU backend allows others)."""
    for op in func.walk():
        for r in op.results:
            shape = irt.shape_of(r.type)
            if any(d & (d - 1) for d in shape):
                raise NotImplementedError(
                    f"{op.name} makes a tile of shape {list(shape)}: the cuda backend needs "
                    "power-of-two tile dimensions"
                )


def _size(t: ll.Type) -> int:
    if isinstance(t, ll.IntType):
        return max(1, t.width // 8)
    if isinstance(t, (ll.HalfType, BFloatType)):
        return 2
    if isinstance(t, ll.FloatType):
        return 4
    if isinstance(t, ll.DoubleType):
        return 8
    raise TypeError(f"no size for {t}")


def _indices(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(s) for s in shape)))


def _flat(idx: tuple[int, ...], shape: tuple[int, ...]) -> int:
    out = 0
    for i, s in zip(idx, shape, strict=True):
        out = out * s + i
    return out


def _unflat(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    for s in reversed(shape):
        out.append(flat % s)
        flat //= s
    return tuple(reversed(out))


_LAYOUT_OPS = {"arith.constant", "tt.splat", "tt.make_range", "tt.broadcast", "tt.expand_dims"}
