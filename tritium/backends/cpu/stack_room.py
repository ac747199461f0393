"""How much of the calling thread's stack a launch may use (issue 13: big-frame kernels).

A kernel whose frames are over the launcher's ``_CALLER_STACK_LIMIT`` (flash attention: 250-517
KB) used to hand every program to threads with a stack of known size while the caller waited:
two futex hand-offs per launch (a one-program launch took 130-176 us instead of 18). Now the
launcher asks :func:`emit_room` for the bytes left below the caller's stack pointer and runs
the programs on the caller when they hold twice the frame (``launcher._emit_grid_launch``).

The room is the distance from a stack address of the launcher's frame down to the lowest
usable address of the thread's stack, less :data:`RESERVE` (signal handlers, library calls of
the programs, and the 1 MiB guard gap Linux keeps between the main thread's stack and the
next mapping, which glibc's bounds ignore). The bounds come from ``pthread_getattr_np``: exact
for threads that pthreads made (Python's ``threading`` threads, whatever ``stack_size``: the
guard page is excluded), and for the main thread the ``RLIMIT_STACK`` the kernel grows the
stack to, measured from the top of its mapping (glibc reads ``/proc/self/maps``). They are
read once per thread and kept in a pthread key (a malloc'd record ``{lo, hi, rlimit}``, freed
when the thread exits); read again when ``RLIMIT_STACK`` changed since. The room is 0 (the
programs go to other threads, as before) when anything is unknown: not Linux, the key or the
record could not be made, ``pthread_getattr_np`` failed (no ``/proc``), or the stack address
is outside the bounds (code running on a stack of its own, such as a coroutine's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tritium.backends.cpu.hostinfo import LazyModule

if TYPE_CHECKING:
    import llvmlite.ir as ll

    from tritium.backends.cpu import llvm_utils as lu
else:
    ll = LazyModule("llvmlite.ir")
    lu = LazyModule("tritium.backends.cpu.llvm_utils")

__all__ = ["RESERVE", "ROOM_EXPORT", "emit_room"]

#: bytes of the stack never counted as room (see the module docstring)
RESERVE = 1 << 20
#: ``int64_t tritium_stack_room(void)``: the room of the calling thread (tests)
ROOM_EXPORT = "tritium_stack_room"
_ROOM = "tritium.stack_room"
_KEY, _STATE = "tritium.stack.key", "tritium.stack.state"
_RLIMIT_STACK = 3  # Linux, all architectures
_ATTR_BYTES = 64  # pthread_attr_t: 56 bytes on glibc and musl x86_64, 64 on aarch64


def _i64(v: int) -> ll.Constant:
    return ll.Constant(lu.I64, v)


def _i32(v: int) -> ll.Constant:
    return ll.Constant(lu.I32, v)


def emit_room(b: ll.IRBuilder, m: ll.Module, sp: ll.Value) -> ll.Value:
    """The room (i64 bytes, 0 when unknown) below ``sp`` (an i64 address in the current
    frame) on the calling thread's stack."""
    return b.call(_room_function(m), [sp])


def _room_function(m: ll.Module) -> ll.Function:
    """``tritium.stack_room(sp) -> i64``, and the exported :data:`ROOM_EXPORT`."""
    fn = m.globals.get(_ROOM)
    if fn is not None:
        return fn
    fn = ll.Function(m, ll.FunctionType(lu.I64, [lu.I64]), name=_ROOM)
    fn.linkage = "internal"
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    if "linux" not in m.triple:
        b.ret(_i64(0))  # pthread_getattr_np is a GNU extension: other systems keep the hand-off
    else:
        _emit_body(b, m, fn.args[0])
    export = ll.Function(m, ll.FunctionType(lu.I64, []), name=ROOM_EXPORT)
    eb = ll.IRBuilder(export.append_basic_block("entry"))
    here = lu.opaque(eb.alloca(lu.I64, name="here"))
    eb.store(_i64(0), here)  # a slot of this frame: its address stands for the stack pointer
    eb.ret(eb.call(fn, [eb.ptrtoint(here, lu.I64)]))
    return fn


def _globals(m: ll.Module) -> tuple[ll.Value, ll.Value]:
    out = []
    for name, ty in ((_KEY, lu.I64), (_STATE, lu.I32)):
        g = ll.GlobalVariable(m, ty, name=name)
        g.initializer = ll.Constant(ty, 0)
        g.linkage = "internal"
        g.align = 8
        out.append(lu.opaque(g))
    return out[0], out[1]


