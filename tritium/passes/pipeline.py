"""The TTIR optimization pipeline: which passes run, in which order, and why.

``optimize_ttir`` is the whole pipeline; read it top to bottom. ``run_passes`` runs any list
of passes with the same checks: the verifier after each pass (when ``verify`` is on, or by
default when ``TRITIUM_VERIFY_IR=1``, as in tests), and ``TRITIUM_DUMP_IR`` dumps to stderr
(``1``/``all``: after every pass; a pass name: after that pass only).
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

__all__ = ["optimize_ttir", "run_passes"]


def optimize_ttir(module: Module, *, verify: bool | None = None) -> Module:
    """Optimize a kernel's Tile IR, as the compiler does between frontend and backend."""
    return run_passes(
        module,
        [
            Inline(),  # helpers called from the kernel become straight-line code
            Canonicalize(),  # fold constants and shape ops the frontend spelled out
            CommonSubexpressionElimination(),  # share index math repeated across statements
            LoopInvariantCodeMotion(),  # pointer/mask math that does not change moves out of loops
            Canonicalize(),  # fold what hoisting and sharing exposed
            CommonSubexpressionElimination(),  # hoisted copies from sibling loops are now siblings
            DeadCodeElimination(),  # drop what nobody reads, loop-carried values included
        ],
        verify=verify,
    )


def run_passes(module: Module, passes: Sequence[Pass], *, verify: bool | None = None) -> Module:
    """Run ``passes`` in order over ``module``, verifying and dumping as configured."""
    check = knobs.verify_ir() if verify is None else verify
    dump = knobs.dump_ir()
    dump_all = dump.lower() in ("1", "all", "true")
    if check:
        verify_module(module, pass_name="<input>")
    if dump_all and passes:
        _dump(f"Before {passes[0].name}", module)
    for p in passes:
        try:
            module = p.run(module)
        except TritiumError:
            raise
        except Exception as e:  # a crash in a pass is our bug: name the pass, show the IR
            raise InternalCompilerError(
                f"{type(e).__name__}: {e}", pass_name=p.name, ir=_safe_print(module)
            ) from e
        if dump_all or dump == p.name:
            _dump(f"After {p.name}", module)
        if check:
            verify_module(module, pass_name=p.name)
    return module


def _dump(when: str, module: Module) -> None:
    print(f"// -----// IR Dump {when} //----- //\n{print_module(module)}", file=sys.stderr)


def _safe_print(module: Module) -> str | None:
    try:
        return print_module(module)
    except Exception:  # the pass left IR too broken to print; the error message must do
        return None
