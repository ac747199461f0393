"""The disk cache as a trust boundary (DESIGN.md; docs/cache.md): private directories whatever
the umask, foreign or writable roots refused, no symlinks followed, entries authenticated with a
per-user key, a shared read-only cache, XDG, a size cap, the must-hit mode, dump/override dirs."""

from __future__ import annotations

import hashlib
import os
import pathlib
import stat

import numpy as np
import pytest

import tritium
import tritium.language as tl
from tritium import knobs
from tritium.compiler import ASTSource
from tritium.compiler import cache as cache_mod
from tritium.compiler.cache import MAGIC, CacheEntry, CacheMissError, DiskCache


@tritium.jit
def scale_kernel(src, dst, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(dst + offs, tl.load(src + offs, mask=offs < n) * 2.0, mask=offs < n)


def _source(block: int = 64) -> ASTSource:
    return ASTSource(scale_kernel, {"src": "*fp32", "dst": "*fp32", "n": "i32"}, {"BLOCK": block})


@pytest.fixture(autouse=True)
def _private_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> pathlib.Path:
    """A fresh cache root and key file per test; no warning remembered from another test."""
    root = tmp_path / "cache"
    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(root))
    monkeypatch.setenv("TRITIUM_CACHE_KEY_FILE", str(tmp_path / "keys" / "cache-key"))
    monkeypatch.delenv("TRITIUM_SHARED_CACHE_DIR", raising=False)
    monkeypatch.delenv("TRITIUM_CACHE_MODE", raising=False)
    monkeypatch.setattr(cache_mod, "_warned", set())
    monkeypatch.setattr(cache_mod, "_keys", {})
    scale_kernel.cache.clear()
    return root


def _entries(root: pathlib.Path) -> list[pathlib.Path]:
    return sorted(root.rglob("*.tkc"))


def _kernel_entries(root: pathlib.Path) -> list[pathlib.Path]:
    """The entries of compiled kernels: tritium's own (the runtime objects: thread pool, launch
    entry; the compiler version stamp), stored by whichever process makes them first, are left
    out."""
    return [p for p in _entries(root) if b'"name": "tritium-' not in p.read_bytes()]


ENTRY = CacheEntry("k", {"llir": "text"}, b"\x7fELF not really", {"a": 1})
KEY = "ab" * 32


def test_directories_are_private_whatever_the_umask(_private_env: pathlib.Path) -> None:
    old = os.umask(0)
    try:
        DiskCache().store(KEY, ENTRY)
    finally:
        os.umask(old)
    for d in (_private_env, _private_env / "ab", pathlib.Path(knobs.cache_key_file()).parent):
        assert stat.S_IMODE(os.lstat(d).st_mode) == 0o700, d
    for f in (*_entries(_private_env), pathlib.Path(knobs.cache_key_file())):
        assert stat.S_IMODE(os.lstat(f).st_mode) == 0o600, f


def test_world_writable_root_is_refused(_private_env: pathlib.Path) -> None:
    _private_env.mkdir(mode=0o700)
    os.chmod(_private_env, 0o777)
    with pytest.warns(RuntimeWarning, match="writable by its group or by others"):
        DiskCache().store(KEY, ENTRY)
    assert not _entries(_private_env)
    assert DiskCache().load(KEY) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_root_owned_by_another_user_is_refused(_private_env: pathlib.Path) -> None:
    _private_env.mkdir(mode=0o700)
    os.chown(_private_env, 65534, 65534)
    with pytest.warns(RuntimeWarning, match="owned by uid 65534"):
        DiskCache().store(KEY, ENTRY)
    assert not _entries(_private_env)


