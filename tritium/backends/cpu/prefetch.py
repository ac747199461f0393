"""Prefetch the tile a program will load next while it works on the current one.

A row-wise kernel (softmax, layer norm, RMSNorm: one row per program, as GPU code launches
them) reads its row in a first pass (a max or a sum), computes for a while, then writes the
result. The hardware prefetcher follows the loads of the first pass, but nothing is loaded
while the program computes and stores, so it stops there, and the next program starts by
waiting on DRAM: reads and compute take turns instead of overlapping. The launcher runs a
thread's programs in order along the grid's fast axis (``grid_order``), so the next program
is this one with ``program_id(fast axis) + 1`` (``+ K`` where programs run residue by residue
of ``pid % K``, ``grid_order.residue_period``; the step negated when ``heavy_first`` reverses
the order), and for an address that is affine in that id its tile lies a fixed number of bytes
away. Each chunk of such a load therefore also issues a software prefetch of the same chunk of
the next program's tile: the next row streams in during this row's compute. A persistent
kernel (each program loops over rows ``pid, pid + P, ...``, tutorial 02's form) prefetches
its own next iteration's row instead.

The distance comes from the address arithmetic: the derivative of the address in the program
id (or the loop variable), built from the kernel's own scalar values (a runtime row stride
included). A prefetch never faults and never changes a result, so the analysis only has to be
right often: a wrong or out-of-range address costs one wasted instruction.

Only contiguous tile loads are considered. Loads whose address does not depend on the program
id (weights shared by all programs) are not prefetched, nor those whose next tile starts where
this one ends (a 1-D ``pid * BLOCK + arange(BLOCK)``, a loop over a row's column blocks): the
hardware prefetcher follows those, and a software prefetch only adds instructions (a vector
add of 2^24 elements was 3% slower with them).

The prefetch brings the lines into L2, not L1 (``prefetcht1``): a row kernel reads its own row
again in later passes (the forward layer norm three times, with the weights and biases in the
last), and with the next row's lines prefetched into L1 too (32 KiB on Zen 4) they evicted
each other. Measured on a 2-core EPYC (Zen 4, znver4), one thread, thread CPU time, before and
after interleaved in one process (load ~4), 1024 x 4096 fp32 unless said: layer norm forward
1.22-1.30x faster, its dx kernel 1.00-1.04x, RMSNorm 1.17-1.32x, one-row-per-program softmax
4096 x 1024 1.07-1.13x, tutorial 02's looped softmax 1.05-1.07x; AVX2 code on the same host
(``TRITIUM_CPU_FEATURES=-avx512f``) the same way (1.05-1.25x). Prefetching only in the first
pass that loads a row (fewer instructions) lost the gain: the later passes' prefetches are the
ones that keep DRAM busy while the row is computed.

A kernel that loads its row once and keeps it in stack tiles (tutorial 05's layer norm dx
kernel: ``x`` and ``dy`` in the first pass, then the dx store and the partial rows'
accumulation from the tiles) also prefetches those loads' next-program chunks in its later
store loops (:func:`emit_prefetch_in_store`). Same machine and method: the dx kernel 1.24-1.25x
faster at 1024 x 4096 and 1.20x at 4096 x 4096 (one thread), 1.13x at two threads (wall, load
6); the row softmax 1.01-1.04x. Where the store loop has only one such load (the row softmax:
its first pass already requested the next row), it prefetches the row after the next one, so
that the store loop keeps DRAM busy with new lines instead of asking again for the next row's,
already on their way. Row softmax, one thread, thread CPU time, before and after in
alternating processes (load 3.4): 4096 x 4096 8.92-9.09 -> 7.60-8.00 ms (0.78-0.82 -> 0.88-0.91
of STREAM copy's time in the same process), 4096 x 1024 1.99-2.18 -> 1.93-1.95, tutorial 02's
softmax 4096 x 4096 21.5-22.3 -> 20.9-21.5 (three rows ahead: no better than two); AVX2 code
on the same host 1.13-1.16x at 4096 x 4096. The dx kernel (x and dy kept in stack tiles) was
0.75-0.99x with the row after next, so two loads keep the next row.

In a kernel with ``tt.dot``, a loop that loads a dot's operands at an address affine in its
induction variable prefetches each chunk of the next iteration's tiles as it reads this one's
(:func:`_plan_dot_operand`): decode attention (``tutorials/attention.py``'s split kernel, B2
H32/8 N1024 D128 fp32, ``k`` and ``v`` 32 KiB tiles) waited on DRAM at the start of every
tile. One thread, thread CPU time, alternating processes (load 2.3-3.3): 6.1-11.8 -> 15.2-22.6
GB/s; AVX2 code (``-avx512f``) 4.8-5.8 -> 11.0-18.5; two threads (wall, load 3.3) 6.3-10.9
-> 15.4-17.7. Without ``k``'s or without ``v``'s prefetch most of the gain went; two
iterations ahead was no better, into L1 (``prefetcht0``) worse.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeAlias

import llvmlite.ir as ll

from tritium.backends.cpu import llvm_utils as lu
from tritium.backends.cpu.grid_order import PASS_THROUGH
from tritium.backends.cpu.tiles import Buffer, Index
from tritium.ir import Block, Operation, Value
from tritium.ir import types as irt

if TYPE_CHECKING:
    from tritium.backends.cpu.codegen import Lowering

__all__ = ["emit_prefetch", "emit_prefetch_in_store", "plan_prefetch"]

#: A derivative: 0 (the value does not depend on the program id), an i64 LLVM value, or None
#: (not affine in the program id, or not understood).
Delta: TypeAlias = int | ll.Value | None

_SAME = PASS_THROUGH  # operations that keep their operand's derivative
_DEPTH = 48  # deeper address chains are not worth following
#: Ops between a load and the ``tt.dot`` that reads it as an operand (``_feeds_dot``).
_TO_DOT = ("tt.trans", "arith.extf", "arith.truncf", "tt.fp_to_fp", "tt.bitcast")
# for A/B timing in one process (benchmarks), not a user setting
_DOT_OPERANDS = True  # prefetch a loop's next dot-operand tiles (False: the code before)
_PER_LINE = True  # a dot reading two chunks a line prefetches once a line (False: once a chunk)


def _uniform(cx: Lowering, v: Value) -> int | ll.Value | None:
    """``v``'s value as an i64 scalar when it is the same on every lane (a scalar, a splat of
    one, a splat constant), else None; a constant as a Python int, so that a distance built
    from constants (a ``constexpr`` block size) stays one and ``plan_prefetch`` can compare it
    with the tile's size."""
    while True:
        constant = _constant_int(v)
        if constant is not None:
            return constant
        if not isinstance(v.type, irt.TensorType):
            ref = cx.refs.get(v)
            if ref is None or not hasattr(ref, "value"):
                return None
            s = ref.value
            if not isinstance(s.type, ll.IntType):
                return None
            if s.type.width < 64:
                return cx.b.sext(s, lu.I64)
            return s if s.type.width == 64 else cx.b.trunc(s, lu.I64)
        op = v.defining_op
        if op is None:
            return None
        if op.name in ("tt.splat", "tt.broadcast", "tt.expand_dims"):
            v = op.operands[0]
            continue
        return None


