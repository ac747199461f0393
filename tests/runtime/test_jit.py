"""JITFunction: decoration, binding, specialization, the in-memory cache, grids, interpret mode.

The compiler stages are fakes (see conftest.py): these tests check what the runtime hands to
them and to the launcher, not what a kernel computes.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium.runtime.jit import JITFunction


@tritium.jit
def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(
        out_ptr + offs,
        tl.load(x_ptr + offs, mask=mask) + tl.load(y_ptr + offs, mask=mask),
        mask=mask,
    )


@tritium.jit
def scalars_kernel(a, b, c, d: tl.constexpr = 7, e=2.5):
    pass


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Each test starts with no kernel compiled in memory (the stages are per-test fakes)."""
    add_kernel.cache.clear()
    scalars_kernel.cache.clear()


def _arrays(n: int = 100, dtype: type = np.float32) -> list[np.ndarray]:
    return [np.random.default_rng(0).random(n).astype(dtype) for _ in range(3)]


def test_decorator_forms_and_attributes() -> None:
    @tritium.jit(do_not_specialize=["n"], noinline=True, debug=True)
    def k(x, n, BLOCK: tl.constexpr):
        """Docs."""

    assert isinstance(add_kernel, JITFunction) and add_kernel.is_jit_function
    assert add_kernel.arg_names == ["x_ptr", "y_ptr", "out_ptr", "n", "BLOCK"]
    assert add_kernel.constexprs == [4]
    assert [p.is_constexpr for p in add_kernel.params] == [False] * 4 + [True]
    assert k.params[1].do_not_specialize and k.params[1].name == "n"
    assert add_kernel.__name__ == "add_kernel"
    assert add_kernel.src.startswith("def add_kernel(")
    assert k.noinline and k.debug and k.do_not_specialize == [1] and k.__doc__ == "Docs."
    assert len(add_kernel.cache_key) == 64


