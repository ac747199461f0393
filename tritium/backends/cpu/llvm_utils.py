"""Small llvmlite helpers: IR-type mapping, counted loops, entry-block allocas, vector
splats, intrinsic declarations.

Tile values live in LLVM as vectors of ``width`` lanes (``<1 x T>`` for width 1); pointers
are kept as ``i64`` addresses and turned into ``ptr`` only at a memory access, which keeps
pointer arithmetic on vectors plain integer arithmetic.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager

import llvmlite.ir as ll
import numpy as np

from tritium.ir import types as irt

__all__ = [
    "BFloatType",
    "I1",
    "I8",
    "I16",
    "I32",
    "I64",
    "F16",
    "BF16",
    "F32",
    "F64",
    "PTR",
    "VOID",
    "llvm_type",
    "mem_type",
    "elem_size",
    "vec",
    "splat",
    "const",
    "for_range",
    "wide_counter",
    "entry_alloca",
    "intrinsic",
    "type_suffix",
    "opaque",
    "lane_iota",
    "is_float",
    "cbranch_likely",
]


class BFloatType(ll.Type):
    """LLVM's ``bfloat``, which llvmlite.ir does not provide."""

    null = "0xR0000"

    def _to_string(self) -> str:
        return "bfloat"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BFloatType)

    def __hash__(self) -> int:
        return hash("bfloat")

    def format_constant(self, value: float) -> str:
        return f"0xR{bf16_bits(value):04X}"


def bf16_bits(value: float) -> int:
    """The bf16 bit pattern of ``value`` rounded once to nearest-even, as
    ``ml_dtypes.bfloat16(value)`` gives it (ml_dtypes is not imported: it costs ~0.5 s).

    ``value`` goes to fp32 first with round-to-odd, which keeps the second rounding (16 bits
    narrower) exact: the result is as if the float64 were rounded to bf16 directly.
    """
    with np.errstate(over="ignore"):
        f = np.array(value, dtype=np.float32)
    b32 = int(f.view(np.uint32))
    if (b32 & 0x7FFFFFFF) > 0x7F800000 or value != value:  # NaN: keep the sign, make it quiet
        return ((b32 >> 16) | 0x0040) & 0xFFFF
    exact = float(f) == value
    if not exact and abs(value) != float("inf"):
        if abs(float(f)) > abs(value):  # rounded away from zero: step back toward zero
            b32 -= 1
        b32 |= 1  # round-to-odd marks the inexact fp32
    return ((b32 + 0x7FFF + ((b32 >> 16) & 1)) >> 16) & 0xFFFF


I1, I8, I16, I32, I64 = (ll.IntType(n) for n in (1, 8, 16, 32, 64))
F16, BF16, F32, F64 = ll.HalfType(), BFloatType(), ll.FloatType(), ll.DoubleType()
PTR = ll.PointerType()
VOID = ll.VoidType()

_SCALAR_MAP: dict[str, ll.Type] = {
    "i1": I1,
    "i8": I8,
    "i16": I16,
    "i32": I32,
    "i64": I64,
    "f16": F16,
    "bf16": BF16,
    "f32": F32,
    "f64": F64,
    # fp8 values are carried as their bit patterns; only casts touch them
    "f8E4M3FN": I8,
    "f8E5M2": I8,
    "f8E4M3FNUZ": I8,
    "f8E5M2FNUZ": I8,
    "f8E4M3B11FNUZ": I8,
}


def llvm_type(t: irt.Type) -> ll.Type:
    """The LLVM scalar type that holds one element of ``t`` in registers."""
    t = irt.element_type(t)
    if isinstance(t, irt.PointerType):
        return I64
    if isinstance(t, irt.ScalarType):
        return _SCALAR_MAP[t.name]
    raise TypeError(f"no LLVM type for {t}")


def mem_type(t: irt.Type) -> ll.Type:
    """The LLVM type of one element of ``t`` in memory (booleans are bytes, as in Triton)."""
    lt = llvm_type(t)
    return I8 if lt == I1 else lt


