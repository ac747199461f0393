"""The registry of Tile IR operations: names, operand conventions, attributes, traits.

This table is the contract between the frontend (which creates these ops), the passes
(which rewrite them using the traits) and the backends (which lower each of them). The
names follow Triton's TTIR and MLIR's ``arith``/``math``/``scf`` dialects so that people who
know Triton can read tritium's IR.

General rules
-------------
* Elementwise ops take operands of one shape: all scalars or all tensors of the same
  shape. The frontend inserts ``tt.splat``/``tt.broadcast`` explicitly; there is no implicit
  broadcasting in the IR.
* Integers are signless; ops that care about signedness come in ``s``/``u`` variants.
* Pointer offsets (``tt.addptr``) are counted in elements of the pointee type.
* Optional trailing operands (``mask``, ``other``) are present or absent; their count
  tells which (``tt.load`` with 2 operands has a mask and no ``other``). Each op's operand
  and result *slots* (:class:`Slot`: ``"ptr"``, ``"mask?"``, ``"inits*"``) are declared
  here once; the verifier's operand and result counts (``OpDef.arity``) and the
  :func:`operand`/:func:`operand_group` accessors derive from them.
* Structured control flow keeps one block per region; regions end in a terminator.

Traits
------
``pure``        no side effects: may be CSE'd, hoisted, and erased when unused.
``elementwise`` result[i] depends on operand[i] only, same shape in and out (fusable).
``commutative`` the first two operands may be swapped.
``terminator``  ends a block.
``effects``     reads or writes memory, prints, or asserts: never erased or reordered freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tritium.ir.core import Operation, Value

__all__ = [
    "OpDef",
    "OPS",
    "Slot",
    "op_def",
    "is_pure",
    "is_elementwise",
    "is_terminator",
    "operand",
    "operand_group",
]

#: How many values fill a slot: exactly one, zero or one (a trailing optional operand), any
#: number, one or more.
COUNTS = {"": "1", "?": "?", "*": "*", "+": "+"}


@dataclass(frozen=True)
class Slot:
    """One operand or result slot of an op: its name and how many values fill it
    (``"1"``, ``"?"`` optional, ``"*"`` any number, ``"+"`` one or more)."""

    name: str
    count: str = "1"

    def __str__(self) -> str:
        return self.name + ("" if self.count == "1" else self.count)


def _slots(what: str, op: str, names: tuple[str, ...]) -> tuple[Slot, ...]:
    """Slots from ``("ptr", "mask?", "other?")``: a name each, with an optional count suffix.

    The shapes an operand list may take are the ones whose operands can be told apart by
    their count alone: required slots, then either optional slots or one variadic slot.
    """
    if isinstance(names, str):  # the old prose form, "lhs, rhs": say what to write instead
        raise TypeError(f"{op}: {what} must be a tuple of slot names such as ('lhs', 'rhs')")
    slots = tuple(Slot(n[:-1], n[-1]) if n[-1:] in ("?", "*", "+") else Slot(n) for n in names)
    counts = [s.count for s in slots]
    required = counts.count("1")
    if "1" in counts[required:] or (
        len(counts) - required > 1 and not all(c == "?" for c in counts[required:])
    ):
        raise ValueError(
            f"{op}: {what} {names}: required slots first, then optional ones or one variadic one"
        )
    return slots


def _range(slots: tuple[Slot, ...]) -> tuple[int, int | None]:
    """(fewest, most or None for any) values a slot list takes."""
    lo = sum(1 for s in slots if s.count in ("1", "+"))
    hi = None if any(s.count in ("*", "+") for s in slots) else len(slots)
    return lo, hi


@dataclass(frozen=True)
class OpDef:
    """The description of one op kind.

    ``operands``/``results`` are the structured slots the verifier's arity check and the
    :func:`operand` accessor derive from; ``result_type`` says, in words, what the result's type
    is.
    """

    name: str
    doc: str
    operands: tuple[Slot, ...] = ()
    result_type: str = ""
    results: tuple[Slot, ...] = (Slot("result"),)
    attrs: dict[str, str] = field(default_factory=dict)  # attribute name -> meaning
    regions: int = 0
    traits: frozenset[str] = frozenset()

    def __str__(self) -> str:
        operands = ", ".join(map(str, self.operands))
        results = ", ".join(map(str, self.results)) or "()"
        result_type = f" ({self.result_type})" if self.result_type else ""
        traits = f" [{' '.join(sorted(self.traits))}]" if self.traits else ""
        return f"{self.name}({operands}) -> {results}{result_type}{traits}: {self.doc}"

    @property
    def arity(self) -> tuple[int, int | None, int | None]:
        """(fewest operands, most operands or None, results or None for any number)."""
        lo, hi = _range(self.operands)
        rlo, rhi = _range(self.results)
        return lo, hi, (rlo if rhi == rlo else None)

    def operand_index(self, name: str, n_operands: int) -> slice | int | None:
        """Where the slot ``name`` is among ``n_operands`` operands: an index (None when an
        optional slot is absent) or, for a variadic slot, a slice."""
        for i, slot in enumerate(self.operands):
            if slot.name != name:
                continue
            if slot.count in ("*", "+"):
                return slice(i, n_operands)
            return i if i < n_operands else None
        raise KeyError(f"{self.name} has no operand {name!r}")


OPS: dict[str, OpDef] = {}


def _op(
    name: str,
    doc: str,
    operands: tuple[str, ...] = (),
    result_type: str = "",
    *,
    results: tuple[str, ...] = ("result",),
    attrs: dict[str, str] | None = None,
    regions: int = 0,
    traits: str = "",
) -> None:
    OPS[name] = OpDef(
        name,
        doc,
        _slots("operands", name, operands),
        result_type,
        _slots("results", name, results),
        dict(attrs or {}),
        regions,
        frozenset(traits.split()),
    )


def op_def(name: str) -> OpDef:
    """The definition of the op called ``name``; KeyError if it is not registered."""
    return OPS[name]


def operand(op: Operation, name: str) -> Value | None:
    """The operand in slot ``name`` of ``op`` (``operand(load, "mask")``), None when that
    optional operand is absent."""
    where = OPS[op.name].operand_index(name, len(op.operands))
    if isinstance(where, slice):
        raise TypeError(f"{op.name}'s {name!r} is variadic: use operand_group")
    return None if where is None else op.operands[where]


def operand_group(op: Operation, name: str) -> list[Value]:
    """The operands in the variadic slot ``name`` of ``op`` (``operand_group(loop, "inits")``)."""
    where = OPS[op.name].operand_index(name, len(op.operands))
    if not isinstance(where, slice):
        raise TypeError(f"{op.name}'s {name!r} is not variadic: use operand")
    return op.operands[where]


def is_pure(name: str) -> bool:
    """Whether ``name`` has no side effects (may be CSE'd, hoisted, erased when unused)."""
    d = OPS.get(name)
    return d is not None and "pure" in d.traits


def is_elementwise(name: str) -> bool:
    """Whether ``name`` computes each result element from the same element of its operands."""
    d = OPS.get(name)
    return d is not None and "elementwise" in d.traits


def is_terminator(name: str) -> bool:
    """Whether ``name`` ends a block."""
    d = OPS.get(name)
    return d is not None and "terminator" in d.traits


# ---- module and functions ----------------------------------------------------------------
_op(
    "builtin.module",
    "The top-level container; one region, one block of tt.func ops.",
    results=(),
    regions=1,
)
_op(
    "tt.func",
    "A function. Its region's entry block arguments are the parameters.",
    attrs={
        "sym_name": "str: the function name",
        "function_type": "FunctionType",
        "arg_attrs": "list[dict]: per parameter hints, e.g. {'tt.divisibility': 16}",
        "visibility": "'public' (a kernel) or 'private' (a helper, inlined)",
        "noinline": "bool: keep calls to it (Triton's @jit(noinline=True))",
    },
    results=(),
    regions=1,
)
_op("tt.return", "Return from a tt.func.", ("values*",), results=(), traits="terminator")
_op(
    "tt.call",
    "Call another tt.func of the module.",
    ("args*",),
    "the callee's results",
    results=("results*",),
    attrs={"callee": "str: sym_name of the callee"},
    traits="effects",
)

# ---- constants and program model ---------------------------------------------------------
_op(
    "arith.constant",
    "A constant scalar, or a tensor filled with one constant.",
    (),
    "T",
    attrs={"value": "int | float | bool (float may be inf/nan)"},
    traits="pure",
)
_op(
    "tt.get_program_id",
    "This program's id along an axis of the grid.",
    (),
    "i32",
    attrs={"axis": "0, 1 or 2"},
    traits="pure",
)
_op(
    "tt.get_num_programs",
    "The grid size along an axis.",
    (),
    "i32",
    attrs={"axis": "0, 1 or 2"},
    traits="pure",
)
_op(
    "tt.make_range",
    "The tensor [start, start+1, ..., end-1] of i32.",
    (),
    "tensor<Nxi32>",
    attrs={"start": "int", "end": "int"},
    traits="pure",
)

# ---- elementwise arithmetic --------------------------------------------------------------
_INT_BINARY = {
    "addi": "commutative",
    "subi": "",
    "muli": "commutative",
    "divsi": "",
    "divui": "",
    "remsi": "",
    "remui": "",
    "andi": "commutative",
    "ori": "commutative",
    "xori": "commutative",
    "shli": "",
    "shrsi": "",
    "shrui": "",
    "maxsi": "commutative",
    "minsi": "commutative",
    "maxui": "commutative",
    "minui": "commutative",
}
for _n, _t in _INT_BINARY.items():
    _op(
        f"arith.{_n}",
        f"Integer {_n}"
        + (" (C semantics: truncates toward zero)." if _n.startswith(("div", "rem")) else "."),
        ("lhs", "rhs"),
        "same type",
        traits=f"pure elementwise {_t}",
    )
_FLOAT_BINARY = {
    "addf": "commutative",
    "subf": "",
    "mulf": "commutative",
    "divf": "",
    "remf": "",
    "maximumf": "commutative",
    "minimumf": "commutative",  # NaN-propagating
    "maxnumf": "commutative",
    "minnumf": "commutative",  # NaN-ignoring (IEEE maxNum)
}
for _n, _t in _FLOAT_BINARY.items():
    _op(
        f"arith.{_n}",
        f"Floating point {_n}.",
        ("lhs", "rhs"),
        "same type",
        traits=f"pure elementwise {_t}",
    )
_op("arith.negf", "Floating point negation.", ("x",), "same type", traits="pure elementwise")
_op(
    "tt.mulhiui",
    "High half of the unsigned product.",
    ("lhs", "rhs"),
    "same type",
    traits="pure elementwise",
)
_op(
    "tt.precise_divf",
    "Correctly rounded float division (div_rn).",
    ("lhs", "rhs"),
    "same type",
    traits="pure elementwise",
)
_op(
    "tt.precise_sqrt",
    "Correctly rounded square root (sqrt_rn).",
    ("x",),
    "same type",
    traits="pure elementwise",
)
_op(
    "tt.clampf",
    "clamp(x, lo, hi) for floats.",
    ("x", "lo", "hi"),
    "same type",
    attrs={"propagate_nan": "'none' or 'all'"},
    traits="pure elementwise",
)
_op(
    "arith.cmpi",
    "Integer comparison.",
    ("lhs", "rhs"),
    "i1 of the same shape",
    attrs={"predicate": "eq ne slt sle sgt sge ult ule ugt uge"},
    traits="pure elementwise",
)
_op(
    "arith.cmpf",
    "Float comparison (o* ordered: false on NaN; une: true on NaN).",
    ("lhs", "rhs"),
    "i1 of the same shape",
    attrs={"predicate": "oeq one olt ole ogt oge une ueq ord uno"},
    traits="pure elementwise",
)
_op(
    "arith.select",
    "cond ? a : b, elementwise. cond is i1 of the same shape (or a scalar i1).",
    ("cond", "a", "b"),
    "type of a",
    traits="pure elementwise",
)

# ---- casts ------------------------------------------------------------------------------
for _n, _d in {
    "extsi": "sign-extend",
    "extui": "zero-extend",
    "trunci": "truncate an integer",
    "sitofp": "signed int to float",
    "uitofp": "unsigned int to float",
    "fptosi": "float to signed int (toward zero)",
    "fptoui": "float to unsigned int (toward zero)",
    "extf": "widen a float",
    "truncf": "narrow a float (round to nearest even)",
    "bitcast": "reinterpret the bits (same width)",
}.items():
    _op(f"arith.{_n}", f"Cast: {_d}.", ("x",), "target type, same shape", traits="pure elementwise")
_op(
    "tt.fp_to_fp",
    "Float to float cast with explicit rounding, used for fp8 and downcasts.",
    ("x",),
    "target type",
    attrs={"rounding": "'rtne' or 'rtz' (only for narrowing)"},
    traits="pure elementwise",
)
_op("tt.int_to_ptr", "i64 to pointer.", ("x",), "pointer type", traits="pure elementwise")
_op("tt.ptr_to_int", "Pointer to i64.", ("x",), "i64", traits="pure elementwise")
_op(
    "tt.bitcast",
    "Pointer to pointer of another pointee type.",
    ("x",),
    "pointer type",
    traits="pure elementwise",
)

# ---- math -------------------------------------------------------------------------------
for _n in (
    "exp",
    "exp2",
    "log",
    "log2",
    "log1p",
    "sqrt",
    "rsqrt",
    "sin",
    "cos",
    "tan",
    "tanh",
    "erf",
    "absf",
    "floor",
    "ceil",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "asinh",
    "acosh",
    "atanh",
    "expm1",
    "cbrt",
    "erfc",
    "round",
    "roundeven",
    "trunc",
    "lgamma",
    "j0",
    "j1",
    "y0",
    "y1",
):
    _op(f"math.{_n}", f"Float {_n}.", ("x",), "same type", traits="pure elementwise")
_op("math.absi", "Integer absolute value.", ("x",), "same type", traits="pure elementwise")
_op(
    "math.fma",
    "a * b + c with one rounding.",
    ("a", "b", "c"),
    "same type",
    traits="pure elementwise",
)
_op("math.powf", "a ** b for floats.", ("a", "b"), "same type", traits="pure elementwise")
_op("math.atan2", "atan2(a, b) for floats.", ("a", "b"), "same type", traits="pure elementwise")
_op(
    "math.hypot",
    "sqrt(a*a + b*b) without undue overflow.",
    ("a", "b"),
    "same type",
    traits="pure elementwise",
)

# ---- shapes -----------------------------------------------------------------------------
_op(
    "tt.splat",
    "A tensor filled with a scalar.",
    ("scalar",),
    "tensor of that scalar type",
    traits="pure",
)
_op(
    "tt.broadcast",
    "Expand dimensions of size 1 to the result shape (same rank).",
    ("x",),
    "tensor",
    traits="pure",
)
_op(
    "tt.expand_dims",
    "Insert a dimension of size 1.",
    ("x",),
    "tensor, rank + 1",
    attrs={"axis": "int"},
    traits="pure",
)
_op(
    "tt.reshape",
    "Reshape in row-major order (allow_reorder lets the backend permute).",
    ("x",),
    "tensor of the same numel",
    attrs={"allow_reorder": "bool"},
    traits="pure",
)
_op(
    "tt.trans",
    "Permute dimensions: result.shape[i] = x.shape[order[i]].",
    ("x",),
    "tensor",
    attrs={"order": "list[int]"},
    traits="pure",
)
_op(
    "tt.join",
    "Stack two tensors of one shape along a new last dimension of size 2.",
    ("a", "b"),
    "tensor shape+[2]",
    traits="pure",
)
_op(
    "tt.split",
    "Split a tensor whose last dimension is 2 into two tensors.",
    ("x",),
    "two tensors without the last dimension",
    results=("a", "b"),
    traits="pure",
)
_op("tt.cat", "Concatenate along dimension 0.", ("a", "b"), "tensor", traits="pure")

# ---- memory -----------------------------------------------------------------------------
_op(
    "tt.addptr",
    "Pointer plus an offset counted in elements. ptr and offset have one shape.",
    ("ptr", "offset"),
    "type of ptr",
    traits="pure elementwise",
)
_op(
    "tt.load",
    "Load through a pointer or tensor of pointers. Masked-off lanes read `other` "
    "(undefined if there is no `other`).",
    ("ptr", "mask?", "other?"),
    "pointee type, shape of ptr",
    attrs={"cache": "str", "evict": "str", "volatile": "bool"},
    traits="effects",
)
_op(
    "tt.store",
    "Store through a pointer or tensor of pointers; masked-off lanes are not written.",
    ("ptr", "value", "mask?"),
    results=(),
    attrs={"cache": "str", "evict": "str"},
    traits="effects",
)
_op(
    "tt.atomic_rmw",
    "Atomic read-modify-write; returns the old values.",
    ("ptr", "value", "mask?"),
    "type of value",
    attrs={
        "rmw_op": "add fadd max min umax umin and or xor xchg",
        "sem": "acq_rel acquire release relaxed",
        "scope": "gpu cta sys",
    },
    traits="effects",
)
_op(
    "tt.atomic_cas",
    "Atomic compare-and-swap; returns the old values.",
    ("ptr", "cmp", "value"),
    "type of value",
    attrs={"sem": "str", "scope": "str"},
    traits="effects",
)

# ---- compute ----------------------------------------------------------------------------
_op(
    "tt.dot",
    "Matrix product a @ b + c. a: [(B,) M, K], b: [(B,) K, N], c and result: [(B,) M, N].",
    ("a", "b", "c"),
    "type of c",
    attrs={"input_precision": "ieee tf32 tf32x3", "max_num_imprecise_acc": "int"},
    traits="pure",
)
_op(
    "tt.reduce",
    "Reduce operands (one shape) along `axis` with the combine region. The region's "
    "block takes (lhs..., rhs...) scalars and ends in tt.reduce.return.",
    ("operands+",),
    "one per operand, shape without axis (scalar if rank 1)",
    results=("results+",),
    attrs={"axis": "int"},
    regions=1,
    traits="pure",
)
_op(
    "tt.reduce.return",
    "Terminator of a combine region.",
    ("values+",),
    results=(),
    traits="terminator",
)
_op(
    "tt.scan",
    "Inclusive scan along `axis` with the combine region (as tt.reduce).",
    ("operands+",),
    "one per operand, same shapes",
    results=("results+",),
    attrs={"axis": "int", "reverse": "bool"},
    regions=1,
    traits="pure",
)
_op(
    "tt.scan.return",
    "Terminator of a scan combine region.",
    ("values+",),
    results=(),
    traits="terminator",
)

# ---- control flow -----------------------------------------------------------------------
_op(
    "scf.for",
    "for iv in range(lb, ub, step) with loop-carried values. Block args: (iv, "
    "iter_args...); ends in scf.yield of the next iter_args. lb, ub, step share one int type.",
    ("lb", "ub", "step", "inits*"),
    "the final iter_args",
    results=("results*",),
    regions=1,
)
_op(
    "scf.if",
    "if cond (a scalar i1): then-region else: else-region. Both end in scf.yield of the results; "
    "without results the else region may be empty (no blocks).",
    ("cond",),
    "the operands of the scf.yield that ends the region that ran",
    results=("results*",),
    regions=2,
)
_op(
    "scf.while",
    "Region 0 ('before', args = carried values) ends in scf.condition(cond, "
    "values...); if cond, region 1 ('after', args = those values) runs and ends in scf.yield of "
    "the next carried values; else the op returns the values.",
    ("inits*",),
    "the values of the final scf.condition",
    results=("results*",),
    regions=2,
)
_op("scf.yield", "Terminator of scf regions.", ("values*",), results=(), traits="terminator")
_op(
    "scf.condition",
    "Terminator of a scf.while 'before' region.",
    ("cond", "values*"),
    results=(),
    traits="terminator",
)

# ---- debugging --------------------------------------------------------------------------
_op(
    "tt.print",
    "Print the operands once per program instance.",
    ("values*",),
    results=(),
    attrs={"prefix": "str", "hex": "bool", "is_signed": "list[bool]"},
    traits="effects",
)
_op(
    "gpu.barrier",
    "`tl.debug_barrier()`: every memory access of the program before it completes before any "
    "after it (the threads of a GPU program meet at it: `bar.sync 0`; on a CPU, where a "
    "program runs in order, it keeps a load before it from being evaluated after it).",
    (),
    results=(),
    traits="effects",
)
_op(
    "tt.descriptor_info",
    "The parts of a tensor-descriptor block load, kept for the NVIDIA backend's TMA: the "
    "descriptor's base, sizes and strides, then the block's offsets (rank each). The "
    "`tt.load` (or `tt.store`) whose `tt.descriptor` attribute equals `id` accesses that "
    "block through pointers as every backend does; emitted only when compiling for CUDA.",
    ("parts*",),
    results=(),
    attrs={"id": "int", "block": "list[int]", "padding": "str"},
    traits="effects",
)
_op(
    "tt.assert",
    "Abort the launch with `message` where cond is false.",
    ("cond",),
    results=(),
    attrs={"message": "str"},
    traits="effects",
)
