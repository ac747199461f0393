"""Unmodified Triton code (``import triton``) runs after ``tritium.install_as_triton()``."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

import tritium
from tritium._triton_alias import uninstall_triton_alias

TRITON_CODE = """
import triton
import triton.language as tl


@triton.jit
def scale_kernel(x_ptr, out_ptr, n_elements, alpha, BLOCK_SIZE: tl.constexpr):
    pid = tl.program_id(axis=0)
    offsets = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask)
    tl.store(out_ptr + offsets, x * alpha, mask=mask)


def scale(x, out, alpha):
    grid = lambda meta: (triton.cdiv(x.size, meta["BLOCK_SIZE"]),)
    scale_kernel[grid](x, out, x.size, alpha, BLOCK_SIZE=256)
    return out
"""


@pytest.fixture
def triton_module(tmp_path, monkeypatch):
    """A module written against ``triton``, imported after install_as_triton()."""
    for name in [n for n in sys.modules if n == "triton" or n.startswith("triton.")]:
        monkeypatch.delitem(sys.modules, name)
    tritium.install_as_triton()
    path = tmp_path / "uses_triton.py"
    path.write_text(TRITON_CODE)
    spec = importlib.util.spec_from_file_location("uses_triton", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    yield mod
    uninstall_triton_alias()


def test_unmodified_triton_code(mode, rng, triton_module) -> None:
    x = rng.standard_normal(1000).astype(np.float32)
    out = np.full_like(x, np.nan)
    triton_module.scale(x, out, 2.5)
    np.testing.assert_allclose(out, x.astype(np.float64) * 2.5, rtol=1e-6)
