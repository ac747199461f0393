"""Triton's type promotion, integer signedness and casts, checked on the engine directly."""

from __future__ import annotations

import pytest

import tritium.language as tl
from tritium import ir
from tritium.frontend.engine import IREngine
from tritium.frontend.tile import Tile
from tritium.frontend.type_conversion import lang_type, to_ir_type


@pytest.fixture
def eng() -> IREngine:
    block = ir.Block()
    return IREngine(ir.Builder(block))


def arg(eng: IREngine, dtype: tl.dtype, shape: tuple[int, ...] = ()) -> Tile:
    """A fresh kernel value of ``dtype`` and ``shape`` (a block argument)."""
    ty = lang_type(dtype, shape)
    return Tile(eng.builder.block.add_arg(to_ir_type(ty)), ty)


def last_ops(eng: IREngine, n: int) -> list[str]:
    return [op.name for op in eng.builder.block.ops[-n:]]


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (tl.int32, tl.int32, tl.int32),
        (tl.int8, tl.uint8, tl.uint8),
        (tl.int16, tl.uint8, tl.int16),
        (tl.uint32, tl.int64, tl.int64),
        (tl.int32, tl.float16, tl.float16),
        (tl.float16, tl.bfloat16, tl.float16),  # Triton checks fp16 before bf16
        (tl.bfloat16, tl.int32, tl.float32),
        (tl.bfloat16, tl.bfloat16, tl.bfloat16),
        (tl.float16, tl.float32, tl.float32),
        (tl.float32, tl.float64, tl.float64),
        (tl.int1, tl.int32, tl.int32),
        (tl.float8e4nv, tl.float8e4nv, tl.float8e4nv),
        (tl.float8e4nv, tl.float8e5, tl.float16),
    ],
)
def test_tile_tile_promotion(eng: IREngine, a: tl.dtype, b: tl.dtype, expected: tl.dtype) -> None:
    out = eng.add(arg(eng, a, (8,)), arg(eng, b, (8,)))
    assert out.dtype == expected
    assert out.shape == (8,)
    assert out.handle.type == to_ir_type(lang_type(expected, (8,)))


@pytest.mark.parametrize(
    "dtype, literal, expected",
    [
        (tl.int8, 1, tl.int8),
        (tl.uint16, 3, tl.uint16),
        (tl.float16, 1.5, tl.float16),
        (tl.bfloat16, 2, tl.bfloat16),
        (tl.int8, 1.0, tl.float32),
        (tl.int64, 2**40, tl.int64),
        (tl.int1, True, tl.int1),
        (tl.int1, 3, tl.int32),
    ],
)
def test_literals_are_weak(
    eng: IREngine, dtype: tl.dtype, literal: object, expected: tl.dtype
) -> None:
    x = arg(eng, dtype, (4,))
    assert eng.add(x, literal).dtype == expected
    assert eng.mul(literal, x).dtype == expected


def test_literal_constant_is_made_at_the_tile_shape(eng: IREngine) -> None:
    out = eng.add(arg(eng, tl.float32, (4, 8)), 2.0)
    const = out.handle.defining_op.operands[1].defining_op
    assert const.name == "arith.constant"
    assert const.results[0].type == ir.TensorType((4, 8), ir.f32)
    assert const.attrs["value"] == 2.0


def test_unsigned_constants_are_sign_normalized(eng: IREngine) -> None:
    out = eng.and_(arg(eng, tl.uint32), 0xFFFFFFFF)
    assert out.dtype == tl.uint32
    assert out.handle.defining_op.operands[1].defining_op.attrs["value"] == -1


def test_negative_literal_with_unsigned_tile_is_an_error(eng: IREngine) -> None:
    with pytest.raises(ValueError, match="unsigned"):
        eng.add(arg(eng, tl.uint8, (4,)), -1)


def test_literal_out_of_range_is_an_error(eng: IREngine) -> None:
    with pytest.raises(ValueError, match="out of range"):
        eng.add(arg(eng, tl.int8, (4,)), 1000)
    with pytest.raises(ValueError, match="out of range"):
        eng.add(arg(eng, tl.int32, (4,)), 2**40)


@pytest.mark.parametrize(
    "dtype, op", [(tl.int32, "arith.divsi"), (tl.uint32, "arith.divui"), (tl.int8, "arith.divsi")]
)
def test_floordiv_is_truncating_integer_division(eng: IREngine, dtype: tl.dtype, op: str) -> None:
    out = eng.floordiv(arg(eng, dtype), arg(eng, dtype))
    assert out.handle.defining_op.name == op
    assert out.dtype == dtype


