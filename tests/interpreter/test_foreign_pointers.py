"""Loads and stores through pointers read from memory (pointer arrays: grouped GEMM, MoE).

The interpreter follows such a pointer into any mapped memory of the process; an unmapped
address is a ``SanitizerError``, never a crash; with the sanitizer on, an address outside
every argument is reported with the kernel's line.
"""

from __future__ import annotations

import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium.errors import SanitizerError
from tritium.interpreter import run_kernel


@tritium.jit
def _grouped_scale(src_ptrs, dst_ptrs, n, BLOCK: tl.constexpr):
    g = tl.program_id(0)
    src = tl.load(src_ptrs + g).to(tl.pointer_type(tl.float32))
    dst = tl.load(dst_ptrs + g).to(tl.pointer_type(tl.float32))
    offs = tl.arange(0, BLOCK)
    tl.store(dst + offs, tl.load(src + offs, mask=offs < n) * 2.0, mask=offs < n)


def _addresses(arrays: list[np.ndarray]) -> np.ndarray:
    return np.array([a.ctypes.data for a in arrays], np.int64)


@pytest.mark.parametrize("mode", ["compiled", "interpreted"])
def test_pointer_array(mode, rng, monkeypatch) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setenv("TRITIUM_INTERPRET", "1" if mode == "interpreted" else "0")
    xs = [rng.standard_normal(16 + 5 * i).astype(np.float32) for i in range(3)]
    outs = [np.full_like(x, np.nan) for x in xs]
    for i in range(3):  # one launch per group size: every group writes all of its output
        _grouped_scale[(1,)](_addresses(xs[i:]), _addresses(outs[i:]), xs[i].size, BLOCK=32)
    for x, out in zip(xs, outs):
        np.testing.assert_array_equal(out, x * 2)


def test_unmapped_address_is_an_error_not_a_crash(rng) -> None:
    out = np.full(16, np.nan, np.float32)
    with pytest.raises(SanitizerError, match="not mapped memory"):
        run_kernel(
            _grouped_scale,
            (1,),
            {
                "src_ptrs": np.array([8], np.int64),
                "dst_ptrs": _addresses([out]),
                "n": 16,
                "BLOCK": 16,
            },
        )
    assert np.isnan(out).all()


def test_sanitizer_reports_memory_outside_the_arguments(rng) -> None:
    x = rng.standard_normal(16).astype(np.float32)
    out = np.full(16, np.nan, np.float32)
    args = {"src_ptrs": _addresses([x]), "dst_ptrs": _addresses([out]), "n": 16, "BLOCK": 16}
    with pytest.raises(
        SanitizerError, match=r"test_foreign_pointers.py:\d+.*not inside the memory"
    ):
        run_kernel(_grouped_scale, (1,), args, sanitize=True)
