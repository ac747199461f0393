"""Which grid axis the launcher runs fastest: the one whose neighbouring programs touch
neighbouring memory.

A GPU numbers blocks with axis 0 fastest and the launcher does the same by default, so the
programs one thread runs back to back differ in axis 0. Kernels written for GPUs often put rows
on axis 0 and column blocks on axis 1 (``grid = (M, N // BLOCK)``); run in that order, each of a
thread's programs jumps a whole row, and the hardware prefetcher loses the stream (2.6x slower on
one core for SwiGLU's elementwise part). :func:`fast_axis` finds such kernels from their address
arithmetic, without changing them:

* for every tile load and store, the coefficient of ``program_id(0)`` and ``program_id(1)`` in
  its address (in elements): an integer when it is a compile-time constant, :data:`DYNAMIC` when
  it is a runtime value (a row stride), None when the address is not affine in the program id;
* axis 1 walks memory contiguously when its coefficient is at most the tile's last dimension
  (``pid_1 * BLOCK + arange(BLOCK)``) while axis 0's is a runtime stride or a larger constant;
* axis 1 runs fastest when at least one access says so and none says axis 0 does; otherwise
  the order stays Triton's (axis 0 fastest), so 1-D grids and unrecognized kernels are as before.

A second order, :func:`residue_period`, groups programs by ``program_id(0) % K``. A kernel that
accumulates into ``K`` shared rows under a lock picked by ``pid % K`` (Triton's tutorial 05:
each program adds its partial ``dw``/``db`` into row ``pid % GROUP_SIZE_M``) touches the same
row again only every ``K`` programs: run in grid order, the row has left the L2 cache by then,
and two threads often wait on the same lock. Run ``pid = r, r + K, r + 2K, ...`` for each residue
``r`` in turn instead (``launcher._residue_order``, asked for through the flags from
``launcher._PERIOD_SHIFT``), and the row stays in the cache of the thread that runs them all,
with no lock waits but at the ends of chunks.

Expects the kernel's ``tt.func``; guarantees nothing about semantics beyond Triton's (program
instances may run in any order). Reads ``tt.load``/``tt.store``, atomics and the integer ops
feeding them.
"""

from __future__ import annotations

from typing import Literal

from tritium.backends.cpu.analysis import advanced_slot, operand_values, operands_first
from tritium.ir import Block, Operation, Value, is_elementwise
from tritium.ir import types as irt

__all__ = [
    "DYNAMIC",
    "MAX_PERIOD",
    "PASS_THROUGH",
    "fast_axis",
    "pid_coefficient",
    "residue_period",
]

#: The coefficient is a runtime value (e.g. ``row * stride``).
DYNAMIC: Literal["dynamic"] = "dynamic"

Coeff = int | Literal["dynamic"] | None

#: Ops whose result depends on the program id as their first operand does (also prefetch.py).
PASS_THROUGH = frozenset(
    {
        "tt.splat",
        "tt.broadcast",
        "tt.expand_dims",
        "arith.extsi",
        "arith.extui",
        "arith.trunci",
        "arith.index_cast",
        "tt.int_to_ptr",
        "tt.ptr_to_int",
    }
)


def _constant(v: Value) -> int | None:
    op = v.defining_op
    while op is not None and op.name in PASS_THROUGH:
        v = op.operands[0]
        op = v.defining_op
    if op is not None and op.name == "arith.constant" and isinstance(op.attrs.get("value"), int):
        return int(op.attrs["value"])
    return None


def _add(a: Coeff, b: Coeff, sign: int) -> Coeff:
    if a is None or b is None:
        return None
    if a == DYNAMIC or b == DYNAMIC:
        return DYNAMIC
    return a + sign * b  # type: ignore[operator]


def pid_coefficient(v: Value, axis: int, memo: dict[Value, Coeff] | None = None) -> Coeff:
    """The coefficient of ``program_id(axis)`` in the integer or pointer value ``v``."""
    memo = {} if memo is None else memo
    if v in memo:
        return memo[v]
    # Inputs first, without recursion (analysis.operands_first): chains of thousands of ops.
    for u in operands_first(v, memo, operand_values):
        memo[u] = None  # cycles through loop-carried values: unknown
        memo[u] = _coefficient(u, axis, memo)
    return memo[v]


