"""Canonicalization patterns for arithmetic: constant folding, identities, selects.

* **folding** — an elementwise op (:data:`~tritium.passes.constant_eval.FOLDABLE`) whose
  operands are all constants (scalars, or tensors filled with one value) becomes an
  ``arith.constant``, with exact integer wrap-around and IEEE float semantics;
* **identities** — ``x+0, 0+x, x-0, x*1, 1*x, x|0, x^0, x&-1, x<<0, x>>0, x/1`` → ``x``;
  ``x*0, x&0`` → ``0`` (integers only); ``x-x, x^x`` → ``0``; ``x&x, x|x``, min/max of
  ``x, x`` → ``x``; floats: ``x*1.0, x/1.0, x-0.0, x+(-0.0)`` → ``x``; ``addptr(p, 0)`` → ``p``;
  a compare of a value with itself → its constant result (integers only: NaN != NaN);
* **casts** — ``trunci(ext(x))`` back to the type of ``x`` → ``x``;
* **select** — a constant condition picks a side; ``select(c, x, x)`` → ``x``;
* **order** — a commutative op with one constant operand has it on the right;
* **chains** — ``(x + c1) + c2`` → ``x + (c1 + c2)``, likewise with ``-`` and ``*`` (integers);
* **not** — ``xori(cmp(a, b), true)`` → the inverse compare.
"""

from __future__ import annotations

from tritium.ir.core import Operation, Value
from tritium.ir.ops import OPS
from tritium.ir.rewrite import replace_op
from tritium.ir.types import FloatType, IntType, element_type
from tritium.passes.constant_eval import FOLDABLE, Scalar, evaluate, normalize
from tritium.passes.patterns import constant_value, make_constant, pattern, replace_with_constant

__all__ = [
    "fold_constant_operands",
    "fold_identity",
    "fold_select",
    "fold_compare_with_self",
    "fold_trunc_of_ext",
    "constant_to_the_right",
    "combine_constant_chain",
    "fold_not_of_compare",
]


# ---- folding -------------------------------------------------------------------------------
@pattern(*FOLDABLE)
def fold_constant_operands(op: Operation) -> bool:
    """An elementwise op on constants becomes a constant."""
    values: list[Scalar] = []
    for v in op.operands:
        c = constant_value(v)
        # a constant's attribute may hold more precision than its type (0.1 for an f32)
        c = None if c is None else normalize(c, v.type)
        if c is None:
            return False
        values.append(c)
    result = evaluate(op.name, op.attrs, [v.type for v in op.operands], op.results[0].type, values)
    if result is None:
        return False
    return replace_with_constant(op, result)


# ---- algebraic identities ------------------------------------------------------------------
def _is(v: Value, value: Scalar) -> bool:
    c = constant_value(v)
    if c is None:
        return False
    if isinstance(value, float):
        # compare bit patterns so that -0.0 and 0.0 differ
        return isinstance(element_type(v.type), FloatType) and repr(float(c)) == repr(value)
    norm = normalize(c, v.type)
    return isinstance(element_type(v.type), IntType) and norm == normalize(value, v.type)


# (op, constant, side) -> the op returns its other operand; side "r": x op c, "l": c op x
_RETURNS_OTHER: dict[str, list[tuple[Scalar, str]]] = {
    "arith.addi": [(0, "r"), (0, "l")],
    "arith.subi": [(0, "r")],
    "arith.muli": [(1, "r"), (1, "l")],
    "arith.ori": [(0, "r"), (0, "l")],
    "arith.xori": [(0, "r"), (0, "l")],
    "arith.andi": [(-1, "r"), (-1, "l")],
    "arith.shli": [(0, "r")],
    "arith.shrsi": [(0, "r")],
    "arith.shrui": [(0, "r")],
    "arith.divsi": [(1, "r")],
    "arith.divui": [(1, "r")],
    "arith.mulf": [(1.0, "r"), (1.0, "l")],
    "arith.divf": [(1.0, "r")],
    "arith.subf": [(0.0, "r")],
    "arith.addf": [(-0.0, "r"), (-0.0, "l")],
    "tt.addptr": [(0, "r")],
}
# (op, constant) -> the op returns that constant when either operand is it
_ABSORBING: dict[str, int] = {"arith.muli": 0, "arith.andi": 0}
_SAME_OPERANDS_GIVE_X = {
    "arith.andi",
    "arith.ori",
    "arith.maxsi",
    "arith.minsi",
    "arith.maxui",
    "arith.minui",
}
_SAME_OPERANDS_GIVE_ZERO = {"arith.subi", "arith.xori"}


@pattern(*_RETURNS_OTHER, *_SAME_OPERANDS_GIVE_X, *_SAME_OPERANDS_GIVE_ZERO)
def fold_identity(op: Operation) -> bool:
    """``x + 0`` → ``x`` and the other identities in the module docstring."""
    x, y = op.operands
    if x is y and op.name in _SAME_OPERANDS_GIVE_X:
        replace_op(op, [x])
        return True
    if x is y and op.name in _SAME_OPERANDS_GIVE_ZERO:
        return replace_with_constant(op, 0)
    absorbing = _ABSORBING.get(op.name)
    if absorbing is not None and (_is(x, absorbing) or _is(y, absorbing)):
        return replace_with_constant(op, absorbing)
    for value, side in _RETURNS_OTHER.get(op.name, ()):
        const, other = (y, x) if side == "r" else (x, y)
        if _is(const, value) and other.type == op.results[0].type:
            replace_op(op, [other])
            return True
    return False


