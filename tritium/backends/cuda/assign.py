"""Layout assignment: the home layout of every tile of a kernel (the ``ttgir`` stage).

Triton chooses layouts with its coalescing pass and then removes the conversions it can;
tritium does the same in one forward walk:

* index arithmetic (``make_range``, ``splat``, constants, and elementwise ops, ``broadcast``
  and ``expand_dims`` over them) is *rematerializable*: the lowering recomputes it in whatever
  layout a consumer needs, so it never costs a conversion;
* a load, or any op over such values only, gets the coalesced default layout of its shape
  (:func:`layouts.default_layout`, 128-bit accesses for the narrowest element type loaded or
  stored at that shape);
* every other op follows its first non-rematerializable operand (a reduction's result lives
  in the slice of its operand's layout, ``expand_dims`` undoes a slice, ``broadcast`` keeps
  the thread mapping), so a row of ``softmax`` never leaves its threads;
* operands that disagree are converted through shared memory by the lowering.

:func:`annotate` writes the choice onto the ops (``ttg.layout``) so ``asm["ttgir"]`` shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tritium.backends.cuda.layouts import Layout, default_layout
from tritium.ir import Operation, Value
from tritium.ir import types as irt

__all__ = ["Assignment", "REMAT_OPS", "assign_layouts", "mma_layout"]

# Ops that the lowering may recompute at any use, in any layout (no memory, no regions).
_ALWAYS_REMAT = {"arith.constant", "tt.make_range", "tt.splat", "tt.get_program_id"}
_SHAPE_REMAT = {"tt.broadcast", "tt.expand_dims"}
_NOT_ELEMENTWISE = {
    "tt.load", "tt.store", "tt.atomic_rmw", "tt.atomic_cas", "tt.dot", "tt.reduce", "tt.scan",
    "tt.reshape", "tt.trans", "tt.join", "tt.split", "tt.cat", "tt.call", "tt.print",
    "tt.assert", "tt.get_num_programs", "gpu.barrier",
}  # fmt: skip
REMAT_OPS = _ALWAYS_REMAT | _SHAPE_REMAT


@dataclass
class Assignment:
    """Home layouts of tiles, and which values are rematerializable."""

    num_warps: int
    home: dict[Value, Layout] = field(default_factory=dict)
    remat: set[Value] = field(default_factory=set)
    vec: dict[tuple[int, ...], int] = field(default_factory=dict)
    special: dict[tuple[int, ...], Layout] = field(default_factory=dict)

    def default(self, shape: tuple[int, ...], coalesced: bool = False) -> Layout:
        """The layout for tiles of ``shape``: the tensor-core accumulator layout for the shape
        of an ``mma`` dot's result (so its accumulator never moves), else — or with
        ``coalesced`` — the coalesced one."""
        got = None if coalesced else self.special.get(shape)
        if got is not None:
            return got
        return default_layout(shape, self.num_warps, self.vec.get(shape, 4))

    def init_layout(self, v: Value) -> Layout:
        """The layout a loop-carried tile starts in: its init's home, or for index arithmetic
        the default — coalesced for pointer tiles, which an ``mma`` operand of the result's
        shape (``b`` of a square tile) is loaded through."""
        if v not in self.remat:
            return self.home[v]
        pointer = isinstance(irt.element_type(v.type), irt.PointerType)
        return self.default(irt.shape_of(v.type), coalesced=pointer)


def mma_layout(shape: tuple[int, ...], num_warps: int) -> Layout | None:
    """The blocked layout equal to mma.sync m16n8's accumulator fragments (see ``dot.py``),
    warps along M first; None if the shape does not fit."""
    m, n = shape
    wm = num_warps
    while wm > 1 and m % (16 * wm):
        wm //= 2
    wn = num_warps // wm
    if m % 16 or n % (8 * wn):
        return None
    return Layout((m, n), (1, 2), (8, 4), (wm, wn), (1, 0))


def _is_elementwise(op: Operation) -> bool:
    from tritium.backends.cuda.elementwise import ELEMENTWISE

    return op.name in ELEMENTWISE and op.name not in _NOT_ELEMENTWISE and not op.regions


def _vector_widths(func: Operation) -> dict[tuple[int, ...], int]:
    """Per tile shape, elements per thread that make a 128-bit access of its memory ops."""
    vec: dict[tuple[int, ...], int] = {}
    for op in func.walk():
        if op.name in ("tt.load", "tt.store", "tt.atomic_rmw", "tt.atomic_cas") and op.operands:
            t = op.operands[0].type
            shape = irt.shape_of(t)
            pointee = irt.element_type(t)
            if shape and isinstance(pointee, irt.PointerType):
                bits = max(8, getattr(pointee.pointee, "bitwidth", 32))
                vec[shape] = min(vec.get(shape, 16), max(1, 128 // bits))
    # a dot operand's tile is loaded 16 bytes per thread even when another access of the same
    # shape (the fp32 result of a square tile) is wider: its copy into shared memory (staged
    # or cp.async) then moves whole 16-byte chunks
    for op in func.walk():
        if op.name == "tt.dot":
            for v in op.operands[:2]:
                load = v.defining_op
                if load is not None and load.name == "tt.load":
                    bits = max(8, getattr(irt.element_type(v.type), "bitwidth", 32))
                    vec[irt.shape_of(v.type)] = max(1, 128 // bits)
    return vec


def assign_layouts(func: Operation, num_warps: int, cc: int = 90) -> Assignment:
    """Home layouts for every tile of ``func`` (see the module docstring); dots that run on
    the tensor cores of compute capability ``cc`` get the mma accumulator layout."""
    a = Assignment(num_warps, vec=_vector_widths(func))
    if cc >= 80:
        from tritium.backends.cuda.dot import mma_eligible

        for op in func.walk():
            if op.name == "tt.dot" and mma_eligible(op, cc=cc):
                shape = irt.shape_of(op.results[0].type)
                lay = mma_layout(shape, num_warps)
                if lay is not None:
                    a.special[shape] = lay
    for op in func.walk():
        _assign_op(a, op)
    return a


def _tensor(v: Value) -> bool:
    return isinstance(v.type, irt.TensorType)


def _fixed(a: Assignment, operands: list[Value]) -> Layout | None:
    """The home layout of the first non-rematerializable tile operand."""
    for v in operands:
        if _tensor(v) and v not in a.remat and v in a.home:
            return a.home[v]
    return None


def _assign_op(a: Assignment, op: Operation) -> None:
    name = op.name
    tensors = [v for v in op.operands if _tensor(v)]
    if name in _ALWAYS_REMAT or (
        (name in _SHAPE_REMAT or _is_elementwise(op)) and all(v in a.remat for v in tensors)
    ):
        for r in op.results:
            a.remat.add(r)
            if _tensor(r):
                a.home[r] = a.default(irt.shape_of(r.type))
        return
    if name == "scf.for":
        inits = op.operands[3:]
        body = op.regions[0].block
        for init, arg, res in zip(inits, body.args[1:], op.results, strict=True):
            if _tensor(init):
                a.home[arg] = a.home[res] = a.init_layout(init)
        return
    if name == "scf.while":
        before = op.regions[0].block
        for init, arg in zip(op.operands, before.args, strict=True):
            if _tensor(init):
                lay = a.home[init] if init not in a.remat else a.default(irt.shape_of(init.type))
                a.home[arg] = lay
        return  # the after-region args and the results follow scf.condition (below)
    if name == "scf.condition":
        wop = op.parent.parent.parent if op.parent and op.parent.parent else None
        forwarded = op.operands[1:]
        if wop is not None:
            after = wop.regions[1].block
            for v, arg, res in zip(forwarded, after.args, wop.results, strict=True):
                if _tensor(v):
                    lay = a.home[v] if v not in a.remat else a.default(irt.shape_of(v.type))
                    a.home[arg] = a.home[res] = lay
        return
    if name == "scf.if":
        return  # results are set when the then-region's scf.yield is seen
    if name == "scf.yield":
        parent = op.parent.parent.parent if op.parent and op.parent.parent else None
        if parent is not None and parent.name == "scf.if" and op.parent is parent.regions[0].block:
            for v, res in zip(op.operands, parent.results, strict=True):
                if _tensor(v):
                    lay = a.home[v] if v not in a.remat else a.default(irt.shape_of(v.type))
                    a.home[res] = lay
        return
    for r in op.results:
        if not _tensor(r):
            continue
        shape = irt.shape_of(r.type)
        fixed = _fixed(a, tensors)
        if name == "tt.reduce":
            src = a.home.get(op.operands[0]) or a.default(irt.shape_of(op.operands[0].type))
            a.home[r] = src.slice(int(op.attrs["axis"]))
        elif name == "tt.expand_dims" and fixed is not None:
            a.home[r] = fixed.unslice(int(op.attrs["axis"])) or a.default(shape)
        elif name == "tt.broadcast" and fixed is not None:
            a.home[r] = fixed.with_shape(shape)
        elif fixed is not None and fixed.shape == shape and name not in ("tt.dot", "tt.scan"):
            a.home[r] = fixed
        elif name == "tt.load" and any(u.name == "tt.dot" for u in r.uses):
            a.home[r] = a.default(shape, coalesced=True)  # an mma operand, not a result
        else:
            a.home[r] = a.default(shape)
    # reduce region block args / scan: scalars only


def annotate(func: Operation, a: Assignment) -> None:
    """Record each op's result layout as a ``ttg.layout`` attribute (printed in ``ttgir``)."""
    for op in func.walk():
        lays = [str(a.home[r]) for r in op.results if r in a.home]
        if lays:
            op.attrs["ttg.layout"] = lays[0] if len(lays) == 1 else lays
    func.attrs["ttg.num_warps"] = a.num_warps
    func.attrs["ttg.threads_per_warp"] = 32
