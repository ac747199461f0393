"""The NVIDIA GPU check and benchmark: correctness first, then one row per kernel.

    python benchmarks/bench_cuda.py            # on a machine with an NVIDIA GPU
    python benchmarks/bench_cuda.py --dry-run  # anywhere: compile every kernel for sm_90a

Each row checks the result against torch (in float64 where it matters) before timing, with
CUDA events (``tritium.backends.cuda.runtime.do_bench``, L2 flushed between runs):

* vector add vs the device's copy bandwidth (``torch`` copy of the same bytes);
* softmax and layer norm vs ``torch.softmax`` / ``F.layer_norm``;
* matmul fp16/bf16 4096^3 (on sm_90a ``wgmma`` from canonical swizzled shared memory, else
  ``mma.sync`` fed by ``ldmatrix``; the K loop pipelined with ``cp.async`` over
  ``num_stages=3``) vs ``torch.mm`` (cuBLAS), and on sm_90a the same fp16 matmul with
  ``TRITIUM_CUDA_WGMMA=0`` (``mma.sync``) for comparison; int8 (``.s8``) vs
  ``torch._int_mm``; fp8 e4m3 (``.e4m3``, sm_89+) vs ``torch._scaled_mm``;
* matmul fp16 4096^3 through host-side tensor descriptors (tutorial 09's persistent kernel):
  on sm_90a the operands arrive by TMA (``cp.async.bulk.tensor`` + mbarriers) vs ``torch.mm``;
* ``tl.cumsum`` along rows of a 4096x4096 fp32 tensor vs ``torch.cumsum``;
* flash attention forward (the tutorial's kernel, causal fp16) vs
  ``F.scaled_dot_product_attention``.

The script is meant for a short GPU lease: it prints the device, then a row per benchmark,
and never stops at the first failure (a failing check prints FAIL and the error).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tritium as triton  # noqa: E402
import tritium.language as tl  # noqa: E402
from tutorials import attention, fused_softmax, layer_norm, vector_add  # noqa: E402


@triton.jit
def _matmul(a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    a_ptrs = a_ptr + rm[:, None] * K + rk[None, :]
    b_ptrs = b_ptr + rk[:, None] * N + rn[None, :]
    acc = tl.zeros((BM, BN), c_ptr.dtype.element_ty)
    for _ in range(0, K, BK):
        acc = tl.dot(tl.load(a_ptrs), tl.load(b_ptrs), acc)
        a_ptrs += BK
        b_ptrs += BK * N
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc)


@triton.jit
def _matmul_tma(a_desc, b_desc, c_desc, M, N, K, BM: tl.constexpr, BN: tl.constexpr,
                BK: tl.constexpr, NUM_SMS: tl.constexpr):  # fmt: skip
    # tutorial 09's persistent matmul: one program per SM walks the output tiles
    num_n = tl.cdiv(N, BN)
    for tile in tl.range(tl.program_id(0), tl.cdiv(M, BM) * num_n, NUM_SMS, flatten=True):
        pm = tile // num_n
        pn = tile % num_n
        acc = tl.zeros((BM, BN), tl.float32)
        for ki in range(tl.cdiv(K, BK)):
            acc = tl.dot(a_desc.load([pm * BM, ki * BK]), b_desc.load([ki * BK, pn * BN]), acc)
        c_desc.store([pm * BM, pn * BN], acc.to(tl.float16))


@triton.jit
def _cumsum_rows(x_ptr, y_ptr, N: tl.constexpr):
    offs = tl.program_id(0) * N + tl.arange(0, N)
    tl.store(y_ptr + offs, tl.cumsum(tl.load(x_ptr + offs), axis=0))


def _row(name: str, status: str, ours_ms: float | None = None, ref_ms: float | None = None,
         note: str = "") -> None:  # fmt: skip
    if ours_ms is None or ref_ms is None:
        print(f"{name:<28} {status:<12} {note}", flush=True)
        return
    print(
        f"{name:<28} {status:<12} tritium {ours_ms * 1e3:9.1f} us   ref {ref_ms * 1e3:9.1f} us   "
        f"ratio {ref_ms / ours_ms:5.2f}x  {note}",
        flush=True,
    )


def _run(name: str, fn: Callable[[], tuple[float, float, str]]) -> None:
    try:
        ours, ref, note = fn()
        _row(name, "ok", ours, ref, note)
    except NotImplementedError as e:
        _row(name, "unsupported", note=str(e))
    except Exception as e:  # noqa: BLE001 - report and go on to the next row
        _row(name, "FAIL", note=f"{type(e).__name__}: {e}")
        traceback.print_exc(limit=4)


def bench_vector_add(torch: Any, bench: Any) -> tuple[float, float, str]:
    n = 1 << 27
    x, y = torch.randn(n, device="cuda"), torch.randn(n, device="cuda")
    out = torch.full_like(x, float("nan"))
    grid = (triton.cdiv(n, 1024),)

    def run() -> None:
        vector_add.add_kernel[grid](x, y, out, n, BLOCK_SIZE=1024)

    run()
    torch.testing.assert_close(out, x + y)
    src = torch.empty(3 * n, device="cuda")
    dst = torch.empty_like(src)
    ours, ref = bench(run), bench(lambda: dst.copy_(src))  # same 12 bytes per element moved
    gbps = 3 * n * 4 / (ours * 1e-3) / 1e9
    return ours, ref, f"{gbps:.0f} GB/s; ratio = fraction of copy bandwidth (goal >= 0.9)"


def bench_softmax(torch: Any, bench: Any) -> tuple[float, float, str]:
    m, n = 4096, 4096
    x = torch.randn(m, n, device="cuda")
    y = torch.full_like(x, float("nan"))

    def run() -> None:
        fused_softmax.softmax_kernel[(m,)](y, x, n, n, m, n, BLOCK_SIZE=n, num_stages=2,
                                           num_warps=8)  # fmt: skip

    run()
    torch.testing.assert_close(y, torch.softmax(x.double(), 1).float())
    return bench(run), bench(lambda: torch.softmax(x, 1)), "goal >= 1x"


def bench_layer_norm(torch: Any, bench: Any) -> tuple[float, float, str]:
    m, n = 4096, 4096
    x = torch.randn(m, n, device="cuda", dtype=torch.float16)
    w = torch.randn(n, device="cuda", dtype=torch.float16)
    b = torch.randn(n, device="cuda", dtype=torch.float16)
    y = torch.full_like(x, float("nan"))
    mean = torch.empty(m, device="cuda")
    rstd = torch.empty(m, device="cuda")

    def run() -> None:
        layer_norm._layer_norm_fwd_fused[(m,)](x, y, w, b, mean, rstd, n, n, 1e-5,
                                               BLOCK_SIZE=n, num_warps=8)  # fmt: skip

    run()
    ref = torch.nn.functional.layer_norm(x.double(), (n,), w.double(), b.double(), 1e-5)
    torch.testing.assert_close(y, ref.half(), rtol=1e-2, atol=1e-2)
    fn = torch.nn.functional.layer_norm
    return bench(run), bench(lambda: fn(x, (n,), w, b, 1e-5)), "goal >= 1x"


def bench_matmul(
    torch: Any, bench: Any, dtype: Any, kernel: Any = None
) -> tuple[float, float, str]:
    kernel = kernel or _matmul
    n = 4096
    a = torch.randn(n, n, device="cuda", dtype=dtype)
    b = torch.randn(n, n, device="cuda", dtype=dtype)
    c = torch.full((n, n), float("nan"), device="cuda")
    bm, bn, bk = 128, 128, 32

    def run() -> None:
        kernel[(n // bm, n // bn)](a, b, c, n, n, n, BM=bm, BN=bn, BK=bk, num_warps=8,
                                   num_stages=3)  # fmt: skip

    return _check_and_time_matmul(torch, bench, run, a, b, c)


def _check_and_time_matmul(
    torch: Any, bench: Any, run: Callable[[], None], a: Any, b: Any, c: Any
) -> tuple[float, float, str]:
    """Run once, check ``c`` against float64 ``a @ b``, then time ``run`` and ``torch.mm``."""
    run()
    torch.testing.assert_close(c, (a.double() @ b.double()).to(c.dtype), rtol=1e-2, atol=0.5)
    ours = bench(run)
    tflops = 2 * a.shape[0] * a.shape[1] * b.shape[1] / (ours * 1e-3) / 1e12
    return ours, bench(lambda: torch.mm(a, b)), f"{tflops:.0f} TFLOP/s; goal >= 0.8x cuBLAS"


def bench_matmul_tma(torch: Any, bench: Any) -> tuple[float, float, str]:
    """The persistent fp16 matmul through host descriptors (TMA on sm_90a)."""
    from tritium.runtime.tensor_descriptor import TensorDescriptor

    n, bm, bn, bk = 4096, 128, 128, 64
    a = torch.randn(n, n, device="cuda", dtype=torch.float16)
    b = torch.randn(n, n, device="cuda", dtype=torch.float16)
    c = torch.full((n, n), float("nan"), device="cuda", dtype=torch.float16)
    descs = [TensorDescriptor.from_tensor(a, [bm, bk]), TensorDescriptor.from_tensor(b, [bk, bn]),
             TensorDescriptor.from_tensor(c, [bm, bn])]  # fmt: skip
    sms = torch.cuda.get_device_properties(0).multi_processor_count

    def run() -> None:
        _matmul_tma[(sms,)](*descs, n, n, n, BM=bm, BN=bn, BK=bk, NUM_SMS=sms, num_warps=8,
                            num_stages=3)  # fmt: skip

    return _check_and_time_matmul(torch, bench, run, a, b, c)


def bench_matmul_mma_sync(torch: Any, bench: Any) -> tuple[float, float, str]:
    """The fp16 matmul compiled with TRITIUM_CUDA_WGMMA=0 (mma.sync) on sm_90a: wgmma's gain."""
    from tritium.backends.cuda import runtime

    if runtime.compute_capability() != 90:
        raise NotImplementedError("wgmma exists on sm_90a only: nothing to compare")
    os.environ["TRITIUM_CUDA_WGMMA"] = "0"
    try:  # a fresh kernel object: its own in-memory cache (the disk cache key differs too)
        return bench_matmul(torch, bench, torch.float16, triton.jit(_matmul.fn))
    finally:
        del os.environ["TRITIUM_CUDA_WGMMA"]


