"""Bounds masks whose value the code around them decides: Inductor's ``r0_mask``, ``xmask``.

Inductor's looped reductions walk the reduced axis as ``for r0_offset in range(0, r0_numel,
R0_BLOCK)`` with ``r0_index = r0_offset + tl.arange(0, R0_BLOCK)[None, :]`` and mask every
load and accumulator update with ``r0_mask = r0_index < r0_numel``; with static shapes
``r0_numel`` is a constant in the kernel, and mostly a multiple of ``R0_BLOCK``, so the mask
is true in every iteration. Left in, every chunk tests it (LLVM does not know the induction
variable is a multiple of the step, so it cannot prove the last lanes in bounds) and ANDs it
into the other masks: on Inductor's ``var_mean`` over the middle axis of ``[32, 1024, 64]``
the masked kernel takes ~1.5x the time of the same kernel without masks.

:func:`fold_loop_bound_masks` replaces a comparison ``splat(iv) + range < N`` (``<=`` too, the
range under any ``expand_dims``/``broadcast``, either operand order) by a constant true tile
when ``iv`` is the induction variable of an enclosing ``scf.for`` whose bounds and step are
constants and the last iteration's last lane is still below ``N`` (a range alone, a
persistent reduction's mask, is folded by the passes already). Then ``true & m`` becomes
``m``, ``broadcast(true)`` a constant, and ``where(true, a, b)`` ``a``, so the loads keep only
the masks that can be false.

A comparison ``splat(s) + range(0, B) < N`` where ``B`` divides both the scalar ``s`` and the
constant ``N`` (Inductor's ``xmask = xindex < xnumel``, ``xindex = pid * XBLOCK + range``) holds
for all lanes or none: it becomes the uniform ``splat(s < N)``, a scalar computed once per
program (each chunk then branches on that one value) instead of a test of each chunk's first
and last lanes and an AND with the other masks.

This is the backend's own rewrite (the compiler prints the TTIR before the backend lowers it).
"""

from __future__ import annotations

from tritium.backends.cpu.analysis import divisibility, uniform_step
from tritium.ir import Operation, Value
from tritium.ir import types as irt

__all__ = ["fold_loop_bound_masks"]

_PREDICATES = {"slt": 0, "sle": 1}  # predicate -> how far past N - 1 the last lane may be


def fold_loop_bound_masks(func: Operation) -> int:
    """Fold the always-true bounds comparisons of ``func`` (see the module docstring) and the
    masks built from them; returns how many comparisons were folded."""
    folded = 0
    for op in list(func.walk()):
        if op.parent is None or op.name != "arith.cmpi":
            continue
        if not isinstance(op.result.type, irt.TensorType):
            continue
        if _always_true(op):
            true = _true_like(op, op.result.type)
            op.result.replace_all_uses_with(true)
            op.erase()
            _propagate(true)
            folded += 1
        elif (start := _aligned_start(op)) is not None:
            op.result.replace_all_uses_with(_uniform_test(op, start))
            op.erase()
            folded += 1
    return folded


def _aligned_start(cmp: Operation) -> Value | None:
    """``s`` when ``cmp`` is ``splat(s) + range(0, B) < N`` with ``B`` dividing ``s`` and the
    constant ``N`` (so the lanes are all below ``N`` or none is), else None."""
    if cmp.attrs.get("predicate") != "slt":
        return None
    lhs, rhs = cmp.operands
    bound = _int_constant(rhs)
    op = lhs.defining_op
    if bound is None or op is None or op.name != "arith.addi":
        return None
    for a, b in (op.operands, op.operands[::-1]):
        span = _range_of(b)
        start = uniform_step(a)
        if span is None or span[0] != 0 or not isinstance(start, Value):
            continue
        size = span[1]
        if size > 0 and size & (size - 1) == 0 and bound % size == 0:
            if divisibility(start) % size == 0:
                return start
    return None


