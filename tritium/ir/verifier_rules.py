"""The per-op rules of the verifier: operand/result counts and type rules.

Each type rule takes the op and the module's functions by name and returns an error message,
or ``None`` when the op is fine. The rules assume the arity check passed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tritium.ir.core import Operation, Value
from tritium.ir.ops import _FLOAT_BINARY, _INT_BINARY, OPS, is_elementwise, operand, operand_group
from tritium.ir.types import (
    FloatType,
    FunctionType,
    IntType,
    PointerType,
    TensorType,
    Type,
    element_type,
    i1,
    i32,
    shape_of,
    with_element,
)

__all__ = ["ARITY", "TYPE_RULES", "RuleViolationError"]


class RuleViolationError(Exception):
    """Raised inside the verifier; turned into a VerificationError with the IR attached."""

    def __init__(self, rule: str, op: Operation, message: str) -> None:
        super().__init__(message)
        self.rule, self.op, self.message = rule, op, message


#: op name -> (min operands, max operands or None for any, results or None for any), derived
#: from each op's operand and result slots in ``ops.OPS`` (``OpDef.arity``).
ARITY: dict[str, tuple[int, int | None, int | None]] = {d.name: d.arity for d in OPS.values()}

Rule = Callable[[Operation, dict[str, Operation]], str | None]
TYPE_RULES: dict[str, Rule] = {}


def _rule(*names: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for n in names:
            TYPE_RULES[n] = fn
        return fn

    return register


def _types(values: Sequence[Value]) -> str:
    return "(" + ", ".join(str(v.type) for v in values) + ")"


def _all_same_type(op: Operation) -> str | None:
    ts = {v.type for v in list(op.operands) + list(op.results)}
    if len(ts) != 1:
        return (
            f"operands and result must have one type, got {_types(op.operands)} -> "
            f"{_types(op.results)}"
        )
    return None


@_rule(*[f"arith.{n}" for n in _INT_BINARY], "tt.mulhiui", "math.absi")
def _int_same_type(op: Operation, _: dict[str, Operation]) -> str | None:
    if not isinstance(element_type(op.results[0].type), IntType):
        return f"expects integers, got {op.results[0].type}"
    return _all_same_type(op)


@_rule(
    *[f"arith.{n}" for n in _FLOAT_BINARY],
    # every math op works on floats, except math.absi (new libdevice-style ops included)
    *[n for n in OPS if n.startswith("math.") and n != "math.absi" and is_elementwise(n)],
    "arith.negf",
    "tt.precise_divf",
    "tt.precise_sqrt",
    "tt.clampf",
)
def _float_same_type(op: Operation, _: dict[str, Operation]) -> str | None:
    if not isinstance(element_type(op.results[0].type), FloatType):
        return f"expects floats, got {op.results[0].type}"
    return _all_same_type(op)


_CMP_PREDICATES = {
    "arith.cmpi": {"eq", "ne", "slt", "sle", "sgt", "sge", "ult", "ule", "ugt", "uge"},
    "arith.cmpf": {
        "oeq",
        "one",
        "olt",
        "ole",
        "ogt",
        "oge",
        "une",
        "ueq",
        "ord",
        "uno",
        "ult",
        "ule",
        "ugt",
        "uge",
        "true",
        "false",
    },
}


@_rule("arith.cmpi", "arith.cmpf")
def _compare(op: Operation, _: dict[str, Operation]) -> str | None:
    a, b = op.operands
    if a.type != b.type:
        return f"operands differ in type: {a.type} vs {b.type}"
    kind = IntType if op.name == "arith.cmpi" else FloatType
    if not isinstance(element_type(a.type), kind) and not (
        op.name == "arith.cmpi" and isinstance(element_type(a.type), PointerType)
    ):
        return f"cannot compare {a.type}"
    if op.results[0].type != with_element(a.type, i1):
        return f"result must be {with_element(a.type, i1)}"
    if op.attrs.get("predicate") not in _CMP_PREDICATES[op.name]:
        return f"unknown predicate {op.attrs.get('predicate')!r}"
    return None


@_rule("arith.select")
def _select(op: Operation, _: dict[str, Operation]) -> str | None:
    c, a, b = op.operands
    if element_type(c.type) != i1:
        return f"condition must be i1, got {c.type}"
    if not (a.type == b.type == op.results[0].type):
        return f"both choices and the result must have one type: {_types(op.operands[1:])}"
    return None


_CAST_KINDS: dict[str, tuple[type, type, str]] = {
    # name: (source element kind, result element kind, width relation)
    "arith.extsi": (IntType, IntType, ">"),
    "arith.extui": (IntType, IntType, ">"),
    "arith.trunci": (IntType, IntType, "<"),
    "arith.sitofp": (IntType, FloatType, ""),
    "arith.uitofp": (IntType, FloatType, ""),
    "arith.fptosi": (FloatType, IntType, ""),
    "arith.fptoui": (FloatType, IntType, ""),
    "arith.extf": (FloatType, FloatType, ">"),
    "arith.truncf": (FloatType, FloatType, "<"),
    "tt.fp_to_fp": (FloatType, FloatType, ""),
    "arith.bitcast": (Type, Type, "="),
    "tt.int_to_ptr": (IntType, PointerType, ""),
    "tt.ptr_to_int": (PointerType, IntType, ""),
    "tt.bitcast": (PointerType, PointerType, ""),
}


@_rule(*_CAST_KINDS)
def _cast(op: Operation, _: dict[str, Operation]) -> str | None:
    src_kind, dst_kind, rel = _CAST_KINDS[op.name]
    src, dst = element_type(op.operands[0].type), element_type(op.results[0].type)
    if not isinstance(src, src_kind) or not isinstance(dst, dst_kind):
        return f"cannot cast {op.operands[0].type} to {op.results[0].type}"
    if rel:
        sw, dw = getattr(src, "bitwidth", 0), getattr(dst, "bitwidth", 0)
        ok = {">": dw > sw, "<": dw < sw, "=": dw == sw}[rel]
        if not ok:
            return f"bit widths {sw} -> {dw} do not fit {op.name}"
    return None


@_rule("arith.constant")
def _constant(op: Operation, _: dict[str, Operation]) -> str | None:
    if "value" not in op.attrs:
        return "needs a 'value' attribute"
    value, elem = op.attrs["value"], element_type(op.results[0].type)
    if isinstance(elem, FloatType) and not isinstance(value, (int, float)):
        return f"float constant has value {value!r}"
    if isinstance(elem, IntType) and not isinstance(value, int):  # bool is an int
        return f"integer constant has value {value!r}"
    if isinstance(elem, IntType) and not -(1 << (elem.width - 1)) <= value < (1 << elem.width):
        return f"{value} does not fit in {elem}"
    if isinstance(elem, PointerType):
        return "pointer constants are not allowed"
    return None


@_rule("tt.get_program_id", "tt.get_num_programs")
def _program_axis(op: Operation, _: dict[str, Operation]) -> str | None:
    if op.attrs.get("axis") not in (0, 1, 2):
        return f"axis must be 0, 1 or 2, got {op.attrs.get('axis')!r}"
    if op.results[0].type != i32:
        return "result must be i32"
    return None


@_rule("tt.make_range")
def _make_range(op: Operation, _: dict[str, Operation]) -> str | None:
    start, end = op.attrs.get("start"), op.attrs.get("end")
    if not isinstance(start, int) or not isinstance(end, int) or end <= start:
        return f"needs int attributes start < end, got {start!r}, {end!r}"
    want = TensorType((end - start,), i32)
    if op.results[0].type != want:
        return f"result must be {want}"
    return None


@_rule("tt.splat")
def _splat(op: Operation, _: dict[str, Operation]) -> str | None:
    src, dst = op.operands[0].type, op.results[0].type
    if isinstance(src, TensorType) or not isinstance(dst, TensorType) or dst.element != src:
        return f"cannot splat {src} to {dst}"
    return None


@_rule("tt.broadcast")
def _broadcast(op: Operation, _: dict[str, Operation]) -> str | None:
    src, dst = op.operands[0].type, op.results[0].type
    if (
        not isinstance(src, TensorType)
        or not isinstance(dst, TensorType)
        or src.element != dst.element
        or src.rank != dst.rank
        or any(s != d and s != 1 for s, d in zip(src.shape, dst.shape))
    ):
        return f"cannot broadcast {src} to {dst}"
    return None


@_rule("tt.expand_dims")
def _expand_dims(op: Operation, _: dict[str, Operation]) -> str | None:
    src, dst, axis = op.operands[0].type, op.results[0].type, op.attrs.get("axis")
    shape = list(shape_of(src))
    if not isinstance(axis, int) or not 0 <= axis <= len(shape):
        return f"bad axis {axis!r}"
    shape.insert(axis, 1)
    if dst != TensorType(tuple(shape), element_type(src)):
        return f"expanding {src} at axis {axis} does not give {dst}"
    return None


@_rule("tt.reshape")
def _reshape(op: Operation, _: dict[str, Operation]) -> str | None:
    src, dst = op.operands[0].type, op.results[0].type
    if (
        not isinstance(src, TensorType)
        or not isinstance(dst, TensorType)
        or src.element != dst.element
        or src.numel != dst.numel
    ):
        return f"cannot reshape {src} to {dst}"
    return None


@_rule("tt.trans")
def _trans(op: Operation, _: dict[str, Operation]) -> str | None:
    src, dst, order = op.operands[0].type, op.results[0].type, op.attrs.get("order")
    if (
        not isinstance(src, TensorType)
        or not isinstance(order, (list, tuple))
        or sorted(order) != list(range(src.rank))
    ):
        return f"order {order!r} is not a permutation of the dimensions of {src}"
    if dst != TensorType(tuple(src.shape[i] for i in order), src.element):
        return f"transposing {src} by {list(order)} does not give {dst}"
    return None


@_rule("tt.join")
def _join(op: Operation, _: dict[str, Operation]) -> str | None:
    a, b = op.operands
    if a.type != b.type or op.results[0].type != TensorType(
        shape_of(a.type) + (2,), element_type(a.type)
    ):
        return f"cannot join {_types(op.operands)} into {op.results[0].type}"
    return None


@_rule("tt.split")
def _split(op: Operation, _: dict[str, Operation]) -> str | None:
    src = op.operands[0].type
    if not isinstance(src, TensorType) or src.shape[-1:] != (2,):
        return f"the last dimension of {src} must be 2"
    half = TensorType(src.shape[:-1], src.element) if src.rank > 1 else src.element
    if any(r.type != half for r in op.results):
        return f"results must be {half}"
    return None


@_rule("tt.cat")
def _cat(op: Operation, _: dict[str, Operation]) -> str | None:
    a, b = (v.type for v in op.operands)
    dst = op.results[0].type
    if (
        not (
            isinstance(a, TensorType) and isinstance(b, TensorType) and isinstance(dst, TensorType)
        )
        or a.element != b.element != dst.element
        or a.shape[1:] != b.shape[1:]
        or dst.shape != (a.shape[0] + b.shape[0],) + a.shape[1:]
    ):
        return f"cannot concatenate {a} and {b} into {dst}"
    return None


@_rule("tt.addptr")
def _addptr(op: Operation, _: dict[str, Operation]) -> str | None:
    p, off = (v.type for v in op.operands)
    if not isinstance(element_type(p), PointerType) or not isinstance(element_type(off), IntType):
        return f"expects (pointer, integer offset), got ({p}, {off})"
    if op.results[0].type != p:
        return f"result must have the pointer's type {p}"
    return None


def _pointee(op: Operation) -> tuple[Type | None, str | None]:
    p = op.operands[0].type
    ptr = element_type(p)
    if not isinstance(ptr, PointerType):
        return None, f"first operand must be a pointer or tensor of pointers, got {p}"
    return with_element(p, ptr.pointee), None


def _mask_ok(mask: Type, like: Type) -> bool:
    return mask == with_element(like, i1)


@_rule("tt.load")
def _load(op: Operation, _: dict[str, Operation]) -> str | None:
    value_type, err = _pointee(op)
    if err:
        return err
    if op.results[0].type != value_type:
        return f"result must be {value_type}"
    ptr, mask, other = operand(op, "ptr"), operand(op, "mask"), operand(op, "other")
    assert ptr is not None
    if mask is not None and not _mask_ok(mask.type, ptr.type):
        return f"mask must be {with_element(ptr.type, i1)}, got {mask.type}"
    if other is not None and other.type != value_type:
        return f"other must be {value_type}, got {other.type}"
    return None


@_rule("tt.store", "tt.atomic_rmw", "tt.atomic_cas")
def _store(op: Operation, _: dict[str, Operation]) -> str | None:
    value_type, err = _pointee(op)
    if err:
        return err
    values = op.operands[1:] if op.name == "tt.atomic_cas" else op.operands[1:2]
    for v in values:
        if v.type != value_type:
            return f"value must be {value_type}, got {v.type}"
    if (
        op.name != "tt.atomic_cas"
        and len(op.operands) > 2
        and not _mask_ok(op.operands[2].type, op.operands[0].type)
    ):
        return f"mask must be {with_element(op.operands[0].type, i1)}, got {op.operands[2].type}"
    if op.results and op.results[0].type != value_type:
        return f"result must be {value_type}"
    return None


@_rule("tt.dot")
def _dot(op: Operation, _: dict[str, Operation]) -> str | None:
    a, b, c = (shape_of(v.type) for v in op.operands)
    ok = (
        len(a) == len(b) == len(c) in (2, 3)
        and a[:-2] == b[:-2] == c[:-2]
        and a[-1] == b[-2]
        and c[-2:] == (a[-2], b[-1])
    )
    if not ok:
        return f"shapes do not fit a @ b + c: {_types(op.operands)}"
    if op.results[0].type != op.operands[2].type:
        return "result must have the type of c"
    return None


def _combine_rule(op: Operation) -> str | None:
    n = len(op.operands)
    block = op.regions[0].blocks[0]
    elems = [element_type(v.type) for v in op.operands]
    if [a.type for a in block.args] != elems + elems:
        return f"combine block arguments must be {elems + elems}"
    ret = block.terminator
    if ret is None or [v.type for v in ret.operands] != elems:
        return f"combine region must return {elems}"
    if len(op.results) != n:
        return f"needs one result per operand ({n})"
    shapes = {shape_of(v.type) for v in op.operands}
    if len(shapes) != 1:
        return "operands must share one shape"
    return None


@_rule("tt.reduce")
def _reduce(op: Operation, _: dict[str, Operation]) -> str | None:
    err = _combine_rule(op)
    if err:
        return err
    shape, axis = list(shape_of(op.operands[0].type)), op.attrs.get("axis")
    if not isinstance(axis, int) or not 0 <= axis < len(shape):
        return f"bad axis {axis!r}"
    del shape[axis]
    for v, r in zip(op.operands, op.results):
        want = TensorType(tuple(shape), element_type(v.type)) if shape else element_type(v.type)
        if r.type != want:
            return f"result must be {want}, got {r.type}"
    return None


@_rule("tt.scan")
def _scan(op: Operation, _: dict[str, Operation]) -> str | None:
    err = _combine_rule(op)
    if err:
        return err
    if [v.type for v in op.operands] != [r.type for r in op.results]:
        return "results must have the operands' types"
    return None


def _same_types(what: str, got: Sequence[Value], want: Sequence[Type]) -> str | None:
    g, w = [v.type for v in got], list(want)
    if g != w:
        return (
            f"{what}: {', '.join(map(str, g)) or 'nothing'} vs "
            f"{', '.join(map(str, w)) or 'nothing'}"
        )
    return None


@_rule("scf.for")
def _for(op: Operation, _: dict[str, Operation]) -> str | None:
    lb, ub, step = op.operands[:3]
    if not (lb.type == ub.type == step.type) or not isinstance(lb.type, IntType):
        return f"lb, ub and step must share one integer type, got {_types(op.operands[:3])}"
    inits = [v.type for v in operand_group(op, "inits")]
    block = op.regions[0].blocks[0]
    return (
        _same_types("block arguments vs (iv, inits)", block.args, [lb.type] + inits)
        or _same_types("results vs inits", op.results, inits)
        or _same_types("yielded values vs inits", block.ops[-1].operands, inits)
    )


@_rule("scf.if")
def _if(op: Operation, _: dict[str, Operation]) -> str | None:
    if op.operands[0].type != i1:
        return f"condition must be a scalar i1, got {op.operands[0].type}"
    results = [r.type for r in op.results]
    for i, region in enumerate(op.regions):
        if region.blocks:
            if region.blocks[0].args:
                return f"region {i} must not have block arguments"
            err = _same_types(
                f"region {i} yields vs results", region.blocks[0].ops[-1].operands, results
            )
            if err:
                return err
    return None


@_rule("scf.while")
def _while(op: Operation, _: dict[str, Operation]) -> str | None:
    inits = [v.type for v in op.operands]
    before, after = op.regions[0].blocks[0], op.regions[1].blocks[0]
    cond = before.ops[-1]
    if not cond.operands or cond.operands[0].type != i1:
        return "scf.condition needs a scalar i1 condition first"
    passed = [v.type for v in cond.operands[1:]]
    return (
        _same_types("before-region arguments vs inits", before.args, inits)
        or _same_types("after-region arguments vs scf.condition values", after.args, passed)
        or _same_types("results vs scf.condition values", op.results, passed)
        or _same_types("after-region yields vs inits", after.ops[-1].operands, inits)
    )


@_rule("tt.func")
def _func(op: Operation, _: dict[str, Operation]) -> str | None:
    ftype, name = op.attrs.get("function_type"), op.attrs.get("sym_name")
    if not isinstance(name, str) or not isinstance(ftype, FunctionType):
        return "needs attributes sym_name (str) and function_type"
    arg_attrs = op.attrs.get("arg_attrs")
    if arg_attrs is not None and (
        not isinstance(arg_attrs, (list, tuple)) or len(arg_attrs) != len(ftype.inputs)
    ):
        return f"arg_attrs must be a list of {len(ftype.inputs)} dicts"
    if op.attrs.get("visibility", "public") not in ("public", "private"):
        return f"visibility must be 'public' or 'private', got {op.attrs['visibility']!r}"
    body = op.regions[0].blocks[0]
    return _same_types(
        "parameters vs function_type inputs", body.args, ftype.inputs
    ) or _same_types(
        "tt.return values vs function_type results", body.ops[-1].operands, ftype.results
    )


@_rule("tt.call")
def _call(op: Operation, functions: dict[str, Operation]) -> str | None:
    callee = functions.get(str(op.attrs.get("callee")))
    if callee is None:
        return f"calls unknown function {op.attrs.get('callee')!r}"
    ftype = callee.attrs.get("function_type")
    if not isinstance(ftype, FunctionType):
        return None  # reported on the callee
    return _same_types("arguments vs callee parameters", op.operands, ftype.inputs) or _same_types(
        "results vs callee results", op.results, ftype.results
    )


@_rule("tt.assert")
def _assert(op: Operation, _: dict[str, Operation]) -> str | None:
    if element_type(op.operands[0].type) != i1:
        return f"condition must be i1, got {op.operands[0].type}"
    return None
