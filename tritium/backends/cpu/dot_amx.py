"""Intel AMX tiles for the bf16 and int8 ``tl.dot`` K loops that ``dot_kloop`` lowers by
chunks of steps.

On a host with AMX (Sapphire Rapids and later: ``amx-tile``, ``amx-bf16`` and ``amx-int8`` in
the target's features), a K loop whose dot takes bf16 tiles into an fp32 accumulator (or int8
into int32) runs its chunks with ``tdpbf16ps`` (``tdpbssd``) instead of ``vdpbf16ps``
(``vpdpbusd``, ``dot_kloop_packed``). Everything around the instructions is ``dot_kloop``'s:
the loop's steps record packed tiles, every chunk of steps runs one microkernel. What differs:

- ``a`` is packed dense and row-major (``[m][k]`` values, no word interleaving, int8 not
  biased): an A tile is 16 rows of ``KT`` words read with the row stride of ``k`` values;
- ``b`` keeps ``dot_kloop_packed``'s order (``[n/nb][k/g][nb]`` words, a word = ``g`` (2 or
  4) consecutive ``k`` of one column: the word rows the instructions want; int8's column sums
  after it go unread), so a B tile is ``KT`` word rows of 16 columns, ``4 * nb`` bytes apart;
- the microkernel sweeps blocks of ``TM x TN`` C tiles of 16 x 16 fp32/int32 (tmm0-3; A tiles
  in tmm4-5, B in tmm6-7), loads them from the accumulator tile, runs the chunk's steps and
  stores them back (then the C tile's fused store, ``dot_epilogue``, as the packed path,
  with the tiles released over its code and configured again after it: it may call
  functions, and no tile op runs unconfigured, ``_emu_tilerelease``).
  Tile shapes must divide the blocks (BLOCK_M, BLOCK_N multiples of 16), else the loop keeps
  the packed path.

The instructions go through a small "tile ISA" (:class:`_Hardware`, :class:`_Emulated`) over
the same config bytes, addresses and strides: the hardware one is inline assembly, the
emulated one plain LLVM code with the instructions' semantics as Intel's SDM states them
(``ldtilecfg`` zeroes the tiles; loads and stores move ``rows x colsb`` bytes and zero the
rest; the dots as below). ``TRITIUM_CPU_AMX=emulate`` selects the emulation on any host
(tests run the whole path so); ``0`` turns AMX off.

Numerics (SDM, TDPBF16PS against VDPBF16PS): both treat input denormals as zero, flush output
denormals and round to nearest even, but they do not add in the same order. ``vdpbf16ps``
adds each pair's odd product, then its even one, into the accumulator (FMA after FMA).
``tdpbf16ps`` sums, per row of C, the even products and the odd products of the
instruction's ``KT`` pairs in two separate fp32 sums starting from zero, then adds their sum
to C once. So the bf16 results are not ``vdpbf16ps``'s bit for bit; the tests compare them
with a NumPy model of the SDM's order (bit for bit) and with float64 references. int8 sums
are exact (int32, wrapping), equal to the ``vpdpbusd`` path's.

Linux gives a process the AMX state only on request (``arch_prctl(ARCH_REQ_XCOMP_PERM,
XFEATURE_XTILEDATA)``; without it the first tile instruction faults). :func:`permitted` asks
once per process, when :func:`choose` first wants tiles or ``CPUBackend.load`` first loads
code marked as using them (a process that runs no bf16/int8 dot never asks: once granted,
Linux refuses a smaller ``sigaltstack`` than a signal frame with the tiles), then runs
``dot_amx_check.self_test`` (one block's tile program per instruction on the hardware: bf16
within a tight bound of float64, int8 exact; bit-equality with the emulation is reported, not
required) and keeps AMX off, with one warning, if either fails. The cache key cannot hold the
answer (:func:`key_part`): a refused process does not load marked code and compiles it again
without tiles, under its own key. NOT run on AMX hardware yet: no session had a host with it
(docs/cpu_backend.md).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

import llvmlite.ir as ll

from tritium import knobs
from tritium.backends.cpu import llvm_utils as lu
from tritium.ir import Value
from tritium.ir import types as irt

if TYPE_CHECKING:
    from tritium.backends.cpu import dot_packed
    from tritium.backends.cpu.codegen import Lowering
    from tritium.backends.cpu.dot_kloop import Plan
    from tritium.backends.cpu.target import HostTarget
    from tritium.backends.cpu.tiles import Buffer, Index

__all__ = [
    "Tiles",
    "choose",
    "config_bytes",
    "elsewhere",
    "key_part",
    "microkernel",
    "mode",
    "packer",
    "permitted",
]

ROWS = 16  # rows of a tile
ROW_BYTES = 64  # bytes of a tile's row
_FEATURES = ("amx-tile", "amx-bf16", "amx-int8")  # the self-test runs both dots
_ARCH_PRCTL, _REQ_XCOMP_PERM, _XTILEDATA = 158, 0x1023, 18


@dataclass(frozen=True)
class Tiles:
    """The tile blocking of one K loop: ``tm x tn`` C tiles per block, ``kt`` rows of words
    (``group`` values of K each: 2 bf16 or 4 int8) per A/B tile; ``emulate``: the emulated
    ISA."""

    tm: int
    tn: int
    kt: int
    emulate: bool
    group: int = 2

    @property
    def kind(self) -> dot_packed.Kind:
        """The packed kind whose ``b`` order (and K loop) the tiles read."""
        from tritium.backends.cpu import dot_packed

        return dot_packed.BF16 if self.group == 2 else dot_packed.INT8

    @property
    def op(self) -> str:
        """The dot instruction: bf16 into fp32, or signed int8 into int32."""
        return "tdpbf16ps" if self.group == 2 else "tdpbssd"

    def c(self, i: int, j: int) -> int:
        return i * self.tn + j

    def a(self, i: int) -> int:
        return 4 + i

    def b(self, j: int) -> int:
        return 6 + j


def config_bytes(t: Tiles) -> bytes:
    """``ldtilecfg``'s 64 bytes: palette 1, then each used tile's bytes per row (u16 at 16 +
    2 * tile) and rows (u8 at 48 + tile); unused tiles stay 0 x 0."""
    cfg = bytearray(64)
    cfg[0] = 1
    shapes = {t.c(i, j): (ROWS, ROW_BYTES) for i in range(t.tm) for j in range(t.tn)}
    shapes.update({t.a(i): (ROWS, 4 * t.kt) for i in range(t.tm)})
    shapes.update({t.b(j): (t.kt, ROW_BYTES) for j in range(t.tn)})
    for tile, (rows, colsb) in shapes.items():
        cfg[16 + 2 * tile : 18 + 2 * tile] = colsb.to_bytes(2, "little")
        cfg[48 + tile] = rows
    return bytes(cfg)


# -- when -------------------------------------------------------------------------------------

_lock = threading.Lock()
_ready: list[bool] = []  # this process's answer (permission and self-test), once asked


def _new_lock() -> None:
    """A fork's child gets a new lock: the parent's may have been held by a thread the child
    lacks. The answer is kept: Linux's permission passes to the child and the CPU is the same
    (a fork during the asking leaves none, and the child asks again)."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock)

