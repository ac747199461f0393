"""The CUDA backend without a GPU: every stage down to a cubin ptxas accepts.

Tutorial and sample kernels are compiled for sm_80 and sm_90a in one subprocess per
architecture (``compile_only.py``), so an LLVM abort fails these tests instead of killing the
test run. The vector add, whose ops are known to be safe, is also compiled in-process to check
the generated code in detail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

import tritium as triton
import tritium.language as tl
from tritium.backends.cuda import target as cuda_target
from tritium.backends.cuda.tma import tma_copies
from tritium.backends.cuda.wgmma import WgmmaTile
from tritium.compiler import ASTSource, GPUTarget

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)

from compile_only import SM90_ONLY, TUTORIAL_CASES  # noqa: E402
from sample_kernels import CASES, UNSUPPORTED  # noqa: E402

HAVE_PTXAS = cuda_target.find_ptxas() is not None
ARCHS = (80, 90)


@pytest.fixture(scope="module")
def compiled() -> dict[tuple[str, int], dict[str, Any]]:
    """Every case compiled for each architecture, in a subprocess per architecture."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([ROOT, HERE, os.environ.get("PYTHONPATH", "")])
    )
    out: dict[tuple[str, int], dict[str, Any]] = {}
    # one process per architecture, side by side
    procs = {
        cc: subprocess.Popen(
            [sys.executable, os.path.join(HERE, "compile_only.py"), str(cc)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )  # fmt: skip
        for cc in ARCHS
    }
    for cc, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, (
            f"compiling for sm_{cc} crashed (exit {proc.returncode}):\n{stderr[-4000:]}"
        )
        for line in stdout.splitlines():
            if line.startswith("{"):
                row = json.loads(line)
                out[(row["case"], cc)] = row
    return out


@pytest.mark.parametrize("cc", ARCHS)
@pytest.mark.parametrize("case", [*TUTORIAL_CASES, *CASES])
def test_kernel_compiles_and_assembles(compiled: dict, case: str, cc: int) -> None:
    if cc != 90 and case in SM90_ONLY:
        pytest.skip("compiled for sm_90a only (slow)")
    row = compiled[(case, cc)]
    assert row["ok"], row.get("error")
    want_arch = "sm_90a" if cc == 90 else f"sm_{cc}"
    for art in row["artifacts"]:
        assert art["arch"] == want_arch and art["ptx_has_target"]
        assert {"ttir", "ttgir", "llir", "ptx"} <= set(art["stages"])
        if HAVE_PTXAS:
            assert art["cubin"] > 0, f"{art['name']}: no cubin"
            if case in TUTORIAL_CASES:  # the tutorial kernels never touch local memory
                assert art["n_spills"] == 0 and art["ptx_counts"]["ld.local"] == 0
    if case == "attention_fwd":  # both loops pipeline k (as k^T, stored [N, K]) and v
        (art,) = row["artifacts"]
        assert art["ptx_counts"]["cp.async.commit_group"] == 2 * 3
        assert art["ptx_counts"]["ldmatrix.sync.aligned.m8n8.x4.trans"] > 0


# ---- tensor cores: structure of the PTX, per architecture --------------------------------------
def run_compile_only(ccs: tuple[int, ...], cases: tuple[str, ...]) -> dict[tuple[str, int], Any]:
    """``compile_only.py cc cases...`` in one subprocess per architecture (side by side)."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([ROOT, HERE, os.environ.get("PYTHONPATH", "")])
    )
    script = os.path.join(HERE, "compile_only.py")
    procs = {
        cc: subprocess.Popen([sys.executable, script, str(cc), *cases], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        for cc in ccs
    }  # fmt: skip
    out: dict[tuple[str, int], Any] = {}
    for cc, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"sm_{cc} crashed ({proc.returncode}):\n{stderr[-4000:]}"
        for line in stdout.splitlines():
            if line.startswith("{"):
                row = json.loads(line)
                out[(row["case"], cc)] = row
    return out


MMA_CASES = (
    "matmul_f16", "matmul_bf16", "matmul_f16_wide", "matmul_i8", "matmul_i8_wide",
    "matmul_fp8e4", "matmul_fp8e5",
)  # fmt: skip
PIPELINED_CASES = (
    "matmul_f16_pipelined", "matmul_bf16_pipelined_4", "matmul_f16_pipelined_2",
    "matmul_f16_pipelined_5", "matmul_f16_stages_1", "matmul_i8_pipelined", "matmul_partials",
)  # fmt: skip
MMA_ARCHS = (80, 89, 90, 100)


@pytest.fixture(scope="module")
def mma_compiled() -> dict[tuple[str, int], Any]:
    """The tensor-core sample dots compiled for every architecture (subprocesses)."""
    return run_compile_only(MMA_ARCHS, MMA_CASES + PIPELINED_CASES)


def _mma_counts(case: str) -> tuple[int, str]:
    """(mma instructions a thread issues, the PTX shape) for a sample matmul case."""
    from sample_kernels import CASES as ALL

    _, sig, consts, opts = ALL[case]
    m, n, k = consts["BM"], consts["BN"], consts["BK"]
    k_step = 16 if sig["a_ptr"] in ("*fp16", "*bf16") else 32
    return m * n * k // (16 * 8 * k_step) // opts["num_warps"], f"m16n8k{k_step}"


def _wgmma_counts(case: str, cc: int) -> tuple[int, str] | None:
    """(wgmma instructions a thread issues, the PTX instruction prefix) where a sample
    matmul runs as wgmma (sm_90a, whole warpgroups along M, M a multiple of 16 * warps);
    None where it runs mma.sync."""
    from sample_kernels import CASES as ALL

    _, sig, consts, opts = ALL[case]
    m, n, k, w = consts["BM"], consts["BN"], consts["BK"], opts["num_warps"]
    if cc != 90 or w % 4 or m % (16 * w) or n % 16:
        return None
    types = {"*fp16": ".f32.f16.f16", "*bf16": ".f32.bf16.bf16", "*i8": ".s32.s8.s8",
             "*fp8e4nv": ".f32.e4m3.e4m3", "*fp8e5": ".f32.e5m2.e5m2",
             "*fp32": ".f32.tf32.tf32"}  # fmt: skip
    k_step = {"*fp16": 16, "*bf16": 16, "*fp32": 8}.get(sig["a_ptr"], 32)
    width = min(n, 256)
    count = (k // k_step) * (m // (16 * w)) * (n // width)
    return count, f"wgmma.mma_async.sync.aligned.m64n{width}k{k_step}{types[sig['a_ptr']]}"


def _check_wgmma(art: dict, want: tuple[int, str]) -> None:
    """The PTX of a wgmma dot: the instructions, fences and waits, no mma.sync/ldmatrix."""
    counts = art["ptx_counts"]
    n, text = want
    assert art["wgmma"].get(text, 0) == n and sum(art["wgmma"].values()) == n, art["wgmma"]
    assert counts["mma.sync.aligned.m16n8k16"] == counts["mma.sync.aligned.m16n8k32"] == 0
    assert counts["ldmatrix.sync.aligned.m8n8.x4.shared"] == 0
    assert counts["wgmma.fence.sync.aligned"] >= 1
    assert counts["wgmma.commit_group.sync.aligned"] == counts["wgmma.wait_group.sync.aligned"]
    assert counts["wgmma.commit_group.sync.aligned"] >= 1
    assert counts["fence.proxy.async.shared::cta"] >= 1  # operands visible to the async proxy
    assert art["n_spills"] == 0 and counts["ld.local"] == counts["st.local"] == 0


@pytest.mark.skipif(not HAVE_PTXAS, reason="no ptxas")
@pytest.mark.parametrize("cc", MMA_ARCHS)
@pytest.mark.parametrize("case", MMA_CASES)
def test_tensor_core_dot_uses_ldmatrix_and_mma(mma_compiled: dict, case: str, cc: int) -> None:
    """fp16/bf16/int8 (sm_80+) and fp8 (sm_89+) dots: swizzled shared memory read by
    ``ldmatrix``, the expected number of ``mma.sync``, no local memory, no spills."""
    row = mma_compiled[(case, cc)]
    assert row["ok"], row.get("error")
    (art,) = row["artifacts"]
    counts = art["ptx_counts"]
    assert art["cubin"] > 0 and 0 < art["shared"] <= 48 * 1024
    fp8 = "fp8" in case
    if fp8 and cc < 89:  # no fp8 tensor cores before Ada: the FMA loop
        assert counts["mma.sync.aligned.m16n8k32"] == 0 and counts["fma.rn.f32"] > 0
        return
    assert art["n_spills"] == 0
    assert counts["ld.local"] == counts["st.local"] == 0
    wg = _wgmma_counts(case, cc)
    if wg is not None:  # sm_90a: wgmma with both operands in shared memory
        _check_wgmma(art, wg)
        return
    assert not art["wgmma"], "wgmma outside sm_90a or on a shape it does not fit"
    n_mma, shape = _mma_counts(case)
    assert counts[f"mma.sync.aligned.{shape}"] == n_mma
    assert counts["ldmatrix.sync.aligned.m8n8.x4.shared"] > 0
    if "i8" in case:
        assert counts[".s32.s8.s8.s32"] == n_mma
    if fp8:
        want = ".f32.e4m3.e4m3.f32" if "e4" in case else ".f32.e5m2.e5m2.f32"
        assert counts[want] == n_mma
    if "f16" in case:  # b is read transposed; a and b staged with 16-byte stores
        assert counts["ldmatrix.sync.aligned.m8n8.x4.trans"] > 0
        assert counts["st.shared.v4"] > 0
    else:  # 8-bit b is staged k-major: no .trans (it moves 16-bit units)
        assert counts["ldmatrix.sync.aligned.m8n8.x4.trans"] == 0


@pytest.mark.skipif(not HAVE_PTXAS, reason="no ptxas")
@pytest.mark.parametrize("cc", MMA_ARCHS)
@pytest.mark.parametrize("case", PIPELINED_CASES)
def test_k_loop_is_pipelined_with_cp_async(mma_compiled: dict, case: str, cc: int) -> None:
    """``num_stages`` stages of swizzled operand tiles filled by ``cp.async`` (as many as fit
    the architecture's shared memory), the waits and commits of the schedule in
    ``pipeline.py``, no staging through registers, no spills."""
    from sample_kernels import CASES as ALL

    row = mma_compiled[(case, cc)]
    assert row["ok"], row.get("error")
    (art,) = row["artifacts"]
    counts = art["ptx_counts"]
    _, sig, consts, opts = ALL[case]
    m, n, k = consts["BM"], consts["BN"], consts["BK"]
    threads = 32 * opts["num_warps"]
    es = 1 if sig["a_ptr"] == "*i8" else 2
    stage_bytes = es * (m * k + k * n)
    want = opts["num_stages"]
    while want > 2 and want * stage_bytes > cuda_target.max_shared(cc):
        want -= 1
    assert art["n_spills"] == 0 and counts["ld.local"] == counts["st.local"] == 0
    wg = _wgmma_counts(case, cc)
    if wg is not None:
        _check_wgmma(art, wg)
    else:
        n_mma, shape = _mma_counts(case)
        assert counts[f"mma.sync.aligned.{shape}"] == n_mma
        assert counts["ldmatrix.sync.aligned.m8n8.x4.shared"] > 0
    if want < 2 or case == "matmul_partials":  # num_stages=1, or stores in the loop
        assert counts["cp.async.cg.shared.global"] == counts["cp.async.commit_group"] == 0
        assert counts["st.shared.v4"] > 0
        return
    if es == 1:  # only a is copied; 8-bit b is transposed through registers
        stage_bytes = m * k
    assert art["shared"] >= want * stage_bytes and art["shared"] <= cuda_target.max_shared(cc)
    # S-1 iterations copied before the loop, one in it; each thread moves 16-byte chunks
    assert counts["cp.async.commit_group"] == want
    assert counts["cp.async.cg.shared.global"] == want * stage_bytes // 16 // threads
    assert counts["cp.async.ca.shared.global"] == 0
    assert art["wait_groups"] == sorted({0, want - 2})
    if "i8" not in case:
        assert art["shared"] == want * stage_bytes
        assert counts["st.shared"] == 0  # nothing goes through registers


# ---- TMA on sm_90a (tma.py): host-descriptor matmuls ---------------------------------------
TMA_CASES = ("matmul_tma_persistent", "matmul_tma_bt_bf16", "matmul_tma_bt_fp8")


def _tma_expectation(case: str) -> tuple[int, int, int]:
    """(stages, boxes per stage, bytes per stage) of a TMA case."""
    _, _, consts, opts = CASES[case]
    m, n, k = consts["BM"], consts["BN"], consts["BK"]
    es = 1 if "fp8" in case else 2
    a = WgmmaTile(m, k * es, True, opts["num_warps"])
    b = WgmmaTile(n, k * es, True) if "bt" in case else WgmmaTile(k, n * es, False)
    boxes = len(tma_copies(a, es)[1]) + len(tma_copies(b, es)[1])
    return opts["num_stages"], boxes, a.nbytes + b.nbytes


@pytest.mark.skipif(not HAVE_PTXAS, reason="no ptxas")
@pytest.mark.parametrize("case", TMA_CASES)
def test_host_descriptor_dots_use_tma_on_sm90a(compiled: dict, case: str) -> None:
    """sm_90a: every operand copy is a TMA box (none by threads), a 128-byte grid-constant
    tensor map per operand, one mbarrier per stage (init, expect_tx, wait, inval), wgmma, no
    spills; sm_80 compiles the same kernel without any of it."""
    row = compiled[(case, 90)]
    assert row["ok"], row.get("error")
    (art,) = row["artifacts"]
    counts = art["ptx_counts"]
    stages, boxes, stage_bytes = _tma_expectation(case)
    bulk = "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
    assert counts[bulk] == stages * boxes  # S-1 iterations before the loop, one in it
    # the persistent kernel also stores c through its descriptor: a TMA store and a third map
    maps = 3 if case == "matmul_tma_persistent" else 2
    assert counts[".param .align 64 .b8"] == counts["cvta.param"] == maps
    store = "cp.async.bulk.tensor.2d.global.shared::cta.bulk_group"
    assert counts[store] == counts["cp.async.bulk.wait_group.read 0"] == maps - 2
    assert counts["mbarrier.init.shared::cta.b64"] == stages
    assert counts["mbarrier.inval.shared::cta.b64"] == stages
    assert counts["mbarrier.arrive.expect_tx.shared::cta.b64"] == stages
    assert counts["mbarrier.try_wait.parity.shared::cta.b64"] == 1
    assert counts["cp.async.cg.shared.global"] == counts["cp.async.commit_group"] == 0
    assert counts["st.shared"] == 0 or case == "matmul_tma_persistent"  # c staged for TMA
    assert art["wgmma"] and art["n_spills"] == 0
    assert art["tma_used"] == [True] * maps
    assert art["shared"] >= stages * (stage_bytes + 8)
    row80 = compiled[(case, 80)]
    assert row80["ok"], row80.get("error")
    (art80,) = row80["artifacts"]
    assert art80["ptx_counts"][bulk] == art80["ptx_counts"][".param .align 64 .b8"] == 0


@pytest.mark.skipif(not HAVE_PTXAS, reason="no ptxas")
def test_device_descriptors_keep_cp_async(compiled: dict) -> None:
    """``tl.make_tensor_descriptor`` in the kernel: no host tensor map, so the K loop stays a
    cp.async pipeline (on sm_90a into the same wgmma tiles)."""
    (art,) = compiled[("matmul_device_desc", 90)]["artifacts"]
    counts = art["ptx_counts"]
    assert counts["cp.async.cg.shared.global"] > 0 and counts["cp.async.commit_group"] == 3
    assert (
        counts["cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"] == 0
    )
    assert art["wgmma"]


@pytest.mark.skipif(not HAVE_PTXAS, reason="no ptxas")
@pytest.mark.parametrize("case", ["matmul_tf32_wgmma", "matmul_bt_f16", "matmul_bt_fp8_stages_1"])
def test_wgmma_tf32_and_k_major_b(compiled: dict, case: str) -> None:
    """tf32 (both operands K-major: b transposed while staging, rounded with cvt.rna) and a
    b that is ``tl.trans`` of a load (K-major: pipelined by cp.async, or without a pipeline
    staged from the load's registers with 16-byte stores, the transpose never lowered) run as
    wgmma on sm_90a and as mma.sync on sm_80."""
    (art,) = compiled[(case, 90)]["artifacts"]
    want = _wgmma_counts(case, 90)
    assert want is not None
    _check_wgmma(art, want)
    if case == "matmul_bt_f16":  # both operands come from cp.async: no register staging
        assert art["ptx_counts"]["cp.async.commit_group"] == 3
        assert art["ptx_counts"]["st.shared"] == 0
    if case == "matmul_bt_fp8_stages_1":  # only 16-byte staging stores: no transpose
        assert art["ptx_counts"]["st.shared"] == art["ptx_counts"]["st.shared.v4"] > 0
    (art80,) = compiled[(case, 80)]["artifacts"]
    assert not art80["wgmma"]


@pytest.mark.skipif(not HAVE_PTXAS, reason="no ptxas")
def test_wgmma_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """TRITIUM_CUDA_WGMMA=0: the same sm_90a dot runs mma.sync (and is cached apart)."""
    from sample_kernels import compile_case

    from tritium.backends import get_backend

    on_key = get_backend("cuda").target_key()
    monkeypatch.setenv("TRITIUM_CUDA_WGMMA", "0")
    assert get_backend("cuda").target_key() != on_key
    ptx = compile_case("matmul_f16", 90).asm["ptx"]
    assert "wgmma" not in ptx and ptx.count("mma.sync.aligned.m16n8k16") > 0


SCAN_CASES = (
    "cumsum_1d", "cumsum_1d_reverse", "cumsum_1d_small", "cumsum_rows", "cumsum_cols",
    "affine_scan", "cumprod_rows",
)  # fmt: skip


@pytest.mark.skipif(not HAVE_PTXAS, reason="no ptxas")
@pytest.mark.parametrize("case", SCAN_CASES)
def test_scans_use_warp_shuffles(compiled: dict, case: str) -> None:
    """Scans: ``shfl.sync.up`` (``.down`` when reversed) rounds, shared memory only where
    warps split the axis, no local memory."""
    for cc in ARCHS:
        row = compiled[(case, cc)]
        assert row["ok"], row.get("error")
        (art,) = row["artifacts"]
        counts = art["ptx_counts"]
        assert art["cubin"] > 0 and art["n_spills"] == 0 and counts["ld.local"] == 0
        if case == "cumsum_1d_reverse":
            assert counts["shfl.sync.up"] == 0 and counts["shfl.sync"] > 0
        else:
            assert counts["shfl.sync.up"] > 0
        # 1 warp, or the axis within one warp: no shared memory
        assert (art["shared"] == 0) == (case in ("cumsum_rows", "cumprod_rows", "cumsum_1d_small"))


# ---- in-process checks on the vector add ---------------------------------------------------
@triton.jit
def _add(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) + tl.load(y_ptr + offs, mask=m), mask=m)


def _compile_add(cc: int, dtype: str = "fp32", n_div16: bool = True, num_warps: int = 4) -> Any:
    sig = {"x_ptr": f"*{dtype}", "y_ptr": f"*{dtype}", "out_ptr": f"*{dtype}", "n": "i32"}
    attrs: dict[str, Any] = {p: {"tt.divisibility": 16} for p in ("x_ptr", "y_ptr", "out_ptr")}
    if n_div16:
        attrs["n"] = {"tt.divisibility": 16}
    src = ASTSource(_add, sig, {"BLOCK": 1024}, attrs)
    return triton.compile(src, target=GPUTarget("cuda", cc, 32), options={"num_warps": num_warps})


@pytest.mark.parametrize("cc", [80, 89, 90, 100])
def test_targets_give_every_stage(cc: int) -> None:
    k = _compile_add(cc)
    sm = f"sm_{cc}a" if cc in (90, 100) else f"sm_{cc}"
    assert k.metadata["arch"] == sm
    ptx = k.asm["ptx"]
    assert f".target {sm}" in ptx
    ptxas = cuda_target.find_ptxas()
    version = cuda_target.ptxas_version(ptxas) if ptxas else None
    want = cuda_target.ptx_version_for(cc, version)
    assert f".version {want // 10}.{want % 10}" in ptx
    assert "#ttg.blocked<" in k.asm["ttgir"] and "tt.load" in k.asm["ttgir"]
    assert "ptx_kernel" in k.asm["llir"]
    if ptxas:
        assert isinstance(k.asm["cubin"], bytes) and k.asm["cubin"][:4] == b"\x7fELF"


@pytest.mark.parametrize(("dtype", "spt", "per_thread"), [("fp32", 4, 2), ("fp16", 8, 1)])
def test_contiguous_masked_accesses_are_128_bit_and_predicated(
    dtype: str, spt: int, per_thread: int
) -> None:
    k = _compile_add(90, dtype)
    assert f"sizePerThread = [{spt}]" in k.asm["ttgir"]
    ptx = k.asm["ptx"]
    # 1024 elements over 128 threads: per_thread 128-bit accesses per operand, all predicated
    assert ptx.count("ld.global.v4.b32") == 2 * per_thread
    assert ptx.count("st.global.v4.b32") == per_thread
    assert all(line.strip().startswith("@%p") for line in ptx.splitlines() if "ld.global" in line)


def test_unaligned_mask_falls_back_to_scalar_accesses() -> None:
    ptx = _compile_add(90, n_div16=False).asm["ptx"]
    assert "ld.global.v" not in ptx and "ld.global.b32" in ptx


def test_num_warps_is_honoured() -> None:
    k = _compile_add(90, num_warps=8)
    assert k.metadata["num_warps"] == 8
    assert "warpsPerCTA = [8]" in k.asm["ttgir"]
    assert ".maxntid 256" in k.asm["ptx"]  # ptxas sizes registers for 256 threads


@triton.jit
def _publish(x_ptr, y_ptr, BLOCK: tl.constexpr, BARRIER: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(y_ptr + offs, tl.load(x_ptr + offs))
    if BARRIER:
        tl.debug_barrier()  # the stores above are seen by every thread's loads below
    tl.store(x_ptr + offs, tl.load(y_ptr + BLOCK - 1 - offs))


def test_debug_barrier_is_a_cta_barrier() -> None:
    sig = {"x_ptr": "*fp32", "y_ptr": "*fp32"}
    for barrier, count in ((True, 1), (False, 0)):
        src = ASTSource(_publish, sig, {"BLOCK": 1024, "BARRIER": barrier})
        k = triton.compile(src, target=GPUTarget("cuda", 90, 32))
        assert k.asm["ttir"].count("gpu.barrier") == count
        assert k.asm["ptx"].count("bar.sync") == count


@pytest.mark.parametrize("name", list(UNSUPPORTED))
def test_unsupported_op_is_named(name: str) -> None:
    fn, sig, consts, op_name = UNSUPPORTED[name]
    with pytest.raises(NotImplementedError, match=op_name.replace(".", r"\.")):
        triton.compile(ASTSource(fn, sig, consts), target=GPUTarget("cuda", 90, 32))


@triton.jit
def _exp64(x_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.exp(tl.load(x_ptr + offs)))


def test_f64_transcendental_is_refused_not_crashing() -> None:
    src = ASTSource(_exp64, {"x_ptr": "*fp64"}, {"BLOCK": 64})
    with pytest.raises(NotImplementedError, match="math.exp on f64"):
        triton.compile(src, target=GPUTarget("cuda", 80, 32))


# ---- target selection -----------------------------------------------------------------------
def test_ptx_version_fits_ptxas_and_arch() -> None:
    assert cuda_target.ptx_version_for(90, (13, 0)) == 90
    assert cuda_target.ptx_version_for(90, (12, 4)) == 84
    assert cuda_target.ptx_version_for(80, (12, 0)) == 80
    assert cuda_target.ptx_version_for(100, None) == 86  # the driver JITs: oldest accepted
    with pytest.raises(RuntimeError, match="too old for sm_100"):
        cuda_target.ptx_version_for(100, (12, 4))


def test_arch_parsing() -> None:
    assert cuda_target.arch_for("sm_90a").sm == "sm_90a"
    assert cuda_target.arch_for(89).sm == "sm_89"
    with pytest.raises(ValueError, match="compute capability"):
        cuda_target.arch_for(70)


def _fake_ptxas(tmp_path: Any, release: str) -> str:
    path = tmp_path / f"ptxas-{release}"
    path.write_text(f"#!/bin/sh\necho 'Cuda compilation tools, release {release}, V{release}.1'\n")
    path.chmod(0o755)
    return str(path)


def test_ptxas_lookup_order(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ours, theirs = _fake_ptxas(tmp_path, "12.4"), _fake_ptxas(tmp_path, "12.8")
    monkeypatch.setenv("TRITON_PTXAS_PATH", theirs)
    monkeypatch.setenv("TRITIUM_PTXAS_PATH", ours)
    assert cuda_target.find_ptxas() == ours
    assert cuda_target.ptxas_version(ours) == (12, 4)
    monkeypatch.delenv("TRITIUM_PTXAS_PATH")
    assert cuda_target.find_ptxas() == theirs
    monkeypatch.setenv("TRITIUM_PTXAS_PATH", str(tmp_path / "missing"))
    with pytest.raises(RuntimeError, match="not an executable ptxas"):
        cuda_target.find_ptxas()


def test_importing_tritium_loads_no_cuda() -> None:
    code = "import sys, tritium; sys.exit('tritium.backends.cuda' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_bench_script_is_ready_for_a_gpu_session() -> None:
    path = os.path.join(ROOT, "benchmarks", "bench_cuda.py")
    proc = subprocess.run(
        [sys.executable, path, "--list"], capture_output=True, text=True, cwd=ROOT, timeout=300,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "vector_add" in proc.stdout and "matmul" in proc.stdout


def test_conformance_sample_compiles_for_cuda(tmp_path: Any) -> None:
    """The conformance tests of reductions and atomics, run on the CPU with every kernel they
    build also compiled for sm_80 and sm_90a (``shadow_compile.py``): nothing fails except ops
    the backend names as unsupported."""
    out = tmp_path / "shadow.jsonl"
    env = dict(os.environ, PYTHONPATH=ROOT, TRITIUM_SHADOW_OUT=str(out))
    files = [f"tests/language/conformance/test_{n}.py" for n in ("reductions", "atomics")]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
         "-p", "tests.backends.cuda.shadow_compile", *files, "-k", "cpu and not bfloat16"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    errors = [r for r in rows if r["status"] == "error"]
    assert not errors, errors[:3]
    assert len({r["kernel"] for r in rows if r["status"] == "ok"}) >= 10
    for r in rows:
        if r["status"] == "unsupported":
            assert "tt.scan" in r["detail"] or "tt.print" in r["detail"], r
