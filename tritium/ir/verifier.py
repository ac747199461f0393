"""The IR verifier: a set of rules every well-formed Tile IR module satisfies.

``verify(module)`` checks, for every op:

* **structure** — the op is registered; it has the number of regions of its definition;
  its attributes are plain data (numbers, strings, types, lists and dicts of them);
  structured regions have one block that ends in the right terminator; terminators appear
  only at the end of a block; use lists agree with operands;
* **arity** — operand and result counts (:data:`ARITY`);
* **types** — elementwise ops share one shape; per-op type rules (:data:`TYPE_RULES`) for
  constants, casts, pointers, loads and stores, dots, shape ops, reductions, calls, loops,
  branches and functions;
* **dominance** — each operand is defined before its use, in the same block or an enclosing
  one, and never across a ``tt.func`` boundary.

A violation raises :class:`~tritium.errors.InternalCompilerError` whose message names the
rule and the op (with its location), and which carries the printed IR.
"""

from __future__ import annotations

from typing import NoReturn

from tritium.errors import InternalCompilerError
from tritium.ir import verifier_rules as rules
from tritium.ir.core import Block, Module, Operation, Value
from tritium.ir.ops import OPS, is_elementwise, is_terminator
from tritium.ir.printer import ISOLATED_OPS, print_op
from tritium.ir.types import Type, shape_of

__all__ = ["verify", "VerificationError", "ARITY", "TYPE_RULES"]

ARITY = rules.ARITY
TYPE_RULES = rules.TYPE_RULES

# the terminator each structured op's regions end with, by region index
_TERMINATORS: dict[str, tuple[str, ...]] = {
    "tt.func": ("tt.return",),
    "scf.for": ("scf.yield",),
    "scf.if": ("scf.yield", "scf.yield"),
    "scf.while": ("scf.condition", "scf.yield"),
    "tt.reduce": ("tt.reduce.return",),
    "tt.scan": ("tt.scan.return",),
}


class VerificationError(InternalCompilerError):
    """Invalid IR: ``rule`` is the broken rule, ``op`` the offending op."""

    def __init__(
        self, rule: str, message: str, op: Operation, ir: str | None, pass_name: str | None
    ) -> None:
        self.rule = rule
        super().__init__(f"[{rule}] {op.name} at {op.loc}: {message}", pass_name=pass_name, ir=ir)
        self.op = op


