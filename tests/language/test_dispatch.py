"""Builtins and operators forward normalized arguments to the active engine."""

from __future__ import annotations

import inspect
import operator
import threading
from typing import Any

import pytest

import tritium.language as tl
from tritium.language.core import active_engine, current_engine, engine_scope, is_builtin
from tritium.language.engine_protocol import Engine

from .recording import RecordingEngine, fake

ENGINE_BUILTINS = sorted(
    name
    for name in tl.__all__
    if callable(getattr(tl, name))
    and hasattr(getattr(tl, name), "__wrapped__")
    and is_builtin(getattr(tl, name))
)


def test_there_are_many_builtins() -> None:
    assert len(ENGINE_BUILTINS) > 70


@pytest.mark.parametrize("name", ENGINE_BUILTINS)
def test_builtin_outside_kernel_raises(name: str) -> None:
    with pytest.raises(RuntimeError, match=rf"^tl\.{name} can only be called inside a kernel$"):
        getattr(tl, name)()


def test_current_engine_outside_kernel() -> None:
    with pytest.raises(RuntimeError, match="inside a kernel"):
        current_engine()


def test_operators_outside_kernel_raise() -> None:
    with pytest.raises(RuntimeError):
        fake() + 1


def test_engine_scope_nests_and_restores() -> None:
    outer, inner = RecordingEngine(), RecordingEngine()
    assert active_engine() is None
    with engine_scope(outer):
        assert active_engine() is outer
        with pytest.raises(ZeroDivisionError), engine_scope(inner):
            assert current_engine() is inner
            1 / 0  # noqa: B018
        assert current_engine() is outer
    with pytest.raises(RuntimeError):
        current_engine()


def test_engine_scope_is_per_thread() -> None:
    seen: list[Any] = []

    def other_thread() -> None:
        try:
            seen.append(current_engine())
        except RuntimeError:
            seen.append(None)

    with engine_scope(RecordingEngine()):
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
    assert seen == [None]


def test_protocol_methods_raise_not_implemented() -> None:
    engine = Engine()
    for name, fn in inspect.getmembers(Engine, inspect.isfunction):
        if name.startswith("_"):
            continue
        n = len(inspect.signature(fn).parameters) - 1
        with pytest.raises(NotImplementedError):
            getattr(engine, name)(*([None] * n))


X = fake((4, 8))
V = fake((16,), tl.int32)
P = fake((16,), tl.pointer_type(tl.float32))
S = fake((), tl.int32)
H = fake((8,), tl.float16)
B = fake((8, 16))
C = fake((4, 16))
BLOCK_PTR = fake((), tl.pointer_type(tl.block_type(tl.float32, (4, 8))))
F16 = tl.float16
F32 = tl.float32
CAST = object()  # stands for "the result of the engine's cast of the input"


def _combine(a: Any, b: Any) -> Any:
    return a + b


