"""tl.range and tl.static_range: fields for the frontend, iteration in plain Python."""

from __future__ import annotations

import pytest

import tritium.language as tl


@pytest.mark.parametrize(
    "args",
    [(5,), (2, 7), (0, 10, 3), (10, 0, -2), (tl.constexpr(4),), (1, tl.constexpr(9), 2)],
)
def test_range_iterates_like_python(args: tuple) -> None:
    plain = [int(a) for a in args]
    assert list(tl.range(*args)) == list(range(*plain))
    assert list(tl.static_range(*args)) == list(range(*plain))


def test_range_options_are_recorded() -> None:
    r = tl.range(
        0,
        64,
        16,
        num_stages=tl.constexpr(3),
        loop_unroll_factor=2,
        flatten=True,
        warp_specialize=True,
        disallow_acc_multi_buffer=True,
        disable_licm=True,
    )
    assert (r.start, r.end, r.step) == (0, 64, 16)
    assert r.num_stages == 3 and r.loop_unroll_factor == 2
    assert r.flatten and r.warp_specialize and r.disallow_acc_multi_buffer and r.disable_licm
    default = tl.range(8)
    assert (default.start, default.end, default.step) == (0, 8, 1)
    assert default.num_stages is None and default.loop_unroll_factor is None
    assert not default.flatten


def test_range_accepts_objects_convertible_to_int() -> None:
    class Scalar:  # what an interpreter's scalar tile looks like to Python
        def __init__(self, v: int) -> None:
            self.v = v

        def __index__(self) -> int:
            return self.v

    assert list(tl.range(Scalar(1), Scalar(4))) == [1, 2, 3]


def test_range_with_non_integer_bound_fails_on_iteration() -> None:
    with pytest.raises(TypeError, match="range end"):
        list(tl.range(0, "ten"))


def test_zero_step_is_an_error() -> None:
    with pytest.raises(ValueError, match="step"):
        tl.range(0, 4, 0)
    with pytest.raises(ValueError, match="step"):
        tl.static_range(0, 4, 0)


def test_static_range_needs_compile_time_ints() -> None:
    with pytest.raises(TypeError, match="static_range end"):
        tl.static_range(0, 4.0)


def test_static_assert_and_print(capsys: pytest.CaptureFixture[str]) -> None:
    tl.static_assert(tl.constexpr(4) > 2)
    tl.static_assert(True, "fine")
    with pytest.raises(AssertionError, match="static_assert failed: BLOCK too small"):
        tl.static_assert(tl.constexpr(1) > 2, "BLOCK too small")
    tl.static_print("BLOCK =", tl.constexpr(128))
    assert capsys.readouterr().out == "BLOCK = 128\n"
