"""A process-wide pool of native worker threads, written in LLVM IR.

Creating and joining pthreads on every launch costs tens of microseconds; instead, one small
runtime module (compiled once per process, loaded into the same JIT as the kernels) keeps
``nthreads - 1`` workers asleep on a futex. A launch publishes ``(fn, ctx)``, bumps a
generation counter and wakes them; the caller runs ``fn(ctx)`` too. Workers *join* the job
only while it is open, and the caller closes it when its own share is done, then waits just
for the workers that joined: a launch never waits for a worker the OS has not scheduled yet.
Both sides spin briefly before sleeping, so back-to-back launches skip the futex round trip.

``tritium_pool_run(fn, ctx, nthreads, caller_runs) -> i32`` returns 0 when it ran the job, and
1 when the pool is busy with another launch (a concurrent launch from another Python thread); the
caller then falls back to threads of its own. After ``fork`` the child has no workers; the
pool notices (the pid changed) and starts new ones.

Two builds of the same pool, chosen by the target OS (``TRITIUM_THREAD_POOL`` forces one):
``futex`` (Linux: raw ``futex`` system calls, the fastest wake-up) and ``portable`` (any POSIX
system, macOS included: the sleeps and wake-ups go through a pthread mutex and two condition
variables, declared from libc like ``pthread_create``). The lock-free protocol above is the
same in both; only the blocking wait differs.

A caller that runs no programs (``caller_runs`` 0: kernels whose frames need more stack than
the caller's thread may have) keeps the job open until every worker has joined or one has
finished, sleeping on the ``joined`` word meanwhile, and then sleeps until they are done; it
used to spin there first, taking a core from the workers it waited for. A ``caller_runs`` of 2
runs a share like 1, but never on an OpenMP runtime's threads (frames that need the pool's
stacks or the caller's, whose room the launcher checked: :mod:`.stack_room`). ``SPREAD`` added
to it sends a worker that the OS woke on the caller's CPU to the others (:mod:`.pool_affinity`).

When an OpenMP runtime is loaded in the process (torch's libgomp), :func:`share_openmp`
attaches its ``GOMP_parallel`` and launches run as parallel regions on the runtime's threads
instead (:meth:`_PoolModule.openmp_launch`), so torch and tritium share one set of threads
rather than spinning against each other; a region that waited long for a descheduled thread
sends launches back to the pool's own threads for a while.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from tritium.backends.cpu import pool_affinity
from tritium.backends.cpu.hostinfo import LazyModule, source_digest
from tritium.backends.cpu.target import cached_object, host_target, load_object

if TYPE_CHECKING:
    import llvmlite.ir as ll

    from tritium.backends.cpu import llvm_utils as lu
else:
    # only building the pool's IR needs these: a process whose pool object is in the disk
    # cache does not import them (issue 13, first launch in a new process)
    ll = LazyModule("llvmlite.ir")
    lu = LazyModule("tritium.backends.cpu.llvm_utils")

__all__ = [
    "pool_address",
    "pool_kind",
    "pool_symbol",
    "share_openmp",
    "openmp_runtime",
    "POOL_STACK_BYTES",
    "POOL_RUN",
    "SPREAD",
]

POOL_RUN = "tritium_pool_run_v2"
POOL_RUN_PORTABLE = "tritium_pool_run_portable_v1"
#: bytes reserved for a pthread_mutex_t / pthread_cond_t: at least the largest of glibc
#: (40 / 48), musl, macOS (64 / 48) and the BSDs (a pointer)
_SYNC_BYTES = 128
POOL_STACK_BYTES = 64 << 20  # reserved, not committed: pages are touched only when used
_MAX_WORKERS = 255
_SPIN = 2000
#: added to ``caller_runs``: a worker woken on the caller's CPU leaves it (pool_affinity.py)
SPREAD = 4
_OPEN = 1 << 30  # bit of `slots` set while a job accepts workers; low bits count them
_FINISHED = 1 << 16  # added to `joined` by each worker that finished (callers that run no programs)
_FUTEX_WAIT, _FUTEX_WAKE = 128, 129  # the *_PRIVATE variants
_STRAGGLE_NS = 200_000  # a wait for workers shorter than this is never a back-off reason
_BACKOFF_MIN_NS, _BACKOFF_MAX_NS = 20_000_000, 640_000_000
_SYS_FUTEX_X86_64 = 202
_SYS_FUTEX_AARCH64 = 98
_WORKER_NAME = "tritium-pool"  # the workers' name in a traced process (launch_trace.py)


def _job_type() -> ll.FunctionType:
    return ll.FunctionType(lu.PTR, [lu.PTR])


def _omp_parallel_type() -> ll.FunctionType:
    """``GOMP_parallel(fn, data, num_threads, flags)``: libgomp's, and LLVM's/Intel's libomp
    export it too for code GCC compiled."""
    return ll.FunctionType(lu.VOID, [lu.PTR, lu.PTR, lu.I32, lu.I32])


class _FnPtr:
    """A function pointer value that llvmlite can call (it wants a ``function_type``)."""

    def __init__(self, value: ll.Value, function_type: ll.FunctionType | None = None) -> None:
        self.value = value
        self.function_type = function_type if function_type is not None else _job_type()
        self.type = lu.PTR

    def get_reference(self) -> str:
        return self.value.get_reference()


_lock = threading.Lock()
_addresses: dict[str, int] = {}
#: the exported ``..._share_openmp`` function of each loaded pool
_share_addresses: dict[str, int] = {}
_default_kind: str | None = None
#: file names of the OpenMP runtimes whose threads launches may share
_OPENMP_NAMES = ("libgomp.", "libgomp-", "libiomp5", "libomp.", "libomp-")
#: [len(sys.modules) at the last look for an OpenMP runtime, GOMP_parallel attached or 0]
_openmp_state = [-1, 0]
#: set in a child after fork: the parent's OpenMP threads are gone (libgomp would hang)
_forked = [False]


def _i32(v: int) -> ll.Constant:
    return ll.Constant(lu.I32, v)


def _i64(v: int) -> ll.Constant:
    return ll.Constant(lu.I64, v)


class _PoolModule:
    def __init__(
        self,
        triple: str,
        portable: bool | None = None,
        adaptive: bool = False,
        openmp: bool = False,
        named: bool = False,
    ) -> None:
        self.m = ll.Module(name="tritium_pool")
        self.triple = triple
        #: the workers call themselves "tritium-pool" (for a launch trace: launch_trace.py)
        self.named = named
        #: launches may run on an OpenMP runtime's threads (see :meth:`openmp_launch`)
        self.openmp = openmp
        #: go solo for a while after launches that waited long for a descheduled worker
        self.adaptive = adaptive
        self.x86 = triple.startswith("x86_64")
        #: condition variables instead of futexes (any POSIX OS); the default by the OS
        self.portable = "linux" not in triple if portable is None else portable
        self.sys_futex = _SYS_FUTEX_X86_64 if self.x86 else _SYS_FUTEX_AARCH64
        g = {}
        for name, ty in (
            ("gen", lu.I32),
            ("slots", lu.I32),
            ("joined", lu.I32),
            ("active", lu.I32),
            ("started", lu.I32),
            ("busy", lu.I32),
            ("owner", lu.I32),
            ("lone", lu.I32),
            ("omp_pid", lu.I32),
            ("caller_cpu", lu.I32),
            ("job_fn", lu.PTR),
            ("job_ctx", lu.PTR),
            ("omp", lu.I64),  # an address: llvmlite has no atomic store of a ptr
        ):
            var = ll.GlobalVariable(self.m, ty, name=f"tritium.pool.{name}")
            var.linkage = "internal"
            var.initializer = ll.Constant(ty, None)
            var.align = 64  # one cache line each: no false sharing between the futex words
            g[name] = lu.opaque(var)
        self.g = g
        decl = lambda n, r, a, va=False: ll.Function(  # noqa: E731
            self.m, ll.FunctionType(r, a, var_arg=va), name=n
        )
        if not self.portable:
            self.syscall = decl("syscall", lu.I64, [lu.I64], True)
        self.getpid = decl("getpid", lu.I32, [])
        self.p_create = decl("pthread_create", lu.I32, [lu.PTR, lu.PTR, lu.PTR, lu.PTR])
        self.p_detach = decl("pthread_detach", lu.I32, [lu.I64])
        self.a_init = decl("pthread_attr_init", lu.I32, [lu.PTR])
        self.a_stack = decl("pthread_attr_setstacksize", lu.I32, [lu.PTR, lu.I64])
        self.a_destroy = decl("pthread_attr_destroy", lu.I32, [lu.PTR])
        self.pause = decl("llvm.x86.sse2.pause", lu.VOID, []) if self.x86 else None
        if self.portable:
            self._declare_portable(decl)
        if self.adaptive or self.openmp:
            self.clock_gettime = decl("clock_gettime", lu.I32, [lu.I32, lu.PTR])
        if self.adaptive:
            self._declare_words("solo_until", "solo_backoff")
        if self.openmp:
            self._declare_words("omp_until", "omp_backoff")

    def _declare_portable(self, decl: Any) -> None:
        """The mutex, the two condition variables (one per futex word) and their libc calls."""
        sync = ll.ArrayType(lu.I8, _SYNC_BYTES)
        for name in ("mutex", "cond.gen", "cond.slots", "cond.joined"):
            var = ll.GlobalVariable(self.m, sync, name=f"tritium.pool.{name}")
            var.linkage = "internal"
            var.initializer = ll.Constant(sync, None)  # pthread_*_init runs before first use
            var.align = 64
            self.g[name] = lu.opaque(var)
        self.m_init = decl("pthread_mutex_init", lu.I32, [lu.PTR, lu.PTR])
        self.m_lock = decl("pthread_mutex_lock", lu.I32, [lu.PTR])
        self.m_unlock = decl("pthread_mutex_unlock", lu.I32, [lu.PTR])
        self.c_init = decl("pthread_cond_init", lu.I32, [lu.PTR, lu.PTR])
        self.c_wait = decl("pthread_cond_wait", lu.I32, [lu.PTR, lu.PTR])
        self.c_broadcast = decl("pthread_cond_broadcast", lu.I32, [lu.PTR])

    def _declare_words(self, *names: str) -> None:
        """64-bit words of a back-off (see :meth:`back_off`), one cache line each."""
        for name in names:
            var = ll.GlobalVariable(self.m, lu.I64, name=f"tritium.pool.{name}")
            var.linkage = "internal"
            var.initializer = ll.Constant(lu.I64, 0)
            var.align = 64
            self.g[name] = lu.opaque(var)

    def back_off(
        self,
        b: ll.IRBuilder,
        own: ll.Value,
        straggle: ll.Value,
        now: ll.Value,
        words: str,
        stalled: ll.Value | None = None,
    ) -> None:
        """The back-off rule: after a launch whose waits (``straggle``: from the first thread
        out of programs to the last one done, and for an OpenMP team to start) took longer
        than the first thread's share (``own``) and over _STRAGGLE_NS, or that ``stalled``
        (an i1: see :meth:`openmp_launch`), some thread was descheduled: more runnable
        threads than cores. Then ``<words>_until`` is set ``<words>_backoff`` ahead of
        ``now``, a back-off that doubles (_BACKOFF_MIN_NS to _BACKOFF_MAX_NS) while it recurs;
        a launch with short waits resets it. With idle cores the tail is at most a chunk of
        programs."""
        until, backoff = self.g[f"{words}_until"], self.g[f"{words}_backoff"]
        floor = _i64(_STRAGGLE_NS)
        bad = b.and_(b.icmp_signed(">", straggle, own), b.icmp_signed(">", straggle, floor))
        if stalled is not None:
            bad = b.or_(bad, stalled)
        with b.if_else(bad) as (then, otherwise):
            with then:
                old = b.load(backoff, typ=lu.I64)
                doubled = b.select(
                    b.icmp_signed("==", old, _i64(0)), _i64(_BACKOFF_MIN_NS), b.shl(old, _i64(1))
                )
                cap = _i64(_BACKOFF_MAX_NS)
                bo = b.select(b.icmp_signed(">", doubled, cap), cap, doubled)
                b.store(bo, backoff)
                b.atomic_rmw("xchg", until, b.add(now, bo), "monotonic")
            with otherwise:
                b.store(_i64(0), backoff)

    def clock_ns(self, b: ll.IRBuilder) -> ll.Value:
        """CLOCK_MONOTONIC in nanoseconds (the clock's number differs between systems)."""
        t = self.triple
        clock = 6 if ("apple" in t or "darwin" in t) else 4 if "freebsd" in t else 1
        ts = lu.entry_alloca(b, b.function.entry_basic_block, ll.ArrayType(lu.I64, 2), align=8)
        ts = lu.opaque(ts)
        b.call(self.clock_gettime, [_i32(clock), ts])
        pair = b.load(ts, typ=ll.ArrayType(lu.I64, 2))
        sec, nsec = b.extract_value(pair, 0), b.extract_value(pair, 1)
        return b.add(b.mul(sec, _i64(1_000_000_000)), nsec)

    def solo_check(self, b: ll.IRBuilder, participates: ll.Value, job: Any, ctx: Any) -> Any:
        """While backing off, the caller runs the whole job itself; returns the launch's start
        time (None when the pool is not adaptive)."""
        if not self.adaptive:
            return None
        now = self.clock_ns(b)
        until = b.load_atomic(self.g["solo_until"], "monotonic", align=8, typ=lu.I64)
        with b.if_then(b.and_(participates, b.icmp_signed("<", now, until))):
            b.call(job, [ctx])
            b.ret(_i32(0))
        return now

    def adapt(self, b: ll.IRBuilder, participates: ll.Value, t0: Any, t1_slot: Any) -> None:
        """After a launch the caller ran a share of, :meth:`back_off` (into ``solo_until``):
        while it lasts, launches run on the caller alone."""
        if not self.adaptive:
            return
        with b.if_then(participates):
            t1 = b.load(t1_slot, typ=lu.I64)
            t2 = self.clock_ns(b)
            self.back_off(b, b.sub(t1, t0), b.sub(t2, t1), t2, "solo")

    def init_sync(self, b: ll.IRBuilder) -> None:
        """(Re)initialize the mutex and condition variables: in a new process no worker
        exists yet, so nothing can hold them (after ``fork`` they may be copies of locked ones)."""
        if not self.portable:
            return
        null = ll.Constant(lu.PTR, None)
        b.call(self.m_init, [self.g["mutex"], null])
        b.call(self.c_init, [self.g["cond.gen"], null])
        b.call(self.c_init, [self.g["cond.slots"], null])
        b.call(self.c_init, [self.g["cond.joined"], null])

    def _cond_of(self, addr: ll.Value) -> ll.Value:
        for word in ("gen", "slots", "joined"):
            if addr is self.g[word]:
                return self.g[f"cond.{word}"]
        raise ValueError("the portable pool sleeps on 'gen', 'slots' and 'joined' only")

    def futex(self, b: ll.IRBuilder, addr: ll.Value, op: int, val: ll.Value) -> None:
        """Emit a futex system call (wait while ``*addr == val``, or wake ``val`` waiters), or
        its portable equivalent: the waiter checks the word under the mutex and waits on the
        word's condition variable; the waker (which changed the word before) takes the mutex
        and broadcasts, so a wake-up between the check and the wait cannot be lost."""
        if self.portable:
            mutex, cond = self.g["mutex"], self._cond_of(addr)
            b.call(self.m_lock, [mutex])
            if op == _FUTEX_WAIT:
                cur = b.load_atomic(addr, "acquire", align=4, typ=lu.I32)
                with b.if_then(b.icmp_unsigned("==", cur, val)):
                    b.call(self.c_wait, [cond, mutex])  # spurious wake-ups: the caller loops
            else:
                b.call(self.c_broadcast, [cond])
            b.call(self.m_unlock, [mutex])
            return
        b.call(
            self.syscall,
            [_i64(self.sys_futex), addr, _i32(op), val, ll.Constant(lu.PTR, None)],
        )

    def spin_wait(
        self, b: ll.IRBuilder, word: ll.Value, until: object, spins: ll.Value | None = None
    ) -> None:
        """Wait until ``until(b, value_of_word)`` is true: spin (``spins`` pauses, default
        _SPIN), then sleep on the futex."""
        fn = b.function
        head = fn.append_basic_block("wait.head")
        spin = fn.append_basic_block("wait.spin")
        sleep = fn.append_basic_block("wait.sleep")
        done = fn.append_basic_block("wait.done")
        pre = b.block
        b.branch(head)
        b.position_at_end(head)
        count = b.phi(lu.I32)
        count.add_incoming(_i32(0), pre)
        cur = b.load_atomic(word, "acquire", align=4, typ=lu.I32)
        b.cbranch(until(b, cur), done, spin)  # type: ignore[operator]
        b.position_at_end(spin)
        if self.pause is not None:
            b.call(self.pause, [])
        nxt = b.add(count, _i32(1))
        count.add_incoming(nxt, spin)
        limit = _i32(_SPIN) if spins is None else spins
        b.cbranch(b.icmp_signed("<", nxt, limit), head, sleep)
        b.position_at_end(sleep)
        self.futex(b, word, _FUTEX_WAIT, cur)
        count.add_incoming(_i32(0), b.block)  # the portable wait ends in a block of its own
        b.branch(head)
        b.position_at_end(done)

    def worker(self) -> ll.Function:
        """The worker thread: sleep until the generation changes, join the job, repeat."""
        g = self.g
        fn = ll.Function(self.m, ll.FunctionType(lu.PTR, [lu.PTR]), name="tritium.pool.worker")
        fn.linkage = "internal"
        b = ll.IRBuilder(fn.append_basic_block("entry"))
        if self.named:
            self_ = b.call(lu.intrinsic(self.m, "pthread_self", lu.I64, []), [])
            data = bytearray(_WORKER_NAME.encode() + b"\0")
            name = ll.GlobalVariable(self.m, ll.ArrayType(lu.I8, len(data)), "tritium.pool.name")
            name.linkage, name.global_constant = "internal", True
            name.initializer = ll.Constant(name.value_type, data)
            setname = lu.intrinsic(self.m, "pthread_setname_np", lu.I32, [lu.I64, lu.PTR])
            b.call(setname, [self_, lu.opaque(name)])
        arg = b.ptrtoint(fn.args[0], lu.I64)
        index = b.trunc(arg, lu.I32)
        seen0 = b.trunc(b.lshr(arg, _i64(32)), lu.I32)
        seen = lu.opaque(b.alloca(lu.I32, name="seen"))
        b.store(seen0, seen)
        loop = fn.append_basic_block("loop")
        b.branch(loop)
        b.position_at_end(loop)
        old = b.load(seen, typ=lu.I32)
        self.spin_wait(b, g["gen"], lambda bb, cur: bb.icmp_unsigned("!=", cur, old))
        b.store(b.load_atomic(g["gen"], "acquire", align=4, typ=lu.I32), seen)
        # off the caller's CPU before joining (pool_affinity): a move that leaves the worker
        # waiting for a busy CPU then only makes it miss the job, never delays the launch
        moved = None if self.portable else pool_affinity.leave_callers_cpu(b, g)
        # join the job only while it is open: a launch never waits for a worker that is
        # slow to wake up, it just does the work itself
        joined = self.try_join(b, index)
        with b.if_then(joined):
            # a caller that runs no programs sleeps on `joined` until every worker has joined
            # or one has finished (see run): wake it at those two moments only
            lone = b.icmp_unsigned("!=", b.load(g["lone"], typ=lu.I32), _i32(0))
            before = b.atomic_rmw("add", g["joined"], _i32(1), "acq_rel")
            everyone = b.icmp_signed("==", b.add(before, _i32(1)), b.load(g["active"], typ=lu.I32))
            with b.if_then(b.and_(lone, everyone)):
                self.futex(b, g["joined"], _FUTEX_WAKE, _i32(1))
            job = _FnPtr(b.load(g["job_fn"], typ=lu.PTR))
            b.call(job, [b.load(g["job_ctx"], typ=lu.PTR)])
            with b.if_then(lone):
                before = b.atomic_rmw("add", g["joined"], _i32(_FINISHED), "acq_rel")
                with b.if_then(b.icmp_unsigned("<", before, _i32(_FINISHED))):
                    self.futex(b, g["joined"], _FUTEX_WAKE, _i32(1))
            prev = b.atomic_rmw("sub", g["slots"], _i32(1), "acq_rel")
            with b.if_then(b.icmp_unsigned("==", prev, _i32(1))):
                self.futex(b, g["slots"], _FUTEX_WAKE, _i32(1))
        if moved is not None:
            pool_affinity.restore_cpus(b, *moved)
        b.branch(loop)
        return fn

    def try_join(self, b: ll.IRBuilder, index: ll.Value) -> ll.Value:
        """CAS loop: add one to ``slots`` if the job is open and wants this worker."""
        g = self.g
        fn = b.function
        head = fn.append_basic_block("join.head")
        attempt = fn.append_basic_block("join.try")
        done = fn.append_basic_block("join.done")
        b.branch(head)
        b.position_at_end(head)
        cur = b.load_atomic(g["slots"], "acquire", align=4, typ=lu.I32)
        is_open = b.icmp_unsigned("!=", b.and_(cur, _i32(_OPEN)), _i32(0))
        wanted = b.icmp_signed("<", index, b.load(g["active"], typ=lu.I32))
        b.cbranch(b.and_(is_open, wanted), attempt, done)
        b.position_at_end(attempt)
        pair = b.cmpxchg(g["slots"], cur, b.add(cur, _i32(1)), "acq_rel", "acquire")
        ok = b.extract_value(pair, 1)
        b.cbranch(ok, done, head)
        b.position_at_end(done)
        result = b.phi(lu.I1)
        result.add_incoming(ll.Constant(lu.I1, 0), head)
        result.add_incoming(ll.Constant(lu.I1, 1), attempt)
        return result

    def openmp_launch(
        self, b: ll.IRBuilder, participates: ll.Value, job: ll.Value, ctx: ll.Value, n: ll.Value
    ) -> None:
        """When Python attached an OpenMP runtime (:func:`share_openmp`) in this process, run
        the job as an OpenMP parallel region of ``n`` threads: its threads are torch's (or
        whoever loaded it), so one set of threads serves both libraries and none spins while
        the other's run. Only for jobs the caller runs a share of (the team's threads have the
        stack OpenMP gave them, not the pool's); after ``fork`` (the pid changed) the runtime's
        threads are gone and libgomp would hang, so the pool's own threads run it.

        An OpenMP region starts once every thread of the last one is back in the runtime's
        pool and ends at a barrier that waits for every thread of the team, also one the OS
        has not scheduled yet (the pool's own launches never wait for those): on a machine
        with more runnable threads than cores that costs a scheduling period, tens of ms. So
        a region whose waits were long, or that ended over _STRAGGLE_NS after its last thread
        ran out of programs (:meth:`back_off`), sends the launches to the pool's own threads
        for a while (20 ms, doubling to 0.64 s while it recurs). On this 2-core VM under load
        (other processes using 1.5 cores), tutorial 03 bf16 at 1024^3 on 2 threads: regions'
        ends came a median 10 us but a quartile over 4 ms after their last program, the
        pool's own threads' at most 66 us later; of 105 regions the tail rule backed off 9."""
        g = self.g
        fn = b.function
        # the body every thread of the team runs: the job between two notes of the time, by
        # the first thread in and the first one out of programs (the back-off's measures)
        data_type = ll.LiteralStructType([lu.PTR, lu.PTR, lu.I64, lu.I64, lu.I64])
        body = ll.Function(self.m, ll.FunctionType(lu.VOID, [lu.PTR]), name="tritium.pool.omp_body")
        body.linkage = "internal"
        bb = ll.IRBuilder(body.append_basic_block("entry"))
        data = body.args[0]
        field = lambda bld, i: bld.gep(data, [_i32(0), _i32(i)], source_etype=data_type)  # noqa: E731
        bb.cmpxchg(field(bb, 2), _i64(0), self.clock_ns(bb), "monotonic", "monotonic")
        job_fn = bb.load(field(bb, 0), typ=lu.PTR)
        bb.call(_FnPtr(job_fn), [bb.load(field(bb, 1), typ=lu.PTR)])
        out = self.clock_ns(bb)
        bb.cmpxchg(field(bb, 3), _i64(0), out, "monotonic", "monotonic")
        bb.atomic_rmw("umax", field(bb, 4), out, "monotonic")  # the last one out
        bb.ret_void()

        parallel = b.load_atomic(g["omp"], "acquire", align=8, typ=lu.I64)
        attached = b.icmp_unsigned("!=", parallel, _i64(0))
        with b.if_then(b.and_(participates, attached)):
            same = b.icmp_signed("==", b.call(self.getpid, []), b.load(g["omp_pid"], typ=lu.I32))
            t0 = self.clock_ns(b)
            until = b.load_atomic(g["omp_until"], "monotonic", align=8, typ=lu.I64)
            with b.if_then(b.and_(same, b.icmp_signed(">=", t0, until))):
                slot = lu.entry_alloca(b, fn.entry_basic_block, data_type, align=16)
                at = lambda i: b.gep(slot, [_i32(0), _i32(i)], source_etype=data_type)  # noqa: E731
                for i, v in enumerate((job, ctx, _i64(0), _i64(0), _i64(0))):
                    b.store(v, at(i))
                target = _FnPtr(b.inttoptr(parallel, lu.PTR), _omp_parallel_type())
                b.call(target, [body, slot, n, _i32(0)])
                t3 = self.clock_ns(b)
                t1, t2 = b.load(at(2), typ=lu.I64), b.load(at(3), typ=lu.I64)
                # waits: for the team to start (a thread of the last region not back yet) and
                # for the last thread to be done once all programs were taken
                waits = b.add(b.sub(t1, t0), b.sub(t3, t2))
                # and from the last thread out of programs to the region's end: no program
                # was left to run, so a long one is the team's barrier waiting for a thread
                # the OS has not scheduled (on a loaded machine its threads spin there too)
                exit_wait = b.sub(t3, b.load(at(4), typ=lu.I64))
                stalled = b.icmp_signed(">", exit_wait, _i64(_STRAGGLE_NS))
                self.back_off(b, b.sub(t2, t1), waits, t3, "omp", stalled)
                b.ret(_i32(0))

    def share(self) -> None:
        """The exported ``tritium_pool_share_openmp(GOMP_parallel or null, pid)``."""
        fnty = ll.FunctionType(lu.VOID, [lu.I64, lu.I32])
        fn = ll.Function(self.m, fnty, name=self.share_symbol)
        b = ll.IRBuilder(fn.append_basic_block("entry"))
        b.store(fn.args[1], self.g["omp_pid"])
        b.atomic_rmw("xchg", self.g["omp"], fn.args[0], "release")
        b.ret_void()

    @property
    def share_symbol(self) -> str:
        return share_symbol("portable" if self.portable else "futex")

    def run(self, worker: ll.Function) -> None:
        """The exported ``tritium_pool_run(fn, ctx, nthreads, caller_runs)`` (see the module
        docstring). With ``caller_runs`` 2 the caller runs a share, never on OpenMP threads.
        With ``caller_runs`` 0 (kernels whose frames need more stack than the
        caller's thread may have) the caller only waits: all ``nthreads`` are workers, and it
        waits for every one of them to have joined before closing the job."""
        g = self.g
        fnty = ll.FunctionType(lu.I32, [lu.PTR, lu.PTR, lu.I32, lu.I32])
        fn = ll.Function(self.m, fnty, name=POOL_RUN_PORTABLE if self.portable else POOL_RUN)
        job_arg, ctx, nthreads, caller_runs = fn.args
        job = _FnPtr(job_arg)
        b = ll.IRBuilder(fn.append_basic_block("entry"))
        attr = lu.opaque(b.alloca(ll.ArrayType(lu.I8, 64), name="attr"))
        tid = lu.opaque(b.alloca(lu.I64, name="tid"))
        mode = b.and_(caller_runs, _i32(3))
        participates = b.icmp_signed("!=", mode, _i32(0))
        want = b.select(participates, b.sub(nthreads, _i32(1)), nthreads)
        want = b.select(b.icmp_signed(">", want, _i32(_MAX_WORKERS)), _i32(_MAX_WORKERS), want)
        with b.if_then(b.icmp_signed("<=", want, _i32(0))):
            with b.if_then(participates):
                b.call(job, [ctx])
                b.ret(_i32(0))
            b.ret(_i32(1))
        if self.openmp:
            # not for a caller_runs of 2: programs whose frames need the caller's checked stack
            own_stack = b.icmp_signed("==", mode, _i32(1))
            self.openmp_launch(b, own_stack, job_arg, ctx, b.add(want, _i32(1)))
        t0 = self.solo_check(b, participates, job, ctx)
        t1_slot = None
        if self.adaptive:
            t1_slot = lu.opaque(lu.entry_alloca(b, fn.entry_basic_block, lu.I64, align=8))
        pair = b.cmpxchg(g["busy"], _i32(0), _i32(1), "acquire", "monotonic")
        with b.if_then(b.not_(b.extract_value(pair, 1))):
            b.ret(_i32(1))
        pid = b.call(self.getpid, [])
        with b.if_then(b.icmp_signed("!=", pid, b.load(g["owner"], typ=lu.I32))):
            b.store(_i32(0), g["started"])
            b.store(pid, g["owner"])
            self.init_sync(b)
        gen = b.load(g["gen"], typ=lu.I32)
        b.call(self.a_init, [attr])
        b.call(self.a_stack, [attr, _i64(POOL_STACK_BYTES)])
        start = b.load(g["started"], typ=lu.I32)
        with lu.for_range(b, start, want, name="spawn") as i:
            packed = b.or_(b.zext(i, lu.I64), b.shl(b.zext(gen, lu.I64), _i64(32)))
            rc = b.call(self.p_create, [tid, attr, worker, b.inttoptr(packed, lu.PTR)])
            with b.if_then(b.icmp_signed("==", rc, _i32(0))):
                b.call(self.p_detach, [b.load(tid, typ=lu.I64)])
                b.store(b.add(i, _i32(1)), g["started"])
        b.call(self.a_destroy, [attr])
        started = b.load(g["started"], typ=lu.I32)
        active = b.select(b.icmp_signed("<", started, want), started, want)
        with b.if_then(b.and_(b.not_(participates), b.icmp_signed("==", active, _i32(0)))):
            b.atomic_rmw("xchg", g["busy"], _i32(0), "release")
            b.ret(_i32(1))  # no worker at all: the launcher falls back to its own threads
        b.store(job_arg, g["job_fn"])
        b.store(ctx, g["job_ctx"])
        b.store(active, g["active"])
        b.store(b.zext(b.not_(participates), lu.I32), g["lone"])
        if not self.portable:  # see pool_affinity (-1: workers stay where the OS woke them)
            cpu = b.call(pool_affinity.getcpu(self.m), [])
            spread = b.icmp_unsigned("!=", b.and_(caller_runs, _i32(SPREAD)), _i32(0))
            b.store(b.select(b.and_(participates, spread), cpu, _i32(-1)), g["caller_cpu"])
        b.atomic_rmw("xchg", g["joined"], _i32(0), "release")
        b.atomic_rmw("xchg", g["slots"], _i32(_OPEN), "release")
        b.atomic_rmw("add", g["gen"], _i32(1), "acq_rel")
        self.futex(b, g["gen"], _FUTEX_WAKE, _i32(_MAX_WORKERS + 1))
        with b.if_else(participates) as (then, otherwise):
            with then:
                b.call(job, [ctx])
                if t1_slot is not None:
                    b.store(self.clock_ns(b), t1_slot)
            with otherwise:
                # nobody else runs the programs, so the job stays open until every worker
                # has joined or one has finished (then all programs are taken); the caller
                # sleeps meanwhile: spinning here took a core from the workers
                def enough(bb: ll.IRBuilder, cur: ll.Value) -> ll.Value:
                    count = bb.and_(cur, _i32(_FINISHED - 1))
                    finished = bb.icmp_unsigned(">=", cur, _i32(_FINISHED))
                    return bb.or_(finished, bb.icmp_signed("==", count, active))

                self.spin_wait(b, g["joined"], enough, spins=_i32(0))
        # close the job, then wait only for the workers that joined it (a caller that ran no
        # programs sleeps at once)
        b.atomic_rmw("and", g["slots"], _i32(~_OPEN & 0x7FFFFFFF), "acq_rel")
        spins = b.select(participates, _i32(_SPIN), _i32(0))
        self.spin_wait(b, g["slots"], lambda bb, cur: bb.icmp_signed("==", cur, _i32(0)), spins)
        self.adapt(b, participates, t0, t1_slot)
        b.atomic_rmw("xchg", g["busy"], _i32(0), "release")
        b.ret(_i32(0))


def pool_kind(triple: str | None = None) -> str:
    """'futex' or 'portable': the pool built for ``triple`` (default: this host), as
    ``TRITIUM_THREAD_POOL`` asks ('auto': futex on Linux, portable elsewhere)."""
    from tritium import knobs

    triple = triple or host_target().triple
    kind = knobs.thread_pool()
    linux = "linux" in triple
    if kind == "auto":
        return "futex" if linux else "portable"
    if kind == "futex" and not linux:
        raise ValueError(f"TRITIUM_THREAD_POOL=futex needs Linux; the target is {triple}")
    return kind


def pool_symbol(kind: str) -> str:
    """The exported run function's name in the pool built as ``kind``."""
    return POOL_RUN_PORTABLE if kind == "portable" else POOL_RUN


def share_symbol(kind: str) -> str:
    """The exported function that attaches an OpenMP runtime to the pool built as ``kind``."""
    return pool_symbol(kind) + "_share_openmp"


def pool_ir(triple: str, kind: str, openmp: bool = False, named: bool | None = None) -> str:
    """The LLVM IR of the pool for ``triple`` (the AOT libraries link it too, unnamed);
    ``openmp`` adds the path that runs launches on an OpenMP runtime's threads
    (:func:`share_openmp`); ``named``: workers named for the launch trace (default: as its
    knob says)."""
    from tritium import knobs
    from tritium.backends.cpu import launch_trace

    adaptive = knobs.thread_pool_backoff()
    named = launch_trace.enabled(triple) if named is None else named
    pm = _PoolModule(triple, kind == "portable", adaptive, openmp, named)
    pm.run(pm.worker())
    if openmp:
        pm.share()
    return str(pm.m)


def _pool_object(kind: str) -> bytes:
    """The pool's object code, cached under a key made without building its IR (a new
    process's first launch, issue 13): this module's and llvm_utils' source, the pool's
    parameters and (added by ``cached_object``) the target and LLVM."""
    from tritium import knobs
    from tritium.backends.cpu import launch_trace

    triple = host_target().triple
    adaptive = knobs.thread_pool_backoff()
    named = " named" if launch_trace.enabled(triple) else ""
    key = f"thread pool {kind} openmp adaptive={adaptive}{named} {triple} " + source_digest(
        __name__, "tritium.backends.cpu.llvm_utils", "tritium.backends.cpu.pool_affinity"
    )
    return cached_object(key, lambda: pool_ir(triple, kind, openmp=True))


def pool_address(kind: str | None = None) -> int:
    """The address of the pool's run function (building and loading the pool on first use);
    ``kind`` 'futex' or 'portable', default :func:`pool_kind`. Both may live in one process
    (tests run kernels with each); every launch uses the one its kernel was loaded with.

    Each call also looks (cheaply, see :func:`share_openmp`) whether an OpenMP runtime was
    loaded since the last look, so kernels loaded after ``import torch`` share torch's threads.
    """
    global _default_kind
    if kind is None:
        if _default_kind is None:
            _default_kind = pool_kind()  # read once: kernels loaded later use the same pool
        kind = _default_kind
    address = _addresses.get(kind)
    if address is None:
        with _lock:
            if kind not in _addresses:
                obj = _pool_object(kind)  # from the disk cache after the first process
                _addresses[kind] = load_object(obj, pool_symbol(kind))
                _share_addresses[kind] = load_object(obj, share_symbol(kind))
                _openmp_state[:] = [-1, -1]  # look again, and attach the new pool too
        address = _addresses[kind]
    share_openmp()
    return address


def openmp_runtime() -> tuple[str, int] | None:
    """The path and ``GOMP_parallel`` address of an OpenMP runtime already loaded in this
    process (the first in load order), or None. Linux only (read from ``/proc/self/maps``);
    nothing is loaded: ``dlopen(RTLD_NOLOAD)`` just finds the library that is there."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    tried: set[str] = set()
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) < 6 or parts[5] in tried:
            continue
        path = parts[5]
        tried.add(path)
        if not os.path.basename(path).startswith(_OPENMP_NAMES):
            continue
        try:
            lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
            address = ctypes.cast(lib.GOMP_parallel, ctypes.c_void_p).value
        except (OSError, AttributeError):  # not loaded after all, or no GOMP entry points
            continue
        if address:
            return path, address
    return None


_MIN_OPENMP_STACK = 1 << 20  # frames run on the runtime's threads are at most 64 KiB


def _openmp_stack_ok() -> bool:
    """False when ``OMP_STACKSIZE``/``GOMP_STACKSIZE`` gives the runtime's threads less than
    _MIN_OPENMP_STACK (a number with an optional B/K/M/G suffix, kilobytes by default)."""
    for name in ("OMP_STACKSIZE", "GOMP_STACKSIZE"):
        text = os.environ.get(name, "").strip().upper()
        if not text:
            continue
        unit = {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1])
        digits = text[:-1].strip() if unit else text
        try:
            size = int(digits) * (unit or 1 << 10)
        except ValueError:
            continue  # the runtime ignores a malformed value too
        if size < _MIN_OPENMP_STACK:
            return False
    return True


def attach_openmp(address: int) -> None:
    """Make every loaded pool run its launches on the OpenMP runtime whose ``GOMP_parallel``
    is at ``address`` (0: on the pool's own threads again)."""
    share = ctypes.CFUNCTYPE(None, ctypes.c_uint64, ctypes.c_int32)
    for fn in _share_addresses.values():
        share(fn)(address, os.getpid())
    _openmp_state[1] = address


def share_openmp() -> int:
    """Attach the pools to the process's OpenMP runtime when one is loaded and
    ``TRITIUM_THREAD_POOL_OPENMP`` allows it; returns the ``GOMP_parallel`` address in use
    (0: tritium's own threads). It looks again only when Python imported modules since the
    last look (a new runtime comes with an extension module), so a kernel load pays for the
    scan of ``/proc/self/maps`` only then. Never in a child after ``fork``, nor when
    ``OMP_STACKSIZE`` gives the runtime's threads less than 1 MiB of stack."""
    from tritium import knobs

    count = len(sys.modules)
    if count == _openmp_state[0] or not _share_addresses:
        return _openmp_state[1]
    with _lock:
        _openmp_state[0] = count
        found = None
        if knobs.thread_pool_openmp() and not _forked[0] and _openmp_stack_ok():
            found = openmp_runtime()
        address = found[1] if found else 0
        if address != _openmp_state[1]:
            attach_openmp(address)
    return address


def _after_fork_in_child() -> None:
    _forked[0] = True
    _openmp_state[1] = 0  # the native side ignores the runtime too (the pid changed)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
