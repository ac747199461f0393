"""Triton's compiler-plugin API as PyTorch's Inductor calls it, without torch.compile:
``make_backend``, ``triton_key``, ``compile(..., target=, options=)`` with Inductor's attrs,
``CompiledKernel.run`` with every argument, launch hooks, and the pickling Inductor does."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium.compiler import ASTSource, CompiledKernel
from tritium.compiler.triton_api import (
    CPUOptions,
    LazyDict,
    backends,
    make_backend,
    triton_key,
)
from tritium.runtime.driver import CPUDriver, GPUTarget, driver


@tritium.jit
def _axpy(out_ptr, x_ptr, n, alpha, XBLOCK: tl.constexpr):
    offs = tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)
    m = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) * alpha, mask=m)


def _compile_as_inductor() -> CompiledKernel:
    # Inductor's call: a signature with the constexpr listed, V4 attrs keyed by 1-tuples, the
    # device's "cc" as arch and a warp size of 32, GPU options it always passes.
    return tritium.compile(
        ASTSource(
            _axpy,
            {
                "out_ptr": "*fp32",
                "x_ptr": "*fp32",
                "n": "i32",
                "alpha": "fp32",
                "XBLOCK": "constexpr",
            },
            {"XBLOCK": 64},
            {(0,): [["tt.divisibility", 16]], (1,): [["tt.divisibility", 16]]},
        ),
        target=GPUTarget("cpu", "", 32),
        options={"num_warps": 4, "num_stages": 1, "debug": False, "launch_pdl": False},
    )


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(int(os.environ["TRITIUM_TEST_SEED"]))
    x = rng.standard_normal(n).astype(np.float32)
    return x, np.full(n, np.nan, np.float32)


def test_backend_registry_and_options() -> None:
    assert set(backends) == {"cpu"} and backends["cpu"].driver is CPUDriver
    assert CPUDriver.is_active()  # Inductor asks the class
    backend = make_backend(driver.active.get_current_target())
    assert backend.hash() and triton_key().startswith("tritium-")
    opts = backend.parse_options({"num_warps": 8, "extern_libs": {"a": "b"}, "bogus": 1})
    assert isinstance(opts, CPUOptions) and opts.num_warps == 8
    assert opts.extern_libs == (("a", "b"),) and opts.hash()
    with pytest.raises(ValueError, match="no tritium backend"):
        make_backend(GPUTarget("cuda", 90, 32))


def test_run_takes_every_argument_and_calls_hooks() -> None:
    kernel = _compile_as_inductor()
    assert kernel.hash and kernel.metadata.shared == 1 and kernel.metadata.num_warps == 1
    assert kernel.n_spills == 0 and kernel.packed_metadata is kernel.metadata
    n = 1000
    x, out = _data(n)
    seen: list[str] = []
    meta = kernel.launch_metadata((16, 1, 1), 0, out, x, n, 2.5, 64)
    kernel.run(16, 1, 1, 0, None, kernel.packed_metadata, meta,
               lambda m: seen.append(m["name"]), lambda m: seen.append("exit"),
               out, x, n, 2.5, 64)  # fmt: skip
    np.testing.assert_allclose(out, x.astype(np.float64) * 2.5, rtol=1e-6)
    assert seen == ["_axpy", "exit"]
    out[:] = np.nan
    kernel.run(0, 1, 1, 0, None, None, None, None, None, out, x, n, 2.5, 64)  # empty grid
    assert np.isnan(out).all()


def test_run_with_knobs_hook_chains() -> None:
    # Inductor passes knobs.runtime's chains on every launch: empty, run() skips them; a hook
    # added (a profiler) is called with the launch metadata, before and after the launch
    from tritium._triton.knobs import runtime

    kernel = _compile_as_inductor()
    n = 500
    x, out = _data(n)
    enter, leave = runtime.launch_enter_hook, runtime.launch_exit_hook
    assert not enter.calls and not leave.calls
    meta = kernel.launch_metadata((8, 1, 1), 0, out, x, n, 1.5, 64)
    kernel.run(8, 1, 1, 0, None, kernel.packed_metadata, meta, enter, leave, out, x, n, 1.5, 64)
    np.testing.assert_allclose(out, x.astype(np.float64) * 1.5, rtol=1e-6)
    seen: list[tuple[str, float]] = []

    def on_enter(m: LazyDict) -> None:
        seen.append((m["name"], float(out[0])))

    def on_exit(m: LazyDict) -> None:
        seen.append(("exit", float(out[0])))

    enter.add(on_enter)
    leave.add(on_exit)
    try:
        out[:] = np.nan
        meta = kernel.launch_metadata((8, 1, 1), 0, out, x, n, 1.5, 64)
        kernel.run(8, 1, 1, 0, None, kernel.packed_metadata, meta, enter, leave,
                   out, x, n, 1.5, 64)  # fmt: skip
    finally:
        enter.remove(on_enter)
        leave.remove(on_exit)
    assert seen[0][0] == "_axpy" and np.isnan(seen[0][1])
    assert seen[1] == ("exit", np.float32(x[0] * np.float32(1.5)))
    assert dict(meta) == {"name": "_axpy", "grid": (8, 1, 1), "stream": 0}


def test_pickled_as_inductor_does() -> None:
    kernel = _compile_as_inductor()
    # TritonCompileResult.__getstate__: the kernel's __dict__, native handles set to None
    state = {**kernel.__dict__, "module": None, "function": None, "run": None}
    fn = kernel.src.fn
    saved = fn.fn, fn.__globals__
    fn.fn = fn.__globals__ = None  # CachingAutotuner.prepare_for_pickle
    try:
        blob = pickle.dumps(state)
    finally:
        fn.fn, fn.__globals__ = saved
    copy = CompiledKernel.__new__(CompiledKernel)
    copy.__dict__.update(pickle.loads(blob))
    copy._init_handles()
    n = 300
    x, out = _data(n)
    copy.run(5, 1, 1, 0, None, copy.packed_metadata, None, None, None, out, x, n, -1.5, 64)
    np.testing.assert_allclose(out, x.astype(np.float64) * -1.5, rtol=1e-6)


def test_lazy_dict() -> None:
    d = LazyDict({"name": "k"})
    calls: list[int] = []
    d.add(lambda a: calls.append(a) or {"flops": a}, (7,))
    assert calls == [] and d["flops"] == 7 and d.get("name") == "k" and calls == [7]


def test_run_with_torch_tensors_as_inductor_passes_them() -> None:
    # Inductor's launcher passes CPU tensors and Python numbers on every launch: run() reads
    # their launch values directly (the fast path) and goes through the general conversion for
    # anything else, with the same results and errors.
    torch = pytest.importorskip("torch")
    kernel = _compile_as_inductor()
    n = 1000
    x_np, _ = _data(n)
    x = torch.from_numpy(x_np).clone()
    out = torch.full((n,), float("nan"))
    kernel.run(16, 1, 1, 0, None, None, None, None, None, out, x, n, 2.5, 64)
    np.testing.assert_allclose(out.numpy(), x_np.astype(np.float64) * 2.5, rtol=1e-6)
    # a mix the fast path hands on: a NumPy output array and a NumPy scalar
    out_np = np.full(n, np.nan, np.float32)
    kernel.run(16, 1, 1, 0, None, None, None, None, None, out_np, x, np.int64(n), -0.5, 64)
    np.testing.assert_allclose(out_np, x_np.astype(np.float64) * -0.5, rtol=1e-6)
    # a slice of a tensor: its own address, not the storage's
    out[:] = float("nan")
    kernel.run(8, 1, 1, 0, None, None, None, None, None, out[500:], x[500:], 500, 3.0, 64)
    assert torch.isnan(out[:500]).all()
    np.testing.assert_allclose(out[500:].numpy(), x_np[500:].astype(np.float64) * 3.0, rtol=1e-6)
    # empty tensors and no programs: nothing runs, nothing fails
    e = torch.empty(0)
    kernel.run(0, 1, 1, 0, None, None, None, None, None, e, e, 0, 1.0, 64)
    with pytest.raises(ValueError, match="64 bits"):
        kernel.run(1, 1, 1, 0, None, None, None, None, None, out, x, 2**70, 1.0, 64)
    with pytest.raises(TypeError, match="argument 'alpha'"):
        kernel.run(1, 1, 1, 0, None, None, None, None, None, out, x, n, "2.5", 64)
