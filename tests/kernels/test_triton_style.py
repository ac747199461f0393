"""A test written the way Triton's own test-suite writes them (``triton._internal_testing``,
``to_triton``/``to_numpy``, unsigned data through ``reinterpret``), run against tritium."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

import tritium
from tritium._triton_alias import uninstall_triton_alias

TRITON_STYLE_TEST = """
import numpy as np
import triton
import triton.language as tl
from triton._internal_testing import numpy_random, to_numpy, to_triton


@triton.jit
def binop_kernel(Z, X, Y, SIZE: tl.constexpr):
    off = tl.arange(0, SIZE)
    x = tl.load(X + off)
    y = tl.load(Y + off)
    tl.store(Z + off, x + y)


def run_binop(dtype_x, device="cpu"):
    SIZE = 128
    x = numpy_random(SIZE, dtype_str=dtype_x)
    y = numpy_random(SIZE, dtype_str=dtype_x, rs=np.random.RandomState(18))
    z_ref = x + y  # wraps around for integers, as the kernel does
    x_tri, y_tri = to_triton(x, device=device), to_triton(y, device=device)
    z_tri = to_triton(np.empty(SIZE, dtype=z_ref.dtype), device=device)
    binop_kernel[(1, )](z_tri, x_tri, y_tri, SIZE=SIZE, num_warps=4)
    return to_numpy(z_tri), z_ref
"""


@pytest.fixture
def triton_style(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    for name in [n for n in sys.modules if n == "triton" or n.startswith("triton.")]:
        monkeypatch.delitem(sys.modules, name)
    tritium.install_as_triton()
    path = tmp_path / "triton_style.py"
    path.write_text(TRITON_STYLE_TEST)
    spec = importlib.util.spec_from_file_location("triton_style", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    yield mod
    uninstall_triton_alias()


@pytest.mark.parametrize("dtype", ["int8", "int32", "uint8", "uint32", "float16", "float32"])
def test_triton_style_binop(mode, triton_style, dtype) -> None:
    with np.errstate(over="ignore"):
        z, z_ref = triton_style.run_binop(dtype)
    assert z.dtype == z_ref.dtype
    np.testing.assert_array_equal(z, z_ref)
