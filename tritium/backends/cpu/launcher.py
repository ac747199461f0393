"""The grid launcher: a native entry point generated in LLVM IR, and its Python wrapper.

One ctypes call per launch enters
``<kernel>_launch(args, gx, gy, gz, nthreads, err_out, pool, stop)``,
which starts ``nthreads - 1`` pthreads (or ``nthreads`` when the kernel needs a big stack)
and runs a worker on each: workers take program ids in chunks from an atomic counter and
call the program function for each. ctypes releases the GIL for the call.

``args`` points at one 8-byte slot per kernel parameter: pointers and integers as 64-bit
integers, floats as doubles. ``err_out`` (may be null) receives the error record
``{assert id, pid x, pid y, pid z}``; the return value is the assert id, 0 when all went well.
``stop`` points at a word the workers read between chunks of programs: set (by the SIGINT handler of
:mod:`.interrupt`), they stop, and the launch returns ``INTERRUPTED`` (Python raises
``KeyboardInterrupt``). Program counts are 64-bit throughout (a grid may have 2^62 programs).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tritium import knobs
from tritium.backends.cpu import interrupt, pycall
from tritium.backends.cpu.hostinfo import LazyModule
from tritium.backends.cpu.threadpool import POOL_STACK_BYTES, pool_address
from tritium.errors import SanitizerError
from tritium.threads import THREADS

if TYPE_CHECKING:  # a cached kernel loads without the code generator
    import llvmlite.ir as ll

    from tritium.backends.cpu import llvm_utils as lu
    from tritium.backends.cpu.codegen import Lowering
else:
    # only emitting a launcher needs llvmlite's IR classes: loading a cached kernel does not
    # import them (issue 13, first launch in a new process)
    ll = LazyModule("llvmlite.ir")
    lu = LazyModule("tritium.backends.cpu.llvm_utils")

__all__ = ["emit_launcher", "CPUKernel", "MAX_THREADS", "SCRATCH_SLOTS"]

MAX_THREADS = 256
# Pointers each worker holds for the programs it runs (at most; ``cx.scratch_slots`` of them
# when the kernel uses any), null until code of the kernel puts a malloc'ed block there
# (dot_panels: packed tiles of ``b`` reused by the next programs); the worker frees them when
# it is done.
SCRATCH_SLOTS = 8
NO_THREADS = 0x7FFFFFFF  # error code: no thread with the kernel's stack could be started
INTERRUPTED = 0x7FFFFFFE  # error code: the stop word was set (Ctrl-C)
_MAX_CHUNK = 64  # programs per grab of the shared counter, between two reads of the stop word
_CALLER_STACK_LIMIT = 64 * 1024  # bigger frames run on threads we create with a known stack
_PTHREAD_ATTR_BYTES = 64


# ctx = { args, gx, gy, gz, chunk, total, next, err[4], stop, bulk, next_tail }
def _ctx_type() -> ll.LiteralStructType:
    return ll.LiteralStructType(
        [lu.PTR, lu.I32, lu.I32, lu.I32, lu.I64, lu.I64, lu.I64, ll.ArrayType(lu.I32, 4), lu.PTR]
        + [lu.I64, lu.I64]
    )


def _field(b: ll.IRBuilder, ctx: ll.Value, i: int) -> ll.Value:
    return b.gep(ctx, [ll.Constant(lu.I32, 0), ll.Constant(lu.I32, i)], source_etype=_ctx_type())


def _emit_worker(cx: Lowering) -> ll.Function:
    m = cx.module
    fn = ll.Function(m, ll.FunctionType(lu.PTR, [lu.PTR]), name="tritium.worker")
    fn.linkage = "internal"
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    ctx = fn.args[0]
    used = getattr(cx, "scratch_slots", 0)  # set by the code that takes slots (dot_panels)
    scratch_ty = ll.ArrayType(lu.PTR, max(used, 1))
    scratch: ll.Value = ll.Constant(lu.PTR, None)
    if used:
        scratch = lu.opaque(b.alloca(scratch_ty, name="scratch"))
        b.store(ll.Constant(scratch_ty, None), scratch)
    args = b.load(_field(b, ctx, 0), typ=lu.PTR)
    gx, gy, gz = (b.load(_field(b, ctx, i), typ=lu.I32) for i in (1, 2, 3))
    chunk = b.load(_field(b, ctx, 4), typ=lu.I64)
    stop = b.load(_field(b, ctx, 8), typ=lu.PTR)
    total = b.load(_field(b, ctx, 5), typ=lu.I64)
    nxt = _field(b, ctx, 6)
    err = _field(b, ctx, 7)
    head = fn.append_basic_block("grab")
    work = fn.append_basic_block("work")
    done = fn.append_basic_block("done")
    b.branch(head)
    b.position_at_end(head)
    # the stop word (Ctrl-C) is read between chunks, which are at most _MAX_CHUNK programs
    flag = b.load_atomic(stop, "monotonic", align=4, typ=lu.I32)
    stopped = fn.append_basic_block("stopped")
    go_on = fn.append_basic_block("go_on")
    b.cbranch(b.icmp_unsigned("!=", flag, ll.Constant(lu.I32, 0)), stopped, go_on)
    b.position_at_end(stopped)
    zero, code = ll.Constant(lu.I32, 0), ll.Constant(lu.I32, INTERRUPTED)
    b.cmpxchg(err, zero, code, "monotonic", "monotonic")  # unless an assert came first
    b.branch(done)
    b.position_at_end(go_on)
    failed = b.icmp_unsigned(
        "!=", b.load_atomic(err, "monotonic", align=4, typ=lu.I32), ll.Constant(lu.I32, 0)
    )
    # programs [0, bulk) go in chunks; the last ones, [bulk, total), one at a time, so that
    # the threads finish together (see emit_launcher)
    bulk = b.load(_field(b, ctx, 9), typ=lu.I64)
    start_b = b.atomic_rmw("add", nxt, chunk, "monotonic")
    from_bulk, from_tail = fn.append_basic_block("bulk"), fn.append_basic_block("tail")
    grabbed = fn.append_basic_block("grabbed")
    b.cbranch(b.icmp_signed("<", start_b, bulk), from_bulk, from_tail)
    b.position_at_end(from_bulk)
    end_b = b.add(start_b, chunk)
    end_b = b.select(b.icmp_signed("<", end_b, bulk), end_b, bulk)
    b.branch(grabbed)
    b.position_at_end(from_tail)
    one = ll.Constant(lu.I64, 1)
    start_t = b.add(bulk, b.atomic_rmw("add", _field(b, ctx, 10), one, "monotonic"))
    end_t = b.add(start_t, one)
    b.branch(grabbed)
    b.position_at_end(grabbed)
    start, end = b.phi(lu.I64), b.phi(lu.I64)
    start.add_incoming(start_b, from_bulk)
    start.add_incoming(start_t, from_tail)
    end.add_incoming(end_b, from_bulk)
    end.add_incoming(end_t, from_tail)
    over = b.or_(failed, b.icmp_signed(">=", start, total))
    b.cbranch(over, done, work)
    b.position_at_end(work)
    gx64, gy64 = b.zext(gx, lu.I64), b.zext(gy, lu.I64)
    with lu.for_range(b, start, end, name="p") as p:
        if cx.grid_fast_axis == 1:  # p = y + gy * (x + gx * z): see grid_order
            y = b.trunc(b.urem(p, gy64), lu.I32)
            xz = b.udiv(p, gy64)
            x = b.trunc(b.urem(xz, gx64), lu.I32)
            z = b.trunc(b.udiv(xz, gx64), lu.I32)
        else:
            x = b.trunc(b.urem(p, gx64), lu.I32)
            yz = b.udiv(p, gx64)
            y = b.trunc(b.urem(yz, gy64), lu.I32)
            z = b.trunc(b.udiv(yz, gy64), lu.I32)
        b.call(cx.fn, [args, x, y, z, gx, gy, gz, err, scratch])
    b.branch(head)
    b.position_at_end(done)
    if cx.fence_worker:  # the programs' non-temporal stores (see streaming.fence_at_worker_end)
        b.call(lu.intrinsic(m, "llvm.x86.sse.sfence", ll.VoidType(), []), [])
    if used:
        free = lu.intrinsic(m, "free", ll.VoidType(), [lu.PTR])
        for i in range(used):  # free(NULL) is a no-op
            zero, at = ll.Constant(lu.I32, 0), ll.Constant(lu.I32, i)
            slot = b.gep(scratch, [zero, at], source_etype=scratch_ty)
            b.call(free, [b.load(slot, typ=lu.PTR)])
    b.ret(ll.Constant(lu.PTR, None))
    return fn


def emit_launcher(cx: Lowering, entry: str) -> None:
    """Add the worker and the exported ``entry`` function to ``cx.module``."""
    m = cx.module
    worker = _emit_worker(cx)
    decl = lambda name, ret, args: lu.intrinsic(m, name, ret, args)  # noqa: E731
    p_create = decl("pthread_create", lu.I32, [lu.PTR, lu.PTR, lu.PTR, lu.PTR])
    p_join = decl("pthread_join", lu.I32, [lu.I64, lu.PTR])
    a_init = decl("pthread_attr_init", lu.I32, [lu.PTR])
    a_stack = decl("pthread_attr_setstacksize", lu.I32, [lu.PTR, lu.I64])
    a_destroy = decl("pthread_attr_destroy", lu.I32, [lu.PTR])
    fflush = decl("fflush", lu.I32, [lu.PTR])

    fnty = ll.FunctionType(lu.I32, [lu.PTR, lu.I32, lu.I32, lu.I32, lu.I32, lu.PTR, lu.PTR, lu.PTR])
    fn = ll.Function(m, fnty, name=entry)
    args, gx, gy, gz, nthreads, err_out, pool, stop = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    ctx = b.alloca(_ctx_type(), name="ctx")
    tids = b.alloca(ll.ArrayType(lu.I64, MAX_THREADS), name="tids")
    tids_type = tids.allocated_type
    attr = b.alloca(ll.ArrayType(lu.I8, _PTHREAD_ATTR_BYTES), name="attr")
    attr.align = 16
    ctx, tids, attr = lu.opaque(ctx), lu.opaque(tids), lu.opaque(attr)
    total = b.mul(b.mul(b.zext(gx, lu.I64), b.zext(gy, lu.I64)), b.zext(gz, lu.I64))
    n = b.sext(nthreads, lu.I64)
    n = b.select(b.icmp_signed("<", total, n), total, n)
    n = b.select(b.icmp_signed("<", n, ll.Constant(lu.I64, 1)), ll.Constant(lu.I64, 1), n)
    cap = ll.Constant(lu.I64, MAX_THREADS)
    n = b.select(b.icmp_signed(">", n, cap), cap, n)
    # about 8 chunks per thread balances uneven programs without contending on the counter
    chunk = b.udiv(total, b.mul(n, ll.Constant(lu.I64, 8)))
    chunk = b.select(
        b.icmp_unsigned("<", chunk, ll.Constant(lu.I64, 1)), ll.Constant(lu.I64, 1), chunk
    )
    cap = ll.Constant(lu.I64, _MAX_CHUNK)  # bounds how long a Ctrl-C waits
    chunk = b.select(b.icmp_unsigned(">", chunk, cap), cap, chunk)
    for i, v in enumerate([args, gx, gy, gz, chunk, total, ll.Constant(lu.I64, 0)]):
        b.store(v, _field(b, ctx, i))
    # the last chunk per thread is handed out one program at a time: with 8 chunks per thread a
    # thread otherwise waits for another's last chunk, on average half a chunk (3% of the run,
    # much more when a program is long: tutorial 03 at 1024^3 has 256 programs in chunks of 16)
    tail = b.select(b.icmp_signed(">", n, ll.Constant(lu.I64, 1)), b.mul(n, chunk), n)
    tail = b.select(b.icmp_signed("<", tail, total), tail, total)
    b.store(b.sub(total, tail), _field(b, ctx, 9))
    b.store(ll.Constant(lu.I64, 0), _field(b, ctx, 10))
    b.store(ll.Constant(ll.ArrayType(lu.I32, 4), None), _field(b, ctx, 7))
    b.store(stop, _field(b, ctx, 8))

    big_stack = cx.stack_bytes > _CALLER_STACK_LIMIT
    stack = max(8 << 20, 4 * cx.stack_bytes + (1 << 20))
    first = 0 if big_stack else 1  # the caller runs one worker itself when frames are small
    finish = fn.append_basic_block("finish")
    spawn = fn.append_basic_block("spawn")
    if not big_stack:
        # one thread: run the programs right here
        single = fn.append_basic_block("single")
        b.cbranch(b.icmp_signed("==", n, ll.Constant(lu.I64, 1)), single, spawn)
        b.position_at_end(single)
        b.call(worker, [ctx])
        b.branch(finish)
        b.position_at_end(spawn)
    else:
        b.branch(spawn)
        b.position_at_end(spawn)
    if stack <= POOL_STACK_BYTES:
        # the process-wide pool, unless it is busy with another launch
        pooled = fn.append_basic_block("pooled")
        own = fn.append_basic_block("own_threads")
        has_pool = b.icmp_unsigned("!=", b.ptrtoint(pool, lu.I64), ll.Constant(lu.I64, 0))
        b.cbranch(has_pool, pooled, own)
        b.position_at_end(pooled)
        run = _PoolFn(pool)
        caller_runs = ll.Constant(lu.I32, 0 if big_stack else 1)
        rc = b.call(run, [worker, ctx, b.trunc(n, lu.I32), caller_runs])
        b.cbranch(b.icmp_signed("==", rc, ll.Constant(lu.I32, 0)), finish, own)
        b.position_at_end(own)
    b.call(a_init, [attr])
    b.call(a_stack, [attr, ll.Constant(lu.I64, stack)])
    created = lu.entry_alloca(b, fn.entry_basic_block, lu.I64, align=8, name="created")
    b.store(ll.Constant(lu.I64, first), created)
    with lu.for_range(b, ll.Constant(lu.I64, first), n, name="spawn") as i:
        slot = b.gep(tids, [ll.Constant(lu.I32, 0), i], source_etype=tids_type)
        rc = b.call(p_create, [slot, attr, worker, ctx])
        ok = b.icmp_signed("==", rc, ll.Constant(lu.I32, 0))
        with b.if_then(ok):
            b.store(b.add(i, ll.Constant(lu.I64, 1)), created)
    if not big_stack:
        b.call(worker, [ctx])
    else:
        # no thread with a big enough stack: report it (the caller's stack may be too small)
        none = b.icmp_signed("==", b.load(created, typ=lu.I64), ll.Constant(lu.I64, 0))
        with b.if_then(none):
            b.store(ll.Constant(lu.I32, NO_THREADS), _field(b, ctx, 7))
    with lu.for_range(b, ll.Constant(lu.I64, first), b.load(created, typ=lu.I64), name="join") as i:
        slot = b.gep(tids, [ll.Constant(lu.I32, 0), i], source_etype=tids_type)
        b.call(p_join, [b.load(slot, typ=lu.I64), ll.Constant(lu.PTR, None)])
    b.call(a_destroy, [attr])
    b.branch(finish)
    b.position_at_end(finish)
    if cx.prints:
        b.call(fflush, [ll.Constant(lu.PTR, None)])
    err = _field(b, ctx, 7)
    with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(err_out, lu.I64), ll.Constant(lu.I64, 0))):
        b.store(b.load(err, typ=ll.ArrayType(lu.I32, 4)), err_out)
    b.ret(b.load(err, typ=lu.I32))


class _PoolFn:
    """The pool's run function, called through the pointer the launcher is given."""

    def __init__(self, value: ll.Value) -> None:
        self.value = value
        self.function_type = ll.FunctionType(lu.I32, [lu.PTR, lu.PTR, lu.I32, lu.I32])
        self.type = lu.PTR

    def get_reference(self) -> str:
        return self.value.get_reference()


