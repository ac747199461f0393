"""What Triton's own ``test_compile_errors.py`` expects of the frontend, reduced to the smallest
kernel that shows it (``tools/run_triton_tests.py``), compiled and interpreted where a kernel
runs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium.errors import CompilationError
from tritium.frontend import ast_to_ttir
from tritium.language.aggregates import _aggregate as aggregate  # triton.aggregate
from tritium.language.core import must_use_result  # triton.must_use_result


def _compile_error(fn: object, signature: dict[str, str] | None = None) -> CompilationError:
    with pytest.raises(CompilationError) as info:
        ast_to_ttir(fn, signature or {}, {}, {})
    return info.value


@must_use_result("Assign it.")
@tritium.jit
def _cube(x):
    return x * x * x


@tritium.jit
def _cube_dropped(x_ptr):
    _cube(tl.load(x_ptr))


@tritium.jit
def _cube_kept(x_ptr):
    x = _cube(tl.load(x_ptr))
    tl.store(x_ptr, x)


def test_a_must_use_result_call_as_a_statement_is_an_error() -> None:
    err = _compile_error(_cube_dropped, {"x_ptr": "*fp32"})
    assert err.error_message == "The result of _cube is not being used. Assign it."
    ast_to_ttir(_cube_kept, {"x_ptr": "*fp32"}, {}, {})


@aggregate
class _Scaled:
    x: tl.tensor
    scale: tl.tensor

    @tritium.constexpr_function
    def __init__(self, x, scale):
        # Triton runs a constexpr_function __init__ as plain Python: the fields are tensors
        self.x = x
        self.scale = scale

    @tritium.jit
    def value(self):
        return self.x * self.scale

    @must_use_result
    @tritium.jit
    def doubled(self):
        return self.value() * 2


@tritium.jit
def _aggregate_methods(x_ptr, out_ptr, s, N: tl.constexpr):
    offs = tl.arange(0, N)
    a = _Scaled(tl.load(x_ptr + offs), s)
    tl.store(out_ptr + offs, a.doubled() + a.value())


@tritium.jit
def _aggregate_result_dropped(x_ptr):
    a = _Scaled(tl.load(x_ptr), 2.0)
    a.doubled()


def test_jit_methods_of_an_aggregate(mode: str, rng: np.random.Generator) -> None:
    """`a.value()` calls the `@jit` method with `a` first (a JITFunction is no descriptor)."""
    x = rng.standard_normal(16).astype(np.float32)
    out = np.full(16, np.nan, np.float32)
    _aggregate_methods[(1,)](x, out, 1.5, N=16)
    np.testing.assert_allclose(out, x.astype(np.float64) * 1.5 * 3, rtol=1e-6)
    err = _compile_error(_aggregate_result_dropped, {"x_ptr": "*fp32"})
    assert "The result of a.doubled is not being used" in err.error_message


@tritium.jit
def _where_on_ints(x_ptr, out_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs)
    tl.store(out_ptr + offs, tl.where(x, 1.0, -1.0))


def test_where_warns_on_a_non_boolean_condition(mode: str, rng: np.random.Generator) -> None:
    x = rng.integers(0, 3, 16).astype(np.uint32)
    out = np.full(16, np.nan, np.float32)
    with pytest.warns(UserWarning, match="non-boolean condition is deprecated.*uint32"):
        _where_on_ints[(1,)](x, out, N=16)
    np.testing.assert_array_equal(out, np.where(x != 0, 1.0, -1.0))


@tritium.jit
def _scaled_factors_differ(out_ptr):
    a = tl.full((32, 64), 0, tl.uint8)
    b = tl.full((64, 32), 0, tl.uint8)
    lhs_scale = tl.full((32, 4), 127, tl.uint8)  # 16 values of K per scale
    rhs_scale = tl.full((32, 2), 127, tl.uint8)  # 32
    c = tl.dot_scaled(a, lhs_scale, "e5m2", b, rhs_scale, "e5m2")
    tl.store(out_ptr + tl.arange(0, 32)[:, None] * 32 + tl.arange(0, 32)[None, :], c)


@tritium.jit
def _fp8_imprecise_acc_over_k(out_ptr):
    a = tl.full((16, 32), 1.0, tl.float8e5)
    c = tl.dot(a, tl.trans(a), max_num_imprecise_acc=64)
    tl.store(out_ptr + tl.arange(0, 16)[:, None] * 16 + tl.arange(0, 16)[None, :], c)


def test_dot_operand_checks_in_tritons_words() -> None:
    err = _compile_error(_scaled_factors_differ, {"out_ptr": "*fp32"})
    assert str(err.__cause__) == "Operands must have the same scale factor; (lhs: 16 vs rhs: 32)"
    err = _compile_error(_fp8_imprecise_acc_over_k, {"out_ptr": "*fp32"})
    assert str(err.__cause__) == "max_num_imprecise_acc (64) must be <= K (32)"


@tritium.jit(do_not_specialize=["N"])
def _constexpr_not_specialized(x_ptr, N: tl.constexpr):
    tl.store(x_ptr, N)


def test_a_constexpr_in_do_not_specialize_is_an_error(mode: str) -> None:
    x = np.full(1, -1, np.int32)
    with pytest.raises(CompilationError, match="N marked as constexpr and listed in do_not_spec"):
        _constexpr_not_specialized[(1,)](x, 5)
    assert x[0] == -1  # nothing ran


@tritium.jit
def _negate_a_tuple():
    -(0, 0)  # noqa: B018 - the error under test


def test_compile_time_errors_of_operators_have_no_cause() -> None:
    err = _compile_error(_negate_a_tuple)
    assert err.__cause__ is None and err.origin == ("_negate_a_tuple", 2, 4)
    assert "bad operand type for unary -: 'tuple'" in err.error_message


def test_no_warning_for_a_boolean_where(mode: str, rng: np.random.Generator) -> None:
    x = rng.integers(0, 3, 16).astype(np.uint32)
    out = np.full(16, np.nan, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _where_on_ints_bool[(1,)](x, out, N=16)
    np.testing.assert_array_equal(out, np.where(x != 0, 1.0, -1.0))


@tritium.jit
def _where_on_ints_bool(x_ptr, out_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs)
    tl.store(out_ptr + offs, tl.where(x != 0, 1.0, -1.0))


@aggregate
class _Block:
    base: tl.tensor
    n: tl.constexpr

    @tritium.jit
    def offsets(self):
        return self.base + tl.arange(0, self.n)


@tritium.jit
def _offsets_of(block):
    tl.static_assert(block.n == 16)  # the constexpr field stays a compile-time value
    return block.offsets()


@tritium.jit
def _aggregate_through_calls(x_ptr, out_ptr, N: tl.constexpr):
    b = _Block(tl.program_id(0) * N, N)
    offs = _offsets_of(b)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs) + 1.0)


def test_an_aggregate_passed_to_a_jit_function(mode: str, rng: np.random.Generator) -> None:
    """Its tensor fields are passed (not captured from the caller), its constexprs kept."""
    x = rng.standard_normal(32).astype(np.float32)
    out = np.full(32, np.nan, np.float32)
    _aggregate_through_calls[(2,)](x, out, N=16)
    np.testing.assert_array_equal(out, x + np.float32(1.0))


@tritium.jit
def _scale_by_shape(x_ptr, shape, N: tl.constexpr):
    offs = tl.arange(0, N)
    tl.store(x_ptr + offs, tl.load(x_ptr + offs) * shape[0] + shape[1])


def test_a_torch_size_argument_is_a_tuple(mode: str) -> None:
    """`x.size()` passed as a kernel argument (test_tuple's make_tensor_descriptor case)."""
    torch = pytest.importorskip("torch")
    x = torch.randn(4, 4)
    expected = x.double() * 4 + 4
    _scale_by_shape[(1,)](x, x.size(), N=16)
    torch.testing.assert_close(x.double(), expected)
