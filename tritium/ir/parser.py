"""Parsing the generic textual form printed by :mod:`tritium.ir.printer`.

``parse_module(print_module(m))`` builds IR that prints exactly like ``m``. The parser also
accepts what people write by hand in tests: any value names (``%x``, ``%acc``), omitted
locations (they become :data:`~tritium.ir.core.UNKNOWN_LOC`), ``//`` comments, and uses of
a value before its definition (so that broken IR can be parsed and given to the verifier).

Errors raise :class:`IRParseError` with the line and column of the offending text.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tritium.errors import TritiumError
from tritium.ir.core import UNKNOWN_LOC, Block, Location, Module, Operation, Region, Value
from tritium.ir.printer import ISOLATED_OPS
from tritium.ir.types import FunctionType, PointerType, TensorType, Type, scalar_type

__all__ = ["IRParseError", "parse_module", "parse_type", "parse_attr"]

_WS = re.compile(r"(?:\s+|//[^\n]*)*")
_VALUE = re.compile(r"%[A-Za-z0-9_.$-]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.$-]*")
_NUMBER = re.compile(r"-?\d+(\.\d*)?([eE][-+]?\d+)?")
_INT = re.compile(r"-?\d+")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_DIMS = re.compile(r"(?:\d+x)*")
_SCALAR = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_LABEL = re.compile(r"\^[A-Za-z0-9_.$-]+")
_COUNT = re.compile(r":(\d+)")
_RESULT_NUMBER = re.compile(r"#\d+")


class IRParseError(TritiumError):
    """Text that is not valid Tile IR; the message says where (``line:col``)."""


class _Scope:
    """The values of one isolated region (a module or a function) by name."""

    def __init__(self) -> None:
        self.values: dict[str, Value] = {}
        # uses seen before the definition: name -> (placeholder value, position of first use)
        self.forward: dict[str, tuple[Value, int]] = {}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.scopes: list[_Scope] = []

    # ---- lexing helpers ------------------------------------------------------------------
    def error(self, message: str, pos: int | None = None) -> IRParseError:
        pos = self.pos if pos is None else pos
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        src = self.text.splitlines()[line - 1] if self.text.splitlines()[line - 1 :] else ""
        return IRParseError(f"{line}:{col}: {message}\n    {src}\n    {' ' * (col - 1)}^")

    def skip(self) -> None:
        m = _WS.match(self.text, self.pos)
        assert m is not None
        self.pos = m.end()

    def peek(self, literal: str) -> bool:
        self.skip()
        return self.text.startswith(literal, self.pos)

    def accept(self, literal: str) -> bool:
        if self.peek(literal):
            self.pos += len(literal)
            return True
        return False

    def expect(self, literal: str) -> None:
        if not self.accept(literal):
            found = self.text[self.pos : self.pos + 12].split("\n")[0] or "end of input"
            raise self.error(f"expected {literal!r}, found {found!r}")

    def match(self, pattern: re.Pattern[str], what: str) -> str:
        self.skip()
        m = pattern.match(self.text, self.pos)
        if m is None or m.end() == self.pos:
            raise self.error(f"expected {what}")
        self.pos = m.end()
        return m.group(0)

    def string(self) -> str:
        tok = self.match(_STRING, "a string")
        try:
            value: str = json.loads(tok)
        except json.JSONDecodeError as e:
            raise self.error(f"bad string literal: {e}") from None
        return value

    # ---- types ---------------------------------------------------------------------------
    def type(self) -> Type:
        self.skip()
        if self.accept("!tt.ptr<"):
            pointee = self.type()
            space = 1
            if self.accept(","):
                space = int(self.match(_INT, "an address space"))
            self.expect(">")
            return PointerType(pointee, space)
        if self.accept("tensor<"):
            self.skip()
            m = _DIMS.match(self.text, self.pos)
            assert m is not None  # the pattern matches the empty string
            self.pos = m.end()
            dims = m.group(0)
            shape = tuple(int(d) for d in dims.split("x") if d)
            element = self.type()
            self.expect(">")
            return TensorType(shape, element)
        if self.peek("("):
            return self.function_type()
        start = self.pos
        name = self.match(_SCALAR, "a type")
        try:
            return scalar_type(name)
        except ValueError:
            raise self.error(f"unknown type {name!r}", start) from None

    def type_list(self) -> list[Type]:
        self.expect("(")
        types: list[Type] = []
        if not self.accept(")"):
            types.append(self.type())
            while self.accept(","):
                types.append(self.type())
            self.expect(")")
        return types

    def function_type(self) -> FunctionType:
        inputs = self.type_list()
        self.expect("->")
        results = self.type_list() if self.peek("(") else [self.type()]
        return FunctionType(tuple(inputs), tuple(results))

    # ---- attributes ----------------------------------------------------------------------
    def attr(self) -> Any:
        self.skip()
        c = self.text[self.pos : self.pos + 1]
        if c == '"':
            return self.string()
        if c == "[":
            self.expect("[")
            items: list[Any] = []
            if not self.accept("]"):
                items.append(self.attr())
                while self.accept(","):
                    items.append(self.attr())
                self.expect("]")
            return items
        if c == "{":
            return self.attr_dict()
        if self.accept("-inf"):
            return float("-inf")
        if c == "-" or c.isdigit():
            tok = self.match(_NUMBER, "a number")
            return int(tok) if re.fullmatch(r"-?\d+", tok) else float(tok)
        for word, value in (
            ("true", True),
            ("false", False),
            ("none", None),
            ("inf", float("inf")),
            ("nan", float("nan")),
        ):
            m = _IDENT.match(self.text, self.pos)
            if m is not None and m.group(0) == word:
                self.pos = m.end()
                return value
        return self.type()

    def attr_dict(self) -> dict[str, Any]:
        self.expect("{")
        attrs: dict[str, Any] = {}
        if self.accept("}"):
            return attrs
        while True:
            self.skip()
            start = self.pos
            key = self.string() if self.peek('"') else self.match(_IDENT, "an attribute name")
            if key in attrs:
                raise self.error(f"duplicate attribute {key!r}", start)
            self.expect("=")
            attrs[key] = self.attr()
            if not self.accept(","):
                break
        self.expect("}")
        return attrs

    # ---- values --------------------------------------------------------------------------
    def define(self, name: str, value: Value, pos: int) -> None:
        scope = self.scopes[-1]
        if name in scope.values:
            raise self.error(f"value {name} is defined twice", pos)
        scope.values[name] = value
        fwd = scope.forward.pop(name, None)
        if fwd is not None:
            placeholder = fwd[0]
            if placeholder.type != value.type:
                raise self.error(
                    f"{name} is used as {placeholder.type} but defined as {value.type}", pos
                )
            placeholder.replace_all_uses_with(value)

    def use(self, name: str, type: Type, pos: int) -> Value:
        scope = self.scopes[-1]
        value = scope.values.get(name)
        if value is None:
            fwd = scope.forward.get(name)
            if fwd is None:
                # a stand-in until the definition is parsed; it belongs to no block
                fwd = (Operation("builtin.placeholder", (), [type]).results[0], pos)
                scope.forward[name] = fwd
            value = fwd[0]
        if value.type != type:
            raise self.error(f"{name} has type {value.type}, used as {type}", pos)
        return value

    # ---- operations, regions, blocks ---------------------------------------------------
    def operation(self) -> Operation:
        self.skip()
        op_pos = self.pos
        results: list[tuple[str, int]] = []  # (name, count)
        if self.peek("%"):
            while True:
                name = self.match(_VALUE, "a result name")
                count = 1
                m = _COUNT.match(self.text, self.pos)
                if m is not None:
                    count = int(m.group(1))
                    self.pos = m.end()
                results.append((name, count))
                if not self.accept(","):
                    break
            self.expect("=")
        name = self.string()
        self.expect("(")
        operand_refs: list[tuple[str, int]] = []
        if not self.accept(")"):
            while True:
                self.skip()
                operand_refs.append((self.value_ref(), self.pos))
                if not self.accept(","):
                    break
            self.expect(")")
        isolated = name in ISOLATED_OPS
        regions: list[Region] = []
        if self.accept("("):
            if isolated:
                self.scopes.append(_Scope())
            regions.append(self.region())
            while self.accept(","):
                regions.append(self.region())
            self.expect(")")
            if isolated:
                self.close_scope()
        attrs = self.attr_dict() if self.peek("{") else {}
        self.expect(":")
        sig_pos = self.pos
        ftype = self.function_type()
        loc = self.location()
        if len(ftype.inputs) != len(operand_refs):
            raise self.error(
                f"{len(operand_refs)} operands but {len(ftype.inputs)} operand types", sig_pos
            )
        n_results = sum(c for _, c in results)
        if n_results != len(ftype.results):
            raise self.error(f"{n_results} results but {len(ftype.results)} result types", sig_pos)
        operands = [self.use(ref, t, p) for (ref, p), t in zip(operand_refs, ftype.inputs)]
        op = Operation(name, operands, list(ftype.results), attrs, regions, loc)
        i = 0
        for rname, count in results:
            if count == 1:
                self.define(rname, op.results[i], op_pos)
            else:
                for j in range(count):
                    self.define(f"{rname}#{j}", op.results[i + j], op_pos)
            i += count
        return op

    def value_ref(self) -> str:
        name = self.match(_VALUE, "a value")
        m = _RESULT_NUMBER.match(self.text, self.pos)
        if m is not None:
            self.pos = m.end()
            name += m.group(0)
        return name

    def location(self) -> Location:
        if not self.accept("loc("):
            return UNKNOWN_LOC
        if self.accept("unknown"):
            self.expect(")")
            return UNKNOWN_LOC
        file = self.string()
        self.expect(":")
        line = int(self.match(_INT, "a line number"))
        self.expect(":")
        col = int(self.match(_INT, "a column number"))
        self.expect(")")
        return Location(file, line, col)

    def region(self) -> Region:
        self.expect("{")
        region = Region()
        if self.accept("}"):
            return region
        block = None
        if not self.peek("^"):
            block = region.add_block(Block())
        while not self.accept("}"):
            if self.peek("^"):
                block = region.add_block(self.block_header())
                continue
            if self.pos >= len(self.text):
                raise self.error("unterminated region")
            assert block is not None
            block.append(self.operation())
        return region

    def block_header(self) -> Block:
        self.match(_LABEL, "a block label")
        block = Block()
        if self.accept("("):
            if not self.accept(")"):
                while True:
                    self.skip()
                    pos = self.pos
                    name = self.match(_VALUE, "a block argument")
                    self.expect(":")
                    arg = block.add_arg(self.type())
                    self.define(name, arg, pos)
                    if not self.accept(","):
                        break
                self.expect(")")
        self.expect(":")
        return block

    def close_scope(self) -> None:
        scope = self.scopes.pop()
        if scope.forward:
            name, (_, pos) = next(iter(scope.forward.items()))
            raise self.error(f"use of undefined value {name}", pos)


def parse_module(text: str) -> Module:
    """Parse the textual form of a module (a ``"builtin.module"`` op)."""
    p = _Parser(text)
    p.scopes.append(_Scope())
    op = p.operation()
    p.close_scope()
    p.skip()
    if p.pos != len(text):
        raise p.error("unexpected text after the module")
    if op.name != "builtin.module":
        raise p.error(f"expected a builtin.module, found {op.name}", 0)
    return Module(op)


def parse_type(text: str) -> Type:
    """Parse one type (``"tensor<4x!tt.ptr<f32>>"``)."""
    p = _Parser(text)
    t = p.type()
    p.skip()
    if p.pos != len(text):
        raise p.error("unexpected text after the type")
    return t


def parse_attr(text: str) -> Any:
    """Parse one attribute value (``"[1, 2.0, \\"s\\"]"``)."""
    p = _Parser(text)
    value = p.attr()
    p.skip()
    if p.pos != len(text):
        raise p.error("unexpected text after the attribute")
    return value
