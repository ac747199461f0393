"""Control flow: compile-time folding, scf.if/for/while, early returns, calls, combine regions."""

from __future__ import annotations

import pytest

import tritium.language as tl
from tests.frontend.helpers import compile_kernel, jit, kernel_ops, op_names, ops_named
from tritium import ir
from tritium.errors import CompilationError

P = {"x_ptr": "*fp32", "n": "i32"}


@jit
def static_if_kernel(x_ptr, n, MODE: tl.constexpr):
    x = tl.load(x_ptr)
    if MODE == "double":
        x = x * 2.0
    elif MODE is None:
        x = x - 1.0
    else:
        x = tl.exp(x)
    tl.store(x_ptr, x)


def test_constexpr_if_is_evaluated_statically() -> None:
    m = compile_kernel(static_if_kernel, P, {"MODE": "double"})
    assert "scf.if" not in op_names(m) and "arith.mulf" in op_names(m)
    m = compile_kernel(static_if_kernel, P, {"MODE": None})
    assert "arith.subf" in op_names(m) and "arith.mulf" not in op_names(m)
    m = compile_kernel(static_if_kernel, P, {"MODE": "exp"})
    assert "math.exp" in op_names(m)


@jit
def dynamic_if_kernel(x_ptr, n):
    a = 0
    b = tl.load(x_ptr)
    if n > 3:
        a = 1
        c = b + 1.0  # noqa: F841 - defined in one branch only
        t = b
    else:
        b = b * 2.0
        t = b
    tl.store(x_ptr + a, b + t)


def test_dynamic_if_yields_the_names_the_branches_assign() -> None:
    m = compile_kernel(dynamic_if_kernel, P)
    (op,) = ops_named(m, "scf.if")
    # a (literal made i32 in both branches), b and t; c exists in one branch only
    assert [str(r.type) for r in op.results] == ["i32", "f32", "f32"]
    then_yield = op.regions[0].block.ops[-1]
    else_yield = op.regions[1].block.ops[-1]
    assert then_yield.name == else_yield.name == "scf.yield"
    assert len(then_yield.operands) == len(else_yield.operands) == 3


@jit
def if_without_else_kernel(x_ptr, n):
    if n > 0:
        tl.store(x_ptr, 1.0)


def test_if_without_results_has_an_empty_else_region() -> None:
    m = compile_kernel(if_without_else_kernel, P)
    (op,) = ops_named(m, "scf.if")
    assert op.results == [] and op.regions[1].blocks == []


@jit
def ternary_kernel(x_ptr, n, FLAG: tl.constexpr):
    x = tl.load(x_ptr + tl.arange(0, 8))
    s = tl.load(x_ptr)
    a = s if n > 0 else 0.0
    b = x if FLAG else -x
    c = tl.where(x > 0, x, 1.0)
    d = x if x > 0 else -x
    tl.store(x_ptr + tl.arange(0, 8), a + b + c + d)


def test_ternaries() -> None:
    m = compile_kernel(ternary_kernel, P, {"FLAG": True})
    (op,) = ops_named(m, "scf.if")
    assert [str(r.type) for r in op.results] == ["f32"]
    assert len(ops_named(m, "arith.select")) == 2
    assert "arith.negf" in op_names(m)  # `-x` from `d`, not from `b`
    assert len(ops_named(m, "arith.negf")) == 1


@jit
def bool_ops_kernel(x_ptr, n, FLAG: tl.constexpr):
    offs = tl.arange(0, 8)
    ok = (offs < n) and (offs > 2) or not (offs == 5)
    ok2 = FLAG and offs < n
    ok3 = 0 <= offs < n
    tl.store(x_ptr + offs, 1.0, mask=ok & ok2 & ok3)


def test_boolean_operators() -> None:
    m = compile_kernel(bool_ops_kernel, P, {"FLAG": True})
    names = op_names(m)
    assert names.count("arith.andi") == 4  # and, chained compare, two &
    assert names.count("arith.ori") == 1 and names.count("arith.xori") == 1
    m = compile_kernel(bool_ops_kernel, P, {"FLAG": False})
    # `False and ...` folds to False: the mask is & with a constant false
    assert ops_named(m, "arith.andi")


@jit
def for_kernel(x_ptr, n, BLOCK: tl.constexpr):
    acc = 0
    count = 0
    for i in range(0, n):
        acc += tl.load(x_ptr + i)
        count += 1
    for j in tl.range(10, 0, -3, num_stages=2):
        acc += j
    tl.store(x_ptr, acc / count)


