"""SourceInfo reads a kernel's lines from its code object's line range (no tokenizer) only
where that range is the whole definition; otherwise from ``inspect`` (issue 13)."""

from __future__ import annotations

import ast
import inspect
import textwrap

from tritium.code_lines import source_lines
from tritium.frontend.source import SourceInfo


def _plain(x):
    y = (x +
         1)  # fmt: skip
    return y
    # a trailing comment


def _after_return(x):
    return x
    z = 3  # no code: the code object's range ends at the return
    return z


def _trailing_noop(x):
    x = x + 1
    "a string statement: its position is the implicit return's"


class _Holder:
    @staticmethod
    def nested(x):
        def inner():
            return 1

        return inner


def test_source_info_matches_inspect() -> None:
    for fn in (_plain, _after_return, _trailing_noop, _Holder.nested):
        lines, first = inspect.getsourcelines(fn)
        info = SourceInfo.of(fn)
        # inspect also keeps comment lines after the last statement
        assert info.lines == lines[: len(info.lines)], fn.__name__
        assert all(ln.strip().startswith("#") for ln in lines[len(info.lines) :])
        assert info.first_line == first
        text = textwrap.dedent("".join(lines))
        assert ast.dump(info.tree) == ast.dump(ast.parse(text).body[0]), fn.__name__


def test_short_range_falls_back() -> None:
    # the fast path would drop the statements after `return`: it must decline
    assert source_lines(_after_return) is None
    assert len(SourceInfo.of(_after_return).tree.body) == 3
    assert source_lines(_plain) is not None
