"""tritium.compile, ASTSource, CompiledKernel and the disk cache, over fake stages."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium.compiler import ASTSource
from tritium.compiler.cache import CacheEntry, DiskCache
from tritium.runtime.driver import driver


@tritium.jit
def copy_kernel(src, dst, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(dst + offs, tl.load(src + offs, mask=offs < n), mask=offs < n)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """No kernel compiled in memory by an earlier test (each test has its own fake stages)."""
    copy_kernel.cache.clear()


def _source(block: int = 64) -> ASTSource:
    return ASTSource(
        copy_kernel,
        {"src": "*fp32", "dst": "*fp32", "n": "i32"},
        constexprs={"BLOCK": block},
        attrs={"src": {"tt.divisibility": 16}},
    )


def _entries(root: str) -> list[pathlib.Path]:
    """The kernels' entries: those the per-kernel index lists (the first compile of a process
    also stores host details, the version stamp and a source's names beside them)."""
    indexed = {p.stem for p in (pathlib.Path(root) / "index").rglob("*.json")}
    return sorted(p for p in pathlib.Path(root).rglob("*.tkc") if p.stem in indexed)


def test_ast_source_normalizes_triton3_forms() -> None:
    a = ASTSource(
        copy_kernel,
        {0: "*fp32", (1,): "*fp32", "n": "i32", "BLOCK": "constexpr"},
        constexprs={(3,): 64},
        attrs={(0,): [["tt.divisibility", 16]]},
    )
    assert a.signature == {"src": "*fp32", "dst": "*fp32", "n": "i32", "BLOCK": "constexpr"}
    assert a.constexprs == {"BLOCK": 64} and a.attrs == {"src": {"tt.divisibility": 16}}
    with pytest.raises(ValueError, match="'n'"):
        ASTSource(copy_kernel, {"src": "*fp32", "dst": "*fp32"}, {"BLOCK": 8})
    with pytest.raises(ValueError, match="no parameter 'm'"):
        ASTSource(copy_kernel, {"m": "i32"})
    with pytest.raises(TypeError, match="@jit"):
        ASTSource(lambda x: x, {})


def test_compile_gives_asm_of_every_stage(fake_stages) -> None:
    k = tritium.compile(_source())
    assert {"ttir", "llir", "asm"} <= set(k.asm)
    assert "fake ttir for copy_kernel" in k.asm["ttir"]
    assert k.metadata["name"] == "copy_kernel" and k.metadata["constants"] == {"BLOCK": 64}
    src, dst = np.arange(10, dtype=np.float32), np.zeros(10, np.float32)
    k[(3,)](src, dst, 10, 64)  # all arguments, constexpr included
    k[(3,)](src, dst, 10)  # runtime arguments only
    assert (
        fake_stages.launches
        == [("copy_kernel", (3, 1, 1), [src.ctypes.data, dst.ctypes.data, 10])] * 2
    )
    with pytest.raises(TypeError, match="runtime arguments"):
        k[(1,)](src)


def test_disk_cache_is_used_by_a_new_process(fake_stages) -> None:
    tritium.compile(_source())
    assert len(fake_stages.frontend_calls) == 1
    assert len(_entries(os.environ["TRITIUM_CACHE_DIR"])) == 1
    k = tritium.compile(_source())  # as a fresh process would: nothing in memory
    assert len(fake_stages.frontend_calls) == 1 and fake_stages.loads == 2
    assert k.binary == b"\x00fake-binary\xff" and "fake" in k.asm["ttir"]
    tritium.compile(_source(block=128))  # another specialization is another entry
    assert len(_entries(os.environ["TRITIUM_CACHE_DIR"])) == 2


def test_cache_key_covers_options_and_target(fake_stages) -> None:
    target = driver.active.get_current_target()
    base = _source().hash(target, {})
    assert base == _source().hash(target, {})
    assert base != _source().hash(target, {"num_warps": 8})
    assert base != _source(block=32).hash(target, {})
    other = type(target)("cpu", "othercpu:+avx2", 1)
    assert base != _source().hash(other, {})


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_damaged_entry_is_rebuilt(fake_stages, damage) -> None:
    tritium.compile(_source())
    (path,) = _entries(os.environ["TRITIUM_CACHE_DIR"])
    data = path.read_bytes()
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        i = len(data) - 10
        data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
    elif damage == "garbage":
        data = b"not a cache entry"
    else:
        data = b""
    path.write_bytes(data)
    with pytest.warns(RuntimeWarning, match="damaged cache entry"):
        k = tritium.compile(_source())
    assert len(fake_stages.frontend_calls) == 2  # rebuilt, not trusted
    assert k.binary == b"\x00fake-binary\xff"
    assert DiskCache().load(path.stem) is not None  # and written back whole


