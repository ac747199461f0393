"""A function's source lines from ``linecache`` and its code object's line range.

``inspect.getsource`` finds the end of a block by tokenizing the file (about 2 ms for the
tutorial matmul, and ~10 ms the first time in a process, compiling the tokenizer's regular
expressions); the code object already knows its last line (issue 13). A leaf module: the
frontend (the kernel's AST) and the runtime (its cache key) both read sources this way.
"""

from __future__ import annotations

import linecache
import types
from collections.abc import Callable
from typing import Any

__all__ = ["block_ends", "last_line", "source_lines"]


def last_line(code: types.CodeType) -> int:
    """The last source line of ``code`` and of the functions nested in it (0 if unknown)."""
    last = max((end or 0 for _, end, _, _ in code.co_positions()), default=0)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            last = max(last, last_line(const))
    return last


def source_lines(fn: Callable[..., Any]) -> str | None:
    """The lines of ``fn``'s definition, decorators included, from ``linecache`` and the line
    range of its code object; None where that cannot be told (then ``inspect`` reads it).

    ``inspect.getsource`` finds the end of the block by tokenizing, and compiling the
    tokenizer's regular expressions is ~10 ms of a new process's first launch of a cached
    kernel (issue 13); the code object already knows its last line."""
    code = getattr(fn, "__code__", None)
    if code is None or not hasattr(code, "co_positions"):
        return None
    lines = linecache.getlines(code.co_filename, fn.__globals__)
    first, last = code.co_firstlineno, last_line(code)
    if not lines or not 0 < first <= last <= len(lines) or not block_ends(lines, first, last):
        return None
    return "".join(lines[first - 1 : last])


def block_ends(lines: list[str], first: int, last: int) -> bool:
    """Whether the definition starting at file line ``first`` ends at line ``last``: the next
    line of code is indented no deeper than the ``def`` (or decorator). A trailing statement
    that compiles to nothing (code after ``return``, an ``if False:`` block) has no position
    in the code object: then the range is short and ``inspect`` reads the block instead."""
    head = lines[first - 1]
    indent = len(head) - len(head.lstrip())
    for line in lines[last:]:
        code = line.lstrip()
        if code and not code.startswith("#"):
            return len(line) - len(code) <= indent
    return True
