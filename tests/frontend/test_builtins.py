"""Builtins through whole kernels: memory, shapes, dot, reductions, scalars, debug ops."""

from __future__ import annotations

import pytest

import tritium.language as tl
from tests.frontend.helpers import compile_kernel, jit, kernel_ops, op_names, ops_named
from tritium import ir
from tritium.errors import CompilationError
from tritium.language.extra import libdevice


@jit
def bool_memory_kernel(m_ptr, out_ptr):
    offs = tl.arange(0, 16)
    m = tl.load(m_ptr + offs)
    tl.store(out_ptr + offs, m & (offs > 3))


def test_bool_pointers_go_through_bytes() -> None:
    m = compile_kernel(bool_memory_kernel, {"m_ptr": "*i1", "out_ptr": "*i1"})
    (load,) = ops_named(m, "tt.load")
    assert str(load.operands[0].type) == "tensor<16x!tt.ptr<i8>>"
    assert str(load.results[0].type) == "tensor<16xi8>"
    (store,) = ops_named(m, "tt.store")
    assert str(store.operands[0].type) == "tensor<16x!tt.ptr<i8>>"
    assert str(store.operands[1].type) == "tensor<16xi8>"
    assert "arith.extui" in op_names(m) and "arith.cmpi" in op_names(m)


@jit
def scalar_store_kernel(p, value, n):
    x = value.to(tl.float16)
    tl.store(p + n, x)
    tl.store(p, 3)


def test_scalar_args_are_typed_and_convertible() -> None:
    m = compile_kernel(
        scalar_store_kernel,
        {"p": "*fp16", "value": "fp32", "n": "i64"},
        attrs={"p": {"tt.divisibility": 16}},
    )
    fn = m.functions[0]
    assert [str(a.type) for a in fn.regions[0].block.args] == ["!tt.ptr<f16>", "f32", "i64"]
    assert fn.attrs["arg_attrs"] == [{"tt.divisibility": 16}, {}, {}]
    names = [op.name for op in kernel_ops(m)]
    assert names[:3] == ["arith.truncf", "tt.addptr", "tt.store"]
    # the literal 3 is stored as an f16 constant
    const = ops_named(m, "tt.store")[1].operands[1].defining_op
    assert const.attrs["value"] == 3.0 and const.results[0].type == ir.f16


@jit
def other_types_kernel(p, q, n):
    offs = tl.arange(0, 8)
    x = tl.load(p + offs, mask=offs < n, other=1)
    y = tl.load(q + offs[:, None] + offs[None, :], mask=offs[None, :] < n)
    tl.store(q + offs, x + tl.sum(y, axis=1), mask=offs < n)


def test_load_other_is_converted_and_masks_broadcast() -> None:
    m = compile_kernel(other_types_kernel, {"p": "*i8", "q": "*i32", "n": "i32"})
    loads = ops_named(m, "tt.load")
    other = loads[0].operands[2].defining_op
    assert str(other.results[0].type) == "tensor<8xi8>" and other.attrs["value"] == 1
    assert str(loads[1].operands[1].type) == "tensor<8x8xi1>"


@jit
def atomics_kernel(p, f, lock, n):
    offs = tl.arange(0, 4)
    old = tl.atomic_add(p + offs, 1, mask=offs < n, sem="relaxed")
    tl.atomic_add(f, 1.5)
    tl.atomic_max(f + offs, old.to(tl.float32))
    tl.atomic_min(p + offs, old)
    tl.atomic_or(p, 3, scope="cta")
    while tl.atomic_cas(lock, 0, 1) == 1:
        pass
    tl.atomic_xchg(lock, 0, sem="release")


def test_atomics() -> None:
    m = compile_kernel(atomics_kernel, {"p": "*i32", "f": "*fp32", "lock": "*i32", "n": "i32"})
    rmw = [
        (op.attrs["rmw_op"], op.attrs["sem"], op.attrs["scope"])
        for op in ops_named(m, "tt.atomic_rmw")
    ]
    assert rmw == [
        ("add", "relaxed", "gpu"),
        ("fadd", "acq_rel", "gpu"),
        ("max", "acq_rel", "gpu"),
        ("umin", "acq_rel", "gpu"),  # float max: 2 ops
        ("min", "acq_rel", "gpu"),
        ("or", "acq_rel", "cta"),
        ("xchg", "release", "gpu"),
    ]
    (cas,) = ops_named(m, "tt.atomic_cas")
    assert [str(v.type) for v in cas.operands] == ["!tt.ptr<i32>", "i32", "i32"]


@jit
def bad_atomic_kernel(p, f, lock, n):
    tl.atomic_add(p, 1, sem="sequential")


