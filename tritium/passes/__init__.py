"""Optimization passes over the Tile IR, and the pipeline that runs them.

Each pass is one module; importing this package registers them all by kebab-case name
(:data:`PASSES`). :func:`optimize_ttir` (in ``pipeline.py``) is the pipeline the compiler runs.

==================  ============  =======================================================
name                module        what it does
==================  ============  =======================================================
``inline``          inline        inline calls of private functions, drop uncalled ones
``canonicalize``    canonicalize  fold constants and simplify to a fixed point, with the
                                  patterns of fold_arith, fold_shapes, fold_control and
                                  fold_memory (registered in patterns.py)
``cse``             cse           merge identical pure ops in dominance scopes
``licm``            licm          hoist invariant pure ops out of scf.for / scf.while
``dce``             dce           erase unused pure ops, dead loop-carried values and results
``peel-masked-tail``  peel_masked_tail  run a block loop's full blocks without their
                                  ``cols < N`` masks, the masked tail after them
``bounds-check``    bounds_check  check each load/store/atomic against its argument's byte
                                  range (the compiled sanitizer; not in the pipeline: the
                                  compiler runs it when ``sanitize=True``)
==================  ============  =======================================================

``tritium.tools.opt`` runs any of them over a textual IR file; ``constant_eval.py`` holds the
exact arithmetic the folding uses.
"""

from tritium.passes.bounds_check import BoundsCheck
from tritium.passes.canonicalize import Canonicalize
from tritium.passes.cse import CommonSubexpressionElimination
from tritium.passes.dce import DeadCodeElimination
from tritium.passes.inline import Inline
from tritium.passes.licm import LoopInvariantCodeMotion
from tritium.passes.peel_masked_tail import PeelMaskedTail
from tritium.passes.pipeline import optimize_ttir, run_passes
from tritium.passes.registry import PASSES, Pass, get_pass, register_pass

__all__ = [
    "BoundsCheck",
    "Canonicalize",
    "CommonSubexpressionElimination",
    "DeadCodeElimination",
    "Inline",
    "LoopInvariantCodeMotion",
    "PeelMaskedTail",
    "optimize_ttir",
    "run_passes",
    "PASSES",
    "Pass",
    "get_pass",
    "register_pass",
]
