"""Triton's surface under ``install_as_triton()``: the smallest reproductions of what Triton's own
tests and libraries needed, each run compiled and interpreted where a kernel is involved."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import numpy as np
import pytest

import tritium
from tritium._triton_alias import uninstall_triton_alias


@pytest.fixture
def triton(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """``import triton`` answered by tritium for the test, the alias removed after it."""
    for name in list(sys.modules):
        if name == "triton" or name.startswith("triton."):
            monkeypatch.delitem(sys.modules, name)
    tritium.install_as_triton()
    import triton

    yield triton
    uninstall_triton_alias()


@pytest.fixture(params=["compiled", "interpreted"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Launches compiled or interpreted (through Triton's TRITON_INTERPRET)."""
    monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    if request.param == "interpreted":
        monkeypatch.setenv("TRITON_INTERPRET", "1")
    else:
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    return request.param


def test_submodule_imports_rebind_nothing(triton) -> None:
    import importlib

    import triton.runtime.jit as jit_mod
    from triton.runtime.driver import driver

    importlib.import_module("triton.runtime.driver")  # after the from-import, as tests do

    assert tritium.runtime.jit is tritium.jit and jit_mod.JITFunction is tritium.JITFunction
    assert triton.runtime.driver is driver and tritium.runtime.driver is driver
    assert triton.runtime.driver.active.get_current_target().backend == "cpu"
    from triton.runtime._allocation import NullAllocator

    with pytest.raises(RuntimeError, match="no allocator"):
        NullAllocator()(16, 16, None)


def test_version_and_names(triton) -> None:
    assert triton.__version__.split(".")[0] == "3" and triton.__version__ != tritium.__version__
    assert issubclass(tritium.CompilationError, triton.TritonError)
    import triton.language as tl
    from triton._internal_testing import is_hip_gfx1250, is_hip_rdna3, is_hip_rdna4

    assert not (is_hip_rdna3() or is_hip_rdna4() or is_hip_gfx1250())
    assert tl.core.CONSTEXPR_0 == 0 and tl.core.view is tl.view
    assert tl.core.constexpr_type is tl.constexpr_type


def test_unsafe_update_src(triton, mode, rng) -> None:
    import triton.language as tl

    @triton.jit
    def template(x_ptr, out_ptr):
        x = tl.load(x_ptr + tl.arange(0, 16))  # noqa: F841 (used by the replacement)
        tl.store(out_ptr + tl.arange(0, 16), GENERATE)  # noqa: F821 (replaced below)

    kernel = triton.JITFunction(template.fn)
    kernel._unsafe_update_src(kernel.src.replace("GENERATE", "x * 3 - 1"))
    x = rng.standard_normal(16).astype(np.float32)
    out = np.full(16, np.nan, np.float32)
    kernel[(1,)](x, out)
    # x * 3 - 1 cancels near x = 1/3: an absolute bound of a few fp32 ulps of 1 (one rounding
    # of x * 3, or none when fused) holds there, where a relative one does not.
    np.testing.assert_allclose(out, x.astype(np.float64) * 3 - 1, rtol=1e-6, atol=1e-6)


def test_item_trans_and_bf16x3(triton, mode, rng) -> None:
    import triton.language as tl

    @triton.jit
    def kernel(s_ptr, a_ptr, out_ptr):
        s = tl.load(s_ptr + tl.arange(0, 1)).item()
        offs = tl.arange(0, 16)[:, None] * 16 + tl.arange(0, 16)[None, :]
        a = tl.load(a_ptr + offs)
        prod = tl.dot(a, a, input_precision="bf16x3")
        swapped = tl.reshape(tl.reshape(prod, (1, 2, 8, 16)).trans(), (16, 16))
        tl.store(out_ptr + offs, swapped + s)

    s = rng.standard_normal(1).astype(np.float32)
    a = rng.standard_normal((16, 16)).astype(np.float32)
    out = np.full((16, 16), np.nan, np.float32)
    kernel[(1,)](s, a, out)
    a64 = a.astype(np.float64)
    want = (a64 @ a64).reshape(1, 2, 8, 16).swapaxes(-1, -2).reshape(16, 16) + s[0]
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


