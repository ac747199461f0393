"""``reduction_ordering=tl.ReductionOrdering.INNER_TREE`` (Triton's): the reduced axis is
combined as a balanced tree of neighbours, ``((x0+x1)+(x2+x3))+...``, so float sums and
products have the same bits in both engines (Triton's tests compare them with GPU-made
references bit for bit)."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

from ._helpers import Buffers, poisoned

M, N = 8, 256


def _tree(x: np.ndarray, f) -> np.ndarray:
    """Neighbour-first pairwise tree along the last axis, in the array's own precision."""
    while x.shape[-1] > 1:
        x = f(x[..., 0::2], x[..., 1::2])
    return x[..., 0]


@triton.jit
def _mul(a, b):
    return a * b


@triton.jit
def _ordered(X, S1, S0, P, A, K, M: tl.constexpr, N: tl.constexpr, ORDER: tl.constexpr):
    offs = tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :]
    x = tl.load(X + offs)
    tl.store(S1 + tl.arange(0, M), tl.sum(x, axis=1, reduction_ordering=ORDER))
    tl.store(S0 + tl.arange(0, N), x.sum(0, reduction_ordering=ORDER))
    p = tl.reduce(x, 1, _mul, reduction_ordering=ORDER)
    tl.store(P + tl.arange(0, M), p)
    tl.store(A + tl.arange(0, M), tl.argmin(x, axis=1, reduction_ordering=ORDER))
    k = tl.sum(x, axis=1, keep_dims=True, reduction_ordering=ORDER)
    tl.store(K + tl.arange(0, M)[:, None], k)
    # a 1-D tile reduced to a scalar, and everything at once (axis=None)
    row = tl.load(X + tl.arange(0, N))
    tl.store(S1 + M, tl.sum(row, axis=0, reduction_ordering=ORDER))
    tl.store(S1 + M + 1, tl.sum(x, reduction_ordering=ORDER))


def test_inner_tree_sum_and_reduce_are_bitwise_the_neighbour_tree(backend: str) -> None:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((M, N)).astype(np.float32)
    xm = (1.0 + 0.01 * rng.standard_normal((M, N))).astype(np.float32)
    outs = [poisoned(M + 2, "float32"), poisoned(N, "float32"), poisoned(M, "float32")]
    outs += [poisoned(M, "int32"), poisoned((M, 1), "float32")]
    buf = Buffers(backend)
    order = tl.ReductionOrdering.INNER_TREE
    _ordered[(1,)](
        buf(x),
        *(buf(o) for o in outs[:2]),
        buf(outs[2]),
        *(buf(o) for o in outs[3:]),
        M=M,
        N=N,
        ORDER=order,
    )
    s1, s0, _, a, k = outs
    pm = poisoned(M, "float32")
    tmp = [poisoned(M + 2, "float32"), poisoned(N, "float32"), pm, poisoned(M, "int32")]
    _ordered[(1,)](
        buf(xm), *(buf(o) for o in tmp), buf(poisoned((M, 1), "float32")), M=M, N=N, ORDER=order
    )
    buf.sync()
    np.testing.assert_array_equal(s1[:M].view(np.int32), _tree(x, np.add).view(np.int32))
    np.testing.assert_array_equal(
        s1[M:].view(np.int32),
        [_tree(x[0], np.add).view(np.int32), _tree(x.reshape(-1), np.add).view(np.int32)],
    )
    np.testing.assert_array_equal(s0.view(np.int32), _tree(x.T.copy(), np.add).view(np.int32))
    np.testing.assert_array_equal(pm.view(np.int32), _tree(xm, np.multiply).view(np.int32))
    np.testing.assert_array_equal(a, np.argmin(x, axis=1))
    np.testing.assert_array_equal(k[:, 0].view(np.int32), s1[:M].view(np.int32))


@triton.jit
def _bad(X, ORDER: tl.constexpr):
    x = tl.load(X + tl.arange(0, 16))
    tl.store(X, tl.sum(x, axis=0, reduction_ordering=ORDER))


@pytest.mark.parametrize(
    ("order", "match"),
    [
        (tl.CompositeReductionOrdering(tl.ReductionOrdering.INNER_TREE), "not yet supported"),
        ("inner_tree", "reduction_ordering must be None or a ReductionOrdering"),
    ],
)
def test_bad_reduction_ordering_is_a_type_error(backend: str, order, match: str) -> None:
    x = np.ones(16, np.float32)
    with pytest.raises(Exception, match=match) as info:
        _bad[(1,)](Buffers(backend)(x), ORDER=order)
    err = info.value
    while err is not None and not isinstance(err, TypeError):
        err = err.__cause__
    assert isinstance(err, TypeError)


def test_reduction_ordering_values() -> None:
    inner = tl.ReductionOrdering.INNER_TREE
    assert inner == tl.ReductionOrdering("inner_tree") and inner != tl.ReductionOrdering.UNORDERED
    assert repr(inner) == "ReductionOrdering.INNER_TREE"
    assert isinstance(inner, tl.ReductionOrderingBase)
    assert len({inner, tl.ReductionOrdering("inner_tree")}) == 1
