"""CompilationError: file:line:col of the user's expression, the source line, a caret, no
compiler frames; unsupported constructs rejected at their line; bad signatures rejected."""

from __future__ import annotations

import inspect
import traceback
from typing import Any

import pytest

import tritium.language as tl
from tests.frontend import error_kernels as ek
from tritium.errors import CompilationError
from tritium.frontend import ast_to_ttir

SIG = {"x_ptr": "*fp32", "n": "i32"}


def compile_error(fn: Any, constexprs: dict[str, Any] | None = None) -> CompilationError:
    with pytest.raises(CompilationError) as info:
        ast_to_ttir(fn, SIG, constexprs or {}, {})
    return info.value


def line_of(fn: Any, needle: str) -> int:
    """The file line of the first source line of ``fn`` containing ``needle``."""
    lines, first = inspect.getsourcelines(fn.fn)
    return first + next(
        i
        for i, ln in enumerate(lines)
        if needle in ln and (needle.startswith("def") or "def " not in ln)
    )


@pytest.mark.parametrize(
    "fn, needle, col, message",
    [
        (ek.bad_keyword, "maks=n", 8, "unexpected keyword argument 'maks'"),
        (ek.bad_mask_type, "mask=offs", 4, "mask"),
        (ek.undefined_name, "undefined_thing", 12, "undefined_thing"),
        (ek.shape_mismatch, "c = a + b", 8, "broadcast"),
        (ek.power_on_tensor, "n**2", 20, "**"),
        (ek.pointer_plus_float, "x_ptr + 1.5", 13, "pointer"),
    ],
)
def test_error_points_at_the_failing_expression(
    fn: Any, needle: str, col: int, message: str
) -> None:
    err = compile_error(fn)
    assert err.file == inspect.getsourcefile(fn.fn)
    assert err.line == line_of(fn, needle)
    assert err.col == col
    assert needle in err.source_line
    assert message in err.error_message
    text = str(err)
    lines = text.splitlines()
    # the file position, then Triton's (line from the def, dedented column)
    src_lines, _ = inspect.getsourcelines(fn.fn)
    def_indent = len(src_lines[0]) - len(src_lines[0].lstrip())
    rel = f"{err.line - line_of(fn, 'def ') + 1}:{col - def_indent}"
    assert lines[0] == f"at {err.file}:{err.line}:{col} (at {rel}: in {fn.__name__}):"
    # the caret sits under the column of the failing expression
    src, caret = lines[1], lines[2]
    indent = len(err.source_line) - len(err.source_line.lstrip())
    assert caret.index("^") - 4 == col - indent
    assert src.strip() == err.source_line.strip()


def test_no_compiler_frames_in_the_traceback() -> None:
    err = compile_error(ek.bad_keyword)
    frames = traceback.extract_tb(err.__traceback__)
    inside = [f for f in frames if "/tritium/frontend/" in f.filename.replace("\\", "/")]
    assert [f.name for f in inside] == ["ast_to_ttir"]
    # As in Triton, the builtin's own error is the cause; it carries no compiler frames.
    assert isinstance(err.__cause__, TypeError) and err.__cause__.__traceback__ is None
    assert str(err.__cause__) in str(err)


@pytest.mark.parametrize(
    "fn, needle, message",
    [
        (ek.if_type_mismatch, "if n > 0", "Mismatched type"),
        (ek.loop_type_change, "for i in range", "loop-carried"),
        (ek.return_in_loop, "return", "return inside a loop"),
        (ek.kernel_returns_value, "def kernel_returns_value", "cannot return a value"),
        (ek.tile_condition, "if x > 0", "must be a scalar"),
        (ek.use_lambda, "lambda", "lambda"),
        (ek.use_try, "try:", "try"),
        (ek.use_with, "with open", "with"),
        (ek.use_break, "break", "break"),
        (ek.use_nested_def, "def helper", "nested def"),
        (ek.use_yield, "yield", "yield"),
        (ek.use_comprehension, "{i for i", "set comprehensions"),
        (ek.subscript_assign, "x[0] = 1", "cannot assign"),
    ],
)
def test_rejected_constructs_point_at_their_line(fn: Any, needle: str, message: str) -> None:
    err = compile_error(fn)
    assert err.line == line_of(fn, needle)
    assert message in err.error_message


