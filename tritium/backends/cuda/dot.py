"""``tt.dot``: not lowered yet (see docs/cuda_backend.md for the plan)."""

from __future__ import annotations

from tritium.backends.cuda.lowering import Lowering, statement
from tritium.ir import Operation


@statement("tt.dot")
def _dot(cx: Lowering, op: Operation) -> None:
    raise NotImplementedError("tt.dot is not supported by the cuda backend yet")
