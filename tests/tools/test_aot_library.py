"""Ahead-of-time libraries (tritium.tools.aot): built here, linked by the C compiler, called from
a C program that knows nothing of Python, and checked against NumPy in float64."""

from __future__ import annotations

import os
import shutil
import subprocess
import zlib

import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium.backends.cpu.target import host_target
from tritium.tools import aot

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")


@tritium.jit
def _softmax_rows(x_ptr, out_ptr, n_cols, stride, scale, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    m = offs < n_cols
    x = tl.load(x_ptr + row * stride + offs, mask=m, other=-float("inf")) * scale
    e = tl.exp(x - tl.max(x, axis=0))
    tl.store(out_ptr + row * stride + offs, e / tl.sum(e, axis=0), mask=m)


_MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include "softmax.h"
int main(int argc, char **argv) {
  int rows = atoi(argv[1]), cols = atoi(argv[2]), stride = atoi(argv[3]), offset = atoi(argv[4]);
  float scale = (float)atof(argv[5]);
  size_t n = (size_t)rows * stride + 16;
  float *x = aligned_alloc(64, n * sizeof(float) + 64);
  float *out = aligned_alloc(64, n * sizeof(float) + 64);
  FILE *f = fopen(argv[6], "rb");
  if (fread(x + offset, sizeof(float), (size_t)rows * stride, f) != (size_t)rows * stride) return 3;
  fclose(f);
  for (size_t i = 0; i < n; i++) out[i] = 0.0f / 0.0f;  /* poison */
  int32_t err[4] = {0};
  int rc = softmax(x + offset, out + offset, cols, stride, scale, rows, 1, 1, 2, err);
  f = fopen(argv[7], "wb");
  fwrite(out + offset, sizeof(float), (size_t)rows * stride, f);
  fclose(f);
  return rc;
}
"""


def _levels() -> list[str]:
    if host_target().triple.startswith("x86_64"):
        return ["x86-64-v2", "x86-64-v3"]  # runtime dispatch between two builds
    return ["host"]


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """Fresh inputs per run; TRITIUM_TEST_SEED (in the report header) replays them."""
    test_id = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng([int(os.environ.get("TRITIUM_TEST_SEED", "0")), test_id])


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = str(tmp_path_factory.mktemp("aot"))
    lib = aot.build_library(
        _softmax_rows,
        ["*fp32, *fp32, i32, i32, fp32, 128", "*fp32:16, *fp32:16, i32, i32:16, fp32, 128"],
        out,
        name="softmax",
        levels=_levels(),
    )
    assert os.path.exists(lib.library) and list(lib.dispatchers) == ["softmax"]
    src = os.path.join(out, "main.c")
    with open(src, "w") as f:
        f.write(_MAIN)
    exe = os.path.join(out, "main")
    subprocess.run(
        ["cc", "-O1", "-I", out, src, "-L", out, "-lsoftmax", f"-Wl,-rpath,{out}", "-o", exe],
        check=True,
    )
    return exe


@pytest.mark.parametrize("stride,offset", [(128, 0), (131, 1)])  # aligned, and not: both variants
def test_c_program_runs_the_library(program, tmp_path, rng, stride, offset) -> None:
    rows, cols, scale = 37, 100, 0.75
    x = rng.standard_normal((rows, stride)).astype(np.float32) * 4
    x.tofile(tmp_path / "x.bin")
    args = [program, rows, cols, stride, offset, scale, tmp_path / "x.bin", tmp_path / "o.bin"]
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = np.fromfile(tmp_path / "o.bin", np.float32).reshape(rows, stride)
    z = x[:, :cols].astype(np.float64) * np.float32(scale)
    ref = np.exp(z - z.max(axis=1, keepdims=True))
    ref /= ref.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out[:, :cols], ref, rtol=2e-6, atol=1e-7)
    assert np.isnan(out[:, cols:]).all()  # columns past n_cols untouched


def test_bad_specializations_are_named() -> None:
    with pytest.raises(ValueError, match="6 parameters"):
        aot.parse_specialization(_softmax_rows, "*fp32, i32")
    with pytest.raises(ValueError, match="BLOCK.*constexpr"):
        aot.parse_specialization(_softmax_rows, "*fp32, *fp32, i32, i32, fp32, i32")
    with pytest.raises(ValueError, match="only the hint ':16'"):
        aot.parse_specialization(_softmax_rows, "*fp32:8, *fp32, i32, i32, fp32, 128")
    with pytest.raises(ValueError, match="unknown CPU level"):
        aot.build_library(_softmax_rows, ["*fp32, *fp32, i32, i32, fp32, 128"], ".", levels=["v9"])