def test_for_loop_carries_reassigned_names_and_retypes_python_numbers() -> None:
    m = compile_kernel(for_kernel, P, {"BLOCK": 4})
    loops = kernel_ops(m, "scf.for")
    assert len(loops) == 2
    first = loops[0]
    assert [str(r.type) for r in first.results] == ["f32", "i32"]
    assert [str(a.type) for a in first.regions[0].block.args] == ["i32", "f32", "i32"]
    # the discarded first attempt (acc as i32) left no ops behind in the loop body
    assert all(
        v.defining_op is None or v.defining_op.parent is not None
        for op in first.walk()
        for v in op.operands
    )
    # negative step: scf.for counts up from 0 to 10 by 3 and mirrors the induction variable
    second = loops[1]
    lb, ub, step = (v.defining_op.attrs["value"] for v in second.operands[:3])
    assert (lb, ub, step) == (0, 10, 3)


@jit
def static_range_kernel(x_ptr, n, N: tl.constexpr):
    acc = tl.load(x_ptr)
    for i in tl.static_range(N):
        acc = acc * (i + 1)
    for k in (1, 2):
        acc += k
    tl.store(x_ptr, acc)


def test_static_range_and_tuples_unroll() -> None:
    m = compile_kernel(static_range_kernel, P, {"N": 3})
    names = op_names(m)
    assert "scf.for" not in names
    assert names.count("arith.mulf") == 3 and names.count("arith.addf") == 2


@jit
def i64_loop_kernel(x_ptr, n):
    for i in range(0, n.to(tl.int64)):
        tl.store(x_ptr + i, 0.0)


def test_loop_with_an_int64_bound_uses_an_int64_induction_variable() -> None:
    m = compile_kernel(i64_loop_kernel, P)
    (op,) = ops_named(m, "scf.for")
    assert op.regions[0].block.args[0].type == ir.i64


@jit
def nested_kernel(x_ptr, n):
    acc = tl.zeros((4,), dtype=tl.float32)
    for i in range(n):
        for j in range(i):
            if j % 2 == 0:
                acc += 1.0
            else:
                acc -= 1.0
    tl.store(x_ptr + tl.arange(0, 4), acc)


def test_nested_loops_and_branches() -> None:
    m = compile_kernel(nested_kernel, P)
    assert len(ops_named(m, "scf.for")) == 2 and len(ops_named(m, "scf.if")) == 1
    (inner_if,) = ops_named(m, "scf.if")
    assert [str(r.type) for r in inner_if.results] == ["tensor<4xf32>"]


@jit
def while_tuple_kernel(x_ptr, n):
    a, b = 0, 1
    while b < n:
        a, b = b, a + b
    tl.store(x_ptr, a)


def test_while_loop_with_tuple_assignment() -> None:
    m = compile_kernel(while_tuple_kernel, {"x_ptr": "*i32", "n": "i32"})
    (op,) = ops_named(m, "scf.while")
    assert [str(r.type) for r in op.results] == ["i32", "i32"]
    assert op.regions[0].block.ops[-1].name == "scf.condition"


@jit
def _abs_value(x):
    if x > 0:
        return x
    return -x


@jit
def _pair(x, y):
    return x + y, x * y


@jit(noinline=True)
def _store_it(p, v):
    tl.store(p, v)


@jit
def calls_kernel(x_ptr, n):
    x = tl.load(x_ptr)
    s, p = _pair(x, 2.0)
    _store_it(x_ptr, _abs_value(s) + p)
    _store_it(x_ptr + 1, _abs_value(x))


def test_jit_calls_become_private_functions() -> None:
    m = compile_kernel(calls_kernel, P)
    funcs = {f.attrs["sym_name"]: f for f in m.functions}
    assert funcs["calls_kernel"].attrs["visibility"] == "public"
    private = [f for f in m.functions if f.attrs["visibility"] == "private"]
    assert len(private) == 3  # _pair, _abs_value (one specialization), _store_it
    abs_fn = next(f for f in private if f.attrs["sym_name"].startswith("_abs_value"))
    # early return: both paths return through one scf.if with a result
    assert [op.name for op in abs_fn.regions[0].block.ops][-2:] == ["scf.if", "tt.return"]
    assert str(abs_fn.attrs["function_type"]) == "(f32) -> f32"
    store_fn = next(f for f in private if f.attrs["sym_name"].startswith("_store_it"))
    assert store_fn.attrs["noinline"] is True
    calls = ops_named(m, "tt.call")
    assert len(calls) == 5
    assert {c.attrs["callee"] for c in calls} == {f.attrs["sym_name"] for f in private}


@jit
def _max_combine(a, b):
    return tl.maximum(a, b)


@jit
def _argmin_combine(v1, i1, v2, i2):
    lt = v1 < v2
    return tl.where(lt, v1, v2), tl.where(lt, i1, i2)


