"""Random kernels, as Python source, for compiled-vs-interpreted checks of the frontend.

Each kernel loads a float tile and an int tile, then runs random statements — arithmetic,
reductions and scans, sort/flip, 2-D detours (broadcasting, reshape/trans, dot), casts (int
widths, float<->int, fp16/bf16/fp64 round trips, bitcasts), masked atomics, run-time
``if``/``for``/``while``, ``tl.static_range``, ternaries, ``@jit`` calls, an early exit — over
variables of four kinds (float tile, int tile, float scalar, int scalar) and stores one float
tile. The generator keeps both engines' rules in mind so any difference is a bug, not a matter
of taste:

* a name first assigned inside a run-time block is used only inside it (the compiler drops it
  after the block; the interpreter, plain Python, keeps it);
* a reassigned name keeps its kind (the compiler carries it through ``scf`` ops);
* comparisons and float-to-int conversions only touch loaded values (``l0``/``ls0``, copies
  no statement reassigns), never computed floats (reduction order differs between engines; a
  flipped comparison would not be a bug); so do fp16/bf16 round trips (one bf16 step is
  0.4%: a last-bit difference before it would show as a mismatch);
* divisors are positive and shifts small, so no operation is undefined; conversions stay in
  range (float->int of loaded values only, clamped first);
* atomics whose result depends on the order of programs (which the compiled launch runs in
  parallel) are commutative integer ops or float max/min on shared addresses, their returned
  values unused, and ONE op per kernel for each of the two shared regions (``max`` then ``xor``
  on a slot is not ``xor`` then ``max``: seed 950516 mixed them and mismatched by chance);
  every other atomic works on addresses of its own program (``ia_ptr``/``fa_ptr``
  + ``offs``), and masked-off lanes of its result are replaced by 0.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

KINDS = ("ft", "it", "fs", "is")  # float tile, int tile, float scalar, int scalar

HEADER = """
import tritium.language as tl
from tests.frontend.helpers import jit


@jit
def _mix_float(a, b):
    return a * 0.5 + b


@jit
def _mix_int(a, b):
    if tl.sum(a, axis=0) > 0:
        return (a & b) + 1
    return a - b