def test_string_annotations_are_constexprs(tmp_path) -> None:
    import importlib.util

    path = tmp_path / "postponed.py"
    path.write_text(
        "from __future__ import annotations\nimport tritium\n"
        "import tritium.language as tl\n"
        "@tritium.jit\ndef k(x, n: int, B: tl.constexpr, C: 'constexpr'):\n"
        "    pass\n"
    )
    spec = importlib.util.spec_from_file_location("postponed", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.k.constexprs == [2, 3]


def test_functions_without_source_are_refused(monkeypatch) -> None:
    ns: dict[str, object] = {}
    exec("def k(x_ptr):\n    pass\n", ns)
    # Defined without a file (Triton's tests exec kernels this way): the interpreter runs it,
    # compiling it is refused for want of its source.
    kernel = tritium.jit(ns["k"])
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.delenv("TRITIUM_INTERPRET", raising=False)
    with pytest.raises(TypeError, match="source"):
        kernel[(1,)](np.zeros(1, np.float32))
    monkeypatch.setenv("TRITIUM_INTERPRET", "1")
    kernel[(1,)](np.zeros(1, np.float32))
    with pytest.raises(TypeError, match="Python function"):
        tritium.jit(print)
    with pytest.raises(TypeError, match="args"):
        tritium.jit(lambda *args: None)[(1,)]()


def test_launch_passes_addresses_and_scalars(fake_stages) -> None:
    x, y, out = _arrays()
    add_kernel[(4,)](x, y, out, 100, BLOCK=32)
    ((name, grid, args),) = fake_stages.launches
    assert name == "add_kernel" and grid == (4, 1, 1)
    assert args == [x.ctypes.data, y.ctypes.data, out.ctypes.data, 100]
    m = fake_stages.frontend_calls[0]
    assert m.signature == {
        "x_ptr": "*fp32",
        "y_ptr": "*fp32",
        "out_ptr": "*fp32",
        "n": "i32",
        "BLOCK": "constexpr",
    }
    assert m.constexprs == {"BLOCK": 32}


def test_warm_launch_hits_the_in_memory_cache(fake_stages) -> None:
    x, y, out = _arrays()
    for _ in range(3):
        add_kernel[(1,)](x, y, out, 100, BLOCK=32)
    assert len(fake_stages.frontend_calls) == 1 and len(fake_stages.launches) == 3
    add_kernel[(1,)](x, y, out, 100, BLOCK=64)  # a new constexpr value compiles again
    add_kernel[(1,)](x.astype(np.float64), y, out, 100, BLOCK=64)  # so does a new dtype
    assert len(fake_stages.frontend_calls) == 3


def test_specialization_hints(fake_stages) -> None:
    buf = np.zeros(64, np.float32)
    unaligned = buf[1:33]
    add_kernel[(1,)](buf, unaligned, buf, 1, BLOCK=16)
    m = fake_stages.frontend_calls[-1]
    assert m.signature["n"] == "constexpr" and m.constexprs["n"] == 1
    assert fake_stages.launches[-1][2] == [
        buf.ctypes.data,
        unaligned.ctypes.data,
        buf.ctypes.data,
    ]  # n is no longer a parameter
    assert m.attrs == {"x_ptr": {"tt.divisibility": 16}, "out_ptr": {"tt.divisibility": 16}}
    add_kernel[(1,)](buf, buf, buf, 48, BLOCK=16)
    assert fake_stages.frontend_calls[-1].attrs["n"] == {"tt.divisibility": 16}
    add_kernel[(1,)](buf, buf, buf, 47, BLOCK=16)
    assert "n" not in fake_stages.frontend_calls[-1].attrs


def test_do_not_specialize(fake_stages) -> None:
    @tritium.jit(do_not_specialize=["n"])
    def k(x, n):
        pass

    buf = np.zeros(16, np.float32)
    k[(1,)](buf, 1)
    k[(1,)](buf, 32)
    k[(1,)](buf, 5)
    m = fake_stages.frontend_calls
    assert len(m) == 1 and m[0].signature["n"] == "i32" and "n" not in m[0].attrs
    assert [a[2][1] for a in fake_stages.launches] == [1, 32, 5]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "i1"),
        (3, "i32"),
        (-(2**31), "i32"),
        (2**31, "i64"),
        (2**63, "u64"),
        (1.5, "fp32"),
        (np.int8(3), "i8"),
        (np.int16(3), "i16"),
        (np.int32(3), "i32"),
        (np.int64(3), "i64"),
        (np.uint8(3), "u8"),
        (np.uint16(3), "u16"),
        (np.uint32(3), "u32"),
        (np.uint64(3), "u64"),
        (np.float16(1.5), "fp16"),
        (np.float32(1.5), "fp32"),
        (np.float64(1.5), "fp64"),
        (ml_dtypes.bfloat16(1.5), "bf16"),
        (np.bool_(True), "i1"),
    ],
)
def test_scalar_types(fake_stages, value, expected) -> None:
    scalars_kernel[(1,)](value, 0, 0)
    assert fake_stages.frontend_calls[-1].signature["a"] == expected


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.float16, "*fp16"),
        (np.float32, "*fp32"),
        (np.float64, "*fp64"),
        (np.int8, "*i8"),
        (np.int32, "*i32"),
        (np.int64, "*i64"),
        (np.uint8, "*u8"),
        (np.bool_, "*i1"),
        (ml_dtypes.bfloat16, "*bf16"),
        (ml_dtypes.float8_e4m3fn, "*fp8e4nv"),
        (ml_dtypes.float8_e5m2, "*fp8e5"),
    ],
)
def test_array_types(fake_stages, dtype, expected) -> None:
    a = np.zeros(8, dtype)
    scalars_kernel[(1,)](a, 0, 0)
    assert fake_stages.frontend_calls[-1].signature["a"] == expected
    assert fake_stages.launches[-1][2][0] == a.ctypes.data


def test_defaults_and_keywords(fake_stages) -> None:
    scalars_kernel[(1,)](2, c=3, b=5)
    m = fake_stages.frontend_calls[-1]
    assert m.constexprs == {"d": 7} and m.signature["e"] == "fp32"
    assert fake_stages.launches[-1][2] == [2, 5, 3, 2.5]


def test_torch_tensors(fake_stages) -> None:
    torch = pytest.importorskip("torch")
    x = torch.rand(100)
    y = torch.rand(100, dtype=torch.float64)
    out = torch.empty(100, dtype=torch.bfloat16)
    add_kernel[(2,)](x, y, out, 100, BLOCK=64)
    assert fake_stages.frontend_calls[-1].signature["y_ptr"] == "*fp64"
    assert fake_stages.frontend_calls[-1].signature["out_ptr"] == "*bf16"
    assert fake_stages.launches[-1][2][:3] == [x.data_ptr(), y.data_ptr(), out.data_ptr()]


