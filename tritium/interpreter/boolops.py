"""Python's ``and``/``or``/``not`` on tiles, as Triton compiles them.

The compiler turns ``a and b`` between tiles into ``logical_and`` (``or``: ``logical_or``,
``not``: ``logical_not``) and short-circuits only compile-time values. Run as plain Python, the
same kernel would ask a tile for its truth value. So the interpreter runs a kernel whose body
has such an operator from a rewritten copy of its source: ``a and b`` becomes
``__tt_boolop(True, lambda: a, lambda: b)`` (the operands stay lazy, so a non-tile operand
short-circuits exactly as in Python) and ``not a`` becomes ``__tt_not(a)``. Line numbers are
kept, so tracebacks, ``print`` and ``pdb`` still point at the user's lines.

The same rewrite turns ``v.dtype`` into ``__tt_dtype(v)``: Triton makes ``v = 1`` a scalar
tensor, so ``v.dtype`` of a plain Python number is its literal's type (``int32``, ``fp32``,
``int1``), as the compiler's frontend gives it. ``v.type`` becomes ``__tt_type(v, lifted)``: a
plain value's type is its ``constexpr_type`` unless ``v`` is a name that only plain
assignments (``x = 10``) bind, which Triton lifts to a scalar tensor (the literal's dtype);
a tensor method read from such a name that a number literal binds somewhere (``acc = 0; acc =
acc.to(tl.int64)``) becomes ``__tt_attr(acc, "to")``, which lifts a number to a scalar tile.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from collections.abc import Callable
from typing import Any

from tritium.language.core import active_engine, tensor, unwrap_constexpr

from .loop_rewrite import BODY_PREFIX, rewrite_loops
from .loops import HELPERS as LOOP_HELPERS

__all__ = ["HELPERS", "all_names", "closure_for", "rewritten_code"]

_CACHE: dict[tuple[types.CodeType, bool], types.CodeType | None] = {}


def _boolop(is_and: bool, *operands: Callable[[], Any]) -> Any:
    result = unwrap_constexpr(operands[0]())
    for operand in operands[1:]:
        if not isinstance(result, tensor):
            if bool(result) != is_and:  # Python's short circuit on a plain value
                return result
            result = unwrap_constexpr(operand())
            continue
        rhs = unwrap_constexpr(operand())
        if not isinstance(rhs, tensor):
            if bool(rhs) != is_and:
                return rhs  # `t and False` is False, `t or True` is True
            continue  # `t and True` / `t or False` is t
        engine = active_engine()
        result = engine.logical_and(result, rhs) if is_and else engine.logical_or(result, rhs)
    return result


def _not(value: Any) -> Any:
    value = unwrap_constexpr(value)
    return active_engine().logical_not(value) if isinstance(value, tensor) else not value


def _dtype(value: Any) -> Any:
    value = unwrap_constexpr(value)
    if type(value) in (int, float, bool):
        from tritium.language.type_rules import scalar_dtype

        return scalar_dtype(value)
    return value.dtype


def _type(value: Any, lifted: bool) -> Any:
    value = unwrap_constexpr(value)
    if hasattr(value, "type"):
        return value.type
    if lifted and type(value) in (int, float, bool):
        from tritium.language.type_rules import scalar_dtype

        return scalar_dtype(value)
    from tritium.language.aggregates import constexpr_type

    return constexpr_type(value)


def _attr(value: Any, name: str) -> Any:
    """``value.name`` of a name that only plain assignments bind: a number there is a scalar
    tensor in Triton (``acc = 0; acc = acc.to(tl.int64)``, Triton's test_for_iv)."""
    value = unwrap_constexpr(value)
    if type(value) in (int, float, bool):
        from tritium.interpreter.itypes import itype
        from tritium.language.type_rules import scalar_dtype

        # the literal's own dtype, as Triton's to_tensor (1e40 is fp64, 2**40 int64)
        value = active_engine().to_tile(value, itype(scalar_dtype(value).name))
    return getattr(value, name)


def _is_tensor_attr(node: ast.AST, numbers: set[str]) -> bool:
    """``x.m`` read from a name in ``numbers`` (:func:`_number_names`), ``m`` a tensor
    attribute Python numbers lack."""
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Load)
        and isinstance(node.value, ast.Name)
        and node.value.id in numbers
        and hasattr(tensor, node.attr)
        and not any(hasattr(t, node.attr) for t in (int, float, bool))
    )