# (call, engine method, expected positional arguments)
FORWARDING = [
    (lambda: tl.program_id(tl.constexpr(1)), "program_id", (1,)),
    (lambda: tl.num_programs(0), "num_programs", (0,)),
    (lambda: tl.arange(0, tl.constexpr(16)), "arange", (0, 16)),
    (lambda: tl.arange(4, 16), "arange", (4, 16)),  # 12 elements: beyond Triton's powers of 2
    (lambda: tl.full([2, tl.constexpr(3)], 1.5, "fp16"), "full", ((2, 3), 1.5, F16)),
    (lambda: tl.full(8, S, tl.int32), "full", ((8,), S, tl.int32)),
    (lambda: tl.load(P), "load", (P, None, None, (), "", "", "", False)),
    (
        lambda: tl.load(P, mask=V, other=0.0, cache_modifier=".cg", volatile=True),
        "load",
        (P, V, 0.0, (), "", ".cg", "", True),
    ),
    (
        lambda: tl.load(BLOCK_PTR, boundary_check=(0, tl.constexpr(1)), padding_option="zero"),
        "load",
        (BLOCK_PTR, None, None, (0, 1), "zero", "", "", False),
    ),
    (lambda: tl.store(P, X, mask=V), "store", (P, X, V, (), "", "")),
    (
        lambda: tl.store(BLOCK_PTR, 1.0, None, 0, "", "evict_last"),
        "store",
        (BLOCK_PTR, 1.0, None, (0,), "", "evict_last"),
    ),
    (
        lambda: tl.make_block_ptr(P, (S, 8), (8, 1), (0, 0), (4, 8), (1, 0)),
        "make_block_ptr",
        (P, (S, 8), (8, 1), (0, 0), (4, 8), (1, 0)),
    ),
    (lambda: tl.advance(P, [4, S]), "advance", (P, (4, S))),
    (lambda: tl.atomic_add(P, X), "atomic_add", (P, X, None, "acq_rel", "gpu")),
    (lambda: tl.atomic_max(P, X, V, "relaxed", "cta"), "atomic_max", (P, X, V, "relaxed", "cta")),
    (lambda: tl.atomic_xchg(P, 1, sem="acquire"), "atomic_xchg", (P, 1, None, "acquire", "gpu")),
    (lambda: tl.atomic_cas(P, 0, 1), "atomic_cas", (P, 0, 1, "acq_rel", "gpu")),
    (lambda: tl.dot(X, B), "dot", (X, B, None, None, None, F32)),
    (lambda: tl.dot(X, B, C, allow_tf32=False), "dot", (X, B, C, "ieee", None, F32)),
    (
        lambda: tl.dot(X, B, input_precision="TF32", out_dtype=tl.float16),
        "dot",
        (X, B, None, "tf32", None, F16),
    ),
    (lambda: tl.reduce(X, 1, _combine), "reduce", ((X,), 1, _combine, False)),
    (
        lambda: tl.reduce((X, X), -1, _combine, keep_dims=True),
        "reduce",
        ((X, X), 1, _combine, True),
    ),
    (lambda: tl.reduce(X, None, _combine), "reduce", ((X,), None, _combine, False)),
    (
        lambda: tl.associative_scan(X, 0, _combine, reverse=True),
        "associative_scan",
        ((X,), 0, _combine, True),
    ),
    (lambda: tl.sum(X), "sum", (X, None, False, F32)),
    (lambda: tl.sum(X, -1, dtype="fp64"), "sum", (CAST, 1, False, tl.float64)),
    (lambda: X.sum(axis=0, keep_dims=True), "sum", (X, 0, True, F32)),
    (lambda: tl.sum(fake((8,), tl.int8)), "sum", (CAST, None, False, tl.int32)),
    (lambda: tl.max(fake((8,), tl.float16)), "max", (CAST, None, False, True, False)),
    (lambda: tl.max(H, 0, return_indices=True), "max", (H, 0, True, True, False)),
    (lambda: tl.cumprod(fake((8,), tl.bfloat16)), "cumprod", (CAST, 0, False)),
    (lambda: tl.max(X, 1, return_indices=True), "max", (X, 1, True, True, False)),
    (lambda: X.min(0), "min", (X, 0, False, True, False)),
    (lambda: tl.argmax(X, 0), "argmax", (X, 0, True, False)),
    (lambda: tl.argmin(X, 1, tie_break_left=False, keep_dims=True), "argmin", (X, 1, False, True)),
    (lambda: tl.xor_sum(V, 0), "xor_sum", (V, 0, False)),
    (lambda: tl.cumsum(X), "cumsum", (X, 0, False, F32)),
    (lambda: tl.cumsum(V, dtype=tl.int64), "cumsum", (CAST, 0, False, tl.int64)),
    (lambda: tl.cumprod(X, 1, True), "cumprod", (X, 1, True)),
    (lambda: tl.sort(X), "sort", (X, 1, False)),
    (lambda: tl.sort(X, 0, descending=True), "sort", (X, 0, True)),
    (lambda: tl.flip(X), "flip", (X, 1)),
    (lambda: tl.histogram(V, 8), "histogram", (V, 8, None)),
    (lambda: tl.gather(X, X, -2), "gather", (X, X, 0)),
    (lambda: tl.where(V, X, 0.0), "where", (V, X, 0.0)),
    (lambda: tl.maximum(X, 1.0), "maximum", (X, 1.0, "none")),
    (lambda: tl.minimum(X, X, tl.PropagateNan.ALL), "minimum", (X, X, "all")),
    (lambda: tl.clamp(X, 0.0, 1.0), "clamp", (X, 0.0, 1.0, "none")),
    (lambda: tl.fma(X, X, X), "fma", (X, X, X)),
    (lambda: tl.exp(X), "exp", (X,)),
    (lambda: X.exp2(), "exp2", (X,)),
    (lambda: tl.sqrt_rn(X), "sqrt_rn", (X,)),
    (lambda: tl.abs(X), "abs", (X,)),
    (lambda: abs(X), "abs", (X,)),
    (lambda: tl.div_rn(X, 2.0), "div_rn", (X, 2.0)),
    (lambda: tl.fdiv(X, X), "fdiv", (X, X, False)),
    (lambda: tl.umulhi(V, V), "umulhi", (V, V)),
    (lambda: tl.math.tanh(X), "math", ("tanh", (X,))),
    (lambda: tl.math.pow(X, 2.0), "math", ("pow", (X, 2.0))),
    (lambda: tl.math.exp(X), "exp", (X,)),
    (lambda: tl.extra.libdevice.atan2(X, X), "math", ("atan2", (X, X))),
    (lambda: tl.extra.libdevice.fast_expf(X), "exp", (X,)),
    (lambda: tl.cast(X, tl.float16), "cast", (X, F16, None, False)),
    (lambda: X.to(tl.int32, bitcast=True), "cast", (X, tl.int32, None, True)),
    (lambda: X.to("bf16", fp_downcast_rounding="rtz"), "cast", (X, tl.bfloat16, "rtz", False)),
    (lambda: tl.broadcast(X, V), "broadcast", (X, V)),
    (lambda: tl.broadcast_to(V, 4, 16), "broadcast_to", (V, (4, 16))),
    (lambda: V.broadcast_to((4, 16)), "broadcast_to", (V, (4, 16))),
    (lambda: tl.expand_dims(V, -1), "expand_dims", (V, 1)),
    (lambda: tl.reshape(X, 32), "reshape", (X, (32,), False)),
    (lambda: X.reshape((8, 4), can_reorder=True), "reshape", (X, (8, 4), True)),
    (lambda: tl.view(X, (32,)), "reshape", (X, (32,), True)),
    (lambda: tl.trans(X), "permute", (X, (1, 0))),
    (lambda: X.T, "permute", (X, (1, 0))),
    (lambda: tl.permute(X, 1, 0), "permute", (X, (1, 0))),
    (lambda: tl.trans(X, (1, 0)), "permute", (X, (1, 0))),
    (lambda: tl.join(X, X), "join", (X, X)),
    (lambda: tl.cat(V, V), "cat", (V, V, False)),
    (lambda: tl.multiple_of(V, 16), "multiple_of", (V, (16,))),
    (lambda: tl.max_contiguous(V, [16]), "max_contiguous", (V, (16,))),
    (lambda: tl.max_constancy(V, 4), "max_constancy", (V, (4,))),
    (lambda: tl.assume(S), "assume", (S,)),
    (lambda: tl.device_assert(V, "bad"), "device_assert", (V, "bad", None)),
    (lambda: tl.device_print("x=", X, V), "device_print", ("x=", (X, V), False)),
    (lambda: tl.device_print("x=", X, hex=True), "device_print", ("x=", (X,), True)),
    (lambda: tl.debug_barrier(), "debug_barrier", ()),
    (lambda: tl.add(X, 1), "add", (X, 1)),
    (lambda: tl.sub(1, X), "sub", (1, X)),
    (lambda: tl.mul(X, X), "mul", (X, X)),
    (
        lambda: tl.make_tensor_descriptor(P, (S, 8), (8, 1), (4, 8)),
        "make_tensor_descriptor",
        (P, (S, 8), (8, 1), (4, 8), "zero"),
    ),
    (lambda: tl.load_tensor_descriptor(P, (0, S)), "descriptor_load", (P, (0, S))),
    (lambda: tl.store_tensor_descriptor(P, (0, 0), X), "descriptor_store", (P, (0, 0), X)),
    (
        lambda: tl.inline_asm_elementwise("mov", "=r,r", [V], tl.int32, True, 1),
        "inline_asm_elementwise",
        ("mov", "=r,r", (V,), tl.int32, True, 1),
    ),
]