def _slot_ctype(type_str: str) -> Any:
    if type_str.startswith("!tt.ptr"):
        return ctypes.c_uint64
    if type_str.startswith("f") and not type_str.startswith("f8"):
        return ctypes.c_double
    return ctypes.c_int64


class CPUKernel:
    """A loaded CPU kernel: ``launch(grid, args)`` runs it over the grid.

    ``num_threads`` (default ``TRITIUM_NUM_THREADS`` or the usable cores, read at load time)
    may be changed on the object; ``tritium.set_num_threads`` overrides it for all kernels.
    """

    def __init__(
        self, name: str, address: int, param_types: Sequence[str], asserts: Sequence[str]
    ) -> None:
        self.name = name
        self.param_types = list(param_types)
        self.asserts = list(asserts)
        proto = ctypes.CFUNCTYPE(
            ctypes.c_int32,
            ctypes.c_void_p,
            ctypes.c_int32,
            ctypes.c_int32,
            ctypes.c_int32,
            ctypes.c_int32,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
        )
        self._fn = proto(address)
        self._address = address
        interrupt.install()
        self._stop = interrupt.stop_address()
        fields = [(f"a{i}", _slot_ctype(t)) for i, t in enumerate(self.param_types)]
        fields.append(("_pad", ctypes.c_int64))  # never an empty struct
        self._args_type = type(f"{name}_args", (ctypes.Structure,), {"_fields_": fields})
        self._nparams = len(self.param_types)
        self._pool = pool_address()
        #: how each argument word is passed: pycall.INT (pointers, integers) or pycall.FLOAT
        self.slot_kinds = [
            pycall.FLOAT if _slot_ctype(t) is ctypes.c_double else pycall.INT
            for t in self.param_types
        ]
        # the native launch entry (pycall.py) where it can be used, else ctypes
        self._call = pycall.pycall()
        plain = self.guard_handle([(k, 0, 0) for k in self.slot_kinds], 0)
        self._plain, self._plain_address = (plain[1], plain[0]) if plain else (None, 0)
        # read once: the environment lookup would cost a microsecond per launch
        try:
            self.num_threads = knobs.num_threads()
        except ValueError:
            raise ValueError(
                "TRITIUM_NUM_THREADS must be a positive integer, got "
                f"{os.environ.get('TRITIUM_NUM_THREADS')!r}"
            ) from None

    def guard_handle(
        self, records: Sequence[tuple[int, int, int]], ndarray_type: int
    ) -> tuple[int, Any] | None:
        """(address, object) of a :class:`pycall.Handle` that launches this kernel with one
        ``(kind, flags, datum)`` record per value passed; None without the native entry."""
        if self._call is None or len(records) > pycall.MAX_SLOTS:
            return None
        h = pycall.Handle()
        h.entry, h.pool, h.stop = self._address, self._pool, self._stop
        h.nargs, h.ndarray_type = len(records), ndarray_type
        for rec, (kind, flags, datum) in zip(h.args, records):
            rec.kind, rec.flags, rec.data = kind, flags, datum
        return ctypes.addressof(h), h

    def launch(self, grid: Sequence[int], args: Sequence[int | float]) -> None:
        """Run the kernel on every program id of ``grid`` (1 to 3 integers)."""
        if self._plain_address and type(grid) is tuple:
            try:
                rc = self._call(self._plain_address, grid, THREADS[0] or self.num_threads, *args)
            except TypeError:
                rc = 1  # a value of the wrong type: the ctypes path below says which
            if not rc:
                return
            if rc != 1:
                self._raise(list(rc))
        if len(args) != self._nparams:
            raise TypeError(f"kernel {self.name} takes {self._nparams} arguments, got {len(args)}")
        gx, gy, gz = (tuple(grid) + (1, 1, 1))[:3]
        if min(gx, gy, gz) <= 0:
            if min(gx, gy, gz) < 0:
                raise ValueError(f"grid must not be negative, got {tuple(grid)}")
            return
        if max(gx, gy, gz) >= 1 << 31:  # program ids are int32 in the kernel
            raise ValueError(f"grid dimension too large: {tuple(grid)} (at most 2**31 - 1)")
        interrupt.STOP.value = 0
        try:
            packed = self._args_type(*args)
        except TypeError as e:
            raise TypeError(
                f"bad argument for kernel {self.name} with parameter types {self.param_types}: {e}"
            ) from None
        nthreads = THREADS[0] or self.num_threads  # tritium.set_num_threads wins, per launch
        if self.asserts:
            err = (ctypes.c_int32 * 4)()
            if self._fn(
                ctypes.addressof(packed),
                gx,
                gy,
                gz,
                nthreads,
                ctypes.addressof(err),
                self._pool,
                self._stop,
            ):
                self._raise(list(err))
        else:
            code = self._fn(
                ctypes.addressof(packed), gx, gy, gz, nthreads, None, self._pool, self._stop
            )
            if code:
                self._raise([code, 0, 0, 0])

    def _raise(self, err: list[int]) -> None:
        code, x, y, z = err
        if code == INTERRUPTED:
            raise KeyboardInterrupt(f"kernel {self.name} interrupted")
        if code == NO_THREADS:
            raise RuntimeError(
                f"could not start a thread with a stack big enough for kernel {self.name}"
            )
        msg = self.asserts[code - 1] if 0 < code <= len(self.asserts) else "assertion failed"
        _, oob, detail = msg.partition(": out-of-bounds: ")
        if oob:  # a bounds check added by sanitize=True (tritium/passes/bounds_check.py)
            raise SanitizerError(
                "out-of-bounds",
                f"{detail} in program ({x}, {y}, {z}) of {self.name} (compiled check; "
                "TRITIUM_INTERPRET=1 names the lane and offset)",
            )
        raise AssertionError(
            f"device-side assertion failed in program ({x}, {y}, {z}) of {self.name}: {msg}"
        )