#: calls whose result is a Python number when their arguments are
_NUMBER_CALLS = frozenset({"int", "float", "bool", "min", "max", "abs", "round"})


def _number_like(node: ast.expr, params: set[str]) -> bool:
    """Whether ``node`` may evaluate to a Python number: constants, the kernel's parameters
    (``params``: constexprs are numbers) and arithmetic, comparisons and the number builtins
    of them (``0``, ``-1.0``, ``BLOCK * 0``, ``C``, ``float("-inf")``); no local name (a
    400-term sum of tiles would make the kernel's every ``.to`` a rewrite, and the rewrite
    recurses), no ``tl`` call, no attribute or subscript."""
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            if n.id not in params and n.id not in _NUMBER_CALLS:
                return False
        if isinstance(n, ast.Call):
            if not (isinstance(n.func, ast.Name) and n.func.id in _NUMBER_CALLS) or n.keywords:
                return False
        elif not isinstance(
            n,
            (ast.Constant, ast.Name, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp,
             ast.operator, ast.unaryop, ast.boolop, ast.cmpop, ast.expr_context),
        ):  # fmt: skip
            return False
    return True


def _number_names(func: ast.FunctionDef, lifted: set[str]) -> set[str]:
    """The names of ``lifted`` that some assignment binds to what may be a number
    (:func:`_number_like`): only their tensor methods are rewritten, so a kernel without one
    is not rewritten for them (the rewrite recurses over the tree; a 400-term sum of tiles
    would overflow the stack); ``__tt_attr`` lifts the value only where it is a number."""
    params = {a.arg for a in func.args.args + func.args.kwonlyargs}
    out: set[str] = set()
    for n in ast.walk(func):
        if isinstance(n, ast.Assign) and _number_like(n.value, params):
            out |= {t.id for t in n.targets if isinstance(t, ast.Name)}
    return out & lifted


#: The names the rewritten code calls, added to the kernel's globals by the launcher.
HELPERS = {
    "__tt_boolop": _boolop,
    "__tt_not": _not,
    "__tt_dtype": _dtype,
    "__tt_type": _type,
    "__tt_attr": _attr,
    **LOOP_HELPERS,
}


def _is_dtype_load(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute) and node.attr == "dtype" and isinstance(node.ctx, ast.Load)
    )


def _is_type_load(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute) and node.attr == "type" and isinstance(node.ctx, ast.Load)
    )


def _lifted_names(func: ast.FunctionDef) -> set[str]:
    """The names only plain assignments bind in ``func`` (not parameters, not annotated)."""
    plain: set[str] = set()
    other = {a.arg for a in (*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs)}
    for n in ast.walk(func):
        if isinstance(n, ast.Assign):
            plain |= {t.id for t in n.targets if isinstance(t, ast.Name)}
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
            other.add(n.target.id)
    return plain - other


