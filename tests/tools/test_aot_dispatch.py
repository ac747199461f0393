"""``<name>_any``, the AOT dispatcher by dtype and size: a C program calls one entry point with
fp32 or fp64 buffers of several sizes and alignments, and the library picks the variant (its
block size too, through ``grid``). Checked: the variant chosen, and the results against NumPy
in float64."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zlib

import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium.tools import aot

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")

SPECS = [
    "*fp32:16, *fp32:16, *fp32:16, i32, fp32, 1024 if n >= 65536",  # big and aligned
    "*fp32, *fp32, *fp32, i32, fp32, 256",
    "*fp64, *fp64, *fp64, i32, fp64, 256",
    "*fp32, *fp32, *fp32, i64, fp32, 256",  # n past 2**31 - 1
]


@tritium.jit
def _axpy(x_ptr, y_ptr, out_ptr, n, a, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    tl.store(out_ptr + offs, a * x + tl.load(y_ptr + offs, mask=m), mask=m)


_MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "axpy.h"
/* argv: f|d (fp32/fp64), n, element offset (0: 64-byte aligned), a, x+y file, out file,
 * [y dtype code]; prints the variant the dispatcher picks, then runs it */
int main(int argc, char **argv) {
  int f64 = argv[1][0] == 'd';
  long long n = atoll(argv[2]);
  int offset = atoi(argv[3]);
  double a = atof(argv[4]);
  size_t es = f64 ? 8 : 4, cap = (size_t)n + 64;
  int32_t code = f64 ? TRITIUM_AOT_DTYPE_FP64 : TRITIUM_AOT_DTYPE_FP32;
  int32_t ycode = argc > 7 ? atoi(argv[7]) : code;
  char *x = aligned_alloc(64, cap * es), *y = aligned_alloc(64, cap * es);
  char *o = aligned_alloc(64, cap * es);
  FILE *f = fopen(argv[5], "rb");
  if (fread(x + offset * es, es, n, f) != (size_t)n) return 3;
  if (fread(y + offset * es, es, n, f) != (size_t)n) return 3;
  fclose(f);
  memset(o, 0xff, cap * es); /* NaN in both widths */
  char *xo = x + offset * es, *yo = y + offset * es, *oo = o + offset * es;
  int32_t pick = axpy_select(xo, code, yo, ycode, oo, code, n, a);
  printf("%s\n", pick < 0 ? "none" : axpy_variant_name(pick));
  int32_t err[4] = {0};
  int rc = axpy_any(xo, code, yo, ycode, oo, code, n, a, 2, err);
  f = fopen(argv[6], "wb");
  fwrite(oo, es, (size_t)n + 16, f);
  fclose(f);
  return rc == TRITIUM_AOT_NO_VARIANT ? 7 : rc;
}
"""


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """Fresh inputs per run; TRITIUM_TEST_SEED (in the report header) replays them."""
    test_id = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng([int(os.environ.get("TRITIUM_TEST_SEED", "0")), test_id])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[aot.Library, str]:
    out = str(tmp_path_factory.mktemp("aot-dispatch"))
    lib = aot.build_library(_axpy, SPECS, out, name="axpy", grid="cdiv(n, BLOCK)")
    assert lib.any_dispatcher == "axpy_any"
    src = os.path.join(out, "main.c")
    with open(src, "w") as f:
        f.write(_MAIN)
    exe = os.path.join(out, "main")
    cmd = ["cc", "-O1", "-Wall", "-Werror", "-I", out, src, "-L", out, "-laxpy"]
    subprocess.run([*cmd, f"-Wl,-rpath,{out}", "-o", exe], check=True)
    return lib, exe


@pytest.mark.parametrize(
    "dtype,n,offset,expect",
    [
        ("f", 100_000, 0, 0),  # fp32, aligned, n >= 65536: the 1024-block variant
        ("f", 100_000, 1, 1),  # unaligned: the hint fails
        ("f", 5_000, 0, 1),  # small: the condition fails
        ("d", 70_001, 0, 2),  # fp64
    ],
)
def test_dispatch_by_dtype_size_and_alignment(built, tmp_path, rng, dtype, n, offset, expect):
    lib, exe = built
    np_dtype = np.float64 if dtype == "d" else np.float32
    x = rng.standard_normal(n).astype(np_dtype)
    y = rng.standard_normal(n).astype(np_dtype)
    a = 0.7431
    np.concatenate([x, y]).tofile(tmp_path / "in.bin")
    args = [exe, dtype, n, offset, a, tmp_path / "in.bin", tmp_path / "out.bin"]
    proc = subprocess.run([str(v) for v in args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [lib.variants[expect].symbol]
    out = np.fromfile(tmp_path / "out.bin", np_dtype)
    a_typed = np_dtype(a)  # the fp32 variants take a as float
    ref = a_typed.astype(np.float64) * x.astype(np.float64) + y
    tol = 1e-6 if dtype == "f" else 1e-14
    np.testing.assert_allclose(out[:n], ref, rtol=tol, atol=tol)
    assert np.isnan(out[n:]).all()  # nothing written past n


def test_mismatched_dtypes_pick_nothing(built, tmp_path, rng) -> None:
    _, exe = built
    n = 1000
    rng.standard_normal(2 * n).astype(np.float32).tofile(tmp_path / "in.bin")
    fp64 = "13"  # y claims to be fp64 while x and out are fp32: no variant takes that
    args = [exe, "f", n, 0, 1.0, tmp_path / "in.bin", tmp_path / "out.bin", fp64]
    proc = subprocess.run([str(v) for v in args], capture_output=True, text=True)
    assert proc.returncode == 7 and proc.stdout.split() == ["none"]
    assert np.isnan(np.fromfile(tmp_path / "out.bin", np.float32)).all()


def test_selection_order_prefers_narrow_integers() -> None:
    """Past 2**31 - 1 elements only the i64 variant fits (checked in C, no run: 8 GiB)."""
    from tritium.tools.aot_dispatch import any_dispatcher

    variants = [aot.parse_specialization(_axpy, s) for s in SPECS]
    for i, v in enumerate(variants):
        v.symbol = f"v{i}"
    _, src = any_dispatcher("axpy", list(_axpy.arg_names), variants, "cdiv(n, BLOCK)")
    select_body = src.split("axpy_select(", 1)[1].split("return -1;", 1)[0]
    order = re.findall(r"\) return (\d+);", select_body)
    assert order == ["0", "1", "2", "3"]  # condition first, then hints, i32 before i64
    assert "(n >= INT32_MIN && n <= INT32_MAX)" in src
    assert "tritium_aot_cdiv(n, INT64_C(1024))" in src
    assert "tritium_aot_cdiv(n, INT64_C(256))" in src


def test_bad_conditions_and_grids_are_named() -> None:
    with pytest.raises(ValueError, match="'a' is not an integer run-time parameter"):
        aot.parse_specialization(_axpy, "*fp32, *fp32, *fp32, i32, fp32, 256 if a > 1")
    with pytest.raises(ValueError, match="expected 'param OP integer'"):
        aot.parse_specialization(_axpy, "*fp32, *fp32, *fp32, i32, fp32, 256 if n >> 3")
    with pytest.raises(ValueError, match="grid 'n / BLOCK'"):
        aot.build_library(_axpy, SPECS[:2], ".", grid="n / BLOCK")
    with pytest.raises(ValueError, match="'m' is no integer parameter"):
        aot.build_library(_axpy, SPECS[:2], ".", grid="cdiv(m, BLOCK)")