@pattern("arith.select")
def fold_select(op: Operation) -> bool:
    """A constant condition picks a side; equal sides need no condition."""
    cond, a, b = op.operands
    c = constant_value(cond)
    if a is b:
        replace_op(op, [a])
        return True
    if c is not None:
        replace_op(op, [a if c else b])
        return True
    return False


_TRUE_ON_EQUAL = {"eq", "sle", "sge", "ule", "uge"}


@pattern("arith.cmpi")
def fold_compare_with_self(op: Operation) -> bool:
    """``x == x`` is true and ``x < x`` false, for integers (floats have NaN)."""
    x, y = op.operands
    if x is not y:
        return False
    return replace_with_constant(op, op.attrs.get("predicate") in _TRUE_ON_EQUAL)


@pattern("arith.trunci")
def fold_trunc_of_ext(op: Operation) -> bool:
    """``trunci(extsi(x))`` or ``trunci(extui(x))`` back to the type of ``x`` is ``x``."""
    d = op.operands[0].defining_op
    if (
        d is None
        or d.name not in ("arith.extsi", "arith.extui")
        or d.operands[0].type != op.results[0].type
    ):
        return False
    replace_op(op, [d.operands[0]])
    return True


_COMMUTATIVE = [name for name, d in OPS.items() if "commutative" in d.traits]


@pattern(*_COMMUTATIVE)
def constant_to_the_right(op: Operation) -> bool:
    """``c + x`` → ``x + c``: one canonical order, so CSE and the identities see one form."""
    x, y = op.operands[:2]
    if constant_value(x) is None or constant_value(y) is not None:
        return False
    op.operands = [y, x, *op.operands[2:]]
    return True


@pattern("arith.addi", "arith.subi", "arith.muli")
def combine_constant_chain(op: Operation) -> bool:
    """``(x + c1) + c2`` → ``x + (c1 + c2)`` (and ``-``, ``*``): integer wrap-around keeps
    these exact. Only when the inner op has no other user, so no op is duplicated."""
    x, c2 = op.operands
    inner = x.defining_op
    k2 = constant_value(c2)
    if k2 is None or inner is None or len(x.uses) != 1:
        return False
    if inner.name not in _CHAINS.get(op.name, ()) or constant_value(inner.operands[1]) is None:
        return False
    k1 = constant_value(inner.operands[1])
    assert k1 is not None
    kind = _CHAINS[op.name][inner.name]
    # x + k1 + k2, x + k1 - k2, x - k1 + k2, x - k1 - k2, x * k1 * k2, as x op' k
    k = {"add": k1 + k2, "sub": k1 - k2, "rsub": k2 - k1, "neg": -(k1 + k2), "mul": k1 * k2}[kind]
    new_name = "arith.muli" if kind == "mul" else "arith.addi"
    const = make_constant(op, c2.type, k)
    new = Operation(new_name, [inner.operands[0], const], [op.results[0].type], {}, 0, op.loc)
    assert op.parent is not None
    op.parent.insert_before(op, new)
    replace_op(op, [new.results[0]])
    return True


# outer op -> inner op -> how the two constants combine (into an addi, or a muli for "mul")
_CHAINS: dict[str, dict[str, str]] = {
    "arith.addi": {"arith.addi": "add", "arith.subi": "rsub"},
    "arith.subi": {"arith.addi": "sub", "arith.subi": "neg"},
    "arith.muli": {"arith.muli": "mul"},
}


_INVERSE_PREDICATE = {
    **{
        a: b
        for a, b in [("eq", "ne"), ("slt", "sge"), ("sle", "sgt"), ("ult", "uge"), ("ule", "ugt")]
    },
    **{
        b: a
        for a, b in [("eq", "ne"), ("slt", "sge"), ("sle", "sgt"), ("ult", "uge"), ("ule", "ugt")]
    },
}
# the negation of an ordered float compare is the unordered compare of the other way round
_ORDERED_NEGATIONS = [
    ("oeq", "une"),
    ("one", "ueq"),
    ("olt", "uge"),
    ("ole", "ugt"),
    ("ogt", "ule"),
    ("oge", "ult"),
    ("ord", "uno"),
]
_INVERSE_FLOAT_PREDICATE = {
    **dict(_ORDERED_NEGATIONS),
    **{b: a for a, b in _ORDERED_NEGATIONS},
}


@pattern("arith.xori")
def fold_not_of_compare(op: Operation) -> bool:
    """``not (a < b)``, spelled ``xori(cmp, true)``, is the inverse compare ``a >= b``
    (for floats: ``not (a olt b)`` is ``a uge b``, true on NaN as the negation must be)."""
    x, y = op.operands
    d = x.defining_op
    if d is None or d.name not in ("arith.cmpi", "arith.cmpf") or len(x.uses) != 1:
        return False
    if constant_value(y) is not True and constant_value(y) != 1:
        return False
    table = _INVERSE_PREDICATE if d.name == "arith.cmpi" else _INVERSE_FLOAT_PREDICATE
    inverse = table.get(str(d.attrs.get("predicate")))
    if inverse is None:
        return False
    attrs = {**d.attrs, "predicate": inverse}
    new = Operation(d.name, list(d.operands), [op.results[0].type], attrs, 0, op.loc)
    assert op.parent is not None
    op.parent.insert_before(op, new)
    replace_op(op, [new.results[0]])
    return True
