"""``tl.device_print``/``print`` in a kernel: compiled, each element is one line in Triton's
exact format (``pid (0, 0, 0) idx (  3) x: 7``, indices padded to the axis' digits, the prefix
shaped as Triton shapes it); interpreted, the values print without an error (Triton's own
interpreter prints its own format too)."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl

from ._helpers import Buffers


@triton.jit
def _print_forms(X, H, N: tl.constexpr):
    x = tl.load(X + tl.arange(0, N))
    print("x:", x)  # Python's print: the prefix gains a space
    tl.device_print("", x, x + 1)  # several operands, an empty prefix
    tl.device_print("h ", tl.load(H + tl.arange(0, 2)), hex=True)
    print("", tl.program_id(0))  # a scalar: an empty index
    print("no arg")
    big = tl.full((2, 16), 1, tl.int64)
    tl.device_print("b", big)


def test_device_print_matches_tritons_format(backend: str, capfd: pytest.CaptureFixture[str]):
    n = 128
    rng = np.random.default_rng(7)
    x = rng.integers(-1000, 1000, n, dtype=np.int32)
    h = np.array([255, 4096], np.int16)
    buf = Buffers(backend)
    _print_forms[(1,)](buf(x), buf(h), N=n)
    cap = capfd.readouterr()
    assert cap.err == ""
    lines = [line for line in cap.out.splitlines() if line]
    if backend == "interpreter":
        assert str(int(x[5])) in cap.out and "no arg" in cap.out
        return
    want = [f"pid (0, 0, 0) idx ({i:3}) x: {int(v)}" for i, v in enumerate(x)]
    want += [f"pid (0, 0, 0) idx ({i:3}): (operand 0) {int(v)}" for i, v in enumerate(x)]
    want += [f"pid (0, 0, 0) idx ({i:3}): (operand 1) {int(v) + 1}" for i, v in enumerate(x)]
    want += ["pid (0, 0, 0) idx (0) h: 0x00ff", "pid (0, 0, 0) idx (1) h: 0x1000"]
    want += ["pid (0, 0, 0) idx (): 0", "pid (0, 0, 0) no arg"]
    want += [f"pid (0, 0, 0) idx ({i}, {j:2}) b: 1" for i in range(2) for j in range(16)]
    assert sorted(lines) == sorted(want)
