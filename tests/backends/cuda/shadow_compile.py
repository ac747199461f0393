"""A pytest plugin: every kernel a test compiles for the CPU is also compiled for CUDA.

``python -m pytest -p tests.backends.cuda.shadow_compile tests/language/conformance -k cpu``
runs the conformance tests as usual (on the CPU, so their checks still run) and compiles each
kernel specialization they build for sm_80 and sm_90a too, through ptxas. One JSON line per
CUDA compile goes to ``$TRITIUM_SHADOW_OUT``: the kernel, the architecture, and ``ok`` (with
the number of ``wgmma`` instructions), ``unsupported`` (a ``NotImplementedError`` naming the
op) or ``error``. The disk cache makes a
repeated specialization free. Run it in a subprocess: an LLVM abort then fails the caller.
"""

from __future__ import annotations

import json
import os
from typing import Any

ARCHS = (80, 90)


def pytest_configure(config: Any) -> None:
    """Wrap ``tritium.compile`` (where the JIT finds it) with the CUDA shadow compiles."""
    import tritium.compiler as compiler_pkg
    from tritium.compiler import compiler as compiler_mod
    from tritium.runtime.driver import GPUTarget

    original = compiler_mod.compile
    out_path = os.environ.get("TRITIUM_SHADOW_OUT", "shadow.jsonl")

    def shadow(src: Any, target: Any = None, options: Any = None) -> Any:
        result = original(src, target, options)
        if target is not None and target.backend != "cpu":
            return result
        opts = {k: v for k, v in dict(options or {}).items() if k not in ("sanitize", "debug")}
        for cc in ARCHS:
            row: dict[str, Any] = {"kernel": src.name, "cc": cc}
            try:
                art = original(src, GPUTarget("cuda", cc, 32), opts)
                row["status"] = "ok"
                row["wgmma"] = str(art.asm["ptx"]).count("wgmma.mma_async")
            except NotImplementedError as e:
                row["status"], row["detail"] = "unsupported", str(e)
            except Exception as e:  # noqa: BLE001 - reported, the caller decides
                row["status"], row["detail"] = "error", f"{type(e).__name__}: {e}"[:2000]
            with open(out_path, "a") as f:
                f.write(json.dumps(row) + "\n")
        return result

    compiler_mod.compile = shadow
    compiler_pkg.compile = shadow
    del config
