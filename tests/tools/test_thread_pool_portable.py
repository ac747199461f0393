"""The portable thread pool (pthread mutex + condition variables, no futex): what macOS and
the BSDs get. Tested here on Linux by running real kernels through it, in this process (next
to the futex pool), after ``fork`` and from several Python threads at once, and by forcing it
with ``TRITIUM_THREAD_POOL=portable`` in a new process."""

from __future__ import annotations

import copy
import os
import pathlib
import subprocess
import sys
import zlib

import numpy as np
import pytest

from tests.backends.cpu.irgen import compile_kernel, launch, poison
from tests.backends.cpu.test_launcher import _pid_kernel, race_launches
from tests.backends.cpu.test_vector_add import _vector_add
from tritium.backends.cpu import threadpool


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """Fresh inputs per run; TRITIUM_TEST_SEED (in the report header) replays them."""
    test_id = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng([int(os.environ.get("TRITIUM_TEST_SEED", "0")), test_id])


def _portable(kernel: object, threads: int) -> object:
    """A copy of a loaded kernel that launches through the portable pool."""
    k = copy.copy(kernel)
    k._pool = threadpool.pool_address("portable")  # type: ignore[attr-defined]
    k.num_threads = threads  # type: ignore[attr-defined]
    return k


@pytest.mark.parametrize("threads", [2, 3, 8])  # 8 > cores: workers sleep and wake each launch
def test_portable_pool_runs_every_program(threads: int, rng: np.random.Generator) -> None:
    kernel = _portable(_pid_kernel(), threads)
    assert kernel._pool != threadpool.pool_address("futex")  # type: ignore[attr-defined]
    for _ in range(20):  # back-to-back launches: the spin path and the sleeping path
        gx, gy, gz = (int(v) for v in rng.integers(1, 9, size=3))
        out = poison((gz, gy, gx), np.int32)
        launch(kernel, (gx, gy, gz), out)
        z, y, x = np.meshgrid(np.arange(gz), np.arange(gy), np.arange(gx), indexing="ij")
        np.testing.assert_array_equal(out, x + 10 * y + 100 * z + 1000 * (gx + gy + gz))