#: inside elsewhere(), in this thread (or context) only: another thread's JIT keeps AMX
_elsewhere: ContextVar[bool] = ContextVar("tritium_amx_elsewhere", default=False)


@contextlib.contextmanager
def elsewhere() -> Iterator[None]:
    """Within the block, code is compiled for another process (``tritium.tools.aot``'s
    libraries): it gets no AMX. That process has not asked Linux for the tile state, so the
    first tile instruction would fault there (and nothing would run the self-test). It holds
    for the calling thread only: a JIT compile in another thread meanwhile keeps AMX."""
    token = _elsewhere.set(True)
    try:
        yield
    finally:
        _elsewhere.reset(token)


def mode(target: HostTarget) -> str:
    """'hw', 'emulate' or 'off' for code generated for ``target`` (``TRITIUM_CPU_AMX``):
    'hw' only for code this process runs (compiled for this CPU, outside :func:`elsewhere`),
    once Linux granted the tile state and the self-test passed (asked here, the first time:
    :func:`choose` calls it only for a dot that wants tiles)."""
    m = _mode(target)
    if m != "auto":
        return m
    return "hw" if not _elsewhere.get() and permitted() else "off"


def key_part(target: HostTarget) -> str:
    """What AMX adds to the CPU backend's cache key, asking no one: nothing where it is off;
    ``;amx=auto`` where this host has AMX and the process was not refused it (yet: whether it
    may use it is asked when a dot first wants tiles, so the key cannot say; an artifact with
    tiles is marked, and a refused process does not load it, ``CPUBackend.load``); after a
    refusal nothing again, as its code is AMX-off code. The key is the JIT's, outside
    :func:`elsewhere` (which compiles without the cache)."""
    m = _mode(target)
    if m == "auto":
        return "" if _ready == [False] else ";amx=auto"
    return "" if m == "off" else f";amx={m}"