def _llvm(d: int | ll.Value) -> ll.Value:
    return ll.Constant(lu.I64, d) if isinstance(d, int) else d


def _add(cx: Lowering, a: Delta, b: Delta, sign: int = 1) -> Delta:
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a + sign * b
    if isinstance(b, int) and b == 0:
        return a
    if isinstance(a, int) and a == 0 and sign > 0:
        return b
    return cx.b.add(_llvm(a), _llvm(b)) if sign > 0 else cx.b.sub(_llvm(a), _llvm(b))


def _scale(cx: Lowering, d: Delta, factor: ll.Value | int) -> Delta:
    if d is None or (isinstance(d, int) and d == 0):
        return d
    if isinstance(factor, int):
        return d * factor if isinstance(d, int) else cx.b.mul(d, ll.Constant(lu.I64, factor))
    if isinstance(d, int) and d == 1:
        return factor
    return cx.b.mul(_llvm(d), factor)


#: What a derivative is taken in: a grid axis's program id, or a loop's induction variable.
Var: TypeAlias = int | Value


def _delta(cx: Lowering, v: Value, var: Var, memo: dict[Value, Delta], depth: int) -> Delta:
    if v in memo:
        return memo[v]
    memo[v] = None  # cycles: unknown
    memo[v] = d = _delta_of(cx, v, var, memo, depth)
    return d


