"""The errors tritium raises, shared by every package.

``CompilationError`` is the user's fault and points at the user's line with a caret;
``InternalCompilerError`` is ours and names the op and pass; ``SanitizerError`` is a bad
memory access found by the interpreter's sanitizer or the CPU backend's bounds checks.
"""

from __future__ import annotations

__all__ = [
    "TritiumError",
    "TritonError",
    "CompilationError",
    "UnsupportedLanguageConstruct",
    "CompileTimeAssertionFailure",
    "InternalCompilerError",
    "SanitizerError",
    "OutOfResources",
    "IntegerOverflowError",
]


class TritiumError(Exception):
    """Base class of tritium's own errors."""


#: Triton's name for the same base class (``triton.TritonError``).
TritonError = TritiumError


class CompilationError(TritiumError):
    """An error in the user's kernel, reported at ``file:line:col`` with the line and a caret.

    The message reads::

        at kernel.py:12:20 (at 3:16: in add_kernel):
            x = tl.load(ptr + offs, maks=mask)
                        ^
        load() got an unexpected keyword argument 'maks'

    The part in parentheses is Triton's header: ``origin``, the line counted from the
    function's ``def`` (1) and the column in its dedented source, which Triton's own tests
    match (``"at 2:4:" in str(err)``).
    """

    def __init__(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        col: int | None = None,
        source_line: str | None = None,
        hint: str | None = None,
        origin: tuple[str, int, int] | None = None,
    ) -> None:
        self.error_message = message
        self.file, self.line, self.col = file, line, col
        self.source_line = source_line
        self.hint = hint
        self.origin = origin  # (function name, line from its def, dedented column)
        super().__init__(self._format())

    def _format(self) -> str:
        parts = []
        if self.file is not None and self.line is not None:
            where = f"{self.file}:{self.line}:{self.col or 0}"
            if self.origin is not None:
                name, rel_line, rel_col = self.origin
                where += f" (at {rel_line}:{rel_col}: in {name})"
            parts.append(f"at {where}:")
            if self.source_line is not None:
                text = self.source_line.rstrip("\n")
                stripped = text.lstrip()
                indent = len(text) - len(stripped)
                parts.append("    " + stripped)
                parts.append("    " + " " * max((self.col or 0) - indent, 0) + "^")
        parts.append(self.error_message)
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class UnsupportedLanguageConstruct(CompilationError):  # noqa: N818 (Triton's name)
    """Python syntax the kernel language does not have (``try``, ``lambda``, ``with``, ...)."""


class CompileTimeAssertionFailure(CompilationError):  # noqa: N818 (Triton's name)
    """A ``tl.static_assert`` that failed while compiling."""


class InternalCompilerError(TritiumError):
    """A bug in tritium: names the pass and op that failed and carries the IR."""

    def __init__(
        self, message: str, pass_name: str | None = None, op: object = None, ir: str | None = None
    ) -> None:
        self.pass_name, self.op, self.ir = pass_name, op, ir
        text = "internal compiler error"
        if pass_name:
            text += f" in pass {pass_name}"
        if op is not None:
            text += f" at {op!r}"
        text += f": {message}"
        if ir:
            text += "\n--- IR ---\n" + ir
        super().__init__(text)


class SanitizerError(TritiumError):
    """A bad memory access or index overflow found while running a kernel.

    ``kind`` is ``"out-of-bounds"``, ``"int32 overflow"`` or ``"race"``.
    """

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {message}")


class OutOfResources(TritiumError):  # noqa: N818 (Triton's name)
    """A kernel needs more of a resource (shared memory, registers, stack) than it may use."""

    def __init__(self, required: int, limit: int, name: str) -> None:
        self.required, self.limit, self.name = required, limit, name
        super().__init__(f"out of resource: {name}, required: {required}, hardware limit: {limit}")


class IntegerOverflowError(ValueError, OverflowError):
    """An integer argument or constant that fits in no 64-bit type. It is an ``OverflowError``
    as in Triton, and a ``ValueError`` as tritium raised before."""


def nospec_constexpr_message(name: str) -> str:
    """Triton's error for a ``tl.constexpr`` parameter listed in ``do_not_specialize``."""
    return (
        f"{name} marked as constexpr and listed in do_not_specialize/"
        "do_not_specialize_on_alignment. Remove constexpr designation to skip specialization."
    )
