"""Bytes moved and floating-point operations of a launch, counted from the kernel's Tile IR.

The optimized TTIR (``compiled.asm["ttir"]``, the generic textual form) is read once per
compiled kernel into a small tree of counted ops: ``tt.load``/``tt.store``/atomics count
their tile's bytes, float arithmetic and ``math.*`` one FLOP per element, ``tt.dot``
``2*M*N*K``, a float ``tt.reduce`` one FLOP per input element. An ``scf.for`` multiplies its
body by its trip count, evaluated at each launch from the kernel's run-time arguments and
constants (``%argN`` are the kernel parameters, in launch order); a loop whose bounds are
not known (computed in the kernel) and ``scf.while`` bodies are counted once and the result
is flagged as a lower bound. ``scf.if`` counts both branches (an upper bound, flagged too).

Counts are what the program *asks for*: masked-off lanes and cache reuse are not known
statically, so a masked tail tile counts in full. Each count keeps the source line of its op,
for the per-line view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KernelCounts", "count_ttir"]

_ELT_BYTES = {
    "i1": 1,
    "i8": 1,
    "i16": 2,
    "i32": 4,
    "i64": 8,
    "f16": 2,
    "bf16": 2,
    "f32": 4,
    "f64": 8,
    "tf32": 4,
}

_OP = re.compile(r'^\s*(?:(%[\w#]+)(?::\d+)?\s*=\s*)?"([\w.]+)"\((.*?)\)')
_RESULT_TYPE = re.compile(r"->\s*(.*?)\s+loc\(")
_OPERAND_TYPES = re.compile(r":\s*\((.*?)\)\s*->")
_LOC = re.compile(r'loc\("([^"]*)":(\d+):(\d+)\)\s*$')
_TENSOR = re.compile(r"tensor<((?:\d+x)*)(!tt\.ptr<)?(\w+)>?>")
_SCALAR_FLOAT = re.compile(r"^(f16|bf16|f32|f64)$")
_VALUE = re.compile(r"\{value = (-?\d+)\}")

_TRANSCENDENTAL_COST = 10
_CHEAP_MATH = {"math.fma", "math.absf", "math.floor", "math.ceil", "math.copysign"}

_FLOAT_OPS = {
    "arith.addf",
    "arith.subf",
    "arith.mulf",
    "arith.divf",
    "arith.maxnumf",
    "arith.minnumf",
    "arith.maximumf",
    "arith.minimumf",
    "arith.negf",
    "arith.remf",
    "math.fma",
    "tt.precise_sqrt",
    "tt.precise_divf",
}


def _shape_and_type(ty: str) -> tuple[int, str, bool]:
    """(elements, element type, is pointer) of an IR type string."""
    m = _TENSOR.search(ty)
    if m is None:
        t = ty.strip()
        if t.startswith("!tt.ptr<"):
            return 1, t[len("!tt.ptr<") : -1], True
        return 1, t, False
    dims = [int(d) for d in m.group(1).split("x") if d]
    n = 1
    for d in dims:
        n *= d
    return n, m.group(3), bool(m.group(2))


def _split_types(s: str) -> list[str]:
    """Top-level comma-separated types (commas inside <...> kept)."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


@dataclass
class _Node:
    """A counted op, or a loop (``bounds``) / region holding counted ops."""

    bytes: int = 0
    flops: int = 0
    cost: int = 0  # FLOP-equivalents for the per-line time model (transcendentals weigh more)
    line: int = 0
    in_loop: bool = False  # inside a loop: its tiles are usually reused from the cache
    bounds: tuple[str, str, str] | None = None  # scf.for (lb, ub, step) operands
    unknown_trips: bool = False  # scf.while: counted once
    upper: bool = False  # scf.if: both branches counted
    children: list[_Node] = field(default_factory=list)