def test_signedness_message_as_triton(triton, mode) -> None:
    import triton.language as tl

    @triton.jit
    def kernel(x_ptr, y_ptr, out_ptr):
        offs = tl.arange(0, 4)
        tl.store(out_ptr + offs, tl.load(x_ptr + offs) / tl.load(y_ptr + offs))

    x, y = np.ones(4, np.int16), np.ones(4, np.uint8)
    with pytest.raises(triton.TritonError, match="Cannot use .* because they have different"):
        kernel[(1,)](x, y, np.zeros(4, np.float32))


def test_launch_options_of_gpus_accepted(triton, mode, rng) -> None:
    import triton.language as tl
    from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

    @triton.jit
    def kernel(x_ptr, out_ptr):
        gdc_wait()
        offs = tl.arange(0, 8)
        tl.store(out_ptr + offs, tl.load(x_ptr + offs) + 1)
        gdc_launch_dependents()

    x = rng.standard_normal(8).astype(np.float32)
    out = np.full(8, np.nan, np.float32)
    kernel[(1,)](x, out, launch_pdl=True, extern_libs={"libdevice": "/nonexistent.bc"})
    np.testing.assert_allclose(out, x + 1)


def test_knobs_groups_follow_the_environment(triton, monkeypatch) -> None:
    from triton import knobs

    monkeypatch.delenv("TRITON_ALWAYS_COMPILE", raising=False)
    monkeypatch.delenv("TRITIUM_ALWAYS_COMPILE", raising=False)
    assert knobs.compilation.always_compile is False and not tritium.knobs.always_compile()
    with knobs.compilation.scope():
        knobs.compilation.always_compile = True
        assert tritium.knobs.always_compile()  # what tritium's compiler reads
    assert not tritium.knobs.always_compile() and "TRITON_ALWAYS_COMPILE" not in os.environ
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert knobs.runtime.interpret is True and tritium.knobs.interpret()
    with knobs.cache.scope():
        knobs.cache.dir = "/tmp/somewhere"
        assert os.environ["TRITIUM_CACHE_DIR"] == "/tmp/somewhere"
        assert knobs.cache.dir == "/tmp/somewhere"
    with pytest.raises(AttributeError):
        knobs.cache.no_such_knob  # noqa: B018


def test_rshift_follows_the_left_operands_signedness(triton, mode, rng) -> None:
    import triton.language as tl

    @triton.jit
    def kernel(x_ptr, y_ptr, out_ptr):
        offs = tl.arange(0, 64)
        tl.store(out_ptr + offs, tl.load(x_ptr + offs) >> tl.load(y_ptr + offs))

    x = rng.integers(-128, 128, 64).astype(np.int8)
    y = rng.integers(0, 32, 64).astype(np.uint32)
    out = np.zeros(64, np.uint32)
    kernel[(1,)](x, y, out)
    np.testing.assert_array_equal(out.view(np.int32), x.astype(np.int32) >> y.astype(np.int32))


def test_varargs_helper_is_defined_but_not_launched(triton) -> None:
    @triton.jit
    def helper(*dims):
        return dims[0]

    with pytest.raises(TypeError, match=r"\*args/\*\*kwargs parameter 'dims'"):
        helper[(1,)](1)