class _Interface:
    """An array known only through ``__array_interface__``."""

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr
        self.__array_interface__ = arr.__array_interface__


class _DLPackOnly:
    """An array known only through the DLPack protocol."""

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr

    def __dlpack__(self, **kwargs):
        return self.arr.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.arr.__dlpack_device__()


def test_array_interface_and_dlpack_objects(fake_stages) -> None:
    a, b, c = _arrays(dtype=np.int32)
    add_kernel[(1,)](_Interface(a), _DLPackOnly(b), c, 100, BLOCK=128)
    assert fake_stages.frontend_calls[-1].signature["x_ptr"] == "*i32"
    assert fake_stages.frontend_calls[-1].signature["y_ptr"] == "*i32"
    assert fake_stages.launches[-1][2][:2] == [a.ctypes.data, b.ctypes.data]


def test_argument_errors_name_the_parameter(fake_stages) -> None:
    x, y, out = _arrays()
    with pytest.raises(TypeError, match="'n'"):
        add_kernel[(1,)](x, y, out, BLOCK=16)
    with pytest.raises(TypeError, match="positional"):
        add_kernel[(1,)](x, y, out, 1, 16, 3)
    with pytest.raises(TypeError, match="'y_ptr'.*str"):
        add_kernel[(1,)](x, "oops", out, 10, BLOCK=16)
    with pytest.raises(TypeError, match="'x_ptr'.*complex"):
        add_kernel[(1,)](x.astype(np.complex64), y, out, 10, BLOCK=16)
    with pytest.raises(ValueError, match="'n'.*64 bits"):
        add_kernel[(1,)](x, y, out, 2**70, BLOCK=16)
    with pytest.raises(TypeError, match="'BLOCK'.*hashable"):
        add_kernel[(1,)](x, y, out, 10, BLOCK=[16])
    with pytest.raises(TypeError, match="unexpected keyword argument 'BLOK'"):
        add_kernel[(1,)](x, y, out, 10, BLOCK=16, BLOK=3)
    assert fake_stages.launches == []


def test_grid_forms(fake_stages) -> None:
    x, y, out = _arrays()
    seen = []

    def grid(meta):
        seen.append(meta)
        return (tritium.cdiv(meta["n"], meta["BLOCK"]), np.int64(2))

    add_kernel[grid](x, y, out, 100, BLOCK=32, num_warps=8)
    assert fake_stages.launches[-1][1] == (4, 2, 1)
    assert seen[0]["BLOCK"] == 32 and seen[0]["num_warps"] == 8 and seen[0]["x_ptr"] is x
    add_kernel[(2, 3, 4)](x, y, out, 100, BLOCK=32)
    assert fake_stages.launches[-1][1] == (2, 3, 4)
    n = len(fake_stages.launches)
    add_kernel[(0,)](x, y, out, 100, BLOCK=32)
    assert len(fake_stages.launches) == n  # an empty grid launches nothing
    with pytest.raises(ValueError, match="grid"):
        add_kernel[(1, 1, 1, 1)](x, y, out, 100, BLOCK=32)
    with pytest.raises(ValueError, match="negative"):
        add_kernel[(-1,)](x, y, out, 100, BLOCK=32)
    with pytest.raises(TypeError, match="grid must be a tuple"):
        add_kernel[4](x, y, out, 100, BLOCK=32)
    with pytest.raises(TypeError, match="grid must be a tuple"):
        add_kernel[lambda meta: None](x, y, out, 100, BLOCK=32)


def test_launch_options_reach_the_backend(fake_stages) -> None:
    x, y, out = _arrays()
    add_kernel[(1,)](x, y, out, 100, BLOCK=32, num_warps=4, num_stages=2, num_ctas=1, maxnreg=64)
    assert fake_stages.compile_options[-1] == {
        "num_warps": 4,
        "num_stages": 2,
        "num_ctas": 1,
        "maxnreg": 64,
    }


def test_warmup_compiles_without_launching(fake_stages) -> None:
    x, y, out = _arrays()
    k = add_kernel.warmup(x, y, out, 100, BLOCK=32, grid=(1,))
    assert fake_stages.launches == [] and "ttir" in k.asm and "llir" in k.asm


