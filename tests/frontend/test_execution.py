"""The frontend's lowerings compute the right values: kernels run through the CPU backend and
are compared with NumPy references (float64), on fresh random inputs and poisoned outputs.

These check the frontend's own constructions (flip, gather, argmax ties, negative-step
loops, early returns, float atomics, C-style division, block pointers); the kernel suites
in tests/kernels cover whole programs.
"""

from __future__ import annotations

import numpy as np
import pytest

import tritium.language as tl
from tests.frontend.helpers import jit
from tests.frontend.helpers import run_cpu as run

pytest.importorskip("tritium.backends.cpu")


@jit
def flip_gather_kernel(p, q, o1, o2):
    r = tl.arange(0, 8)[:, None] * 4 + tl.arange(0, 4)[None, :]
    x = tl.load(p + r)
    idx = tl.load(q + r)
    tl.store(o1 + r, tl.flip(x, 0))
    tl.store(o2 + r, tl.gather(x, idx, 0))


def test_flip_and_gather(rng: np.random.Generator) -> None:
    x = rng.standard_normal((8, 4)).astype(np.float32)
    x[0, 0] = -0.0  # selections must keep the exact bits
    idx = rng.integers(0, 8, size=(8, 4)).astype(np.int32)
    o1, o2 = np.full_like(x, np.nan), np.full_like(x, np.nan)
    run(
        flip_gather_kernel,
        {"p": "*fp32", "q": "*i32", "o1": "*fp32", "o2": "*fp32"},
        {},
        (1, 1, 1),
        [x, idx, o1, o2],
    )
    assert np.array_equal(o1.view(np.int32), x[::-1].view(np.int32))
    assert np.array_equal(o2.view(np.int32), np.take_along_axis(x, idx, 0).view(np.int32))


@jit
def loops_kernel(p, n):
    acc = 0
    for i in range(n, 0, -3):
        acc = acc * 10 + i
    tl.store(p, acc)
    k = 0
    s = 0.0
    while k < n:
        s += k * 0.5
        k += 2
    tl.store(p + 1, s.to(tl.int32))


def test_negative_step_for_and_while(rng: np.random.Generator) -> None:
    n = int(rng.integers(4, 12))
    out = np.full(2, -12345, np.int32)
    run(loops_kernel, {"p": "*i32", "n": "i32"}, {}, (1, 1, 1), [out, n])
    acc = 0
    for i in range(n, 0, -3):
        acc = acc * 10 + i
    assert out.tolist() == [acc, int(sum(k * 0.5 for k in range(0, n, 2)))]


@jit
def arg_kernel(p, o):
    r = tl.arange(0, 16)
    x = tl.load(p + r)
    tl.store(o, tl.argmax(x, 0))
    tl.store(o + 1, tl.argmin(x, 0))
    v, i = tl.max(x, 0, return_indices=True)
    tl.store(o + 2, i)


def test_argmax_argmin_pick_the_first_of_ties(rng: np.random.Generator) -> None:
    x = rng.integers(0, 4, size=16).astype(np.float32)  # many ties
    out = np.full(3, -1, np.int32)
    run(arg_kernel, {"p": "*fp32", "o": "*i32"}, {}, (1, 1, 1), [x, out])
    assert out.tolist() == [np.argmax(x), np.argmin(x), np.argmax(x)]


@jit
def early_return_kernel(p, n):
    pid = tl.program_id(0)
    if pid >= n:
        return
    if pid % 2 == 0:
        tl.store(p + pid, pid * 10)
        return
    tl.store(p + pid, -pid)


def test_early_returns() -> None:
    out = np.full(8, 99, np.int32)
    run(early_return_kernel, {"p": "*i32", "n": "i32"}, {}, (8, 1, 1), [out, 6])
    assert out.tolist() == [0, -1, 20, -3, 40, -5, 99, 99]


@jit
def float_atomics_kernel(p, v):
    r = tl.arange(0, 8)
    x = tl.load(v + r)
    tl.atomic_max(p + r % 2, x)
    tl.atomic_min(p + 2 + r % 2, x)