@pytest.mark.parametrize(
    ("call", "method", "expected"),
    FORWARDING,
    ids=[f"{i}-{m}" for i, (_, m, _) in enumerate(FORWARDING)],
)
def test_builtin_forwards_normalized_arguments(call, method: str, expected: tuple) -> None:
    engine = RecordingEngine()
    with engine_scope(engine):
        call()
    assert engine.last[0] == method
    got = engine.last[1]
    if any(e is CAST for e in expected):
        assert engine.calls[0][0] == "cast", "the builtin should widen its input first"
        expected = tuple(engine.result if e is CAST else e for e in expected)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g == e if not isinstance(e, tl.tensor) else g is e
        assert type(g) is type(e) or isinstance(e, tl.tensor)


def test_single_input_reduce_returns_a_tensor_and_tuple_input_a_tuple() -> None:
    with engine_scope(RecordingEngine()):
        assert isinstance(tl.reduce(X, 0, _combine), tl.tensor)
        assert isinstance(tl.reduce((X, X), 0, _combine), tuple)
        assert isinstance(tl.associative_scan((X,), 0, _combine), tuple)


def test_expand_dims_with_several_axes() -> None:
    engine = RecordingEngine()
    with engine_scope(engine):
        tl.expand_dims(X, (0, -1))  # rank 2 -> 4; -1 is axis 3 of the result
    assert [c[1][1] for c in engine.calls] == [0, 3]