def _mode(target: HostTarget) -> str:
    """'off', 'emulate', or 'auto': this host has AMX (whether the process may use it is
    asked apart)."""
    knob = knobs.cpu_amx()
    if knob == "0":
        return "off"
    if knob == "emulate":
        return "emulate"
    if not all(target.has(f) for f in _FEATURES):
        return "off"
    from tritium.backends.cpu.target import missing_features

    if missing_features(",".join("+" + f for f in _FEATURES)):
        return "off"  # code for another CPU: its process would need the tile state
    return "auto"


def permitted() -> bool:
    """Whether this process may use AMX: the kernel granted the tile state and the self-test
    passed (asked once per process, the first time code with tiles is compiled or loaded)."""
    with _lock:
        if not _ready:
            _ready.append(_request() and _checked())
        return _ready[0]


def _request() -> bool:
    """Linux's permission for the tile state (``arch_prctl``); elsewhere none is asked for
    (no other OS's request is written): AMX off."""
    if sys.platform != "linux":
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syscall(_ARCH_PRCTL, _REQ_XCOMP_PERM, _XTILEDATA) == 0:
            return True
        # ENOSPC: a thread's sigaltstack is smaller than a signal frame with the tiles
        why = os.strerror(ctypes.get_errno())
    except Exception as e:  # noqa: BLE001  # no libc, no syscall(): the path that works
        why = f"{type(e).__name__}: {e}"
    warnings.warn(f"tritium: Linux refused AMX's tile state ({why}); AMX off", stacklevel=3)
    return False


def _checked() -> bool:
    from tritium.backends.cpu import dot_amx_check

    try:
        report = dot_amx_check.self_test(hardware=True)
    except Exception as e:  # noqa: BLE001  # any failure keeps the path that works
        warnings.warn(f"tritium: AMX self-test failed to run ({e}); AMX off", stacklevel=3)
        return False
    if not report.passed:
        warnings.warn(f"tritium: AMX self-test failed ({report}); AMX off", stacklevel=3)
    return report.passed