def test_triton_environment_variables(triton, monkeypatch, tmp_path, rng) -> None:
    import triton.language as tl

    for name in ("TRITIUM_DUMP_DIR", "TRITIUM_DUMP_IR", "TRITIUM_SANITIZE", "TRITON_INTERPRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRITON_KERNEL_DUMP", "1")
    monkeypatch.setenv("TRITON_DUMP_DIR", str(tmp_path))
    monkeypatch.setenv("TRITON_ALWAYS_COMPILE", "1")
    monkeypatch.setenv("MLIR_ENABLE_DUMP", "1")
    monkeypatch.setenv("TRITON_DEBUG", "1")
    assert tritium.knobs.dump_ir() == "1" and tritium.knobs.sanitize()
    assert tritium.knobs.always_compile()

    @triton.jit
    def kernel(x_ptr, out_ptr):
        offs = tl.arange(0, 8)
        tl.store(out_ptr + offs, tl.load(x_ptr + offs) + 1)

    x = rng.standard_normal(8).astype(np.float32)
    out = np.full(8, np.nan, np.float32)
    kernel[(1,)](x, out)
    np.testing.assert_allclose(out, x + 1)
    dumped = {p.suffix for p in tmp_path.rglob("*") if p.is_file()}
    assert {".ttir", ".llir"} <= dumped, dumped


def test_one_element_condition_shape_list_and_torch_reinterpret(triton, mode, rng) -> None:
    torch = pytest.importorskip("torch")
    import triton.language as tl

    @triton.jit
    def kernel(x_ptr, out_ptr):
        offs = tl.arange(0, 8)
        x = tl.load(x_ptr + offs)
        tl.static_assert(x.shape == [8])  # shapes compare equal to lists, as Triton's are
        if tl.load(x_ptr + tl.arange(0, 1)) > 0:  # a one-element tile as a condition
            x = x * 2
        tl.store(out_ptr + offs, x)

    for first in (-1.0, 1.0):
        x = rng.standard_normal(8).astype(np.float16)
        x[0] = first
        out = torch.full((8,), float("nan"), dtype=torch.float16)
        src = triton.reinterpret(torch.from_numpy(x), torch.float16)
        kernel[(1,)](src, triton.reinterpret(out, torch.float16))
        np.testing.assert_array_equal(out.numpy(), x * 2 if first > 0 else x)


def test_tools_mxfp_round_trips(triton) -> None:
    torch = pytest.importorskip("torch")
    from triton.tools.mxfp import MXFP4Tensor, MXScaleTensor

    codes = MXFP4Tensor(size=(5, 7)).random()
    again = MXFP4Tensor(codes.to(torch.float32))
    assert torch.equal(again.data, codes.data)
    packed = codes.to_packed_tensor(dim=1)
    assert packed.shape == (5, 4)
    assert torch.equal(codes.unpack_packed_tensor(packed, 1, (5, 7)), codes.data)
    # between two E2M1 values: the nearest, a tie to the even code; beyond 6: saturated
    x = torch.tensor([0.3, 0.75, 2.5, 5.0, 100.0, -1.6])
    assert MXFP4Tensor(x).to(torch.float32).tolist() == [0.5, 1.0, 2.0, 4.0, 6.0, -1.5]
    scales = MXScaleTensor(size=(9,)).random(low=2.0**-10, high=2.0**10)
    assert torch.equal(MXScaleTensor(scales.to(torch.float32)).data, scales.data)
    assert MXScaleTensor(torch.tensor([3.0, 0.0])).data.tolist() == [128, 255]


def test_int8_dot_accumulates_in_int32_whatever_out_dtype(triton, mode, rng) -> None:
    import triton.language as tl

    @triton.jit
    def kernel(a_ptr, b_ptr, out_ptr):
        offs = tl.arange(0, 16)[:, None] * 16 + tl.arange(0, 16)[None, :]
        c = tl.dot(tl.load(a_ptr + offs), tl.load(b_ptr + offs), out_dtype=tl.int8)
        tl.store(out_ptr + offs, c)

    a = rng.integers(-128, 128, (16, 16)).astype(np.int8)
    b = rng.integers(-128, 128, (16, 16)).astype(np.int8)
    out = np.zeros((16, 16), np.int32)
    kernel[(1,)](a, b, out)
    np.testing.assert_array_equal(out, a.astype(np.int64) @ b.astype(np.int64))