BINARY_OPS = [
    ("add", operator.add),
    ("sub", operator.sub),
    ("mul", operator.mul),
    ("truediv", operator.truediv),
    ("floordiv", operator.floordiv),
    ("mod", operator.mod),
    ("and_", operator.and_),
    ("or_", operator.or_),
    ("xor", operator.xor),
    ("lshift", operator.lshift),
    ("rshift", operator.rshift),
]
COMPARISONS = [
    ("lt", operator.lt),
    ("le", operator.le),
    ("gt", operator.gt),
    ("ge", operator.ge),
    ("eq", operator.eq),
    ("ne", operator.ne),
]


@pytest.mark.parametrize(
    ("method", "op"), BINARY_OPS + COMPARISONS, ids=[m for m, _ in BINARY_OPS + COMPARISONS]
)
def test_binary_operators(method: str, op) -> None:
    engine = RecordingEngine()
    with engine_scope(engine):
        op(X, 2)
        assert engine.last == (method, (X, 2))
        op(X, tl.constexpr(3))  # constexprs are unwrapped
        assert engine.last == (method, (X, 3))
        op(X, V)
        assert engine.last == (method, (X, V))


@pytest.mark.parametrize(("method", "op"), BINARY_OPS, ids=[m for m, _ in BINARY_OPS])
def test_reflected_operators_swap_operands(method: str, op) -> None:
    engine = RecordingEngine()
    with engine_scope(engine):
        op(2, X)
        assert engine.last == (method, (2, X))
        op(tl.constexpr(2), X)
        assert engine.last == (method, (2, X))


def test_reflected_comparison_uses_mirrored_operator() -> None:
    engine = RecordingEngine()
    with engine_scope(engine):
        assert (2 < X) is engine.result  # Python calls X.__gt__(2)
        assert engine.last == ("gt", (X, 2))


def test_unary_operators_and_getitem() -> None:
    engine = RecordingEngine()
    with engine_scope(engine):
        _ = -X
        assert engine.last == ("neg", (X,))
        _ = +X
        assert engine.last == ("pos", (X,))
        _ = ~V
        assert engine.last == ("invert", (V,))
        _ = V[:, None]
        assert engine.last == ("getitem", (V, (slice(None), None)))
        _ = V[tl.constexpr(None), :]
        assert engine.last == ("getitem", (V, (None, slice(None))))


def test_tensor_properties() -> None:
    assert X.dtype == tl.float32 and X.shape == (4, 8) and X.numel == 32
    assert X.type == tl.block_type(tl.float32, (4, 8))
    assert S.shape == () and S.numel == 1 and S.dtype == tl.int32
    assert P.dtype == tl.pointer_type(tl.float32)
    assert "fp32" in repr(X)
    assert {X: 1}[X] == 1  # hashable despite __eq__


def test_shape_concatenates_with_lists_like_tritons() -> None:
    shape = X.shape
    assert shape == (4, 8) and isinstance(shape, tuple)
    assert shape[:-1] + [16] == (4, 16)
    assert [2] + shape == (2, 4, 8)
    assert shape + (1,) == (4, 8, 1)
    assert shape[0] == 4 and S.shape == ()


