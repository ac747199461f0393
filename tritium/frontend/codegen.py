"""The code generator: a visitor over a kernel's Python AST that emits Tile IR.

Each ``visit_X`` handles one Python construct. Values in the scope are either :class:`Tile`
(run-time values, backed by IR) or plain Python values (compile-time constants: ints,
dtypes, functions, tuples of either). Operators and ``tl.*`` calls on tiles reach the
:class:`~tritium.frontend.engine.IREngine` through the language's engine dispatch; Python
values fold in Python. Control flow on tiles becomes ``scf`` ops
(:mod:`tritium.frontend.control_flow`); control flow on constants runs at compile time.
"""

from __future__ import annotations

import ast
import builtins
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tritium import ir
from tritium.errors import CompilationError, CompileTimeAssertionFailure, InternalCompilerError
from tritium.frontend.control_flow import RETURN, ControlFlowMixin
from tritium.frontend.source import SourceInfo
from tritium.frontend.tile import is_tile
from tritium.language import core as lcore
from tritium.language.aggregates import BoundJITMethod

if TYPE_CHECKING:
    from tritium.frontend.translate import ModuleContext

__all__ = ["CodeGenerator"]

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
    ast.MatMult: operator.matmul,
}
_CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_UNSUPPORTED: dict[type, str] = {
    ast.Lambda: "lambda",
    ast.With: "with",
    ast.AsyncWith: "async with",
    ast.Try: "try",
    ast.Raise: "raise",
    ast.Yield: "yield",
    ast.YieldFrom: "yield from",
    ast.Await: "await",
    ast.Break: "break",
    ast.Continue: "continue",
    ast.FunctionDef: "nested def (a nested function: move it to module level, with @jit)",
    ast.AsyncFunctionDef: "nested async def (a nested function)",
    ast.ClassDef: "class definitions",
    ast.Global: "global",
    ast.Nonlocal: "nonlocal",
    ast.Delete: "del",
    ast.Import: "import",
    ast.ImportFrom: "import",
    ast.SetComp: "set comprehensions",
    ast.DictComp: "dict comprehensions",
    ast.AsyncFor: "async for",
    ast.NamedExpr: "assignment expressions (:=)",
}
if hasattr(ast, "TryStar"):
    _UNSUPPORTED[ast.TryStar] = "try"
if hasattr(ast, "Match"):
    _UNSUPPORTED[ast.Match] = "match"


# the Python values a plain assignment lifts to a scalar tensor in Triton
_NUMBERS = (int, float, bool)


