"""Split a loop over blocks into a mask-free main loop and the masked tail.

The pattern every row-wise Triton kernel writes::

    for off in range(0, N, BLOCK):
        cols = off + tl.arange(0, BLOCK)
        x = tl.load(X + cols, mask=cols < N, other=0.0)

checks ``cols < N`` on every lane of every iteration, though only the last iteration can have a
lane at or past ``N``. This pass runs the iterations ``[lb, main_ub)``, with ``main_ub = m -
(m - lb) % step`` and ``m = max(N, lb)``, in a copy of the loop where those compares are the
constant ``true``, and leaves the original loop to run the rest (at most one iteration), carried
values flowing from one into the other. ``canonicalize`` then drops the all-true masks (plain
vector loads and stores instead of ``llvm.masked.*``) and the ``tl.where`` they fed.

LLVM does not do this at its level: after lowering, the mask is a vector compare feeding a
masked-load intrinsic in a loop, and proving it all-true needs the tile-level fact that the
lanes are ``off + [0, BLOCK)`` with ``BLOCK <= step``.

Expects: verified IR. Guarantees: the same results; each iteration runs once, in order.
Touches: ``scf.for`` with a constant lower bound >= 0 and a constant step > 0 whose body has an
``arith.cmpi`` ``slt`` (or ``sgt`` reversed) of ``splat(iv) + make_range(a, b)`` (``0 <= a``,
``b <= step``; seen through ``expand_dims``/``broadcast``) against ``splat(ub)`` of the loop's
own upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from tritium.ir.core import Module, Operation, Value
from tritium.ir.rewrite import clone_op, replace_op
from tritium.passes.patterns import constant_value, make_constant
from tritium.passes.registry import Pass, register_pass

__all__ = ["PeelMaskedTail"]

_SHAPE_OPS = ("tt.expand_dims", "tt.broadcast")


@register_pass("peel-masked-tail")
@dataclass
class PeelMaskedTail(Pass):
    """Run a block loop's full blocks without their ``cols < N`` masks, the tail with them."""

    def run(self, module: Module) -> Module:
        # innermost first: an outer loop then copies inner loops already split
        for loop in reversed([op for op in module.walk() if op.name == "scf.for"]):
            masks = _tail_masks(loop)
            if masks:
                _split(loop, masks)
        return module


def _through_shapes(v: Value) -> Operation | None:
    op = v.defining_op
    while op is not None and op.name in _SHAPE_OPS:
        op = op.operands[0].defining_op
    return op


def _is_lanes_of(v: Value, iv: Value, step: int) -> bool:
    """``v`` is ``splat(iv) + make_range(a, b)`` with ``0 <= a`` and ``b <= step``."""
    add = _through_shapes(v)
    if add is None or add.name != "arith.addi":
        return False
    ops = [o.defining_op for o in add.operands]
    for splat, rng in (ops, ops[::-1]):
        if (
            splat is not None
            and rng is not None
            and splat.name == "tt.splat"
            and splat.operands[0] is iv
            and rng.name == "tt.make_range"
            and 0 <= rng.attrs["start"]
            and rng.attrs["end"] <= step
        ):
            return True
    return False


def _is_splat_of(v: Value, scalar: Value) -> bool:
    op = _through_shapes(v)
    return op is not None and op.name == "tt.splat" and op.operands[0] is scalar


def _tail_masks(loop: Operation) -> list[Operation]:
    """The compares in ``loop``'s body that are all true except in the last iteration."""
    lb, step = constant_value(loop.operands[0]), constant_value(loop.operands[2])
    if not isinstance(lb, int) or not isinstance(step, int) or lb < 0 or step <= 0:
        return []
    iv = loop.regions[0].blocks[0].args[0]
    found = []
    for op in _walk_body(loop):
        if op.name != "arith.cmpi" or op.attrs.get("predicate") not in ("slt", "sgt"):
            continue
        lanes, bound = op.operands if op.attrs["predicate"] == "slt" else op.operands[::-1]
        if _is_lanes_of(lanes, iv, step) and _is_splat_of(bound, loop.operands[1]):
            found.append(op)
    return found


def _walk_body(loop: Operation) -> list[Operation]:
    return [op for block in loop.regions[0].blocks for o in block.ops for op in o.walk()]


def _scalar(anchor: Operation, name: str, operands: list[Value]) -> Value:
    op = Operation(name, operands, [operands[0].type], {}, 0, anchor.loc)
    assert anchor.parent is not None
    anchor.parent.insert_before(anchor, op)
    return op.results[0]


def _split(loop: Operation, masks: list[Operation]) -> None:
    lb, ub, step = loop.operands[:3]
    # main_ub = m - (m - lb) % step with m = max(ub, lb): no overflow, since 0 <= lb <= m
    m = _scalar(loop, "arith.maxsi", [ub, lb])
    rem = _scalar(loop, "arith.remsi", [_scalar(loop, "arith.subi", [m, lb]), step])
    main_ub = _scalar(loop, "arith.subi", [m, rem])
    mapping: dict[Value, Value] = {}
    main = clone_op(loop, mapping)
    main.operands = [lb, main_ub, step, *loop.operands[3:]]
    assert loop.parent is not None
    loop.parent.insert_before(loop, main)
    for cmp in masks:  # in the main loop every lane is below ub
        copy = mapping[cmp.results[0]].defining_op
        assert copy is not None
        replace_op(copy, [make_constant(copy, copy.results[0].type, True)])
    loop.operands = [main_ub, ub, step, *main.results]
