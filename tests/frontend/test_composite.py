"""Block pointers, tuples passed to @jit functions, and the builtins built from other ops."""

from __future__ import annotations

import pytest

import tritium.language as tl
from tests.frontend.helpers import compile_kernel, jit, op_names, ops_named
from tritium.errors import CompilationError


@jit
def block_ptr_kernel(a_ptr, c_ptr, M, K, sm, sk, BM: tl.constexpr, BK: tl.constexpr):
    a_bp = tl.make_block_ptr(
        base=a_ptr,
        shape=(M, K),
        strides=(sm, sk),
        offsets=(tl.program_id(0) * BM, 0),
        block_shape=(BM, BK),
        order=(1, 0),
    )
    acc = tl.zeros((BM, BK), dtype=tl.float32)
    for _ in range(0, K, BK):
        acc += tl.load(a_bp, boundary_check=(0, 1), padding_option="zero")
        a_bp = tl.advance(a_bp, (0, BK))
    c_bp = tl.make_block_ptr(c_ptr, (M, K), (sm, sk), (0, 0), (BM, BK), (1, 0))
    tl.store(c_bp, acc, boundary_check=(1,))


def test_block_pointers_lower_to_pointer_tiles_and_masks() -> None:
    sig = {"a_ptr": "*fp32", "c_ptr": "*fp32", "M": "i32", "K": "i32", "sm": "i32", "sk": "i32"}
    m = compile_kernel(block_ptr_kernel, sig, {"BM": 16, "BK": 8})
    (loop,) = ops_named(m, "scf.for")
    # acc, then the block pointer's base, shape x2, strides x2, offsets x2
    assert [str(r.type) for r in loop.results] == [
        "tensor<16x8xf32>",
        "!tt.ptr<f32>",
        "i64",
        "i64",
        "i64",
        "i64",
        "i32",
        "i32",
    ]
    load = ops_named(m, "tt.load")[0]
    assert str(load.operands[0].type) == "tensor<16x8x!tt.ptr<f32>>"
    assert str(load.operands[1].type) == "tensor<16x8xi1>"
    assert load.operands[2].defining_op.attrs["value"] == 0.0
    (store,) = ops_named(m, "tt.store")
    assert len(store.operands) == 3  # masked by the boundary check


@jit
def _sum_pair(pair, scale: tl.constexpr):
    a, b = pair
    return (a + b) * scale


@jit
def tuple_arg_kernel(p):
    x = tl.load(p)
    y = tl.load(p + 1)
    tl.store(p, _sum_pair((x, y), 2) + _sum_pair((x, 1.0), 2))


def test_tuples_of_tensors_are_passed_flattened() -> None:
    m = compile_kernel(tuple_arg_kernel, {"p": "*fp32"})
    private = [f for f in m.functions if f.attrs["visibility"] == "private"]
    assert len(private) == 1  # (f32, f32) both times: the literal became an f32 tensor
    assert str(private[0].attrs["function_type"]) == "(f32, f32) -> f32"


@jit
def flip_gather_hist_kernel(p, q, h):
    offs = tl.arange(0, 8)
    x = tl.load(p + offs[:, None] * 4 + tl.arange(0, 4)[None, :])
    f = tl.flip(x, 0)
    idx = tl.load(q + offs[:, None] * 4 + tl.arange(0, 4)[None, :])
    g = tl.gather(x, idx, 0)
    counts = tl.histogram(tl.load(q + offs), 16)
    tl.store(p + offs[:, None] * 4 + tl.arange(0, 4)[None, :], f + g)
    tl.store(h + tl.arange(0, 16), counts)


def test_flip_gather_histogram_are_built_from_tile_ops() -> None:
    m = compile_kernel(flip_gather_hist_kernel, {"p": "*fp32", "q": "*i32", "h": "*i32"})
    names = op_names(m)
    assert names.count("arith.bitcast") == 2  # flip works on the float's bits
    reduces = ops_named(m, "tt.reduce")
    assert len(reduces) == 5  # 3 flip swaps, 1 gather, 1 histogram sum
    gather = reduces[3]
    assert [str(r.type) for r in gather.results] == ["tensor<8x4xf32>", "tensor<8x4xi1>"]
    assert str(reduces[4].results[0].type) == "tensor<16xi32>"


def _silu(x):
    return x / (1.0 + tl.exp(-x))


@jit
def map_kernel(p):
    x = tl.load(p + tl.arange(0, 8))
    tl.store(p + tl.arange(0, 8), tl.map_elementwise(_silu, x))


def test_map_elementwise_traces_the_function_on_tiles() -> None:
    m = compile_kernel(map_kernel, {"p": "*fp32"})
    assert {"math.exp", "arith.divf"} <= set(op_names(m))


@jit
def asm_kernel(p):
    x = tl.load(p + tl.arange(0, 8))
    y = tl.inline_asm_elementwise(
        "mov.b32 $0, $1;", "=r,r", [x], dtype=tl.float32, is_pure=True, pack=1
    )
    tl.store(p + tl.arange(0, 8), y)


def test_unsupported_builtins_say_so() -> None:
    with pytest.raises(CompilationError, match="tl.inline_asm_elementwise is not supported"):
        compile_kernel(asm_kernel, {"p": "*fp32"})