class _Rewrite(ast.NodeTransformer):
    def __init__(self, lifted: set[str], numbers: set[str]) -> None:
        self.lifted = lifted
        self.numbers = numbers

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:  # noqa: N802 (ast's name)
        self.generic_visit(node)
        thunks = [
            ast.Lambda(
                ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]),
                v,
            )
            for v in node.values
        ]
        call = ast.Call(
            ast.Name("__tt_boolop", ast.Load()),
            [ast.Constant(isinstance(node.op, ast.And)), *thunks],
            [],
        )
        return ast.copy_location(call, node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:  # noqa: N802
        self.generic_visit(node)
        if _is_type_load(node):
            lifted = isinstance(node.value, ast.Name) and node.value.id in self.lifted
            call = ast.Call(
                ast.Name("__tt_type", ast.Load()), [node.value, ast.Constant(lifted)], []
            )
            return ast.copy_location(call, node)
        if _is_tensor_attr(node, self.numbers):
            call = ast.Call(
                ast.Name("__tt_attr", ast.Load()), [node.value, ast.Constant(node.attr)], []
            )
            return ast.copy_location(call, node)
        if not _is_dtype_load(node):
            return node
        return ast.copy_location(
            ast.Call(ast.Name("__tt_dtype", ast.Load()), [node.value], []), node
        )

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:  # noqa: N802
        self.generic_visit(node)
        if not isinstance(node.op, ast.Not):
            return node
        return ast.copy_location(
            ast.Call(ast.Name("__tt_not", ast.Load()), [node.operand], []), node
        )


def rewritten_code(fn: types.FunctionType, loops: bool = True) -> types.CodeType | None:
    """The code of ``fn`` with ``and``/``or``/``not``/``.dtype``/``.type`` rewritten, and with
    ``loops`` its ``for`` loops too (:func:`.loops.rewrite_loops`), or None when it has none of
    them (or its source cannot be read: it then runs as it is)."""
    code = fn.__code__
    key = (code, loops)
    if key in _CACHE:
        return _CACHE[key]
    _CACHE[key] = None
    try:
        lines, first = inspect.getsourcelines(fn)
        filename = inspect.getsourcefile(fn) or code.co_filename
    except (OSError, TypeError):
        return None
    try:
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except SyntaxError:
        return None
    func = tree.body[0] if tree.body else None
    if not isinstance(func, ast.FunctionDef) or func.name != code.co_name:
        return None
    lifted = _lifted_names(func)
    numbers = _number_names(func, lifted)
    if not any(
        isinstance(n, ast.BoolOp)
        or (loops and isinstance(n, ast.For))
        or (isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not))
        or _is_dtype_load(n)
        or _is_type_load(n)
        or _is_tensor_attr(n, numbers)
        for n in ast.walk(func)
    ):
        return None
    func.decorator_list = []
    func = _Rewrite(lifted, numbers).visit(func)
    if loops:
        rewrite_loops(func)  # loop bodies as functions, for record-and-replay (loops.py)
    if code.co_freevars:
        # Defined inside a function taking the free variables as parameters, the new code
        # closes over the same names, so it can take the original function's cells.
        outer = ast.FunctionDef(
            "__tt_outer",
            ast.arguments(
                posonlyargs=[],
                args=[ast.arg(n) for n in code.co_freevars],
                kwonlyargs=[],
                kw_defaults=[],
                defaults=[],
            ),
            [func],
            [],
        )
        tree.body = [outer]
    else:
        tree.body = [func]
    tree = ast.fix_missing_locations(tree)
    ast.increment_lineno(tree, max(first, 1) - 1)
    new = _find_code(compile(tree, filename, "exec"), code.co_name)
    if new is None or set(new.co_freevars) - set(code.co_freevars):
        return None
    new = _rename_bodies(new, code.co_name)
    _CACHE[key] = new
    return new


def _rename_bodies(code: types.CodeType, name: str) -> types.CodeType:
    """``code`` with its rewritten loop bodies named ``name`` (the kernel's name), so that
    tracebacks and error locations name the kernel, as before the rewrite."""
    consts = tuple(
        _rename_bodies(c, name) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    new = code.replace(co_consts=consts)
    if code.co_name.startswith(BODY_PREFIX):
        new = new.replace(co_name=name, co_qualname=name)
    return new


def _find_code(code: types.CodeType, name: str) -> types.CodeType | None:
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            if c.co_name == name:
                return c
            found = _find_code(c, name)
            if found is not None:
                return found
    return None


def all_names(code: types.CodeType) -> set[str]:
    """The global names ``code`` and the lambdas in it refer to."""
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= all_names(c)
    return names


def closure_for(new: types.CodeType, fn: types.FunctionType) -> tuple[Any, ...] | None:
    """``fn``'s closure cells reordered for ``new``'s free variables."""
    if not new.co_freevars:
        return None
    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
    return tuple(cells[name] for name in new.co_freevars)