def elem_size(t: irt.Type) -> int:
    """Bytes per element of ``t`` in memory."""
    t = irt.element_type(t)
    if isinstance(t, irt.PointerType):
        return 8
    assert isinstance(t, irt.ScalarType)
    return max(1, t.bitwidth // 8)


def is_float(t: irt.Type) -> bool:
    """A float type computed in LLVM floats (fp8 is not: it is only stored and cast)."""
    t = irt.element_type(t)
    return isinstance(t, irt.FloatType) and t.width >= 16


def vec(t: ll.Type, width: int) -> ll.VectorType:
    """``<width x t>``."""
    return ll.VectorType(t, width)


def const(t: ll.Type, value: int | float | bool, width: int | None = None) -> ll.Constant:
    """A constant of LLVM scalar type ``t``, splatted to a vector when ``width`` is given."""
    if isinstance(t, ll.IntType):
        v = int(value) & ((1 << t.width) - 1)
        if v >= 1 << (t.width - 1) and t.width > 1:
            v -= 1 << t.width
        c: ll.Constant = ll.Constant(t, v)
    elif isinstance(t, ll.HalfType):
        c = ll.Constant(t, float(np.float16(value)))
    elif isinstance(t, ll.FloatType):
        c = ll.Constant(
            t,
            struct.unpack("f", struct.pack("f", float(value)))[0]
            if abs(float(value)) < 3.5e38 or value != value
            else float(value),
        )
    else:
        c = ll.Constant(t, float(value))
    if width is None:
        return c
    return ll.Constant(vec(t, width), [c] * width)


def lane_iota(width: int) -> ll.Constant:
    """The i32 vector ``<0, 1, ..., width-1>``."""
    return ll.Constant(vec(I32, width), [ll.Constant(I32, i) for i in range(width)])


def splat(b: ll.IRBuilder, value: ll.Value, width: int) -> ll.Value:
    """Broadcast a scalar (or a ``<1 x T>`` vector) to ``width`` lanes."""
    if isinstance(value.type, ll.VectorType):
        if value.type.count == width:
            return value
        assert value.type.count == 1, value.type
        mask = ll.Constant(vec(I32, width), [ll.Constant(I32, 0)] * width)
        return b.shuffle_vector(value, ll.Constant(value.type, ll.Undefined), mask)
    if isinstance(value, ll.Constant):
        return ll.Constant(vec(value.type, width), [value] * width)
    undef = ll.Constant(vec(value.type, 1), ll.Undefined)
    one = b.insert_element(undef, value, ll.Constant(I32, 0))
    return splat(b, one, width)


@contextmanager
def for_range(
    b: ll.IRBuilder,
    start: ll.Value,
    stop: ll.Value,
    step: ll.Value | int = 1,
    name: str = "i",
    wide: bool = False,
    runs: bool = False,
) -> Iterator[ll.Value]:
    """``for i in range(start, stop, step)`` with a positive step; the body is built inside
    the ``with`` block. The loop counts in the type of ``start``. ``runs``: the caller knows
    that a constant ``start`` is below a run-time ``stop`` (the loop is then rotated too).

    With constant bounds that run at least once (a tile's chunk loops, the dot microkernel's
    loops) the loop is emitted already rotated, its test at the bottom; with ``wide`` too, an
    i32 loop counts in i64 and yields the counter's truncation (:func:`wide_counter` finds the
    i64 counter, for addresses computed from the position itself). LLVM would otherwise
    rotate each loop and widen each i32 counter that addresses memory: LoopRotate and
    IndVarSimplify were 10-15% of the optimizer's time in kernels with hundreds of such loops
    (issue 13). Not ``wide`` where positions are offset before they address memory (the dot
    microkernels): ``zext(trunc(i) + j)`` made slower code there than a widened counter.
    """
    ty = start.type
    pre = b.block
    known = isinstance(stop, ll.Constant) and isinstance(stop.constant, int)
    if (
        isinstance(start, ll.Constant)
        and isinstance(start.constant, int)
        and isinstance(step, int)
        and (runs or (known and start.constant < stop.constant))
    ):
        wide = wide and ty == I32 and known
        cty = I64 if wide else ty
        body = b.append_basic_block(f"{name}.body")
        exit_ = b.append_basic_block(f"{name}.exit")
        b.branch(body)
        b.position_at_end(body)
        iv = b.phi(cty, name=name)
        iv.add_incoming(ll.Constant(cty, start.constant), pre)
        if wide:
            narrow = b.trunc(iv, I32, name=f"{name}.i32")
            narrow.wide_counter = iv  # type: ignore[attr-defined]  # read by wide_counter
            yield narrow
        else:
            yield iv
        nxt = b.add(iv, ll.Constant(cty, step), name=f"{name}.next", flags=["nsw"])
        iv.add_incoming(nxt, b.block)
        end = ll.Constant(cty, stop.constant) if known else stop  # type: ignore[attr-defined]
        b.cbranch(b.icmp_signed("<", nxt, end), body, exit_)
        b.position_at_end(exit_)
        return
    if isinstance(step, int):
        step = ll.Constant(ty, step)
    header = b.append_basic_block(f"{name}.head")
    body = b.append_basic_block(f"{name}.body")
    exit_ = b.append_basic_block(f"{name}.exit")
    b.branch(header)
    b.position_at_end(header)
    iv = b.phi(ty, name=name)
    iv.add_incoming(start, pre)
    b.cbranch(b.icmp_signed("<", iv, stop), body, exit_)
    b.position_at_end(body)
    yield iv
    nxt = b.add(iv, step, name=f"{name}.next", flags=["nsw"])
    iv.add_incoming(nxt, b.block)
    b.branch(header)
    b.position_at_end(exit_)


def wide_counter(value: ll.Value) -> ll.Value | None:
    """The i64 counter of a :func:`for_range` loop whose i32 position ``value`` is, else None."""
    return getattr(value, "wide_counter", None)


def entry_alloca(
    b: ll.IRBuilder,
    alloca_block: ll.Block,
    ty: ll.Type,
    count: int = 1,
    align: int = 64,
    name: str = "",
) -> ll.Value:
    """An ``alloca`` in the function's dedicated alloca block (which runs once, before
    everything), so it is allocated once rather than per loop iteration and mem2reg can
    promote scalars."""
    with b.goto_block(alloca_block):
        size = None if count == 1 else ll.Constant(I32, count)
        slot = b.alloca(ty, size=size, name=name)
        slot.align = align
    return opaque(slot)


def opaque(v: ll.Value) -> ll.Value:
    """Give an alloca or global the opaque ``ptr`` type: llvmlite would otherwise type it as
    ``T*`` and reject accesses through GEPs of another element type."""
    v.type = PTR
    return v


def type_suffix(t: ll.Type) -> str:
    """The overload suffix LLVM uses in intrinsic names (``v16f32``, ``p0``, ``i64``)."""
    if isinstance(t, ll.VectorType):
        return f"v{t.count}{type_suffix(t.element)}"
    if isinstance(t, ll.PointerType):
        return "p0"
    if isinstance(t, ll.IntType):
        return f"i{t.width}"
    return {"half": "f16", "bfloat": "bf16", "float": "f32", "double": "f64"}[str(t)]


def intrinsic(module: ll.Module, name: str, ret: ll.Type, args: list[ll.Type]) -> ll.Function:
    """Declare (once) and return the function ``name`` of the given signature."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    return ll.Function(module, ll.FunctionType(ret, args), name=name)


#: the states of a :func:`thread_key_ready` key's i32 state global
KEY_UNSET, KEY_CREATING, KEY_READY, KEY_FAILED = 0, 1, 2, 3


def thread_key_ready(
    b: ll.IRBuilder, m: ll.Module, key: ll.Value, state: ll.Value, destructor: ll.Value
) -> ll.Value:
    """An i1: whether the pthread key in the i64 global ``key`` exists, creating it (with
    ``destructor``) on first use. ``state`` (an i32 global, ``KEY_UNSET`` at load) makes the
    creation happen once across threads; a thread that races the creation sees it not ready and
    goes without the key this time."""
    i32 = lambda v: ll.Constant(I32, v)  # noqa: E731
    st = b.load_atomic(state, "acquire", align=4, typ=I32)
    with b.if_then(b.icmp_unsigned("==", st, i32(KEY_UNSET)), likely=False):
        pair = b.cmpxchg(state, i32(KEY_UNSET), i32(KEY_CREATING), "acq_rel", "monotonic")
        won = b.extract_value(pair, 1)
        with b.if_then(won):
            create = intrinsic(m, "pthread_key_create", I32, [PTR, PTR])
            ok = b.icmp_unsigned("==", b.call(create, [key, destructor]), i32(0))
            b.atomic_rmw("xchg", state, b.select(ok, i32(KEY_READY), i32(KEY_FAILED)), "release")
    now = b.load_atomic(state, "acquire", align=4, typ=I32)
    return b.icmp_unsigned("==", now, i32(KEY_READY))


def cbranch_likely(b: ll.IRBuilder, cond: ll.Value, then: ll.Block, other: ll.Block) -> None:
    """A conditional branch that LLVM should lay out for ``cond`` being true."""
    br = b.cbranch(cond, then, other)
    br.set_weights([99, 1])
