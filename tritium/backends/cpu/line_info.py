"""Source-line tables for compiled kernels, asked for with ``instrumentation_mode="lines"``.

The profiler's sampled per-line view (``tritium.profiler.sampled_lines``) needs to know which
machine instruction came from which line of the Triton kernel. LLVM knows how to keep that
through every optimization, as a DWARF line table, if the IR says where each instruction came
from. So when the option is on:

* the module gets a compile unit (``emissionKind: LineTablesOnly``: lines, no variables or
  types) and each lowered function a ``DISubprogram``;
* the builder stamps every instruction with the ``DILocation`` of the op being lowered
  (:meth:`LineInfo.at`, called by ``Lowering.lower_op`` and, for fused elementwise chains, by
  ``Lowering._eval_one``, so a fused ``exp`` is charged to its own line, not to the store that
  consumed it);
* calls into a function that has a subprogram get a location too (:func:`finish`), which LLVM's
  verifier requires and which lets the inliner record where the program was inlined.

Line tables do not change the generated code (LLVM keeps debug locations out of its
decisions); they only add ``.debug_line`` to the object. Without the option none of this runs.
"""

from __future__ import annotations

import os
from typing import Any

from llvmlite import ir as ll

from tritium.ir import Location

__all__ = ["LINES_MODE", "LineInfo", "finish", "wants_lines"]

#: The value of the ``instrumentation_mode`` launch option that asks for line tables.
LINES_MODE = "lines"


def wants_lines(options: dict[str, Any]) -> bool:
    """Whether these compile options ask for a source-line table."""
    return options.get("instrumentation_mode") == LINES_MODE


class LineInfo:
    """The debug metadata of one module: its compile unit, files, and a location cache."""

    def __init__(self, module: ll.Module, main_file: str) -> None:
        self.module = module
        self.files: dict[str, Any] = {}
        self.cu = module.add_debug_info(
            "DICompileUnit",
            {
                "language": ll.DIToken("DW_LANG_Python"),
                "file": self.file(main_file),
                "producer": "tritium",
                "isOptimized": True,
                "runtimeVersion": 0,
                "emissionKind": ll.DIToken("LineTablesOnly"),
            },
            is_distinct=True,
        )
        module.add_named_metadata("llvm.dbg.cu", self.cu)
        flags = module.add_named_metadata("llvm.module.flags")
        i32 = ll.IntType(32)
        # DWARF 4: the line-table layout tritium.profiler.dwarf reads
        flags.add(module.add_metadata([i32(7), "Dwarf Version", i32(4)]))
        flags.add(module.add_metadata([i32(2), "Debug Info Version", i32(3)]))
        self._type = module.add_debug_info("DISubroutineType", {"types": module.add_metadata([])})
        self._locations: dict[tuple[Any, str, int, int], Any] = {}
        self._sp_file: dict[int, str] = {}  # id(subprogram) -> its file

    def file(self, path: str) -> Any:
        """The ``DIFile`` of ``path`` (made once)."""
        md = self.files.get(path)
        if md is None:
            directory, name = os.path.split(path)
            md = self.module.add_debug_info("DIFile", {"filename": name, "directory": directory})
            self.files[path] = md
        return md

    def subprogram(self, fn: ll.Function, name: str, loc: Location) -> Any:
        """Give ``fn`` a ``DISubprogram`` (named after the kernel function it lowers)."""
        sp = self.module.add_debug_info(
            "DISubprogram",
            {
                "name": name,
                "file": self.file(loc.file),
                "line": loc.line,
                "type": self._type,
                "scopeLine": loc.line,
                "spFlags": ll.DIToken("DISPFlagDefinition | DISPFlagOptimized"),
                "unit": self.cu,
            },
            is_distinct=True,
        )
        fn.set_metadata("dbg", sp)
        self._sp_file[id(sp)] = loc.file
        return sp

    def at(self, scope: Any, loc: Location) -> Any:
        """The ``DILocation`` of ``loc`` inside the function whose subprogram is ``scope``.

        A location in another file than the function's (a ``@jit`` helper that was inlined by
        the frontend) gets a lexical-block-file scope, so the line table names that file."""
        key = (id(scope), loc.file, loc.line, loc.col)
        md = self._locations.get(key)
        if md is None:
            inner = scope
            if loc.file and loc.file != self._sp_file.get(id(scope)):
                inner = self.module.add_debug_info(
                    "DILexicalBlockFile",
                    {"scope": scope, "file": self.file(loc.file), "discriminator": 0},
                )
            md = self.module.add_debug_info(
                "DILocation",
                {"line": max(loc.line, 0), "column": max(loc.col, 0) + 1, "scope": inner},
            )
            self._locations[key] = md
        return md


def _subprogram_of(fn: ll.Function) -> Any:
    return fn.metadata.get("dbg") if hasattr(fn, "metadata") else None


def finish(info: LineInfo, module: ll.Module) -> None:
    """Give each call of a function that has a subprogram a location in its caller.

    The launcher (and any function calling the program function) gets a subprogram of its own
    named after itself, at line 0, so the call carries a location and the inlined program keeps
    its lines under it."""
    for fn in module.functions:
        if fn.is_declaration:
            continue
        for block in fn.blocks:
            for instr in block.instructions:
                callee = getattr(instr, "callee", None)
                if not isinstance(callee, ll.Function) or "dbg" in instr.metadata:
                    continue
                if _subprogram_of(callee) is None:
                    continue
                scope = _subprogram_of(fn)
                if scope is None:
                    main = next(iter(info.files))
                    scope = info.subprogram(fn, fn.name, Location(main, 0, 0))
                instr.set_metadata("dbg", info.at(scope, Location("", 0, 0)))