def test_cache_key_follows_callees(tmp_path) -> None:
    ns: dict[str, object] = {}
    src = (
        "import tritium\n@tritium.jit\ndef helper(x):\n    return x + {c}\n"
        "@tritium.jit\ndef kernel(p):\n    helper(p)\n"
    )
    keys = []
    for c in (1, 2):
        path = tmp_path / f"callee_{c}.py"  # inspect needs a real file for the source
        path.write_text(src.format(c=c))
        exec(compile(src.format(c=c), str(path), "exec"), ns)
        keys.append(ns["kernel"].cache_key)
    assert keys[0] != keys[1]


def test_cache_key_includes_constexpr_globals(tmp_path) -> None:
    import importlib.util

    keys = []
    for value in (16, 32):
        p = tmp_path / f"kmod{value}.py"
        p.write_text(
            "import tritium\nimport tritium.language as tl\n"
            f"SIZE = tl.constexpr({value})\n"
            "@tritium.jit\ndef kernel(p):\n    return SIZE\n"
        )
        spec = importlib.util.spec_from_file_location(f"kmod{value}", p)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        keys.append(mod.kernel.cache_key)
    assert keys[0] != keys[1]


def test_calling_a_kernel_directly_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="launch it"):
        add_kernel(1, 2, 3, 4, 5)


def test_interpret_mode_calls_the_interpreter(fake_stages, monkeypatch) -> None:
    import tritium.interpreter as interp

    calls = []
    monkeypatch.setattr(
        interp,
        "run_kernel",
        lambda fn, grid, args, sanitize=False: calls.append((fn, grid, args)),
        raising=False,
    )
    monkeypatch.setenv("TRITIUM_INTERPRET", "1")
    x, y, out = _arrays()
    add_kernel[lambda meta: (tritium.cdiv(meta["n"], meta["BLOCK"]),)](x, y, out, 100, BLOCK=64)
    ((fn, grid, args),) = calls
    assert fn is add_kernel.fn and grid == (2, 1, 1)
    assert args == {"x_ptr": x, "y_ptr": y, "out_ptr": out, "n": 100, "BLOCK": 64}
    assert fake_stages.frontend_calls == []  # nothing compiled
    with pytest.raises(TypeError, match="'n'"):
        add_kernel[(1,)](x, y, out, BLOCK=16)


def test_compilation_errors_hide_compiler_frames(fake_stages, monkeypatch) -> None:
    import traceback

    def failing_frontend(fn, signature, constexprs, attrs):
        raise tritium.CompilationError(
            "bad thing", file="k.py", line=3, col=4, source_line="    x = bad\n"
        )

    monkeypatch.setattr(fake_stages, "ast_to_ttir", failing_frontend)
    x, y, out = _arrays()
    with pytest.raises(tritium.CompilationError, match="bad thing") as info:
        add_kernel[(1,)](x, y, out, 100, BLOCK=32)
    files = [f.filename for f in traceback.extract_tb(info.tb)]
    assert not any("compiler" in f or "conftest" in f for f in files), files


def test_generated_launcher_edge_cases(fake_stages) -> None:
    @tritium.jit
    def only_constexprs(A: tl.constexpr, B: tl.constexpr = 3):
        pass

    @tritium.jit
    def one_param(x):
        pass

    only_constexprs[(1,)](2)
    assert fake_stages.frontend_calls[-1].constexprs == {"A": 2, "B": 3}
    assert fake_stages.launches[-1][2] == []
    one_param[(1,)](np.zeros(4, np.float32))
    assert fake_stages.frontend_calls[-1].signature == {"x": "*fp32"}
    assert "def one_param(x, *, grid" in one_param._run_source
    with pytest.raises(TypeError, match="reserved"):

        @tritium.jit
        def bad(x, grid):
            pass


def test_do_not_specialize_on_alignment(fake_stages) -> None:
    @tritium.jit(do_not_specialize_on_alignment=["x", 2])
    def k(x, n, m):
        pass

    buf = np.zeros(64, np.float32)
    k[(1,)](buf, 32, 1)
    m = fake_stages.frontend_calls[-1]
    # no alignment or divisibility hints on x and m, but m == 1 is still a constant
    assert m.attrs == {"n": {"tt.divisibility": 16}}
    assert m.signature["m"] == "constexpr" and m.constexprs["m"] == 1


