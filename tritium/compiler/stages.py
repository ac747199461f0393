"""The compile pipeline: :data:`STAGES`, an ordered ``{name: stage}`` map, and :func:`run_stages`.

Each stage takes the shared :class:`Compilation` (the kernel, its target, options and the pass
pipeline) and the previous stage's result, and returns its own::

    frontend      Python function + specialization -> Tile IR            (tritium/frontend)
    passes        Tile IR -> optimized Tile IR        (tritium/passes/pipeline.py, passes=)
    override      TRITIUM_OVERRIDE_DIR/<kernel>.ttir, if there is one, replaces it
    bounds-check  sanitize=True: every memory access checked   (passes/bounds_check.py)
    backend       Tile IR -> native code: a CompiledArtifact   (tritium/backends/<target>)

With ``TRITIUM_DUMP_DIR`` set, :func:`tritium.compiler.compile` writes what each Tile IR stage
produced as ``<kernel>.<n>-<stage>.ttir`` (``add_kernel.1-frontend.ttir``, ``2-passes``,
``3-override``, ``4-bounds-check``: ``ls`` shows them in pipeline order), then the artifact's
own texts (``<kernel>.ttir``: what the backend was given, ``.llir``, ``.asm``).

To add a stage, insert it into :data:`STAGES` where it belongs; tests replace entries with
stand-ins (``monkeypatch.setitem(STAGES, "frontend", fake)``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tritium import knobs
from tritium.backends import get_backend
from tritium.compiler.cache import check_dir, open_private_file
from tritium.signature import flat_parameters

if TYPE_CHECKING:
    from tritium.backends.base import GPUTarget
    from tritium.compiler.compiler import ASTSource

__all__ = [
    "STAGES",
    "Compilation",
    "Stage",
    "add_bounds_checks",
    "run_stages",
    "stored_parameters",
]


@dataclass
class Compilation:
    """What every stage may read: the kernel and how it is compiled.

    ``passes`` is the pass pipeline (None: the default one); ``metadata`` collects entries a
    stage adds to the artifact's metadata (``"sanitized"``).
    """

    src: ASTSource
    target: GPUTarget
    options: dict[str, Any]
    passes: list[Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


#: ``stage(compilation, previous result) -> result``
Stage = Callable[[Compilation, Any], Any]


def frontend(c: Compilation, _: None) -> Any:
    """Python AST + specialization -> Tile IR (a CompilationError points at the user's line).

    The frontend is imported here, on first use: a kernel found in the cache needs none of it.
    """
    from tritium.frontend import ast_to_ttir
    from tritium.frontend.block_pointer import keep_descriptor_info

    # the CUDA backend reads tensor-descriptor loads' parts for TMA (tt.descriptor_info)
    with keep_descriptor_info(getattr(c.target, "backend", "") == "cuda"):
        return ast_to_ttir(c.src.fn, c.src.signature, c.src.constexprs, c.src.attrs)


def passes(c: Compilation, module: Any) -> Any:
    """Target-independent passes: ``passes.pipeline.PIPELINE``, as edited by
    ``passes=``/``TRITIUM_PASSES`` (:func:`tritium.passes.pipeline.resolve_pipeline`)."""
    from tritium.passes import optimize_ttir

    return optimize_ttir(module) if c.passes is None else optimize_ttir(module, passes=c.passes)


def override(c: Compilation, module: Any) -> Any:
    """The module in ``<TRITIUM_OVERRIDE_DIR>/<kernel name>.ttir``, if the user put one there
    (a hand-edited Tile IR file replaces the compiler's); otherwise ``module``."""
    directory = knobs.kernel_override_dir()
    path = os.path.join(directory, f"{c.src.name}.ttir") if directory else ""
    if not path or not os.path.lexists(path):
        return module
    from tritium.ir import parse_module

    # The override replaces the kernel's code: only from a directory and file that are the
    # user's own and nobody else can write (as the cache), never through a symlink.
    why = check_dir(directory)
    if why:
        raise PermissionError(f"TRITIUM_OVERRIDE_DIR {directory} {why}")
    return parse_module(open_private_file(path).decode())


def bounds_check(c: Compilation, module: Any) -> Any:
    """``sanitize=True``: check every memory access against its argument's byte range. The
    kernel then takes two more parameters per pointer (:func:`tritium.signature.argument_spans`
    gives them at launch); the artifact's metadata says ``"sanitized": True``."""
    if not c.options.get("sanitize"):
        return module
    from tritium.ir import Module

    if not isinstance(module, Module):
        return module  # a stand-in stage's module (the runtime's tests): nothing to check
    c.metadata["sanitized"] = True
    return add_bounds_checks(module, c.src.signature)


def backend(c: Compilation, module: Any) -> Any:
    """Tile IR -> native code for the target: the backend's :class:`CompiledArtifact`, with
    ``asm["ttir"]`` (the IR it was given) and the metadata the stages collected."""
    ttir = str(module)  # printed first: the backend may rewrite the module as it lowers
    stored = stored_parameters(module, c.src.signature)  # the launch refuses read-only outputs
    options = dict(c.options)
    if c.target.backend != "cpu":  # a GPU backend compiles for the target's architecture
        options["arch"] = c.target.arch
    artifact = get_backend(c.target.backend).compile(module, options)
    artifact.asm["ttir"] = ttir
    if stored is not None:
        artifact.metadata["stored_args"] = stored
    artifact.metadata.update(c.metadata)
    return artifact


#: The compile pipeline, in the order it runs. Every name but ``backend`` produces Tile IR.
STAGES: dict[str, Stage] = {
    "frontend": frontend,
    "passes": passes,
    "override": override,
    "bounds-check": bounds_check,
    "backend": backend,
}


def run_stages(
    src: ASTSource,
    target: GPUTarget,
    options: Mapping[str, Any],
    passes: list[Any] | None = None,
    texts: dict[str, str] | None = None,
) -> Any:
    """Run :data:`STAGES` in order on ``src``: Python function -> backend artifact.

    With a ``texts`` dict, each Tile IR stage's printed result is put there as
    ``"<n>-<stage>"`` (``"1-frontend"``): the dump directory's ``<kernel>.<n>-<stage>.ttir``.
    """
    c = Compilation(src, target, dict(options), passes)
    result: Any = None
    for n, (name, stage) in enumerate(STAGES.items(), 1):
        result = stage(c, result)
        if texts is not None and name != "backend":
            texts[f"{n}-{name}"] = str(result)
    return result


# ----- the analyses and the pass that the stages run on a kernel's parameters ------------------

_STORING_OPS = ("tt.store", "tt.atomic_rmw", "tt.atomic_cas")


def stored_parameters(module: Any, signature: Mapping[str, Any]) -> list[str] | None:
    """Names (as :func:`tritium.signature.flat_parameters` gives them) of the pointer parameters
    that the kernel may store through: those a ``tt.store`` or an atomic's address is computed
    from, followed through every operand (loop-carried values through their loop's operands), so
    the answer errs on the side of "stored". None for anything that is not Tile IR."""
    from tritium.ir import Block, Module, Operation

    if not isinstance(module, Module):
        return None
    names = [name for name, _ in flat_parameters(signature)]
    funcs = [f for f in module.functions if f.attrs.get("visibility") == "public"]
    if len(funcs) != 1:
        return None
    params = funcs[0].regions[0].block.args
    found: set[int] = set()
    seen: set[int] = set()
    work = [op.operands[0] for op in module.walk() if op.name in _STORING_OPS and op.operands]
    while work:  # an explicit stack: no recursion proportional to the kernel's size
        v = work.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        owner = v.owner
        if isinstance(owner, Operation):
            work.extend(owner.operands)
        elif isinstance(owner, Block):
            if owner is funcs[0].regions[0].block:
                found.add(v.index)
                continue
            parent = owner.parent_op()
            if parent is not None:  # a region argument: whatever flows into that region
                work.extend(parent.operands)
                for region in parent.regions:
                    for block in region.blocks:
                        term = block.terminator
                        if term is not None:
                            work.extend(term.operands)
    if len(names) != len(params):
        return None
    return [names[i] for i in sorted(found)]


def add_bounds_checks(module: Any, signature: Mapping[str, Any]) -> Any:
    """Run the ``bounds-check`` pass on ``module``, naming parameters as ``signature`` does.

    Anything that is not Tile IR (the stand-in stages of the runtime's tests) is returned as is.
    """
    from tritium.ir import Module
    from tritium.passes import run_passes
    from tritium.passes.bounds_check import BoundsCheck

    if not isinstance(module, Module):
        return module
    names = " ".join(name for name, _ in flat_parameters(signature))
    return run_passes(module, [BoundsCheck(arg_names=names)])