def test_fresh_knobs_restores_the_environment(triton, monkeypatch) -> None:
    from triton._internal_testing import _fresh_knobs_impl

    monkeypatch.setenv("TRITON_ALWAYS_COMPILE", "1")
    monkeypatch.delenv("TRITIUM_CACHE_DIR", raising=False)
    monkeypatch.delenv("TRITON_CACHE_DIR", raising=False)
    fresh, reset = _fresh_knobs_impl()
    knobs = fresh()
    assert knobs.compilation.always_compile is False  # defaults, variables removed
    knobs.cache.dir = "/tmp/fresh-knobs"
    assert tritium.knobs.cache_dir() == "/tmp/fresh-knobs"
    reset()
    assert os.environ.get("TRITON_ALWAYS_COMPILE") == "1"
    assert "TRITIUM_CACHE_DIR" not in os.environ and "TRITON_CACHE_DIR" not in os.environ


def test_str_to_triton_dtype_takes_torch_fp8_names(triton) -> None:
    """Triton's test_cast names fp8 types as torch does (`float8_e5m2`)."""
    from triton._internal_testing import str_to_triton_dtype

    tl = triton.language
    assert str_to_triton_dtype("float8_e5m2") == tl.float8e5
    assert str_to_triton_dtype("float8_e4m3fn") == tl.float8e4nv
    assert str_to_triton_dtype("float8_e4m3fnuz") == tl.float8e4b8
    assert str_to_triton_dtype("float8_e5m2fnuz") == tl.float8e5b16
    assert str_to_triton_dtype("bfloat16") == tl.bfloat16
    assert tl.str_to_ty("half") == tl.float16


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1])
def test_integer_argument_out_of_range_is_an_overflow_error(triton, mode: str, value: int) -> None:
    """Triton raises OverflowError for an integer that fits no 64-bit type (test_core's
    test_value_specialization_overflow); it stays a ValueError naming the argument."""
    tl = triton.language

    @triton.jit
    def kernel(value, x_ptr):
        tl.store(x_ptr, value.to(tl.float32))

    x = np.full(1, np.nan, np.float32)
    with pytest.raises(OverflowError, match="'value'") as info:
        kernel[(1,)](value, x)
    assert isinstance(info.value, ValueError)
    kernel[(1,)](2**64 - 1 if value > 0 else -(2**63), x)  # the edges still fit
    assert np.isfinite(x[0])


def test_jit_repr_names_the_compiled_specialization(triton) -> None:
    """`@jit(repr=f)`: `f` gets the specialization's constants and signature (Triton's
    SpecializationProxy), and the compiled kernel is named by it (test_value_specialization)."""
    tl = triton.language

    def name(spec: object) -> str:
        ones = "_".join(k for k, v in spec.constants.items() if v == 1)  # type: ignore[attr-defined]
        return f"kernel_{spec.signature['value1']}_{ones}"  # type: ignore[attr-defined]

    @triton.jit(repr=name)
    def kernel(value1, is_one, X):
        tl.store(X, tl.load(X) + value1 + is_one)

    x = np.full(1, 3.0, np.float32)
    assert kernel.warmup(-7, 1, x, grid=(1,)).name == "kernel_i32_is_one"
    assert kernel.warmup(2**40, 1, x, grid=(1,)).name == "kernel_i64_is_one"
    kernel[(1,)](-7, 1, x)
    assert x[0] == -3.0


