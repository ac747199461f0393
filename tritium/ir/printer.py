"""Printing Tile IR in MLIR's generic textual form.

The printer is the contract for golden tests and for :mod:`tritium.ir.parser`: whatever it
prints parses back to IR that prints identically. The form is MLIR's generic syntax::

    "builtin.module"() ({
      "tt.func"() ({
      ^bb0(%arg0: !tt.ptr<f32>, %arg1: i32):
        %0 = "tt.get_program_id"() {axis = 0} : () -> i32 loc("k.py":3:10)
        "tt.return"() : () -> ()
      }) {function_type = (!tt.ptr<f32>, i32) -> (), sym_name = "k"} : () -> ()
    }) : () -> ()

Naming is deterministic: inside each ``tt.func`` (and the module itself), results are
numbered ``%0, %1, ...`` and block arguments ``%arg0, %arg1, ...`` in textual order. An op
with several results defines ``%N:k`` and its results are used as ``%N#i``.

Attributes are sorted by name. Attribute values print as: ``true``/``false``, integers,
floats in Python's shortest round-trip ``repr`` (always with a ``.`` or exponent, or ``inf``,
``-inf``, ``nan``), JSON-escaped strings, ``none``, types, ``[a, b]`` lists and
``{k = v}`` dicts. Unknown locations are left out; others print as ``loc("file":line:col)``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from tritium.ir.core import UNKNOWN_LOC, Block, Location, Module, Operation, Region, Value
from tritium.ir.types import FunctionType, Type

__all__ = ["print_module", "print_op", "format_attr", "format_location", "ISOLATED_OPS"]

# Ops whose regions cannot see values defined outside them; value numbering restarts in each.
ISOLATED_OPS = frozenset({"builtin.module", "tt.func"})

_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.$-]*\Z")


def format_attr(value: Any) -> str:
    """The textual form of one attribute value (see the module docstring)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # shortest string that reads back to the same double
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Type):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_attr(v) for v in value) + "]"
    if isinstance(value, dict):
        return format_attr_dict(value)
    raise TypeError(f"cannot print attribute value {value!r} of type {type(value).__name__}")


def _format_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def format_attr_dict(attrs: dict[str, Any]) -> str:
    """``{a = 1, b = "x"}`` with keys sorted, so the text does not depend on insertion order."""
    items = (f"{_format_key(k)} = {format_attr(attrs[k])}" for k in sorted(attrs))
    return "{" + ", ".join(items) + "}"


def format_location(loc: Location) -> str:
    """``loc("file":line:col)``, or ``loc(unknown)``."""
    if loc == UNKNOWN_LOC:
        return "loc(unknown)"
    return f"loc({json.dumps(loc.file)}:{loc.line}:{loc.col})"


class _Namer:
    """Assigns the printed names of values in one isolated scope, in textual order."""

    def __init__(self) -> None:
        self.names: dict[Value, str] = {}
        self.next_result = 0
        self.next_arg = 0
        self.outside = 0

    def number_region(self, region: Region) -> None:
        for block in region.blocks:
            for arg in block.args:
                self.names[arg] = f"%arg{self.next_arg}"
                self.next_arg += 1
            for op in block.ops:
                self.number_op(op)

    def number_op(self, op: Operation) -> None:
        n = len(op.results)
        if n == 1:
            self.names[op.results[0]] = f"%{self.next_result}"
        elif n > 1:
            for i, r in enumerate(op.results):
                self.names[r] = f"%{self.next_result}#{i}"
        if n:
            self.next_result += 1
        if op.name not in ISOLATED_OPS:  # isolated ops number their own regions
            for region in op.regions:
                self.number_region(region)

    def name(self, v: Value) -> str:
        name = self.names.get(v)
        if name is None:
            # a value from outside this scope: only broken IR has it; still print something
            name = f"%outside{self.outside}"
            self.outside += 1
            self.names[v] = name
        return name


class _Printer:
    def __init__(self, print_locs: bool) -> None:
        self.lines: list[str] = []
        self.print_locs = print_locs

    def op(self, op: Operation, namer: _Namer, indent: int) -> None:
        pad = "  " * indent
        head = ""
        if op.results:
            first = namer.name(op.results[0]).split("#")[0]
            head = first + (f":{len(op.results)}" if len(op.results) > 1 else "") + " = "
        operands = ", ".join(namer.name(v) for v in op.operands)
        text = f'{pad}{head}"{op.name}"({operands})'
        if op.regions:
            inner = namer
            if op.name in ISOLATED_OPS:
                inner = _Namer()
                for r in op.regions:
                    inner.number_region(r)
            self.lines.append(text + " ({")
            for i, region in enumerate(op.regions):
                if i:
                    self.lines.append(pad + "}, {")
                for bi, block in enumerate(region.blocks):
                    self.block(block, bi, inner, indent)
            text = pad + "})"
        if op.attrs:
            text += " " + format_attr_dict(op.attrs)
        ftype = FunctionType(tuple(v.type for v in op.operands), tuple(r.type for r in op.results))
        text += f" : {ftype}"
        if self.print_locs and op.loc != UNKNOWN_LOC:
            text += " " + format_location(op.loc)
        self.lines.append(text)

    def block(self, block: Block, index: int, namer: _Namer, indent: int) -> None:
        pad = "  " * indent
        # the label is implicit for an entry block without arguments, unless the block is
        # empty (then the label tells an empty block apart from a region without blocks)
        if block.args or index > 0 or not block.ops:
            args = ", ".join(f"{namer.name(a)}: {a.type}" for a in block.args)
            self.lines.append(f"{pad}^bb{index}({args}):" if block.args else f"{pad}^bb{index}:")
        for op in block.ops:
            self.op(op, namer, indent + 1)


def print_op(op: Operation, *, locs: bool = True) -> str:
    """The text of ``op`` (with its regions); values from enclosing scopes print as
    ``%outsideN``. Used in error messages and for IR that is not a whole module."""
    p = _Printer(locs)
    namer = _Namer()
    if op.name not in ISOLATED_OPS:
        namer.number_op(op)
    p.op(op, namer, 0)
    return "\n".join(p.lines) + "\n"


def print_module(module: Module, *, locs: bool = True) -> str:
    """The generic textual form of ``module``; ``locs=False`` leaves out all locations."""
    return print_op(module.op, locs=locs)
