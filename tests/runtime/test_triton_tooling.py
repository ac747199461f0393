"""The modules Triton's own tests import, under the ``triton`` alias (issue 4)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium._triton_alias import uninstall_triton_alias


@pytest.fixture
def triton(monkeypatch):
    """``import triton`` resolving to tritium for the duration of a test."""
    for name in [n for n in sys.modules if n == "triton" or n.startswith("triton.")]:
        monkeypatch.delitem(sys.modules, name)
    tritium.install_as_triton()
    import triton

    yield triton
    uninstall_triton_alias()


def test_modules_triton_tests_import(triton) -> None:
    import triton.knobs
    from triton._internal_testing import is_cuda, is_hip, is_interpreter, numpy_random
    from triton.compiler import ASTSource
    from triton.compiler.errors import CompilationError, CompileTimeAssertionFailure
    from triton.language.extra import libdevice
    from triton.runtime.errors import InterpreterError
    from triton.tools.tensor_descriptor import TensorDescriptor

    assert CompilationError is tritium.CompilationError
    assert issubclass(CompileTimeAssertionFailure, CompilationError)
    assert issubclass(InterpreterError, tritium.TritiumError)
    assert ASTSource is tritium.compiler.ASTSource and callable(numpy_random)
    assert not is_cuda() and not is_hip() and isinstance(is_interpreter(), bool)
    assert triton.knobs.cache_dir is tritium.knobs.cache_dir and libdevice is not None
    assert TensorDescriptor.from_tensor(np.zeros((4, 8), np.float32), [2, 8]).strides == [8, 1]
    assert triton.runtime.driver.active.utils.get_device_properties(0)["multiprocessor_count"]


def test_numpy_random() -> None:
    from tritium._triton._testing_helpers import numpy_random

    x = numpy_random((100,), "int8")
    assert x.dtype == np.int8 and (x != 0).all()
    np.testing.assert_array_equal(x, numpy_random(100, "int8"))  # seeded: reproducible
    b = numpy_random((10,), "bfloat16")
    assert b.dtype == np.float32 and (b.view(np.uint32) & 0xFFFF == 0).all()
    assert numpy_random((3, 4), "bool").dtype == np.bool_
    assert numpy_random(5, "float8_e5m2").dtype == np.int8
    lo = numpy_random(1000, "int32", low=-3, high=3)
    assert lo.min() >= -3 and lo.max() < 3
    with pytest.raises(ValueError, match="unknown dtype"):
        numpy_random(5, "complex64")


def test_to_triton_round_trip() -> None:
    pytest.importorskip("torch")
    from tritium._triton._testing_helpers import numpy_random, to_numpy, to_triton

    for dtype in ("uint32", "uint8", "int16", "float32", "float16"):
        x = numpy_random((7,), dtype)
        t = to_triton(x, "cpu")
        back = to_numpy(t)
        assert back.dtype == x.dtype
        np.testing.assert_array_equal(back, x)
    assert isinstance(to_triton(numpy_random(3, "uint64"), "cpu"), tritium.TensorWrapper)


def test_reinterpret_sets_the_pointer_type(fake_stages) -> None:
    torch = pytest.importorskip("torch")

    @tritium.jit
    def k(x, y):
        pass

    base = torch.zeros(8, dtype=torch.int32)
    w = tritium.reinterpret(base, tl.uint32)
    k[(1,)](w, tritium.reinterpret(np.zeros(4, np.int8), tl.float8e5))
    assert fake_stages.frontend_calls[-1].signature == {"x": "*u32", "y": "*fp8e5"}
    assert fake_stages.launches[-1][2][0] == base.data_ptr()
    assert tritium.reinterpret(w, torch.int32) is base
    with pytest.raises(TypeError, match="reinterpret"):
        tritium.reinterpret(3, tl.uint32)


def test_interpreter_errors_are_wrapped(fake_stages, monkeypatch) -> None:
    import tritium.interpreter as interp
    from tritium.runtime.errors import InterpreterError

    @tritium.jit(interpret=True)
    def k(x):
        pass

    def failing(fn, grid, args, sanitize=False):
        raise ZeroDivisionError("inside the kernel")

    monkeypatch.setattr(interp, "run_kernel", failing)
    with pytest.raises(InterpreterError, match="ZeroDivisionError") as info:
        k[(1,)](np.zeros(2, np.float32))
    assert isinstance(info.value.__cause__, ZeroDivisionError)

    def sanitizer(fn, grid, args, sanitize=False):
        raise tritium.SanitizerError("out-of-bounds", "x[3]")

    monkeypatch.setattr(interp, "run_kernel", sanitizer)
    with pytest.raises(tritium.SanitizerError):  # tritium's own errors are not wrapped
        k[(1,)](np.zeros(2, np.float32))


def test_tensor_descriptor_arguments(fake_stages) -> None:
    from tritium.runtime.tensor_descriptor import TensorDescriptor

    @tritium.jit
    def k(din, dout, n, BM: tl.constexpr):
        pass

    x = np.zeros((12, 24), np.float32)
    y = np.zeros((12, 24), np.float16)
    din = TensorDescriptor.from_tensor(x, [8, 16])
    dout = TensorDescriptor(y, [12, 24], [24, 1], [4, 8], padding="nan")
    k[(2, 2)](din, dout, 5, BM=8)
    m = fake_stages.frontend_calls[-1]
    assert m.signature == {
        "din": "tensordesc<fp32[8,16]>",
        "dout": "tensordesc<fp16[4,8],nan>",
        "n": "i32",
        "BM": "constexpr",
    }
    assert m.attrs == {}
    assert fake_stages.launches[-1][2] == [
        x.ctypes.data,
        12,
        24,
        24,
        1,
        y.ctypes.data,
        12,
        24,
        24,
        1,
        5,
    ]
    with pytest.raises(ValueError, match="contiguous"):
        TensorDescriptor(x, [12, 24], [1, 12], [8, 16])