@jit
def reductions_kernel(x_ptr, BLOCK: tl.constexpr):
    x = tl.load(x_ptr + tl.arange(0, BLOCK)[:, None] * BLOCK + tl.arange(0, BLOCK)[None, :])
    idx = tl.broadcast_to(tl.arange(0, BLOCK)[None, :], (BLOCK, BLOCK))
    m = tl.reduce(x, 1, _max_combine, keep_dims=True)
    v, i = tl.reduce((x, idx), 0, _argmin_combine)
    s = tl.sum(x)
    c = tl.associative_scan(x, 1, _max_combine, reverse=True)
    tl.store(x_ptr, s + tl.sum(m) + tl.sum(v) + tl.sum(i) + tl.sum(c))


def test_reduce_and_scan_trace_the_combine_function_into_the_region() -> None:
    m = compile_kernel(reductions_kernel, {"x_ptr": "*fp32"}, {"BLOCK": 8})
    reduces = ops_named(m, "tt.reduce")
    first = reduces[0]
    assert first.attrs["axis"] == 1 and str(first.results[0].type) == "tensor<8xf32>"
    body = first.regions[0].block
    assert [str(a.type) for a in body.args] == ["f32", "f32"]
    assert [op.name for op in body.ops] == ["arith.maxnumf", "tt.reduce.return"]
    pair = reduces[1]
    assert [str(r.type) for r in pair.results] == ["tensor<8xf32>", "tensor<8xi32>"]
    assert [str(a.type) for a in pair.regions[0].block.args] == ["f32", "i32", "f32", "i32"]
    (scan,) = ops_named(m, "tt.scan")
    assert scan.attrs == {"axis": 1, "reverse": True}
    # sum over all axes flattens first
    assert "tt.reshape" in op_names(m)
    assert not [f for f in m.functions if f.attrs["visibility"] == "private"]


@jit
def _double(v):
    return v * 2


@jit
def retyped_loop_call_kernel(x_ptr, n):
    acc = 0
    for i in range(n):
        acc = _double(acc) + tl.load(x_ptr + i)
    tl.store(x_ptr, acc)


def test_retyping_a_loop_forgets_the_first_attempt() -> None:
    m = compile_kernel(retyped_loop_call_kernel, P)
    private = [f for f in m.functions if f.attrs["visibility"] == "private"]
    # only the f32 specialization of _double remains, not the i32 one of the first attempt
    assert [str(f.attrs["function_type"]) for f in private] == ["(f32) -> f32"]


@jit
def tuple_carry_kernel(x_ptr, n):
    pair = tl.tuple((tl.load(x_ptr), 0.0))
    for _ in range(n):
        pair = tl.tuple((pair[0] * 2.0, pair[1] + pair[0]))
    tl.store(x_ptr, pair[0] + pair[1])


def test_tl_tuples_are_carried_through_loops() -> None:
    m = compile_kernel(tuple_carry_kernel, P)
    (op,) = ops_named(m, "scf.for")
    assert [str(r.type) for r in op.results] == ["f32", "f32"]


def _make_act(scale: float) -> jit:
    @jit
    def act(x):
        return x * scale

    return act


_ACT_A, _ACT_B = _make_act(2.0), _make_act(3.0)


@jit
def _apply(x, fn: tl.constexpr):
    return fn(x)


@jit
def function_constexpr_kernel(x_ptr, n):
    x = tl.load(x_ptr)
    tl.store(x_ptr, _apply(x, _ACT_A) + _apply(x, _ACT_B) + _apply(x, _ACT_A))


def test_function_constexprs_specialize_with_stable_distinct_names() -> None:
    m = compile_kernel(function_constexpr_kernel, P)
    names = sorted(
        f.attrs["sym_name"] for f in m.functions if f.attrs["sym_name"].startswith("_apply")
    )
    assert len(names) == 2 and names[1] == names[0] + "_1"
    again = compile_kernel(function_constexpr_kernel, P)
    assert names == sorted(
        f.attrs["sym_name"] for f in again.functions if f.attrs["sym_name"].startswith("_apply")
    )


@jit
def negative_into_unsigned_kernel(x_ptr, n):
    if n > 0:
        v = tl.load(x_ptr)
    else:
        v = -1
    tl.store(x_ptr, v)


def test_a_literal_that_does_not_fit_the_other_branch_is_a_type_mismatch() -> None:
    with pytest.raises(CompilationError, match="Mismatched type"):
        compile_kernel(negative_into_unsigned_kernel, {"x_ptr": "*u8", "n": "i32"})
    m = compile_kernel(negative_into_unsigned_kernel, {"x_ptr": "*i8", "n": "i32"})
    (op,) = ops_named(m, "scf.if")
    assert str(op.results[0].type) == "i8"
