"""Compiled (frontend + CPU backend) and interpreted runs of one kernel agree on the types
and values of mixed-dtype operators (Triton's promotion rules, C-style division)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tritium.language as tl
from tests.frontend.helpers import jit
from tests.frontend.helpers import run_cpu as run
from tritium.language import type_rules as st

pytest.importorskip("tritium.backends.cpu")
ml_dtypes = pytest.importorskip("ml_dtypes")

NUMPY = {
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "int32": np.int32,
    "uint32": np.uint32,
    "int64": np.int64,
    "fp16": np.float16,
    "bf16": ml_dtypes.bfloat16,
    "fp32": np.float32,
    "fp64": np.float64,
}
SIG = {
    "int8": "i8",
    "uint8": "u8",
    "int16": "i16",
    "int32": "i32",
    "uint32": "u32",
    "int64": "i64",
    "fp16": "fp16",
    "bf16": "bf16",
    "fp32": "fp32",
    "fp64": "fp64",
    "int1": "i1",
}


@jit
def binary_kernel(a, b, o, OP: tl.constexpr, LIT: tl.constexpr):
    r = tl.arange(0, 16)
    x = tl.load(a + r)
    y = tl.load(b + r) if LIT is None else LIT
    if OP == "add":
        z = x + y
    elif OP == "sub":
        z = x - y
    elif OP == "mul":
        z = x * y
    elif OP == "truediv":
        z = x / y
    elif OP == "floordiv":
        z = x // y
    elif OP == "mod":
        z = x % y
    elif OP == "and_":
        z = x & y
    elif OP == "rshift":
        z = x >> y
    elif OP == "lt":
        z = x < y
    else:
        z = tl.maximum(x, y)
    tl.store(o + r, z)


CASES = [
    ("int8", "uint8", "add"),
    ("int16", "uint32", "mul"),
    ("int32", "int64", "sub"),
    ("int8", "int8", "floordiv"),
    ("int32", "int32", "mod"),
    ("uint8", "uint8", "floordiv"),
    ("int32", "int16", "truediv"),
    ("fp16", "fp16", "truediv"),
    ("bf16", "fp16", "add"),
    ("bf16", "bf16", "mul"),
    ("fp16", "int32", "mod"),
    ("fp32", "fp64", "sub"),
    ("int8", "uint32", "and_"),
    ("int16", "int8", "rshift"),
    ("uint32", "uint32", "rshift"),
    ("uint8", "int32", "lt"),
    ("fp16", "fp32", "lt"),
    ("int64", "uint8", "maximum"),
    ("fp32", "fp32", "maximum"),
    ("int8", 3, "mul"),
    ("uint8", 7, "mod"),
    ("fp16", 2.5, "add"),
    ("int16", 2.5, "mul"),
    ("bf16", 3, "truediv"),
    ("int32", -2, "floordiv"),
    ("uint32", True, "add"),
]


def _data(rng: np.random.Generator, name: str) -> np.ndarray:
    if name.startswith(("int", "uint")):
        info = np.iinfo(NUMPY[name])
        v = rng.integers(max(info.min, -100), min(info.max, 100), 16)
        v[v == 0] = 3  # no division by zero
        return v.astype(NUMPY[name])
    return (rng.standard_normal(16) * 10).astype(NUMPY[name])


@pytest.mark.parametrize("a_type, b, op", CASES, ids=[f"{a}-{b}-{o}" for a, b, o in CASES])
def test_compiled_and_interpreted_agree(
    a_type: str, b: Any, op: str, rng: np.random.Generator
) -> None:
    from tritium.interpreter import run_kernel

    literal = b if not isinstance(b, str) else None
    b_type = b if isinstance(b, str) else "int32"
    rhs = tl.dtype(b_type) if literal is None else literal
    result = st.binary_result_type(tl.dtype(a_type), rhs, op).result
    x, y = _data(rng, a_type), _data(rng, b_type)
    if op == "rshift":
        y = (np.abs(y.astype(np.int64)) % 7).astype(NUMPY[b_type])
    out_np = np.bool_ if result.name == "int1" else NUMPY[result.name]
    compiled = np.zeros(16, out_np)
    interpreted = np.zeros(16, out_np)
    sig = {"a": "*" + SIG[a_type], "b": "*" + SIG[b_type], "o": "*" + SIG[result.name]}
    consts = {"OP": op, "LIT": literal}
    run(
        binary_kernel,
        sig,
        consts,
        (1, 1, 1),
        [x, y, compiled.view(np.int8) if result.name == "int1" else compiled],
    )
    run_kernel(binary_kernel.fn, (1, 1, 1), {"a": x, "b": y, "o": interpreted, **consts})
    c, i = compiled.astype(np.float64), interpreted.astype(np.float64)
    # the two may differ by the last bit of a division or a bf16/fp16 rounding
    np.testing.assert_allclose(c, i, rtol=2e-3, atol=0, equal_nan=True)


@jit
def dot_scaled_kernel(
    a_ptr,
    as_ptr,
    b_ptr,
    bs_ptr,
    o_ptr,
    M: tl.constexpr,
    N: tl.constexpr,
    K: tl.constexpr,
    AF: tl.constexpr,
    BF: tl.constexpr,
):
    KA: tl.constexpr = K // 2 if AF == "e2m1" else K
    KB: tl.constexpr = K // 2 if BF == "e2m1" else K
    a = tl.load(a_ptr + tl.arange(0, M)[:, None] * KA + tl.arange(0, KA)[None, :])
    b = tl.load(b_ptr + tl.arange(0, KB)[:, None] * N + tl.arange(0, N)[None, :])
    sa = tl.load(as_ptr + tl.arange(0, M)[:, None] * (K // 32) + tl.arange(0, K // 32)[None, :])
    sb = tl.load(bs_ptr + tl.arange(0, N)[:, None] * (K // 32) + tl.arange(0, K // 32)[None, :])
    c = tl.dot_scaled(a, sa, AF, b, sb, BF)
    tl.store(o_ptr + tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :], c)


@pytest.mark.parametrize("a_format, b_format", [("e2m1", "e4m3"), ("e5m2", "e2m1")])
def test_dot_scaled_matches_the_interpreter(
    a_format: str, b_format: str, rng: np.random.Generator
) -> None:
    from tritium.interpreter import run_kernel

    m, n, k = 16, 16, 64
    a = rng.integers(0, 256, (m, k // 2 if a_format == "e2m1" else k)).astype(np.uint8)
    b = rng.integers(0, 256, (k // 2 if b_format == "e2m1" else k, n)).astype(np.uint8)
    for fmt, x in ((a_format, a), (b_format, b)):  # no NaN/inf codes
        if fmt == "e4m3":
            x[(x & 0x7F) == 0x7F] = 1
        elif fmt == "e5m2":
            x[(x & 0x7C) == 0x7C] = 1
    sa = rng.integers(120, 134, (m, k // 32)).astype(np.uint8)
    sb = rng.integers(120, 134, (n, k // 32)).astype(np.uint8)
    compiled = np.full((m, n), np.nan, np.float32)
    interpreted = np.full((m, n), np.nan, np.float32)
    consts = {"M": m, "N": n, "K": k, "AF": a_format, "BF": b_format}
    sig = {"a_ptr": "*u8", "as_ptr": "*u8", "b_ptr": "*u8", "bs_ptr": "*u8", "o_ptr": "*fp32"}
    run(dot_scaled_kernel, sig, consts, (1, 1, 1), [a, sa, b, sb, compiled])
    run_kernel(
        dot_scaled_kernel.fn,
        (1, 1, 1),
        {"a_ptr": a, "as_ptr": sa, "b_ptr": b, "bs_ptr": sb, "o_ptr": interpreted, **consts},
    )
    # exact products; only the fp32 (compiled) vs fp64 (interpreted) accumulation differs
    scale = np.abs(interpreted).max()
    np.testing.assert_allclose(compiled, interpreted, rtol=1e-5, atol=1e-6 * scale)
