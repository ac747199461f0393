"""Small ``torch.compile`` cases under ``install_as_triton()``, run in a fresh process.

torch's compiler looks for Triton once per process, so each mode runs in a subprocess of its
own (see ``test_torch_compile.py``); this script prints one JSON line per case.
Usage: ``python torch_compile_cases.py compiled|interpreted|no_alias``.
"""

import json
import os
import sys

# No ``from __future__ import annotations``: torch.library reads the op's annotations as types.


def _missing_surface() -> str:
    """The Triton names torch needs that this checkout does not have yet ('' if none)."""
    import importlib

    needs = {
        "triton.language.core": "view",
        "triton.runtime.jit": "ConstexprFunction",
        "triton.knobs": "runtime",
    }
    missing = []
    for module, name in needs.items():
        if not hasattr(importlib.import_module(module), name):
            missing.append(f"{module}.{name}")
    import triton.runtime

    if not hasattr(triton.runtime.driver, "active"):  # after `import triton.runtime.driver`
        missing.append("triton.runtime.driver.active")
    return ", ".join(missing)


def custom_op_without_alias() -> None:
    """Without the alias: a tritium kernel wrapped in a ``torch.library.custom_op``."""
    import torch

    import tritium
    import tritium.language as tl

    assert "triton" not in sys.modules

    @tritium.jit
    def scale_add(x_ptr, y_ptr, out_ptr, n, alpha, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        a = tl.load(x_ptr + offs, mask=m)
        tl.store(out_ptr + offs, a * alpha + tl.load(y_ptr + offs, mask=m), mask=m)

    @torch.library.custom_op("tritium_test::scale_add_op", mutates_args=())
    def scale_add_op(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(a, float("nan"))
        n = a.numel()
        scale_add[(tritium.cdiv(n, 128),)](a, b, out, n, 3.0, BLOCK=128)
        return out

    @scale_add_op.register_fake
    def _(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.empty_like(a)

    torch.manual_seed(int(os.environ.get("TRITIUM_TEST_SEED", "0")))
    a, b = torch.randn(1000), torch.randn(1000)
    want = torch.cos(3.0 * a.double() + b.double())
    got = torch.compile(lambda a, b: scale_add_op(a, b).cos(), fullgraph=True)(a, b)
    err = float((got.double() - want).abs().max())
    print(json.dumps({"case": "custom_op_no_alias", "ok": err < 1e-5, "err": err}), flush=True)


def main(mode: str) -> None:
    if mode == "no_alias":
        custom_op_without_alias()
        return
    import tritium
    from tritium.runtime.torch_integration import use_tritium_in_inductor

    tritium.install_as_triton()
    missing = _missing_surface()
    if missing:
        print(json.dumps({"skip": f"the triton facade lacks {missing}"}))
        return
    use_tritium_in_inductor(cpu_backend="cpp")
    import torch
    import torch._inductor.config as inductor_config
    import triton
    import triton.language as tl
    from torch._inductor.utils import run_and_get_code

    import tritium.interpreter

    torch.manual_seed(int(os.environ.get("TRITIUM_TEST_SEED", "0")))
    launches = {"interpreted": 0}
    run_kernel = tritium.interpreter.run_kernel

    def counting_run_kernel(*args, **kwargs):
        launches["interpreted"] += 1
        return run_kernel(*args, **kwargs)

    tritium.interpreter.run_kernel = counting_run_kernel

    # the vector width each Inductor kernel is compiled with (use_tritium_in_inductor adds it
    # to the options of kernels that call math functions)
    from torch._inductor.runtime.triton_heuristics import CachingAutotuner

    widths: dict[str, object] = {}
    create_options = CachingAutotuner._create_compile_options

    def recording_create_options(self, cfg, compile_meta):
        options = create_options(self, cfg, compile_meta)
        widths[self.fn.__name__] = options.get("vector_width")
        return options

    CachingAutotuner._create_compile_options = recording_create_options

    def report(case: str, got, want, code: str = "", tol: float = 1e-4) -> None:
        err = float((got.double() - want).abs().max())
        scale = float(want.abs().max())
        print(
            json.dumps(
                {
                    "case": case,
                    "ok": bool(err <= tol * (1 + scale)),
                    "err": err,
                    "triton_kernels": code.count("@triton.jit"),
                    "cpp_kernels": code.count('extern "C"'),
                    "interpreted": launches["interpreted"],
                    "widths": {k: widths[k] for k in sorted(widths) if k in code},
                }
            ),
            flush=True,
        )

    def softmax_graph(x, y):
        return torch.softmax(x @ y, -1) * 2 + torch.sin(x).sum()

    def norm_graph(x, w):
        return torch.nn.functional.layer_norm(x, (x.shape[-1],), w) * torch.sigmoid(x)

    def argmax_graph(x):
        # Inductor calls triton_helpers.maximum_with_index: `not` on a tile in a helper
        return x.argmax(-1).to(x.dtype) + x.amax(-1)

    def strided_graph(t):
        # reductions across the non-contiguous axes (sum over dim 0, var_mean over the middle
        # dim) and stride-2 slices: the CPU backend's transposed reductions and pair loads
        var, mean = torch.var_mean(t, dim=1)
        rot = t[..., ::2] * 2 + t[..., 1::2]
        return torch.cat([t.sum(0).flatten(), var.flatten(), mean.flatten(), rot.flatten()])

    x, y = torch.randn(33, 40), torch.randn(40, 33)
    t3 = torch.randn(6, 40, 64)
    want_strided = strided_graph(t3.double())
    w = torch.rand(40) + 0.5
    want_softmax = softmax_graph(x.double(), y.double())
    want_norm = norm_graph(x.double(), w.double())
    want_argmax = argmax_graph(x.double())
    if mode == "compiled":
        # (a) Inductor's own C++ backend, with tritium installed as triton
        got, code = run_and_get_code(torch.compile(softmax_graph), x, y)
        report("cpp_backend", got, want_softmax, "\n".join(code))
    # Inductor writes Triton kernels for the CPU; tritium compiles (or interprets) them
    inductor_config.cpu_backend = "triton"
    torch._dynamo.reset()
    for case, fn, args, want in (
        ("triton_softmax", softmax_graph, (x, y), want_softmax),
        ("triton_layernorm", norm_graph, (x, w), want_norm),
        ("triton_argmax", argmax_graph, (x,), want_argmax),
        ("triton_strided", strided_graph, (t3,), want_strided),
    ):
        got, code = run_and_get_code(torch.compile(fn), *args)
        report(case, got, want, "\n".join(code))
    if mode != "compiled":
        return

    # (b) a user's kernel inside a compiled function, as Dynamo treats a Triton kernel
    @triton.jit
    def scale_add(x_ptr, y_ptr, out_ptr, n, alpha, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        a = tl.load(x_ptr + offs, mask=m)
        tl.store(out_ptr + offs, a * alpha + tl.load(y_ptr + offs, mask=m), mask=m)

    def user_kernel_graph(a, b):
        out = torch.full_like(a, float("nan"))
        scale_add[(triton.cdiv(a.numel(), 64),)](a, b, out, a.numel(), 3.0, BLOCK=64)
        return torch.cos(out)

    a, b = torch.randn(1000), torch.randn(1000)
    want = torch.cos(3.0 * a.double() + b.double())
    got = torch.compile(user_kernel_graph, fullgraph=True)(a, b)
    report("user_kernel_fullgraph", got, want)

    # (c) torch.library.triton_op + wrap_triton
    @torch.library.triton_op("tritium_test::scale_add", mutates_args={})
    def scale_add_op(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(a, float("nan"))
        n = a.numel()
        torch.library.wrap_triton(scale_add)[(triton.cdiv(n, 128),)](a, b, out, n, 3.0, BLOCK=128)
        return out

    got = torch.compile(lambda a, b: scale_add_op(a, b).cos(), fullgraph=True)(a, b)
    report("triton_op", got, want)


if __name__ == "__main__":
    main(sys.argv[1])
