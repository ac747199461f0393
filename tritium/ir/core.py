"""The data structures of the Tile IR: values, operations, blocks, regions.

An :class:`Operation` has a registered ``name`` (``"arith.addf"``, ``"tt.load"``), a list of
operand :class:`Value` s, a list of result values, a dict of attributes, a list of
:class:`Region` s (each a list of :class:`Block` s with block arguments) and a
:class:`Location` pointing at the user's source. Every value knows its uses, so passes can
replace a value everywhere and erase dead operations cheaply.

Attribute values are plain Python data: ``int``, ``float``, ``bool``, ``str``, ``None``, a
:class:`~tritium.ir.types.Type`, and lists/tuples and dicts of those.

The ops themselves, with their operand and attribute conventions, are documented in
:mod:`tritium.ir.ops`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tritium.ir.types import Type

__all__ = ["Location", "Value", "Operation", "Block", "Region", "Module", "UNKNOWN_LOC"]


@dataclass(frozen=True)
class Location:
    """A position in the user's source: file, 1-based line, 0-based column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


UNKNOWN_LOC = Location("<unknown>", 0, 0)


class Value:
    """An SSA value: the result of an operation or the argument of a block."""

    __slots__ = ("type", "owner", "index", "uses", "name_hint")

    def __init__(self, type: Type, owner: Operation | Block, index: int) -> None:
        self.type = type
        self.owner = owner  # the defining Operation, or the Block for block arguments
        self.index = index  # result number or argument number
        self.uses: list[Operation] = []  # one entry per operand slot that reads this value
        self.name_hint: str | None = None

    @property
    def defining_op(self) -> Operation | None:
        """The operation that defines this value, or None for a block argument."""
        return self.owner if isinstance(self.owner, Operation) else None

    def replace_all_uses_with(self, new: Value) -> None:
        """Make every operation that reads this value read ``new`` instead."""
        if new is self:
            return
        for op in list(self.uses):
            op.operands = [new if v is self else v for v in op.operands]
            # operands setter re-registers uses
        assert not self.uses

    def __repr__(self) -> str:
        return f"<Value {self.type} of {getattr(self.owner, 'name', 'block')}>"


class Operation:
    """One IR operation. Create through :class:`tritium.ir.builder.Builder` in normal code."""

    __slots__ = ("name", "_operands", "results", "attrs", "regions", "loc", "parent")

    def __init__(
        self,
        name: str,
        operands: list[Value] | tuple[Value, ...] = (),
        result_types: list[Type] | tuple[Type, ...] = (),
        attrs: dict[str, Any] | None = None,
        regions: int | list[Region] = 0,
        loc: Location = UNKNOWN_LOC,
    ) -> None:
        self.name = name
        self._operands: list[Value] = []
        self.results = [Value(t, self, i) for i, t in enumerate(result_types)]
        self.attrs: dict[str, Any] = dict(attrs or {})
        if isinstance(regions, int):
            regions = [Region() for _ in range(regions)]
        self.regions: list[Region] = []
        for r in regions:
            self.add_region(r)
        self.loc = loc
        self.parent: Block | None = None
        self.operands = list(operands)

    # operands keep the use lists of their values up to date
    @property
    def operands(self) -> list[Value]:
        return self._operands

    @operands.setter
    def operands(self, new: list[Value]) -> None:
        for v in self._operands:
            v.uses.remove(self)
        self._operands = list(new)
        for v in self._operands:
            if not isinstance(v, Value):
                raise TypeError(f"operand of {self.name} is not a Value: {v!r}")
            v.uses.append(self)

    def set_operand(self, i: int, v: Value) -> None:
        ops = list(self._operands)
        ops[i] = v
        self.operands = ops

    def add_region(self, region: Region) -> Region:
        region.parent = self
        self.regions.append(region)
        return region

    @property
    def result(self) -> Value:
        """The single result of this op."""
        if len(self.results) != 1:
            raise ValueError(f"{self.name} has {len(self.results)} results, not 1")
        return self.results[0]

    def walk(self) -> Iterator[Operation]:
        """This op and every op nested in its regions, in pre-order."""
        yield self
        for r in self.regions:
            for b in r.blocks:
                for op in list(b.ops):
                    yield from op.walk()

    def erase(self) -> None:
        """Remove this op from its block; its results must be unused."""
        for r in self.results:
            if r.uses:
                raise ValueError(f"erasing {self.name} whose result is still used")
        self.drop_references()
        if self.parent is not None:
            self.parent.ops.remove(self)
            self.parent = None

    def drop_references(self) -> None:
        """Forget the operands of this op and of everything nested in it."""
        for r in self.regions:
            for b in r.blocks:
                for op in b.ops:
                    op.drop_references()
        self.operands = []

    def parent_op(self) -> Operation | None:
        if self.parent is None or self.parent.parent is None:
            return None
        return self.parent.parent.parent

    def is_ancestor_of(self, other: Operation) -> bool:
        op: Operation | None = other
        while op is not None:
            if op is self:
                return True
            op = op.parent_op()
        return False

    def __repr__(self) -> str:
        return f"<Operation {self.name} at {self.loc}>"


class Block:
    """A list of operations with typed arguments; the last op is the terminator, if any."""

    __slots__ = ("args", "ops", "parent")

    def __init__(self, arg_types: list[Type] | tuple[Type, ...] = ()) -> None:
        self.args = [Value(t, self, i) for i, t in enumerate(arg_types)]
        self.ops: list[Operation] = []
        self.parent: Region | None = None

    def add_arg(self, t: Type) -> Value:
        v = Value(t, self, len(self.args))
        self.args.append(v)
        return v

    def append(self, op: Operation) -> Operation:
        op.parent = self
        self.ops.append(op)
        return op

    def insert(self, index: int, op: Operation) -> Operation:
        op.parent = self
        self.ops.insert(index, op)
        return op

    def insert_before(self, anchor: Operation, op: Operation) -> Operation:
        return self.insert(self.ops.index(anchor), op)

    @property
    def terminator(self) -> Operation | None:
        return self.ops[-1] if self.ops else None

    def parent_op(self) -> Operation | None:
        return self.parent.parent if self.parent is not None else None


class Region:
    """A list of blocks owned by an operation (tritium's structured ops use one block)."""

    __slots__ = ("blocks", "parent")

    def __init__(self, blocks: list[Block] | None = None) -> None:
        self.blocks: list[Block] = []
        self.parent: Operation | None = None
        for b in blocks or []:
            self.add_block(b)

    def add_block(self, block: Block) -> Block:
        block.parent = self
        self.blocks.append(block)
        return block

    @property
    def block(self) -> Block:
        """The single block of this region."""
        if len(self.blocks) != 1:
            raise ValueError(f"region has {len(self.blocks)} blocks, not 1")
        return self.blocks[0]


class Module:
    """A compilation unit: a ``builtin.module`` op whose one block holds ``tt.func`` ops."""

    def __init__(self, op: Operation | None = None) -> None:
        if op is None:
            op = Operation("builtin.module", regions=1)
            op.regions[0].add_block(Block())
        self.op = op

    @property
    def body(self) -> Block:
        return self.op.regions[0].block

    @property
    def functions(self) -> list[Operation]:
        return [op for op in self.body.ops if op.name == "tt.func"]

    def get_function(self, name: str) -> Operation:
        for f in self.functions:
            if f.attrs.get("sym_name") == name:
                return f
        raise KeyError(name)

    def walk(self) -> Iterator[Operation]:
        return self.op.walk()

    def __str__(self) -> str:
        from tritium.ir.printer import print_module

        return print_module(self)
