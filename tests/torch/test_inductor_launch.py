"""``CompiledKernel.run`` with torch tensors, as Inductor's launcher calls it: the generated
straight-line launch (CPU tensors, ints and floats matching the signature) and every way out
of it to the general path (other types, an empty tensor, runtime-only arguments, a grid the
native entry refuses, a kernel's error record), launch hooks given None metadata, and
``launch_metadata`` returning None while no hook is set."""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tritium  # noqa: E402
import tritium.language as tl  # noqa: E402
from tritium.compiler import ASTSource, CompiledKernel  # noqa: E402
from tritium.runtime.driver import GPUTarget  # noqa: E402


@tritium.jit
def _scale_add(out_ptr, x_ptr, y_ptr, n, alpha, XBLOCK: tl.constexpr):
    offs = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    y = tl.load(y_ptr + offs, mask=m)
    tl.store(out_ptr + offs, x * alpha + y, mask=m)


@tritium.jit
def _checked(out_ptr, x_ptr, n, XBLOCK: tl.constexpr):
    offs = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m, other=1.0)
    tl.device_assert(x > -100.0, "x out of range")
    tl.store(out_ptr + offs, x * 2.0, mask=m)


_SIGNATURE = {
    "out_ptr": "*fp32",
    "x_ptr": "*fp32",
    "y_ptr": "*fp32",
    "n": "i32",
    "alpha": "fp32",
    "XBLOCK": "constexpr",
}
_TARGET = GPUTarget("cpu", "", 32)


def _compile(fn=_scale_add, signature=None, debug: bool = False) -> CompiledKernel:
    signature = signature or _SIGNATURE
    return tritium.compile(
        ASTSource(fn, signature, {"XBLOCK": 64}, {(0,): [["tt.divisibility", 16]]}),
        target=_TARGET,
        options={"num_warps": 4, "num_stages": 1, "debug": debug},
    )


def _rng() -> np.random.Generator:
    return np.random.default_rng(int(os.environ["TRITIUM_TEST_SEED"]))