def test_floordiv_on_floats_is_a_type_error(eng: IREngine) -> None:
    with pytest.raises(TypeError, match="//"):
        eng.floordiv(arg(eng, tl.float32), 2.0)


@pytest.mark.parametrize(
    "dtype, op", [(tl.int32, "arith.remsi"), (tl.uint8, "arith.remui"), (tl.float32, "arith.remf")]
)
def test_mod_is_c_style(eng: IREngine, dtype: tl.dtype, op: str) -> None:
    assert eng.mod(arg(eng, dtype), arg(eng, dtype)).handle.defining_op.name == op


def test_mixed_signedness_division_is_rejected(eng: IREngine) -> None:
    with pytest.raises(TypeError, match="signedness"):
        eng.mod(arg(eng, tl.int32), arg(eng, tl.uint32))


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (tl.int32, tl.int32, tl.float32),
        (tl.float16, tl.float16, tl.float32),
        (tl.bfloat16, tl.float32, tl.float32),
        (tl.float64, tl.int32, tl.float64),
    ],
)
def test_truediv_produces_float(
    eng: IREngine, a: tl.dtype, b: tl.dtype, expected: tl.dtype
) -> None:
    out = eng.truediv(arg(eng, a), arg(eng, b))
    assert out.dtype == expected
    assert out.handle.defining_op.name == "arith.divf"


@pytest.mark.parametrize(
    "dtype, pred", [(tl.int32, "slt"), (tl.uint32, "ult"), (tl.int1, "ult"), (tl.float32, "olt")]
)
def test_comparisons_produce_int1_with_signed_predicates(
    eng: IREngine, dtype: tl.dtype, pred: str
) -> None:
    out = eng.lt(arg(eng, dtype, (4,)), arg(eng, dtype, (4,)))
    assert out.dtype == tl.int1 and out.shape == (4,)
    assert out.handle.defining_op.attrs["predicate"] == pred


def test_float_ne_is_unordered(eng: IREngine) -> None:
    assert eng.ne(arg(eng, tl.float32), 0.0).handle.defining_op.attrs["predicate"] == "une"


@pytest.mark.parametrize("dtype, op", [(tl.int32, "arith.shrsi"), (tl.uint32, "arith.shrui")])
def test_right_shift_follows_signedness(eng: IREngine, dtype: tl.dtype, op: str) -> None:
    assert eng.rshift(arg(eng, dtype), 3).handle.defining_op.name == op


def test_bitwise_on_floats_is_a_type_error(eng: IREngine) -> None:
    with pytest.raises(TypeError, match="integer"):
        eng.and_(arg(eng, tl.float32), arg(eng, tl.float32))


def test_pointer_arithmetic(eng: IREngine) -> None:
    p = arg(eng, tl.pointer_type(tl.float16))
    offs = arg(eng, tl.int32, (16,))
    q = eng.add(p, offs)
    assert q.dtype == tl.pointer_type(tl.float16) and q.shape == (16,)
    assert last_ops(eng, 2) == ["tt.splat", "tt.addptr"]
    assert eng.add(offs, p).handle.defining_op.name == "tt.addptr"
    r = eng.sub(p, 4)
    assert last_ops(eng, 2) == ["arith.subi", "tt.addptr"] and r.dtype == p.dtype
    with pytest.raises(TypeError):
        eng.add(p, p)
    with pytest.raises(TypeError):
        eng.add(p, 1.0)
    with pytest.raises(TypeError):
        eng.mul(p, 2)


def test_broadcasting_inserts_explicit_ops(eng: IREngine) -> None:
    row = arg(eng, tl.float32, (16,))
    col = arg(eng, tl.float32, (4, 1))
    out = eng.add(row, col)
    assert out.shape == (4, 16)
    names = [op.name for op in eng.builder.block.ops]
    assert names == ["tt.expand_dims", "tt.broadcast", "tt.broadcast", "arith.addf"]
    with pytest.raises(ValueError, match="broadcast"):
        eng.add(arg(eng, tl.float32, (16,)), arg(eng, tl.float32, (8,)))


def test_scalar_tile_mix_splats(eng: IREngine) -> None:
    out = eng.mul(arg(eng, tl.int32), arg(eng, tl.int32, (8,)))
    assert out.shape == (8,)
    assert last_ops(eng, 2) == ["tt.splat", "arith.muli"]


def test_logic_ops(eng: IREngine) -> None:
    a, b = arg(eng, tl.int1, (4,)), arg(eng, tl.int32, (4,))
    out = eng.logical_and(a, b)
    assert out.dtype == tl.int1 and last_ops(eng, 1) == ["arith.andi"]
    assert eng.logical_not(a).handle.defining_op.name == "arith.xori"
    assert eng.invert(b).handle.defining_op.name == "arith.xori"
    with pytest.raises(TypeError):
        eng.invert(arg(eng, tl.float32))