def test_portable_pool_from_python_threads(rng: np.random.Generator) -> None:
    """Launches racing for the pool: the loser runs on threads of its own."""
    block, n = 64, 64 * 40
    kernel = _portable(compile_kernel(_vector_add(block))[0], 2)
    race_launches(kernel, block, n, rng, rounds=30)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_portable_pool_after_fork(rng: np.random.Generator) -> None:
    block, n = 64, 64 * 8
    kernel = _portable(compile_kernel(_vector_add(block))[0], 2)
    x = rng.standard_normal(n).astype(np.float32)
    out = poison(n, np.float32)
    launch(kernel, (n // block,), x, x, out, n)  # workers exist (and may sleep) now
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: new mutex, new workers
        code = 1
        try:
            child = poison(n, np.float32)
            launch(kernel, (n // block,), x, x, child, n)
            code = 0 if np.array_equal(child, 2 * x) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    np.testing.assert_array_equal(out, 2 * x)


_CHILD = r"""
import numpy as np, tritium, tritium.language as tl
from tritium.backends.cpu import threadpool

@tritium.jit
def scale(x, o, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(o + offs, tl.load(x + offs, mask=offs < n) * 3.0, mask=offs < n)

n = 10000
x = np.random.default_rng(SEED).standard_normal(n).astype(np.float32)
o = np.full(n, np.nan, np.float32)
scale[(n // 128 + 1,)](x, o, n, BLOCK=128)
assert np.allclose(o, x.astype(np.float64) * 3, rtol=1e-6), "wrong result"
for _ in range(50):  # back-to-back launches, sleeping and spinning workers
    scale[(n // 128 + 1,)](x, o, n, BLOCK=128)
assert np.allclose(o, x.astype(np.float64) * 3, rtol=1e-6), "wrong result"
print(sorted(threadpool._addresses))
"""


@pytest.mark.parametrize("kind,backoff", [("portable", "0"), ("portable", "1"), ("futex", "1")])
def test_env_chooses_the_pool(tmp_path, kind: str, backoff: str) -> None:
    """TRITIUM_THREAD_POOL picks the build in a new process (and only that one is built);
    TRITIUM_THREAD_POOL_BACKOFF=1 adds the oversubscription back-off to either."""
    env = dict(os.environ, TRITIUM_THREAD_POOL=kind, TRITIUM_NUM_THREADS="3")
    env.update(TRITIUM_THREAD_POOL_BACKOFF=backoff, TRITIUM_CACHE_DIR=str(tmp_path))
    root = str(pathlib.Path(__file__).resolve().parents[2])  # this checkout's tritium
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    seed = os.environ.get("TRITIUM_TEST_SEED", "0")
    script = tmp_path / "child.py"  # kernels need a source file
    script.write_text(_CHILD.replace("SEED", seed))
    proc = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"[{kind!r}]"  # the other pool was never built
    env["TRITIUM_THREAD_POOL"] = "threads-please"
    proc = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "TRITIUM_THREAD_POOL='threads-please'" in proc.stderr


def test_backoff_is_built_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    linux, mac = "x86_64-unknown-linux-gnu", "arm64-apple-macosx14.0.0"
    monkeypatch.delenv("TRITIUM_THREAD_POOL_BACKOFF", raising=False)
    assert "clock_gettime" not in threadpool.pool_ir(linux, "futex")
    monkeypatch.setenv("TRITIUM_THREAD_POOL_BACKOFF", "1")
    assert '@"clock_gettime"(i32 1,' in threadpool.pool_ir(linux, "futex")
    assert '@"clock_gettime"(i32 6,' in threadpool.pool_ir(mac, "portable")  # macOS's number


def test_pool_kind_follows_the_target_os(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRITIUM_THREAD_POOL", raising=False)
    assert threadpool.pool_kind("x86_64-unknown-linux-gnu") == "futex"
    assert threadpool.pool_kind("aarch64-unknown-linux-gnu") == "futex"
    assert threadpool.pool_kind("arm64-apple-macosx14.0.0") == "portable"
    assert threadpool.pool_kind("x86_64-unknown-freebsd14.0") == "portable"
    monkeypatch.setenv("TRITIUM_THREAD_POOL", "portable")
    assert threadpool.pool_kind("x86_64-unknown-linux-gnu") == "portable"
    monkeypatch.setenv("TRITIUM_THREAD_POOL", "futex")
    with pytest.raises(ValueError, match="needs Linux"):
        threadpool.pool_kind("arm64-apple-macosx14.0.0")


@pytest.mark.parametrize(
    "triple", ["arm64-apple-macosx14.0.0", "x86_64-apple-macosx14.0.0", "x86_64-unknown-linux-gnu"]
)
def test_portable_pool_compiles_for_macos(triple: str) -> None:
    """The portable pool's IR has no system call and builds for macOS targets (not run: no
    macOS here); the futex build issues raw syscalls."""
    llvm = pytest.importorskip("llvmlite.binding")
    from tritium.backends.cpu.target import host_target

    host_target()
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    try:
        tm = llvm.Target.from_triple(triple).create_target_machine(opt=2, reloc="pic")
    except RuntimeError as e:
        pytest.skip(f"this LLVM has no target for {triple}: {e}")
    ir = threadpool.pool_ir(triple, "portable")
    assert "syscall" not in ir
    assert '@"pthread_cond_wait"(' in ir and '@"pthread_cond_broadcast"(' in ir
    mod = llvm.parse_assembly(ir)
    mod.triple, mod.data_layout = triple, str(tm.target_data)
    mod.verify()
    asm = tm.emit_assembly(mod)
    assert "pthread_cond_wait" in asm and threadpool.POOL_RUN_PORTABLE in asm
    # with the OpenMP path (GOMP_parallel through a pointer) and its attach function
    mod = llvm.parse_assembly(threadpool.pool_ir(triple, "portable", openmp=True))
    mod.triple, mod.data_layout = triple, str(tm.target_data)
    mod.verify()
    assert threadpool.share_symbol("portable") in tm.emit_assembly(mod)
    assert '@"syscall"(' in threadpool.pool_ir("x86_64-unknown-linux-gnu", "futex")


def _backoff_probe(adaptive: bool, tag: str) -> tuple[object, object, object]:
    """A pool (renamed, so it can load beside the others) and a job whose worker share
    straggles: the caller's share returns at once (once a worker joined, or after the wait
    bound), a worker's sleeps for twice the time the caller spent plus 50 ms. Returns
    (setup(wait_ns), run(), entries()) as ctypes functions."""
    import ctypes

    import llvmlite.ir as ll

    from tritium.backends.cpu import llvm_utils as lu
    from tritium.backends.cpu.target import host_target, load_object, optimize_and_emit

    pm = threadpool._PoolModule(host_target().triple, portable=True, adaptive=adaptive)
    pm.run(pm.worker())
    m = pm.m
    i32, i64 = lu.I32, lu.I64
    if not adaptive:  # the probe reads the clock too
        pm.clock_gettime = ll.Function(m, ll.FunctionType(i32, [i32, lu.PTR]), "clock_gettime")
    glob = {}
    for name, ty in (("tid", i64), ("t0", i64), ("wait", i64), ("entries", i32)):
        var = ll.GlobalVariable(m, ty, name=f"probe.{name}")
        var.initializer = ll.Constant(ty, 0)
        glob[name] = lu.opaque(var)
    self_fn = ll.Function(m, ll.FunctionType(i64, []), name="pthread_self")
    yield_fn = ll.Function(m, ll.FunctionType(i32, []), name="sched_yield")
    usleep = ll.Function(m, ll.FunctionType(i32, [i32]), name="usleep")

    job = ll.Function(m, ll.FunctionType(lu.PTR, [lu.PTR]), name=f"probe_job_{tag}")
    b = ll.IRBuilder(job.append_basic_block("entry"))
    b.atomic_rmw("add", glob["entries"], ll.Constant(i32, 1), "seq_cst")
    is_caller = b.icmp_unsigned("==", b.call(self_fn, []), b.load(glob["tid"], typ=i64))
    with b.if_else(is_caller) as (caller, worker):
        with caller:
            head = job.append_basic_block("wait")
            out = job.append_basic_block("waited")
            b.branch(head)
            b.position_at_end(head)
            n = b.load_atomic(glob["entries"], "seq_cst", align=4, typ=i32)
            spent = b.sub(pm.clock_ns(b), b.load(glob["t0"], typ=i64))
            over = b.icmp_signed(">", spent, b.load(glob["wait"], typ=i64))
            b.call(yield_fn, [])
            b.cbranch(b.or_(b.icmp_signed(">=", n, ll.Constant(i32, 2)), over), out, head)
            b.position_at_end(out)
        with worker:
            spent = b.sub(pm.clock_ns(b), b.load(glob["t0"], typ=i64))
            ns = b.add(b.mul(spent, ll.Constant(i64, 2)), ll.Constant(i64, 50_000_000))
            b.call(usleep, [b.trunc(b.udiv(ns, ll.Constant(i64, 1000)), i32)])
    b.ret(ll.Constant(lu.PTR, None))

    setup = ll.Function(m, ll.FunctionType(lu.VOID, [i64]), name=f"probe_setup_{tag}")
    b = ll.IRBuilder(setup.append_basic_block("entry"))
    b.store(b.call(self_fn, []), glob["tid"])
    b.store(pm.clock_ns(b), glob["t0"])
    b.store(setup.args[0], glob["wait"])
    b.store(ll.Constant(i32, 0), glob["entries"])
    b.ret_void()

    run_name = f"probe_run_{tag}"
    run = ll.Function(m, ll.FunctionType(i32, []), name=run_name)
    b = ll.IRBuilder(run.append_basic_block("entry"))
    pool = m.get_global(threadpool.POOL_RUN_PORTABLE)
    b.ret(b.call(pool, [job, ll.Constant(lu.PTR, None), ll.Constant(i32, 2), ll.Constant(i32, 1)]))

    count = ll.Function(m, ll.FunctionType(i32, []), name=f"probe_entries_{tag}")
    b = ll.IRBuilder(count.append_basic_block("entry"))
    b.ret(b.load_atomic(glob["entries"], "seq_cst", align=4, typ=i32))

    ir = str(m).replace(threadpool.POOL_RUN_PORTABLE, f"probe_pool_{tag}")
    for name in glob:  # internal: each probe module keeps its own
        ir = ir.replace(f'@"probe.{name}" = global', f'@"probe.{name}" = internal global')
    _, obj = optimize_and_emit(ir)
    addr = {s: load_object(obj, s) for s in (f"probe_setup_{tag}", run_name)}
    addr["count"] = load_object(obj, f"probe_entries_{tag}")
    setup_f = ctypes.CFUNCTYPE(None, ctypes.c_int64)(addr[f"probe_setup_{tag}"])
    run_f = ctypes.CFUNCTYPE(ctypes.c_int32)(addr[run_name])
    count_f = ctypes.CFUNCTYPE(ctypes.c_int32)(addr["count"])
    return setup_f, run_f, count_f


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="CLOCK_MONOTONIC numbering")
@pytest.mark.parametrize("adaptive", [False, True])
def test_backoff_runs_solo_after_a_straggling_worker(adaptive: bool) -> None:
    """A launch whose joined worker finishes long after the caller's share makes the next
    launch (within 20 ms) run on the caller alone, with the back-off; without it, a worker
    joins the next launch too."""
    setup, run, entries = _backoff_probe(adaptive, "on" if adaptive else "off")
    setup(5_000_000_000)  # the caller's share waits (up to 5 s) for a worker to join
    assert run() == 0
    assert entries() == 2, "a worker joined the first launch"
    setup(5_000_000_000 if not adaptive else 300_000_000)
    assert run() == 0
    assert entries() == (1 if adaptive else 2)
