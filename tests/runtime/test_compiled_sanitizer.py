"""The compiled CPU backend's bounds check (``sanitize=True``, ``@jit(debug=True)``,
``TRITIUM_SANITIZE=1``): a bad access raises ``SanitizerError`` instead of touching memory."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import tritium as triton
import tritium.language as tl
from tritium.errors import SanitizerError
from tritium.signature import memory_span


@pytest.fixture(autouse=True)
def _compiled(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.delenv("TRITIUM_SANITIZE", raising=False)
    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(tmp_path / "cache"))


@triton.jit
def copy_kernel(x_ptr, out_ptr, n, extra, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0.0)
    tl.store(out_ptr + offs, x + 1, mask=offs < n + extra)  # STORE


@triton.jit
def shifted_load_kernel(x_ptr, out_ptr, n, shift, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs - shift, mask=offs < n)  # LOAD
    tl.store(out_ptr + offs, x, mask=offs < n)


@triton.jit
def counter_kernel(cnt_ptr, slot):
    tl.atomic_add(cnt_ptr + slot, 1)  # ATOMIC
    tl.atomic_cas(cnt_ptr + slot + 1, 0, 5)  # CAS


@triton.jit
def strided_kernel(x_ptr, out_ptr, n, stride, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs * stride, mask=offs < n)
    tl.store(out_ptr + offs, x, mask=offs < n)


@triton.jit
def loop_kernel(x_ptr, out_ptr, steps, BLOCK: tl.constexpr):
    p = x_ptr + tl.arange(0, BLOCK)
    acc = tl.zeros((BLOCK,), tl.float32)
    for _ in range(steps):
        acc += tl.load(p)  # LOOP
        p += BLOCK
    tl.store(out_ptr + tl.arange(0, BLOCK), acc)


def _line(fn: triton.JITFunction, tag: str) -> int:
    lines, start = inspect.getsourcelines(fn.fn)
    return start + next(i for i, text in enumerate(lines) if f"# {tag}" in text)


def _guarded(n: int, guard: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """A poisoned buffer with ``guard`` elements either side of the ``n`` the kernel gets."""
    buf = np.full(n + 2 * guard, -7.0, np.float32)
    return buf, buf[guard : guard + n]


def test_store_past_the_end_raises_and_leaves_neighbours_alone() -> None:
    x = np.arange(30, dtype=np.float32)
    buf, out = _guarded(30)
    with pytest.raises(SanitizerError) as info:
        copy_kernel[(4,)](x, out, 30, 1, BLOCK=8, sanitize=True)
    e = info.value
    assert e.kind == "out-of-bounds"
    text = str(e)
    assert text.startswith("out-of-bounds: store at ")
    assert f"{__file__}:{_line(copy_kernel, 'STORE')}" in text
    assert "argument 'out_ptr'" in text and "in program (3, 0, 0)" in text
    assert (buf[:8] == -7).all() and (buf[38:] == -7).all()  # nothing written outside `out`


def test_in_bounds_launch_is_correct_and_masked_off_lanes_never_trigger() -> None:
    x = np.arange(30, dtype=np.float32)
    buf, out = _guarded(30)
    # the grid covers 64 lanes; 34 are masked off and point past both arrays
    copy_kernel[(8,)](x, out, 30, 0, BLOCK=8, sanitize=True)
    np.testing.assert_array_equal(out, x + 1)
    assert (buf[:8] == -7).all() and (buf[38:] == -7).all()


def test_load_before_the_start_names_the_argument() -> None:
    x = np.arange(16, dtype=np.float32)
    out = np.zeros(16, np.float32)
    with pytest.raises(SanitizerError, match=r"load at .*:\d+ reads argument 'x_ptr'") as info:
        shifted_load_kernel[(2,)](x, out, 16, 1, BLOCK=8, sanitize=True)
    assert f":{_line(shifted_load_kernel, 'LOAD')} " in str(info.value)
    assert "in program (0, 0, 0)" in str(info.value)


def test_atomics_are_checked() -> None:
    cnt = np.zeros(4, np.int32)
    counter_kernel[(3,)](cnt, 2, sanitize=True)
    assert cnt.tolist() == [0, 0, 3, 5]
    with pytest.raises(SanitizerError, match="atomic_add at .* updates argument 'cnt_ptr'"):
        counter_kernel[(1,)](cnt, 4, sanitize=True)
    with pytest.raises(SanitizerError, match="atomic_cas at .* updates argument 'cnt_ptr'"):
        counter_kernel[(1,)](cnt, 3, sanitize=True)
    assert cnt.tolist() == [0, 0, 3, 6]  # the atomic_add of the last launch ran, its cas did not


def test_negative_strides() -> None:
    base = np.arange(8, dtype=np.float32)
    rev = base[::-1]
    out = np.zeros(8, np.float32)
    strided_kernel[(1,)](rev, out, 8, -1, BLOCK=8, sanitize=True)
    np.testing.assert_array_equal(out, rev)
    with pytest.raises(SanitizerError, match="argument 'x_ptr'"):
        strided_kernel[(1,)](rev[:4], out, 8, -1, BLOCK=8, sanitize=True)


def test_loop_carried_pointer() -> None:
    x = np.arange(16, dtype=np.float32)
    out = np.zeros(4, np.float32)
    loop_kernel[(1,)](x, out, 4, BLOCK=4, sanitize=True)
    np.testing.assert_array_equal(out, x.reshape(4, 4).sum(0))
    with pytest.raises(SanitizerError, match=f":{_line(loop_kernel, 'LOOP')} reads"):
        loop_kernel[(1,)](x, out, 5, BLOCK=4, sanitize=True)


def test_environment_and_debug_turn_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.arange(16, dtype=np.float32)
    out = np.zeros(16, np.float32)
    monkeypatch.setenv("TRITIUM_SANITIZE", "1")
    with pytest.raises(SanitizerError):
        shifted_load_kernel[(2,)](x, out, 16, 1, BLOCK=8)
    monkeypatch.delenv("TRITIUM_SANITIZE")
    debug_kernel = triton.jit(shifted_load_kernel.fn, debug=True)
    with pytest.raises(SanitizerError):
        debug_kernel[(2,)](x, out, 16, 1, BLOCK=8)


def test_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    x = torch.arange(16, dtype=torch.float32)
    out = torch.zeros(16)
    shifted_load_kernel[(2,)](x, out, 16, 0, BLOCK=8, sanitize=True)
    assert torch.equal(out, x)
    with pytest.raises(SanitizerError, match="argument 'x_ptr'"):
        shifted_load_kernel[(2,)](x[1:], out, 16, 0, BLOCK=8, sanitize=True)


def test_without_sanitize_the_kernel_is_unchanged() -> None:
    x = np.arange(16, dtype=np.float32)
    out = np.zeros(16, np.float32)
    plain = shifted_load_kernel.warmup(x, out, 16, 0, BLOCK=8, grid=(1,))
    checked = shifted_load_kernel.warmup(x, out, 16, 0, BLOCK=8, grid=(1,), sanitize=True)
    assert "tt.assert" not in plain.asm["ttir"] and "tt.bounds_check" not in plain.asm["ttir"]
    assert checked.asm["ttir"].count('sanitizer = "out-of-bounds"') == 2
    assert len(checked.metadata["param_types"]) == len(plain.metadata["param_types"]) + 4
    # the compiler's bounds-check stage says so in the metadata (a cached kernel keeps it)
    assert checked.metadata["sanitized"] is True and "sanitized" not in plain.metadata


def test_memory_span() -> None:
    a = np.zeros((4, 6), np.float32)
    ptr = a.__array_interface__["data"][0]
    assert memory_span(a) == (ptr, ptr + 96)
    assert memory_span(a[:, 1:3]) == (ptr + 4, ptr + 4 + 3 * 24 + 8)
    assert memory_span(a[::-1, ::-2]) == (ptr + 4, ptr + 96)
    assert memory_span(a[:0]) == (ptr, ptr)
    assert memory_span(3) is None


@pytest.mark.parametrize("tutorial", ["vector_add", "fused_softmax", "layer_norm", "matmul"])
def test_tutorials_run_clean(tutorial: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tutorials import fused_softmax, layer_norm, matmul, vector_add

    monkeypatch.setenv("TRITIUM_SANITIZE", "1")
    rng = np.random.default_rng(0)
    if tutorial == "vector_add":
        x = rng.standard_normal(1000).astype(np.float32)
        np.testing.assert_allclose(vector_add.add(x, x), 2 * x)
        kernel = vector_add.add_kernel
    elif tutorial == "fused_softmax":
        x = rng.standard_normal((13, 77)).astype(np.float32)
        out = fused_softmax.softmax(x)
        np.testing.assert_allclose(out.sum(1), 1, rtol=1e-5)
        kernel = fused_softmax.softmax_kernel
    elif tutorial == "layer_norm":
        x = rng.standard_normal((9, 130)).astype(np.float32)
        w, b = np.ones(130, np.float32), np.zeros(130, np.float32)
        y, mean, rstd = layer_norm.forward(x, w, b)
        np.testing.assert_allclose(y.mean(1), 0, atol=1e-4)
        dx, dw, db = layer_norm.backward(np.ones_like(y), x, w, mean, rstd)  # locks, atomics
        np.testing.assert_allclose(db, 9, rtol=1e-5)
        kernel = layer_norm._layer_norm_bwd_dx_fused
    else:
        a = rng.standard_normal((40, 24)).astype(np.float16)
        b = rng.standard_normal((24, 36)).astype(np.float16)
        c = matmul.matmul(a, b)
        ref = a.astype(np.float32) @ b.astype(np.float32)
        np.testing.assert_allclose(c.astype(np.float32), ref, rtol=1e-2, atol=5e-2)
        kernel = matmul.matmul_kernel.fn
    assert any("tt.bounds_check" in c.asm["ttir"] for _, c in kernel.cache.values())


@triton.jit
def tuple_kernel(pair, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(pair[1] + offs, tl.load(pair[0] + offs, mask=offs < n), mask=offs < n)


def test_tuple_arguments_name_their_elements() -> None:
    x = np.arange(8, dtype=np.float32)
    out = np.zeros(8, np.float32)
    tuple_kernel[(1,)]((x, out), 8, BLOCK=8, sanitize=True)
    np.testing.assert_array_equal(out, x)
    with pytest.raises(SanitizerError, match=r"store at .* writes argument 'pair\[1\]'"):
        tuple_kernel[(1,)]((x, out[:4]), 4 + 1, BLOCK=8, sanitize=True)


def test_interpreted_launch_accepts_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITIUM_INTERPRET", "1")
    x = np.arange(16, dtype=np.float32)
    out = np.zeros(16, np.float32)
    with pytest.raises(SanitizerError, match="x_ptr"):
        shifted_load_kernel[(2,)](x, out, 16, 1, BLOCK=8, sanitize=True)


def test_ahead_of_time_compiled_kernel() -> None:
    sig = {"x_ptr": "*fp32", "out_ptr": "*fp32", "n": "i32", "extra": "i32"}
    src = triton.compiler.ASTSource(copy_kernel, sig, constexprs={"BLOCK": 8})
    kernel = triton.compile(src, options={"sanitize": True})
    x = np.arange(30, dtype=np.float32)
    buf, out = _guarded(30)
    kernel[(4, 1, 1)](x, out, 30, 0)
    np.testing.assert_array_equal(out, x + 1)
    with pytest.raises(SanitizerError, match="argument 'out_ptr'"):
        kernel[(4, 1, 1)](x, out, 30, 1)
    assert (buf[38:] == -7).all()
