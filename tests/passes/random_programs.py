"""Random Tile IR programs, and a NumPy evaluator for them, for differential pass tests.

``RandomProgram(seed).build(steps)`` makes a public function ``k(i32, i32, f32, f32, i1)``
of scalar and tensor<4> arith ops over i32 and f32 (compares, selects, splats, shifts,
division by constants, an scf.for, an scf.if). Its results are the operands of a final
``tt.print``; with ``sink="store"`` they are stored instead to two extra parameters
(``!tt.ptr<i32>``, ``!tt.ptr<f32>``; i1 values as i32), so a backend can run it.

``evaluate(module, args)`` runs the print form with NumPy, written independently of the
folding code; it only knows the ops the generator emits.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np

from tritium.ir import (
    Block,
    Builder,
    FunctionType,
    Module,
    Operation,
    PointerType,
    TensorType,
    Type,
    Value,
    f32,
    i1,
    i32,
    with_element,
)

T4I, T4F, T4B = TensorType((4,), i32), TensorType((4,), f32), TensorType((4,), i1)
T16I, T16F = TensorType((16,), i32), TensorType((16,), f32)
INT_BIN = ["addi", "subi", "muli", "andi", "ori", "xori", "maxsi", "minsi", "maxui", "minui"]
FLT_BIN = ["addf", "subf", "mulf", "divf", "maximumf", "minimumf", "maxnumf", "minnumf"]
IPRED = ["eq", "ne", "slt", "sle", "sgt", "sge", "ult", "ule", "ugt", "uge"]
FPRED = ["oeq", "one", "olt", "ole", "ogt", "oge", "ueq", "une", "ult", "uge", "ord", "uno"]
INT_CONSTS = [0, 1, -1, 2, 3, 7, 31, 2147483647, -2147483648]
FLT_CONSTS = [0.0, -0.0, 1.0, -1.0, 0.5, 3.25, float("inf"), float("nan"), 1e30]


class RandomProgram:
    """Builds one random program: a public function ending in tt.print of some values."""

    def __init__(self, seed: int, sink: str = "print") -> None:
        self.rng = random.Random(seed)
        self.m = Module()
        self.sink = sink
        params: list[Type] = [i32, i32, f32, f32, i1]
        if sink == "store":
            params += [PointerType(i32), PointerType(f32)]
        self.f = Builder(self.m.body).create(
            "tt.func",
            [],
            [],
            {"sym_name": "k", "function_type": _ftype(params), "visibility": "public"},
            regions=1,
        )
        block = self.f.regions[0].add_block(Block(params))
        self.b = Builder(block)
        self.pool: dict[Type, list[Value]] = {
            t: [] for t in (i32, f32, i1, T4I, T4F, T4B, T16I, T16F)
        }
        for a in block.args[:5]:
            self.pool[a.type].append(a)
        self.outs = block.args[5:]

    def pick(self, t: Type) -> Value:
        if not self.pool[t] or self.rng.random() < 0.35:  # constants make folding fire
            return self.const(t)
        return self.rng.choice(self.pool[t][-8:])

    def const(self, t: Type) -> Value:
        elem = t.element if isinstance(t, TensorType) else t
        value: Any = (
            self.rng.choice(INT_CONSTS if elem == i32 else FLT_CONSTS)
            if elem != i1
            else self.rng.choice([True, False])
        )
        return self.emit("arith.constant", [], t, {"value": value})

    def emit(
        self, name: str, operands: list[Value], t: Type, attrs: dict[str, Any] | None = None
    ) -> Value:
        v = self.b.create(name, operands, [t], attrs).result
        self.pool[t].append(v)
        return v

    def step(self) -> None:
        r = self.rng
        tensor = r.random() < 0.4
        ti, tf, tb = (T4I, T4F, T4B) if tensor else (i32, f32, i1)
        kind = r.randrange(12)
        if kind == 0:
            self.emit(f"arith.{r.choice(INT_BIN)}", [self.pick(ti), self.pick(ti)], ti)
        elif kind == 1:
            self.emit(f"arith.{r.choice(FLT_BIN)}", [self.pick(tf), self.pick(tf)], tf)
        elif kind == 2:
            amount = self.emit("arith.constant", [], ti, {"value": r.randrange(32)})
            self.emit(f"arith.{r.choice(['shli', 'shrsi', 'shrui'])}", [self.pick(ti), amount], ti)
        elif kind == 3:
            d = self.emit("arith.constant", [], ti, {"value": r.choice([1, 2, 3, 7, -3])})
            self.emit(
                f"arith.{r.choice(['divsi', 'remsi', 'divui', 'remui'])}", [self.pick(ti), d], ti
            )
        elif kind == 4:
            if r.random() < 0.5:
                name, t, preds = "arith.cmpi", ti, IPRED
            else:
                name, t, preds = "arith.cmpf", tf, FPRED
            pred = {"predicate": r.choice(preds)}
            cmp = self.b.create(name, [self.pick(t), self.pick(t)], [tb], pred).result
            if r.random() < 0.4:  # logical not, as the frontend spells it
                true = self.emit("arith.constant", [], tb, {"value": True})
                cmp = self.b.create("arith.xori", [cmp, true], [tb]).result
            self.pool[tb].append(cmp)
        elif kind == 5:
            t = r.choice([ti, tf])
            self.emit("arith.select", [self.pick(tb), self.pick(t), self.pick(t)], t)
        elif kind == 6:
            src, dst = r.choice([(i32, T4I), (f32, T4F)])
            self.emit("tt.splat", [self.pick(src)], dst)
        elif kind == 7:
            self.emit("arith.sitofp", [self.pick(ti)], tf)
        elif kind == 8:
            self.shape_chain()
        elif kind == 9 and (self.pool[T16I] or self.pool[T16F]):
            t = r.choice([t for t in (T16I, T16F) if self.pool[t]])
            ops = INT_BIN if t == T16I else FLT_BIN
            self.emit(f"arith.{r.choice(ops)}", [self.pick(t), self.pick(t)], t)
        elif kind == 10:  # (x op c1) op c2 on a run-time x: constant chains
            x = r.choice(self.pool[i32][:2])  # a parameter
            for _ in range(r.randrange(2, 4)):
                value = r.choice([2, 3, 5, -7, 1000, 2147483647])
                c = self.emit("arith.constant", [], i32, {"value": value})
                name = f"arith.{r.choice(['addi', 'subi', 'muli'])}"
                x = self.b.create(name, [x, c], [i32]).result
            self.pool[i32].append(x)
        else:
            self.loop_or_branch()

    def shape_chain(self) -> None:
        """tensor<4> -> expand_dims -> broadcast -> (trans) -> (reshape) -> tensor<16>."""
        r, b = self.rng, self.b
        t = r.choice([T4I, T4F])
        elem = t.element
        x = self.pick(t)
        axis = r.randrange(2)
        col = TensorType((1, 4) if axis == 0 else (4, 1), elem)
        x = b.create("tt.expand_dims", [x], [col], {"axis": axis}).result
        sq = TensorType((4, 4), elem)
        x = b.create("tt.broadcast", [x], [sq]).result
        if r.random() < 0.5:
            x = b.create("tt.trans", [x], [sq], {"order": [1, 0]}).result
        if r.random() < 0.3:
            x = b.create(
                "tt.reshape", [x], [TensorType((2, 8), elem)], {"allow_reorder": False}
            ).result
        self.emit("tt.reshape", [x], T16I if elem == i32 else T16F, {"allow_reorder": False})

    def loop_or_branch(self) -> None:
        r, b = self.rng, self.b
        choice = r.random()
        if choice < 0.25:
            self.while_loop()
        elif choice < 0.6:
            lb = self.emit("arith.constant", [], i32, {"value": 0})
            ub = self.emit("arith.constant", [], i32, {"value": r.randrange(4)})
            one = self.emit("arith.constant", [], i32, {"value": 1})
            init, p, q = self.pick(i32), self.pick(i32), self.pick(i32)
            loop = b.create("scf.for", [lb, ub, one, init], [i32], regions=1)
            body = loop.regions[0].add_block(Block([i32, i32]))
            with b.at_end_of(body):  # values made in here must not reach the pool
                inv = b.create("arith.muli", [p, q], [i32]).result
                nxt = b.create(f"arith.{r.choice(INT_BIN)}", [body.args[1], inv], [i32]).result
                nxt = b.create("arith.addi", [nxt, body.args[0]], [i32]).result
                b.create("scf.yield", [nxt])
            self.pool[i32].append(loop.result)
        else:
            cond, *xs = self.pick(i1), *(self.pick(f32) for _ in range(4))
            branch = b.create("scf.if", [cond], [f32], regions=2)
            yield_only = r.random() < 0.3  # a ternary: canonicalize turns it into a select
            for i, region in enumerate(branch.regions):
                with b.at_end_of(region.add_block(Block())):
                    v = xs[i]
                    if not yield_only:
                        name = f"arith.{r.choice(FLT_BIN)}"
                        v = b.create(name, xs[2 * i : 2 * i + 2], [f32]).result
                    b.create("scf.yield", [v])
            self.pool[f32].append(branch.result)

    def while_loop(self) -> None:
        """``i, acc = 0, init; while i < limit: i, acc = i + 1, acc op (p * q)``, with an
        invariant product to hoist and a limit of 0..3 iterations."""
        r, b = self.rng, self.b
        zero = self.emit("arith.constant", [], i32, {"value": 0})
        limit = self.emit("arith.constant", [], i32, {"value": r.randrange(4)})
        one = self.emit("arith.constant", [], i32, {"value": 1})
        init, p, q = self.pick(i32), self.pick(i32), self.pick(i32)
        loop = b.create("scf.while", [zero, init], [i32, i32], regions=2)
        before = loop.regions[0].add_block(Block([i32, i32]))
        with b.at_end_of(before):
            go = b.create("arith.cmpi", [before.args[0], limit], [i1], {"predicate": "slt"})
            b.create("scf.condition", [go.result, *before.args])
        after = loop.regions[1].add_block(Block([i32, i32]))
        with b.at_end_of(after):
            inv = b.create("arith.muli", [p, q], [i32]).result
            acc = b.create(f"arith.{r.choice(INT_BIN)}", [after.args[1], inv], [i32]).result
            i = b.create("arith.addi", [after.args[0], one], [i32]).result
            b.create("scf.yield", [i, acc])
        self.pool[i32].extend(loop.results)

    def build(self, steps: int) -> Module:
        for _ in range(steps):
            self.step()
        outs = [v for t in self.pool for v in self.pool[t]]  # check every value
        if self.sink == "store":
            self.store(outs)
        else:
            self.b.create("tt.print", outs, [], {"prefix": ""})
        self.b.create("tt.return")
        return self.m

    def store(self, values: list[Value]) -> None:
        """Store ``values`` in order: ints and bools to the i32 buffer, floats to the f32 one."""
        b = self.b
        offset: dict[Type, int] = {i32: 0, f32: 0}
        for v in values:
            elem = v.type.element if isinstance(v.type, TensorType) else v.type
            shape = v.type.shape if isinstance(v.type, TensorType) else ()
            if elem == i1:
                v = b.create("arith.extui", [v], [with_element(v.type, i32)]).result
                elem = i32
            buf = self.outs[0] if elem == i32 else self.outs[1]
            at = b.create("arith.constant", [], [i32], {"value": offset[elem]}).result
            ptr = b.create("tt.addptr", [buf, at], [buf.type]).result
            if shape:
                ptrs = b.create("tt.splat", [ptr], [TensorType(shape, buf.type)]).result
                rng = b.create(
                    "tt.make_range", [], [TensorType(shape, i32)], {"start": 0, "end": shape[0]}
                ).result
                ptr = b.create("tt.addptr", [ptrs, rng], [ptrs.type]).result
            b.create("tt.store", [ptr, v], [])
            offset[elem] += shape[0] if shape else 1


def _ftype(params: list[Type]) -> FunctionType:
    return FunctionType(tuple(params), ())


# ---- the reference evaluator ------------------------------------------------------------------
def _np_type(t: Type) -> Any:
    elem = t.element if isinstance(t, TensorType) else t
    numpy_types: dict[Type, Any] = {i32: np.int32, f32: np.float32, i1: np.bool_}
    return numpy_types[elem]


def _u(x: Any) -> Any:
    return np.asarray(x).view(np.uint32)


def _cmpf(pred: str, a: Any, b: Any) -> Any:
    unordered = np.isnan(a) | np.isnan(b)
    rel = {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}
    if pred in ("ord", "uno"):
        return ~unordered if pred == "ord" else unordered
    return (~unordered & rel[pred[1:]]) if pred[0] == "o" else (unordered | rel[pred[1:]])


_EVAL: dict[str, Callable[..., Any]] = {
    "addi": np.add,
    "subi": np.subtract,
    "muli": np.multiply,
    "andi": np.bitwise_and,
    "ori": np.bitwise_or,
    "xori": np.bitwise_xor,  # also logical not on booleans
    "maxsi": np.maximum,
    "minsi": np.minimum,
    "maxui": lambda a, b: np.maximum(_u(a), _u(b)).view(np.int32),
    "minui": lambda a, b: np.minimum(_u(a), _u(b)).view(np.int32),
    "shli": np.left_shift,
    "shrsi": np.right_shift,
    "shrui": lambda a, b: np.right_shift(_u(a), _u(b)).view(np.int32),
    "divsi": lambda a, b: ((a.astype(np.int64) - np.fmod(a, b)) // b).astype(np.int32),
    "remsi": np.fmod,
    "divui": lambda a, b: (_u(a) // _u(b)).view(np.int32),
    "remui": lambda a, b: (_u(a) % _u(b)).view(np.int32),
    "addf": np.add,
    "subf": np.subtract,
    "mulf": np.multiply,
    "divf": np.divide,
    "maximumf": np.maximum,
    "minimumf": np.minimum,
    "maxnumf": np.fmax,
    "minnumf": np.fmin,
    "sitofp": lambda a: a.astype(np.float32),
}


def evaluate(m: Module, args: list[Any]) -> list[Any]:
    """The printed values of the program ``m`` run on ``args``."""
    env: dict[Value, Any] = {}
    f = m.get_function("k")
    block = f.regions[0].blocks[0]
    for a, v in zip(block.args, args, strict=True):
        env[a] = v
    with np.errstate(all="ignore"):
        return _run_block(block, env)


def _run_block(block: Block, env: dict[Value, Any]) -> list[Any]:
    for op in block.ops:
        if op.name in ("scf.yield", "scf.condition", "tt.print"):  # the print form's results
            return [env[v] for v in op.operands]
        if op.name == "tt.return":
            return []
        env.update(zip(op.results, _run_op(op, env), strict=True))
    raise AssertionError("block without terminator")


def _run_op(op: Operation, env: dict[Value, Any]) -> list[Any]:
    x = [env[v] for v in op.operands]
    short = op.name.split(".", 1)[1]
    if op.results:
        t = op.results[0].type
        shape = t.shape if isinstance(t, TensorType) else ()
    if op.name == "arith.constant":
        return [np.full(shape, op.attrs["value"], dtype=_np_type(t))[()]]
    if op.name == "tt.expand_dims":
        return [np.expand_dims(x[0], op.attrs["axis"])]
    if op.name == "tt.broadcast":
        return [np.broadcast_to(x[0], shape).copy()]
    if op.name == "tt.trans":
        return [np.transpose(x[0], op.attrs["order"]).copy()]
    if op.name == "tt.reshape":
        return [np.reshape(x[0], shape)]
    if op.name == "tt.splat":
        return [np.full(shape, x[0], dtype=_np_type(t))]
    if op.name == "arith.select":
        return [np.where(x[0], x[1], x[2]).astype(_np_type(t))[()]]
    if op.name == "arith.cmpi":
        pred = op.attrs["predicate"]
        a, b = (_u(x[0]), _u(x[1])) if pred[0] == "u" else (x[0], x[1])
        rel = {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}
        return [np.asarray(rel[pred.lstrip("su")] if pred not in ("eq", "ne") else rel[pred])[()]]
    if op.name == "arith.cmpf":
        return [np.asarray(_cmpf(op.attrs["predicate"], x[0], x[1]))[()]]
    if op.name == "scf.for":
        carried = list(x[3:])
        body = op.regions[0].blocks[0]
        for i in range(int(x[0]), int(x[1]), int(x[2])):
            env.update(zip(body.args, [np.int32(i)] + carried, strict=True))
            carried = _run_block(body, env)
        return carried
    if op.name == "scf.if":
        return _run_block(op.regions[0 if x[0] else 1].blocks[0], env)
    if op.name == "scf.while":
        carried = list(x)
        before, after = (region.blocks[0] for region in op.regions)
        while True:
            env.update(zip(before.args, carried, strict=True))
            go, *passed = _run_block(before, env)
            if not go:
                return passed
            env.update(zip(after.args, passed, strict=True))
            carried = _run_block(after, env)
    out = _EVAL[short](*x)
    return [np.asarray(out).astype(_np_type(t))[()]]


def random_inputs(rng: np.random.Generator) -> list[Any]:
    """Arguments for the five scalar parameters, edge values included."""
    ints = [0, 1, -1, 7, 2147483647, -2147483648]
    return [
        np.int32(rng.choice(ints) if rng.random() < 0.3 else rng.integers(-1000, 1000)),
        np.int32(rng.integers(-(2**31), 2**31 - 1)),
        np.float32(rng.standard_normal() * 10),
        np.float32(rng.choice([0.0, -0.0, 2.5])),
        np.bool_(rng.random() < 0.5),
    ]
