"""Global memory: vectorized, predicated loads and stores; atomics.

A thread's registers along the layout's contiguous dimension come in runs of ``spt``
consecutive elements. Where the pointer tile is contiguous and aligned over ``v`` of them
(``axis_info``) and the mask is constant over the run, one ``ld.global.v4.b32`` (up to 128
bits) moves ``v`` elements; the mask becomes the instruction's predicate (``@p``), written as
inline PTX as Triton does, so a masked-off access never touches memory. Masked-off lanes of a
load then take ``other``.

Where a layout replicates elements over threads, only the owning thread stores (and only it
performs an atomic; the others receive its result through shared memory).
"""

from __future__ import annotations

import llvmlite.ir as ll

from tritium.backends.cpu.llvm_utils import I1, I8, I16, I32, llvm_type, mem_type
from tritium.backends.cuda.layouts import Layout
from tritium.backends.cuda.lowering import Lowering, _flat, _indices, _size, statement
from tritium.ir import Operation
from tritium.ir import types as irt

__all__ = ["vector_width"]

_ORDERING = {"acq_rel": "acq_rel", "acquire": "acquire", "release": "release",
             "relaxed": "monotonic", "": "acq_rel", None: "acq_rel"}  # fmt: skip


def vector_width(cx: Lowering, op: Operation, layout: Layout) -> int:
    """Elements per access for a load/store of ``op`` in ``layout`` (a power of two)."""
    ptr = op.operands[0]
    pointee = irt.element_type(ptr.type).pointee  # type: ignore[attr-defined]
    esize = _size(mem_type(pointee))
    fast = layout.order[0]
    if fast in layout.sliced:
        return 1
    ld = layout.dims.index(fast)
    info = cx.axis.get(ptr)
    if info is None or not info.contig:
        return 1
    v = min(
        layout.spt[fast], layout.full_shape[fast], info.contig[ld], max(1, info.div[ld] // esize)
    )
    v = min(v, max(1, 16 // esize))
    mask = _mask_operand(op)
    if mask is not None and isinstance(mask.type, irt.TensorType):
        minfo = cx.axis.get(mask)
        v = min(v, minfo.const[ld] if minfo and minfo.const else 1)
    while v & (v - 1):
        v &= v - 1
    return max(1, v)


def _mask_operand(op: Operation):  # noqa: ANN202
    if op.name == "tt.load":
        return op.operands[1] if len(op.operands) > 1 else None
    if op.name == "tt.store":
        return op.operands[2] if len(op.operands) > 2 else None
    return None


def _groups(layout: Layout, vec: int) -> list[list[int]]:
    """Flat register indices, in runs of ``vec`` along the contiguous dim."""
    shape = layout.reg_shape
    if vec == 1 or not shape:
        return [[i] for i in range(layout.num_regs)]
    ld = layout.dims.index(layout.order[0])
    out = []
    for idx in _indices(shape):
        if idx[ld] % vec == 0:
            out.append(
                [_flat(idx[:ld] + (idx[ld] + j,) + idx[ld + 1 :], shape) for j in range(vec)]
            )
    return out


def _words(nbytes: int) -> tuple[int, ll.Type, str, str]:
    """(count, LLVM type, PTX type, constraint) of the registers moving ``nbytes``."""
    if nbytes >= 4:
        return nbytes // 4, I32, "b32", "r"
    if nbytes == 2:
        return 1, I16, "b16", "h"
    return 1, I32, "u8", "r"


def _asm_load(cx: Lowering, addr: ll.Value, pred: ll.Value | None, nbytes: int) -> list[ll.Value]:
    n, wt, ptx_t, con = _words(nbytes)
    outs = ", ".join(f"${i}" for i in range(n))
    vec = f".v{n}" if n > 1 else ""
    dst = f"{{{outs}}}" if n > 1 else outs
    guard = f"@${n + 1} " if pred is not None else ""
    text = f"{guard}ld.global{vec}.{ptx_t} {dst}, [${n}];"
    cons = ",".join([f"={con}"] * n + ["l"] + (["b"] if pred is not None else []))
    ret = ll.LiteralStructType([wt] * n) if n > 1 else wt
    args = [addr] + ([pred] if pred is not None else [])
    fty = ll.FunctionType(ret, [a.type for a in args])
    res = cx.b.call(ll.InlineAsm(fty, text, cons, side_effect=True), args)
    return [cx.b.extract_value(res, i) for i in range(n)] if n > 1 else [res]


def _asm_store(
    cx: Lowering, addr: ll.Value, pred: ll.Value | None, words: list[ll.Value], nbytes: int
) -> None:
    n, _, ptx_t, con = _words(nbytes)
    if ptx_t == "u8":
        ptx_t, con = "b8", "h"
    vals = ", ".join(f"${i + 1}" for i in range(n))
    vec = f".v{n}" if n > 1 else ""
    src = f"{{{vals}}}" if n > 1 else vals
    guard = f"@${n + 1} " if pred is not None else ""
    text = f"{guard}st.global{vec}.{ptx_t} [$0], {src};"
    cons = ",".join(["l"] + [con] * n + (["b"] if pred is not None else []))
    args = [addr, *words] + ([pred] if pred is not None else [])
    fty = ll.FunctionType(ll.VoidType(), [a.type for a in args])
    cx.b.call(ll.InlineAsm(fty, text, cons, side_effect=True), args)


def _unpack(cx: Lowering, words: list[ll.Value], elt: ll.Type, vec: int, nbytes: int) -> list:
    b = cx.b
    mt = I8 if elt == I1 else elt
    if nbytes == 1:
        vals = [b.trunc(words[0], I8)]
    elif nbytes == 2 and vec == 1:
        vals = [words[0] if mt == I16 else b.bitcast(words[0], mt)]
    else:
        wt = words[0].type
        packed = ll.Constant(ll.VectorType(wt, len(words)), None)
        for i, w in enumerate(words):
            packed = b.insert_element(packed, w, ll.Constant(I32, i))
        as_vec = b.bitcast(packed, ll.VectorType(mt, vec))
        vals = [b.extract_element(as_vec, ll.Constant(I32, i)) for i in range(vec)]
    if elt == I1:
        return [b.icmp_unsigned("!=", v, ll.Constant(I8, 0)) for v in vals]
    return vals


def _pack(cx: Lowering, vals: list[ll.Value], nbytes: int) -> list[ll.Value]:
    b = cx.b
    if vals[0].type == I1:
        vals = [b.zext(v, I8) for v in vals]
    mt = vals[0].type
    if nbytes == 1:
        return [b.zext(vals[0], I16)]
    if nbytes == 2 and len(vals) == 1:
        return [vals[0] if mt == I16 else b.bitcast(vals[0], I16)]
    packed = ll.Constant(ll.VectorType(mt, len(vals)), None)
    for i, v in enumerate(vals):
        packed = b.insert_element(packed, v, ll.Constant(I32, i))
    n = nbytes // 4
    as_words = b.bitcast(packed, ll.VectorType(I32, n))
    return [b.extract_element(as_words, ll.Constant(I32, i)) for i in range(n)]


def _and(cx: Lowering, a: ll.Value | None, b: ll.Value | None) -> ll.Value | None:
    if a is None:
        return b
    if b is None:
        return a
    return cx.b.and_(a, b)


@statement("tt.load")
def _load(cx: Lowering, op: Operation) -> None:
    ptr = op.operands[0]
    mask = op.operands[1] if len(op.operands) > 1 else None
    other = op.operands[2] if len(op.operands) > 2 else None
    res = op.results[0]
    elt = llvm_type(res.type)
    esize = _size(mem_type(res.type))
    if not isinstance(res.type, irt.TensorType):
        m = cx.scalar(mask) if mask is not None else None
        words = _asm_load(cx, cx.scalar(ptr), m, esize)
        v = _unpack(cx, words, elt, 1, esize)[0]
        if m is not None and other is not None:
            v = cx.b.select(m, v, cx.scalar(other))
        cx.vals[res] = v
        return
    layout = cx.assign.home[res]
    vec = vector_width(cx, op, layout)
    ptrs = cx.get(ptr, layout)
    masks = cx.get(mask, layout) if mask is not None else None
    others = cx.get(other, layout) if other is not None else None
    out: list[ll.Value | None] = [None] * layout.num_regs
    for group in _groups(layout, vec):
        m = masks[group[0]] if masks is not None else None
        words = _asm_load(cx, ptrs[group[0]], m, esize * vec)
        for i, v in zip(group, _unpack(cx, words, elt, vec, esize * vec), strict=True):
            if masks is not None and others is not None:
                v = cx.b.select(masks[i], v, others[i])
            out[i] = v
    cx.vals[res] = out


@statement("tt.store")
def _store(cx: Lowering, op: Operation) -> None:
    if op in cx.tma_stores:  # through a host tensor descriptor on sm_90a
        from tritium.backends.cuda.tma import store_tile

        store_tile(cx, op)
        return
    ptr, val = op.operands[0], op.operands[1]
    mask = op.operands[2] if len(op.operands) > 2 else None
    esize = _size(mem_type(val.type))
    if not isinstance(ptr.type, irt.TensorType):
        first = cx.b.icmp_unsigned("==", cx.tid, ll.Constant(I32, 0))
        m = _and(cx, first, cx.scalar(mask) if mask is not None else None)
        _asm_store(cx, cx.scalar(ptr), m, _pack(cx, [cx.scalar(val)], esize), esize)
        return
    layout = _store_layout(cx, op)
    vec = vector_width(cx, op, layout)
    ptrs = cx.get(ptr, layout)
    vals = cx.get(val, layout)
    masks = cx.get(mask, layout) if mask is not None else None
    for group in _groups(layout, vec):
        m = _and(cx, masks[group[0]] if masks is not None else None, cx.owner(layout, group[0]))
        words = _pack(cx, [vals[i] for i in group], esize * vec)
        _asm_store(cx, ptrs[group[0]], m, words, esize * vec)


def _store_layout(cx: Lowering, op: Operation) -> Layout:
    """Store where the data already is, unless only index math is involved."""
    for v in (op.operands[1], op.operands[0]):
        if v not in cx.assign.remat:
            return cx.assign.home[v]
    return cx.assign.default(irt.shape_of(op.operands[0].type))


def _atomic(cx: Lowering, op: Operation, emit) -> None:  # noqa: ANN001
    """Atomics one element at a time, by the owning thread, under the mask."""
    b = cx.b
    res = op.results[0]
    lt = llvm_type(res.type)
    if lt == I1:
        raise cx.error(op, "atomics on booleans are not supported")
    mask = op.operands[-1] if op.name == "tt.atomic_rmw" and len(op.operands) > 2 else None
    data = op.operands[1:2] if op.name == "tt.atomic_rmw" else op.operands[1:3]

    def one(addr: ll.Value, vals: list[ll.Value], pred: ll.Value | None) -> ll.Value:
        p = b.inttoptr(addr, ll.PointerType(lt, 1))
        if pred is None:
            return emit(p, vals)
        pre = b.block
        with b.if_then(pred):
            old = emit(p, vals)
            then = b.block
        phi = b.phi(lt)
        phi.add_incoming(old, then)
        phi.add_incoming(ll.Constant(lt, None), pre)
        return phi

    if not isinstance(res.type, irt.TensorType):
        first = b.icmp_unsigned("==", cx.tid, ll.Constant(I32, 0))
        pred = _and(cx, first, cx.scalar(mask) if mask is not None else None)
        old = one(cx.scalar(op.operands[0]), [cx.scalar(d) for d in data], pred)
        # every thread gets thread 0's result
        cx.use_smem(8)
        cx.barrier()
        with b.if_then(first):
            cx.smem_store(mem_type(res.type), ll.Constant(I32, 0), old)
        cx.barrier()
        cx.vals[res] = cx.smem_load(mem_type(res.type), ll.Constant(I32, 0))
        return
    layout = cx.assign.home[res]
    ptrs = cx.get(op.operands[0], layout)
    vals = [cx.get(d, layout) for d in data]
    masks = cx.get(mask, layout) if mask is not None else None
    out = []
    owners = []
    for i in range(layout.num_regs):
        own = cx.owner(layout, i)
        owners.append(own)
        pred = _and(cx, masks[i] if masks is not None else None, own)
        out.append(one(ptrs[i], [v[i] for v in vals], pred))
    if layout.has_replication() and getattr(res, "uses", True):
        # non-owners read the owner's old value back
        writes = []
        for i, v in enumerate(out):
            writes.append((i, v, owners[i]))
        cx.use_smem(_numel(layout) * _size(mem_type(res.type)))
        cx.barrier()
        for i, v, own in writes:
            idx = cx.linear(layout, i)
            if own is None:
                cx.smem_store(mem_type(res.type), idx, v)
            else:
                with b.if_then(own):
                    cx.smem_store(mem_type(res.type), idx, v)
        cx.barrier()
        out = [cx.smem_load(mem_type(res.type), cx.linear(layout, i)) for i in range(len(out))]
    cx.vals[res] = out


def _numel(layout: Layout) -> int:
    n = 1
    for s in layout.shape:
        n *= s
    return n


@statement("tt.atomic_rmw")
def _atomic_rmw(cx: Lowering, op: Operation) -> None:
    kind = op.attrs["rmw_op"]
    ordering = _ORDERING[op.attrs.get("sem")]
    is_float = isinstance(irt.element_type(op.results[0].type), irt.FloatType)
    if is_float:
        kind = {"add": "fadd", "max": "fmax", "min": "fmin", "umax": "fmax", "umin": "fmin"}.get(
            kind, kind
        )
    elif kind == "fadd":
        kind = "add"
    _atomic(cx, op, lambda p, v: cx.b.atomic_rmw(kind, p, v[0], ordering))


@statement("tt.atomic_cas")
def _atomic_cas(cx: Lowering, op: Operation) -> None:
    ordering = _ORDERING[op.attrs.get("sem")]
    fail = {"acq_rel": "acquire", "release": "monotonic"}.get(ordering, ordering)
    lt = llvm_type(op.results[0].type)
    ity = lt if isinstance(lt, ll.IntType) else ll.IntType(_size(lt) * 8)

    def emit(p: ll.Value, vals: list[ll.Value]) -> ll.Value:
        b = cx.b
        cmp, new = vals
        if ity is not lt:
            cmp, new = b.bitcast(cmp, ity), b.bitcast(new, ity)
            p = b.bitcast(p, ll.PointerType(ity, 1))
        old = b.extract_value(b.cmpxchg(p, cmp, new, ordering, fail), 0)
        return old if ity is lt else b.bitcast(old, lt)

    _atomic(cx, op, emit)


# ---- program ids, return, asserts ------------------------------------------------------
@statement("tt.get_program_id")
def _pid(cx: Lowering, op: Operation) -> None:
    axis = "xyz"[int(op.attrs["axis"])]
    cx.vals[op.results[0]] = cx._sreg(f"ctaid.{axis}")


@statement("tt.get_num_programs")
def _nprog(cx: Lowering, op: Operation) -> None:
    axis = "xyz"[int(op.attrs["axis"])]
    cx.vals[op.results[0]] = cx._sreg(f"nctaid.{axis}")


@statement("tt.return")
def _ret(cx: Lowering, op: Operation) -> None:
    cx.b.ret_void()


@statement("gpu.barrier")
def _barrier(cx: Lowering, op: Operation) -> None:
    """``tl.debug_barrier()``: the program's threads wait for each other, so stores before it
    are seen by loads after it in every thread."""
    cx.barrier()


@statement("tt.assert")
def _assert(cx: Lowering, op: Operation) -> None:
    """A failed ``tl.device_assert`` traps: the launch fails with an illegal instruction."""
    cond = op.operands[0]
    if isinstance(cond.type, irt.TensorType):
        lay = cx.assign.home.get(cond) or cx.assign.default(irt.shape_of(cond.type))
        regs = cx.get(cond, lay)
        ok = regs[0]
        for r in regs[1:]:
            ok = cx.b.and_(ok, r)
    else:
        ok = cx.scalar(cond)
    with cx.b.if_then(cx.b.not_(ok), likely=False):
        cx.intrinsic("llvm.trap", ll.VoidType(), [])


@statement("tt.descriptor_info")
def _descriptor_info(cx: Lowering, op: Operation) -> None:
    """Nothing to emit: its load reads through pointers, or a TMA copy uses it (tma.py)."""