def test_tensor_truth_value_and_iteration_are_errors() -> None:
    with pytest.raises(TypeError, match="truth value"):
        bool(X)
    with pytest.raises(TypeError, match="not iterable"):
        iter(X)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: tl.load(P, maks=V), TypeError, "unexpected keyword argument 'maks'"),
        (lambda: tl.store(P), TypeError, "value"),
        (lambda: tl.sum(X, axes=0), TypeError, "axes"),
        (lambda: tl.dot(X), TypeError, "other"),
        (lambda: tl.program_id(3), ValueError, "program_id axis"),
        (lambda: tl.program_id(S), TypeError, "axis must be a compile-time integer"),
        (lambda: tl.arange(8, 8), ValueError, "greater than start"),
        (lambda: tl.arange(0.0, 8), TypeError, "arange start"),
        (lambda: tl.full((2, -1), 0, tl.float32), ValueError, "negative"),
        (lambda: tl.full((2,), 0, 3), TypeError, "dtype"),
        (lambda: tl.full((2,), 0, "fp99"), ValueError, "fp99"),
        (lambda: tl.sum(X, 2), ValueError, "out of range"),
        (lambda: tl.sum(S, 0), ValueError, "scalar"),
        (lambda: tl.cumsum(X, None), TypeError, "axis"),
        (lambda: tl.trans(fake((2,))), ValueError, "rank >= 2"),
        (lambda: tl.permute(X, 0, 0), ValueError, "permutation"),
        (lambda: tl.expand_dims(X, 3), ValueError, "out of range"),
        (lambda: tl.expand_dims(X, (0, 0)), ValueError, "repeated"),
        (lambda: tl.split(X), ValueError, "last dimension is 2"),
        (lambda: tl.dot(X, B, input_precision="tf32", allow_tf32=True), ValueError, "only one"),
        (lambda: tl.dot(X, B, input_precision="fast"), ValueError, "input_precision"),
        (lambda: tl.dot(X, X), ValueError, "do not compose"),
        (lambda: tl.dot(V, V), ValueError, "2-D"),
        (lambda: tl.dot(X, B, X), ValueError, "acc has shape"),
        (lambda: tl.dot(X, 1.0), TypeError, "tensors"),
        (lambda: tl.reshape(X, 16), ValueError, "number of elements"),
        (lambda: tl.view(X, (3, 4)), ValueError, "number of elements"),
        (lambda: tl.arange(-4, 4), ValueError, "int32"),
        (lambda: tl.load(P, other=0.0), ValueError, "without mask"),
        (lambda: tl.load(BLOCK_PTR, mask=V), ValueError, "block pointer"),
        (lambda: tl.store(BLOCK_PTR, X, mask=V), ValueError, "block pointer"),
        (lambda: tl.store(P, X, cache_modifier=".ca"), ValueError, "cache_modifier"),
        (lambda: tl.load(P, boundary_check=(0,)), ValueError, "needs a block pointer"),
        (lambda: tl.load(P, V, 0.0, padding_option="zero"), ValueError, "needs a block pointer"),
        (lambda: tl.store(P, X, boundary_check=(0,)), ValueError, "needs a block pointer"),
        (lambda: tl.store(P, X, None, 0), ValueError, "needs a block pointer"),
        (lambda: tl.cast(X, tl.float16, fp_downcast_rounding="up"), ValueError, "rounding"),
        (lambda: tl.load(P, cache_modifier=".xx"), ValueError, "cache_modifier"),
        (lambda: tl.load(P, eviction_policy="never"), ValueError, "eviction_policy"),
        (lambda: tl.atomic_add(P, X, sem="strong"), ValueError, "sem"),
        (lambda: tl.atomic_add(P, X, scope="world"), ValueError, "scope"),
        (lambda: tl.make_block_ptr(P, (8,), (1, 1), (0,), (4,), (0,)), ValueError, "same length"),
        (
            lambda: tl.make_block_ptr(P, (8, 8), (8, 1), (0, 0), (4, 4), (0, 0)),
            ValueError,
            "permutation",
        ),
        (lambda: tl.reduce(X, 0, 42), TypeError, "combine_fn"),
        (lambda: tl.maximum(X, X, propagate_nan=True), ValueError, "propagate_nan"),
        (lambda: tl.histogram(V, 0), ValueError, "num_bins"),
        (lambda: tl.xor_sum(X, 0), TypeError, "integer"),
        (lambda: tl.multiple_of(V, 0), ValueError, "positive"),
        (lambda: tl.device_print(X), TypeError, "prefix"),
        (lambda: tl.dot_scaled(X, None, "e9m9", X, None, "e4m3"), ValueError, "lhs_format"),
    ],
)
def test_bad_arguments_give_clear_errors(call, exc: type, match: str) -> None:
    engine = RecordingEngine()
    with engine_scope(engine), pytest.raises(exc, match=match):
        call()
    assert not engine.calls  # nothing reached the engine


# Builtins whose engine method has another name (see engine.py's module docstring).
NORMALIZED = {
    "trans": "permute",
    "view": "reshape",
    "load_tensor_descriptor": "descriptor_load",
    "store_tensor_descriptor": "descriptor_store",
}


def test_every_builtin_has_a_protocol_method() -> None:
    protocol = {
        n for n, _ in inspect.getmembers(Engine, inspect.isfunction) if not n.startswith("_")
    }
    for name in ENGINE_BUILTINS:
        assert NORMALIZED.get(name, name) in protocol, f"tl.{name} has no Engine method"
    assert {m for _, m, _ in FORWARDING} <= protocol