def test_cache_key_follows_plain_python_helpers(tmp_path) -> None:
    import importlib.util

    keys = []
    for body in ("a + b", "a * b"):
        path = tmp_path / f"helper_{len(keys)}.py"
        path.write_text(
            "import tritium\n"
            f"def combine(a, b):\n    return {body}\n"
            "@tritium.jit\ndef kernel(p):\n    combine(p, p)\n"
        )
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        keys.append(mod.kernel.cache_key)
    assert keys[0] != keys[1]


def test_array_pointer_matches_numpy(tmp_path) -> None:
    from tritium.signature import array_pointer

    base = np.arange(60, dtype=np.float64).reshape(6, 10)
    mm = np.memmap(tmp_path / "m.bin", dtype=np.int16, mode="w+", shape=(8,))
    for arr in (
        base,
        base[2:, 3:],
        base[::-1],
        base.T,
        np.zeros(0),
        mm,
        mm[3:],
        np.asarray(ml_dtypes.bfloat16(1.0)).reshape(1),
    ):
        assert array_pointer(arr) == arr.__array_interface__["data"][0]


def test_keyword_only_parameters(fake_stages) -> None:
    @tritium.jit
    def k(x, *, n, BLOCK: tl.constexpr = 8):
        pass

    buf = np.zeros(4, np.float32)
    k[(1,)](buf, n=3)
    assert fake_stages.launches[-1][2] == [buf.ctypes.data, 3]
    with pytest.raises(TypeError, match="positional"):
        k[(1,)](buf, 3)


def test_tuple_arguments(fake_stages) -> None:
    @tritium.jit
    def k(out, T, pair, N: tl.constexpr):
        pass

    a, b, out = _arrays(dtype=np.int32)
    k[(1,)](out, (a, b), (4, 1), N=8)
    m = fake_stages.frontend_calls[-1]
    # as in Triton, the 1 in the tuple is the constant 1; no other hints inside tuples
    assert m.signature == {
        "out": "*i32",
        "T": ("*i32", "*i32"),
        "pair": ("i32", "constexpr"),
        "N": "constexpr",
    }
    assert m.constexprs["pair"] == (None, 1)
    assert set(m.attrs) <= {"out"}  # only the tensor may carry an alignment hint
    assert fake_stages.launches[-1][2] == [out.ctypes.data, a.ctypes.data, b.ctypes.data, 4]
    with pytest.raises(TypeError, match="'T'"):
        k[(1,)](out, (a, "x"), (4, 1), N=8)


def test_constexpr_values_for_plain_parameters(fake_stages) -> None:
    x, y, out = _arrays()
    add_kernel[(1,)](x, y, out, tl.constexpr(100), BLOCK=tl.constexpr(32))
    m = fake_stages.frontend_calls[-1]
    assert m.signature["n"] == "constexpr" and m.constexprs == {"n": 100, "BLOCK": 32}
    assert fake_stages.launches[-1][2] == [x.ctypes.data, y.ctypes.data, out.ctypes.data]


def test_tuple_arguments_with_constexpr_elements(fake_stages) -> None:
    @tritium.jit
    def k(T):
        pass

    a = np.zeros(4, np.float32)
    k[(1,)]((a, tl.constexpr(7), None, (3, tl.constexpr("s"))))
    m = fake_stages.frontend_calls[-1]
    assert m.signature == {"T": ("*fp32", "constexpr", "constexpr", ("i32", "constexpr"))}
    assert m.constexprs == {"T": (None, 7, None, (None, "s"))}
    assert fake_stages.launches[-1][2] == [a.ctypes.data, 3]


def test_sanitize_compiles_a_checked_kernel(fake_stages, monkeypatch) -> None:
    x, y, out = _arrays()
    add_kernel[(1,)](x, y, out, 100, BLOCK=32)
    monkeypatch.setenv("TRITIUM_SANITIZE", "1")
    add_kernel[(1,)](x, y, out, 100, BLOCK=32)
    add_kernel[(1,)](x, y, out, 100, BLOCK=32)
    monkeypatch.delenv("TRITIUM_SANITIZE")
    add_kernel[(1,)](x, y, out, 100, BLOCK=32)
    # one plain and one checked compile, each reused; the backend is told which is which
    assert fake_stages.compile_options == [{}, {"sanitize": True}]
    assert len(fake_stages.launches) == 4
