"""tritium's interpreter against Triton's interpreter, on the same kernels and CPU tensors.

    python benchmarks/bench_interpreter.py [--triton-path DIR] [--repeat N] [--rounds N]
        [--baseline OTHER_CHECKOUT]

Each side runs in its own subprocess (so the real ``triton`` never meets tritium's alias):
tritium with ``install_as_triton()`` and ``TRITIUM_INTERPRET=1``, Triton with
``TRITON_INTERPRET=1``.  The kernels are the same source, written against ``import triton``.
Triton comes from PyPI (``pip install triton``); to keep it out of the environment tritium's
tests use, install it elsewhere (``pip install --no-deps --target DIR triton``) and pass
``--triton-path DIR``.  Prints one table: per kernel the first launch in a new process and
the best of ``--repeat`` later launches, each the best over ``--rounds`` turns of each side,
the ratios Triton / tritium, and their geometric means over the multi-program kernels; the
loop kernels' rows also give the time per loop iteration (wall, and tritium's CPU time, which a
shared machine disturbs less).  ``--baseline DIR`` runs another
tritium checkout in the same turns (before/after rows).  Results on a shared 2-core host are
in docs/debugging.md ("Interpreter speed").  Not part of CI.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import subprocess
import sys
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------------------
# worker: runs in a subprocess with either implementation imported as `triton`


def _worker(impl: str, repeat: int, root: str) -> None:
    if impl == "tritium":
        sys.path.insert(0, root)
        os.environ["TRITIUM_INTERPRET"] = "1"
        import tritium

        tritium.install_as_triton()
    else:
        os.environ["TRITON_INTERPRET"] = "1"
    import torch
    import triton
    import triton.language as tl

    @triton.jit
    def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(
            out_ptr + offs, tl.load(x_ptr + offs, mask=m) + tl.load(y_ptr + offs, mask=m), mask=m
        )

    @triton.jit
    def softmax_kernel(out_ptr, in_ptr, stride, n_cols, BLOCK: tl.constexpr):
        row = tl.program_id(0)
        offs = tl.arange(0, BLOCK)
        m = offs < n_cols
        x = tl.load(in_ptr + row * stride + offs, mask=m, other=-float("inf"))
        e = tl.exp(x - tl.max(x, axis=0))
        tl.store(out_ptr + row * stride + offs, e / tl.sum(e, axis=0), mask=m)

    @triton.jit
    def matmul_kernel(
        a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr
    ):
        pid = tl.program_id(0)
        num_n = tl.cdiv(N, BN)
        rm = (pid // num_n) * BM + tl.arange(0, BM)
        rn = (pid % num_n) * BN + tl.arange(0, BN)
        rk = tl.arange(0, BK)
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for k in range(0, K, BK):
            a = tl.load(a_ptr + rm[:, None] * K + (k + rk)[None, :])
            b = tl.load(b_ptr + (k + rk)[:, None] * N + rn[None, :])
            acc += tl.dot(a, b)
        tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc)

    @triton.jit
    def mask_loop_kernel(in_ptr, out_ptr, n, BLOCK: tl.constexpr):
        # one program walking the whole array (triton-shared's test_mask_loop pattern)
        offs = tl.arange(0, BLOCK)
        for i in range(0, n, BLOCK):
            m = i + offs < n
            x = tl.load(in_ptr + i + offs, mask=m, other=0.0)
            tl.store(out_ptr + i + offs, x * 2.0 + 1.0, mask=m)

    @triton.jit
    def sum_loop_kernel(in_ptr, out_ptr, n, BLOCK: tl.constexpr):
        # a value carried between iterations: each iteration needs the previous one's sum
        offs = tl.arange(0, BLOCK)
        acc = tl.zeros((BLOCK,), dtype=tl.float32)
        for i in range(0, n, BLOCK):
            acc += tl.load(in_ptr + i + offs, mask=i + offs < n, other=0.0)
        tl.store(out_ptr + offs, acc)

    @triton.jit
    def pointer_loop_kernel(in_ptr, out_ptr, sum_ptr, n, BLOCK: tl.constexpr):
        # loads and stores through carried pointers (`p += BLOCK`), an accumulator too
        offs = tl.arange(0, BLOCK)
        p = in_ptr + offs
        q = out_ptr + offs
        acc = tl.zeros((BLOCK,), dtype=tl.float32)
        for i in range(0, n, BLOCK):
            m = i + offs < n
            x = tl.load(p, mask=m, other=0.0)
            acc += x
            tl.store(q, x * 2.0 + 1.0, mask=m)
            p += BLOCK
            q += BLOCK
        tl.store(sum_ptr + offs, acc)

    @triton.jit
    def tutorial_matmul_kernel(
        a_ptr, b_ptr, c_ptr, M, N, K, stride_am, stride_ak, stride_bk, stride_bn,
        BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
    ):  # fmt: skip
        # Triton's tutorial 03 K loop: pointers advanced by BLOCK_K * stride every iteration
        pid = tl.program_id(0)
        num_n = tl.cdiv(N, BN)
        offs_am = ((pid // num_n) * BM + tl.arange(0, BM)) % M
        offs_bn = ((pid % num_n) * BN + tl.arange(0, BN)) % N
        offs_k = tl.arange(0, BK)
        a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak)
        b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn)
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for k in range(0, tl.cdiv(K, BK)):
            a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BK, other=0.0)
            b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BK, other=0.0)
            acc = tl.dot(a, b, acc)
            a_ptrs += BK * stride_ak
            b_ptrs += BK * stride_bk
        rm = (pid // num_n) * BM + tl.arange(0, BM)
        rn = (pid % num_n) * BN + tl.arange(0, BN)
        tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc)

    @triton.jit
    def block_ptr_kernel(in_ptr, out_ptr, R, C, BR: tl.constexpr, BC: tl.constexpr):
        # a block pointer advanced with tl.advance, boundary-checked loads
        src = tl.make_block_ptr(in_ptr, (R, C), (C, 1), (0, 0), (BR, BC), (1, 0))
        acc = tl.zeros((BR, BC), dtype=tl.float32)
        for _ in range(0, C, BC):
            acc += tl.load(src, boundary_check=(0, 1), padding_option="zero")
            src = tl.advance(src, (0, BC))
        o = tl.arange(0, BR)[:, None] * BC + tl.arange(0, BC)[None, :]
        tl.store(out_ptr + o, acc)

    torch.manual_seed(0)
    n = 1 << 20
    x, y = torch.randn(n), torch.randn(n)
    out = torch.empty(n)
    rows, cols = 1024, 512
    s_in = torch.randn(rows, cols)
    s_out = torch.empty(rows, cols)
    mm = 256
    a, b = torch.randn(mm, mm, dtype=torch.float16), torch.randn(mm, mm, dtype=torch.float16)
    c = torch.empty(mm, mm)
    iters = 500
    lp_in = torch.randn(iters * 32 - 5)
    lp_out = torch.empty_like(lp_in)
    sum_out = torch.empty(32)
    ptr_out, ptr_sum = torch.empty_like(lp_in), torch.empty(32)
    tk = 32 * 64  # the tutorial matmul's K: 64 iterations of BK = 32
    ta, tb = torch.randn(32, tk, dtype=torch.float16), torch.randn(tk, 32, dtype=torch.float16)
    tc = torch.empty(32, 32)
    bp_in = torch.randn(16, 16 * iters)
    bp_out = torch.empty(16, 16)
    block_name = f"block pointer loop ({iters} iterations)"

    # name -> (launch, programs, loop iterations per program)
    cases: dict[str, tuple[Any, int, int]] = {
        "vector add 2^20 (1024 programs)": (
            lambda: add_kernel[(n // 1024,)](x, y, out, n, BLOCK=1024),
            n // 1024,
            0,
        ),
        f"softmax {rows}x{cols} ({rows} programs)": (
            lambda: softmax_kernel[(rows,)](s_out, s_in, cols, cols, BLOCK=512),
            rows,
            0,
        ),
        f"matmul fp16 {mm}^3 ({(mm // 32) ** 2} programs)": (
            lambda: matmul_kernel[((mm // 32) ** 2,)](a, b, c, mm, mm, mm, BM=32, BN=32, BK=32),
            (mm // 32) ** 2,
            mm // 32,
        ),
        f"mask loop ({iters} iterations, 1 program)": (
            lambda: mask_loop_kernel[(1,)](lp_in, lp_out, lp_in.numel(), BLOCK=32),
            1,
            iters,
        ),
        f"sum loop ({iters} iterations, 1 program)": (
            lambda: sum_loop_kernel[(1,)](lp_in, sum_out, lp_in.numel(), BLOCK=32),
            1,
            iters,
        ),
        f"pointer loop ({iters} iterations, 1 program)": (
            lambda: pointer_loop_kernel[(1,)](lp_in, ptr_out, ptr_sum, lp_in.numel(), BLOCK=32),
            1,
            iters,
        ),
        "tutorial matmul (64 K iterations)": (
            lambda: tutorial_matmul_kernel[(1,)](
                ta, tb, tc, 32, 32, tk, tk, 1, 32, 1, BM=32, BN=32, BK=32
            ),
            1,
            tk // 32,
        ),
        block_name: (
            lambda: block_ptr_kernel[(1,)](bp_in, bp_out, 16, 16 * iters, BR=16, BC=16),
            1,
            iters,
        ),
    }
    stats: Any = None
    if impl == "tritium":
        try:
            from tritium.interpreter import loops

            stats = loops.STATS
        except ImportError:  # a --baseline checkout from before record-and-replay
            pass
    results = {}
    skipped: dict[str, str] = {}
    for name, (run, programs, iterations) in cases.items():
        replayed = stats["replayed"] if stats is not None else 0
        t0 = time.perf_counter()
        try:
            run()  # the first launch (and correctness below)
        except Exception as e:  # Triton 3.9's interpreter has no block pointers
            skipped[name] = f"{type(e).__name__}: {str(e)[:100]}"
            continue
        first = time.perf_counter() - t0
        best = best_cpu = float("inf")
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            run()
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        results[name] = {
            "first": first,
            "seconds": best,
            "cpu_seconds": best_cpu,
            "programs": programs,
            "iterations": iterations,
            # loop iterations tritium replayed from a recording (loops.py), per launch
            "replayed": ((stats["replayed"] - replayed) // (repeat + 1)) if stats else 0,
        }
    ok = (
        torch.allclose(out, x + y)
        and torch.allclose(s_out, torch.softmax(s_in, 1), atol=1e-6)
        and torch.allclose(c, a.float() @ b.float(), atol=1e-2, rtol=1e-2)
        and torch.allclose(lp_out, lp_in * 2.0 + 1.0)
        and torch.allclose(
            sum_out, torch.nn.functional.pad(lp_in, (0, 5)).view(-1, 32).sum(0), atol=1e-3
        )
        and torch.allclose(ptr_out, lp_in * 2.0 + 1.0)
        and torch.equal(ptr_sum, sum_out)
        and torch.allclose(tc, ta.float() @ tb.float(), atol=1e-2, rtol=1e-2)
        and (
            block_name in skipped
            or torch.allclose(bp_out, bp_in.view(16, iters, 16).sum(1), atol=1e-3)
        )
    )
    print(json.dumps({"results": results, "correct": bool(ok), "skipped": skipped}))


# ----------------------------------------------------------------------------------------
# driver


def _byte_compile(root: str) -> None:
    """Write tritium's ``.pyc`` files first, as an installed package has them (pip compiles
    Triton's at install time): a first launch should not include compiling Python sources,
    which ``PYTHONDONTWRITEBYTECODE`` would otherwise repeat in every process."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", os.path.join(root, "tritium")],
        env=env,
        check=False,
        capture_output=True,
    )