def test_float_atomic_max_min(rng: np.random.Generator) -> None:
    vals = rng.standard_normal(8).astype(np.float32)
    out = np.array([-np.inf, -np.inf, np.inf, np.inf], np.float32)
    run(float_atomics_kernel, {"p": "*fp32", "v": "*fp32"}, {}, (1, 1, 1), [out, vals])
    ref = [vals[0::2].max(), vals[1::2].max(), vals[0::2].min(), vals[1::2].min()]
    assert out.tolist() == ref


@jit
def division_kernel(p, a, b):
    tl.store(p, a // b)
    tl.store(p + 1, a % b)
    tl.store(p + 2, (a / b * 1000.0).to(tl.int32))


@pytest.mark.parametrize("a, b", [(-7, 2), (7, -2), (-9, -4), (9, 4)])
def test_integer_division_truncates_like_c(a: int, b: int) -> None:
    out = np.full(3, -12345, np.int32)
    run(division_kernel, {"p": "*i32", "a": "i32", "b": "i32"}, {}, (1, 1, 1), [out, a, b])
    q = int(a / b)  # toward zero
    assert out.tolist() == [q, a - q * b, int(a / b * 1000.0)]


@jit
def block_ptr_sum_kernel(a_ptr, o_ptr, M, K, sm, sk, BM: tl.constexpr, BK: tl.constexpr):
    bp = tl.make_block_ptr(a_ptr, (M, K), (sm, sk), (tl.program_id(0) * BM, 0), (BM, BK), (1, 0))
    acc = tl.zeros((BM, BK), dtype=tl.float32)
    for _ in range(0, K, BK):
        acc += tl.load(bp, boundary_check=(0, 1), padding_option="zero")
        bp = tl.advance(bp, (0, BK))
    out = tl.make_block_ptr(o_ptr, (M,), (1,), (tl.program_id(0) * BM,), (BM,), (0,))
    tl.store(out, tl.sum(acc, axis=1), boundary_check=(0,))


def test_block_pointer_loads_respect_bounds(rng: np.random.Generator) -> None:
    m, k = 13, 21
    a = rng.standard_normal((m, k)).astype(np.float32)
    out = np.full(m, np.nan, np.float32)
    run(
        block_ptr_sum_kernel,
        {"a_ptr": "*fp32", "o_ptr": "*fp32", "M": "i32", "K": "i32", "sm": "i32", "sk": "i32"},
        {"BM": 8, "BK": 8},
        (2, 1, 1),
        [a, out, m, k, k, 1],
    )
    np.testing.assert_allclose(out, a.astype(np.float64).sum(1), rtol=1e-5, atol=1e-5)


@jit
def sort_kernel(p, o, o2, DESCENDING: tl.constexpr):
    r = tl.arange(0, 4)[:, None] * 16 + tl.arange(0, 16)[None, :]
    x = tl.load(p + r)
    tl.store(o + r, tl.sort(x, descending=DESCENDING))
    tl.store(o2 + tl.arange(0, 4)[:, None] * 4 + tl.arange(0, 4)[None, :], tl.topk(x, 4))


@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_topk(rng: np.random.Generator, descending: bool) -> None:
    x = rng.standard_normal((4, 16)).astype(np.float32)
    x[1, :4] = x[1, 4:8]  # duplicates
    out, top = np.full_like(x, np.nan), np.full((4, 4), np.nan, np.float32)
    run(
        sort_kernel,
        {"p": "*fp32", "o": "*fp32", "o2": "*fp32"},
        {"DESCENDING": descending},
        (1, 1, 1),
        [x, out, top],
    )
    ref = np.sort(x, axis=1)
    assert np.array_equal(out, ref[:, ::-1] if descending else ref)
    assert np.array_equal(top, ref[:, ::-1][:, :4])


@jit
def math_extras_kernel(p, q, o):
    r = tl.arange(0, 8)
    x = tl.load(p + r)
    y = tl.load(q + r)
    tl.store(o + r, tl.math.copysign(x, y))
    tl.store(o + 8 + r, tl.math.signbit(y).to(tl.float32))
    tl.store(o + 16 + r, tl.math.fdim(x, y))
    tl.store(o + 24 + r, tl.math.isnan(y).to(tl.float32) + 2.0 * tl.math.isinf(y))
    tl.store(o + 32 + r, tl.math.trunc(x))


def test_math_extras_are_exact(rng: np.random.Generator) -> None:
    x = (rng.standard_normal(8) * 3).astype(np.float32)
    y = rng.standard_normal(8).astype(np.float32)
    y[:3] = [-0.0, np.nan, -np.inf]
    out = np.full(40, -1234.0, np.float32)
    run(math_extras_kernel, {"p": "*fp32", "q": "*fp32", "o": "*fp32"}, {}, (1, 1, 1), [x, y, out])
    assert np.array_equal(out[:8].view(np.int32), np.copysign(x, y).view(np.int32))
    assert out[8:16].tolist() == np.signbit(y).astype(np.float32).tolist()
    fdim = np.where(np.isnan(y), np.nan, np.maximum(x - y, 0)).astype(np.float32)
    np.testing.assert_array_equal(out[16:24], fdim)
    assert out[24:32].tolist() == (np.isnan(y) + 2.0 * np.isinf(y)).tolist()
    assert out[32:40].tolist() == np.trunc(x).tolist()


@jit
def descriptor_kernel(a_ptr, o_ptr, M, K, BM: tl.constexpr, BK: tl.constexpr):
    desc = tl.make_tensor_descriptor(a_ptr, shape=[M, K], strides=[K, 1], block_shape=[BM, BK])
    out = tl.make_tensor_descriptor(o_ptr, shape=[M, K], strides=[K, 1], block_shape=[BM, BK])
    pid = tl.program_id(0)
    for k in range(0, K, BK):
        out.store([pid * BM, k], desc.load([pid * BM, k]) * 2.0)


def test_tensor_descriptors_load_and_store_in_bounds_only(rng: np.random.Generator) -> None:
    m, k = 13, 21
    a = rng.standard_normal((m, k)).astype(np.float32)
    out = np.full_like(a, np.nan)
    run(
        descriptor_kernel,
        {"a_ptr": "*fp32", "o_ptr": "*fp32", "M": "i32", "K": "i32"},
        {"BM": 8, "BK": 8},
        (2, 1, 1),
        [a, out, m, k],
    )
    np.testing.assert_array_equal(out, a.astype(np.float64) * 2)


@jit
def exp10_kernel(p, o, q, o2):
    r = tl.arange(0, 64)
    tl.store(o + r, tl.math.exp10(tl.load(p + r)))
    tl.store(o + 64 + r, tl.math.log10(tl.abs(tl.load(p + r))))
    tl.store(o2 + r, tl.math.exp10(tl.load(q + r)))


def test_exp10_and_log10_are_accurate(rng: np.random.Generator) -> None:
    x = (rng.random(64) * 60 - 30).astype(np.float32)
    x[0] = 23.779182  # where exp2(x * log2(10)) in fp32 is 58 ulp off
    xd = rng.random(64) * 600 - 300
    out, out64 = np.full(128, np.nan, np.float32), np.full(64, np.nan)
    run(
        exp10_kernel,
        {"p": "*fp32", "o": "*fp32", "q": "*fp64", "o2": "*fp64"},
        {},
        (1, 1, 1),
        [x, out, xd, out64],
    )
    ref = np.power(10.0, x.astype(np.float64)).astype(np.float32)
    assert np.abs(out[:64].view(np.int32) - ref.view(np.int32)).max() <= 1
    ref_log = np.log10(np.abs(x).astype(np.float64)).astype(np.float32)
    assert np.abs(out[64:].view(np.int32) - ref_log.view(np.int32)).max() <= 1
    np.testing.assert_allclose(out64, np.power(10.0, xd), rtol=4e-16)


@jit
def host_descriptor_kernel(din, dout, BM: tl.constexpr, BK: tl.constexpr):
    m, k = tl.program_id(0) * BM, tl.program_id(1) * BK
    dout.store([m, k], din.load([m, k]) * 3.0)


def test_tensor_descriptor_parameters(rng: np.random.Generator) -> None:
    m, k = 12, 24
    x = rng.standard_normal((m, k)).astype(np.float32)
    y = np.full_like(x, np.nan)
    sig = {"din": "tensordesc<fp32[8, 16]>", "dout": "tensordesc<fp32[8,16], zero>"}
    # each descriptor is passed as base, sizes (int32), strides (int64)
    run(host_descriptor_kernel, sig, {"BM": 8, "BK": 16}, (2, 2, 1), [x, m, k, k, 1, y, m, k, k, 1])
    np.testing.assert_array_equal(y, x * np.float32(3.0))  # one fp32 rounding, as compiled


@jit
def _scalar_select(x, y):
    if x > y:
        return x - y
    d = y * 2
    if d > 1.0:
        d = d + 1.0
    return d


@jit
def map_if_kernel(X, Y, OUT):
    r = tl.arange(0, 16)
    tl.store(OUT + r, tl.map_elementwise(_scalar_select, tl.load(X + r), tl.load(Y + r)))


def test_map_elementwise_selects_per_element(rng: np.random.Generator) -> None:
    x = rng.standard_normal(16).astype(np.float32)
    y = rng.standard_normal(16).astype(np.float32)
    out = np.full(16, np.nan, np.float32)
    run(map_if_kernel, {"X": "*fp32", "Y": "*fp32", "OUT": "*fp32"}, {}, (1, 1, 1), [x, y, out])
    d = y * np.float32(2)
    ref = np.where(x > y, x - y, np.where(d > 1, d + np.float32(1), d))
    np.testing.assert_array_equal(out, ref)


@jit
def non_pow2_kernel(p, q, o, B: tl.constexpr):
    r = tl.arange(0, 3)[:, None] * B + tl.arange(0, B)[None, :]
    x = tl.load(p + r)
    tl.store(o + r, tl.sort(x, descending=True))
    tl.store(o + 3 * B + r, tl.flip(x, 1))
    tl.store(o + 6 * B + tl.arange(0, 3), tl.argmin(x, 1).to(tl.float32))
    i = tl.load(q + tl.arange(0, B))
    tl.store(o + 6 * B + 3 + tl.arange(0, B), tl.histogram(i, B).to(tl.float32))


def test_non_power_of_two_tiles(rng: np.random.Generator) -> None:
    b = 12
    x = rng.standard_normal((3, b)).astype(np.float32)
    idx = rng.integers(0, b, b).astype(np.int32)
    out = np.full(7 * b + 3, np.nan, np.float32)
    run(
        non_pow2_kernel,
        {"p": "*fp32", "q": "*i32", "o": "*fp32"},
        {"B": b},
        (1, 1, 1),
        [x, idx, out],
    )
    assert np.array_equal(out[: 3 * b].reshape(3, b), np.sort(x, 1)[:, ::-1])
    assert np.array_equal(out[3 * b : 6 * b].reshape(3, b), x[:, ::-1])
    assert out[6 * b : 6 * b + 3].tolist() == np.argmin(x, 1).tolist()
    assert out[6 * b + 3 :].tolist() == np.bincount(idx, minlength=b).tolist()


@jit
def tuple_args_kernel(OUT, T, pair, N: tl.constexpr):
    a, b = T
    r = tl.arange(0, N)
    tl.store(OUT + r, tl.load(a + r) + tl.load(b + r) + pair[0] * 10 + pair[1])


def test_tuple_parameters(rng: np.random.Generator) -> None:
    x = rng.standard_normal(16).astype(np.float32)
    y = rng.standard_normal(16).astype(np.float32)
    out = np.full(16, np.nan, np.float32)
    sig = {"OUT": "*fp32", "T": ("*fp32", "*fp32"), "pair": ("i32", "constexpr")}
    # run-time tuple elements are passed flattened; constexpr ones come from constexprs
    run(tuple_args_kernel, sig, {"N": 16, "pair": (None, 7)}, (1, 1, 1), [out, x, y, 4])
    np.testing.assert_array_equal(out, (x + y) + np.float32(47))


@jit
def _first_max(v1, i1, v2, i2):
    if v1 > v2:
        return v1, i1
    if v1 == v2:
        return v1, tl.minimum(i1, i2)
    return v2, i2


@jit
def branchy_combine_kernel(p, o):
    r = tl.arange(0, 16)
    v, i = tl.reduce((tl.load(p + r), r), 0, _first_max)
    tl.store(o, v)
    tl.store(o + 1, i.to(tl.float32))


def test_combine_functions_with_branches_become_selects(rng: np.random.Generator) -> None:
    x = rng.integers(0, 5, 16).astype(np.float32)  # ties
    out = np.full(2, np.nan, np.float32)
    run(branchy_combine_kernel, {"p": "*fp32", "o": "*fp32"}, {}, (1, 1, 1), [x, out])
    assert out.tolist() == [x.max(), np.argmax(x)]
