"""The source of a kernel function: its AST, file and line offsets, and error reporting.

The function's source is dedented before parsing, so AST columns are shifted back by the
removed indentation and lines by the function's first line: every location and every
``CompilationError`` points at the user's file as they see it.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass
from typing import Any

from tritium import errors, ir
from tritium.code_lines import source_lines
from tritium.errors import CompilationError

__all__ = ["SourceInfo"]

_UNSUPPORTED = "UnsupportedLanguageConstruct"


@dataclass
class SourceInfo:
    """Where a function's AST came from."""

    file: str
    lines: list[str]  # the function's source lines, as in the file (not dedented)
    first_line: int  # the file line number of lines[0]
    indent: int  # columns removed by dedenting
    tree: ast.FunctionDef

    @classmethod
    def of(cls, fn: Any) -> SourceInfo:
        """The source of the Python function ``fn``; TypeError if it has none."""
        try:
            # from the code object's line range where it is exact (inspect tokenizes the
            # file to find the block's end: ~2 ms of each compile, issue 13)
            text = None if hasattr(fn, "__wrapped__") else source_lines(fn)
            if text is not None:
                lines, first = text.splitlines(keepends=True), fn.__code__.co_firstlineno
            else:
                lines, first = inspect.getsourcelines(fn)
        except (OSError, TypeError) as e:
            raise TypeError(
                f"cannot get the source of {getattr(fn, '__name__', fn)!r}: {e}; "
                f"kernels must be defined in a file"
            ) from None
        text = "".join(lines)
        dedented = textwrap.dedent(text)
        first_text = next((ln for ln in lines if ln.strip()), "")
        first_dedented = next((ln for ln in dedented.splitlines() if ln.strip()), "")
        indent = (
            len(first_text)
            - len(first_text.lstrip())
            - (len(first_dedented) - len(first_dedented.lstrip()))
        )
        module = ast.parse(dedented)
        tree = next(
            (n for n in module.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None
        )
        filename = inspect.getsourcefile(fn) or fn.__code__.co_filename
        if isinstance(tree, ast.AsyncFunctionDef):  # the interpreter's wording, at the `def`
            info = cls(filename, lines, max(first, 1), indent, tree)  # type: ignore[arg-type]
            raise info.error(
                tree, "unsupported construct in a kernel: async def", kind=_UNSUPPORTED
            )
        if not isinstance(tree, ast.FunctionDef):
            raise TypeError(f"{getattr(fn, '__name__', fn)!r} is not a plain function")
        return cls(filename, lines, max(first, 1), indent, tree)

    def line_col(self, node: ast.AST) -> tuple[int, int]:
        """The file line and column of ``node``."""
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        return line + self.first_line - 1, col + self.indent

    def loc(self, node: ast.AST) -> ir.Location:
        """The IR location of ``node``."""
        line, col = self.line_col(node)
        return ir.Location(self.file, line, col)

    def error(
        self, node: ast.AST, message: str, hint: str | None = None, kind: str = "CompilationError"
    ) -> CompilationError:
        """A CompilationError pointing at ``node`` with its source line and a caret.

        ``kind`` names a subclass in :mod:`tritium.errors` (``UnsupportedLanguageConstruct``,
        ``CompileTimeAssertionFailure``, as Triton has them) when that module defines it.
        """
        line, col = self.line_col(node)
        idx = getattr(node, "lineno", 1) - 1
        text = self.lines[idx] if 0 <= idx < len(self.lines) else None
        cls = getattr(errors, kind, CompilationError)
        # Triton's position: the line counted from the `def` (decorators are above it)
        rel_line = getattr(node, "lineno", 1) - self.tree.lineno + 1
        origin = (self.tree.name, rel_line, getattr(node, "col_offset", 0))
        return cls(message, self.file, line, col, text, hint, origin)