def _coefficient(v: Value, axis: int, memo: dict[Value, Coeff]) -> Coeff:
    op = v.defining_op
    if op is None:
        owner = v.owner.parent_op() if isinstance(v.owner, Block) else None
        if owner is None or owner.name == "tt.func":
            return 0  # a kernel argument
        if (
            owner.name == "scf.for"
            and v.index > 0
            and advanced_slot(owner, v.index - 1) is not None
        ):
            return pid_coefficient(owner.operands[3 + v.index - 1], axis, memo)
        return None
    name = op.name
    if name == "tt.get_program_id":
        return 1 if op.attrs.get("axis", 0) == axis else 0
    if name in ("arith.constant", "tt.make_range", "tt.get_num_programs"):
        return 0
    if name in PASS_THROUGH:
        return pid_coefficient(op.operands[0], axis, memo)
    if name in ("arith.addi", "tt.addptr"):
        return _add(*(pid_coefficient(o, axis, memo) for o in op.operands[:2]), 1)
    if name == "arith.subi":
        return _add(*(pid_coefficient(o, axis, memo) for o in op.operands[:2]), -1)
    if name == "arith.muli":
        a, b = (pid_coefficient(o, axis, memo) for o in op.operands[:2])
        for mine, other, other_v in ((a, b, op.operands[1]), (b, a, op.operands[0])):
            if other == 0 and mine is not None:
                if mine == 0:
                    return 0
                c = _constant(other_v)
                if c is None or mine == DYNAMIC:
                    return DYNAMIC
                return mine * c  # type: ignore[operator]
        return None
    subs = [pid_coefficient(o, axis, memo) for o in op.operands]
    if (is_elementwise(name) or name == "tt.load") and all(s == 0 for s in subs):
        return 0  # independent of the program id
    return None


def _vote(ptr: Value, memo0: dict[Value, Coeff], memo1: dict[Value, Coeff]) -> int | None:
    """1 when this access wants axis 1 fastest, 0 when it wants axis 0, None: no opinion."""
    t = ptr.type
    if not isinstance(t, irt.TensorType):
        return None
    extent = t.shape[-1]
    c0, c1 = pid_coefficient(ptr, 0, memo0), pid_coefficient(ptr, 1, memo1)

    def walks(c: Coeff) -> bool:  # neighbouring programs touch neighbouring memory
        return isinstance(c, int) and 0 < abs(c) <= extent

    def jumps(c: Coeff) -> bool:
        return c == DYNAMIC or (isinstance(c, int) and abs(c) > extent)

    if walks(c1) and (jumps(c0) or c0 == 0):
        return 1
    if walks(c0) and (jumps(c1) or c1 == 0):
        return 0
    return None


def fast_axis(func: Operation) -> int:
    """The grid axis to run fastest for kernel ``func``: 1 or (the default) 0."""
    memo0: dict[Value, Coeff] = {}
    memo1: dict[Value, Coeff] = {}
    votes = set()
    for op in func.walk():
        if op.name in ("tt.load", "tt.store"):
            v = _vote(op.operands[0], memo0, memo1)
            if v is not None:
                votes.add(v)
    return 1 if votes == {1} else 0


#: The largest period the launcher's flags hold (their top 15 bits, the sign bit left clear).
MAX_PERIOD = 0x7FFF
_ATOMICS = ("tt.atomic_cas", "tt.atomic_rmw")


def _is_pid0(v: Value) -> bool:
    op = v.defining_op
    while op is not None and op.name in PASS_THROUGH:
        v = op.operands[0]
        op = v.defining_op
    return op is not None and op.name == "tt.get_program_id" and op.attrs.get("axis", 0) == 0


def _periods_in(v: Value, seen: set[Value], found: set[int]) -> None:
    """Add to ``found`` the ``K`` of every ``program_id(0) % K`` (constant ``K``) that ``v``
    is computed from."""
    stack = [v]
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        op = v.defining_op
        if op is None:
            continue
        if op.name in ("arith.remsi", "arith.remui") and _is_pid0(op.operands[0]):
            k = _constant(op.operands[1])
            if k is not None:
                found.add(k)
            continue
        stack.extend(op.operands)


def residue_period(func: Operation) -> int:
    """``K`` when the launcher should run kernel ``func``'s programs residue by residue of
    ``program_id(0) % K`` (see the module docstring), else 0.

    ``K`` is taken when every atomic whose address depends on a ``program_id(0) % constant``
    agrees on one constant ``K`` (2 to :data:`MAX_PERIOD`), and the kernel reads no other grid
    axis (its grid is 1-D: the order permutes axis 0 only, so it would be correct anyway).
    Any order is correct for a Triton kernel; this one only changes which programs share a
    thread and run back to back.
    """
    found: set[int] = set()
    seen: set[Value] = set()
    for op in func.walk():
        if op.name == "tt.get_program_id" and op.attrs.get("axis", 0) != 0:
            return 0
        if op.name in _ATOMICS:
            _periods_in(op.operands[0], seen, found)
    if len(found) != 1:
        return 0
    k = found.pop()
    return k if 2 <= k <= MAX_PERIOD else 0
