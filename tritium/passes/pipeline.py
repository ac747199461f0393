"""The TTIR optimization pipeline: which passes run, in which order, and why.

``optimize_ttir`` is the whole pipeline; read it top to bottom. ``run_passes`` runs any list
of passes with the same checks: the verifier after each pass (when ``verify`` is on, as in
tests), and ``TRITIUM_DUMP_IR`` dumps (``1``/``all``: after every pass; a pass name: after
that pass only) to stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tritium import knobs
from tritium.errors import InternalCompilerError, TritiumError
from tritium.ir.core import Module
from tritium.ir.printer import print_module
from tritium.ir.verifier import verify as verify_module
from tritium.passes.canonicalize import Canonicalize
from tritium.passes.cse import CommonSubexpressionElimination
from tritium.passes.dce import DeadCodeElimination
from tritium.passes.inline import Inline
from tritium.passes.licm import LoopInvariantCodeMotion
from tritium.passes.registry import Pass

__all__ = ["optimize_ttir", "run_passes", "VERIFY_BY_DEFAULT"]

# Tests turn this on (or pass verify=True) so every pass's output is checked.
VERIFY_BY_DEFAULT = False


def optimize_ttir(module: Module, *, verify: bool | None = None) -> Module:
    """Optimize a kernel's Tile IR, as the compiler does between frontend and backend."""
    return run_passes(module, [
        Inline(),                   # helpers called from the kernel become straight-line code
        Canonicalize(),             # fold constants and shape ops the frontend spelled out
        CommonSubexpressionElimination(),  # share index math repeated across statements
        LoopInvariantCodeMotion(),  # pointer/mask math that does not change moves out of loops
        Canonicalize(),             # fold what hoisting and sharing exposed
        CommonSubexpressionElimination(),  # hoisted copies from sibling loops are now siblings
        DeadCodeElimination(),      # drop what nobody reads, loop-carried values included
    ], verify=verify)


def run_passes(module: Module, passes: Sequence[Pass], *, verify: bool | None = None) -> Module:
    """Run ``passes`` in order over ``module``, verifying and dumping as configured."""
    check = VERIFY_BY_DEFAULT if verify is None else verify
    dump = knobs.dump_ir()
    if check:
        verify_module(module, pass_name="<input>")
    for p in passes:
        try:
            module = p.run(module)
        except TritiumError:
            raise
        except Exception as e:  # a crash in a pass is our bug: say which pass and op
            raise InternalCompilerError(f"{type(e).__name__}: {e}", pass_name=p.name) from e
        if dump and (dump.lower() in ("1", "all", "true") or dump == p.name):
            print(f"// -----// IR Dump After {p.name} //----- //\n{print_module(module)}",
                  file=sys.stderr)
        if check:
            verify_module(module, pass_name=p.name)
    return module
