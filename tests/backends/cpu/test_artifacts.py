"""Artifacts as plain data, target overrides, and compiler errors."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from tests.backends.cpu.irgen import F32, KernelBuilder, launch, poison, ptr
from tests.backends.cpu.test_reduce import _softmax
from tests.backends.cpu.test_vector_add import _vector_add
from tritium.backends import CompiledArtifact, get_backend
from tritium.errors import InternalCompilerError
from tritium.ir import Location


def _compile(kb: KernelBuilder) -> CompiledArtifact:
    kb.ret()
    return get_backend("cpu").compile(kb.module, {})


def test_artifact_round_trips_through_json_and_bytes() -> None:
    art = _compile(_vector_add(128))
    stored = json.dumps(
        {"name": art.name, "asm": {k: v for k, v in art.asm.items()}, "metadata": art.metadata}
    )
    data = json.loads(stored)
    again = CompiledArtifact(data["name"], data["asm"], bytes(art.binary), data["metadata"])
    kernel = get_backend("cpu").load(again)
    n = 300
    x = np.arange(n, dtype=np.float32)
    out = poison(n, np.float32)
    launch(kernel, (3,), x, x, out, n)
    np.testing.assert_array_equal(out, 2 * x)


def test_without_avx512(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI machines may lack AVX-512: code generated without it is correct too."""
    monkeypatch.setenv("TRITIUM_CPU_FEATURES", "-avx512f")
    art = _compile(_softmax(128))
    assert art.metadata["vector_width"] == 16  # lanes per chunk: two ymm registers
    assert "zmm" not in art.asm["asm"]
    monkeypatch.delenv("TRITIUM_CPU_FEATURES")
    kernel = get_backend("cpu").load(art)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 100)).astype(np.float32)
    out = poison((3, 100), np.float32)
    launch(kernel, (3,), x, out, 100, 100)
    ref = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(out, ref / ref.sum(1, keepdims=True), rtol=1e-5)


def test_unsupported_op_is_an_internal_error_with_location() -> None:
    from tritium.ir import Operation

    kb = KernelBuilder("bad", [ptr(F32)])
    op = Operation("tt.mystery", [kb.args[0]], [F32], loc=Location("k.py", 7, 3))
    kb.b.insert(op)
    with pytest.raises(InternalCompilerError, match=r"cannot lower .*tt.mystery.*k.py:7:3"):
        _compile(kb)


def test_absurd_tile_is_out_of_resources() -> None:
    from tests.backends.cpu.irgen import I32, tensor
    from tritium.errors import OutOfResources

    n = 1 << 27  # a 512 MiB tile, used twice so it must be materialized
    kb = KernelBuilder("huge", [ptr(F32)])
    (p,) = kb.args
    x = kb.load(kb.addptr(kb.splat(p, [n]), kb.arange(0, n)))
    kb.store(kb.addptr(kb.splat(p, [n]), kb.arange(0, n)), kb.binary("arith.addf", x, x))
    kb.store(kb.addptr(kb.splat(p, [n]), kb.arange(0, n)), kb.binary("arith.mulf", x, x))
    _ = (I32, tensor)
    with pytest.raises(OutOfResources):
        _compile(kb)


def test_program_stays_a_function_and_every_definition_gets_attributes() -> None:
    """The program is ``noinline`` (LLVM optimizes it once, not again inside the worker), and
    the target attributes reach definitions with a ``!dbg`` attachment (line-table mode)."""
    from tritium.backends.cpu.codegen import function_attributes
    from tritium.backends.cpu.target import host_target

    art = _compile(_vector_add(128))
    defined = re.findall(r"^define [^@]*@\"?([\w.]+)", art.asm["llir"], re.MULTILINE)
    assert "tritium.program" in defined, defined
    kernel = get_backend("cpu").load(art)
    rng = np.random.default_rng(int(os.environ["TRITIUM_TEST_SEED"]))
    n = 300
    x = rng.standard_normal(n).astype(np.float32)
    out = poison(n, np.float32)
    launch(kernel, (3,), x, x, out, n)
    np.testing.assert_array_equal(out, 2 * x)

    ir = (
        'define internal void @"tritium.program"(ptr %".1") !dbg !6\n{\n  ret void\n}\n'
        'define i32 @"k_launch"(ptr %".1") !dbg !9\n{\n  ret i32 0\n}\n'
    )
    out_ir = function_attributes(ir, host_target(), 8)
    assert '@"tritium.program"(ptr %".1") #91 !dbg !6\n{' in out_ir
    assert '@"k_launch"(ptr %".1") #90 !dbg !9\n{' in out_ir
    assert "attributes #91 = { noinline nounwind " in out_ir


def test_disabling_avx512f_disables_its_extensions() -> None:
    """LLVM re-enables avx512f for any AVX-512 extension left on, whatever the host has."""
    from tritium.backends.cpu.target import _merge_features

    host = "+avx2,+avx512bw,+avx512f,+avx512vl,+avx512vnni,+evex512,+fma"
    merged = _merge_features(host, "-avx512f").split(",")
    assert [f for f in merged if f.startswith("+")] == ["+avx2", "+fma"]
    assert _merge_features(host, "-avx2").split(",").count("+fma") == 1
    assert "+avx512vl" in _merge_features(host, "-avx512fp16").split(",")


def test_one_program_in_two_grid_orders_loads_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """The entry's name covers the launcher's grid order, not only the program's IR: the same
    program compiled with another order (a pass switched off for an A/B) is another object."""
    from tritium.backends.cpu import grid_order

    first = _compile(_vector_add(128))
    monkeypatch.setattr(grid_order, "residue_period", lambda func: 4)
    second = _compile(_vector_add(128))
    assert first.metadata["entry"] != second.metadata["entry"]
    n = 300
    x = np.arange(n, dtype=np.float32)
    for art in (first, second):
        out = poison(n, np.float32)
        launch(get_backend("cpu").load(art), (3,), x, x, out, n)
        np.testing.assert_array_equal(out, 2 * x)