@jit
def {name}(x_ptr, y_ptr, out_ptr, ia_ptr, fa_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    f0 = tl.load(x_ptr + offs, mask=mask, other=1.0)
    i0 = tl.load(y_ptr + offs, mask=mask, other=3)
    s0 = tl.load(x_ptr + pid)
    k0 = n + pid
    l0 = f0 + 0.0
    ls0 = s0 + 0.0
"""


@dataclass
class _Scope:
    names: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def copy(self) -> _Scope:
        return _Scope({k: list(v) for k, v in self.names.items()})


class KernelGenerator:
    """Writes one random kernel per :meth:`source` call (deterministic for a seed)."""

    def __init__(self, seed: int, max_depth: int = 2, statements: int = 8) -> None:
        self.rng = random.Random(seed)
        # the op of every atomic on the shared slots, drawn from a stream of its own so that
        # the kernels of other seeds stay what they were
        shared = random.Random(seed ^ 0x5A7E)
        self.shared_int_op = shared.choice(["add", "max", "min", "and", "or", "xor"])
        self.shared_float_op = shared.choice(["max", "min"])
        self.max_depth = max_depth
        self.statements = statements
        self.counter = 0
        self.lines: list[str] = []

    # ---- expressions --------------------------------------------------------------------

    def _var(self, scope: _Scope, kind: str) -> str:
        return self.rng.choice(scope.names[kind])

    def _cond_tile(self, scope: _Scope) -> str:
        # comparisons of loaded or integer values only (see the module docstring)
        a, b = self._var(scope, "it"), self._var(scope, "it")
        return self.rng.choice(
            [
                f"({a} < {b})",
                "(l0 > 0.0)",
                f"(({a} & 1) == 0)",
                f"(i0 >= {self.rng.randint(-3, 3)})",
            ]
        )

    def expr(self, scope: _Scope, kind: str, depth: int = 0) -> str:
        """A random expression of ``kind`` over the names in ``scope``."""
        if depth >= 2 or self.rng.random() < 0.3:
            return self._var(scope, kind)
        e = lambda k: self.expr(scope, k, depth + 1)  # noqa: E731
        r = self.rng
        if r.random() < 0.1:  # a run-time conditional expression (scf.if)
            return f"({e(kind)} if {self._var(scope, 'is')} % 2 == 0 else {e(kind)})"
        if kind in ("ft", "it") and r.random() < 0.1:  # a call of a @jit function
            helper = "_mix_float" if kind == "ft" else "_mix_int"
            return f"{helper}({e(kind)}, {e(kind)})"
        if kind == "ft":
            return r.choice(
                [
                    # averages, not sums: rounding differences (reduction order) must not grow
                    # exponentially through loops
                    f"(({e('ft')} + {e('ft')}) * 0.5)",
                    f"(({e('ft')} - {e('fs')}) * 0.5)",
                    f"({e('ft')} * {r.choice(['0.5', '0.25', '-1.0'])})",
                    f"tl.maximum({e('ft')}, {e('ft')})",
                    f"tl.minimum({e('ft')}, {e('fs')})",
                    f"tl.where({self._cond_tile(scope)}, {e('ft')}, {e('ft')})",
                    f"(-{e('ft')})",
                    f"tl.abs({e('ft')})",
                    f"{e('it')}.to(tl.float32)",
                    f"(f0 * {e('ft')})",
                    "tl.sqrt(tl.abs(f0))",
                    f"tl.cumsum({e('ft')}, 0)",
                    # 2-D detours: broadcasting, reshape/trans, dot, sort
                    f"(tl.sum({e('ft')}[:, None] * {e('ft')}[None, :], axis=1) * 0.0625)",
                    f"tl.reshape(tl.trans(tl.reshape({e('ft')}, (4, BLOCK // 4))), (BLOCK,))",
                    f"(tl.sum(tl.dot(tl.broadcast_to({e('ft')}[:, None], (BLOCK, BLOCK)), "
                    f"tl.broadcast_to({e('ft')}[None, :], (BLOCK, BLOCK))), axis=1) * 0.00390625)",
                    f"tl.sort({e('ft')})",
                    f"tl.cumsum({e('ft')}, 0, reverse=True)",
                    # casts: round trips through narrower floats, ints to floats, bitcasts
                    "tl.minimum(tl.maximum(l0 * 1000.0, -6.0e4), 6.0e4)"
                    ".to(tl.float16).to(tl.float32)",
                    "l0.to(tl.bfloat16).to(tl.float32)",
                    f"({e('it')} & 255).to(tl.bfloat16).to(tl.float32)",
                    f"({e('ft')}.to(tl.float64) * 0.5).to(tl.float32)",
                    f"({e('it')} & 1023).to(tl.float16).to(tl.float32)",
                    f"{e('it')}.to(tl.float32, bitcast=True)"
                    ".to(tl.int32, bitcast=True).to(tl.float32)",
                    "l0.to(tl.float16).to(tl.int16, bitcast=True).to(tl.float32)",
                    f"tl.cast({e('it')}.to(tl.int64), tl.float32)",
                ]
            )
        if kind == "it":
            d = f"(({e('it')} & 7) + 1)"
            return r.choice(
                [
                    f"({e('it')} + {e('it')})",
                    f"({e('it')} - {e('is')})",
                    f"({e('it')} * {r.randint(-3, 3)})",
                    f"({e('it')} // {d})",
                    f"({e('it')} % {d})",
                    f"({e('it')} & {e('it')})",
                    f"({e('it')} | {e('it')})",
                    f"({e('it')} ^ {e('it')})",
                    f"({e('it')} >> ({e('it')} & 3))",
                    f"tl.maximum({e('it')}, {e('it')})",
                    f"min({e('it')}, {e('is')})",
                    f"tl.where({self._cond_tile(scope)}, {e('it')}, {e('it')})",
                    "(tl.minimum(tl.maximum(l0, -100.0), 100.0)).to(tl.int32)",
                    f"tl.flip({e('it')}, 0)",
                    # casts: integer widths and signedness, float->int of loaded values, bits
                    f"{e('it')}.to(tl.int8).to(tl.int32)",
                    f"{e('it')}.to(tl.uint8).to(tl.int32)",
                    f"{e('it')}.to(tl.int16).to(tl.int32)",
                    f"({e('it')}.to(tl.uint32) >> 3).to(tl.int32)",
                    f"({e('it')}.to(tl.int64) * {e('it')}).to(tl.int32)",
                    "(l0.to(tl.int32, bitcast=True) >> 20)",
                    "tl.minimum(tl.maximum(l0 * 300.0, -128.0), 127.0).to(tl.int8).to(tl.int32)",
                    "(l0 * 1000.0).to(tl.int32)",
                    "tl.abs(l0 * 1000.0).to(tl.uint16).to(tl.int32)",
                    "l0.to(tl.float16).to(tl.int32)",
                ]
            )
        if kind == "fs":
            # sums are clamped so that values stay finite (no inf - inf, no NaN to compare)
            return r.choice(
                [
                    f"tl.minimum(tl.maximum(tl.sum({e('ft')}, axis=0), -1e4), 1e4)",
                    f"tl.max({e('ft')}, axis=0)",
                    f"({e('fs')} * 0.5)",
                    f"({e('fs')} + {e('is')})",
                    "(ls0 * 100.0).to(tl.float16).to(tl.float32)",
                ]
            )
        return r.choice(
            [
                f"tl.sum({e('it')}, axis=0)",
                f"tl.min({e('it')}, axis=0)",
                f"({e('is')} + {r.randint(1, 4)})",
                f"({e('is')} % 5)",
                f"tl.argmax({e('it')}, axis=0)",
                f"{e('is')}.to(tl.int8).to(tl.int32)",
                "(ls0 * 100.0).to(tl.int32)",
            ]
        )

    # ---- statements ---------------------------------------------------------------------

    def _emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def _fresh(self) -> str:
        self.counter += 1
        return f"v{self.counter}"

    def block(self, scope: _Scope, indent: int, depth: int, count: int) -> None:
        """``count`` random statements at ``indent``; new names go into ``scope``."""
        for _ in range(count):
            choice = self.rng.random()
            if depth < self.max_depth and choice < 0.12:
                self._if(scope, indent, depth)
            elif depth < self.max_depth and choice < 0.22:
                self._for(scope, indent, depth)
            elif depth < self.max_depth and choice < 0.27:
                self._while(scope, indent, depth)
            elif depth < self.max_depth and choice < 0.32:
                self._static_for(scope, indent, depth)
            elif choice < 0.42:
                self._atomic(scope, indent)
            else:
                self._assign(scope, indent)

    def _assign(self, scope: _Scope, indent: int) -> None:
        kind = self.rng.choice(KINDS)
        value = self.expr(scope, kind)
        if scope.names[kind] and self.rng.random() < 0.5:
            self._emit(indent, f"{self._var(scope, kind)} = {value}")
        else:
            name = self._fresh()
            self._emit(indent, f"{name} = {value}")
            scope.names[kind].append(name)

    def _atomic(self, scope: _Scope, indent: int) -> None:
        r = self.rng
        m = self._fresh()
        self._emit(indent, f"{m} = " + r.choice(["mask", f"mask & {self._cond_tile(scope)}"]))
        sem = r.choice(["", "", ", sem='relaxed'", ", sem='acq_rel'", ", sem='acquire'"])
        kind = r.random()
        if kind < 0.3:  # own addresses, int: the old values are deterministic
            op = r.choice(["add", "max", "min", "and", "or", "xor", "xchg"])
            call = f"tl.atomic_{op}(ia_ptr + offs, {self.expr(scope, 'it')}, mask={m}{sem})"
            self._new(scope, indent, "it", f"tl.where({m}, {call}, 0)")
        elif kind < 0.5:  # own addresses, float
            op = r.choice(["add", "max", "min", "xchg"])
            call = f"tl.atomic_{op}(fa_ptr + offs, {self.expr(scope, 'ft')}, mask={m}{sem})"
            self._new(scope, indent, "ft", f"tl.where({m}, {call}, 0.0)")
        elif kind < 0.65:  # shared addresses: commutative int ops, result unused
            r.choice(["add", "max", "min", "and", "or", "xor"])  # keeps the stream of draws
            op = self.shared_int_op
            where = f"ia_ptr + 2 * BLOCK + ({self.expr(scope, 'it')} & 7)"
            self._emit(indent, f"tl.atomic_{op}({where}, {self.expr(scope, 'it')}, mask={m}{sem})")
        elif kind < 0.75:  # shared addresses: float max/min, result unused
            r.choice(["max", "min"])
            op = self.shared_float_op
            where = f"fa_ptr + 2 * BLOCK + ({self.expr(scope, 'it')} & 7)"
            self._emit(indent, f"tl.atomic_{op}({where}, {self.expr(scope, 'ft')}, mask={m}{sem})")
        elif kind < 0.88:  # compare-and-swap (no mask) on own addresses
            cmp, val = self.expr(scope, "it"), self.expr(scope, "it")
            self._new(scope, indent, "it", f"tl.atomic_cas(ia_ptr + offs, {cmp} & 3, {val}{sem})")
        else:  # a scalar atomic on the program's own slot
            op = r.choice(["add", "max", "min", "xchg"])
            call = f"tl.atomic_{op}(ia_ptr + 2 * BLOCK + 8 + pid, {self.expr(scope, 'is')}{sem})"
            self._new(scope, indent, "is", call)

    def _new(self, scope: _Scope, indent: int, kind: str, value: str) -> None:
        """Assign ``value`` to a new name of ``kind`` (or, sometimes, to an existing one)."""
        if scope.names[kind] and self.rng.random() < 0.3:
            self._emit(indent, f"{self._var(scope, kind)} = {value}")
        else:
            name = self._fresh()
            self._emit(indent, f"{name} = {value}")
            scope.names[kind].append(name)

    def _if(self, scope: _Scope, indent: int, depth: int) -> None:
        k = self._var(scope, "is")
        cond = self.rng.choice(
            [
                f"{k} % 3 == 1",
                f"{k} > {self.rng.randint(-5, 40)}",
                "pid == 0",
                f"n > {self.rng.randint(0, 40)}",
            ]
        )
        self._emit(indent, f"if {cond}:")
        self.block(scope.copy(), indent + 1, depth + 1, self.rng.randint(1, 3))
        if self.rng.random() < 0.6:
            self._emit(indent, "else:")
            self.block(scope.copy(), indent + 1, depth + 1, self.rng.randint(1, 3))

    def _for(self, scope: _Scope, indent: int, depth: int) -> None:
        j = self._fresh()
        bound = self.rng.choice([f"({self._var(scope, 'is')} % 4) + 1", "3", "n % 5"])
        self._emit(indent, f"for {j} in range(0, {bound}):")
        # the interpreter's induction variable is a Python int; make it a tensor in both
        jt = self._fresh()
        self._emit(indent + 1, f"{jt} = k0 * 0 + {j}")
        inner = scope.copy()
        inner.names["is"].append(jt)
        self.block(inner, indent + 1, depth + 1, self.rng.randint(1, 3))

    def _while(self, scope: _Scope, indent: int, depth: int) -> None:
        w = self._fresh()
        self._emit(indent, f"{w} = k0 * 0")
        scope.names["is"].append(w)
        self._emit(indent, f"while {w} < n % 4:")
        inner = scope.copy()
        inner.names["is"].remove(w)  # the counter is only advanced below
        self.block(inner, indent + 1, depth + 1, self.rng.randint(1, 2))
        self._emit(indent + 1, f"{w} += 1")

    def _static_for(self, scope: _Scope, indent: int, depth: int) -> None:
        j = self._fresh()
        self._emit(indent, f"for {j} in tl.static_range({self.rng.randint(1, 3)}):")
        # j is a Python int here (in both engines), so it is not an int-scalar variable
        self.block(scope.copy(), indent + 1, depth + 1, self.rng.randint(1, 2))

    def source(self, name: str) -> str:
        """The source of a module defining the random kernel ``name``."""
        self.lines = []
        scope = _Scope({"ft": ["f0"], "it": ["i0"], "fs": ["s0"], "is": ["k0"]})
        first = self.rng.randint(0, self.statements)
        self.block(scope, 1, 0, first)
        if self.rng.random() < 0.3:  # an early exit of some programs
            self._emit(1, f"if pid == 1 and n < {self.rng.randint(17, 31)}:")
            self._emit(2, "return")
        self.block(scope, 1, 0, self.statements - first)
        terms = [
            *scope.names["ft"],
            *(f"{v}.to(tl.float32)" for v in scope.names["it"]),
            *scope.names["fs"],
            *(f"{v}.to(tl.float32)" for v in scope.names["is"]),
        ]
        self._emit(1, f"tl.store(out_ptr + offs, {' + '.join(terms)}, mask=mask)")
        return HEADER.format(name=name) + "\n".join(self.lines) + "\n"
