"""Whether the launcher should hand out the heaviest programs first: when a loop's trip count
grows with the program id.

A causal attention kernel (Triton's tutorial 06) gives program ``m`` of axis 0 the key blocks
``[0, m * BLOCK_M)``: the last program of a row of programs does ``cdiv(N, BLOCK_M)`` times the
work of the first. The launcher's workers take program ids in increasing order (one at a time
at the end of the grid, see ``launcher``), so the heaviest program is taken last and the other
thread waits for it: with 16 programs of work 1..16 on 2 threads the run lasts 72 units where
68 would do, with 8 programs of work 1..8, 20 where 18 would do (the longest-first rule).
Handing the ids out in decreasing order puts the small programs at the end, where they fill
the gaps.

:func:`heavy_first` reads the kernel's ``scf.for`` loops: for each, the coefficient of every
``program_id(axis)`` in ``upper - lower`` (``grid_order.pid_coefficient``: a constant when the
bounds are affine in the program id, None otherwise) with a positive constant step. The grid
runs in decreasing order when some loop's span grows with a program id and none shrinks with
one; loops whose bounds are not affine in the program ids (``tl.minimum(...)``, a loaded
bound) give no opinion. Program order is never part of a kernel's meaning (Triton runs
programs in any order), so a wrong guess only costs balance, never a result.

Expects the kernel's ``tt.func`` (callees are inlined by then); reads its ``scf.for`` ops.
"""

from __future__ import annotations

from tritium.backends.cpu.grid_order import Coeff, pid_coefficient
from tritium.ir import Operation, Value

__all__ = ["heavy_first"]

#: Module switch for A/B measurements (benchmarks): False keeps the increasing order always.
ENABLED = True


def _span_sign(loop: Operation, memos: list[dict[Value, Coeff]]) -> set[int]:
    """The signs (+1/-1) of the program-id coefficients of ``loop``'s span, one per axis
    where it is nonzero; empty when the span is independent of the ids or not understood."""
    lower, upper, step = loop.operands[:3]
    const = step.defining_op
    if const is None or const.name != "arith.constant":
        return set()  # a runtime step: its sign (and so the trip count's) is not known here
    value = const.attrs.get("value")
    if not isinstance(value, int) or value <= 0:
        return set()
    signs = set()
    for axis in range(3):
        lo = pid_coefficient(lower, axis, memos[axis])
        hi = pid_coefficient(upper, axis, memos[axis])
        if not isinstance(lo, int) or not isinstance(hi, int):
            continue  # not affine (or a runtime coefficient): no opinion
        if hi - lo:
            signs.add(1 if hi > lo else -1)
    return signs


def heavy_first(func: Operation) -> bool:
    """True when kernel ``func``'s programs should run in decreasing id order (the module
    docstring): some loop's trip count grows with a program id, and none shrinks with one."""
    if not ENABLED:
        return False
    memos: list[dict[Value, Coeff]] = [{}, {}, {}]
    signs: set[int] = set()
    for op in func.walk():
        if op.name == "scf.for":
            signs |= _span_sign(op, memos)
    return signs == {1}
