"""tl.core.extern / extern_elementwise: device-library declarations mapped to tritium functions."""

from __future__ import annotations

import pytest

import tritium.language as tl
from tritium.language.core import engine_scope
from tritium.language.extern import resolve_symbol
from tritium.language.extra import libdevice

from .recording import RecordingEngine, fake


@tl.core.extern
def my_tanh(arg0, _builder=None):
    return tl.core.extern_elementwise(
        "libdevice",
        "/path/libdevice.10.bc",
        [arg0],
        {(tl.float32,): ("__nv_tanhf", tl.float32), (tl.float64,): ("__nv_tanh", tl.float64)},
        is_pure=True,
        _builder=_builder,
    )


@pytest.mark.parametrize(
    ("symbol", "function"),
    [
        ("__nv_tanhf", libdevice.tanh),
        ("__nv_tanh", libdevice.tanh),
        ("__nv_expf", libdevice.exp),
        ("__nv_erff", libdevice.erf),
        ("__nv_erfcf", libdevice.erfc),
        ("__nv_powf", libdevice.pow),
        ("__nv_fabsf", libdevice.fabs),
        ("__nv_isnanf", libdevice.isnan),
        ("__nv_llrintf", libdevice.llrint),
        ("__nv_fast_expf", libdevice.fast_expf),
        ("__ocml_tanh_f32", libdevice.tanh),
        ("__ocml_atan2_f64", libdevice.atan2),
    ],
)
def test_resolve_symbol(symbol: str, function) -> None:
    assert resolve_symbol(symbol) is function


def test_unknown_symbol_is_a_clear_error() -> None:
    with pytest.raises(NotImplementedError, match="__nv_brev"):
        resolve_symbol("__nv_brev")


def test_extern_function_runs_the_mapped_builtin() -> None:
    assert tl.core.is_builtin(my_tanh)
    x = fake((8,), tl.float32)
    engine = RecordingEngine(result=fake((8,), tl.float32))
    with engine_scope(engine):
        my_tanh(x)
    assert engine.calls == [("math", ("tanh", (x,)))]


def test_declared_return_dtype_is_applied() -> None:
    x = fake((8,), tl.float32)
    engine = RecordingEngine(result=fake((8,), tl.float32))
    with engine_scope(engine):
        tl.core.extern_elementwise(
            "", "", [x], {(tl.float32,): ("__nv_isnanf", tl.int1)}, is_pure=True
        )
    assert [c[0] for c in engine.calls] == ["math", "cast"]
    assert engine.calls[1][1][1] == tl.int1


def test_no_symbol_for_the_argument_dtypes() -> None:
    x = fake((8,), tl.float16)
    with engine_scope(RecordingEngine()), pytest.raises(TypeError, match="no symbol"):
        my_tanh(x)