def test_bad_atomic_semantics() -> None:
    with pytest.raises(CompilationError, match="sem must be one of"):
        compile_kernel(bad_atomic_kernel, {"p": "*i32", "f": "*fp32", "lock": "*i32", "n": "i32"})


@jit
def shapes_kernel(p, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(p + offs)
    a = tl.reshape(x, (4, BLOCK // 4))
    b = tl.trans(a)
    c = tl.permute(tl.expand_dims(a, 0), (2, 0, 1))
    d = tl.broadcast_to(x[None, :], (2, BLOCK))
    e = tl.join(x, x)
    f, g = tl.split(e)
    h = tl.view(b, (BLOCK,))
    k = x[:, None][None, ...]
    tl.store(
        p + offs,
        tl.sum(b, axis=0).reshape(4).sum()
        + tl.sum(c)
        + tl.sum(d, 0)
        + f
        + g
        + h
        + tl.sum(k, axis=2).reshape(BLOCK),
    )


def test_shape_ops() -> None:
    m = compile_kernel(shapes_kernel, {"p": "*fp32"}, {"BLOCK": 16})
    names = op_names(m)
    for name in ("tt.reshape", "tt.trans", "tt.expand_dims", "tt.broadcast", "tt.join", "tt.split"):
        assert name in names
    trans = ops_named(m, "tt.trans")
    assert trans[0].attrs["order"] == [1, 0]
    assert trans[1].attrs["order"] == [2, 0, 1]
    assert str(trans[1].results[0].type) == "tensor<4x1x4xf32>"
    views = [op for op in ops_named(m, "tt.reshape") if op.attrs["allow_reorder"]]
    assert len(views) == 1


@jit
def dot_kernel(a_ptr, b_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    a = tl.load(a_ptr + tl.arange(0, M)[:, None] * K + tl.arange(0, K)[None, :])
    b = tl.load(b_ptr + tl.arange(0, K)[:, None] * N + tl.arange(0, N)[None, :])
    acc = tl.zeros((M, N), dtype=tl.float32)
    acc = tl.dot(a, b, acc)
    acc += tl.dot(a, b, allow_tf32=False)
    c = tl.dot(a, b, out_dtype=tl.float16)
    tl.store(c_ptr + tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :], acc + c)


def test_dot() -> None:
    m = compile_kernel(
        dot_kernel,
        {"a_ptr": "*fp16", "b_ptr": "*fp16", "c_ptr": "*fp32"},
        {"M": 16, "N": 32, "K": 16},
    )
    dots = ops_named(m, "tt.dot")
    assert [str(d.results[0].type) for d in dots] == [
        "tensor<16x32xf32>",
        "tensor<16x32xf32>",
        "tensor<16x32xf16>",
    ]
    assert [d.attrs["input_precision"] for d in dots] == ["ieee", "ieee", "ieee"]
    zero = dots[1].operands[2].defining_op
    assert zero.name == "arith.constant" and zero.attrs["value"] == 0.0


@jit
def int_dot_kernel(a_ptr, b_ptr, c_ptr):
    r = tl.arange(0, 16)
    a = tl.load(a_ptr + r[:, None] * 16 + r[None, :])
    b = tl.load(b_ptr + r[:, None] * 16 + r[None, :])
    tl.store(c_ptr + r[:, None] * 16 + r[None, :], tl.dot(a, b))


def test_int8_dot_accumulates_in_int32() -> None:
    m = compile_kernel(int_dot_kernel, {"a_ptr": "*i8", "b_ptr": "*i8", "c_ptr": "*i32"})
    (d,) = ops_named(m, "tt.dot")
    assert str(d.results[0].type) == "tensor<16x16xi32>"


@jit
def bad_dot_kernel(a_ptr, b_ptr, c_ptr):
    r = tl.arange(0, 16)
    a = tl.load(a_ptr + r[:, None] * 16 + r[None, :])
    b = tl.load(b_ptr + tl.arange(0, 32)[:, None] * 16 + r[None, :])
    tl.store(c_ptr + r[:, None] * 16 + r[None, :], tl.dot(a, b))


def test_dot_errors() -> None:
    sig = {"a_ptr": "*fp16", "b_ptr": "*fp16", "c_ptr": "*fp32"}
    with pytest.raises(CompilationError, match="inner dimensions"):
        compile_kernel(bad_dot_kernel, sig)
    with pytest.raises(CompilationError, match="same type"):
        compile_kernel(int_dot_kernel, {**sig, "b_ptr": "*fp32"})


@jit
def reduce_dtypes_kernel(p8, p16, out):
    offs = tl.arange(0, 16)
    a = tl.load(p8 + offs)
    b = tl.load(p16 + offs)
    s8 = tl.sum(a, axis=0)
    s16 = tl.sum(b, axis=0)
    m16 = tl.max(b, axis=0)
    i16 = tl.argmax(b, axis=0)
    mi = tl.min(a, axis=0, return_indices=True)
    tl.store(out, s8 + s16 + m16 + i16 + mi[0] + mi[1])


def test_reduction_result_dtypes_follow_triton() -> None:
    m = compile_kernel(reduce_dtypes_kernel, {"p8": "*i8", "p16": "*fp16", "out": "*fp32"})
    results = [[str(r.type) for r in op.results] for op in ops_named(m, "tt.reduce")]
    # an fp16 sum reduces in f32 and rounds once (engine_reduce.sum), so its tt.reduce is f32
    assert results == [["i32"], ["f32"], ["f32"], ["f16", "i32"], ["i8", "i32"]]


@jit
def debug_kernel(p, n):
    x = tl.load(p)
    print("x =", x, n)
    tl.device_print("hex", n, hex=True)
    tl.device_assert(x > 0, "x must be positive")
    assert n > 0, "n must be positive"
    tl.static_print("compile time", n)
    tl.debug_barrier()


def test_debug_ops() -> None:
    m = compile_kernel(debug_kernel, {"p": "*fp32", "n": "u32"})
    prints = ops_named(m, "tt.print")
    # shaped as Triton shapes a prefix: a leading space, ": " before the values
    assert [p.attrs["prefix"] for p in prints] == [" x =: ", " hex: "]
    assert prints[0].attrs["is_signed"] == [False, False]
    assert prints[1].attrs["hex"] is True
    asserts = ops_named(m, "tt.assert")
    assert [a.attrs["message"] for a in asserts] == ["x must be positive", "n must be positive"]


@jit
def program_kernel(p):
    pid = tl.program_id(1)
    num = tl.num_programs(2)
    tl.store(p + pid, num)


def test_program_ids() -> None:
    m = compile_kernel(program_kernel, {"p": "*i32"})
    assert ops_named(m, "tt.get_program_id")[0].attrs == {"axis": 1}
    assert ops_named(m, "tt.get_num_programs")[0].attrs == {"axis": 2}


@jit
def fp8_kernel(p, q):
    offs = tl.arange(0, 16)
    x = tl.load(p + offs)
    tl.store(q + offs, x.to(tl.float8e5))


def test_fp8_casts_use_fp_to_fp() -> None:
    m = compile_kernel(fp8_kernel, {"p": "*fp32", "q": "*fp8e5"})
    (op,) = ops_named(m, "tt.fp_to_fp")
    assert op.attrs == {"rounding": "rtne"} and str(op.results[0].type) == "tensor<16xf8E5M2>"


@jit
def minmax_kernel(p, n):
    offs = tl.arange(0, 8)
    x = tl.load(p + offs)
    tl.store(p + offs, max(x, 0.0) + min(x, 1.0, 2.0) + min(n, 4))


def test_python_min_max_on_tensors() -> None:
    m = compile_kernel(minmax_kernel, {"p": "*fp32", "n": "i32"})
    names = op_names(m)
    assert names.count("arith.maxnumf") == 1 and names.count("arith.minnumf") == 2
    assert names.count("arith.minsi") == 1


def test_locations_point_at_the_source() -> None:
    import inspect

    m = compile_kernel(program_kernel, {"p": "*i32"})
    lines, first = inspect.getsourcelines(program_kernel.fn)
    row = next(i for i, ln in enumerate(lines) if "tl.program_id" in ln)
    pid = ops_named(m, "tt.get_program_id")[0]
    assert pid.loc.file == inspect.getsourcefile(program_kernel.fn)
    assert pid.loc.line == first + row
    assert pid.loc.col == lines[row].index("tl.program_id")
    store = ops_named(m, "tt.store")[0]
    assert store.loc.line == first + row + 2 and store.loc.col == 4


@jit
def libdevice_kernel(p):
    x = tl.load(p + tl.arange(0, 8))
    y = libdevice.asin(x) + libdevice.atan2(x, 2.0) + libdevice.rint(x) + tl.math.pow(x, 3.0)
    tl.store(p + tl.arange(0, 8), y)


def test_libdevice_functions_become_math_ops() -> None:
    m = compile_kernel(libdevice_kernel, {"p": "*fp32"})
    names = op_names(m)
    for name in ("math.asin", "math.atan2", "math.roundeven", "math.powf"):
        assert name in names