def _delta_of(cx: Lowering, v: Value, var: Var, memo: dict[Value, Delta], depth: int) -> Delta:
    if depth > _DEPTH:
        return None
    if v is var:
        return 1
    op = v.defining_op
    if op is None:
        owner = v.owner.parent_op() if isinstance(v.owner, Block) else None
        if owner is None or owner.name == "tt.func":
            return 0  # a kernel argument
        if owner.name == "scf.for" and v.index == 0:
            # the induction variable: lb + k * step, the same k in both programs
            lb, step = owner.operands[0], owner.operands[2]
            if _delta(cx, step, var, memo, depth + 1) == 0:
                return _delta(cx, lb, var, memo, depth + 1)
        return None
    name = op.name
    if name == "tt.get_program_id":
        return 1 if int(op.attrs.get("axis", 0)) == var else 0
    if name in ("arith.constant", "tt.make_range", "tt.get_num_programs"):
        return 0
    if name in _SAME:
        return _delta(cx, op.operands[0], var, memo, depth + 1)
    if name in ("arith.addi", "arith.subi"):
        a, b = (_delta(cx, o, var, memo, depth + 1) for o in op.operands[:2])
        return _add(cx, a, b, 1 if name == "arith.addi" else -1)
    if name == "tt.addptr":
        pointee = irt.element_type(op.operands[0].type)
        size = lu.elem_size(pointee.pointee) if isinstance(pointee, irt.PointerType) else 1
        a = _delta(cx, op.operands[0], var, memo, depth + 1)
        b = _scale(cx, _delta(cx, op.operands[1], var, memo, depth + 1), size)
        return _add(cx, a, b)
    if name == "arith.muli":
        x, y = op.operands[:2]
        dx, dy = (_delta(cx, o, var, memo, depth + 1) for o in (x, y))
        if dx is None or dy is None:
            return None
        if isinstance(dx, int) and isinstance(dy, int) and dx == 0 and dy == 0:
            return 0
        for d, other, d_other in ((dx, y, dy), (dy, x, dx)):
            if isinstance(d_other, int) and d_other == 0:
                factor = _uniform(cx, other)
                return None if factor is None else _scale(cx, d, factor)
        return None
    if not isinstance(var, int) and name.startswith("arith.") and not op.regions:
        # any other arithmetic (decode attention's head ``pid // H``) in a loop's variable:
        # unchanged if its operands are (in a program id, kept unknown: the row kernels'
        # peeled tail loops start at ``N - N % BLOCK``, measured without a prefetch there)
        ds = [_delta(cx, o, var, memo, depth + 1) for o in op.operands]
        return 0 if all(isinstance(d, int) and d == 0 for d in ds) else None
    return None


def _enclosing_loop(op: Operation) -> Operation | None:
    parent = op.parent_op()
    while parent is not None and parent.name != "scf.for":
        if parent.name == "tt.func":
            return None
        parent = parent.parent_op()
    return parent


def _constant_int(v: Value) -> int | None:
    op = v.defining_op
    if op is not None and op.name == "arith.constant":
        value = op.attrs.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


#: ``_next_iteration``'s answer for a load whose next iteration's tile starts where this one
#: ends (the hardware prefetcher's case) or does not move.
_WALK = "walk"


def _next_iteration(cx: Lowering, op: Operation, loop: Operation, tile_bytes: int) -> Delta | str:
    """Bytes to the same load in the next iteration of ``loop`` when that is a jump (a
    persistent kernel's next row); ``_WALK`` when the next tile is adjacent or the same (the
    next column block of a row, a load the loop does not move); None when the address is not
    affine in the loop variable."""
    ptr, iv, step = op.operands[0], loop.regions[0].block.args[0], loop.operands[2]
    d = _delta(cx, ptr, iv, {}, 0)
    if d is None:
        return None
    if isinstance(d, int) and d == 0:
        return _WALK
    const_step = _constant_int(step)
    if isinstance(d, int) and const_step is not None:
        jump = d * const_step
        return _WALK if abs(jump) <= tile_bytes else jump
    factor = _uniform(cx, step)
    return None if factor is None else _scale(cx, d, factor)