def test_symlinked_sub_directory_is_not_followed(
    _private_env: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    _private_env.mkdir(mode=0o700)
    (_private_env / "ab").symlink_to(elsewhere)
    with pytest.warns(RuntimeWarning, match="symlink"):
        DiskCache().store(KEY, ENTRY)
    assert not list(elsewhere.iterdir())


def test_symlinked_entry_is_not_followed(_private_env: pathlib.Path) -> None:
    cache = DiskCache()
    cache.store(KEY, ENTRY)
    path = pathlib.Path(cache.path(KEY))
    real = path.with_name("real")
    path.rename(real)
    path.symlink_to(real)
    with pytest.warns(RuntimeWarning, match="ignoring cache entry"):
        assert cache.load(KEY) is None


def test_entry_from_another_key_is_rebuilt(monkeypatch, tmp_path, _private_env) -> None:
    """An entry planted by someone else (another secret) fails authentication."""
    DiskCache().store(KEY, ENTRY)
    assert DiskCache().load(KEY) == ENTRY
    monkeypatch.setenv("TRITIUM_CACHE_KEY_FILE", str(tmp_path / "other" / "key"))
    with pytest.warns(RuntimeWarning, match="authentication failed"):
        assert DiskCache().load(KEY) is None
    assert not _entries(_private_env)  # dropped, so the next compile rewrites it


def test_entry_copied_under_another_key_is_rebuilt(_private_env: pathlib.Path) -> None:
    cache = DiskCache()
    cache.store(KEY, ENTRY)
    other = "cd" * 32
    os.makedirs(os.path.dirname(cache.path(other)), mode=0o700)
    pathlib.Path(cache.path(other)).write_bytes(pathlib.Path(cache.path(KEY)).read_bytes())
    with pytest.warns(RuntimeWarning, match="authentication failed"):
        assert cache.load(other) is None


def test_edited_entry_with_recomputed_checksum_is_rebuilt_not_run(fake_stages) -> None:
    """The attack of issue 8: edit the object code, recompute the unkeyed SHA-256."""
    k = tritium.compile(_source())
    cache = DiskCache()
    path = pathlib.Path(next(iter(_kernel_entries(pathlib.Path(cache.root)))))
    data = path.read_bytes()
    head, _, payload = data[len(MAGIC) :].partition(b"\n")
    evil = payload.replace(b'"binary": "', b'"binary": "AAAA', 1)
    mac = head.split(b" ")[1]
    path.write_bytes(MAGIC + hashlib.sha256(evil).hexdigest().encode() + b" " + mac + b"\n" + evil)
    with pytest.warns(RuntimeWarning, match="authentication failed"):
        k2 = tritium.compile(_source())
    assert k2.asm["ttir"] == k.asm["ttir"]
    assert len(fake_stages.compile_options) == 2  # rebuilt


def test_shared_read_only_cache(fake_stages, monkeypatch, tmp_path, _private_env) -> None:
    tritium.compile(_source())
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    for f in _private_env.rglob("*"):
        dest = shared / f.relative_to(_private_env)
        if f.is_dir():
            dest.mkdir(mode=0o755)
        else:
            dest.write_bytes(f.read_bytes())
            os.chmod(dest, 0o644)
    monkeypatch.setenv("TRITIUM_SHARED_CACHE_DIR", str(shared))
    monkeypatch.setenv("TRITIUM_CACHE_DIR", str(tmp_path / "fresh"))  # an empty private cache
    monkeypatch.setenv("TRITIUM_CACHE_MODE", "require")
    before = sorted(p.name for p in shared.rglob("*"))
    tritium.compile(_source())  # a hit in the shared cache: must-hit mode does not raise
    assert len(fake_stages.compile_options) == 1
    monkeypatch.delenv("TRITIUM_CACHE_MODE")
    tritium.compile(_source(block=32))  # a miss: compiled into the private cache only
    assert sorted(p.name for p in shared.rglob("*")) == before
    os.chmod(shared, 0o777)  # now anyone could plant code there: refused
    monkeypatch.setenv("TRITIUM_CACHE_MODE", "require")
    with pytest.warns(RuntimeWarning, match="shared cache"), pytest.raises(CacheMissError):
        tritium.compile(_source())


def test_must_hit_mode_names_the_part_that_missed(fake_stages, monkeypatch) -> None:
    tritium.compile(_source(block=64))
    monkeypatch.setenv("TRITIUM_CACHE_MODE", "require")
    tritium.compile(_source(block=64))
    with pytest.raises(CacheMissError, match=r"constexprs \(BLOCK: 'int:32' \(cached 'int:64'\)"):
        tritium.compile(_source(block=32))
    assert len(fake_stages.compile_options) == 1


def test_size_cap_evicts_least_recently_used(monkeypatch, _private_env) -> None:
    cache = DiskCache()
    keys = [f"{i:02x}" * 32 for i in range(6)]
    for i, key in enumerate(keys):
        cache.store(key, ENTRY)
        os.utime(cache.path(key), (1000 + i, 1000 + i))
    assert cache.load(keys[0]) == ENTRY  # a hit: now the most recently used
    size = os.path.getsize(cache.path(keys[0]))
    cache.evict(limit=4 * size)
    left = [k for k in keys if os.path.exists(cache.path(k))]
    assert keys[0] in left and keys[1] not in left and keys[5] in left
    assert sum(os.path.getsize(cache.path(k)) for k in left) <= 4 * size
    monkeypatch.setenv("TRITIUM_CACHE_SIZE_LIMIT", "2K")
    assert knobs.cache_size_limit() == 2048


def test_cache_location_follows_xdg(monkeypatch, tmp_path) -> None:
    for name in ("TRITIUM_CACHE_DIR", "TRITON_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert knobs.cache_dir() == str(tmp_path / "xdg" / "tritium")
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "triton"))
    assert knobs.cache_dir() == str(tmp_path / "triton")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.delenv("TRITON_CACHE_DIR")
    assert knobs.cache_dir().endswith(os.path.join(".cache", "tritium"))


def test_dump_dir_does_not_follow_a_planted_symlink(fake_stages, monkeypatch, tmp_path) -> None:
    dump = tmp_path / "dump"
    monkeypatch.setenv("TRITIUM_DUMP_DIR", str(dump))
    tritium.compile(_source())
    (stage_dir,) = list(dump.iterdir())
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for f in stage_dir.iterdir():
        f.unlink()
        f.symlink_to(victim)
    with pytest.raises(OSError):
        tritium.compile(_source())
    assert victim.read_text() == "precious"
    assert stat.S_IMODE(os.lstat(dump).st_mode) == 0o700


def test_override_dir_writable_by_others_is_refused(fake_stages, monkeypatch, tmp_path) -> None:
    override = tmp_path / "override"
    override.mkdir()
    (override / "scale_kernel.ttir").write_text("not even IR")
    os.chmod(override, 0o777)
    monkeypatch.setenv("TRITIUM_OVERRIDE_DIR", str(override))
    with pytest.raises(PermissionError, match="writable by its group or by others"):
        tritium.compile(_source())


def test_cpu_ignored_options_share_one_compile(_private_env: pathlib.Path) -> None:
    x = np.random.default_rng(int(os.environ.get("TRITIUM_TEST_SEED", "0"))).random(100)
    x = x.astype(np.float32)
    outs = []
    for warps, stages in ((4, 2), (8, 3), (1, 1)):
        out = np.full(100, np.nan, np.float32)
        scale_kernel[(2,)](x, out, 100, BLOCK=64, num_warps=warps, num_stages=stages)
        outs.append(out)
    assert len(_kernel_entries(_private_env)) == 1
    for out in outs:
        np.testing.assert_allclose(out, x.astype(np.float64) * 2.0)