class CodeGenerator(ControlFlowMixin, ast.NodeVisitor):
    """Generates the body of one function into the builder's current block.

    ``scope`` maps local names to values; ``fn_globals`` and ``closure`` resolve the rest.
    After :meth:`generate`, ``scope[RETURN]`` holds the returned value (None if nothing).
    """

    def __init__(
        self,
        ctx: ModuleContext,
        src: SourceInfo,
        fn_globals: dict[str, Any],
        closure: dict[str, Any],
        scope: dict[str, Any],
    ) -> None:
        self.ctx = ctx
        self.src = src
        self.fn_globals = fn_globals
        self.closure = closure
        self.scope = scope
        # names a plain `x = <number>` bound: Triton lifts those to scalar tensors (so
        # `x.type` is the literal's dtype); tritium keeps the number (see visit_Attribute)
        self.lifted: set[str] = set()
        self._unused_call: ast.Call | None = None  # the call of the statement being visited
        self.loop_depth = 0
        # tracing a pure function on tiles or scalars (tl.map_elementwise, a combine
        # function): `if` computes both branches and selects
        self.elementwise = False

    @property
    def builder(self) -> ir.Builder:
        """The compilation's builder (shared by every function being generated)."""
        return self.ctx.builder

    @property
    def engine(self) -> Any:
        """The compilation's :class:`~tritium.frontend.engine.IREngine`."""
        return self.ctx.engine

    # ---- driving ------------------------------------------------------------------------

    def generate(self) -> Any:
        """Generate the function body; returns the value of its ``return`` (or None)."""
        self.visit_statements(self.src.tree.body)
        return self.scope.get(RETURN)

    def visit(self, node: ast.AST) -> Any:
        """Visit ``node`` with the builder's location set to it; errors point at it."""
        if not hasattr(node, "lineno"):
            return super().visit(node)
        saved = self.builder.loc
        self.builder.loc = self.src.loc(node)
        try:
            return super().visit(node)
        except CompilationError as e:
            callee = e.__dict__.pop("_tt_callee", None)
            if callee is None:
                raise
            # As Triton: an error inside a called @jit function is the cause of one at the
            # call site (tests read the callee's line from ``__cause__``).
            # A failed static_assert stays one.
            kind = type(e).__name__
            raise self.src.error(node, f"in {callee}(): {e.error_message}", kind=kind) from e
        except InternalCompilerError:
            raise
        except Exception as e:  # an error from a builtin or from Python: the user's line
            err = self._error_at(node, e)
            if isinstance(err, CompileTimeAssertionFailure) or isinstance(e, RecursionError):
                raise err from None
            # As Triton: the builtin's own error is the cause (tests read ``__cause__``).
            # The builtins' plain errors lose their traceback inside the compiler, so the
            # report stays the user's line and the message.
            plain = (TypeError, ValueError, NotImplementedError)
            raise err from (e.with_traceback(None) if isinstance(e, plain) else e)
        finally:
            self.builder.loc = saved

    def _visit_at(self, node: ast.AST, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` with the builder's location at ``node``, as :meth:`visit` does."""
        saved = self.builder.loc
        self.builder.loc = self.src.loc(node)
        try:
            return fn(*args)
        except (CompilationError, InternalCompilerError):
            raise
        except Exception as e:
            raise self._error_at(node, e) from None
        finally:
            self.builder.loc = saved

    def _error_at(self, node: ast.AST, e: Exception) -> CompilationError:
        if isinstance(e, RecursionError):
            return self.src.error(node, "recursion too deep while compiling")
        return self._wrap_error(node, e)

    def _wrap_error(self, node: ast.AST, e: Exception) -> CompilationError:
        # The builtins' own errors read best as they are; other exceptions keep their type.
        plain = (TypeError, ValueError, AssertionError, NotImplementedError)
        msg = str(e) if isinstance(e, plain) else f"{type(e).__name__}: {e}"
        if isinstance(e, NotImplementedError) and str(e).isidentifier():
            # the Engine protocol's default for a builtin this engine does not implement
            msg = f"tl.{e} is not supported by the compiler yet"
        if not msg:
            msg = f"{type(e).__name__} (no message)"
        kind = (
            "CompileTimeAssertionFailure" if isinstance(e, AssertionError) else "CompilationError"
        )
        err = self.src.error(node, msg, kind=kind)
        err.original = e  # type: ignore[attr-defined]
        return err

    def generic_visit(self, node: ast.AST) -> Any:
        """Any construct without a ``visit_X`` is not part of the kernel language."""
        what = _UNSUPPORTED.get(type(node), type(node).__name__)
        raise self.src.error(
            node, f"unsupported construct in a kernel: {what}", kind="UnsupportedLanguageConstruct"
        )

    def visit_statements(self, stmts: list[ast.stmt]) -> None:
        """Visit a statement list, stopping at a ``return``.

        An ``if`` that returns on some path takes the statements after it into its branches
        that do not return, so every path ends at the function's end (Triton's early exit).
        """
        for i, stmt in enumerate(stmts):
            if RETURN in self.scope:
                return
            if isinstance(stmt, ast.If) and _contains_return(stmt) and i + 1 < len(stmts):
                self.visit(_with_continuation(stmt, stmts[i + 1 :]))
                return
            self.visit(stmt)

    # ---- names --------------------------------------------------------------------------

    def lookup(self, name: str) -> Any:
        """The value of ``name``: locals, closure, globals, then Python's builtins."""
        if name in self.scope:
            return self.scope[name]
        if name in self.closure:
            return lcore.unwrap_constexpr(self.closure[name])
        if name in self.fn_globals:
            return lcore.unwrap_constexpr(self.fn_globals[name])
        if hasattr(builtins, name):
            return getattr(builtins, name)
        raise NameError(f"name '{name}' is not defined")

    def assign(self, target: ast.expr, value: Any) -> None:
        """Bind ``value`` to an assignment target (a name or a tuple of targets)."""
        if isinstance(target, ast.Name):
            self.scope[target.id] = value
            self.lifted.discard(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            if is_tile(value) or not isinstance(value, (tuple, list)):
                raise self.src.error(
                    target, f"cannot unpack a non-tuple value ({type(value).__name__})"
                )
            if len(value) != len(target.elts):
                raise self.src.error(
                    target, f"cannot unpack {len(value)} values into {len(target.elts)} names"
                )
            for t, v in zip(target.elts, value):
                self.assign(t, v)
        else:
            raise self.src.error(
                target,
                f"cannot assign to {type(target).__name__.lower()} "
                f"in a kernel; only names and tuples of names",
            )

    # ---- statements ---------------------------------------------------------------------

    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Call):
            self._unused_call = node.value  # checked against `must_use_result` (visit_Call)
        self.visit(node.value)

    def visit_Pass(self, node: ast.Pass) -> None:
        return None

    def visit_Assign(self, node: ast.Assign) -> None:
        value = self.visit(node.value)
        for target in node.targets:
            self.assign(target, value)
            if isinstance(target, ast.Name) and type(lcore.unwrap_constexpr(value)) in _NUMBERS:
                self.lifted.add(target.id)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.assign(node.target, lcore.unwrap_constexpr(self.visit(node.value)))

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if not isinstance(node.target, ast.Name):
            raise self.src.error(node.target, "augmented assignment needs a plain name")
        current = self.lookup(node.target.id)
        value = self._binop(node.op, current, self.visit(node.value))
        self.scope[node.target.id] = value

    def visit_Return(self, node: ast.Return) -> None:
        if self.loop_depth:
            raise self.src.error(node, "return inside a loop is not supported")
        self.scope[RETURN] = self.visit(node.value) if node.value is not None else None

    def visit_Assert(self, node: ast.Assert) -> None:
        cond = self.visit(node.test)
        msg = self.visit(node.msg) if node.msg is not None else ""
        if not isinstance(msg, str):
            msg = str(msg)
        if is_tile(cond):
            self.engine.device_assert(cond, msg, None)
        elif not cond:
            # A constant false assert only fails if this code runs, so it stays a run-time
            # check (it may sit in a branch that is never taken).
            self.engine.device_assert(False, msg, None)

    # ---- expressions --------------------------------------------------------------------

    def visit_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def visit_Name(self, node: ast.Name) -> Any:
        return self.lookup(node.id)

    def visit_Tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return tuple(self._visit_elts(node.elts))

    def visit_List(self, node: ast.List) -> list[Any]:
        return self._visit_elts(node.elts)

    def _visit_elts(self, elts: list[ast.expr]) -> list[Any]:
        out: list[Any] = []
        for e in elts:
            if isinstance(e, ast.Starred):
                out.extend(self.visit(e.value))
            else:
                out.append(self.visit(e))
        return out

    def visit_ListComp(self, node: ast.ListComp) -> list[Any]:
        """``[f(x) for x in it if cond]`` unrolled at compile time (as Triton does): ``it`` is
        a ``range`` of compile-time ints, a tuple or a list; conditions are compile-time."""
        return self._comprehension(node)

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> tuple[Any, ...]:
        """``tuple(f(x) for x in it)``: unrolled like a list comprehension."""
        return tuple(self._comprehension(node))

    def _comprehension(self, node: ast.ListComp | ast.GeneratorExp) -> list[Any]:
        targets = {
            n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)
        }
        saved = {name: self.scope[name] for name in targets if name in self.scope}
        out: list[Any] = []

        def unroll(level: int) -> None:
            if level == len(node.generators):
                out.append(self.visit(node.elt))
                return
            comp = node.generators[level]
            items = lcore.unwrap_constexpr(self.visit(comp.iter))
            if is_tile(items) or not isinstance(items, (range, tuple, list)):
                raise self.src.error(
                    comp.iter,
                    "a comprehension in a kernel iterates over a range(...) of compile-time "
                    f"ints, a tuple or a list, not {type(items).__name__}",
                )
            for item in items:
                self.assign(comp.target, item)
                conds = [lcore.unwrap_constexpr(self.visit(c)) for c in comp.ifs]
                if any(is_tile(c) for c in conds):
                    raise self.src.error(
                        comp.ifs[0], "a comprehension's condition must be known at compile time"
                    )
                if all(conds):
                    unroll(level + 1)

        try:
            unroll(0)
        finally:
            # The comprehension's variables are its own, as in Python 3.
            for name in targets:
                self.scope.pop(name, None)
            self.scope.update(saved)
        return out

    def visit_Dict(self, node: ast.Dict) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for k, v in zip(node.keys, node.values):
            if k is None:
                out.update(self.visit(v))
            else:
                out[self.visit(k)] = self.visit(v)
        return out

    def visit_Slice(self, node: ast.Slice) -> slice:
        lower = self.visit(node.lower) if node.lower is not None else None
        upper = self.visit(node.upper) if node.upper is not None else None
        step = self.visit(node.step) if node.step is not None else None
        return slice(lower, upper, step)

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        value = self.visit(node.value)
        idx = lcore.unwrap_constexpr(self.visit(node.slice))
        return lcore.unwrap_constexpr(value[idx])

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        value = lcore.unwrap_constexpr(self.visit(node.value))
        if node.attr == "dtype" and type(value) in (int, float, bool):
            # Triton makes `v = 1` a scalar tensor, so `v.dtype` is the literal's type
            from tritium.language.type_rules import scalar_dtype

            return scalar_dtype(value)
        if node.attr == "type" and not hasattr(value, "type"):
            return self._type_of_value(node.value, value)
        if (
            isinstance(node.value, ast.Name)
            and node.value.id in self.lifted
            and type(value) in _NUMBERS
            and not hasattr(value, node.attr)
        ):
            # a tensor method of a name `x = <number>` bound (`acc = 0; acc = acc.to(tl.int64)`,
            # Triton's test_for_iv): Triton made it a scalar tensor, so lift it here
            value = self.engine.to_tile(value)
        return lcore.unwrap_constexpr(getattr(value, node.attr))

    def _type_of_value(self, node: ast.expr, value: Any) -> Any:
        """``v.type`` of a compile-time value, as Triton gives it: a name that a plain
        ``x = <number>`` bound is a scalar tensor there (its literal's dtype); anything else
        (a literal, a constexpr parameter or ``x: tl.constexpr = ...``) a ``constexpr_type``."""
        if isinstance(node, ast.Name) and node.id in self.lifted and type(value) in _NUMBERS:
            from tritium.language.type_rules import scalar_dtype

            return scalar_dtype(value)
        from tritium.language.aggregates import constexpr_type

        return constexpr_type(value)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> str:
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
                continue
            assert isinstance(v, ast.FormattedValue)
            val = self.visit(v.value)
            if is_tile(val):
                raise self.src.error(v, "f-strings can only format compile-time values")
            spec = self.visit(v.format_spec) if v.format_spec is not None else ""
            if v.conversion == ord("r"):
                val = repr(val)
            elif v.conversion == ord("s"):
                val = str(val)
            elif v.conversion == ord("a"):
                val = ascii(val)
            parts.append(format(val, spec))
        return "".join(parts)

    def _binop(self, op: ast.operator, lhs: Any, rhs: Any) -> Any:
        fn = _BINOPS.get(type(op))
        if fn is None:
            raise NotImplementedError(f"operator {type(op).__name__}")
        lhs, rhs = lcore.unwrap_constexpr(lhs), lcore.unwrap_constexpr(rhs)
        if (is_tile(lhs) or is_tile(rhs)) and isinstance(op, (ast.Pow, ast.MatMult)):
            sym = "**" if isinstance(op, ast.Pow) else "@"
            raise TypeError(
                f"operator {sym} is not supported on tensors"
                + ("; use tl.dot" if sym == "@" else "")
            )
        return fn(lhs, rhs)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        # A left-deep chain (a + b + c + ...) is evaluated in a loop: no Python recursion per
        # term, so a long sum compiles as the interpreter runs it.
        chain = [node]
        while isinstance(chain[-1].left, ast.BinOp):
            chain.append(chain[-1].left)
        value = self.visit(chain[-1].left)
        for n in reversed(chain[1:]):
            value = self._visit_at(n, self._binop_right, n, value)
        return self._binop_right(node, value)

    def _binop_right(self, node: ast.BinOp, lhs: Any) -> Any:
        return self._binop(node.op, lhs, self.visit(node.right))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        operand = lcore.unwrap_constexpr(self.visit(node.operand))
        if isinstance(node.op, ast.Not):
            return self.engine.logical_not(operand) if is_tile(operand) else not operand
        fn = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert}
        try:
            return fn[type(node.op)](operand)
        except TypeError as e:
            if is_tile(operand):
                raise
            # a compile-time value without the operator: the kernel's error, as Triton
            # reports it (its tests expect no cause)
            raise self.src.error(node, str(e), kind="UnsupportedLanguageConstruct") from None

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        is_and = isinstance(node.op, ast.And)
        result = lcore.unwrap_constexpr(self.visit(node.values[0]))
        for value_node in node.values[1:]:
            if not is_tile(result):
                # Compile-time short circuit, like Python.
                if bool(result) != is_and:
                    return result
                result = lcore.unwrap_constexpr(self.visit(value_node))
                continue
            rhs = lcore.unwrap_constexpr(self.visit(value_node))
            if not is_tile(rhs) and bool(rhs) != is_and:
                return rhs  # `t and False` is False, `t or True` is True
            if not is_tile(rhs):
                continue  # `t and True` / `t or False` is t
            result = (self.engine.logical_and if is_and else self.engine.logical_or)(result, rhs)
        return result

    def visit_Compare(self, node: ast.Compare) -> Any:
        lhs = lcore.unwrap_constexpr(self.visit(node.left))
        result: Any = True
        for op, right in zip(node.ops, node.comparators):
            rhs = lcore.unwrap_constexpr(self.visit(right))
            value = _CMPOPS[type(op)](lhs, rhs)
            if result is True:
                result = value
            elif is_tile(result) or is_tile(value):
                result = self.engine.logical_and(result, value)
            else:
                result = result and value
            lhs = rhs
        return result

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        cond = lcore.unwrap_constexpr(self.visit(node.test))
        if not is_tile(cond):
            return self.visit(node.body if cond else node.orelse)
        return self.dynamic_ifexp(node, cond)

    # ---- calls --------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> Any:
        fn = lcore.unwrap_constexpr(self.visit(node.func))
        if node is self._unused_call:
            self._check_result_used(node, fn)
        args = self._visit_elts(node.args)
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:
                kwargs.update(self.visit(kw.value))
            else:
                kwargs[kw.arg] = self.visit(kw.value)
        return lcore.unwrap_constexpr(self.call(fn, args, kwargs))

    def _check_result_used(self, node: ast.Call, fn: Any) -> None:
        """Triton's ``@must_use_result``: calling such a function as a statement is an
        error (the text given to the decorator is added to the message)."""
        mur = getattr(fn, "_must_use_result", None)
        if mur is None:
            mur = getattr(getattr(fn, "__func__", None), "_must_use_result", False)
        if not mur:
            return
        message = f"The result of {ast.unparse(node.func)} is not being used."
        if isinstance(mur, str):
            message += f" {mur}"
        raise self.src.error(node, message)

    def call(self, fn: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Call ``fn``: ``@jit`` functions become ``tt.call`` of a specialization, everything
        else (``tl`` builtins, Python helpers) runs now under the engine."""
        if getattr(fn, "is_jit_function", False):
            return self.ctx.call_jit(fn, args, kwargs)
        if isinstance(fn, BoundJITMethod):
            return self.ctx.call_jit(fn.__func__, [fn.__self__, *args], kwargs)
        if fn is builtins.print:
            return self._print(args, kwargs)
        if fn in (builtins.min, builtins.max) and any(is_tile(a) for a in _flat_args(args)):
            return self._minmax(fn is builtins.max, args)
        return fn(*args, **kwargs)

    def _print(self, args: list[Any], kwargs: dict[str, Any]) -> None:
        args = [lcore.unwrap_constexpr(a) for a in args]
        prefix = ""
        if args and isinstance(args[0], str):
            prefix, args = args[0], args[1:]
        if any(isinstance(a, str) for a in args):
            raise TypeError("print: only the first argument may be a string (the prefix)")
        self.engine.device_print(prefix, tuple(args), bool(kwargs.get("hex", False)))

    def _minmax(self, is_max: bool, args: list[Any]) -> Any:
        values = list(args[0]) if len(args) == 1 else list(args)
        if not values:
            raise ValueError("min/max of no values")
        result = values[0]
        for v in values[1:]:
            result = (self.engine.maximum if is_max else self.engine.minimum)(result, v, "none")
        return result


def _flat_args(args: list[Any]) -> list[Any]:
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return list(args[0])
    return args


def _contains_return(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Return) for n in ast.walk(node))


def _terminates(stmts: list[ast.stmt]) -> bool:
    """Whether every path through ``stmts`` ends in a ``return``."""
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, ast.Return):
        return True
    if isinstance(last, ast.If):
        return _terminates(last.body) and _terminates(last.orelse)
    return False


def _with_continuation(node: ast.If, rest: list[ast.stmt]) -> ast.If:
    """``node`` with ``rest`` appended to each branch that does not return."""
    body = node.body if _terminates(node.body) else node.body + rest
    orelse = node.orelse if _terminates(node.orelse) else node.orelse + rest
    new = ast.If(test=node.test, body=body, orelse=orelse)
    return ast.copy_location(new, node)
