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