@dataclass
class KernelCounts:
    """The counted ops of one compiled kernel; :meth:`evaluate` gives a launch's totals."""

    root: _Node
    constants: dict[str, int]
    source: str

    def evaluate(self, args: list[Any], programs: int) -> dict[str, Any]:
        """``{"bytes", "flops", "exact", "lines": {line: (bytes, flops, cost, bytes in loops)}}``
        of a launch with
        run-time ``args`` (launch values, in parameter order) over ``programs`` programs."""
        env = dict(self.constants)
        for i, a in enumerate(args):
            if isinstance(a, int):
                env[f"%arg{i}"] = int(a)
        lines: dict[int, list[int]] = {}
        exact = [True]

        def walk(node: _Node, mult: int) -> tuple[int, int]:
            if node.bounds is not None:
                lb, ub, step = (env.get(v) for v in node.bounds)
                if lb is None or ub is None or not step:
                    exact[0] = False
                    trips = 1
                else:
                    trips = max(0, -(-(ub - lb) // step))
                mult *= trips
            if node.unknown_trips or node.upper:
                exact[0] = False
            b, f = node.bytes * mult, node.flops * mult
            if node.bytes or node.flops:
                acc = lines.setdefault(node.line, [0, 0, 0, 0])
                acc[0] += b
                acc[1] += f
                acc[2] += (node.cost or node.flops) * mult
                acc[3] += b if node.in_loop else 0
            for c in node.children:
                cb, cf = walk(c, mult)
                b, f = b + cb, f + cf
            return b, f

        b, f = walk(self.root, programs)
        return {
            "bytes": b,
            "flops": f,
            "exact": exact[0],
            "lines": {k: (v[0], v[1], v[2], v[3]) for k, v in sorted(lines.items())},
        }


def count_ttir(ttir: str) -> KernelCounts:
    """Read the generic-form TTIR text of a kernel into counted ops."""
    root = _Node()
    stack: list[_Node] = [root]
    constants: dict[str, int] = {}
    # Ops opening a region push a node; "})" closes it. Reduce bodies are skipped (counted on
    # the reduce op itself).
    skip_depth = 0
    source = ""
    pending = ""  # a reduce/scan whose types are printed on the line closing its region
    for raw in ttir.splitlines():
        line = raw.strip()
        if line.startswith("})") or line == "}":
            if skip_depth:
                skip_depth -= 1
                if not skip_depth and pending:
                    loc = _LOC.search(line)
                    node = _count_op(pending, line, int(loc.group(2)) if loc else 0)
                    if node is not None:
                        node.in_loop = any(r.bounds is not None or r.unknown_trips for r in stack)
                        stack[-1].children.append(node)
                    pending = ""
            elif len(stack) > 1:
                stack.pop()
            continue
        m = _OP.match(line)
        if m is None:
            continue
        result, name, operands = m.group(1), m.group(2), m.group(3)
        loc = _LOC.search(line)
        src_line = int(loc.group(2)) if loc else 0
        if loc and not source:
            source = loc.group(1)
        opens = line.rstrip().endswith("({")
        if skip_depth:
            if opens:
                skip_depth += 1
            continue
        if name == "arith.constant" and result:
            v = _VALUE.search(line)
            if v and "tensor<" not in line.split("->")[-1]:
                constants[result] = int(v.group(1))
            continue
        if name in ("tt.reduce", "tt.scan") and opens:
            skip_depth, pending = 1, name
            continue
        node = _count_op(name, line, src_line)
        if node is not None:
            node.in_loop = any(r.bounds is not None or r.unknown_trips for r in stack)
        if opens:
            region = _Node(line=src_line)
            if name == "scf.for":
                ops = [o.strip() for o in operands.split(",")]
                region.bounds = (ops[0], ops[1], ops[2])
            elif name == "scf.while":
                region.unknown_trips = True
            elif name == "scf.if":
                region.upper = True
            stack[-1].children.append(region)
            stack.append(region)
            continue
        if node is not None:
            stack[-1].children.append(node)
    return KernelCounts(root, constants, source)


def _count_op(name: str, line: str, src_line: int) -> _Node | None:
    """The bytes/FLOPs of one op line (None if it counts nothing)."""
    if name in ("tt.load", "tt.descriptor_load"):
        rt = _RESULT_TYPE.search(line)
        if rt:
            n, elt, _ = _shape_and_type(rt.group(1))
            return _Node(bytes=n * _ELT_BYTES.get(elt, 4), line=src_line)
    if name in ("tt.store", "tt.descriptor_store", "tt.atomic_rmw", "tt.atomic_cas"):
        ot = _OPERAND_TYPES.search(line)
        if ot:
            types = _split_types(ot.group(1))
            n, elt, _ = _shape_and_type(types[0])
            per = _ELT_BYTES.get(elt, 4)
            factor = 1 if name.endswith("store") else 2  # an atomic reads and writes
            return _Node(bytes=n * per * factor, line=src_line)
    if name == "tt.dot" or name == "tt.dot_scaled":
        ot = _OPERAND_TYPES.search(line)
        if ot:
            types = _split_types(ot.group(1))
            a = _TENSOR.search(types[0])
            c = _TENSOR.search(types[2] if len(types) > 2 else types[0])
            if a and c:
                ad = [int(d) for d in a.group(1).split("x") if d]
                cd = [int(d) for d in c.group(1).split("x") if d]
                k = ad[-1]
                n = 1
                for d in cd:
                    n *= d
                return _Node(flops=2 * n * k, line=src_line)
    if name in _FLOAT_OPS or name.startswith("math."):
        rt = _RESULT_TYPE.search(line)
        if rt:
            n, elt, _ = _shape_and_type(rt.group(1))
            if _SCALAR_FLOAT.match(elt):
                # One FLOP for the roofline, as Proton counts; a vectorized exp, log or sin is
                # a polynomial of ~10 FMAs, which the per-line time model accounts for.
                heavy = name.startswith("math.") and name not in _CHEAP_MATH
                return _Node(flops=n, cost=n * _TRANSCENDENTAL_COST if heavy else n, line=src_line)
    if name in ("tt.reduce", "tt.scan"):
        ot = _OPERAND_TYPES.search(line)
        if ot:
            n, elt, _ = _shape_and_type(_split_types(ot.group(1))[0])
            if _SCALAR_FLOAT.match(elt):
                return _Node(flops=n, line=src_line)
    return None
