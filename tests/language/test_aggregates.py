"""Small language classes: tl.tuple, tl.const, tl.constexpr_type, tl.condition, descriptors."""

from __future__ import annotations

import pytest

import tritium.language as tl
from tritium.language.core import engine_scope
from tritium.language.engine_protocol import Engine

from .recording import RecordingEngine, fake


def test_tuple_is_a_tuple_with_a_type() -> None:
    a, b = fake((4,)), fake((4,), tl.int32)
    t = tl.tuple([a, b])
    assert isinstance(t, tuple) and len(t) == 2 and t[1] is b
    assert t.type == tl.tuple_type([a.type, b.type])
    assert t.type[0] == tl.block_type(tl.float32, (4,)) and len(t.type) == 2
    assert t.values == (a, b)
    assert tl.tuple((1, 2)).type == tl.tuple_type([int, int])


def test_constexpr_type_and_const() -> None:
    assert tl.constexpr_type(4) == tl.constexpr_type(4) != tl.constexpr_type(5)
    assert hash(tl.constexpr_type(4)) == hash(tl.constexpr_type(4))
    assert hash(tl.constexpr_type([1])) is not None  # unhashable values still hash
    assert not tl.constexpr_type(4).is_block()
    assert tl.const.__doc__


def test_condition() -> None:
    c = tl.condition(tl.constexpr(True), disable_licm=True)
    assert c.condition is True and c.disable_licm and bool(c)
    assert not tl.condition(0)


def test_tensor_descriptor_methods_call_the_builtins() -> None:
    desc = tl.tensor_descriptor("h", (64, 64), (64, 1), tl.block_type(tl.float16, (16, 32)))
    assert desc.block_shape == (16, 32) and desc.dtype == tl.float16
    engine = RecordingEngine()
    with engine_scope(engine):
        desc.load([0, 16])
        assert engine.last == ("descriptor_load", (desc, (0, 16)))
        value = fake((16, 32), tl.float16)
        desc.store([tl.constexpr(16), 0], value)
        assert engine.last == ("descriptor_store", (desc, (16, 0), value))


def test_make_tensor_descriptor_checks_lengths() -> None:
    with engine_scope(RecordingEngine()), pytest.raises(ValueError, match="same length"):
        tl.make_tensor_descriptor(fake((), tl.pointer_type(tl.float16)), (64, 64), (1,), (16, 16))


def test_engine_unimplemented_lists_missing_methods() -> None:
    class Partial(Engine):
        def add(self, lhs, rhs):
            return None

    missing = Partial.unimplemented()
    assert "add" not in missing and "sub" in missing and "load" in missing
    assert "unimplemented" not in missing
    assert len(Engine.unimplemented()) == len(missing) + 1
