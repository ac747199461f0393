"""Optimization passes over the Tile IR, and the pipeline that runs them.

Each pass is one module; importing this package registers them all by kebab-case name
(:data:`PASSES`). :func:`optimize_ttir` is the pipeline the compiler runs.
"""

from tritium.passes.canonicalize import Canonicalize
from tritium.passes.cse import CommonSubexpressionElimination
from tritium.passes.dce import DeadCodeElimination
from tritium.passes.inline import Inline
from tritium.passes.licm import LoopInvariantCodeMotion
from tritium.passes.pipeline import optimize_ttir, run_passes
from tritium.passes.registry import PASSES, Pass, get_pass, register_pass

__all__ = [
    "Canonicalize", "CommonSubexpressionElimination", "DeadCodeElimination", "Inline",
    "LoopInvariantCodeMotion", "optimize_ttir", "run_passes", "PASSES", "Pass", "get_pass",
    "register_pass",
]