def _emit_body(b: ll.IRBuilder, m: ll.Module, sp: ll.Value) -> None:
    fn = b.function
    decl = lambda name, ret, args: lu.intrinsic(m, name, ret, args)  # noqa: E731
    free = decl("free", lu.VOID, [lu.PTR])
    key, state = _globals(m)
    attr = lu.opaque(b.alloca(ll.ArrayType(lu.I8, _ATTR_BYTES), name="attr"))
    attr.align = 16
    limit = lu.opaque(b.alloca(ll.ArrayType(lu.I64, 2), name="rlimit"))  # {cur, max}
    addr = lu.opaque(b.alloca(lu.PTR, name="addr"))
    size = lu.opaque(b.alloca(lu.I64, name="size"))
    unknown = fn.append_basic_block("unknown")
    # a thread racing the key's creation keeps the hand-off for this launch
    keyed = fn.append_basic_block("keyed")
    b.cbranch(lu.thread_key_ready(b, m, key, state, free), keyed, unknown)
    b.position_at_end(keyed)
    getrlimit = decl("getrlimit", lu.I32, [lu.I32, lu.PTR])
    have_limit = fn.append_basic_block("have_limit")
    rc = b.call(getrlimit, [_i32(_RLIMIT_STACK), limit])
    b.cbranch(b.icmp_signed("==", rc, _i32(0)), have_limit, unknown)
    b.position_at_end(have_limit)
    cur = b.load(limit, typ=lu.I64)
    k = b.load(key, typ=lu.I64)
    record = b.call(decl("pthread_getspecific", lu.PTR, [lu.I64]), [k])
    word = lambda rec, i: b.gep(rec, [_i64(i)], source_etype=lu.I64)  # noqa: E731
    has_record = fn.append_basic_block("has_record")
    new_record = fn.append_basic_block("new_record")
    b.cbranch(b.icmp_unsigned("!=", b.ptrtoint(record, lu.I64), _i64(0)), has_record, new_record)
    b.position_at_end(new_record)
    fresh = b.call(decl("malloc", lu.PTR, [lu.I64]), [_i64(24)])
    stored = fn.append_basic_block("stored")
    b.cbranch(b.icmp_unsigned("!=", b.ptrtoint(fresh, lu.I64), _i64(0)), stored, unknown)
    b.position_at_end(stored)
    b.store(b.xor(cur, _i64(1)), word(fresh, 2))  # not the current limit: read the bounds
    put = decl("pthread_setspecific", lu.I32, [lu.I64, lu.PTR])
    kept = fn.append_basic_block("kept")
    lost = fn.append_basic_block("lost")
    b.cbranch(b.icmp_signed("==", b.call(put, [k, fresh]), _i32(0)), kept, lost)
    b.position_at_end(lost)
    b.call(free, [fresh])
    b.branch(unknown)
    b.position_at_end(kept)
    b.branch(has_record)
    b.position_at_end(has_record)
    rec = b.phi(lu.PTR)
    rec.add_incoming(record, have_limit)
    rec.add_incoming(fresh, kept)
    # the bounds, read again when RLIMIT_STACK changed (the main thread's depends on it)
    with b.if_then(b.icmp_unsigned("!=", b.load(word(rec, 2), typ=lu.I64), cur), likely=False):
        self_ = b.call(decl("pthread_self", lu.I64, []), [])
        get_attr = decl("pthread_getattr_np", lu.I32, [lu.I64, lu.PTR])
        b.store(_i64(0), word(rec, 0))
        b.store(_i64(0), word(rec, 1))
        b.store(cur, word(rec, 2))
        with b.if_then(b.icmp_signed("==", b.call(get_attr, [self_, attr]), _i32(0))):
            get_stack = decl("pthread_attr_getstack", lu.I32, [lu.PTR, lu.PTR, lu.PTR])
            got = b.icmp_signed("==", b.call(get_stack, [attr, addr, size]), _i32(0))
            b.call(decl("pthread_attr_destroy", lu.I32, [lu.PTR]), [attr])
            with b.if_then(got):
                lo = b.ptrtoint(b.load(addr, typ=lu.PTR), lu.I64)
                b.store(lo, word(rec, 0))
                b.store(b.add(lo, b.load(size, typ=lu.I64)), word(rec, 1))
    lo, hi = b.load(word(rec, 0), typ=lu.I64), b.load(word(rec, 1), typ=lu.I64)
    floor = b.add(lo, _i64(RESERVE))
    inside = b.and_(
        b.icmp_unsigned("!=", lo, _i64(0)),
        b.and_(b.icmp_unsigned(">", sp, floor), b.icmp_unsigned("<=", sp, hi)),
    )
    b.ret(b.select(inside, b.sub(sp, floor), _i64(0)))
    b.position_at_end(unknown)
    b.ret(_i64(0))
