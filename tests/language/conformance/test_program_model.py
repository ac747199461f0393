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
