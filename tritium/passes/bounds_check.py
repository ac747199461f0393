"""Bounds checks on every memory access of a kernel (the compiled sanitizer, ``sanitize=True``).

Expects: verified, inlined IR (the output of ``optimize_ttir``); the kernel is the module's
public ``tt.func``. Guarantees, for that function:

* each pointer parameter ``p`` gets two ``i64`` parameters appended at the END of the
  parameter list, in the order of the pointer parameters: the valid byte range ``[lo, hi)`` of
  the argument the launcher passes for ``p``. The function's attribute ``tt.bounds_check`` is
  ``[[pointer index, lo index, hi index], ...]``; ``tt.bounds_names`` names the pointers;
* before every ``tt.load``, ``tt.store``, ``tt.atomic_rmw`` and ``tt.atomic_cas`` whose pointer
  traces back to a pointer parameter (through ``tt.addptr``, ``tt.splat``, ``tt.broadcast``,
  ``tt.expand_dims``, ``tt.reshape``, ``tt.trans``, ``tt.bitcast``, ``arith.select`` and values
  carried by ``scf.for``/``scf.if``/``scf.while``), each lane computes
  ``inb = lo <= addr && addr + elemsize <= hi`` (unsigned), a ``tt.assert(inb || !mask)``
  with ``sanitizer = "out-of-bounds"`` and the message ``out-of-bounds: <op> at <file>:<line>
  <verb> argument '<name>' out of bounds`` runs first, and ``inb`` is ANDed into the access's
  mask (added if it had none), so that a bad lane is never accessed even if the assert did not
  stop the program. ``tt.atomic_cas`` has no mask: the assert alone guards it (a failed
  ``tt.assert`` leaves the program before the access on every backend).

A pointer that cannot be traced to one parameter (``tt.int_to_ptr``, a pointer loaded from
memory, a noinline call's parameter, a select between two arguments) is not checked: the access
gets the attribute ``sanitizer = "unchecked"`` so that the IR says so. Accesses inside private
functions (``noinline`` callees) are not checked: only the public kernel knows the ranges.

Running the pass again changes nothing (a function with ``tt.bounds_check`` is skipped). The
compiler runs it in its ``bounds-check`` stage (``tritium/compiler/stages.py``); a launch
passes the ranges (``tritium.signature.argument_spans``).
"""

from __future__ import annotations

from dataclasses import dataclass

from tritium.ir import types as irt
from tritium.ir.builder import Builder
from tritium.ir.core import Block, Module, Operation, Value
from tritium.ir.types import FunctionType, PointerType
from tritium.passes.registry import Pass, register_pass

__all__ = ["BoundsCheck", "ACCESS_OPS"]

#: op name -> (verb in the message, index of the mask operand or None when it has none)
ACCESS_OPS: dict[str, tuple[str, int | None]] = {
    "tt.load": ("reads", 1),
    "tt.store": ("writes", 2),
    "tt.atomic_rmw": ("updates", 2),
    "tt.atomic_cas": ("updates", None),
}
_PASS_THROUGH = frozenset(
    {
        "tt.addptr",
        "tt.splat",
        "tt.broadcast",
        "tt.expand_dims",
        "tt.reshape",
        "tt.trans",
        "tt.bitcast",
    }
)
_ANY = -1  # a value on a cycle of loop-carried values: agrees with whatever else is found
_NONE = -2  # not traceable to one parameter


@register_pass("bounds-check")
@dataclass
class BoundsCheck(Pass):
    """Check every load, store and atomic of the kernel against its argument's byte range.

    ``arg_names``: the kernel's parameter names separated by spaces, in ``tt.func`` order (used
    in messages; ``argN`` when missing): ``tritium-opt --pass "bounds-check{arg_names=x y n}"``.
    """

    arg_names: str = ""

    def run(self, module: Module) -> Module:
        for func in module.functions:
            if func.attrs.get("visibility", "public") == "public":
                _check_function(func, self.arg_names.split())
        return module


def _check_function(func: Operation, names: list[str]) -> None:
    if "tt.bounds_check" in func.attrs:
        return  # already checked: the pass is idempotent
    body = func.regions[0].block
    ptrs = [a for a in body.args if isinstance(a.type, PointerType)]
    spans: dict[Value, tuple[Value, Value]] = {
        p: (body.add_arg(irt.i64), body.add_arg(irt.i64)) for p in ptrs
    }
    ftype: FunctionType = func.attrs["function_type"]
    func.attrs["function_type"] = FunctionType(tuple(a.type for a in body.args), ftype.results)
    if func.attrs.get("arg_attrs") is not None:
        func.attrs["arg_attrs"] = list(func.attrs["arg_attrs"]) + [{} for _ in range(2 * len(ptrs))]
    func.attrs["tt.bounds_check"] = [[p.index, lo.index, hi.index] for p, (lo, hi) in spans.items()]
    label = {
        p: names[p.index] if p.index < len(names) and names[p.index] else f"arg{p.index}"
        for p in ptrs
    }
    func.attrs["tt.bounds_names"] = [label[p] for p in ptrs]
    tracer = _Tracer(body)
    for op in list(func.walk()):
        if op.name not in ACCESS_OPS:
            continue
        root = tracer.root(op.operands[0])
        if root is None:
            op.attrs["sanitizer"] = "unchecked"  # provenance unknown: no range to check against
            continue
        _guard(op, spans[root], label[root])


