"""The TTIR optimization pipeline: which passes run, in which order, and why.

:data:`PIPELINE` is the one place the compiler's pipeline is listed: one ``(pass, why)`` line
per step, read top to bottom. The docs are generated from it (``docs/writing_a_pass.md`` is
checked against :func:`pipeline_table`), and every other list of it is derived.

Any compile can change it by name (see :func:`resolve_pipeline`): ``"-cse"`` drops every ``cse``,
``"+my-pass"`` appends a registered pass, ``"+my-pass@before:dce"`` / ``"+my-pass@after:licm"``
inserts it next to the first ``dce`` / ``licm``, and a list of plain names (``"inline,dce"``, or
``"none"``) replaces the pipeline. The same text works as ``tritium.compile(..., passes=...)``,
as the launch option ``kernel[grid](..., passes=...)``, in ``TRITIUM_PASSES`` (applied first,
for the whole process) and as ``tritium-opt --pipeline=...``.

``run_passes`` runs any list of passes with the same checks: the verifier after each pass (when
``verify`` is on, or by default when ``TRITIUM_VERIFY_IR=1``, as in tests), and
``TRITIUM_DUMP_IR`` dumps to stderr (``1``/``all``: after every pass; a pass name: after that
pass only).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import sys
from collections.abc import Sequence

from tritium import knobs
from tritium.errors import InternalCompilerError, TritiumError
from tritium.ir.core import Module
from tritium.ir.printer import print_module
from tritium.ir.verifier import verify as verify_module
from tritium.passes.registry import PASSES, Pass, parse_pass_list

__all__ = [
    "PIPELINE",
    "default_pipeline",
    "describe_pipeline",
    "optimize_ttir",
    "pipeline_table",
    "resolve_pipeline",
    "run_passes",
]

#: The compiler's pipeline, in order: (pass as ``tritium-opt --pass`` writes it, why it is there).
#: Add a pass on its own line; ``resolve_pipeline`` and the docs follow.
PIPELINE: tuple[tuple[str, str], ...] = (
    ("inline", "helpers called from the kernel become straight-line code"),
    ("canonicalize", "fold constants and shape ops the frontend spelled out"),
    ("cse", "share index math repeated across statements"),
    ("licm", "pointer/mask math that does not change moves out of loops"),
    ("peel-masked-tail", "full blocks of a `cols < N` loop run unmasked, then the masked tail"),
    ("canonicalize", "fold what hoisting and sharing exposed"),
    ("cse", "hoisted copies from sibling loops are now siblings"),
    ("dce", "drop what nobody reads, loop-carried values included"),
)


def default_pipeline() -> list[Pass]:
    """New instances of the passes of :data:`PIPELINE`."""
    return [p for spec, _ in PIPELINE for p in parse_pass_list(spec)]


def optimize_ttir(
    module: Module, *, passes: Sequence[Pass] | str | None = None, verify: bool | None = None
) -> Module:
    """Optimize a kernel's Tile IR, as the compiler does between frontend and backend.

    ``passes``: the pipeline to run instead of :data:`PIPELINE` (a list of passes, or the text
    :func:`resolve_pipeline` takes, applied to the default; ``TRITIUM_PASSES`` is not read here).
    """
    if passes is None or isinstance(passes, str):
        passes = resolve_pipeline(passes or "", env=False)
    return run_passes(module, passes, verify=verify)


def resolve_pipeline(spec: str | None = None, *, env: bool = True) -> list[Pass]:
    """The pipeline after ``TRITIUM_PASSES`` (if ``env``) and then ``spec`` edit the default.

    An edit list is comma-separated: ``-name`` removes every occurrence of a pass,
    ``+name{opt=value}`` appends one, ``+name@before:other`` / ``+name@after:other`` inserts it
    before / after the first ``other``. A list without signs replaces the pipeline (``none``:
    no passes). Raises ``ValueError`` naming the bad item.
    """
    passes = default_pipeline()
    for source, text in (("TRITIUM_PASSES", knobs.passes() if env else ""), ("passes", spec)):
        if text:
            try:
                passes = _apply_edits(passes, text)
            except (KeyError, ValueError) as e:
                message = e.args[0] if e.args else str(e)
                raise ValueError(f"{source}={text!r}: {message}") from None
    return passes


def _split_items(text: str) -> list[str]:
    """Top-level comma-separated items (commas inside ``{...}`` belong to the options)."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


def _apply_edits(passes: list[Pass], text: str) -> list[Pass]:
    items = _split_items(text)
    signed = [item[0] in "+-" for item in items]
    if not any(signed):  # a whole pipeline
        return [] if items == ["none"] else parse_pass_list(",".join(items))
    if not all(signed):
        raise ValueError("mix of edits (+name, -name) and plain names; use one or the other")
    out = list(passes)
    for item in items:
        body = item[1:].strip()
        if item[0] == "-":
            if body not in PASSES:
                parse_pass_list(body)  # raises the error that lists the known passes
            if not any(p.name == body for p in out):
                raise ValueError(f"-{body}: {body!r} is not in the pipeline")
            out = [p for p in out if p.name != body]
            continue
        body, _, where = body.partition("@")
        (new,) = parse_pass_list(body)
        if not where:
            out.append(new)
            continue
        side, _, anchor = where.partition(":")
        index = next((i for i, p in enumerate(out) if p.name == anchor.strip()), None)
        if side not in ("before", "after") or index is None:
            raise ValueError(
                f"{item}: expected @before:<pass> or @after:<pass> naming a pass in the pipeline"
            )
        out.insert(index + (side == "after"), new)
    return out


def describe_pipeline(passes: Sequence[Pass]) -> str:
    """The pipeline as ``parse_pass_list`` reads it: names, options that differ from the
    defaults, and for a pass defined outside tritium a hash of its source (so the disk cache,
    which keys on this text, notices when a researcher edits their pass)."""
    return ",".join(_describe(p) for p in passes)


def _describe(p: Pass) -> str:
    text = p.name
    if dataclasses.is_dataclass(p):
        changed = [
            f"{f.name}={_option_text(getattr(p, f.name))}"
            for f in dataclasses.fields(p)
            if f.default is dataclasses.MISSING or getattr(p, f.name) != f.default
        ]
        if changed:
            text += "{" + ",".join(changed) + "}"
    if not type(p).__module__.startswith("tritium."):
        text += f"@src:{_source_hash(type(p))}"
    return text


def _option_text(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _source_hash(cls: type) -> str:
    """A hash of the file that defines ``cls.run`` (a researcher's script, run as __main__
    by tritium.tools.ab, included), so an edited pass never reads a stale cached kernel."""
    code = getattr(getattr(cls, "run", None), "__code__", None)
    path = code.co_filename if code is not None else ""
    try:
        stat = os.stat(path)
        return _file_hash(path, stat.st_mtime_ns, stat.st_size)
    except OSError:  # defined in a REPL: its name is all we have
        return hashlib.sha256(cls.__qualname__.encode()).hexdigest()[:16]


@functools.cache
def _file_hash(path: str, mtime_ns: int, size: int) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def pipeline_table() -> str:
    """:data:`PIPELINE` as a Markdown table (the docs include it verbatim)."""
    rows = ["| # | pass | why it is there |", "|---|---|---|"]
    rows += [f"| {i} | `{spec}` | {why} |" for i, (spec, why) in enumerate(PIPELINE, 1)]
    return "\n".join(rows)


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
