"""tritium's own ELF object loader (``backends/cpu/objload.py``) and the host details cache
(``hostinfo.py``): what a new process needs to launch cached kernels without LLVM (issue 13)."""

from __future__ import annotations

import ctypes
import os
import sys

import numpy as np
import pytest

from tritium.backends.cpu import hostinfo, objload, target

pytestmark = pytest.mark.skipif(
    not objload.supported_host(), reason="the own loader is for x86-64 Linux"
)

# A function that reads a constant table (.rodata), keeps state in a global (.bss/.lbss), and
# calls libm (cbrt) and the runtime's compiler-rt helper (__truncsfbf2).
_IR = """
@table = internal constant [4 x double] [double 1.5, double -2.25, double 3.0, double 0.5]
@counter = global i64 0

declare double @cbrt(double)
declare bfloat @__truncsfbf2(float)

define double @probe_{tag}(double %x, i64 %i) {{
  %p = getelementptr [4 x double], ptr @table, i64 0, i64 %i
  %t = load double, ptr %p
  %c = call double @cbrt(double %x)
  %r = fmul double %c, %t
  %n = load i64, ptr @counter
  %n1 = add i64 %n, 1
  store i64 %n1, ptr @counter
  ret double %r
}}

define i16 @round_{tag}(float %x) {{
  %b = call bfloat @__truncsfbf2(float %x)
  %i = bitcast bfloat %b to i16
  ret i16 %i
}}

define i64 @count_{tag}() {{
  %n = load i64, ptr @counter
  ret i64 %n
}}
"""


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(int(os.environ["TRITIUM_TEST_SEED"]))


def _bf16_bits(x: np.ndarray) -> np.ndarray:
    u = x.view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def _permissions(address: int) -> str:
    with open("/proc/self/maps") as f:
        for line in f:
            span, perms = line.split()[:2]
            lo, hi = (int(v, 16) for v in span.split("-"))
            if lo <= address < hi:
                return perms
    return ""


@pytest.mark.parametrize("loader", ["auto", "llvm"])
def test_loaded_object_runs_like_llvms_jit(rng, monkeypatch, loader) -> None:
    monkeypatch.setenv("TRITIUM_OBJECT_LOADER", loader)
    tag = f"{loader}_{rng.integers(1 << 40)}"  # a fresh object: each loads once per process
    _, obj = target.optimize_and_emit(_IR.format(tag=tag))
    probe = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double, ctypes.c_int64)(
        target.load_object(obj, f"probe_{tag}")
    )
    round_ = ctypes.CFUNCTYPE(ctypes.c_uint16, ctypes.c_float)(
        target.load_object(obj, f"round_{tag}")
    )
    count = ctypes.CFUNCTYPE(ctypes.c_int64)(target.load_object(obj, f"count_{tag}"))
    table = np.array([1.5, -2.25, 3.0, 0.5])
    xs = rng.standard_normal(64) * 50.0
    idx = rng.integers(0, 4, 64)
    got = np.array([probe(float(x), int(i)) for x, i in zip(xs, idx)])
    np.testing.assert_allclose(got, np.cbrt(xs) * table[idx], rtol=1e-14)
    assert count() == 64  # the global is writable and shared by the object's functions
    f = rng.standard_normal(64).astype(np.float32)
    assert [round_(float(v)) for v in f] == _bf16_bits(f).tolist()
    if loader == "auto":
        # code is mapped read+execute, never writable
        assert _permissions(target.load_object(obj, f"probe_{tag}")).startswith("r-x")


def test_unsupported_objects_are_refused() -> None:
    with pytest.raises(objload.UnsupportedObjectError):
        objload.load(b"\x7fELF" + bytes(60), lambda name: None)
    with pytest.raises(objload.UnsupportedObjectError):
        objload.load(b"not an object at all", lambda name: None)
    _, good = target.optimize_and_emit("define i32 @f_cut() {\n  ret i32 7\n}\n")
    with pytest.raises(objload.UnsupportedObjectError, match="malformed|section header"):
        objload.load(good[: len(good) // 2], lambda name: None)  # cut short
    _, obj = target.optimize_and_emit(
        "declare i32 @tritium_no_such_symbol()\n"
        "define i32 @f_unresolved() {\n  %r = call i32 @tritium_no_such_symbol()\n  ret i32 %r\n}\n"
    )
    with pytest.raises(objload.UnsupportedObjectError, match="tritium_no_such_symbol"):
        objload.load(obj, lambda name: None)


def test_host_details_come_from_the_store_for_the_same_cpu(monkeypatch) -> None:
    class Store(dict):  # type: ignore[type-arg]
        def load(self, key: str) -> bytes | None:
            return self.get(key)

        def save(self, key: str, data: bytes) -> None:
            self[key] = data

    asked = []
    details = ("cpu-x", "+a,-b", "x86_64-unknown-linux-gnu", "e-m:e")

    def ask() -> hostinfo.Details:
        asked.append(1)
        return details

    store = Store()
    monkeypatch.setitem(hostinfo._memo, "cpu", "flags=a b")
    monkeypatch.setitem(hostinfo._memo, "llvm", "llvm-1")
    assert hostinfo.cached_details(store, ask) == details
    assert hostinfo.cached_details(store, ask) == details
    assert len(asked) == 1  # the second process (same CPU, same LLVM) does not ask LLVM
    monkeypatch.setitem(hostinfo._memo, "cpu", "flags=a b c")  # another CPU: ask again
    assert hostinfo.cached_details(store, ask) == details
    monkeypatch.setitem(hostinfo._memo, "llvm", "llvm-2")  # another llvmlite: ask again
    assert hostinfo.cached_details(store, ask) == details
    assert len(asked) == 3
    store.clear()
    store.save = None  # type: ignore[assignment]  # a store that cannot save: still answers
    assert hostinfo.cached_details(store, ask) == details


def test_host_identity_without_importing_llvmlite() -> None:
    code = (
        "import sys; from tritium.backends.cpu import hostinfo; "
        "assert hostinfo.llvm_identity() and 'llvmlite' not in sys.modules; "
        "print(hostinfo.cpu_signature().count('flags='))"
    )
    import subprocess

    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "1"