def _guard(op: Operation, span: tuple[Value, Value], name: str) -> None:
    """Insert the range check, the assert and the mask update in front of access ``op``."""
    verb, mask_index = ACCESS_OPS[op.name]
    ptr = op.operands[0]
    b = Builder()
    b.set_insertion_point_before(op)
    b.loc = op.loc
    shape = irt.shape_of(ptr.type)
    i64 = irt.with_element(ptr.type, irt.i64)
    i1 = irt.with_element(ptr.type, irt.i1)
    pointee = irt.element_type(ptr.type)
    assert isinstance(pointee, PointerType)
    size = max(1, (pointee.pointee.bitwidth + 7) // 8)  # type: ignore[attr-defined]

    def create(name_: str, operands: list[Value], ty: irt.Type, **attrs: object) -> Value:
        return b.create(name_, operands, [ty], dict(attrs)).result

    def tile(v: Value) -> Value:
        return create("tt.splat", [v], i64) if shape else v

    lo, hi = tile(span[0]), tile(span[1])
    addr = create("tt.ptr_to_int", [ptr], i64)
    end = create("arith.addi", [addr, create("arith.constant", [], i64, value=size)], i64)
    above = create("arith.cmpi", [addr, lo], i1, predicate="uge")
    below = create("arith.cmpi", [end, hi], i1, predicate="ule")
    inb = create("arith.andi", [above, below], i1)
    has_mask = mask_index is not None and len(op.operands) > mask_index
    ok = inb
    if has_mask:
        assert mask_index is not None
        mask = op.operands[mask_index]
        off = create("arith.xori", [mask, create("arith.constant", [], i1, value=True)], i1)
        ok = create("arith.ori", [inb, off], i1)
    kind = op.name.removeprefix("tt.")
    if op.name == "tt.atomic_rmw":  # named as the user wrote it: atomic_add, atomic_max, ...
        rmw = str(op.attrs.get("rmw_op", "rmw"))
        kind = "atomic_" + {"fadd": "add", "umax": "max", "umin": "min"}.get(rmw, rmw)
    where = f"{op.loc.file}:{op.loc.line}"
    message = f"out-of-bounds: {kind} at {where} {verb} argument '{name}' out of bounds"
    b.create("tt.assert", [ok], [], {"message": message, "sanitizer": "out-of-bounds"})
    if mask_index is None:
        return  # tt.atomic_cas: no mask operand; the assert leaves the program first
    if has_mask:
        op.set_operand(mask_index, create("arith.andi", [op.operands[mask_index], inb], i1))
    else:
        # a load without a mask has no `other`, and a store/atomic without one has nothing
        # after the value: the mask goes right at its index
        op.operands = [*op.operands, inb]


class _Tracer:
    """Finds the pointer parameter a pointer value is derived from."""

    def __init__(self, entry: Block) -> None:
        self.entry = entry
        self.memo: dict[Value, int] = {}
        self.cyclic = False  # the current trace met a value still being traced

    def root(self, v: Value) -> Value | None:
        """The parameter of ``entry`` that ``v`` points into, or None if unknown."""
        r = self._trace(v, set())
        return self.entry.args[r] if r >= 0 else None

    def _trace(self, v: Value, active: set[Value]) -> int:
        if v in self.memo:
            return self.memo[v]
        if v.owner is self.entry:
            return v.index if isinstance(v.type, PointerType) else _NONE
        if v in active:
            self.cyclic = True
            return _ANY
        sources = self._sources(v)
        outer_cyclic, self.cyclic = self.cyclic, False
        r = _ANY if sources is not None else _NONE
        active.add(v)
        for s in sources or ():
            r = _merge(r, self._trace(s, active))
        active.discard(v)
        if not active or not self.cyclic:
            # inside a cycle a result may rest on a value not yet traced: remember final ones
            r = _NONE if r == _ANY and not active else r
            self.memo[v] = r
        self.cyclic = outer_cyclic or self.cyclic
        return r

    def _sources(self, v: Value) -> list[Value] | None:
        """Values ``v`` takes its pointer from, or None if it is not derived from one."""
        op = v.defining_op
        if op is None:
            return self._block_arg_sources(v)
        if op.name in _PASS_THROUGH:
            return [op.operands[0]]
        if op.name == "arith.select":
            return op.operands[1:3]
        if op.name in ("tt.join", "tt.cat"):
            return list(op.operands)
        if op.name == "tt.split":
            return [op.operands[0]]
        if op.name == "scf.for":
            return [op.operands[3 + v.index], op.regions[0].block.ops[-1].operands[v.index]]
        if op.name == "scf.if":
            return [r.block.ops[-1].operands[v.index] for r in op.regions if r.blocks]
        if op.name == "scf.while":
            return [op.regions[0].block.ops[-1].operands[1 + v.index]]
        return None

    def _block_arg_sources(self, v: Value) -> list[Value] | None:
        block = v.owner
        assert isinstance(block, Block)
        parent = block.parent_op()
        if parent is None:
            return None
        if parent.name == "scf.for" and v.index > 0:
            k = v.index - 1
            return [parent.operands[3 + k], block.ops[-1].operands[k]]
        if parent.name == "scf.while":
            before, after = parent.regions[0].block, parent.regions[1].block
            if block is before:
                return [parent.operands[v.index], after.ops[-1].operands[v.index]]
            return [before.ops[-1].operands[1 + v.index]]
        return None


def _merge(a: int, b: int) -> int:
    if a == _ANY:
        return b
    if b == _ANY or a == b:
        return a
    return _NONE
