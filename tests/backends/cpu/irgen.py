"""A tiny kernel-building DSL over :class:`tritium.ir.Builder` for backend tests (the
frontend is tested separately; these tests pin the backend's lowering of hand-built IR)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from tritium.backends import get_backend
from tritium.ir import Block, Builder, Module, Operation, Value
from tritium.ir import types as irt

F32, F64, F16, BF16 = irt.f32, irt.f64, irt.f16, irt.bf16
I1, I8, I32, I64 = irt.i1, irt.i8, irt.i32, irt.i64


def ptr(t: irt.Type) -> irt.PointerType:
    return irt.PointerType(t)


def tensor(shape: Sequence[int], t: irt.Type) -> irt.TensorType:
    return irt.TensorType(tuple(shape), t)


class KernelBuilder:
    """Builds one public ``tt.func`` kernel; methods return IR values."""

    def __init__(self, name: str, params: Sequence[irt.Type]) -> None:
        self.module = Module()
        self.func = Operation(
            "tt.func",
            regions=1,
            attrs={
                "sym_name": name,
                "function_type": irt.FunctionType(tuple(params), ()),
                "visibility": "public",
            },
        )
        block = Block(list(params))
        self.func.regions[0].add_block(block)
        self.module.body.append(self.func)
        self.b = Builder(block)
        self.args = block.args

    # generic
    def op(
        self, name: str, operands: Sequence[Value], result: irt.Type | None = None, **attrs: Any
    ) -> Value:
        o = self.b.create(name, list(operands), [result] if result is not None else [], attrs)
        return o.result if result is not None else None  # type: ignore[return-value]

    def const(self, value: Any, t: irt.Type) -> Value:
        return self.op("arith.constant", [], t, value=value)

    def pid(self, axis: int = 0) -> Value:
        return self.op("tt.get_program_id", [], I32, axis=axis)

    def nprog(self, axis: int = 0) -> Value:
        return self.op("tt.get_num_programs", [], I32, axis=axis)

    def arange(self, start: int, end: int) -> Value:
        return self.op("tt.make_range", [], tensor([end - start], I32), start=start, end=end)

    def splat(self, v: Value, shape: Sequence[int]) -> Value:
        return self.op("tt.splat", [v], tensor(shape, v.type))

    def broadcast(self, v: Value, shape: Sequence[int]) -> Value:
        return self.op("tt.broadcast", [v], tensor(shape, irt.element_type(v.type)))

    def expand_dims(self, v: Value, axis: int) -> Value:
        shape = list(irt.shape_of(v.type))
        shape.insert(axis, 1)
        return self.op("tt.expand_dims", [v], tensor(shape, irt.element_type(v.type)), axis=axis)

    def binary(self, name: str, a: Value, b: Value) -> Value:
        return self.op(name, [a, b], a.type)

    def cmp(self, name: str, pred: str, a: Value, b: Value) -> Value:
        return self.op(name, [a, b], irt.with_element(a.type, I1), predicate=pred)

    def unary(self, name: str, a: Value, result: irt.Type | None = None) -> Value:
        return self.op(name, [a], result or a.type)

    def addptr(self, p: Value, off: Value) -> Value:
        return self.op("tt.addptr", [p, off], p.type)

    def load(self, p: Value, mask: Value | None = None, other: Value | None = None) -> Value:
        pt = irt.element_type(p.type)
        assert isinstance(pt, irt.PointerType)
        ops = [p] + ([mask] if mask is not None else []) + ([other] if other is not None else [])
        return self.op("tt.load", ops, irt.with_element(p.type, pt.pointee))

    def store(self, p: Value, v: Value, mask: Value | None = None) -> None:
        self.op("tt.store", [p, v] + ([mask] if mask is not None else []))

    def reduce(
        self,
        xs: Sequence[Value],
        axis: int,
        combine: Callable[[KernelBuilder, list[Value], list[Value]], list[Value]],
    ) -> list[Value]:
        shape = list(irt.shape_of(xs[0].type))
        out_shape = shape[:axis] + shape[axis + 1 :]
        elts = [irt.element_type(x.type) for x in xs]
        types = [tensor(out_shape, e) if out_shape else e for e in elts]
        o = self.b.create("tt.reduce", list(xs), types, {"axis": axis}, regions=1)
        block = Block(elts + elts)
        o.regions[0].add_block(block)
        with self.b.at_end_of(block):
            res = combine(self, block.args[: len(xs)], block.args[len(xs) :])
            self.b.create("tt.reduce.return", res)
        return o.results

    def sum(self, x: Value, axis: int) -> Value:
        add = "arith.addf" if isinstance(irt.element_type(x.type), irt.FloatType) else "arith.addi"
        return self.reduce([x], axis, lambda k, lhs, rhs: [k.binary(add, lhs[0], rhs[0])])[0]

    def max(self, x: Value, axis: int) -> Value:
        def combine(k: KernelBuilder, lhs: list[Value], rhs: list[Value]) -> list[Value]:
            return [k.binary("arith.maxnumf", lhs[0], rhs[0])]

        return self.reduce([x], axis, combine)[0]

    @contextmanager
    def for_(
        self, lb: Value, ub: Value, step: Value, inits: Sequence[Value]
    ) -> Iterator[tuple[Value, list[Value], list[Value], Operation]]:
        """``with kb.for_(lb, ub, step, inits) as (iv, args, yields, op):`` — append the
        values to yield to ``yields``; results are ``op.results``."""
        o = self.b.create("scf.for", [lb, ub, step, *inits], [v.type for v in inits], regions=1)
        block = Block([lb.type] + [v.type for v in inits])
        o.regions[0].add_block(block)
        yields: list[Value] = []
        with self.b.at_end_of(block):
            yield block.args[0], block.args[1:], yields, o
            self.b.create("scf.yield", yields)

    def ret(self) -> None:
        self.b.create("tt.return", [])


def compile_kernel(kb: KernelBuilder, **options: Any) -> Any:
    kb.ret()
    backend = get_backend("cpu")
    art = backend.compile(kb.module, options)
    return backend.load(art), art


def launch(kernel: Any, grid: Sequence[int], *args: Any) -> None:
    vals = [a.ctypes.data if isinstance(a, np.ndarray) else a for a in args]
    kernel.launch(tuple(grid), vals)


def poison(shape: Sequence[int] | int, dtype: Any) -> np.ndarray:
    """An output buffer filled with a recognizable garbage value."""
    a = np.empty(shape, dtype=dtype)
    if np.issubdtype(a.dtype, np.floating) or a.dtype.name == "bfloat16":
        a.fill(np.nan)
    else:
        a.fill(np.iinfo(a.dtype).max if np.issubdtype(a.dtype, np.integer) else 1)
    return a


def fenced(kernel: Any) -> bool:
    """Whether a compiled kernel fences its non-temporal stores: an ``sfence`` in its own code,
    or its entry asks the shared grid launcher's workers for one (``launcher._FENCE``)."""
    import re

    from tritium.backends.cpu import launcher

    call = re.search(r"@tritium_grid_launch\(.*, i32 (\d+)\)", kernel.asm["llir"])
    assert call is not None, "the entry does not call the shared grid launcher"
    return "sfence" in kernel.asm["asm"] or bool(int(call.group(1)) & launcher._FENCE)
