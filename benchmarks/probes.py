"""Probes that need a process of their own: the first launch of a cached kernel in a new
process, and cold compile times of the tutorial kernels (an empty cache directory).

    python benchmarks/probes.py first-launch   # prints seconds from before `import tritium`
    python benchmarks/probes.py autotune       # prints JSON {compiles, configs, distinct}
    python benchmarks/probes.py compile [--quick]  # JSON {wall|cpu: {kernel: [s per compile]}}

``run.py`` runs these as subprocesses; each prints one line on stdout.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))


def first_launch() -> None:
    """Import tritium, launch a small kernel (from the disk cache when warm), print seconds."""
    import numpy as np

    t_np = time.perf_counter()
    import tritium  # noqa: F401
    from benchmarks import kernels

    x = np.ones(16, np.float32)
    out = np.empty_like(x)
    kernels.add4[(1,)](x, x, out, 16, BLOCK=16)
    assert float(out[3]) == 2.0
    end = time.perf_counter()
    cpu = time.process_time()  # since the process started: less noisy on a shared machine
    llvm = "llvmlite" in sys.modules  # a cached launch needs no LLVM (issue 13)
    print(json.dumps({"total": end - _T0, "after_numpy": end - t_np, "cpu": cpu, "llvmlite": llvm}))


def compile_times(quick: bool) -> None:
    """Compile each tutorial kernel once (cold: the caller gives an empty cache); print times.

    ``quick``: only vector add, softmax and matmul (attention autotunes over several configs)."""
    import numpy as np

    from tritium import compiler

    times: dict[str, list[float]] = {}
    original = compiler.compile

    cpu: dict[str, list[float]] = {}

    def timed(src, target=None, options=None):  # type: ignore[no-untyped-def]
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return original(src, target, options)
        finally:
            times.setdefault(src.name, []).append(time.perf_counter() - t0)
            cpu.setdefault(src.name, []).append(time.thread_time() - c0)

    compiler.compile = timed
    from benchmarks import kernels
    from tutorials import attention, fused_softmax, layer_norm, matmul, rms_norm, vector_add

    # warm LLVM and the compiler's imports: not part of any kernel's compile
    x = np.ones(16, np.float32)
    kernels.add4[(1,)](x, x, np.empty_like(x), 16, BLOCK=16)
    times.clear()
    cpu.clear()
    rng = np.random.default_rng(0)
    v = rng.random(1000, dtype=np.float32)
    vector_add.add(v, v)
    s = rng.standard_normal((64, 100), dtype=np.float32)
    fused_softmax.softmax(s)
    a = rng.standard_normal((64, 64)).astype(np.float16)
    matmul.matmul(a, a)
    if quick:
        print(json.dumps({"wall": times, "cpu": cpu}))
        return
    w = rng.random(100, dtype=np.float32)
    y, mean, rstd = layer_norm.forward(s, w, w)
    layer_norm.backward(s, s, w, mean, rstd)
    rms_norm.rms_norm(s, w)
    q = rng.standard_normal((1, 1, 64, 64), dtype=np.float32)
    attention.attention(q, q, q, causal=True)
    print(json.dumps({"wall": times, "cpu": cpu}))


def autotune_compiles() -> None:
    """Autotune the tutorial matmul over 4 configs that differ only in num_warps/num_stages
    (which the CPU ignores); print how many times the backend compiled."""
    import numpy as np

    import tritium as triton
    from tritium.backends.cpu import CPUBackend
    from tutorials import matmul

    calls = []
    original = CPUBackend.compile

    def counted(self, module, options=None):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(self, module, options)

    CPUBackend.compile = counted  # type: ignore[method-assign]
    meta = {"BLOCK_SIZE_M": 32, "BLOCK_SIZE_N": 32, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8}
    configs = [triton.Config(meta, num_warps=w, num_stages=s) for w in (1, 4) for s in (1, 3)]
    tuned = triton.autotune(configs=configs, key=["M", "N", "K"])(matmul.matmul_kernel.fn)
    a = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float16)
    c = np.empty_like(a)
    grid = (4,)
    tuned[grid](a, a, c, 64, 64, 64, 64, 1, 64, 1, 64, 1, ACTIVATION="")
    print(json.dumps({"compiles": len(calls), "configs": len(configs), "distinct": 1}))


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "first-launch":
        first_launch()
    elif mode == "autotune":
        assert os.environ.get("TRITIUM_CACHE_DIR"), "run with an empty TRITIUM_CACHE_DIR"
        autotune_compiles()
    elif mode == "compile":
        assert os.environ.get("TRITIUM_CACHE_DIR"), "run with an empty TRITIUM_CACHE_DIR"
        compile_times("--quick" in sys.argv)
    else:
        sys.exit(__doc__)