def _run_side(
    impl: str, repeat: int, triton_path: str | None, root: str | None = None
) -> dict[str, Any] | str:
    if impl == "tritium":
        _byte_compile(root or str(ROOT))
    env = dict(os.environ)
    env.pop("TRITIUM_INTERPRET", None)
    env.pop("TRITON_INTERPRET", None)
    if impl == "triton" and triton_path:
        env["PYTHONPATH"] = triton_path + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", impl, "--repeat", str(repeat)]
        + (["--root", root] if root else []),
        capture_output=True,
        text=True,
        env=env,
        cwd=str(ROOT),
    )
    if proc.returncode != 0:
        return proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _best(a: dict[str, Any] | str | None, b: dict[str, Any] | str) -> dict[str, Any] | str:
    """Per kernel, the lower first-launch and warm times of two rounds of one side."""
    if not isinstance(a, dict):
        return b
    if not isinstance(b, dict):
        return a
    out = {"results": {}, "correct": a["correct"] and b["correct"], "skipped": a.get("skipped")}
    for name, ra in a["results"].items():
        rb = b["results"].get(name, ra)
        out["results"][name] = dict(
            ra,
            first=min(ra["first"], rb["first"]),
            seconds=min(ra["seconds"], rb["seconds"]),
            cpu_seconds=min(ra.get("cpu_seconds", math.inf), rb.get("cpu_seconds", math.inf)),
        )
    return out


