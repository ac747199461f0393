"""Vectorized and sequential execution agree, on random kernels; the engine is complete."""

from __future__ import annotations

import linecache

import numpy as np
import pytest

import tritium.language as tl
from tritium.interpreter import InterpreterEngine, launcher, run_kernel

_BINARY = [
    "{a} + {b}",
    "{a} - {b}",
    "{a} * {b}",
    "{a} // ({b} | 1)",
    "{a} % ({b} | 1)",
    "{a} & {b}",
    "{a} | {b}",
    "{a} ^ {b}",
    "({a} << 3) >> ({b} & 7)",
    "tl.where({a} < {b}, {a}, {b})",
    "tl.maximum({a}, {b})",
    "{a} + pid * 7",
]
_CONTROL = [
    "    if pid % 2 == 0:\n        {v} = {v} + 1\n",
    "    for i in range(pid % 3):\n        {v} = {v} ^ i\n",
    "    if tl.sum({v}, axis=0) > 0:\n        {v} = -{v}\n",
]


def _random_kernel(seed: int):
    """Source of a random integer kernel (elementwise ops, pid-dependent control flow)."""
    r = np.random.default_rng(seed)
    lines = [
        "def kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):",
        "    pid = tl.program_id(0)",
        "    offs = pid * BLOCK + tl.arange(0, BLOCK)",
        "    m = offs < n",
        "    v0 = tl.load(x_ptr + offs, mask=m, other=1)",
        "    v1 = tl.load(y_ptr + offs, mask=m, other=2)",
    ]
    names = ["v0", "v1"]
    for i in range(2, 8):
        a, b = r.choice(names, 2)
        lines.append(f"    v{i} = " + r.choice(_BINARY).format(a=a, b=b))
        names.append(f"v{i}")
        if r.random() < 0.3:
            lines.append(r.choice(_CONTROL).format(v=f"v{i}").rstrip("\n"))
    lines.append(f"    tl.store(out_ptr + offs, {names[-1]}, mask=m)")
    src = "\n".join(lines) + "\n"
    filename = f"<random kernel {seed}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    scope = {"tl": tl}
    exec(compile(src, filename, "exec"), scope)
    return scope["kernel"], src


@pytest.mark.parametrize("seed", range(12))
def test_random_kernels_agree_across_modes(seed):
    fn, src = _random_kernel(seed)
    r = np.random.default_rng(seed + 100)
    n = 200
    x = r.integers(-1000, 1000, n).astype(np.int32)
    y = r.integers(-1000, 1000, n).astype(np.int32)
    outs = []
    for vectorize in (True, False):
        out = np.full(n, 0x5A5A, np.int32)
        run_kernel(
            fn, (7,), dict(x_ptr=x, y_ptr=y, out_ptr=out, n=n, BLOCK=32), vectorize=vectorize
        )
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1], err_msg=src)
    assert (outs[0] != 0x5A5A).any()


def test_engine_implements_the_whole_protocol():
    assert InterpreterEngine.unimplemented() == []


def test_divergence_is_remembered_only_for_ordered_ops(rng):
    fn, _ = _random_kernel(3)
    x = rng.integers(-5, 5, 64).astype(np.int32)
    out = np.zeros(64, np.int32)
    run_kernel(fn, (2,), dict(x_ptr=x, y_ptr=x, out_ptr=out, n=64, BLOCK=32))
    assert launcher.last_mode in ("vectorized", "regrouped")