def _has_dot(cx: Lowering) -> bool:
    root = cx.root
    known = getattr(root, "_prefetch_has_dot", None)
    if known is None:
        known = any(o.name == "tt.dot" for o in root.func.walk())
        root._prefetch_has_dot = known  # type: ignore[attr-defined]
    return bool(known)


def plan_prefetch(cx: Lowering, op: Operation) -> None:
    """Decide, where the tile load ``op`` is lowered, whether its chunks prefetch ahead, and
    compute the distance here (the values it needs are defined by now, and this point
    dominates every chunk of the load).

    Ahead means the next iteration of the enclosing loop when a 1-D load jumps from one
    iteration to the next (a persistent kernel's loop over rows), else the next program when
    the loop does not move the load or walks it along a row.
    In kernels with ``tt.dot`` only the dot's operands loaded in a loop at an address affine
    in its induction variable are prefetched, one iteration ahead (:func:`_plan_dot_operand`);
    a K loop that carries its pointers is left to the dot lowering, which prefetches its own
    packed operands."""
    if not cx.is_kernel or not cx.target.triple.startswith(("x86_64", "i686", "i386")):
        return
    ptr = op.operands[0]
    if not isinstance(ptr.type, irt.TensorType) or cx.stride(ptr) != 1:
        return
    if _has_dot(cx):
        if _DOT_OPERANDS:
            _plan_dot_operand(cx, op)
        return
    pointee = irt.element_type(ptr.type)
    assert isinstance(pointee, irt.PointerType)
    tile_bytes = math.prod(ptr.type.shape) * lu.elem_size(pointee.pointee)
    loop = _enclosing_loop(op)
    ahead = _next_iteration(cx, op, loop, tile_bytes) if loop is not None else _WALK
    walk = isinstance(ahead, str)
    if ahead is None or (not walk and len(ptr.type.shape) > 1):
        # not understood, or a 2-D tile that jumps between iterations (a column reduction's
        # [rows, columns] block: many strided lines, which prefetching made 12% slower)
        return
    d = None if walk else ahead
    if walk:
        d = _delta(cx, ptr, cx.grid_fast_axis, {}, 0)
        if d is None or (isinstance(d, int) and abs(d) <= tile_bytes):
            return  # not understood, the same tile in every program, or the one right after
        if cx.grid_period and cx.grid_fast_axis == 0:
            d = _scale(cx, d, cx.grid_period)  # residue order: the next program is pid + K
        if cx.grid_heavy_first:  # the launcher runs the previous program next (heavy_first.py)
            d = _scale(cx, d, -1)
    cx.prefetch_delta[op] = _llvm(d)


def _feeds_dot(v: Value, depth: int = 0) -> bool:
    """Whether ``v`` is an operand of a ``tt.dot``, maybe through ``tl.trans`` and casts."""
    for user in v.uses:
        if user.name == "tt.dot" and v in user.operands[:2]:
            return True
        if user.name in _TO_DOT and depth < 4 and _feeds_dot(user.result, depth + 1):
            return True
    return False


def _plan_dot_operand(cx: Lowering, op: Operation) -> None:
    """Prefetch the next iteration's tile of a ``tt.dot`` operand that a loop loads at an
    address affine in its induction variable (decode attention's ``k`` and ``v``: ``k_base +
    (n0 + offs_n)[:, None] * stride_kn + offs_d[None, :]``).

    The dot reads such a tile in an order the hardware prefetcher cannot follow from one
    iteration to the next: ``k^T``'s packing reads 16 rows a line at a time, the streamed ``p
    @ v`` a few lines of each of the tile's rows, and between the two tiles the softmax
    computes without loading anything. So each chunk of the tile requests the same chunk one
    iteration ahead, even where the next tile starts where this one ends (the order of the
    reads, not their addresses, is what the hardware misses). Loads whose address the loop
    does not move are left alone (they are in cache after the first iteration), and so are
    pointers the loop carries (a K loop's ``ptrs += BLOCK_K * stride``: the dot lowering
    prefetches those as it packs)."""
    loop = _enclosing_loop(op)
    if loop is None or not _feeds_dot(op.result):
        return
    iv, step = loop.regions[0].block.args[0], loop.operands[2]
    d = _delta(cx, op.operands[0], iv, {}, 0)
    if d is None or (isinstance(d, int) and d == 0):
        return
    factor = _uniform(cx, step)
    ahead = None if factor is None else _scale(cx, d, factor)
    if ahead is not None:
        cx.prefetch_delta[op] = _llvm(ahead)