def _cpu_note(r: dict[str, Any], div: int, per_loop: bool) -> str:
    """The loop kernel's CPU time per iteration (``time.process_time``): on a shared machine
    it varies far less than the wall time, which includes the time other jobs run."""
    cpu = r.get("cpu_seconds")
    if not per_loop or cpu is None or not math.isfinite(cpu):
        return ""
    return f"  (CPU {cpu / div * 1e6:.1f} us/iteration)"


def _gmean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--triton-path",
        default=os.environ.get("TRITON_PATH"),
        help="a directory holding the real triton package (pip install --target)",
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2, help="turns each side takes (best kept)")
    ap.add_argument(
        "--baseline", help="another tritium checkout, run too (before/after rows in one run)"
    )
    ap.add_argument("--root", help="the tritium checkout to measure (default: this one)")
    ap.add_argument("--worker", choices=["tritium", "triton"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args.worker, args.repeat, args.root or str(ROOT))
        return
    # The sides take turns, each round in new processes, and each number is the best over the
    # rounds: on a shared machine the load changes within minutes, and one side measured in a
    # quiet minute and the other in a busy one would make a ratio of the load, not the code.
    base: dict[str, Any] | str | None = None
    ours: dict[str, Any] | str = "not run"
    theirs: dict[str, Any] | str = "not run"
    for _ in range(max(1, args.rounds)):
        if args.baseline:
            base = _best(base, _run_side("tritium", args.repeat, None, args.baseline))
        ours = _best(ours, _run_side("tritium", args.repeat, None, args.root))
        theirs = _best(theirs, _run_side("triton", args.repeat, args.triton_path))
    if isinstance(ours, str):
        raise SystemExit(f"tritium side failed: {ours}")
    print(
        f"{'kernel':<38} {'tritium first':>13} {'warm':>9} {'triton first':>12} {'warm':>9} "
        f"{'first x':>8} {'warm x':>7}  per program / iteration (tritium | triton)"
    )
    first_ratios, warm_ratios = [], []
    for name, r in ours["results"].items():
        tr = theirs["results"].get(name) if isinstance(theirs, dict) else None
        row = f"{name:<38} {r['first'] * 1e3:>11.1f}ms {r['seconds'] * 1e3:>7.1f}ms"
        if tr is not None:
            fx, wx = tr["first"] / r["first"], tr["seconds"] / r["seconds"]
            row += f" {tr['first'] * 1e3:>10.1f}ms {tr['seconds'] * 1e3:>7.1f}ms"
            row += f" {fx:>7.1f}x {wx:>6.1f}x"
            if r["programs"] > 1:
                first_ratios.append(fx)
                warm_ratios.append(wx)
        else:
            row += f" {'-':>12} {'-':>9} {'-':>8} {'-':>7}"
        per_loop = r["programs"] == 1 and r["iterations"] > 0
        div = r["iterations"] if per_loop else r["programs"]
        row += f"  {'us/iteration' if per_loop else 'us/program'} {r['seconds'] / div * 1e6:.1f}"
        if tr is not None:
            row += f" | {tr['seconds'] / div * 1e6:.1f}"
        if per_loop and r.get("replayed"):
            row += f"  [{r['replayed']} of {r['iterations']} replayed]"
        print(row + _cpu_note(r, div, per_loop))
        if isinstance(base, dict) and name in base["results"]:
            b = base["results"][name]
            bf, bw = b["first"] * 1e3, b["seconds"] * 1e3
            print(
                f"{'  (baseline tritium)':<38} {bf:>11.1f}ms {bw:>7.1f}ms"
                + _cpu_note(b, div, per_loop)
            )
    if first_ratios:
        print(
            "geometric mean speed-up over multi-program kernels: first launch "
            f"{_gmean(first_ratios):.1f}x, warm {_gmean(warm_ratios):.1f}x"
        )
    print(f"tritium results correct: {ours['correct']}")
    if isinstance(theirs, dict):
        print(f"triton results correct: {theirs['correct']}")
        for name, why in (theirs.get("skipped") or {}).items():
            print(f"triton did not run {name}: {why}")
    else:
        print(
            f"triton interpreter not run ({theirs}); pip install --no-deps --target DIR triton "
            "and pass --triton-path DIR"
        )


if __name__ == "__main__":
    main()
