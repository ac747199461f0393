"""Long run-time ``if``/``elif`` chains as a flat sequence of ``scf.if`` ops.

``if c0: A elif c1: B elif c2: C else: D`` is an ``if`` nested in the ``else`` of the one
before, so lowering it as written gives IR nested as deep as the chain is long, and every
stage that walks regions (the frontend itself, the printer, the passes, the backends) would
recurse once per ``elif``: a few hundred of them overflowed Python's stack. A chain of at
least ``FLAT_ELIF_MIN`` links is instead lowered one link after the other, at one depth:

* ``rest`` (i1) is "no link taken yet": ``not c0`` after the first link, then
  ``rest and not c_i``;
* the condition of link ``i > 0`` is computed inside ``scf.if rest`` (false otherwise), so
  it is evaluated only on the paths where Python would evaluate it;
* each body is an ``scf.if`` on its (guarded) condition; the final ``else`` is one on
  ``rest``.

The names visible after the chain are the nested form's: those bound before it (merged
through each link) and those every branch, ``else`` included, assigns. A name the first
branch binds is carried from the first link on, with a zero of its type on the paths that
have not assigned it yet, and dropped as soon as a branch does not assign it; each body
starts from the names bound before the chain, as in the nested form.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from tritium import ir
from tritium.frontend.tile import Tile, is_tile
from tritium.language import core as lcore
from tritium.language import dtypes as ldt

if TYPE_CHECKING:
    from tritium.frontend.codegen import CodeGenerator

__all__ = ["FLAT_ELIF_MIN", "elif_chain", "ElifChainMixin"]

#: Chains with at least this many ``if``/``elif`` links are lowered flat (shorter ones nest:
#: their IR is what a reader of the kernel expects, and its depth is harmless).
FLAT_ELIF_MIN = 8

_Link = tuple[ast.expr, list[ast.stmt], ast.If]


def elif_chain(node: ast.If) -> tuple[list[_Link], list[ast.stmt]] | None:
    """The links (test, body, node) and the final ``else`` of the chain ``node`` heads, if it
    is long enough to lower flat, else None. Chains with a ``return`` (the continuation after
    the ``if`` moves into its branches) or a ``:=`` in a test (a name bound by one test and
    read by a later one) keep the nested form."""
    links: list[_Link] = [(node.test, node.body, node)]
    n = node
    while len(n.orelse) == 1 and isinstance(n.orelse[0], ast.If):
        n = n.orelse[0]
        links.append((n.test, n.body, n))
    if len(links) < FLAT_ELIF_MIN:
        return None
    for test, body, _ in links:
        for stmt in [test, *body]:
            if any(isinstance(x, (ast.Return, ast.NamedExpr)) for x in ast.walk(stmt)):
                return None
    if any(isinstance(x, ast.Return) for s in n.orelse for x in ast.walk(s)):
        return None
    return links, n.orelse


class ElifChainMixin:
    """``_flat_elif_chain`` for the code generator (see the module's docstring)."""

    def _flat_elif_chain(
        self: CodeGenerator, links: list[_Link], final: list[ast.stmt], cond0: Tile
    ) -> None:
        before = self.scope
        cur = dict(before)  # the names after the links lowered so far
        first_only: set[str] = set()  # bound by the first branch, not before the chain
        rest: Tile | None = None
        eng = self.engine
        for i, (test, body, link) in enumerate(links):
            self.builder.loc = self.src.loc(link)
            base = {k: v for k, v in cur.items() if k not in first_only}
            if i == 0:
                cond = cond0
            else:
                assert rest is not None
                got = self._guarded_condition(test, base, rest)
                if isinstance(got, bool):
                    if not got:
                        continue  # a compile-time false `elif`: never taken
                    final = body  # a compile-time true `elif`: the chain's `else`
                    break
                cond = got
            cur = self._chain_link(link, cond, body, base, cur, first_only, i == 0)
            not_cond = eng.logical_not(cond)
            rest = not_cond if rest is None else eng.logical_and(rest, not_cond)
        assert rest is not None
        if final:
            base = {k: v for k, v in cur.items() if k not in first_only}
            cur = self._chain_link(links[-1][2], rest, final, base, cur, first_only, False)
        self.scope = {k: v for k, v in cur.items() if k not in first_only or final}

    def _guarded_condition(
        self: CodeGenerator, test: ast.expr, scope: dict[str, Any], rest: Tile
    ) -> Tile | bool:
        """``test`` computed inside ``scf.if rest`` (false on the other path); a Python bool
        if it is known at compile time."""
        block = ir.Block()
        saved = self.scope
        self.scope = dict(scope)
        try:
            with self.builder.at_end_of(block):
                cond = lcore.unwrap_constexpr(self.visit(test))
                if not is_tile(cond):
                    return bool(cond)  # the block is dropped: nothing in it is needed
                cond = self._scalar_condition(cond, test, "elif")
                self.builder.create("scf.yield", [cond.handle])
        finally:
            self.scope = saved
        no_block = ir.Block()
        with self.builder.at_end_of(no_block):
            no = self.engine.constant(False, ldt.int1)
            self.builder.create("scf.yield", [no.handle])
        op = self.builder.create("scf.if", [rest.handle], [cond.handle.type], regions=2)
        op.regions[0].add_block(block)
        op.regions[1].add_block(no_block)
        return Tile(op.results[0], cond.type)

    def _chain_link(
        self: CodeGenerator,
        link: ast.If,
        cond: Tile,
        body: list[ast.stmt],
        base: dict[str, Any],
        cur: dict[str, Any],
        first_only: set[str],
        first: bool,
    ) -> dict[str, Any]:
        """One branch as ``scf.if cond``; returns the names after it."""
        then_block, else_block = ir.Block(), ir.Block()
        then_scope = self._gen_block(body, dict(base), then_block)
        else_scope = dict(cur)
        if first:
            first_only.update(k for k in then_scope if k not in cur)
            with self.builder.at_end_of(else_block):
                for name in first_only:
                    else_scope[name] = _zero_like(self, then_scope[name])
        else:
            for name in [k for k in first_only if k not in then_scope]:
                first_only.discard(name)  # a branch that does not bind it: gone after the chain
                del else_scope[name]
        self._emit_if(link, cond, (then_block, then_scope), (else_block, else_scope), else_scope)
        return self.scope


def _zero_like(gen: CodeGenerator, value: Any) -> Any:
    """``value`` with each tile replaced by a zero of its type (pointers: address 0), the
    other leaves kept: the value a name has on paths where no branch has bound it yet."""
    from tritium.frontend.control_flow import flatten_value, unflatten_value

    leaves, tree = flatten_value(value)
    out = []
    for leaf in leaves:
        if not is_tile(leaf):
            out.append(leaf)
            continue
        shape = tuple(leaf.shape) if not leaf.is_scalar else ()
        elem = leaf.type.scalar
        if elem.is_ptr():
            addr = gen.engine.constant(0, ldt.int64, shape)
            ptr = gen.engine.emit("tt.int_to_ptr", [addr], leaf.type)
            assert ptr is not None
            out.append(ptr)
        else:
            out.append(gen.engine.constant(0, elem, shape))
    return unflatten_value(out, tree)
