"""Smallest reproductions of what real Triton code (Triton's tutorials 01-11, vLLM's Triton
kernels; see ``tools/run_libraries.py`` and ``docs/libraries.md``) needed from tritium.

Each test is the pattern the library uses, cut down to a few lines; run compiled and
interpreted (the ``mode`` fixture).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import tritium
import tritium.language as tl


@tritium.jit
def _pdl_add(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr, USE_GDC: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    if USE_GDC:
        tl.extra.cuda.gdc_wait()
    x = tl.load(x_ptr + offs, mask=mask)
    y = tl.load(y_ptr + offs, mask=mask)
    if USE_GDC:
        tl.extra.cuda.gdc_launch_dependents()
    tl.store(out_ptr + offs, x + y, mask=mask)


def test_tl_extra_cuda_is_an_attribute_without_import() -> None:
    """Tutorial 11 writes ``tl.extra.cuda.gdc_wait()`` with no import of the submodule; a
    fresh process shows whether ``tl.extra`` provides it (in this one, anything may have
    imported it already)."""
    code = "import tritium.language as tl; tl.extra.cuda.gdc_wait; tl.extra.cuda.libdevice"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_programmatic_dependent_launch(mode: str, rng: np.random.Generator) -> None:
    """Tutorial 11: ``gdc_wait``/``gdc_launch_dependents`` in the kernel, ``launch_pdl=True``
    at the launch; both are ordering hints, so the result is a plain add."""
    n = 1000
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    for pdl in (False, True):
        out = np.full(n, np.nan, dtype=np.float32)
        _pdl_add[(tritium.cdiv(n, 256),)](x, y, out, n, BLOCK=256, USE_GDC=pdl, launch_pdl=pdl)
        np.testing.assert_allclose(out, x.astype(np.float64) + y, rtol=1e-6)


@tritium.jit
def _row_scale(out_ptr, in_ptr, n_rows, n_cols, scale, BLOCK: tl.constexpr):
    # A persistent loop over rows, as tutorial 02's softmax sizes it from warmup's metadata.
    for row in tl.range(tl.program_id(0), n_rows, tl.num_programs(0)):
        offs = tl.arange(0, BLOCK)
        v = tl.load(in_ptr + row * n_cols + offs, mask=offs < n_cols)
        tl.store(out_ptr + row * n_cols + offs, v * scale, mask=offs < n_cols)


def test_warmup_returns_a_launchable_kernel(mode: str, rng: np.random.Generator) -> None:
    """Tutorial 02: ``k = f.warmup(..., grid=(1,))``, ``k._init_handles()``, reads
    ``k.n_regs`` and ``k.metadata.shared`` (it divides by them), then ``k[grid](*all_args)``.
    Interpreted, warmup returned None."""
    rows, cols = 37, 50
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    out = np.full_like(x, np.nan)
    k = _row_scale.warmup(out, x, rows, cols, 1.5, BLOCK=64, grid=(1,))
    k._init_handles()
    assert k.n_regs > 0 and k.metadata.shared > 0
    k[(4, 1, 1)](out, x, rows, cols, 1.5, 64)
    np.testing.assert_allclose(out, x.astype(np.float64) * 1.5, rtol=1e-6)
    out[:] = np.nan
    k[(3,)](out, x, rows, cols, -2.0)  # runtime arguments only
    np.testing.assert_allclose(out, x.astype(np.float64) * -2.0, rtol=1e-6)