class _Verifier:
    def __init__(self) -> None:
        self.functions: dict[str, Operation] = {}

    def fail(self, rule: str, op: Operation, message: str) -> NoReturn:
        raise rules.RuleViolationError(rule, op, message)

    def run(self, top: Operation) -> None:
        # tt.call needs the module's functions, also when verifying one function alone
        module: Operation | None = top
        while module is not None and module.name != "builtin.module":
            module = module.parent_op()
        if module is not None and module.regions and module.regions[0].blocks:
            for f in module.regions[0].blocks[0].ops:
                if f.name == "tt.func" and isinstance(f.attrs.get("sym_name"), str):
                    self.functions[f.attrs["sym_name"]] = f
        self.visible: set[Value] = set()
        self.op(top)

    def op(self, op: Operation) -> None:
        self.structure(op)
        self.arity(op)
        self.dominance(op)
        if is_elementwise(op.name):
            self.same_shape(op)
        rule = TYPE_RULES.get(op.name)
        if rule is not None:
            message = rule(op, self.functions)
            if message:
                self.fail("types", op, message)
        # nested regions see the values visible here, except isolated ones
        saved = self.visible
        if op.name in ISOLATED_OPS:
            self.visible = set()
        for region in op.regions:
            for block in region.blocks:
                self.block(block)
        self.visible = saved
        self.visible.update(op.results)

    def block(self, block: Block) -> None:
        saved = self.visible
        self.visible = saved | set(block.args)  # a copy: the block's values stay inside it
        for i, op in enumerate(block.ops):
            if op.parent is not block:
                self.fail("structure", op, "op's parent pointer does not point to its block")
            if is_terminator(op.name) and i != len(block.ops) - 1:
                self.fail("structure", op, "terminator is not the last op of its block")
            self.op(op)
        self.visible = saved

    def structure(self, op: Operation) -> None:
        d = OPS.get(op.name)
        if d is None:
            self.fail("registered", op, "op is not registered in tritium.ir.ops.OPS")
            return
        if len(op.regions) != d.regions:
            self.fail("structure", op, f"has {len(op.regions)} regions, expected {d.regions}")
        for key, value in op.attrs.items():
            if not _plain_attr(value):
                self.fail("attributes", op, f"attribute {key!r} is not plain data: {value!r}")
        for v in op.operands:
            if v.uses.count(op) != op.operands.count(v):
                self.fail("structure", op, "an operand's use list is out of date")
        for i, r in enumerate(op.results):
            if r.owner is not op or r.index != i:
                self.fail("structure", op, f"result {i} does not point back to its op")
        expected = _TERMINATORS.get(op.name)
        if expected is None:
            return
        for i, (region, term) in enumerate(zip(op.regions, expected)):
            if not region.blocks:
                if op.name == "scf.if" and i == 1 and not op.results:
                    continue  # an if without results may leave out its else region
                self.fail("structure", op, f"region {i} has no block")
            if len(region.blocks) != 1:
                self.fail(
                    "structure",
                    op,
                    f"region {i} has {len(region.blocks)} blocks; structured regions have one",
                )
            last = region.blocks[0].terminator
            if last is None or last.name != term:
                found = last.name if last is not None else "nothing"
                self.fail("terminator", op, f"region {i} must end in {term}, ends in {found}")

    def arity(self, op: Operation) -> None:
        spec = ARITY.get(op.name)
        if spec is None:
            return
        lo, hi, nres = spec
        n = len(op.operands)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if hi == lo else f"{lo}..{'' if hi is None else hi}"
            self.fail("arity", op, f"has {n} operands, expected {want}")
        if nres is not None and len(op.results) != nres:
            self.fail("arity", op, f"has {len(op.results)} results, expected {nres}")

    def dominance(self, op: Operation) -> None:
        for i, v in enumerate(op.operands):
            if v not in self.visible:
                where = "a later op" if _defined_later(v, op) else "an op that does not enclose it"
                self.fail(
                    "dominance",
                    op,
                    f"operand {i} ({v.type}) is not defined before its use: it comes from {where}",
                )

    def same_shape(self, op: Operation) -> None:
        values = list(op.operands) + list(op.results)
        shapes = {shape_of(v.type) for v in values}
        if op.name == "arith.select" and shape_of(op.operands[0].type) == () and len(shapes) == 2:
            return  # a scalar condition may select between tensors
        if len(shapes) > 1:
            listed = ", ".join(str(v.type) for v in values)
            self.fail("elementwise-shape", op, f"operands and results differ in shape: {listed}")


def _plain_attr(value: object) -> bool:
    """Whether an attribute value is plain data the printer can write and the parser read."""
    if value is None or isinstance(value, bool | int | float | str | Type):
        return True
    if isinstance(value, list | tuple):
        return all(_plain_attr(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_attr(v) for k, v in value.items())
    return False


def _defined_later(v: Value, user: Operation) -> bool:
    """Whether ``v`` is defined by an op after ``user`` in the block of ``user``."""
    d = v.defining_op
    block = user.parent
    return (
        d is not None
        and block is not None
        and d.parent is block
        and block.ops.index(d) > block.ops.index(user)
    )


def verify(ir: Module | Operation, pass_name: str | None = None) -> None:
    """Check ``ir`` against every rule; raise :class:`VerificationError` on the first
    violation. ``pass_name`` names the pass that produced the IR, for the message."""
    top = ir.op if isinstance(ir, Module) else ir
    try:
        _Verifier().run(top)
    except rules.RuleViolationError as e:
        try:
            text: str | None = print_op(top)
        except Exception:  # IR too broken to print: the message alone must do
            text = None
        raise VerificationError(e.rule, e.message, e.op, text, pass_name) from None