def emit_prefetch(cx: Lowering, op: Operation, address: ll.Value, new_line: bool = True) -> None:
    """Prefetch the chunk of ``op`` ahead of the one whose first lane is at i64 ``address``
    (see :func:`plan_prefetch`). ``new_line`` false (or ``cx.same_line`` set): the chunk lies
    in the cache line of the chunk read just before, whose prefetch covered it (AVX2's
    32-byte chunks read two to a 64-byte line by a dot), and none is issued."""
    d = cx.prefetch_delta.get(op)
    if d is None or (_PER_LINE and (cx.same_line or not new_line)):
        return
    _prefetch(cx, cx.b.inttoptr(cx.b.add(address, d), lu.PTR))


def _prefetch(cx: Lowering, at: ll.Value) -> None:
    fn = lu.intrinsic(cx.module, "llvm.prefetch.p0", lu.VOID, [lu.PTR, lu.I32, lu.I32, lu.I32])
    # read, into L2 and outward (locality 2: prefetcht1; see the module docstring), data cache
    cx.b.call(fn, [at, ll.Constant(lu.I32, 0), ll.Constant(lu.I32, 2), ll.Constant(lu.I32, 1)])


def _encloses(block: Block | None, op: Operation) -> bool:
    """Whether ``op`` sits in ``block`` or in a region nested in one of its ops."""
    at: Operation | None = op if block is not None else None
    while at is not None:
        if at.parent is block:
            return True
        at = at.parent_op()
    return False


def emit_prefetch_in_store(cx: Lowering, store: Operation, idx: Index) -> None:
    """In chunk ``idx`` of the tile store ``store``, prefetch the same chunk of the next
    program's tile for each earlier row load of that shape whose own chunk was not evaluated
    here (a load whose tile the kernel keeps in a buffer and reads from there).

    The dx kernel of tutorial 05 loads ``x`` and ``dy`` in its first pass only, then writes dx
    and accumulates the partial rows from stack tiles: without this the next row was requested
    during the first third of the program only (the forward kernel, which loads its row again
    in every pass, prefetches in every pass). Only loads lowered before ``store`` (planned by
    :func:`plan_prefetch`) in a block that encloses it and in the same innermost loop qualify:
    their address values dominate the store, and a store in an inner loop would prefetch the
    same lines on every iteration. A single such load is prefetched two programs ahead (see
    the module docstring)."""
    from tritium.backends.cpu.memory import scalar_form  # memory imports this module

    if _has_dot(cx):
        return  # a dot kernel's planned loads are dot operands, prefetched where they are read
    shape = irt.shape_of(store.operands[0].type)
    loop = _enclosing_loop(store)
    ahead = []
    for load, d in cx.prefetch_delta.items():
        ptr = load.operands[0]
        if irt.shape_of(ptr.type) != shape or _enclosing_loop(load) is not loop:
            continue
        if not _encloses(load.parent, store):
            continue
        if id(load.result) in idx.cache and not isinstance(cx.refs.get(load.result), Buffer):
            continue  # the load's own chunk was evaluated here, with its prefetch
        ahead.append((ptr, d))
    for ptr, d in ahead:
        sf = scalar_form(cx, ptr, None, idx)  # None: not a contiguous chunk (as for loads)
        if sf is None or sf.address is None:
            continue
        if len(ahead) == 1:  # the program after the next one (see the docstring)
            d = 2 * d if isinstance(d, int) else cx.b.shl(d, ll.Constant(d.type, 1))
        _prefetch(cx, cx.b.inttoptr(cx.b.add(sf.address, d), lu.PTR))