def test_neg(eng: IREngine) -> None:
    assert eng.neg(arg(eng, tl.float32)).handle.defining_op.name == "arith.negf"
    assert eng.neg(arg(eng, tl.int32)).handle.defining_op.name == "arith.subi"


@pytest.mark.parametrize(
    "dtype, is_max, nan, op",
    [
        (tl.float32, True, "none", "arith.maxnumf"),
        (tl.float32, True, "all", "arith.maximumf"),
        (tl.float32, False, "none", "arith.minnumf"),
        (tl.int32, True, "none", "arith.maxsi"),
        (tl.uint32, False, "none", "arith.minui"),
    ],
)
def test_minimum_maximum(eng: IREngine, dtype: tl.dtype, is_max: bool, nan: str, op: str) -> None:
    fn = eng.maximum if is_max else eng.minimum
    assert fn(arg(eng, dtype), arg(eng, dtype), nan).handle.defining_op.name == op


def test_where_promotes_and_broadcasts(eng: IREngine) -> None:
    cond = arg(eng, tl.int1, (4, 1))
    out = eng.where(cond, arg(eng, tl.float16, (8,)), 0.0)
    assert out.shape == (4, 8) and out.dtype == tl.float16
    assert out.handle.defining_op.name == "arith.select"


def test_math_promotes_ints_to_fp32(eng: IREngine) -> None:
    out = eng.exp(arg(eng, tl.int32, (4,)))
    assert out.dtype == tl.float32
    assert last_ops(eng, 2) == ["arith.sitofp", "math.exp"]


@pytest.mark.parametrize(
    "src, dst, ops",
    [
        (tl.float32, tl.float16, ["arith.truncf"]),
        (tl.float16, tl.float32, ["arith.extf"]),
        (tl.float16, tl.float64, ["arith.extf", "arith.extf"]),
        (tl.bfloat16, tl.float16, ["arith.extf", "arith.truncf"]),
        (tl.float32, tl.int32, ["arith.fptosi"]),
        (tl.float32, tl.uint8, ["arith.fptoui"]),
        (tl.int32, tl.float32, ["arith.sitofp"]),
        (tl.uint32, tl.float32, ["arith.uitofp"]),
        (tl.int1, tl.float32, ["arith.uitofp"]),
        (tl.int8, tl.int32, ["arith.extsi"]),
        (tl.uint8, tl.int32, ["arith.extui"]),
        (tl.int1, tl.int32, ["arith.extui"]),
        (tl.int64, tl.int32, ["arith.trunci"]),
        (tl.int32, tl.uint32, []),
        (tl.int32, tl.int1, ["arith.constant", "arith.cmpi"]),
        (tl.float32, tl.int1, ["arith.constant", "arith.cmpf"]),
        (tl.float32, tl.float8e4nv, ["tt.fp_to_fp"]),
        (tl.float8e5, tl.float32, ["tt.fp_to_fp"]),
        (tl.pointer_type(tl.float32), tl.int64, ["tt.ptr_to_int"]),
        (tl.pointer_type(tl.float32), tl.pointer_type(tl.int8), ["tt.bitcast"]),
    ],
)
def test_casts_choose_the_right_op(
    eng: IREngine, src: tl.dtype, dst: tl.dtype, ops: list[str]
) -> None:
    x = arg(eng, src, (4,))
    out = eng.cast(x, dst, None, False)
    assert out.dtype == dst and out.shape == (4,)
    assert [op.name for op in eng.builder.block.ops] == ops


def test_fp8_narrowing_rounds_to_nearest_even(eng: IREngine) -> None:
    out = eng.cast(arg(eng, tl.float16), tl.float8e4nv, None, False)
    assert out.handle.defining_op.attrs == {"rounding": "rtne"}
    out = eng.cast(arg(eng, tl.float32), tl.float16, "rtz", False)
    assert out.handle.defining_op.name == "tt.fp_to_fp"
    assert out.handle.defining_op.attrs == {"rounding": "rtz"}


def test_bitcast(eng: IREngine) -> None:
    out = eng.cast(arg(eng, tl.float32), tl.int32, None, True)
    assert out.handle.defining_op.name == "arith.bitcast" and out.dtype == tl.int32
    same = arg(eng, tl.int32)
    assert eng.cast(same, tl.uint32, None, True).handle is same.handle
    with pytest.raises(ValueError, match="bits"):
        eng.cast(arg(eng, tl.float32), tl.int16, None, True)
