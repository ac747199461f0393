"""The source rewrite behind record-and-replay (:mod:`.loops`): loop bodies as functions.

``for i in ITER: BODY`` becomes::

    def __tt_body_1(i, a, b):        # the loop variable and every name BODY assigns
        if a is __tt_U: del a        # (names unbound before the loop stay unbound)
        BODY
        return __tt_pack(locals(), ("i", "a", "b"))
    i, a, b = __tt_loop(__tt_body_1, ITER, __tt_pack(locals(), ("i", "a", "b")))
    if i is __tt_U: del i            # ... for each name

with BODY's own lines, so that tracebacks and error locations still name the user's code
(the launcher also gives the body functions the kernel's name).  A loop stays as written when
its body has ``break``/``continue``/``return``/``yield``, an ``else``, ``global``/``nonlocal``,
``try``/``with``/``raise``, ``import``, a nested ``def``/``class``, ``:=``, stores into
attributes or items, or ``del`` of anything but a name; so does every loop of a function
with ``global``/``nonlocal``.
"""

from __future__ import annotations

import ast
from typing import Any

__all__ = ["BODY_PREFIX", "rewrite_loops"]

BODY_PREFIX = "__tt_body_"


class _Scan(ast.NodeVisitor):
    """Names a loop body binds, and whether the body can become a function."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.ok = True
        self.loop_depth = 0

    def _bind(self, name: str) -> None:
        if name not in self.names and not name.startswith("__tt_"):
            self.names.append(name)

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(
            node,
            (
                ast.Return, ast.Yield, ast.YieldFrom, ast.Await, ast.Global, ast.Nonlocal,
                ast.Try, ast.With, ast.AsyncWith, ast.AsyncFor, ast.Raise,
                ast.Import, ast.ImportFrom, ast.NamedExpr, ast.ClassDef, ast.AsyncFunctionDef,
            ),
        ):  # fmt: skip
            self.ok = False
            return
        if isinstance(node, ast.Delete) and not all(isinstance(t, ast.Name) for t in node.targets):
            self.ok = False
            return
        if isinstance(node, (ast.Break, ast.Continue)) and self.loop_depth == 0:
            self.ok = False
            return
        super().generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:  # noqa: N802 (ast's name)
        if not node.name.startswith(BODY_PREFIX):
            self.ok = False  # (a rewritten inner loop's body is fine: see _Rewrite)

    def visit_Lambda(self, node: ast.Lambda) -> None:  # noqa: N802
        pass  # its own scope; it binds nothing here (no := inside, checked above)

    def _comprehension(self, node: ast.AST) -> None:
        for n in ast.walk(node):
            if isinstance(n, (ast.NamedExpr, ast.Yield, ast.YieldFrom, ast.Await)):
                self.ok = False

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension  # noqa: N815

    def visit_For(self, node: ast.For) -> None:  # noqa: N802
        self.visit(node.target)
        self.visit(node.iter)
        self.loop_depth += 1
        for s in node.body + node.orelse:
            self.visit(s)
        self.loop_depth -= 1

    def visit_While(self, node: ast.While) -> None:  # noqa: N802
        self.visit(node.test)
        self.loop_depth += 1
        for s in node.body + node.orelse:
            self.visit(s)
        self.loop_depth -= 1

    def visit_Name(self, node: ast.Name) -> None:  # noqa: N802
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._bind(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:  # noqa: N802
        if not isinstance(node.ctx, ast.Load):
            self.ok = False
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:  # noqa: N802
        if not isinstance(node.ctx, ast.Load):
            self.ok = False
        self.generic_visit(node)


def _name(n: str, store: bool = False) -> ast.Name:
    return ast.Name(n, ast.Store() if store else ast.Load())


def _tuple(names: list[str], store: bool = False) -> ast.Tuple:
    return ast.Tuple([_name(n, store) for n in names], ast.Store() if store else ast.Load())


def _call(fn: str, *args: ast.expr) -> ast.Call:
    return ast.Call(_name(fn), list(args), [])


def _strs(names: list[str]) -> ast.Tuple:
    return ast.Tuple([ast.Constant(n) for n in names], ast.Load())


def _unbind(names: list[str]) -> list[ast.stmt]:
    """``if n is __tt_U: del n`` for each name: it stays unbound, as in Python."""
    return [
        ast.If(
            ast.Compare(_name(n), [ast.Is()], [_name("__tt_U")]),
            [ast.Delete([ast.Name(n, ast.Del())])],
            [],
        )
        for n in names
    ]


class _Rewrite(ast.NodeTransformer):
    def __init__(self) -> None:
        self.count = 0

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:  # noqa: N802
        return node  # a nested def keeps its own loops as they are

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:  # noqa: N802
        return node

    def visit_For(self, node: ast.For) -> Any:  # noqa: N802
        self.generic_visit(node)  # inner loops first
        if node.orelse or not isinstance(node.target, ast.Name):
            return node
        scan = _Scan()
        for s in node.body:
            scan.visit(s)
        if not scan.ok:
            return node
        var = node.target.id
        names = [var] + [n for n in scan.names if n != var]
        self.count += 1
        fname = f"{BODY_PREFIX}{self.count}"
        body_fn = ast.FunctionDef(
            fname,
            ast.arguments(
                posonlyargs=[],
                args=[ast.arg(n) for n in names],
                kwonlyargs=[],
                kw_defaults=[],
                defaults=[],
            ),
            _unbind(names[1:])
            + node.body
            + [ast.Return(_call("__tt_pack", _call("locals"), _strs(names)))],
            [],
        )
        run = ast.Assign(
            [_tuple(names, True)],
            _call(
                "__tt_loop",
                _name(fname),
                node.iter,
                _call("__tt_pack", _call("locals"), _strs(names)),
            ),
        )
        out: list[ast.stmt] = [body_fn, run, *_unbind(names)]
        for s in out:
            ast.copy_location(s, node)
        return out


def rewrite_loops(func: ast.FunctionDef) -> int:
    """Rewrite the eligible ``for`` loops of ``func`` in place; returns how many."""
    if any(isinstance(n, (ast.Global, ast.Nonlocal)) for n in ast.walk(func)):
        return 0  # a name the loop assigns might be the module's or an outer function's
    rw = _Rewrite()
    func.body = [x for s in func.body for x in _as_list(rw.visit(s))]
    return rw.count


def _as_list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else [x]
