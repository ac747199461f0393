"""Program model (issue 4): program_id/num_programs on three axes, grid callables, launch
options (num_warps, num_stages, num_ctas) accepted at launch and in ``Config``."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

from ._helpers import Buffers, poisoned


@triton.jit
def _ids(OUT):
    x = tl.program_id(0)
    y = tl.program_id(axis=1)
    z = tl.program_id(2)
    nx = tl.num_programs(0)
    ny = tl.num_programs(axis=1)
    nz = tl.num_programs(2)
    lin = (z * ny + y) * nx + x
    tl.store(
        OUT + lin * 6 + tl.arange(0, 8) % 6,
        tl.where(
            tl.arange(0, 8) % 6 == 0,
            x,
            tl.where(
                tl.arange(0, 8) % 6 == 1,
                y,
                tl.where(
                    tl.arange(0, 8) % 6 == 2,
                    z,
                    tl.where(
                        tl.arange(0, 8) % 6 == 3, nx, tl.where(tl.arange(0, 8) % 6 == 4, ny, nz)
                    ),
                ),
            ),
        ),
        mask=tl.arange(0, 8) < 6,
    )


@pytest.mark.covers("tl.program_id", "tl.num_programs")
@pytest.mark.parametrize("grid", [(3, 2, 2), (5, 1, 1), (1, 4, 3)])
def test_program_ids_three_axes(backend: str, grid: tuple[int, int, int]) -> None:
    """Every program of a 3-D grid sees its own ids and the grid's size on each axis."""
    gx, gy, gz = grid
    out = poisoned(gx * gy * gz * 6, "int32")
    buf = Buffers(backend)
    _ids[grid](buf(out))
    buf.sync()
    ref = np.array(
        [[x, y, z, gx, gy, gz] for z in range(gz) for y in range(gy) for x in range(gx)], np.int32
    )
    np.testing.assert_array_equal(out.reshape(-1, 6), ref)


@triton.jit
def _scale(X, Y, n, BLOCK: tl.constexpr):
    r = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(Y + r, tl.load(X + r, mask=r < n) * 2, mask=r < n)


@pytest.mark.covers("num_warps", "num_stages", "num_ctas", "grid")
def test_launch_options(backend: str, rng: np.random.Generator) -> None:
    """num_warps/num_stages/num_ctas are accepted at launch; grids may be callables of meta."""
    n = 100
    x = rng.standard_normal(n).astype(np.float32)
    buf = Buffers(backend)
    for opts in (
        {"num_warps": 8},
        {"num_stages": 3},
        {"num_warps": 1, "num_stages": 1, "num_ctas": 1},
    ):
        y = poisoned(n, "float32")
        grid = lambda meta: (triton.cdiv(n, meta["BLOCK"]),)  # noqa: E731
        _scale[grid](buf(x), buf(y), n, BLOCK=32, **opts)
        buf.sync()
        np.testing.assert_array_equal(y, x * 2)


@triton.autotune(
    configs=[
        triton.Config({"BLOCK": 16}, num_warps=2, num_stages=2),
        triton.Config({"BLOCK": 32}, num_warps=4, num_ctas=1),
    ],
    key=["n"],
)
@triton.jit
def _tuned(X, Y, n, BLOCK: tl.constexpr):
    r = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(Y + r, tl.load(X + r, mask=r < n) + 1, mask=r < n)


@pytest.mark.covers("Config", "autotune")
def test_config_options(backend: str, rng: np.random.Generator) -> None:
    """``triton.Config`` with num_warps/num_stages/num_ctas runs under the autotuner."""
    n = 50
    x = rng.standard_normal(n).astype(np.float32)
    y = poisoned(n, "float32")
    buf = Buffers(backend)
    _tuned[lambda meta: (triton.cdiv(n, meta["BLOCK"]),)](buf(x), buf(y), n)
    buf.sync()
    np.testing.assert_array_equal(y, x + 1)


@triton.jit
def _per_row(X, FLAG, OUT, N: tl.constexpr):
    pid = tl.program_id(0)
    r = tl.arange(0, N)
    x = tl.load(X + pid * N + r)
    flag = tl.load(FLAG + pid)
    if flag > 0:  # a data-dependent branch that differs between programs
        y = tl.cumsum(x, 0)
    else:
        y = tl.sort(x)
    tl.store(OUT + pid * (N + 2) + r, y)
    tl.store(OUT + pid * (N + 2) + N, tl.sum(x, 0))
    tl.store(OUT + pid * (N + 2) + N + 1, tl.argmax(x, 0).to(tl.float32))
    n_iter = flag * 2
    acc = 0.0
    for i in range(n_iter):  # trip count differs between programs
        acc += tl.load(X + pid * N + i % N)
    tl.store(OUT + pid * (N + 2) + N, tl.sum(x, 0) + acc)


@pytest.mark.covers("tl.program_id", "if/elif/else", "for")
def test_programs_diverge(backend: str, rng: np.random.Generator) -> None:
    """Many programs, each with its own data, branch and loop trip count."""
    rows, n = 37, 16
    x = rng.integers(-20, 20, (rows, n)).astype(np.float32)
    flag = rng.integers(-3, 4, rows).astype(np.int32)
    out = poisoned((rows, n + 2), "float32")
    buf = Buffers(backend)
    _per_row[(rows,)](buf(x), buf(flag), buf(out), N=n)
    buf.sync()
    for p in range(rows):
        y = np.cumsum(x[p]) if flag[p] > 0 else np.sort(x[p])
        np.testing.assert_array_equal(out[p, :n], y, err_msg=str(p))
        acc = sum(x[p, i % n] for i in range(max(0, 2 * flag[p])))
        np.testing.assert_array_equal(out[p, n], x[p].sum() + acc, err_msg=str(p))
        assert out[p, n + 1] == np.argmax(x[p])