def bench_matmul_int8(torch: Any, bench: Any) -> tuple[float, float, str]:
    n = 4096
    a = torch.randint(-128, 128, (n, n), device="cuda", dtype=torch.int8)
    b = torch.randint(-128, 128, (n, n), device="cuda", dtype=torch.int8)
    c = torch.full((n, n), -(2**31), device="cuda", dtype=torch.int32)

    def run() -> None:
        _matmul[(n // 128, n // 128)](a, b, c, n, n, n, BM=128, BN=128, BK=64, num_warps=8,
                                      num_stages=3)  # fmt: skip

    run()
    ref = torch._int_mm(a, b)
    assert torch.equal(c, ref), "int8 matmul differs from torch._int_mm"
    ours = bench(run)
    tops = 2 * n**3 / (ours * 1e-3) / 1e12
    return ours, bench(lambda: torch._int_mm(a, b)), f"{tops:.0f} TOP/s vs torch._int_mm"


def bench_matmul_fp8(torch: Any, bench: Any) -> tuple[float, float, str]:
    from tritium.backends.cuda import runtime

    if runtime.compute_capability() < 89:
        raise NotImplementedError("fp8 tensor cores need sm_89+")
    n = 4096
    a = torch.randn(n, n, device="cuda").to(torch.float8_e4m3fn)
    b = torch.randn(n, n, device="cuda").to(torch.float8_e4m3fn)
    c = torch.full((n, n), float("nan"), device="cuda")

    def run() -> None:
        _matmul[(n // 128, n // 128)](a, b, c, n, n, n, BM=128, BN=128, BK=64, num_warps=8,
                                      num_stages=3)  # fmt: skip

    run()
    torch.testing.assert_close(c, (a.double() @ b.double()).float(), rtol=1e-3, atol=0.05)
    one = torch.ones((), device="cuda")
    bt = b.t().contiguous().t()  # _scaled_mm wants b column-major

    def ref() -> Any:
        return torch._scaled_mm(a, bt, scale_a=one, scale_b=one, out_dtype=torch.float32)

    ours = bench(run)
    tflops = 2 * n**3 / (ours * 1e-3) / 1e12
    return ours, bench(ref), f"{tflops:.0f} TFLOP/s vs torch._scaled_mm"


def bench_cumsum(torch: Any, bench: Any) -> tuple[float, float, str]:
    m, n = 4096, 4096
    x = torch.randn(m, n, device="cuda")
    y = torch.full_like(x, float("nan"))

    def run() -> None:
        _cumsum_rows[(m,)](x, y, N=n, num_warps=8)

    run()
    torch.testing.assert_close(y, x.double().cumsum(1).float(), rtol=1e-4, atol=1e-3)
    return bench(run), bench(lambda: torch.cumsum(x, 1)), "warp shuffles + shared memory"


def bench_attention(torch: Any, bench: Any) -> tuple[float, float, str]:
    b, h, n, d = 4, 16, 4096, 64
    q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
    fwd = attention._attn_fwd.fn

    def run() -> Any:
        return attention.launch(fwd, q, k, v, True, None, BLOCK_M=128, BLOCK_N=64, num_warps=8)

    ref = torch.nn.functional.scaled_dot_product_attention
    torch.testing.assert_close(
        run(), ref(q.float(), k.float(), v.float(), is_causal=True).half(), atol=2e-2, rtol=2e-2
    )
    ours = bench(run)
    return ours, bench(lambda: ref(q, k, v, is_causal=True)), "causal fp16; goal >= 0.7x"


ROWS = (
    "vector_add fp32 2^27",
    "softmax fp32 4096x4096",
    "layer_norm fp16 4096x4096",
    "matmul fp16 4096^3",
    "matmul bf16 4096^3",
    "flash attention fwd fp16 causal 4x16x4096x64",
    "matmul int8 4096^3",
    "matmul fp8e4 4096^3",
    "cumsum fp32 4096x4096 rows",
    "matmul fp16 4096^3 mma.sync (TRITIUM_CUDA_WGMMA=0)",
    "matmul fp16 4096^3 persistent, tensor descriptors (TMA on sm_90a)",
)


def dry_run() -> int:
    """Compile the benchmark kernels for sm_90a without a GPU and list the rows."""
    os.environ.setdefault("TRITIUM_CUDA_ARCH", "90")
    from tritium.compiler import ASTSource, GPUTarget

    target = GPUTarget("cuda", 90, 32)
    kernels = {
        "vector_add": (vector_add.add_kernel, ["*fp32"] * 3 + ["i32"], {"BLOCK_SIZE": 1024}),
        "softmax": (fused_softmax.softmax_kernel, ["*fp32", "*fp32", "i32", "i32", "i32", "i32"],
                    {"BLOCK_SIZE": 4096, "num_stages": 2}),
        "layer_norm": (layer_norm._layer_norm_fwd_fused,
                       ["*fp16"] * 4 + ["*fp32"] * 2 + ["i32", "i32", "fp32"],
                       {"BLOCK_SIZE": 4096}),
    }  # fmt: skip
    for name, (fn, types, consts) in kernels.items():
        sig = dict(zip([a for a in fn.arg_names if a not in consts], types, strict=True))
        t0 = time.perf_counter()
        k = triton.compile(ASTSource(fn, sig, consts), target=target, options={"num_warps": 8})
        _row(name, "compiled", note=f"{k.metadata['n_regs']} regs, {k.metadata['shared']} B smem, "
             f"{time.perf_counter() - t0:.2f} s")  # fmt: skip
    # every argument divisible by 16, as the JIT specializes a 4096^3 launch (aligned rows:
    # the K loop is pipelined with cp.async)
    for dtype, acc, bk in (("fp16", "fp32", 32), ("bf16", "fp32", 32), ("i8", "i32", 64),
                           ("fp8e4nv", "fp32", 64)):  # fmt: skip
        t0 = time.perf_counter()
        sig = {"a_ptr": f"*{dtype}", "b_ptr": f"*{dtype}", "c_ptr": f"*{acc}"}
        sig.update(M="i32", N="i32", K="i32")
        consts = {"BM": 128, "BN": 128, "BK": bk}
        attrs = {p: {"tt.divisibility": 16} for p in sig}
        k = triton.compile(ASTSource(_matmul, sig, consts, attrs), target=target,
                           options={"num_warps": 8, "num_stages": 3})  # fmt: skip
        ptx = k.asm["ptx"]
        _row(f"matmul {dtype}", "compiled", note=f"{k.metadata['n_regs']} regs, "
             f"{k.metadata['n_spills']} B spilled, {k.metadata['shared']} B smem, "
             f"{ptx.count('cp.async.cg')} cp.async, {ptx.count('ldmatrix')} ldmatrix, "
             f"{ptx.count('mma.sync')} mma, {ptx.count('wgmma.mma_async')} wgmma, "
             f"{time.perf_counter() - t0:.2f} s")  # fmt: skip
    t0 = time.perf_counter()
    desc = {"a_desc": "tensordesc<fp16[128,64]>", "b_desc": "tensordesc<fp16[64,128]>",
            "c_desc": "tensordesc<fp16[128,128]>", "M": "i32", "N": "i32", "K": "i32"}  # fmt: skip
    k = triton.compile(ASTSource(_matmul_tma, desc, {"BM": 128, "BN": 128, "BK": 64,
                                                     "NUM_SMS": 132}),
                       target=target, options={"num_warps": 8, "num_stages": 3})  # fmt: skip
    ptx = k.asm["ptx"]
    _row("matmul fp16 TMA", "compiled", note=f"{k.metadata['n_regs']} regs, "
         f"{k.metadata['n_spills']} B spilled, {k.metadata['shared']} B smem, "
         f"{ptx.count('cp.async.bulk.tensor')} TMA boxes, {len(k.metadata['tma'])} tensor maps, "
         f"{ptx.count('wgmma.mma_async')} wgmma, {time.perf_counter() - t0:.2f} s")  # fmt: skip
    t0 = time.perf_counter()
    k = triton.compile(ASTSource(_cumsum_rows, {"x_ptr": "*fp32", "y_ptr": "*fp32"}, {"N": 4096}),
                       target=target, options={"num_warps": 8})  # fmt: skip
    _row("cumsum", "compiled", note=f"{k.metadata['n_regs']} regs, {k.metadata['shared']} B "
         f"smem, {time.perf_counter() - t0:.2f} s")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    """Check then benchmark on the current GPU (or ``--dry-run``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="compile only (no GPU needed)")
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name in ROWS:
            print(name)
        return 0
    if args.dry_run:
        return dry_run()
    import torch

    from tritium.backends.cuda import runtime

    if not runtime.available() or not torch.cuda.is_available():
        print("no CUDA device: nothing to benchmark (try --dry-run)")
        return 1
    os.environ["TRITIUM_BACKEND"] = "cuda"
    print(f"device: {torch.cuda.get_device_name()} (sm_{runtime.compute_capability()})")
    bench = runtime.do_bench
    _run(ROWS[0], lambda: bench_vector_add(torch, bench))
    _run(ROWS[1], lambda: bench_softmax(torch, bench))
    _run(ROWS[2], lambda: bench_layer_norm(torch, bench))
    _run(ROWS[3], lambda: bench_matmul(torch, bench, torch.float16))
    _run(ROWS[4], lambda: bench_matmul(torch, bench, torch.bfloat16))
    _run(ROWS[5], lambda: bench_attention(torch, bench))
    _run(ROWS[6], lambda: bench_matmul_int8(torch, bench))
    _run(ROWS[7], lambda: bench_matmul_fp8(torch, bench))
    _run(ROWS[8], lambda: bench_cumsum(torch, bench))
    _run(ROWS[9], lambda: bench_matmul_mma_sync(torch, bench))
    _run(ROWS[10], lambda: bench_matmul_tma(torch, bench))
    return 0


if __name__ == "__main__":
    sys.exit(main())