def test_dtype_of_a_plain_number_in_the_interpreter(triton, mode: str) -> None:
    """`value = 1; value.dtype` is int32 in both modes (test_core's test_store_constant)."""
    tl = triton.language

    @triton.jit
    def kernel(out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        value = 1
        half = 0.5
        out = tl.full([BLOCK], value=value, dtype=value.dtype) + tl.full([BLOCK], half, half.dtype)
        tl.store(out_ptr + offs, out, mask=offs < n)

    out = np.full(16, np.nan, np.float32)
    kernel[(1,)](out, 10, BLOCK=16)
    np.testing.assert_array_equal(out[:10], 1.5)
    assert np.isnan(out[10:]).all()


def test_type_of_a_constexpr_and_of_a_lifted_number(triton, mode: str) -> None:
    """`v.type`: a literal, a constexpr parameter or `x: tl.constexpr = ...` has a
    `constexpr_type`; a plain `x = <number>` is lifted to a scalar tensor, whose type is the
    literal's dtype (test_core's test_constexpr_assignment)."""
    tl = triton.language
    from triton.language.core import constexpr_type

    @triton.jit
    def kernel(out_ptr, LIT: tl.constexpr, TY: tl.constexpr):
        ann: tl.constexpr = LIT
        tl.static_assert(ann.type == (3).type)
        tl.static_assert(LIT.type == constexpr_type(3))
        lifted = LIT
        tl.static_assert(lifted.type == TY)
        half = 0.5
        tl.static_assert(half.type == tl.float32)
        tl.store(out_ptr, lifted + half)

    out = np.full(1, np.nan, np.float32)
    kernel[(1,)](out, 3, tl.int32)
    assert out[0] == 3.5
    with pytest.raises(Exception, match="static_assert"):
        kernel[(1,)](out, 3, tl.int64)


@tritium.jit
def _scale_by_two(x_ptr, out_ptr, n, B: tritium.language.constexpr):
    offs = tritium.language.arange(0, B)
    m = offs < n
    x = tritium.language.load(x_ptr + offs, mask=m)
    tritium.language.store(out_ptr + offs, x * 2, mask=m)


def test_device_caches_clear_makes_the_next_launch_compile(rng: np.random.Generator) -> None:
    # Triton's tests clear kernel.device_caches (or its [device][0]) to see a fresh compile
    x = rng.standard_normal(10).astype(np.float32)
    out = np.full(10, np.nan, np.float32)
    _scale_by_two[(1,)](x, out, 10, B=16)
    cache = _scale_by_two.device_caches[0][0]
    assert cache is _scale_by_two.cache and len(cache) == 1
    _scale_by_two.device_caches.clear()
    assert len(_scale_by_two.cache) == 0
    out[:] = np.nan
    _scale_by_two[(1,)](x, out, 10, B=16)
    assert len(_scale_by_two.cache) == 1
    np.testing.assert_array_equal(out, x * 2)
    _scale_by_two.device_caches[0][0].clear()
    assert len(_scale_by_two.cache) == 0


@tritium.jit
def _cast_scaled(x_ptr, out_ptr, n, DT: tritium.language.constexpr, B: tritium.language.constexpr):
    offs = tritium.language.arange(0, B)
    m = offs < n
    x = tritium.language.load(x_ptr + offs, mask=m)
    tritium.language.store(out_ptr + offs, (x * 3).to(DT), mask=m)


def test_compile_hooks_and_preload(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    # knobs.runtime.jit_cache_hook / jit_post_compile_hook see each compile with Triton's
    # arguments; kernel.preload(specialization_data) compiles the same specialization again
    from tritium import knob_groups

    seen: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(
        knob_groups.runtime, "jit_cache_hook", lambda **kw: seen.append(("pre", kw))
    )
    monkeypatch.setattr(
        knob_groups.runtime, "jit_post_compile_hook", lambda **kw: seen.append(("post", kw))
    )
    _cast_scaled.device_caches.clear()
    x = rng.standard_normal(10).astype(np.float32)
    out = np.full(10, np.nan, np.float32)
    compiled = _cast_scaled[(1,)](x, out, 10, DT=tritium.language.float32, B=16)
    np.testing.assert_array_equal(out, x * 3)
    assert [when for when, _ in seen] == ["pre", "post"]
    kw = seen[0][1]
    assert kw["fn"].jit_function is _cast_scaled and kw["already_compiled"] is False
    data = kw["compile"]["specialization_data"]
    assert isinstance(data, str) and kw["compile"]["constants"]["B"] == 16
    _cast_scaled[(1,)](x, out, 10, DT=tritium.language.float32, B=16)
    assert len(seen) == 2  # a cached specialization calls no hook
    assert _cast_scaled.preload(data).hash == compiled.hash
