"""Structured control flow: ``if``/``for``/``while`` on run-time values become ``scf`` ops.

Conditions and bounds known at compile time run in Python (a constant ``if`` takes one
branch, ``tl.static_range`` unrolls). On run-time values:

* ``if`` → ``scf.if`` whose results are the names the branches (re)assign that exist after
  it (in both branches, or before the ``if``);
* ``for`` over ``range``/``tl.range`` → ``scf.for`` carrying the names the body reassigns
  that exist before the loop;
* ``while`` → ``scf.while`` carrying the same.

A carried value that starts as a Python number (``acc = 0``) takes the type the body gives
it. Tuples of tiles are carried element by element. Names first defined inside a run-time
branch or loop body are not visible after it, as in Triton.
"""

from __future__ import annotations

import ast
import itertools
from typing import TYPE_CHECKING, Any

from tritium import ir, knobs
from tritium.frontend.block_pointer import RECORD_TYPES
from tritium.frontend.elif_chain import ElifChainMixin, elif_chain
from tritium.frontend.engine_base import is_number
from tritium.frontend.tile import Tile, is_tile
from tritium.frontend.type_conversion import to_ir_type
from tritium.language import control as lcontrol
from tritium.language import core as lcore
from tritium.language import dtypes as ldt
from tritium.language import type_rules as st

if TYPE_CHECKING:
    from tritium.frontend.codegen import CodeGenerator

__all__ = ["ControlFlowMixin", "RETURN", "flatten_value", "unflatten_value"]

#: The scope key holding a function's return value once a ``return`` ran.
RETURN = "<return>"
_MISSING = object()


# ---- value trees: tuples of tiles are flattened into IR values and rebuilt -----------------


def flatten_value(v: Any) -> tuple[list[Any], Any]:
    """The leaves of ``v`` (nested tuples/lists, block pointers, tensor descriptors) and a
    description to rebuild it; descriptions compare equal when the structures match."""
    if isinstance(v, RECORD_TYPES):
        return v.leaves(), _RecordDef(v)
    aggregate = getattr(type(v), "__triton_aggregate__", False)
    if aggregate or (isinstance(v, (tuple, list)) and not is_tile(v)):
        leaves: list[Any] = []
        defs = []
        # an aggregate's constexpr fields stay constexprs: compile-time parts of a callee's key
        items = [getattr(v, n) for n in type(v).__aggregate_fields__] if aggregate else v
        for x in items:
            sub, d = flatten_value(x)
            leaves.extend(sub)
            defs.append(d)
        return leaves, (type(v), tuple(defs))
    return [v], None


class _RecordDef:
    """The structure of a flattened block pointer or tensor descriptor: equal when the static
    parts agree (the prototype only serves to rebuild one)."""

    def __init__(self, proto: Any) -> None:
        self.proto = proto
        self.key = (type(proto).__name__, proto.static_key())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _RecordDef) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


def unflatten_value(leaves: list[Any], treedef: Any) -> Any:
    """The value :func:`flatten_value` described by ``treedef``, made of ``leaves``."""
    it = iter(leaves)

    def build(d: Any) -> Any:
        if d is None:
            return next(it)
        if isinstance(d, _RecordDef):
            return d.proto.rebuild([next(it) for _ in d.proto.leaves()])
        kind, subs = d
        items = [build(s) for s in subs]
        if getattr(kind, "__triton_aggregate__", False):  # its fields, its __init__ not rerun
            from tritium.language.aggregates import _wrap_field

            obj = kind.__new__(kind)
            for name, item in zip(kind.__aggregate_fields__, items):
                object.__setattr__(obj, name, _wrap_field(item))  # constexprs as stored
            object.__setattr__(obj, "_aggregate_init_complete", True)
            return obj
        if hasattr(kind, "_fields"):  # a namedtuple takes its fields positionally
            return kind(*items)
        return kind(items)

    return build(treedef)