def test_always_compile_skips_the_cache(fake_stages, monkeypatch) -> None:
    tritium.compile(_source())
    monkeypatch.setenv("TRITIUM_ALWAYS_COMPILE", "1")
    tritium.compile(_source())
    assert len(fake_stages.frontend_calls) == 2


def test_cache_entries_round_trip(tmp_path) -> None:
    cache = DiskCache(str(tmp_path))
    entry = CacheEntry("k", {"llir": "text", "obj": b"\x00\x01"}, b"bin", {"a": [1, 2]})
    cache.store("ab" * 32, entry)
    assert cache.load("ab" * 32) == entry
    assert cache.load("cd" * 32) is None
    assert not list(tmp_path.rglob(".tmp-*"))  # the temporary file was renamed away


def test_unwritable_cache_warns_but_compiles(fake_stages, monkeypatch, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(blocker))
    with pytest.warns(RuntimeWarning, match="without the disk cache"):
        k = tritium.compile(_source())
    assert k.name == "copy_kernel"


def test_jit_launch_goes_through_the_disk_cache(fake_stages) -> None:
    copy_kernel.cache.clear()
    src, dst = np.ones(8, np.float32), np.zeros(8, np.float32)
    copy_kernel[(1,)](src, dst, 8, BLOCK=8)
    copy_kernel.cache.clear()  # forget the in-memory kernel, as a new process would
    copy_kernel[(1,)](src, dst, 8, BLOCK=8)
    assert len(fake_stages.frontend_calls) == 1 and len(fake_stages.launches) == 2


def test_target_names_this_cpu() -> None:
    t = driver.active.get_current_target()
    assert t.backend == "cpu" and t.warp_size == 1
    name, _, features = str(t.arch).partition(":")
    assert name and ("+" in features or features == "")
    assert driver.active.get_device_properties(0)["multiprocessor_count"] >= 1


def test_jit_function_constexprs_are_keyed_by_their_source(tmp_path) -> None:
    import importlib.util

    target = driver.active.get_current_target()
    keys = []
    for body in ("x + 1", "x + 2"):
        path = tmp_path / f"act_{len(keys)}.py"
        path.write_text(f"import tritium\n@tritium.jit\ndef act(x):\n    return {body}\n")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        src = ASTSource(
            copy_kernel, {"src": "*fp32", "dst": "*fp32", "n": "i32"}, constexprs={"BLOCK": mod.act}
        )
        keys.append(src.hash(target, {}))
    assert keys[0] != keys[1]


def test_gpu_occupancy_host_code_stays_finite(fake_stages) -> None:
    """Triton's tutorial 02 sizes its grid with GPU numbers; on the CPU they must not divide by
    zero and must give at least one program per core."""
    torch = pytest.importorskip("torch")
    dev = driver.active.get_active_torch_device()
    assert dev == torch.device("cpu")
    props = driver.active.utils.get_device_properties(0)
    k = copy_kernel.warmup(
        np.zeros(4, np.float32), np.zeros(4, np.float32), 4, BLOCK=4, num_warps=8, grid=(1,)
    )
    k._init_handles()
    occupancy = props["max_num_regs"] // (k.n_regs * props["warpSize"] * 8)
    occupancy = min(occupancy, props["max_shared_mem"] // k.metadata.shared)
    assert props["multiprocessor_count"] * occupancy >= props["multiprocessor_count"]
    assert k.metadata["name"] == k.metadata.name == "copy_kernel"


def test_entry_that_fails_to_load_is_rebuilt(fake_stages, monkeypatch) -> None:
    tritium.compile(_source())
    real_load = fake_stages.load
    calls = []

    def flaky_load(artifact):
        calls.append(artifact)
        if len(calls) == 1:
            raise OSError("cannot map the object code")
        return real_load(artifact)

    monkeypatch.setattr(fake_stages, "load", flaky_load)
    with pytest.warns(RuntimeWarning, match="failed to load"):
        k = tritium.compile(_source())
    assert len(fake_stages.frontend_calls) == 2 and k.name == "copy_kernel"