def _uniform_test(cmp: Operation, start: Value) -> Value:
    """``splat(start < N)`` of ``cmp``'s type, inserted before it."""
    assert cmp.parent is not None
    bound = _int_constant(cmp.operands[1])
    ops = [Operation("arith.constant", [], [start.type], {"value": bound}, 0, cmp.loc)]
    ops.append(
        Operation("arith.cmpi", [start, ops[0].result], [irt.i1], {"predicate": "slt"}, 0, cmp.loc)
    )
    ops.append(Operation("tt.splat", [ops[1].result], [cmp.result.type], {}, 0, cmp.loc))
    for new in ops:
        cmp.parent.insert_before(cmp, new)
    return ops[-1].result


def _int_constant(v: Value) -> int | None:
    """The integer ``v`` holds (a scalar constant, or a tile of one value), else None."""
    if isinstance(v.type, irt.TensorType):
        if not isinstance(v.type.element, irt.IntType) or v.type.element.width == 1:
            return None
        c = uniform_step(v)
        return c if type(c) is int else None
    op = v.defining_op
    if op is not None and op.name == "arith.constant" and type(op.attrs.get("value")) is int:
        return int(op.attrs["value"])
    return None


def _range_of(v: Value) -> tuple[int, int] | None:
    """``(start, end)`` of a ``tt.make_range`` under shape-only ops."""
    op = v.defining_op
    while op is not None and op.name in ("tt.expand_dims", "tt.broadcast"):
        op = op.operands[0].defining_op
    if op is None or op.name != "tt.make_range":
        return None
    return int(op.attrs["start"]), int(op.attrs["end"])


def _last_iteration(iv: Value) -> int | None:
    """The value of ``iv`` in the last iteration of its ``scf.for`` (constant bounds and a
    positive step), or None when ``iv`` is not such an induction variable or the loop may not
    run (then nothing inside it runs either, but say None: nothing to fold)."""
    if iv.defining_op is not None or iv.index != 0:
        return None
    loop = iv.owner.parent_op()  # type: ignore[union-attr]
    if loop is None or loop.name != "scf.for":
        return None
    lb, ub, step = (_int_constant(v) for v in loop.operands[:3])
    if lb is None or ub is None or step is None or step <= 0 or ub <= lb:
        return None
    return lb + step * ((ub - lb - 1) // step)


def _always_true(cmp: Operation) -> bool:
    slack = _PREDICATES.get(str(cmp.attrs.get("predicate")))
    if slack is None:
        return False
    lhs, rhs = cmp.operands
    bound = _int_constant(rhs)
    if bound is None:
        return False
    op = lhs.defining_op
    if op is None or op.name != "arith.addi":
        return False
    for a, b in (op.operands, op.operands[::-1]):
        span = _range_of(b)
        iv = uniform_step(a)
        if span is not None and isinstance(iv, Value):
            offset = _last_iteration(iv)
            if offset is not None:
                break
    else:
        return False
    assert span is not None
    start, end = span
    if end <= start:
        return False
    # the largest lane of any iteration is the last iteration's offset + end - 1
    return offset + end - 1 < bound + slack


def _true_like(anchor: Operation, t: irt.Type) -> Value:
    c = Operation("arith.constant", [], [t], {"value": True}, 0, anchor.loc)
    assert anchor.parent is not None
    anchor.parent.insert_before(anchor, c)
    return c.result


def _is_true(v: Value) -> bool:
    op = v.defining_op
    return op is not None and op.name == "arith.constant" and op.attrs.get("value") is True


def _propagate(true: Value) -> None:
    """Simplify the readers of the all-true tile ``true`` (and theirs, in turn)."""
    work = [true]
    while work:
        v = work.pop()
        for user in list(dict.fromkeys(v.uses)):
            if user.parent is None:
                continue
            name = user.name
            replacement: Value | None = None
            if name == "tt.broadcast" and _is_true(user.operands[0]):
                replacement = _true_like(user, user.result.type)
                work.append(replacement)
            elif name == "arith.andi":
                a, b = user.operands
                other = b if _is_true(a) else a if _is_true(b) else None
                if other is not None and other.type == user.result.type:
                    replacement = other
            elif name == "arith.select" and _is_true(user.operands[0]):
                if user.operands[1].type == user.result.type:
                    replacement = user.operands[1]
            if replacement is not None:
                user.result.replace_all_uses_with(replacement)
                user.erase()
        op = v.defining_op
        if op is not None and op.parent is not None and not v.uses:
            op.erase()