def _carryable(v: Any) -> bool:
    leaves, _ = flatten_value(v)
    return all(is_tile(x) or is_number(x) for x in leaves)


def _has_tile(v: Any) -> bool:
    return any(is_tile(x) for x in flatten_value(v)[0])


def _assigned_names(stmts: list[ast.stmt]) -> list[str]:
    """Names a statement list may (re)bind, in order of first appearance."""
    names: dict[str, None] = {}
    for stmt in stmts:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.setdefault(node.id, None)
    return list(names)


def _label(name: str) -> str:
    """How an error message names a variable (or the pending return value)."""
    return "the return value" if name == RETURN else f"`{name}`"


def _same_constant(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False


class ControlFlowMixin(ElifChainMixin):
    """``visit_If``, ``visit_For``, ``visit_While`` and run-time ``a if c else b``."""

    # ---- helpers ------------------------------------------------------------------------

    def _gen_block(
        self: CodeGenerator, stmts: list[ast.stmt], scope: dict[str, Any], block: ir.Block
    ) -> dict[str, Any]:
        """Generate ``stmts`` at the end of ``block`` with ``scope``; returns the final scope."""
        saved = self.scope
        self.scope = scope
        try:
            with self.builder.at_end_of(block):
                self.visit_statements(stmts)
            return self.scope
        finally:
            self.scope = saved

    def _as_tile_like(self: CodeGenerator, leaf: Any, like: Any) -> Tile:
        """``leaf`` as a tile; a Python number takes the dtype and shape of ``like``."""
        if is_tile(leaf):
            return leaf
        if is_tile(like) and not like.dtype.is_ptr():
            # A literal is weak (Triton's rule): it adopts the tile's dtype unless its kind
            # is higher (a float next to an int tile keeps fp32 and mismatches visibly).
            own = st.scalar_dtype(leaf)
            dt = like.dtype
            fits = (
                not dt.is_int()
                or dt.is_bool()
                or isinstance(leaf, float)
                or (dt.get_int_min_value() <= leaf <= dt.get_int_max_value())
            )
            if fits and st.computation_type(own, True, dt, False) == dt:
                t = self.engine.to_tile(leaf, like.dtype)
                return self.engine.broadcast_to_shape(t, like.shape)
        return self.engine.to_tile(leaf)

    def _scalar_condition(self: CodeGenerator, cond: Tile, node: ast.expr, what: str) -> Tile:
        if not cond.is_scalar and cond.numel == 1:
            # A one-element tile is its element (Triton unsplats it implicitly).
            cond = self.engine.reduce((cond,), None, lambda a, b: a, False)[0]
        if not cond.is_scalar:
            raise self.src.error(
                node,
                f"the condition of {what} must be a scalar, got a tile "
                f"of shape {list(cond.shape)}; use tl.where for "
                f"elementwise choices",
            )
        return self.engine.to_bool(cond)

    # ---- if -----------------------------------------------------------------------------

    def visit_If(self: CodeGenerator, node: ast.If) -> None:  # noqa: N802
        while True:
            cond = lcore.unwrap_constexpr(self.visit(node.test))
            if is_tile(cond):
                break
            branch = node.body if cond else node.orelse
            if len(branch) == 1 and isinstance(branch[0], ast.If):
                # an `elif` taken at compile time: a loop, not a recursion per `elif`
                node = branch[0]
                self.builder.loc = self.src.loc(node)
                continue
            self.visit_statements(branch)
            return
        if self.elementwise:
            self._if_select(node, self.engine.to_bool(cond))
            return
        cond = self._scalar_condition(cond, node.test, "if")
        chain = elif_chain(node)
        if chain is not None:
            self._flat_elif_chain(chain[0], chain[1], cond)
            return
        before = self.scope
        then_block, else_block = ir.Block(), ir.Block()
        then_scope = self._gen_block(node.body, dict(before), then_block)
        else_scope = self._gen_block(node.orelse, dict(before), else_block)
        self._emit_if(node, cond, (then_block, then_scope), (else_block, else_scope), before)

    def _emit_if(
        self: CodeGenerator,
        node: ast.AST,
        cond: Tile,
        then: tuple[ir.Block, dict[str, Any]],
        other: tuple[ir.Block, dict[str, Any]],
        before: dict[str, Any],
    ) -> None:
        """The ``scf.if`` on ``cond`` of two generated branches (block and final scope each):
        its results are the names both branches (re)assign; ``self.scope`` becomes ``before``
        updated with them."""
        (then_block, then_scope), (else_block, else_scope) = then, other
        merged: dict[str, Any] = {}
        results: list[tuple[str, Any, Any]] = []
        names = list(dict.fromkeys([*then_scope, *else_scope]))
        for name in names:
            tv, ev = then_scope.get(name, _MISSING), else_scope.get(name, _MISSING)
            if name == RETURN:
                tv = None if tv is _MISSING else tv
                ev = None if ev is _MISSING else ev
                if tv is None and ev is None:
                    continue
                if tv is None or ev is None:
                    raise self.src.error(
                        node,
                        "this function returns a value on one path of "
                        "the `if` and nothing on the other",
                    )
            elif tv is _MISSING or ev is _MISSING:
                continue  # defined in one branch only: not visible after the if
            if tv is ev or (not _has_tile(tv) and not _has_tile(ev) and _same_constant(tv, ev)):
                merged[name] = tv
                continue
            if not (_carryable(tv) and _carryable(ev)):
                raise self.src.error(
                    node,
                    f"{_label(name)} has different compile-time values in "
                    f"the branches of a run-time `if`",
                )
            results.append((name, tv, ev))

        yields_then: list[Tile] = []
        yields_else: list[Tile] = []
        shapes: list[tuple[str, Any, list[Tile]]] = []
        for name, tv, ev in results:
            t_leaves, t_def = flatten_value(tv)
            e_leaves, e_def = flatten_value(ev)
            if t_def != e_def or len(t_leaves) != len(e_leaves):
                raise self.src.error(
                    node,
                    f"{_label(name)} has a different structure in the two branches of the `if`",
                )
            t_tiles, e_tiles = [], []
            for a, b in zip(t_leaves, e_leaves):
                with self.builder.at_end_of(then_block):
                    ta = self._as_tile_like(a, b)
                with self.builder.at_end_of(else_block):
                    tb = self._as_tile_like(b, ta)
                if ta.type != tb.type:
                    # Triton's wording (its tests match it)
                    msg = (
                        f"Return type mismatch: {ta.type} returned in the then block and "
                        f"{tb.type} in the else block"
                        if name == RETURN
                        else f"Mismatched type for {name} between then block ({ta.type}) and "
                        f"else block ({tb.type})"
                    )
                    if name == RETURN:
                        # Triton points a return mismatch at the function's `def`; the `if`
                        # whose branches disagree is named in the message
                        line = self.src.line_col(node)[0]
                        raise self.src.error(self.src.tree, f"{msg} of the `if` at line {line}")
                    raise self.src.error(node, msg)
                t_tiles.append(ta)
                e_tiles.append(tb)
            yields_then += t_tiles
            yields_else += e_tiles
            shapes.append((name, t_def, t_tiles))

        with self.builder.at_end_of(then_block):
            self.builder.create("scf.yield", [t.handle for t in yields_then])
        op = self.builder.create(
            "scf.if", [cond.handle], [t.handle.type for t in yields_then], regions=2
        )
        op.regions[0].add_block(then_block)
        if yields_else or else_block.ops:
            with self.builder.at_end_of(else_block):
                self.builder.create("scf.yield", [t.handle for t in yields_else])
            op.regions[1].add_block(else_block)

        new_scope = dict(before)
        new_scope.update(merged)
        i = 0
        for name, treedef, tiles in shapes:
            leaves = [Tile(op.results[i + k], t.type) for k, t in enumerate(tiles)]
            i += len(tiles)
            new_scope[name] = unflatten_value(leaves, treedef)
        self.scope = new_scope

    def _if_select(self: CodeGenerator, node: ast.If, cond: Tile) -> None:
        """``if`` in an elementwise or combine function: both branches run, and each name they
        assign (and the return value) is ``where(cond, then, else)`` — straight-line code that
        works per element and that backends vectorize."""
        before = self.scope
        then_block, else_block = ir.Block(), ir.Block()
        then_scope = self._gen_block(node.body, dict(before), then_block)
        else_scope = self._gen_block(node.orelse, dict(before), else_block)
        for block in (then_block, else_block):
            for op in block.ops:
                if any(not ir.is_pure(o.name) for o in op.walk()):
                    raise self.src.error(
                        node,
                        "a branch on a per-element condition in an "
                        "elementwise function cannot have side effects",
                    )
            ops, block.ops = block.ops, []
            for op in ops:
                self.builder.insert(op)
        new_scope = dict(before)
        for name in dict.fromkeys([*then_scope, *else_scope]):
            tv, ev = then_scope.get(name, _MISSING), else_scope.get(name, _MISSING)
            if tv is _MISSING or ev is _MISSING:
                if name == RETURN:
                    raise self.src.error(node, "both branches must return a value")
                continue
            if tv is ev:
                new_scope[name] = tv
                continue
            t_leaves, t_def = flatten_value(tv)
            e_leaves, e_def = flatten_value(ev)
            if t_def != e_def or not all(is_tile(x) or is_number(x) for x in t_leaves + e_leaves):
                raise self.src.error(
                    node, f"{_label(name)} must be values of one structure in both branches"
                )
            picked = [self.engine.where(cond, a, b) for a, b in zip(t_leaves, e_leaves)]
            new_scope[name] = unflatten_value(picked, t_def)
        self.scope = new_scope

    def dynamic_ifexp(self: CodeGenerator, node: ast.IfExp, cond: Tile) -> Any:
        """``a if c else b`` with a run-time ``c``: ``select`` for tiles (and in elementwise
        functions), else ``scf.if``."""
        if not cond.is_scalar or self.elementwise:
            return self.engine.where(cond, self.visit(node.body), self.visit(node.orelse))
        cond = self.engine.to_bool(cond)
        then_block, else_block = ir.Block(), ir.Block()
        with self.builder.at_end_of(then_block):
            a = lcore.unwrap_constexpr(self.visit(node.body))
        with self.builder.at_end_of(else_block):
            b = lcore.unwrap_constexpr(self.visit(node.orelse))
        if not (is_tile(a) or is_number(a)) or not (is_tile(b) or is_number(b)):
            raise self.src.error(
                node, "a run-time conditional expression must produce tensors or numbers"
            )
        with self.builder.at_end_of(then_block):
            ta = self._as_tile_like(a, b)
        with self.builder.at_end_of(else_block):
            tb = self._as_tile_like(b, ta)
        if ta.type != tb.type:
            raise self.src.error(
                node,
                # Triton's wording first (its tests match it)
                f"Ternary expression with dynamic condition has inconsistent type: the two "
                f"sides have different types: {ta.type} and {tb.type}",
            )
        with self.builder.at_end_of(then_block):
            self.builder.create("scf.yield", [ta.handle])
        with self.builder.at_end_of(else_block):
            self.builder.create("scf.yield", [tb.handle])
        op = self.builder.create("scf.if", [cond.handle], [ta.handle.type], regions=2)
        op.regions[0].add_block(then_block)
        op.regions[1].add_block(else_block)
        return Tile(op.result, ta.type)

    # ---- loops: shared carried-value machinery -------------------------------------------

    def _loop_carried(self: CodeGenerator, body: list[ast.stmt]) -> tuple[list[str], list[str]]:
        """(carried names, other assigned names that existed before the loop)."""
        carried: list[str] = []
        fixed: list[str] = []
        for name in _assigned_names(body):
            if name not in self.scope:
                continue
            (carried if _carryable(self.scope[name]) else fixed).append(name)
        return carried, fixed

    def _initial_leaves(self: CodeGenerator, carried: list[str]) -> tuple[list[Any], list[Any]]:
        leaves, defs = [], []
        for name in carried:
            ls, d = flatten_value(self.scope[name])
            leaves.append(ls)
            defs.append(d)
        return leaves, defs

    def _bind_carried(
        self: CodeGenerator,
        scope: dict[str, Any],
        carried: list[str],
        defs: list[Any],
        args: list[ir.Value],
        inits: list[list[Tile]],
    ) -> None:
        i = 0
        for name, d, init in zip(carried, defs, inits):
            tiles = [Tile(args[i + k], t.type) for k, t in enumerate(init)]
            i += len(init)
            scope[name] = unflatten_value(tiles, d)

    def _yields(
        self: CodeGenerator,
        node: ast.AST,
        after: dict[str, Any],
        carried: list[str],
        defs: list[Any],
        inits: list[list[Tile]],
        raw_inits: list[list[Any]],
        block: ir.Block,
    ) -> tuple[list[Tile], bool]:
        """The values to yield for ``carried``; converts numbers in ``block``. Returns
        (yields, retry): retry is set after re-typing an init that was a Python number."""
        out: list[Tile] = []
        retry = False
        for ci, name in enumerate(carried):
            leaves, d = flatten_value(after[name])
            if d != defs[ci] or len(leaves) != len(inits[ci]):
                raise self.src.error(node, f"loop-carried `{name}` changes structure in the loop")
            for li, (leaf, init) in enumerate(zip(leaves, inits[ci])):
                with self.builder.at_end_of(block):
                    t = self._as_tile_like(leaf, init)
                if t.type != init.type:
                    raw = raw_inits[ci][li]
                    if is_number(raw):
                        inits[ci][li] = self._as_tile_like(raw, t)
                        raw_inits[ci][li] = inits[ci][li]  # re-typed once; a 2nd change errs
                        retry = True
                        continue
                    raise self.src.error(
                        node,
                        f"loop-carried variable `{name}` has initial type {init.type} "
                        f"but is re-assigned to {t.type} in the loop",
                        hint=f"give `{name}` its final type and shape before the loop, e.g. "
                        f"tl.zeros(shape, dtype), or convert it with .to() in the loop",
                    )
                out.append(t)
        return out, retry

    def _check_fixed(
        self: CodeGenerator,
        node: ast.AST,
        fixed: list[str],
        before: dict[str, Any],
        after: dict[str, Any],
    ) -> None:
        for name in fixed:
            if not _same_constant(before[name], after.get(name, _MISSING)):
                raise self.src.error(
                    node,
                    f"`{name}` holds a compile-time value "
                    f"({type(before[name]).__name__}) and cannot be "
                    f"re-assigned inside a run-time loop",
                )

    def _discard(self: CodeGenerator, blocks: list[ir.Block], checkpoint: Any) -> None:
        """Forget a loop body generated with the wrong carried types (and any callee
        specializations made for it), before generating it again."""
        for block in blocks:
            for op in block.ops:
                op.drop_references()
        self.ctx.rollback(checkpoint)

    # ---- for ----------------------------------------------------------------------------

    def visit_For(self: CodeGenerator, node: ast.For) -> None:  # noqa: N802
        if node.orelse:
            raise self.src.error(node, "for ... else is not supported")
        it_node = node.iter
        if isinstance(it_node, ast.Call):
            fn = lcore.unwrap_constexpr(self.visit(it_node.func))
            if fn is range:
                args = self._visit_elts(it_node.args)
                kwargs = {k.arg: self.visit(k.value) for k in it_node.keywords}
                it = lcontrol.range(*args, **kwargs)
            else:
                it = self.visit(it_node)
        else:
            it = self.visit(it_node)
        it = lcore.unwrap_constexpr(it)
        if isinstance(it, lcontrol.range):
            # range and tl.range always become scf.for, even with constant bounds (Triton).
            bounds = [lcore.unwrap_constexpr(v) for v in (it.start, it.end, it.step)]
            self._for_dynamic(node, *bounds)
            return
        if is_tile(it):
            raise self.src.error(
                it_node, "cannot iterate over a tensor; use range or tl.static_range"
            )
        # Unrolling makes code proportional to the trip count times that of every enclosing
        # unrolled loop (across @jit calls): refuse before the compile runs for ever. Only
        # limit + 1 items are taken, so a huge static_range or an endless iterator stops too.
        outer = getattr(self.ctx, "static_unroll", 1)
        limit = knobs.static_unroll_limit()
        try:
            exact = isinstance(it, lcontrol.static_range)
            if exact:
                values: list[Any] = []
                span = it.end - it.start  # len(range) overflows past 2**63
                count = max(0, (span + it.step - (1 if it.step > 0 else -1)) // it.step)
            else:  # all of it when count <= limit // outer
                values = list(itertools.islice(it, limit // outer + 1))
                count = len(values)
        except TypeError:
            raise self.src.error(it_node, f"cannot iterate over {type(it).__name__}") from None
        if outer * count > limit:
            inside = f" ({count} inside unrolled loops of {outer})" if outer > 1 else ""
            more = "" if exact else "at least "
            raise self.src.error(
                it_node,
                f"unrolling this loop makes {more}{outer * count} copies of its body{inside}; "
                f"the limit is {limit}",
                hint="use tl.range (a run-time loop), or raise TRITIUM_STATIC_UNROLL_LIMIT",
            )
        self._for_static(node, list(it) if exact else values, outer)

    def _for_static(self: CodeGenerator, node: ast.For, values: list[Any], outer: int) -> None:
        self.ctx.static_unroll = outer * len(values)
        self.loop_depth += 1
        try:
            for v in values:
                self.assign(node.target, v)
                self.visit_statements(node.body)
        finally:
            self.loop_depth -= 1
            self.ctx.static_unroll = outer

    def _for_dynamic(self: CodeGenerator, node: ast.For, lb: Any, ub: Any, step: Any) -> None:
        if not isinstance(node.target, ast.Name):
            raise self.src.error(node.target, "the target of a run-time loop must be a name")
        eng = self.engine
        for what, v in (("start", lb), ("end", ub), ("step", step)):
            if not (is_tile(v) or (isinstance(v, int) and not isinstance(v, bool))):
                raise self.src.error(node.iter, f"range {what} must be an integer, got {v!r}")
            if is_tile(v) and not (v.is_scalar and v.dtype.is_int()):
                raise self.src.error(
                    node.iter, f"range {what} must be an integer scalar, got {v.type}"
                )
        negative = isinstance(step, int) and step < 0
        if isinstance(step, int) and step == 0:
            raise self.src.error(node.iter, "range step must not be zero")
        if negative:
            # scf.for counts up: run over [ub, lb) with -step and mirror the induction variable.
            lb, ub, step = ub, lb, -step
        # 64-bit bounds, or uint32 ones (beyond int32's range), count in int64
        wide = any(
            (
                is_tile(v)
                and (
                    v.dtype.int_bitwidth == 64
                    or (v.dtype.int_bitwidth == 32 and v.dtype.is_int_unsigned())
                )
            )
            or (isinstance(v, int) and not -(2**31) <= v < 2**31)
            for v in (lb, ub, step)
        )
        iv_ty = ldt.int64 if wide else ldt.int32
        lb_t, ub_t, step_t = (eng.cast(eng.to_tile(v, iv_ty), iv_ty) for v in (lb, ub, step))

        carried, fixed = self._loop_carried(node.body)
        carried = [n for n in carried if n != node.target.id]
        before = self.scope
        raw_inits, defs = self._initial_leaves(carried)
        inits = [[self._as_tile_like(x, None) for x in ls] for ls in raw_inits]
        while True:
            checkpoint = self.ctx.checkpoint()
            flat = [t for ls in inits for t in ls]
            block = ir.Block([to_ir_type(iv_ty)] + [t.handle.type for t in flat])
            scope = dict(before)
            self._bind_carried(scope, carried, defs, block.args[1:], inits)
            iv = Tile(block.args[0], iv_ty)
            if negative:
                with self.builder.at_end_of(block):
                    iv = eng.add(eng.sub(ub_t, iv), lb_t)
            scope[node.target.id] = iv
            self.loop_depth += 1
            try:
                after = self._gen_block(node.body, scope, block)
            finally:
                self.loop_depth -= 1
            yields, retry = self._yields(node, after, carried, defs, inits, raw_inits, block)
            if not retry:
                break
            self._discard([block], checkpoint)
        self._check_fixed(node, fixed, before, after)
        with self.builder.at_end_of(block):
            self.builder.create("scf.yield", [t.handle for t in yields])
        flat = [t for ls in inits for t in ls]
        op = self.builder.create(
            "scf.for",
            [lb_t.handle, ub_t.handle, step_t.handle] + [t.handle for t in flat],
            [t.handle.type for t in flat],
            regions=1,
        )
        op.regions[0].add_block(block)
        self.scope = dict(before)
        self._bind_carried(self.scope, carried, defs, op.results, inits)

    # ---- while --------------------------------------------------------------------------

    def visit_While(self: CodeGenerator, node: ast.While) -> None:  # noqa: N802
        if node.orelse:
            raise self.src.error(node, "while ... else is not supported")
        carried, fixed = self._loop_carried(node.body)
        before = self.scope
        raw_inits, defs = self._initial_leaves(carried)
        inits = [[self._as_tile_like(x, None) for x in ls] for ls in raw_inits]
        while True:
            checkpoint = self.ctx.checkpoint()
            flat = [t for ls in inits for t in ls]
            types = [t.handle.type for t in flat]
            cond_block, body_block = ir.Block(types), ir.Block(types)
            scope = dict(before)
            self._bind_carried(scope, carried, defs, cond_block.args, inits)
            saved = self.scope
            self.scope = scope
            try:
                with self.builder.at_end_of(cond_block):
                    cond = lcore.unwrap_constexpr(self.visit(node.test))
                    if isinstance(cond, lcontrol.condition):  # tl.condition(c, hints...)
                        cond = lcore.unwrap_constexpr(cond.condition)
                    if not is_tile(cond):
                        if not cond:
                            self._discard([cond_block], checkpoint)
                            return  # the loop never runs
                        raise self.src.error(
                            node.test,
                            "the condition of this while loop is "
                            "always true and loops cannot break",
                        )
                    cond = self._scalar_condition(cond, node.test, "while")
                    self.builder.create("scf.condition", [cond.handle] + list(cond_block.args))
            finally:
                self.scope = saved
            scope = dict(before)
            self._bind_carried(scope, carried, defs, body_block.args, inits)
            self.loop_depth += 1
            try:
                after = self._gen_block(node.body, scope, body_block)
            finally:
                self.loop_depth -= 1
            yields, retry = self._yields(node, after, carried, defs, inits, raw_inits, body_block)
            if not retry:
                break
            self._discard([cond_block, body_block], checkpoint)
        self._check_fixed(node, fixed, before, after)
        with self.builder.at_end_of(body_block):
            self.builder.create("scf.yield", [t.handle for t in yields])
        flat = [t for ls in inits for t in ls]
        op = self.builder.create(
            "scf.while", [t.handle for t in flat], [t.handle.type for t in flat], regions=2
        )
        op.regions[0].add_block(cond_block)
        op.regions[1].add_block(body_block)
        self.scope = dict(before)
        self._bind_carried(self.scope, carried, defs, op.results, inits)