def choose(cx: Lowering, a: Value, b: Value, ct: irt.Type) -> Tiles | None:
    """The tiles for a dot of ``a`` (m x k) and ``b`` (k x n) into ``ct`` when AMX takes it:
    bf16 into fp32 or int8 into int32, m and n multiples of 16, k of the words' group (tiles
    of ``kt`` rows of words dividing it). int8 needs AVX512-VNNI besides (the packing of
    ``b`` sums its columns with ``vpdpbusd``; every AMX CPU has it)."""
    elems = {irt.element_type(x.type) for x in (a, b)}
    if elems == {irt.bf16} and ct == irt.f32:
        group = 2
    elif elems == {irt.i8} and ct == irt.i32 and cx.target.has("avx512vnni"):
        group = 4
    else:
        return None
    (m, k), (_, n) = irt.shape_of(a.type), irt.shape_of(b.type)
    if m % ROWS or n % ROWS or k % group:
        return None
    where = mode(cx.target)
    if where == "off":
        return None
    kt = next(kt for kt in (16, 8, 4, 2, 1) if (k // group) % kt == 0)
    tm = 2 if m % (2 * ROWS) == 0 else 1
    tn = 2 if n % (2 * ROWS) == 0 else 1
    return Tiles(tm, tn, kt, where == "emulate", group)


# -- the tile ISA -----------------------------------------------------------------------------


class _Hardware:
    """The instructions themselves (inline assembly; LLVM leaves tmm0-7 alone)."""

    def __init__(self, b: ll.IRBuilder) -> None:
        self.b = b

    def _asm(self, text: str, args: list[ll.Value], constraints: str) -> None:
        fty = ll.FunctionType(lu.VOID, [x.type for x in args])
        self.b.call(ll.InlineAsm(fty, text, constraints, side_effect=True), args)

    def configure(self, cfg: ll.Value) -> None:
        self._asm("ldtilecfg ($0)", [cfg], "r,~{memory}")

    def load(self, t: int, at: ll.Value, stride: ll.Value) -> None:
        self._asm(f"tileloadd ($0,$1,1), %tmm{t}", [at, stride], "r,r,~{memory}")

    def store(self, t: int, at: ll.Value, stride: ll.Value) -> None:
        self._asm(f"tilestored %tmm{t}, ($0,$1,1)", [at, stride], "r,r,~{memory}")

    def dot(self, op: str, c: int, a: int, bt: int) -> None:
        self._asm(f"{op} %tmm{bt}, %tmm{a}, %tmm{c}", [], "")

    def release(self) -> None:
        self._asm("tilerelease", [], "~{memory}")


class _Emulated:
    """The instructions as the SDM states them, on a state of the config (64 bytes) and 8
    tiles of 16 x 64 bytes in memory, through one internal function per instruction."""

    def __init__(self, module: ll.Module, b: ll.IRBuilder, alloca_block: ll.Block) -> None:
        self.module, self.b = module, b
        self.state = lu.entry_alloca(b, alloca_block, ll.ArrayType(lu.I8, 64 + 8 * 1024))
        self.release()  # what ran before may have left none: a tile op here finds no tiles

    def _call(self, name: str, args: list[ll.Value]) -> None:
        fn = self.module.globals.get(f"tritium.amx.{name}") or _EMULATIONS[name](self.module)
        self.b.call(fn, [self.state, *args])

    def configure(self, cfg: ll.Value) -> None:
        self._call("ldtilecfg", [cfg])

    def load(self, t: int, at: ll.Value, stride: ll.Value) -> None:
        self._call("tileloadd", [_i32(t), at, stride])

    def store(self, t: int, at: ll.Value, stride: ll.Value) -> None:
        self._call("tilestored", [_i32(t), at, stride])

    def dot(self, op: str, c: int, a: int, bt: int) -> None:
        self._call(op, [_i32(c), _i32(a), _i32(bt)])

    def release(self) -> None:
        self._call("tilerelease", [])


_Isa = _Hardware | _Emulated


def _i32(v: int) -> ll.Constant:
    return ll.Constant(lu.I32, v)


def _i64(v: int) -> ll.Constant:
    return ll.Constant(lu.I64, v)


def _function(module: ll.Module, name: str, args: list[ll.Type]) -> ll.IRBuilder:
    fn = ll.Function(module, ll.FunctionType(lu.VOID, [lu.PTR, *args]), f"tritium.amx.{name}")
    fn.linkage = "internal"
    return ll.IRBuilder(fn.append_basic_block("entry"))


def _shape(b: ll.IRBuilder, state: ll.Value, t: ll.Value) -> tuple[ll.Value, ll.Value]:
    """(rows, bytes per row) of tile ``t`` as i64, from the config in the state."""
    colsb = b.load(
        b.gep(state, [b.add(_i32(16), b.mul(t, _i32(2)))], source_etype=lu.I8), typ=lu.I16
    )
    rows = b.load(b.gep(state, [b.add(_i32(48), t)], source_etype=lu.I8), typ=lu.I8)
    return b.zext(rows, lu.I64), b.zext(colsb, lu.I64)


def _row(b: ll.IRBuilder, state: ll.Value, t: ll.Value, r: ll.Value) -> ll.Value:
    """The address of row ``r`` of tile ``t`` in the state."""
    off = b.add(b.mul(b.zext(t, lu.I64), _i64(1024)), b.mul(r, _i64(ROW_BYTES)))
    return b.gep(state, [b.add(_i64(64), off)], source_etype=lu.I8)


def _memcpy(module: ll.Module, b: ll.IRBuilder, to: ll.Value, src: ll.Value, n: ll.Value) -> None:
    fn = lu.intrinsic(module, "llvm.memcpy.p0.p0.i64", lu.VOID, [lu.PTR, lu.PTR, lu.I64, lu.I1])
    b.call(fn, [to, src, n, ll.Constant(lu.I1, 0)])


def _memset(module: ll.Module, b: ll.IRBuilder, to: ll.Value, n: ll.Value) -> None:
    fn = lu.intrinsic(module, "llvm.memset.p0.i64", lu.VOID, [lu.PTR, lu.I8, lu.I64, lu.I1])
    b.call(fn, [to, ll.Constant(lu.I8, 0), n, ll.Constant(lu.I1, 0)])


def _emu_ldtilecfg(module: ll.Module) -> ll.Function:
    """The config copied in, every tile zeroed (as ``ldtilecfg`` leaves them)."""
    b = _function(module, "ldtilecfg", [lu.PTR])
    state, cfg = b.function.args
    _memcpy(module, b, state, cfg, _i64(64))
    _memset(module, b, b.gep(state, [_i64(64)], source_etype=lu.I8), _i64(8 * 1024))
    b.ret_void()
    return b.function


def _emu_tilerelease(module: ll.Module) -> ll.Function:
    """The INIT state: config and tiles zeroed. Tile ops on it (the hardware raises #UD)
    read and write no memory (rows and bytes per row are 0), so that a tile op before
    ``ldtilecfg`` or after ``tilerelease`` shows as wrong results in the tests."""
    b = _function(module, "tilerelease", [])
    _memset(module, b, b.function.args[0], _i64(64 + 8 * 1024))
    b.ret_void()
    return b.function


def _emu_tileloadd(module: ll.Module) -> ll.Function:
    """Rows ``r < rows``: ``colsb`` bytes from ``at + r * stride``; the rest of the tile 0."""
    b = _function(module, "tileloadd", [lu.I32, lu.PTR, lu.I64])
    state, t, at, stride = b.function.args
    rows, colsb = _shape(b, state, t)
    with lu.for_range(b, _i64(0), _i64(ROWS), name="r") as r:
        row = _row(b, state, t, r)
        _memset(module, b, row, _i64(ROW_BYTES))
        with b.if_then(b.icmp_unsigned("<", r, rows)):
            _memcpy(module, b, row, b.gep(at, [b.mul(r, stride)], source_etype=lu.I8), colsb)
    b.ret_void()
    return b.function


def _emu_tilestored(module: ll.Module) -> ll.Function:
    """Rows ``r < rows``: ``colsb`` bytes to ``at + r * stride``."""
    b = _function(module, "tilestored", [lu.I32, lu.PTR, lu.I64])
    state, t, at, stride = b.function.args
    rows, colsb = _shape(b, state, t)
    with lu.for_range(b, _i64(0), rows, name="r") as r:
        _memcpy(
            module,
            b,
            b.gep(at, [b.mul(r, stride)], source_etype=lu.I8),
            _row(b, state, t, r),
            colsb,
        )
    b.ret_void()
    return b.function


def _flush(b: ll.IRBuilder, bits: ll.Value) -> ll.Value:
    """fp32 bits (vector of i32) with denormals made zeros of their sign, as floats (DAZ on
    inputs, FTZ on results)."""
    w = bits.type.count
    exp = b.and_(bits, lu.const(lu.I32, 0x7F800000, w))
    zero = b.icmp_unsigned("==", exp, lu.const(lu.I32, 0, w))
    flushed = b.select(zero, b.and_(bits, lu.const(lu.I32, 0x80000000, w)), bits)
    return b.bitcast(flushed, lu.vec(lu.F32, w))


def _ftz(b: ll.IRBuilder, x: ll.Value) -> ll.Value:
    return _flush(b, b.bitcast(x, lu.vec(lu.I32, x.type.count)))


def _emu_tdpbf16ps(module: ll.Module) -> ll.Function:
    """For each row m of C (rows of C's config): two fp32 sums from zero, of the even and of
    the odd products of the ``colsb(A) / 4`` pairs (fused multiply-adds, DAZ/FTZ, RNE), then
    C += even + odd; columns past C's ``colsb`` and rows past its rows zeroed."""
    b = _function(module, "tdpbf16ps", [lu.I32, lu.I32, lu.I32])
    state, c, a, bt = b.function.args
    w = ROWS  # fp32 lanes of a row
    vi, vf = lu.vec(lu.I32, w), lu.vec(lu.F32, w)
    fma = lu.intrinsic(module, "llvm.fma.v16f32", vf, [vf, vf, vf])
    sums = [b.alloca(vf) for _ in range(2)]  # the even and the odd products' sums
    rows, colsb = _shape(b, state, c)
    _, pairs = _shape(b, state, a)
    pairs = b.udiv(pairs, _i64(4))
    cols = b.trunc(b.udiv(colsb, _i64(4)), lu.I32)
    keep = b.icmp_unsigned("<", lu.lane_iota(w), lu.splat(b, cols, w))
    high = lu.const(lu.I32, 0xFFFF0000, w)
    with lu.for_range(b, _i64(0), _i64(ROWS), name="m") as m:
        c_row = _row(b, state, c, m)
        with b.if_else(b.icmp_unsigned("<", m, rows)) as (live, dead):
            with live:
                zero = ll.Constant(vf, None)
                for s in sums:
                    b.store(zero, s)
                with lu.for_range(b, _i64(0), pairs, name="k") as k:
                    word = b.load(
                        b.gep(_row(b, state, a, m), [b.mul(k, _i64(4))], source_etype=lu.I8),
                        typ=lu.I32,
                    )
                    words = lu.splat(b, word, w)
                    b_row = b.load(_row(b, state, bt, k), typ=vi, align=4)
                    halves = (
                        (
                            b.shl(words, lu.const(lu.I32, 16, w)),
                            b.shl(b_row, lu.const(lu.I32, 16, w)),
                        ),
                        (b.and_(words, high), b.and_(b_row, high)),
                    )
                    for s, (x, y) in zip(sums, halves, strict=True):
                        prod = b.call(fma, [_flush(b, x), _flush(b, y), b.load(s, typ=vf)])
                        b.store(_ftz(b, prod), s)
                both = _ftz(b, b.fadd(b.load(sums[0], typ=vf), b.load(sums[1], typ=vf)))
                old = _flush(b, b.load(c_row, typ=vi, align=4))
                new = b.select(keep, _ftz(b, b.fadd(old, both)), zero)
                b.store(new, c_row, align=4)
            with dead:
                _memset(module, b, c_row, _i64(ROW_BYTES))
    b.ret_void()
    return b.function


def _emu_tdpbssd(module: ll.Module) -> ll.Function:
    """For each row m of C: C += the sums of the 4 products of signed bytes of each of the
    ``colsb(A) / 4`` words (int32, wrapping: any order gives the same); columns past C's
    ``colsb`` and rows past its rows zeroed."""
    b = _function(module, "tdpbssd", [lu.I32, lu.I32, lu.I32])
    state, c, a, bt = b.function.args
    w = ROWS
    vi = lu.vec(lu.I32, w)
    acc = b.alloca(vi)
    rows, colsb = _shape(b, state, c)
    _, words = _shape(b, state, a)
    words = b.udiv(words, _i64(4))
    cols = b.trunc(b.udiv(colsb, _i64(4)), lu.I32)
    keep = b.icmp_unsigned("<", lu.lane_iota(w), lu.splat(b, cols, w))

    def byte(x: ll.Value, j: int) -> ll.Value:  # byte j of each lane, sign-extended
        return b.ashr(b.shl(x, lu.const(lu.I32, 24 - 8 * j, w)), lu.const(lu.I32, 24, w))

    with lu.for_range(b, _i64(0), _i64(ROWS), name="m") as m:
        c_row = _row(b, state, c, m)
        with b.if_else(b.icmp_unsigned("<", m, rows)) as (live, dead):
            with live:
                b.store(b.load(c_row, typ=vi, align=4), acc)
                with lu.for_range(b, _i64(0), words, name="k") as k:
                    at = b.gep(_row(b, state, a, m), [b.mul(k, _i64(4))], source_etype=lu.I8)
                    x = lu.splat(b, b.load(at, typ=lu.I32), w)
                    y = b.load(_row(b, state, bt, k), typ=vi, align=4)
                    total = b.load(acc, typ=vi)
                    for j in range(4):
                        total = b.add(total, b.mul(byte(x, j), byte(y, j)))
                    b.store(total, acc)
                new = b.select(keep, b.load(acc, typ=vi), ll.Constant(vi, None))
                b.store(new, c_row, align=4)
            with dead:
                _memset(module, b, c_row, _i64(ROW_BYTES))
    b.ret_void()
    return b.function


_EMULATIONS: dict[str, Callable[[ll.Module], ll.Function]] = {
    "ldtilecfg": _emu_ldtilecfg,
    "tileloadd": _emu_tileloadd,
    "tilestored": _emu_tilestored,
    "tilerelease": _emu_tilerelease,
    "tdpbf16ps": _emu_tdpbf16ps,
    "tdpbssd": _emu_tdpbssd,
}


def _isa(module: ll.Module, b: ll.IRBuilder, alloca_block: ll.Block, emulate: bool) -> _Isa:
    return _Emulated(module, b, alloca_block) if emulate else _Hardware(b)


def _config(module: ll.Module, t: Tiles) -> ll.Value:
    """The config bytes as a constant global of the module (one per blocking)."""
    name = f"tritium.amx.cfg.{t.tm}x{t.tn}x{t.kt}"
    g = module.globals.get(name)
    if g is None:
        ty = ll.ArrayType(lu.I8, 64)
        g = lu.opaque(ll.GlobalVariable(module, ty, name))
        g.initializer = ll.Constant(ty, bytearray(config_bytes(t)))
        g.global_constant = True
        g.linkage = "internal"
        g.align = 64
    return g


# -- the tile program of one block of C ---------------------------------------------------------


@dataclass
class _Block:
    """Where one step's A tile ``i`` and B tile ``j`` at word row ``q0`` are (functions giving
    addresses), and their row strides in bytes."""

    a_at: Callable[[int, ll.Value], ll.Value]
    a_stride: ll.Value
    b_at: Callable[[int, ll.Value], ll.Value]
    b_stride: ll.Value


def _c_tiles(
    isa: _Isa, t: Tiles, at: Callable[[int, int], ll.Value], stride: ll.Value, store: bool
) -> None:
    """C tile (i, j) loaded from (or stored to) ``at(i, j)``, rows ``stride`` bytes apart."""
    for i in range(t.tm):
        for j in range(t.tn):
            move = isa.store if store else isa.load
            move(t.c(i, j), at(i, j), stride)


def _dots(b: ll.IRBuilder, isa: _Isa, t: Tiles, blk: _Block, pairs: int) -> None:
    """C += A @ B over ``pairs`` rows of words of K, ``kt`` at a time."""
    with lu.for_range(b, _i32(0), _i32(pairs), t.kt, name="tq") as q0:
        for i in range(t.tm):
            isa.load(t.a(i), blk.a_at(i, q0), blk.a_stride)
        for j in range(t.tn):
            isa.load(t.b(j), blk.b_at(j, q0), blk.b_stride)
        for i in range(t.tm):
            for j in range(t.tn):
                isa.dot(t.op, t.c(i, j), t.a(i), t.b(j))


def microkernel(
    plan: Plan, t: Tiles, acc: Buffer, lists: tuple[ll.Value, ll.Value], steps: ll.Value
) -> None:
    """``acc += sum over j < steps of A_j @ B_j`` for the chunk's packed tiles (``lists``:
    their addresses; ``a`` dense row-major, ``b`` in ``dot_kloop_packed``'s order), by
    blocks of ``tm x tn`` C tiles."""
    from tritium.backends.cpu import dot_kloop as kloop
    from tritium.backends.cpu import dot_kloop_packed as packed_kind

    cx, b = plan.cx, plan.cx.b
    m, n, k = plan.m, plan.n, plan.k
    kq, size = k // t.group, 4 // t.group  # words along K, bytes of a value
    elem = lu.I8 if t.group == 4 else lu.BF16
    nb = plan.blocking()[1] * packed_kind.LANES
    isa = _isa(cx.module, b, cx.alloca_block, t.emulate)
    cx.root.amx_tiles |= not t.emulate
    cfg = _config(cx.module, t)
    isa.configure(cfg)
    epilogue = plan.epilogue
    stores = None if epilogue is None or plan.last is None else epilogue.when(b, plan.last)

    def block(row0: ll.Value, col0: ll.Value, rows: int) -> None:
        def c_at(i: int, j: int) -> ll.Value:
            at = b.add(b.mul(b.add(row0, _i32(ROWS * i)), _i32(n)), b.add(col0, _i32(ROWS * j)))
            return b.gep(acc.ptr, [at], source_etype=lu.I32)

        def tiles_of(s: ll.Value) -> _Block:
            pa, pb = (b.load(b.gep(x, [s], source_etype=lu.PTR), typ=lu.PTR) for x in lists)

            def a_at(i: int, q0: ll.Value) -> ll.Value:
                row = b.add(row0, _i32(ROWS * i))
                at = b.add(b.mul(row, _i32(k)), b.mul(q0, _i32(t.group)))
                return b.gep(pa, [at], source_etype=elem)

            def b_at(j: int, q0: ll.Value) -> ll.Value:
                col = b.add(col0, _i32(ROWS * j))
                panel = b.mul(b.udiv(col, _i32(nb)), _i32(kq * nb))
                at = b.add(b.add(panel, b.urem(col, _i32(nb))), b.mul(q0, _i32(nb)))
                return b.gep(pb, [at], source_etype=lu.I32)

            return _Block(a_at, _i64(size * k), b_at, _i64(4 * nb))

        _c_tiles(isa, t, c_at, _i64(4 * n), store=False)
        with lu.for_range(b, _i64(0), steps, name="ks") as s:
            _dots(b, isa, t, tiles_of(s), kq)
        _c_tiles(isa, t, c_at, _i64(4 * n), store=True)
        if epilogue is not None and stores is not None:  # the block's accumulators are final
            with b.if_then(stores):  # no tiles held over the store's code (calls, for all we
                isa.release()  # know: the psABI lets a call change the tile config)
                epilogue.store_block(cx, acc, (row0, col0), rows, ROWS * t.tn, packed_kind.LANES)
                isa.configure(cfg)

    kloop.register_blocks(b, m, n, ROWS * t.tm, ROWS * t.tn, block)
    isa.release()


def packer(plan: Plan, fetch: Callable[[Index], ll.Value]) -> Callable[[Buffer], None]:
    """``a``'s packer: the tile copied dense and row-major (``[m][k]`` values, int8 not
    biased), ``fetch(idx)`` giving a chunk of it (masked edges, transposed views, as
    ``dot_kloop``'s)."""
    from tritium.backends.cpu.tiles import Index

    b, m, k = plan.cx.b, plan.m, plan.k
    elem = lu.llvm_type(irt.i8 if plan.kind is not None and plan.kind.group == 4 else irt.bf16)
    w = min(k, 16) if k % 16 == 0 or 16 % k == 0 else 2

    def pack_a(dest: Buffer) -> None:
        with lu.for_range(b, _i32(0), _i32(m), name="xr") as row:
            with lu.for_range(b, _i32(0), _i32(k), w, name="xk") as kk:
                at = b.gep(dest.ptr, [b.add(b.mul(row, _i32(k)), kk)], source_etype=elem)
                b.store(fetch(Index((row, kk), w)), at, align=1)

    return pack_a