def test_static_assert_message() -> None:
    err = compile_error(ek.static_assert_fails, {"BLOCK": 24})
    assert "BLOCK must be a multiple of 16" in err.error_message
    assert err.line == line_of(ek.static_assert_fails, "tl.static_assert")
    ast_to_ttir(ek.static_assert_fails, SIG, {"BLOCK": 32}, {})


def test_error_in_a_callee_points_into_the_callee() -> None:
    """As Triton: the error points at the call, its cause into the callee."""
    err = compile_error(ek.calls_bad_callee)
    assert err.line == line_of(ek.calls_bad_callee, "_callee_with_error(n)") and err.col == 20
    assert "in _callee_with_error(): " in err.error_message
    assert "undefined_in_callee" in err.error_message
    inner = err.__cause__
    assert isinstance(inner, CompilationError)
    assert inner.line == line_of(ek._callee_with_error, "undefined_in_callee")
    assert inner.origin == ("_callee_with_error", 2, 15)  # Triton's "at 2:15:"


def test_a_return_type_mismatch_points_at_the_def() -> None:
    """Triton's place for it ("at 1:0:" in the callee's error); the `if` is in the message."""
    err = compile_error(ek.calls_returns_by_branch)
    inner = err.__cause__
    assert isinstance(inner, CompilationError) and inner.origin == ("_returns_by_branch", 1, 0)
    if_line = line_of(ek._returns_by_branch, "if n == 0")
    assert inner.error_message.endswith(f"in the else block of the `if` at line {if_line}")


def test_a_static_assert_failing_in_a_callee_stays_one() -> None:
    from tritium.errors import CompileTimeAssertionFailure

    err = compile_error(ek.calls_asserting_callee, {"BLOCK": 24})
    assert isinstance(err, CompileTimeAssertionFailure)
    assert isinstance(err.__cause__, CompileTimeAssertionFailure)
    assert err.line == line_of(ek.calls_asserting_callee, "_callee_asserting(n, BLOCK)")
    assert err.error_message.startswith("in _callee_asserting(): static_assert failed: BLOCK")


def test_bad_signatures_are_value_errors() -> None:
    with pytest.raises(ValueError, match="no type for parameter 'n'"):
        ast_to_ttir(ek.bad_keyword, {"x_ptr": "*fp32"}, {}, {})
    with pytest.raises(ValueError, match="unknown parameters"):
        ast_to_ttir(ek.bad_keyword, {**SIG, "zz": "i32"}, {}, {})
    with pytest.raises(ValueError):
        ast_to_ttir(ek.bad_keyword, {"x_ptr": "*fp33", "n": "i32"}, {}, {})
    with pytest.raises(ValueError, match="constexpr parameter 'BLOCK'"):
        ast_to_ttir(ek.static_assert_fails, SIG, {}, {})
    with pytest.raises(TypeError):
        ast_to_ttir(42, SIG, {}, {})


def test_error_subclasses_name_the_kind_of_mistake() -> None:
    from tritium import errors

    assert isinstance(compile_error(ek.use_lambda), errors.UnsupportedLanguageConstruct)
    err = compile_error(ek.static_assert_fails, {"BLOCK": 24})
    assert isinstance(err, errors.CompileTimeAssertionFailure)
    assert type(compile_error(ek.bad_keyword)) is CompilationError


async def _async_kernel(x_ptr, n):
    tl.store(x_ptr, tl.load(x_ptr) + n)


def test_async_def_kernel_is_unsupported_at_its_def() -> None:
    # compiled, it was a bare "not a plain function" TypeError; now the interpreter's wording
    from tritium.errors import UnsupportedLanguageConstruct

    with pytest.raises(UnsupportedLanguageConstruct) as info:
        ast_to_ttir(_async_kernel, SIG, {}, {})
    err = info.value
    lines, first = inspect.getsourcelines(_async_kernel)
    assert (err.line, err.col) == (first, 0)
    assert err.source_line.strip().startswith("async def _async_kernel(")
    assert "unsupported construct in a kernel: async def" in str(err)
