"""Compile kernels for a CUDA target on a machine without a GPU (used by the tests).

:func:`compiling_for` makes the active driver report ``GPUTarget("cuda", cc, 32)`` and makes
loading a compiled kernel record it instead of launching, so any host code (the tutorials'
``softmax(x)``) compiles its kernels for the GPU with CPU arrays as stand-in arguments.
Run as a script, it compiles the named tutorial cases and prints one JSON line per case, so a
test can run it in a subprocess: an LLVM abort then fails a test instead of killing pytest.
"""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import numpy as np

from tritium.backends import get_backend
from tritium.runtime.driver import CPUDriver, GPUTarget, driver


class _FakeCudaDriver:
    backend = "cuda"

    def __init__(self, cc: int) -> None:
        self.cc = cc

    def get_current_target(self) -> GPUTarget:
        return GPUTarget("cuda", self.cc, 32)

    def __getattr__(self, name: str) -> Any:
        return getattr(CPUDriver(), name)  # the CPU answers for the rest


class _Recorder:
    def __init__(self, artifact: Any, sink: list[Any]) -> None:
        sink.append(artifact)

    def launch(self, grid: Any, args: Any) -> None:
        pass


@contextlib.contextmanager
def compiling_for(cc: int, kernels: list[Any]) -> Iterator[list[Any]]:
    """Within the block, launches of ``kernels`` compile for ``cc`` and record artifacts."""
    backend = get_backend("cuda")
    sink: list[Any] = []
    saved = [(k, k.cache) for k in kernels]
    old_load = backend.load
    old_driver = driver._active
    try:
        for k in kernels:
            k.cache = {}
        backend.load = lambda artifact: _Recorder(artifact, sink)  # type: ignore[method-assign]
        driver.set_active(_FakeCudaDriver(cc))  # type: ignore[arg-type]
        yield sink
    finally:
        driver._active = old_driver
        backend.load = old_load  # type: ignore[method-assign]
        for k, cache in saved:
            k.cache = cache


def _cases() -> dict[str, tuple[list[Any], Any]]:
    """name -> (jit kernels, a function launching them on small CPU inputs)."""
    from tutorials import fused_softmax, layer_norm, low_memory_dropout, rms_norm, vector_add

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 96)).astype(np.float32)
    w = rng.standard_normal(96).astype(np.float32)
    h = rng.standard_normal((4, 64)).astype(np.float16)
    hw = rng.standard_normal(64).astype(np.float16)
    v = rng.standard_normal(1000).astype(np.float32)
    ln = layer_norm
    return {
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


def main(argv: list[str]) -> None:
    """``compile_only.py CC case...``: one JSON line per case: name, ok, error, stats."""
    from tritium.backends.cuda.target import find_ptxas

    cc = int(argv[0])
    cases = _cases()
    for name in argv[1:] or list(cases):
        kernels, run = cases[name]
        row: dict[str, Any] = {"case": name, "cc": cc}
        try:
            with compiling_for(cc, kernels) as sink:
                run()
            row["ok"] = bool(sink)
            row["artifacts"] = [
                {
                    "name": a.name,
                    "stages": sorted(a.asm),
                    "cubin": len(a.asm.get("cubin", b"")),
                    "ptx_has_target": f".target {a.metadata['arch']}" in a.asm["ptx"],
                    "vector_loads": a.asm["ptx"].count("ld.global.v"),
                    "shared": a.metadata["shared"],
                    "n_regs": a.metadata["n_regs"],
                }
                for a in sink
            ]
            row["ptxas"] = find_ptxas() is not None
        except Exception as e:  # noqa: BLE001 - reported to the test
            row["ok"] = False
            row["error"] = f"{type(e).__name__}: {e}\n{traceback.format_exc()[-2000:]}"
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