def _inputs(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = _rng()
    x = torch.from_numpy(rng.standard_normal(n).astype(np.float32))
    y = torch.from_numpy(rng.standard_normal(n).astype(np.float32))
    return x, y, torch.full((n,), float("nan"))


def _want(x: torch.Tensor, y: torch.Tensor, alpha: float) -> np.ndarray:
    return x.double().numpy() * np.float64(np.float32(alpha)) + y.double().numpy()


def _run(kernel: CompiledKernel, n: int, *args, grid=None, hooks=(None, None), md=None):
    g = grid or (-(n // -64), 1, 1)
    kernel.run(*g, 0, None, kernel.packed_metadata, md, *hooks, *args)


@pytest.mark.parametrize("n", [1, 63, 64, 1000, 4097])
def test_run_with_tensors_takes_the_straight_line_launch(n: int) -> None:
    kernel = _compile()
    assert "call(plain" in kernel.run._tt_source  # the generated launch, for these types
    x, y, out = _inputs(n)
    _run(kernel, n, out, x, y, n, 1.75, 64)
    np.testing.assert_allclose(out.double().numpy(), _want(x, y, 1.75), rtol=1e-6, atol=1e-6)
    # a module's weights are Parameters; a tensor view at an offset
    big_x = torch.cat([torch.zeros(5), x])
    out[:] = float("nan")
    w = torch.nn.Parameter(y.clone(), requires_grad=False)
    _run(kernel, n, out, big_x[5:], w, n, -0.5, 64)
    np.testing.assert_allclose(out.double().numpy(), _want(x, y, -0.5), rtol=1e-6, atol=1e-6)


def test_other_values_take_the_general_path() -> None:
    kernel = _compile()
    n = 300
    x, y, out = _inputs(n)
    # an int for the float parameter, NumPy arrays, a mix, an int subclass (bool is not int)
    cases = [
        (out, x, y, n, 2, 64),
        (out.numpy(), x.numpy(), y.numpy(), n, 0.25, 64),
        (out, x.numpy(), y, n, 3.0, 64),
        (out, x, y, np.int32(n), 1.5, 64),
        (out, x, y, n, np.float32(1.5), 64),
        (out, x, y, n, 1.5),  # only the runtime arguments
    ]
    for args in cases:
        out[:] = float("nan")
        _run(kernel, n, *args)
        alpha = float(args[4])
        np.testing.assert_allclose(out.double().numpy(), _want(x, y, alpha), rtol=1e-6, atol=1e-6)


def test_bad_values_raise_as_before() -> None:
    kernel = _compile()
    n = 100
    x, y, out = _inputs(n)
    with pytest.raises((TypeError, ValueError, OverflowError)):
        _run(kernel, n, out, x, y, 2**70, 1.0, 64)  # past 64 bits
    with pytest.raises((TypeError, ValueError)):
        _run(kernel, n, out, x, y, "100", 1.0, 64)
    with pytest.raises((TypeError, ValueError)):
        _run(kernel, n, out, x, y, n, 1.0, 64, 7)  # one too many
    meta = torch.empty(n, device="meta")
    with pytest.raises((TypeError, ValueError, RuntimeError, NotImplementedError)):
        _run(kernel, n, meta, x, y, n, 1.0, 64)
    assert torch.isnan(out).all()  # nothing launched
    # a grid the native entry refuses: the launcher's own error
    with pytest.raises(ValueError, match="grid"):
        _run(kernel, n, out, x, y, n, 1.0, 64, grid=(2**31, 1, 1))
    # an empty tensor (a NULL address) goes the general way: nothing is read or written
    _run(kernel, 0, torch.empty(0), x, y, 0, 1.0, 64, grid=(1, 1, 1))
    # an empty grid launches nothing
    _run(kernel, n, out, x, y, n, 1.0, 64, grid=(0, 1, 1))
    assert torch.isnan(out).all()


def test_device_assert_from_the_straight_line_launch() -> None:
    kernel = _compile(_checked, {"out_ptr": "*fp32", "x_ptr": "*fp32", "n": "i32",
                                 "XBLOCK": "constexpr"}, debug=True)  # fmt: skip
    n = 200
    x, _, out = _inputs(n)
    _run(kernel, n, out, x, n, 64)
    np.testing.assert_allclose(out.double().numpy(), x.double().numpy() * 2, rtol=1e-7)
    x[137] = -1000.0
    with pytest.raises(AssertionError, match="x out of range"):
        _run(kernel, n, out, x, n, 64)


def test_hooks_get_metadata_when_launch_metadata_is_none() -> None:
    from tritium._triton.knobs import runtime

    kernel = _compile()
    n = 130
    x, y, out = _inputs(n)
    enter, leave = runtime.launch_enter_hook, runtime.launch_exit_hook
    assert not enter.calls and not leave.calls
    # no hook set: nothing to build (Inductor calls this before every launch)
    assert kernel.launch_metadata((3, 1, 1), 0, out, x, y, n, 1.0, 64) is None
    seen: list[tuple[str, tuple[int, int, int], bool]] = []

    def on_enter(m) -> None:
        seen.append((m["name"], m["grid"], bool(torch.isnan(out).all())))

    def on_exit(m) -> None:
        seen.append(("exit", m["grid"], bool(torch.isnan(out).any())))

    # a caller's own hooks with None metadata (the hooks are not knobs.runtime's)
    _run(kernel, n, out, x, y, n, 1.0, 64, hooks=(on_enter, on_exit))
    assert seen == [("_scale_add", (3, 1, 1), True), ("exit", (3, 1, 1), False)]
    seen.clear()
    out[:] = float("nan")
    enter.add(on_enter)
    try:
        md = kernel.launch_metadata((3, 1, 1), 0, out, x, y, n, 1.0, 64)
        assert dict(md) == {"name": "_scale_add", "grid": (3, 1, 1), "stream": 0}
        _run(kernel, n, out, x, y, n, 1.0, 64, hooks=(enter, leave), md=md)
    finally:
        enter.remove(on_enter)
    assert seen == [("_scale_add", (3, 1, 1), True)]
    np.testing.assert_allclose(out.double().numpy(), _want(x, y, 1.0), rtol=1e-6, atol=1e-6)
    assert kernel.launch_metadata((3, 1, 1), 0, out, x, y, n, 1.0, 64) is None
