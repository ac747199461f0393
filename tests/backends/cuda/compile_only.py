"""Compile kernels for a CUDA target on a machine without a GPU (used by the tests).

:func:`compiling_for` sends launches to the CUDA backend for compute capability ``cc`` and
makes loading a compiled kernel record it instead of launching, so any host code (the tutorials'
``softmax(x)``) compiles its kernels for the GPU with CPU arrays as stand-in arguments.
Run as a script, it compiles the named tutorial cases and prints one JSON line per case, so a
test can run it in a subprocess: an LLVM abort then fails a test instead of killing pytest.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Iterator
from typing import Any

import numpy as np

from tritium.backends import get_backend


class _Recorder:
    def __init__(self, artifact: Any, sink: list[Any]) -> None:
        sink.append(artifact)

    def launch(self, grid: Any, args: Any) -> None:
        pass


@contextlib.contextmanager
def compiling_for(cc: int, kernels: list[Any]) -> Iterator[list[Any]]:
    """Within the block, launches of ``kernels`` compile for ``cc`` (``TRITIUM_BACKEND=cuda``,
    ``TRITIUM_CUDA_ARCH=cc``) and record their artifacts instead of running."""
    backend = get_backend("cuda")
    sink: list[Any] = []
    saved = [(k, k.cache) for k in kernels]
    old_env = {v: os.environ.get(v) for v in ("TRITIUM_BACKEND", "TRITIUM_CUDA_ARCH")}
    old_load = backend.load
    try:
        for k in kernels:
            k.cache = {}
        backend.load = lambda artifact: _Recorder(artifact, sink)  # type: ignore[method-assign]
        os.environ["TRITIUM_BACKEND"] = "cuda"
        os.environ["TRITIUM_CUDA_ARCH"] = str(cc)
        yield sink
    finally:
        for var, value in old_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        backend.load = old_load  # type: ignore[method-assign]
        for k, cache in saved:
            k.cache = cache


#: PTX words whose counts each compiled case reports (structural checks in the tests).
PTX_WORDS = (
    "ldmatrix.sync.aligned.m8n8.x4.shared", "ldmatrix.sync.aligned.m8n8.x4.trans",
    "ldmatrix.sync.aligned.m8n8.x2", "mma.sync.aligned.m16n8k16", "mma.sync.aligned.m16n8k32",
    "mma.sync.aligned.m16n8k8", ".s32.s8.s8.s32", ".f32.e4m3.e4m3.f32", ".f32.e5m2.e5m2.f32",
    "st.shared.v4", "st.shared", "cp.async.cg.shared.global", "cp.async.ca.shared.global",
    "cp.async.commit_group", "cp.async.wait_group", "shfl.sync.up", "shfl.sync",
    "ld.local", "st.local", "fma.rn.f32", "wgmma.fence.sync.aligned",
    "wgmma.commit_group.sync.aligned", "wgmma.wait_group.sync.aligned",
    "fence.proxy.async.shared::cta",
    "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes",
    "mbarrier.init.shared::cta.b64", "mbarrier.arrive.expect_tx.shared::cta.b64",
    "mbarrier.try_wait.parity.shared::cta.b64", "mbarrier.inval.shared::cta.b64",
    ".param .align 64 .b8", "cvta.param",
    "cp.async.bulk.tensor.2d.global.shared::cta.bulk_group", "cp.async.bulk.wait_group.read 0",
)  # fmt: skip
#: Slow to compile (about 20 s): compiled for sm_90a only.
SM90_ONLY = ("attention_fwd", "attention_fwd_wgmma", "matmul_wgmma")
TUTORIAL_CASES = (
    "vector_add", "softmax", "softmax_f16", "layer_norm_fwd", "rms_norm", "dropout", "matmul",
    "attention_fwd", "matmul_wgmma", "attention_fwd_wgmma",
)  # fmt: skip


def _cases(cc: int) -> dict[str, tuple[list[Any], Any]]:
    """name -> (jit kernels, a function launching them on small CPU inputs)."""
    from sample_kernels import CASES, compile_case

    from tutorials import (
        attention,
        fused_softmax,
        layer_norm,
        low_memory_dropout,
        matmul,
        rms_norm,
        vector_add,
    )

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 96)).astype(np.float32)
    w = rng.standard_normal(96).astype(np.float32)
    h = rng.standard_normal((4, 64)).astype(np.float16)
    hw = rng.standard_normal(64).astype(np.float16)
    v = rng.standard_normal(1000).astype(np.float32)
    ln = layer_norm
    cases: dict[str, tuple[list[Any], Any]] = {
        "vector_add": ([vector_add.add_kernel], lambda: vector_add.add(v, v)),
        "softmax": ([fused_softmax.softmax_kernel], lambda: fused_softmax.softmax(x)),
        "softmax_f16": ([fused_softmax.softmax_kernel], lambda: fused_softmax.softmax(h)),
        "layer_norm_fwd": ([ln._layer_norm_fwd_fused], lambda: ln.forward(x, w, w)),
        "rms_norm": ([rms_norm.rms_norm_kernel], lambda: rms_norm.rms_norm(h, hw)),
        "dropout": (
            [low_memory_dropout._seeded_dropout],
            lambda: low_memory_dropout.seeded_dropout(v, 0.5, 123),
        ),
    }
    a16 = rng.standard_normal((64, 64)).astype(np.float16)
    q = rng.standard_normal((1, 2, 128, 64)).astype(np.float16)
    mm = matmul.matmul_kernel.fn  # GPU-sized meta-parameters instead of the CPU autotune set
    c16 = np.empty((64, 64), np.float16)
    mm_meta = {"BLOCK_SIZE_M": 32, "BLOCK_SIZE_N": 32, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8}
    strides = [s // 2 for t in (a16, a16, c16) for s in t.strides]
    cases["matmul"] = (
        [mm],
        lambda: mm[(4,)](a16, a16, c16, 64, 64, 64, *strides, ACTIVATION="", num_warps=4,
                         **mm_meta),
    )  # fmt: skip
    # the shapes wgmma takes on sm_90a (whole warpgroups along M): 64-row blocks, 4 warps
    mm_wg = {"BLOCK_SIZE_M": 64, "BLOCK_SIZE_N": 64, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8}
    cases["matmul_wgmma"] = (
        [mm],
        lambda: mm[(1,)](a16, a16, c16, 64, 64, 64, *strides, ACTIVATION="", num_warps=4,
                         **mm_wg),
    )  # fmt: skip
    attn = attention._attn_fwd.fn
    cases["attention_fwd"] = (
        [attn],
        lambda: attention.launch(attn, q, q, q, True, None, BLOCK_M=32, BLOCK_N=32, num_warps=2),
    )
    cases["attention_fwd_wgmma"] = (
        [attn],
        lambda: attention.launch(attn, q, q, q, True, None, BLOCK_M=64, BLOCK_N=32, num_warps=4),
    )
    for name in CASES:
        cases[name] = ([], lambda name=name: compile_case(name, cc))
    return cases


def _count_wgmma(ptx: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in re.findall(r"wgmma\.mma_async\.sync\.aligned\.[\w.]+", ptx):
        out[name] = out.get(name, 0) + 1
    return out


def main(argv: list[str]) -> None:
    """``compile_only.py CC case...``: one JSON line per case: name, ok, error, stats."""
    from tritium.backends.cuda.target import find_ptxas

    cc = int(argv[0])
    cases = _cases(cc)
    default = [n for n in cases if cc == 90 or n not in SM90_ONLY]
    for name in argv[1:] or default:
        kernels, run = cases[name]
        row: dict[str, Any] = {"case": name, "cc": cc}
        t0 = time.perf_counter()
        try:
            with compiling_for(cc, kernels) as sink:
                run()
            row["ok"] = bool(sink)
            row["artifacts"] = [
                {
                    "name": a.name,
                    "stages": sorted(a.asm),
                    "cubin": len(a.asm.get("cubin", b"")),
                    "arch": a.metadata["arch"],
                    "ptx_has_target": f".target {a.metadata['arch']}" in a.asm["ptx"],
                    "vector_loads": a.asm["ptx"].count("ld.global.v"),
                    "shared": a.metadata["shared"],
                    "n_regs": a.metadata["n_regs"],
                    "n_spills": a.metadata["n_spills"],
                    "tma_used": [m["used"] for m in a.metadata.get("tma", ())],
                    "ptx_counts": {w: a.asm["ptx"].count(w) for w in PTX_WORDS},
                    # each wgmma instruction (shape and types) and how often it occurs
                    "wgmma": _count_wgmma(a.asm["ptx"]),
                    "wait_groups": sorted(
                        {int(x) for x in re.findall(r"cp\.async\.wait_group (\d+)", a.asm["ptx"])}
                    ),
                }
                for a in sink
            ]
            row["ptxas"] = find_ptxas() is not None
        except Exception as e:  # noqa: BLE001 - reported to the test
            row["ok"] = False
            row["error"] = f"{type(e).__name__}: {e}\n{traceback.format_exc()[-2000:]}"
        row["seconds"] = round(time.perf_counter() - t0, 2)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main(sys.argv[1:])
