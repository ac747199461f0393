"""``and``/``or``/``not`` between tiles mean logical_and/or/not, compiled and interpreted alike
(the interpreter rewrites them: tritium/interpreter/boolops.py)."""

from __future__ import annotations

import numpy as np

import tritium
import tritium.language as tl

SCALE = 3.0


@tritium.jit
def _mask_kernel(x_ptr, y_ptr, out_ptr, FLAG: tl.constexpr):
    offs = tl.arange(0, 64)
    x = tl.load(x_ptr + offs)
    y = tl.load(y_ptr + offs)
    m = (x > 0) and (y > 0) or not (x > y)
    if FLAG and not False:  # constexpr operands short-circuit as in Python
        m = m or (x > 100.0)
    tl.store(out_ptr + offs, tl.where(m, x * SCALE, y))


def test_tile_and_or_not(mode, rng) -> None:
    x = rng.standard_normal(64).astype(np.float32)
    y = rng.standard_normal(64).astype(np.float32)
    out = np.full(64, np.nan, np.float32)
    _mask_kernel[(1,)](x, y, out, FLAG=True)
    m = ((x > 0) & (y > 0)) | ~(x > y)
    np.testing.assert_array_equal(out, np.where(m, x * SCALE, y))


def test_closure_kernel_keeps_its_cells(mode, rng) -> None:
    offset = np.float32(rng.standard_normal())

    @tritium.jit
    def kernel(x_ptr, out_ptr):
        offs = tl.arange(0, 32)
        x = tl.load(x_ptr + offs)
        keep = not (x < offset) and (x < 10.0)
        tl.store(out_ptr + offs, tl.where(keep, x - offset, 0.0))

    x = rng.standard_normal(32).astype(np.float32)
    out = np.full(32, np.nan, np.float32)
    kernel[(1,)](x, out)
    want = np.where((x >= offset) & (x < 10), x.astype(np.float64) - offset, 0.0)
    np.testing.assert_allclose(out, want, rtol=1e-6)


@tritium.jit
def _nan_aware_max(a, b):
    # the shape of Inductor's triton_helpers.maximum_with_index: `not` on a tile
    a_nan = a != a
    b_nan = b != b
    pick_a = (a > b) | (a_nan & (not b_nan))
    return tl.where(pick_a, a, b)


class _HelperModule:
    """Stands for a module of @jit helpers (``triton_helpers``), reached by attribute."""

    nan_aware_max = _nan_aware_max


helpers = _HelperModule()


@tritium.jit
def _attribute_call_kernel(x_ptr, y_ptr, out_ptr):
    offs = tl.arange(0, 64)
    out = helpers.nan_aware_max(tl.load(x_ptr + offs), tl.load(y_ptr + offs))
    tl.store(out_ptr + offs, out)


def test_helper_reached_through_an_attribute(mode, rng) -> None:
    # Inductor's kernels call `triton_helpers.maximum_with_index(...)`: the helper is an
    # attribute, not a global name, and its `not` on a tile must still be logical_not.
    x = rng.standard_normal(64).astype(np.float32)
    y = rng.standard_normal(64).astype(np.float32)
    x[::7] = np.nan
    y[::5] = np.nan
    out = np.full(64, -1.0, np.float32)
    _attribute_call_kernel[(1,)](x, y, out)
    pick_x = (x > y) | (np.isnan(x) & ~np.isnan(y))
    np.testing.assert_array_equal(out, np.where(pick_x, x, y))
